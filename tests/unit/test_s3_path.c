/*
 * tests/unit/test_s3_path.c — s3path_map: the guide's path-mapping rules
 * (Option A: bucket as first URL segment, base_path empty; Option B:
 * base_path = /bucket), hard keys, virtual-hosted addressing, bounds.
 */
#include <errno.h>
#include <string.h>

#include "sigv4/s3_path.h"
#include "tests/unit/check.h"

static char path[LIMIT_S3_WIRE_PATH_BYTES + 1];
static char host[LIMIT_S3_HOST_BYTES + 1];

static struct cfg_origin origin(const char *base, enum cfg_s3_addressing a)
{
	struct cfg_origin o;

	memset(&o, 0, sizeof(o));
	o.host = (char *)"s3.eu-central-1.amazonaws.com";
	o.host_header = (char *)"s3.eu-central-1.amazonaws.com";
	o.port = 443;
	o.base_path = (char *)base;
	o.s3_addressing = a;
	return o;
}

/* Map raw (a C string) and return the rc; path/host hold the result. */
static int map(const struct cfg_origin *o, const char *raw)
{
	struct s3path_out out = { path, sizeof(path), 0, host, sizeof(host), 0 };
	int rc = s3path_map(o, raw, strlen(raw), &out);

	if (rc == 0) {
		CHECK_EQ_INT(out.path_len, strlen(path));
		CHECK_EQ_INT(out.host_len, strlen(host));
	}
	return rc;
}

#define MAPS(o, raw, want) do { \
	CHECK_EQ_INT(map(o, raw), 0); \
	CHECK_EQ_STR(path, want); \
} while (0)

static void test_options(void)
{
	struct cfg_origin a = origin("", CFG_S3_ADDRESSING_PATH);
	struct cfg_origin b = origin("/my-media", CFG_S3_ADDRESSING_PATH);

	/* Option A: customers ask /my-media/path/to/file.mp4. */
	MAPS(&a, "/my-media/path/to/file.mp4", "/my-media/path/to/file.mp4");
	CHECK_EQ_STR(host, "s3.eu-central-1.amazonaws.com");
	/* ... and without the bucket, S3 reads bucket "videos". */
	MAPS(&a, "/videos/clip.mp4", "/videos/clip.mp4");
	/* Option B: base_path hides the bucket. */
	MAPS(&b, "/path/to/file.mp4", "/my-media/path/to/file.mp4");
	MAPS(&b, "/", "/my-media/");
	/* base_path is a decoded prefix: encoded once like the rest. */
	struct cfg_origin c = origin("/my media+x", CFG_S3_ADDRESSING_PATH);
	MAPS(&c, "/k", "/my%20media%2Bx/k");
	/* NULL base_path is the same as "". */
	c.base_path = NULL;
	MAPS(&c, "/k", "/k");
}

