/*
 * net/http1.c — request and response head parsers (see net/http1.h).
 *
 * One pass over the bytes, no allocation, no state kept between calls:
 * a caller that got -HTTP1_E_AGAIN parses again from the start once more
 * bytes arrived (heads are bounded by the limits, so this stays cheap).
 * Byte classes come from one table; the long runs (target, field values)
 * are scanned 16 bytes at a time with SSE2 where the compiler has it.
 */
#include "net/http1.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

#include "net/http1_int.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

_Static_assert(LIMIT_RESPONSE_HEADER_BYTES <= UINT16_MAX &&
	       LIMIT_HEADER_BYTES <= UINT16_MAX,
	       "header name and reason lengths are uint16_t");
_Static_assert(LIMIT_HEADER_COUNT <= UINT16_MAX, "n_headers is uint16_t");
_Static_assert(LIMIT_REQUEST_LINE_BYTES <= LIMIT_HEADER_BYTES,
	       "the request line is part of the head");

/* ---- byte classes -------------------------------------------------------- */

#define C_DIGIT(c)  ((c) >= '0' && (c) <= '9')
#define C_ALPHA(c)  (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))
#define C_TSYM(c)   ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || \
		     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || \
		     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || \
		     (c) == '`' || (c) == '|' || (c) == '~')
