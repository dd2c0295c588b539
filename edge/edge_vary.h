/*
 * edge/edge_vary.h — Vary with stored variants, for the cache in the
 * request path (edge/edge_cache.c).
 *
 * A response with Vary is stored as two objects: under the URL's primary
 * key a small *marker* (meta only, no body: the canonical Vary names, an
 * epoch and the variants it lists), and the response itself under a
 * *variant key* = hcache_variant_key(primary, epoch, hcache_vary_key of the
 * request's values of those names). A lookup that finds a marker computes
 * the variant key from the visitor's headers and looks again. A response
 * whose Vary names differ from the marker's gets a new epoch: the older
 * variants are unreachable from then on, never served for the new list.
 * Deleting the primary key (purge by key, invalidation) drops the marker
 * and so every variant with it; variants share the primary's key text, so
 * purge by prefix finds them too.
 *
 * Owns: nothing beyond struct evary_state in each exchange's cache state.
 * Called by: edge/edge_cache.c and edge/visitor.c on the shard thread.
 * Never: blocks or allocates; the marker write is best effort like every
 * fill (a busy store drops it, and then the variant is not stored).
 */
#ifndef EDGECACHE_EDGE_EDGE_VARY_H
#define EDGECACHE_EDGE_EDGE_VARY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/index.h"
#include "core/limits.h"
#include "net/http1.h"

struct shard;
struct visitor_conn;

/* What an exchange learnt from a marker (inside struct ecache_x). */
struct evary_state {
	bool have;                          /* the primary key holds a marker */
	bool variant;                       /* the cache key is a variant's */
	uint8_t n;                          /* variants listed */
	uint64_t epoch;
	uint64_t names_hash;                /* XXH3-64 of the canonical names */
	uint64_t vary[LIMIT_VARY_VARIANTS]; /* hcache_vary_key of each */
};

/* A marker's meta is at most this long (header, variants, names). */
#define EVARY_MARKER_MAX_BYTES (16 + 8 * LIMIT_VARY_VARIANTS + LIMIT_VARY_NAMES_BYTES)

/* Is this stored meta a marker? (one too long is not: read as a miss) */
bool evary_is_marker(const void *meta, uint32_t meta_len);

/*
 * A marker read under `primary`: fill *s from it and *variant with the key
 * of the variant that `req` selects. Returns 0, or -EINVAL for a marker
 * that does not parse (the caller treats it as a miss, counted).
 */
int evary_from_marker(struct evary_state *s, const void *meta, uint32_t meta_len,
		      struct cindex_key primary, const struct http1_request *req,
		      struct cindex_key *variant);

/*
 * A storable response with Vary to vc's GET: the key to store it under
 * (*okey) and, when the URL's marker must change (new or changed names,
 * or a variant not listed yet), the marker written under `primary`
 * (*marker_written). Returns 0; -ENOSPC when the URL has
 * LIMIT_VARY_VARIANTS variants already (counted cache_vary_refused),
 * -EINVAL when the names do not fit a marker, -EBUSY when the marker
 * could not be written: the response is then not stored.
 */
int evary_fill(struct shard *sh, struct visitor_conn *vc, const struct hcache_resp_info *ri,
	       struct cindex_key primary, const char *key_text, size_t key_text_len,
	       uint32_t expires, struct cindex_key *okey, bool *marker_written);

/*
 * Collapsing: may a follower whose request is `b` receive the response
 * `resp` that the leader's request `a` got? 1: yes (no Vary, or both
 * select the same variant); 0: no, another variant (it waits for the
 * marker and then looks up its own); -1: never (Vary: *, or names that
 * do not fit a marker: it fetches on its own).
 */
int evary_shares(const struct http1_response *resp, const struct http1_request *a,
		 const struct http1_request *b);

#endif
