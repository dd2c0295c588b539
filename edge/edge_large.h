/*
 * edge/edge_large.h — large objects in the request path: every object
 * whose head and body do not fit one store chunk, and every object a
 * single-range miss fetched, is
 * kept as *slices* (docs/cache-store.md "Large objects"): a record under
 * the object's key (the stored head, the total length, the validator and
 * a generation) and one small store object per chunk under a key derived
 * from (object key, generation, chunk index). One mechanism serves a full
 * GET, a HEAD, a Range hit and a Range miss: walk the chunks the visitor
 * needs, each from the RAM tier, the disk (O_DIRECT, verified) or — when
 * missing — the origin with a chunk-aligned Range request whose validator
 * must match the record's (else the object is dropped, never stitched).
 * A stale record is revalidated (one conditional GET with its validator:
 * a 304 rewrites the record under the same generation and the chunks
 * answer; a 200 is a new version). Misses collapse on any shard: a chunk
 * that is on its way (claimed: a fetch or write of it, the version's fill,
 * the object's first fetch) is waited for, never fetched twice.
 *
 * Owns, per exchange: struct elarge_x (at most LIMIT_ELARGE_SLOTS chunks held:
 * being read, ready, or queued to the visitor until sent; one store read
 * or one origin fetch in flight; the chunk being written to the store).
 * Per shard: the list of exchanges waiting for a store buffer or for a
 * chunk another exchange is fetching. In the collapse table: a claim per
 * chunk being fetched or written (released when its write lands), the
 * fill key of a version a GET's response is filling (until it ends), the
 * object's key for a Range miss's first fetch (until its record lands).
 * Called by: edge/edge_cache.c (lookup, read completions, fills, exchange
 * end), edge/exchange.c (origin response hooks while fetching, a stream's
 * pulls), edge/visitor.c (sends), the shard tick. All on the shard thread.
 * Never: blocks, holds more than LIMIT_ELARGE_SLOTS chunk buffers per exchange,
 * sends a byte whose chunk did not verify, or sends bytes of two versions
 * of an object in one response (the connection is closed instead).
 */
#ifndef EDGECACHE_EDGE_EDGE_LARGE_H
#define EDGECACHE_EDGE_EDGE_LARGE_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/store.h"
#include "net/http1.h"
#include "net/iobuf.h"

struct shard;
struct exchange;
struct memtier_obj;
struct wbuf;

/* Its limits (LIMIT_ELARGE_*) are in core/limits.h. */

enum elarge_slot_state { ELS_FREE = 0, ELS_READING, ELS_READY, ELS_SENDING };

struct elarge_slot {
	uint8_t st;                         /* enum elarge_slot_state */
	bool has_io;                        /* io holds a store buffer */
	uint32_t idx;                       /* chunk index */
	uint64_t loc;                       /* its store entry (RAM tier name) */
	struct store_io io;
	struct memtier_obj *mobj;           /* RAM copy (a reference) */
	const char *body;
	uint32_t len;
	uint64_t release_at;                /* consumed bytes after which it is free */
};

/* A sliced version one request refused (slice_record_use: MISS) but kept
 * for others: once this exchange writes a new version's record under the
 * same key, that version's chunks are dropped (their keys carry its gen:
 * nothing would reach them again). */
struct elarge_old {
	bool set;
	uint32_t chunk;
	uint64_t gen, total;
};