#define C_HSYM(c)   ((c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || \
		     (c) == '%' || (c) == '!' || (c) == '$' || (c) == '&' || \
		     (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || \
		     (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=' || \
		     (c) == ':' || (c) == '[' || (c) == ']')
#define C_HEXL(c)   (((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define CLS(c) ( \
	((C_DIGIT(c) || C_ALPHA(c) || C_TSYM(c)) ? H1_TCHAR : 0) | \
	((((c) >= 0x20 && (c) != 0x7f) || (c) == '\t') ? H1_VALUE : 0) | \
	(((c) > 0x20 && (c) != 0x7f) ? H1_TARGET : 0) | \
	((C_DIGIT(c) || C_ALPHA(c) || C_HSYM(c)) ? H1_HOST : 0) | \
	((C_DIGIT(c) || C_HEXL(c)) ? H1_HEX : 0))
#define R4(b)   CLS(b), CLS((b) + 1), CLS((b) + 2), CLS((b) + 3)
#define R16(b)  R4(b), R4((b) + 4), R4((b) + 8), R4((b) + 12)
#define R64(b)  R16(b), R16((b) + 16), R16((b) + 32), R16((b) + 48)

const uint8_t http1_ctab[256] = { R64(0), R64(64), R64(128), R64(192) };

/* ---- scanners: return the first byte not in the class, or end ------------ */

static inline const char *scan_class(const char *p, const char *end,
				     uint8_t cls)
{
	while (end - p >= 4) {
		if (!http1_is(p[0], cls))
			return p;
		if (!http1_is(p[1], cls))
			return p + 1;
		if (!http1_is(p[2], cls))
			return p + 2;
		if (!http1_is(p[3], cls))
			return p + 3;
		p += 4;
	}
	while (p < end && http1_is(*p, cls))
		p++;
	return p;
}

#if defined(__SSE2__)
/* `top` is the highest stop byte below DEL: 0x1f for values (HTAB let
 * through), 0x20 for the target (SP stops it). */
static inline const char *scan_sse(const char *p, const char *end,
				   uint8_t cls, char top, bool tab_ok)
{
	const __m128i vtop = _mm_set1_epi8(top);
	const __m128i vtab = _mm_set1_epi8(tab_ok ? '\t' : 0x7f);
	const __m128i vdel = _mm_set1_epi8(0x7f);

	while (end - p >= 16) {
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i low = _mm_cmpeq_epi8(_mm_min_epu8(b, vtop), b);
		__m128i stop = _mm_or_si128(
			_mm_andnot_si128(_mm_cmpeq_epi8(b, vtab), low),
			_mm_cmpeq_epi8(b, vdel));
		int m = _mm_movemask_epi8(stop);

		if (m)
			return p + __builtin_ctz((unsigned)m);
		p += 16;
	}
	return scan_class(p, end, cls);
}
#define scan_value(p, end)  scan_sse(p, end, H1_VALUE, 0x1f, true)
#define scan_target(p, end) scan_sse(p, end, H1_TARGET, 0x20, false)
#else
#define scan_value(p, end)  scan_class(p, end, H1_VALUE)
#define scan_target(p, end) scan_class(p, end, H1_TARGET)
#endif

/* ---- where the bytes end, and what running out of them means ------------- */

struct h1_scan {
	const char *end;        /* min(data end, limit end) */
	int err_at_end;         /* HTTP1_E_AGAIN, or the limit that `end` is */
};

static void scan_init(struct h1_scan *s, const char *buf, size_t len,
		      size_t limit, int limit_err)
{
	s->end = buf + (len < limit ? len : limit);
	s->err_at_end = len < limit ? HTTP1_E_AGAIN : limit_err;
}

static int more(const struct h1_scan *s)
{
	return -s->err_at_end;
}

/*
 * A byte stopped a scan where `err` is the rule it broke, unless it is a
 * NUL or a CR without its LF, which have their own errors. A CR at the end
 * of the data may still get its LF: read more.
 */
static int bad_byte(const struct h1_scan *s, const char *p, int err)
{
	if (*p == '\0')
		return -HTTP1_E_NUL;
	if (*p == '\r') {
		if (p + 1 == s->end)
			return more(s);
		if (p[1] != '\n')
			return -HTTP1_E_BARE_CR;
	}
	return -err;
}

/* At a CR or LF: step past the line end. Returns 0, or an error. Inlined:
 * it runs once per line, and CR LF is the case to make cheap. */
static inline __attribute__((always_inline))
int line_end(const struct h1_scan *s, const char **pp, int err)
{
	const char *p = *pp;

	if (s->end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
		*pp = p + 2;
		return 0;
	}
	if (*p == '\n') {
		*pp = p + 1;
		return 0;
	}
	if (*p != '\r')
		return bad_byte(s, p, err);
	if (p + 1 == s->end)
		return more(s);
	if (p[1] != '\n')
		return -HTTP1_E_BARE_CR;
	*pp = p + 2;
	return 0;
}

/* ---- comma-separated lists ----------------------------------------------- */

bool http1_list_next(const char **pp, const char *end, const char **tok,
		     size_t *tok_len)
{
	const char *p = *pp, *e;

	while (p < end && (*p == ',' || http1_ows(*p)))
		p++;
	if (p == end) {
		*pp = p;
		return false;
	}
	e = memchr(p, ',', (size_t)(end - p));
	if (!e)
		e = end;
	*pp = e;
	while (e > p && http1_ows(e[-1]))
		e--;
	*tok = p;
	*tok_len = (size_t)(e - p);
	return true;
}

/* The next token of a list value, split at commas and white space as
 * http1_fields_list says; false at the end. */
static bool next_token(const char **vp, const char *end, const char **tok, size_t *len)
{
	const char *v = *vp;

	while (v < end && (*v == ',' || http1_ows(*v)))
		v++;
	*tok = v;
	while (v < end && *v != ',' && !http1_ows(*v))
		v++;
	*vp = v;
	*len = (size_t)(v - *tok);
	return *len > 0;
}

/* Is there, in the lists of every `field` line, a token that equals tok
 * (same = true) or one that does not (same = false)? */
static bool fields_scan(const struct http1_header *h, size_t n, const char *field,
			const char *tok, size_t tok_len, bool same)
{
	size_t field_len = strlen(field);

	for (size_t i = 0; i < n; i++) {
		if (h[i].name_len != field_len || strncasecmp(h[i].name, field, field_len) != 0)
			continue;
		const char *v = h[i].value, *end = v + h[i].value_len, *t;
		size_t len;
		while (next_token(&v, end, &t, &len))
			if ((len == tok_len && strncasecmp(t, tok, tok_len) == 0) == same)
				return true;
	}
	return false;
}

bool http1_fields_list(const struct http1_header *h, size_t n, const char *field,
		       const char *tok, size_t tok_len)
{
	return fields_scan(h, n, field, tok, tok_len, true);
}

bool http1_fields_list_other(const struct http1_header *h, size_t n, const char *field,
			     const char *except)
{
	return fields_scan(h, n, field, except, strlen(except), false);
}

/* ---- what the field lines said ------------------------------------------- */

struct h1_fields {
	bool request;
	uint8_t version_minor;
	unsigned n_host;
	const char *host;
	uint32_t host_len;
	int64_t cl;             /* -1: no Content-Length */
	unsigned n_te;          /* Transfer-Encoding field lines */
	unsigned n_codings;     /* transfer codings over all of them */
	bool te_last_chunked;   /* the final coding is chunked */
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
};

/* 1*DIGIT, or a list of identical ones (RFC 9110 8.6); -1 if invalid. */
static int parse_cl(const char *v, size_t n, int64_t *out)
{
	const char *p = v, *end = v + n;
	int64_t val = -1;

	for (;;) {
		const char *d = p;
		int64_t x = 0;

		for (; p < end && C_DIGIT(*p); p++) {
			if (x > (INT64_MAX - (*p - '0')) / 10)
				return -HTTP1_E_CL_INVALID;
			x = x * 10 + (*p - '0');
		}
		if (p == d)
			return -HTTP1_E_CL_INVALID;
		if (val >= 0 && x != val)
			return -HTTP1_E_CL_CONFLICT;
		val = x;
		while (p < end && http1_ows(*p))
			p++;
		if (p == end)
			break;
		if (*p++ != ',')
			return -HTTP1_E_CL_INVALID;
		while (p < end && http1_ows(*p))
			p++;
	}
	*out = val;
	return 0;
}

static int note_cl(struct h1_fields *f, const struct http1_header *h)
{
	int64_t v;
	int err = parse_cl(h->value, h->value_len, &v);

	if (err)
		return err;
	if (f->cl >= 0 && f->cl != v)
		return -HTTP1_E_CL_CONFLICT;
	f->cl = v;
	return 0;
}

/*
 * A request may only say "chunked", once (anything else is how TE.TE
 * smuggling starts); HTTP/1.0 has no transfer codings at all. A response
 * may say anything: the framing rules in finish_response decide.
 */
static int note_te(struct h1_fields *f, const struct http1_header *h)
{
	const char *p = h->value, *t = NULL;
	size_t n = 0;

	f->n_te++;
	if (f->request && (f->version_minor == 0 || f->n_te > 1 ||
			   h->value_len != 7 ||
			   !http1_eq_lower(h->value, "chunked", 7)))
		return -HTTP1_E_TE_UNSUPPORTED;
	while (http1_list_next(&p, h->value + h->value_len, &t, &n)) {
		f->n_codings++;
		f->te_last_chunked = n == 7 && http1_eq_lower(t, "chunked", 7);
	}
	return 0;
}

static int note_host(struct h1_fields *f, const struct http1_header *h)
{
	if (!f->request)
		return 0;
	if (++f->n_host > 1)
		return -HTTP1_E_HOST;
	if (scan_class(h->value, h->value + h->value_len, H1_HOST) !=
	    h->value + h->value_len)
		return -HTTP1_E_HOST;
	f->host = h->value;
	f->host_len = h->value_len;
	return 0;
}

/* One pass over the Connection tokens for both options. */
static void note_connection(struct h1_fields *f, const char *v, size_t n)
{
	const char *p = v, *t;
	size_t len;

	while (http1_list_next(&p, v + n, &t, &len)) {
		if (len == 5 && http1_eq_lower(t, "close", 5))
			f->conn_close = true;
		else if (len == 10 && http1_eq_lower(t, "keep-alive", 10))
			f->conn_keep_alive = true;
	}
}

static int note_field(struct h1_fields *f, const struct http1_header *h)
{
	const char *v = h->value;
	size_t n = h->value_len;
	int err;

	switch (h->name_len) {
	case 4:
		return http1_eq_lower(h->name, "host", 4) ? note_host(f, h) : 0;
	case 6:
		/* RFC 9110 10.1.1: HTTP/1.0 has no 1xx; its client would read a
		 * 100 as the final response and be one response off after. */
		if (f->request && f->version_minor == 1 && http1_eq_lower(h->name, "expect", 6) &&
		    n == 12 && http1_eq_lower(v, "100-continue", 12))
			f->expect_continue = true;
		return 0;
	case 10:
		if (http1_eq_lower(h->name, "connection", 10))
			note_connection(f, v, n);
		return 0;
	case 14:
		if (!http1_eq_lower(h->name, "content-length", 14))
			return 0;
		err = note_cl(f, h);
		break;
	case 17:
		if (!http1_eq_lower(h->name, "transfer-encoding", 17))
			return 0;
		err = note_te(f, h);
		break;
	default:
		return 0;
	}
	/* Refuse CL.TE / TE.CL as soon as both are seen, in either order. */
	if (!err && f->request && f->n_te && f->cl >= 0)
		err = -HTTP1_E_TE_AND_CL;
	return err;
}

/* ---- field lines ---------------------------------------------------------- */

/* name ":" OWS value OWS line-end; *pp is at the name's first byte. */
static int parse_field(const struct h1_scan *s, const char **pp,
		       struct http1_header *h)
{
	const char *p = *pp, *v, *ve;
	int err;

	p = scan_class(p, s->end, H1_TCHAR);
	if (p == s->end)
		return more(s);
	if (*p != ':' || p == *pp)
		return bad_byte(s, p, HTTP1_E_HEADER_NAME);
	h->name = *pp;
	h->name_len = (uint16_t)(p - *pp);
	for (p++; p < s->end && http1_ows(*p); p++)
		;
	v = p;
	p = scan_value(p, s->end);
	if (p == s->end)
		return more(s);
	ve = p;
	err = line_end(s, &p, HTTP1_E_HEADER_VALUE);
	if (err)
		return err;
	while (ve > v && http1_ows(ve[-1]))
		ve--;
	h->value = v;
	h->value_len = (uint32_t)(ve - v);
	*pp = p;
	return 0;
}

/* Field lines up to and including the blank line that ends the head. */
static int parse_fields(const struct h1_scan *s, const char **pp,
			struct h1_fields *f, struct http1_header *hdrs,
			uint16_t *n_headers)
{
	const char *p = *pp;
	int err;

	*n_headers = 0;
	for (;;) {
		if (p == s->end)
			return more(s);
		if (*p == '\r' || *p == '\n') {
			err = line_end(s, &p, HTTP1_E_HEADER_NAME);
			*pp = p;
			return err;
		}
		if (http1_ows(*p))
			return -HTTP1_E_OBS_FOLD;
		if (*n_headers == LIMIT_HEADER_COUNT)
			return -HTTP1_E_TOO_MANY_HEADERS;
		err = parse_field(s, &p, &hdrs[*n_headers]);
		if (err)
			return err;
		err = note_field(f, &hdrs[(*n_headers)++]);
		if (err)
			return err;
	}
}

static void fields_init(struct h1_fields *f, bool request, uint8_t minor)
{
	memset(f, 0, sizeof(*f));
	f->request = request;
	f->version_minor = minor;
	f->cl = -1;
}

/* Persistence (RFC 9112 9.3): 1.1 unless "close", 1.0 only if asked. */
static bool keep_alive(const struct h1_fields *f)
{
	if (f->conn_close)
		return false;
	return f->version_minor == 1 || f->conn_keep_alive;
}

/* ---- request line ---------------------------------------------------------- */

static const char slash[] = "/";

static void split_query(struct http1_request *req, const char *p, size_t n)
{
	const char *q = memchr(p, '?', n);

	req->path = p;
	req->path_len = (uint32_t)(q ? (size_t)(q - p) : n);
	if (q) {
		req->query = q + 1;
		req->query_len = (uint32_t)(n - (size_t)(q + 1 - p));
	}
}

/*
 * absolute-form "http[s]://authority[/path][?query]": the authority becomes
 * the host (RFC 9112 3.2.2), an empty path is "/". No userinfo ('@' is not
 * a host byte), no empty authority.
 */
static int split_absolute(struct http1_request *req, const char *t, size_t n,
			  const char **auth, uint32_t *auth_len)
{
	size_t skip = 0;
	const char *a, *ae, *end = t + n;

	if (n > 7 && http1_eq_lower(t, "http://", 7))
		skip = 7;
	else if (n > 8 && http1_eq_lower(t, "https://", 8))
		skip = 8;
	else
		return -HTTP1_E_TARGET;
	a = t + skip;
	ae = scan_class(a, end, H1_HOST);
	if (ae == a || (ae < end && *ae != '/' && *ae != '?'))
		return -HTTP1_E_TARGET;
	*auth = a;
	*auth_len = (uint32_t)(ae - a);
	split_query(req, ae, (size_t)(end - ae));
	if (!req->path_len) {
		req->path = slash;
		req->path_len = 1;
	}
	return 0;
}

static int split_target(struct http1_request *req, const char *t, size_t n,
			const char **auth, uint32_t *auth_len)
{
	req->target = t;
	req->target_len = (uint32_t)n;
	req->query = NULL;
	req->query_len = 0;
	*auth = NULL;
	*auth_len = 0;
	if (t[0] == '/') {
		split_query(req, t, n);
		return 0;
	}
	if (t[0] == '*') {
		if (n != 1 || req->method != HTTP1_OPTIONS)
			return -HTTP1_E_TARGET;
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	return split_absolute(req, t, n, auth, auth_len);
}

static enum http1_method method_id(const char *m, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(m, "GET", 3))
			return HTTP1_GET;
		return memcmp(m, "PUT", 3) ? HTTP1_OTHER : HTTP1_PUT;
	case 4:
		if (!memcmp(m, "HEAD", 4))
			return HTTP1_HEAD;
		return memcmp(m, "POST", 4) ? HTTP1_OTHER : HTTP1_POST;
	case 5:
		if (!memcmp(m, "PATCH", 5))
			return HTTP1_PATCH;
		return memcmp(m, "TRACE", 5) ? HTTP1_OTHER : HTTP1_TRACE;
	case 6:
		return memcmp(m, "DELETE", 6) ? HTTP1_OTHER : HTTP1_DELETE;
	case 7:
		if (!memcmp(m, "OPTIONS", 7))
			return HTTP1_OPTIONS;
		return memcmp(m, "CONNECT", 7) ? HTTP1_OTHER : HTTP1_CONNECT;
	default:
		return HTTP1_OTHER;
	}
}

