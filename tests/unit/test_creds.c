/*
 * tests/unit/test_creds.c — the credentials objects of edge/runtime.h:
 * the daily key roll makes a copy with the new day's keys and the same
 * generation and counts (and nothing when the keys are there); a change
 * keeps the old set as prev for the overlap window with its generation,
 * an unchanged set keeps its generation and unexpired prev; signature
 * counts carry over per generation.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "edge/runtime.h"

#define DAY0 ((time_t)1700000000)          /* 2023-11-14 */

static struct cfg_origin origin(const char *key, const char *secret)
{
	struct cfg_origin o;

	memset(&o, 0, sizeof(o));
	o.name = "o";
	o.s3_auth_enabled = true;
	o.s3_access_key = (char *)key;
	o.s3_secret_key = (char *)secret;
	o.s3_region = "us-east-1";
	o.s3_service = "s3";
	return o;
}

static void sign_n(struct origin_creds *c, unsigned shard, bool prev, unsigned n)
{
	_Atomic uint64_t *w = prev ? &c->per_shard[shard].signed_prev :
			      &c->per_shard[shard].signed_cur;
	atomic_fetch_add(w, n);
}

int main(void)
{
	struct cfg_origin a = origin("AKIDONE", "secret-one"), b = origin("AKIDTWO", "secret-two");
	struct origin_creds *c1, *c2, *c3, *r;
	char err[160];

	CHECK_EQ_INT(rt_creds_new(&a, 2, 5, DAY0, &c1, err, sizeof(err)), 0);
	CHECK_EQ_INT((long long)c1->gen, 5);
	CHECK(!c1->has_prev && c1->prev_gen == 0);
	sign_n(c1, 0, false, 3);
	sign_n(c1, 1, false, 4);
	CHECK_EQ_INT((long long)rt_creds_signed(c1, false), 7);

	/* The roll: nothing to do the same day; the next day a copy. */
	CHECK_EQ_INT(rt_creds_rolled(c1, DAY0 + 3600, 1000, &r), 0);
	CHECK_EQ_INT(rt_creds_rolled(c1, DAY0 + 86400, 1000, &r), 1);
	int64_t d1 = sigv4_day(DAY0 + 86400), d2 = sigv4_day(DAY0 + 2 * 86400);
	CHECK((r->cur.keys[0].day == d1 || r->cur.keys[1].day == d1) &&
	      (r->cur.keys[0].day == d2 || r->cur.keys[1].day == d2));
	CHECK_EQ_INT((long long)r->gen, 5);
	CHECK_EQ_INT((long long)rt_creds_signed(r, false), 7);   /* carried as base */
	CHECK_EQ_STR(r->cur.access_key, "AKIDONE");
	rt_creds_free(r);

	/* A change with a 3 s overlap: prev = the old set, its generation. */
	CHECK_EQ_INT(rt_creds_new(&b, 2, 9, DAY0, &c2, err, sizeof(err)), 0);
	CHECK(rt_creds_follow(c2, c1, 10000, 3000));
	CHECK_EQ_INT((long long)c2->gen, 9);
	CHECK(c2->has_prev && c2->prev_gen == 5 && c2->prev_until_ms == 13000);
	CHECK_EQ_STR(c2->prev.access_key, "AKIDONE");
	CHECK_EQ_INT((long long)rt_creds_signed(c2, true), 7);
	CHECK(rt_creds_of_gen(c2, 5) == &c2->prev && rt_creds_of_gen(c2, 9) == &c2->cur);
	CHECK(rt_creds_of_gen(c2, 4) == NULL);
	sign_n(c2, 1, true, 1);

	/* The same set again (a reload that changed nothing): generation,
	 * counts and the unexpired prev stay; after the window prev goes. */
	CHECK_EQ_INT(rt_creds_new(&b, 2, 12, DAY0, &c3, err, sizeof(err)), 0);
	CHECK(!rt_creds_follow(c3, c2, 11000, 3000));
	CHECK(c3->gen == 9 && c3->has_prev && c3->prev_gen == 5 && c3->prev_until_ms == 13000);
	CHECK_EQ_INT((long long)rt_creds_signed(c3, true), 8);
	CHECK_EQ_INT(rt_creds_rolled(c3, DAY0, 14000, &r), 1);   /* expired prev dropped */
	CHECK(!r->has_prev && r->prev_gen == 5 && r->gen == 9);
	rt_creds_free(r);

	/* No overlap: no prev to retry with, the generation still moves. */
	rt_creds_free(c3);
	CHECK_EQ_INT(rt_creds_new(&a, 2, 15, DAY0, &c3, err, sizeof(err)), 0);
	CHECK(rt_creds_follow(c3, c2, 11000, 0));
	CHECK(!c3->has_prev && c3->prev_gen == 9 && c3->gen == 15);
	CHECK(rt_creds_of_gen(c3, 9) == NULL);

	rt_creds_free(c1);
	rt_creds_free(c2);
	rt_creds_free(c3);
	return check_exit();
}
