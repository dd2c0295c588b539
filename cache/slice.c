/*
 * cache/slice.c — large objects as slices, the decisions (see slice.h);
 * moved from edge/edge_large.c, which keeps the reads, fetches and writes.
 */
#include "cache/slice.h"

#include <string.h>
#include <strings.h>
#include <xxhash.h>

struct cindex_key slice_chunk_key(struct cindex_key key, uint64_t gen, uint32_t idx)
{
	uint64_t in[4] = { key.lo, key.hi, gen, idx };
	XXH128_hash_t h = XXH3_128bits(in, sizeof(in));
	return (struct cindex_key){ .lo = h.low64, .hi = h.high64 };
}

uint32_t slice_chunk_len(uint64_t total, uint32_t chunk, uint32_t idx)
{
	uint64_t rest = total - (uint64_t)idx * chunk;
	return rest < chunk ? (uint32_t)rest : chunk;
}

uint64_t slice_chunk_count(uint64_t total, uint32_t chunk)
{
	return chunk ? (total + chunk - 1) / chunk : 0;
}

uint32_t slice_last_chunk(uint64_t last1, uint32_t chunk)
{
	uint64_t lastc64 = (last1 - 1) / chunk;
	return lastc64 > UINT32_MAX ? UINT32_MAX : (uint32_t)lastc64;
}

bool slice_is_large(const struct hcache_resp_info *ri, uint64_t meta_len, uint64_t body_len,
		    uint64_t chunk_bytes)
{
	return ri->vary.n == 0 && meta_len + body_len > chunk_bytes;
}

bool slice_has_validator(const struct hcache_entry *e)
{
	return e->etag_len ? !e->etag_weak : (e->flags & HCACHE_E_HAS_LM) != 0;
}

bool slice_same_validator(const struct hcache_entry *e, const struct hcache_resp_info *ri)
{
	if (e->etag_len)
		return ri->etag.p && ri->etag_weak == e->etag_weak &&
		       ri->etag.len == e->etag_len && memcmp(ri->etag.p, e->etag, e->etag_len) == 0;
	if (e->flags & HCACHE_E_HAS_LM)
		return !ri->etag.p && ri->last_modified == e->last_modified;
	return !ri->etag.p && ri->last_modified == HCACHE_TIME_NONE;
}

bool slice_stored(const struct hcache_store *hs, const struct hcache_resp_info *ri,
		  const struct hcache_entry *e)
{
	return hs->store && ri->vary.n == 0 && !ri->vary.star && slice_has_validator(e);
}

void slice_served_entry(const struct hcache_resp_info *ri, struct hcache_entry *e)
{
	e->status = 200;
	e->last_modified = ri->last_modified;
	e->flags = ri->last_modified != HCACHE_TIME_NONE ? HCACHE_E_HAS_LM : 0;
	if (ri->etag.p && ri->etag.len <= sizeof(e->etag)) {
		e->etag_len = (uint8_t)ri->etag.len;
		e->etag_weak = ri->etag_weak;
		memcpy(e->etag, ri->etag.p, ri->etag.len);
	}
}

bool slice_record_stale(const struct hcache_entry *e, int64_t now_s)
{
	/* Absent is -1 (struct hcache_cc): 0 would read as max-age=0 and
	 * drop every record older than a second. */
	struct hcache_req_info plain = {
		.method = HTTP1_GET,
		.cc = HCACHE_CC_ABSENT,
		.if_modified_since = HCACHE_TIME_NONE,
		.if_unmodified_since = HCACHE_TIME_NONE,
	};
	return hcache_decide(e, &plain, now_s) != HCACHE_SERVE_FRESH;
}

enum slice_record_do slice_record_use(const struct hcache_entry *e,
				      const struct hcache_req_info *req, int64_t now_s,
				      bool background)
{
	if (background)
		return SLICE_REC_REFRESH;
	if (hcache_decide(e, req, now_s) == HCACHE_SERVE_FRESH)
		return SLICE_REC_SERVE;
	if (!slice_record_stale(e, now_s))
		return SLICE_REC_MISS;
	/* Stale for everyone: asked again with the validator that ties its
	 * chunks together (a GET: its answer may be the whole new version). */
	if (req->method != HTTP1_GET)
		return SLICE_REC_MISS;      /* a HEAD says nothing of the chunks */
	return slice_has_validator(e) ? SLICE_REC_REVALIDATE : SLICE_REC_DROP;
}

