/*
 * tests/unit/test_cache_policy.c — cache/cache_policy: each decision's
 * table, every input flipped alone against the one combination that says
 * yes; the pass-stamp window at LIMIT_COLLAPSE_PASS_MS and one past; the
 * Vary fill bound at store_max_object and one past.
 */
#include <stdio.h>
#include <string.h>

#include "cache/cache_policy.h"
#include "core/limits.h"
#include "check.h"

static void test_request(void)
{
	static const struct {
		enum http1_method m;
		bool body, store;
		enum cpol_request want;
	} cases[] = {
		{ HTTP1_GET,     false, true,  CPOL_REQ_LOOKUP },
		{ HTTP1_HEAD,    false, true,  CPOL_REQ_LOOKUP },
		{ HTTP1_GET,     false, false, CPOL_REQ_BYPASS },
		{ HTTP1_HEAD,    false, false, CPOL_REQ_BYPASS },
		{ HTTP1_GET,     true,  true,  CPOL_REQ_PASS },
		{ HTTP1_GET,     true,  false, CPOL_REQ_PASS },
		{ HTTP1_POST,    false, true,  CPOL_REQ_PASS },
		{ HTTP1_POST,    false, false, CPOL_REQ_PASS },
		{ HTTP1_PUT,     false, true,  CPOL_REQ_PASS },
		{ HTTP1_DELETE,  false, true,  CPOL_REQ_PASS },
		{ HTTP1_OPTIONS, false, true,  CPOL_REQ_PASS },
		{ HTTP1_OTHER,   false, true,  CPOL_REQ_PASS },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_EQ_INT(cpol_request(cases[i].m, cases[i].body, cases[i].store), cases[i].want);
	CHECK_EQ_INT(cpol_request_xcache(CPOL_REQ_PASS), HCACHE_X_PASS);
	CHECK_EQ_INT(cpol_request_xcache(CPOL_REQ_BYPASS), HCACHE_X_BYPASS);
	CHECK_EQ_INT(cpol_request_xcache(CPOL_REQ_NO_KEY), HCACHE_X_BYPASS);
	CHECK_EQ_INT(cpol_request_xcache(CPOL_REQ_LOOKUP), HCACHE_X_MISS);
	CHECK_EQ_STR(hcache_xcache_name(cpol_request_xcache(CPOL_REQ_PASS)), "PASS");
	CHECK_EQ_STR(hcache_xcache_name(cpol_request_xcache(CPOL_REQ_NO_KEY)), "BYPASS");
}

static void test_collapse(void)
{
	const struct cpol_collapse_in yes = { .collapse_on = true, .method = HTTP1_GET };
	struct cpol_collapse_in in;

	CHECK(cpol_collapse_eligible(&yes));
	in = yes; in.collapse_on = false;  CHECK(!cpol_collapse_eligible(&in));
	in = yes; in.method = HTTP1_HEAD;  CHECK(!cpol_collapse_eligible(&in));
	in = yes; in.method = HTTP1_POST;  CHECK(!cpol_collapse_eligible(&in));
	in = yes; in.have_stored = true;   CHECK(!cpol_collapse_eligible(&in));
	in = yes; in.background = true;    CHECK(!cpol_collapse_eligible(&in));
	in = yes; in.range = true;         CHECK(!cpol_collapse_eligible(&in));

	uint64_t since = 7;
	CHECK(!cpol_pass_since(0, &since));
	CHECK(!cpol_pass_since(LIMIT_COLLAPSE_PASS_MS, &since));       /* at: none yet */
	CHECK_EQ_INT(since, 7);                                          /* untouched */
	CHECK(cpol_pass_since(LIMIT_COLLAPSE_PASS_MS + 1, &since));    /* one past */
	CHECK_EQ_INT(since, 1);
	CHECK(cpol_pass_since(LIMIT_COLLAPSE_PASS_MS + 5000, &since));
	CHECK_EQ_INT(since, 5000);

	CHECK(cpol_pass(true, false));
	CHECK(!cpol_pass(true, true));
	CHECK(!cpol_pass(false, false));
	CHECK(!cpol_pass(false, true));
}

static void test_follow(void)
{
	const struct cindex_key k = { .lo = 1, .hi = 2 };
	const struct cpol_leader yes = { .busy = true, .leading = true, .method = HTTP1_GET,
					 .version_minor = 1, .ckey = k };
	struct cpol_leader l;

	CHECK(cpol_may_follow(&yes, 1, k));
	CHECK(!cpol_may_follow(&yes, 0, k));                   /* HTTP/1.0 vs 1.1 */
	CHECK(!cpol_may_follow(&yes, 1, (struct cindex_key){ .lo = 1, .hi = 3 }));
	CHECK(!cpol_may_follow(&yes, 1, (struct cindex_key){ .lo = 0, .hi = 2 }));
	l = yes; l.busy = false;         CHECK(!cpol_may_follow(&l, 1, k));
	l = yes; l.leading = false;      CHECK(!cpol_may_follow(&l, 1, k));
	l = yes; l.background = true;    CHECK(!cpol_may_follow(&l, 1, k));
	l = yes; l.head_queued = true;   CHECK(!cpol_may_follow(&l, 1, k));
	l = yes; l.method = HTTP1_HEAD;  CHECK(!cpol_may_follow(&l, 1, k));
	l = yes; l.version_minor = 0;    CHECK(cpol_may_follow(&l, 0, k));
}

static void test_stored(void)
{
	static const struct {
		enum hcache_action a;
		enum http1_method m;
		enum cpol_stored_do act;
		enum hcache_xcache x;
		bool refresh;
	} cases[] = {
		{ HCACHE_SERVE_FRESH, HTTP1_GET, CPOL_STORED_SERVE, HCACHE_X_HIT, false },
		{ HCACHE_SERVE_FRESH, HTTP1_HEAD, CPOL_STORED_SERVE, HCACHE_X_HIT, false },
		{ HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND, HTTP1_GET, CPOL_STORED_SERVE,
		  HCACHE_X_UPDATING, true },
		{ HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND, HTTP1_HEAD, CPOL_STORED_SERVE,
		  HCACHE_X_UPDATING, false },
		{ HCACHE_SERVE_STALE, HTTP1_GET, CPOL_STORED_SERVE, HCACHE_X_STALE, false },
		{ HCACHE_GATEWAY_TIMEOUT, HTTP1_GET, CPOL_STORED_504, HCACHE_X_MISS, false },
		{ HCACHE_REVALIDATE, HTTP1_GET, CPOL_STORED_ORIGIN, HCACHE_X_EXPIRED, false },
		{ HCACHE_MISS, HTTP1_GET, CPOL_STORED_ORIGIN, HCACHE_X_EXPIRED, false },
		{ HCACHE_MISS, HTTP1_HEAD, CPOL_STORED_ORIGIN, HCACHE_X_EXPIRED, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cpol_stored d = cpol_stored(cases[i].a, cases[i].m);
		CHECK_EQ_INT(d.act, cases[i].act);
		CHECK_EQ_INT(d.xcache, cases[i].x);
		CHECK_EQ_INT(d.refresh, cases[i].refresh);
	}
	CHECK_EQ_STR(hcache_xcache_name(cpol_stored(HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND,
						    HTTP1_GET).xcache), "UPDATING");
	CHECK_EQ_STR(hcache_xcache_name(cpol_stored(HCACHE_REVALIDATE, HTTP1_GET).xcache),
		     "EXPIRED");
}

static void test_xcache_unserved(void)
{
	for (int x = 0; x < HCACHE_X__COUNT; x++) {
		bool hit = x == HCACHE_X_HIT || x == HCACHE_X_UPDATING || x == HCACHE_X_STALE;
		CHECK_EQ_INT(cpol_xcache_unserved((enum hcache_xcache)x), hit ? HCACHE_X_MISS : x);
	}
	CHECK_EQ_STR(hcache_xcache_name(cpol_xcache_unserved(HCACHE_X_EXPIRED)), "EXPIRED");
}

static void test_storable_count(void)
{
	struct hcache_resp_info ri;
	struct hcache_store hs;

	for (int r = 0; r < HCACHE_R__COUNT; r++) {
		for (int cookie = 0; cookie < 2; cookie++) {
			for (int store = 0; store < 2; store++) {
				memset(&ri, 0, sizeof(ri));
				memset(&hs, 0, sizeof(hs));
				ri.set_cookie = cookie;
				hs.store = store;
				hs.reason = (enum hcache_reason)r;
				enum cpol_count want = CPOL_COUNT_NONE;
				if (store && cookie)
					want = CPOL_COUNT_SET_COOKIE_STRIPPED;
				else if (r == HCACHE_R_SET_COOKIE)
					want = CPOL_COUNT_SET_COOKIE_PASSED;
				else if (r == HCACHE_R_REQUEST_ERROR)
					want = CPOL_COUNT_REQUEST_ERROR_PASSED;
				else if (r == HCACHE_R_RANGE)
					want = CPOL_COUNT_RANGE_PASSED;
				CHECK_EQ_INT(cpol_storable_count(&ri, &hs), want);
			}
		}
	}
	/* The rows that matter, spelled out. */
	memset(&ri, 0, sizeof(ri));
	memset(&hs, 0, sizeof(hs));
	hs.reason = HCACHE_R_SET_COOKIE;
	CHECK_EQ_INT(cpol_storable_count(&ri, &hs), CPOL_COUNT_SET_COOKIE_PASSED);
	hs.reason = HCACHE_R_NO_STORE;
	CHECK_EQ_INT(cpol_storable_count(&ri, &hs), CPOL_COUNT_NONE);
	ri.set_cookie = true;
	hs.store = true;
	hs.reason = HCACHE_R_EXPLICIT;
	CHECK_EQ_INT(cpol_storable_count(&ri, &hs), CPOL_COUNT_SET_COOKIE_STRIPPED);
}

static void test_fill(void)
{
	const uint64_t max = 1u << 20;
	const struct cpol_fill_in yes = { .framed = true, .store = true, .content_length = 100,
					  .max_object = max };
	struct cpol_fill_in in;
	struct cpol_fill d;

	d = cpol_fill(&yes);
	CHECK_EQ_INT(d.what, CPOL_FILL_STORE);
	CHECK(!d.drop_primary);
	in = yes; in.framed = false;
	d = cpol_fill(&in);
	CHECK_EQ_INT(d.what, CPOL_FILL_UNFRAMED);
	in = yes; in.store = false;
	CHECK_EQ_INT(cpol_fill(&in).what, CPOL_FILL_NOT_STORED);

	/* Vary: a variant is one object: at max_object stored, one past not. */
	in = yes; in.vary_n = 1; in.content_length = (int64_t)max;
	CHECK_EQ_INT(cpol_fill(&in).what, CPOL_FILL_STORE);
	in.content_length = (int64_t)max + 1;
	CHECK_EQ_INT(cpol_fill(&in).what, CPOL_FILL_VARY_TOO_LARGE);
	in.store = false;                   /* not storable comes first */
	CHECK_EQ_INT(cpol_fill(&in).what, CPOL_FILL_NOT_STORED);
	/* Without Vary the size is no bound here (large objects are sliced). */
	in = yes; in.content_length = (int64_t)max + 1;
	CHECK_EQ_INT(cpol_fill(&in).what, CPOL_FILL_STORE);

	/* Vary: * drops what was stored under the key, stored or not. */
	in = yes; in.vary_star = true; in.store = false; in.had_stored = true;
	d = cpol_fill(&in);
	CHECK(d.drop_primary);
	CHECK_EQ_INT(d.what, CPOL_FILL_NOT_STORED);
	in.had_stored = false;
	CHECK(!cpol_fill(&in).drop_primary);
	in.had_stored = true; in.framed = false;   /* unframed: left as it was */
	d = cpol_fill(&in);
	CHECK(!d.drop_primary);
	CHECK_EQ_INT(d.what, CPOL_FILL_UNFRAMED);
	in = yes; in.had_stored = true;            /* no Vary: * : kept */
	CHECK(!cpol_fill(&in).drop_primary);
}

static void test_conditionals_refresh(void)
{
	for (int i = 0; i < 8; i++)
		CHECK_EQ_INT(cpol_drops_conditionals(i & 1, i & 2, i & 4), i != 0);

	CHECK(cpol_refresh_may_start(true, false));
	CHECK(!cpol_refresh_may_start(true, true));
	CHECK(!cpol_refresh_may_start(false, false));
	CHECK(!cpol_refresh_may_start(false, true));

	CHECK(!cpol_refresh_failed(HCACHE_X_HIT, 0));          /* found fresh: nothing asked */
	CHECK(!cpol_refresh_failed(HCACHE_X_HIT, 503));
	CHECK(cpol_refresh_failed(HCACHE_X_EXPIRED, 0));       /* no answer */
	CHECK(cpol_refresh_failed(HCACHE_X_MISS, 0));
	CHECK(!cpol_refresh_failed(HCACHE_X_MISS, 200));
	CHECK(!cpol_refresh_failed(HCACHE_X_REVALIDATED, 304));
	CHECK(!cpol_refresh_failed(HCACHE_X_EXPIRED, 499));
	CHECK(cpol_refresh_failed(HCACHE_X_EXPIRED, 500));     /* at the bound */
	CHECK(cpol_refresh_failed(HCACHE_X_STALE, 503));
}

int main(void)
{
	test_request();
	test_collapse();
	test_follow();
	test_stored();
	test_xcache_unserved();
	test_storable_count();
	test_fill();
	test_conditionals_refresh();
	return check_exit();
}
