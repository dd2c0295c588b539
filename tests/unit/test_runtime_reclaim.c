/*
 * tests/unit/test_runtime_reclaim.c — snapshot reclamation (edge/runtime.h):
 * every retired snapshot is acknowledged by every shard exactly once, and
 * so can be freed, however many a shard skipped between two turns of its
 * loop.
 *
 * A model of the control thread and of shards, run from one thread over
 * random interleavings: publish (rt_retire, as server_publish does), a
 * shard moving to the current snapshot (rt_release_skipped, and the
 * acknowledgement of its old one as sync_runtime does, at once or when its
 * last exchange ends), exchanges starting and ending, and the control
 * thread freeing (free(), poisoned first) every retired snapshot with no
 * acknowledgement pending. A snapshot freed too early is a use after free
 * (ASan) or trips the magic assert in rt_release_skipped; one never freed
 * is left in the retired list at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edge/runtime.h"

#define SHARDS 3
#define ROUNDS 20000

static struct runtime *current, *retired[ROUNDS + 1];
static unsigned n_retired, n_live, n_freed;
static uint64_t generation;
static struct runtime *shard_rt[SHARDS];
/* exchanges per shard, each on the snapshot it started with */
static struct runtime *held[SHARDS][8];
static unsigned n_held[SHARDS];

static struct runtime *snapshot(void)
{
	struct runtime *rt = calloc(1, sizeof(*rt));

	CHECK(rt != NULL);
	rt->magic = RUNTIME_MAGIC;
	rt->generation = ++generation;
	rt->n_shards = SHARDS;
	rt->shard_refs = calloc(SHARDS, sizeof(*rt->shard_refs));
	n_live++;
	return rt;
}

static void publish(void)
{
	struct runtime *rt = snapshot();

	rt_retire(current, rt, SHARDS);
	retired[n_retired++] = current;
	current = rt;
}

static void unref(unsigned s, struct runtime *rt)
{
	if (--rt->shard_refs[s] == 0 && rt != shard_rt[s])
		atomic_fetch_sub(&rt->pending, 1);
}

/* sync_runtime: returns how many snapshots were skipped */
static unsigned sync_shard(unsigned s)
{
	struct runtime *old = shard_rt[s];

	if (old == current)
		return 0;
	shard_rt[s] = current;
	unsigned n = rt_release_skipped(current, old, s);
	if (old->shard_refs[s] == 0)
		atomic_fetch_sub(&old->pending, 1);
	return n;
}

static void reclaim(void)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n_retired; i++) {
		struct runtime *rt = retired[i];
		int p = atomic_load(&rt->pending);
		CHECK(p >= 0);
		if (p > 0) {
			retired[k++] = rt;
			continue;
		}
		free(rt->shard_refs);
		memset(rt, 0xa5, sizeof(*rt));      /* a late reader trips the magic */
		free(rt);
		n_live--;
		n_freed++;
	}
	n_retired = k;
}

int main(void)
{
	unsigned skipped = 0, max_skip = 0;

	srand(16);
	current = snapshot();
	for (unsigned s = 0; s < SHARDS; s++)
		shard_rt[s] = current;
	for (unsigned i = 0; i < ROUNDS; i++) {
		unsigned s = (unsigned)rand() % SHARDS;
		switch (rand() % 6) {
		case 0: case 1:
			publish();          /* often several before a shard runs */
			break;
		case 2: {
			unsigned n = sync_shard(s);
			skipped += n;
			max_skip = n > max_skip ? n : max_skip;
			break;
		}
		case 3:
			if (n_held[s] < 8) {
				held[s][n_held[s]++] = shard_rt[s];
				shard_rt[s]->shard_refs[s]++;
			}
			break;
		case 4:
			if (n_held[s] > 0) {
				unsigned k = (unsigned)rand() % n_held[s];
				unref(s, held[s][k]);
				held[s][k] = held[s][--n_held[s]];
			}
			break;
		default:
			reclaim();
			break;
		}
	}
	/* Load ends: every exchange finishes, every shard catches up. */
	for (unsigned s = 0; s < SHARDS; s++) {
		skipped += sync_shard(s);
		while (n_held[s] > 0)
			unref(s, held[s][--n_held[s]]);
	}
	reclaim();
	CHECK(skipped > 0 && max_skip >= 3);        /* the case under test happened */
	CHECK_EQ_INT(n_retired, 0);
	CHECK_EQ_INT(n_live, 1);
	CHECK_EQ_INT(n_freed, generation - 1);
	free(current->shard_refs);
	free(current);
	return check_exit();
}
