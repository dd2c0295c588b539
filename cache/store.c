/*
 * cache/store.c — the shard-side store: reservations, writes, reads,
 * eviction (contract in cache/store.h, format in docs/cache-store.md).
 * Opening, checkpoints and the start-up scan are in cache/store_open.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "cache/store_int.h"
#include "core/counters.h"

const char *const store_ctr_names[STORE_CTR__COUNT] = {
#define STORE_CTR_NAME(name, doc) #name,
	STORE_COUNTERS(STORE_CTR_NAME)
#undef STORE_CTR_NAME
};
const char *const store_ctr_docs[STORE_CTR__COUNT] = {
#define STORE_CTR_DOC(name, doc) doc,
	STORE_COUNTERS(STORE_CTR_DOC)
#undef STORE_CTR_DOC
};

/* ---- small helpers -------------------------------------------------------- */

uint32_t store_meta_max(void)
{
	return LIMIT_STORE_META_BYTES - STORE_HDR_BYTES - STORE_OBJREC_BYTES;
}

unsigned store_n_stripes(const struct store *st) { return st->n_stripes; }
uint64_t store_stripe_bytes(const struct store *st) { return st->stripes[0].bytes; }
const struct cindex *store_index(const struct store *st) { return &st->ix; }

uint64_t store_max_object(const struct store *st)
{
	uint64_t half = st->stripes[0].bytes / 2 / st->cblocks / STORE_BLOCK;

	half = half > LIMIT_STORE_OBJECT_CHUNKS ? LIMIT_STORE_OBJECT_CHUNKS : half;
	return half > 1 ? (half - 1) * st->chunk_bytes : st->chunk_bytes;
}

void *store_shard_mem(const struct store *st, unsigned shard, size_t *bytes)
{
	const struct store_shard *sh = &st->shards[shard];
	*bytes = sh->mem ? (size_t)sh->n_bufs * st->buf_bytes : 0;
	return sh->mem;
}

uint32_t store_chunk_bytes(const struct store *st)
{
	return st->chunk_bytes;
}

uint32_t store_bufs_free(const struct store *st, unsigned shard)
{
	assert(st->magic == STORE_MAGIC && shard < st->n_shards);
	return st->shards[shard].n_free;
}

uint64_t store_counter(const struct store *st, enum store_ctr c)
{
	assert(st->magic == STORE_MAGIC);
	uint64_t sum = __atomic_load_n(&st->ctl_ctr[c], __ATOMIC_RELAXED);

	for (unsigned i = 0; i < st->n_shards; i++)
		sum += __atomic_load_n(&st->shards[i].ctr[c], __ATOMIC_RELAXED);
	return sum;
}

static uint64_t store_ctr_sum(const void *st, unsigned i)
{
	return store_counter(st, (enum store_ctr)i);
}

struct counters_block store_counters = {
	.prefix = "store_", .names = store_ctr_names, .docs = store_ctr_docs,
	.n = STORE_CTR__COUNT, .sum = store_ctr_sum,
};

uint64_t store_round(uint64_t n)
{
	return (n + STORE_BLOCK - 1) & ~(uint64_t)(STORE_BLOCK - 1);
}

/* Entries an object takes: small = one entry; else META + chunks. */
static bool is_small(const struct store *st, uint32_t meta_len, uint64_t body_len)
{
	return STORE_HDR_BYTES + STORE_OBJREC_BYTES + meta_len + body_len <= st->buf_bytes;
}

static uint64_t chunk_count(const struct store *st, uint64_t body_len)
{
	return (body_len + st->chunk_bytes - 1) / st->chunk_bytes;
}

/* Bytes of chunk i's entry. */
uint64_t store_chunk_entry_bytes(const struct store *st, uint64_t total, uint64_t i)
{
	uint64_t rest = total - i * st->chunk_bytes;

	return store_round(STORE_HDR_BYTES + (rest < st->chunk_bytes ? rest : st->chunk_bytes));
}

