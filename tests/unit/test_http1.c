/*
 * tests/unit/test_http1.c — net/http1: every parsing rule, each limit at
 * the limit and one past it, incremental and pipelined parsing, classic
 * request-smuggling payloads, the chunked decoder, the text helpers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "net/http1.h"
#include "tests/lib/http1_feed.h"

static struct http1_request rq;
static struct http1_response rs;

/* ---- helpers ---------------------------------------------------------------- */

static void report(int line, const char *what, const char *s, size_t len,
		   int got, int want)
{
	check_count++;
	if (got == want)
		return;
	check_failures++;
	fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s) for \"",
		__FILE__, line, what, got, got < 0 ? http1_err_name(got) : "ok",
		want, want < 0 ? http1_err_name(want) : "ok");
	for (size_t i = 0; i < len && i < 200; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"\n");
}

static int req_at(int line, const char *s, size_t len, int want)
{
	/* From an exact-size copy (ASan sees reads past len), then in place
	 * so that the fields point into s for the checks that follow. */
	int got = h1t_parse(s, len, H1T_REQUEST, &rq, &rs);

	got = got == http1_parse_request(s, len, &rq) ? got : -999;
	report(line, "parse_request", s, len, got, want);
	return got;
}

static int resp_at(int line, const char *s, size_t len, bool head, int want)
{
	int got = h1t_parse(s, len, head ? H1T_RESPONSE_TO_HEAD : H1T_RESPONSE,
			    &rq, &rs);

	got = got == http1_parse_response(s, len, head, &rs) ? got : -999;
	report(line, "parse_response", s, len, got, want);
	return got;
}

/* A literal request or response: whole string is the head, or an error. */
#define REQ_OK(s)        req_at(__LINE__, s, sizeof(s) - 1, (int)sizeof(s) - 1)
#define REQ_ERR(s, e)    req_at(__LINE__, s, sizeof(s) - 1, -(e))
#define RESP_OK(s)       resp_at(__LINE__, s, sizeof(s) - 1, false, (int)sizeof(s) - 1)
#define RESP_HEAD_OK(s)  resp_at(__LINE__, s, sizeof(s) - 1, true, (int)sizeof(s) - 1)
#define RESP_ERR(s, e)   resp_at(__LINE__, s, sizeof(s) - 1, false, -(e))

static bool span_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define CHECK_SPAN(p, n, want) CHECK(span_is(p, n, want))

/* ---- request line ----------------------------------------------------------- */

