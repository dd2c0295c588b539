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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_http1: %s:%d: broken: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* Prefixes checked per head: all of them for small heads, a sample else. */
#define FUZZ_PREFIXES 512

static int parse(const char *p, size_t n, bool response, bool head)
{
	static struct http1_request rq;
	static struct http1_response rs;

	return response ? http1_parse_response(p, n, head, &rs) :
			  http1_parse_request(p, n, &rq);
}

/* Parse from an exact-size copy, so a read past `n` is an ASan report. */
static int parse_copy(const char *p, size_t n, bool response, bool head)
{
	char *copy = malloc(n + !n);
	int r;

	FUZZ_ASSERT(copy);
	memcpy(copy, p, n);
	r = parse(copy, n, response, head);
	free(copy);
	return r;
}

static void check_head(const char *p, size_t n, bool response, bool head)
{
	int r = parse_copy(p, n, response, head);
	size_t stride;

	FUZZ_ASSERT(r != 0 && (r < 0 || (size_t)r <= n));
	FUZZ_ASSERT(r > -HTTP1_E__COUNT);
	if (r < 0)
		return;
	FUZZ_ASSERT(parse_copy(p, (size_t)r, response, head) == r);
	stride = (size_t)r / FUZZ_PREFIXES + 1;
	for (size_t i = 0; i < (size_t)r; i += stride)
		FUZZ_ASSERT(parse_copy(p, i, response, head) == -HTTP1_E_AGAIN);
	FUZZ_ASSERT(parse_copy(p, (size_t)r - 1, response, head) ==
		    -HTTP1_E_AGAIN);
}

struct dechunk {
	ssize_t ret;
	size_t consumed, data_len;
	uint64_t data_hash;
	bool done;
};

/* Feed in pieces of `step` bytes (0: all), `max_spans` spans per call. */
static void dechunk(const char *p, size_t n, size_t step, size_t max_spans,
		    struct dechunk *d)
{
	struct http1_chunked c;
	struct http1_span spans[4];

	memset(d, 0, sizeof(*d));
	d->data_hash = 1469598103934665603ULL;
	http1_chunked_init(&c);
	while (d->consumed < n && !c.done) {
		size_t avail = n - d->consumed, ns = 0;
		char *piece;

		if (step && avail > step)
			avail = step;
		piece = malloc(avail);
		FUZZ_ASSERT(piece);
		memcpy(piece, p + d->consumed, avail);
		d->ret = http1_chunked_feed(&c, piece, avail, spans, max_spans, &ns);
		FUZZ_ASSERT(ns <= max_spans);
		for (size_t i = 0; d->ret >= 0 && i < ns; i++) {
			FUZZ_ASSERT(spans[i].off + (size_t)spans[i].len <= (size_t)d->ret);
			for (uint32_t j = 0; j < spans[i].len; j++)
				d->data_hash = (d->data_hash ^
					(uint8_t)piece[spans[i].off + j]) * 1099511628211ULL;
			d->data_len += spans[i].len;
		}
		free(piece);
		if (d->ret < 0)
			break;
		FUZZ_ASSERT(d->ret > 0 || c.done);
		d->consumed += (size_t)d->ret;
	}
	d->done = c.done;
	if (d->ret >= 0)
		d->ret = (ssize_t)d->consumed;
}

static void check_chunked(const char *p, size_t n, size_t step)
{
	struct dechunk a, b, c;

	dechunk(p, n, 0, 4, &a);
	dechunk(p, n, 1, 4, &b);
	dechunk(p, n, step, 1, &c);
	FUZZ_ASSERT(a.ret == -HTTP1_E_CHUNK || a.ret >= 0);
	FUZZ_ASSERT((a.ret < 0) == (b.ret < 0) && (a.ret < 0) == (c.ret < 0));
	if (a.ret < 0)
		return;
	FUZZ_ASSERT(a.consumed == b.consumed && a.consumed == c.consumed);
	FUZZ_ASSERT(a.done == b.done && a.done == c.done);
	FUZZ_ASSERT(a.data_len == b.data_len && a.data_len == c.data_len);
	FUZZ_ASSERT(a.data_hash == b.data_hash && a.data_hash == c.data_hash);
	FUZZ_ASSERT(!a.done || a.consumed <= n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	check_head(p, size, false, false);
	check_head(p, size, true, size && (data[0] & 1));
	check_chunked(p, size, size ? data[size - 1] % 13 + 2 : 2);
	return 0;
}