/* Bytes reserved for a whole object. */
uint64_t store_object_bytes(const struct store *st, uint64_t meta_blocks, uint64_t total,
			     bool chunked)
{
	uint64_t n = chunked ? chunk_count(st, total) : 0;

	if (!n)
		return meta_blocks * STORE_BLOCK;
	return meta_blocks * STORE_BLOCK + (n - 1) * st->cblocks * STORE_BLOCK +
	       store_chunk_entry_bytes(st, total, n - 1);
}

/* An entry whose object start is more than a stripe behind the cursor
 * has been (or is being) overwritten. */
bool store_is_stale(const struct store *st, const struct cindex_entry *e)
{
	uint32_t s = CINDEX_LOC_STRIPE(e->loc);
	uint64_t pos, cur;

	if (s >= st->n_stripes)
		return true;
	pos = CINDEX_LOC_BLOCKS(e->loc) * STORE_BLOCK;
	cur = __atomic_load_n(&st->stripes[s].cursor, __ATOMIC_ACQUIRE);
	return cur > st->stripes[s].bytes && pos < cur - st->stripes[s].bytes;
}

static bool stale_cb(void *arg, const struct cindex_entry *e)
{
	return store_is_stale(arg, e);
}

/* Index insert used by writes, scans and checkpoints. */
void store_index_put(struct store *st, uint64_t *ctr, const struct cindex_entry *e)
{
	if (cindex_put(&st->ix, e, stale_cb, st, NULL) == 1)
		ctr_add(&ctr[STORE_CTR_index_displaced], 1);
}

/* ---- buffer pool ---------------------------------------------------------- */

static int32_t buf_get(struct store_shard *sh)
{
	if (sh->n_free == 0)
		return -1;
	return (int32_t)sh->free[--sh->n_free];
}

static void buf_put(struct store_shard *sh, int32_t id)
{
	if (id < 0)
		return;
	assert(sh->n_free < sh->n_bufs);
	sh->free[sh->n_free++] = (uint32_t)id;
}

static char *buf_ptr(const struct store *st, const struct store_shard *sh, int32_t id)
{
	return sh->mem ? sh->mem + (size_t)id * st->buf_bytes : NULL;
}

/* ---- entry headers -------------------------------------------------------- */

void store_hdr_seal(struct store_hdr *h, const void *payload)
{
	h->magic = STORE_ENTRY_MAGIC;
	h->version = STORE_VERSION;
	h->payload_csum = payload ? XXH3_64bits(payload, h->payload_len) : 0;
	h->hdr_csum = 0;
	h->hdr_csum = (uint32_t)XXH3_64bits(h, sizeof(*h));
}

/* Magic, version and header checksum: the header is what was written. */
bool store_hdr_ok(const struct store_hdr *h)
{
	struct store_hdr c = *h;

	if (h->magic != STORE_ENTRY_MAGIC || h->version != STORE_VERSION)
		return false;
	c.hdr_csum = 0;
	return (uint32_t)XXH3_64bits(&c, sizeof(c)) == h->hdr_csum;
}

/* ---- stripes: ownership, FIFO, eviction ------------------------------------ */

static int stripe_of(const struct store *st, unsigned shard, struct cindex_key key)
{
	unsigned n = st->n_stripes, per = 0, pick;

	for (unsigned s = shard; s < n; s += st->n_shards)
		per++;
	if (per == 0)
		return -ENODEV;
	pick = (unsigned)(key.hi % per);
	return (int)(shard + pick * st->n_shards);
}

static void fifo_push(struct store_stripe *s, struct cindex_key key, uint64_t pos)
{
	assert(s->fifo_n < s->fifo_cap);
	s->fifo[(s->fifo_head + s->fifo_n++) % s->fifo_cap] =
		(struct store_fifo){ .key = key, .pos = pos };
}

