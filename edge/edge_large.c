/*
 * edge/edge_large.c — large objects in the request path (see edge_large.h).
 *
 * What the store keeps for a large object:
 *  - under the object's key, a *record*: struct rec_meta (magic, the
 *    stored head's length, a generation, the total length, the expiry and
 *    the RFC 9111 entry with the validator), then the stored 200 head;
 *    no body. It is written when the first bytes of a new version arrive.
 *  - under slice_chunk_key(key, gen, i), chunk i: struct chk_meta (magic,
 *    index, generation, total) and the chunk's bytes, one store entry.
 * The generation is new for every version the edge sees, so a chunk of
 * another version can never be found through this record: a changed
 * validator drops the record (and deletes the old chunks' index entries),
 * and dropping the record (purge, invalidation) makes every chunk
 * unreachable at once.
 * The rules and arithmetic of slices (chunk keys and lengths, which Range a
 * miss fetches, whether an origin's answer is a slice, the validator) are
 * cache/slice.c's; this file reads, fetches, writes and sends.
 */
#include "edge/edge_large.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "cache/memtier.h"
#include "core/config.h"
#include "edge/runtime.h"
#include "core/loop.h"
#include "edge/shard.h"
#include "cache/cache_policy.h"
#include "cache/collapse.h"
#include "cache/slice.h"
#include "edge/edge_cache_int.h"
#include "edge/origin.h"
#include "edge/visitor.h"
#include "net/wbuf.h"

#define REC_MAGIC 0x45434c31u               /* "ECL1" */
#define CHK_MAGIC 0x45434331u               /* "ECC1" */

struct rec_meta {
	uint32_t magic;
	uint32_t head_len;
	uint64_t gen;
	uint64_t total;
	uint32_t expires;
	uint32_t chunk;
	struct hcache_entry e;
};

struct chk_meta {
	uint32_t magic;
	uint32_t idx;
	uint64_t gen;
	uint64_t total;
};

static void advance(struct shard *sh, struct exchange *ex, bool in_send);
static bool held_feed(struct shard *sh, struct exchange *ex);
static void held_drop(struct shard *sh, struct exchange *ex);
static void held_done(struct shard *sh, struct exchange *ex);
static bool write_record(struct shard *sh, struct exchange *ex,
			 const struct http1_response *resp);

static uint64_t new_gen(const struct shard *sh, const struct exchange *ex)
{
	uint64_t in[2] = { loop_now_ns(), ex->reqid };
	(void)sh;
	return XXH3_64bits(in, sizeof(in)) | 1;
}

static uint32_t chunk_len(const struct elarge_x *L, uint32_t idx)
{
	return slice_chunk_len(L->total, L->chunk, idx);
}

/* Drop a version's chunks' index entries. */
static void drop_chunks(struct shard *sh, struct cindex_key key, uint64_t gen, uint64_t total,
			uint32_t chunk)
{
	uint64_t n = slice_chunk_count(total, chunk);
	for (uint64_t i = 0; i < n && i < LIMIT_STORE_OBJECT_CHUNKS; i++)
		store_delete(sh->cache.store, slice_chunk_key(key, gen, (uint32_t)i));
}

/* Drop a version: its record and its chunks' index entries. */
static void drop_object(struct shard *sh, struct cindex_key key, uint64_t gen, uint64_t total,
			uint32_t chunk)
{
	store_delete(sh->cache.store, key);
	drop_chunks(sh, key, gen, total, chunk);
}

/* ---- chunk claims (collapsing) -------------------------------------------------- */

/* Claim key for this exchange: false if another holds it. */
static bool claim_key(struct shard *sh, struct exchange *ex, struct cindex_key key)
{
	struct collapse_leader me = { sh->id, ex->idx, ex->gen }, l;
	if (!sh->cache.collapse)
		return true;
	int r = collapse_claim(sh->cache.collapse, key, &me, &l);
	if (r == 0)
		collapse_touch(sh->cache.collapse, key, sh->lp.now_ms);
	if (r == -ENOSPC)
		COUNT(sh, collapse_full);   /* fetched unclaimed: may be fetched twice */
	return r != 1 || (l.shard == me.shard && l.vidx == me.vidx && l.vgen == me.vgen);
}

/* Let go of key if this exchange holds it (a store write's completion
 * may have released it already, and someone else claimed it since). */
static void release_mine(struct shard *sh, struct exchange *ex, struct cindex_key key)
{
	if (sh->cache.collapse && claim_key(sh, ex, key))
		collapse_release(sh->cache.collapse, key);
}

/* Claim chunk idx for this exchange: false if another holds it. */
static bool claim_chunk(struct shard *sh, struct exchange *ex, uint32_t idx)
{
	return claim_key(sh, ex, slice_chunk_key(ex->cache.key, ex->cache.large.gen, idx));
}

/* Claim chunk idx to fetch it: false if another holds it, or it is stored.
 * The claim first, then the index: another shard's write commits, then
 * lets go of its claim, so a chunk absent at our last look may have landed
 * by the time our claim succeeds (it was fetched twice under load). */
static bool claim_missing(struct shard *sh, struct exchange *ex, uint32_t idx)
{
	struct cindex_key k = slice_chunk_key(ex->cache.key, ex->cache.large.gen, idx);
	struct cindex_entry hit;

	if (!claim_key(sh, ex, k))
		return false;
	if (store_lookup(sh->cache.store, sh->id, k, &hit) == 0) {
		release_mine(sh, ex, k);
		return false;
	}
	return true;
}

/* The version's fill or the object's first fetch is over: let go of its
 * claims (parked misses and waiters look again). */
static void release_lead(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (L->fill_claim)
		release_mine(sh, ex, slice_fill_key(ex->cache.key, L->gen));
	if (L->obj_claim)
		release_mine(sh, ex, ex->cache.key);
	L->fill_claim = L->obj_claim = false;
}

/*
 * Chunk idx of this version was not in the store: is it on its way — the
 * version's fill still streams (it writes every chunk it reaches), or a
 * fetch or store write holds the chunk's claim? True and *moved_ms: when
 * what brings it last made progress (0: not since its claim). The claims
 * are asked before the index is asked again: a write commits before its
 * claim goes, and the fill claims a chunk before it lets go of the fill's
 * key.
 */
static bool chunk_coming(struct shard *sh, const struct exchange *ex, uint32_t idx,
			 uint64_t *moved_ms)
{
	const struct elarge_x *L = &ex->cache.large;
	struct collapse *t = sh->cache.collapse;
	uint64_t a = 0, b = 0;

	if (!t || !L->storing)
		return false;
	bool fill = collapse_active_since(t, slice_fill_key(ex->cache.key, L->gen), &a);
	bool fetch = collapse_active_since(t, slice_chunk_key(ex->cache.key, L->gen, idx), &b);
	*moved_ms = a > b ? a : b;
	return fill || fetch;
}

