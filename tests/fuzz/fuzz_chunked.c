/*
 * tests/fuzz/fuzz_chunked.c — differential target for the chunked-body
 * decoder (net/http1_chunked.c).
 *
 * The decoder is a byte-at-a-time state machine whose state survives
 * between feeds. Here a second, independent decoder (ref_decode: plain
 * recursive descent over the whole buffer, written from the grammar that
 * net/http1.h documents, not from the state machine) decodes the same
 * input, and the real one is fed the input whole, byte by byte, and in
 * random pieces with room for few spans per call. All must agree on the
 * outcome (error / needs more / done and where) and on the data bytes,
 * byte for byte. A disagreement aborts.
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

#include "core/limits.h"
#include "net/http1.h"

#include "tests/fuzz/fuzz.h"

enum { OUT_MORE, OUT_DONE, OUT_ERR };

struct outcome {
	int end;                /* OUT_* */
	size_t consumed;        /* OUT_DONE: bytes up to the message's end */
	uint8_t *data;          /* decoded bytes (size of the input at most) */
	size_t data_len;
};

/* ---- the reference: the documented grammar, whole buffer --------------- */

static bool ref_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-value byte: VCHAR, SP, HTAB, obs-text */
static bool ref_value(uint8_t c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

/* Parse results inside a window p[0..m): ok (*at moved), bad, or short. */
enum { R_OK, R_BAD, R_SHORT };

/* CR LF at *at (never a bare LF: RFC 9112, strict for forwarded framing). */
static int ref_eol(const uint8_t *p, size_t m, size_t *at)
{
	if (*at == m)
		return R_SHORT;
	if (p[*at] != '\r')
		return R_BAD;
	if (*at + 1 == m)
		return R_SHORT;
	if (p[*at + 1] != '\n')
		return R_BAD;
	*at += 2;
	return R_OK;
}

static size_t ref_skip_ows(const uint8_t *p, size_t m, size_t i)
{
	while (i < m && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

static size_t ref_skip_token(const uint8_t *p, size_t m, size_t i)
{
	while (i < m && ref_tchar(p[i]))
		i++;
	return i;
}

/* quoted-string from the opening quote at p[i]: the index after the closing
 * quote, or m (short), or SIZE_MAX (bad). */
static size_t ref_quoted(const uint8_t *p, size_t m, size_t i)
{
	for (i++; i < m; i++) {
		if (p[i] == '"')
			return i + 1;
		if (p[i] == '\\') {
			if (++i == m)
				return m;
		}
		if (!ref_value(p[i]))
			return SIZE_MAX;
	}
	return m;
}

/*
 * chunk-size *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * CRLF, all within p[0..m) (RFC 9112 7.1.1). BWS only where the grammar
 * puts it: "3 \r\n" and "3;a \r\n" are bad.
 */
static int ref_size_line(const uint8_t *p, size_t m, size_t *at, uint64_t *size)
{
	size_t i = *at, j;
	uint64_t v = 0;

	if (i == m)
		return R_SHORT;
	if (fuzz_hex_val(p[i]) < 0)
		return R_BAD;
	for (; i < m && fuzz_hex_val(p[i]) >= 0; i++) {
		if (v > (uint64_t)INT64_MAX / 16)
			return R_BAD;
		v = v * 16 + (uint64_t)fuzz_hex_val(p[i]);
		if (v > (uint64_t)INT64_MAX)
			return R_BAD;
	}
	for (;;) {
		if (i == m)
			return R_SHORT;
		if (p[i] == '\r')
			break;
		i = ref_skip_ows(p, m, i);          /* BWS ";" */
		if (i == m)
			return R_SHORT;
		if (p[i] != ';')
			return R_BAD;
		i = ref_skip_ows(p, m, i + 1);      /* BWS name */
		if (i == m)
			return R_SHORT;
		if (!ref_tchar(p[i]))
			return R_BAD;
		i = ref_skip_token(p, m, i);
		j = ref_skip_ows(p, m, i);          /* BWS "=" */
		if (j == m)
			return R_SHORT;
		if (p[j] != '=') {
			if (j > i && p[j] != ';')
				return R_BAD;       /* BWS after a name, then no '=' or ';' */
			i = j;
			continue;
		}
		i = ref_skip_ows(p, m, j + 1);      /* BWS value */
		if (i == m)
			return R_SHORT;
		if (ref_tchar(p[i]))
			i = ref_skip_token(p, m, i);
		else if (p[i] == '"')
			i = ref_quoted(p, m, i);
		else
			return R_BAD;
		if (i == SIZE_MAX)
			return R_BAD;
	}
	int r = ref_eol(p, m, &i);
	if (r == R_OK) {
		*at = i;
		*size = v;
	}
	return r;
}

/* trailer-section: (tchar+ ':' value-bytes eol)* eol, within p[0..m). */
static int ref_trailers(const uint8_t *p, size_t m, size_t *at)
{
	size_t i = *at;

	for (;;) {
		if (i == m)
			return R_SHORT;
		if (p[i] == '\r' || p[i] == '\n') {
			int r = ref_eol(p, m, &i);
			if (r == R_OK)
				*at = i;
			return r;
		}
		if (!ref_tchar(p[i]))
			return R_BAD;
		while (i < m && ref_tchar(p[i]))
			i++;
		if (i == m)
			return R_SHORT;
		if (p[i++] != ':')
			return R_BAD;
		while (i < m && ref_value(p[i]))
			i++;
		int r = ref_eol(p, m, &i);
		if (r != R_OK)
			return r;
	}
}

/*
 * A part limited to `limit` bytes, parsed in the window p[0..min(n, at +
 * limit)): short inside the window is "more" when the input ended there,
 * and an error when the limit did.
 */
static int ref_limited(int r, size_t at, size_t limit, size_t n)
{
	if (r != R_SHORT)
		return r == R_OK ? OUT_MORE : OUT_ERR;
	return n - at > limit ? OUT_ERR : OUT_MORE;
}

static void ref_decode(const uint8_t *p, size_t n, struct outcome *o)
{
	size_t at = 0;

	o->data_len = 0;
	o->consumed = 0;
	for (;;) {
		size_t m = n - at < LIMIT_CHUNK_LINE_BYTES ? n : at + LIMIT_CHUNK_LINE_BYTES;
		uint64_t size = 0;
		size_t start = at;
		int r = ref_size_line(p, m, &at, &size);

		if (r != R_OK) {
			o->end = ref_limited(r, start, LIMIT_CHUNK_LINE_BYTES, n);
			return;
		}
		if (size == 0)
			break;
		uint64_t take = n - at < size ? n - at : size;
		memcpy(o->data + o->data_len, p + at, take);
		o->data_len += take;
		at += take;
		if (take < size) {
			o->end = OUT_MORE;
			return;
		}
		r = ref_eol(p, n, &at);
		if (r != R_OK) {
			o->end = r == R_SHORT ? OUT_MORE : OUT_ERR;
			return;
		}
	}
	size_t m = n - at < LIMIT_TRAILER_BYTES ? n : at + LIMIT_TRAILER_BYTES;
	size_t start = at;
	int r = ref_trailers(p, m, &at);
	if (r != R_OK) {
		o->end = ref_limited(r, start, LIMIT_TRAILER_BYTES, n);
		return;
	}
	o->end = OUT_DONE;
	o->consumed = at;
}

/* ---- the decoder under test, fed in pieces ------------------------------ */

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* step: 0 whole, 1 byte by byte, else random pieces of 1..step bytes;
 * each piece is an exact-size copy (ASan sees any read past it). */
static void feed(const uint8_t *p, size_t n, size_t step, size_t max_spans,
		 struct outcome *o)
{
	struct http1_chunked c;
	struct http1_span spans[4];
	size_t at = 0;

	http1_chunked_init(&c);
	o->data_len = 0;
	o->consumed = 0;
	o->end = OUT_MORE;
	while (at < n) {
		size_t want = step == 0 ? n - at : step == 1 ? 1 : 1 + next() % step;
		size_t avail = n - at < want ? n - at : want, ns = 99;
		uint8_t *piece = malloc(avail);

		FUZZ_ASSERT(piece);
		memcpy(piece, p + at, avail);
		ssize_t r = http1_chunked_feed(&c, (const char *)piece, avail, spans,
					       max_spans, &ns);
		if (r < 0) {
			FUZZ_ASSERT(r == -HTTP1_E_CHUNK);
			FUZZ_ASSERT(!c.done);
			free(piece);
			o->end = OUT_ERR;
			/* sticky: any later call fails too */
			FUZZ_ASSERT(http1_chunked_feed(&c, "0\r\n\r\n", 5, spans,
						       max_spans, &ns) == -HTTP1_E_CHUNK);
			return;
		}
		FUZZ_ASSERT((size_t)r <= avail && ns <= max_spans);
		for (size_t k = 0; k < ns; k++) {
			FUZZ_ASSERT(spans[k].len > 0);
			FUZZ_ASSERT((size_t)spans[k].off + spans[k].len <= (size_t)r);
			FUZZ_ASSERT(k == 0 || spans[k].off >= spans[k - 1].off + spans[k - 1].len);
			memcpy(o->data + o->data_len, piece + spans[k].off, spans[k].len);
			o->data_len += spans[k].len;
		}
		free(piece);
		at += (size_t)r;
		if (c.done) {
			o->end = OUT_DONE;
			o->consumed = at;
			/* after done a call consumes nothing */
			FUZZ_ASSERT(http1_chunked_feed(&c, "1\r\nx\r\n", 6, spans,
						       max_spans, &ns) == 0 && ns == 0);
			return;
		}
		/* Short of the end, only full span room may stop a call early;
		 * the rest of the piece comes again in the next one. */
		FUZZ_ASSERT((size_t)r == avail || ns == max_spans);
	}
}

static void check_same(const struct outcome *ref, const struct outcome *got)
{
	FUZZ_ASSERT(got->end == ref->end);
	if (ref->end == OUT_ERR) {
		/* the data given before the error is a prefix of the reference's */
		FUZZ_ASSERT(got->data_len <= ref->data_len);
		FUZZ_ASSERT(memcmp(got->data, ref->data, got->data_len) == 0);
		return;
	}
	FUZZ_ASSERT(got->consumed == ref->consumed);
	FUZZ_ASSERT(got->data_len == ref->data_len);
	FUZZ_ASSERT(memcmp(got->data, ref->data, ref->data_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome ref = { .data = malloc(size + 1) };
	struct outcome got = { .data = malloc(size + 1) };
	uint64_t h = 1469598103934665603ULL;

	FUZZ_ASSERT(ref.data && got.data);
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	rng = h | 1;            /* the pieces depend on the input: replayable */
	ref_decode(data, size, &ref);
	feed(data, size, 0, 4, &got);
	check_same(&ref, &got);
	feed(data, size, 1, 1, &got);
	check_same(&ref, &got);
	for (int round = 0; round < 3; round++) {
		feed(data, size, 1 + next() % 17, 1 + next() % 4, &got);
		check_same(&ref, &got);
	}
	free(ref.data);
	free(got.data);
	return 0;
}
