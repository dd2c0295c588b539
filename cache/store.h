/*
 * cache/store.h — the disk store: preallocated cache files, each split in
 * stripes that are circular logs of 4 KiB-aligned, checksummed entries;
 * the index (cache/index.h) over them; FIFO eviction with re-insertion of
 * hot objects; checkpoints and the start-up scan. Format and reasons:
 * docs/cache-store.md.
 *
 * Owns: the cache file fds, the index, per stripe its write cursor, its
 * log-order FIFO and re-insertion queue, per shard a pool of aligned
 * buffers and write slots (all allocated by store_open).
 * Called by:
 *  - the control thread: store_open, store_checkpoint, store_close,
 *    store_purge_prefix (walks the whole index), store_counter (may block);
 *  - any thread: store_delete (two bucket spinlocks of the index: shards
 *    drop invalidated and mismatched objects with it, the admin API purges);
 *  - a shard: store_lookup (any shard, any key), and for its own stripes
 *    and buffers the plan / done / verify calls. They never block and
 *    never allocate: they decide what to read or write and where, and
 *    return struct store_io descriptors that the caller submits on its
 *    own ring (IORING_OP_READ/WRITE, O_DIRECT-aligned), or runs with
 *    store_exec (tests, start-up, bench).
 * Never: calls the network, logs (errors are counted; open's error is a
 * message for the caller), or serves bytes whose header, position and
 * checksum it did not verify.
 */
#ifndef EDGECACHE_CACHE_STORE_H
#define EDGECACHE_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/index.h"
#include "core/limits.h"

#define STORE_BLOCK 4096u                   /* alignment of everything on disk */
#define STORE_HDR_BYTES 64u                 /* entry header */
#define STORE_OBJREC_BYTES 16u              /* expires + prefixes, in META */

/* Every counter, declared once with its meaning. Summed over shards. */
#define STORE_COUNTERS(X) \
	X(writes_committed,   "objects committed to the index after their writes completed") \
	X(writes_failed,      "object writes dropped: an I/O failed (ENOSPC, EIO, short)") \
	X(writes_aborted,     "object writes the caller abandoned") \
	X(writes_refused,     "write_begin refused: too large, no slot, no stripe") \
	X(writes_frozen,      "object writes refused or cut off: the store was frozen for an upgrade's hand-over") \
	X(nobufs,             "plans refused: the shard's store buffer pool was empty") \
	X(lookups,            "index lookups") \
	X(hits,               "lookups that found a live entry") \
	X(stale,              "lookups that found an overwritten entry (dropped)") \
	X(reads_failed,       "reads whose I/O failed or came back short (a miss)") \
	X(reads_bad,          "reads whose header, position or checksum did not match (a miss)") \
	X(evicted,            "objects evicted by the FIFO (cold when judged)") \
	X(reinserts_queued,   "hot objects queued for copy-forward") \
	X(reinserts_dropped,  "hot objects evicted: re-insertion queue full") \
	X(fifo_overflow,      "objects judged early: a stripe's FIFO was full") \
	X(index_displaced,    "index entries displaced by a full bucket pair") \
	X(scan_entries,       "entries added by the start-up scan") \
	X(scan_dropped,       "torn or corrupted entries skipped by the start-up scan") \
	X(ckpt_entries,       "entries loaded from checkpoints") \
	X(ckpt_bad,           "checkpoints ignored: unreadable, wrong file or checksum") \
	X(purged,             "entries removed by a purge through the admin API (by path or prefix)") \
	X(deleted,            "entries the cache dropped itself: invalidated by an unsafe method, " \
			      "replaced by another version or Vary list")

enum store_ctr {
#define STORE_CTR_ENUM(name, doc) STORE_CTR_##name,
	STORE_COUNTERS(STORE_CTR_ENUM)
#undef STORE_CTR_ENUM
	STORE_CTR__COUNT
};
extern const char *const store_ctr_names[STORE_CTR__COUNT];
extern const char *const store_ctr_docs[STORE_CTR__COUNT];
/* Those counters as a block of the registry (core/counters.h): store_<name>.
 * Values are kept here (per store shard, plus the control thread's) and
 * summed by store_counter over the store in ctx, which the owner of the
 * open store sets (NULL: no store, the block is left out). */
struct counters_block;
extern struct counters_block store_counters;