static void test_hard_keys(void)
{
	struct cfg_origin a = origin("", CFG_S3_ADDRESSING_PATH);
	struct cfg_origin b = origin("/b", CFG_S3_ADDRESSING_PATH);

	MAPS(&a, "/b/a%20b", "/b/a%20b");
	MAPS(&a, "/b/a b", "/b/a%20b");             /* a raw space is a decoded space */
	MAPS(&a, "/b/a+b", "/b/a%2Bb");             /* '+' is not a space in a path */
	MAPS(&a, "/b/a%2Bb", "/b/a%2Bb");
	MAPS(&a, "/b/a%2bb", "/b/a%2Bb");           /* either case in, upper case out */
	MAPS(&a, "/b/%252B", "/b/%252B");           /* decoded once: "%2B" stays a key */
	MAPS(&a, "/b/~x", "/b/~x");
	MAPS(&a, "/b/%7Ex", "/b/~x");
	MAPS(&a, "/b/(1)!@", "/b/%281%29%21%40");
	MAPS(&a, "/b/-._~", "/b/-._~");
	MAPS(&a, "/b//double//slash", "/b//double//slash");
	MAPS(&b, "//leading", "/b//leading");
	/* Dot segments never reach a bucket (the edge removed or refused them
	 * before; s3path_map refuses what is left, decoded): a key with a "."
	 * or ".." segment cannot be asked for through the edge. */
	CHECK_EQ_INT(map(&b, "/./x/../y/."), -EINVAL);
	CHECK_EQ_INT(map(&b, "/.."), -EINVAL);
	CHECK_EQ_INT(map(&b, "/%2e%2E/secret"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/..%2fsecret"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/a%5c..%5csecret"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/a/.."), -EINVAL);
	CHECK_EQ_INT(map(&a, "/b/x/%2E"), -EINVAL);
	MAPS(&b, "/...", "/b/...");                 /* three dots are a name */
	MAPS(&b, "/..a/.b/a..", "/b/..a/.b/a..");
	MAPS(&b, "/%252e%252e/x", "/b/%252e%252e/x");  /* decoded once: "%2e%2e" is a name */
	MAPS(&b, "/%D0%BA%D0%BB%D1%8E%D1%87", "/b/%D0%BA%D0%BB%D1%8E%D1%87");
	MAPS(&b, "/\xd0\xba\xe5\x90\x8d", "/b/%D0%BA%E5%90%8D");  /* raw UTF-8 */
	MAPS(&b, "/a%2Fb", "/b/a/b");               /* %2F is a slash once decoded */
	MAPS(&b, "/q%3Fx%23y", "/b/q%3Fx%23y");
	/* A bad escape: the edge answers 400. */
	CHECK_EQ_INT(map(&b, "/%zz"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/a%2"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/a%"), -EINVAL);
	CHECK_EQ_INT(map(&b, "/a%g0"), -EINVAL);
	CHECK_EQ_INT(map(&b, "relative"), -EINVAL);
	CHECK_EQ_INT(map(&b, ""), -EINVAL);
}

static void test_virtual(void)
{
	struct cfg_origin a = origin("", CFG_S3_ADDRESSING_VIRTUAL);
	struct cfg_origin b = origin("/my-media", CFG_S3_ADDRESSING_VIRTUAL);

	MAPS(&a, "/my-media/path/to/file.mp4", "/path/to/file.mp4");
	CHECK_EQ_STR(host, "my-media.s3.eu-central-1.amazonaws.com");
	MAPS(&a, "/my-media", "/");
	MAPS(&a, "/my-media/", "/");
	MAPS(&a, "/my-media//k", "//k");
	MAPS(&b, "/path/a+b", "/path/a%2Bb");
	CHECK_EQ_STR(host, "my-media.s3.eu-central-1.amazonaws.com");
	MAPS(&b, "/", "/");
	/* The port of host_header is kept. */
	struct cfg_origin p = origin("", CFG_S3_ADDRESSING_VIRTUAL);
	p.host_header = (char *)"minio.local:9000";
	MAPS(&p, "/bkt/k", "/k");
	CHECK_EQ_STR(host, "bkt.minio.local:9000");
	/* No bucket, or one that cannot be a DNS label. */
	CHECK_EQ_INT(map(&a, "/"), -EINVAL);
	CHECK_EQ_INT(map(&a, "//k"), -EINVAL);
	CHECK_EQ_INT(map(&a, "/My_Media/k"), -EINVAL);
	CHECK_EQ_INT(map(&a, "/ab/k"), -EINVAL);
	CHECK_EQ_INT(map(&a, "/a%20b/k"), -EINVAL);
	/* 63 bytes is the longest bucket, 64 one past it. */
	char raw[80];
	memset(raw, 'a', sizeof(raw));
	raw[0] = '/';
	memcpy(raw + 64, "/k", 3);
	MAPS(&a, raw, "/k");
	CHECK_EQ_INT(strlen(host), 63 + 1 + strlen(a.host_header));
	raw[65] = '\0';
	raw[64] = 'a';
	memcpy(raw + 65, "/k", 3);
	CHECK_EQ_INT(map(&a, raw), -EINVAL);
}

static void test_bounds(void)
{
	struct cfg_origin a = origin("", CFG_S3_ADDRESSING_PATH);
	struct cfg_origin v = origin("", CFG_S3_ADDRESSING_VIRTUAL);
	char small[8], hsmall[64];
	struct s3path_out out = { small, 5, 0, host, sizeof(host), 0 };
	static char raw[LIMIT_REQUEST_LINE_BYTES + 2];
	static char base[LIMIT_PATH_BYTES + 2];

	/* "/abc" needs 4 bytes + NUL: at the size and one under it. */
	CHECK_EQ_INT(s3path_map(&a, "/abc", 4, &out), 0);
	CHECK_EQ_STR(small, "/abc");
	out.path_cap = 4;
	CHECK_EQ_INT(s3path_map(&a, "/abc", 4, &out), -ENOSPC);
	out.path_cap = 5;                   /* "/%28" needs 4 + NUL */
	CHECK_EQ_INT(s3path_map(&a, "/(", 2, &out), 0);
	CHECK_EQ_STR(small, "/%28");
	out.path_cap = 4;
	CHECK_EQ_INT(s3path_map(&a, "/(", 2, &out), -ENOSPC);
	/* Host buffer: exactly the host header + NUL, and one byte less. */
	out.path = path;
	out.path_cap = sizeof(path);
	out.host = hsmall;
	out.host_cap = strlen(a.host_header) + 1;
	CHECK_EQ_INT(s3path_map(&a, "/k", 2, &out), 0);
	out.host_cap--;
	CHECK_EQ_INT(s3path_map(&a, "/k", 2, &out), -ENOSPC);
	out.host_cap = strlen("bkt.") + strlen(v.host_header);
	CHECK_EQ_INT(s3path_map(&v, "/bkt/k", 6, &out), -ENOSPC);
	out.host_cap++;
	CHECK_EQ_INT(s3path_map(&v, "/bkt/k", 6, &out), 0);
	CHECK_EQ_STR(hsmall, "bkt.s3.eu-central-1.amazonaws.com");

	/* The longest visitor path and base_path, every byte encoded: the
	 * LIMIT_S3_WIRE_PATH_BYTES buffer holds it. One past → -ENOSPC. */
	memset(raw, '!', sizeof(raw));
	raw[0] = '/';
	memset(base, '(', sizeof(base));
	base[0] = '/';
	base[LIMIT_PATH_BYTES] = '\0';
	a.base_path = base;
	out.host = host;
	out.host_cap = sizeof(host);
	CHECK_EQ_INT(s3path_map(&a, raw, LIMIT_REQUEST_LINE_BYTES, &out), 0);
	CHECK_EQ_INT(out.path_len, 3 * (LIMIT_PATH_BYTES + LIMIT_REQUEST_LINE_BYTES) - 4);
	CHECK_EQ_INT(s3path_map(&a, raw, LIMIT_REQUEST_LINE_BYTES + 1, &out), -ENOSPC);
	base[LIMIT_PATH_BYTES] = '(';
	base[LIMIT_PATH_BYTES + 1] = '\0';
	CHECK_EQ_INT(s3path_map(&a, "/k", 2, &out), -ENOSPC);
}

int main(void)
{
	test_options();
	test_hard_keys();
	test_virtual();
	test_bounds();
	return check_exit();
}
