/*
 * tests/fuzz/fuzz_sigv4uri.c — target for SigV4's canonical URI and query
 * encoding (sigv4/uri.c): what is signed must be exactly one encoding of
 * what is sent, or S3 answers SignatureDoesNotMatch (or, worse, two
 * different paths sign alike).
 *
 * The input is taken as a decoded key, as a wire path and as a wire query.
 * Checked properties:
 *   - encode_path: output only unreserved bytes, '/', and %XX with upper-case
 *     hex naming a byte that had to be encoded; at most 3 × len, -ENOSPC
 *     one byte short; decode(encode(x)) == x.
 *   - decode: fails (-EINVAL) exactly when a '%' is not followed by two
 *     hex digits; encode(decode(.)) is idempotent.
 *   - canonical_query: equals a reference (decode each '&' item's name and
 *     value, encode them with '/' too, sort by name then value), holds
 *     only unreserved bytes, %XX, '=' and '&', and is idempotent.
 * A broken promise aborts.
 *
 * Built with clang -fsanitize=fuzzer when meson's `fuzz` option is on;
 * otherwise fuzz_main.c drives it as a replay + mutation test.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "sigv4/sigv4.h"

#include "tests/fuzz/fuzz.h"

#define IN_MAX  4096                     /* longer inputs are cut */
#define Q_CAP   (3 * LIMIT_SIGV4_CANONICAL_BYTES)

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool escapes_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '%' && (n - i < 3 || fuzz_hex_val((unsigned char)s[i + 1]) < 0 ||
				    fuzz_hex_val((unsigned char)s[i + 2]) < 0))
			return false;
	return true;
}

/* Canonical: unreserved (and `extra` bytes) as is, else %XX upper-case of
 * a byte that is neither. */
static void check_canonical(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (c && strchr(extra, c)))
			continue;
		FUZZ_ASSERT(c == '%' && n - i >= 3);
		unsigned char h = (unsigned char)s[i + 1], l = (unsigned char)s[i + 2];
		FUZZ_ASSERT(fuzz_hex_val(h) >= 0 && !(h >= 'a' && h <= 'f'));
		FUZZ_ASSERT(fuzz_hex_val(l) >= 0 && !(l >= 'a' && l <= 'f'));
		unsigned char b = (unsigned char)(fuzz_hex_val(h) << 4 | fuzz_hex_val(l));
		FUZZ_ASSERT(!unreserved(b) && !(b == '/' && strchr(extra, '/')));
		i += 2;
	}
}

static void check_path(const char *x, size_t n)
{
	static char e[3 * IN_MAX], d[3 * IN_MAX], e2[3 * IN_MAX];
	ssize_t el = sigv4_uri_encode_path(x, n, e, sizeof(e));

	FUZZ_ASSERT(el >= 0 && (size_t)el >= n && (size_t)el <= 3 * n);
	check_canonical(e, (size_t)el, "/");
	if (el > 0)
		FUZZ_ASSERT(sigv4_uri_encode_path(x, n, e2, (size_t)el - 1) == -ENOSPC);
	FUZZ_ASSERT(sigv4_uri_encode_path(x, n, e2, (size_t)el) == el);
	ssize_t dl = sigv4_uri_decode(e, (size_t)el, d, sizeof(d));
	FUZZ_ASSERT(dl == (ssize_t)n && memcmp(d, x, n) == 0);

	/* x as a wire path: decode, then the canonical form is a fixed point */
	dl = sigv4_uri_decode(x, n, d, sizeof(d));
	FUZZ_ASSERT(dl >= 0 ? escapes_ok(x, n) : dl == -EINVAL && !escapes_ok(x, n));
	if (dl < 0)
		return;
	if (dl > 0)
		FUZZ_ASSERT(sigv4_uri_decode(x, n, e2, (size_t)dl - 1) == -ENOSPC);
	el = sigv4_uri_encode_path(d, (size_t)dl, e, sizeof(e));
	FUZZ_ASSERT(el >= 0);
	dl = sigv4_uri_decode(e, (size_t)el, d, sizeof(d));
	FUZZ_ASSERT(dl >= 0);
	FUZZ_ASSERT(sigv4_uri_encode_path(d, (size_t)dl, e2, sizeof(e2)) == el);
	FUZZ_ASSERT(memcmp(e, e2, (size_t)el) == 0);
}