struct store_opts {
	const char *const *paths;           /* files or block devices */
	unsigned n_paths;
	uint64_t size_bytes;                /* total, split evenly across paths */
	uint32_t chunk_bytes;               /* power of two, LIMIT_CACHE_CHUNK_* */
	unsigned stripes;                   /* per file when creating it (= workers) */
	unsigned shards;                    /* threads that write now (= workers) */
	uint64_t avg_object_bytes;          /* sizes the index; 0 = default */
	uint32_t bufs;                      /* per shard; 0 = LIMIT_STORE_BUFS */
	bool sim;                           /* no files, no buffers: bench/ only */
};

enum store_io_kind { STORE_IO_WRITE = 1, STORE_IO_READ, STORE_IO_PAD };

/*
 * One I/O for the caller to submit: `len` bytes at `off` of `fd` from/to
 * `buf` (all STORE_BLOCK-aligned; fd is -1 and buf NULL in sim mode).
 * The rest identifies it to store_write_done / store_read_verify; the
 * caller keeps the struct (or a copy) until then and never edits it.
 */
struct store_io {
	int fd;
	uint32_t len;
	uint64_t off;
	void *buf;
	uint8_t kind;                       /* enum store_io_kind */
	uint8_t type;                       /* entry type expected (reads) */
	uint16_t shard;
	int32_t buf_id;                     /* pool buffer, -1 = none */
	uint32_t wslot, wgen;               /* writes: the write slot */
	uint32_t stripe;
	uint32_t chunk;                     /* reads: chunk index expected */
	uint64_t pos;                       /* entry's absolute log position */
	struct cindex_key key;
};

/* What a verified read holds (pointers into the io's buffer). */
struct store_view {
	const void *meta;                   /* META entries: the caller's bytes */
	uint32_t meta_len;
	const void *body;                   /* body bytes in this entry */
	uint32_t body_len;
	uint64_t body_off;                  /* their offset in the object body */
	uint64_t total_len;
	uint32_t expires;
};

/* What an object write carries besides its body. */
struct store_obj {
	const void *meta;                   /* serialized stored head + cache fields */
	uint32_t meta_len;                  /* ≤ store_meta_max() */
	uint64_t body_len;                  /* known up front (Content-Length) */
	uint32_t expires;                   /* unix seconds, 0 = none */
	const char *key_text;               /* for prefix purge; may be NULL */
	size_t key_text_len;
};

struct store;

/*
 * Open (creating and preallocating missing files) and recover: load each
 * file's checkpoint, then scan each stripe from the checkpointed cursor.
 * Returns 0 and *out, or -errno with `err` saying why: -EINVAL a file of
 * the wrong size or format, a filesystem without O_DIRECT (tmpfs), sizes
 * too small for the stripes; -ENOMEM; the -errno of open/fallocate/read.
 * Blocks: control thread, at start.
 */
int store_open(const struct store_opts *o, struct store **out, char *err, size_t err_cap);
/* What store_open checks of `o` before it touches a file (paths, chunk
 * size, each stripe big enough for its entries): 0, or -EINVAL with `err`
 * saying why. For `edgecache -t`, which must refuse what a start would. */
int store_opts_check(const struct store_opts *o, char *err, size_t err_cap);
/*
 * Control thread: freeze (or thaw) the store's writes — the hand-over of
 * an upgrade (control/upgrade.h). Frozen, store_write_begin refuses
 * (-EROFS) and store_write_append fails a write it is asked to continue
 * (-ENOENT, as an aborted one): no new I/O is planned, so once
 * store_writes_busy is 0 the files and the index stop changing and a
 * checkpoint then is the whole state. Reads and lookups go on.
 */
void store_freeze(struct store *st, bool frozen);
/* Control thread: write slots still busy (ios planned, not all done). */
unsigned store_writes_busy(const struct store *st);
/* Close files and free everything (no checkpoint: call it first). */
void store_close(struct store *st);
/* Write every file's checkpoint atomically (temp, fsync, rename). 0 or
 * -errno. Control thread; shards keep running meanwhile. */
int store_checkpoint(struct store *st);
/* Before a privilege drop: the cache files (opened as root) and their
 * checkpoints become uid:gid's, so the process an upgrade starts (it
 * runs as that user from the first open) can open them. 0 or -errno. */
int store_chown(struct store *st, uid_t uid, gid_t gid);

uint32_t store_meta_max(void);
unsigned store_n_stripes(const struct store *st);
uint64_t store_stripe_bytes(const struct store *st);
/* Largest object body the store accepts. */
uint64_t store_max_object(const struct store *st);
/* chunk_size: the largest body a chunk entry holds. */
uint32_t store_chunk_bytes(const struct store *st);
/* Shard: buffers free in its pool now (writes and reads take them). */
uint32_t store_bufs_free(const struct store *st, unsigned shard);
uint64_t store_counter(const struct store *st, enum store_ctr c);
const struct cindex *store_index(const struct store *st);
/* The shard's buffer pool as one range, for io_uring_register_buffers:
 * every read io planned for `shard` (and every write io but a lap-end
 * pad) has its buf inside it. NULL and *bytes 0 in sim mode. */
