/*
 * cache/http_cache_key.c — the primary cache key (zone + path + query by
 * the zone's query_string mode, XXH3-128) and the Vary secondary key
 * (XXH3-64). Contracts in cache/http_cache.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the stack, no malloc */
#include <xxhash.h>

#include "cache/http_cache.h"
#include "cache/http_cache_int.h"

/* ---- primary key ---------------------------------------------------------- */

struct text {
	char *p;
	size_t len, cap;
	bool over;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->over || n > t->cap - t->len) {
		t->over = true;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

/* By name only (the bytes before '='), bytewise; a prefix sorts first. */
static int param_name_cmp(const struct hcache_span *a, const struct hcache_span *b)
{
	const char *ea = memchr(a->p, '=', a->len), *eb = memchr(b->p, '=', b->len);
	size_t na = ea ? (size_t)(ea - a->p) : a->len, nb = eb ? (size_t)(eb - b->p) : b->len;
	int c = memcmp(a->p, b->p, na < nb ? na : nb);

	return c ? c : na < nb ? -1 : na > nb;
}

/*
 * Stable insertion sort by name: parameters of one name keep their order,
 * because "x=1&x=2" and "x=2&x=1" are different requests to most origins
 * (the last or the first one wins, or the list is read in order). At most
 * LIMIT_CACHE_QUERY_PARAMS entries, in place, no allocation.
 */
static void sort_params(struct hcache_span *ps, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct hcache_span cur = ps[i];
		size_t j = i;

		while (j > 0 && param_name_cmp(&ps[j - 1], &cur) > 0) {
			ps[j] = ps[j - 1];
			j--;
		}
		ps[j] = cur;
	}
}

static int put_sorted_query(struct text *t, const char *q, size_t qlen)
{
	struct hcache_span ps[LIMIT_CACHE_QUERY_PARAMS];
	size_t n = 0, i = 0;

	while (i < qlen) {
		const char *amp = memchr(q + i, '&', qlen - i);
		size_t end = amp ? (size_t)(amp - q) : qlen;

		if (end > i && n == LIMIT_CACHE_QUERY_PARAMS)
			return -E2BIG;
		if (end > i)
			ps[n++] = (struct hcache_span){ q + i, (uint32_t)(end - i) };
		i = end + 1;
	}
	sort_params(ps, n);
	for (size_t a = 0; a < n; a++) {
		put(t, a ? "&" : "?", 1);
		put(t, ps[a].p, ps[a].len);
	}
	return 0;
}

int hcache_key(const char *zone, size_t zone_len, const char *path, size_t path_len,
	       const char *query, size_t query_len, enum hcache_qs mode,
	       char *text, size_t cap, size_t *text_len, struct hcache_key *out)
{
	struct text t = { text, 0, cap, false };
	XXH128_hash_t h;
	int rc = 0;

	put(&t, zone, zone_len);
	put(&t, "\n", 1);
	put(&t, path, path_len);
	if (query && query_len && mode == HCACHE_QS_INCLUDE) {
		put(&t, "?", 1);
		put(&t, query, query_len);
	} else if (query && query_len && mode == HCACHE_QS_SORTED) {
		rc = put_sorted_query(&t, query, query_len);
	}
	if (rc)
		return rc;
	if (t.over)
		return -ENOSPC;
	h = XXH3_128bits(text, t.len);
	out->hi = h.high64;
	out->lo = h.low64;
	*text_len = t.len;
	return 0;
}

/* ---- Vary secondary key --------------------------------------------------- */

static int name_cmp(const void *pa, const void *pb)
{
	const struct hcache_span *a = pa, *b = pb;
	size_t m = a->len < b->len ? a->len : b->len;

	for (size_t i = 0; i < m; i++) {
		char x = hcache_lower(a->p[i]), y = hcache_lower(b->p[i]);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return a->len < b->len ? -1 : a->len > b->len;
}

static void update_lower(XXH3_state_t *st, const char *s, size_t n)
{
	char buf[64];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = hcache_lower(s[i]);
		XXH3_64bits_update(st, buf, k);
		s += k;
		n -= k;
	}
}

