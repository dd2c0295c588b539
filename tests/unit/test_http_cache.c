/*
 * tests/unit/test_http_cache.c — cache/http_cache: one case per rule, on
 * heads parsed by net/http1 from text. The scenarios of the http-cache-tests
 * suite (npm http-cache-tests 0.4.5, tests/NAME.mjs) that are graded
 * "required" and are about these rules are named by their id in a comment
 * ("ct: id") where they are checked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/http_cache.h"
#include "net/http1.h"
#include "check.h"

#define T0 1700000000LL          /* 2023-11-14 22:13:20 UTC */

static struct http1_request rq;
static struct http1_response rs;
/* A ring of text buffers: a test holds a string across at most this many
 * fmt/date calls (each req/resp/store call takes one to three). */
static char bufs[512][8192];
static int next_buf;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	char *b = bufs[next_buf++ % 512];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static const char *date(int64_t t)
{
	char *b = bufs[next_buf++ % 512];

	http1_format_date(t, b);
	return b;
}

/* "HTTP/1.1 <status>\r\n" + headers ("A: b\r\n" lines) + blank line */
static struct hcache_resp_info resp(int status, const char *headers)
{
	const char *s = fmt("HTTP/1.1 %d X\r\n%s\r\n", status, headers);
	struct hcache_resp_info r;

	if (http1_parse_response(s, strlen(s), false, &rs) <= 0) {
		fprintf(stderr, "bad test response: %s\n", s);
		exit(1);
	}
	hcache_parse_response(&rs, T0, &r);
	return r;
}

static struct hcache_req_info req(const char *method, const char *headers)
{
	const char *s = fmt("%s /o HTTP/1.1\r\nHost: a\r\n%s\r\n", method, headers);
	struct hcache_req_info r;

	if (http1_parse_request(s, strlen(s), &rq) <= 0) {
		fprintf(stderr, "bad test request: %s\n", s);
		exit(1);
	}
	hcache_parse_request(&rq, T0, &r);
	return r;
}

/* Designated: a policy field added later is 0 (its default) here. */
static const struct hcache_policy off = { .query_string = HCACHE_QS_INCLUDE };

/* Store a GET's response received at T0 (sent at T0); returns reason. */
static enum hcache_reason store(const struct hcache_policy *p, const char *rqh,
				int status, const char *rsh, struct hcache_entry *e)
{
	struct hcache_req_info q = req("GET", rqh);
	struct hcache_resp_info r = resp(status, rsh);
	struct hcache_store st;

	hcache_storable(p, &q, &r, T0, T0, &st, e);
	CHECK_EQ_INT(st.store, st.reason <= HCACHE_R_NEGATIVE_TTL);
	return st.reason;
}

/* What a plain GET at now gets from a response stored at T0. */
static enum hcache_action decide_at(const struct hcache_policy *p, const char *rsh,
				    const char *rqh, int64_t now)
{
	struct hcache_entry e;
	struct hcache_req_info q;

	if (store(p, "", 200, rsh, &e) > HCACHE_R_NEGATIVE_TTL)
		return -1;
	q = req("GET", rqh);
	return hcache_decide(&e, &q, now);
}

/* ---- Cache-Control parsing --------------------------------------------------- */

static void test_cc(void)
{
	struct hcache_resp_info r;

	r = resp(200, "Cache-Control: max-age=60, s-maxage=30, public, immutable\r\n");
	CHECK_EQ_INT(r.cc.max_age, 60);
	CHECK_EQ_INT(r.cc.s_maxage, 30);
	CHECK(r.cc.flags & HCACHE_CC_PUBLIC && r.cc.flags & HCACHE_CC_IMMUTABLE);
	CHECK_EQ_INT(r.n_cc, 1);
	r = resp(200, "Cache-Control: max-age=\"3600\"\r\n");
	CHECK_EQ_INT(r.cc.max_age, 3600);
	CHECK(!(r.cc.flags & HCACHE_CC_INVALID));
	/* ct: freshness-max-age-single-quoted */
	r = resp(200, "Cache-Control: max-age='3600'\r\n");
	CHECK_EQ_INT(r.cc.max_age, 0);
	CHECK(r.cc.flags & HCACHE_CC_INVALID);
	/* ct: freshness-max-age-ignore-quoted(-rev, -all, -all-rev) */
	r = resp(200, "Cache-Control: extension=\"max-age=3600\", max-age=1\r\n");
	CHECK_EQ_INT(r.cc.max_age, 1);
	r = resp(200, "Cache-Control: max-age=1, extension=\"max-age=3600\"\r\n");
	CHECK_EQ_INT(r.cc.max_age, 1);
	r = resp(200, "Cache-Control: extension=\"max-age=3600\", max-age=\"1\"\r\n");
	CHECK_EQ_INT(r.cc.max_age, 1);
	r = resp(200, "Cache-Control: max-age=\"1\", extension=\"max-age=3600\"\r\n");
	CHECK_EQ_INT(r.cc.max_age, 1);
	r = resp(200, "Cache-Control: a=\"x\\\"max-age=5, \", max-age=2\r\n");
	CHECK_EQ_INT(r.cc.max_age, 2);
	/* ct: freshness-max-age-leading-zero */
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=003600\r\n").cc.max_age, 3600);
	/* invalid → stale (RFC 9111 4.2.1); ct: freshness-max-age-negative */
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=-3600\r\n").cc.max_age, 0);
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=abc\r\n").cc.max_age, 0);
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=3600a\r\n").cc.max_age, 0);
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age\r\n").cc.max_age, 0);
	CHECK_EQ_INT(resp(200, "Cache-Control: s-maxage=1.5\r\n").cc.s_maxage, 0);
	/* capped at 2^31 (RFC 9111 1.2.2) */
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=99999999999999999999\r\n").cc.max_age,
		     LIMIT_DELTA_SECONDS_MAX);
	CHECK_EQ_INT(resp(200, "Cache-Control: max-age=2147483647\r\n").cc.max_age,
		     2147483647);
	/* repeated lines combined; the first occurrence of a directive counts */
	r = resp(200, "Cache-Control: public\r\nCache-Control: max-age=10, max-age=99\r\n"
		 "Cache-Control: max-age=20\r\n");
	CHECK_EQ_INT(r.n_cc, 3);
	CHECK_EQ_INT(r.cc.max_age, 10);
	CHECK(r.cc.flags & HCACHE_CC_PUBLIC);
	/* case, field-name forms */
	r = resp(200, "Cache-Control: nO-StOrE, No-CaChE=\"Set-Cookie\", PRIVATE=\"X-A, X-B\"\r\n");
	CHECK(r.cc.flags & HCACHE_CC_NO_STORE);
	CHECK(r.cc.flags & HCACHE_CC_NO_CACHE);
	CHECK(r.cc.flags & HCACHE_CC_PRIVATE);
	r = resp(200, "Cache-Control: must-revalidate, proxy-revalidate, must-understand, "
		 "stale-while-revalidate=30, stale-if-error=600\r\n");
	CHECK(r.cc.flags & HCACHE_CC_MUST_REVALIDATE && r.cc.flags & HCACHE_CC_PROXY_REVALIDATE);
	CHECK(r.cc.flags & HCACHE_CC_MUST_UNDERSTAND);
	CHECK_EQ_INT(r.cc.stale_while_revalidate, 30);
	CHECK_EQ_INT(r.cc.stale_if_error, 600);
	CHECK_EQ_INT(r.cc.max_age, -1);
	CHECK_EQ_INT(resp(200, "Cache-Control: stale-if-error=x\r\n").cc.stale_if_error, -1);
	CHECK_EQ_INT(resp(200, "").n_cc, 0);
	/* request directives */
	{
		struct hcache_req_info q = req("GET", "Cache-Control: max-stale, min-fresh=5, "
					       "only-if-cached, max-age=0\r\n");

		CHECK(q.cc.flags & HCACHE_CC_MAX_STALE_ANY);
		CHECK(q.cc.flags & HCACHE_CC_ONLY_IF_CACHED);
		CHECK_EQ_INT(q.cc.min_fresh, 5);
		CHECK_EQ_INT(q.cc.max_age, 0);
		q = req("GET", "Cache-Control: max-stale=7, min-fresh=x\r\n");
		CHECK_EQ_INT(q.cc.max_stale, 7);
		CHECK_EQ_INT(q.cc.min_fresh, -1);
		CHECK(!(q.cc.flags & HCACHE_CC_MAX_STALE_ANY));
		/* Pragma: no-cache only without Cache-Control (RFC 9111 5.4) */
		CHECK(req("GET", "Pragma: no-cache\r\n").cc.flags & HCACHE_CC_NO_CACHE);
		CHECK(!(req("GET", "Pragma: no-cache\r\nCache-Control: max-age=5\r\n").cc.flags &
			HCACHE_CC_NO_CACHE));
		CHECK(!(req("GET", "Pragma: x\r\n").cc.flags & HCACHE_CC_NO_CACHE));
	}
}

/* ---- dates, Age, ETag, Vary -------------------------------------------------- */

