/*
 * tests/unit/test_origin_request.c — one writer of origin requests
 * (edge/origin_request.h): for the same origin, credentials, method,
 * visitor path and query, clock and learned clock offset, the serving
 * path's input (oreq_for_visitor, as edge/origin.c feeds it) and
 * check-origin's / the admin probe's (check_origin_request) give the same
 * bytes — S3 with a session token (path-style and virtual-hosted, GET and
 * HEAD, with a query and %-escapes) and a plain origin. The learned
 * offset is what the X-Amz-Date shows; a different offset changes the
 * signature.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "control/cli.h"
#include "control/config_load.h"
#include "edge/runtime.h"
#include "edge/origin_request.h"
#include "net/http1.h"
#include "net/wbuf.h"

/* literal lit within buf[0..len) */
#define HAS(buf, len, lit) (memmem((buf), (len), (lit), sizeof(lit) - 1) != NULL)
#define NOW ((time_t)1700000000)        /* 2023-11-14T22:13:20Z */
#define OFFSET 4000                     /* the origin's clock is 4000 s ahead */

/* The test's files: owner-only, as secret files must be. */
static void put(const char *path, const char *text)
{
	check_put(path, text, 0600);
}

/* The serving path's head for `raw_request` to o (signed with its current
 * credentials when it has any). */
static size_t serving(const struct rt_origin *o, const char *raw_request, char *out, size_t cap)
{
	struct http1_request req;
	struct wbuf w;
	struct oreq q;
	const struct origin_creds *c = rt_creds(o);

	CHECK(http1_parse_request(raw_request, strlen(raw_request), &req) > 0);
	wbuf_init(&w, out, cap);
	oreq_for_visitor(o, c ? &c->cur : NULL, &req, NOW, &q);
	CHECK_EQ_INT(oreq_write(&q, &w, NULL, NULL), 0);
	CHECK(!w.overflow);
	return w.len;
}

/* check-origin's (and the admin probe's) head for the same request. */
static size_t probe(const struct rt_origin *o, const char *method, const char *raw, int64_t off,
		    char *out, size_t cap)
{
	const struct origin_creds *c = rt_creds(o);
	struct wbuf w;

	wbuf_init(&w, out, cap);
	CHECK_EQ_INT(check_origin_request(o->cfg, c ? &c->cur : NULL, off, method, raw, NOW, &w,
					  NULL), 0);
	CHECK(!w.overflow);
	return w.len;
}

static void same(const struct rt_origin *o, const char *method, const char *raw)
{
	char req[512], a[8192], b[8192];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: edge.test\r\n\r\n", method, raw);
	size_t la = serving(o, req, a, sizeof(a));
	size_t lb = probe(o, method, raw, OFFSET, b, sizeof(b));
	CHECK_EQ_INT((long long)la, (long long)lb);
	CHECK(la == lb && memcmp(a, b, la) == 0);
	if (la != lb || memcmp(a, b, la) != 0)
		fprintf(stderr, "serving:\n%.*s\nprobe:\n%.*s\n", (int)la, a, (int)lb, b);
}

static const struct rt_origin *by_name(const struct runtime *rt, const char *name)
{
	for (uint32_t i = 0; i < rt->n_origins; i++)
		if (strcmp(rt->origins[i].cfg->name, name) == 0)
			return &rt->origins[i];
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/test_origin_request.XXXXXX";
	struct cfg_error cerr;
	struct cfg *cfg = NULL;
	struct runtime *rt = NULL;
	char err[256];

	if (!mkdtemp(dir) || chdir(dir) != 0 || mkdir("zones", 0700) != 0) {
		perror("test_origin_request: temp dir");
		return 1;
	}
	put("edge.ini", "[server]\nlisten = 127.0.0.1:8080\nzones = zones/*.ini\n");
	put("secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
	put("token", "FwoGZXIvYXdzEXAMPLE-session-token\n");
	put("zones/a.ini", "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n"
	    "hosts = *\n"
	    "[origin path]\nurl = https://localhost:8443\nbase_path = /bucket/pre fix\n"
	    "s3_auth_enabled = true\ns3_access_key = AKIDEXAMPLE\n"
	    "s3_secret_key_file = ../secret\ns3_session_token_file = ../token\n"
	    "s3_region = us-east-1\n"
	    "[origin plain]\nurl = http://127.0.0.1:8081\nbase_path = /static\n");
	put("zones/b.ini", "[zone]\nname = b\nuuid = 00000000-0000-0000-0000-00000000000b\n"
	    "hosts = b.test\n"
	    "[origin virt]\nurl = http://localhost\ns3_addressing = virtual\n"
	    "s3_auth_enabled = true\ns3_access_key = AKIDEXAMPLE\n"
	    "s3_secret_key_file = ../secret\ns3_region = eu-west-1\ns3_payload = unsigned\n");
	int rc = cfg_load("edge.ini", &cfg, &cerr);
	CHECK_EQ_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "cfg_load: %s\n", cerr.msg);
		return check_exit();
	}
	rc = rt_build(cfg, NULL, 1, 1, NOW, &rt, err, sizeof(err));
	CHECK_EQ_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "rt_build: %s\n", err);
		return check_exit();
	}
	for (uint32_t i = 0; i < rt->n_origins; i++)
		atomic_store(&rt->origins[i].clock_offset_s, OFFSET);
	const struct rt_origin *path = by_name(rt, "path"), *virt = by_name(rt, "virt"),
			       *plain = by_name(rt, "plain");
	CHECK(path && virt && plain);
	if (!path || !virt || !plain)
		return check_exit();

	same(path, "GET", "/dir/file%20name.mp4");
	same(path, "HEAD", "/dir/file.mp4");
	same(path, "GET", "/a/%E2%82%AC+b?versionId=3&x-id=GetObject&b=%2f");
	same(virt, "GET", "/mybucket/key/with~tilde");
	same(virt, "HEAD", "/mybucket/k?list-type=2");
	same(plain, "GET", "/img/a.png?w=100");
	same(plain, "HEAD", "/");

	/* The offset is applied: X-Amz-Date is NOW + OFFSET (2023-11-14T23:20:00Z). */
	char a[8192], b[8192];
	size_t la = probe(path, "GET", "/x", OFFSET, a, sizeof(a));
	CHECK(HAS(a, la, "X-Amz-Date: 20231114T232000Z\r\n"));
	CHECK(HAS(a, la, "X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLE-session-token\r\n"));
	CHECK(HAS(a, la, "GET /bucket/pre%20fix/x HTTP/1.1\r\nHost: localhost:8443\r\n"));
	/* ...and a different offset signs differently. */
	size_t lb = probe(path, "GET", "/x", 0, b, sizeof(b));
	CHECK(la != lb || memcmp(a, b, la) != 0);
	CHECK(HAS(b, lb, "X-Amz-Date: 20231114T221320Z\r\n"));
	/* A plain origin is never signed. */
	la = probe(plain, "GET", "/p?q=1", OFFSET, a, sizeof(a));
	CHECK(!HAS(a, la, "Authorization"));
	CHECK(HAS(a, la, "GET /static/p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n"));

	rt_free(rt);
	unlink("zones/a.ini");
	unlink("zones/b.ini");
	rmdir("zones");
	unlink("token");
	unlink("secret");
	unlink("edge.ini");
	if (chdir("/") == 0)
		rmdir(dir);
	return check_exit();
}
