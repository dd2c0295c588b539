/*
 * sigv4/sigv4.h — AWS Signature Version 4 for S3 origin requests.
 *
 * Owns: struct sigv4_creds — a copy of one credential set (access key,
 * secret, region, service, optional session token) and the signing keys
 * derived from it for two UTC days (kept as keyed HMAC state). Secrets
 * and keys are wiped by sigv4_creds_wipe and never printed by this module.
 * Called by: any thread. Signing only reads the creds; deriving keys
 * (sigv4_creds_init / sigv4_creds_roll) writes them, so a creds struct
 * that shards sign from is prepared first and then only read (the
 * credential snapshot in core/ does that).
 * Never: does I/O, allocates, or reads the clock (callers pass the time).
 *
 * The S3 rules (see tests/data/sigv4/README.md, "S3 relevance"):
 * the canonical URI is the decoded path percent-encoded exactly once
 * (everything but A-Z a-z 0-9 - . _ ~ / becomes %XX, upper-case hex), with
 * no normalisation of "//", "." or "..". The edge sends that same encoding
 * on the wire, so what is signed is what is sent.
 */
#ifndef EDGECACHE_SIGV4_SIGV4_H
#define EDGECACHE_SIGV4_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/limits.h"

/* Input bounds: the rows of core/limits.h (one value each, tested there). */
#define SIGV4_ACCESS_KEY_MAX     LIMIT_ACCESS_KEY_BYTES
#define SIGV4_SECRET_MAX         LIMIT_SECRET_BYTES
#define SIGV4_REGION_MAX         LIMIT_REGION_BYTES
#define SIGV4_SERVICE_MAX        LIMIT_SERVICE_BYTES
#define SIGV4_TOKEN_MAX          LIMIT_SESSION_TOKEN_BYTES
#define SIGV4_AUTH_MAX           1024    /* Authorization header value */
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD   "UNSIGNED-PAYLOAD"
#define SIGV4_CREDS_MAGIC        0x53475634u   /* "SGV4" */
#define SIGV4_AMZ_DATE_LEN       16            /* 20150830T123600Z */

/*
 * Room for HMAC-SHA256 keyed with a day's kSigning, as wolfCrypt's SHA-256
 * states after the key's ipad and opad blocks. Bytes, not wc_Sha256, so
 * that this header (included everywhere) does not depend on how wolfSSL
 * was configured, which sets sizeof(wc_Sha256); sigv4.c checks at compile
 * time that the states fit.
 */
#define SIGV4_HMAC_STATE_BYTES   512

struct sigv4_day_key {
	uint32_t day;                    /* YYYYMMDD as a number, 0 = unset */
	/* HMAC already keyed with kSigning for that day: a signature copies
	 * it and hashes only the string to sign. As secret as the key. */
	_Alignas(16) unsigned char hmac[SIGV4_HMAC_STATE_BYTES];
};

struct sigv4_creds {
	uint32_t magic;
	char access_key[SIGV4_ACCESS_KEY_MAX + 1];
	char secret[SIGV4_SECRET_MAX + 1];
	char region[SIGV4_REGION_MAX + 1];
	char service[SIGV4_SERVICE_MAX + 1];
	char session_token[SIGV4_TOKEN_MAX + 1];   /* "" = none */
	struct sigv4_day_key keys[2];    /* the day of `now` and the next */
};

/* The UTC day of t as YYYYMMDD (20150830), or -EINVAL if its year is not
 * 1..9999 (an X-Amz-Date has four year digits). */
int64_t sigv4_day(time_t t);

/* One extra header to sign (and send). */
struct sigv4_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * Fill *c from the given strings and derive the keys for the UTC day of
 * `now` and the day after. region NULL or "" → "auto"; service NULL or ""
 * → "s3"; token NULL or "" → none. Returns 0, -EINVAL (empty access key
 * or secret, a value with a control character), or -ENAMETOOLONG.
 */
int sigv4_creds_init(struct sigv4_creds *c, const char *access_key,
		     const char *secret, const char *region,
		     const char *service, const char *token, time_t now);

/*
 * Make sure keys exist for the UTC day of `now` and the day after,
 * deriving only what is missing (at most once a day per creds). Returns
 * the number of keys derived (0, 1 or 2).
 */
int sigv4_creds_roll(struct sigv4_creds *c, time_t now);

/* Wipe secret, token and keys (explicit_bzero). */
void sigv4_creds_wipe(struct sigv4_creds *c);

/*
 * Percent-decode a visitor path (%XX, either case; '+' stays '+'). Returns
 * the decoded length, or -EINVAL for a bad escape (the edge answers 400),
 * -ENOSPC if `out` is too small. out may not alias in.
 */
ssize_t sigv4_uri_decode(const char *in, size_t len, char *out, size_t cap);

/*
 * Percent-encode a decoded path the S3 way (see above). Returns the
 * encoded length or -ENOSPC. Output is at most 3 × len.
 */
