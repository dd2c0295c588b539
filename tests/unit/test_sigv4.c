/*
 * tests/unit/test_sigv4.c — sigv4/ edge cases: URI decoding and encoding,
 * canonical query and headers, signing-key days, rotation, wiping, and
 * every limit at the limit and one past it. (The AWS and S3 published
 * vectors are in test_sigv4_vectors.c; botocore agreement in
 * tests/integration/test_sign_botocore.py.)
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "sigv4/sigv4.h"
#include "tests/unit/check.h"

#define T_2015_08_30_235959  1440979199   /* 2015-08-30 23:59:59 UTC */

static char big[4 * LIMIT_SIGV4_CANONICAL_BYTES];

/* ---- URI --------------------------------------------------------------- */

static void check_decode(const char *in, ssize_t want_len, const char *want)
{
	char out[64];
	ssize_t n = sigv4_uri_decode(in, strlen(in), out, sizeof(out));

	CHECK_EQ_INT(n, want_len);
	if (n >= 0 && want)
		CHECK(memcmp(out, want, (size_t)n) == 0);
}

/* in through an encoder (path or query) must give exactly want. */
static void check_out(ssize_t (*fn)(const char *, size_t, char *, size_t),
		      const char *in, const char *want)
{
	char out[512];
	ssize_t n = fn(in, strlen(in), out, sizeof(out) - 1);

	CHECK(n >= 0);
	out[n < 0 ? 0 : n] = '\0';
	CHECK_EQ_STR(out, want);
}

static void check_encode(const char *in, const char *want)
{
	check_out(sigv4_uri_encode_path, in, want);
}

static void check_query(const char *in, const char *want)
{
	check_out(sigv4_canonical_query, in, want);
}

static void test_uri(void)
{
	char out[1024], back[1024];

	check_decode("a%2Bb", 3, "a+b");
	check_decode("a%2bb", 3, "a+b");            /* either case */
	check_decode("a+b", 3, "a+b");              /* '+' is not a space in a path */
	check_decode("%00", 1, "\0");
	check_decode("%E1%88%B4", 3, "\xe1\x88\xb4");
	check_decode("%", -EINVAL, NULL);
	check_decode("a%2", -EINVAL, NULL);
	check_decode("%zz", -EINVAL, NULL);
	check_decode("%g0", -EINVAL, NULL);
	check_decode("%%41", -EINVAL, NULL);
	CHECK_EQ_INT(sigv4_uri_decode("abc", 3, out, 3), 3);     /* at the limit */
	CHECK_EQ_INT(sigv4_uri_decode("abc", 3, out, 2), -ENOSPC);

	check_encode("/a b/+/%/=/$", "/a%20b/%2B/%25/%3D/%24");
	check_encode("a%2bb", "a%252bb");             /* a literal %2b in a key */
	check_encode("//a/./b/../", "//a/./b/../");   /* S3: never normalised */
	check_encode("/-._~AZaz09", "/-._~AZaz09");
	check_encode("/\xe1\x88\xb4", "/%E1%88%B4");
	check_encode("/(x)!@*'", "/%28x%29%21%40%2A%27");
	CHECK_EQ_INT(sigv4_uri_encode_path("a b", 3, out, 5), 5);   /* at the limit */
	CHECK_EQ_INT(sigv4_uri_encode_path("a b", 3, out, 4), -ENOSPC);
	CHECK_EQ_INT(sigv4_uri_encode_path("a b", 3, out, 0), -ENOSPC);

	/* every byte: kept iff unreserved or '/', else %XX upper; decodes back */
	for (int b = 0; b < 256; b++) {
		char in = (char)b;
		ssize_t n = sigv4_uri_encode_path(&in, 1, out, sizeof(out));
		int keep = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
			   (b >= '0' && b <= '9') || strchr("-._~/", b);
		char want[4];

		snprintf(want, sizeof(want), "%%%02X", b);
		CHECK_EQ_INT(n, keep && b ? 1 : 3);
		CHECK(keep && b ? out[0] == in : memcmp(out, want, 3) == 0);
		CHECK_EQ_INT(sigv4_uri_decode(out, (size_t)n, back, 1), 1);
		CHECK(back[0] == in);
	}
}

