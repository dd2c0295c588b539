/*
 * tests/unit/test_slice.c — cache/slice: chunk arithmetic at and around
 * chunk boundaries, the "is it large" rule at one chunk and one byte past,
 * which Range misses go by chunks (at LIMIT_STORE_OBJECT_CHUNKS and one
 * past), Content-Range parsing, whether an origin's answer is a slice, the
 * validators that tie chunks to one version. Heads parsed by net/http1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/slice.h"
#include "net/http1.h"
#include "check.h"

#define T0 1700000000LL
#define CH 4096u

static char texts[8][4096];
static struct http1_response rs[4];
static struct http1_request rq;

static struct http1_response *response(int slot, const char *status_headers)
{
	snprintf(texts[slot], sizeof(texts[slot]), "HTTP/1.1 %s\r\n\r\n", status_headers);
	if (http1_parse_response(texts[slot], strlen(texts[slot]), false, &rs[slot]) <= 0) {
		fprintf(stderr, "bad test response: %s\n", texts[slot]);
		exit(1);
	}
	return &rs[slot];
}

static struct hcache_resp_info resp_info(const char *status_headers)
{
	struct hcache_resp_info ri;
	hcache_parse_response(response(3, status_headers), T0, &ri);
	return ri;
}

static struct hcache_req_info req_info(const char *method, const char *headers)
{
	struct hcache_req_info r;
	snprintf(texts[7], sizeof(texts[7]), "%s /o HTTP/1.1\r\nHost: a\r\n%s\r\n", method,
		 headers);
	if (http1_parse_request(texts[7], strlen(texts[7]), &rq) <= 0) {
		fprintf(stderr, "bad test request: %s\n", texts[7]);
		exit(1);
	}
	hcache_parse_request(&rq, T0, &r);
	return r;
}

static void test_chunks(void)
{
	static const struct { uint64_t total; uint64_t count; uint32_t last_len; } cases[] = {
		{ 1, 1, 1 }, { CH - 1, 1, CH - 1 }, { CH, 1, CH }, { CH + 1, 2, 1 },
		{ 2 * CH, 2, CH }, { 2 * CH + 1, 3, 1 }, { 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(slice_chunk_count(cases[i].total, CH), cases[i].count);
		if (cases[i].count == 0)
			continue;
		uint32_t last = (uint32_t)cases[i].count - 1;
		CHECK_EQ_INT(slice_chunk_len(cases[i].total, CH, last), cases[i].last_len);
		if (last > 0)
			CHECK_EQ_INT(slice_chunk_len(cases[i].total, CH, last - 1), CH);
	}
	CHECK_EQ_INT(slice_chunk_count(123, 0), 0);
	/* the last chunk of bytes [.., last1) */
	CHECK_EQ_INT(slice_last_chunk(1, CH), 0);
	CHECK_EQ_INT(slice_last_chunk(CH, CH), 0);
	CHECK_EQ_INT(slice_last_chunk(CH + 1, CH), 1);
	CHECK_EQ_INT(slice_last_chunk((uint64_t)UINT32_MAX * CH + 1, CH), UINT32_MAX);
	CHECK_EQ_INT(slice_last_chunk((uint64_t)UINT32_MAX * CH + CH + 1, CH), UINT32_MAX);
	CHECK_EQ_INT(slice_last_chunk(UINT64_MAX, CH), UINT32_MAX);
	/* a fetch of n chunks, cut to the length once known */
	uint64_t off, end;
	slice_fetch_span(2, 8, CH, 0, false, &off, &end);
	CHECK_EQ_INT(off, 2 * CH);
	CHECK_EQ_INT(end, 10 * CH);
	slice_fetch_span(2, 8, CH, 5 * CH + 7, true, &off, &end);
	CHECK_EQ_INT(end, 5 * CH + 7);
	slice_fetch_span(2, 8, CH, 10 * CH, true, &off, &end);
	CHECK_EQ_INT(end, 10 * CH);
	/* keys: one per (key, generation, index), all different */
	struct cindex_key k = { .lo = 1, .hi = 2 };
	struct cindex_key a = slice_chunk_key(k, 3, 0), b = slice_chunk_key(k, 3, 0);
	CHECK(a.lo == b.lo && a.hi == b.hi);
	struct cindex_key c = slice_chunk_key(k, 3, 1), d = slice_chunk_key(k, 5, 0);
	CHECK(!(a.lo == c.lo && a.hi == c.hi) && !(a.lo == d.lo && a.hi == d.hi));
	CHECK(!(a.lo == k.lo && a.hi == k.hi));
	/* the fill's key: per generation, no chunk's, not the object's */
	struct cindex_key f = slice_fill_key(k, 3), g = slice_fill_key(k, 5);
	struct cindex_key last = slice_chunk_key(k, 3, LIMIT_STORE_OBJECT_CHUNKS - 1);
	CHECK(!(f.lo == g.lo && f.hi == g.hi) && !(f.lo == k.lo && f.hi == k.hi));
	CHECK(!(f.lo == a.lo && f.hi == a.hi) && !(f.lo == last.lo && f.hi == last.hi));
}

