/*
 * cache/collapse.h — request collapsing: which cache keys have an origin
 * fetch in flight, and who leads it.
 *
 * Owns: a fixed table of in-flight keys shared by all shards (allocated at
 * start, LIMIT_COLLAPSE_KEYS slots, each with its own small lock: never a
 * global lock).
 * Called by: shards (claim on a miss, touch as the fetch makes progress,
 * release when the fetch's store write commits or fails, or when nothing
 * will be stored); lookups by any shard.
 * Never: blocks beyond a slot's spin, allocates, or decides anything about
 * HTTP: which misses collapse, on whom, and when a key is pass-stamped is
 * cache/cache_policy.h's; edge/edge_cache.c applies it.
 */
#ifndef EDGECACHE_CACHE_COLLAPSE_H
#define EDGECACHE_CACHE_COLLAPSE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/index.h"

/* The leader of a key: shard, and its exchange slot (index, generation). */
struct collapse_leader {
	uint32_t shard;
	uint32_t vidx;
	uint32_t vgen;
};

struct collapse;

int collapse_init(struct collapse **out, uint32_t slots);
void collapse_free(struct collapse *t);

/*
 * Claim key for `me`. Returns 0: claimed, the caller leads the fetch;
 * 1: already in flight, *leader says who leads; -ENOSPC: no slot free
 * near the key (then nobody collapses on it: the caller just fetches,
 * and counts it — collapse_full — since that fetch may run twice).
 */
int collapse_claim(struct collapse *t, struct cindex_key key, const struct collapse_leader *me,
		   struct collapse_leader *leader);
/* Release key's claim (no-op if it is not claimed). */
void collapse_release(struct collapse *t, struct cindex_key key);
/* Is key in flight? (parked followers ask on every tick) */
bool collapse_active(struct collapse *t, struct cindex_key key);
/*
 * The holder of key's claim made progress at `ms` (a claim starts with
 * none: 0). Those who wait on a claim bound their wait by its holder's
 * progress, not by how long they waited: a fetch that moves slowly is
 * still waited for, one that stalls is not.
 */
void collapse_touch(struct collapse *t, struct cindex_key key, uint64_t ms);
/* Is key in flight? True and *ms: its holder's last progress. */
bool collapse_active_since(struct collapse *t, struct cindex_key key, uint64_t *ms);

/*
 * The same table kept as invalidation stamps (a second instance): when
 * each key was last invalidated (ms, CLOCK_MONOTONIC). A full probe
 * window loses its oldest stamp: only a fill older than every stamp kept
 * could then slip through.
 */
void collapse_stamp(struct collapse *t, struct cindex_key key, uint64_t ms);
/* Was key invalidated at or after `ms`? */
bool collapse_stamped_since(struct collapse *t, struct cindex_key key, uint64_t ms);

#endif