static void test_dates(void)
{
	int64_t t = 0;

	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, T0, &t), 0);
	/* ct: freshness-expires-wrong-case-tz */
	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Nov 1994 08:49:37 gMT", 29, T0, &t), 0);
	CHECK_EQ_INT(t, 784111777);
	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Nov 1994 08:49:37 UTC", 29, T0, &t), -EINVAL);
	CHECK_EQ_INT(t, 784111777);
	t = 0;
	CHECK_EQ_INT(hcache_parse_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, T0, &t), 0);
	CHECK_EQ_INT(t, 784111777);
	t = 0;
	CHECK_EQ_INT(hcache_parse_date("Sun Nov  6 08:49:37 1994", 24, T0, &t), 0);
	CHECK_EQ_INT(t, 784111777);
	CHECK_EQ_INT(hcache_parse_date("Thu, 01 Jan 1970 00:00:00 GMT", 29, T0, &t), 0);
	CHECK_EQ_INT(t, 0);
	CHECK_EQ_INT(hcache_parse_date(date(T0), 29, T0, &t), 0);
	CHECK_EQ_INT(t, T0);
	/* two-digit years: more than 50 years ahead → the past century */
	CHECK_EQ_INT(hcache_parse_date("Tuesday, 01-Jan-80 00:00:00 GMT", 31, T0, &t), 0);
	CHECK_EQ_INT(t, 315532800);             /* 1980, not 2080 */
	CHECK_EQ_INT(hcache_parse_date("Thursday, 01-Jan-60 00:00:00 GMT", 32, T0, &t), 0);
	CHECK_EQ_INT(t, 2840140800);            /* 2060: not more than 50 years ahead */
	CHECK_EQ_INT(hcache_parse_date("Friday, 01-Jan-38 00:00:00 GMT", 30, T0, &t), 0);
	CHECK_EQ_INT(t, 2145916800);            /* 2038 */
	CHECK_EQ_INT(hcache_parse_date("0", 1, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("-1", 2, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Nov 1994 08:49:37 UTC", 29, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Foo 1994 08:49:37 GMT", 29, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("Sun, 29 Feb 2023 08:49:37 GMT", 29, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("Thu, 29 Feb 2024 08:49:37 GMT", 29, T0, &t), 0);
	CHECK_EQ_INT(hcache_parse_date("Sun, 06 Nov 1994 24:00:00 GMT", 29, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("Sun, 6 Nov 1994 08:49:37 GMT", 28, T0, &t), -EINVAL);
	CHECK_EQ_INT(hcache_parse_date("", 0, T0, &t), -EINVAL);
}

static void test_fields(void)
{
	struct hcache_resp_info r;

	r = resp(200, fmt("Date: %s\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			  "ETag: W/\"x\"\r\nAge: 12\r\nExpires: 0\r\n", date(T0)));
	CHECK_EQ_INT(r.date, T0);
	CHECK_EQ_INT(r.last_modified, 784111777);
	CHECK(r.etag.len == 5 && r.etag_weak);
	CHECK_EQ_INT(r.age, 12);
	CHECK(r.has_expires);
	CHECK_EQ_INT(r.expires, 0);           /* invalid Expires: already expired */
	r = resp(200, "ETag: abc\r\nDate: yesterday\r\n");
	CHECK(r.etag.len == 0 && r.etag_invalid);
	CHECK_EQ_INT(r.date, HCACHE_TIME_NONE);
	CHECK(!r.has_expires);
	CHECK_EQ_INT(resp(200, "ETag: \"a\"b\"\r\n").etag.len, 0);
	CHECK_EQ_INT(resp(200, "ETag: \"\"\r\n").etag.len, 2);
	/* ct: age-parse-*: RFC 9111 5.1 — the first member counts; a first
	 * member that is not a non-negative integer makes Age ignored (as if
	 * absent: fresh under max-age=3600), never stale. */
	static const char *const ignored_age[] = {
		"Age: abc\r\n", "Age: -7200\r\n", "Age: 7200.0\r\n", "Age: 7200;foo=bar\r\n",
		"Age: 7200;foo=111\r\n", "Age: \r\n", "Age: , 7200\r\n",
	};
	for (size_t i = 0; i < sizeof(ignored_age) / sizeof(ignored_age[0]); i++) {
		r = resp(200, ignored_age[i]);
		CHECK(r.age_ignored);
		CHECK_EQ_INT(r.age, 0);
		CHECK_EQ_INT(decide_at(&off, fmt("Cache-Control: max-age=3600\r\n%s", ignored_age[i]),
				       "", T0), HCACHE_SERVE_FRESH);
	}
	static const struct { const char *h; int64_t age; enum hcache_action act; } first_age[] = {
		{ "Age: 0, 7200\r\n", 0, HCACHE_SERVE_FRESH },          /* age-parse-prefix */
		{ "Age: 0\r\nAge: 7200\r\n", 0, HCACHE_SERVE_FRESH },   /* -prefix-twoline */
		{ "Age: 0, 0\r\n", 0, HCACHE_SERVE_FRESH },             /* -dup-0 */
		{ "Age: 0\r\nAge: 0\r\n", 0, HCACHE_SERVE_FRESH },      /* -dup-0-twoline */
		{ "Age: 7200, 0\r\n", 7200, HCACHE_REVALIDATE },        /* -suffix */
		{ "Age: 7200\r\nAge: 0\r\n", 7200, HCACHE_REVALIDATE }, /* -suffix-twoline */
		{ "Age: 2147483648\r\n", LIMIT_DELTA_SECONDS_MAX, HCACHE_REVALIDATE }, /* -large */
		{ "Age: 99999999999999999999\r\n", LIMIT_DELTA_SECONDS_MAX, HCACHE_REVALIDATE },
	};
	for (size_t i = 0; i < sizeof(first_age) / sizeof(first_age[0]); i++) {
		r = resp(200, first_age[i].h);
		CHECK(!r.age_ignored);
		CHECK_EQ_INT(r.age, first_age[i].age);
		CHECK_EQ_INT(decide_at(&off, fmt("Cache-Control: max-age=3600\r\n%s", first_age[i].h),
				       "", T0), first_age[i].act);
	}
	/* age-parse-dup-old: Age 3600 twice under max-age=10000 is fresh */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=10000\r\nAge: 3600\r\nAge: 3600\r\n",
			       "", T0), HCACHE_SERVE_FRESH);
	/* Vary */
	r = resp(200, "Vary: Accept-Encoding, ,Origin\r\nVary: Accept\r\n");
	CHECK(!r.vary.star && r.vary.n == 3);
	/* ct: vary-syntax-* */
	CHECK(resp(200, "Vary: *\r\n").vary.star);
	CHECK(resp(200, "Vary: *, *\r\n").vary.star);
	CHECK(resp(200, "Vary: *\r\nVary: *\r\n").vary.star);
	CHECK(resp(200, "Vary: , *\r\n").vary.star);
	CHECK(resp(200, "Vary: \r\nVary: *\r\n").vary.star);
	CHECK(resp(200, "Vary: *, Foo\r\n").vary.star);
	CHECK(resp(200, "Vary: Foo, *\r\n").vary.star);
	/* LIMIT_VARY_FIELDS at the limit and one past it */
	{
		char v[512] = "Vary: ";
		size_t n = strlen(v);

		for (int i = 0; i < LIMIT_VARY_FIELDS; i++)
			n += (size_t)snprintf(v + n, sizeof(v) - n, "%sH%d", i ? ", " : "", i);
		r = resp(200, fmt("%s\r\n", v));
		CHECK(!r.vary.too_many && r.vary.n == LIMIT_VARY_FIELDS);
		r = resp(200, fmt("%s, Hx\r\n", v));
		CHECK(r.vary.too_many);
	}
}

/* ---- storability (RFC 9111 3) ---------------------------------------------- */

static void test_storable(void)
{
	struct hcache_policy ttl = off;
	struct hcache_entry e;
	struct hcache_req_info q;
	struct hcache_resp_info r;
	struct hcache_store st;
	const char *fresh = "Cache-Control: max-age=3600\r\n";

	ttl.default_ttl_s = 3600;
	CHECK_EQ_INT(store(&off, "", 200, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(e.lifetime_s, 3600);
	/* methods: only GET is stored (HEAD has no body to store) */
	r = resp(200, fresh);
	q = req("HEAD", "");
	hcache_storable(&off, &q, &r, T0, T0, &st, &e);
	CHECK(!st.store && st.reason == HCACHE_R_METHOD);
	q = req("POST", "Content-Length: 0\r\n");
	hcache_storable(&off, &q, &r, T0, T0, &st, &e);
	CHECK_EQ_INT(st.reason, HCACHE_R_METHOD);
	/* ct: cc-resp-no-store(-case-insensitive, -fresh), cc-resp-private-shared */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: no-store\r\n", &e), HCACHE_R_NO_STORE);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: nO-StOrE\r\n", &e), HCACHE_R_NO_STORE);
	CHECK_EQ_INT(store(&off, "", 200, fmt("Cache-Control: max-age=3600, no-store\r\n"
					      "Expires: %s\r\n", date(T0 + 3600)), &e),
		     HCACHE_R_NO_STORE);
	CHECK_EQ_INT(store(&off, "Cache-Control: no-store\r\n", 200, fresh, &e),
		     HCACHE_R_NO_STORE_REQUEST);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: private, max-age=3600\r\n", &e),
		     HCACHE_R_PRIVATE);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: private=\"Set-Cookie\", max-age=9\r\n",
			   &e), HCACHE_R_PRIVATE);
	/* ct: other-authorization; RFC 9111 3.5 */
	CHECK_EQ_INT(store(&off, "Authorization: Basic eDp5\r\n", 200, fresh, &e),
		     HCACHE_R_AUTHORIZATION);
	CHECK_EQ_INT(store(&off, "Authorization: x\r\n", 200,
			   "Cache-Control: public, max-age=9\r\n", &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "Authorization: x\r\n", 200, "Cache-Control: s-maxage=9\r\n",
			   &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "Authorization: x\r\n", 200,
			   "Cache-Control: must-revalidate, max-age=9\r\n", &e), HCACHE_R_EXPLICIT);
	/* ct: cc-resp-no-cache-revalidate: no-cache with a validator is stored
	 * (stale: revalidated on every use); without one it is not */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: no-cache\r\nETag: \"a\"\r\n", &e),
		     HCACHE_R_EXPLICIT);
	CHECK(e.lifetime_s == 0 && (e.flags & HCACHE_E_NO_CACHE));
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: no-cache\r\n", &e),
		     HCACHE_R_NO_FRESHNESS);
	CHECK_EQ_INT(store(&off, "", 404, "Cache-Control: no-cache\r\nETag: \"a\"\r\n", &e),
		     HCACHE_R_NO_FRESHNESS);
	/* ct: vary-star */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: max-age=9\r\nVary: *\r\n", &e),
		     HCACHE_R_VARY_STAR);
	/* statuses */
	CHECK_EQ_INT(store(&off, "", 206, fresh, &e), HCACHE_R_PARTIAL);
	CHECK_EQ_INT(store(&off, "", 304, fresh, &e), HCACHE_R_STATUS);
	CHECK_EQ_INT(store(&off, "", 401, fresh, &e), HCACHE_R_AUTH_STATUS);
	CHECK_EQ_INT(store(&off, "", 403, fresh, &e), HCACHE_R_AUTH_STATUS);
	CHECK_EQ_INT(store(&off, "", 407, fresh, &e), HCACHE_R_AUTH_STATUS);
	/* a 5xx: never by default (CPDoS), whatever its freshness */
	CHECK_EQ_INT(store(&off, "", 500, fresh, &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&off, "", 503, fresh, &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&off, "", 599, fresh, &e), HCACHE_R_SERVER_ERROR);
	/* ct: status-5xx-fresh: with store_server_errors, on explicit freshness only */
	static const struct hcache_policy errs = { .query_string = HCACHE_QS_INCLUDE,
						   .store_server_errors = true,
						   .default_ttl_s = 60,
						   .heuristic_freshness = true };
	CHECK_EQ_INT(store(&errs, "", 500, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&errs, "", 503, "Cache-Control: s-maxage=9\r\n", &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&errs, "", 599, fmt("Date: %s\r\nExpires: %s\r\n", date(T0),
					       date(T0 + 60)), &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&errs, "", 502, "CDN-Cache-Control: max-age=9\r\n", &e),
		     HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&errs, "", 500, "", &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&errs, "", 503, "Cache-Control: public\r\n", &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&errs, "", 501, fmt("Last-Modified: %s\r\n", date(T0 - 86400)), &e),
		     HCACHE_R_SERVER_ERROR);
	/* ct: status-599-must-understand; an understood status overrides no-store */
	CHECK_EQ_INT(store(&off, "", 299, "Cache-Control: max-age=9, must-understand\r\n", &e),
		     HCACHE_R_MUST_UNDERSTAND);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: max-age=9, must-understand, "
			   "no-store\r\n", &e), HCACHE_R_EXPLICIT);
	/* explicit freshness stores statuses that are not cacheable by default */
	CHECK_EQ_INT(store(&off, "", 302, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "", 299, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&ttl, "", 302, "", &e), HCACHE_R_STATUS);
	/* no freshness: default_ttl (0 = not stored) */
	CHECK_EQ_INT(store(&off, "", 200, "ETag: \"a\"\r\n", &e), HCACHE_R_NO_FRESHNESS);
	CHECK_EQ_INT(store(&ttl, "", 200, "ETag: \"a\"\r\n", &e), HCACHE_R_DEFAULT_TTL);
	CHECK_EQ_INT(e.lifetime_s, 3600);
	CHECK_EQ_INT(store(&ttl, "", 204, "", &e), HCACHE_R_DEFAULT_TTL);
	/* 404/410: negative_ttl, or their own freshness */
	CHECK_EQ_INT(store(&ttl, "", 404, "", &e), HCACHE_R_NO_FRESHNESS);
	ttl.negative_ttl_s = 30;
	CHECK_EQ_INT(store(&ttl, "", 404, "", &e), HCACHE_R_NEGATIVE_TTL);
	CHECK_EQ_INT(e.lifetime_s, 30);
	CHECK_EQ_INT(store(&ttl, "", 410, "", &e), HCACHE_R_NEGATIVE_TTL);
	CHECK_EQ_INT(store(&off, "", 404, "Cache-Control: max-age=60\r\n", &e),
		     HCACHE_R_EXPLICIT);
	/* ETag at LIMIT_ETAG_BYTES and one past it */
	{
		char tag[LIMIT_ETAG_BYTES + 2];

		memset(tag, 'x', sizeof(tag));
		tag[0] = '"';
		tag[LIMIT_ETAG_BYTES - 1] = '"';
		tag[LIMIT_ETAG_BYTES] = '\0';
		CHECK_EQ_INT(store(&off, "", 200, fmt("%sETag: %s\r\n", fresh, tag), &e),
			     HCACHE_R_EXPLICIT);
		CHECK_EQ_INT(e.etag_len, LIMIT_ETAG_BYTES);
		CHECK(memcmp(e.etag, tag, LIMIT_ETAG_BYTES) == 0);
		tag[LIMIT_ETAG_BYTES - 1] = 'x';
		tag[LIMIT_ETAG_BYTES] = '"';
		tag[LIMIT_ETAG_BYTES + 1] = '\0';
		CHECK_EQ_INT(store(&off, "", 200, fmt("%sETag: %s\r\n", fresh, tag), &e),
			     HCACHE_R_ETAG_TOO_LONG);
	}
	CHECK_EQ_INT(store(&off, "", 200, fmt("%sVary: A\r\n", fresh), &e), HCACHE_R_EXPLICIT);
	/* every reason has a counter name */
	for (int i = 0; i < HCACHE_R__COUNT; i++)
		CHECK(strcmp(hcache_reason_name(i), "unknown") != 0);
	CHECK_EQ_STR(hcache_reason_name(HCACHE_R__COUNT), "unknown");
	CHECK_EQ_STR(hcache_reason_name(HCACHE_R_NO_STORE), "no_store");
}

