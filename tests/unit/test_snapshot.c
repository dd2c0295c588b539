/*
 * tests/unit/test_snapshot.c — core/snapshot.h's epoch reclamation with
 * fake shards (reader indexes driven by hand): an object is freed only
 * once every reader has announced an epoch past its retirement, in any
 * order; a reader that skipped several retirements frees them all with
 * one announcement; a reader that never runs holds everything; the
 * domain's free releases what is left.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "core/snapshot.h"

struct obj {
	struct snap_node node;              /* first: the free callback casts */
	int id;
	bool freed;
};

static int order[16], n_order;

static void obj_free(struct snap_node *n)
{
	struct obj *o = (struct obj *)n;

	CHECK(!o->freed);
	o->freed = true;
	if (n_order < 16)
		order[n_order++] = o->id;
}

int main(void)
{
	struct snap_domain d;
	struct obj o[6] = { { .id = 0 }, { .id = 1 }, { .id = 2 }, { .id = 3 }, { .id = 4 },
			    { .id = 5 } };

	CHECK_EQ_INT(snap_domain_init(&d, 3), 0);

	/* Retired before any reader ran: held until all three have. */
	snap_retire(&d, &o[0].node, obj_free);
	CHECK_EQ_INT(snap_reclaim(&d), 0);
	snap_reader_enter(&d, 0);
	snap_reader_enter(&d, 1);
	CHECK_EQ_INT(snap_reclaim(&d), 0);           /* reader 2 never ran */
	CHECK(!o[0].freed);
	snap_reader_enter(&d, 2);
	CHECK_EQ_INT(snap_reclaim(&d), 1);
	CHECK(o[0].freed);

	/* A reader in the turn of the retirement (it announced the epoch the
	 * object was retired in) may hold it: not freed. */
	snap_reader_enter(&d, 0);
	snap_reader_enter(&d, 1);
	snap_reader_enter(&d, 2);
	snap_retire(&d, &o[1].node, obj_free);
	CHECK_EQ_INT(snap_reclaim(&d), 0);
	snap_reader_enter(&d, 0);
	snap_reader_enter(&d, 2);
	CHECK_EQ_INT(snap_reclaim(&d), 0);           /* reader 1 still in that turn */
	CHECK_EQ_INT((long long)snap_pending(&d), 1);

	/* Skipped epochs: three more retired while reader 1 sleeps; one
	 * announcement of its passes all four. Readers 0 and 2 move on in
	 * between (each sees some, not all). */
	snap_retire(&d, &o[2].node, obj_free);
	snap_reader_enter(&d, 0);
	snap_retire(&d, &o[3].node, obj_free);
	snap_reader_enter(&d, 2);
	snap_retire(&d, &o[4].node, obj_free);
	CHECK_EQ_INT(snap_reclaim(&d), 0);
	CHECK_EQ_INT((long long)snap_pending(&d), 4);
	snap_reader_enter(&d, 1);
	/* Reader 1 passed all four at once; reader 0 last ran before o[3]
	 * was retired, reader 2 before o[4]: only o[1] and o[2] go. */
	CHECK_EQ_INT(snap_reclaim(&d), 2);
	CHECK(o[1].freed && o[2].freed && !o[3].freed && !o[4].freed);
	snap_reader_enter(&d, 0);
	/* reader 2 ran after o[3]'s retirement, not o[4]'s */
	CHECK_EQ_INT(snap_reclaim(&d), 1);
	CHECK(o[3].freed && !o[4].freed);
	snap_reader_enter(&d, 2);
	CHECK_EQ_INT(snap_reclaim(&d), 1);
	CHECK(o[4].freed);
	/* oldest first among those freed together is not promised; each once */
	CHECK_EQ_INT(n_order, 5);

	/* Left at the end: freed by snap_domain_free. */
	snap_retire(&d, &o[5].node, obj_free);
	CHECK_EQ_INT((long long)snap_pending(&d), 1);
	snap_domain_free(&d);
	CHECK(o[5].freed);
	CHECK_EQ_INT(n_order, 6);
	return check_exit();
}
