/*
 * cache/http_cache_cond.c — what the edge answers from a stored entry
 * besides the body: preconditions (RFC 9110 13), validators for
 * revalidation, the 304 refresh (RFC 9111 4.3.4), which header fields are
 * stored (RFC 9111 3.1), and Range (RFC 9110 14). Contracts in
 * cache/http_cache.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/http_cache.h"
#include "cache/http_cache_int.h"

/* ---- entity tags ---------------------------------------------------------- */

static bool etag_eq(const char *a, size_t alen, const char *b, size_t blen, bool strong)
{
	bool aw = alen >= 2 && a[0] == 'W' && a[1] == '/';
	bool bw = blen >= 2 && b[0] == 'W' && b[1] == '/';

	if (strong && (aw || bw))
		return false;
	a += aw ? 2 : 0;
	alen -= aw ? 2 : 0;
	b += bw ? 2 : 0;
	blen -= bw ? 2 : 0;
	return alen == blen && memcmp(a, b, alen) == 0;
}

bool hcache_etag_list_match(const char *a, size_t alen, const char *t, size_t tlen,
			bool strong)
{
	const char *cur = a;
	struct hcache_span it;
	int seen = 0;

	while (seen < LIMIT_ETAG_LIST && hcache_list_next(&cur, a + alen, &it)) {
		if (it.len == 0)
			continue;
		seen++;
		if (it.len == 1 && it.p[0] == '*')
			return true;
		if (tlen && etag_eq(it.p, it.len, t, tlen, strong))
			return true;
	}
	return false;
}

/* ---- preconditions --------------------------------------------------------- */

/* If-Match, else If-Unmodified-Since: false → 412 (RFC 9110 13.2.2 1-2). */
static bool write_preconditions_hold(const struct hcache_req_info *req,
				     const struct hcache_entry *e)
{
	if (req->if_match.p)
		return hcache_etag_list_match(req->if_match.p, req->if_match.len,
					  e->etag, e->etag_len, true);
	if (req->if_unmodified_since != HCACHE_TIME_NONE &&
	    e->last_modified != HCACHE_TIME_NONE)
		return e->last_modified <= req->if_unmodified_since;
	return true;
}

enum hcache_cond hcache_eval_conditional(const struct hcache_req_info *req,
					 const struct hcache_entry *e)
{
	bool get_head = req->method == HTTP1_GET || req->method == HTTP1_HEAD;
	int64_t lm;

	/* only a response that would be 2xx is subject to preconditions */
	if (e->status < 200 || e->status > 299)
		return HCACHE_COND_PROCEED;
	if (!write_preconditions_hold(req, e))
		return HCACHE_COND_412;
	if (req->if_none_match.p) {
		if (!hcache_etag_list_match(req->if_none_match.p, req->if_none_match.len,
					e->etag, e->etag_len, false))
			return HCACHE_COND_PROCEED;
		return get_head ? HCACHE_COND_304 : HCACHE_COND_412;
	}
	if (!get_head || req->if_modified_since == HCACHE_TIME_NONE)
		return HCACHE_COND_PROCEED;
	/* RFC 9111 4.3.2: Last-Modified, else the stored Date */
	lm = e->last_modified != HCACHE_TIME_NONE ? e->last_modified : e->date;
	return lm <= req->if_modified_since ? HCACHE_COND_304 : HCACHE_COND_PROCEED;
}

