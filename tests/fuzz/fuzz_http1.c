/*
 * tests/fuzz/fuzz_http1.c — libFuzzer target for net/http1.
 *
 * Beyond "does not crash" (ASan/UBSan), it checks what the parsers
 * promise: a head that parses also parses alone, every strict prefix of it
 * is -HTTP1_E_AGAIN, and the chunked decoder gives the same bytes and the
 * same end whether it is fed everything at once, byte by byte, or in
 * pieces with one span at a time. A broken promise aborts.
 *
 * Built with clang -fsanitize=fuzzer when meson's `fuzz` option is on;
 * otherwise fuzz_main.c drives it as a replay + mutation test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http1.h"
#include "tests/lib/http1_feed.h"

#include "tests/fuzz/fuzz.h"

/* Prefixes checked per head: all of them for small heads, a sample else. */
#define FUZZ_PREFIXES 512

static void check_head(const char *p, size_t n, enum h1t_kind kind)
{
	static struct http1_request rq;
	static struct http1_response rs;
	int r = h1t_parse(p, n, kind, &rq, &rs);

	FUZZ_ASSERT(r != 0 && (r < 0 || (size_t)r <= n));
	FUZZ_ASSERT(r > -HTTP1_E__COUNT);
	if (r < 0)
		return;
	FUZZ_ASSERT(h1t_parse(p, (size_t)r, kind, &rq, &rs) == r);
	FUZZ_ASSERT(h1t_prefixes_not_again(p, (size_t)r, kind, FUZZ_PREFIXES) == 0);
}

static void check_chunked(const char *p, size_t n, size_t step)
{
	struct h1t_dechunked a = { 0 }, b = { 0 }, c = { 0 };

	h1t_dechunk(p, n, 0, 4, &a);
	h1t_dechunk(p, n, 1, 4, &b);
	h1t_dechunk(p, n, step, 1, &c);
	FUZZ_ASSERT(a.ret == -HTTP1_E_CHUNK || a.ret >= 0);
	FUZZ_ASSERT(!a.bad_spans && !b.bad_spans && !c.bad_spans);
	FUZZ_ASSERT((a.ret < 0) == (b.ret < 0) && (a.ret < 0) == (c.ret < 0));
	if (a.ret < 0)
		return;
	FUZZ_ASSERT(a.consumed == b.consumed && a.consumed == c.consumed);
	FUZZ_ASSERT(a.done == b.done && a.done == c.done);
	FUZZ_ASSERT(a.data_len == b.data_len && a.data_len == c.data_len);
	FUZZ_ASSERT(a.data_hash == b.data_hash && a.data_hash == c.data_hash);
	/* Without an error, only a stall (a decoder bug) ends before the end. */
	FUZZ_ASSERT(a.done || a.consumed == n);
	FUZZ_ASSERT(a.data_len <= a.consumed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	check_head(p, size, H1T_REQUEST);
	check_head(p, size, size && (data[0] & 1) ? H1T_RESPONSE_TO_HEAD :
						    H1T_RESPONSE);
	check_chunked(p, size, size ? data[size - 1] % 13 + 2 : 2);
	return 0;
}
