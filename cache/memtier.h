/*
 * cache/memtier.h — the RAM tier of the cache: one per shard, holding the
 * objects (or chunks of objects) that shard serves often, so the hot set
 * never touches the disk. Design and figures: docs/cache-memtier.md.
 *
 * Owns: one arena (mmap, MAP_NORESERVE: committed as it is used) of
 * budget + LIMIT_MEMTIER_SLACK_PCT bytes cut by a buddy allocator into
 * power-of-two blocks from LIMIT_MEMTIER_MIN_BLOCK_BYTES to chunk_bytes;
 * the side tables (object records, hash table, buddy free lists, ghost
 * fingerprints), all allocated by memtier_init. Admission and eviction
 * are S3-FIFO (small FIFO, main FIFO with 2-bit frequencies, ghost FIFO).
 * Called by: its shard thread only — single-threaded: no locks, no atomic
 * read-modify-write. The control thread may read the counters (each is
 * written with a relaxed store, as core/counters.h does).
 * Never: allocates after memtier_init, does I/O, blocks, logs, frees
 * bytes a handle still references, or serves an entry whose disk location
 * (cindex loc) is not the one the caller looked up.
 *
 * An entry is named by (key, loc, chunk): the disk store's index entry
 * (struct cindex_entry: key + loc) and which part of the object it holds:
 *  - MEMTIER_WHOLE: meta + the whole body (meta_len + body_len ≤ chunk);
 *  - MEMTIER_META: a larger object's meta (body_len 0);
 *  - 0..LIMIT_STORE_OBJECT_CHUNKS-1: body bytes [i × chunk, (i+1) × chunk).
 * One (key, chunk) has at most one entry: a lookup with another loc
 * misses (the object was rewritten, or the caller's loc is older); an
 * admission with another loc replaces the copy.
 */
#ifndef EDGECACHE_CACHE_MEMTIER_H
#define EDGECACHE_CACHE_MEMTIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/index.h"
#include "core/limits.h"

#define MEMTIER_WHOLE  (UINT32_MAX - 1)
#define MEMTIER_META   UINT32_MAX

/* Every counter, declared once with its meaning; (gauge) = a level. */
#define MEMTIER_COUNTERS(X) \
	X(hits,             "lookups that found the entry at the caller's loc") \
	X(misses,           "lookups that found nothing (stale ones included)") \
	X(stale,            "lookups that found a copy of another loc (a miss; kept)") \
	X(replaced,         "copies of another loc dropped by an admission (object rewritten)") \
	X(admitted,         "entries committed (small or main FIFO)") \
	X(admitted_main,    "of those, straight to main: their key was in the ghost FIFO") \
	X(rejected_size,    "admissions refused: meta + body over chunk_bytes, or tier off") \
	X(rejected_busy,    "admissions refused: the entry is already there or being filled") \
	X(rejected_nospace, "admissions refused: no block even after evicting all it could") \
	X(aborted,          "admissions the caller abandoned") \
	X(promoted,         "small-FIFO entries hit while there, moved to main") \
	X(reinserted,       "main-FIFO entries hit since judged, re-inserted (freq - 1)") \
	X(evicted,          "entries evicted (small and main)") \
	X(evicted_small,    "of those, from small (never hit: one-hit wonders), to ghost") \
	X(evicted_pinned,   "of those, still referenced: freed at the last unref") \
	X(objects,          "entries in the table, filling ones included (gauge)") \
	X(bytes_used,       "block bytes of those entries, <= budget (gauge)") \
	X(bytes_payload,    "meta + body bytes of those entries (gauge)") \
	X(bytes_small,      "block bytes in the small FIFO (gauge)") \
	X(bytes_main,       "block bytes in the main FIFO (gauge)") \
	X(bytes_pinned,     "block bytes evicted but still referenced: over budget (gauge)")

enum memtier_ctr {
#define MEMTIER_CTR_ENUM(name, doc) MEMTIER_CTR_##name,
	MEMTIER_COUNTERS(MEMTIER_CTR_ENUM)
#undef MEMTIER_CTR_ENUM
	MEMTIER_CTR__COUNT
};
extern const char *const memtier_ctr_names[MEMTIER_CTR__COUNT];
extern const char *const memtier_ctr_docs[MEMTIER_CTR__COUNT];

#define MEMTIER_MAGIC 0x4d454d54u       /* "MEMT" */

struct memtier_obj;                     /* a handle: see memtier_get */
struct mt_ghost;

/* A FIFO of entries (record indices), linked through the records. */
struct memtier_fifo {
	uint32_t head, tail;                /* newest, oldest; MT_NIL = empty */
	uint64_t bytes;                     /* block bytes queued */
};

