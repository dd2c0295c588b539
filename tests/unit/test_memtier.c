/*
 * tests/unit/test_memtier.c — the RAM tier: get/admit/evict, size classes
 * at the limit and one past, the budget (exceeded only by pinned entries),
 * S3-FIFO (one-hit wonders leave from small, ghost hits go to main, main
 * re-inserts by frequency), stale locs, references (evicted while
 * referenced → freed at the last unref), and randomized runs: one against
 * a plain model of S3-FIFO (same hits and misses, step by step), one with
 * mixed sizes, pins and rewrites checked against the bytes expected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/memtier.h"
#include "tests/unit/check.h"

#define KIB 1024u
#define CHUNK (64u * KIB)                   /* LIMIT_CACHE_CHUNK_MIN */

static struct cindex_key key_of(uint64_t id)
{
	return (struct cindex_key){ id * 0x9e3779b97f4a7c15ull + 1, (id + 7) * 0xbf58476d1ce4e5b9ull };
}

static uint8_t pattern(uint64_t id, uint64_t loc, uint32_t chunk, uint32_t j)
{
	uint64_t x = (id * 131 + loc * 7 + chunk) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)((x >> 40) + j * 31);
}

/* Admit (id, loc, chunk) with meta + body bytes of the pattern; 0 or -1. */
static int put(struct memtier *mt, uint64_t id, uint64_t loc, uint32_t chunk,
	       uint32_t meta_len, uint32_t body_len)
{
	struct memtier_obj *o = memtier_admit_begin(mt, key_of(id), loc, chunk, meta_len, body_len);
	uint8_t *p;

	if (!o)
		return -1;
	p = memtier_fill_ptr(mt, o);
	for (uint32_t j = 0; j < meta_len + body_len; j++)
		p[j] = pattern(id, loc, chunk, j);
	memtier_admit_commit(mt, o);
	return 0;
}

/* Are the handle's bytes those put() wrote? */
static bool intact(const struct memtier *mt, const struct memtier_obj *o, uint64_t id,
		   uint64_t loc, uint32_t chunk)
{
	uint32_t ml, bl;
	const uint8_t *m = memtier_meta(mt, o, &ml), *b = memtier_body(mt, o, &bl);

	for (uint32_t j = 0; j < ml; j++)
		if (m[j] != pattern(id, loc, chunk, j))
			return false;
	for (uint32_t j = 0; j < bl; j++)
		if (b[j] != pattern(id, loc, chunk, ml + j))
			return false;
	return b == m + ml;
}

/* Look up, check the bytes, drop the reference: 1 hit, 0 miss, -1 wrong. */
static int hit(struct memtier *mt, uint64_t id, uint64_t loc, uint32_t chunk)
{
	struct memtier_obj *o;
	int rc;

	if (!memtier_get(mt, key_of(id), loc, chunk, &o))
		return 0;
	rc = intact(mt, o, id, loc, chunk) ? 1 : -1;
	memtier_unref(mt, o);
	return rc;
}

static uint64_t C(const struct memtier *mt, enum memtier_ctr c)
{
	return memtier_counter(mt, c);
}

