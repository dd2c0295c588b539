/*
 * tests/unit/test_admin_req.c — control/admin_req: framing at the admin
 * limits (head and body at the limit and one past), the bearer token,
 * routing (every path, methods, uuids), and the body decoders' statuses
 * and fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/admin_req.h"
#include "core/limits.h"
#include "check.h"

#define Z "6f1c2b9e-3a4d-4e5f-8a7b-00000000a0a0"
#define O "3b92ec8b-d3e4-84eb-aa35-5593e033665c"

static char buf[LIMIT_ADMIN_HEAD_BYTES + LIMIT_ADMIN_BODY_BYTES + 64];

/* A request whose head is exactly head_len bytes (padded with a header)
 * and whose Content-Length says body_len; the body itself is body_have
 * bytes of '{'. Returns the total length. */
static size_t make(size_t head_len, long body_len, size_t body_have)
{
	char h[64];
	int n = snprintf(buf, sizeof(buf), "PATCH /cdn/zones/" Z " HTTP/1.1\r\nHost: a\r\n");
	int cl = body_len >= 0 ? snprintf(h, sizeof(h), "Content-Length: %ld\r\n", body_len) : 0;
	/* "X: " pad CRLF, then the blank line's CRLF */
	size_t pad = head_len - (size_t)n - (size_t)cl - 7;

	memcpy(buf + n, h, (size_t)cl);
	n += cl;
	memcpy(buf + n, "X: ", 3);
	memset(buf + n + 3, 'x', pad);
	memcpy(buf + n + 3 + pad, "\r\n\r\n", 4);
	memset(buf + head_len, '{', body_have);
	return head_len + body_have;
}

