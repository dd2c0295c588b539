/*
 * tests/unit/test_req_hygiene.c — dot segments (removed nginx-like, or
 * refused when they climb or touch another separator) and the request
 * fields the edge does not forward.
 */
#include <errno.h>
#include <string.h>

#include "net/req_hygiene.h"
#include "tests/unit/check.h"

static char out[256];

/* Normalise raw (a C string): the rc; out holds the result. */
static int norm(const char *raw)
{
	size_t n = strlen(raw), m = 0;
	int rc;

	memcpy(out, raw, n + 1);
	rc = reqh_path_normalize(out, n, &m);
	if (rc == 0) {
		out[m] = '\0';
		CHECK(reqh_path_clean(out, m));
	}
	return rc;
}

#define NORM(raw, want) do { CHECK_EQ_INT(norm(raw), 0); CHECK_EQ_STR(out, want); } while (0)
#define REFUSED(raw) CHECK_EQ_INT(norm(raw), -EINVAL)

static void test_climbs(void)
{
	/* The finding's shapes, and their cousins: all 400. */
	REFUSED("/../secret");
	REFUSED("/%2e%2e/secret");
	REFUSED("/%2E%2e/secret");
	REFUSED("/.%2E/secret");
	REFUSED("/..%2fsecret");
	REFUSED("/..%2Fsecret");
	REFUSED("/..%5csecret");
	REFUSED("/..\\secret");
	REFUSED("/..");
	REFUSED("/%2e%2e");
	REFUSED("/a/../..");
	REFUSED("/a/../../b");
	REFUSED("/./../x");
	REFUSED("/a/%2e%2e/%2e%2e/x");
	/* Next to a separator some origin reads and another does not:
	 * ambiguous, refused even when it would not climb. */
	REFUSED("/a/..%2fb");
	REFUSED("/a%2f../b");
	REFUSED("/a\\..\\b");
	REFUSED("/a/.%5cb");
	REFUSED("/a%5C.");
	/* Dots with a ";" parameter: "/..;/" is "/../" to servlet origins. */
	REFUSED("/..;/x");
	REFUSED("/a/..;/b");
	REFUSED("/a/%2e%2e;jsessionid=1/b");
	REFUSED("/a/.;x/b");
	NORM("/a/...;/b", "/a/...;/b");
	NORM("/a/x..;/b", "/a/x..;/b");
	NORM("/a/;../b", "/a/;../b");
	/* "%00": an origin that decodes and stops at the NUL reads "/a/.." */
	REFUSED("/a/..%00/b");
	REFUSED("/%00");
	REFUSED("/a/b%00");
	NORM("/a/%0/b", "/a/%0/b");
	NORM("/a/%10/b", "/a/%10/b");
}

static void test_normalised(void)
{
	/* nginx-like: what stays under "/" is removed, in place. */
	NORM("/a/../b", "/b");
	NORM("/a/./b", "/a/b");
	NORM("/a/b/../../c", "/c");
	NORM("/a/%2e%2e/b", "/b");
	NORM("/a/%2E/b", "/a/b");
	NORM("/a/.", "/a/");
	NORM("/a/..", "/");
	NORM("/a/b/..", "/a/");
	NORM("/.", "/");
	NORM("/./", "/");
	NORM("/a//../b", "/a/b");             /* ".." takes the empty segment */
	NORM("/a%2fb/../c", "/a/c");          /* ... and only the segment after %2f */
	NORM("/x/a%2Fb/../c?", "/x/a/c?");
	/* No dot segment: untouched (nothing is written). */
	NORM("/", "/");
	NORM("/...", "/...");
	NORM("/..a/a../.b/b.", "/..a/a../.b/b.");
	NORM("/%2e%2e%2e", "/%2e%2e%2e");
	NORM("/%252e%252e/x", "/%252e%252e/x");   /* "%2e%2e" once decoded: a name */
	NORM("/a%2fb", "/a%2fb");
	NORM("*", "*");
	/* A read-only clean path is never written to. */
	size_t n = 0;
	CHECK_EQ_INT(reqh_path_normalize((char *)"/", 1, &n), 0);
	CHECK_EQ_INT(n, 1);
}