ssize_t sigv4_uri_encode_path(const char *in, size_t len, char *out, size_t cap);

/*
 * Canonical query string of a raw wire query (without '?'): split on '&'
 * (empty items dropped), each item at its first '=' (none → empty value),
 * name and value percent-decoded then encoded as for the path but with '/'
 * encoded too, sorted by name then value (bytewise), joined with '&'.
 * Returns the length written to out (not NUL-terminated), -EINVAL for a
 * bad escape, -ENOSPC if out or the stack scratch is too small or there
 * are more than LIMIT_SIGV4_QUERY_PARAMS items.
 */
ssize_t sigv4_canonical_query(const char *q, size_t len, char *out, size_t cap);

/* An S3 GET/HEAD to sign. Every pointer is borrowed for the call. */
struct sigv4_s3_request {
	const char *method;              /* "GET" or "HEAD" */
	const char *host;                /* Host header as sent (port kept if not default) */
	size_t host_len;
	const char *path;                /* canonical = wire path, already encoded */
	size_t path_len;
	const char *query;               /* raw wire query without '?'; NULL/0 = none */
	size_t query_len;
	const struct sigv4_header *extra;/* more headers to sign; may be NULL */
	size_t n_extra;
	bool unsigned_payload;           /* x-amz-content-sha256: UNSIGNED-PAYLOAD */
	time_t now;                      /* already corrected by any learned clock offset */
};

/* What the caller adds to the request: each a complete header value. */
struct sigv4_s3_signed {
	char amz_date[17];               /* X-Amz-Date: 20150830T123600Z */
	const char *payload_hash;        /* X-Amz-Content-SHA256 (static string) */
	char authorization[SIGV4_AUTH_MAX];
	size_t authorization_len;
	bool used_precomputed_key;       /* false = a key had to be derived now */
};

/* Optional copy of the intermediate texts, for `sign -v` and check-origin. */
struct sigv4_trace {
	char *canonical_request;         /* caller's buffer */
	size_t canonical_request_cap;
	size_t canonical_request_len;
	char *string_to_sign;
	size_t string_to_sign_cap;
	size_t string_to_sign_len;
};

/*
 * The generic signer under sigv4_s3_sign, also run by the AWS test
 * vectors (which sign arbitrary headers and mostly no content hash).
 * Every pointer is borrowed for the call; strings are NUL-terminated
 * unless a length is given.
 */
struct sigv4_request {
	const char *method;              /* any token, signed as given */
	const char *uri;                 /* canonical URI, signed as given */
	size_t uri_len;
	const char *query;               /* raw wire query; NULL/0 = none */
	size_t query_len;
	const struct sigv4_header *headers; /* all headers to sign, as sent */
	size_t n_headers;
	const char *payload_hash;        /* last line: hex SHA-256 or UNSIGNED-PAYLOAD */
	bool sign_content_sha256;        /* also sign x-amz-content-sha256: payload_hash */
	time_t now;                      /* gives X-Amz-Date and the key's day */
};

/*
 * Sign r with c. The signer adds x-amz-date, x-amz-content-sha256 (when
 * asked) and x-amz-security-token (when c has a token) to the signed
 * headers unless r->headers already has them with the same value (as in
 * AWS's documented examples); with another value it is -EINVAL. Header
 * names compare case-insensitively, values are trimmed and inner runs of
 * spaces/tabs collapsed, repeated names joined with ',' in order.
 * Returns 0 or -EINVAL (method not a token, header name not a token, a
 * control character in a value, an Authorization header, time out of
 * range), -ENOSPC (canonical request over LIMIT_SIGV4_CANONICAL_BYTES,
 * more than LIMIT_SIGV4_HEADERS headers, a trace or Authorization buffer
 * too small). out->payload_hash points at r->payload_hash.
 */
int sigv4_sign_request(const struct sigv4_creds *c, const struct sigv4_request *r,
		       struct sigv4_s3_signed *out, struct sigv4_trace *trace);

/* Hex SHA-256 of data into hex[65] (NUL-terminated): a payload hash. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/*
 * Sign r with c. Signed headers: host, x-amz-content-sha256, x-amz-date,
 * x-amz-security-token (when c has a token), and r->extra, sorted. The
 * key for the day of r->now is taken from c->keys when present (the
 * common case: one SHA-256 and one HMAC), else derived on the stack.
 * Returns 0, -EINVAL (bad method or header, an extra header named host,
 * or one the signer adds but with another value), -ENOSPC (a buffer or
 * a core/limits.h LIMIT_SIGV4_* bound too small).
 * A thin layer over sigv4_sign_request.
 */
int sigv4_s3_sign(const struct sigv4_creds *c, const struct sigv4_s3_request *r,
		  struct sigv4_s3_signed *out, struct sigv4_trace *trace);

#endif /* EDGECACHE_SIGV4_SIGV4_H */