/* ---- canonical query: a reference ---------------------------------------- */

struct item {
	char *name, *value;
	size_t nlen, vlen;
};

static size_t ref_encode(const char *s, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		}
	}
	return o;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = bytes_cmp(a->name, a->nlen, b->name, b->nlen);
	return c ? c : bytes_cmp(a->value, a->vlen, b->value, b->vlen);
}

/* Returns the reference's length, or -1 when x has a bad escape. *items:
 * how many items x has. */
static ssize_t ref_query(const char *x, size_t n, char *out, size_t *n_items)
{
	static struct item it[IN_MAX];
	static char store[6 * IN_MAX];
	static char dec[IN_MAX];
	size_t used = 0, k = 0, o = 0;

	for (size_t i = 0; i <= n; ) {
		const char *amp = memchr(x + i, '&', n - i);
		size_t len = amp ? (size_t)(amp - (x + i)) : n - i;
		if (len > 0) {
			const char *eq = memchr(x + i, '=', len);
			size_t nl = eq ? (size_t)(eq - (x + i)) : len;
			ssize_t d = sigv4_uri_decode(x + i, nl, dec, sizeof(dec));
			if (d < 0)
				return -1;
			it[k].name = store + used;
			it[k].nlen = ref_encode(dec, (size_t)d, store + used);
			used += it[k].nlen;
			d = eq ? sigv4_uri_decode(eq + 1, len - nl - 1, dec, sizeof(dec)) : 0;
			if (d < 0)
				return -1;
			it[k].value = store + used;
			it[k].vlen = ref_encode(dec, (size_t)d, store + used);
			used += it[k].vlen;
			k++;
		}
		i += len + 1;
	}
	qsort(it, k, sizeof(it[0]), item_cmp);
	for (size_t j = 0; j < k; j++) {
		if (j)
			out[o++] = '&';
		memcpy(out + o, it[j].name, it[j].nlen);
		o += it[j].nlen;
		out[o++] = '=';
		memcpy(out + o, it[j].value, it[j].vlen);
		o += it[j].vlen;
	}
	*n_items = k;
	return (ssize_t)o;
}

static void check_query(const char *x, size_t n)
{
	static char q[Q_CAP], q2[Q_CAP], ref[8 * IN_MAX];
	size_t n_items = 0;
	ssize_t rl = ref_query(x, n, ref, &n_items);
	ssize_t ql = sigv4_canonical_query(x, n, q, sizeof(q));

	if (ql < 0) {
		FUZZ_ASSERT(ql == -EINVAL || ql == -ENOSPC);
		/* -EINVAL only for a bad escape; -ENOSPC only past a limit */
		FUZZ_ASSERT(ql != -EINVAL || rl < 0);
		FUZZ_ASSERT(ql != -ENOSPC || rl < 0 || n_items > LIMIT_SIGV4_QUERY_PARAMS ||
			    (size_t)rl > LIMIT_SIGV4_CANONICAL_BYTES);
		return;
	}
	FUZZ_ASSERT(rl >= 0 && n_items <= LIMIT_SIGV4_QUERY_PARAMS);
	FUZZ_ASSERT(ql == rl && memcmp(q, ref, (size_t)ql) == 0);
	check_canonical(q, (size_t)ql, "=&");
	ssize_t ql2 = sigv4_canonical_query(q, (size_t)ql, q2, sizeof(q2));
	FUZZ_ASSERT(ql2 == ql && memcmp(q, q2, (size_t)ql) == 0);
	if (ql > 0)
		FUZZ_ASSERT(sigv4_canonical_query(x, n, q2, (size_t)ql - 1) == -ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *x = (const char *)data;
	size_t n = size < IN_MAX ? size : IN_MAX;
	char *copy = malloc(n + !n);    /* exact size: ASan sees an over-read */

	FUZZ_ASSERT(copy);
	memcpy(copy, x, n);
	check_path(copy, n);
	check_query(copy, n);
	free(copy);
	return 0;
}