/* CPDoS: what one visitor's request caused is never the URL's object. */
static void test_request_caused(void)
{
	struct hcache_policy ttl = off;
	struct hcache_entry e;
	const char *fresh = "Cache-Control: public, max-age=3600\r\n";
	static const int mine[] = { 400, 405, 406, 411, 412, 413, 414, 416, 417, 421, 429,
				    431, 451, 499 };

	ttl.default_ttl_s = 3600;
	ttl.heuristic_freshness = true;
	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		CHECK_EQ_INT(store(&off, "", mine[i], fresh, &e), HCACHE_R_REQUEST_ERROR);
		CHECK_EQ_INT(store(&ttl, "", mine[i], fmt("Last-Modified: %s\r\n",
							   date(T0 - 86400)), &e),
			     HCACHE_R_REQUEST_ERROR);
	}
	/* the resource is not there: about the URL */
	CHECK_EQ_INT(store(&off, "", 404, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "", 410, fresh, &e), HCACHE_R_EXPLICIT);
	/* a 5xx never on a guess: neither default_ttl nor the heuristic */
	CHECK_EQ_INT(store(&ttl, "", 501, fmt("Last-Modified: %s\r\n", date(T0 - 86400)), &e),
		     HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&ttl, "", 502, "", &e), HCACHE_R_SERVER_ERROR);
	/* a request with Range: only a 200 (the whole object) is stored */
	CHECK_EQ_INT(store(&off, "Range: bytes=-0\r\n", 200, fresh, &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "Range: bytes=-0\r\n", 416, fresh, &e),
		     HCACHE_R_REQUEST_ERROR);
	CHECK_EQ_INT(store(&off, "Range: bytes=0-1,5-6\r\n", 206, fresh, &e),
		     HCACHE_R_PARTIAL);
	CHECK_EQ_INT(store(&off, "Range: x\r\n", 404, fresh, &e), HCACHE_R_RANGE);
	CHECK_EQ_INT(store(&off, "Range: x\r\n", 301, fresh, &e), HCACHE_R_RANGE);
	CHECK_EQ_INT(store(&off, "Range: x\r\n", 204, fresh, &e), HCACHE_R_RANGE);
}

/* Set-Cookie: passed (not stored) unless the zone strips it. */
static void test_set_cookie(void)
{
	struct hcache_policy strip = off;
	struct hcache_entry e;
	struct hcache_resp_info r;
	const char *fresh = "Cache-Control: max-age=3600\r\n";

	CHECK_EQ_INT(store(&off, "", 200, fmt("%sSet-Cookie: sid=1\r\n", fresh), &e),
		     HCACHE_R_SET_COOKIE);
	CHECK_EQ_INT(store(&off, "", 200, fmt("set-cookie: a=1\r\n%sSET-COOKIE: b=2\r\n", fresh),
			   &e), HCACHE_R_SET_COOKIE);
	CHECK_EQ_INT(store(&off, "", 404, fmt("%sSet-Cookie: sid=1\r\n", fresh), &e),
		     HCACHE_R_SET_COOKIE);
	/* a more precise reason first; Set-Cookie2 sets nothing in a browser */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: private, max-age=9\r\nSet-Cookie: a=1\r\n",
			   &e), HCACHE_R_PRIVATE);
	CHECK_EQ_INT(store(&off, "", 200, fmt("%sSet-Cookie2: a=1\r\n", fresh), &e),
		     HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(store(&off, "", 200, fmt("%sX-Set-Cookie: a=1\r\n", fresh), &e),
		     HCACHE_R_EXPLICIT);
	strip.set_cookie = HCACHE_SC_STRIP;
	CHECK_EQ_INT(store(&strip, "", 200, fmt("%sSet-Cookie: sid=1\r\n", fresh), &e),
		     HCACHE_R_EXPLICIT);
	r = resp(200, "Set-Cookie: a=1\r\n");
	CHECK(r.set_cookie);
	r = resp(200, fresh);
	CHECK(!r.set_cookie);
	CHECK_EQ_STR(hcache_reason_name(HCACHE_R_SET_COOKIE), "set_cookie");
	CHECK_EQ_STR(hcache_reason_name(HCACHE_R_REQUEST_ERROR), "request_error");
	CHECK_EQ_STR(hcache_reason_name(HCACHE_R_RANGE), "range");
}

static void test_heuristic(void)
{
	struct hcache_policy h = off;
	struct hcache_entry e;
	const char *lm = fmt("Date: %s\r\nLast-Modified: %s\r\n", date(T0), date(T0 - 100000));
	const char *old = fmt("Date: %s\r\nLast-Modified: %s\r\n", date(T0),
			      date(T0 - 100 * 86400));

	CHECK_EQ_INT(store(&off, "", 200, lm, &e), HCACHE_R_NO_FRESHNESS);
	h.heuristic_freshness = true;
	CHECK_EQ_INT(store(&h, "", 200, lm, &e), HCACHE_R_HEURISTIC);
	CHECK_EQ_INT(e.lifetime_s, 10000);    /* 10% of Last-Modified's age */
	CHECK_EQ_INT(store(&h, "", 200, old, &e), HCACHE_R_HEURISTIC);
	CHECK_EQ_INT(e.lifetime_s, LIMIT_HEURISTIC_S_MAX);
	/* ct: heuristic-201/202/403/502/503/504/599-not_cached */
	CHECK_EQ_INT(store(&h, "", 201, lm, &e), HCACHE_R_STATUS);
	CHECK_EQ_INT(store(&h, "", 202, lm, &e), HCACHE_R_STATUS);
	CHECK_EQ_INT(store(&h, "", 403, lm, &e), HCACHE_R_AUTH_STATUS);
	CHECK_EQ_INT(store(&h, "", 502, lm, &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&h, "", 599, lm, &e), HCACHE_R_SERVER_ERROR);
	CHECK_EQ_INT(store(&h, "", 301, lm, &e), HCACHE_R_HEURISTIC);
	/* public makes any status heuristically cacheable (RFC 9111 4.2.2) */
	CHECK_EQ_INT(store(&h, "", 299, fmt("%sCache-Control: public\r\n", lm), &e),
		     HCACHE_R_HEURISTIC);
	/* before default_ttl */
	h.default_ttl_s = 5;
	CHECK_EQ_INT(store(&h, "", 200, lm, &e), HCACHE_R_HEURISTIC);
	CHECK_EQ_INT(store(&h, "", 200, "", &e), HCACHE_R_DEFAULT_TTL);
}

/* ---- freshness and age (RFC 9111 4.2) ---------------------------------------- */

