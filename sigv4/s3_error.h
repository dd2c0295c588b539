/*
 * sigv4/s3_error.h — what an S3 origin's error answer means, in the words of
 * the user guide's "Common errors and what they mean" table
 * (shared/seed/s3-origin-auth.txt).
 *
 * Owns: the counter block of S3 error codes (s3err_counters). s3err_parse fills a caller-provided struct with
 * fixed-size fields copied out of the body (the body can be freed after).
 * It reads the S3 XML error document with a tiny bounded tag extractor —
 * first <Tag>...</Tag> inside <Error>, entities unescaped — not a general
 * XML parser: no DTD, no namespaces, no nesting, no allocation.
 * Called by: any thread. Shards count origin failures by s3err_code and log
 * the verdict's words; `edgecache check-origin` prints all of it.
 * Never: allocates, blocks, logs, reads the clock (the caller measures the
 * clock skew), or looks past LIMIT_S3ERR_BODY_BYTES of the body.
 */
#ifndef EDGECACHE_SIGV4_S3_ERROR_H
#define EDGECACHE_SIGV4_S3_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/limits.h"
#include "core/http_msg.h"

/* The S3 <Code> values we count apart; the rest is S3ERR_CODE_OTHER. */
enum s3err_code {
	S3ERR_CODE_NONE = 0,            /* no S3 XML error document */
	S3ERR_CODE_OTHER,               /* a <Code> not in this list */
	S3ERR_CODE_ACCESS_DENIED,
	S3ERR_CODE_SIGNATURE_DOES_NOT_MATCH,
	S3ERR_CODE_AUTHORIZATION_HEADER_MALFORMED,
	S3ERR_CODE_INVALID_ARGUMENT,
	S3ERR_CODE_NO_SUCH_BUCKET,
	S3ERR_CODE_INVALID_BUCKET_NAME,
	S3ERR_CODE_NO_SUCH_KEY,
	S3ERR_CODE_REQUEST_TIME_TOO_SKEWED,
	S3ERR_CODE_PERMANENT_REDIRECT,
	S3ERR_CODE_TEMPORARY_REDIRECT,
	S3ERR_CODE_INVALID_ACCESS_KEY_ID,
	S3ERR_CODE_EXPIRED_TOKEN,
	S3ERR_CODE_INVALID_TOKEN,
	S3ERR_CODE_INVALID_RANGE,
	S3ERR_CODE_PRECONDITION_FAILED,
	S3ERR_CODE_INTERNAL_ERROR,
	S3ERR_CODE_SLOW_DOWN,
	S3ERR_CODE_SERVICE_UNAVAILABLE,
	S3ERR_CODE__COUNT
};

/* Origin errors counted by code (S3ERR_CODE_NONE: an error answer with no
 * readable <Code>, counted as s3_error_unparsed): s3_error_<Code> in
 * counters_file, s3_errors_total{code=} in /metrics. Code c is counter c
 * (COUNT_IN). A conditional request's 304 or 412 is no error: the caller
 * never counts it here (edge/origin.c). */
struct counters_block;
extern struct counters_block s3err_counters;

/* What to tell the user: one row of the guide's table each. */
enum s3err_verdict {
	S3ERR_V_OK = 0,                 /* 2xx */
	S3ERR_V_ACCESS_DENIED,          /* 403 AccessDenied */
	S3ERR_V_SIGNATURE,              /* 403 SignatureDoesNotMatch */
	S3ERR_V_REGION,                 /* 400 AuthorizationHeaderMalformed */
	S3ERR_V_NO_AUTH,                /* 400 InvalidArgument: Authorization; 400 HTML */
	S3ERR_V_NO_SUCH_BUCKET,         /* 404 NoSuchBucket, 400 InvalidBucketName */
	S3ERR_V_NO_SUCH_KEY,            /* 404 NoSuchKey */
	S3ERR_V_MISDIRECTED,            /* 421 */
	S3ERR_V_CLOCK_SKEW,             /* 403 RequestTimeTooSkewed */
	S3ERR_V_REDIRECT,               /* 301/307 Permanent/TemporaryRedirect */
	S3ERR_V_ACCESS_KEY,             /* 403 InvalidAccessKeyId */
	S3ERR_V_TOKEN,                  /* ExpiredToken, InvalidToken */
	S3ERR_V_ORIGIN_5XX,             /* 5xx */
	S3ERR_V_FRONT_LAYER,            /* HTML error body from a layer before S3 */
	S3ERR_V_UNREACHABLE,            /* no answer at all (the guide's 503) */
	S3ERR_V_OTHER,                  /* any other refusal */
	S3ERR_V__COUNT
};

/* A verdict's words: static strings, never NULL. */
struct s3err_advice {
	const char *name;               /* counter / log name: "signature" */
	const char *meaning;            /* the guide's "Meaning" column */
	const char *fix;                /* the guide's "Fix" column */
};