void *store_shard_mem(const struct store *st, unsigned shard, size_t *bytes);

/* Shard: the live entry of key (access bit set), or -ENOENT (absent, or
 * stale: then counted and dropped). Lock-free; counted on `shard`. */
int store_lookup(struct store *st, unsigned shard, struct cindex_key key,
		 struct cindex_entry *hit);

/*
 * Shard: start writing an object into one of the shard's stripes (log
 * space reserved; what that overwrites soon is judged: evicted, or queued
 * for copy-forward). *wid names the write. Returns the number of ios
 * ready now (written to io[0..], io_cap ≥ 2: a lap-end pad and a large
 * object's META entry), or -EFBIG (too large), -EINVAL (meta too long),
 * -ENODEV (the shard owns no stripe), -EBUSY (no write slot), -ENOBUFS,
 * -EROFS (frozen: store_freeze).
 */
int store_write_begin(struct store *st, unsigned shard, struct cindex_key key,
		      const struct store_obj *obj, uint32_t *wid,
		      struct store_io *io, unsigned io_cap);
/*
 * Shard: append body bytes (data may be NULL in sim mode). *used = bytes
 * taken: fewer than len when io_cap entries were filled or the buffer
 * pool ran dry (counted as nobufs): submit, and pass the rest again after
 * a completion (or abort). Returns the number of ios ready (entries
 * filled), or -EINVAL (past body_len), -ENOENT (unknown or failed write,
 * or the store is frozen: the write is failed here, counted writes_frozen).
 */
int store_write_append(struct store *st, unsigned shard, uint32_t wid,
		       const void *data, size_t len, size_t *used,
		       struct store_io *io, unsigned io_cap);
/*
 * Shard: io completed with `res` (bytes or -errno). Returns 1 when this
 * was the last and the object is now committed (in the index), 0 while
 * ios are pending, -EIO when the write failed or was aborted (the slot is
 * free once its last io is done; counted; nothing committed).
 */
int store_write_done(struct store *st, const struct store_io *io, int res);
/* Shard: give up a write (origin failed mid-body). */
void store_write_abort(struct store *st, unsigned shard, uint32_t wid);

/*
 * Shard: reads for `hit` — its META entry if `meta`, and the entries that
 * hold body bytes [off, off + len) (len 0 = none). A small object is one
 * entry holding both. Returns the count written to io (≤ io_cap; call
 * again from the next offset for more), -ENOBUFS, or -EINVAL (range past
 * the end).
 */
int store_read_plan(struct store *st, unsigned shard, const struct cindex_entry *hit,
		    bool meta, uint64_t off, uint64_t len, struct store_io *io,
		    unsigned io_cap);
/* Shard: read io completed with res: 0 and *v, or -EIO (failed / short,
 * counted) or -EBADMSG (header, position or checksum wrong: overwritten
 * or corrupted, counted). The buffer stays the caller's until release. */
int store_read_verify(struct store *st, const struct store_io *io, int res,
		      struct store_view *v);
/* Shard: give a read io's buffer back. */
void store_io_release(struct store *st, const struct store_io *io);

/* Shard: the next hot object of `stripe` to copy forward (read it, write
 * it again), or -ENOENT. */
int store_reinsert_next(struct store *st, unsigned stripe, struct cindex_entry *out);

/* Drop key (any thread): store_delete for the cache's own drops (counted
 * `deleted`), store_purge for an operator's purge (counted `purged`: the
 * two counters tell a purge apart from the cache's own churn) / every key
 * under a prefix ("zone/dir/": the control thread, it walks the whole
 * index; `purged`). 0 or -ENOENT / the count dropped or -EINVAL. A scan
 * after a crash can bring back what was purged since the last checkpoint,
 * so the caller checkpoints after a purge. */
int store_delete(struct store *st, struct cindex_key key);
int store_purge(struct store *st, struct cindex_key key);
long store_purge_prefix(struct store *st, const char *prefix, size_t len);

/*
 * Synchronous executor (pread/pwrite, retried on EINTR): runs n ios and
 * puts each result in res[i]. Tests, start-up and bench only: it blocks.
 * With store_fault armed, the nth I/O from then fails with `err` instead.
 */
void store_exec(struct store *st, const struct store_io *io, unsigned n, int *res);
void store_fault(struct store *st, uint64_t nth, int err);

#endif /* EDGECACHE_CACHE_STORE_H */
