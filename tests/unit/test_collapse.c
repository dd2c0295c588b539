/*
 * tests/unit/test_collapse.c — cache/collapse: one leader per key, also
 * when claimants race on keys whose probe windows overlap while other keys
 * come and go in them (the window is checked and reserved in one step);
 * release, progress stamps, a full window (-ENOSPC) and one past it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "cache/collapse.h"
#include "core/limits.h"
#include "check.h"

#define ROUNDS 20000
#define THREADS 4

static struct collapse *t;
static atomic_int leaders;
static atomic_int double_leads;
static pthread_barrier_t bar;

/* Keys 0..4 share slots of the smallest table (two windows): each round, every thread
 * claims key (round % 4) while a neighbour key comes and goes; the
 * round's one leader lets go after the others have looked. */
static void *racer(void *arg)
{
	uint32_t me_id = (uint32_t)(uintptr_t)arg;
	struct collapse_leader me = { me_id, me_id, 1 }, l;

	for (uint32_t r = 0; r < ROUNDS; r++) {
		struct cindex_key k = { .lo = r % 4, .hi = 7 };
		struct cindex_key other = { .lo = (r + 1) % 4, .hi = 1000 + me_id };
		collapse_claim(t, other, &me, &l);  /* fills a slot of the window */
		pthread_barrier_wait(&bar);
		collapse_release(t, other);         /* frees it while others probe */
		int c = collapse_claim(t, k, &me, &l);
		if (c == 0 && atomic_fetch_add(&leaders, 1) > 0)
			atomic_fetch_add(&double_leads, 1);
		pthread_barrier_wait(&bar);
		if (c == 0) {
			atomic_fetch_sub(&leaders, 1);
			collapse_release(t, k);
		}
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

int main(void)
{
	struct collapse_leader a = { 0, 1, 1 }, b = { 1, 2, 1 }, l;
	struct cindex_key k = { .lo = 5, .hi = 5 };
	uint64_t ms = 1;

	CHECK_EQ_INT(collapse_init(&t, LIMIT_COLLAPSE_KEYS), 0);
	CHECK_EQ_INT(collapse_claim(t, k, &a, &l), 0);
	CHECK_EQ_INT(collapse_claim(t, k, &b, &l), 1);
	CHECK_EQ_INT(l.shard, 0);
	CHECK_EQ_INT(l.vidx, 1);
	/* A claim starts with no progress; a touch stamps it. */
	CHECK(collapse_active_since(t, k, &ms));
	CHECK_EQ_INT(ms, 0);
	collapse_touch(t, k, 1234);
	CHECK(collapse_active_since(t, k, &ms));
	CHECK_EQ_INT(ms, 1234);
	collapse_release(t, k);
	CHECK(!collapse_active(t, k));
	collapse_touch(t, k, 99);           /* nobody holds it: no effect */
	CHECK(!collapse_active_since(t, k, &ms));
	CHECK_EQ_INT(collapse_claim(t, k, &b, &l), 0);
	CHECK_EQ_INT(collapse_claim(t, k, &a, &l), 1);
	CHECK_EQ_INT(l.shard, 1);
	collapse_release(t, k);

	/* A full window: LIMIT_COLLAPSE_PROBE keys on one slot are claimed,
	 * one past it finds no slot. */
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct cindex_key ki = { .lo = 64, .hi = i };
		CHECK_EQ_INT(collapse_claim(t, ki, &a, &l), 0);
	}
	struct cindex_key past = { .lo = 64, .hi = 99 };
	CHECK_EQ_INT(collapse_claim(t, past, &a, &l), -ENOSPC);
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++)
		collapse_release(t, (struct cindex_key){ .lo = 64, .hi = i });
	CHECK_EQ_INT(collapse_claim(t, past, &a, &l), 0);
	collapse_release(t, past);
	collapse_free(t);

	/* The race: the smallest table, THREADS claimants. */
	CHECK_EQ_INT(collapse_init(&t, 1), 0);
	pthread_t th[THREADS];
	pthread_barrier_init(&bar, NULL, THREADS);
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, racer, (void *)i);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	CHECK_EQ_INT(atomic_load(&double_leads), 0);
	collapse_free(t);
	return check_exit();
}
