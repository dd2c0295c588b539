/*
 * net/http1_chunked.c — incremental chunked-body decoder (RFC 9112 7.1).
 *
 * A byte-at-a-time state machine for the framing bytes (size lines, CRLFs,
 * trailers: a few bytes per chunk) and one span per run of data bytes, so
 * the data itself is never touched. The state survives between feeds, so
 * any split of the input gives the same result.
 */
#include "net/http1.h"

#include <assert.h>

#include "net/http1_int.h"

enum {
	CK_SIZE0,       /* first hex digit of a chunk-size */
	CK_SIZE,        /* more hex digits, or ext / line end */
	CK_EXT_BWS,     /* BWS after the size or a value: ';' must follow */
	CK_EXT_NAME0,   /* after ';': BWS, then an ext name */
	CK_EXT_NAME,
	CK_EXT_NAME_BWS, /* BWS after a name: '=' or ';' must follow */
	CK_EXT_VAL0,    /* after '=': BWS, then a token or a quoted-string */
	CK_EXT_VAL,     /* in a token value */
	CK_EXT_QS,      /* in a quoted-string value */
	CK_EXT_QP,      /* after a backslash in it */
	CK_EXT_QEND,    /* after the closing quote */
	CK_SIZE_LF,     /* CR seen on the size line */
	CK_DATA,        /* `remaining` data bytes */
	CK_DATA_END,    /* CRLF after the data */
	CK_DATA_LF,
	CK_TR_BOL,      /* start of a trailer line, or the final line end */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,       /* CR seen on a trailer line */
	CK_LAST_LF,     /* CR seen on the final empty line */
	CK_DONE,
	CK_ERROR,       /* sticky: the stream is not HTTP any more */
};

/* Largest chunk size accepted: it must fit an int64_t (2^63 - 1). */
#define CK_SIZE_MAX ((uint64_t)INT64_MAX)

void http1_chunked_init(struct http1_chunked *c)
{
	c->state = CK_SIZE0;
	c->done = false;
	c->remaining = 0;
	c->line_len = 0;
	c->trailer_bytes = 0;
}

static int hex_val(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	return (http1_lower((unsigned char)ch) - 'a') + 10;
}

/* The size line ended: data follows, or the last chunk's trailers. */
static int size_line_done(struct http1_chunked *c)
{
	c->line_len = 0;
	c->state = c->remaining ? CK_DATA : CK_TR_BOL;
	return 0;
}

/* The state after ch in a chunk-ext (RFC 9112 7.1.1), or -1:
 *   *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
static int ext_next(int state, char ch)
{
	bool ows = http1_ows(ch), tok = http1_is(ch, H1_TCHAR);

	switch (state) {
	case CK_EXT_NAME0:
	case CK_EXT_VAL0:
		if (ows)
			return state;
		if (tok)
			return state == CK_EXT_NAME0 ? CK_EXT_NAME : CK_EXT_VAL;
		return state == CK_EXT_VAL0 && ch == '"' ? CK_EXT_QS : -1;
	case CK_EXT_NAME:
	case CK_EXT_NAME_BWS:
		if (ch == '=')
			return CK_EXT_VAL0;
		if (tok && state == CK_EXT_NAME)
			return CK_EXT_NAME;
		if (ows)
			return CK_EXT_NAME_BWS;
		if (ch == ';')
			return CK_EXT_NAME0;
		return ch == '\r' && state == CK_EXT_NAME ? CK_SIZE_LF : -1;
	case CK_EXT_QS:         /* qdtext, or a quoted-pair's backslash */
		if (ch == '"')
			return CK_EXT_QEND;
		if (ch == '\\')
			return CK_EXT_QP;
		return http1_is(ch, H1_VALUE) ? CK_EXT_QS : -1;
	case CK_EXT_QP:
		return http1_is(ch, H1_VALUE) ? CK_EXT_QS : -1;
	case CK_EXT_BWS:
		if (ows)
			return CK_EXT_BWS;
		return ch == ';' ? CK_EXT_NAME0 : -1;
	default:                /* CK_SIZE, CK_EXT_VAL, CK_EXT_QEND */
		if (tok && state == CK_EXT_VAL)
			return CK_EXT_VAL;
		if (ows)
			return CK_EXT_BWS;
		if (ch == ';')
			return CK_EXT_NAME0;
		return ch == '\r' ? CK_SIZE_LF : -1;
	}
}

