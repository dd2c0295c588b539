/*
 * sigv4/uri.c — percent-decoding, S3 percent-encoding and the canonical
 * query string. Pure functions over caller buffers: no allocation, no I/O.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sigv4/sigv4.h"

static const char hex_upper[] = "0123456789ABCDEF";

/* RFC 3986 unreserved: the only bytes SigV4 leaves unencoded. */
static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Read one byte of a percent-encoded string at in[*i], advancing *i.
 * Returns the byte (0..255) or -EINVAL for '%' not followed by two hex
 * digits: "%2" and "%zz" would otherwise be signed as something the
 * server decodes differently.
 */
static int decode_one(const char *in, size_t len, size_t *i)
{
	unsigned char c = (unsigned char)in[*i];
	int hi, lo;

	if (c != '%') {
		(*i)++;
		return c;
	}
	if (len - *i < 3)
		return -EINVAL;
	hi = hex_val((unsigned char)in[*i + 1]);
	lo = hex_val((unsigned char)in[*i + 2]);
	if (hi < 0 || lo < 0)
		return -EINVAL;
	*i += 3;
	return hi << 4 | lo;
}

ssize_t sigv4_uri_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		int b = decode_one(in, len, &i);

		if (b < 0)
			return b;
		if (n == cap)
			return -ENOSPC;
		out[n++] = (char)b;
	}
	return (ssize_t)n;
}

/* Append byte b encoded; keep_slash leaves '/' as is (paths). */
static int encode_one(unsigned char b, int keep_slash, char *out, size_t cap,
		      size_t *n)
{
	if (is_unreserved(b) || (keep_slash && b == '/')) {
		if (*n == cap)
			return -ENOSPC;
		out[(*n)++] = (char)b;
		return 0;
	}
	if (cap - *n < 3)
		return -ENOSPC;
	out[(*n)++] = '%';
	out[(*n)++] = hex_upper[b >> 4];
	out[(*n)++] = hex_upper[b & 15];
	return 0;
}

ssize_t sigv4_uri_encode_path(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int rc = encode_one((unsigned char)in[i], 1, out, cap, &n);

		if (rc < 0)
			return rc;
	}
	return (ssize_t)n;
}

/* Decode then encode in one pass (no temporary): a query name or value. */
static ssize_t recode(const char *in, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		int b = decode_one(in, len, &i);
		int rc;

		if (b < 0)
			return b;
		rc = encode_one((unsigned char)b, 0, out, cap, &n);
		if (rc < 0)
			return rc;
	}
	return (ssize_t)n;
}

/* One query parameter, encoded, as offsets into the scratch buffer. */
struct qparam {
	uint32_t name_off, name_len, val_off, val_len;
};

static int qparam_cmp(const char *s, const struct qparam *a,
		      const struct qparam *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(s + a->name_off, s + b->name_off, n);

	if (c || a->name_len != b->name_len)
		return c ? c : (a->name_len < b->name_len ? -1 : 1);
	n = a->val_len < b->val_len ? a->val_len : b->val_len;
	c = memcmp(s + a->val_off, s + b->val_off, n);
	if (c || a->val_len == b->val_len)
		return c;
	return a->val_len < b->val_len ? -1 : 1;
}

/* Encode item q[0..len) into scratch at *used; fill *p. */
static int qparam_add(const char *q, size_t len, char *scratch, size_t *used,
		      struct qparam *p)
{
	const char *eq = memchr(q, '=', len);
	size_t nlen = eq ? (size_t)(eq - q) : len;
	ssize_t rc;

	rc = recode(q, nlen, scratch + *used, LIMIT_SIGV4_CANONICAL_BYTES - *used);
	if (rc < 0)
		return (int)rc;
	p->name_off = (uint32_t)*used;
	p->name_len = (uint32_t)rc;
	*used += (size_t)rc;
	p->val_off = (uint32_t)*used;
	p->val_len = 0;
	if (!eq)
		return 0;
	rc = recode(eq + 1, len - nlen - 1, scratch + *used,
		    LIMIT_SIGV4_CANONICAL_BYTES - *used);
	if (rc < 0)
		return (int)rc;
	p->val_len = (uint32_t)rc;
	*used += (size_t)rc;
	return 0;
}

/* Write the sorted parameters as k=v&k=v. */
static ssize_t qparams_emit(const char *scratch, const struct qparam *p,
			    const uint8_t *order, size_t n, char *out, size_t cap)
{
	size_t len = 0;

	for (size_t k = 0; k < n; k++) {
		const struct qparam *e = &p[order[k]];
		size_t need = (k > 0) + e->name_len + 1 + e->val_len;

		if (cap - len < need)
			return -ENOSPC;
		if (k > 0)
			out[len++] = '&';
		memcpy(out + len, scratch + e->name_off, e->name_len);
		len += e->name_len;
		out[len++] = '=';
		memcpy(out + len, scratch + e->val_off, e->val_len);
		len += e->val_len;
	}
	return (ssize_t)len;
}

ssize_t sigv4_canonical_query(const char *q, size_t len, char *out, size_t cap)
{
	char scratch[LIMIT_SIGV4_CANONICAL_BYTES];
	struct qparam p[LIMIT_SIGV4_QUERY_PARAMS];
	uint8_t order[LIMIT_SIGV4_QUERY_PARAMS];
	size_t n = 0, used = 0, i = 0;

	_Static_assert(LIMIT_SIGV4_QUERY_PARAMS <= 256, "order[] is uint8_t");
	while (i < len) {
		const char *amp = memchr(q + i, '&', len - i);
		size_t item = amp ? (size_t)(amp - (q + i)) : len - i;

		if (item > 0) {
			int rc;

			if (n == LIMIT_SIGV4_QUERY_PARAMS)
				return -ENOSPC;
			rc = qparam_add(q + i, item, scratch, &used, &p[n]);
			if (rc < 0)
				return rc;
			/* insertion sort: n is small and it keeps ties stable */
			size_t k = n;
			while (k > 0 && qparam_cmp(scratch, &p[order[k - 1]], &p[n]) > 0) {
				order[k] = order[k - 1];
				k--;
			}
			order[k] = (uint8_t)n++;
		}
		i += item + 1;
	}
	return qparams_emit(scratch, p, order, n, out, cap);
}
