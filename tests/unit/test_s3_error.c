/*
 * tests/unit/test_s3_error.c — s3err_: tag extraction, entities, bounds,
 * and the verdict for each row of the guide's error table, on bodies
 * captured from Swift+s3api (tests/lib/swift.py) and AWS's documented
 * error documents.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4/s3_error.h"
#include "tests/unit/check.h"

/* Captured from Swift 2.30 s3api: GET signed with a wrong secret. */
static const char swift_sig[] =
	"<?xml version='1.0' encoding='UTF-8'?>\n"
	"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><RequestId>tx693aa15c937640a2912a7-006b0b281e</RequestId><AWSAccessKeyId>test:tester</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n"
	"20261128T191438Z\n"
	"20261128/us-east-1/s3/aws4_request\n"
	"52de3276f9bfee50c2bb098e40ee8c2328b74e323fdd842b8b66eacfd8fe21f6</StringToSign><SignatureProvided>b9d6577ce1d959f36f84fb082c0c2fb415b237c925f05d84f003296a8f4fbc1e</SignatureProvided><StringToSignBytes>41 57 53 34 2d 48 4d 41 43 2d 53 48 41 32 35 36 0a 32 30 32 36 31 31 32 38 54 31 39 31 34 33 38 5a 0a 32 30 32 36 31 31 32 38 2f 75 73 2d 65 61 73 74 2d 31 2f 73 33 2f 61 77 73 34 5f 72 65 71 75 65 73 74 0a 35 32 64 65 33 32 37 36 66 39 62 66 65 65 35 30 63 32 62 62 30 39 38 65 34 30 65 65 38 63 32 33 32 38 62 37 34 65 33 32 33 66 64 64 38 34 32 62 38 62 36 36 65 61 63 66 64 38 66 65 32 31 66 36</StringToSignBytes><CanonicalRequest>GET\n"
	"/my-media/path/to/file.mp4\n"
	"\n"
	"host:127.0.0.1:21030\n"
	"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
	"x-amz-date:20261128T191438Z\n"
	"\n"
	"host;x-amz-content-sha256;x-amz-date\n"
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</CanonicalRequest><CanonicalRequestBytes>47 45 54 0a 2f 6d 79 2d 6d 65 64 69 61 2f 70 61 74 68 2f 74 6f 2f 66 69 6c 65 2e 6d 70 34 0a 0a 68 6f 73 74 3a 31 32 37 2e 30 2e 30 2e 31 3a 32 31 30 33 30 0a 78 2d 61 6d 7a 2d 63 6f 6e 74 65 6e 74 2d 73 68 61 32 35 36 3a 65 33 62 30 63 34 34 32 39 38 66 63 31 63 31 34 39 61 66 62 66 34 63 38 39 39 36 66 62 39 32 34 32 37 61 65 34 31 65 34 36 34 39 62 39 33 34 63 61 34 39 35 39 39 31 62 37 38 35 32 62 38 35 35 0a 78 2d 61 6d 7a 2d 64 61 74 65 3a 32 30 32 36 31 31 32 38 54 31 39 31 34 33 38 5a 0a 0a 68 6f 73 74 3b 78 2d 61 6d 7a 2d 63 6f 6e 74 65 6e 74 2d 73 68 61 32 35 36 3b 78 2d 61 6d 7a 2d 64 61 74 65 0a 65 33 62 30 63 34 34 32 39 38 66 63 31 63 31 34 39 61 66 62 66 34 63 38 39 39 36 66 62 39 32 34 32 37 61 65 34 31 65 34 36 34 39 62 39 33 34 63 61 34 39 35 39 39 31 62 37 38 35 32 62 38 35 35</CanonicalRequestBytes></Error>"
;

static const char swift_region[] =
	"<?xml version='1.0' encoding='UTF-8'?>\n"
	"<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'eu-central-1' is wrong; expecting 'us-east-1'</Message><RequestId>tx6afcb0a9b1504ef1b273e-006b0b2818</RequestId><Region>us-east-1</Region></Error>";

