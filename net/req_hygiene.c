/*
 * net/req_hygiene.c — dot segments and request fields not forwarded.
 * See req_hygiene.h.
 */
#include "net/req_hygiene.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

/* ---- paths ------------------------------------------------------------------ */

/* The separator at p[0..n): 1 for "/" or "\", 3 for "%2F" or "%5C" (any
 * case), 0 for none. No separator starts inside another, so scanning
 * forwards and backwards finds the same ones. */
static size_t sep_len(const char *p, size_t n)
{
	if (p[0] == '/' || p[0] == '\\')
		return 1;
	if (n >= 3 && p[0] == '%' && ((p[1] == '2' && (p[2] == 'f' || p[2] == 'F')) ||
				      (p[1] == '5' && (p[2] == 'c' || p[2] == 'C'))))
		return 3;
	return 0;
}

/* 1 for ".", 2 for "..", each dot raw or "%2E" (any case); 0 otherwise. */
static int dot_kind(const char *p, size_t n)
{
	int dots = 0;

	for (size_t i = 0; i < n; dots++) {
		if (p[i] == '.')
			i++;
		else if (n - i >= 3 && p[i] == '%' && p[i + 1] == '2' &&
			 (p[i + 2] == 'e' || p[i + 2] == 'E'))
			i += 3;
		else
			return 0;
	}
	return dots <= 2 ? dots : 0;
}

/* Dots then ";" ("..;", "%2e%2e;jsessionid=1"): servlet origins (Tomcat,
 * Jetty, Spring) strip such a path parameter before they remove dot
 * segments, so "/base/..;/x" is "/x" to them. Refused like a dot segment
 * touching a separator other than "/". */
static bool dot_param(const char *p, size_t n)
{
	const char *semi = memchr(p, ';', n);

	return semi && dot_kind(p, (size_t)(semi - p)) != 0;
}

/* The end of the segment starting at s: the next separator or len. */
static size_t seg_end(const char *p, size_t s, size_t len)
{
	while (s < len && !sep_len(p + s, len - s))
		s++;
	return s;
}

/* Where the last separator of p[0..o) starts (p[0] is one). */
static size_t last_sep(const char *p, size_t o)
{
	size_t k = o;

	while (k-- > 0)
		if (sep_len(p + k, o - k))
			return k;
	return 0;
}

static bool plain_slash(const char *p, size_t i, size_t len)
{
	return i >= len || (p[i] == '/');
}

/* "%00" anywhere: an origin that decodes, then stops at the NUL (C
 * strings), would read "/a/..%00/x" as "/a/.." — a dot segment we never saw. */
static bool has_encoded_nul(const char *p, size_t len)
{
	for (const char *q = p; (q = memchr(q, '%', len - (size_t)(q - p))) != NULL; q++)
		if (len - (size_t)(q - p) >= 3 && q[1] == '0' && q[2] == '0')
			return true;
	return false;
}

int reqh_path_normalize(char *p, size_t len, size_t *out_len)
{
	size_t i = 0, o = 0;

	*out_len = len;
	if (has_encoded_nul(p, len))
		return -EINVAL;
	if (len == 0 || p[0] != '/' || reqh_path_clean(p, len))
		return 0;                   /* nothing written: p may be read-only */
	while (i < len) {               /* p[i] starts a separator */
		size_t s = i + sep_len(p + i, len - i), e = seg_end(p, s, len);
		int dk = dot_kind(p + s, e - s);

		if (dot_param(p + s, e - s))
			return -EINVAL;
		if (dk == 0) {
			memmove(p + o, p + i, e - i);   /* o <= i */
			o += e - i;
			i = e;
			continue;
		}
		/* Only "/" around it is a dot segment to every origin. */
		if (s != i + 1 || p[i] != '/' || !plain_slash(p, e, len))
			return -EINVAL;
		if (dk == 2) {
			if (o == 0)
				return -EINVAL;             /* above "/" */
			o = last_sep(p, o);
		}
		if (e == len)
			p[o++] = '/';       /* "/a/." and "/a/b/.." end in "/" */
		i = e;
	}
	*out_len = o;
	return 0;
}

bool reqh_path_clean(const char *p, size_t len)
{
	size_t s = 0;

	for (;;) {
		size_t e = seg_end(p, s, len);

		if (dot_kind(p + s, e - s) || dot_param(p + s, e - s))
			return false;
		if (e >= len)
			return true;
		s = e + sep_len(p + e, len - e);
	}
}

