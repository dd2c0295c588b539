/*
 * tests/unit/test_origin_client.c — net/origin_client's response reader:
 * response bytes in, the sequence of callbacks out, whole and split at
 * every byte; and the reuse (desync) rule.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "net/origin_client.h"

/* What the callbacks saw, as text: "I103 " per interim head, "H200 " per head, the body bytes
 * after "B:", "E" for the end, "X<err>" for an error. */
struct rec {
	char log[8192];
	size_t len;
	char data[4096];                    /* content bytes (on_data) */
	size_t data_len;
	bool stop_at_head;                  /* on_head returns false */
	bool mask;                          /* on_data stars content in place */
	bool in_body;                       /* the last callback was on_body */
	int heads;
};

static void rec_put(struct rec *r, const char *p, size_t n)
{
	if (r->len + n < sizeof(r->log)) {
		memcpy(r->log + r->len, p, n);
		r->len += n;
		r->log[r->len] = '\0';
	}
}

static bool on_head(void *user, const struct http1_response *resp)
{
	struct rec *r = user;
	char s[16];

	snprintf(s, sizeof(s), "H%u ", resp->status);
	rec_put(r, s, strlen(s));
	r->in_body = false;
	r->heads++;
	return !r->stop_at_head;
}

static bool on_interim(void *user, const struct http1_response *resp)
{
	struct rec *r = user;
	char s[16];

	CHECK(resp->no_body);
	snprintf(s, sizeof(s), "I%u ", resp->status);
	rec_put(r, s, strlen(s));
	return true;
}

static void on_data(void *user, char *p, size_t n)
{
	struct rec *r = user;

	if (r->mask)
		memset(p, '*', n);
	if (r->data_len + n <= sizeof(r->data)) {
		memcpy(r->data + r->data_len, p, n);
		r->data_len += n;
	}
}

static bool on_body(void *user, struct iobuf_group *g, uint16_t bid, const char *p, size_t n)
{
	struct rec *r = user;

	CHECK(n > 0);
	CHECK(g == NULL && bid == 7);       /* the buffer oclient_read was given */
	if (!r->in_body)
		rec_put(r, "B:", 2);
	r->in_body = true;
	rec_put(r, p, n);
	return true;
}

static void on_end(void *user)
{
	rec_put(user, "E", 1);
}

static void on_error(void *user, enum oclient_error err)
{
	char s[8];

	snprintf(s, sizeof(s), "X%d", (int)err);
	rec_put(user, s, strlen(s));
}

static const struct oclient_ops ops = {
	.on_interim = on_interim, .on_head = on_head, .on_data = on_data, .on_body = on_body,
	.on_end = on_end, .on_error = on_error,
};

static struct iobuf_pool pool;

/* Feed `in` in pieces of `step` bytes (0: whole); returns the last
 * result. The bytes are copied first: the reader may overwrite them. */
static int feed(struct oclient_reader *r, struct rec *rec, const char *in, size_t step,
		bool head_request, bool dechunk)
{
	static char buf[2 * LIMIT_RESPONSE_HEADER_BYTES];
	size_t len = strlen(in), off = 0;
	int rc = OCLIENT_MORE;

	CHECK(len <= sizeof(buf));
	if (len > sizeof(buf))
		return OCLIENT_STOPPED;
	memcpy(buf, in, len);
	oclient_reader_start(r, &pool, head_request, dechunk);
	memset(rec->log, 0, sizeof(rec->log));
	rec->len = rec->data_len = 0;
	rec->heads = 0;
	rec->in_body = false;
	while (off < len && rc == OCLIENT_MORE) {
		size_t n = step && len - off > step ? step : len - off;
		rc = oclient_read(r, buf + off, n, NULL, 7, &ops, rec);
		off += n;
	}
	return rc;
}

