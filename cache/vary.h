/*
 * cache/vary.h — the decisions of Vary with stored variants, as pure
 * functions: the marker's format, the variant a request selects, which
 * variants a marker lists (and the bound on them), whether a collapsed
 * follower may share the leader's response.
 *
 * A response with Vary is stored as two objects: under the URL's primary
 * key a small *marker* (meta only, no body: the canonical Vary names, an
 * epoch and the variants it lists), and the response itself under a
 * *variant key* = hcache_variant_key(primary, epoch, hcache_vary_key of the
 * request's values of those names). A lookup that finds a marker computes
 * the variant key from the visitor's headers and looks again. A response
 * whose Vary names differ from the marker's gets a new epoch: the older
 * variants are unreachable from then on, never served for the new list.
 *
 * Owns: nothing. Every function reads its arguments and writes only the
 * caller's structs and buffers (struct vary_state lives in each exchange's
 * cache state, edge/edge_cache.h).
 * Called by: edge/edge_vary.c and edge/edge_cache.c (markers read and
 * written in the request path), edge/exchange.c (collapsing); any thread.
 * Never: does I/O, reads a clock (a new epoch is the caller's), allocates,
 * logs, or keeps state between calls.
 */
#ifndef EDGECACHE_CACHE_VARY_H
#define EDGECACHE_CACHE_VARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/index.h"
#include "core/http_msg.h"
#include "core/limits.h"

/* What an exchange learnt from a marker, or will write into one. */
struct vary_state {
	bool have;                          /* the primary key holds a marker */
	bool variant;                       /* the cache key is a variant's */
	uint8_t n;                          /* variants listed */
	uint64_t epoch;
	uint64_t names_hash;                /* XXH3-64 of the canonical names */
	uint64_t vary[LIMIT_VARY_VARIANTS]; /* hcache_vary_key of each */
};

/* A marker's meta is at most this long (header, variants, names). */
#define VARY_MARKER_MAX_BYTES (16 + 8 * LIMIT_VARY_VARIANTS + LIMIT_VARY_NAMES_BYTES)

/* Is this stored meta a marker? (one too long is not: read as a miss) */
bool vary_is_marker(const void *meta, uint32_t meta_len);

/*
 * The variant `req` selects among the canonical Vary names[0..len)
 * (hcache_vary_names): *out = hcache_vary_key. Returns 0, or -EINVAL when
 * the names do not parse or are too many.
 */
int vary_request_key(const char *names, size_t len, const struct http1_request *req,
		     uint64_t *out);

/*
 * A marker read under `primary`: fill *s from it (have, variant set) and
 * *variant with the key of the variant that `req` selects. Returns 0, or
 * -EINVAL for meta that is not a marker or does not parse (the caller
 * treats it as a miss, counted).
 */
int vary_from_marker(struct vary_state *s, const void *meta, uint32_t meta_len,
		     struct cindex_key primary, const struct http1_request *req,
		     struct cindex_key *variant);

/*
 * A storable response whose canonical Vary names hash to names_hash, to a
 * request that selects variant vh: *okey = the key to store it under.
 * When *s holds no marker or another list of names, it starts over with
 * `epoch` (the older variants become unreachable). Returns 1: the marker
 * changed (vh is listed now) and must be written; 0: vh was listed, only
 * the variant is rewritten; -ENOSPC: LIMIT_VARY_VARIANTS are listed
 * already (the response is not stored; *okey is set all the same).
 */
int vary_add(struct vary_state *s, uint64_t names_hash, uint64_t epoch, uint64_t vh,
	     struct cindex_key primary, struct cindex_key *okey);

/*
 * The marker's meta for *s and the canonical names[0..names_len) into
 * buf[0..cap). Returns its length, or -ENOSPC when names_len is over
 * LIMIT_VARY_NAMES_BYTES or cap too small (VARY_MARKER_MAX_BYTES fits).
 */
int vary_marker_encode(const struct vary_state *s, const char *names, size_t names_len,
		       char *buf, size_t cap);

/*
 * Collapsing: may a follower whose request is `b` receive the response
 * `resp` that the leader's request `a` got? 1: yes (no Vary, or both
 * select the same variant); 0: no, another variant (it waits for the
 * marker and then looks up its own); -1: never (Vary: *, or names that
 * do not fit a marker: it fetches on its own).
 */
int vary_shares(const struct http1_response *resp, const struct http1_request *a,
		const struct http1_request *b);

#endif
