/*
 * cache/refreshed.h — objects a 304 refreshed whose rewrite has not landed:
 * the refreshed meta (stored head + RFC 9111 entry) of each, found by the
 * key and the store location of the copy it refreshes.
 *
 * Why: a 304 refresh rewrites the object (new meta, same body) and the
 * index keeps pointing at the old, stale copy until the rewrite commits.
 * Without this table, a request in that window (on any shard) found the
 * stale copy and went to the origin again (issue 17, defect 2). With it,
 * the old copy's body is served under the refreshed meta until the new
 * entry lands; a rewrite that fails is dropped here, and the old copy is
 * what it was (stale: the next request revalidates).
 *
 * Owns: a fixed table shared by all shards (allocated at start:
 * LIMIT_REFRESHED_SLOTS slots of meta_cap bytes each, each slot with its
 * own small lock: never a global lock).
 * Called by: shards — the one that rewrites an object (put, done), any
 * that found a stale copy (get).
 * Never: blocks beyond a slot's spin (held for one copy of a meta),
 * allocates after init, or knows HTTP: the meta is the caller's bytes.
 *
 * A slot whose rewrite landed is kept until another rewrite needs it: a
 * read of the old location that was in flight when the index moved on
 * still finds the refreshed meta (the body at the old location is the
 * same bytes). Only a read that saw the index before the commit can ask
 * for the old location.
 */
#ifndef EDGECACHE_CACHE_REFRESHED_H
#define EDGECACHE_CACHE_REFRESHED_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/index.h"

struct refreshed;

/* 0, or -ENOMEM. Control thread, at start. */
int refreshed_init(struct refreshed **out, uint32_t slots, uint32_t meta_cap);
void refreshed_free(struct refreshed *t);

/*
 * The copy of `key` at `loc` is being rewritten by write `wid` of `shard`
 * with this meta. Replaces the first entry of the key it finds (two
 * shards putting one key at once may add two: harmless, one body, and
 * refreshed_done matches on shard and wid). Returns 0,
 * -E2BIG (meta longer than meta_cap), or -ENOSPC (every slot near the key
 * holds a rewrite still in flight: the caller counts it; lookups then
 * find the stale copy until the rewrite lands).
 */
int refreshed_put(struct refreshed *t, struct cindex_key key, uint64_t loc, uint32_t shard,
		  uint32_t wid, const void *meta, uint32_t meta_len);

/*
 * Write `wid` of `shard` for key ended: landed (the entry stays readable
 * for reads of the old location, until its slot is needed) or failed
 * (dropped). A no-op when a later rewrite of the key took the slot over.
 */
void refreshed_done(struct refreshed *t, struct cindex_key key, uint32_t shard, uint32_t wid,
		    bool landed);

/* A lookup found key's copy at loc, stale: the refreshed meta copied to
 * out[0..cap) and its length, or -ENOENT (none, or longer than cap). */
int refreshed_get(struct refreshed *t, struct cindex_key key, uint64_t loc, void *out,
		  uint32_t cap);

#endif