/* Chunk idx is whole in its store write: the claims others wait on show
 * progress — the chunk's, those of the fetch's later chunks (they come
 * after it, at the same pace) and the fill's. Stamped per whole chunk,
 * not per origin read: a visitor that trickles a few KiB/s must not keep
 * a claim "moving" for hours; a holder completes a chunk per
 * LIMIT_ELARGE_CLAIM_WAIT_MS or is given up on. */
static void claims_moved(struct shard *sh, struct exchange *ex, uint32_t idx)
{
	struct elarge_x *L = &ex->cache.large;
	if (!sh->cache.collapse)
		return;
	collapse_touch(sh->cache.collapse, slice_chunk_key(ex->cache.key, L->gen, idx),
		       sh->lp.now_ms);
	for (uint32_t i = L->cl_from > idx ? L->cl_from : idx + 1; i < L->cl_to; i++)
		collapse_touch(sh->cache.collapse, slice_chunk_key(ex->cache.key, L->gen, i),
			       sh->lp.now_ms);
	if (L->fill_claim)
		collapse_touch(sh->cache.collapse, slice_fill_key(ex->cache.key, L->gen),
			       sh->lp.now_ms);
}

/* Let go of the claims no store write took over. */
static void release_claims(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	for (; L->cl_from < L->cl_to; L->cl_from++)
		release_mine(sh, ex, slice_chunk_key(ex->cache.key, L->gen, L->cl_from));
	L->cl_from = L->cl_to = 0;
}

/* Chunk idx's store write began (written: its claim now ends with the
 * write's completion) or was refused for good (its claim goes now). The
 * claims before it that no write took (chunks skipped after a failure)
 * go too: none of them is on its way any more. */
static void claim_done(struct shard *sh, struct exchange *ex, uint32_t idx, bool written)
{
	struct elarge_x *L = &ex->cache.large;
	if (idx < L->cl_from || idx >= L->cl_to)
		return;
	for (; L->cl_from < idx; L->cl_from++)
		release_mine(sh, ex, slice_chunk_key(ex->cache.key, L->gen, L->cl_from));
	if (!written)
		release_mine(sh, ex, slice_chunk_key(ex->cache.key, L->gen, idx));
	L->cl_from = idx + 1;
}

/* ---- buffers and the wait list ---------------------------------------------- */

static void slot_release(struct shard *sh, struct elarge_slot *s)
{
	if (s->has_io)
		store_io_release(sh->cache.store, &s->io);
	if (s->mobj)
		memtier_unref(&sh->cache.mt, s->mobj);
	s->has_io = false;
	s->mobj = NULL;
	s->st = ELS_FREE;
}

static struct elarge_slot *slot_find(struct elarge_x *L, uint32_t idx, uint8_t st)
{
	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS; i++)
		if (L->s[i].st == st && L->s[i].idx == idx)
			return &L->s[i];
	return NULL;
}

static bool slots_idle(const struct elarge_x *L)
{
	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS; i++)
		if (L->s[i].st != ELS_FREE && L->s[i].st != ELS_SENDING)
			return false;
	return true;
}

static void wait_add(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (L->waiting)
		return;
	L->waiting = true;
	L->next_wait = sh->cache.large_wait;
	sh->cache.large_wait = ex;
	COUNT(sh, cache_large_waits);
}

static void wait_remove(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (!L->waiting)
		return;
	for (struct exchange **p = &sh->cache.large_wait; *p; p = &(*p)->cache.large.next_wait)
		if (*p == ex) {
			*p = L->next_wait;
			break;
		}
	L->waiting = false;
	L->next_wait = NULL;
}

/* Too little left for chunk writes: store buffers (half the reserve
 * reads leave: a few writers may each begin a chunk before the next look),
 * or the shard's write slots (a write that finds none drops its chunk,
 * which is then fetched from the origin again: seen under ASan). */
static bool writers_short(const struct shard *sh)
{
	return store_bufs_free(sh->cache.store, sh->id) <= LIMIT_ELARGE_WRITE_RESERVE / 2 ||
	       !ecache_write_room(sh, LIMIT_ELARGE_WRITE_SLOTS);
}

/* After origin bytes went into our chunk writes: the next ones may need a
 * store buffer or write slots; too few free → pause the origin reads
 * (exchange_room is 0) until the tick finds some. */
static void pause_check(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (L->storing && writers_short(sh)) {
		L->store_wait = true;
		wait_add(sh, ex);
	}
}

bool elarge_paused(const struct exchange *ex)
{
	return ex->cache.large.store_wait;
}

void elarge_tick(struct shard *sh)
{
	struct exchange *list = sh->cache.large_wait;
	sh->cache.large_wait = NULL;
	while (list) {
		struct exchange *ex = list;
		struct elarge_x *L = &ex->cache.large;
		list = L->next_wait;
		L->waiting = false;
		L->next_wait = NULL;
		if (L->n_held) {
			/* Also for a closed exchange: its op waits for them. */
			if (!held_feed(sh, ex)) {
				wait_add(sh, ex);
				continue;
			}
			if (ex->state != EX_BUSY) {
				held_done(sh, ex);      /* may free ex */
				continue;
			}
			held_done(sh, ex);
		}
		if (ex->state != EX_BUSY)
			continue;
		if (L->store_wait) {
			if (writers_short(sh)) {
				wait_add(sh, ex);
				continue;
			}
			L->store_wait = false;
			if (ex->oc)
				origin_visitor_drained(sh, ex->oc);
		}
		/* Also after a store wait: a read or chunk wait that found
		 * the exchange already listed (wait_add) is this one. */
		if (ex->state == EX_BUSY && L->on && !ex->resp_done)
			advance(sh, ex, false);
	}
}

/* ---- the response head ------------------------------------------------------ */

/* Decide the visitor's response against the object (conditionals, one
 * range) and build its head; it is queued with the first body bytes. */
