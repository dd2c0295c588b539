/*
 * bench/zipf_trace.h — what the hit-ratio benches share: a Zipf(alpha)
 * popularity over n objects, log-normal object sizes (median 24 KiB,
 * sigma 1.5, cut at 64 MiB: a CDN mix of small images/scripts and a tail
 * of large media), and a plain byte-capacity LRU as the baseline.
 * Header-only (static inline): bench/ executables only.
 */
#ifndef EDGECACHE_BENCH_ZIPF_TRACE_H
#define EDGECACHE_BENCH_ZIPF_TRACE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- trace ----------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / (double)(1ull << 53);
}

static inline uint64_t lognormal_size(void)
{
	double u1 = uniform(), u2 = uniform(), z, v;

	u1 = u1 > 1e-12 ? u1 : 1e-12;
	z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
	v = exp(log(24 * 1024.0) + 1.5 * z);
	return v < 200 ? 200 : v > 64.0 * 1024 * 1024 ? 64u << 20 : (uint64_t)v;
}

/* Cumulative Zipf weights; a request is a binary search in them. */
static inline double *zipf_cdf(uint64_t n, double alpha)
{
	double *cdf = malloc(n * sizeof(*cdf)), sum = 0;

	for (uint64_t i = 0; cdf && i < n; i++)
		cdf[i] = (sum += 1.0 / pow((double)(i + 1), alpha));
	for (uint64_t i = 0; cdf && i < n; i++)
		cdf[i] /= sum;
	return cdf;
}

static inline uint64_t zipf_draw(const double *cdf, uint64_t n)
{
	double u = uniform();
	uint64_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- plain LRU (the baseline) --------------------------------------------- */

struct lru {
	int64_t *prev, *next;                   /* -1 = none; by object id */
	uint8_t *in;
	int64_t head, tail;
	uint64_t bytes, cap;
};

static inline void lru_unlink(struct lru *l, int64_t i)
{
	if (l->prev[i] >= 0) l->next[l->prev[i]] = l->next[i]; else l->head = l->next[i];
	if (l->next[i] >= 0) l->prev[l->next[i]] = l->prev[i]; else l->tail = l->prev[i];
}

static inline void lru_front(struct lru *l, int64_t i)
{
	l->prev[i] = -1;
	l->next[i] = l->head;
	if (l->head >= 0)
		l->prev[l->head] = i;
	l->head = i;
	if (l->tail < 0)
		l->tail = i;
}

static inline bool lru_get(struct lru *l, int64_t i, const uint64_t *size)
{
	if (l->in[i]) {
		lru_unlink(l, i);
		lru_front(l, i);
		return true;
	}
	if (size[i] > l->cap)
		return false;
	while (l->bytes + size[i] > l->cap) {
		int64_t t = l->tail;

		lru_unlink(l, t);
		l->in[t] = 0;
		l->bytes -= size[t];
	}
	lru_front(l, i);
	l->in[i] = 1;
	l->bytes += size[i];
	return false;
}

/* The benches' command line: [objects] [requests]; both alphas are run
 * through fn. Returns main's exit status. */
static inline int zipf_main(int argc, char **argv, const char *name,
			    void (*fn)(uint64_t n, uint64_t reqs, double alpha))
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	uint64_t reqs = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;

	if (n < 100 || reqs < 1000) {
		fprintf(stderr, "usage: %s [objects >= 100] [requests >= 1000]\n", name);
		return 2;
	}
	fn(n, reqs, 0.8);
	fn(n, reqs, 1.0);
	return 0;
}

#endif /* EDGECACHE_BENCH_ZIPF_TRACE_H */