/* Whole, then split at every byte: the same callbacks, the same result. */
static void expect(const char *in, bool head_request, bool dechunk, int want_rc,
		   const char *want_log, enum oclient_reuse want_reuse)
{
	static const size_t steps[] = { 0, 1, 2, 7 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct oclient_reader r = { 0 };
		struct rec rec = { 0 };
		int rc = feed(&r, &rec, in, steps[i], head_request, dechunk);
		CHECK_EQ_INT(rc, want_rc);
		CHECK_EQ_STR(rec.log, want_log);
		/* whole: bytes past the message came with it (split, they
		 * would come in a later read, to a pooled connection) */
		if (rc == OCLIENT_DONE && steps[i] == 0)
			CHECK_EQ_INT(oclient_reuse(&r, true, false), want_reuse);
		oclient_reader_release(&r);
		CHECK_EQ_INT(pool.n_free, pool.count);    /* no head block kept */
		if (rc != want_rc || strcmp(rec.log, want_log) != 0)
			fprintf(stderr, "  (step %zu: %s)\n", steps[i], rec.log);
	}
}

static void test_content_length(void)
{
	expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false,
	       OCLIENT_DONE, "H200 B:helloE", OCLIENT_REUSE);
	/* bytes past the body: read, not passed on, and no reuse */
	expect("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n", false,
	       false, OCLIENT_DONE, "H200 B:okE", OCLIENT_REUSE_CLOSE);
	/* an empty body ends with the head */
	expect("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, OCLIENT_DONE,
	       "H200 E", OCLIENT_REUSE);
	/* not all there yet */
	expect("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf", false, false, OCLIENT_MORE,
	       "H200 B:half", OCLIENT_REUSE);
	expect("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", false,
	       false, OCLIENT_DONE, "H200 B:xE", OCLIENT_REUSE_CLOSE);
}

static void test_chunked(void)
{
	const char *in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";

	/* passed on with its framing */
	expect(in, false, false, OCLIENT_DONE,
	       "H200 B:5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nE", OCLIENT_REUSE);
	/* de-chunked for an HTTP/1.0 visitor */
	expect(in, false, true, OCLIENT_DONE, "H200 B:hello worldE", OCLIENT_REUSE);
	/* a broken size line */
	expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n", false,
	       false, OCLIENT_STOPPED, "H200 X2", OCLIENT_REUSE);
	/* bytes after the last chunk */
	expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nextra", false,
	       false, OCLIENT_DONE, "H200 B:0\r\n\r\nE", OCLIENT_REUSE_CLOSE);
}

/* on_data sees content only, and what it writes is what goes on; chunk
 * framing is never touched. */
static void test_data_in_place(void)
{
	struct oclient_reader r = { 0 };
	struct rec rec = { .mask = true };

	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3\r\nabc\r\n0\r\n\r\n", 1, false, false), OCLIENT_DONE);
	CHECK_EQ_STR(rec.log, "H403 B:3\r\n***\r\n0\r\n\r\nE");
	CHECK_EQ_INT(rec.data_len, 3);
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nabcd", 0,
			  false, false), OCLIENT_DONE);
	CHECK_EQ_STR(rec.log, "H403 B:****E");
	oclient_reader_release(&r);
}

static void test_close_delimited(void)
{
	struct oclient_reader r = { 0 };
	struct rec rec = { 0 };

	expect("HTTP/1.1 200 OK\r\n\r\nstream", false, false, OCLIENT_MORE, "H200 B:stream",
	       OCLIENT_REUSE);
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\n\r\nstream", 0, false, false),
		     OCLIENT_MORE);
	CHECK_EQ_INT(oclient_read_eof(&r, true, &ops, &rec), OCLIENT_DONE);
	CHECK_EQ_STR(rec.log, "H200 B:streamE");
	CHECK_EQ_INT(oclient_reuse(&r, true, false), OCLIENT_REUSE_CLOSE);
	/* a reset is not the end of such a body */
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\n\r\nstream", 0, false, false),
		     OCLIENT_MORE);
	CHECK_EQ_INT(oclient_read_eof(&r, false, &ops, &rec), OCLIENT_STOPPED);
	CHECK_EQ_INT(rec.log[rec.len - 1], '0' + OCLIENT_E_TRUNCATED);
	oclient_reader_release(&r);
}