static void reinsert_push(struct store *st, uint64_t *ctr, struct store_stripe *s,
			  const struct cindex_entry *e)
{
	if (s->rq_n == LIMIT_STORE_REINSERT_QUEUE) {
		cindex_del(&st->ix, e->key, e->loc);
		ctr_add(&ctr[STORE_CTR_reinserts_dropped], 1);
		return;
	}
	s->rq[(s->rq_head + s->rq_n++) % LIMIT_STORE_REINSERT_QUEUE] = *e;
	ctr_add(&ctr[STORE_CTR_reinserts_queued], 1);
}

/* Judge the FIFO's oldest object: hot → copy-forward queue, else evict. */
static void judge_one(struct store *st, uint64_t *ctr, struct store_stripe *s)
{
	struct store_fifo f = s->fifo[s->fifo_head];
	uint64_t loc = CINDEX_LOC(s->id, f.pos / STORE_BLOCK);
	struct cindex_entry e;

	s->fifo_head = (s->fifo_head + 1) % s->fifo_cap;
	s->fifo_n--;
	if (cindex_get(&st->ix, f.key, false, &e) != 0 || e.loc != loc)
		return;                     /* moved, purged or displaced */
	if (cindex_clear_access(&st->ix, f.key, loc) == 1) {
		e.flags &= (uint8_t)~CINDEX_F_ACCESS;
		reinsert_push(st, ctr, s, &e);
		return;
	}
	if (cindex_del(&st->ix, f.key, loc) == 0)
		ctr_add(&ctr[STORE_CTR_evicted], 1);
}

/* The cursor moves to `cur`: judge what it will overwrite within the
 * window, and keep a FIFO slot free. */
static void judge(struct store *st, uint64_t *ctr, struct store_stripe *s, uint64_t cur)
{
	uint64_t reach = cur + s->window;

	while (s->fifo_n && reach > s->bytes && s->fifo[s->fifo_head].pos < reach - s->bytes)
		judge_one(st, ctr, s);
	if (s->fifo_n == s->fifo_cap) {
		ctr_add(&ctr[STORE_CTR_fifo_overflow], 1);
		judge_one(st, ctr, s);
	}
	/* copy-forward requests the cursor has passed are stale: drop them */
	while (s->rq_n && cur > s->bytes &&
	       CINDEX_LOC_BLOCKS(s->rq[s->rq_head].loc) * STORE_BLOCK < cur - s->bytes) {
		cindex_del(&st->ix, s->rq[s->rq_head].key, s->rq[s->rq_head].loc);
		s->rq_head = (s->rq_head + 1) % LIMIT_STORE_REINSERT_QUEUE;
		s->rq_n--;
	}
}

int store_reinsert_next(struct store *st, unsigned stripe, struct cindex_entry *out)
{
	struct store_stripe *s = &st->stripes[stripe];

	assert(st->magic == STORE_MAGIC && stripe < st->n_stripes);
	if (!s->rq_n)
		return -ENOENT;
	*out = s->rq[s->rq_head];
	s->rq_head = (s->rq_head + 1) % LIMIT_STORE_REINSERT_QUEUE;
	s->rq_n--;
	return 0;
}

/* Oldest reservation start not yet committed or aborted: a checkpoint
 * taken now must scan from there. */
static void stripe_safe_update(struct store *st, struct store_shard *sh, uint32_t stripe)
{
	struct store_stripe *s = &st->stripes[stripe];
	uint64_t safe = s->cursor;

	for (unsigned i = 0; i < LIMIT_STORE_WRITES; i++)
		if (sh->w[i].busy && sh->w[i].stripe == stripe && sh->w[i].pos < safe)
			safe = sh->w[i].pos;
	__atomic_store_n(&s->safe, safe, __ATOMIC_RELEASE);
}

/* ---- writes --------------------------------------------------------------- */

static struct store_wr *wr_get(struct store_shard *sh, uint32_t wid)
{
	struct store_wr *w = &sh->w[wid % LIMIT_STORE_WRITES];