/* method SP: *pp moves past the SP. */
static int parse_method(const struct h1_scan *s, const char **pp,
			struct http1_request *req)
{
	const char *m = *pp, *p = scan_class(m, s->end, H1_TCHAR);

	if (p - m > LIMIT_METHOD_BYTES)
		return -HTTP1_E_METHOD;
	if (p == s->end)
		return more(s);
	if (*p != ' ' || p == m)
		return bad_byte(s, p, HTTP1_E_METHOD);
	req->method_str = m;
	req->method_len = (uint16_t)(p - m);
	req->method = method_id(m, (size_t)(p - m));
	*pp = p + 1;
	return 0;
}

/* "HTTP/1.1" or "HTTP/1.0", then the line end; the 8 bytes at p exist. */
static int parse_version(const struct h1_scan *s, const char **pp,
			 uint8_t *minor)
{
	const char *p = *pp;

	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return memchr(p, '\0', 8) ? -HTTP1_E_NUL : -HTTP1_E_VERSION;
	*minor = (uint8_t)(p[7] - '0');
	p += 8;
	if (p == s->end)
		return more(s);
	if (*p != '\r' && *p != '\n')
		return bad_byte(s, p, HTTP1_E_VERSION);
	*pp = p;
	return line_end(s, pp, HTTP1_E_VERSION);
}

