/*
 * edge/edge_cache.h — the cache in the request path: look up, serve hits
 * from the disk store, fill the store from origin responses.
 *
 * Owns, per exchange: the cache state of one request (its key, parsed
 * cache directives, the store reads in flight or being sent, the store
 * write being filled); per shard: the table of store writes in flight.
 * Called by: edge/exchange.c (lookup, exchange end) and edge/origin.c (fill)
 * on the shard thread; completions of OP_CREAD / OP_CWRITE.
 * Never: blocks (store I/O goes through the shard's ring, O_DIRECT), or
 * lets a store failure fail a request (a failed read is a miss, a failed
 * write is an object not cached; both counted), or decides what to cache:
 * pass/bypass, collapsing, what a stored object or a response leads to are
 * cache/'s (cache_policy.h, http_cache.h, vary.h, slice.h); this file does
 * the I/O, the counting and the queueing they call for.
 *
 * Whole objects that fit one chunk are served from one store entry (with
 * Age, X-Cache, 304 for conditionals, 206 for one range); responses with a
 * Content-Length that RFC 9111 lets us store are written while they stream
 * to the visitor. Stale entries are revalidated (a 304's rewrite is listed
 * in cache/refreshed.h until it lands: lookups meanwhile, on any shard, serve
 * the stale copy under the refreshed head); responses with Vary are
 * stored as variants (edge/edge_vary.h); a stale-while-revalidate hit starts
 * one background refresh (exchange_background). Objects whose head and body
 * do not fit one chunk, and Range misses, are slices (edge/edge_large.h).
 */
#ifndef EDGECACHE_EDGE_EDGE_CACHE_H
#define EDGECACHE_EDGE_EDGE_CACHE_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/memtier.h"
#include "cache/store.h"
#include "core/limits.h"
#include "edge/edge_large.h"
#include "edge/edge_vary.h"
#include "net/http1.h"

struct shard;
struct exchange;
struct collapse;
struct refreshed;
struct memtier_obj;
struct wbuf;

/*
 * The cache in the request path, per shard (struct shard's `cache`): the
 * disk store and the key tables all shards share, this shard's RAM tier,
 * its store writes in flight, the exchanges waiting for a large object's
 * store buffer, and how often store I/O errors are logged.
 */
struct ecache_shard {
	struct store *store;                /* NULL without [cache] */
	struct collapse *collapse;          /* in-flight keys, all shards */
	struct collapse *invalidated;       /* invalidation stamps, all shards */
	struct collapse *passes;            /* keys last answered not storable (stamps) */
	struct refreshed *refreshed;        /* 304 rewrites in flight, all shards */
	struct memtier mt;                  /* RAM tier: hot objects of this shard */
	bool mt_on;
	/* Store writes in flight: the store_io of each, kept until its
	 * completion (a free list of indexes), and when its fill began. */
	struct store_io *wio;
	uint32_t *wio_free;
	uint32_t n_wio_free;
	uint64_t fill_began_ms[LIMIT_STORE_WRITES];   /* per store write slot */
	/* Per store write slot: it rewrites a 304-refreshed object listed
	 * in `refreshed`, told when the write lands or fails. */
	bool rewriting[LIMIT_STORE_WRITES];
	/* The store's buffer pool of this shard, registered with the ring
	 * (fixed buffer 0) so O_DIRECT reads/writes skip per-I/O page pinning;
	 * NULL when registration failed (then plain READ/WRITE). */
	char *store_fixed;
	size_t store_fixed_bytes;
	struct exchange *large_wait;        /* large-object sends waiting for a store buffer */
	uint64_t ioerr_logged_ms[2];        /* store read, write errors: once per interval */
	uint64_t ioerr_unlogged[2];         /* errors since that line */
};

/* Cache state of one exchange (inside struct exchange). */
struct ecache_x {
	bool cacheable;                 /* GET/HEAD on a shard with a store */
	bool reading;                   /* a store read is in flight */
	bool filling;                   /* a store write takes this response */
	uint8_t xcache;                 /* enum hcache_xcache for X-Cache */
	uint8_t n_rio;                  /* read ios held (buffers to release) */
	uint32_t wid;
	uint64_t loc;                   /* the store entry found by the lookup */
	struct memtier_obj *mobj;       /* RAM copy being served (a reference) */
	/* A stale stored object kept while the origin is asked again: its
	 * bytes stay in rio[] / mobj until the exchange ends. */
	bool have_stored;
	bool shareable;                 /* the origin's response may be stored (RFC 9111 3),
					 * so followers may have it too */
	bool revalidating;              /* our validators went to the origin */
	const char *s_meta;
	uint32_t s_meta_len;
	const char *s_body;
	uint64_t s_total;
	int64_t request_time;
	struct cindex_key key;              /* the object's: primary or variant */
	struct cindex_key pkey;             /* the URL's primary key */
	struct cindex_key ckey;             /* the key claimed for collapsing */
	struct vary_state vary;             /* a Vary marker found (cache/vary.h) */
	struct hcache_req_info req;
	struct store_io rio[2];
	struct elarge_x large;           /* edge/edge_large.h */
	struct elarge_old large_old;     /* idem: kept, until a new version lands */
};

