/*
 * cache/index.h — the in-memory cache index: XXH3-128 key → where the
 * object lives in the disk store (stripe, log position, sizes), expiry,
 * flags, and path-prefix hashes for purge by prefix.
 *
 * Owns: one table of buckets allocated at init (never grown, never
 * allocates afterwards).
 * Called by: any thread. Lookups take no lock (a per-bucket sequence
 * counter, retried on a concurrent write); inserts and deletes take the
 * spinlocks of the (at most two) buckets a key may live in, in address
 * order — never a global lock.
 * Never: does I/O, blocks, or knows what a position means (cache/store.c
 * decides whether an entry is stale).
 *
 * Layout: 2-choice set-associative. A key may live in one of two buckets
 * (from its two 64-bit halves), each CINDEX_WAYS entries in 256 bytes; an
 * insert goes to the emptier one. When both are full a victim is
 * displaced (an entry the caller says is stale, else one without its
 * access bit) and counted: for a cache that is a miss, never an error.
 * Bytes per object at the design load factor: see cindex_bytes_per_object.
 */
#ifndef EDGECACHE_CACHE_INDEX_H
#define EDGECACHE_CACHE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct cindex_key {
	uint64_t lo, hi;                    /* XXH3-128 of the cache key text */
};

#define CINDEX_F_USED     0x01u         /* slot holds an entry */
#define CINDEX_F_ACCESS   0x02u         /* hit since last judged (CLOCK bit) */
#define CINDEX_F_CHUNKED  0x04u         /* META entry + CHUNK entries */

/* loc = stripe << 48 | log position in 4 KiB blocks (2^48 blocks = 1 EiB
 * written per stripe before it wraps). */
#define CINDEX_LOC(stripe, pos_blocks) ((uint64_t)(stripe) << 48 | (pos_blocks))
#define CINDEX_LOC_STRIPE(loc)         ((uint32_t)((loc) >> 48))
#define CINDEX_LOC_BLOCKS(loc)         ((loc) & ((1ull << 48) - 1))
#define CINDEX_LOC_ANY                 UINT64_MAX

/* 48 bytes; read and written as 6 words so a torn copy is detectable by
 * the bucket's sequence counter. */
struct cindex_entry {
	struct cindex_key key;
	uint64_t loc;
	uint64_t total_len;                 /* body bytes of the object */
	uint32_t expires;                   /* unix seconds, 0 = none */
	uint16_t meta_blocks;               /* META entry length in 4 KiB blocks */
	uint8_t flags;                      /* CINDEX_F_* */
	uint8_t spare;
	uint16_t prefix[LIMIT_CINDEX_PREFIX_DEPTH];  /* see cindex_prefixes */
};
_Static_assert(sizeof(struct cindex_entry) == 48, "cindex_entry is 6 words");

#define CINDEX_WAYS 5                   /* 8 + 5 × 48 = 248 ≤ 256 bytes */
/* Design load factor (percent of slots used at the configured object
 * count): with two choices of 5 ways, displacements stay rare. */
#define CINDEX_LOAD_PCT 80

struct cindex_bucket;

#define CINDEX_MAGIC 0x43494458u        /* "CIDX" */

struct cindex {
	uint32_t magic;
	struct cindex_bucket *b;
	uint64_t mask;                      /* buckets - 1 (power of two) */
	uint64_t n_buckets;
	_Atomic uint64_t n;                 /* entries (approximate under races) */
	_Atomic uint64_t displaced;         /* entries pushed out by a full pair */
	_Atomic uint64_t retries;           /* lookups retried (a write raced) */
};

/* Table for `objects` entries at CINDEX_LOAD_PCT. 0, -EINVAL (0 or more
 * than 2^40 objects), -ENOMEM. Control thread, at start. */
int cindex_init(struct cindex *ix, uint64_t objects);
void cindex_free(struct cindex *ix);

/* Memory of the table: what cindex_init allocated. */
size_t cindex_bytes(const struct cindex *ix);
/* Bytes per object at the design load factor (table only). */
double cindex_bytes_per_object(void);

/* Copy the entry of `key` to *out; with `touch`, set its access bit.
 * 0 or -ENOENT. Lock-free. */
int cindex_get(struct cindex *ix, struct cindex_key key, bool touch,
	       struct cindex_entry *out);

/* Caller's judgement of an entry it may displace: true = stale. */
typedef bool cindex_stale_fn(void *arg, const struct cindex_entry *e);

/*
 * Insert e (flags gets CINDEX_F_USED), replacing the key's entry if any.
 * When both buckets are full, displaces a victim (stale per `stale`, may
 * be NULL; else no access bit; else the first way): *victim (may be NULL)
 * gets it. Returns 0 (placed), 1 (placed, a victim was displaced).
 */
int cindex_put(struct cindex *ix, const struct cindex_entry *e,
	       cindex_stale_fn *stale, void *arg, struct cindex_entry *victim);

/* Delete key's entry if its loc is `loc` (or CINDEX_LOC_ANY): a writer
 * that moved the object meanwhile keeps its entry. 0 or -ENOENT. */
int cindex_del(struct cindex *ix, struct cindex_key key, uint64_t loc);

/* Clear key's access bit if its loc is `loc`: returns the bit's previous
 * value (1/0), or -ENOENT. */
int cindex_clear_access(struct cindex *ix, struct cindex_key key, uint64_t loc);

/*
 * Prefix hashes of a cache key text ("zone/dir/sub/file?q"): out[d] is a
 * 16-bit hash of the text up to and including its (d+1)-th '/', or 0 when
 * the text has fewer slashes. 16 bits: a prefix purge may also purge one
 * in 65535 unrelated objects at that depth — for a cache, a few extra
 * misses, never a stale hit.
 */
void cindex_prefixes(const char *text, size_t len,
		     uint16_t out[LIMIT_CINDEX_PREFIX_DEPTH]);

/*
 * Delete every entry whose key text starts with `prefix` (which must end
 * with '/'; deeper than LIMIT_CINDEX_PREFIX_DEPTH slashes, the prefix is
 * cut to that depth). Returns entries deleted, or -EINVAL. Walks the whole
 * table, one bucket lock at a time: control thread.
 */
long cindex_purge_prefix(struct cindex *ix, const char *prefix, size_t len);

/* Call fn on a consistent copy of every entry (bucket by bucket); stops
 * when fn returns non-zero and returns that. Control thread. */
int cindex_walk(struct cindex *ix, int (*fn)(void *arg, const struct cindex_entry *e),
		void *arg);

#endif /* EDGECACHE_CACHE_INDEX_H */