/*
 * method SP request-target SP HTTP-version line-end, all within
 * LIMIT_REQUEST_LINE_BYTES of its first byte (line end included).
 */
static int parse_request_line(const struct h1_scan *s, const char **pp,
			      struct http1_request *req, const char **auth,
			      uint32_t *auth_len)
{
	struct h1_scan rl = *s;
	const char *p = *pp, *t;
	int err;

	if (rl.end - p >= LIMIT_REQUEST_LINE_BYTES) {
		rl.end = p + LIMIT_REQUEST_LINE_BYTES;
		rl.err_at_end = HTTP1_E_URI_TOO_LONG;
	}
	err = parse_method(&rl, &p, req);
	if (err)
		return err;
	t = p;
	p = scan_target(p, rl.end);
	if (p == rl.end)
		return more(&rl);
	if (*p != ' ' || p == t)
		return bad_byte(&rl, p, HTTP1_E_TARGET);
	err = split_target(req, t, (size_t)(p - t), auth, auth_len);
	if (err)
		return err;
	p++;
	if (rl.end - p < 8)
		return memchr(p, '\n', (size_t)(rl.end - p)) ?
		       -HTTP1_E_VERSION : more(&rl);
	err = parse_version(&rl, &p, &req->version_minor);
	*pp = p;
	return err;
}

