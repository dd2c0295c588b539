/*
 * bench/memtier_hitratio.c — replays a Zipf trace through the RAM tier
 * (cache/memtier.c: S3-FIFO over its buddy arena, nothing written into the
 * arena) and through a plain LRU of the same byte budget, and prints the
 * hit ratios (objects and bytes) of each.
 *
 * Trace: bench/zipf_trace.h (Zipf 0.8 and 1.0, log-normal sizes, median
 * 24 KiB, cut at 64 MiB), each object with 400 bytes of stored head. A
 * request asks for the whole object: an object that fits one entry is one
 * lookup; a larger one is its META entry plus one lookup per chunk, and
 * every entry missed is admitted. An object hit = every entry hit; byte
 * hits count the entries that hit. The first pass warms; the second
 * counts. Budgets: 1% and 10% of the working set's bytes.
 *
 * Rows: memtier (block bytes, the allocator's rounding included); LRU of
 * meta + body bytes (an ideal allocator); LRU of the same power-of-two
 * block bytes memtier pays (the policies alone, on equal terms).
 *
 * usage: memtier_hitratio [objects (default 200000)] [requests (default 2000000)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/zipf_trace.h"
#include "cache/memtier.h"

#define META_BYTES 400u
#define CHUNK (1u << 20)

struct ratio {
	uint64_t hits, bytes_hit;
};

static struct cindex_key key_of(uint64_t i)
{
	return (struct cindex_key){ i * 0x9e3779b97f4a7c15ull + 1, (i + 7) * 0xbf58476d1ce4e5b9ull };
}

static uint64_t block_of(uint64_t len)
{
	uint64_t b = LIMIT_MEMTIER_MIN_BLOCK_BYTES;

	while (b < len)
		b <<= 1;
	return b;
}

/* Block bytes of an object in the tier: one entry, or META + chunks. */
static uint64_t tier_bytes(uint64_t len)
{
	uint64_t sum;

	if (META_BYTES + len <= CHUNK)
		return block_of(META_BYTES + len);
	sum = block_of(META_BYTES) + len / CHUNK * CHUNK;
	return len % CHUNK ? sum + block_of(len % CHUNK) : sum;
}

/* One entry: a hit (reference dropped at once: the "send" is instant),
 * or a miss that is admitted (not filled: the bench never reads bytes). */
static bool entry(struct memtier *mt, uint64_t i, uint32_t chunk, uint32_t meta, uint32_t body)
{
	struct memtier_obj *o;

	if (memtier_get(mt, key_of(i), 1, chunk, &o)) {
		memtier_unref(mt, o);
		return true;
	}
	o = memtier_admit_begin(mt, key_of(i), 1, chunk, meta, body);
	if (o)
		memtier_admit_commit(mt, o);
	return false;
}

/* Request object i through the tier; returns body bytes hit, *all = hit. */
static uint64_t tier_request(struct memtier *mt, uint64_t i, uint64_t len, bool *all)
{
	uint64_t hit = 0;

	if (memtier_fits_whole(mt, META_BYTES, len)) {
		*all = entry(mt, i, MEMTIER_WHOLE, META_BYTES, (uint32_t)len);
		return *all ? len : 0;
	}
	*all = entry(mt, i, MEMTIER_META, META_BYTES, 0);
	for (uint64_t c = 0; c * CHUNK < len; c++) {
		uint32_t n = (uint32_t)(len - c * CHUNK < CHUNK ? len - c * CHUNK : CHUNK);

		if (entry(mt, i, (uint32_t)c, 0, n))
			hit += n;
		else
			*all = false;
	}
	return hit;
}

static int lru_init(struct lru *l, uint64_t n, uint64_t cap)
{
	*l = (struct lru){ .head = -1, .tail = -1, .cap = cap };
	l->prev = malloc(n * sizeof(int64_t));
	l->next = malloc(n * sizeof(int64_t));
	l->in = calloc(n, 1);
	return l->prev && l->next && l->in ? 0 : -1;
}

static void lru_done(struct lru *l)
{
	free(l->prev);
	free(l->next);
	free(l->in);
}