static void test_init_limits(void)
{
	struct memtier mt;

	CHECK_EQ_INT(memtier_init(&mt, 1 << 20, CHUNK - 1), -EINVAL);
	CHECK_EQ_INT(memtier_init(&mt, 1 << 20, CHUNK / 2), -EINVAL);        /* one below min */
	CHECK_EQ_INT(memtier_init(&mt, 1 << 20, (uint32_t)LIMIT_CACHE_CHUNK_MAX * 2), -EINVAL);
	CHECK_EQ_INT(memtier_init(&mt, LIMIT_CACHE_MEMORY_MAX + 1, CHUNK), -EINVAL);
	/* at the limits: the arena is mapped, not committed */
	CHECK_EQ_INT(memtier_init(&mt, LIMIT_CACHE_MEMORY_MAX, (uint32_t)LIMIT_CACHE_CHUNK_MAX), 0);
	CHECK(mt.arena_bytes >= LIMIT_CACHE_MEMORY_MAX);
	CHECK_EQ_INT(put(&mt, 1, 1, MEMTIER_WHOLE, 10, (uint32_t)LIMIT_CACHE_CHUNK_MAX - 10), 0);
	CHECK_EQ_INT(hit(&mt, 1, 1, MEMTIER_WHOLE), 1);
	memtier_free(&mt);
	CHECK_EQ_INT(memtier_init(&mt, LIMIT_CACHE_MEMORY_MAX, CHUNK), 0);
	CHECK(memtier_overhead_bytes(&mt) < mt.arena_bytes / 100 * 9);   /* virtual */
	memtier_free(&mt);
	/* budget 0: the tier is off */
	CHECK_EQ_INT(memtier_init(&mt, 0, CHUNK), 0);
	CHECK_EQ_INT(put(&mt, 1, 1, MEMTIER_WHOLE, 1, 1), -1);
	CHECK_EQ_INT(hit(&mt, 1, 1, MEMTIER_WHOLE), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_rejected_size), 1);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

static void test_basic(void)
{
	struct memtier mt;
	struct memtier_obj *o, *o2;

	CHECK_EQ_INT(memtier_init(&mt, 1 << 20, CHUNK), 0);
	CHECK_EQ_INT(hit(&mt, 1, 100, MEMTIER_WHOLE), 0);
	o = memtier_admit_begin(&mt, key_of(1), 100, MEMTIER_WHOLE, 300, 2000);
	CHECK(o != NULL);
	if (!o)
		return;
	/* being filled: lookups miss, a second admission is refused */
	CHECK_EQ_INT(memtier_get(&mt, key_of(1), 100, MEMTIER_WHOLE, &o2), 0);
	CHECK(memtier_admit_begin(&mt, key_of(1), 100, MEMTIER_WHOLE, 300, 2000) == NULL);
	CHECK(memtier_admit_begin(&mt, key_of(1), 101, MEMTIER_WHOLE, 300, 2000) == NULL);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_rejected_busy), 2);
	memtier_admit_abort(&mt, o);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_aborted), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_objects), 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);

	CHECK_EQ_INT(put(&mt, 1, 100, MEMTIER_WHOLE, 300, 2000), 0);
	CHECK_EQ_INT(put(&mt, 1, 100, MEMTIER_WHOLE, 300, 2000), -1);   /* already there */
	CHECK_EQ_INT(hit(&mt, 1, 100, MEMTIER_WHOLE), 1);
	CHECK_EQ_INT(hit(&mt, 1, 100, 0), 0);                           /* another chunk */
	CHECK_EQ_INT(hit(&mt, 2, 100, MEMTIER_WHOLE), 0);               /* another key */
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_hits), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_payload), 2300);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_used), 4096);
	/* a large object: a meta entry and chunk entries, same key */
	CHECK(!memtier_fits_whole(&mt, 300, CHUNK));
	CHECK_EQ_INT(put(&mt, 3, 7, MEMTIER_META, 300, 0), 0);
	CHECK_EQ_INT(put(&mt, 3, 7, 0, 0, CHUNK), 0);
	CHECK_EQ_INT(put(&mt, 3, 7, 1, 0, 5), 0);
	CHECK_EQ_INT(hit(&mt, 3, 7, MEMTIER_META) + hit(&mt, 3, 7, 0) + hit(&mt, 3, 7, 1), 3);
	/* the object was rewritten: the old copy is never served */
	CHECK_EQ_INT(hit(&mt, 1, 101, MEMTIER_WHOLE), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_stale), 1);
	/* admitting the new loc replaces the copy of the old one */
	CHECK_EQ_INT(put(&mt, 1, 101, MEMTIER_WHOLE, 10, 20), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_replaced), 1);
	CHECK_EQ_INT(hit(&mt, 1, 100, MEMTIER_WHOLE), 0);
	CHECK_EQ_INT(hit(&mt, 1, 101, MEMTIER_WHOLE), 1);
	/* a lookup with an older loc misses but keeps the newer copy */
	CHECK_EQ_INT(put(&mt, 3, 8, 0, 0, 100), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_replaced), 2);
	CHECK_EQ_INT(hit(&mt, 3, 7, 0), 0);
	CHECK_EQ_INT(hit(&mt, 3, 8, 0), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_stale), 3);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