static void test_query(void)
{
	char out[16];
	size_t n;

	check_query("b=2&a=1&a=0", "a=0&a=1&b=2");
	check_query("lifecycle", "lifecycle=");
	check_query("a=1&&b", "a=1&b=");               /* empty items dropped */
	check_query("b=1&B=1&a=1", "B=1&a=1&b=1");     /* bytewise: upper first */
	check_query("a-b=1&a=2", "a=2&a-b=1");         /* by name, then value */
	check_query("x=a%2bb&y=a+b&z=a b", "x=a%2Bb&y=a%2Bb&z=a%20b");
	check_query("x=%7E&y=a/b&z=%41", "x=~&y=a%2Fb&z=A");
	check_query("%E1%88%B4=v&\xe1\x88\xb4=w", "%E1%88%B4=v&%E1%88%B4=w");
	check_query("k=a=b", "k=a%3Db");               /* split at the first '=' */
	CHECK_EQ_INT(sigv4_canonical_query("a=%zz", 5, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(sigv4_canonical_query("b&a", 3, out, 5), 5);   /* at the limit */
	CHECK_EQ_INT(sigv4_canonical_query("b&a", 3, out, 4), -ENOSPC);

	/* LIMIT_SIGV4_QUERY_PARAMS items, then one more */
	n = 0;
	for (int i = 0; i < LIMIT_SIGV4_QUERY_PARAMS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%sp%d=%d", i ? "&" : "", i, i);
	CHECK(sigv4_canonical_query(big, n, big + n, sizeof(big) - n) == (ssize_t)n);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "&one=more");
	CHECK_EQ_INT(sigv4_canonical_query(big, n, big + n, sizeof(big) - n), -ENOSPC);
}

/* ---- signing ----------------------------------------------------------- */

static char cr[LIMIT_SIGV4_CANONICAL_BYTES + 1], sts[512];

static struct sigv4_creds *creds(const char *secret, time_t now)
{
	static struct sigv4_creds c[4];
	static int next;
	struct sigv4_creds *p = &c[next++ % 4];

	CHECK_EQ_INT(sigv4_creds_init(p, "AKIDEXAMPLE", secret, "us-east-1", "s3",
				      NULL, now), 0);
	return p;
}

/* Sign a small S3 GET at `now`; returns sigv4_s3_sign's result. */
static int sign_at(const struct sigv4_creds *c, time_t now, struct sigv4_s3_signed *out)
{
	struct sigv4_s3_request r = {
		.method = "GET", .host = "b.s3.amazonaws.com", .host_len = 18,
		.path = "/k", .path_len = 2, .now = now,
	};

	return sigv4_s3_sign(c, &r, out, NULL);
}

static const char *sig_of(const struct sigv4_s3_signed *o)
{
	return o->authorization + o->authorization_len - 64;
}

static void test_headers(void)
{
	struct sigv4_creds *c = creds("secret", T_2015_08_30_235959);
	struct sigv4_trace tr = { cr, sizeof(cr), 0, sts, sizeof(sts), 0 };
	struct sigv4_header h[] = {
		{ "My-H", 4, "   a   b \t c  ", 14 },
		{ "X", 1, "1", 1 }, { "host", 4, "h", 1 }, { "x", 1, " 2", 2 },
	};
	struct sigv4_request r = {
		.method = "GET", .uri = "/", .uri_len = 1, .headers = h, .n_headers = 4,
		.payload_hash = SIGV4_EMPTY_SHA256, .now = T_2015_08_30_235959,
	};
	struct sigv4_s3_signed out;

	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, &tr), 0);
	CHECK_EQ_STR(cr, "GET\n/\n\nhost:h\nmy-h:a b c\nx:1,2\n"
		     "x-amz-date:20150830T235959Z\n\nhost;my-h;x;x-amz-date\n"
		     SIGV4_EMPTY_SHA256);
	h[1].value = "a\nb";                      /* would forge a line */
	h[1].value_len = 3;
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
	h[1] = (struct sigv4_header){ "Bad Name", 8, "v", 1 };
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
	h[1] = (struct sigv4_header){ "Authorization", 13, "v", 1 };
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
	h[1] = (struct sigv4_header){ "X-Amz-Date", 10, "20150830T235959Z", 16 };
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, &tr), 0);   /* same value: once */
	CHECK(strstr(cr, "x-amz-date:20150830T235959Z\n\n") != NULL);
	CHECK(strstr(cr, "x-amz-date:20150830T235959Z,") == NULL);
	h[1].value = "20150830T235958Z";
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
	r.method = "G(T";
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
}