static int plan_response(struct shard *sh, struct exchange *ex,
			 const struct http1_response *stored,
			 int64_t age)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	struct hcache_hit_plan hp;

	hcache_hit_plan(&c->req, &L->e, 200, (int64_t)L->total, &hp);
	int status = hp.status;
	uint64_t first = (uint64_t)hp.first, last1 = (uint64_t)(hp.first + hp.len);
	const char *content_range = hp.has_content_range ? hp.content_range : NULL;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		return -ENOBUFS;
	}
	struct wbuf w;
	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	ecache_write_hit_head(sh, ex, &w, status, stored, age, (int64_t)(last1 - first),
			      content_range);
	if (w.overflow) {
		iobuf_pool_put(&sh->pool, blk);
		return -ENOSPC;
	}
	if (L->hblk)
		iobuf_pool_put(&sh->pool, L->hblk);
	L->hblk = blk;
	L->hlen = (uint32_t)w.len;
	L->status = (uint16_t)status;
	ex->status = (uint16_t)status;
	if (ex->req.method == HTTP1_HEAD)
		last1 = first;
	L->first = L->next = first;
	L->last1 = last1;
	L->rd = (uint32_t)(first / L->chunk);
	return 0;
}

/* Queue the planned head (once). False: the connection was closed. */
static bool queue_head(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (L->head_sent)
		return true;
	char *blk = L->hblk;
	L->hblk = NULL;
	L->head_sent = true;
	L->pushed += L->hlen;
	return exchange_queue_head_block(sh, ex, blk, L->hlen);
}

/* Body bytes to the visitor's queue (no followers: slices never collapse). */
static bool put_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	if (!iobuf_outq_coalesce(ex->out, seg, &sh->pool) && !iobuf_outq_push(ex->out, seg))
		return false;
	ex->body_bytes_out += seg->len;
	ex->cache.large.pushed += seg->len;
	return true;
}

/* ---- records ------------------------------------------------------------------ */

bool elarge_is_record(const void *meta, uint32_t meta_len)
{
	uint32_t magic;
	if (meta_len < sizeof(struct rec_meta))
		return false;
	memcpy(&magic, meta, sizeof(magic));
	return magic == REC_MAGIC;
}

/* ---- revalidation (RFC 9111 4.3) ---------------------------------------------- */

static bool park_behind(struct shard *sh, struct exchange *ex, bool lead);

/* A stale record with a validator: keep a copy of its stored head (the
 * record's buffer goes when elarge_serve returns) and let elarge_start ask
 * the origin — one exchange per object: the others park until its record
 * lands (a 304 rewrites it, a 200 replaces it) and read that. False (a
 * miss: fetched whole) when no block is free. */
static bool revalidate_begin(struct shard *sh, struct exchange *ex, const char *head,
			     uint32_t len)
{
	struct elarge_x *L = &ex->cache.large;
	char *blk = len <= IOBUF_HBUF_BYTES ? iobuf_pool_get(&sh->pool) : NULL;

	ex->cache.xcache = HCACHE_X_EXPIRED;
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		L->on = false;
		return false;
	}
	if (park_behind(sh, ex, true)) {
		iobuf_pool_put(&sh->pool, blk);
		L->on = false;
		return true;                /* elarge_start leaves it parked */
	}
	memcpy(blk, head, len);
	L->sblk = blk;
	L->slen = len;
	L->reval = true;
	return true;
}

/* One conditional GET for the whole object: our validator, no Range (a
 * 200 is the new version, taken by chunks as a Range miss's answer is). */
static void revalidate_start(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;

	L->fetching = true;
	L->o_off = 0;
	L->o_end = L->total;
	ex->tries = 0;
	ex->retried = false;
	origin_start(sh, ex);
}

/*
 * The origin's 304 to our validator (RFC 9111 4.3.4): the stored head with
 * the 304's fields merged in, the record rewritten with the new freshness
 * (same generation: every chunk stays), and the visitor served from the
 * chunks. 1, or -EIO when the 304 is not for our version (then a 502: a
 * 304 cannot go to a visitor that sent no conditional).
 */
static int revalidated(struct shard *sh, struct exchange *ex, const struct http1_response *r304)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	struct http1_response stored, merged;
	struct hcache_resp_info ri;
	struct hcache_store hs;
	size_t n;

	hcache_parse_response(r304, ecache_now_s(sh), &ri);
	if (http1_parse_response(L->sblk, L->slen, false, &stored) != (int)L->slen ||
	    !hcache_304_matches(&L->e, &ri)) {
		/* A 304 for another version (a broken origin): ours cannot be
		 * trusted either; the next request fetches it whole. */
		COUNT(sh, cache_large_mismatch);
		drop_object(sh, c->key, L->gen, L->total, L->chunk);
		release_lead(sh, ex);
		return -EIO;
	}
	merged = stored;
	if (hcache_merge_304(stored.headers, stored.n_headers, r304->headers, r304->n_headers,
			     merged.headers, LIMIT_HEADER_COUNT, &n) < 0) {
		release_lead(sh, ex);
		return -EIO;
	}
	merged.n_headers = (uint16_t)n;
	struct hcache_entry e = L->e;
	struct hcache_policy pol = ecache_zone_policy(ex->zone->cfg);
	hcache_parse_response(&merged, ecache_now_s(sh), &ri);
	hcache_storable(&pol, &c->req, &ri, c->request_time, ecache_now_s(sh), &hs, &e);
	ecache_count_storable(sh, &ri, &hs);
	/* Best effort, as every write: not written, the record stays stale
	 * and the next request asks again. */
	if (hs.store && slice_same_validator(&L->e, &ri)) {
		L->e = e;
		L->expires = hcache_store_expires(&hs);
		if (write_record(sh, ex, &merged))
			L->obj_claim = false;   /* its write lets go of the key as it lands */
	}
	/* Not rewritten (not storable for this request, another validator, no
	 * room): the others parked on the key look again now, not when this
	 * visitor has read the whole object. */
	release_lead(sh, ex);
	COUNT(sh, cache_revalidated);
	c->xcache = HCACHE_X_REVALIDATED;
	ex->origin_status = 304;
	L->o_off = L->o_end = 0;            /* no body: the chunks answer */
	if (plan_response(sh, ex, &merged, hcache_age(&L->e, ecache_now_s(sh))) < 0)
		return -ENOBUFS;
	COUNT(sh, cache_large_hits);
	return 1;
}