/* ---- header fields ------------------------------------------------------------ */

static bool name_eq(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

/* A name with its length: the lists below are read for every field of
 * every request, and strlen of each entry was nearly half of that. */
struct reqh_name {
	const char *s;
	size_t len;
};
#define NAME(lit) { lit, sizeof(lit) - 1 }

static bool in_list(const char *name, size_t len, const struct reqh_name *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].len == len && strncasecmp(name, list[i].s, len) == 0)
			return true;
	return false;
}

static const struct reqh_name hop_names[] = {
	NAME("connection"), NAME("keep-alive"), NAME("proxy-connection"), NAME("te"),
	NAME("trailer"), NAME("transfer-encoding"), NAME("upgrade"), NAME("http2-settings"),
	NAME("proxy-authenticate"), NAME("proxy-authorization"),
};

/* Fields by which a visitor could make the origin answer for another
 * host, URL, scheme or method than the cache key says: a poisoned entry
 * (the published cache-poisoning headers). */
static const struct reqh_name unkeyed_names[] = {
	NAME("x-forwarded-host"), NAME("x-original-url"), NAME("x-rewrite-url"),
	NAME("x-http-method-override"), NAME("x-http-method"), NAME("x-method-override"),
	NAME("x-host"), NAME("x-forwarded-server"), NAME("x-forwarded-scheme"),
	NAME("x-forwarded-proto"), NAME("x-forwarded-port"), NAME("x-forwarded-prefix"),
	NAME("forwarded"),
	/* the same scheme and host overrides under other names (Spring's
	 * X-Forwarded-Ssl, IIS's Front-End-Https, ARR's X-Original-Host) */
	NAME("x-forwarded-ssl"), NAME("front-end-https"), NAME("x-url-scheme"),
	NAME("x-original-host"),
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Does a Connection field of r list `name`? Host and Content-Length are
 * the edge's own (routing, framing): a Connection list cannot take them. */
static bool connection_names(const struct http1_request *r, const char *name, size_t len)
{
	if (name_eq(name, len, "host") || name_eq(name, len, "content-length"))
		return false;
	return http1_fields_list(r->headers, r->n_headers, "connection", name, len);
}

static bool passed(const char *name, size_t len, char *const *pass, size_t n_pass)
{
	for (size_t i = 0; i < n_pass; i++)
		if (name_eq(name, len, pass[i]))
			return true;
	return false;
}

bool reqh_passable(const char *name, size_t len)
{
	if (in_list(name, len, hop_names, N_OF(hop_names)))
		return false;
	return memchr(name, '_', len) != NULL || in_list(name, len, unkeyed_names, N_OF(unkeyed_names));
}

void reqh_filter_headers(struct http1_request *r, char *const *pass, size_t n_pass,
			 struct reqh_drops *d)
{
	unsigned keep = 0;
	bool conn, drop[LIMIT_HEADER_COUNT];

	assert(r->n_headers <= LIMIT_HEADER_COUNT);
	/* Keep-Alive, which "Connection: keep-alive" names, is dropped as
	 * hop-by-hop: only other names need a look at each field. */
	conn = http1_fields_list_other(r->headers, r->n_headers, "connection", "keep-alive");
	/* Decide on the whole list first: dropping Connection itself must
	 * not hide what it names from the fields after it. */
	for (unsigned i = 0; i < r->n_headers; i++) {
		const struct http1_header *h = &r->headers[i];
		drop[i] = true;
		if (in_list(h->name, h->name_len, hop_names, N_OF(hop_names)) ||
		    (conn && connection_names(r, h->name, h->name_len)))
			d->hop++;
		else if (passed(h->name, h->name_len, pass, n_pass))
			drop[i] = false;
		else if (memchr(h->name, '_', h->name_len))
			d->underscore++;
		else if (in_list(h->name, h->name_len, unkeyed_names, N_OF(unkeyed_names)))
			d->unkeyed++;
		else
			drop[i] = false;
	}
	for (unsigned i = 0; i < r->n_headers; i++)
		if (!drop[i])
			r->headers[keep++] = r->headers[i];
	r->n_headers = (uint16_t)keep;
}