static void print_row(const char *name, const struct ratio *r, uint64_t reqs, uint64_t bytes)
{
	printf("  %-34s hit ratio %.4f  byte hit ratio %.4f\n", name, (double)r->hits / reqs,
	       (double)r->bytes_hit / bytes);
}

struct trace {
	uint64_t n, reqs;
	uint64_t *len, *ideal, *blocks;     /* body; meta + body; tier block bytes */
	uint64_t ws;                        /* working set, meta + body bytes */
	double *cdf;
};

static void run(const struct trace *t, double pct)
{
	uint64_t budget = (uint64_t)(t->ws * pct / 100), bytes = 0;
	struct ratio r[3] = { { 0, 0 } };
	struct lru ideal, blocks;
	struct memtier mt;

	if (memtier_init(&mt, budget, CHUNK) || lru_init(&ideal, t->n, budget) ||
	    lru_init(&blocks, t->n, budget)) {
		fprintf(stderr, "memtier_hitratio: set-up failed\n");
		exit(1);
	}
	for (uint64_t q = 0; q < 2 * t->reqs; q++) {
		uint64_t i = zipf_draw(t->cdf, t->n), hb;
		bool all, h_ideal = lru_get(&ideal, (int64_t)i, t->ideal);
		bool h_blocks = lru_get(&blocks, (int64_t)i, t->blocks);

		hb = tier_request(&mt, i, t->len[i], &all);
		if (q < t->reqs)
			continue;
		r[0].hits += all;
		r[0].bytes_hit += hb;
		r[1].hits += h_ideal;
		r[1].bytes_hit += h_ideal ? t->len[i] : 0;
		r[2].hits += h_blocks;
		r[2].bytes_hit += h_blocks ? t->len[i] : 0;
		bytes += t->len[i];
	}
	printf(" budget %.1f%% of the working set = %.0f MiB (payload/blocks in the tier %.2f, "
	       "ghost hits %llu, promoted %llu, evicted %llu)\n", pct, budget / 1048576.0,
	       (double)memtier_counter(&mt, MEMTIER_CTR_bytes_payload) /
	       (double)memtier_counter(&mt, MEMTIER_CTR_bytes_used),
	       (unsigned long long)memtier_counter(&mt, MEMTIER_CTR_admitted_main),
	       (unsigned long long)memtier_counter(&mt, MEMTIER_CTR_promoted),
	       (unsigned long long)memtier_counter(&mt, MEMTIER_CTR_evicted));
	print_row("memtier (S3-FIFO, buddy blocks)", &r[0], t->reqs, bytes);
	print_row("LRU, meta + body bytes", &r[1], t->reqs, bytes);
	print_row("LRU, the same blocks as memtier", &r[2], t->reqs, bytes);
	memtier_free(&mt);
	lru_done(&ideal);
	lru_done(&blocks);
}

static void run_alpha(uint64_t n, uint64_t reqs, double alpha)
{
	struct trace t = { .n = n, .reqs = reqs };

	t.len = malloc(n * sizeof(uint64_t));
	t.ideal = malloc(n * sizeof(uint64_t));
	t.blocks = malloc(n * sizeof(uint64_t));
	t.cdf = zipf_cdf(n, alpha);
	if (!t.len || !t.ideal || !t.blocks || !t.cdf) {
		fprintf(stderr, "memtier_hitratio: out of memory\n");
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++) {
		t.len[i] = lognormal_size();
		t.ideal[i] = META_BYTES + t.len[i];
		t.blocks[i] = tier_bytes(t.len[i]);
		t.ws += t.ideal[i];
	}
	printf("alpha %.1f  objects %llu  working set %.2f GiB  requests %llu (after as many to warm)\n",
	       alpha, (unsigned long long)n, t.ws / 1073741824.0, (unsigned long long)reqs);
	run(&t, 1);
	run(&t, 10);
	free(t.len);
	free(t.ideal);
	free(t.blocks);
	free(t.cdf);
}

int main(int argc, char **argv)
{
	return zipf_main(argc, argv, "memtier_hitratio", run_alpha);
}