bool elarge_serve(struct shard *sh, struct exchange *ex, const void *meta, uint32_t meta_len)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	struct rec_meta m;
	struct http1_response head;

	memcpy(&m, meta, sizeof(m));
	if (m.head_len > meta_len - sizeof(m) || m.chunk == 0 ||
	    http1_parse_response((const char *)meta + sizeof(m), m.head_len, false, &head) !=
	    (int)m.head_len) {
		COUNT(sh, cache_read_errors);
		return false;
	}
	enum slice_record_do d = slice_record_use(&m.e, &c->req, ecache_now_s(sh), ex->background);
	switch (d) {
	case SLICE_REC_REFRESH:
		return false;
	case SLICE_REC_DROP:
		/* The next fetch starts a new version. */
		drop_object(sh, c->key, m.gen, m.total, m.chunk);
		c->xcache = HCACHE_X_EXPIRED;
		return false;
	case SLICE_REC_MISS:
		c->large_old = (struct elarge_old){ .set = true, .chunk = m.chunk, .gen = m.gen,
						    .total = m.total };
		c->xcache = HCACHE_X_EXPIRED;
		return false;
	case SLICE_REC_REVALIDATE:
	case SLICE_REC_SERVE:
		break;
	}
	memset(L, 0, sizeof(*L));
	L->on = L->have_id = L->storing = true;
	L->gen = m.gen;
	L->total = m.total;
	L->chunk = m.chunk;
	L->expires = m.expires;
	L->e = m.e;
	if (d == SLICE_REC_REVALIDATE)
		return revalidate_begin(sh, ex, (const char *)meta + sizeof(m), m.head_len);
	c->xcache = HCACHE_X_HIT;
	if (plan_response(sh, ex, &head, hcache_age(&m.e, ecache_now_s(sh))) < 0) {
		L->on = false;
		c->xcache = cpol_xcache_unserved((enum hcache_xcache)c->xcache);
		return false;
	}
	COUNT(sh, cache_hits);
	COUNT(sh, cache_large_hits);
	return true;
}

void elarge_start(struct shard *sh, struct exchange *ex)
{
	if (ex->parked)
		return;                     /* behind another's revalidation */
	if (ex->cache.large.reval)
		revalidate_start(sh, ex);
	else
		advance(sh, ex, false);
}

/* Start a store write of one object of this version (a record: body 0;
 * a chunk): its key text gives the prefix-purge hashes. 0; -EAGAIN when
 * the store has no room now (no write io, write slot or buffer free: one
 * will be, as writes land); another -errno when it never will (counted). */
static int begin_write(struct shard *sh, struct exchange *ex, struct cindex_key key,
		       const void *meta, uint32_t meta_len, uint64_t body_len, uint32_t *wid)
{
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t text_len;
	struct cindex_key k;
	struct store_io io[4];

	if (!ecache_write_room(sh, 4))
		return -EAGAIN;
	int n = ecache_request_key(ex, text, sizeof(text), &text_len, &k);
	if (n < 0)
		return n;
	struct store_obj obj = {
		.meta = meta, .meta_len = meta_len, .body_len = body_len,
		.expires = ex->cache.large.expires, .key_text = text, .key_text_len = text_len,
	};
	n = store_write_begin(sh->cache.store, sh->id, key, &obj, wid, io, 4);
	if (n == -EBUSY || n == -ENOBUFS)
		return -EAGAIN;
	if (n < 0) {
		COUNT(sh, cache_fill_dropped);
		return n;
	}
	sh->cache.fill_began_ms[*wid % LIMIT_STORE_WRITES] = sh->lp.now_ms;
	ecache_submit_writes(sh, io, n);
	return 0;
}

/* Write the record of a new version (best effort). */
static bool write_record(struct shard *sh, struct exchange *ex,
			 const struct http1_response *resp)
{
	struct elarge_x *L = &ex->cache.large;
	uint32_t wid;

	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk)
		return false;
	struct rec_meta m = { .magic = REC_MAGIC, .gen = L->gen, .total = L->total,
			      .expires = L->expires, .chunk = L->chunk, .e = L->e };
	struct wbuf w;
	wbuf_init(&w, blk + sizeof(m), IOBUF_HBUF_BYTES - sizeof(m));
	bool ok = ecache_write_stored_head(&w, resp) && sizeof(m) + w.len <= store_meta_max();
	if (ok) {
		m.head_len = (uint32_t)w.len;
		memcpy(blk, &m, sizeof(m));
		int r = begin_write(sh, ex, ex->cache.key, blk, (uint32_t)(sizeof(m) + w.len), 0,
				    &wid);
		if (r == -EAGAIN)
			COUNT(sh, cache_fill_dropped);  /* no version is stored this time */
		ok = r == 0;
	}
	iobuf_pool_put(&sh->pool, blk);     /* the store copied the meta */
	struct elarge_old *old = &ex->cache.large_old;
	if (ok && old->set && old->gen != L->gen) {
		drop_chunks(sh, ex->cache.key, old->gen, old->total, old->chunk);
		old->set = false;
	}
	return ok;
}

/* A new version seen in an origin response (`head`: its 200 form):
 * RFC 9111 says whether it may be stored; with a validator it is. */
static void new_version(struct shard *sh, struct exchange *ex,
			const struct http1_response *head,
			uint64_t total)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	struct hcache_resp_info ri;
	struct hcache_store hs;
	struct hcache_policy pol = ecache_zone_policy(ex->zone->cfg);

	hcache_parse_response(head, ecache_now_s(sh), &ri);
	memset(&L->e, 0, sizeof(L->e));
	hcache_storable(&pol, &c->req, &ri, c->request_time, ecache_now_s(sh), &hs, &L->e);
	ecache_count_storable(sh, &ri, &hs);
	if (!hs.store)
		slice_served_entry(&ri, &L->e);  /* not stored, but served */
	L->total = total;
	L->gen = new_gen(sh, ex);
	L->have_id = true;
	L->expires = hcache_store_expires(&hs);
	bool stored = slice_stored(&hs, &ri, &L->e);
	L->storing = stored && write_record(sh, ex, head);
	if (L->storing) {
		L->obj_claim = false;   /* the record's write lets go of the key as it lands */
		/* This fetch's chunks are on their way from now: claimed before
		 * the record can land (its write completes in a later turn), or
		 * whoever finds the record first fetches them too (seen under
		 * load: a chunk fetched twice). New generation: nobody holds them. */
		uint64_t end = L->o_end < total ? L->o_end : total;
		L->cl_from = L->cl_to = (uint32_t)(L->o_off / L->chunk);
		while ((uint64_t)L->cl_to * L->chunk < end && claim_chunk(sh, ex, L->cl_to))
			L->cl_to++;
	} else {
		COUNT(sh, cache_not_stored);
		/* Nothing to wait for: the Range misses parked on our first
		 * fetch look again (one leads), and while the object is not
		 * storable the next ones do not park at all. */
		if (!stored && L->obj_claim && sh->cache.collapse)
			collapse_stamp(sh->cache.passes, c->key, sh->lp.now_ms);
		release_lead(sh, ex);
	}
}

/* ---- chunk writes -------------------------------------------------------------- */

/* Begin chunk idx's store write: 0, -EAGAIN (no room now: its bytes
 * wait, its claim stays), or another -errno (never: the chunk is skipped
 * and its claim goes). */