struct elarge_x {
	bool on;                            /* this exchange serves slices */
	bool have_id;                       /* gen/total/validator known */
	bool storing;                       /* chunks of this identity are stored */
	bool head_sent;
	bool fetching;                      /* an origin range fetch is running */
	bool reading;                       /* a store read is in flight */
	bool fill;                          /* a plain GET miss fills slices */
	bool waiting;                       /* on the shard's buffer wait list */
	bool cw_active;                     /* a chunk write is being filled */
	bool fill_claim;                    /* holds the version's fill key (slice_fill_key) */
	bool obj_claim;                     /* holds the object's key: its first fetch (a Range miss) */
	bool store_wait;                    /* origin reads paused: no store buffer for our chunks */
	bool reval;                         /* asking the origin with the stale record's validator */
	bool end_held;                      /* the fetch's or fill's end waits for the held bytes */
	uint8_t n_held;
	uint16_t status;                    /* visitor response status */
	uint32_t chunk;                     /* chunk bytes */
	uint32_t expires;
	uint32_t cw_wid, cw_idx;
	uint64_t cw_left;
	uint64_t gen, total;
	uint64_t first, last1;              /* visitor body bytes [first, last1) */
	uint64_t next;                      /* next visitor byte to queue */
	uint32_t rd;                        /* next chunk to acquire */
	uint64_t o_off, o_end;              /* origin body bytes being received */
	/* Bytes this exchange queued to the visitor: what the queue no longer
	 * holds (pushed - out.bytes) was sent, or encrypted (TLS), so a
	 * chunk's buffer is free once that passes its last byte. */
	uint64_t pushed;
	/* Chunks [cl_from, cl_to) claimed in the collapse table for our
	 * fetch and not yet handed to a store write (whose completion
	 * releases its claim); a missing chunk someone else claimed, or that
	 * the version's fill has not reached yet, is waited for (since
	 * wait_ms, the last chunk this exchange got), not fetched twice. */
	uint32_t cl_from, cl_to;
	uint64_t wait_ms;
	/* Origin bytes our chunk writes could not take yet (the store had no
	 * buffer, write slot or write io free): references to their buffers,
	 * object bytes from held_off on. Origin reads pause (store_wait) and
	 * the tick feeds them first; while any is held the exchange counts an
	 * op, so a close waits for them. A chunk this exchange fetched, under
	 * its claim, is never dropped for want of room: nobody else would
	 * fetch it until that claim goes, and then it would be fetched twice. */
	uint64_t held_off;
	struct iobuf_seg held[LIMIT_ELARGE_HELD_SEGS];
	char *hblk;                         /* head built, not queued yet */
	uint32_t hlen;
	char *sblk;                         /* revalidating: the record's stored head (a copy) */
	uint32_t slen;
	struct hcache_entry e;              /* the record's validator/freshness */
	struct elarge_slot s[LIMIT_ELARGE_SLOTS];
	struct exchange *next_wait;
};

/* Is this stored meta a large object's record? */
bool elarge_is_record(const void *meta, uint32_t meta_len);
/* A record was found (RAM or a verified read): serve it, or false for a
 * miss (stale: the caller goes to the origin). The caller's copy of the
 * meta may be released when this returns. */
bool elarge_serve(struct shard *sh, struct exchange *ex, const void *meta, uint32_t meta_len);
/* After elarge_serve (the record's buffer released): start sending. */
void elarge_start(struct shard *sh, struct exchange *ex);
/* A miss of a single-range GET: fetch its chunks (true), or false for the
 * plain origin path. */
bool elarge_miss(struct shard *sh, struct exchange *ex);
/* A store read of this exchange completed. */
void elarge_on_read(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe);
/* A plain GET miss's response is larger than one chunk: fill slices
 * (true), or false to leave it to the whole-object path. */
bool elarge_fill_begin(struct shard *sh, struct exchange *ex, const struct http1_response *resp,
		       const struct hcache_entry *e, uint32_t expires);
/* A fill's body bytes (seg: the visitor's queue holds its reference; ours
 * is taken if the store cannot take them at once). */
void elarge_fill_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg);
void elarge_fill_end(struct shard *sh, struct exchange *ex, bool complete);
/* While fetching: the origin's head (1 handled, 0 pass it through as a
 * plain response, <0 fail), body (ownership of seg moves on true), end. */
void elarge_origin_headers(const struct exchange *ex, struct wbuf *w);
int elarge_origin_head(struct shard *sh, struct exchange *ex,
		       const struct http1_response *resp);
bool elarge_origin_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg);
void elarge_origin_end(struct shard *sh, struct exchange *ex);
/* A send of ex's completed: release the chunks whose bytes left the
 * queue, and go on. */
void elarge_on_sent(struct shard *sh, struct exchange *ex);
/* Exchange over (nothing in flight for it): release everything. */
void elarge_end(struct shard *sh, struct exchange *ex);
/* Shard tick: exchanges that waited for a store buffer or a chunk try
 * again; fills paused for a store buffer read from the origin again. */
void elarge_tick(struct shard *sh);
/* Must ex's origin reads pause (its chunks have no store buffer to go to)? */
bool elarge_paused(const struct exchange *ex);

#endif
