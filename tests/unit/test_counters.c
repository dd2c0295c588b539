/*
 * tests/unit/test_counters.c — the counter registry (core/counters.h):
 * registration places blocks after the core block, names are unique across
 * blocks (a collision is refused and changes nothing), sums over shard
 * arrays and module sums, both output formats, and LIMIT_COUNTER_BLOCKS,
 * LIMIT_COUNTERS and LIMIT_COUNTER_NAME_BYTES at the limit and one past.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "check.h"

static const char *const a_names[] = { "one", "two", "three" };
static const char *const a_docs[] = { "the first (gauge)", "the second", "" };

static struct counters_block blk_a = {
	.prefix = "a_", .names = a_names, .docs = a_docs, .n = 3,
};

static const char *const f_names[] = { "Red", "" };
static struct counters_block blk_f = {
	.prefix = "f_", .names = f_names, .n = 2,
	.family = "f_total", .label = "colour", .family_doc = "things by colour",
};

static uint64_t mod_sum(const void *ctx, unsigned i)
{
	return *(const uint64_t *)ctx * 10 + i;
}
static const char *const m_names[] = { "x" };
static const char *const m_docs[] = { "kept by its module" };
static struct counters_block blk_m = {
	.prefix = "m_", .names = m_names, .docs = m_docs, .n = 1, .sum = mod_sum,
};

/* Output of counters_write into a string (caller frees). */
static char *written(enum counters_format fmt, const uint64_t *const *arrs, unsigned n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	counters_write(f, fmt, arrs, n);
	fclose(f);
	return buf;
}

static void test_register_and_sum(void)
{
	CHECK(counters_core.registered && counters_core.base == 0);
	CHECK_EQ_INT(counters_used(), CTR__COUNT);
	CHECK_EQ_INT(counters_register(&blk_a), 0);
	CHECK_EQ_INT(blk_a.base, CTR__COUNT);
	CHECK_EQ_INT(counters_register(&blk_a), 0);              /* again: a no-op */
	CHECK_EQ_INT(counters_used(), CTR__COUNT + 3);
	CHECK_EQ_INT(counters_register(&blk_f), 0);
	CHECK_EQ_INT(blk_f.base, CTR__COUNT + 3);
	CHECK_EQ_INT(counters_register(&blk_m), 0);
	CHECK_EQ_INT(counters_used(), CTR__COUNT + 5);           /* a sum block takes no slot */
	CHECK_EQ_INT(counters_slot(&blk_a, 2), CTR__COUNT + 2);

	static uint64_t s0[LIMIT_COUNTERS], s1[LIMIT_COUNTERS];
	const uint64_t *arrs[] = { s0, s1 };
	counters_add(s0, CTR_requests, 2);
	counters_add(s1, CTR_requests, 3);
	counters_add(s0, counters_slot(&blk_a, 1), 7);
	counters_add(s1, counters_slot(&blk_a, 1), 1);
	counters_add(s1, counters_slot(&blk_f, 0), 4);
	CHECK_EQ_INT(counters_sum(&counters_core, CTR_requests, arrs, 2), 5);
	CHECK_EQ_INT(counters_sum(&blk_a, 1, arrs, 2), 8);
	CHECK_EQ_INT(counters_sum(&blk_a, 0, arrs, 2), 0);
	CHECK_EQ_INT(counters_sum(&blk_f, 0, arrs, 1), 0);       /* only shard 0 */
	CHECK_EQ_INT(counters_sum(&blk_m, 0, arrs, 2), 0);       /* no ctx: not there */

	/* counters_file: name value, every block, the module's only with a ctx. */
	char *t = written(COUNTERS_FILE, arrs, 2);
	CHECK(strncmp(t, "requests 5\n", 11) == 0);              /* core first */
	CHECK(strstr(t, "\na_one 0\na_two 8\na_three 0\nf_Red 4\nf_ 0\n") != NULL);
	CHECK(strstr(t, "m_x") == NULL);
	free(t);
	uint64_t ctx = 4;
	blk_m.ctx = &ctx;
	CHECK_EQ_INT(counters_sum(&blk_m, 0, arrs, 2), 40);
	t = written(COUNTERS_FILE, arrs, 2);
	CHECK(strstr(t, "\nm_x 40\n") != NULL);
	free(t);

	/* /metrics: _total on counters, not on gauges; "" repeats the doc
	 * above; a family is one metric with a label per name. */
	t = written(COUNTERS_PROMETHEUS, arrs, 2);
	CHECK(strstr(t, "# HELP edgecache_requests_total visitor requests whose head parsed\n"
			"# TYPE edgecache_requests_total counter\nedgecache_requests_total 5\n"));
	CHECK(strstr(t, "# TYPE edgecache_conns_open gauge\nedgecache_conns_open 0\n"));
	CHECK(strstr(t, "# HELP edgecache_status_3xx_total responses to visitors by status class\n"));
	CHECK(strstr(t, "# TYPE edgecache_a_one gauge\nedgecache_a_one 0\n"));
	CHECK(strstr(t, "# HELP edgecache_a_three_total the second\n"
			"# TYPE edgecache_a_three_total counter\nedgecache_a_three_total 0\n"));
	CHECK(strstr(t, "# HELP edgecache_f_total things by colour\n# TYPE edgecache_f_total counter\n"
			"edgecache_f_total{colour=\"Red\"} 4\nedgecache_f_total{colour=\"\"} 0\n"));
	CHECK(strstr(t, "edgecache_m_x_total 40\n"));
	free(t);
	blk_m.ctx = NULL;
}