static void test_s3_layer(void)
{
	struct sigv4_creds c;
	struct sigv4_trace tr = { cr, sizeof(cr), 0, sts, sizeof(sts), 0 };
	struct sigv4_header range = { "Range", 5, "bytes=0-9", 9 };
	struct sigv4_s3_request r = {
		.method = "HEAD", .host = "h:8080", .host_len = 6, .path = "/b/a%20b",
		.path_len = 8, .query = "versionId=1", .query_len = 11,
		.extra = &range, .n_extra = 1, .unsigned_payload = true,
		.now = T_2015_08_30_235959,
	};
	struct sigv4_s3_signed out;

	CHECK_EQ_INT(sigv4_creds_init(&c, "AK", "SK", "", "", "TOKEN", r.now), 0);
	CHECK_EQ_INT(sigv4_s3_sign(&c, &r, &out, &tr), 0);
	CHECK_EQ_STR(cr, "HEAD\n/b/a%20b\nversionId=1\nhost:h:8080\nrange:bytes=0-9\n"
		     "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20150830T235959Z\n"
		     "x-amz-security-token:TOKEN\n\nhost;range;x-amz-content-sha256;"
		     "x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD");
	const char *sts_head = "AWS4-HMAC-SHA256\n20150830T235959Z\n"
			       "20150830/auto/s3/aws4_request\n";
	CHECK(strncmp(sts, sts_head, strlen(sts_head)) == 0);
	CHECK_EQ_STR(out.payload_hash, SIGV4_UNSIGNED_PAYLOAD);
	range = (struct sigv4_header){ "HOST", 4, "other", 5 };
	CHECK_EQ_INT(sigv4_s3_sign(&c, &r, &out, NULL), -EINVAL);
	r.n_extra = 0;
	r.host_len = 0;
	CHECK_EQ_INT(sigv4_s3_sign(&c, &r, &out, NULL), -EINVAL);
	sigv4_creds_wipe(&c);
}

/*
 * A request at 23:59:59 signs with the key of that day, one at 00:00:00
 * with the key of the next: both precomputed, and both equal to what a
 * fresh derivation for that day gives.
 */
static void test_days(void)
{
	time_t t = T_2015_08_30_235959;
	struct sigv4_creds *c = creds("secret", t);
	struct sigv4_s3_signed a, ref;

	CHECK_EQ_INT(sigv4_day(t), 20150830);
	CHECK_EQ_INT(sigv4_day(t + 1), 20150831);
	for (time_t when = t; when <= t + 1; when++) {
		struct sigv4_creds *fresh = creds("secret", when - 30 * 86400);

		CHECK_EQ_INT(sign_at(c, when, &a), 0);
		CHECK(a.used_precomputed_key);
		CHECK_EQ_INT(sign_at(fresh, when, &ref), 0);
		CHECK(!ref.used_precomputed_key);      /* derived for `when`'s day */
		CHECK_EQ_STR(sig_of(&a), sig_of(&ref));
		CHECK(strncmp(strstr(a.authorization, "/") + 1, a.amz_date, 8) == 0);
	}
	CHECK_EQ_INT(sign_at(c, t + 1 + 86400, &a), 0);   /* the day after tomorrow */
	CHECK(!a.used_precomputed_key);
	CHECK_EQ_STR(sig_of(&a), (sign_at(creds("secret", t + 1 + 86400), t + 1 + 86400,
					  &ref), sig_of(&ref)));
	CHECK_EQ_INT(sigv4_creds_roll(c, t), 0);          /* nothing missing */
	CHECK_EQ_INT(sigv4_creds_roll(c, t + 1), 1);      /* only 20150901 */
	CHECK(c->keys[0].day + c->keys[1].day == 20150831 + 20150901);
	CHECK_EQ_INT(sign_at(c, t + 1 + 86400, &a), 0);
	CHECK(a.used_precomputed_key);
	CHECK_EQ_INT(sigv4_creds_roll(c, t + 1), 0);
	CHECK_EQ_INT(sigv4_creds_roll(c, t + 10 * 86400), 2);
	CHECK_EQ_INT(sigv4_creds_roll(c, (time_t)253402300800LL), -EINVAL); /* year 10000 */
}