static int cw_begin(struct shard *sh, struct exchange *ex, uint32_t idx)
{
	struct elarge_x *L = &ex->cache.large;
	struct chk_meta m = { .magic = CHK_MAGIC, .idx = idx, .gen = L->gen, .total = L->total };

	int r = begin_write(sh, ex, slice_chunk_key(ex->cache.key, L->gen, idx), &m, sizeof(m),
			    chunk_len(L, idx), &L->cw_wid);
	if (r == -EAGAIN)
		return r;
	if (r < 0) {
		claim_done(sh, ex, idx, false);
		return r;
	}
	/* Claimed until the write lands (ecache_on_write releases it): a
	 * concurrent miss of this chunk waits for it instead of fetching. */
	claim_chunk(sh, ex, idx);
	claim_done(sh, ex, idx, true);
	L->cw_active = true;
	L->cw_idx = idx;
	L->cw_left = chunk_len(L, idx);
	return 0;
}

static void cw_abort(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (!L->cw_active)
		return;
	store_write_abort(sh->cache.store, sh->id, L->cw_wid);
	L->cw_active = false;
	/* Its claim: a write with no io in flight has no completion to
	 * release it (one that has releases it again: harmless). */
	release_mine(sh, ex, slice_chunk_key(ex->cache.key, L->gen, L->cw_idx));
}

/*
 * Object bytes [off, off + n) passing by: each whole chunk becomes a store
 * object. Returns the bytes taken: fewer than n when the store has no room
 * for the next ones now (no write io, write slot or buffer free) — the
 * caller holds the rest (store_seg), never drops them: their chunk is
 * claimed by us, so nobody else fetches it while we hold it. A chunk the
 * store refuses for good (a disk error) is skipped, counted, and its
 * claim goes.
 */
static size_t cw_feed(struct shard *sh, struct exchange *ex, uint64_t off, const char *p,
		      size_t n)
{
	struct elarge_x *L = &ex->cache.large;
	struct store_io io[8];
	size_t done = 0;

	while (done < n) {
		uint32_t idx = (uint32_t)(off / L->chunk);
		uint64_t coff = off % L->chunk;
		uint64_t rest = chunk_len(L, idx) - coff;   /* to the chunk's end */
		size_t step = rest < n - done ? (size_t)rest : n - done;
		size_t used = step;             /* a skipped chunk's bytes pass */
		/* A write runs from a chunk's start, so cw_left == rest. */
		if (!L->cw_active && coff == 0 && cw_begin(sh, ex, idx) == -EAGAIN)
			break;
		if (L->cw_active) {
			int k = 0;
			used = 0;
			if (ecache_write_room(sh, 8))
				k = store_write_append(sh->cache.store, sh->id, L->cw_wid, p, step,
						       &used, io, 8);
			if (k > 0)
				ecache_submit_writes(sh, io, k);
			if (k < 0) {
				cw_abort(sh, ex);   /* the write failed: skip the chunk */
				COUNT(sh, cache_fill_dropped);
				used = step;
			} else if ((L->cw_left -= used) == 0) {
				L->cw_active = false;   /* sealed: it commits as it lands */
				claims_moved(sh, ex, idx);
			}
		}
		off += used;
		p += used;
		done += used;
		if (used < step)
			break;                  /* no buffer or write io now */
	}
	return done;
}

/*
 * n bytes of seg (from its start; object bytes from off on) to our chunk
 * writes. What the store cannot take now is held — a reference of ours to
 * seg's buffer, and an op of the exchange so that a close waits for it —
 * and the origin's reads pause until the tick has fed it (held_feed).
 */
static void store_seg(struct shard *sh, struct exchange *ex, uint64_t off,
		      const struct iobuf_seg *seg, size_t n)
{
	struct elarge_x *L = &ex->cache.large;
	size_t took = L->n_held ? 0 : cw_feed(sh, ex, off, seg->ptr, n);

	if (took < n && (L->n_held == LIMIT_ELARGE_HELD_SEGS || seg->kind != IOBUF_SEG_PBUF)) {
		/* Nothing more can be held: the chunk is dropped (fetched
		 * again by whoever needs it), the bytes after it skipped. */
		COUNT(sh, cache_fill_dropped);
		held_drop(sh, ex);
		cw_abort(sh, ex);
	} else if (took < n) {
		struct iobuf_seg h = *seg;
		h.ptr += took;
		h.len = (uint32_t)(n - took);
		iobuf_group_ref(h.group, h.bid);
		if (!L->n_held) {
			L->held_off = off + took;
			ex->ops++;
			COUNT(sh, cache_large_held);
		}
		L->held[L->n_held++] = h;
		L->store_wait = true;
		wait_add(sh, ex);
		return;
	}
	pause_check(sh, ex);
}

/* Feed the held bytes to our chunk writes, in order: true when none is
 * left (then held_done). */
static bool held_feed(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	unsigned i = 0;

	for (; i < L->n_held; i++) {
		struct iobuf_seg *h = &L->held[i];
		size_t took = cw_feed(sh, ex, L->held_off, h->ptr, h->len);
		L->held_off += took;
		h->ptr += took;
		h->len -= (uint32_t)took;
		if (h->len)
			break;
		iobuf_seg_release(h, &sh->pool);
	}
	memmove(L->held, L->held + i, (L->n_held - i) * sizeof(*L->held));
	L->n_held = (uint8_t)(L->n_held - i);
	return L->n_held == 0;
}

/* Let go of what is held (the bytes are not stored: only when the store
 * can never take them, or nothing more can be held). */
static void held_drop(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (!L->n_held)
		return;
	for (unsigned i = 0; i < L->n_held; i++)
		iobuf_seg_release(&L->held[i], &sh->pool);
	L->n_held = 0;
	ex->ops--;              /* not the last: the caller still runs for ex */
}

/* Every held byte is fed: the fetch's or fill's end that waited for them
 * runs now, and the exchange's op for them ends (a closed exchange is
 * freed then: ex must not be used after this). */
static void held_done(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	if (L->end_held) {
		L->end_held = false;
		if (L->fill)
			elarge_fill_end(sh, ex, true);
		else if (ex->state == EX_BUSY && L->fetching)
			elarge_origin_end(sh, ex);
	}
	exchange_op_done(sh, ex);
}

/* ---- a plain GET miss larger than a chunk ------------------------------------- */

