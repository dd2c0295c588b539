/*
 * tests/fuzz/fuzz.h — what every fuzz target shares: the libFuzzer entry
 * point (driven by libFuzzer with -Dfuzz=true under clang, otherwise by
 * fuzz_main.c's replay + mutation) and the check that turns a broken
 * property into a crash both drivers report and save.
 */
#ifndef EDGECACHE_TESTS_FUZZ_H
#define EDGECACHE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A hex digit's value, or -1. The targets' reference decoders use this
 * rather than the code under test's own helper, so the two stay independent. */
static inline int fuzz_hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