static void test_freshness(void)
{
	struct hcache_entry e;
	const char *d0 = fmt("Date: %s\r\n", date(T0));

	/* ct: freshness-max-age-0, -age, -0-expires */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=0\r\n", "", T0), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=3600\r\nAge: 12000\r\n", "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("Cache-Control: max-age=0\r\nExpires: %s\r\n",
					 date(T0 + 3600)), "", T0), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=3600\r\n", "", T0 + 3599),
		     HCACHE_SERVE_FRESH);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=3600\r\n", "", T0 + 3600),
		     HCACHE_REVALIDATE);
	/* ct: freshness-max-age-s-maxage-shared-longer(-reversed, -multiple) */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: s-maxage=1, max-age=3600\r\n", "", T0 + 2),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=3600, s-maxage=1\r\n", "", T0 + 2),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=3600\r\nCache-Control: s-maxage=1\r\n",
			       "", T0 + 2), HCACHE_REVALIDATE);
	/* ct: freshness-s-maxage-shared */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: s-maxage=3600\r\n", "", T0 + 10),
		     HCACHE_SERVE_FRESH);
	/* ct: freshness-expires-past, -present, -old-date, -invalid */
	CHECK_EQ_INT(decide_at(&off, fmt("%sExpires: %s\r\n", d0, date(T0 - 1)), "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("%sExpires: %s\r\n", d0, date(T0)), "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("Date: %s\r\nExpires: %s\r\n", date(T0 + 10),
					 date(T0 + 5)), "", T0), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("%sExpires: 0\r\n", d0), "", T0), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("%sExpires: %s\r\n", d0, date(T0 + 100)), "", T0 + 50),
		     HCACHE_SERVE_FRESH);
	/* Expires - Date, with Date 100 s fast and slow: lifetime is 3600 */
	CHECK_EQ_INT(store(&off, "", 200, fmt("Date: %s\r\nExpires: %s\r\n", date(T0 + 100),
					      date(T0 + 3700)), &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(e.lifetime_s, 3600);
	/* ct: freshness-expires-age-slow-date, -fast-date */
	CHECK_EQ_INT(decide_at(&off, fmt("Date: %s\r\nExpires: %s\r\nAge: 7200\r\n",
					 date(T0 - 10), date(T0 + 3590)), "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, fmt("Date: %s\r\nExpires: %s\r\nAge: 7200\r\n",
					 date(T0 + 10), date(T0 + 3610)), "", T0),
		     HCACHE_REVALIDATE);
	/* 4.2.3: apparent age from Date, response delay, Age */
	{
		struct hcache_req_info q = req("GET", "");
		struct hcache_resp_info r = resp(200, fmt("Date: %s\r\nAge: 5\r\n"
							 "Cache-Control: max-age=100\r\n",
							 date(T0 - 30)));
		struct hcache_store st;

		hcache_storable(&off, &q, &r, T0 - 2, T0, &st, &e);
		CHECK_EQ_INT(e.corrected_initial_age, 30);      /* max(30, 5 + 2) */
		CHECK_EQ_INT(hcache_age(&e, T0), 30);
		CHECK_EQ_INT(hcache_age(&e, T0 + 10), 40);
		CHECK_EQ_INT(st.fresh_until, T0 + 70);
		r = resp(200, fmt("Date: %s\r\nAge: 50\r\nCache-Control: max-age=100\r\n",
				  date(T0)));
		hcache_storable(&off, &q, &r, T0 - 2, T0, &st, &e);
		CHECK_EQ_INT(e.corrected_initial_age, 52);
		CHECK_EQ_INT(hcache_age(&e, T0 - 100), 52);     /* clock went back */
		/* ct: other-age-gen: Age is sent even when the origin sent none */
		r = resp(200, "Cache-Control: max-age=100\r\n");
		hcache_storable(&off, &q, &r, T0, T0, &st, &e);
		CHECK_EQ_INT(hcache_age(&e, T0 + 7), 7);
		CHECK_EQ_INT(e.date, T0);      /* ct: other-date-update: Date is kept */
	}
}

/* ---- the serving decision ----------------------------------------------------- */

static void test_decide(void)
{
	struct hcache_policy z = off;
	struct hcache_req_info q = req("GET", "Cache-Control: only-if-cached\r\n");
	const char *ma = "Cache-Control: max-age=100\r\n";

	CHECK_EQ_INT(hcache_decide(NULL, &q, T0), HCACHE_GATEWAY_TIMEOUT);
	q = req("GET", "");
	CHECK_EQ_INT(hcache_decide(NULL, &q, T0), HCACHE_MISS);
	/* ct: cc-resp-no-cache(-case-insensitive) */
	CHECK_EQ_INT(decide_at(&off, fmt("Cache-Control: no-cache, max-age=3600\r\n"
					 "Expires: %s\r\n", date(T0 + 3600)), "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: No-CaChE, max-age=3600\r\n", "", T0),
		     HCACHE_REVALIDATE);
	/* ct: cc-resp-must-revalidate-stale */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=2, must-revalidate\r\n", "",
			       T0 + 3), HCACHE_REVALIDATE);
	/* request directives against max-age=100 stored at T0 */
	static const struct { const char *rqh; int dt; enum hcache_action want; } rd[] = {
		{ "Cache-Control: no-cache\r\n", 0, HCACHE_REVALIDATE },
		{ "Pragma: no-cache\r\n", 0, HCACHE_REVALIDATE },
		{ "Cache-Control: max-age=10\r\n", 10, HCACHE_SERVE_FRESH },
		{ "Cache-Control: max-age=10\r\n", 11, HCACHE_REVALIDATE },
		{ "Cache-Control: min-fresh=50\r\n", 50, HCACHE_SERVE_FRESH },
		{ "Cache-Control: min-fresh=50\r\n", 51, HCACHE_REVALIDATE },
		{ "Cache-Control: max-stale=20\r\n", 120, HCACHE_SERVE_STALE },
		{ "Cache-Control: max-stale=20\r\n", 121, HCACHE_REVALIDATE },
		{ "Cache-Control: max-stale\r\n", 99999, HCACHE_SERVE_STALE },
	};
	for (size_t i = 0; i < sizeof(rd) / sizeof(rd[0]); i++)
		CHECK_EQ_INT(decide_at(&off, ma, rd[i].rqh, T0 + rd[i].dt), rd[i].want);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=100, must-revalidate\r\n",
			       "Cache-Control: max-stale\r\n", T0 + 101), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, ma, "Cache-Control: only-if-cached\r\n", T0 + 50),
		     HCACHE_SERVE_FRESH);
	CHECK_EQ_INT(decide_at(&off, ma, "Cache-Control: only-if-cached\r\n", T0 + 101),
		     HCACHE_GATEWAY_TIMEOUT);
	/* stale-while-revalidate: the response's, else the zone's */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=100, stale-while-revalidate=50\r\n",
			       "", T0 + 149), HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=100, stale-while-revalidate=50\r\n",
			       "", T0 + 150), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, ma, "", T0 + 101), HCACHE_REVALIDATE);
	z.stale_while_revalidate_s = 60;
	CHECK_EQ_INT(decide_at(&z, ma, "", T0 + 159), HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND);
	CHECK_EQ_INT(decide_at(&z, "Cache-Control: max-age=100, stale-while-revalidate=0\r\n",
			       "", T0 + 101), HCACHE_REVALIDATE);
	/* ct: stale-close-must-revalidate, -proxy-revalidate, -no-cache, -s-maxage=2 */
	CHECK_EQ_INT(decide_at(&z, "Cache-Control: max-age=100, must-revalidate\r\n", "",
			       T0 + 101), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&z, "Cache-Control: max-age=100, proxy-revalidate\r\n", "",
			       T0 + 101), HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&z, "Cache-Control: s-maxage=100\r\n", "", T0 + 101),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&z, ma, "Cache-Control: max-age=0\r\n", T0 + 101),
		     HCACHE_REVALIDATE);
	/* immutable: a reload does not revalidate while fresh */
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=100, immutable\r\n",
			       "Cache-Control: no-cache\r\n", T0 + 1), HCACHE_SERVE_FRESH);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=100, immutable\r\n",
			       "Cache-Control: no-cache\r\n", T0 + 100), HCACHE_REVALIDATE);
	/* ct: status-*-stale: a stale stored 3xx/4xx is not reused (400 and
	 * 499 are never stored: test_request_caused) */
	{
		static const int codes[] = { 200, 203, 204, 299, 301, 302, 303, 307, 308,
					     404, 410 };
		struct hcache_entry e;

		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
			CHECK_EQ_INT(store(&off, "", codes[i], "Cache-Control: max-age=2\r\n", &e),
				     HCACHE_R_EXPLICIT);
			q = req("GET", "");
			CHECK_EQ_INT(hcache_decide(&e, &q, T0 + 3), HCACHE_REVALIDATE);
			CHECK_EQ_INT(hcache_decide(&e, &q, T0 + 1), HCACHE_SERVE_FRESH);
		}
	}
	CHECK_EQ_STR(hcache_action_name(HCACHE_GATEWAY_TIMEOUT), "gateway_timeout");
}

static void test_stale_if_error(void)
{
	struct hcache_policy z = off;
	struct hcache_entry e;

	store(&off, "", 200, "Cache-Control: max-age=100, stale-if-error=60\r\n", &e);
	CHECK(hcache_stale_if_error(&e, NULL, T0 + 50));
	CHECK(hcache_stale_if_error(&e, NULL, T0 + 159));
	CHECK(!hcache_stale_if_error(&e, NULL, T0 + 160));
	store(&off, "", 200, "Cache-Control: max-age=100\r\n", &e);
	CHECK(!hcache_stale_if_error(&e, NULL, T0 + 101));
	z.stale_if_error_s = 3600;
	store(&z, "", 200, "Cache-Control: max-age=100\r\n", &e);
	CHECK(hcache_stale_if_error(&e, NULL, T0 + 3000));
	/* RFC 5861 4: the request's stale-if-error allows it too (the wider
	 * window wins), but never past must-revalidate (below) */
	store(&off, "", 200, "Cache-Control: max-age=100\r\n", &e);
	{
		struct hcache_req_info q = req("GET", "Cache-Control: stale-if-error=60\r\n");
		CHECK(hcache_stale_if_error(&e, &q, T0 + 159));
		CHECK(!hcache_stale_if_error(&e, &q, T0 + 160));
		CHECK_EQ_INT(hcache_origin_head(&e, &q, true, 502, T0 + 150), HCACHE_HEAD_STALE);
		CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 502, T0 + 150), HCACHE_HEAD_FORWARD);
	}
	/* ct: stale-close-*: never for these, whatever the zone says */
	static const char *const no[] = {
		"Cache-Control: max-age=2, must-revalidate\r\n",
		"Cache-Control: max-age=2, proxy-revalidate\r\n",
		"Cache-Control: max-age=2, no-cache\r\n",
		"Cache-Control: max-age=2, s-maxage=2\r\n",
		"Cache-Control: max-age=2, must-revalidate, stale-if-error=60\r\n",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct hcache_store st;
		struct hcache_req_info q = req("GET", "");
		struct hcache_resp_info r = resp(200, no[i]);

		hcache_storable(&z, &q, &r, T0, T0, &st, &e);
		CHECK(st.store);
		CHECK(!hcache_stale_if_error(&e, NULL, T0 + 3));
		struct hcache_req_info qs = req("GET", "Cache-Control: stale-if-error=60\r\n");
		CHECK(!hcache_stale_if_error(&e, &qs, T0 + 3));
		CHECK_EQ_INT(st.sie_until, st.fresh_until);
		CHECK_EQ_INT(st.swr_until, st.fresh_until);
	}
	{
		struct hcache_store st;
		struct hcache_req_info q = req("GET", "");
		struct hcache_resp_info r = resp(200, "Cache-Control: max-age=10, "
						 "stale-while-revalidate=5\r\n");

		hcache_storable(&z, &q, &r, T0, T0, &st, &e);
		CHECK_EQ_INT(st.fresh_until, T0 + 10);
		CHECK_EQ_INT(st.swr_until, T0 + 15);
		CHECK_EQ_INT(st.sie_until, T0 + 3610);
	}
}