/* Blocks are powers of two from 1 KiB to chunk; an entry is at most chunk. */
static void test_size_classes(void)
{
	static const struct { uint32_t meta, body; uint64_t block; } t[] = {
		{ 0, 0, 1024 }, { 24, 1000, 1024 }, { 24, 1001, 2048 }, { 0, 4096, 4096 },
		{ 1, 4096, 8192 }, { 500, CHUNK / 2 - 500, CHUNK / 2 },
		{ 500, CHUNK - 500, CHUNK },
	};
	struct memtier mt;

	CHECK_EQ_INT(memtier_init(&mt, 1 << 20, CHUNK), 0);
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t before = C(&mt, MEMTIER_CTR_bytes_used);

		CHECK(memtier_fits_whole(&mt, t[i].meta, t[i].body));
		CHECK_EQ_INT(put(&mt, 10 + i, 1, MEMTIER_WHOLE, t[i].meta, t[i].body), 0);
		CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_used) - before, t[i].block);
		CHECK_EQ_INT(hit(&mt, 10 + i, 1, MEMTIER_WHOLE), 1);
	}
	/* one past the largest block */
	CHECK(!memtier_fits_whole(&mt, 500, CHUNK - 499));
	CHECK_EQ_INT(put(&mt, 99, 1, MEMTIER_WHOLE, 500, CHUNK - 499), -1);
	CHECK_EQ_INT(put(&mt, 99, 1, 0, 0, CHUNK + 1), -1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_rejected_size), 2);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
	/* an entry larger than the whole budget is refused too */
	CHECK_EQ_INT(memtier_init(&mt, 8 * KIB, CHUNK), 0);
	CHECK_EQ_INT(put(&mt, 1, 1, MEMTIER_WHOLE, 0, 8 * KIB), 0);
	CHECK_EQ_INT(put(&mt, 2, 1, MEMTIER_WHOLE, 0, 8 * KIB + 1), -1);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

/* 256 entries of 4 KiB fill a 1 MiB budget; small is 10% of it. */
#define B1M (1u << 20)
#define E4K 4096u

static void test_one_hit_wonders_and_ghost(void)
{
	struct memtier mt;
	uint64_t e, admitted_main;

	CHECK_EQ_INT(memtier_init(&mt, B1M, CHUNK), 0);
	CHECK_EQ_INT(put(&mt, 0, 1, MEMTIER_WHOLE, 0, E4K), 0);        /* hot */
	CHECK_EQ_INT(hit(&mt, 0, 1, MEMTIER_WHOLE), 1);
	for (uint64_t id = 1; id <= 1000; id++)                          /* one-hit wonders */
		CHECK_EQ_INT(put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(hit(&mt, 0, 1, MEMTIER_WHOLE), 1);                 /* survived */
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_promoted), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_main), E4K);              /* only the hot one */
	e = C(&mt, MEMTIER_CTR_evicted_small);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_evicted), e);                   /* none from main */
	CHECK_EQ_INT(e, 1001 - B1M / E4K);
	CHECK(C(&mt, MEMTIER_CTR_bytes_used) <= B1M);
	/* evicted in FIFO order: 1..e gone, e+1.. still there */
	CHECK_EQ_INT(hit(&mt, e, 1, MEMTIER_WHOLE), 0);
	CHECK_EQ_INT(hit(&mt, 1000, 1, MEMTIER_WHOLE), 1);
	/* the last evicted is in the ghost: straight to main */
	CHECK_EQ_INT(put(&mt, e, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_admitted_main), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_main), 2 * E4K);
	/* the first evicted is older than the ghost's window (main's size): small */
	admitted_main = C(&mt, MEMTIER_CTR_admitted_main);
	CHECK_EQ_INT(put(&mt, 1, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_admitted_main), admitted_main);
	/* a ghost entry is used once */
	for (uint64_t id = 2000; id < 2400; id++)
		CHECK_EQ_INT(put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(hit(&mt, e, 1, MEMTIER_WHOLE), 1);                 /* main kept it */
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_evicted), C(&mt, MEMTIER_CTR_evicted_small));
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