/*
 * The leader's origin response may not be stored (private, no-store, no
 * freshness, an error): then nobody else may have it either. Lets go of
 * the key at once and remembers it as a pass for LIMIT_COLLAPSE_PASS_MS
 * (Varnish's hit-for-miss), so the next misses on it fetch side by side
 * instead of queueing one behind the other. True: the caller sends its
 * followers to the origin on their own.
 */
bool ecache_pass(struct shard *sh, struct exchange *ex);

/*
 * exchange_start: try the cache. Returns true if the exchange is taken
 * care of (a store read is in flight; its completion serves or falls back
 * to the origin), false to go to the origin now (X-Cache MISS/BYPASS).
 */
bool ecache_lookup(struct shard *sh, struct exchange *ex);
/* Completion of a store read for ex. */
void ecache_on_read(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe);
/* The origin's response head: start a store write if it may be stored. */
void ecache_fill_begin(struct shard *sh, struct exchange *ex,
		       const struct http1_response *resp);
/* Origin body bytes (also streamed to the visitor): seg's reference is
 * the caller's; a large object's fill takes one of its own to keep bytes
 * the store cannot take yet (edge/edge_large.h). */
void ecache_fill_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg);
/* The response ended: complete (commit when the writes land) or not. */
void ecache_fill_end(struct shard *sh, struct exchange *ex, bool complete);
/* An unsafe method's 2xx/3xx response: drop what it invalidates (the
 * request's object, its same-host Location and Content-Location). */
void ecache_invalidate(struct shard *sh, struct exchange *ex,
		       const struct http1_response *resp);
/* Completion of a store write (slot = index in the shard's write table). */
void ecache_on_write(struct shard *sh, uint32_t slot, const struct io_uring_cqe *cqe);
/* The exchange is over and nothing is in flight for it: release buffers. */
void ecache_exchange_end(struct shard *sh, struct exchange *ex);
/*
 * Revalidation (RFC 9111 4.3): the origin request of an exchange that
 * holds a stale object drops the visitor's conditionals and Range and
 * carries our validators (ecache_origin_headers); when the origin answers,
 * ecache_origin_head may answer the visitor from the stored object — a 304
 * that matches (REVALIDATED; the entry is refreshed in the store), or a 5xx
 * within stale-if-error (STALE) — and returns true: the caller then discards
 * the origin's body. ecache_fail_stale does the same when the origin could
 * not be reached at all (true: answered).
 */
bool ecache_drops_request_header(const struct exchange *ex, const struct http1_header *h);
void ecache_origin_headers(const struct exchange *ex, struct wbuf *w);
bool ecache_origin_head(struct shard *sh, struct exchange *ex,
			const struct http1_response *resp);
bool ecache_fail_stale(struct shard *sh, struct exchange *ex);

/*
 * The cache's part of an origin response head for an exchange that leads
 * (or fetches alone), in one call the visitor makes: the stored object
 * answered (ECACHE_HEAD_STORED: drop the origin's body; the rule is
 * hcache_origin_head), else the fill starts if the response may be stored
 * and what it invalidates is dropped; ECACHE_HEAD_PASS: not shareable,
 * the caller sends its followers to the origin on their own
 * (ecache_pass), ECACHE_HEAD_FORWARD: they share this response.
 */
enum ecache_head { ECACHE_HEAD_FORWARD, ECACHE_HEAD_STORED, ECACHE_HEAD_PASS };
enum ecache_head ecache_response_head(struct shard *sh, struct exchange *ex,
				      const struct http1_response *resp);
/* X-Cache value for a response built from the origin ("MISS"/"BYPASS"). */
const char *ecache_xcache(const struct exchange *ex);
/*
 * A background refresh (ex->background) ends: count it as failed when
 * the origin could not be asked or answered 5xx (the stale object stays).
 */
void ecache_background_end(struct shard *sh, struct exchange *ex);

/* For edge/edge_vary.c: store write ios to submit, and room for n more. */
void ecache_submit_writes(struct shard *sh, const struct store_io *io, int n);
bool ecache_write_room(const struct shard *sh, unsigned n);

#endif