bool elarge_fill_begin(struct shard *sh, struct exchange *ex, const struct http1_response *resp,
		       const struct hcache_entry *e, uint32_t expires)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;

	if (!slice_has_validator(e)) {
		COUNT(sh, cache_not_stored);
		return true;                /* chunks could not be checked later */
	}
	memset(L, 0, sizeof(*L));
	L->chunk = store_chunk_bytes(sh->cache.store);
	L->e = *e;
	L->total = (uint64_t)resp->content_length;
	L->gen = new_gen(sh, ex);
	L->expires = expires;
	L->have_id = true;
	if (!write_record(sh, ex, resp))
		return true;
	L->fill = L->storing = true;
	L->o_off = 0;
	c->filling = true;
	/* The leader's claim on the object's key ends when the record lands
	 * (ecache_on_write), not with the leader: a miss parked on it must
	 * find the record when it looks again. */
	ex->claim_in_fill = ex->leading && c->ckey.lo == c->key.lo && c->ckey.hi == c->key.hi;
	/* Until the fill ends, every chunk of this version not yet stored is
	 * on its way: whoever finds the record waits for it (chunk_coming).
	 * So do the followers: they read the slices as they land instead of
	 * sharing our bytes, where a slow one would be cut off. */
	L->fill_claim = claim_key(sh, ex, slice_fill_key(c->key, L->gen));
	exchange_park_followers(sh, ex);
	return true;
}

void elarge_fill_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	struct elarge_x *L = &ex->cache.large;
	store_seg(sh, ex, L->o_off, seg, seg->len);
	L->o_off += seg->len;
}

void elarge_fill_end(struct shard *sh, struct exchange *ex, bool complete)
{
	struct elarge_x *L = &ex->cache.large;
	(void)complete;                     /* a whole chunk is complete as it is */
	if (L->n_held) {
		L->end_held = true;         /* its chunks first (held_done) */
		return;
	}
	cw_abort(sh, ex);
	L->fill = false;
	/* Its chunks' writes hold their own claims until they land. */
	release_lead(sh, ex);
}

/* ---- misses --------------------------------------------------------------------- */

/* Fetch chunks [idx, ...] from the origin: up to LIMIT_ELARGE_FETCH_CHUNKS,
 * up to the last one the visitor needs, stopping before a stored one. */
static void start_fetch(struct shard *sh, struct exchange *ex, uint32_t idx)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	uint32_t lastc = slice_last_chunk(L->last1, L->chunk);
	uint32_t n = 1;

	if (L->storing)
		claim_chunk(sh, ex, idx);
	while (idx + n <= lastc && n < LIMIT_ELARGE_FETCH_CHUNKS &&
	       (!L->storing || claim_missing(sh, ex, idx + n)))
		n++;
	L->cl_from = idx;
	L->cl_to = L->storing ? idx + n : idx;
	L->wait_ms = 0;
	slice_fetch_span(idx, n, L->chunk, L->total, L->have_id, &L->o_off, &L->o_end);
	L->fetching = true;
	L->rd = idx + n;
	ex->tries = 0;
	ex->retried = false;
	COUNT(sh, cache_large_fetches);
	origin_start(sh, ex);
}

/* Another exchange fetches this object for the first time (a GET's fill,
 * or a Range miss that will write its record) and its answer may be
 * stored: wait for it (true), then take the range from the record. */
static bool park_behind(struct shard *sh, struct exchange *ex, bool lead)
{
	struct collapse *t = sh->cache.collapse;
	uint64_t since;

	if (!t || !exchange_may_park(sh, ex) || (cpol_pass_since(sh->lp.now_ms, &since) &&
		   collapse_stamped_since(sh->cache.passes, ex->cache.key, since)))
		return false;
	if (lead ? claim_key(sh, ex, ex->cache.key) : !collapse_active(t, ex->cache.key)) {
		ex->cache.large.obj_claim = lead;
		return false;
	}
	COUNT(sh, cache_large_parked);
	exchange_park(sh, ex);
	return true;
}

bool elarge_miss(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	uint64_t first, last1;

	if (!slice_range_miss_applies(&c->req, c->cacheable, c->have_stored, ex->background))
		return false;
	memset(L, 0, sizeof(*L));
	/* A range goes by chunks, or to the origin as it is; either way not
	 * beside a first fetch of the object already running. The one that
	 * goes by chunks leads: the others wait for its record. */
	bool chunks = slice_range_miss(&c->req, store_chunk_bytes(sh->cache.store), &first, &last1);
	if (park_behind(sh, ex, chunks))
		return true;
	if (!chunks)
		return false;
	/* The claim first, then the index (as claim_missing): a first fetch
	 * that ended since our lookup may have landed its record (its write
	 * commits, then lets go of the key). Then that is read at the next
	 * tick, not fetched again as a version of our own (unless this
	 * request refused it already). Only before this request first parks:
	 * an entry found again after a park is one the lookup could not use
	 * (a bad record, a read error): parking on it would only repeat that
	 * until LIMIT_COLLAPSE_WAIT_MS, so it is fetched. */
	struct cindex_entry hit;
	if (L->obj_claim && !c->large_old.set && !ex->parked_until_ms &&
	    store_lookup(sh->cache.store, sh->id, c->key, &hit) == 0) {
		release_lead(sh, ex);
		COUNT(sh, cache_large_parked);
		exchange_park(sh, ex);
		return true;
	}
	L->on = true;
	L->chunk = store_chunk_bytes(sh->cache.store);
	L->next = L->first = first;
	L->last1 = last1;                   /* until the length is known */
	start_fetch(sh, ex, (uint32_t)(L->next / L->chunk));
	return true;
}

void elarge_origin_headers(const struct exchange *ex, struct wbuf *w)
{
	const struct elarge_x *L = &ex->cache.large;
	if (L->reval) {
		char buf[160 + LIMIT_ETAG_BYTES];
		int n = hcache_revalidation_headers(&L->e, buf, sizeof(buf));
		if (n > 0)
			wbuf_put(w, buf, (size_t)n);
		return;
	}
	wbuf_str(w, "Range: bytes=");
	wbuf_u64(w, L->o_off);
	wbuf_put(w, "-", 1);
	wbuf_u64(w, L->o_end - 1);
	wbuf_put(w, "\r\n", 2);
}