static void test_main_reinsertion(void)
{
	struct memtier mt;

	CHECK_EQ_INT(memtier_init(&mt, B1M, CHUNK), 0);
	for (uint64_t id = 0; id < 256; id++) {
		CHECK_EQ_INT(put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K), 0);
		CHECK_EQ_INT(hit(&mt, id, 1, MEMTIER_WHOLE), 1);
	}
	/* full: all 256 hit once move to main (bits cleared), 0 leaves main */
	CHECK_EQ_INT(put(&mt, 256, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_promoted), 256);
	CHECK_EQ_INT(hit(&mt, 0, 1, MEMTIER_WHOLE), 0);
	/* 1..10 hit (1..5 twice) since they were judged */
	for (uint64_t id = 1; id <= 10; id++)
		CHECK_EQ_INT(hit(&mt, id, 1, MEMTIER_WHOLE) + hit(&mt, id, 1, MEMTIER_WHOLE) * (id <= 5),
			     1 + (id <= 5));
	/* small is under its 10%: the next 20 admissions evict from main,
	 * which re-inserts 1..10 and evicts 11..30 */
	for (uint64_t id = 257; id < 277; id++)
		CHECK_EQ_INT(put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K), 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_reinserted), 10);
	for (uint64_t id = 1; id <= 10; id++)
		CHECK_EQ_INT(hit(&mt, id, 1, MEMTIER_WHOLE), 1);
	for (uint64_t id = 11; id <= 30; id++)
		CHECK_EQ_INT(hit(&mt, id, 1, MEMTIER_WHOLE), 0);
	CHECK_EQ_INT(hit(&mt, 31, 1, MEMTIER_WHOLE), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_evicted_small), 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

static void test_refcounts(void)
{
	struct memtier mt;
	struct memtier_obj *a, *held[300];
	unsigned n = 0;

	CHECK_EQ_INT(memtier_init(&mt, B1M, CHUNK), 0);
	CHECK_EQ_INT(put(&mt, 0, 1, MEMTIER_WHOLE, 100, E4K - 100), 0);
	CHECK_EQ_INT(memtier_get(&mt, key_of(0), 1, MEMTIER_WHOLE, &a), 1);
	memtier_ref(&mt, a);                                 /* two segments */
	memtier_unref(&mt, a);
	/* evicted while a send reads it: unlinked, its bytes kept. It was hit,
	 * so it went to main: hit the others too until main evicts it. */
	for (uint64_t id = 1; id <= 300; id++) {
		CHECK_EQ_INT(put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K), 0);
		CHECK_EQ_INT(hit(&mt, id, 1, MEMTIER_WHOLE), 1);
	}
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_evicted_pinned), 1);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_pinned), E4K);
	CHECK_EQ_INT(hit(&mt, 0, 1, MEMTIER_WHOLE), 0);
	CHECK(intact(&mt, a, 0, 1, MEMTIER_WHOLE));
	CHECK(C(&mt, MEMTIER_CTR_bytes_used) <= B1M);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_unref(&mt, a);                               /* freed now */
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_pinned), 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);

	/* pin everything: the budget is exceeded only by pinned entries, up to
	 * the arena's slack; then admissions are refused */
	for (uint64_t id = 1000; n < 300; id++) {
		if (put(&mt, id, 1, MEMTIER_WHOLE, 0, E4K))
			break;
		CHECK_EQ_INT(memtier_get(&mt, key_of(id), 1, MEMTIER_WHOLE, &held[n]), 1);
		n++;
		CHECK(C(&mt, MEMTIER_CTR_bytes_used) <= B1M);
		CHECK(C(&mt, MEMTIER_CTR_bytes_used) + C(&mt, MEMTIER_CTR_bytes_pinned) <=
		      mt.arena_bytes);
	}
	CHECK_EQ_INT(n, mt.arena_bytes / E4K);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_rejected_nospace), 1);
	CHECK(C(&mt, MEMTIER_CTR_bytes_pinned) > 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	for (unsigned i = 0; i < n; i++) {
		CHECK(intact(&mt, held[i], 1000 + i, 1, MEMTIER_WHOLE));
		memtier_unref(&mt, held[i]);
	}
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_pinned), 0);
	CHECK_EQ_INT(put(&mt, 5000, 1, MEMTIER_WHOLE, 0, CHUNK), 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	memtier_free(&mt);
}

