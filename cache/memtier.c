/*
 * cache/memtier.c — the per-shard RAM tier: buddy arena, hash table,
 * S3-FIFO admission and eviction, references (contract in
 * cache/memtier.h, design in docs/cache-memtier.md).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cache/memtier.h"

#if defined(__SANITIZE_ADDRESS__)
#define MT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MT_ASAN 1
#endif
#endif
#ifdef MT_ASAN
/* Freed blocks are poisoned and an entry's block is addressable only up
 * to its length, so a test that reads an evicted entry, or writes past
 * what it reserved, fails under ASan even though the arena is one mmap. */
#include <sanitizer/asan_interface.h>
#define MT_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
/* Poisoning writes 1/8 of the range in shadow: whole arenas only up to
 * this (a test at LIMIT_CACHE_MEMORY_MAX maps 1 TiB and touches none). */
#define MT_ASAN_ARENA_MAX (4ull << 30)
#define MT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define MT_POISON(p, n)   ((void)(p), (void)(n))
#define MT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MT_NIL UINT32_MAX
#define MT_MIN_SHIFT 10u                    /* log2(LIMIT_MEMTIER_MIN_BLOCK_BYTES) */
_Static_assert(1u << MT_MIN_SHIFT == LIMIT_MEMTIER_MIN_BLOCK_BYTES, "min block shift");
_Static_assert(LIMIT_MEMTIER_FREQ_MAX <= 3, "frequency is 2 bits (S3-FIFO)");

/* bstate at a block's first min block; 0 = not the start of a block. */
#define MT_B_ORDER 0x1fu
#define MT_B_FREE  0x20u
#define MT_B_USED  0x40u

enum mt_state { MT_S_FREE, MT_S_FILLING, MT_S_SMALL, MT_S_MAIN, MT_S_ZOMBIE };

/* 64 bytes: one per possible block, so the table can never run out. */
struct memtier_obj {
	struct cindex_key key;
	uint64_t loc;
	uint32_t chunk;
	uint32_t meta_len, body_len;
	uint32_t block;                     /* first min block in the arena */
	uint32_t hnext;                     /* next in chain / free list: record + 1 */
	uint32_t qprev, qnext;              /* small / main FIFO (prev = newer) */
	int32_t refs;                       /* handles out (sends in flight) */
	uint8_t order;                      /* block = min block << order */
	uint8_t freq;                       /* hits since judged, ≤ FREQ_MAX */
	uint8_t state;                      /* enum mt_state */
	uint8_t to_main;                    /* admitted on a ghost hit */
};
_Static_assert(sizeof(struct memtier_obj) == 64, "one cache line per record");

/* A key evicted from small: fingerprint and the ghost clock then. */
struct mt_ghost {
	uint32_t fp;                        /* 0 = empty */
	uint32_t when;                      /* ghost_clock (min blocks), mod 2^32 */
};
#define MT_GHOST_WAYS 4u

const char *const memtier_ctr_names[MEMTIER_CTR__COUNT] = {
#define MT_CTR_NAME(name, doc) #name,
	MEMTIER_COUNTERS(MT_CTR_NAME)
#undef MT_CTR_NAME
};
const char *const memtier_ctr_docs[MEMTIER_CTR__COUNT] = {
#define MT_CTR_DOC(name, doc) doc,
	MEMTIER_COUNTERS(MT_CTR_DOC)
#undef MT_CTR_DOC
};

/* ---- small helpers -------------------------------------------------------- */

/* One writer (the shard); a relaxed store lets the control thread read a
 * whole value without making the increment an atomic RMW. */
static inline void ctr_add(struct memtier *mt, enum memtier_ctr c, int64_t n)
{
	__atomic_store_n(&mt->ctr[c], mt->ctr[c] + (uint64_t)n, __ATOMIC_RELAXED);
}