/* RFC 9112 2.2: empty lines before the request line are ignored. */
static int skip_empty_lines(const struct h1_scan *s, const char **pp)
{
	int err;

	while (*pp < s->end && (**pp == '\r' || **pp == '\n')) {
		err = line_end(s, pp, HTTP1_E_METHOD);
		if (err)
			return err;
	}
	return *pp == s->end ? more(s) : 0;
}

static int finish_request(struct http1_request *req, const struct h1_fields *f,
			  const char *auth, uint32_t auth_len)
{
	if (req->version_minor == 1 && f->n_host != 1)
		return -HTTP1_E_HOST;
	req->host = auth ? auth : f->host;
	req->host_len = auth ? auth_len : f->host_len;
	req->content_length = f->cl;
	req->chunked = f->n_te > 0;
	req->keep_alive = keep_alive(f);
	req->expect_continue = f->expect_continue;
	return 0;
}

int http1_parse_request(const char *buf, size_t len, struct http1_request *req)
{
	struct h1_scan s;
	struct h1_fields f;
	const char *p = buf, *auth = NULL;
	uint32_t auth_len = 0;
	int err;

	assert(buf || !len);
	scan_init(&s, buf, len, LIMIT_HEADER_BYTES, HTTP1_E_HEADERS_TOO_LARGE);
	err = skip_empty_lines(&s, &p);
	if (!err)
		err = parse_request_line(&s, &p, req, &auth, &auth_len);
	if (err)
		return err;
	fields_init(&f, true, req->version_minor);
	err = parse_fields(&s, &p, &f, req->headers, &req->n_headers);
	if (!err)
		err = finish_request(req, &f, auth, auth_len);
	return err ? err : (int)(p - buf);
}

