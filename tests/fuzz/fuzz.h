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

#endif