uint64_t memtier_counter(const struct memtier *mt, enum memtier_ctr c)
{
	return __atomic_load_n(&mt->ctr[c], __ATOMIC_RELAXED);
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The entry's identity without loc: a rewritten object replaces its copy
 * and a re-fetched one-hit wonder is still recognised by the ghost. */
static inline uint64_t hash_of(struct cindex_key key, uint32_t chunk)
{
	return mix64(key.lo ^ mix64(key.hi + chunk));
}

static inline uint64_t block_bytes(uint8_t order)
{
	return (uint64_t)LIMIT_MEMTIER_MIN_BLOCK_BYTES << order;
}

static inline uint32_t rec_index(const struct memtier *mt, const struct memtier_obj *o)
{
	return (uint32_t)(o - mt->obj);
}

static inline char *block_ptr(const struct memtier *mt, uint32_t block)
{
	return mt->arena + ((uint64_t)block << MT_MIN_SHIFT);
}

/* Smallest order whose block holds len bytes. */
static uint8_t order_for(uint64_t len)
{
	uint8_t o = 0;

	while (block_bytes(o) < len)
		o++;
	return o;
}

static void assert_live(const struct memtier *mt)
{
	assert(mt && mt->magic == MEMTIER_MAGIC);
	(void)mt;
}

static void *map_bytes(uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap_bytes(void *p, uint64_t bytes)
{
	if (p)
		munmap(p, bytes);
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* ---- buddy allocator ------------------------------------------------------ */

static void free_push(struct memtier *mt, uint32_t b, uint8_t order)
{
	uint32_t h = mt->free_head[order];

	mt->bstate[b] = MT_B_FREE | order;
	mt->bprev[b] = MT_NIL;
	mt->bnext[b] = h;
	if (h != MT_NIL)
		mt->bprev[h] = b;
	mt->free_head[order] = b;
}

static void free_remove(struct memtier *mt, uint32_t b, uint8_t order)
{
	uint32_t p = mt->bprev[b], n = mt->bnext[b];

	if (p != MT_NIL)
		mt->bnext[p] = n;
	else
		mt->free_head[order] = n;
	if (n != MT_NIL)
		mt->bprev[n] = p;
	mt->bstate[b] = 0;
}

/* A free block of `order`, split from the smallest free block that holds
 * it, else from a largest block never used yet (so the side tables of an
 * arena are touched only as far as it has been used); or MT_NIL. */
static uint32_t buddy_alloc(struct memtier *mt, uint8_t order)
{
	uint8_t o = order;
	uint32_t b;

	while (o <= mt->max_order && mt->free_head[o] == MT_NIL)
		o++;
	if (o <= mt->max_order) {
		b = mt->free_head[o];
		free_remove(mt, b, o);
	} else if (mt->top_bump < mt->n_blocks) {
		b = mt->top_bump;
		mt->top_bump += 1u << mt->max_order;
		o = mt->max_order;
	} else {
		return MT_NIL;
	}
	while (o > order) {
		o--;
		free_push(mt, b + (1u << o), o);
	}
	mt->bstate[b] = MT_B_USED | order;
	return b;
}

/* Free a block and merge it with its free buddies, as far as they go. */
static void buddy_free(struct memtier *mt, uint32_t b, uint8_t order)
{
	assert(mt->bstate[b] == (MT_B_USED | order));
	mt->bstate[b] = 0;
	while (order < mt->max_order) {
		uint32_t bd = b ^ (1u << order);

		if (mt->bstate[bd] != (MT_B_FREE | order))
			break;
		free_remove(mt, bd, order);
		b = b < bd ? b : bd;
		order++;
	}
	free_push(mt, b, order);
}

/* ---- records and the hash table ------------------------------------------ */

static struct memtier_obj *rec_alloc(struct memtier *mt)
{
	uint32_t i = mt->obj_free;

	if (i != 0)
		mt->obj_free = mt->obj[--i].hnext;
	else
		i = mt->obj_bump++;
	assert(i < mt->n_blocks);
	return &mt->obj[i];
}

static void rec_free(struct memtier *mt, struct memtier_obj *o)
{
	o->state = MT_S_FREE;
	o->hnext = mt->obj_free;
	mt->obj_free = rec_index(mt, o) + 1;
}

static uint32_t *chain_of(struct memtier *mt, struct cindex_key key, uint32_t chunk)
{
	return &mt->heads[hash_of(key, chunk) & mt->heads_mask];
}

static struct memtier_obj *table_find(struct memtier *mt, struct cindex_key key,
				      uint32_t chunk)
{
	for (uint32_t i = *chain_of(mt, key, chunk); i != 0; i = mt->obj[i - 1].hnext) {
		struct memtier_obj *o = &mt->obj[i - 1];

		if (o->key.lo == key.lo && o->key.hi == key.hi && o->chunk == chunk)
			return o;
	}
	return NULL;
}

static void table_link(struct memtier *mt, struct memtier_obj *o)
{
	uint32_t *h = chain_of(mt, o->key, o->chunk);

	o->hnext = *h;
	*h = rec_index(mt, o) + 1;
}

static void table_unlink(struct memtier *mt, struct memtier_obj *o)
{
	uint32_t *p = chain_of(mt, o->key, o->chunk), i = rec_index(mt, o) + 1;

	while (*p != i) {
		assert(*p != 0);
		p = &mt->obj[*p - 1].hnext;
	}
	*p = o->hnext;
}

/* ---- FIFOs ---------------------------------------------------------------- */

static struct memtier_fifo *fifo_of(struct memtier *mt, const struct memtier_obj *o)
{
	return o->state == MT_S_SMALL ? &mt->small : &mt->main;
}

static void fifo_push(struct memtier *mt, struct memtier_obj *o, enum mt_state q)
{
	struct memtier_fifo *f;
	uint32_t i = rec_index(mt, o);

	o->state = (uint8_t)q;
	f = fifo_of(mt, o);
	o->qprev = MT_NIL;
	o->qnext = f->head;
	if (f->head != MT_NIL)
		mt->obj[f->head].qprev = i;
	else
		f->tail = i;
	f->head = i;
	f->bytes += block_bytes(o->order);
	ctr_add(mt, q == MT_S_SMALL ? MEMTIER_CTR_bytes_small : MEMTIER_CTR_bytes_main,
		(int64_t)block_bytes(o->order));
}

static void fifo_remove(struct memtier *mt, struct memtier_obj *o)
{
	struct memtier_fifo *f = fifo_of(mt, o);

	if (o->qprev != MT_NIL)
		mt->obj[o->qprev].qnext = o->qnext;
	else
		f->head = o->qnext;
	if (o->qnext != MT_NIL)
		mt->obj[o->qnext].qprev = o->qprev;
	else
		f->tail = o->qprev;
	f->bytes -= block_bytes(o->order);
	ctr_add(mt, o->state == MT_S_SMALL ? MEMTIER_CTR_bytes_small : MEMTIER_CTR_bytes_main,
		-(int64_t)block_bytes(o->order));
}

/* ---- ghost FIFO: fingerprints with their eviction time ------------------- */

/* Main's share of the budget, in min blocks: how far back the ghost
 * remembers (S3-FIFO: as many entries as main holds). */
static uint32_t ghost_window(const struct memtier *mt)
{
	return (uint32_t)((mt->budget - mt->small_target) >> MT_MIN_SHIFT);
}

static bool ghost_live(const struct memtier *mt, const struct mt_ghost *g)
{
	return g->fp && (uint32_t)((uint32_t)mt->ghost_clock - g->when) <= ghost_window(mt);
}

static struct mt_ghost *ghost_bucket(struct memtier *mt, uint64_t h)
{
	return &mt->ghost[(h >> 32) & mt->ghost_mask & ~(uint64_t)(MT_GHOST_WAYS - 1)];
}

static uint32_t ghost_fp(uint64_t h)
{
	return (uint32_t)h | 1u;
}

/* Remember h, in a free way or over the bucket's oldest. */
static void ghost_put(struct memtier *mt, uint64_t h, uint8_t order)
{
	struct mt_ghost *b = ghost_bucket(mt, h), *v = &b[0];

	mt->ghost_clock += 1u << order;
	for (unsigned w = 0; w < MT_GHOST_WAYS; w++) {
		if (!ghost_live(mt, &b[w])) {
			v = &b[w];
			break;
		}
		if ((uint32_t)(mt->ghost_clock - b[w].when) >
		    (uint32_t)(mt->ghost_clock - v->when))
			v = &b[w];
	}
	v->fp = ghost_fp(h);
	v->when = (uint32_t)mt->ghost_clock;
}

/* Was h evicted from small recently? Forgets it if so. */
static bool ghost_take(struct memtier *mt, uint64_t h)
{
	struct mt_ghost *b = ghost_bucket(mt, h);

	for (unsigned w = 0; w < MT_GHOST_WAYS; w++) {
		if (b[w].fp == ghost_fp(h) && ghost_live(mt, &b[w])) {
			b[w].fp = 0;
			return true;
		}
	}
	return false;
}

/* ---- entries: release, drop ---------------------------------------------- */

static void entry_release(struct memtier *mt, struct memtier_obj *o)
{
	MT_POISON(block_ptr(mt, o->block), block_bytes(o->order));
	buddy_free(mt, o->block, o->order);
	rec_free(mt, o);
}

/* Out of the table and its FIFO: freed now, or at the last unref. */
static void entry_drop(struct memtier *mt, struct memtier_obj *o)
{
	uint64_t bb = block_bytes(o->order);

	assert(o->state == MT_S_SMALL || o->state == MT_S_MAIN || o->state == MT_S_FILLING);
	table_unlink(mt, o);
	if (o->state != MT_S_FILLING)
		fifo_remove(mt, o);
	ctr_add(mt, MEMTIER_CTR_objects, -1);
	ctr_add(mt, MEMTIER_CTR_bytes_used, -(int64_t)bb);
	ctr_add(mt, MEMTIER_CTR_bytes_payload, -(int64_t)(o->meta_len + o->body_len));
	if (o->refs > 0) {
		o->state = MT_S_ZOMBIE;
		ctr_add(mt, MEMTIER_CTR_bytes_pinned, (int64_t)bb);
		return;
	}
	entry_release(mt, o);
}

static void entry_evict(struct memtier *mt, struct memtier_obj *o)
{
	ctr_add(mt, MEMTIER_CTR_evicted, 1);
	if (o->refs > 0)
		ctr_add(mt, MEMTIER_CTR_evicted_pinned, 1);
	entry_drop(mt, o);
}

/* ---- S3-FIFO eviction ----------------------------------------------------- */

/* Small's oldest: hit while there → main (bits cleared); else evicted
 * and remembered by the ghost. false when small is empty. */
static bool evict_small(struct memtier *mt)
{
	while (mt->small.tail != MT_NIL) {
		struct memtier_obj *t = &mt->obj[mt->small.tail];

		if (t->freq > 0) {
			fifo_remove(mt, t);
			t->freq = 0;
			fifo_push(mt, t, MT_S_MAIN);
			ctr_add(mt, MEMTIER_CTR_promoted, 1);
			continue;
		}
		ghost_put(mt, hash_of(t->key, t->chunk), t->order);
		ctr_add(mt, MEMTIER_CTR_evicted_small, 1);
		entry_evict(mt, t);
		return true;
	}
	return false;
}

/* Main's oldest: hit since judged → re-inserted with freq - 1; else
 * evicted. Ends within FREQ_MAX laps. false when main is empty. */
static bool evict_main(struct memtier *mt)
{
	while (mt->main.tail != MT_NIL) {
		struct memtier_obj *t = &mt->obj[mt->main.tail];

		if (t->freq == 0) {
			entry_evict(mt, t);
			return true;
		}
		fifo_remove(mt, t);
		t->freq--;
		fifo_push(mt, t, MT_S_MAIN);
		ctr_add(mt, MEMTIER_CTR_reinserted, 1);
	}
	return false;
}

static bool evict_one(struct memtier *mt)
{
	if ((mt->small.bytes >= mt->small_target || mt->main.tail == MT_NIL) &&
	    evict_small(mt))
		return true;
	return evict_main(mt);
}

/* A block of `order` within the budget, evicting until there is one
 * (beyond the budget, fragmentation and pinned blocks may need more).
 * MT_NIL when nothing is left to evict. */
static uint32_t make_room(struct memtier *mt, uint8_t order)
{
	uint64_t need = block_bytes(order);

	for (;;) {
		if (mt->ctr[MEMTIER_CTR_bytes_used] + need <= mt->budget) {
			uint32_t b = buddy_alloc(mt, order);

			if (b != MT_NIL)
				return b;
		}
		if (!evict_one(mt))
			return MT_NIL;
	}
}

/* ---- set-up --------------------------------------------------------------- */

/* Largest blocks in the arena: the budget plus the slack, and at least
 * one largest block more than the budget needs. */
static uint64_t arena_tops(uint64_t budget, uint32_t chunk_bytes)
{
	uint64_t tops = (budget + budget * LIMIT_MEMTIER_SLACK_PCT / 100 + chunk_bytes - 1) /
			chunk_bytes;
	uint64_t floor_tops = (budget + chunk_bytes - 1) / chunk_bytes + 1;

	return tops > floor_tops ? tops : floor_tops;
}

static uint64_t heads_bytes(const struct memtier *mt)
{
	return ((uint64_t)mt->heads_mask + 1) * sizeof(uint32_t);
}

static uint64_t ghost_bytes(const struct memtier *mt)
{
	return ((uint64_t)mt->ghost_mask + 1) * sizeof(struct mt_ghost);
}

uint64_t memtier_overhead_bytes(const struct memtier *mt)
{
	if (!mt->arena)
		return 0;
	return (uint64_t)mt->n_blocks * (sizeof(struct memtier_obj) + 1 + 2 * sizeof(uint32_t)) +
	       heads_bytes(mt) + ghost_bytes(mt);
}

/* Map the arena and the side tables (all lazily committed). */
static int tables_map(struct memtier *mt)
{
	uint64_t n = mt->n_blocks;

	mt->heads_mask = (uint32_t)(pow2_at_least(n / 4 > 16 ? n / 4 : 16) - 1);
	mt->ghost_mask = (uint32_t)(pow2_at_least(n / 2 > 64 ? n / 2 : 64) - 1);
	mt->arena = map_bytes(mt->arena_bytes);
	mt->obj = map_bytes(n * sizeof(struct memtier_obj));
	mt->heads = map_bytes(heads_bytes(mt));
	mt->bstate = map_bytes(n);
	mt->bnext = map_bytes(n * sizeof(uint32_t));
	mt->bprev = map_bytes(n * sizeof(uint32_t));
	mt->ghost = map_bytes(ghost_bytes(mt));
	if (!mt->arena || !mt->obj || !mt->heads || !mt->bstate || !mt->bnext || !mt->bprev ||
	    !mt->ghost)
		return -ENOMEM;
	return 0;
}

int memtier_init(struct memtier *mt, uint64_t budget_bytes, uint32_t chunk_bytes)
{
	int rc;

	memset(mt, 0, sizeof(*mt));
	if (chunk_bytes < LIMIT_CACHE_CHUNK_MIN || chunk_bytes > LIMIT_CACHE_CHUNK_MAX ||
	    (chunk_bytes & (chunk_bytes - 1)) || budget_bytes > LIMIT_CACHE_MEMORY_MAX)
		return -EINVAL;
	mt->magic = MEMTIER_MAGIC;
	mt->chunk_bytes = chunk_bytes;
	mt->max_order = order_for(chunk_bytes);
	mt->small.head = mt->small.tail = mt->main.head = mt->main.tail = MT_NIL;
	for (unsigned o = 0; o < sizeof(mt->free_head) / sizeof(mt->free_head[0]); o++)
		mt->free_head[o] = MT_NIL;
	if (budget_bytes == 0)
		return 0;                       /* off: no arena */
	mt->budget = budget_bytes;
	mt->small_target = budget_bytes * LIMIT_MEMTIER_SMALL_PCT / 100;
	if (arena_tops(budget_bytes, chunk_bytes) << mt->max_order >= MT_NIL)
		return -EINVAL;                 /* records are named by 32 bits */
	mt->n_blocks = (uint32_t)(arena_tops(budget_bytes, chunk_bytes) << mt->max_order);
	mt->arena_bytes = (uint64_t)mt->n_blocks << MT_MIN_SHIFT;
	rc = tables_map(mt);
	if (rc) {
		memtier_free(mt);
		return rc;
	}
#ifdef MT_ASAN
	if (mt->arena_bytes <= MT_ASAN_ARENA_MAX)
		MT_POISON(mt->arena, mt->arena_bytes);
#endif
	return 0;
}

void memtier_free(struct memtier *mt)
{
	uint64_t n = mt->n_blocks;

#ifdef MT_ASAN
	if (mt->arena && mt->arena_bytes <= MT_ASAN_ARENA_MAX)
		MT_UNPOISON(mt->arena, mt->arena_bytes);
#endif
	unmap_bytes(mt->arena, mt->arena_bytes);
	unmap_bytes(mt->obj, n * sizeof(struct memtier_obj));
	unmap_bytes(mt->heads, heads_bytes(mt));
	unmap_bytes(mt->bstate, n);
	unmap_bytes(mt->bnext, n * sizeof(uint32_t));
	unmap_bytes(mt->bprev, n * sizeof(uint32_t));
	unmap_bytes(mt->ghost, ghost_bytes(mt));
	memset(mt, 0, sizeof(*mt));
}

/* ---- lookups and references ----------------------------------------------- */

int memtier_get(struct memtier *mt, struct cindex_key key, uint64_t loc, uint32_t chunk,
		struct memtier_obj **obj)
{
	struct memtier_obj *o;

	assert_live(mt);
	o = mt->arena ? table_find(mt, key, chunk) : NULL;
	if (o && o->state != MT_S_FILLING && o->loc != loc)
		ctr_add(mt, MEMTIER_CTR_stale, 1);
	if (!o || o->state == MT_S_FILLING || o->loc != loc) {
		ctr_add(mt, MEMTIER_CTR_misses, 1);
		return 0;
	}
	if (o->freq < LIMIT_MEMTIER_FREQ_MAX)
		o->freq++;
	o->refs++;
	ctr_add(mt, MEMTIER_CTR_hits, 1);
	*obj = o;
	return 1;
}

void memtier_ref(struct memtier *mt, struct memtier_obj *obj)
{
	assert_live(mt);
	assert(obj->refs > 0 && obj->state != MT_S_FREE);
	obj->refs++;
}

void memtier_unref(struct memtier *mt, struct memtier_obj *obj)
{
	assert_live(mt);
	assert(obj->refs > 0);
	if (--obj->refs > 0 || obj->state != MT_S_ZOMBIE)
		return;
	ctr_add(mt, MEMTIER_CTR_bytes_pinned, -(int64_t)block_bytes(obj->order));
	entry_release(mt, obj);
}

const void *memtier_meta(const struct memtier *mt, const struct memtier_obj *obj,
			 uint32_t *len)
{
	*len = obj->meta_len;
	return block_ptr(mt, obj->block);
}

const void *memtier_body(const struct memtier *mt, const struct memtier_obj *obj,
			 uint32_t *len)
{
	*len = obj->body_len;
	return block_ptr(mt, obj->block) + obj->meta_len;
}

bool memtier_fits_whole(const struct memtier *mt, uint32_t meta_len, uint64_t body_len)
{
	return (uint64_t)meta_len + body_len <= mt->chunk_bytes;
}

/* ---- admission ------------------------------------------------------------ */

/* May (key, loc, chunk) be admitted? Drops a copy of another loc. */
static bool admit_allowed(struct memtier *mt, struct cindex_key key, uint64_t loc,
			  uint32_t chunk, uint64_t len)
{
	struct memtier_obj *old;

	if (!mt->arena || len > mt->chunk_bytes || len > mt->budget) {
		ctr_add(mt, MEMTIER_CTR_rejected_size, 1);
		return false;
	}
	old = table_find(mt, key, chunk);
	if (old && (old->loc == loc || old->state == MT_S_FILLING)) {
		ctr_add(mt, MEMTIER_CTR_rejected_busy, 1);
		return false;
	}
	if (old) {
		ctr_add(mt, MEMTIER_CTR_replaced, 1);
		entry_drop(mt, old);
	}
	return true;
}

struct memtier_obj *memtier_admit_begin(struct memtier *mt, struct cindex_key key,
					uint64_t loc, uint32_t chunk, uint32_t meta_len,
					uint32_t body_len)
{
	uint64_t len = (uint64_t)meta_len + body_len;
	struct memtier_obj *o;
	uint8_t order;
	uint32_t b;

	assert_live(mt);
	if (!admit_allowed(mt, key, loc, chunk, len))
		return NULL;
	order = order_for(len);
	b = make_room(mt, order);
	if (b == MT_NIL) {
		ctr_add(mt, MEMTIER_CTR_rejected_nospace, 1);
		return NULL;
	}
	o = rec_alloc(mt);
	*o = (struct memtier_obj){ .key = key, .loc = loc, .chunk = chunk,
				   .meta_len = meta_len, .body_len = body_len, .block = b,
				   .qprev = MT_NIL, .qnext = MT_NIL, .order = order,
				   .state = MT_S_FILLING };
	o->to_main = ghost_take(mt, hash_of(key, chunk));
	table_link(mt, o);
	MT_UNPOISON(block_ptr(mt, b), len);
	ctr_add(mt, MEMTIER_CTR_objects, 1);
	ctr_add(mt, MEMTIER_CTR_bytes_used, (int64_t)block_bytes(order));
	ctr_add(mt, MEMTIER_CTR_bytes_payload, (int64_t)len);
	return o;
}

void *memtier_fill_ptr(struct memtier *mt, struct memtier_obj *obj)
{
	assert_live(mt);
	assert(obj->state == MT_S_FILLING);
	return block_ptr(mt, obj->block);
}

void memtier_admit_commit(struct memtier *mt, struct memtier_obj *obj)
{
	assert_live(mt);
	assert(obj->state == MT_S_FILLING);
	fifo_push(mt, obj, obj->to_main ? MT_S_MAIN : MT_S_SMALL);
	ctr_add(mt, MEMTIER_CTR_admitted, 1);
	if (obj->to_main)
		ctr_add(mt, MEMTIER_CTR_admitted_main, 1);
}

void memtier_admit_abort(struct memtier *mt, struct memtier_obj *obj)
{
	assert_live(mt);
	assert(obj->state == MT_S_FILLING && obj->refs == 0);
	ctr_add(mt, MEMTIER_CTR_aborted, 1);
	entry_drop(mt, obj);
}

/* ---- consistency check (tests) ------------------------------------------- */

struct mt_sums {
	uint64_t objects, used, payload, queued, pinned, buddy_used;
};

/* A FIFO's links both ways, its byte count, and every member findable. */
static int check_fifo(const struct memtier *mt, const struct memtier_fifo *f, uint8_t state,
		      struct mt_sums *s)
{
	uint64_t bytes = 0, n = 0;
	uint32_t prev = MT_NIL;

	for (uint32_t i = f->head; i != MT_NIL; i = mt->obj[i].qnext) {
		const struct memtier_obj *o = &mt->obj[i];

		if (o->state != state || o->qprev != prev || ++n > mt->n_blocks ||
		    o->freq > LIMIT_MEMTIER_FREQ_MAX)
			return -EUCLEAN;
		if (table_find((struct memtier *)mt, o->key, o->chunk) != o)
			return -EUCLEAN;
		bytes += block_bytes(o->order);
		prev = i;
	}
	if (prev != f->tail || bytes != f->bytes)
		return -EUCLEAN;
	s->queued += bytes;
	return 0;
}

static bool block_matches(const struct memtier *mt, const struct memtier_obj *o)
{
	return o->block < mt->n_blocks && mt->bstate[o->block] == (MT_B_USED | o->order) &&
	       (uint64_t)o->meta_len + o->body_len <= block_bytes(o->order);
}

static int check_table(const struct memtier *mt, struct mt_sums *s)
{
	for (uint64_t h = 0; h <= mt->heads_mask; h++) {
		for (uint32_t i = mt->heads[h]; i != 0; i = mt->obj[i - 1].hnext) {
			const struct memtier_obj *o = &mt->obj[i - 1];

			if ((o->state != MT_S_FILLING && o->state != MT_S_SMALL &&
			     o->state != MT_S_MAIN) || !block_matches(mt, o) ||
			    (hash_of(o->key, o->chunk) & mt->heads_mask) != h ||
			    ++s->objects > mt->n_blocks)
				return -EUCLEAN;
			s->used += block_bytes(o->order);
			s->payload += o->meta_len + o->body_len;
			if (o->state == MT_S_FILLING)
				s->queued += block_bytes(o->order);
		}
	}
	for (uint32_t i = 0; i < mt->obj_bump; i++) {
		const struct memtier_obj *o = &mt->obj[i];

		if (o->state == MT_S_ZOMBIE && (o->refs <= 0 || !block_matches(mt, o)))
			return -EUCLEAN;
		if (o->state == MT_S_ZOMBIE)
			s->pinned += block_bytes(o->order);
	}
	return 0;
}

/* Every block is free (in its list, its buddy not free at its order) or
 * used, and the blocks tile the arena. */
static int check_buddy(const struct memtier *mt, struct mt_sums *s)
{
	uint64_t listed = 0, free_blocks = 0;

	for (uint8_t o = 0; o <= mt->max_order; o++)
		for (uint32_t b = mt->free_head[o]; b != MT_NIL; b = mt->bnext[b])
			if (mt->bstate[b] != (MT_B_FREE | o) || ++listed > mt->n_blocks)
				return -EUCLEAN;
	for (uint32_t b = 0; b < mt->top_bump; ) {
		uint8_t st = mt->bstate[b], o = st & MT_B_ORDER;

		if (!(st & (MT_B_FREE | MT_B_USED)) || o > mt->max_order || (b & ((1u << o) - 1)))
			return -EUCLEAN;
		if (st & MT_B_USED)
			s->buddy_used += block_bytes(o);
		else if (o < mt->max_order && mt->bstate[b ^ (1u << o)] == st)
			return -EUCLEAN;        /* two free buddies not merged */
		else if (o < mt->max_order && mt->bstate[b ^ (1u << o)] == 0 && (b ^ (1u << o)) > b)
			return -EUCLEAN;        /* its buddy starts no block */
		else
			free_blocks++;
		b += 1u << o;
	}
	return free_blocks == listed ? 0 : -EUCLEAN;
}

int memtier_check(const struct memtier *mt)
{
	struct mt_sums s = { 0 };

	assert_live(mt);
	if (!mt->arena)
		return 0;
	if (check_fifo(mt, &mt->small, MT_S_SMALL, &s) || check_fifo(mt, &mt->main, MT_S_MAIN, &s) ||
	    check_table(mt, &s) || check_buddy(mt, &s))
		return -EUCLEAN;
	if (s.objects != mt->ctr[MEMTIER_CTR_objects] || s.used != mt->ctr[MEMTIER_CTR_bytes_used] ||
	    s.payload != mt->ctr[MEMTIER_CTR_bytes_payload] || s.queued != s.used ||
	    s.pinned != mt->ctr[MEMTIER_CTR_bytes_pinned] || s.buddy_used != s.used + s.pinned ||
	    s.used > mt->budget || mt->small.bytes != mt->ctr[MEMTIER_CTR_bytes_small] ||
	    mt->main.bytes != mt->ctr[MEMTIER_CTR_bytes_main])
		return -EUCLEAN;
	return 0;
}