static void test_basic_get(void)
{
	static const char s[] =
		"GET /img/a%20b.png?w=10&h=20 HTTP/1.1\r\n"
		"Host: www.example.com\r\n"
		"User-Agent:   curl/8.0  \r\n"
		"Accept: */*\r\n"
		"\r\n";

	REQ_OK(s);
	CHECK_EQ_INT(rq.method, HTTP1_GET);
	CHECK_SPAN(rq.method_str, rq.method_len, "GET");
	CHECK_EQ_INT(rq.version_minor, 1);
	CHECK_SPAN(rq.target, rq.target_len, "/img/a%20b.png?w=10&h=20");
	CHECK_SPAN(rq.path, rq.path_len, "/img/a%20b.png");
	CHECK_SPAN(rq.query, rq.query_len, "w=10&h=20");
	CHECK_SPAN(rq.host, rq.host_len, "www.example.com");
	CHECK_EQ_INT(rq.content_length, -1);
	CHECK(!rq.chunked);
	CHECK(rq.keep_alive);
	CHECK(!rq.expect_continue);
	CHECK_EQ_INT(rq.n_headers, 3);
	CHECK_SPAN(rq.headers[1].name, rq.headers[1].name_len, "User-Agent");
	CHECK_SPAN(rq.headers[1].value, rq.headers[1].value_len, "curl/8.0");

	REQ_OK("GET /?a HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_SPAN(rq.path, rq.path_len, "/");
	CHECK_SPAN(rq.query, rq.query_len, "a");
	REQ_OK("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(rq.query_len, 0);
	CHECK(rq.query != NULL);
	REQ_OK("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK(rq.query == NULL);
}

static void test_methods(void)
{
	static const struct { const char *s; enum http1_method m; } t[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_GET },
		{ "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_HEAD },
		{ "POST / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_POST },
		{ "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_PUT },
		{ "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_DELETE },
		{ "OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_OPTIONS },
		{ "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_PATCH },
		{ "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_CONNECT },
		{ "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_TRACE },
		{ "PURGE / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_OTHER },
		{ "get / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_OTHER },
		{ "GETS / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_OTHER },
		{ "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_OTHER },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].s);

		req_at(__LINE__, t[i].s, n, (int)n);
		CHECK_EQ_INT(rq.method, t[i].m);
	}
	REQ_ERR(" / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_METHOD);
	REQ_ERR("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_METHOD);
	REQ_ERR("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_METHOD);
	REQ_ERR("GET\r\n\r\n", HTTP1_E_METHOD);
	REQ_ERR("G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_NUL);
	REQ_ERR("GET\rX / HTTP/1.1\r\n", HTTP1_E_BARE_CR);
}

static void test_method_limit(void)
{
	char s[128];
	int n;

	memset(s, 'M', LIMIT_METHOD_BYTES);
	n = LIMIT_METHOD_BYTES;
	n += snprintf(s + n, sizeof(s) - (size_t)n, " / HTTP/1.1\r\nHost: h\r\n\r\n");
	req_at(__LINE__, s, (size_t)n, n);
	CHECK_EQ_INT(rq.method_len, LIMIT_METHOD_BYTES);

	memset(s, 'M', LIMIT_METHOD_BYTES + 1);
	n = LIMIT_METHOD_BYTES + 1;
	n += snprintf(s + n, sizeof(s) - (size_t)n, " / HTTP/1.1\r\nHost: h\r\n\r\n");
	req_at(__LINE__, s, (size_t)n, -HTTP1_E_METHOD);
	/* Refused before the SP arrives. */
	req_at(__LINE__, s, LIMIT_METHOD_BYTES + 1, -HTTP1_E_METHOD);
	req_at(__LINE__, s, LIMIT_METHOD_BYTES, -HTTP1_E_AGAIN);
}

static void test_target(void)
{
	REQ_ERR("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET foo HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET * HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("OPTIONS */ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET /a\x1f HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_NUL);
	REQ_ERR("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BARE_CR);
	/* HTTP/0.9 style: no version. */
	REQ_ERR("GET /\r\n\r\n", HTTP1_E_TARGET);
	/* A SP inside the target leaves "b HTTP/1.1" for the version. */
	REQ_ERR("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);

	REQ_OK("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_SPAN(rq.path, rq.path_len, "*");
	/* Raw UTF-8 passes through untouched; a long target is scanned in
	 * 16-byte blocks, so put the bad byte at every position of one. */
	REQ_OK("GET /caf\xc3\xa9/\xe2\x82\xac?q=\xff HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_SPAN(rq.path, rq.path_len, "/caf\xc3\xa9/\xe2\x82\xac");
	for (int i = 1; i < 40; i++) {
		char s[128];
		int n = snprintf(s, sizeof(s),
				 "GET /%.*s\x7f%s HTTP/1.1\r\nHost: h\r\n\r\n", i,
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				 "bbbbbbbbbbbbbbbbbbbbbbbbb");

		req_at(__LINE__, s, (size_t)n, -HTTP1_E_TARGET);
	}
}

static void test_absolute_form(void)
{
	REQ_OK("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n");
	CHECK_SPAN(rq.host, rq.host_len, "example.com");
	CHECK_SPAN(rq.path, rq.path_len, "/a/b");
	CHECK_SPAN(rq.query, rq.query_len, "c=d");
	CHECK_SPAN(rq.target, rq.target_len, "http://example.com/a/b?c=d");
	REQ_OK("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
	CHECK_SPAN(rq.path, rq.path_len, "/");
	CHECK(rq.query == NULL);
	REQ_OK("GET http://example.com?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_SPAN(rq.path, rq.path_len, "/");
	CHECK_SPAN(rq.query, rq.query_len, "x=1");
	REQ_OK("GET HTTPS://[::1]:8443/p HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_SPAN(rq.host, rq.host_len, "[::1]:8443");
	CHECK_SPAN(rq.path, rq.path_len, "/p");
	REQ_OK("GET http://h/ HTTP/1.0\r\n\r\n");
	CHECK_SPAN(rq.host, rq.host_len, "h");

	REQ_ERR("GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	REQ_ERR("GET http://h#f/ HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_TARGET);
	/* Absolute-form still needs Host in HTTP/1.1 (RFC 9112 3.2). */
	REQ_ERR("GET http://h/ HTTP/1.1\r\n\r\n", HTTP1_E_HOST);
}

static void test_version(void)
{
	REQ_OK("GET / HTTP/1.0\r\n\r\n");
	CHECK_EQ_INT(rq.version_minor, 0);
	CHECK(rq.host == NULL);
	CHECK(!rq.keep_alive);
	REQ_ERR("GET / HTTP/2.0\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/1.2\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/0.9\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / http/1.1\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/1.10\r\nHost: h\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/1.\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP\r\n\r\n", HTTP1_E_VERSION);
	REQ_ERR("GET / HTTP/1\0001\r\nHost: h\r\n\r\n", HTTP1_E_NUL);
	REQ_ERR("GET / HTTP/1.1\rHost: h\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("GET / HTTP/1.1\r\rHost: h\r\n\r\n", HTTP1_E_BARE_CR);
}

static void test_line_ends(void)
{
	REQ_OK("GET / HTTP/1.1\nHost: h\nX: y\n\n");
	CHECK_SPAN(rq.headers[1].value, rq.headers[1].value_len, "y");
	REQ_OK("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\n");
	REQ_OK("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(rq.method, HTTP1_GET);
	REQ_OK("\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	REQ_ERR("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nX\r: a\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("\r\n", HTTP1_E_AGAIN);
	REQ_ERR("", HTTP1_E_AGAIN);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n\r", HTTP1_E_AGAIN);
}

/* ---- limits ----------------------------------------------------------------- */

static char big[LIMIT_RESPONSE_HEADER_BYTES + 256];

/* A request whose request line, CR LF (or LF) included, is `line` bytes. */
static size_t build_request_line(size_t line, bool crlf)
{
	static const char tail[] = " HTTP/1.1";
	size_t fill = line - 4 - (sizeof(tail) - 1) - (crlf ? 2 : 1), n;

	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', fill - 1);
	n = 4 + fill;
	memcpy(big + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "%sHost: h\r\n\r\n",
			      crlf ? "\r\n" : "\n");
	return n;
}

static void test_request_line_limit(void)
{
	size_t n;

	n = build_request_line(LIMIT_REQUEST_LINE_BYTES, true);
	req_at(__LINE__, big, n, (int)n);
	CHECK_EQ_INT(rq.target_len, LIMIT_REQUEST_LINE_BYTES - 15);
	n = build_request_line(LIMIT_REQUEST_LINE_BYTES, false);
	req_at(__LINE__, big, n, (int)n);
	n = build_request_line(LIMIT_REQUEST_LINE_BYTES + 1, true);
	req_at(__LINE__, big, n, -HTTP1_E_URI_TOO_LONG);
	n = build_request_line(LIMIT_REQUEST_LINE_BYTES + 1, false);
	req_at(__LINE__, big, n, -HTTP1_E_URI_TOO_LONG);

	/* Early: as soon as the limit's worth of bytes holds no LF. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', LIMIT_REQUEST_LINE_BYTES);
	req_at(__LINE__, big, LIMIT_REQUEST_LINE_BYTES - 1, -HTTP1_E_AGAIN);
	req_at(__LINE__, big, LIMIT_REQUEST_LINE_BYTES, -HTTP1_E_URI_TOO_LONG);
	/* A CR as the limit's last byte: its LF would be one past. */
	build_request_line(LIMIT_REQUEST_LINE_BYTES + 1, true);
	req_at(__LINE__, big, LIMIT_REQUEST_LINE_BYTES, -HTTP1_E_URI_TOO_LONG);
	req_at(__LINE__, big, LIMIT_REQUEST_LINE_BYTES - 1, -HTTP1_E_AGAIN);
	/* Leading empty lines do not count against the request line. */
	big[0] = '\n';
	n = 1 + build_request_line(LIMIT_REQUEST_LINE_BYTES, true);
	memmove(big + 1, big, n - 1);
	big[0] = '\n';
	req_at(__LINE__, big, n, (int)n);
}

/* A head of exactly `head` bytes: `start` (ending in a field name and
 * ": "), that field's value as padding, CR LF, blank line. */
static size_t build_padded(const char *start, size_t head)
{
	size_t n = strlen(start), fill = head - n - 4;

	memcpy(big, start, n);
	memset(big + n, 'p', fill);
	n += fill;
	memcpy(big + n, "\r\n\r\n", 4);
	return n + 4;
}

static const char req_start[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
static const char resp_start[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ";

static void test_head_limit(void)
{
	size_t n;

	n = build_padded(req_start, LIMIT_HEADER_BYTES);
	req_at(__LINE__, big, n, LIMIT_HEADER_BYTES);
	n = build_padded(req_start, LIMIT_HEADER_BYTES + 1);
	req_at(__LINE__, big, n, -HTTP1_E_HEADERS_TOO_LARGE);
	/* Early, before the blank line. */
	req_at(__LINE__, big, LIMIT_HEADER_BYTES, -HTTP1_E_HEADERS_TOO_LARGE);
	req_at(__LINE__, big, LIMIT_HEADER_BYTES - 1, -HTTP1_E_AGAIN);
	/* Leading empty lines count against the head. */
	memset(big, '\n', LIMIT_HEADER_BYTES);
	req_at(__LINE__, big, LIMIT_HEADER_BYTES - 1, -HTTP1_E_AGAIN);
	req_at(__LINE__, big, LIMIT_HEADER_BYTES, -HTTP1_E_HEADERS_TOO_LARGE);
}

/* `fields` field lines, Host being the first. */
static size_t build_fields(size_t fields, bool response)
{
	size_t n = (size_t)snprintf(big, sizeof(big), "%s",
		response ? "HTTP/1.1 200 OK\r\nHost: h\r\n" :
			   "GET / HTTP/1.1\r\nHost: h\r\n");

	for (size_t i = 1; i < fields; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%zu: v\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	return n;
}

static void test_header_count(void)
{
	size_t n = build_fields(LIMIT_HEADER_COUNT, false);

	req_at(__LINE__, big, n, (int)n);
	CHECK_EQ_INT(rq.n_headers, LIMIT_HEADER_COUNT);
	n = build_fields(LIMIT_HEADER_COUNT + 1, false);
	req_at(__LINE__, big, n, -HTTP1_E_TOO_MANY_HEADERS);
	/* Early: when the first byte of field 65 arrives. */
	req_at(__LINE__, big, n - 2 - 7, -HTTP1_E_TOO_MANY_HEADERS);

	n = build_fields(LIMIT_HEADER_COUNT, true);
	resp_at(__LINE__, big, n, false, (int)n);
	CHECK_EQ_INT(rs.n_headers, LIMIT_HEADER_COUNT);
	n = build_fields(LIMIT_HEADER_COUNT + 1, true);
	resp_at(__LINE__, big, n, false, -HTTP1_E_TOO_MANY_HEADERS);
}

static void test_response_head_limit(void)
{
	size_t n = build_padded(resp_start, LIMIT_RESPONSE_HEADER_BYTES);

	resp_at(__LINE__, big, n, false, LIMIT_RESPONSE_HEADER_BYTES);
	n = build_padded(resp_start, LIMIT_RESPONSE_HEADER_BYTES + 1);
	resp_at(__LINE__, big, n, false, -HTTP1_E_HEADERS_TOO_LARGE);
	resp_at(__LINE__, big, LIMIT_RESPONSE_HEADER_BYTES, false,
		-HTTP1_E_HEADERS_TOO_LARGE);
	resp_at(__LINE__, big, LIMIT_RESPONSE_HEADER_BYTES - 1, false,
		-HTTP1_E_AGAIN);
}

/* ---- field lines ------------------------------------------------------------ */

static void test_field_syntax(void)
{
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo : bar\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo\t: bar\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n: bar\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFo(o: bar\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo bar\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nF\xc3\xa9: x\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nF\0o: bar\r\n\r\n", HTTP1_E_NUL);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\x01" "b\r\n\r\n", HTTP1_E_HEADER_VALUE);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\x7f\r\n\r\n", HTTP1_E_HEADER_VALUE);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\x0b\r\n\r\n", HTTP1_E_HEADER_VALUE);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\0b\r\n\r\n", HTTP1_E_NUL);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\r\n b\r\n\r\n", HTTP1_E_OBS_FOLD);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nFoo: a\r\n\tb\r\n\r\n", HTTP1_E_OBS_FOLD);
	REQ_ERR("GET / HTTP/1.1\r\n Host: h\r\n\r\n", HTTP1_E_OBS_FOLD);

	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nX-E:\r\nX-T: \t a\tb \t\r\n"
	       "X-O: \x80\xff\r\n\r\n");
	CHECK_EQ_INT(rq.headers[1].value_len, 0);
	CHECK_SPAN(rq.headers[2].value, rq.headers[2].value_len, "a\tb");
	CHECK_SPAN(rq.headers[3].value, rq.headers[3].value_len, "\x80\xff");
	CHECK(http1_find_header(rq.headers, rq.n_headers, "x-t") == &rq.headers[2]);
	CHECK(http1_find_header(rq.headers, rq.n_headers, "X-T") == &rq.headers[2]);
	CHECK(http1_find_header(rq.headers, rq.n_headers, "x-tt") == NULL);
	CHECK(http1_find_header(rq.headers, rq.n_headers, "x") == NULL);

	/* A CTL at every offset of a 16-byte block of a long value. */
	for (int i = 0; i < 40; i++) {
		char s[160];
		int n = snprintf(s, sizeof(s),
				 "GET / HTTP/1.1\r\nHost: h\r\nX: %.*s\x1f%s\r\n\r\n",
				 i, "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
				 "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww");

		req_at(__LINE__, s, (size_t)n, -HTTP1_E_HEADER_VALUE);
	}
}

static void test_host(void)
{
	REQ_ERR("GET / HTTP/1.1\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", HTTP1_E_HOST);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a\x80\r\n\r\n", HTTP1_E_HOST);
	REQ_OK("GET / HTTP/1.1\r\nHOST:   [::1]:8080  \r\n\r\n");
	CHECK_SPAN(rq.host, rq.host_len, "[::1]:8080");
	REQ_OK("GET / HTTP/1.1\r\nHost:\r\n\r\n");
	CHECK(rq.host != NULL);
	CHECK_EQ_INT(rq.host_len, 0);
	REQ_OK("GET / HTTP/1.0\r\nHost: x.y\r\n\r\n");
	CHECK_SPAN(rq.host, rq.host_len, "x.y");
}

static void test_connection_expect(void)
{
	static const struct { const char *s; bool ka; } t[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: x,,close ,y\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: a\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nKeep-Alive: 1\r\n\r\n", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].s);

		req_at(__LINE__, t[i].s, n, (int)n);
		if (rq.keep_alive != t[i].ka)
			fprintf(stderr, "keep_alive wrong for case %zu\n", i);
		CHECK(rq.keep_alive == t[i].ka);
	}
	REQ_OK("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
	CHECK(rq.expect_continue);
	REQ_OK("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n");
	CHECK(rq.expect_continue);
	REQ_OK("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n");
	CHECK(!rq.expect_continue);
	/* HTTP/1.0 has no 1xx: its expectation is ignored (RFC 9110 10.1.1). */
	REQ_OK("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
	CHECK(!rq.expect_continue);

	{
		struct http1_header hs[] = {
			{ .name = "Via", .name_len = 3, .value = "foo", .value_len = 3 },
			{ .name = "CONNECTION", .name_len = 10, .value = "a, Foo ,b", .value_len = 9 },
			{ .name = "Connection", .name_len = 10, .value = " , ,x y", .value_len = 7 },
		};
		CHECK(http1_fields_list(hs, 3, "connection", "foo", 3));
		CHECK(http1_fields_list(hs, 3, "connection", "FOO", 3));
		CHECK(http1_fields_list(hs, 3, "connection", "y", 1));     /* split at white space too */
		CHECK(!http1_fields_list(hs, 3, "connection", "fo", 2));
		CHECK(!http1_fields_list(hs, 3, "connection", "foob", 4));
		CHECK(!http1_fields_list(hs, 3, "connection", "", 0));
		CHECK(!http1_fields_list(hs, 1, "connection", "foo", 3)); /* only fields of that name */
	}
	{
		/* http1_fields_list_other: anything listed but the exception? */
		const struct http1_header ka[] = {
			{ .name = "Host", .name_len = 4, .value = "a", .value_len = 1 },
			{ .name = "Connection", .name_len = 10, .value = "Keep-Alive", .value_len = 10 },
			{ .name = "connection", .name_len = 10, .value = " , keep-alive,", .value_len = 14 },
			{ .name = "Connection", .name_len = 10, .value = "keep-alive x", .value_len = 12 },
			{ .name = "Connection", .name_len = 10, .value = "close", .value_len = 5 },
		};
		CHECK(!http1_fields_list_other(ka, 0, "connection", "keep-alive"));
		CHECK(!http1_fields_list_other(ka, 1, "connection", "keep-alive"));  /* none */
		CHECK(!http1_fields_list_other(ka, 3, "connection", "keep-alive"));  /* only it */
		CHECK(http1_fields_list_other(ka, 4, "connection", "keep-alive"));   /* and x */
		CHECK(http1_fields_list_other(ka + 4, 1, "connection", "keep-alive"));
		CHECK(!http1_fields_list_other(ka, 5, "keep-alive", "keep-alive"));  /* no such field */
	}
}

/* ---- framing and smuggling --------------------------------------------------- */

static void test_content_length(void)
{
	static const struct { const char *v; int64_t cl; int err; } t[] = {
		{ "5", 5, 0 },
		{ "0", 0, 0 },
		{ "007", 7, 0 },
		{ "5, 5", 5, 0 },
		{ "5,5", 5, 0 },
		{ "5 ,\t5 , 5", 5, 0 },
		{ "9223372036854775807", INT64_MAX, 0 },
		{ "00000000000000000000000000042", 42, 0 },
		{ "9223372036854775808", 0, HTTP1_E_CL_INVALID },
		{ "99999999999999999999999999999", 0, HTTP1_E_CL_INVALID },
		{ "", 0, HTTP1_E_CL_INVALID },
		{ "+5", 0, HTTP1_E_CL_INVALID },
		{ "-1", 0, HTTP1_E_CL_INVALID },
		{ "0x5", 0, HTTP1_E_CL_INVALID },
		{ "5 5", 0, HTTP1_E_CL_INVALID },
		{ "5,", 0, HTTP1_E_CL_INVALID },
		{ ",5", 0, HTTP1_E_CL_INVALID },
		{ "5,,5", 0, HTTP1_E_CL_INVALID },
		{ "1e3", 0, HTTP1_E_CL_INVALID },
		{ "5.0", 0, HTTP1_E_CL_INVALID },
		{ "\"5\"", 0, HTTP1_E_CL_INVALID },
		{ "5, 6", 0, HTTP1_E_CL_CONFLICT },
		{ "5, 05", 5, 0 },
	};
	char s[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(s, sizeof(s),
				 "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n",
				 t[i].v);

		req_at(__LINE__, s, (size_t)n, t[i].err ? -t[i].err : n);
		if (!t[i].err)
			CHECK_EQ_INT(rq.content_length, t[i].cl);
	}
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n");
	CHECK_EQ_INT(rq.content_length, 5);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		HTTP1_E_CL_CONFLICT);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5, 6\r\n\r\n",
		HTTP1_E_CL_CONFLICT);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length:\r\n\r\n",
		HTTP1_E_CL_INVALID);
}

static void test_transfer_encoding(void)
{
	static const struct { const char *v; int err; } t[] = {
		{ "chunked", 0 },
		{ "Chunked", 0 },
		{ "CHUNKED", 0 },
		{ "\tchunked", 0 },            /* OWS after the colon */
		{ "chunked ", 0 },             /* trailing OWS */
		{ "xchunked", HTTP1_E_TE_UNSUPPORTED },
		{ "chunkedx", HTTP1_E_TE_UNSUPPORTED },
		{ "chunk", HTTP1_E_TE_UNSUPPORTED },
		{ "gzip", HTTP1_E_TE_UNSUPPORTED },
		{ "identity", HTTP1_E_TE_UNSUPPORTED },
		{ "gzip, chunked", HTTP1_E_TE_UNSUPPORTED },
		{ "chunked, gzip", HTTP1_E_TE_UNSUPPORTED },
		{ "chunked, chunked", HTTP1_E_TE_UNSUPPORTED },
		{ "chunked,", HTTP1_E_TE_UNSUPPORTED },
		{ "chunked;q=1", HTTP1_E_TE_UNSUPPORTED },
		{ "\"chunked\"", HTTP1_E_TE_UNSUPPORTED },
		{ "", HTTP1_E_TE_UNSUPPORTED },
		{ "\x0b" "chunked", HTTP1_E_HEADER_VALUE },
		{ "chunked\x0c", HTTP1_E_HEADER_VALUE },
	};
	char s[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(s, sizeof(s),
				 "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: %s\r\n\r\n",
				 t[i].v);

		req_at(__LINE__, s, (size_t)n, t[i].err ? -t[i].err : n);
		if (!t[i].err) {
			CHECK(rq.chunked);
			CHECK_EQ_INT(rq.content_length, -1);
		}
	}
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n");
	CHECK(rq.chunked);
	/* Not the Transfer-Encoding field: another name, no framing. */
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n\r\n");
	CHECK(!rq.chunked);
	REQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_TE_UNSUPPORTED);
}

/* The classic payloads (PortSwigger's CL.TE / TE.CL / TE.TE families). */
static void test_smuggling(void)
{
	/* CL.TE and TE.CL: both framings present, in either order. */
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", HTTP1_E_TE_AND_CL);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", HTTP1_E_TE_AND_CL);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
		"Transfer-Encoding: chunked\r\n\r\n", HTTP1_E_TE_AND_CL);
	/* TE.TE: obfuscated second Transfer-Encoding. */
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: x\r\n\r\n", HTTP1_E_TE_UNSUPPORTED);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n", HTTP1_E_TE_UNSUPPORTED);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n"
		"Content-Length: 4\r\n\r\n", HTTP1_E_TE_UNSUPPORTED);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
		"Transfer-Encoding : chunked\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
		"Transfer-Encoding\r\n : chunked\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
		"Transfer-Encoding: x\r\n chunked\r\n\r\n", HTTP1_E_TE_UNSUPPORTED);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nX: y\r\n"
		"Transfer-Encoding: chunked\r\n\tx\r\n\r\n", HTTP1_E_OBS_FOLD);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\n"
		"Transfer-Encoding: chunked\rContent-Length: 4\r\n\r\n", HTTP1_E_BARE_CR);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\n"
		"Transfer-Encoding: \0chunked\r\n\r\n", HTTP1_E_NUL);
	/* CL obfuscations. */
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", HTTP1_E_CL_INVALID);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", HTTP1_E_CL_INVALID);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n",
		HTTP1_E_CL_CONFLICT);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n", HTTP1_E_HEADER_NAME);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 184467440737095516160\r\n\r\n",
		HTTP1_E_CL_INVALID);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n");
	CHECK_EQ_INT(rq.content_length, 7);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n");
	CHECK(rq.chunked);
	/* Two Host fields (routing confusion). */
	REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP1_E_HOST);
}

/* ---- incremental and pipelined ------------------------------------------------ */

static bool same_request(const struct http1_request *a,
			 const struct http1_request *b)
{
	if (a->method != b->method || a->target != b->target ||
	    a->target_len != b->target_len || a->path != b->path ||
	    a->path_len != b->path_len || a->query != b->query ||
	    a->host != b->host || a->host_len != b->host_len ||
	    a->content_length != b->content_length ||
	    a->chunked != b->chunked || a->keep_alive != b->keep_alive ||
	    a->n_headers != b->n_headers || a->version_minor != b->version_minor)
		return false;
	for (uint16_t i = 0; i < a->n_headers; i++)
		if (a->headers[i].name != b->headers[i].name ||
		    a->headers[i].value_len != b->headers[i].value_len)
			return false;
	return true;
}

/* Every strict prefix is AGAIN; the head alone parses as with more after. */
static void check_incremental_request(const char *s, size_t len)
{
	static struct http1_request whole, part;
	int n = http1_parse_request(s, len, &whole);

	CHECK(n > 0);
	CHECK_EQ_INT(h1t_prefixes_not_again(s, (size_t)n, H1T_REQUEST, 100000), 0);
	CHECK_EQ_INT(http1_parse_request(s, (size_t)n, &part), n);
	CHECK(same_request(&whole, &part));
}

static void check_incremental_response(const char *s, size_t len, bool head)
{
	enum h1t_kind kind = head ? H1T_RESPONSE_TO_HEAD : H1T_RESPONSE;
	int n = h1t_parse(s, len, kind, &rq, &rs);

	CHECK(n > 0);
	CHECK_EQ_INT(h1t_prefixes_not_again(s, (size_t)n, kind, 100000), 0);
}

static const char browser_get[] =
	"GET /assets/app.3f2a9c.js?v=12 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
	"Accept: */*\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Referer: https://www.example.com/\r\n"
	"Connection: keep-alive\r\n"
	"Sec-Fetch-Dest: script\r\n"
	"Sec-Fetch-Mode: no-cors\r\n"
	"\r\n";

static void test_incremental(void)
{
	static const char *const reqs[] = {
		browser_get,
		"GET / HTTP/1.0\n\n",
		"\r\n\nPOST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
		"GET http://h/x?y HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n",
	};
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n";

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		check_incremental_request(reqs[i], strlen(reqs[i]));
	check_incremental_response(resp, sizeof(resp) - 1, false);
	check_incremental_response("HTTP/1.1 204\n\n", 14, false);
	check_incremental_response("HTTP/1.0 200 \r\n\r\n", 17, true);
}

static void test_pipelined(void)
{
	static const char s[] =
		"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
		"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
		"GET /4 HTTP/1.1\r\n";
	size_t off = 0;
	int n;

	n = http1_parse_request(s + off, sizeof(s) - 1 - off, &rq);
	CHECK_EQ_INT(n, 28);
	CHECK_SPAN(rq.path, rq.path_len, "/1");
	off += (size_t)n;
	n = http1_parse_request(s + off, sizeof(s) - 1 - off, &rq);
	CHECK(n > 0);
	CHECK_SPAN(rq.path, rq.path_len, "/2");
	CHECK_EQ_INT(rq.content_length, 5);
	CHECK(memcmp(s + off + (size_t)n, "hello", 5) == 0);
	off += (size_t)n + 5;
	n = http1_parse_request(s + off, sizeof(s) - 1 - off, &rq);
	CHECK(n > 0);
	CHECK_SPAN(rq.path, rq.path_len, "/3");
	CHECK(!rq.keep_alive);
	off += (size_t)n;
	n = http1_parse_request(s + off, sizeof(s) - 1 - off, &rq);
	CHECK_EQ_INT(n, -HTTP1_E_AGAIN);
}

/* ---- responses ---------------------------------------------------------------- */

static void test_response_status(void)
{
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
	CHECK_EQ_INT(rs.status, 200);
	CHECK_EQ_INT(rs.version_minor, 1);
	CHECK_SPAN(rs.reason, rs.reason_len, "OK");
	CHECK_EQ_INT(rs.content_length, 12);
	CHECK(rs.keep_alive && !rs.chunked && !rs.no_body && !rs.close_delimited);
	RESP_OK("HTTP/1.1 404 Not \x80 Found\r\nContent-Length: 0\r\n\r\n");
	CHECK_SPAN(rs.reason, rs.reason_len, "Not \x80 Found");
	RESP_OK("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(rs.reason_len, 0);
	RESP_OK("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(rs.reason_len, 0);
	RESP_OK("HTTP/1.0 599 x\nContent-Length: 0\n\n");
	CHECK_EQ_INT(rs.status, 599);

	RESP_ERR("HTTP/1.1 20 OK\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.1 2000 OK\r\n\r\n", HTTP1_E_STATUS);
	/* RFC 9110 15: 600..999 are passed on (treated as 5xx by the caller). */
	RESP_OK("HTTP/1.1 999 Not Generated\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(rs.status, 999);
	RESP_ERR("HTTP/1.1 099 X\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.1 2x0 X\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/2 200 OK\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.2 200 OK\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.1  200 OK\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("ICY 200 OK\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.1 200 O\x01K\r\n\r\n", HTTP1_E_STATUS);
	RESP_ERR("HTTP/1.1 200 O\0K\r\n\r\n", HTTP1_E_NUL);
	RESP_ERR("HTTP/1.1 200 OK\rX\r\n\r\n", HTTP1_E_BARE_CR);
	RESP_ERR("HTTP/1.1 200 OK\r\n\0X: y\r\n\r\n", HTTP1_E_NUL);
	RESP_ERR("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", HTTP1_E_OBS_FOLD);
	RESP_ERR("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", HTTP1_E_HEADER_NAME);
	RESP_ERR("HTTP/1.1 200 OK\r\n", HTTP1_E_AGAIN);
	RESP_ERR("HTTP/1.1 200", HTTP1_E_AGAIN);
}

static void test_response_framing(void)
{
	RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK(rs.chunked && rs.keep_alive && !rs.close_delimited);
	CHECK_EQ_INT(rs.content_length, -1);
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK(rs.chunked && !rs.keep_alive && !rs.close_delimited);
	CHECK_EQ_INT(rs.content_length, -1);
	RESP_OK("HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
	CHECK(rs.close_delimited && !rs.keep_alive && !rs.chunked);
	RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
	CHECK(rs.close_delimited && !rs.keep_alive && !rs.chunked);
	RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\n");
	CHECK(rs.close_delimited && !rs.keep_alive && !rs.chunked);
	CHECK_EQ_INT(rs.content_length, -1);
	RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED \r\n\r\n");
	CHECK(rs.chunked);
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		 HTTP1_E_TE_UNSUPPORTED);
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		 HTTP1_E_TE_UNSUPPORTED);
	RESP_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		 HTTP1_E_TE_UNSUPPORTED);
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		 HTTP1_E_CL_CONFLICT);
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", HTTP1_E_CL_CONFLICT);
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", HTTP1_E_CL_INVALID);
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
	CHECK_EQ_INT(rs.content_length, 5);
	RESP_OK("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n");
	CHECK(!rs.keep_alive);
	RESP_OK("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n");
	CHECK(!rs.keep_alive);
	RESP_OK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n");
	CHECK(rs.keep_alive);
	/* Host means nothing in a response: repeated is not an error. */
	RESP_OK("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b c\r\nContent-Length: 0\r\n\r\n");
}

static void test_response_no_body(void)
{
	RESP_OK("HTTP/1.1 204 No Content\r\n\r\n");
	CHECK(rs.no_body && rs.keep_alive && !rs.close_delimited);
	CHECK_EQ_INT(rs.content_length, 0);     /* framed: a 204 may be stored */
	RESP_HEAD_OK("HTTP/1.1 204 No Content\r\n\r\n");
	CHECK_EQ_INT(rs.content_length, -1);
	RESP_OK("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n");
	CHECK(rs.no_body && rs.keep_alive && !rs.close_delimited);
	CHECK_EQ_INT(rs.content_length, 100);
	RESP_OK("HTTP/1.1 100 Continue\r\n\r\n");
	CHECK(rs.no_body && rs.keep_alive);
	RESP_OK("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
	CHECK(rs.no_body);
	RESP_HEAD_OK("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
	CHECK(rs.no_body && rs.keep_alive && !rs.close_delimited);
	CHECK_EQ_INT(rs.content_length, 5000);
	RESP_HEAD_OK("HTTP/1.1 200 OK\r\n\r\n");
	CHECK(rs.no_body && rs.keep_alive && !rs.close_delimited);
	RESP_HEAD_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK(rs.no_body && !rs.chunked && rs.keep_alive);
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK(!rs.no_body && rs.keep_alive);
}

/* ---- chunked decoder ---------------------------------------------------------- */

static char chunk_data[4096];

/* Feed s in pieces of `step` bytes (0: all at once), max_spans at a time. */
static void dechunk(const char *s, size_t len, size_t step, size_t max_spans,
		    struct h1t_dechunked *out)
{
	out->data = chunk_data;
	out->data_cap = sizeof(chunk_data);
	h1t_dechunk(s, len, step, max_spans, out);
}

#define CHUNK_OK(s, want_data, want_len) \
	check_chunk_ok(__LINE__, s, sizeof(s) - 1, want_data, want_len)

/* Same answer whole, byte by byte, in 3-byte and 7-byte pieces, one span
 * at a time. */
static void check_chunk_ok(int line, const char *s, size_t len,
			   const char *want_data, size_t want_len)
{
	static const size_t steps[] = { 0, 1, 3, 7 };
	struct h1t_dechunked d;

	for (size_t i = 0; i < 4; i++) {
		for (size_t spans = 1; spans <= 8; spans += 7) {
			dechunk(s, len, steps[i], spans, &d);
			report(line, "chunked_feed", s, len,
			       d.ret < 0 ? (int)d.ret : (int)d.consumed,
			       (int)want_len);
			CHECK(d.done && !d.bad_spans);
			CHECK(span_is(d.data, d.data_len, want_data));
		}
	}
}

#define CHUNK_ERR(s) check_chunk_err(__LINE__, s, sizeof(s) - 1)

static void check_chunk_err(int line, const char *s, size_t len)
{
	struct h1t_dechunked d;

	dechunk(s, len, 0, 8, &d);
	report(line, "chunked_feed", s, len, (int)d.ret, -HTTP1_E_CHUNK);
	dechunk(s, len, 1, 8, &d);
	report(line, "chunked_feed (1 byte)", s, len, (int)d.ret, -HTTP1_E_CHUNK);
}

static void test_chunked_basic(void)
{
	CHUNK_OK("5\r\nhello\r\n0\r\n\r\n", "hello", 15);
	CHUNK_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 26);
	CHUNK_OK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20);
	CHUNK_OK("a\r\n0123456789\r\n00\r\n\r\n", "0123456789", 21);
	CHUNK_OK("0000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello", 39);
	CHUNK_OK("5;name=val\r\nhello\r\n0;x\r\n\r\n", "hello", 26);
	CHUNK_OK("5 ;a=\"b c\"\r\nhello\r\n0\r\n\r\n", "hello", 24);
	CHUNK_OK("5 ; a = b ;c\t=\t\"x\\\"y\"\r\nhello\r\n0\r\n\r\n", "hello", 35);
	CHUNK_OK("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello", 20);
	CHUNK_OK("0\r\n\r\n", "", 5);
	CHUNK_OK("0\r\nX-Sum: abc\r\nY:\r\n\r\n", "", 21);
	/* Stops after the final CRLF: the rest is the next message. */
	CHUNK_OK("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 13);
	CHUNK_OK("3\r\nabc\r\n0\r\n\r\n\r\n", "abc", 13);
}

static void test_chunked_errors(void)
{
	CHUNK_ERR("5\r\nhelloX\r\n0\r\n\r\n");
	CHUNK_ERR("5\r\nhello\rX0\r\n\r\n");
	CHUNK_ERR("5\r\nhello0\r\n\r\n");
	CHUNK_ERR("g\r\n");
	CHUNK_ERR("\r\n");
	CHUNK_ERR(";x\r\n");
	CHUNK_ERR("-5\r\nhello\r\n");
	CHUNK_ERR("+5\r\nhello\r\n");
	CHUNK_ERR(" 5\r\nhello\r\n");
	CHUNK_ERR("0x5\r\nhello\r\n");
	CHUNK_ERR("5\rX");
	CHUNK_ERR("5;a\x01\r\n");
	CHUNK_ERR("5;a\0\r\n");
	CHUNK_ERR("0\r\n\rX");
	CHUNK_ERR("0\r\nX: a\rb\r\n\r\n");
	CHUNK_ERR("0\r\nX: a\r\n b\r\n\r\n");   /* obs-fold in a trailer */
	CHUNK_ERR("0\r\nX a\r\n\r\n");           /* no colon */
	CHUNK_ERR("0\r\n: a\r\n\r\n");
	CHUNK_ERR("0\r\nX: a\x01\r\n\r\n");
	/* Framing a strict origin reads another way: never forwarded. */
	CHUNK_ERR("5\nhello\r\n0\r\n\r\n");       /* bare LF after the size */
	CHUNK_ERR("5\r\nhello\n0\r\n\r\n");       /* ... after the data */
	CHUNK_ERR("5\r\nhello\r\n0\n\r\n");
	CHUNK_ERR("5\r\nhello\r\n0\r\n\n");       /* ... as the final line */
	CHUNK_ERR("0\r\nX: a\n\r\n");               /* ... after a trailer */
	CHUNK_ERR("5;a\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5 \r\nhello\r\n0\r\n\r\n");      /* BWS without ';' */
	CHUNK_ERR("5\t\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5 x\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;\r\nhello\r\n0\r\n\r\n");        /* no ext name */
	CHUNK_ERR("5;=v\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;a=\r\nhello\r\n0\r\n\r\n");       /* no value */
	CHUNK_ERR("5;a \r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;a=b c\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;a=\"b\r\nhello\r\n0\r\n\r\n");    /* open quote */
	CHUNK_ERR("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;a=\"b\\\r\nhello\r\n0\r\n\r\n");
	CHUNK_ERR("5;a=b\"\r\nhello\r\n0\r\n\r\n");
	/* 2^63 overflows, 2^63 - 1 is the largest size. */
	CHUNK_ERR("8000000000000000\r\n");
	CHUNK_ERR("10000000000000000\r\n");
	CHUNK_ERR("ffffffffffffffffff\r\n");
	{
		struct http1_chunked c;
		struct http1_span sp[1];
		size_t ns;
		static const char s[] = "7fffffffffffffff\r\nab";

		http1_chunked_init(&c);
		CHECK_EQ_INT(http1_chunked_feed(&c, s, sizeof(s) - 1, sp, 1, &ns),
			     sizeof(s) - 1);
		CHECK_EQ_INT(ns, 1);
		CHECK_EQ_INT(c.remaining, INT64_MAX - 2);
		CHECK(!c.done);
	}
}

static void test_chunked_limits(void)
{
	static char s[LIMIT_TRAILER_BYTES + 64];
	struct h1t_dechunked d;
	size_t n;

	/* Size line of exactly LIMIT_CHUNK_LINE_BYTES, CR LF included. */
	n = (size_t)snprintf(s, sizeof(s), "1;");
	memset(s + n, 'e', LIMIT_CHUNK_LINE_BYTES - 4);
	n += LIMIT_CHUNK_LINE_BYTES - 4;
	n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\nx\r\n0\r\n\r\n");
	dechunk(s, n, 0, 8, &d);
	CHECK_EQ_INT(d.ret, n);
	CHECK(d.done && d.data_len == 1);
	dechunk(s, n, 1, 8, &d);
	CHECK(d.done && d.consumed == n);
	n = (size_t)snprintf(s, sizeof(s), "1;");
	memset(s + n, 'e', LIMIT_CHUNK_LINE_BYTES - 3);
	n += LIMIT_CHUNK_LINE_BYTES - 3;
	n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\nx\r\n0\r\n\r\n");
	dechunk(s, n, 0, 8, &d);
	CHECK_EQ_INT(d.ret, -HTTP1_E_CHUNK);
	/* Leading zeros count too. */
	memset(s, '0', LIMIT_CHUNK_LINE_BYTES + 1);
	dechunk(s, LIMIT_CHUNK_LINE_BYTES + 1, 0, 8, &d);
	CHECK_EQ_INT(d.ret, -HTTP1_E_CHUNK);

	/* Trailer section (fields + final CRLF) of exactly LIMIT_TRAILER_BYTES. */
	n = (size_t)snprintf(s, sizeof(s), "0\r\nT: ");
	memset(s + n, 't', LIMIT_TRAILER_BYTES - 7);
	n += LIMIT_TRAILER_BYTES - 7;
	n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n\r\n");
	dechunk(s, n, 0, 8, &d);
	CHECK_EQ_INT(d.ret, n);
	CHECK(d.done);
	n = (size_t)snprintf(s, sizeof(s), "0\r\nT: ");
	memset(s + n, 't', LIMIT_TRAILER_BYTES - 6);
	n += LIMIT_TRAILER_BYTES - 6;
	n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n\r\n");
	dechunk(s, n, 0, 8, &d);
	CHECK_EQ_INT(d.ret, -HTTP1_E_CHUNK);
}

static void test_chunked_api(void)
{
	static const char s[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	struct http1_chunked c;
	struct http1_span sp[2];
	size_t ns = 99;
	ssize_t r;

	/* Spans full: stops before the second chunk's data. */
	http1_chunked_init(&c);
	r = http1_chunked_feed(&c, s, sizeof(s) - 1, sp, 1, &ns);
	CHECK_EQ_INT(r, 11);
	CHECK_EQ_INT(ns, 1);
	CHECK_EQ_INT(sp[0].off, 3);
	CHECK_EQ_INT(sp[0].len, 3);
	r = http1_chunked_feed(&c, s + 11, sizeof(s) - 1 - 11, sp, 2, &ns);
	CHECK_EQ_INT(r, sizeof(s) - 1 - 11);
	CHECK_EQ_INT(ns, 1);
	CHECK_EQ_INT(sp[0].off, 0);
	CHECK_EQ_INT(sp[0].len, 2);
	CHECK(c.done);
	/* Done: consumes nothing more. */
	CHECK_EQ_INT(http1_chunked_feed(&c, "5\r\n", 3, sp, 2, &ns), 0);
	CHECK_EQ_INT(ns, 0);
	/* Errors are sticky. */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, "z", 1, sp, 2, &ns), -HTTP1_E_CHUNK);
	CHECK_EQ_INT(http1_chunked_feed(&c, "0\r\n\r\n", 5, sp, 2, &ns),
		     -HTTP1_E_CHUNK);
	CHECK(!c.done);
	/* Partial data: remaining counts down across feeds. */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, "a\r\n01234", 8, sp, 2, &ns), 8);
	CHECK_EQ_INT(c.remaining, 5);
	CHECK_EQ_INT(http1_chunked_feed(&c, "", 0, sp, 2, &ns), 0);
}

/* Random chunk sizes and random feed splits agree with the plain data. */
static void test_chunked_random(void)
{
	static char enc[3000], plain[2048];
	unsigned seed = 12345;
	int bad = 0;

	for (int round = 0; round < 200; round++) {
		size_t n = 0, p = 0;
		struct h1t_dechunked d;

		while (p < 1500) {
			size_t sz = (seed = seed * 1103515245u + 12345u) >> 16 & 63;

			n += (size_t)snprintf(enc + n, sizeof(enc) - n,
					      round & 1 ? "%zx\r\n" : "%zX;e=1\r\n", sz + 1);
			for (size_t i = 0; i <= sz; i++, p++)
				enc[n++] = plain[p] = (char)('a' + (p * 7 + (size_t)round) % 26);
			enc[n++] = '\r';
			enc[n++] = '\n';
		}
		n += (size_t)snprintf(enc + n, sizeof(enc) - n, "0\r\nT: v\r\n\r\nNEXT");
		dechunk(enc, n, (seed >> 16) % 40 + 1, 1 + round % 8, &d);
		if (!d.done || d.consumed != n - 4 || d.data_len != p ||
		    memcmp(d.data, plain, p))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

/* ---- text helpers ------------------------------------------------------------- */

static void test_err_table(void)
{
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_URI_TOO_LONG), 414);
	CHECK_EQ_INT(http1_err_status(HTTP1_E_URI_TOO_LONG), 414);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_HEADERS_TOO_LARGE), 431);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_TOO_MANY_HEADERS), 431);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_TE_UNSUPPORTED), 400);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_VERSION), 505);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_STATUS), 502);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_CHUNK), 502);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_TE_AND_CL), 400);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_NUL), 400);
	CHECK_EQ_INT(http1_err_status(-HTTP1_E_AGAIN), 0);
	CHECK_EQ_STR(http1_err_name(-HTTP1_E_METHOD), "bad_method");
	CHECK_EQ_STR(http1_err_name(HTTP1_E_TE_AND_CL), "te_and_cl");
	CHECK_EQ_STR(http1_err_name(HTTP1_E__COUNT), "unknown");
	CHECK_EQ_STR(http1_err_name(-1000), "unknown");
	for (int e = 1; e < HTTP1_E__COUNT; e++) {
		const char *n = http1_err_name(-e);

		CHECK(n && *n && strcmp(n, "unknown"));
		CHECK(strspn(n, "abcdefghijklmnopqrstuvwxyz_") == strlen(n));
		for (int f = 1; f < e; f++)
			CHECK(strcmp(n, http1_err_name(f)));
		if (e > HTTP1_E_AGAIN)
			CHECK(http1_err_status(e) >= 400);
	}
	CHECK_EQ_STR(http1_reason(200), "OK");
	CHECK_EQ_STR(http1_reason(404), "Not Found");
	CHECK_EQ_STR(http1_reason(431), "Request Header Fields Too Large");
	CHECK_EQ_STR(http1_reason(599), "Unknown");
	CHECK_EQ_STR(http1_reason(-1), "Unknown");
}