/* ---- randomized: against a plain model of S3-FIFO -------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

#define M_IDS 2000
#define M_CAP 512

/* The algorithm as written in the paper, on arrays (index 0 = newest). */
struct model {
	uint32_t q[2][M_CAP];               /* 0 = small, 1 = main */
	unsigned n[2];
	uint8_t where[M_IDS];               /* 0 none, 1 small, 2 main */
	uint8_t freq[M_IDS];
	uint64_t loc[M_IDS], in_loc[M_IDS];
	uint64_t ghost_when[M_IDS];         /* 0 = not in the ghost */
	uint64_t clock, budget, small_target, window;
};

static void m_push(struct model *m, unsigned q, uint32_t id)
{
	memmove(&m->q[q][1], &m->q[q][0], m->n[q] * sizeof(uint32_t));
	m->q[q][0] = id;
	m->n[q]++;
	m->where[id] = (uint8_t)(q + 1);
}

static void m_remove(struct model *m, uint32_t id)
{
	unsigned q = m->where[id] - 1u, i = 0;

	while (m->q[q][i] != id)
		i++;
	memmove(&m->q[q][i], &m->q[q][i + 1], (m->n[q] - i - 1) * sizeof(uint32_t));
	m->n[q]--;
	m->where[id] = 0;
}

static void m_evict_one(struct model *m)
{
	if (m->n[0] * E4K >= m->small_target || m->n[1] == 0) {
		while (m->n[0]) {
			uint32_t t = m->q[0][m->n[0] - 1];

			m_remove(m, t);
			if (m->freq[t]) {
				m->freq[t] = 0;
				m_push(m, 1, t);
				continue;
			}
			m->clock += E4K / KIB;
			m->ghost_when[t] = m->clock;
			return;
		}
	}
	while (m->n[1]) {
		uint32_t t = m->q[1][m->n[1] - 1];

		m_remove(m, t);
		if (!m->freq[t])
			return;
		m->freq[t]--;
		m_push(m, 1, t);
	}
}

/* One request for id: the tier and the model must agree on hit / miss. */
static bool m_step(struct memtier *mt, struct model *m, uint32_t id, uint64_t *forgot)
{
	bool want = m->where[id] && m->in_loc[id] == m->loc[id];
	int got = hit(mt, id, m->loc[id], MEMTIER_WHOLE);
	uint64_t to_main = C(mt, MEMTIER_CTR_admitted_main);
	bool ghost;

	if (m->where[id] && !want)
		m_remove(m, id);                /* stale: dropped, not a ghost */
	if (want && got == 1) {
		m->freq[id] += m->freq[id] < LIMIT_MEMTIER_FREQ_MAX;
		return true;
	}
	if (want || got != 0)
		return false;
	ghost = m->ghost_when[id] && m->clock - m->ghost_when[id] <= m->window;
	m->ghost_when[id] = 0;
	if (put(mt, id, m->loc[id], MEMTIER_WHOLE, (uint32_t)rnd(64), 2049 + (uint32_t)rnd(1984)))
		return false;
	while ((m->n[0] + m->n[1] + 1) * E4K > m->budget)
		m_evict_one(m);
	to_main = C(mt, MEMTIER_CTR_admitted_main) - to_main;
	if (ghost && !to_main)
		(*forgot)++;                    /* a full ghost bucket may forget */
	else if (!ghost && to_main)
		return false;                   /* ... but never invents */
	m->freq[id] = 0;
	m->in_loc[id] = m->loc[id];
	m_push(m, to_main ? 1 : 0, id);
	return true;
}