/* ---- conditional requests (RFC 9110 13) ----------------------------------------- */

static enum hcache_cond cond(const char *method, const char *rqh, const char *rsh)
{
	struct hcache_entry e;
	struct hcache_req_info q;

	store(&off, "", 200, fmt("Cache-Control: max-age=100\r\n%s", rsh), &e);
	q = req(method, rqh);
	return hcache_eval_conditional(&q, &e);
}

static void test_conditional(void)
{
	const char *et = "ETag: \"abc\"\r\n", *wet = "ETag: W/\"abc\"\r\n";
	const char *lm = fmt("Last-Modified: %s\r\nDate: %s\r\n", date(T0 - 100), date(T0));
	char buf[256];
	struct hcache_entry e;

	/* If-None-Match: weak comparison, lists, "*" */
	CHECK_EQ_INT(cond("GET", "If-None-Match: \"abc\"\r\n", et), HCACHE_COND_304);
	CHECK_EQ_INT(cond("GET", "If-None-Match: W/\"abc\"\r\n", et), HCACHE_COND_304);
	CHECK_EQ_INT(cond("GET", "If-None-Match: \"abc\"\r\n", wet), HCACHE_COND_304);
	CHECK_EQ_INT(cond("HEAD", "If-None-Match: \"x\", \"abc\"\r\n", et), HCACHE_COND_304);
	CHECK_EQ_INT(cond("GET", "If-None-Match: *\r\n", et), HCACHE_COND_304);
	CHECK_EQ_INT(cond("GET", "If-None-Match: \"x\"\r\n", et), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", "If-None-Match: \"abc\"\r\n", ""), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("DELETE", "If-None-Match: \"abc\"\r\n", et), HCACHE_COND_412);
	/* ct: conditional-etag-precedence: INM wins over a matching IMS */
	CHECK_EQ_INT(cond("GET", fmt("If-None-Match: \"x\"\r\nIf-Modified-Since: %s\r\n",
				     date(T0)), fmt("%s%s", et, lm)), HCACHE_COND_PROCEED);
	/* If-Modified-Since: Last-Modified, else Date; invalid ignored; GET/HEAD only */
	CHECK_EQ_INT(cond("GET", fmt("If-Modified-Since: %s\r\n", date(T0 - 100)), lm),
		     HCACHE_COND_304);
	CHECK_EQ_INT(cond("GET", fmt("If-Modified-Since: %s\r\n", date(T0 - 101)), lm),
		     HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", "If-Modified-Since: yesterday\r\n", lm), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("POST", fmt("Content-Length: 0\r\nIf-Modified-Since: %s\r\n",
				      date(T0)), lm), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", fmt("If-Modified-Since: %s\r\n", date(T0)),
			  fmt("Date: %s\r\n", date(T0))), HCACHE_COND_304);
	/* If-Match: strong; If-Unmodified-Since */
	CHECK_EQ_INT(cond("GET", "If-Match: \"abc\"\r\n", et), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", "If-Match: \"abc\"\r\n", wet), HCACHE_COND_412);
	CHECK_EQ_INT(cond("GET", "If-Match: W/\"abc\"\r\n", et), HCACHE_COND_412);
	CHECK_EQ_INT(cond("GET", "If-Match: \"x\", \"abc\"\r\n", et), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", "If-Match: *\r\n", ""), HCACHE_COND_PROCEED);
	CHECK_EQ_INT(cond("GET", "If-Match: \"abc\"\r\n", ""), HCACHE_COND_412);
	CHECK_EQ_INT(cond("GET", fmt("If-Unmodified-Since: %s\r\n", date(T0 - 101)), lm),
		     HCACHE_COND_412);
	CHECK_EQ_INT(cond("GET", fmt("If-Unmodified-Since: %s\r\n", date(T0 - 100)), lm),
		     HCACHE_COND_PROCEED);
	/* If-Match ends before If-Unmodified-Since is looked at */
	CHECK_EQ_INT(cond("GET", fmt("If-Match: \"abc\"\r\nIf-Unmodified-Since: %s\r\n",
				     date(T0 - 1000)), fmt("%s%s", et, lm)), HCACHE_COND_PROCEED);
	/* a stored 404 is not subject to preconditions */
	store(&off, "", 404, "Cache-Control: max-age=5\r\nETag: \"a\"\r\n", &e);
	{
		struct hcache_req_info q = req("GET", "If-None-Match: \"a\"\r\n");

		CHECK_EQ_INT(hcache_eval_conditional(&q, &e), HCACHE_COND_PROCEED);
	}
	/* LIMIT_ETAG_LIST: a tag past the limit is not looked at */
	{
		char list[2048];
		size_t n = 0;

		for (int i = 0; i < LIMIT_ETAG_LIST - 1; i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "\"t%d\", ", i);
		snprintf(list + n, sizeof(list) - n, "\"abc\"");
		CHECK_EQ_INT(cond("GET", fmt("If-None-Match: %s\r\n", list), et), HCACHE_COND_304);
		snprintf(list + n, sizeof(list) - n, "\"x\", \"abc\"");
		CHECK_EQ_INT(cond("GET", fmt("If-None-Match: %s\r\n", list), et),
			     HCACHE_COND_PROCEED);
	}
	/* validators for revalidation */
	store(&off, "", 200, fmt("Cache-Control: max-age=1\r\n%s%s", et, lm), &e);
	CHECK_EQ_INT(hcache_revalidation_headers(&e, buf, sizeof(buf)), 22);
	CHECK_EQ_STR(buf, "If-None-Match: \"abc\"\r\n");
	CHECK_EQ_INT(hcache_revalidation_headers(&e, buf, 22), -ENOSPC);
	store(&off, "", 200, fmt("Cache-Control: max-age=1\r\n%s", lm), &e);
	CHECK(hcache_revalidation_headers(&e, buf, sizeof(buf)) > 0);
	CHECK_EQ_STR(buf, fmt("If-Modified-Since: %s\r\n", date(T0 - 100)));
	store(&off, "", 200, "Cache-Control: max-age=1\r\n", &e);
	CHECK_EQ_INT(hcache_revalidation_headers(&e, buf, sizeof(buf)), 0);
}

/* ---- stored header fields and the 304 refresh ------------------------------- */

static bool stored_named(const char *name)
{
	for (size_t i = 0; i < rs.n_headers; i++)
		if (strlen(name) == rs.headers[i].name_len &&
		    strncasecmp(rs.headers[i].name, name, rs.headers[i].name_len) == 0)
			return hcache_header_stored(&rs.headers[i], rs.headers, rs.n_headers);
	return false;
}

static void test_stored_headers(void)
{
	static const char *const kept[] = {
		"Test-Header", "X-Test-Header", "Content-Foo", "X-Content-Foo", "Cache-Control",
		"Content-Encoding", "Content-Location", "Content-MD5", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Clear-Site-Data", "ETag", "Expires",
		"Public-Key-Pins", "Set-Cookie", "Set-Cookie2", "X-Frame-Options",
		"X-XSS-Protection", "c",
	};
	static const char *const dropped[] = {
		"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info",
		"Proxy-Authorization", "Proxy-Connection", "TE", "Upgrade", "a", "b",
	};
	char h[2048] = "";
	size_t n = 0;

	/* ct: headers-store-*, headers-omit-headers-listed-in-Connection */
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		n += (size_t)snprintf(h + n, sizeof(h) - n, "%s: v\r\n", kept[i]);
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (strcmp(dropped[i], "Connection") != 0)
			n += (size_t)snprintf(h + n, sizeof(h) - n, "%s: v\r\n", dropped[i]);
	snprintf(h + n, sizeof(h) - n, "Connection: a, B\r\n");
	resp(200, h);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		CHECK(stored_named(kept[i]));
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		CHECK(!stored_named(dropped[i]));
	/* Transfer-Encoding: the parser takes it as framing; still never stored */
	{
		struct http1_header te = { "Transfer-Encoding", "chunked", 17, 7 };

		CHECK(!hcache_header_stored(&te, &te, 1));
	}
}

static struct http1_header copy_hdrs[2][LIMIT_HEADER_COUNT];
static size_t copy_n[2];

static const char *find(const struct http1_header *h, size_t n, const char *name)
{
	const struct http1_header *f = http1_find_header(h, n, name);

	return f ? fmt("%.*s", (int)f->value_len, f->value) : NULL;
}

