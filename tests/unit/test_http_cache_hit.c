/*
 * tests/unit/test_http_cache_hit.c — cache/http_cache_hit.c: what a hit
 * answers (200, 206, 304, 412, 416: at the object's last byte and one
 * past), the store entry's expiry, and the header fields the request path
 * drops, keeps in a 304, writes itself, or stores; a background refresh's
 * decision, validators, fill framing, the paths an unsafe method
 * invalidates. Heads parsed by net/http1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/http_cache.h"
#include "net/http1.h"
#include "check.h"

#define T0 1700000000LL

static char text[4096];
static struct http1_request rq;

static struct hcache_req_info req(const char *method, const char *headers)
{
	struct hcache_req_info r;
	snprintf(text, sizeof(text), "%s /o HTTP/1.1\r\nHost: a\r\n%s\r\n", method, headers);
	if (http1_parse_request(text, strlen(text), &rq) <= 0) {
		fprintf(stderr, "bad test request: %s\n", text);
		exit(1);
	}
	hcache_parse_request(&rq, T0, &r);
	return r;
}

static void test_plan(void)
{
	struct hcache_entry e = { .status = 200, .date = T0, .last_modified = HCACHE_TIME_NONE,
				  .etag_len = 3, .etag = "\"a\"" };
	static const struct {
		const char *method, *h;
		int status;
		int64_t first, len;
		const char *cr;                 /* NULL: no Content-Range */
	} cases[] = {
		{ "GET",  "",                                  200, 0, 100, NULL },
		{ "HEAD", "",                                  200, 0, 100, NULL },
		{ "GET",  "Range: bytes=0-0\r\n",              206, 0, 1, "bytes 0-0/100" },
		{ "GET",  "Range: bytes=98-99\r\n",            206, 98, 2, "bytes 98-99/100" },
		{ "GET",  "Range: bytes=98-100\r\n",           206, 98, 2, "bytes 98-99/100" },
		{ "GET",  "Range: bytes=99-\r\n",              206, 99, 1, "bytes 99-99/100" },
		{ "GET",  "Range: bytes=100-\r\n",             416, 0, 0, "bytes */100" },
		{ "GET",  "Range: bytes=-100\r\n",             206, 0, 100, "bytes 0-99/100" },
		{ "GET",  "Range: bytes=-101\r\n",             206, 0, 100, "bytes 0-99/100" },
		{ "GET",  "Range: bytes=0-1,5-6\r\n",          200, 0, 100, NULL },
		{ "HEAD", "Range: bytes=0-1\r\n",              200, 0, 100, NULL },
		{ "GET",  "Range: bytes=0-1\r\nIf-Range: \"a\"\r\n", 206, 0, 2, "bytes 0-1/100" },
		{ "GET",  "Range: bytes=0-1\r\nIf-Range: \"b\"\r\n", 200, 0, 100, NULL },
		{ "GET",  "If-None-Match: \"a\"\r\n",          304, 0, 0, NULL },
		{ "GET",  "If-None-Match: \"a\"\r\nRange: bytes=0-1\r\n", 304, 0, 0, NULL },
		{ "GET",  "If-None-Match: \"b\"\r\n",          200, 0, 100, NULL },
		{ "GET",  "If-Match: \"b\"\r\n",               412, 0, 0, NULL },
		{ "GET",  "If-Match: \"a\"\r\nRange: bytes=1-1\r\n", 206, 1, 1, "bytes 1-1/100" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hcache_req_info r = req(cases[i].method, cases[i].h);
		struct hcache_hit_plan hp;
		hcache_hit_plan(&r, &e, e.status, 100, &hp);
		if (hp.status != cases[i].status)
			fprintf(stderr, "case %zu: %s %s\n", i, cases[i].method, cases[i].h);
		CHECK_EQ_INT(hp.status, cases[i].status);
		CHECK_EQ_INT(hp.first, cases[i].first);
		CHECK_EQ_INT(hp.len, cases[i].len);
		CHECK_EQ_INT(hp.has_content_range, cases[i].cr != NULL);
		if (cases[i].cr && hp.has_content_range)
			CHECK_EQ_STR(hp.content_range, cases[i].cr);
	}
	/* Range applies to a 200 only: another stored status is sent whole */
	struct hcache_req_info r = req("GET", "Range: bytes=0-1\r\n");
	struct hcache_hit_plan hp;
	e.status = 203;
	hcache_hit_plan(&r, &e, 203, 100, &hp);
	CHECK(hp.status == 203 && hp.len == 100 && !hp.has_content_range);
	/* a large object's plan asks with 200 whatever the entry says: the
	 * entry's status still gates the Range (hcache_range) */
	hcache_hit_plan(&r, &e, 200, 100, &hp);
	CHECK(hp.status == 200 && hp.len == 100 && !hp.has_content_range);
	/* an empty object: any first byte is past its end */
	e.status = 200;
	r = req("GET", "Range: bytes=0-\r\n");
	hcache_hit_plan(&r, &e, 200, 0, &hp);
	CHECK_EQ_INT(hp.status, 416);
	CHECK_EQ_STR(hp.content_range, "bytes */0");
}

