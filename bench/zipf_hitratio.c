/*
 * bench/zipf_hitratio.c — replays a Zipf trace through the real index and
 * eviction logic of cache/store.c (sim mode: no disk, no buffers) and
 * through a plain byte-capacity LRU, and prints both hit ratios.
 *
 * Trace: `objects` distinct objects, popularity Zipf(alpha) for alpha 0.8
 * and 1.0, sizes log-normal (median 24 KiB, sigma 1.5, cut at 64 MiB: a
 * CDN mix of small images/scripts and a tail of large media), cache = 10%
 * of the working set's bytes. The first pass warms; the second is counted.
 * Both caches account an object as the bytes the store really takes
 * (4 KiB-rounded entries, headers, chunks), so they hold the same amount.
 *
 * usage: zipf_hitratio [objects (default 200000)] [requests (default 2000000)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/zipf_trace.h"
#include "cache/store.h"

/* ---- the store in sim mode ------------------------------------------------- */

static struct cindex_key key_of(uint64_t i)
{
	return (struct cindex_key){ i * 0x9e3779b97f4a7c15ull + 1, (i + 7) * 0xbf58476d1ce4e5b9ull };
}

/* Write an object (sim: the I/O "completes" at once). */
static void sim_write(struct store *st, struct cindex_key k, uint64_t len)
{
	struct store_obj o = { .body_len = len };
	struct store_io io[64];
	int res[64], n;
	uint32_t wid;
	size_t used;

	n = store_write_begin(st, 0, k, &o, &wid, io, 64);
	for (uint64_t done = 0; n >= 0; ) {
		store_exec(st, io, (unsigned)n, res);
		for (int i = 0; i < n; i++)
			store_write_done(st, &io[i], res[i]);
		if (done == len)
			break;
		n = store_write_append(st, 0, wid, NULL, len - done, &used, io, 64);
		done += used;
	}
}

/* Copy forward what the store asks for (the shard's job). */
static void sim_reinsert(struct store *st, uint64_t *copies)
{
	struct cindex_entry e;

	for (unsigned s = 0; s < store_n_stripes(st); s++) {
		while (store_reinsert_next(st, s, &e) == 0) {
			sim_write(st, e.key, e.total_len);
			(*copies)++;
		}
	}
}

/* What an object takes in the store: entries, headers, 4 KiB rounding. */
static uint64_t stored_bytes(uint64_t len, uint64_t chunk)
{
	uint64_t small = (64 + 16 + len + 4095) / 4096 * 4096;

	if (len + 80 <= chunk + LIMIT_STORE_META_BYTES)
		return small;
	return 4096 + (len + chunk - 1) / chunk * (chunk + 4096);
}

static void run(uint64_t n, uint64_t reqs, double alpha)
{
	const uint32_t chunk = 1u << 20;
	uint64_t *size = malloc(n * sizeof(*size)), *len = malloc(n * sizeof(*len));
	uint64_t ws = 0, hits[2] = { 0 }, bhits[2] = { 0 };
	uint64_t bytes = 0, copies = 0;
	double *cdf = zipf_cdf(n, alpha);
	struct lru l = { .head = -1, .tail = -1 };
	struct store *st = NULL;
	const char *paths[1] = { "sim" };
	char err[256];

	for (uint64_t i = 0; size && len && i < n; i++) {
		len[i] = lognormal_size();
		ws += size[i] = stored_bytes(len[i], chunk);
	}
	l.prev = malloc(n * sizeof(int64_t));
	l.next = malloc(n * sizeof(int64_t));
	l.in = calloc(n, 1);
	l.cap = ws / 10;
	struct store_opts o = { .paths = paths, .n_paths = 1, .size_bytes = ws / 10,
				.chunk_bytes = chunk, .stripes = 1, .shards = 1,
				.avg_object_bytes = ws / n, .sim = true };
	if (!cdf || !size || !len || !l.prev || !l.next || !l.in ||
	    store_open(&o, &st, err, sizeof(err))) {
		fprintf(stderr, "zipf: set-up failed: %s\n", err);
		exit(1);
	}
	for (uint64_t r = 0; r < 2 * reqs; r++) {
		uint64_t i = zipf_draw(cdf, n);
		struct cindex_entry hit;
		bool counted = r >= reqs;
		bool h_store = store_lookup(st, 0, key_of(i), &hit) == 0;
		bool h_lru = lru_get(&l, (int64_t)i, size);

		if (!h_store && len[i] <= store_max_object(st)) {
			sim_write(st, key_of(i), len[i]);
			sim_reinsert(st, &copies);
		}
		if (counted) {
			hits[0] += h_store;
			hits[1] += h_lru;
			bhits[0] += h_store ? size[i] : 0;
			bhits[1] += h_lru ? size[i] : 0;
			bytes += size[i];
		}
	}
	printf("alpha %.1f  objects %llu  working set %.1f GiB  cache %.1f GiB\n", alpha,
	       (unsigned long long)n, ws / 1073741824.0, ws / 10 / 1073741824.0);
	printf("  FIFO-reinsertion (store)  hit ratio %.4f  byte hit ratio %.4f  "
	       "(copies forward %llu, evicted %llu, index displaced %llu)\n",
	       (double)hits[0] / reqs, (double)bhits[0] / bytes, (unsigned long long)copies,
	       (unsigned long long)store_counter(st, STORE_CTR_evicted),
	       (unsigned long long)store_counter(st, STORE_CTR_index_displaced));
	printf("  LRU                       hit ratio %.4f  byte hit ratio %.4f\n",
	       (double)hits[1] / reqs, (double)bhits[1] / bytes);
	store_close(st);
	free(size);
	free(len);
	free(cdf);
	free(l.prev);
	free(l.next);
	free(l.in);
}

int main(int argc, char **argv)
{
	return zipf_main(argc, argv, "zipf_hitratio", run);
}