bool slice_range_miss(const struct hcache_req_info *req, uint32_t chunk, uint64_t *first,
		      uint64_t *last1)
{
	struct hcache_range rg;
	struct hcache_entry probe;

	if (!req->range.p || chunk == 0)
		return false;
	/* "bytes=first-" or "bytes=first-last": where it starts is known
	 * before the length. A suffix or several ranges go to the origin. */
	const char *eq = memchr(req->range.p, '=', req->range.len);
	const char *end = req->range.p + req->range.len;
	while (eq && ++eq < end && *eq == ' ')
		;
	if (!eq || eq >= end)
		return false;
	memset(&probe, 0, sizeof(probe));
	probe.status = 200;
	probe.last_modified = HCACHE_TIME_NONE;
	/* A suffix "bytes=-N" (N > 0): where it starts is known only with the
	 * length, so chunk 0 is fetched first — its answer says the length, and
	 * the suffix's chunks follow, by chunks like any other (as nginx's slice
	 * module starts from a slice). Its first bytes are never fetched twice:
	 * chunk 0 is stored for the next request. */
	bool suffix = *eq == '-';
	if (hcache_range(req, &probe, suffix ? (int64_t)1 << 62 : INT64_MAX, &rg) < 0 ||
	    rg.kind != HCACHE_RANGE_PARTIAL ||
	    (!suffix && (uint64_t)rg.first / chunk >= LIMIT_STORE_OBJECT_CHUNKS))
		return false;
	*first = suffix ? 0 : (uint64_t)rg.first;
	*last1 = suffix ? 1 : (uint64_t)rg.last + 1;  /* until the length is known */
	return true;
}

bool slice_range_miss_applies(const struct hcache_req_info *req, bool cacheable,
			      bool have_stored, bool background)
{
	return cacheable && !have_stored && !background && req->method == HTTP1_GET &&
	       req->range.p != NULL;
}

void slice_fetch_span(uint32_t idx, uint32_t n, uint32_t chunk, uint64_t total, bool have_total,
		      uint64_t *off, uint64_t *end)
{
	*off = (uint64_t)idx * chunk;
	*end = *off + (uint64_t)n * chunk;
	if (have_total && *end > total)
		*end = total;
}

bool slice_parse_content_range(const char *v, size_t len, uint64_t *first, uint64_t *end,
			       uint64_t *total)
{
	uint64_t n[3] = { 0, 0, 0 };
	size_t i = 0;
	int k = 0;

	if (!v || len < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return false;
	for (i = 6; i < len && k < 3; k++) {
		size_t d = i;
		while (i < len && v[i] >= '0' && v[i] <= '9' && i - d < 19)
			n[k] = n[k] * 10 + (uint64_t)(v[i++] - '0');
		if (i == d)
			return false;
		if (k < 2 && (i >= len || v[i] != (k == 0 ? '-' : '/')))
			return false;
		i++;
	}
	if (k != 3 || i != len + 1 || n[1] < n[0] || n[1] >= n[2])
		return false;
	*first = n[0];
	*end = n[1] + 1;
	*total = n[2];
	return true;
}

bool slice_origin_span(const struct http1_response *resp, uint64_t o_off, uint64_t *first,
		       uint64_t *end, uint64_t *total)
{
	uint64_t s = 0, e1 = 0, t = 0;
	bool ok;

	if (resp->status == 206) {
		const struct http1_header *h = http1_find_header(resp->headers, resp->n_headers,
								 "content-range");
		ok = h && slice_parse_content_range(h->value, h->value_len, &s, &e1, &t) &&
		     resp->content_length == (int64_t)(e1 - s);
	} else {
		ok = resp->status == 200 && resp->content_length > 0 && !resp->chunked &&
		     (t = e1 = (uint64_t)resp->content_length) > 0;
	}
	*first = s;
	*end = e1;
	*total = t;
	return ok && s <= o_off && o_off < e1;
}

bool slice_drops_object(uint16_t status)
{
	return status == 404 || status == 410 || status == 416 || status < 300;
}

void slice_whole_head(const struct http1_response *resp, uint64_t total,
		      struct http1_response *head)
{
	*head = *resp;
	head->status = 200;
	head->reason = "OK";
	head->reason_len = 2;
	head->content_length = (int64_t)total;
	for (unsigned i = 0; i < head->n_headers; i++)
		if (head->headers[i].name_len == 13 &&
		    strncasecmp(head->headers[i].name, "content-range", 13) == 0)
			head->headers[i--] = head->headers[--head->n_headers];
}

struct cindex_key slice_fill_key(struct cindex_key key, uint64_t gen)
{
	/* A chunk index no object reaches (at most LIMIT_STORE_OBJECT_CHUNKS). */
	return slice_chunk_key(key, gen, UINT32_MAX);
}
