/*
 * cache/http_cache_hit.c — what a hit answers and which header fields the
 * request path keeps, drops or writes itself (see http_cache.h, "serving a
 * stored object"); moved from edge/edge_cache.c and edge/edge_large.c,
 * which build the heads and send.
 */
#include <string.h>
#include <strings.h>

#include "cache/http_cache.h"

void hcache_hit_plan(const struct hcache_req_info *req, const struct hcache_entry *e,
		     int status, int64_t total, struct hcache_hit_plan *out)
{
	struct hcache_range rg = { .kind = HCACHE_RANGE_NONE };

	memset(out, 0, sizeof(*out));
	out->status = status;
	out->len = total;
	enum hcache_cond cond = hcache_eval_conditional(req, e);
	if (cond == HCACHE_COND_304) {
		out->status = 304;
		out->len = 0;
	} else if (cond == HCACHE_COND_412) {
		out->status = 412;
		out->len = 0;
	} else if (status == 200) {
		/* Of a 200 only (hcache_range also asks the entry's status). */
		hcache_range(req, e, total, &rg);
		if (rg.kind != HCACHE_RANGE_NONE &&
		    hcache_content_range(&rg, total, out->content_range,
					 sizeof(out->content_range)) > 0)
			out->has_content_range = true;
		if (rg.kind == HCACHE_RANGE_PARTIAL) {
			out->status = 206;
			out->first = rg.first;
			out->len = rg.last - rg.first + 1;
		} else if (rg.kind == HCACHE_RANGE_UNSATISFIABLE) {
			out->status = 416;
			out->len = 0;
		}
	}
}

uint32_t hcache_store_expires(const struct hcache_store *hs)
{
	return hs->sie_until > hs->fresh_until ? (uint32_t)hs->sie_until
					       : (uint32_t)hs->fresh_until;
}

/* Is h one of names[0..n) (lower case)? */
static bool header_named(const struct http1_header *h, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (h->name_len == strlen(names[i]) &&
		    strncasecmp(h->name, names[i], h->name_len) == 0)
			return true;
	return false;
}

bool hcache_header_conditional(const struct http1_header *h)
{
	static const char *const names[] = {
		"if-none-match", "if-modified-since", "if-match", "if-unmodified-since",
		"if-range", "range",
	};
	return header_named(h, names, sizeof(names) / sizeof(names[0]));
}

bool hcache_header_kept_in_304(const struct http1_header *h)
{
	/* RFC 9110 15.4.5: what the 200 would have carried of these; Date is
	 * the stored one, as on any hit. */
	static const char *const names[] = {
		"etag", "cache-control", "expires", "vary", "content-location",
		"last-modified", "date",
	};
	return header_named(h, names, sizeof(names) / sizeof(names[0]));
}

bool hcache_header_replaced_on_hit(const struct http1_header *h)
{
	static const char *const names[] = {
		"content-length", "server", "age", "x-cache", "connection", "transfer-encoding",
	};
	return header_named(h, names, sizeof(names) / sizeof(names[0]));
}

bool hcache_hit_drops_header(const struct http1_header *h, int status, const char *own_targeted)
{
	if (hcache_header_replaced_on_hit(h) || hcache_targeted_field(h, own_targeted))
		return true;
	if (status == 304)
		return !hcache_header_kept_in_304(h);
	/* A 206 or 416 of a hit carries the edge's own Content-Range; a
	 * stored 200's Content-Range is the origin's and stays (RFC 9111
	 * 3.1: a cache stores the header fields it received). */
	return (status == 206 || status == 416) && h->name_len == 13 &&
	       strncasecmp(h->name, "content-range", 13) == 0;
}

bool hcache_hit_adds_date(const struct http1_header *stored, size_t n)
{
	return http1_find_header(stored, n, "date") == NULL;
}

bool hcache_hit_sends_length(int status)
{
	return status != 304 && status != 204;  /* RFC 9110 8.6: never in a 204 */
}

bool hcache_header_in_stored_head(const struct http1_header *h, const struct http1_header *all,
				  size_t n)
{
	return hcache_header_stored(h, all, n) &&
	       !(h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0) &&
	       !(h->name_len == 10 && strncasecmp(h->name, "set-cookie", 10) == 0);
}

/* ---- the request path's other rules --------------------------------------- */

enum hcache_action hcache_decide_lookup(const struct hcache_entry *e,
					const struct hcache_req_info *req, int64_t now_s,
					bool background)
{
	enum hcache_action act = hcache_decide(e, req, now_s);
	if (background && act != HCACHE_SERVE_FRESH)
		act = HCACHE_REVALIDATE;    /* what a background refresh is for */
	return act;
}

bool hcache_has_validators(const struct hcache_entry *e)
{
	return e->etag_len > 0 || (e->flags & HCACHE_E_HAS_LM);
}

bool hcache_fill_framed(const struct http1_response *resp)
{
	return !(resp->chunked || resp->content_length < 0 || resp->close_delimited);
}

int hcache_invalidated_paths(const struct http1_request *r, const struct http1_response *resp,
			     struct hcache_span out[3])
{
	int n = 0;

	if (!hcache_invalidates(r->method, resp->status))
		return 0;
	out[n++] = (struct hcache_span){ r->target[0] == '/' ? r->target : r->path,
					 r->target[0] == '/' ? r->target_len : r->path_len };
	static const char *const names[] = { "location", "content-location" };
	for (unsigned i = 0; i < 2; i++) {
		const struct http1_header *h = http1_find_header(resp->headers, resp->n_headers,
								 names[i]);
		if (h && r->host && hcache_same_origin_path(h->value, h->value_len, r->host,
							     r->host_len, &out[n]) == 0)
			n++;
	}
	return n;
}