int elarge_origin_head(struct shard *sh, struct exchange *ex, const struct http1_response *resp)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	uint64_t s, e1, total;

	if (L->reval) {
		/* A 304 keeps the version; anything else is taken below as the
		 * answer to a fetch from byte 0 (a 200: the new version). */
		L->reval = false;
		if (resp->status == 304)
			return revalidated(sh, ex, resp);
		/* Anything else is not our version's: a 200 becomes a new
		 * version (its record replaces ours, whose chunks then go),
		 * an error passes as it is and the record stays stale. */
		c->large_old = (struct elarge_old){ .set = true, .chunk = L->chunk, .gen = L->gen,
						    .total = L->total };
		L->have_id = L->storing = false;
	}

	if (!slice_origin_span(resp, L->o_off, &s, &e1, &total)) {
		/* Not a slice of the object (an error, 416, a changed framing):
		 * before our head it goes to the visitor as it is. Gone, or
		 * shorter than we knew: the stored object goes too (a 5xx may
		 * pass: it says nothing about the object). */
		L->fetching = false;
		release_claims(sh, ex);
		/* No record of ours will land from this answer: whoever parked
		 * on the object (a revalidation's, a Range miss's) looks again
		 * now, not when this visitor has read it all. */
		release_lead(sh, ex);
		if (L->have_id && slice_drops_object(resp->status))
			drop_object(sh, c->key, L->gen, L->total, L->chunk);
		if (L->head_sent)
			return -EIO;
		if (L->hblk)
			iobuf_pool_put(&sh->pool, L->hblk);
		L->hblk = NULL;
		L->on = false;
		/* A hit's missing chunk: the origin answers. */
		c->xcache = cpol_xcache_unserved((enum hcache_xcache)c->xcache);
		return 0;
	}
	struct http1_response head;
	slice_whole_head(resp, total, &head);
	if (L->have_id) {
		struct hcache_resp_info ri;
		hcache_parse_response(&head, ecache_now_s(sh), &ri);
		if (total != L->total || !slice_same_validator(&L->e, &ri)) {
			/* Another version: never stitched to the stored one. The
			 * claims were taken under the old generation's keys. */
			COUNT(sh, cache_large_mismatch);
			release_claims(sh, ex);
			drop_object(sh, c->key, L->gen, L->total, L->chunk);
			L->have_id = L->storing = false;
			if (L->head_sent)
				return -EIO;
		}
	}
	if (!L->have_id) {
		new_version(sh, ex, &head, total);
		/* Another version than the record's. */
		c->xcache = cpol_xcache_unserved((enum hcache_xcache)c->xcache);
		if (plan_response(sh, ex, &head, 0) < 0)
			return -ENOBUFS;
		/* Its record lands before its chunks may: whoever finds it
		 * then waits for the chunks this fetch brings — claimed one by
		 * one, or, for a longer answer (a whole object), as a fill. */
		uint64_t a = s > L->o_off ? s : L->o_off, b = e1 < L->o_end ? e1 : L->o_end;
		if (L->storing && b > a && b - a > (uint64_t)LIMIT_ELARGE_FETCH_CHUNKS * L->chunk) {
			L->fill_claim = claim_key(sh, ex, slice_fill_key(c->key, L->gen));
		} else if (L->storing && L->cl_from == L->cl_to) {
			L->cl_from = L->cl_to = (uint32_t)(a / L->chunk);
			while (a < b && (uint64_t)L->cl_to * L->chunk < b && claim_chunk(sh, ex, L->cl_to))
				L->cl_to++;
		}
	}
	L->o_off = s;
	L->o_end = e1;
	ex->origin_status = resp->status;
	return 1;
}

bool elarge_origin_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	struct elarge_x *L = &ex->cache.large;
	uint64_t off = L->o_off, n = seg->len;

	if (n > L->o_end - off)
		n = L->o_end - off;
	if (L->storing)
		store_seg(sh, ex, off, seg, (size_t)n);
	L->o_off += n;
	if (off <= L->next && L->next < off + n && L->next < L->last1) {
		uint64_t a = L->next - off;
		uint64_t b = (off + n < L->last1 ? off + n : L->last1) - off;
		struct iobuf_seg t = *seg;
		t.ptr += a;
		t.len = (uint32_t)(b - a);
		if (!queue_head(sh, ex)) {
			iobuf_seg_release(seg, &sh->pool);
			return true;            /* closed */
		}
		if (!put_body(sh, ex, &t))
			return false;
		L->next += b - a;
		return true;
	}
	iobuf_seg_release(seg, &sh->pool);
	return true;
}

void elarge_origin_end(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;

	if (L->n_held) {
		L->end_held = true;         /* its chunks first (held_done) */
		return;
	}
	L->fetching = false;
	cw_abort(sh, ex);                    /* a chunk the response did not finish */
	release_claims(sh, ex);
	if (L->fill_claim) {                 /* its chunks' writes hold their own */
		release_mine(sh, ex, slice_fill_key(ex->cache.key, L->gen));
		L->fill_claim = false;
	}
	L->rd = (uint32_t)(L->next / L->chunk);
	if (L->o_off != L->o_end) {
		exchange_response_abort(sh, ex);
		return;
	}
	advance(sh, ex, false);
}

/* ---- hits: chunks from RAM or disk, in order ------------------------------------ */

/* Get the next chunk: 1 = ready (RAM), 0 = a read or a fetch is running
 * or nothing can start now. */
static int acquire(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	uint32_t ci = (uint32_t)(L->next / L->chunk);
	uint32_t lastc = (uint32_t)((L->last1 - 1) / L->chunk);
	struct cindex_entry hit;
	struct elarge_slot *s = NULL;

	/* Chunks [ci, rd) are being read or ready; none: start at ci. */
	if (L->rd < ci || slots_idle(L))
		L->rd = ci;
	if (L->rd > lastc)
		return 0;
	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS && !s; i++)
		if (L->s[i].st == ELS_FREE)
			s = &L->s[i];
	if (!s)
		return 0;
	struct cindex_key k = slice_chunk_key(c->key, L->gen, L->rd);
	bool coming = false;
	uint64_t moved = 0;
	int found = -ENOENT;
	if (L->storing) {
		found = store_lookup(sh->cache.store, sh->id, k, &hit);
		/* Not there: on its way, or it landed since we looked. */
		if (found < 0 && !(coming = chunk_coming(sh, ex, L->rd, &moved)))
			found = store_lookup(sh->cache.store, sh->id, k, &hit);
	}
	if (found == 0) {
		uint32_t want = chunk_len(L, L->rd);
		L->wait_ms = 0;
		s->idx = L->rd;
		s->loc = hit.loc;
		if (sh->cache.mt_on && memtier_get(&sh->cache.mt, k, hit.loc, 0, &s->mobj) == 1) {
			uint32_t bl;
			s->body = memtier_body(&sh->cache.mt, s->mobj, &bl);
			if (bl == want) {
				s->len = bl;
				s->st = ELS_READY;
				L->rd++;
				COUNT(sh, cache_ram_hits);
				return 1;
			}
			memtier_unref(&sh->cache.mt, s->mobj);
			s->mobj = NULL;
		}
		int n = store_bufs_free(sh->cache.store, sh->id) <= LIMIT_ELARGE_WRITE_RESERVE ?
			-ENOBUFS :
			store_read_plan(sh->cache.store, sh->id, &hit, true, 0, hit.total_len, &s->io, 1);
		if (n == 1) {
			s->has_io = true;
			s->st = ELS_READING;
			L->rd++;
			L->reading = true;
			shard_prep_store_io(sh, &s->io, shard_ud(OP_CREAD, ex->idx, ex->gen));
			ex->ops++;
			return 0;
		}
		if (n == -ENOBUFS) {
			/* Pool empty: wait for a buffer (a send of ours, or the tick). */
			wait_add(sh, ex);
			return 0;
		}
		COUNT(sh, cache_read_errors);
	}
	/* Missing: fetched once every chunk before it is queued, by the one
	 * exchange that claims it. What brings it (the version's fill, or the
	 * claim's holder) is waited for while it makes progress, however slow
	 * (a fill goes at its own visitor's pace): only one that has not moved
	 * for LIMIT_ELARGE_CLAIM_WAIT_MS is given up on (a stalled visitor
	 * must not hold the others forever); then the chunk is fetched under
	 * its claim if it can be had. */
	if (L->rd != ci || !slots_idle(L) || ex->req.method != HTTP1_GET)
		return 0;
	if (!L->wait_ms)
		L->wait_ms = sh->lp.now_ms;
	/* (Another shard's loop time may be ahead of ours.) */
	uint64_t since = moved > L->wait_ms ? moved : L->wait_ms;
	bool stalled = sh->lp.now_ms > since && sh->lp.now_ms - since >= LIMIT_ELARGE_CLAIM_WAIT_MS;
	bool claimed = !coming && (!L->storing || claim_missing(sh, ex, ci));
	if (!claimed && !stalled) {
		wait_add(sh, ex);
		return 0;
	}
	if (!claimed && L->storing) {
		/* Claimed now (its holder let go): a fetch of our own, not an
		 * expired wait. */
		claimed = claim_missing(sh, ex, ci);
		if (!claimed && store_lookup(sh->cache.store, sh->id, k, &hit) == 0) {
			wait_add(sh, ex);       /* it landed meanwhile: read it */
			return 0;
		}
	}
	if (!claimed) {
		COUNT(sh, cache_large_wait_expired);
	}
	start_fetch(sh, ex, ci);
	return 0;
}