	return w->busy && w->gen == wid / LIMIT_STORE_WRITES ? w : NULL;
}

static void wr_io(const struct store *st, const struct store_wr *w, unsigned shard,
		  uint8_t kind, uint64_t pos, uint32_t len, int32_t buf, struct store_io *io)
{
	const struct store_stripe *s = &st->stripes[w->stripe];

	*io = (struct store_io){
		.fd = s->fd, .len = len, .off = s->base + pos % s->bytes,
		.buf = kind == STORE_IO_PAD ? (st->sim ? NULL : s->pad) :
			buf_ptr(st, &st->shards[shard], buf),
		.kind = kind, .shard = (uint16_t)shard, .buf_id = buf,
		.wslot = (uint32_t)(w - st->shards[shard].w), .wgen = w->gen,
		.stripe = w->stripe, .pos = pos, .key = w->key,
	};
}

/* Reserve bytes in the stripe; a pad entry fills a lap's tail. */
static int reserve(struct store *st, struct store_shard *sh, struct store_wr *w,
		   uint64_t bytes, struct store_io *io)
{
	struct store_stripe *s = &st->stripes[w->stripe];
	uint64_t cur = s->cursor, lap_off = cur % s->bytes;
	int n = 0;

	if (lap_off + bytes > s->bytes) {
		struct store_hdr *h = s->pad;

		if (s->pad_busy)
			return -EBUSY;
		if (h) {
			memset(h, 0, STORE_BLOCK);
			*h = (struct store_hdr){ .type = STORE_T_PAD, .pos = cur,
				.payload_len = (uint32_t)(s->bytes - lap_off - STORE_HDR_BYTES) };
			store_hdr_seal(h, NULL);
		}
		s->pad_busy = true;
		w->pos = cur;
		wr_io(st, w, (unsigned)(sh - st->shards), STORE_IO_PAD, cur, STORE_BLOCK, -1, io);
		w->inflight++;
		cur += s->bytes - lap_off;
		n = 1;
	} else {
		w->pos = cur;
	}
	judge(st, sh->ctr, s, cur + bytes);
	w->entry_pos = cur;
	fifo_push(s, w->key, cur);
	__atomic_store_n(&s->cursor, cur + bytes, __ATOMIC_RELEASE);
	return n;
}

/* Fill the META part (objrec + meta) of the first entry's payload. */
static void put_meta(struct store_wr *w, char *payload, const struct store_obj *o)
{
	struct store_objrec r = { .expires = o->expires };

	if (o->key_text)
		cindex_prefixes(o->key_text, o->key_text_len, r.prefix);
	memcpy(w->ent.prefix, r.prefix, sizeof(r.prefix));
	if (payload) {
		memcpy(payload, &r, sizeof(r));
		if (o->meta_len)
			memcpy(payload + sizeof(r), o->meta, o->meta_len);
	}
}

/* Seal the entry being filled and hand it out as an io. */
static void seal_entry(struct store *st, unsigned shard, struct store_wr *w,
		       struct store_io *io)
{
	char *b = buf_ptr(st, &st->shards[shard], w->buf);
	uint32_t len = (uint32_t)store_round(STORE_HDR_BYTES + w->fill);

	if (b) {
		struct store_hdr *h = (struct store_hdr *)b;

		*h = (struct store_hdr){
			.type = w->entry == 0 ? STORE_T_META : STORE_T_CHUNK,
			.meta_len = w->entry == 0 ? (uint16_t)w->meta_len : 0,
			.key = w->key, .pos = w->entry_pos, .total_len = w->ent.total_len,
			.seq = w->seq, .chunk = w->entry ? w->entry - 1 : 0,
			.payload_len = w->fill,
		};
		memset(b + STORE_HDR_BYTES + w->fill, 0, len - STORE_HDR_BYTES - w->fill);
		store_hdr_seal(h, b + STORE_HDR_BYTES);
	}
	wr_io(st, w, shard, STORE_IO_WRITE, w->entry_pos, len, w->buf, io);
	w->inflight++;
	w->entry_pos += len;
	w->entry++;
	w->fill = 0;
	w->buf = -1;
}

