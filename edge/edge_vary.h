/*
 * edge/edge_vary.h — Vary with stored variants, for the cache in the
 * request path (edge/edge_cache.c): the marker's store write. The rules —
 * the marker's format, the variant key, which variants a marker lists, the
 * bound, sharing with collapsed followers — are cache/vary.h's.
 *
 * Deleting the primary key (purge by key, invalidation) drops the marker
 * and so every variant with it; variants share the primary's key text, so
 * purge by prefix finds them too.
 *
 * Owns: nothing beyond struct vary_state in each exchange's cache state.
 * Called by: edge/edge_cache.c on the shard thread.
 * Never: blocks or allocates; the marker write is best effort like every
 * fill (a busy store drops it, and then the variant is not stored).
 */
#ifndef EDGECACHE_EDGE_EDGE_VARY_H
#define EDGECACHE_EDGE_EDGE_VARY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/index.h"
#include "cache/vary.h"
#include "core/limits.h"
#include "net/http1.h"

struct shard;
struct exchange;

/*
 * A storable response with Vary to ex's GET: the key to store it under
 * (*okey) and, when the URL's marker must change (new or changed names,
 * or a variant not listed yet), the marker written under `primary`
 * (*marker_written). Returns 0; -ENOSPC when the URL has
 * LIMIT_VARY_VARIANTS variants already (counted cache_vary_refused),
 * -EINVAL when the names do not fit a marker, -EBUSY when the marker
 * could not be written: the response is then not stored.
 */
int evary_fill(struct shard *sh, struct exchange *ex, const struct hcache_resp_info *ri,
	       struct cindex_key primary, const char *key_text, size_t key_text_len,
	       uint32_t expires, struct cindex_key *okey, bool *marker_written);

#endif