static void test_clean(void)
{
	CHECK(reqh_path_clean("/a/b", 4));
	CHECK(reqh_path_clean("*", 1));
	CHECK(!reqh_path_clean("/a/..", 5));
	CHECK(!reqh_path_clean("/..%2fx", 7));
	CHECK(!reqh_path_clean("/x\\.", 4));
	CHECK(!reqh_path_clean("/x%5C%2E", 8));
	CHECK(!reqh_path_clean("..", 2));
}

/* A request of these fields (NUL-separated "name\0value" pairs). */
static struct http1_request req(const char *const *f, size_t n)
{
	struct http1_request r;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++) {
		r.headers[i].name = f[2 * i];
		r.headers[i].name_len = (uint16_t)strlen(f[2 * i]);
		r.headers[i].value = f[2 * i + 1];
		r.headers[i].value_len = (uint32_t)strlen(f[2 * i + 1]);
	}
	r.n_headers = (uint16_t)n;
	return r;
}

static bool has(const struct http1_request *r, const char *name)
{
	for (unsigned i = 0; i < r->n_headers; i++)
		if (r->headers[i].name_len == strlen(name) &&
		    strncasecmp(r->headers[i].name, name, strlen(name)) == 0)
			return true;
	return false;
}

static void test_fields(void)
{
	static const char *const f[] = {
		"Host", "e",
		"Connection", "keep-alive, X-Secret ,Host,content-length, Authorization",
		"Content-Length", "3",
		"X-Secret", "1",
		"Authorization", "Bearer t",
		"Keep-Alive", "5",
		"TE", "trailers",
		"Upgrade", "h2c",
		"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA",
		"Proxy-Connection", "x",
		"Trailer", "x",
		"X_User", "admin",
		"x-forwarded-host", "evil",
		"X-Original-URL", "/admin",
		"X-Rewrite-URL", "/admin",
		"X-HTTP-Method-Override", "DELETE",
		"Forwarded", "host=evil",
		"Accept", "*/*",
		"X-Kept", "1",
	};
	struct http1_request r = req(f, sizeof(f) / sizeof(f[0]) / 2);
	struct reqh_drops d = { 0 };

	reqh_filter_headers(&r, NULL, 0, &d);
	CHECK_EQ_INT(r.n_headers, 4);
	CHECK_EQ_STR(r.headers[0].name, "Host");              /* order kept */
	CHECK_EQ_STR(r.headers[1].name, "Content-Length");    /* Connection cannot take it */
	CHECK_EQ_STR(r.headers[2].name, "Accept");
	CHECK_EQ_STR(r.headers[3].name, "X-Kept");
	CHECK_EQ_INT(d.hop, 9);     /* 7 of the list, X-Secret, Authorization */
	CHECK_EQ_INT(d.underscore, 1);
	CHECK_EQ_INT(d.unkeyed, 5);

	/* The zone's list passes some; hop-by-hop still goes. */
	static const char *const g[] = {
		"Connection", "x_conn", "X_Conn", "1", "X_User", "u", "X-Forwarded-Host", "h",
		"X-Original-URL", "/o",
	};
	char *pass[] = { (char *)"x_user", (char *)"x-forwarded-host", (char *)"x_conn" };
	r = req(g, sizeof(g) / sizeof(g[0]) / 2);
	memset(&d, 0, sizeof(d));
	reqh_filter_headers(&r, pass, 3, &d);
	CHECK_EQ_INT(r.n_headers, 2);
	CHECK(has(&r, "x_user") && has(&r, "x-forwarded-host"));
	CHECK(!has(&r, "x_conn") && !has(&r, "x-original-url"));
	CHECK_EQ_INT(d.hop, 2);
	CHECK_EQ_INT(d.unkeyed, 1);

	CHECK(reqh_passable("x_a", 3));
	CHECK(reqh_passable("x-forwarded-host", 16));
	CHECK(!reqh_passable("connection", 10));
	CHECK(!reqh_passable("http2-settings", 14));
	CHECK(!reqh_passable("accept", 6));
}

int main(void)
{
	test_climbs();
	test_normalised();
	test_clean();
	test_fields();
	return check_exit();
}