struct memtier {
	uint32_t magic;
	uint64_t budget;                    /* block bytes the table may hold */
	uint64_t small_target;              /* LIMIT_MEMTIER_SMALL_PCT of budget */
	uint32_t chunk_bytes;               /* largest block and entry */
	uint8_t max_order;                  /* chunk_bytes = min block << max_order */
	char *arena;                        /* NULL: the tier is off (budget 0) */
	uint64_t arena_bytes;
	uint32_t n_blocks;                  /* arena in min blocks */
	/* records: one per possible block, handed out by a bump index then
	 * from a free list, so only the records in use are ever touched */
	struct memtier_obj *obj;
	uint32_t obj_bump, obj_free;        /* free: record + 1, 0 = none */
	uint32_t *heads;                    /* hash table: record + 1, 0 = none */
	uint32_t heads_mask;
	/* buddy allocator, side tables per min block (the arena is only
	 * ever touched by the caller's bytes) */
	uint8_t *bstate;                    /* at a block's start: order | MT_FREE */
	uint32_t *bnext, *bprev;            /* free lists, per order */
	uint32_t free_head[32];
	uint32_t top_bump;                  /* largest blocks never used start here */
	struct memtier_fifo small, main;
	struct mt_ghost *ghost;             /* fingerprint + eviction time */
	uint32_t ghost_mask;
	uint64_t ghost_clock;               /* min blocks sent to the ghost */
	uint64_t ctr[MEMTIER_CTR__COUNT];   /* relaxed stores: see above */
};

/*
 * Set up a tier of `budget_bytes` whose largest entry is `chunk_bytes`
 * (the store's chunk: a power of two in LIMIT_CACHE_CHUNK_MIN..MAX).
 * budget 0 = the tier is off (every lookup misses, every admission is
 * refused). Returns 0, -EINVAL (chunk not a power of two or out of its
 * range, budget over LIMIT_CACHE_MEMORY_MAX), -ENOMEM. Control thread or
 * the shard, at start: it allocates.
 */
int memtier_init(struct memtier *mt, uint64_t budget_bytes, uint32_t chunk_bytes);
/* Unmap and free everything; no handle may be outstanding. */
void memtier_free(struct memtier *mt);

/*
 * The entry (key, chunk) if it holds loc: returns 1 and *obj with one
 * reference taken (drop it with memtier_unref when the send that reads it
 * completes), and counts the hit in the entry's frequency. Returns 0 on a
 * miss: absent, being filled, or another loc (kept: the caller's loc may
 * be the older one; an admission of the new loc replaces it).
 */
int memtier_get(struct memtier *mt, struct cindex_key key, uint64_t loc, uint32_t chunk,
		struct memtier_obj **obj);
void memtier_ref(struct memtier *mt, struct memtier_obj *obj);
/* Drop a reference; an entry evicted meanwhile is freed at the last. */
void memtier_unref(struct memtier *mt, struct memtier_obj *obj);

/* Bytes of an entry (valid while the caller holds a reference). */
const void *memtier_meta(const struct memtier *mt, const struct memtier_obj *obj,
			 uint32_t *len);
const void *memtier_body(const struct memtier *mt, const struct memtier_obj *obj,
			 uint32_t *len);

/* Does an object with this meta and body fit one entry (MEMTIER_WHOLE)?
 * If not, it is kept as MEMTIER_META + chunk entries. */
bool memtier_fits_whole(const struct memtier *mt, uint32_t meta_len, uint64_t body_len);

/*
 * Reserve an entry to fill: NULL when not admitted (counted: too large,
 * already there or being filled, or no block could be freed). Makes room
 * by evicting per S3-FIFO; the reservation counts against the budget at
 * once. A key in the ghost FIFO (evicted from small recently) will go to
 * main; any other to small. The caller writes meta_len + body_len bytes
 * at memtier_fill_ptr, then commits (lookups hit from then on) or aborts.
 * Until then lookups miss and the caller owns the entry.
 */
struct memtier_obj *memtier_admit_begin(struct memtier *mt, struct cindex_key key,
					uint64_t loc, uint32_t chunk, uint32_t meta_len,
					uint32_t body_len);
/* Where to write the entry's meta, then its body right after it. */
void *memtier_fill_ptr(struct memtier *mt, struct memtier_obj *obj);
void memtier_admit_commit(struct memtier *mt, struct memtier_obj *obj);
void memtier_admit_abort(struct memtier *mt, struct memtier_obj *obj);

uint64_t memtier_counter(const struct memtier *mt, enum memtier_ctr c);
/* Bytes the side tables may take (virtual; committed as used). */
uint64_t memtier_overhead_bytes(const struct memtier *mt);

/*
 * Walk every structure and check it against the others (queues and their
 * byte counts, the hash table, the buddy free lists and block states, the
 * budget). Returns 0 or -EUCLEAN. O(arena): tests and debugging only.
 */
int memtier_check(const struct memtier *mt);

#endif /* EDGECACHE_CACHE_MEMTIER_H */