static void test_304(void)
{
	struct http1_header out[LIMIT_HEADER_COUNT];
	struct hcache_resp_info r;
	struct hcache_entry e;
	struct hcache_store st;
	struct hcache_req_info q = req("GET", "");
	size_t n = 0;
	const char *stored_text = fmt(
		"Cache-Control: max-age=1\r\nETag: \"e1\"\r\nTest-Header: A\r\n"
		"Content-Length: 5\r\nContent-Encoding: gzip\r\nContent-MD5: m1\r\n"
		"Content-Range: bytes 0-4/5\r\nContent-Type: text/plain\r\nSet-Cookie: a=b\r\n"
		"Expires: Fri, 01 Jan 2038 01:01:01 GMT\r\nX-Keep: k\r\nDate: %s\r\n", date(T0));
	const char *fresh_text = fmt(
		"Cache-Control: max-age=3600\r\nETag: \"e1\"\r\nTest-Header: B\r\n"
		"Content-Length: 10\r\nContent-Encoding: br\r\nContent-MD5: m2\r\n"
		"Content-Range: bytes 0-9/10\r\nContent-Type: text/html\r\nSet-Cookie: a=c\r\n"
		"Expires: Mon, 11 Jan 2038 11:11:11 GMT\r\nConnection: close, X-Hop\r\n"
		"X-Hop: h\r\nDate: %s\r\n", date(T0 + 100));

	/* Set-Cookie in both: stored only by a zone that strips it (the
	 * merged head keeps the 304's for the visitor that asked) */
	struct hcache_policy strip = off;
	strip.set_cookie = HCACHE_SC_STRIP;
	resp(200, stored_text);
	memcpy(copy_hdrs[0], rs.headers, rs.n_headers * sizeof(rs.headers[0]));
	copy_n[0] = rs.n_headers;
	CHECK_EQ_INT(store(&off, "", 200, stored_text, &e), HCACHE_R_SET_COOKIE);
	store(&strip, "", 200, stored_text, &e);
	r = resp(304, fresh_text);
	memcpy(copy_hdrs[1], rs.headers, rs.n_headers * sizeof(rs.headers[0]));
	copy_n[1] = rs.n_headers;
	CHECK(hcache_304_matches(&e, &r));
	CHECK_EQ_INT(hcache_merge_304(copy_hdrs[0], copy_n[0], copy_hdrs[1], copy_n[1], out,
				      LIMIT_HEADER_COUNT, &n), 0);
	/* ct: 304-etag-update-response-*: updated */
	CHECK_EQ_STR(find(out, n, "Test-Header"), "B");
	CHECK_EQ_STR(find(out, n, "Cache-Control"), "max-age=3600");
	CHECK_EQ_STR(find(out, n, "Content-Type"), "text/html");
	CHECK_EQ_STR(find(out, n, "Set-Cookie"), "a=c");
	CHECK_EQ_STR(find(out, n, "Expires"), "Mon, 11 Jan 2038 11:11:11 GMT");
	/* ... and not: they describe the stored body */
	CHECK_EQ_STR(find(out, n, "Content-Length"), "5");
	CHECK_EQ_STR(find(out, n, "Content-Encoding"), "gzip");
	CHECK_EQ_STR(find(out, n, "Content-MD5"), "m1");
	CHECK_EQ_STR(find(out, n, "Content-Range"), "bytes 0-4/5");
	CHECK_EQ_STR(find(out, n, "ETag"), "\"e1\"");
	/* ct: 304-lm-use-stored-Test-Header: kept when the 304 omits it */
	CHECK_EQ_STR(find(out, n, "X-Keep"), "k");
	CHECK(find(out, n, "Connection") == NULL && find(out, n, "X-Hop") == NULL);
	CHECK_EQ_INT(n, 12);
	/* the refreshed head gives the new freshness */
	rs.n_headers = (uint16_t)n;
	memcpy(rs.headers, out, n * sizeof(out[0]));
	rs.status = 200;
	hcache_parse_response(&rs, T0, &r);
	hcache_storable(&off, &q, &r, T0 + 100, T0 + 100, &st, &e);
	CHECK(!st.store && st.reason == HCACHE_R_SET_COOKIE);
	hcache_storable(&strip, &q, &r, T0 + 100, T0 + 100, &st, &e);
	CHECK(st.store && e.lifetime_s == 3600);
	CHECK_EQ_INT(hcache_decide(&e, &q, T0 + 200), HCACHE_SERVE_FRESH);
	/* too many headers: -ENOSPC, nothing written past cap */
	CHECK_EQ_INT(hcache_merge_304(copy_hdrs[0], copy_n[0], copy_hdrs[1], copy_n[1], out,
				      5, &n), -ENOSPC);
	/* which stored response a 304 refreshes */
	CHECK(!hcache_304_matches(&e, &(struct hcache_resp_info){ .etag = { "\"x\"", 3 } }));
	CHECK(hcache_304_matches(&e, &(struct hcache_resp_info){ .etag = { "W/\"e1\"", 6 } }));
	CHECK(hcache_304_matches(&e, &(struct hcache_resp_info){ .etag = { NULL, 0 } }));
}

/* ---- Range (RFC 9110 14) ---------------------------------------------------- */

static struct hcache_range range(const char *method, const char *rqh, const char *rsh,
				 int64_t len)
{
	struct hcache_entry e;
	struct hcache_req_info q;
	struct hcache_range r;

	store(&off, "", 200, fmt("Cache-Control: max-age=100\r\n%s", rsh), &e);
	q = req(method, rqh);
	CHECK_EQ_INT(hcache_range(&q, &e, len, &r), 0);
	return r;
}

#define RANGE(rqh, len, kind_, first_, last_) do { \
	struct hcache_range r_ = range("GET", rqh, "", len); \
	CHECK_EQ_INT(r_.kind, kind_); \
	CHECK_EQ_INT(r_.first, first_); \
	CHECK_EQ_INT(r_.last, last_); \
} while (0)

