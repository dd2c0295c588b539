/*
 * tests/unit/test_refreshed.c — cache/refreshed: a rewrite listed is found
 * by its key and old location only; a landed one stays for reads of the old
 * location until its slot is needed, a failed one is gone; a later rewrite
 * of the key takes the slot over (the earlier one's end is then a no-op);
 * the limits: a meta of meta_cap bytes and one past it, and a probe window
 * full of rewrites in flight (-ENOSPC) — one that lands frees it again.
 */
#include <errno.h>
#include <string.h>

#include "cache/refreshed.h"
#include "core/limits.h"
#include "tests/unit/check.h"

#define CAP 64

/* Keys whose probe windows start at `at` (same lo modulo the table). */
static struct cindex_key key_at(uint64_t at, uint64_t n)
{
	return (struct cindex_key){ .lo = at + n * 1024, .hi = n + 1 };
}

static void test_put_get_done(void)
{
	struct refreshed *t;
	struct cindex_key k = key_at(3, 0), other = key_at(3, 1);
	char out[CAP];

	CHECK_EQ_INT(refreshed_init(&t, 16, CAP), 0);
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, CAP), -ENOENT);
	CHECK_EQ_INT(refreshed_put(t, k, 7, 0, 100, "meta-one", 8), 0);
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, CAP), 8);
	CHECK(memcmp(out, "meta-one", 8) == 0);
	CHECK_EQ_INT(refreshed_get(t, k, 8, out, CAP), -ENOENT);       /* another copy */
	CHECK_EQ_INT(refreshed_get(t, other, 7, out, CAP), -ENOENT);   /* another key */
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, 7), -ENOENT);         /* no room */

	/* Someone else's end of a write changes nothing. */
	refreshed_done(t, k, 1, 100, false);
	refreshed_done(t, k, 0, 101, false);
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, CAP), 8);
	/* Landed: still found for reads of the old copy in flight. */
	refreshed_done(t, k, 0, 100, true);
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, CAP), 8);

	/* A later rewrite of the key takes the slot over; the earlier write's
	 * end is then no-op, the later one's failure drops it. */
	CHECK_EQ_INT(refreshed_put(t, k, 9, 0, 200, "meta-two!", 9), 0);
	CHECK_EQ_INT(refreshed_get(t, k, 7, out, CAP), -ENOENT);
	CHECK_EQ_INT(refreshed_get(t, k, 9, out, CAP), 9);
	refreshed_done(t, k, 0, 100, false);
	CHECK_EQ_INT(refreshed_get(t, k, 9, out, CAP), 9);
	refreshed_done(t, k, 0, 200, false);
	CHECK_EQ_INT(refreshed_get(t, k, 9, out, CAP), -ENOENT);
	refreshed_free(t);
}

static void test_limits(void)
{
	struct refreshed *t;
	char meta[CAP + 1], out[CAP + 1];

	memset(meta, 'm', sizeof(meta));
	CHECK_EQ_INT(refreshed_init(&t, 16, CAP), 0);
	CHECK_EQ_INT(refreshed_put(t, key_at(0, 0), 1, 0, 1, meta, CAP), 0);
	CHECK_EQ_INT(refreshed_get(t, key_at(0, 0), 1, out, sizeof(out)), CAP);
	CHECK_EQ_INT(refreshed_put(t, key_at(0, 1), 1, 0, 2, meta, CAP + 1), -E2BIG);

	/* A window of LIMIT_REFRESHED_PROBE slots, all rewriting: one more
	 * key there finds none; one landed makes room (and is overwritten). */
	for (uint64_t n = 1; n < LIMIT_REFRESHED_PROBE; n++)
		CHECK_EQ_INT(refreshed_put(t, key_at(0, n), 1, 0, (uint32_t)(10 + n), meta, 4), 0);
	struct cindex_key late = key_at(0, LIMIT_REFRESHED_PROBE);
	CHECK_EQ_INT(refreshed_put(t, late, 1, 0, 99, meta, 4), -ENOSPC);
	refreshed_done(t, key_at(0, 3), 0, 13, true);
	CHECK_EQ_INT(refreshed_put(t, late, 1, 0, 99, meta, 4), 0);
	CHECK_EQ_INT(refreshed_get(t, late, 1, out, sizeof(out)), 4);
	CHECK_EQ_INT(refreshed_get(t, key_at(0, 3), 1, out, sizeof(out)), -ENOENT);
	/* A failed one frees its slot as well. */
	CHECK_EQ_INT(refreshed_put(t, key_at(0, 100), 1, 0, 5, meta, 4), -ENOSPC);
	refreshed_done(t, key_at(0, 5), 0, 15, false);
	CHECK_EQ_INT(refreshed_put(t, key_at(0, 100), 1, 0, 5, meta, 4), 0);
	refreshed_free(t);
}

int main(void)
{
	test_put_get_done();
	test_limits();
	return check_exit();
}