static void test_date(void)
{
	char out[30], want[64];
	struct tm tm;
	unsigned seed = 7;
	int bad = 0;

	http1_format_date(784111777, out);
	CHECK_EQ_STR(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	http1_format_date(0, out);
	CHECK_EQ_STR(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	http1_format_date(-5, out);
	CHECK_EQ_STR(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	http1_format_date(951782400, out);
	CHECK_EQ_STR(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	http1_format_date(4107542399LL, out);
	CHECK_EQ_STR(out, "Sun, 28 Feb 2100 23:59:59 GMT");
	http1_format_date(4107542400LL, out);
	CHECK_EQ_STR(out, "Mon, 01 Mar 2100 00:00:00 GMT");
	http1_format_date(INT64_MAX, out);
	CHECK_EQ_STR(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	/* Against the C library, with day names and months spelled out by
	 * hand so no locale can differ. */
	for (int i = 0; i < 20000; i++) {
		static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed",
						  "Thu", "Fri", "Sat" };
		static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr",
			"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		time_t t;

		seed = seed * 1103515245u + 12345u;
		t = (time_t)(((uint64_t)seed << 20 ^ (uint64_t)i * 86399u) %
			     253402300800ULL);
		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		http1_format_date((int64_t)t, out);
		if (strcmp(out, want)) {
			if (!bad)
				fprintf(stderr, "date %lld: %s != %s\n",
					(long long)t, out, want);
			bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_hop_by_hop(void)
{
	static const char *const yes[] = {
		"Connection", "keep-alive", "PROXY-CONNECTION", "Proxy-Authenticate",
		"proxy-authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
	};
	static const char *const no[] = {
		"Host", "Content-Length", "tee", "Trailers", "Upgrade-Insecure-Requests",
		"Keep-Alive2", "", "Proxy",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(http1_is_hop_by_hop(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!http1_is_hop_by_hop(no[i], strlen(no[i])));
}

int main(void)
{
	test_basic_get();
	test_methods();
	test_method_limit();
	test_target();
	test_absolute_form();
	test_version();
	test_line_ends();
	test_request_line_limit();
	test_head_limit();
	test_header_count();
	test_response_head_limit();
	test_field_syntax();
	test_host();
	test_connection_expect();
	test_content_length();
	test_transfer_encoding();
	test_smuggling();
	test_incremental();
	test_pipelined();
	test_response_status();
	test_response_framing();
	test_response_no_body();
	test_chunked_basic();
	test_chunked_errors();
	test_chunked_limits();
	test_chunked_api();
	test_chunked_random();
	test_err_table();
	test_date();
	test_hop_by_hop();
	return check_exit();
}