static void test_rotation_and_wipe(void)
{
	time_t t = T_2015_08_30_235959;
	struct sigv4_creds c;
	struct sigv4_s3_signed a, b;
	static const struct sigv4_creds zero;

	CHECK_EQ_INT(sigv4_creds_init(&c, "AK", "old-secret", NULL, NULL, "tok", t), 0);
	CHECK_EQ_INT(sign_at(&c, t, &a), 0);
	CHECK_EQ_INT(sigv4_creds_init(&c, "AK", "new-secret", NULL, NULL, "tok", t), 0);
	CHECK_EQ_INT(sign_at(&c, t, &b), 0);
	CHECK(a.used_precomputed_key && b.used_precomputed_key);
	CHECK(strcmp(sig_of(&a), sig_of(&b)) != 0);        /* new key at once */
	CHECK_EQ_STR(c.region, "auto");
	CHECK_EQ_STR(c.service, "s3");
	sigv4_creds_wipe(&c);
	CHECK(memcmp(&c, &zero, sizeof(c)) == 0);          /* secret, token, keys: 0 */
}

/*
 * The day keys are HMAC state inside the struct: a copy by value signs the
 * same with nothing left in the original (the credential snapshots in
 * core/ are copies), and a wiped copy cannot sign with a stale state.
 */
static void test_copy(void)
{
	time_t t = T_2015_08_30_235959;
	struct sigv4_creds a, b;
	struct sigv4_s3_signed x, y;

	CHECK_EQ_INT(sigv4_creds_init(&a, "AK", "secret", NULL, NULL, NULL, t), 0);
	CHECK_EQ_INT(sign_at(&a, t + 1, &x), 0);          /* tomorrow's key */
	b = a;
	sigv4_creds_wipe(&a);
	CHECK_EQ_INT(sign_at(&b, t + 1, &y), 0);
	CHECK(x.used_precomputed_key && y.used_precomputed_key);
	CHECK_EQ_STR(x.authorization, y.authorization);
	sigv4_creds_wipe(&b);
}

/* ---- limits: at the limit, and one past it ------------------------------- */

/* Init with one field of length n (filled with 'a'); others valid. */
static int init_with(int field, size_t n)
{
	static char v[SIGV4_TOKEN_MAX + 2];
	struct sigv4_creds c;
	const char *f[5] = { "AK", "SK", "r", "s", "t" };
	int rc;

	memset(v, 'a', n);
	v[n] = '\0';
	f[field] = v;
	rc = sigv4_creds_init(&c, f[0], f[1], f[2], f[3], f[4], T_2015_08_30_235959);
	sigv4_creds_wipe(&c);
	return rc;
}

static void test_creds_limits(void)
{
	const size_t max[5] = { SIGV4_ACCESS_KEY_MAX, SIGV4_SECRET_MAX, SIGV4_REGION_MAX,
				SIGV4_SERVICE_MAX, SIGV4_TOKEN_MAX };
	struct sigv4_creds c;

	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(init_with(i, max[i]), 0);
		CHECK_EQ_INT(init_with(i, max[i] + 1), -ENAMETOOLONG);
	}
	CHECK_EQ_INT(init_with(0, 0), -EINVAL);             /* no access key */
	CHECK_EQ_INT(init_with(1, 0), -EINVAL);             /* no secret */
	CHECK_EQ_INT(sigv4_creds_init(&c, "AK", "S\nK", NULL, NULL, NULL, 0), -EINVAL);
	CHECK_EQ_INT(sigv4_creds_init(&c, "AK", "SK", NULL, NULL, NULL,
				      (time_t)253402300800LL), -EINVAL);
}

/* Canonical request length for a request whose URI is "/" + k bytes. */
static int sign_uri(const struct sigv4_creds *c, size_t k, struct sigv4_trace *tr,
		    struct sigv4_s3_signed *out)
{
	static char uri[LIMIT_SIGV4_CANONICAL_BYTES + 2];
	struct sigv4_header h = { "host", 4, "h", 1 };
	struct sigv4_request r = {
		.method = "GET", .uri = uri, .uri_len = 1 + k, .headers = &h,
		.n_headers = 1, .payload_hash = SIGV4_EMPTY_SHA256,
		.now = T_2015_08_30_235959,
	};