static void wr_finish(struct store *st, struct store_shard *sh, struct store_wr *w);

static bool frozen(const struct store *st)
{
	return __atomic_load_n(&st->frozen, __ATOMIC_ACQUIRE);
}

void store_freeze(struct store *st, bool on)
{
	assert(st->magic == STORE_MAGIC);
	__atomic_store_n(&st->frozen, on, __ATOMIC_RELEASE);
}

unsigned store_writes_busy(const struct store *st)
{
	unsigned n = 0;

	assert(st->magic == STORE_MAGIC);
	for (unsigned i = 0; i < st->n_shards; i++)
		for (unsigned w = 0; w < LIMIT_STORE_WRITES; w++)
			n += __atomic_load_n(&st->shards[i].w[w].busy, __ATOMIC_ACQUIRE);
	return n;
}

static int begin_checks(struct store *st, unsigned shard, const struct store_obj *o)
{
	if (frozen(st))
		return -EROFS;
	if (o->meta_len > store_meta_max())
		return -EINVAL;
	if (o->body_len > store_max_object(st))
		return -EFBIG;
	if (st->shards[shard].n_free == 0)
		return -ENOBUFS;
	return 0;
}

static struct store_wr *wr_new(struct store_shard *sh)
{
	for (unsigned i = 0; i < LIMIT_STORE_WRITES; i++) {
		struct store_wr *w = &sh->w[(sh->w_next + i) % LIMIT_STORE_WRITES];

		if (!w->busy) {
			sh->w_next = (uint32_t)(w - sh->w + 1);
			return w;
		}
	}
	return NULL;
}

int store_write_begin(struct store *st, unsigned shard, struct cindex_key key,
		      const struct store_obj *o, uint32_t *wid,
		      struct store_io *io, unsigned io_cap)
{
	struct store_shard *sh = &st->shards[shard];
	int stripe = stripe_of(st, shard, key), rc, n;
	bool small = is_small(st, o->meta_len, o->body_len);
	struct store_wr *w;
	uint64_t meta_blocks;

	assert(st->magic == STORE_MAGIC && shard < st->n_shards && io_cap >= 2);
	rc = stripe < 0 ? stripe : begin_checks(st, shard, o);
	w = rc ? NULL : wr_new(sh);
	if (!w) {
		ctr_add(&sh->ctr[rc == -EROFS ? STORE_CTR_writes_frozen : STORE_CTR_writes_refused], 1);
		return rc ? rc : -EBUSY;
	}
	meta_blocks = store_round(STORE_HDR_BYTES + STORE_OBJREC_BYTES + o->meta_len +
				  (small ? o->body_len : 0)) / STORE_BLOCK;
	*w = (struct store_wr){ .busy = true, .gen = w->gen + 1, .key = key,
		.stripe = (uint32_t)stripe, .meta_len = o->meta_len, .seq = ++sh->seq,
		.n_entries = small ? 1 : 1 + (uint32_t)chunk_count(st, o->body_len),
		.ent = { .key = key, .total_len = o->body_len, .expires = o->expires,
			 .meta_blocks = (uint16_t)meta_blocks,
			 .flags = small ? 0 : CINDEX_F_CHUNKED },
		.buf = buf_get(sh) };
	w->gen &= 0x7fffff;
	*wid = w->gen * LIMIT_STORE_WRITES + (uint32_t)(w - sh->w);
	n = reserve(st, sh, w, store_object_bytes(st, meta_blocks, o->body_len, !small), io);
	if (n < 0) {
		buf_put(sh, w->buf);
		w->busy = false;
		ctr_add(&sh->ctr[STORE_CTR_writes_refused], 1);
		return n;
	}
	w->ent.loc = CINDEX_LOC(stripe, w->entry_pos / STORE_BLOCK);
	put_meta(w, buf_ptr(st, sh, w->buf) ? buf_ptr(st, sh, w->buf) + STORE_HDR_BYTES : NULL, o);
	w->fill = STORE_OBJREC_BYTES + o->meta_len;
	stripe_safe_update(st, sh, w->stripe);
	if (!small || o->body_len == 0)
		seal_entry(st, shard, w, &io[n++]);
	return n;
}

