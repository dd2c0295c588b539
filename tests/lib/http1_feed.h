/*
 * tests/lib/http1_feed.h — how the http1 unit test and the fuzz target
 * both drive net/http1: parse from exact-size copies (so ASan reports any
 * read past the given length), check that every prefix of a head is
 * -HTTP1_E_AGAIN, and feed a chunked body in pieces.
 *
 * Owns: nothing; test code only.
 */
#ifndef EDGECACHE_TESTS_HTTP1_FEED_H
#define EDGECACHE_TESTS_HTTP1_FEED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http1.h"

enum h1t_kind { H1T_REQUEST, H1T_RESPONSE, H1T_RESPONSE_TO_HEAD };

static inline char *h1t_copy(const char *p, size_t n)
{
	char *c = malloc(n + !n);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

/* Parse p[0..n) as `kind` from an exact-size copy into *rq or *rs (the
 * pointers in them are dangling afterwards: compare lengths, not bytes). */
static inline int h1t_parse(const char *p, size_t n, enum h1t_kind kind,
			    struct http1_request *rq, struct http1_response *rs)
{
	char *c = h1t_copy(p, n);
	int r = kind == H1T_REQUEST ? http1_parse_request(c, n, rq) :
		http1_parse_response(c, n, kind == H1T_RESPONSE_TO_HEAD, rs);

	free(c);
	return r;
}

/* How many prefixes p[0..i), i < n, do not answer -HTTP1_E_AGAIN; at most
 * `max_checks` of them are tried, spread evenly, and always the longest. */
static inline int h1t_prefixes_not_again(const char *p, size_t n,
					 enum h1t_kind kind, size_t max_checks)
{
	static struct http1_request rq;
	static struct http1_response rs;
	size_t stride = n / max_checks + 1;
	int bad = 0;

	for (size_t i = 0; i < n; i += stride)
		bad += h1t_parse(p, i, kind, &rq, &rs) != -HTTP1_E_AGAIN;
	if (n && (n - 1) % stride)
		bad += h1t_parse(p, n - 1, kind, &rq, &rs) != -HTTP1_E_AGAIN;
	return bad;
}

struct h1t_dechunked {
	ssize_t ret;            /* error, or total consumed */
	size_t consumed;
	size_t data_len;
	uint64_t data_hash;     /* FNV-1a of the data bytes */
	char *data;             /* optional copy of the data, data_cap bytes */
	size_t data_cap;
	unsigned bad_spans;     /* spans outside the bytes consumed, or too many */
	bool done;
};

static inline void h1t_take(struct h1t_dechunked *d, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d->data_hash = (d->data_hash ^ (uint8_t)p[i]) * 1099511628211ULL;
	if (d->data && d->data_len + n <= d->data_cap)
		memcpy(d->data + d->data_len, p, n);
	d->data_len += n;
}

/* Feed p[0..n) in pieces of `step` bytes (0: all at once), with room for
 * max_spans (at most 8) spans per call. d->data/data_cap are kept. */
static inline void h1t_dechunk(const char *p, size_t n, size_t step,
			       size_t max_spans, struct h1t_dechunked *d)
{
	struct http1_chunked c;
	struct http1_span spans[8];

	d->ret = 0;
	d->consumed = d->data_len = 0;
	d->bad_spans = 0;
	d->data_hash = 1469598103934665603ULL;
	http1_chunked_init(&c);
	while (d->consumed < n && !c.done) {
		size_t avail = n - d->consumed, ns = 0;
		char *piece;

		if (step && avail > step)
			avail = step;
		piece = h1t_copy(p + d->consumed, avail);
		d->ret = http1_chunked_feed(&c, piece, avail, spans, max_spans, &ns);
		d->bad_spans += ns > max_spans;
		for (size_t i = 0; d->ret >= 0 && i < ns; i++) {
			if (spans[i].off + (size_t)spans[i].len > (size_t)d->ret) {
				d->bad_spans++;
				continue;
			}
			h1t_take(d, piece + spans[i].off, spans[i].len);
		}
		free(piece);
		if (d->ret <= 0)        /* error, or no progress: a bug */
			break;
		d->consumed += (size_t)d->ret;
	}
	d->done = c.done;
	if (d->ret >= 0)
		d->ret = (ssize_t)d->consumed;
}

#endif /* EDGECACHE_TESTS_HTTP1_FEED_H */