static void test_no_body(void)
{
	/* HEAD: the length is the GET's, no body follows */
	expect("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true, false, OCLIENT_DONE,
	       "H200 E", OCLIENT_REUSE);
	expect("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", false, false,
	       OCLIENT_DONE, "H204 E", OCLIENT_REUSE);
	expect("HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n", false, false, OCLIENT_DONE,
	       "H304 E", OCLIENT_REUSE);
	/* a body after a 304 is the origin's bug: not passed on, no reuse */
	expect("HTTP/1.1 304 Not Modified\r\n\r\nbody", false, false, OCLIENT_DONE, "H304 E",
	       OCLIENT_REUSE_CLOSE);
}

static void test_interim(void)
{
	expect("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
	       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, OCLIENT_DONE,
	       "I100 I103 H200 B:okE", OCLIENT_REUSE);
	/* a 1xx has no body, whatever its Content-Length says (RFC 9110 15.2) */
	expect("HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n"
	       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, OCLIENT_DONE,
	       "I103 H200 B:okE", OCLIENT_REUSE);
	/* LIMIT_ORIGIN_INTERIM_HEADS of them, then one more: OCLIENT_E_INTERIM */
	static char in[2 * LIMIT_RESPONSE_HEADER_BYTES], want[256];
	static const char eh[] = "HTTP/1.1 103 Early Hints\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = 0, w = 0;
		for (int i = 0; i < LIMIT_ORIGIN_INTERIM_HEADS + extra; i++) {
			memcpy(in + n, eh, sizeof(eh) - 1);
			n += sizeof(eh) - 1;
			if (i < LIMIT_ORIGIN_INTERIM_HEADS)
				w += (size_t)snprintf(want + w, sizeof(want) - w, "I103 ");
		}
		memcpy(in + n, ok, sizeof(ok));
		snprintf(want + w, sizeof(want) - w, extra ? "X%d" : "H200 B:okE",
			 OCLIENT_E_INTERIM);
		expect(in, false, false, extra ? OCLIENT_STOPPED : OCLIENT_DONE, want,
		       OCLIENT_REUSE);
	}
	/* LIMIT_ORIGIN_INTERIM_BYTES in four heads, then one byte more */
	for (int extra = 0; extra <= 1; extra++) {
		static const char pre[] = "HTTP/1.1 103 Early Hints\r\nLink: <";
		size_t n = 0, each = LIMIT_ORIGIN_INTERIM_BYTES / 4;
		for (int i = 0; i < 4; i++) {
			size_t k = each - (sizeof(pre) - 1) - 5 + (i == 3 ? (size_t)extra : 0);
			memcpy(in + n, pre, sizeof(pre) - 1);
			n += sizeof(pre) - 1;
			memset(in + n, 'x', k);
			n += k;
			memcpy(in + n, ">\r\n\r\n", 5);
			n += 5;
		}
		memcpy(in + n, ok, sizeof(ok));
		snprintf(want, sizeof(want), extra ? "I103 I103 I103 X%d" : "I103 I103 I103 I103 H200 B:okE",
			 OCLIENT_E_INTERIM);
		expect(in, false, false, extra ? OCLIENT_STOPPED : OCLIENT_DONE, want,
		       OCLIENT_REUSE);
	}
	/* 101: what follows is not HTTP */
	expect("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, false,
	       OCLIENT_STOPPED, "X1", OCLIENT_REUSE);
}

static void test_errors(void)
{
	char big[LIMIT_RESPONSE_HEADER_BYTES + 200];
	struct oclient_reader r = { 0 };
	struct rec rec = { 0 };

	expect("HTTX/1.1 200 OK\r\n\r\n", false, false, OCLIENT_STOPPED, "X1", OCLIENT_REUSE);
	expect("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, false,
	       OCLIENT_STOPPED, "X1", OCLIENT_REUSE);
	/* a head past the limit, split so it goes through the head block */
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', sizeof(big) - 30);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(feed(&r, &rec, big, 4096, false, false), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "X1");
	/* input ends: before the head, inside the head, inside the body */
	oclient_reader_start(&r, &pool, false, false);
	rec.len = 0;
	CHECK_EQ_INT(oclient_read_eof(&r, true, &ops, &rec), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "X4");
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\nContent-Le", 0, false, false),
		     OCLIENT_MORE);
	CHECK_EQ_INT(oclient_read_eof(&r, true, &ops, &rec), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "X4");
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0,
			  false, false), OCLIENT_MORE);
	CHECK_EQ_INT(oclient_read_eof(&r, true, &ops, &rec), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "H200 B:shortX5");
	CHECK_EQ_INT(oclient_reuse(&r, true, false), OCLIENT_REUSE_CLOSE);
	oclient_reader_release(&r);
	CHECK_EQ_INT(pool.n_free, pool.count);

	/* no head block for a split head: a clean error, nothing leaked */
	void *blocks[8];
	uint32_t n = 0;
	while (n < 8 && (blocks[n] = iobuf_pool_get(&pool)) != NULL)
		n++;
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\n", 0, false, false), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "X3");
	while (n > 0)
		iobuf_pool_put(&pool, blocks[--n]);
}