/* Room left in the entry being filled, and the body bytes it may take. */
static uint64_t entry_room(const struct store *st, const struct store_wr *w)
{
	uint64_t left = w->ent.total_len - w->body_done;

	if (w->entry == 0)                  /* small object: one entry */
		return left;
	return st->chunk_bytes - w->fill < left ? st->chunk_bytes - w->fill : left;
}

int store_write_append(struct store *st, unsigned shard, uint32_t wid,
		       const void *data, size_t len, size_t *used,
		       struct store_io *io, unsigned io_cap)
{
	assert(st->magic == STORE_MAGIC);
	struct store_shard *sh = &st->shards[shard];
	struct store_wr *w = wr_get(sh, wid);
	const char *p = data;
	unsigned n = 0;

	*used = 0;
	if (!w || w->failed)
		return -ENOENT;
	if (frozen(st)) {
		/* What it wrote so far is never committed; the slot is free
		 * once its ios in flight are done. */
		w->failed = true;
		ctr_add(&sh->ctr[STORE_CTR_writes_frozen], 1);
		if (!w->inflight)
			wr_finish(st, sh, w);
		return -ENOENT;
	}
	if (len > w->ent.total_len - w->body_done)
		return -EINVAL;
	while (*used < len && n < io_cap) {
		uint64_t take;
		char *b;

		if (w->buf < 0 && (w->buf = buf_get(sh)) < 0) {
			ctr_add(&sh->ctr[STORE_CTR_nobufs], 1);
			break;
		}
		take = entry_room(st, w);
		take = take < len - *used ? take : len - *used;
		b = buf_ptr(st, sh, w->buf);
		if (b && p)
			memcpy(b + STORE_HDR_BYTES + w->fill, p + *used, take);
		*used += take;
		w->fill += (uint32_t)take;
		w->body_done += take;
		if (w->body_done == w->ent.total_len ||
		    (w->entry > 0 && w->fill == st->chunk_bytes))
			seal_entry(st, shard, w, &io[n++]);
	}
	return (int)n;
}

static void wr_finish(struct store *st, struct store_shard *sh, struct store_wr *w)
{
	buf_put(sh, w->buf);
	w->buf = -1;
	w->busy = false;
	stripe_safe_update(st, sh, w->stripe);
}

int store_write_done(struct store *st, const struct store_io *io, int res)
{
	assert(st->magic == STORE_MAGIC);
	struct store_shard *sh = &st->shards[io->shard];
	struct store_wr *w = &sh->w[io->wslot];

	assert(w->busy && w->gen == io->wgen && w->inflight > 0);
	if (io->kind == STORE_IO_PAD)
		st->stripes[io->stripe].pad_busy = false;
	else
		buf_put(sh, io->buf_id);
	w->inflight--;
	if (res != (int)io->len && !w->failed) {
		w->failed = true;
		ctr_add(&sh->ctr[STORE_CTR_writes_failed], 1);
	}
	if (w->inflight || (!w->failed && w->entry < w->n_entries))
		return w->failed ? -EIO : 0;
	if (!w->failed) {
		store_index_put(st, sh->ctr, &w->ent);
		ctr_add(&sh->ctr[STORE_CTR_writes_committed], 1);
	}
	wr_finish(st, sh, w);
	return w->failed ? -EIO : 1;
}