/* ---- responses ------------------------------------------------------------- */

/*
 * "HTTP/1.x" SP 3DIGIT [SP reason] line-end. The reason may be empty and
 * its SP may be missing: origins send "HTTP/1.1 200\r\n".
 */
static int parse_status_line(const struct h1_scan *s, const char **pp,
			     struct http1_response *resp)
{
	const char *p = *pp, *r;

	if (s->end - p < 13)
		return memchr(p, '\n', (size_t)(s->end - p)) ?
		       -HTTP1_E_STATUS : more(s);
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || !C_DIGIT(p[9]) || !C_DIGIT(p[10]) ||
	    !C_DIGIT(p[11]))
		return memchr(p, '\0', 12) ? -HTTP1_E_NUL : -HTTP1_E_STATUS;
	resp->version_minor = (uint8_t)(p[7] - '0');
	resp->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 +
				  (p[11] - '0'));
	p += 12;
	if (*p == ' ')
		p++;
	else if (*p != '\r' && *p != '\n')
		return bad_byte(s, p, HTTP1_E_STATUS);
	r = p;
	p = scan_value(p, s->end);
	if (p == s->end)
		return more(s);
	resp->reason = r;
	resp->reason_len = (uint16_t)(p - r);
	*pp = p;
	return line_end(s, pp, HTTP1_E_STATUS);
}

/*
 * Framing (RFC 9112 6.3). chunked must be the only coding to be decoded;
 * "gzip, chunked" cannot be stored as sent and is refused; a final coding
 * other than chunked means read until close. HTTP/1.0 has no transfer
 * codings: such a response is faulty framing (RFC 9112 6.1) and refused.
 */
static int finish_response(struct http1_response *resp,
			   const struct h1_fields *f, bool head_request)
{
	uint16_t st = resp->status;

	resp->content_length = f->cl;
	resp->chunked = false;
	resp->close_delimited = false;
	resp->keep_alive = keep_alive(f) && !(f->n_te && f->cl >= 0);
	resp->no_body = head_request || st < 200 || st == 204 || st == 304;
	if (st == 204 && !head_request)
		resp->content_length = 0;   /* RFC 9110 15.3.5: no content, and framed */
	if (f->n_te && resp->version_minor == 0)
		return -HTTP1_E_TE_UNSUPPORTED;
	if (resp->no_body)
		return 0;
	if (f->n_te) {
		resp->content_length = -1;
		if (f->te_last_chunked && f->n_codings == 1)
			resp->chunked = true;
		else if (f->te_last_chunked)
			return -HTTP1_E_TE_UNSUPPORTED;
		else
			resp->close_delimited = true;
	} else if (f->cl < 0) {
		resp->close_delimited = true;
	}
	if (resp->close_delimited)
		resp->keep_alive = false;
	return 0;
}

int http1_parse_response(const char *buf, size_t len, bool head_request,
			 struct http1_response *resp)
{
	struct h1_scan s;
	struct h1_fields f;
	const char *p = buf;
	int err;

	assert(buf || !len);
	scan_init(&s, buf, len, LIMIT_RESPONSE_HEADER_BYTES,
		  HTTP1_E_HEADERS_TOO_LARGE);
	err = parse_status_line(&s, &p, resp);
	if (err)
		return err;
	fields_init(&f, false, resp->version_minor);
	err = parse_fields(&s, &p, &f, resp->headers, &resp->n_headers);
	if (!err)
		err = finish_response(resp, &f, head_request);
	return err ? err : (int)(p - buf);
}