	uri[0] = '/';
	memset(uri + 1, 'a', k);
	return sigv4_sign_request(c, &r, out, tr);
}

static void test_sign_limits(void)
{
	struct sigv4_creds *c = creds("secret", T_2015_08_30_235959);
	struct sigv4_trace tr = { cr, sizeof(cr), 0, sts, sizeof(sts), 0 };
	struct sigv4_s3_signed out;
	struct sigv4_header h[LIMIT_SIGV4_HEADERS + 1];
	char names[LIMIT_SIGV4_HEADERS + 1][8];
	size_t base, room;

	/* canonical request: exactly LIMIT_SIGV4_CANONICAL_BYTES, then one more */
	CHECK_EQ_INT(sign_uri(c, 0, &tr, &out), 0);
	base = tr.canonical_request_len;
	room = LIMIT_SIGV4_CANONICAL_BYTES - base;
	CHECK_EQ_INT(sign_uri(c, room, &tr, &out), 0);
	CHECK_EQ_INT(tr.canonical_request_len, LIMIT_SIGV4_CANONICAL_BYTES);
	CHECK_EQ_INT(sign_uri(c, room + 1, NULL, &out), -ENOSPC);

	/* trace buffers: exactly the length, then one short */
	tr.canonical_request_cap = base;
	CHECK_EQ_INT(sign_uri(c, 0, &tr, &out), 0);
	tr.canonical_request_cap = base - 1;
	CHECK_EQ_INT(sign_uri(c, 0, &tr, &out), -ENOSPC);

	/* headers: with x-amz-date added, LIMIT_SIGV4_HEADERS, then one more */
	for (int i = 0; i <= LIMIT_SIGV4_HEADERS; i++) {
		snprintf(names[i], sizeof(names[i]), "h%02d", i);
		h[i] = (struct sigv4_header){ names[i], strlen(names[i]), "v", 1 };
	}
	struct sigv4_request r = {
		.method = "GET", .uri = "/", .uri_len = 1, .headers = h,
		.n_headers = LIMIT_SIGV4_HEADERS - 1, .payload_hash = SIGV4_EMPTY_SHA256,
		.now = T_2015_08_30_235959,
	};
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), 0);
	r.n_headers++;
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -ENOSPC);

	/* method: LIMIT_METHOD_BYTES, then one more */
	char m[LIMIT_METHOD_BYTES + 2];
	memset(m, 'M', sizeof(m) - 1);
	m[LIMIT_METHOD_BYTES] = '\0';
	r.n_headers = 1;
	r.method = m;
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), 0);
	m[LIMIT_METHOD_BYTES] = 'M';
	m[LIMIT_METHOD_BYTES + 1] = '\0';
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -EINVAL);
}

/* Authorization: SIGV4_AUTH_MAX - 1 bytes (plus NUL) fits, one more not. */
static void test_auth_limit(void)
{
	struct sigv4_creds *c = creds("secret", T_2015_08_30_235959);
	static char name[SIGV4_AUTH_MAX];
	struct sigv4_header h = { name, 1, "v", 1 };
	struct sigv4_request r = {
		.method = "GET", .uri = "/", .uri_len = 1, .headers = &h, .n_headers = 1,
		.payload_hash = SIGV4_EMPTY_SHA256, .now = T_2015_08_30_235959,
	};
	struct sigv4_s3_signed out;
	size_t base;

	memset(name, 'a', sizeof(name));
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), 0);
	base = out.authorization_len;
	h.name_len = 1 + (SIGV4_AUTH_MAX - 1 - base);
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), 0);
	CHECK_EQ_INT(out.authorization_len, SIGV4_AUTH_MAX - 1);
	h.name_len++;
	CHECK_EQ_INT(sigv4_sign_request(c, &r, &out, NULL), -ENOSPC);
}

int main(void)
{
	test_uri();
	test_query();
	test_headers();
	test_s3_layer();
	test_days();
	test_rotation_and_wipe();
	test_copy();
	test_creds_limits();
	test_sign_limits();
	test_auth_limit();
	return check_exit();
}