static void test_collisions(void)
{
	unsigned used = counters_used();
	/* "a_" + "two" is taken; so is "a" + "_two" (the printed name counts). */
	static const char *const dup[] = { "fresh", "two" };
	static struct counters_block b1 = { .prefix = "a_", .names = dup, .docs = dup, .n = 2 };
	static const char *const dup2[] = { "_two" };
	static struct counters_block b2 = { .prefix = "a", .names = dup2, .docs = dup2, .n = 1 };
	static const char *const core_dup[] = { "requests" };
	static struct counters_block b3 = { .prefix = "", .names = core_dup, .docs = core_dup, .n = 1 };
	static const char *const self_dup[] = { "q", "q" };
	static struct counters_block b4 = { .prefix = "q_", .names = self_dup, .docs = self_dup, .n = 2 };
	static const char *const fam[] = { "z" };
	static struct counters_block b5 = { .prefix = "g_", .names = fam, .n = 1,
					   .family = "f_total", .label = "k" };

	CHECK_EQ_INT(counters_register(&b1), -EEXIST);
	CHECK_EQ_INT(counters_register(&b2), -EEXIST);
	CHECK_EQ_INT(counters_register(&b3), -EEXIST);
	CHECK_EQ_INT(counters_register(&b4), -EEXIST);
	CHECK_EQ_INT(counters_register(&b5), -EEXIST);
	CHECK(!b1.registered && !b2.registered && !b3.registered && !b4.registered &&
	      !b5.registered);
	CHECK_EQ_INT(counters_used(), used);                     /* nothing changed */

	static struct counters_block no_docs = { .prefix = "nd_", .names = fam, .n = 1 };
	static struct counters_block no_label = { .prefix = "nl_", .names = fam, .n = 1,
						 .family = "nl_total" };
	static struct counters_block empty = { .prefix = "e_", .names = fam, .n = 0, .docs = fam };
	CHECK_EQ_INT(counters_register(&no_docs), -EINVAL);
	CHECK_EQ_INT(counters_register(&no_label), -EINVAL);
	CHECK_EQ_INT(counters_register(&empty), -EINVAL);
}

/* LIMIT_COUNTER_NAME_BYTES: prefix + name of NAME_BYTES - 1 is taken, one
 * more is refused. */
static void test_name_limit(void)
{
	static char at[LIMIT_COUNTER_NAME_BYTES], past[LIMIT_COUNTER_NAME_BYTES + 1];
	static const char *n_at[1], *n_past[1];
	static struct counters_block b_at = { .prefix = "L", .names = n_at, .docs = n_at, .n = 1 };
	static struct counters_block b_past = { .prefix = "M", .names = n_past, .docs = n_past,
					       .n = 1 };

	memset(at, 'x', LIMIT_COUNTER_NAME_BYTES - 2);           /* + "L" = NAME_BYTES - 1 */
	memset(past, 'x', LIMIT_COUNTER_NAME_BYTES - 1);         /* + "M" = NAME_BYTES */
	n_at[0] = at;
	n_past[0] = past;
	CHECK_EQ_INT(counters_register(&b_past), -EINVAL);
	CHECK_EQ_INT(counters_register(&b_at), 0);
}

/* LIMIT_COUNTERS: a block that fills the array exactly fits, one more
 * slot does not (even for a one-counter block); LIMIT_COUNTER_BLOCKS:
 * registered up to it, the next refused. */
static void test_capacity(void)
{
	static char names[LIMIT_COUNTERS][12];
	static const char *ptrs[LIMIT_COUNTERS];

	for (unsigned i = 0; i < LIMIT_COUNTERS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%u", i);
		ptrs[i] = names[i];
	}
	unsigned room = LIMIT_COUNTERS - counters_used();
	static struct counters_block big_past = { .prefix = "bp_", .names = ptrs, .docs = ptrs };
	static struct counters_block big = { .prefix = "b_", .names = ptrs, .docs = ptrs };
	static struct counters_block one = { .prefix = "o_", .names = ptrs, .docs = ptrs, .n = 1 };
	big_past.n = room + 1;
	big.n = room;
	CHECK_EQ_INT(counters_register(&big_past), -ENOSPC);
	CHECK_EQ_INT(counters_register(&big), 0);
	CHECK_EQ_INT(counters_used(), LIMIT_COUNTERS);
	CHECK_EQ_INT(counters_slot(&big, room - 1), LIMIT_COUNTERS - 1);
	CHECK_EQ_INT(counters_register(&one), -ENOSPC);

	/* Sum blocks take no slot: fill the block table with them. */
	static struct counters_block sums[LIMIT_COUNTER_BLOCKS];
	static char pfx[LIMIT_COUNTER_BLOCKS][8];
	int ret = 0;
	unsigned added = 0;
	for (unsigned i = 0; i < LIMIT_COUNTER_BLOCKS && ret == 0; i++) {
		snprintf(pfx[i], sizeof(pfx[i]), "s%u_", i);
		sums[i] = (struct counters_block){ .prefix = pfx[i], .names = ptrs, .docs = ptrs,
						  .n = 1, .sum = mod_sum };
		ret = counters_register(&sums[i]);
		added += ret == 0;
	}
	/* Core, a, f, m, L, b: 6 before; the table holds LIMIT_COUNTER_BLOCKS. */
	CHECK_EQ_INT(added, LIMIT_COUNTER_BLOCKS - 6);
	CHECK_EQ_INT(ret, -ENOSPC);
}

int main(void)
{
	test_register_and_sum();
	test_collisions();
	test_name_limit();
	test_capacity();
	return check_exit();
}