void store_write_abort(struct store *st, unsigned shard, uint32_t wid)
{
	assert(st->magic == STORE_MAGIC);
	struct store_shard *sh = &st->shards[shard];
	struct store_wr *w = wr_get(sh, wid);

	if (!w || w->failed)
		return;
	w->failed = true;
	ctr_add(&sh->ctr[STORE_CTR_writes_aborted], 1);
	if (!w->inflight)
		wr_finish(st, sh, w);
}

/* ---- lookups and reads ------------------------------------------------------ */

int store_lookup(struct store *st, unsigned shard, struct cindex_key key,
		 struct cindex_entry *hit)
{
	assert(st->magic == STORE_MAGIC);
	uint64_t *ctr = st->shards[shard].ctr;

	ctr_add(&ctr[STORE_CTR_lookups], 1);
	if (cindex_get(&st->ix, key, true, hit) != 0)
		return -ENOENT;
	if (store_is_stale(st, hit)) {
		cindex_del(&st->ix, key, hit->loc);
		ctr_add(&ctr[STORE_CTR_stale], 1);
		return -ENOENT;
	}
	ctr_add(&ctr[STORE_CTR_hits], 1);
	return 0;
}

static int rd_io(struct store *st, unsigned shard, const struct cindex_entry *hit,
		 uint8_t type, uint32_t chunk, uint64_t pos, uint64_t len,
		 struct store_io *io)
{
	struct store_shard *sh = &st->shards[shard];
	const struct store_stripe *s = &st->stripes[CINDEX_LOC_STRIPE(hit->loc)];
	int32_t b = buf_get(sh);

	if (b < 0) {
		ctr_add(&sh->ctr[STORE_CTR_nobufs], 1);
		return -ENOBUFS;
	}
	*io = (struct store_io){ .fd = s->fd, .len = (uint32_t)len,
		.off = s->base + pos % s->bytes, .buf = buf_ptr(st, sh, b),
		.kind = STORE_IO_READ, .type = type, .shard = (uint16_t)shard,
		.buf_id = b, .stripe = s->id, .chunk = chunk, .pos = pos, .key = hit->key };
	return 0;
}

int store_read_plan(struct store *st, unsigned shard, const struct cindex_entry *hit,
		    bool meta, uint64_t off, uint64_t len, struct store_io *io,
		    unsigned io_cap)
{
	uint64_t pos = CINDEX_LOC_BLOCKS(hit->loc) * STORE_BLOCK, mb = hit->meta_blocks;
	unsigned n = 0;
	int rc;

	assert(st->magic == STORE_MAGIC && shard < st->n_shards);
	if (off > hit->total_len || len > hit->total_len - off)
		return -EINVAL;
	if (!(hit->flags & CINDEX_F_CHUNKED) || meta) {
		if (!io_cap)
			return 0;
		rc = rd_io(st, shard, hit, STORE_T_META, 0, pos, mb * STORE_BLOCK, &io[n]);
		if (rc)
			return rc;
		n++;
	}
	if (!(hit->flags & CINDEX_F_CHUNKED))
		return (int)n;
	for (uint64_t c = off / st->chunk_bytes; len && c * st->chunk_bytes < off + len &&
	     n < io_cap; c++) {
		uint64_t cpos = pos + mb * STORE_BLOCK + c * st->cblocks * STORE_BLOCK;

		rc = rd_io(st, shard, hit, STORE_T_CHUNK, (uint32_t)c, cpos,
			   store_chunk_entry_bytes(st, hit->total_len, c), &io[n]);
		if (rc)
			return n ? (int)n : rc;
		n++;
	}
	return (int)n;
}

/* Header of a read entry: the one we asked for, whole, checksummed. */
static bool read_ok(const struct store_io *io, const struct store_hdr *h)
{
	return store_hdr_ok(h) && h->pos == io->pos && h->type == io->type &&
	       h->key.lo == io->key.lo && h->key.hi == io->key.hi &&
	       (io->type != STORE_T_CHUNK || h->chunk == io->chunk) &&
	       h->payload_len <= io->len - STORE_HDR_BYTES &&
	       (h->type != STORE_T_META || h->meta_len + STORE_OBJREC_BYTES <= h->payload_len) &&
	       XXH3_64bits((const char *)h + STORE_HDR_BYTES, h->payload_len) == h->payload_csum;
}

