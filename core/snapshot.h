/*
 * core/snapshot.h — reclaiming immutable objects that shard threads read
 * through atomic pointers, by per-shard epochs.
 *
 * Owns: the epoch counter of one reclamation domain, each reader's last
 * seen epoch, and the list of retired objects not yet freed.
 * Called by: the control thread (init, retire, reclaim, free); each
 * reader (a shard) calls snap_reader_enter at the top of its loop, and
 * only there. Includes nothing above core/.
 * Never: blocks, locks, or frees an object a reader may still hold.
 *
 * The contract readers keep: a pointer loaded from a published slot is
 * used within the loop turn it was loaded in (one completion handler, or
 * several in the same turn) and never kept across turns. Then an object
 * unpublished before epoch E was bumped past its retire epoch cannot be
 * seen by a reader once that reader has announced an epoch greater than
 * it; the control thread frees it when every reader has.
 *
 * Skipped epochs: many objects may be retired between two turns of a
 * reader; its one announcement passes all of them at once. A reader that
 * sleeps (a shard idle in io_uring_enter) holds nothing, but announces
 * nothing either: the retiring side wakes it (shard_wake) so it does.
 */
#ifndef EDGECACHE_CORE_SNAPSHOT_H
#define EDGECACHE_CORE_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

/* Embedded in each retired object (intrusive: no allocation to retire). */
struct snap_node {
	struct snap_node *next;
	uint64_t epoch;                     /* the epoch it was retired in */
	void (*free_fn)(struct snap_node *);
};

/* One reader's announcement, on its own cache line (readers write it
 * every loop turn). */
struct snap_reader {
	_Alignas(64) _Atomic uint64_t seen;
};

struct snap_domain {
	_Atomic uint64_t epoch;             /* starts at 1; bumped by each retire */
	unsigned n_readers;
	struct snap_reader *readers;        /* [n_readers] */
	struct snap_node *retired;          /* control thread only, oldest last */
	uint64_t n_retired, n_freed;        /* for GET /metrics and tests */
};

/* 0 or -ENOMEM. Readers start at epoch 0: nothing retired is freed until
 * each has run one turn. */
int snap_domain_init(struct snap_domain *d, unsigned n_readers);

/* Readers stopped: free every retired object, then the domain. */
void snap_domain_free(struct snap_domain *d);

/* Reader r, at the top of its loop turn, before it loads any pointer. */
static inline void snap_reader_enter(struct snap_domain *d, unsigned r)
{
	atomic_store(&d->readers[r].seen, atomic_load(&d->epoch));
}

/*
 * Control thread, after the object's pointer was replaced (so no reader
 * can load it any more): free_fn(n) runs once every reader has announced
 * an epoch past the current one (snap_reclaim).
 */
void snap_retire(struct snap_domain *d, struct snap_node *n, void (*free_fn)(struct snap_node *));

/* Control thread: free what every reader has passed. Returns how many. */
unsigned snap_reclaim(struct snap_domain *d);

/* Retired objects not yet freed. */
static inline uint64_t snap_pending(const struct snap_domain *d)
{
	return d->n_retired - d->n_freed;
}

#endif /* EDGECACHE_CORE_SNAPSHOT_H */