int hcache_revalidation_headers(const struct hcache_entry *e, char *buf, size_t cap)
{
	char date[30];
	int n;

	if (e->etag_len)
		n = snprintf(buf, cap, "If-None-Match: %.*s\r\n", (int)e->etag_len, e->etag);
	else if (e->last_modified != HCACHE_TIME_NONE) {
		http1_format_date(e->last_modified, date);
		n = snprintf(buf, cap, "If-Modified-Since: %s\r\n", date);
	} else {
		n = 0;
		if (cap)
			buf[0] = '\0';
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* ---- stored header fields and the 304 refresh ----------------------------- */

bool hcache_header_stored(const struct http1_header *h,
			  const struct http1_header *all, size_t n)
{
	if (http1_is_hop_by_hop(h->name, h->name_len) ||
	    hcache_eq(h->name, h->name_len, "proxy-authentication-info"))
		return false;
	return !hcache_field_has(all, n, "connection", h->name, h->name_len);
}

/* Fields a 304 never changes: they describe the stored body itself. */
static bool kept_from_stored(const struct http1_header *h)
{
	static const char *const keep[] = {
		"content-length", "content-encoding", "content-md5", "content-range", "etag",
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (hcache_eq(h->name, h->name_len, keep[i]))
			return true;
	return false;
}

static bool updates(const struct http1_header *f, const struct http1_header *fresh,
		    size_t n_fresh)
{
	return !kept_from_stored(f) && hcache_header_stored(f, fresh, n_fresh);
}

int hcache_merge_304(const struct http1_header *stored, size_t n_stored,
		     const struct http1_header *fresh, size_t n_fresh,
		     struct http1_header *out, size_t cap, size_t *n_out)
{
	size_t n = 0;

	for (size_t i = 0; i < n_stored; i++) {
		bool replaced = false;

		for (size_t j = 0; j < n_fresh && !replaced; j++)
			replaced = updates(&fresh[j], fresh, n_fresh) &&
				   hcache_eq_ci(stored[i].name, stored[i].name_len,
					      fresh[j].name, fresh[j].name_len);
		if (replaced)
			continue;
		if (n == cap)
			return -ENOSPC;
		out[n++] = stored[i];
	}
	for (size_t j = 0; j < n_fresh; j++) {
		if (!updates(&fresh[j], fresh, n_fresh))
			continue;
		if (n == cap)
			return -ENOSPC;
		out[n++] = fresh[j];
	}
	*n_out = n;
	return 0;
}

bool hcache_304_matches(const struct hcache_entry *e, const struct hcache_resp_info *r)
{
	if (!r->etag.len)
		return true;
	return e->etag_len && etag_eq(r->etag.p, r->etag.len, e->etag, e->etag_len, false);
}

/* ---- Range ------------------------------------------------------------------ */

/* 1*DIGIT into *v (saturating at INT64_MAX); false if not digits. */
static bool range_num(const char *s, size_t len, int64_t *v)
{
	*v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v > (INT64_MAX - 9) / 10 ? INT64_MAX : *v * 10 + (s[i] - '0');
	}
	return true;
}

/* If-Range (RFC 9110 13.1.5): a strong ETag equal to ours, or a date equal
 * to a Last-Modified that is strong (at least a second before Date). */
static bool if_range_holds(const struct hcache_span *v, const struct hcache_entry *e)
{
	int64_t t;

	if (v->len && (v->p[0] == '"' || (v->len > 1 && v->p[0] == 'W' && v->p[1] == '/')))
		return e->etag_len && etag_eq(v->p, v->len, e->etag, e->etag_len, true);
	if (hcache_parse_date(v->p, v->len, e->date, &t))
		return false;
	return e->last_modified != HCACHE_TIME_NONE && t == e->last_modified &&
	       e->last_modified < e->date;
}

/* One range-spec against len bytes. */
static void one_range(const char *s, size_t n, int64_t len, struct hcache_range *out)
{
	const char *dash = memchr(s, '-', n);
	size_t fl = dash ? (size_t)(dash - s) : 0;
	int64_t a, b;

	if (!dash)
		return;
	if (fl == 0) {                  /* -suffix */
		if (!range_num(dash + 1, n - 1, &b))
			return;
		out->kind = b == 0 || len == 0 ? HCACHE_RANGE_UNSATISFIABLE
					       : HCACHE_RANGE_PARTIAL;
		out->first = b >= len ? 0 : len - b;
		out->last = len - 1;
		return;
	}
	if (!range_num(s, fl, &a))
		return;
	if (fl + 1 == n)
		b = INT64_MAX;          /* first- */
	else if (!range_num(dash + 1, n - fl - 1, &b) || b < a)
		return;                 /* invalid: ignore the Range */
	out->kind = a >= len ? HCACHE_RANGE_UNSATISFIABLE : HCACHE_RANGE_PARTIAL;
	out->first = a;
	out->last = b < len - 1 ? b : len - 1;
}

int hcache_range(const struct hcache_req_info *req, const struct hcache_entry *e,
		 int64_t len, struct hcache_range *out)
{
	const char *cur, *end;
	struct hcache_span it, spec = { NULL, 0 };
	int specs = 0;

	*out = (struct hcache_range){ HCACHE_RANGE_NONE, 0, 0 };
	if (req->method != HTTP1_GET || !req->range.p || e->status != 200 ||
	    req->range.len < 6 || !hcache_eq(req->range.p, 6, "bytes="))
		return 0;
	if (req->if_range.p && !if_range_holds(&req->if_range, e))
		return 0;
	cur = req->range.p + 6;
	end = req->range.p + req->range.len;
	while (hcache_list_next(&cur, end, &it)) {
		if (it.len && ++specs == 1)
			spec = it;
	}
	if (specs == 1)                 /* several ranges: the whole object */
		one_range(spec.p, spec.len, len, out);
	if (out->kind != HCACHE_RANGE_PARTIAL)
		out->first = out->last = 0;
	return 0;
}

int hcache_content_range(const struct hcache_range *r, int64_t len, char *buf,
			 size_t cap)
{
	int n;

	if (r->kind == HCACHE_RANGE_PARTIAL)
		n = snprintf(buf, cap, "bytes %lld-%lld/%lld", (long long)r->first,
			     (long long)r->last, (long long)len);
	else
		n = snprintf(buf, cap, "bytes */%lld", (long long)len);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int hcache_range_chunks(int64_t first, int64_t last, uint64_t chunk_size,
			uint64_t *first_chunk, uint64_t *last_chunk)
{
	if (chunk_size == 0 || first < 0 || first > last)
		return -EINVAL;
	*first_chunk = (uint64_t)first / chunk_size;
	*last_chunk = (uint64_t)last / chunk_size;
	return 0;
}