/* A callback that ends the exchange stops the reader where it is. */
static void test_stop(void)
{
	struct oclient_reader r = { 0 };
	struct rec rec = { .stop_at_head = true };

	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", 0,
			  false, false), OCLIENT_STOPPED);
	CHECK_EQ_STR(rec.log, "H403 ");
	/* stopped with the head in a block: release gives it back */
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", 3,
			  false, false), OCLIENT_STOPPED);
	CHECK_EQ_INT(rec.heads, 1);
	oclient_reader_release(&r);
	CHECK_EQ_INT(pool.n_free, pool.count);
}

/* The desync rule: an early answer (request not all sent) or a body on
 * GET/HEAD/DELETE/OPTIONS/TRACE never leaves the connection reusable,
 * even when the response itself allows it. */
static void test_reuse_rule(void)
{
	struct oclient_reader r = { 0 };
	struct rec rec = { 0 };

	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 405 Not Allowed\r\nContent-Length: 0\r\n\r\n", 0,
			  false, false), OCLIENT_DONE);
	CHECK_EQ_INT(oclient_reuse(&r, true, false), OCLIENT_REUSE);
	CHECK_EQ_INT(oclient_reuse(&r, false, false), OCLIENT_REUSE_DESYNC);
	CHECK_EQ_INT(oclient_reuse(&r, true, true), OCLIENT_REUSE_DESYNC);
	/* desync is the stronger answer even when the response closes */
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false,
			  false), OCLIENT_DONE);
	CHECK_EQ_INT(oclient_reuse(&r, true, false), OCLIENT_REUSE_CLOSE);
	CHECK_EQ_INT(oclient_reuse(&r, false, false), OCLIENT_REUSE_DESYNC);
	/* a response not read to its end is never reusable */
	CHECK_EQ_INT(feed(&r, &rec, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", 0, false,
			  false), OCLIENT_MORE);
	CHECK_EQ_INT(oclient_reuse(&r, true, false), OCLIENT_REUSE_CLOSE);

	CHECK(oclient_method_ignores_body(HTTP1_GET));
	CHECK(oclient_method_ignores_body(HTTP1_HEAD));
	CHECK(oclient_method_ignores_body(HTTP1_DELETE));
	CHECK(oclient_method_ignores_body(HTTP1_OPTIONS));
	CHECK(oclient_method_ignores_body(HTTP1_TRACE));
	CHECK(!oclient_method_ignores_body(HTTP1_POST));
	CHECK(!oclient_method_ignores_body(HTTP1_PUT));
	/* RFC 9110 9.2.2: what a dead pooled connection may retry */
	static const enum http1_method idem[] = { HTTP1_GET, HTTP1_HEAD, HTTP1_PUT,
						  HTTP1_DELETE, HTTP1_OPTIONS, HTTP1_TRACE };
	for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
		CHECK(oclient_method_idempotent(idem[i]));
	CHECK(!oclient_method_idempotent(HTTP1_POST));
	CHECK(!oclient_method_idempotent(HTTP1_PATCH));
	CHECK(!oclient_method_idempotent(HTTP1_CONNECT));
	CHECK(!oclient_method_idempotent(HTTP1_OTHER));
	oclient_reader_release(&r);
}

int main(void)
{
	CHECK_EQ_INT(iobuf_pool_init(&pool, 4), 0);
	test_content_length();
	test_chunked();
	test_data_in_place();
	test_close_delimited();
	test_no_body();
	test_interim();
	test_errors();
	test_stop();
	test_reuse_rule();
	iobuf_pool_free(&pool);
	return check_exit();
}