static void test_range(void)
{
	const char *et = fmt("ETag: \"v1\"\r\nLast-Modified: %s\r\nDate: %s\r\n",
			     date(T0 - 100), date(T0));
	struct hcache_range r;
	char buf[64];
	uint64_t a, b;

	RANGE("Range: bytes=0-1\r\n", 11, HCACHE_RANGE_PARTIAL, 0, 1);  /* ct: partial-use-headers */
	RANGE("Range: bytes=5-\r\n", 11, HCACHE_RANGE_PARTIAL, 5, 10);
	RANGE("Range: bytes=-3\r\n", 11, HCACHE_RANGE_PARTIAL, 8, 10);
	RANGE("Range: bytes=-30\r\n", 11, HCACHE_RANGE_PARTIAL, 0, 10);
	RANGE("Range: bytes=3-99\r\n", 11, HCACHE_RANGE_PARTIAL, 3, 10);
	RANGE("Range: BYTES=10-10\r\n", 11, HCACHE_RANGE_PARTIAL, 10, 10);
	RANGE("Range: bytes= 2-4 \r\n", 11, HCACHE_RANGE_PARTIAL, 2, 4);
	RANGE("Range: bytes=11-\r\n", 11, HCACHE_RANGE_UNSATISFIABLE, 0, 0);
	RANGE("Range: bytes=-0\r\n", 11, HCACHE_RANGE_UNSATISFIABLE, 0, 0);
	RANGE("Range: bytes=0-\r\n", 0, HCACHE_RANGE_UNSATISFIABLE, 0, 0);
	RANGE("Range: bytes=99999999999999999999999-\r\n", 11, HCACHE_RANGE_UNSATISFIABLE, 0, 0);
	/* the whole object: several ranges (decision), bad syntax, other units */
	RANGE("Range: bytes=0-1,3-4\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("Range: bytes=0-1,\r\n", 11, HCACHE_RANGE_PARTIAL, 0, 1);
	RANGE("Range: bytes=4-3\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("Range: bytes=a-3\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("Range: bytes=3\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("Range: bytes=\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("Range: items=0-1\r\n", 11, HCACHE_RANGE_NONE, 0, 0);
	RANGE("", 11, HCACHE_RANGE_NONE, 0, 0);
	CHECK_EQ_INT(range("HEAD", "Range: bytes=0-1\r\n", "", 11).kind, HCACHE_RANGE_NONE);
	/* If-Range: strong ETag, or a date equal to a strong Last-Modified */
	CHECK_EQ_INT(range("GET", "Range: bytes=0-1\r\nIf-Range: \"v1\"\r\n", et, 11).kind,
		     HCACHE_RANGE_PARTIAL);
	CHECK_EQ_INT(range("GET", "Range: bytes=0-1\r\nIf-Range: \"v2\"\r\n", et, 11).kind,
		     HCACHE_RANGE_NONE);
	CHECK_EQ_INT(range("GET", "Range: bytes=0-1\r\nIf-Range: W/\"v1\"\r\n", et, 11).kind,
		     HCACHE_RANGE_NONE);
	CHECK_EQ_INT(range("GET", fmt("Range: bytes=0-1\r\nIf-Range: %s\r\n", date(T0 - 100)),
			   et, 11).kind, HCACHE_RANGE_PARTIAL);
	CHECK_EQ_INT(range("GET", fmt("Range: bytes=0-1\r\nIf-Range: %s\r\n", date(T0 - 99)),
			   et, 11).kind, HCACHE_RANGE_NONE);
	CHECK_EQ_INT(range("GET", fmt("Range: bytes=0-1\r\nIf-Range: %s\r\n", date(T0)),
			   fmt("Last-Modified: %s\r\nDate: %s\r\n", date(T0), date(T0)), 11).kind,
		     HCACHE_RANGE_NONE);                /* weak Last-Modified */
	/* Content-Range and chunks */
	r = range("GET", "Range: bytes=2-5\r\n", "", 11);
	CHECK_EQ_INT(hcache_content_range(&r, 11, buf, sizeof(buf)), 12);
	CHECK_EQ_STR(buf, "bytes 2-5/11");
	r = range("GET", "Range: bytes=20-\r\n", "", 11);
	CHECK(hcache_content_range(&r, 11, buf, sizeof(buf)) > 0);
	CHECK_EQ_STR(buf, "bytes */11");
	CHECK_EQ_INT(hcache_content_range(&r, 11, buf, 10), -ENOSPC);
	CHECK_EQ_INT(hcache_range_chunks(0, 0, 1 << 20, &a, &b), 0);
	CHECK(a == 0 && b == 0);
	CHECK_EQ_INT(hcache_range_chunks((1 << 20) - 1, 1 << 20, 1 << 20, &a, &b), 0);
	CHECK(a == 0 && b == 1);
	CHECK_EQ_INT(hcache_range_chunks(5LL << 30, (64LL << 30) - 1, 1 << 20, &a, &b), 0);
	CHECK(a == 5120 && b == 65535);
	CHECK_EQ_INT(hcache_range_chunks(0, 1, 0, &a, &b), -EINVAL);
	CHECK_EQ_INT(hcache_range_chunks(2, 1, 4096, &a, &b), -EINVAL);
}

/* ---- Vary and the cache key ----------------------------------------------------- */

static uint64_t vkey(const char *vary, const char *rqh)
{
	struct hcache_resp_info r = resp(200, vary);
	uint64_t k = 0;

	req("GET", rqh);
	CHECK_EQ_INT(hcache_vary_key(&r.vary, rq.headers, rq.n_headers, &k), 0);
	return k;
}

static void test_vary(void)
{
	const char *v = "Vary: Accept-Encoding, Foo\r\n";
	uint64_t k = vkey(v, "Accept-Encoding: gzip\r\nFoo: 1\r\n");
	struct hcache_resp_info r;

	CHECK(k == vkey(v, "Foo: 1\r\nAccept-Encoding: gzip\r\nX: y\r\n"));
	CHECK(k == vkey("Vary: foo, ACCEPT-ENCODING\r\n", "accept-encoding: gzip\r\nFOO: 1\r\n"));
	CHECK(k == vkey("Vary: Accept-Encoding\r\nVary: Foo\r\n",
			"Accept-Encoding: gzip\r\nFoo: 1\r\n"));
	/* ct: vary-no-match, vary-omit(-stored), vary-2/3-*: any difference is a miss */
	CHECK(k != vkey(v, "Accept-Encoding: br\r\nFoo: 1\r\n"));
	CHECK(k != vkey(v, "Accept-Encoding: gzip\r\n"));
	CHECK(k != vkey(v, "Accept-Encoding: gzip\r\nFoo: 1\r\nFoo: 2\r\n"));
	CHECK(vkey(v, "Foo: \r\n") != vkey(v, ""));
	CHECK(vkey("Vary: A, B, C\r\n", "A: 1\r\nB: 2\r\nC: 3\r\n") !=
	      vkey("Vary: A, B, C\r\n", "A: 1\r\nB: 3\r\nC: 2\r\n"));
	/* normalisation: lines combined, whitespace around commas dropped */
	CHECK(vkey(v, "Accept-Encoding: gzip, br\r\n") ==
	      vkey(v, "Accept-Encoding: gzip,br\r\n"));
	CHECK(vkey(v, "Accept-Encoding: gzip, br\r\n") ==
	      vkey(v, "Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n"));
	/* case: ignored in Accept-Encoding and Accept-Language (ct:
	 * vary-normalise-lang-case), kept in any other field */
	CHECK(vkey(v, "Accept-Encoding: gzip\r\nFoo: 1\r\n") ==
	      vkey(v, "Accept-Encoding: GZIP\r\nFoo: 1\r\n"));
	CHECK(vkey(v, "Accept-Encoding: gzip\r\nFoo: a\r\n") !=
	      vkey(v, "Accept-Encoding: gzip\r\nFoo: A\r\n"));
	CHECK(vkey("Vary: Accept-Language\r\n", "Accept-Language: en, de\r\n") ==
	      vkey("Vary: Accept-Language\r\n", "Accept-Language: eN,De\r\n"));
	CHECK(vkey("Vary: Accept-Language\r\n", "Accept-Language: en, de\r\n") !=
	      vkey("Vary: Accept-Language\r\n", "Accept-Language: de, en\r\n"));
	/* a different Vary list is a different key */
	CHECK(vkey("Vary: A\r\n", "A: 1\r\n") != vkey("Vary: B\r\n", "A: 1\r\n"));
	r = resp(200, "Vary: *\r\n");
	CHECK_EQ_INT(hcache_vary_key(&r.vary, rq.headers, rq.n_headers, &k), -EINVAL);
}

/* The canonical names a variant marker keeps, and the variant key. */
static void test_vary_marker(void)
{
	char buf[LIMIT_VARY_NAMES_BYTES];
	struct hcache_resp_info r = resp(200, "Vary: Foo, accept-encoding\r\nVary: FOO\r\n");
	struct hcache_vary v;
	size_t n = 0;

	CHECK_EQ_INT(hcache_vary_names(&r.vary, buf, sizeof(buf), &n), 0);
	CHECK(n == 19 && memcmp(buf, "accept-encoding,foo", 19) == 0);
	CHECK_EQ_INT(hcache_vary_parse_names(buf, n, &v), 0);
	CHECK(v.n == 2 && v.names[1].len == 3);
	/* the names read back give the key the response's own list gives */
	req("GET", "Accept-Encoding: gzip\r\nFoo: 1\r\n");
	uint64_t a = 0, b = 0;
	CHECK_EQ_INT(hcache_vary_key(&v, rq.headers, rq.n_headers, &a), 0);
	struct hcache_resp_info r2 = resp(200, "Vary: accept-encoding, foo\r\n");
	req("GET", "Accept-Encoding: gzip\r\nFoo: 1\r\n");
	CHECK_EQ_INT(hcache_vary_key(&r2.vary, rq.headers, rq.n_headers, &b), 0);
	CHECK(a == b);
	r = resp(200, "Vary: *\r\n");
	CHECK_EQ_INT(hcache_vary_names(&r.vary, buf, sizeof(buf), &n), -EINVAL);
	/* LIMIT_VARY_NAMES_BYTES at the limit (exactly) and one past it */
	r = resp(200, "Vary: abcdefghij\r\n");
	CHECK_EQ_INT(hcache_vary_names(&r.vary, buf, 10, &n), 0);
	CHECK_EQ_INT(hcache_vary_names(&r.vary, buf, 9, &n), -ENOSPC);
	/* LIMIT_VARY_FIELDS names read back, and one more refused */
	{
		char names[256] = "";
		size_t len = 0;
		for (int i = 0; i < LIMIT_VARY_FIELDS; i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%sf%d",
						i ? "," : "", i);
		CHECK_EQ_INT(hcache_vary_parse_names(names, len, &v), 0);
		CHECK(v.n == LIMIT_VARY_FIELDS);
		len += (size_t)snprintf(names + len, sizeof(names) - len, ",g");
		CHECK_EQ_INT(hcache_vary_parse_names(names, len, &v), -EINVAL);
	}
	/* variant keys: another epoch or another variant is another key */
	struct hcache_key p = { 1, 2 }, k1, k2, k3;
	hcache_variant_key(&p, 7, a, &k1);
	hcache_variant_key(&p, 8, a, &k2);
	hcache_variant_key(&p, 7, a + 1, &k3);
	CHECK(k1.hi != k2.hi && k1.hi != k3.hi);
}

static struct hcache_key key(const char *q, enum hcache_qs mode, char *text)
{
	static char buf[LIMIT_CACHE_KEY_BYTES];
	struct hcache_key k = { 0, 0 };
	size_t n = 0;

	CHECK_EQ_INT(hcache_key("z", 1, "/p", 2, q, q ? strlen(q) : 0, mode, buf,
				sizeof(buf), &n, &k), 0);
	if (text) {
		memcpy(text, buf, n);
		text[n] = '\0';
	}
	return k;
}

static bool key_eq(struct hcache_key a, struct hcache_key b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

static void test_key(void)
{
	static char big[LIMIT_CACHE_KEY_BYTES + 8];
	char t[128];
	struct hcache_key k;
	size_t n;

	key("b=1&a=2", HCACHE_QS_INCLUDE, t);
	CHECK_EQ_STR(t, "z\n/p?b=1&a=2");
	key("b=1&a=2", HCACHE_QS_IGNORE, t);
	CHECK_EQ_STR(t, "z\n/p");
	/* By name only, stably: one name's parameters keep their order. */
	key("b=1&&a=2&a=1&a&a0=1&", HCACHE_QS_SORTED, t);
	CHECK_EQ_STR(t, "z\n/p?a=2&a=1&a&a0=1&b=1");
	key("x=2&y=1&x=1", HCACHE_QS_SORTED, t);
	CHECK_EQ_STR(t, "z\n/p?x=2&x=1&y=1");
	CHECK(!key_eq(key("x=1&x=2", HCACHE_QS_SORTED, NULL), key("x=2&x=1", HCACHE_QS_SORTED, NULL)));
	CHECK(key_eq(key("x=1&y=0&x=2", HCACHE_QS_SORTED, NULL),
		     key("y=0&x=1&x=2", HCACHE_QS_SORTED, NULL)));
	key("", HCACHE_QS_INCLUDE, t);
	CHECK_EQ_STR(t, "z\n/p");
	key("&&", HCACHE_QS_SORTED, t);
	CHECK_EQ_STR(t, "z\n/p");
	CHECK(key_eq(key("b=1&a=2", HCACHE_QS_SORTED, NULL), key("a=2&b=1", HCACHE_QS_SORTED, NULL)));
	/* ct: query-args-different */
	CHECK(!key_eq(key("a=1", HCACHE_QS_INCLUDE, NULL), key("a=2", HCACHE_QS_INCLUDE, NULL)));
	CHECK(!key_eq(key("b=1&a=2", HCACHE_QS_INCLUDE, NULL),
		      key("a=2&b=1", HCACHE_QS_INCLUDE, NULL)));
	CHECK(key_eq(key("a=1", HCACHE_QS_IGNORE, NULL), key(NULL, HCACHE_QS_IGNORE, NULL)));
	CHECK(!key_eq(key(NULL, HCACHE_QS_INCLUDE, NULL), key("x", HCACHE_QS_INCLUDE, NULL)));
	/* the zone is part of the key */
	CHECK_EQ_INT(hcache_key("zz", 2, "/p", 2, NULL, 0, HCACHE_QS_INCLUDE, t, sizeof(t),
				&n, &k), 0);
	CHECK(!key_eq(k, key(NULL, HCACHE_QS_INCLUDE, NULL)));
	/* LIMIT_CACHE_QUERY_PARAMS at the limit and one past it */
	{
		static char q[LIMIT_CACHE_QUERY_PARAMS * 8];
		size_t m = 0;

		for (int i = 0; i < LIMIT_CACHE_QUERY_PARAMS; i++)
			m += (size_t)snprintf(q + m, sizeof(q) - m, "%sp%d=1", i ? "&" : "", i);
		CHECK_EQ_INT(hcache_key("z", 1, "/", 1, q, m, HCACHE_QS_SORTED, big, sizeof(big),
					&n, &k), 0);
		memcpy(q + m, "&x", 2);
		CHECK_EQ_INT(hcache_key("z", 1, "/", 1, q, m + 2, HCACHE_QS_SORTED, big,
					sizeof(big), &n, &k), -E2BIG);
	}
	/* the text bound: exactly cap fits, one more byte does not */
	memset(big, 'a', sizeof(big));
	CHECK_EQ_INT(hcache_key("z", 1, big, LIMIT_CACHE_KEY_BYTES - 2, NULL, 0,
				HCACHE_QS_INCLUDE, t, 0, &n, &k), -ENOSPC);
	{
		static char out[LIMIT_CACHE_KEY_BYTES];

		CHECK_EQ_INT(hcache_key("z", 1, big, LIMIT_CACHE_KEY_BYTES - 2, NULL, 0,
					HCACHE_QS_INCLUDE, out, sizeof(out), &n, &k), 0);
		CHECK_EQ_INT(n, LIMIT_CACHE_KEY_BYTES);
		CHECK_EQ_INT(hcache_key("z", 1, big, LIMIT_CACHE_KEY_BYTES - 1, NULL, 0,
					HCACHE_QS_INCLUDE, out, sizeof(out), &n, &k), -ENOSPC);
	}
	/* a parsed request always fits */
	CHECK(LIMIT_CACHE_KEY_BYTES >= LIMIT_NAME_BYTES + 1 + LIMIT_REQUEST_LINE_BYTES);
}

/* ---- invalidation, names --------------------------------------------------------- */

static void test_misc(void)
{
	struct hcache_span p;

	/* ct: invalidate-POST/PUT/DELETE/M-SEARCH(-location, -cl) */
	CHECK(hcache_invalidates(HTTP1_POST, 200));
	CHECK(hcache_invalidates(HTTP1_PUT, 201));
	CHECK(hcache_invalidates(HTTP1_DELETE, 204));
	CHECK(hcache_invalidates(HTTP1_OTHER, 303));    /* M-SEARCH */
	CHECK(!hcache_invalidates(HTTP1_POST, 500));
	CHECK(!hcache_invalidates(HTTP1_POST, 404));
	CHECK(!hcache_invalidates(HTTP1_GET, 200));
	CHECK(!hcache_invalidates(HTTP1_HEAD, 200));
	CHECK(!hcache_invalidates(HTTP1_OPTIONS, 200));
	CHECK_EQ_INT(hcache_same_origin_path("/x?y", 4, "a.example", 9, &p), 0);
	CHECK(p.len == 4 && memcmp(p.p, "/x?y", 4) == 0);
	CHECK_EQ_INT(hcache_same_origin_path("https://A.Example/q", 19, "a.example", 9, &p), 0);
	CHECK(p.len == 2 && memcmp(p.p, "/q", 2) == 0);
	CHECK_EQ_INT(hcache_same_origin_path("http://b.example/q", 18, "a.example", 9, &p),
		     -EINVAL);
	CHECK_EQ_INT(hcache_same_origin_path("http://a.example", 16, "a.example", 9, &p),
		     -EINVAL);
	CHECK_EQ_INT(hcache_same_origin_path("//b.example/q", 13, "a.example", 9, &p), -EINVAL);
	CHECK_EQ_INT(hcache_same_origin_path("q", 1, "a.example", 9, &p), -EINVAL);
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_NONE), "-");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_HIT), "HIT");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_MISS), "MISS");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_EXPIRED), "EXPIRED");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_STALE), "STALE");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_UPDATING), "UPDATING");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_REVALIDATED), "REVALIDATED");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_PASS), "PASS");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X_BYPASS), "BYPASS");
	CHECK_EQ_STR(hcache_xcache_name(HCACHE_X__COUNT), "-");
	/* zero is no outcome: a cleared exchange never says HIT */
	CHECK_EQ_INT(HCACHE_X_NONE, 0);
}