/* The fields of an S3 <Error> document; "" when absent. Each is
 * NUL-terminated; control bytes other than LF and TAB become '?'. */
struct s3err_fields {
	char code[LIMIT_S3ERR_TOKEN_BYTES];
	char message[LIMIT_S3ERR_FIELD_BYTES];
	char region[LIMIT_S3ERR_TOKEN_BYTES];
	char endpoint[LIMIT_S3ERR_FIELD_BYTES];
	char bucket[LIMIT_S3ERR_FIELD_BYTES];
	char key[LIMIT_S3ERR_FIELD_BYTES];
	char request_id[LIMIT_S3ERR_TOKEN_BYTES];
	char server_time[LIMIT_S3ERR_TOKEN_BYTES];
	char argument_name[LIMIT_S3ERR_TOKEN_BYTES];
	char string_to_sign[LIMIT_S3ERR_TEXT_BYTES];
	char canonical_request[LIMIT_S3ERR_TEXT_BYTES];
};

struct s3err_result {
	uint16_t status;
	enum s3err_code code;
	enum s3err_verdict verdict;
	bool xml;                       /* the body held an S3 <Error> document */
	bool html;                      /* the body (or Content-Type) was HTML */
	bool truncated;                 /* a field was cut to its size */
	int64_t clock_skew_s;           /* as passed in: server - local */
	struct s3err_fields f;
};

/*
 * Examine one origin response: `status`, its parsed headers (may be NULL
 * with n_headers 0) and the body bytes read so far (may be NULL/0, as for
 * HEAD). `clock_skew_s` is the server's Date minus local time, measured
 * by the caller (0 if unknown); it is only stored. When the body has no
 * <Region>, it is taken from the AuthorizationHeaderMalformed message
 * ("expecting 'us-east-1'") or the x-amz-bucket-region header. Returns 0,
 * or -EINVAL if out is NULL.
 */
int s3err_parse(uint16_t status, const struct http1_header *headers,
		size_t n_headers, const char *body, size_t body_len,
		int64_t clock_skew_s, struct s3err_result *out);

/*
 * The verdict for a status, a code and whether the body was HTML — the
 * pure core of s3err_parse, for callers that only know the code (a shard
 * counting). `argument_is_authorization`: an InvalidArgument named the
 * Authorization argument.
 */
enum s3err_verdict s3err_classify(uint16_t status, enum s3err_code code,
				  bool html, bool argument_is_authorization);

/* "SignatureDoesNotMatch" for a code; "unparsed" for NONE, "Other" for
 * OTHER: never empty (each is a counter's name). */
const char *s3err_code_name(enum s3err_code code);

/* The code whose name is s[0..len) (exact case), else S3ERR_CODE_OTHER;
 * len 0 → S3ERR_CODE_NONE. */
enum s3err_code s3err_code_from_name(const char *s, size_t len);

/* The words of a verdict; out-of-range values give S3ERR_V_OTHER's. */
const struct s3err_advice *s3err_advice(enum s3err_verdict v);

/*
 * The bounded tag extractor: find the first "<tag>" in body[0..len) and
 * copy what precedes the next "</tag>" into out (cap > 0), unescaping
 * &amp; &lt; &gt; &quot; &apos; &#N; &#xH; (an unknown or bad entity is
 * copied as is) and NUL-terminating. "<tag/>" is an empty value. Returns
 * the unescaped length written, -ENOENT if the tag or its end is missing,
 * -ENOSPC if the value did not fit (out then holds the cut prefix).
 */
ssize_t s3err_tag(const char *body, size_t len, const char *tag,
		  char *out, size_t cap);

/*
 * Masking a secret in an error body that passes through to a visitor.
 * An S3 SignatureDoesNotMatch document echoes the request it checked
 * (<CanonicalRequest>, and from AWS also <CanonicalRequestBytes> as
 * space-separated hex), which holds the signed X-Amz-Security-Token: the
 * body goes to the visitor unchanged except that every occurrence of the
 * token, in either form, becomes '*' of the same length (framing and
 * Content-Length stay right). The body arrives in pieces, each sent on as
 * it comes, so a piece that ends with a prefix of the token has that
 * prefix masked on suspicion and the match goes on in the next piece: a
 * token cut by a piece boundary is masked on both sides. At worst a few
 * innocent bytes at a boundary become '*'; never a token byte leaks.
 */
enum { S3ERR_MASK_TEXT, S3ERR_MASK_HEX, S3ERR_MASK__FORMS };

struct s3err_masker {
	const char *secret;             /* NUL-terminated; "" masks nothing */
	size_t len;
	uint32_t matched[S3ERR_MASK__FORMS];    /* carried from the last piece */
};

void s3err_mask_init(struct s3err_masker *m, const char *secret);
/* Mask p[0..n), the next piece of the body, in place. */
void s3err_mask(struct s3err_masker *m, char *p, size_t n);

#endif /* EDGECACHE_SIGV4_S3_ERROR_H */