static void test_frame(void)
{
	struct admin_req r;
	struct admin_err e;
	size_t len;

	len = make(LIMIT_ADMIN_HEAD_BYTES, -1, 0);
	CHECK_EQ_INT(admin_req_frame(buf, len, &r, &e), 0);
	CHECK_EQ_INT((int)r.head_len, LIMIT_ADMIN_HEAD_BYTES);
	len = make(LIMIT_ADMIN_HEAD_BYTES + 1, -1, 0);
	CHECK_EQ_INT(admin_req_frame(buf, len, &r, &e), 431);
	/* an incomplete head under the limit waits; at the limit it is refused */
	CHECK_EQ_INT(admin_req_frame(buf, 100, &r, &e), -1);
	len = make(1024, LIMIT_ADMIN_BODY_BYTES, LIMIT_ADMIN_BODY_BYTES);
	CHECK_EQ_INT(admin_req_frame(buf, len, &r, &e), 0);
	CHECK_EQ_INT((int)r.body_len, LIMIT_ADMIN_BODY_BYTES);
	CHECK_EQ_INT(admin_req_frame(buf, len - 1, &r, &e), -1);
	len = make(1024, LIMIT_ADMIN_BODY_BYTES + 1, 0);
	CHECK_EQ_INT(admin_req_frame(buf, len, &r, &e), 413);
	CHECK_EQ_INT((int)r.head_len, 1024);          /* logged with method and path */
	strcpy(buf, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK_EQ_INT(admin_req_frame(buf, strlen(buf), &r, &e), 411);
	strcpy(buf, "GET / HTTP/1.1\r\n\r\n");          /* no Host */
	CHECK_EQ_INT(admin_req_frame(buf, strlen(buf), &r, &e), 400);
}

static int auth(const char *hdrs, const char *token)
{
	struct admin_req r;
	struct admin_err e;

	snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.1\r\nHost: a\r\n%s\r\n", hdrs);
	if (admin_req_frame(buf, strlen(buf), &r, &e) != 0)
		return -1;
	return admin_req_authorized(&r, token);
}

static void test_token(void)
{
	const char *t = "tok-0123456789abcdef";

	CHECK_EQ_INT(auth("Authorization: Bearer tok-0123456789abcdef\r\n", t), 1);
	CHECK_EQ_INT(auth("authorization: bearer tok-0123456789abcdef\r\n", t), 1);
	CHECK_EQ_INT(auth("Authorization: Bearer tok-0123456789abcdeF\r\n", t), 0);
	CHECK_EQ_INT(auth("Authorization: Bearer tok-0123456789abcde\r\n", t), 0);
	CHECK_EQ_INT(auth("Authorization: Bearer tok-0123456789abcdefx\r\n", t), 0);
	CHECK_EQ_INT(auth("Authorization: Basic tok-0123456789abcdef\r\n", t), 0);
	CHECK_EQ_INT(auth("", t), 0);
	CHECK_EQ_INT(auth("Authorization: Bearer tok-0123456789abcdef\r\n"
			  "Authorization: Bearer tok-0123456789abcdef\r\n", t), 0);
	CHECK_EQ_INT(auth("", NULL), 1);
}

static int route(const char *method, const char *path, struct admin_req *r)
{
	struct admin_err e;

	snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", method, path);
	if (admin_req_frame(buf, strlen(buf), r, &e) != 0)
		return -1;
	return admin_req_route(r, &e);
}

static void test_route(void)
{
	struct admin_req r;

	CHECK(route("GET", "/cdn/zones", &r) == 0 && r.route == ADMIN_R_ZONES);
	CHECK(route("GET", "/cdn/zones/" Z, &r) == 0 && r.route == ADMIN_R_ZONE);
	CHECK_EQ_STR(r.zone, Z);
	CHECK(route("GET", "/cdn/zones/6F1C2B9E-3A4D-4E5F-8A7B-00000000A0A0", &r) == 0);
	CHECK_EQ_STR(r.zone, Z);
	CHECK(route("POST", "/cdn/zones/" Z "/origins", &r) == 0 && r.route == ADMIN_R_ORIGINS);
	CHECK(route("PATCH", "/cdn/zones/" Z "/origins/" O, &r) == 0 && r.route == ADMIN_R_ORIGIN);
	CHECK_EQ_STR(r.origin, O);
	CHECK(route("DELETE", "/cdn/zones/" Z "/origins/" O, &r) == 0);
	CHECK(route("POST", "/cdn/zones/" Z "/origins/" O "/test", &r) == 0 &&
	      r.route == ADMIN_R_TEST);
	CHECK(route("POST", "/cdn/zones/" Z "/purge", &r) == 0 && r.route == ADMIN_R_PURGE);
	CHECK(route("GET", "/metrics", &r) == 0 && r.route == ADMIN_R_METRICS);
	CHECK(route("GET", "/metrics?x=1", &r) == 0);
	CHECK_EQ_INT(route("POST", "/metrics", &r), 405);
	CHECK_EQ_INT(route("GET", "/cdn/zones/" Z "/purge", &r), 405);
	CHECK_EQ_INT(route("PUT", "/cdn/zones/" Z "/origins/" O, &r), 405);
	CHECK_EQ_INT(route("GET", "/cdn/zones/", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/" Z "/", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/..", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/%2e%2e", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/" Z "/origins/..", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/6f1c2b9e-3a4d-4e5f-8a7b-00000000a0aZ", &r), 404);
	CHECK_EQ_INT(route("GET", "//cdn/zones", &r), 404);
	CHECK_EQ_INT(route("GET", "/cdn/zones/" Z "/origins/" O "/test/x/y", &r), 404);
	/* LIMIT_ADMIN_PATH_SEGMENTS segments are split (the longest route has
	 * one less), one more is refused before routing: both 404, in bounds */
	_Static_assert(LIMIT_ADMIN_PATH_SEGMENTS == 7, "the two paths below");
	CHECK(route("POST", "/cdn/zones/" Z "/origins/" O "/test/", &r) == 404 &&
	      r.route == ADMIN_R_NONE);
	CHECK(route("POST", "/cdn/zones/" Z "/origins/" O "/test/x/", &r) == 404 &&
	      r.route == ADMIN_R_NONE);
}

static int origin(const char *body, const char *field)
{
	struct admin_origin_in in;
	struct admin_err e = { 0 };
	int rc = admin_origin_decode(body, strlen(body), &in, &e);

	if (rc && field && strcmp(e.field, field) != 0) {
		fprintf(stderr, "field %s, want %s (%s)\n", e.field, field, e.msg);
		rc = -2;
	}
	admin_origin_in_free(&in);
	return rc;
}

static void test_origin_body(void)
{
	struct admin_origin_in in;
	struct admin_err e;
	const char *b = "{\"name\": \"n\", \"connect_timeout_ms\": 3000, \"s3_auth_enabled\": true,"
			" \"s3_secret_key\": null, \"s3_region\": \"\"}";

	CHECK_EQ_INT(admin_origin_decode(b, strlen(b), &in, &e), 0);
	CHECK(in.set[ADMIN_F_name] && !in.set[ADMIN_F_url]);
	CHECK_EQ_STR(in.val[ADMIN_F_connect_timeout_ms], "3000");
	CHECK_EQ_STR(in.val[ADMIN_F_s3_auth_enabled], "true");
	CHECK_EQ_STR(in.val[ADMIN_F_s3_secret_key], "");
	CHECK_EQ_STR(in.val[ADMIN_F_s3_region], "");
	admin_origin_in_free(&in);
	CHECK_EQ_INT(origin("{}", NULL), 0);
	CHECK_EQ_INT(origin("", NULL), 400);
	CHECK_EQ_INT(origin("{", NULL), 400);
	CHECK_EQ_INT(origin("[]", NULL), 400);
	CHECK_EQ_INT(origin("{\"a\":1,\"a\":2}", NULL), 400);
	CHECK_EQ_INT(origin("{\"read_timeout_ms\": 123456789012345678901234567890}", NULL), 400);
	CHECK_EQ_INT(origin("{\"name\": \"\xff\"}", NULL), 400);
	CHECK_EQ_INT(origin("{\"colour\": 1}", "colour"), 422);
	CHECK_EQ_INT(origin("{\"c o\": 1}", ""), 422);
	CHECK_EQ_INT(origin("{\"s3_auth_enabled\": 1}", "s3_auth_enabled"), 422);
	CHECK_EQ_INT(origin("{\"read_timeout_ms\": 1.5}", "read_timeout_ms"), 422);
	CHECK_EQ_INT(origin("{\"url\": null}", "url"), 422);
	CHECK_EQ_INT(origin("{\"url\": \" http://a\"}", "url"), 422);
	CHECK_EQ_INT(origin("{\"host_header\": \"a ;b\"}", "host_header"), 422);
	CHECK_EQ_INT(origin("{\"host_header\": \"a\\nb\"}", "host_header"), 422);
	CHECK_EQ_INT(origin("{\"s3_secret_key\": 5}", "s3_secret_key"), 422);
	/* the secret at its limit and one past */
	char big[LIMIT_SECRET_BYTES + 64];
	snprintf(big, sizeof(big), "{\"s3_secret_key\": \"%0*d\"}", LIMIT_SECRET_BYTES, 0);
	CHECK_EQ_INT(origin(big, NULL), 0);
	snprintf(big, sizeof(big), "{\"s3_secret_key\": \"%0*d\"}", LIMIT_SECRET_BYTES + 1, 0);
	CHECK_EQ_INT(origin(big, "s3_secret_key"), 422);
	/* an unknown field named back up to LIMIT_ADMIN_FIELD_ECHO_BYTES - 1
	 * bytes, and not at all one past */
	char key[LIMIT_ADMIN_FIELD_ECHO_BYTES + 1];
	memset(key, 'k', sizeof(key) - 1);
	key[LIMIT_ADMIN_FIELD_ECHO_BYTES - 1] = '\0';
	snprintf(big, sizeof(big), "{\"%s\": 1}", key);
	CHECK_EQ_INT(origin(big, key), 422);
	key[LIMIT_ADMIN_FIELD_ECHO_BYTES - 1] = 'k';
	key[LIMIT_ADMIN_FIELD_ECHO_BYTES] = '\0';
	snprintf(big, sizeof(big), "{\"%s\": 1}", key);
	CHECK_EQ_INT(origin(big, ""), 422);
}

static int purge(const char *body, const char *field)
{
	struct admin_purge_in in;
	struct admin_err e = { 0 };
	int rc = admin_purge_decode(body, strlen(body), &in, &e);

	if (rc && field && strcmp(e.field, field) != 0)
		rc = -2;
	admin_purge_in_free(&in);
	return rc;
}

static void test_purge_body(void)
{
	static char big[LIMIT_ADMIN_BODY_BYTES];
	size_t n = 0;

	CHECK_EQ_INT(purge("{\"paths\": [\"/a\", \"/b?x=1\"]}", NULL), 0);
	CHECK_EQ_INT(purge("{\"prefix\": \"/\"}", NULL), 0);
	CHECK_EQ_INT(purge("{\"prefix\": \"/a\"}", "prefix"), 422);
	CHECK_EQ_INT(purge("{\"paths\": []}", "paths"), 422);
	CHECK_EQ_INT(purge("{\"paths\": \"/a\"}", "paths"), 422);
	CHECK_EQ_INT(purge("{\"paths\": [\"a\"]}", "paths"), 422);
	CHECK_EQ_INT(purge("{\"paths\": [\"/a b\"]}", "paths"), 422);
	CHECK_EQ_INT(purge("{}", "paths"), 422);
	CHECK_EQ_INT(purge("{\"paths\": [\"/a\"], \"prefix\": \"/\"}", "prefix"), 422);
	CHECK_EQ_INT(purge("{\"x\": 1}", ""), 422);
	/* paths at the limit and one past */
	for (int k = 0; k <= LIMIT_ADMIN_PURGE_PATHS; k++) {
		n = 0;
		n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"paths\": [");
		for (int i = 0; i < k + 1 && n < sizeof(big) - 16; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"/%d\"", i ? "," : "", i);
		snprintf(big + n, sizeof(big) - n, "]}");
		if (k + 1 == LIMIT_ADMIN_PURGE_PATHS)
			CHECK_EQ_INT(purge(big, NULL), 0);
		if (k == LIMIT_ADMIN_PURGE_PATHS)
			CHECK_EQ_INT(purge(big, "paths"), 422);
	}
}

int main(void)
{
	test_frame();
	test_token();
	test_route();
	test_origin_body();
	test_purge_body();
	return check_exit();
}