static void test_is_large(void)
{
	struct hcache_resp_info plain = resp_info("200 OK\r\nContent-Length: 1");
	struct hcache_resp_info vary = resp_info("200 OK\r\nVary: accept-encoding");

	CHECK(!slice_is_large(&plain, 100, CH - 100, CH));      /* exactly one chunk */
	CHECK(slice_is_large(&plain, 100, CH - 99, CH));        /* one byte past */
	CHECK(!slice_is_large(&plain, 0, 0, CH));
	CHECK(!slice_is_large(&vary, 100, 10 * CH, CH));        /* Vary: never sliced */
}

static void test_validators(void)
{
	struct hcache_entry strong = { .etag_len = 3, .etag = "\"a\"" };
	struct hcache_entry weak = { .etag_len = 5, .etag_weak = true, .etag = "W/\"a\"" };
	struct hcache_entry lm = { .flags = HCACHE_E_HAS_LM, .last_modified = T0 - 100 };
	struct hcache_entry none = { .last_modified = HCACHE_TIME_NONE };

	CHECK(slice_has_validator(&strong));
	CHECK(!slice_has_validator(&weak));
	CHECK(slice_has_validator(&lm));
	CHECK(!slice_has_validator(&none));

	struct hcache_resp_info r;
	r = resp_info("200 OK\r\nETag: \"a\"");
	CHECK(slice_same_validator(&strong, &r));
	CHECK(!slice_same_validator(&lm, &r));
	CHECK(!slice_same_validator(&none, &r));
	r = resp_info("200 OK\r\nETag: \"b\"");
	CHECK(!slice_same_validator(&strong, &r));
	r = resp_info("200 OK\r\nETag: W/\"a\"");
	CHECK(!slice_same_validator(&strong, &r));
	CHECK(slice_same_validator(&weak, &r));
	r = resp_info("200 OK\r\nLast-Modified: Tue, 14 Nov 2023 22:11:40 GMT");
	CHECK(slice_same_validator(&lm, &r));
	CHECK(!slice_same_validator(&strong, &r));
	CHECK(!slice_same_validator(&none, &r));
	r = resp_info("200 OK\r\nLast-Modified: Tue, 14 Nov 2023 22:11:41 GMT");
	CHECK(!slice_same_validator(&lm, &r));
	r = resp_info("200 OK");
	CHECK(slice_same_validator(&none, &r));
	CHECK(!slice_same_validator(&lm, &r));

	/* stored: storable, no Vary, a validator */
	struct hcache_store yes = { .store = true }, no = { .store = false };
	r = resp_info("200 OK\r\nETag: \"a\"");
	CHECK(slice_stored(&yes, &r, &strong));
	CHECK(!slice_stored(&no, &r, &strong));
	CHECK(!slice_stored(&yes, &r, &weak));
	r = resp_info("200 OK\r\nETag: \"a\"\r\nVary: *");
	CHECK(!slice_stored(&yes, &r, &strong));
	r = resp_info("200 OK\r\nETag: \"a\"\r\nVary: accept");
	CHECK(!slice_stored(&yes, &r, &strong));

	/* served, not stored: the response's validators (an ETag that does
	 * not fit LIMIT_ETAG_BYTES is left out) */
	struct hcache_entry e;
	memset(&e, 0, sizeof(e));
	r = resp_info("200 OK\r\nETag: W/\"x\"\r\nLast-Modified: Tue, 14 Nov 2023 22:11:40 GMT");
	slice_served_entry(&r, &e);
	CHECK_EQ_INT(e.status, 200);
	CHECK_EQ_INT(e.etag_len, 5);
	CHECK(e.etag_weak);
	CHECK(e.flags == HCACHE_E_HAS_LM && e.last_modified == T0 - 100);
	char big[LIMIT_ETAG_BYTES + 40];
	for (int len = LIMIT_ETAG_BYTES; len <= LIMIT_ETAG_BYTES + 1; len++) {
		memset(&e, 0, sizeof(e));
		snprintf(big, sizeof(big), "200 OK\r\nETag: \"%.*s\"", len - 2,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		r = resp_info(big);
		slice_served_entry(&r, &e);
		CHECK_EQ_INT(e.etag_len, len == LIMIT_ETAG_BYTES ? LIMIT_ETAG_BYTES : 0);
		CHECK(e.flags == 0 && e.last_modified == HCACHE_TIME_NONE);
	}
}

static void test_record_stale(void)
{
	struct hcache_entry e = { .status = 200, .request_time = T0, .response_time = T0, .date = T0,
				  .lifetime_s = 60, .last_modified = HCACHE_TIME_NONE };
	CHECK(!slice_record_stale(&e, T0));
	/* Fresh to a plain GET until its lifetime: absent request
	 * Cache-Control is not max-age=0 (it once was: dropped at T0 + 1). */
	CHECK(!slice_record_stale(&e, T0 + 1));
	CHECK(!slice_record_stale(&e, T0 + 59));
	CHECK(slice_record_stale(&e, T0 + 60));
	CHECK(slice_record_stale(&e, T0 + 61));
	e.flags = HCACHE_E_NO_CACHE;
	CHECK(slice_record_stale(&e, T0));
}

static void test_range_miss_applies(void)
{
	struct hcache_req_info r = req_info("GET", "Range: bytes=0-9\r\n");
	struct hcache_req_info plain = req_info("GET", "");
	struct hcache_req_info head = req_info("HEAD", "Range: bytes=0-9\r\n");

	CHECK(slice_range_miss_applies(&r, true, false, false));
	CHECK(!slice_range_miss_applies(&r, false, false, false));   /* not cacheable */
	CHECK(!slice_range_miss_applies(&r, true, true, false));     /* its own stale copy */
	CHECK(!slice_range_miss_applies(&r, true, false, true));     /* a refresh */
	CHECK(!slice_range_miss_applies(&plain, true, false, false)); /* no Range */
	CHECK(!slice_range_miss_applies(&head, true, false, false));  /* HEAD */
}

static void test_record_use(void)
{
	struct hcache_entry e = { .status = 200, .request_time = T0, .response_time = T0, .date = T0,
				  .lifetime_s = 60, .last_modified = HCACHE_TIME_NONE };
	struct hcache_req_info plain = req_info("GET", "");
	struct hcache_req_info max0 = req_info("GET", "Cache-Control: max-age=0\r\n");
	struct hcache_req_info noc = req_info("GET", "Cache-Control: no-cache\r\n");
	struct hcache_req_info fresh10 = req_info("GET", "Cache-Control: min-fresh=10\r\n");

	CHECK_EQ_INT(slice_record_use(&e, &plain, T0 + 1, false), SLICE_REC_SERVE);
	CHECK_EQ_INT(slice_record_use(&e, &plain, T0 + 59, false), SLICE_REC_SERVE);
	CHECK_EQ_INT(slice_record_use(&e, &plain, T0 + 60, false), SLICE_REC_DROP);
	CHECK_EQ_INT(slice_record_use(&e, &plain, T0 + 1, true), SLICE_REC_REFRESH);
	CHECK_EQ_INT(slice_record_use(&e, &plain, T0 + 60, true), SLICE_REC_REFRESH);
	/* Refused by one request's own Cache-Control: kept for the next. */
	CHECK_EQ_INT(slice_record_use(&e, &max0, T0, false), SLICE_REC_SERVE);
	CHECK_EQ_INT(slice_record_use(&e, &max0, T0 + 1, false), SLICE_REC_MISS);
	CHECK_EQ_INT(slice_record_use(&e, &max0, T0 + 59, false), SLICE_REC_MISS);
	CHECK_EQ_INT(slice_record_use(&e, &max0, T0 + 60, false), SLICE_REC_DROP);
	CHECK_EQ_INT(slice_record_use(&e, &noc, T0 + 1, false), SLICE_REC_MISS);
	/* with a strong ETag: a stale record is revalidated by a GET */
	struct hcache_entry v = e;
	memcpy(v.etag, "\"abc\"", 5);
	v.etag_len = 5;
	struct hcache_req_info hd = req_info("HEAD", "");
	CHECK_EQ_INT(slice_record_use(&v, &plain, T0 + 59, false), SLICE_REC_SERVE);
	CHECK_EQ_INT(slice_record_use(&v, &plain, T0 + 60, false), SLICE_REC_REVALIDATE);
	CHECK_EQ_INT(slice_record_use(&v, &max0, T0 + 60, false), SLICE_REC_REVALIDATE);
	CHECK_EQ_INT(slice_record_use(&v, &max0, T0 + 1, false), SLICE_REC_MISS);
	/* a HEAD never drops a version: download managers send one first */
	CHECK_EQ_INT(slice_record_use(&v, &hd, T0 + 60, false), SLICE_REC_MISS);
	CHECK_EQ_INT(slice_record_use(&e, &hd, T0 + 60, false), SLICE_REC_MISS);
	CHECK_EQ_INT(slice_record_use(&v, &plain, T0 + 60, true), SLICE_REC_REFRESH);
	CHECK_EQ_INT(slice_record_use(&e, &fresh10, T0 + 50, false), SLICE_REC_SERVE);
	CHECK_EQ_INT(slice_record_use(&e, &fresh10, T0 + 51, false), SLICE_REC_MISS);
}

static void test_range_miss(void)
{
	static const struct { const char *h; bool ok; uint64_t first, last1; } cases[] = {
		{ "Range: bytes=0-0\r\n",             true, 0, 1 },
		{ "Range: bytes=100-199\r\n",         true, 100, 200 },
		{ "Range: bytes= 100-199\r\n",        true, 100, 200 },
		{ "Range: bytes=4096-\r\n",           true, 4096, INT64_MAX },
		{ "Range: bytes=-500\r\n",            true, 0, 1 },     /* suffix: chunk 0 first */
		{ "Range: bytes= -500\r\n",           true, 0, 1 },
		{ "Range: bytes=-0\r\n",              false, 0, 0 },    /* empty suffix */
		{ "Range: bytes=0-1,5-6\r\n",         false, 0, 0 },    /* several */
		{ "Range: bytes=9-3\r\n",             false, 0, 0 },    /* invalid */
		{ "Range: items=0-1\r\n",             false, 0, 0 },    /* unit */
		{ "Range: bytes=\r\n",                false, 0, 0 },
		{ "Range: bytes=0-1\r\nIf-Range: \"a\"\r\n", false, 0, 0 },
		{ "",                                 false, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hcache_req_info r = req_info("GET", cases[i].h);
		uint64_t first = 7, last1 = 7;
		bool ok = slice_range_miss(&r, CH, &first, &last1);
		CHECK_EQ_INT(ok, cases[i].ok);
		if (ok && cases[i].ok) {
			CHECK_EQ_INT(first, cases[i].first);
			CHECK_EQ_INT(last1, cases[i].last1);
		}
	}
	struct hcache_req_info r = req_info("HEAD", "Range: bytes=0-1\r\n");
	uint64_t first, last1;
	CHECK(!slice_range_miss(&r, CH, &first, &last1));
	r = req_info("GET", "Range: bytes=0-1\r\n");
	CHECK(!slice_range_miss(&r, 0, &first, &last1));
	/* starting in the last chunk an object may have, and one past */
	char h[96];
	snprintf(h, sizeof(h), "Range: bytes=%llu-\r\n",
		 (unsigned long long)(LIMIT_STORE_OBJECT_CHUNKS - 1) * CH + CH - 1);
	r = req_info("GET", h);
	CHECK(slice_range_miss(&r, CH, &first, &last1));
	snprintf(h, sizeof(h), "Range: bytes=%llu-\r\n",
		 (unsigned long long)LIMIT_STORE_OBJECT_CHUNKS * CH);
	r = req_info("GET", h);
	CHECK(!slice_range_miss(&r, CH, &first, &last1));
}

static void test_content_range(void)
{
	static const struct { const char *v; bool ok; uint64_t first, end, total; } cases[] = {
		{ "bytes 0-0/1",             true, 0, 1, 1 },
		{ "bytes 0-4095/10000",      true, 0, 4096, 10000 },
		{ "BYTES 5-9/10",            true, 5, 10, 10 },
		{ "bytes 9-9/10",            true, 9, 10, 10 },
		{ "bytes 9-10/10",           false, 0, 0, 0 },  /* last == total */
		{ "bytes 9-8/10",            false, 0, 0, 0 },  /* last < first */
		{ "bytes */10",              false, 0, 0, 0 },
		{ "bytes 0-1/*",             false, 0, 0, 0 },
		{ "bytes 0-1/10 ",           false, 0, 0, 0 },  /* trailing byte */
		{ "bytes 0-1",               false, 0, 0, 0 },
		{ "bytes 0 -1/10",           false, 0, 0, 0 },
		{ "bytes ",                  false, 0, 0, 0 },
		{ "items 0-1/10",            false, 0, 0, 0 },
		{ "bytes 0-1/9999999999999999999",  true, 0, 2, 9999999999999999999ull },
		{ "bytes 0-1/10000000000000000000", false, 0, 0, 0 },  /* 20 digits */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t f = 0, e = 0, t = 0;
		bool ok = slice_parse_content_range(cases[i].v, strlen(cases[i].v), &f, &e, &t);
		if (ok != cases[i].ok)
			fprintf(stderr, "content-range case %zu: %s\n", i, cases[i].v);
		CHECK_EQ_INT(ok, cases[i].ok);
		if (ok && cases[i].ok) {
			CHECK(f == cases[i].first && e == cases[i].end && t == cases[i].total);
		}
	}
}

static void test_origin_span(void)
{
	uint64_t f, e, t;
	struct http1_response *r;

	r = response(0, "206 P\r\nContent-Range: bytes 4096-8191/10000\r\nContent-Length: 4096");
	CHECK(slice_origin_span(r, 4096, &f, &e, &t));
	CHECK(f == 4096 && e == 8192 && t == 10000);
	CHECK(slice_origin_span(r, 8191, &f, &e, &t));          /* last byte covered */
	CHECK(!slice_origin_span(r, 8192, &f, &e, &t));         /* one past */
	CHECK(!slice_origin_span(r, 4095, &f, &e, &t));         /* starts after o_off */
	r = response(0, "206 P\r\nContent-Range: bytes 4096-8191/10000\r\nContent-Length: 4095");
	CHECK(!slice_origin_span(r, 4096, &f, &e, &t));         /* length disagrees */
	r = response(0, "206 P\r\nContent-Length: 4096");
	CHECK(!slice_origin_span(r, 4096, &f, &e, &t));         /* no Content-Range */
	r = response(0, "200 OK\r\nContent-Length: 10000");
	CHECK(slice_origin_span(r, 9999, &f, &e, &t));
	CHECK(f == 0 && e == 10000 && t == 10000);
	CHECK(!slice_origin_span(r, 10000, &f, &e, &t));
	r = response(0, "200 OK\r\nContent-Length: 0");
	CHECK(!slice_origin_span(r, 0, &f, &e, &t));
	r = response(0, "200 OK\r\nTransfer-Encoding: chunked");
	CHECK(!slice_origin_span(r, 0, &f, &e, &t));
	r = response(0, "416 R\r\nContent-Range: bytes */10\r\nContent-Length: 0");
	CHECK(!slice_origin_span(r, 0, &f, &e, &t));

	static const struct { uint16_t status; bool drops; } st[] = {
		{ 200, true }, { 299, true }, { 300, false }, { 304, false }, { 403, false },
		{ 404, true }, { 410, true }, { 416, true }, { 500, false }, { 503, false },
	};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		CHECK_EQ_INT(slice_drops_object(st[i].status), st[i].drops);

	/* the whole object's head */
	struct http1_response head;
	r = response(0, "206 Partial\r\nETag: \"a\"\r\nContent-Range: bytes 0-1/10\r\n"
		     "Content-Length: 2\r\nX-A: 1");
	slice_whole_head(r, 10, &head);
	CHECK_EQ_INT(head.status, 200);
	CHECK(head.reason_len == 2 && memcmp(head.reason, "OK", 2) == 0);
	CHECK_EQ_INT(head.content_length, 10);
	CHECK_EQ_INT(head.n_headers, r->n_headers - 1);
	CHECK(!http1_find_header(head.headers, head.n_headers, "content-range"));
	CHECK(http1_find_header(head.headers, head.n_headers, "etag"));
	CHECK(http1_find_header(head.headers, head.n_headers, "x-a"));
}

int main(void)
{
	test_chunks();
	test_is_large();
	test_validators();
	test_record_stale();
	test_record_use();
	test_range_miss_applies();
	test_range_miss();
	test_content_range();
	test_origin_span();
	return check_exit();
}