/* Fields whose whole value is case-insensitive (language ranges, RFC 4647
 * 2; content codings, RFC 9110 8.4.1): "en, De" selects what "EN, de"
 * does, so they hash as one variant. */
static bool value_caseless(const struct hcache_span *name)
{
	return hcache_eq(name->p, name->len, "accept-language") ||
	       hcache_eq(name->p, name->len, "accept-encoding");
}

/* Every line of field `name`, list items joined by ",", OWS dropped. */
static void update_field(XXH3_state_t *st, const struct hcache_span *name,
			 const struct http1_header *h, size_t n)
{
	bool present = false, first = true, caseless = value_caseless(name);

	for (size_t i = 0; i < n; i++) {
		const char *cur = h[i].value, *end = cur + h[i].value_len;
		struct hcache_span nm = { h[i].name, h[i].name_len }, it;

		if (name_cmp(&nm, name) != 0)
			continue;
		if (!present)
			XXH3_64bits_update(st, "\x02", 1);
		present = true;
		while (hcache_list_next(&cur, end, &it)) {
			if (!first)
				XXH3_64bits_update(st, ",", 1);
			first = false;
			if (caseless)
				update_lower(st, it.p, it.len);
			else
				XXH3_64bits_update(st, it.p, it.len);
		}
	}
	XXH3_64bits_update(st, present ? "\x03" : "\x01", 1);
}

int hcache_vary_key(const struct hcache_vary *v, const struct http1_header *h,
		    size_t n, uint64_t *out)
{
	struct hcache_span names[LIMIT_VARY_FIELDS];
	XXH3_state_t st;

	if (v->star || v->too_many || v->n > LIMIT_VARY_FIELDS)
		return -EINVAL;
	memcpy(names, v->names, v->n * sizeof(names[0]));
	qsort(names, v->n, sizeof(names[0]), name_cmp);
	XXH3_64bits_reset(&st);
	for (size_t i = 0; i < v->n; i++) {
		update_lower(&st, names[i].p, names[i].len);
		XXH3_64bits_update(&st, "", 1);
		update_field(&st, &names[i], h, n);
	}
	*out = XXH3_64bits_digest(&st);
	return 0;
}

/* ---- variant markers -------------------------------------------------------- */

int hcache_vary_names(const struct hcache_vary *v, char *buf, size_t cap, size_t *len)
{
	struct hcache_span names[LIMIT_VARY_FIELDS];
	struct text t = { buf, 0, cap, false };

	if (v->star || v->too_many || v->n > LIMIT_VARY_FIELDS)
		return -EINVAL;
	memcpy(names, v->names, v->n * sizeof(names[0]));
	qsort(names, v->n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < v->n; i++) {
		if (i > 0 && name_cmp(&names[i - 1], &names[i]) == 0)
			continue;           /* "Vary: A, a" varies on one field */
		if (t.len)
			put(&t, ",", 1);
		for (size_t k = 0; k < names[i].len && !t.over; k++) {
			char c = hcache_lower(names[i].p[k]);
			put(&t, &c, 1);
		}
	}
	if (t.over)
		return -ENOSPC;
	*len = t.len;
	return 0;
}

int hcache_vary_parse_names(const char *names, size_t len, struct hcache_vary *v)
{
	const char *cur = names, *end = names + len;
	struct hcache_span it;

	memset(v, 0, sizeof(*v));
	while (hcache_list_next(&cur, end, &it)) {
		if (it.len == 0)
			continue;
		if (v->n == LIMIT_VARY_FIELDS)
			return -EINVAL;
		v->names[v->n++] = it;
	}
	return 0;
}

void hcache_variant_key(const struct hcache_key *primary, uint64_t epoch, uint64_t vary,
			struct hcache_key *out)
{
	uint64_t in[4] = { primary->hi, primary->lo, epoch, vary };
	XXH128_hash_t h = XXH3_128bits(in, sizeof(in));

	out->hi = h.high64;
	out->lo = h.low64;
}