static void test_model(void)
{
	static struct model m;
	struct memtier mt;
	uint64_t forgot = 0, steps = 200000, bad = 0;

	CHECK_EQ_INT(memtier_init(&mt, B1M, CHUNK), 0);
	m.budget = B1M;
	m.small_target = B1M * LIMIT_MEMTIER_SMALL_PCT / 100;
	m.window = (B1M - m.small_target) / KIB;
	for (uint64_t s = 0; s < steps && !bad; s++) {
		uint32_t id = (uint32_t)(rnd(100) < 70 ? rnd(120) : rnd(M_IDS));

		if (rnd(100) == 0)
			m.loc[id]++;            /* the object was rewritten */
		if (!m_step(&mt, &m, id, &forgot)) {
			fprintf(stderr, "model: step %llu id %u disagrees\n", (unsigned long long)s, id);
			bad++;
		}
		if (s % 1000 == 0 && memtier_check(&mt))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_objects), m.n[0] + m.n[1]);
	CHECK(C(&mt, MEMTIER_CTR_reinserted) > 0 && C(&mt, MEMTIER_CTR_promoted) > 0 &&
	      C(&mt, MEMTIER_CTR_admitted_main) > 0 && C(&mt, MEMTIER_CTR_replaced) > 0);
	CHECK(forgot * 100 < C(&mt, MEMTIER_CTR_admitted_main));       /* rare */
	fprintf(stderr, "model: %llu steps, hit ratio %.3f, ghost hits %llu, forgotten %llu\n",
		(unsigned long long)steps,
		(double)C(&mt, MEMTIER_CTR_hits) / (double)steps,
		(unsigned long long)C(&mt, MEMTIER_CTR_admitted_main), (unsigned long long)forgot);
	memtier_free(&mt);
}

/* ---- randomized: mixed sizes, chunks, pins, rewrites, aborts -------------- */

#define S_IDS 400
#define S_CHUNKS 5                          /* WHOLE, META, 0, 1, 2 */
#define S_HELD 32

struct stress {
	uint64_t loc[S_IDS];
	struct { uint64_t loc; uint32_t meta, body; } last[S_IDS][S_CHUNKS];
	struct { struct memtier_obj *o; uint64_t id, loc; uint32_t chunk; } held[S_HELD];
	unsigned n_held;
};

static uint32_t s_chunk(unsigned c)
{
	return c == 0 ? MEMTIER_WHOLE : c == 1 ? MEMTIER_META : c - 2;
}

static bool s_get(struct memtier *mt, struct stress *s, uint64_t id, unsigned c)
{
	struct memtier_obj *o;
	uint32_t ml, bl;

	if (!memtier_get(mt, key_of(id), s->loc[id], s_chunk(c), &o))
		return true;
	memtier_meta(mt, o, &ml);
	memtier_body(mt, o, &bl);
	if (!intact(mt, o, id, s->loc[id], s_chunk(c)) || s->last[id][c].loc != s->loc[id] ||
	    s->last[id][c].meta != ml || s->last[id][c].body != bl)
		return false;
	if (s->n_held < S_HELD && rnd(2) == 0) {
		s->held[s->n_held].o = o;
		s->held[s->n_held].id = id;
		s->held[s->n_held].loc = s->loc[id];
		s->held[s->n_held++].chunk = s_chunk(c);
	} else {
		memtier_unref(mt, o);
	}
	return true;
}