static const char swift_nokey[] =
	"<?xml version='1.0' encoding='UTF-8'?>\n"
	"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>txa3eba34d9e674aff8c38a-006b0b2818</RequestId><Key>path/to/File.mp4</Key></Error>";

static const char swift_nobucket[] =
	"<?xml version='1.0' encoding='UTF-8'?>\n"
	"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message><RequestId>tx6a14764f0ce340a184c1b-006b0b2818</RequestId><BucketName>nobucket</BucketName></Error>";

/* Swift's native API answering a request without Authorization. */
static const char swift_noauth_html[] =
	"<html><h1>Bad Request</h1><p>The server could not comply with the request since it is either malformed or otherwise incorrect.</p></html>";

/* AWS S3 documents (S3 API Reference, "Error responses" and the codes' pages). */
static const char aws_denied[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Error>\n  <Code>AccessDenied</Code>\n  <Message>Access Denied</Message>\n"
	"  <RequestId>4442587FB7D0A2F9</RequestId>\n  <HostId>abc=</HostId>\n</Error>";

static const char aws_invalid_arg[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Error><Code>InvalidArgument</Code><Message>Authorization header is invalid -- one and only one ' ' (space) required</Message>"
	"<ArgumentName>Authorization</ArgumentName><ArgumentValue>AWS4</ArgumentValue><RequestId>R</RequestId></Error>";

static const char aws_skew[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message>"
	"<RequestTime>20200101T000000Z</RequestTime><ServerTime>2026-11-28T19:14:32Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>";

static const char aws_redirect[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message>"
	"<Endpoint>my-media.s3.eu-central-1.amazonaws.com</Endpoint><Bucket>my-media</Bucket><RequestId>R</RequestId></Error>";

static const char aws_badkey[] =
	"<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId></Error>";

static const char aws_token[] =
	"<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";

static const char aws_5xx[] =
	"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

static struct s3err_result r;   /* 40 KiB: static, not on the stack */

static void test_swift_bodies(void)
{
	CHECK_EQ_INT(s3err_parse(403, NULL, 0, swift_sig, strlen(swift_sig), 0, &r), 0);
	CHECK(r.xml);
	CHECK(!r.html);
	CHECK(!r.truncated);
	CHECK_EQ_INT(r.code, S3ERR_CODE_SIGNATURE_DOES_NOT_MATCH);
	CHECK_EQ_INT(r.verdict, S3ERR_V_SIGNATURE);
	CHECK_EQ_STR(r.f.code, "SignatureDoesNotMatch");
	CHECK(strncmp(r.f.string_to_sign, "AWS4-HMAC-SHA256\n", 17) == 0);
	CHECK(strncmp(r.f.canonical_request, "GET\n/my-media/path/to/file.mp4\n\nhost:", 36) == 0);
	CHECK(strstr(r.f.canonical_request, "\nhost;x-amz-content-sha256;x-amz-date\n") != NULL);
	CHECK(strncmp(r.f.request_id, "tx", 2) == 0);
	CHECK_EQ_STR(s3err_advice(r.verdict)->fix,
		     "Re-enter the secret access key; check the region is correct for the bucket");

	s3err_parse(400, NULL, 0, swift_region, strlen(swift_region), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_REGION);
	CHECK_EQ_STR(r.f.region, "us-east-1");

	s3err_parse(404, NULL, 0, swift_nokey, strlen(swift_nokey), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_NO_SUCH_KEY);
	CHECK_EQ_STR(r.f.key, "path/to/File.mp4");
	CHECK(strstr(s3err_advice(r.verdict)->fix, "case matters") != NULL);

	s3err_parse(404, NULL, 0, swift_nobucket, strlen(swift_nobucket), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_NO_SUCH_BUCKET);
	CHECK_EQ_STR(r.f.bucket, "nobucket");
	CHECK(strstr(s3err_advice(r.verdict)->fix, "Path mapping") != NULL);
}

static void test_html(void)
{
	struct http1_header ct = { "Content-Type", "text/html; charset=UTF-8", 12, 24 };

	s3err_parse(400, &ct, 1, swift_noauth_html, strlen(swift_noauth_html), 0, &r);
	CHECK(r.html);
	CHECK(!r.xml);
	CHECK_EQ_INT(r.code, S3ERR_CODE_NONE);
	CHECK_EQ_INT(r.verdict, S3ERR_V_NO_AUTH);
	CHECK(strstr(s3err_advice(r.verdict)->fix, "SigV4 toggle") != NULL);

	/* HTML without a Content-Type, on another status: a front layer. */
	s3err_parse(403, NULL, 0, "\r\n <!DOCTYPE html><html>nope</html>", 34, 0, &r);
	CHECK(r.html);
	CHECK_EQ_INT(r.verdict, S3ERR_V_FRONT_LAYER);
	CHECK(strstr(s3err_advice(r.verdict)->meaning, "layer in front of S3") != NULL);

	/* 421 wins over the body. */
	s3err_parse(421, &ct, 1, swift_noauth_html, strlen(swift_noauth_html), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_MISDIRECTED);
	CHECK(strstr(s3err_advice(r.verdict)->fix, "eu.r2.cloudflarestorage.com") != NULL);
}

static void test_aws_bodies(void)
{
	struct http1_header loc = { "x-amz-bucket-region", "eu-central-1", 19, 12 };

	s3err_parse(403, NULL, 0, aws_denied, strlen(aws_denied), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_ACCESS_DENIED);
	CHECK_EQ_STR(r.f.message, "Access Denied");
	CHECK_EQ_STR(r.f.request_id, "4442587FB7D0A2F9");

	s3err_parse(400, NULL, 0, aws_invalid_arg, strlen(aws_invalid_arg), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_NO_AUTH);
	CHECK_EQ_STR(r.f.argument_name, "Authorization");

	s3err_parse(403, NULL, 0, aws_skew, strlen(aws_skew), -2190000, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_CLOCK_SKEW);
	CHECK_EQ_STR(r.f.server_time, "2026-11-28T19:14:32Z");
	CHECK_EQ_INT(r.clock_skew_s, -2190000);

	s3err_parse(301, &loc, 1, aws_redirect, strlen(aws_redirect), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_REDIRECT);
	CHECK_EQ_STR(r.f.endpoint, "my-media.s3.eu-central-1.amazonaws.com");
	CHECK_EQ_STR(r.f.bucket, "my-media");
	CHECK_EQ_STR(r.f.region, "eu-central-1");

	/* A HEAD answer: no body, only the status and the region header. */
	s3err_parse(307, &loc, 1, NULL, 0, 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_REDIRECT);
	CHECK_EQ_STR(r.f.region, "eu-central-1");

	s3err_parse(403, NULL, 0, aws_badkey, strlen(aws_badkey), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_ACCESS_KEY);
	s3err_parse(400, NULL, 0, aws_token, strlen(aws_token), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_TOKEN);
	s3err_parse(503, NULL, 0, aws_5xx, strlen(aws_5xx), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_ORIGIN_5XX);
	CHECK_EQ_INT(r.code, S3ERR_CODE_SLOW_DOWN);
	s3err_parse(200, NULL, 0, "ok", 2, 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_OK);
	s3err_parse(206, NULL, 0, NULL, 0, 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_OK);
	/* A HEAD 403/404 without a body: nothing to tell apart. */
	s3err_parse(404, NULL, 0, NULL, 0, 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_OTHER);
	/* An unknown code is counted as Other but its text is kept. */
	s3err_parse(400, NULL, 0, "<Error><Code>NotThere</Code></Error>", 36, 0, &r);
	CHECK_EQ_INT(r.code, S3ERR_CODE_OTHER);
	CHECK_EQ_STR(r.f.code, "NotThere");
	CHECK_EQ_INT(r.verdict, S3ERR_V_OTHER);
	/* InvalidArgument about something else is not "no credentials". */
	s3err_parse(400, NULL, 0, "<Error><Code>InvalidArgument</Code><ArgumentName>x-amz-date</ArgumentName></Error>", 82, 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_OTHER);
}

static void test_region_from_message(void)
{
	static const char b[] = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'auto' is wrong; expecting 'eu-west-3'</Message></Error>";

	s3err_parse(400, NULL, 0, b, strlen(b), 0, &r);
	CHECK_EQ_INT(r.verdict, S3ERR_V_REGION);
	CHECK_EQ_STR(r.f.region, "eu-west-3");
}

static void test_entities(void)
{
	char out[64];

	CHECK_EQ_INT(s3err_tag("<K>a&amp;b&lt;&gt;&quot;&apos;</K>", 34, "K", out, sizeof(out)), 7);
	CHECK_EQ_STR(out, "a&b<>\"'");
	CHECK(s3err_tag("<K>&#65;&#x42;&#X43;&#233;&#x1F600;</K>", 39, "K", out, sizeof(out)) > 0);
	CHECK_EQ_STR(out, "ABC\xc3\xa9\xf0\x9f\x98\x80");
	/* Bad or unknown entities are kept as written. */
	s3err_tag("<K>&bogus; & &#; &#xZZ; &#0; &#xD800; &#x110000; &amp</K>", 57, "K", out, sizeof(out));
	CHECK_EQ_STR(out, "&bogus; & &#; &#xZZ; &#0; &#xD800; &#x110000; &amp");
	/* Control characters never reach a terminal; LF and TAB stay. */
	s3err_tag("<K>a\x1b[31m\n\tb&#27;\x7f</K>", 22, "K", out, sizeof(out));
	CHECK_EQ_STR(out, "a?[31m\n\tb??");
	/* No partial tag-name match, empty element, missing end. */
	CHECK_EQ_INT(s3err_tag("<Keys>x</Keys><Key>y</Key>", 26, "Key", out, sizeof(out)), 1);
	CHECK_EQ_STR(out, "y");
	CHECK_EQ_INT(s3err_tag("<Key/><Key>y</Key>", 18, "Key", out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(s3err_tag("<Key>y", 6, "Key", out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(s3err_tag("", 0, "Key", out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(s3err_tag(NULL, 5, "Key", out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(s3err_tag("<K>x</K>", 8, "K", out, 0), -ENOSPC);
}

static void test_bounds(void)
{
	char out[4];
	static char huge[LIMIT_S3ERR_BODY_BYTES + 4096];
	size_t n;

	/* At the size (3 bytes + NUL) and one past it. */
	CHECK_EQ_INT(s3err_tag("<K>abc</K>", 10, "K", out, sizeof(out)), 3);
	CHECK_EQ_INT(s3err_tag("<K>abcd</K>", 11, "K", out, sizeof(out)), -ENOSPC);
	CHECK_EQ_STR(out, "abc");
	/* An entity that does not fit whole is cut before it. */
	CHECK_EQ_INT(s3err_tag("<K>ab&#233;</K>", 15, "K", out, sizeof(out)), -ENOSPC);
	CHECK_EQ_STR(out, "ab\xc3");

	/* A Message longer than its field: cut and said. */
	n = (size_t)snprintf(huge, sizeof(huge), "<Error><Code>AccessDenied</Code><Message>");
	memset(huge + n, 'm', LIMIT_S3ERR_FIELD_BYTES + 10);
	n += LIMIT_S3ERR_FIELD_BYTES + 10;
	n += (size_t)snprintf(huge + n, sizeof(huge) - n, "</Message></Error>");
	s3err_parse(403, NULL, 0, huge, n, 0, &r);
	CHECK(r.truncated);
	CHECK_EQ_INT(strlen(r.f.message), LIMIT_S3ERR_FIELD_BYTES - 1);
	CHECK_EQ_INT(r.verdict, S3ERR_V_ACCESS_DENIED);

	/* A code past LIMIT_S3ERR_BODY_BYTES is not seen. */
	memset(huge, ' ', sizeof(huge));
	memcpy(huge, "<Error>", 7);
	memcpy(huge + LIMIT_S3ERR_BODY_BYTES - 40, "<Code>NoSuchKey</Code></Error>", 30);
	s3err_parse(404, NULL, 0, huge, LIMIT_S3ERR_BODY_BYTES, 0, &r);
	CHECK_EQ_INT(r.code, S3ERR_CODE_NO_SUCH_KEY);
	memmove(huge + LIMIT_S3ERR_BODY_BYTES - 20, huge + LIMIT_S3ERR_BODY_BYTES - 40, 30);
	memset(huge + LIMIT_S3ERR_BODY_BYTES - 40, ' ', 20);
	s3err_parse(404, NULL, 0, huge, sizeof(huge), 0, &r);
	CHECK_EQ_INT(r.code, S3ERR_CODE_NONE);
	CHECK_EQ_INT(r.verdict, S3ERR_V_OTHER);
}

static void test_garbage(void)
{
	static const char *const bad[] = {
		"<Error>", "<Error><Code>", "<Error><Code>NoSuchKey</Cod", "</Code><Code>",
		"<Code>NoSuchKey</Code>", "\0\0\0<Error>\0<Code>\0</Code>", "<<<<>>>>&&&&;;;;",
		"<Error><Code>&#x41;ccessDenied</Code></Error>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(s3err_parse(403, NULL, 0, bad[i], strlen(bad[i]) + (i == 5 ? 20 : 0), 0, &r), 0);
	/* The last one names AccessDenied through an entity. */
	CHECK_EQ_INT(r.code, S3ERR_CODE_ACCESS_DENIED);
	/* <Code> outside <Error> does not count. */
	s3err_parse(404, NULL, 0, bad[4], strlen(bad[4]), 0, &r);
	CHECK(!r.xml);
	CHECK_EQ_INT(r.code, S3ERR_CODE_NONE);
	/* Random bytes: no crash, no read past the end (ASan watches). */
	{
		static char rnd[4096];
		unsigned s = 12345;

		for (int round = 0; round < 200; round++) {
			size_t len = (size_t)(s % sizeof(rnd));
			char *b = malloc(len ? len : 1);

			for (size_t i = 0; i < len; i++) {
				s = s * 1103515245u + 12345u;
				rnd[i] = "<>/&#;xCodeEr0r"[(s >> 16) % 15];
			}
			memcpy(b, rnd, len);
			CHECK_EQ_INT(s3err_parse(400, NULL, 0, b, len, 0, &r), 0);
			free(b);
		}
	}
	CHECK_EQ_INT(s3err_parse(400, NULL, 0, NULL, 0, 0, NULL), -EINVAL);
}

static void test_names(void)
{
	CHECK_EQ_STR(s3err_code_name(S3ERR_CODE_NO_SUCH_KEY), "NoSuchKey");
	CHECK_EQ_STR(s3err_code_name(S3ERR_CODE_NONE), "unparsed");
	CHECK_EQ_STR(s3err_code_name((enum s3err_code)999), "Other");
	for (int c = 0; c < S3ERR_CODE__COUNT; c++)      /* each a counter's name */
		CHECK(s3err_code_name((enum s3err_code)c)[0] != '\0');
	for (int c = S3ERR_CODE_ACCESS_DENIED; c < S3ERR_CODE__COUNT; c++) {
		const char *n = s3err_code_name((enum s3err_code)c);

		CHECK_EQ_INT(s3err_code_from_name(n, strlen(n)), c);
	}
	CHECK_EQ_INT(s3err_code_from_name("nosuchkey", 9), S3ERR_CODE_OTHER);
	CHECK_EQ_INT(s3err_code_from_name("", 0), S3ERR_CODE_NONE);
	for (int v = 0; v < S3ERR_V__COUNT; v++) {
		const struct s3err_advice *a = s3err_advice((enum s3err_verdict)v);

		CHECK(a->name && a->meaning && a->fix && a->name[0] && a->meaning[0]);
	}
	CHECK_EQ_STR(s3err_advice((enum s3err_verdict)-1)->name, "other");
	CHECK_EQ_STR(s3err_advice(S3ERR_V_UNREACHABLE)->fix,
		     "Check your provider's status page; verify the endpoint URL");
	CHECK_EQ_INT(s3err_classify(500, S3ERR_CODE_NO_SUCH_KEY, false, false), S3ERR_V_ORIGIN_5XX);
	CHECK_EQ_INT(s3err_classify(403, S3ERR_CODE_NONE, false, false), S3ERR_V_OTHER);
}

/* ---- masking the session token in a passed-through body ----------------- */

static const char mask_token[] = "FwoGZXIvYXdzEXAMPLE+token/with=base64//chars";

/* A SignatureDoesNotMatch body echoing the token in both forms. */
static size_t mask_body(char *out, size_t cap, char *expect)
{
	char hex[3 * sizeof(mask_token)];
	size_t h = 0;
	for (size_t i = 0; mask_token[i]; i++)
		h += (size_t)snprintf(hex + h, sizeof(hex) - h, i ? " %02X" : "%02x",
				      (unsigned char)mask_token[i]);
	int n = snprintf(out, cap, "<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>"
			 "GET\n/b/k\nx-amz-security-token:%s\n</CanonicalRequest>"
			 "<CanonicalRequestBytes>47 45 54 0a %s 0a</CanonicalRequestBytes></Error>",
			 mask_token, hex);
	memcpy(expect, out, (size_t)n);
	memset(strstr(expect, mask_token), '*', strlen(mask_token));
	char *x = expect + (strstr(out, hex) - out);
	memset(x, '*', h);
	return (size_t)n;
}

static void test_mask(void)
{
	char body[1024], expect[1024], work[1024];
	size_t n = mask_body(body, sizeof(body), expect);
	struct s3err_masker m;

	/* whole, then cut once at every point, then in pieces of every size */
	for (size_t cut = 0; cut <= n; cut++) {
		for (size_t piece = 1; piece <= n; piece = piece < 8 ? piece + 1 : piece * 2) {
			memcpy(work, body, n);
			s3err_mask_init(&m, mask_token);
			if (piece == 1 && cut > 0) {        /* one cut */
				s3err_mask(&m, work, cut);
				s3err_mask(&m, work + cut, n - cut);
			} else {
				for (size_t at = 0; at < n; at += piece)
					s3err_mask(&m, work + at, at + piece < n ? piece : n - at);
			}
			bool only_stars = true;
			size_t extra = 0;
			for (size_t i = 0; i < n; i++) {
				if (work[i] == expect[i])
					continue;
				extra++;
				only_stars &= work[i] == '*';
			}
			CHECK(memmem(work, n, mask_token, strlen(mask_token)) == NULL);
			CHECK(memmem(work, n, "46 77 6f 47", 11) == NULL);   /* "FwoG" in hex */
			CHECK(only_stars);
			CHECK(extra <= 3 * strlen(mask_token));
			if (cut == 0 && piece >= n)
				CHECK(memcmp(work, expect, n) == 0);     /* one piece: exact */
		}
	}
	/* A token with a border ("abXab") occurring twice, overlapping: both
	 * occurrences all '*', cut anywhere (found by fuzz_s3mask). */
	static const char border[] = "..abXabXab..abXab!";
	for (size_t cut = 0; cut <= sizeof(border) - 1; cut++) {
		memcpy(work, border, sizeof(border) - 1);
		s3err_mask_init(&m, "abXab");
		s3err_mask(&m, work, cut);
		s3err_mask(&m, work + cut, sizeof(border) - 1 - cut);
		CHECK(memcmp(work, "..********..*****!", sizeof(border) - 1) == 0);
	}
	/* no token: nothing changes */
	memcpy(work, body, n);
	s3err_mask_init(&m, "");
	s3err_mask(&m, work, n);
	CHECK(memcmp(work, body, n) == 0);
}

int main(void)
{
	test_mask();
	test_swift_bodies();
	test_html();
	test_aws_bodies();
	test_region_from_message();
	test_entities();
	test_bounds();
	test_garbage();
	test_names();
	return check_exit();
}
