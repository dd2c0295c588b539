/*
 * cache/slice.h — the rules and arithmetic of large objects kept as slices
 * (docs/cache-store.md "Large objects"), as pure functions: which objects
 * are large, the key, length and count of chunks, which Range a miss may
 * fetch by chunks and what one origin fetch asks for, whether an origin's
 * answer is a slice of the object (and its whole-object head), when the
 * stored version goes, and the validator that ties chunks fetched at
 * different times to one version.
 *
 * Owns: nothing. Every function reads its arguments and writes only the
 * caller's structs.
 * Called by: edge/edge_large.c and edge/edge_cache.c (the pipeline that
 * reads, fetches and writes the chunks); any thread.
 * Never: does I/O, reads a clock (times are passed in), allocates, logs,
 * or keeps state between calls.
 */
#ifndef EDGECACHE_CACHE_SLICE_H
#define EDGECACHE_CACHE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/index.h"
#include "core/http_msg.h"

/* The derived key of chunk `idx` of generation `gen` of object `key`. */
struct cindex_key slice_chunk_key(struct cindex_key key, uint64_t gen, uint32_t idx);

/*
 * The key a version's fill (a plain GET's whole response, streaming into
 * chunks) is claimed under in the collapse table while it runs: a chunk of
 * that version that is neither stored nor claimed will still come from it,
 * so an exchange that needs it waits instead of fetching it again.
 */
struct cindex_key slice_fill_key(struct cindex_key key, uint64_t gen);

/* Bytes of chunk idx of a total-byte object cut in `chunk`-byte chunks
 * (the last one is shorter). idx must be below slice_chunk_count. */
uint32_t slice_chunk_len(uint64_t total, uint32_t chunk, uint32_t idx);

/* Chunks of a total-byte object (0 when chunk is 0). */
uint64_t slice_chunk_count(uint64_t total, uint32_t chunk);

/* The last chunk holding a byte before last1 (> 0), at most UINT32_MAX. */
uint32_t slice_last_chunk(uint64_t last1, uint32_t chunk);

/*
 * The "is it large" rule: a response without Vary whose stored meta
 * (meta_len: entry + stored head) and body do not fit one store chunk of
 * chunk_bytes (nor one RAM-tier block) is kept as slices. A response with
 * Vary never is (the variant path stores it when it fits one chunk).
 */
bool slice_is_large(const struct hcache_resp_info *ri, uint64_t meta_len, uint64_t body_len,
		    uint64_t chunk_bytes);

/* A validator that makes chunks fetched at different times comparable:
 * a strong ETag, else Last-Modified (RFC 9110 8.8.1). */
bool slice_has_validator(const struct hcache_entry *e);

/*
 * Does a later response (ri) carry the version's validators (e)? The same
 * ETag (weakness and bytes), else the same Last-Modified and no ETag;
 * without either only the length, compared by the caller, ties the next
 * fetch of one response to the first — as nginx's slice module does.
 */
bool slice_same_validator(const struct hcache_entry *e, const struct hcache_resp_info *ri);

/* A new version's chunks are stored: hcache_storable said so (hs), no
 * Vary, and a validator (e: the entry it filled). */
bool slice_stored(const struct hcache_store *hs, const struct hcache_resp_info *ri,
		  const struct hcache_entry *e);

/* A version served but not stored: what its conditionals, its Range and its
 * next fetches are checked against — status 200, ri's Last-Modified and its
 * ETag when it fits. Writes only those fields of *e. */
void slice_served_entry(const struct hcache_resp_info *ri, struct hcache_entry *e);

/*
 * A stored record that one request could not use: is it stale for every
 * request at now_s (dropped then; the next fetch starts a new version)?
 * Asked as a plain GET would: no Cache-Control (every field absent, -1 as
 * hcache_parse_request leaves it), no conditionals. A record that only the
 * asking request's own max-age, min-fresh or no-cache refused stays.
 */
bool slice_record_stale(const struct hcache_entry *e, int64_t now_s);

enum slice_record_do {
	SLICE_REC_SERVE = 0,        /* fresh for this request: a hit by chunks */
	SLICE_REC_REFRESH,          /* a background refresh: it fetches the whole object */
	SLICE_REC_MISS,             /* not for this request; kept for others */
	SLICE_REC_REVALIDATE,       /* stale for every request: one conditional GET
				     * with its validator; a 304 keeps its chunks */
	SLICE_REC_DROP,             /* a GET; stale for every request, no validator:
				     * the version goes (a HEAD never drops it) */
};

/*
 * A lookup found a large object's record (entry e) for request req at
 * now_s (background: a stale-while-revalidate refresh): what to do with it.
 * MISS and DROP go to the origin (X-Cache EXPIRED). REVALIDATE (a GET, the
 * record has a strong ETag or Last-Modified, slice_has_validator): the
 * origin is asked with it (RFC 9111 4.3.1); a 304 refreshes the record
 * (4.3.4) and the same chunks answer, a 200 is a new version.
 */
enum slice_record_do slice_record_use(const struct hcache_entry *e,
				      const struct hcache_req_info *req, int64_t now_s,
				      bool background);

/*
 * A Range miss fetched by chunks: a GET with one range "bytes=first-",
 * "bytes=first-last" (starting below chunk LIMIT_STORE_OBJECT_CHUNKS) or
 * "bytes=-N" (N > 0), no If-Range. True and the bytes [*first, *last1) its
 * first fetch starts from (last1 bounded by the length once known); for a
 * suffix [0, 1): chunk 0 first, whose answer tells the length and so where
 * the suffix starts (the visitor's bytes are planned then). False: several
 * ranges, an empty suffix, a bad one — it goes to the origin as it is.
 */
bool slice_range_miss(const struct hcache_req_info *req, uint32_t chunk, uint64_t *first,
		      uint64_t *last1);

/*
 * Does a miss try slice_range_miss at all? A cacheable GET with a Range,
 * not revalidating a stored copy of its own, not a background refresh (a
 * refresh fetches the whole object).
 */
bool slice_range_miss_applies(const struct hcache_req_info *req, bool cacheable,
			      bool have_stored, bool background);

/* One origin fetch of chunks [idx, idx + n): body bytes [*off, *end), end
 * cut to total when the length is known. */
void slice_fetch_span(uint32_t idx, uint32_t n, uint32_t chunk, uint64_t total, bool have_total,
		      uint64_t *off, uint64_t *end);

/* A Content-Range value "bytes first-last/total" (numbers of at most 19
 * digits, first <= last < total) → [*first, *end = last + 1) and *total. */
bool slice_parse_content_range(const char *v, size_t len, uint64_t *first, uint64_t *end,
			       uint64_t *total);

/*
 * Is an origin's response to a fetch from byte o_off a slice of the
 * object? A 206 whose Content-Range agrees with its Content-Length, or a
 * 200 with a length (the whole object), covering o_off. True and the body's
 * bytes [*first, *end) of a *total-byte object.
 */
bool slice_origin_span(const struct http1_response *resp, uint64_t o_off, uint64_t *first,
		       uint64_t *end, uint64_t *total);

/* A fetch answered with this status when it was no slice: does the stored
 * version go? Yes when it says the object is gone (404, 410) or shorter
 * (416), or is a whole response (< 300); a 5xx says nothing about it. */
bool slice_drops_object(uint16_t status);

/* The whole object's head from a slice's: status 200 "OK", Content-Length
 * total, no Content-Range (points into resp's buffer like resp). */
void slice_whole_head(const struct http1_response *resp, uint64_t total,
		      struct http1_response *head);

#endif