/*
 * chunk-size [ chunk-ext ] CRLF, within LIMIT_CHUNK_LINE_BYTES. Only what
 * RFC 9112 allows, CR LF included: the edge forwards a request body's
 * framing bytes as they came, so a size line must not have two readings
 * (a bare LF, a BWS without ';', an open quote is where a lenient and a
 * strict origin part ways).
 */
static int step_size_line(struct http1_chunked *c, char ch)
{
	int next;

	if (++c->line_len > LIMIT_CHUNK_LINE_BYTES)
		return -1;
	if (c->state == CK_SIZE_LF)
		return ch == '\n' ? size_line_done(c) : -1;
	if ((c->state == CK_SIZE0 || c->state == CK_SIZE) && http1_is(ch, H1_HEX)) {
		if (c->remaining > (CK_SIZE_MAX >> 4))
			return -1;
		c->remaining = (c->remaining << 4) | (uint64_t)hex_val(ch);
		c->state = CK_SIZE;
		return 0;
	}
	if (c->state == CK_SIZE0)
		return -1;
	next = ext_next(c->state, ch);
	if (next < 0)
		return -1;
	c->state = (uint8_t)next;
	return 0;
}

/* trailer-section: field lines then the final empty line. */
static int step_trailer(struct http1_chunked *c, char ch)
{
	if (++c->trailer_bytes > LIMIT_TRAILER_BYTES)
		return -1;
	switch (c->state) {
	case CK_TR_BOL:
		if (ch == '\r') {
			c->state = CK_LAST_LF;
			return 0;
		}
		c->state = CK_TR_NAME;
		return http1_is(ch, H1_TCHAR) ? 0 : -1; /* obs-fold too */
	case CK_TR_NAME:
		if (ch == ':')
			c->state = CK_TR_VALUE;
		return ch == ':' || http1_is(ch, H1_TCHAR) ? 0 : -1;
	case CK_TR_VALUE:
		if (http1_is(ch, H1_VALUE))
			return 0;
		if (ch != '\r')
			return -1;
		c->state = CK_TR_LF;
		return 0;
	case CK_TR_LF:
		c->state = CK_TR_BOL;
		return ch == '\n' ? 0 : -1;
	default:        /* CK_LAST_LF */
		c->state = CK_DONE;
		return ch == '\n' ? 0 : -1;
	}
}

/* One framing byte. */
static int step(struct http1_chunked *c, char ch)
{
	switch (c->state) {
	case CK_DATA_END:
		c->state = CK_DATA_LF;
		return ch == '\r' ? 0 : -1;
	case CK_DATA_LF:
		c->state = CK_SIZE0;
		return ch == '\n' ? 0 : -1;
	case CK_SIZE0:
	case CK_SIZE:
	case CK_EXT_BWS:
	case CK_EXT_NAME0:
	case CK_EXT_NAME:
	case CK_EXT_NAME_BWS:
	case CK_EXT_VAL0:
	case CK_EXT_VAL:
	case CK_EXT_QS:
	case CK_EXT_QP:
	case CK_EXT_QEND:
	case CK_SIZE_LF:
		return step_size_line(c, ch);
	default:
		return step_trailer(c, ch);
	}
}

ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len,
			   struct http1_span *spans, size_t max_spans,
			   size_t *n_spans)
{
	size_t i = 0, n = 0;

	assert(buf || !len);
	if (len > UINT32_MAX)   /* span offsets are 32-bit */
		len = UINT32_MAX;
	while (i < len && c->state < CK_DONE) {
		if (c->state != CK_DATA) {
			if (step(c, buf[i++]) < 0) {
				c->state = CK_ERROR;
				break;
			}
			continue;
		}
		if (n == max_spans)
			break;
		uint64_t take = len - i < c->remaining ? len - i : c->remaining;

		spans[n].off = (uint32_t)i;
		spans[n++].len = (uint32_t)take;
		i += take;
		c->remaining -= take;
		if (!c->remaining)
			c->state = CK_DATA_END;
	}
	*n_spans = n;
	c->done = c->state == CK_DONE;
	return c->state == CK_ERROR ? -HTTP1_E_CHUNK : (ssize_t)i;
}