void elarge_on_read(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe)
{
	struct ecache_x *c = &ex->cache;
	struct elarge_x *L = &c->large;
	struct elarge_slot *s = NULL;
	struct store_view v;
	struct chk_meta m;

	L->reading = false;
	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS && !s; i++)
		if (L->s[i].st == ELS_READING)
			s = &L->s[i];
	if (!s)
		return;
	if (ex->state != EX_BUSY) {
		slot_release(sh, s);        /* closing: nobody sends from it */
		return;
	}
	bool good = store_read_verify(sh->cache.store, &s->io, cqe->res, &v) == 0 &&
		    v.meta_len == sizeof(m) && v.body_len == chunk_len(L, s->idx) &&
		    v.total_len == v.body_len;
	if (good) {
		memcpy(&m, v.meta, sizeof(m));
		good = m.magic == CHK_MAGIC && m.idx == s->idx && m.gen == L->gen &&
		       m.total == L->total;
	}
	if (!good) {
		/* Never served: dropped, and fetched again from the origin. */
		COUNT(sh, cache_large_bad_chunks);
		store_delete(sh->cache.store, slice_chunk_key(c->key, L->gen, s->idx));
		L->rd = s->idx;
		slot_release(sh, s);
		advance(sh, ex, false);
		return;
	}
	s->body = v.body;
	s->len = v.body_len;
	s->st = ELS_READY;
	/* The RAM tier sees the chunk as one entry of its own key. */
	struct cindex_key k = slice_chunk_key(c->key, L->gen, s->idx);
	if (sh->cache.mt_on) {
		struct memtier_obj *o = memtier_admit_begin(&sh->cache.mt, k, s->loc, 0, 0, v.body_len);
		if (o) {
			memcpy(memtier_fill_ptr(&sh->cache.mt, o), v.body, v.body_len);
			memtier_admit_commit(&sh->cache.mt, o);
		}
	}
	advance(sh, ex, false);
}

/* Everything the visitor gets is queued: end the response. */
static void finish(struct shard *sh, struct exchange *ex, bool in_send)
{
	if (ex->resp_done || !queue_head(sh, ex))
		return;
	if (in_send)
		ex->resp_done = true;     /* the send completion finishes it */
	else
		exchange_response_end(sh, ex);
}

static void advance(struct shard *sh, struct exchange *ex, bool in_send)
{
	struct elarge_x *L = &ex->cache.large;
	bool queued = false;

	for (;;) {
		while (L->next < L->last1) {
			uint32_t ci = (uint32_t)(L->next / L->chunk);
			struct elarge_slot *s = slot_find(L, ci, ELS_READY);
			if (!s)
				break;
			if (!queue_head(sh, ex))
				return;
			uint64_t start = (uint64_t)ci * L->chunk;
			uint64_t end = start + s->len < L->last1 ? start + s->len : L->last1;
			struct iobuf_seg seg = { .ptr = s->body + (L->next - start),
						 .len = (uint32_t)(end - L->next),
						 .kind = IOBUF_SEG_STATIC };
			if (!put_body(sh, ex, &seg)) {
				exchange_response_abort(sh, ex);
				return;
			}
			s->st = ELS_SENDING;
			s->release_at = L->pushed;
			L->next = end;
			queued = true;
		}
		if (L->next >= L->last1) {
			finish(sh, ex, in_send);
			return;
		}
		if (L->fetching || L->reading || acquire(sh, ex) != 1)
			break;
	}
	if (queued && !in_send)
		exchange_flush(sh, ex);
}

void elarge_on_sent(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;
	uint64_t consumed = L->pushed - ex->out->bytes;

	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS; i++)
		if (L->s[i].st == ELS_SENDING && L->s[i].release_at <= consumed)
			slot_release(sh, &L->s[i]);
	if (!L->fetching && !L->reading && !ex->resp_done)
		advance(sh, ex, true);
}

void elarge_end(struct shard *sh, struct exchange *ex)
{
	struct elarge_x *L = &ex->cache.large;

	wait_remove(sh, ex);
	cw_abort(sh, ex);
	release_claims(sh, ex);
	release_lead(sh, ex);
	for (unsigned i = 0; i < LIMIT_ELARGE_SLOTS; i++)
		if (L->s[i].st != ELS_READING)
			slot_release(sh, &L->s[i]);
	if (L->hblk) {
		iobuf_pool_put(&sh->pool, L->hblk);
		L->hblk = NULL;
	}
	if (L->sblk) {
		iobuf_pool_put(&sh->pool, L->sblk);
		L->sblk = NULL;
	}
	L->on = L->fetching = L->fill = L->reval = false;
}