int store_read_verify(struct store *st, const struct store_io *io, int res,
		      struct store_view *v)
{
	assert(st->magic == STORE_MAGIC);
	uint64_t *ctr = st->shards[io->shard].ctr;
	const struct store_hdr *h = io->buf;
	const char *p = (const char *)io->buf + STORE_HDR_BYTES;
	struct store_objrec r;

	if (res != (int)io->len) {
		ctr_add(&ctr[STORE_CTR_reads_failed], 1);
		return -EIO;
	}
	if (!read_ok(io, h)) {
		ctr_add(&ctr[STORE_CTR_reads_bad], 1);
		return -EBADMSG;
	}
	*v = (struct store_view){ .total_len = h->total_len };
	if (h->type == STORE_T_CHUNK) {
		v->body = p;
		v->body_len = h->payload_len;
		v->body_off = (uint64_t)h->chunk * st->chunk_bytes;
		return 0;
	}
	memcpy(&r, p, sizeof(r));
	v->expires = r.expires;
	v->meta = p + STORE_OBJREC_BYTES;
	v->meta_len = h->meta_len;
	v->body = p + STORE_OBJREC_BYTES + h->meta_len;
	v->body_len = h->payload_len - STORE_OBJREC_BYTES - h->meta_len;
	return 0;
}

void store_io_release(struct store *st, const struct store_io *io)
{
	assert(st->magic == STORE_MAGIC);
	buf_put(&st->shards[io->shard], io->buf_id);
}

/* ---- purge ------------------------------------------------------------------ */

static int drop_key(struct store *st, struct cindex_key key, enum store_ctr ctr)
{
	assert(st->magic == STORE_MAGIC);
	int rc = cindex_del(&st->ix, key, CINDEX_LOC_ANY);

	if (rc == 0)
		__atomic_fetch_add(&st->ctl_ctr[ctr], 1, __ATOMIC_RELAXED);
	return rc;
}

int store_delete(struct store *st, struct cindex_key key)
{
	return drop_key(st, key, STORE_CTR_deleted);
}

int store_purge(struct store *st, struct cindex_key key)
{
	return drop_key(st, key, STORE_CTR_purged);
}

long store_purge_prefix(struct store *st, const char *prefix, size_t len)
{
	assert(st->magic == STORE_MAGIC);
	long n = cindex_purge_prefix(&st->ix, prefix, len);

	if (n > 0)
		__atomic_fetch_add(&st->ctl_ctr[STORE_CTR_purged], (uint64_t)n, __ATOMIC_RELAXED);
	return n;
}

/* ---- the synchronous executor ----------------------------------------------- */

void store_fault(struct store *st, uint64_t nth, int err)
{
	st->fault_nth = nth;
	st->fault_err = err;
}

static int exec_one(const struct store_io *io)
{
	size_t done = 0;

	if (io->fd < 0)
		return (int)io->len;            /* sim mode: no disk */
	while (done < io->len) {
		ssize_t r = io->kind == STORE_IO_READ ?
			pread(io->fd, (char *)io->buf + done, io->len - done, (off_t)(io->off + done)) :
			pwrite(io->fd, (const char *)io->buf + done, io->len - done,
			       (off_t)(io->off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (int)done;
}

void store_exec(struct store *st, const struct store_io *io, unsigned n, int *res)
{
	assert(st->magic == STORE_MAGIC);
	for (unsigned i = 0; i < n; i++) {
		if (st->fault_nth && --st->fault_nth == 0) {
			res[i] = -st->fault_err;
			continue;
		}
		res[i] = exec_one(&io[i]);
	}
}