/* What an origin head means for the stored entry (edge/edge_cache.c asks
 * for every head of an exchange that holds one). */
static void test_origin_head(void)
{
	struct hcache_entry e;

	store(&off, "", 200, "Cache-Control: max-age=100, stale-if-error=60\r\n", &e);
	CHECK_EQ_INT(hcache_origin_head(NULL, NULL, true, 304, T0), HCACHE_HEAD_FORWARD);
	CHECK_EQ_INT(hcache_origin_head(NULL, NULL, false, 503, T0), HCACHE_HEAD_FORWARD);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 304, T0 + 200), HCACHE_HEAD_REVALIDATED);
	/* a 304 we did not ask for (the visitor's own conditional) is forwarded */
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, false, 304, T0 + 50), HCACHE_HEAD_FORWARD);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 200, T0 + 50), HCACHE_HEAD_FORWARD);
	/* 5xx: stale-if-error up to its last second, not one past it */
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 500, T0 + 159), HCACHE_HEAD_STALE);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, false, 503, T0 + 159), HCACHE_HEAD_STALE);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 503, T0 + 160), HCACHE_HEAD_FORWARD);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 499, T0 + 50), HCACHE_HEAD_FORWARD);
	store(&off, "", 200, "Cache-Control: max-age=100, must-revalidate, stale-if-error=60\r\n", &e);
	CHECK_EQ_INT(hcache_origin_head(&e, NULL, true, 502, T0 + 101), HCACHE_HEAD_FORWARD);
}

/* ---- targeted cache control (RFC 9213) ------------------------------------------ */

/* The targeted field that applies to a response with headers rsh: 1 and *cc,
 * or 0. */
static int targeted(const struct hcache_policy *p, const char *rsh, struct hcache_cc *cc)
{
	resp(200, rsh);
	return hcache_parse_targeted(p, rs.headers, rs.n_headers, cc);
}

static void test_targeted(void)
{
	static const struct hcache_policy own = { .query_string = HCACHE_QS_INCLUDE,
						  .targeted_field = "Edge-Cache-Control" };
	struct hcache_entry e;
	struct hcache_cc cc;

	/* Dictionaries: numbers as Integers, flags as bare keys or ?1 */
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: max-age=3600\r\n", &cc), 1);
	CHECK_EQ_INT(cc.max_age, 3600);
	CHECK_EQ_INT(cc.s_maxage, -1);
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: max-age=99999999999\r\n", &cc), 1);
	CHECK_EQ_INT(cc.max_age, LIMIT_DELTA_SECONDS_MAX);
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: no-store, private=?0, no-cache=?1\r\n",
			      &cc), 1);
	CHECK_EQ_INT(cc.flags, HCACHE_CC_NO_STORE | HCACHE_CC_NO_CACHE);
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: private=(\"set-cookie\" x);a=1\r\n",
			      &cc), 1);
	CHECK_EQ_INT(cc.flags, HCACHE_CC_PRIVATE);
	/* extensions (any type) are skipped; the last of a key wins (RFC 8941) */
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: foo=\"a,b\", bar=:AQ==:, baz=1.5, "
			      "max-age=1;p=?0, qux=tok/x, max-age=7\r\n", &cc), 1);
	CHECK_EQ_INT(cc.max_age, 7);
	/* several lines are one Dictionary */
	CHECK_EQ_INT(targeted(&off, "CDN-Cache-Control: max-age=5\r\n"
			      "CDN-Cache-Control: must-revalidate\r\n", &cc), 1);
	CHECK(cc.max_age == 5 && cc.flags == HCACHE_CC_MUST_REVALIDATE);
	/* not a Dictionary, or a number of the wrong type: does not apply.
	 * ct: cdn-cc-invalid-sh-type-unknown, -wrong; cdn-max-age-space-* */
	static const char *const bad[] = {
		"max-age=10000, &&&&&", "max-age=\"10000\"", "max-age = 3600", "max-age= 3600",
		"MAX-AGE=3600", "max-age=-1", "max-age=1.5", "max-age", "max-age=1,",
		"max-age=1234567890123456", "a=\"unterminated", "a=(1 2", "a=?2", "a=:AQ==",
		"max-age=1;", "", ",max-age=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (targeted(&off, fmt("CDN-Cache-Control: %s\r\n", bad[i]), &cc) != 0)
			fprintf(stderr, "targeted bad case %s\n", bad[i]);
		CHECK_EQ_INT(targeted(&off, fmt("CDN-Cache-Control: %s\r\n", bad[i]), &cc), 0);
	}
	CHECK_EQ_INT(targeted(&off, "Cache-Control: max-age=9\r\n", &cc), 0);
	/* the zone's own field first, then CDN-Cache-Control; an unreadable own
	 * field falls back to CDN-Cache-Control */
	CHECK_EQ_INT(targeted(&own, "CDN-Cache-Control: max-age=1\r\n"
			      "edge-cache-control: max-age=2\r\n", &cc), 1);
	CHECK_EQ_INT(cc.max_age, 2);
	CHECK_EQ_INT(targeted(&own, "CDN-Cache-Control: max-age=1\r\n"
			      "Edge-Cache-Control: max-age=x\r\n", &cc), 1);
	CHECK_EQ_INT(cc.max_age, 1);
	CHECK_EQ_INT(targeted(&off, "Edge-Cache-Control: max-age=2\r\n", &cc), 0);

	/* storable: the targeted field replaces Cache-Control and Expires.
	 * ct: cdn-fresh-cc-nostore, cdn-no-store-cc-fresh, cdn-private,
	 * cdn-no-cache, cdn-max-age-0-expires, cdn-max-age-age */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: no-store\r\n"
			   "CDN-Cache-Control: max-age=10000\r\n", &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(e.lifetime_s, 10000);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: max-age=10000\r\n"
			   "CDN-Cache-Control: no-store\r\n", &e), HCACHE_R_NO_STORE);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: max-age=10000\r\n"
			   "CDN-Cache-Control: private\r\n", &e), HCACHE_R_PRIVATE);
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: max-age=10000\r\n"
			   "CDN-Cache-Control: no-cache\r\n", &e), HCACHE_R_NO_FRESHNESS);
	CHECK_EQ_INT(store(&off, "", 200, fmt("Date: %s\r\nExpires: %s\r\n"
					      "CDN-Cache-Control: max-age=0\r\n", date(T0),
					      date(T0 + 10000)), &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(e.lifetime_s, 0);
	CHECK_EQ_INT(decide_at(&off, "CDN-Cache-Control: max-age=3600\r\nAge: 7200\r\n", "", T0),
		     HCACHE_REVALIDATE);
	CHECK_EQ_INT(decide_at(&off, "Cache-Control: max-age=1\r\n"
			       "CDN-Cache-Control: max-age=10000\r\n", "", T0 + 60),
		     HCACHE_SERVE_FRESH);
	/* unreadable: Cache-Control decides (cdn-cc-invalid-sh-type-wrong) */
	CHECK_EQ_INT(store(&off, "", 200, "Cache-Control: no-store\r\n"
			   "CDN-Cache-Control: max-age=\"10000\"\r\n", &e), HCACHE_R_NO_STORE);
	/* the zone's own field */
	CHECK_EQ_INT(store(&own, "", 200, "Cache-Control: no-store\r\n"
			   "Edge-Cache-Control: max-age=60\r\n"
			   "CDN-Cache-Control: no-store\r\n", &e), HCACHE_R_EXPLICIT);
	CHECK_EQ_INT(e.lifetime_s, 60);

	/* which fields are ours: never forwarded */
	struct http1_header cdn = { .name = "cdn-CACHE-control", .name_len = 17 },
			    mine = { .name = "EDGE-cache-control", .name_len = 18 },
			    cc_h = { .name = "Cache-Control", .name_len = 13 };
	CHECK(hcache_targeted_field(&cdn, NULL));
	CHECK(!hcache_targeted_field(&mine, NULL));
	CHECK(hcache_targeted_field(&mine, "Edge-Cache-Control"));
	CHECK(!hcache_targeted_field(&cc_h, "Edge-Cache-Control"));

	/* the zone key's names */
	CHECK(hcache_targeted_name_valid("Edge-Cache-Control", 18));
	CHECK(hcache_targeted_name_valid("Surrogate-Control", 17));
	static const char *const bad_names[] = {
		"", "Cache-Control", "cdn-cache-control", "Age", "Expires", "Connection",
		"Keep-Alive", "Transfer-Encoding", "Edge Cache", "Edge:Cache", "Edge\"",
		"0123456789012345678901234567890123456789012345678901234567890123x",
	};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		CHECK(!hcache_targeted_name_valid(bad_names[i], strlen(bad_names[i])));
	CHECK(hcache_targeted_name_valid("0123456789012345678901234567890123456789012345678901234567890123",
					 64));
}

int main(void)
{
	test_cc();
	test_dates();
	test_fields();
	test_storable();
	test_request_caused();
	test_set_cookie();
	test_heuristic();
	test_freshness();
	test_decide();
	test_stale_if_error();
	test_origin_head();
	test_conditional();
	test_stored_headers();
	test_304();
	test_range();
	test_vary();
	test_vary_marker();
	test_key();
	test_misc();
	test_targeted();
	return check_exit();
}