static void s_admit(struct memtier *mt, struct stress *s, uint64_t id, unsigned c)
{
	uint32_t len = (uint32_t)rnd(CHUNK + 1), meta;
	struct memtier_obj *o;

	len >>= rnd(7);                         /* many small, some large */
	meta = c >= 2 ? 0 : len / 8;            /* chunk entries carry no meta */
	o = memtier_admit_begin(mt, key_of(id), s->loc[id], s_chunk(c), meta, len - meta);
	if (!o)
		return;
	if (rnd(20) == 0) {
		memset(memtier_fill_ptr(mt, o), 0x5a, len / 2);
		memtier_admit_abort(mt, o);
		return;
	}
	for (uint32_t j = 0; j < len; j++)
		((uint8_t *)memtier_fill_ptr(mt, o))[j] = pattern(id, s->loc[id], s_chunk(c), j);
	memtier_admit_commit(mt, o);
	s->last[id][c].loc = s->loc[id];
	s->last[id][c].meta = meta;
	s->last[id][c].body = len - meta;
}

static bool s_unref_one(struct memtier *mt, struct stress *s)
{
	unsigned i = (unsigned)rnd(s->n_held);
	bool ok = intact(mt, s->held[i].o, s->held[i].id, s->held[i].loc, s->held[i].chunk);

	memtier_unref(mt, s->held[i].o);
	s->held[i] = s->held[--s->n_held];
	return ok;
}

static void test_stress(void)
{
	static struct stress s;
	struct memtier mt;
	uint64_t bad = 0, max_pinned = 0;

	CHECK_EQ_INT(memtier_init(&mt, 2 * B1M, CHUNK), 0);
	for (unsigned step = 0; step < 100000 && !bad; step++) {
		uint64_t id = rnd(100) < 60 ? rnd(40) : rnd(S_IDS), r = rnd(100);
		unsigned c = (unsigned)rnd(S_CHUNKS);

		if (r < 50)
			bad += !s_get(&mt, &s, id, c);
		else if (r < 85)
			s_admit(&mt, &s, id, c);
		else if (r < 95)
			s.loc[id]++;
		else if (r >= 98 && s.n_held)
			bad += !s_unref_one(&mt, &s);
		if (C(&mt, MEMTIER_CTR_bytes_used) > mt.budget ||
		    C(&mt, MEMTIER_CTR_bytes_used) + C(&mt, MEMTIER_CTR_bytes_pinned) > mt.arena_bytes)
			bad++;
		if (C(&mt, MEMTIER_CTR_bytes_pinned) > max_pinned)
			max_pinned = C(&mt, MEMTIER_CTR_bytes_pinned);
		if (step % 100 == 0 && memtier_check(&mt))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	while (s.n_held)
		CHECK(s_unref_one(&mt, &s));
	CHECK_EQ_INT(C(&mt, MEMTIER_CTR_bytes_pinned), 0);
	CHECK_EQ_INT(memtier_check(&mt), 0);
	CHECK(max_pinned > 0 && C(&mt, MEMTIER_CTR_evicted_pinned) > 0);
	CHECK(C(&mt, MEMTIER_CTR_aborted) > 0 && C(&mt, MEMTIER_CTR_replaced) > 0);
	fprintf(stderr, "stress: hits %llu misses %llu evicted %llu (pinned %llu), payload/used %.2f\n",
		(unsigned long long)C(&mt, MEMTIER_CTR_hits), (unsigned long long)C(&mt, MEMTIER_CTR_misses),
		(unsigned long long)C(&mt, MEMTIER_CTR_evicted),
		(unsigned long long)C(&mt, MEMTIER_CTR_evicted_pinned),
		(double)C(&mt, MEMTIER_CTR_bytes_payload) / (double)C(&mt, MEMTIER_CTR_bytes_used));
	memtier_free(&mt);
}

static void test_counter_table(void)
{
	for (unsigned i = 0; i < MEMTIER_CTR__COUNT; i++)
		CHECK(memtier_ctr_names[i][0] && memtier_ctr_docs[i][0]);
	CHECK_EQ_STR(memtier_ctr_names[MEMTIER_CTR_bytes_pinned], "bytes_pinned");
}

int main(void)
{
	test_init_limits();
	test_basic();
	test_size_classes();
	test_one_hit_wonders_and_ghost();
	test_main_reinsertion();
	test_refcounts();
	test_model();
	test_stress();
	test_counter_table();
	return check_exit();
}