static void test_expires(void)
{
	struct hcache_store hs = { .fresh_until = T0 + 60, .sie_until = T0 + 59 };
	CHECK_EQ_INT(hcache_store_expires(&hs), T0 + 60);
	hs.sie_until = T0 + 60;
	CHECK_EQ_INT(hcache_store_expires(&hs), T0 + 60);
	hs.sie_until = T0 + 61;
	CHECK_EQ_INT(hcache_store_expires(&hs), T0 + 61);
}

static struct http1_header hdr(const char *name)
{
	return (struct http1_header){ .name = name, .name_len = (uint16_t)strlen(name),
				      .value = "v", .value_len = 1 };
}

static void test_headers(void)
{
	static const struct {
		const char *name;
		bool conditional, kept_304, replaced, stored;
	} cases[] = {
		{ "If-None-Match",       true,  false, false, true },
		{ "if-modified-since",   true,  false, false, true },
		{ "If-Match",            true,  false, false, true },
		{ "If-Unmodified-Since", true,  false, false, true },
		{ "If-Range",            true,  false, false, true },
		{ "Range",               true,  false, false, true },
		{ "Ranges",              false, false, false, true },
		{ "If-None-Matc",        false, false, false, true },
		{ "ETag",                false, true,  false, true },
		{ "Cache-Control",       false, true,  false, true },
		{ "Expires",             false, true,  false, true },
		{ "Vary",                false, true,  false, true },
		{ "Content-Location",    false, true,  false, true },
		{ "Last-Modified",       false, true,  false, true },
		{ "Content-Type",        false, false, false, true },
		{ "Content-Length",      false, false, true,  false },
		{ "Content-Range",       false, false, false, true },
		{ "Date",                false, true,  false, true },
		{ "Server",              false, false, true,  true },
		{ "Age",                 false, false, true,  true },
		{ "X-Cache",             false, false, true,  true },
		{ "Connection",          false, false, true,  false },
		{ "Transfer-Encoding",   false, false, true,  false },
		{ "Set-Cookie",          false, false, false, false },
		{ "Set-Cookie2",         false, false, false, true },
		{ "Keep-Alive",          false, false, false, false },
		{ "X-Named",             false, false, false, false },  /* Connection names it */
	};
	struct http1_header all[] = { hdr("Content-Type"),
				      { .name = "Connection", .name_len = 10, .value = "x-named",
					.value_len = 7 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http1_header h = hdr(cases[i].name);
		if (hcache_header_in_stored_head(&h, all, 2) != cases[i].stored)
			fprintf(stderr, "header case %s\n", cases[i].name);
		CHECK_EQ_INT(hcache_header_conditional(&h), cases[i].conditional);
		CHECK_EQ_INT(hcache_header_kept_in_304(&h), cases[i].kept_304);
		CHECK_EQ_INT(hcache_header_replaced_on_hit(&h), cases[i].replaced);
		CHECK_EQ_INT(hcache_header_in_stored_head(&h, all, 2), cases[i].stored);
	}
}

static char rtext[4096];
static struct http1_response rs;

static struct http1_response *response(const char *status_headers)
{
	snprintf(rtext, sizeof(rtext), "HTTP/1.1 %s\r\n\r\n", status_headers);
	if (http1_parse_response(rtext, strlen(rtext), false, &rs) <= 0) {
		fprintf(stderr, "bad test response: %s\n", rtext);
		exit(1);
	}
	return &rs;
}

static void test_lookup(void)
{
	struct hcache_entry e = { .status = 200, .request_time = T0, .response_time = T0,
				  .date = T0, .lifetime_s = 60, .stale_while_revalidate_s = 30,
				  .last_modified = HCACHE_TIME_NONE };
	struct hcache_req_info r = req("GET", "");
	static const struct { int64_t at; bool bg; enum hcache_action act; } cases[] = {
		{ T0 + 59, false, HCACHE_SERVE_FRESH },
		{ T0 + 59, true,  HCACHE_SERVE_FRESH },
		{ T0 + 60, false, HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND },
		{ T0 + 60, true,  HCACHE_REVALIDATE },
		{ T0 + 89, false, HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND },
		{ T0 + 90, false, HCACHE_REVALIDATE },
		{ T0 + 90, true,  HCACHE_REVALIDATE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_EQ_INT(hcache_decide_lookup(&e, &r, cases[i].at, cases[i].bg), cases[i].act);
	/* a background refresh of an entry only-if-cached would 504 for */
	r = req("GET", "Cache-Control: only-if-cached\r\n");
	CHECK_EQ_INT(hcache_decide_lookup(&e, &r, T0 + 90, false), HCACHE_GATEWAY_TIMEOUT);
	CHECK_EQ_INT(hcache_decide_lookup(&e, &r, T0 + 90, true), HCACHE_REVALIDATE);

	CHECK(!hcache_has_validators(&e));
	e.flags = HCACHE_E_HAS_LM;
	CHECK(hcache_has_validators(&e));
	e.flags = 0;
	e.etag_len = 1;
	CHECK(hcache_has_validators(&e));

	CHECK(hcache_fill_framed(response("200 OK\r\nContent-Length: 0")));
	CHECK(hcache_fill_framed(response("200 OK\r\nContent-Length: 5")));
	CHECK(!hcache_fill_framed(response("200 OK\r\nTransfer-Encoding: chunked")));
	CHECK(!hcache_fill_framed(response("200 OK")));      /* ends with the close */
}

static void test_invalidated(void)
{
	static const struct {
		const char *method, *target, *resp;
		int n;
		const char *paths[3];
	} cases[] = {
		{ "POST", "/a?x=1", "200 OK", 1, { "/a?x=1" } },
		{ "POST", "/a", "303 S\r\nLocation: /b\r\nContent-Location: http://A/c", 3,
		  { "/a", "/b", "/c" } },
		{ "PUT", "/a", "201 C\r\nLocation: http://other/b\r\nContent-Location: /c", 2,
		  { "/a", "/c" } },
		{ "DELETE", "http://a/p?q", "204 N", 1, { "/p" } },   /* absolute-form: its path */
		{ "POST", "/a", "399 X", 1, { "/a" } },
		{ "POST", "/a", "400 B\r\nLocation: /b", 0, { NULL } },
		{ "POST", "/a", "500 E", 0, { NULL } },
		{ "POST", "/a", "199 I", 0, { NULL } },
		{ "GET", "/a", "200 OK\r\nLocation: /b", 0, { NULL } },
		{ "HEAD", "/a", "200 OK", 0, { NULL } },
		{ "OPTIONS", "/a", "200 OK", 0, { NULL } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hcache_span out[3];
		snprintf(text, sizeof(text), "%s %s HTTP/1.1\r\nHost: a\r\n\r\n",
			 cases[i].method, cases[i].target);
		if (http1_parse_request(text, strlen(text), &rq) <= 0) {
			fprintf(stderr, "bad test request: %s\n", text);
			exit(1);
		}
		int n = hcache_invalidated_paths(&rq, response(cases[i].resp), out);
		if (n != cases[i].n)
			fprintf(stderr, "invalidation case %zu\n", i);
		CHECK_EQ_INT(n, cases[i].n);
		for (int k = 0; k < n && k < cases[i].n; k++)
			CHECK(out[k].len == strlen(cases[i].paths[k]) &&
			      memcmp(out[k].p, cases[i].paths[k], out[k].len) == 0);
	}
}

/* What a hit's head leaves out, and what it adds (ct: other-date-update,
 * other-date-update-expires, headers-store-Content-Range, cdn-remove-header) */
static void test_hit_head(void)
{
	struct http1_header date = hdr("Date"), cr = hdr("Content-Range"), ct = hdr("Content-Type"),
			    cdn = hdr("CDN-Cache-Control"), own = hdr("Edge-CC"), age = hdr("Age"),
			    cl = hdr("Content-Length"), etag = hdr("ETag");

	for (int status = 200; status <= 416; status++) {
		bool partial = status == 206 || status == 416;
		CHECK(!hcache_hit_drops_header(&date, status, NULL));   /* the stored Date */
		CHECK_EQ_INT(hcache_hit_drops_header(&cr, status, NULL), partial || status == 304);
		CHECK_EQ_INT(hcache_hit_drops_header(&ct, status, NULL), status == 304);
		CHECK(!hcache_hit_drops_header(&etag, status, NULL));
		CHECK(hcache_hit_drops_header(&cdn, status, NULL));
		CHECK(hcache_hit_drops_header(&cdn, status, "Edge-CC"));
		CHECK_EQ_INT(hcache_hit_drops_header(&own, status, NULL), status == 304);
		CHECK(hcache_hit_drops_header(&own, status, "edge-cc"));
		CHECK(hcache_hit_drops_header(&age, status, NULL));
		CHECK(hcache_hit_drops_header(&cl, status, NULL));
		CHECK_EQ_INT(hcache_hit_sends_length(status), status != 204 && status != 304);
	}
	struct http1_header with[] = { hdr("Content-Type"), hdr("date") }, without[] = { hdr("Age") };
	CHECK(!hcache_hit_adds_date(with, 2));
	CHECK(hcache_hit_adds_date(without, 1));
	CHECK(hcache_hit_adds_date(without, 0));
}

int main(void)
{
	test_plan();
	test_expires();
	test_headers();
	test_lookup();
	test_invalidated();
	test_hit_head();
	return check_exit();
}
