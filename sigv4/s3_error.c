/*
 * sigv4/s3_error.c — S3 error documents to verdicts. See s3_error.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "sigv4/s3_error.h"
#include "core/counters.h"

/* Indexed by enum s3err_code. */
static const char *const code_names[S3ERR_CODE__COUNT];

struct counters_block s3err_counters = {
	.prefix = "s3_error_", .names = code_names, .n = S3ERR_CODE__COUNT,
	.family = "s3_errors_total", .label = "code",
	.family_doc = "S3 origin errors by <Code>",
};

static const char *const code_names[S3ERR_CODE__COUNT] = {
	/* An error answer without a readable <Code> (no S3 document, an HTML
	 * page from a layer in front, a body cut short): a named bucket, so
	 * the counter is never the bare prefix `s3_error_`. */
	[S3ERR_CODE_NONE] = "unparsed",
	[S3ERR_CODE_OTHER] = "Other",
	[S3ERR_CODE_ACCESS_DENIED] = "AccessDenied",
	[S3ERR_CODE_SIGNATURE_DOES_NOT_MATCH] = "SignatureDoesNotMatch",
	[S3ERR_CODE_AUTHORIZATION_HEADER_MALFORMED] = "AuthorizationHeaderMalformed",
	[S3ERR_CODE_INVALID_ARGUMENT] = "InvalidArgument",
	[S3ERR_CODE_NO_SUCH_BUCKET] = "NoSuchBucket",
	[S3ERR_CODE_INVALID_BUCKET_NAME] = "InvalidBucketName",
	[S3ERR_CODE_NO_SUCH_KEY] = "NoSuchKey",
	[S3ERR_CODE_REQUEST_TIME_TOO_SKEWED] = "RequestTimeTooSkewed",
	[S3ERR_CODE_PERMANENT_REDIRECT] = "PermanentRedirect",
	[S3ERR_CODE_TEMPORARY_REDIRECT] = "TemporaryRedirect",
	[S3ERR_CODE_INVALID_ACCESS_KEY_ID] = "InvalidAccessKeyId",
	[S3ERR_CODE_EXPIRED_TOKEN] = "ExpiredToken",
	[S3ERR_CODE_INVALID_TOKEN] = "InvalidToken",
	[S3ERR_CODE_INVALID_RANGE] = "InvalidRange",
	[S3ERR_CODE_PRECONDITION_FAILED] = "PreconditionFailed",
	[S3ERR_CODE_INTERNAL_ERROR] = "InternalError",
	[S3ERR_CODE_SLOW_DOWN] = "SlowDown",
	[S3ERR_CODE_SERVICE_UNAVAILABLE] = "ServiceUnavailable",
};

/*
 * Indexed by enum s3err_verdict. Meaning and fix are the guide's table,
 * word for word where it has the row, so the edge's logs and counters
 * speak the same language as the documentation the user reads.
 */
static const struct s3err_advice advice[S3ERR_V__COUNT] = {
	[S3ERR_V_OK] = { "ok",
		"The origin accepted the request",
		"Nothing to fix" },
	[S3ERR_V_ACCESS_DENIED] = { "access_denied",
		"S3 received a valid signature but the credentials don't have permission on this bucket/object",
		"Check the bucket scope of the token and the resource permissions" },
	[S3ERR_V_SIGNATURE] = { "signature",
		"The signature math itself is wrong",
		"Re-enter the secret access key; check the region is correct for the bucket" },
	[S3ERR_V_REGION] = { "region",
		"The signature is scoped to a region the server does not serve",
		"Set s3_region to the region the server expects (the bucket's region; blank = auto for R2)" },
	[S3ERR_V_NO_AUTH] = { "no_auth",
		"Request reached S3 without auth — credentials were missing entirely",
		"Re-save the origin with credentials; verify SigV4 toggle is on (s3_auth_enabled)" },
	[S3ERR_V_NO_SUCH_BUCKET] = { "no_such_bucket",
		"The first path segment doesn't match any bucket in your account",
		"See \"Path mapping\": use the bucket as the first URL segment with base_path empty (Option A), or set base_path = /<bucket> (Option B)" },
	[S3ERR_V_NO_SUCH_KEY] = { "no_such_key",
		"Bucket is correct but the object doesn't exist at that path",
		"Verify the exact key in your bucket — case matters" },
	[S3ERR_V_MISDIRECTED] = { "misdirected",
		"Wrong jurisdiction endpoint, or wrong account ID in the URL (Cloudflare R2: 421 Misdirected Request)",
		"Use the endpoint of the bucket's jurisdiction (<account_id>.r2.cloudflarestorage.com or <account_id>.eu.r2.cloudflarestorage.com) and a token created for that jurisdiction" },
	[S3ERR_V_CLOCK_SKEW] = { "clock_skew",
		"The request time differs too much from the server's clock",
		"Fix this host's clock (NTP); S3 refuses signatures more than 15 minutes off" },
	[S3ERR_V_REDIRECT] = { "redirect",
		"The bucket is served by another endpoint / region",
		"Set the origin URL to the endpoint the server names and s3_region to the bucket's region" },
	[S3ERR_V_ACCESS_KEY] = { "access_key",
		"The server does not know this access key ID",
		"Check the access key ID (provider, account and jurisdiction)" },
	[S3ERR_V_TOKEN] = { "token",
		"The session token is expired or invalid",
		"Renew s3_session_token, or remove it when the keys are long-term" },
	[S3ERR_V_ORIGIN_5XX] = { "origin_5xx",
		"The origin itself failed (5xx)",
		"Check your provider's status page; retry later" },
	[S3ERR_V_FRONT_LAYER] = { "front_layer",
		"The error came from a layer in front of S3 (typically a routing / SNI mismatch — see the 421 case)",
		"Check the origin URL and the Host header (usually leave it blank)" },
	[S3ERR_V_UNREACHABLE] = { "unreachable",
		"Origin unreachable from the edge (the edge answers 503 Service Unavailable)",
		"Check your provider's status page; verify the endpoint URL" },
	[S3ERR_V_OTHER] = { "other",
		"The origin refused the request",
		"Read the S3 Code and Message the origin sent" },
};

const char *s3err_code_name(enum s3err_code code)
{
	if ((unsigned)code >= S3ERR_CODE__COUNT)
		code = S3ERR_CODE_OTHER;
	return code_names[code];
}

enum s3err_code s3err_code_from_name(const char *s, size_t len)
{
	if (len == 0)
		return S3ERR_CODE_NONE;
	for (int c = S3ERR_CODE_ACCESS_DENIED; c < S3ERR_CODE__COUNT; c++)
		if (strlen(code_names[c]) == len && memcmp(code_names[c], s, len) == 0)
			return (enum s3err_code)c;
	return S3ERR_CODE_OTHER;
}

const struct s3err_advice *s3err_advice(enum s3err_verdict v)
{
	if ((unsigned)v >= S3ERR_V__COUNT)
		v = S3ERR_V_OTHER;
	return &advice[v];
}

/* The verdict a known code gives on its own, else S3ERR_V__COUNT. */
static enum s3err_verdict code_verdict(enum s3err_code code, bool arg_auth)
{
	switch (code) {
	case S3ERR_CODE_ACCESS_DENIED: return S3ERR_V_ACCESS_DENIED;
	case S3ERR_CODE_SIGNATURE_DOES_NOT_MATCH: return S3ERR_V_SIGNATURE;
	case S3ERR_CODE_AUTHORIZATION_HEADER_MALFORMED: return S3ERR_V_REGION;
	case S3ERR_CODE_INVALID_ARGUMENT:
		return arg_auth ? S3ERR_V_NO_AUTH : S3ERR_V_OTHER;
	case S3ERR_CODE_NO_SUCH_BUCKET:
	case S3ERR_CODE_INVALID_BUCKET_NAME: return S3ERR_V_NO_SUCH_BUCKET;
	case S3ERR_CODE_NO_SUCH_KEY: return S3ERR_V_NO_SUCH_KEY;
	case S3ERR_CODE_REQUEST_TIME_TOO_SKEWED: return S3ERR_V_CLOCK_SKEW;
	case S3ERR_CODE_PERMANENT_REDIRECT:
	case S3ERR_CODE_TEMPORARY_REDIRECT: return S3ERR_V_REDIRECT;
	case S3ERR_CODE_INVALID_ACCESS_KEY_ID: return S3ERR_V_ACCESS_KEY;
	case S3ERR_CODE_EXPIRED_TOKEN:
	case S3ERR_CODE_INVALID_TOKEN: return S3ERR_V_TOKEN;
	case S3ERR_CODE_OTHER: return S3ERR_V_OTHER;
	default: return S3ERR_V__COUNT;
	}
}

enum s3err_verdict s3err_classify(uint16_t status, enum s3err_code code,
				  bool html, bool argument_is_authorization)
{
	enum s3err_verdict v;

	if (status >= 200 && status <= 299)
		return S3ERR_V_OK;
	/* Status-first rows: a 421 or a 5xx says where the trouble is
	 * whatever the body adds. */
	if (status == 421)
		return S3ERR_V_MISDIRECTED;
	if (status >= 500)
		return S3ERR_V_ORIGIN_5XX;
	v = code_verdict(code, argument_is_authorization);
	if (v != S3ERR_V__COUNT)
		return v;
	if (status == 301 || status == 307)
		return S3ERR_V_REDIRECT;
	/* Swift's s3api passes a request without Authorization to the
	 * native API, which answers 400 HTML: the "no credentials" row. */
	if (html && status == 400)
		return S3ERR_V_NO_AUTH;
	if (html)
		return S3ERR_V_FRONT_LAYER;
	return S3ERR_V_OTHER;
}

/* ---- the bounded tag extractor ----------------------------------------- */

static const char *find(const char *h, size_t hlen, const char *n, size_t nlen)
{
	return nlen <= hlen ? memmem(h, hlen, n, nlen) : NULL;
}

/* Append one byte; false when out is full (one byte kept for NUL). */
static bool put(char *out, size_t cap, size_t *n, unsigned char c)
{
	if (*n + 1 >= cap)
		return false;
	/* A diagnosis is printed to a terminal and logs: no escape
	 * sequences from the origin, but canonical requests keep their LFs. */
	out[(*n)++] = (char)((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c);
	return true;
}

/* UTF-8 for code point cp into u[4]; 0 if cp is not a scalar value. */
static size_t utf8(uint32_t cp, unsigned char u[4])
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | cp >> 18);
	u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* "&#N;" / "&#xH;" body (between '#' and ';') to a code point; 0 = bad. */
static uint32_t numeric_ref(const char *s, size_t len)
{
	bool hex = len > 0 && (s[0] == 'x' || s[0] == 'X');
	uint32_t cp = 0;
	size_t i = hex;

	if (i == len || len - i > 8)
		return 0;
	for (; i < len; i++) {
		int d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return 0;
		cp = cp * (hex ? 16 : 10) + (uint32_t)d;
	}
	return cp;
}

/*
 * The entity at s[0] == '&' (s[0..len)): writes its bytes to u, returns
 * how many input bytes it spans (0 = not an entity: copy '&' as is).
 */
static size_t entity(const char *s, size_t len, unsigned char u[4], size_t *ulen)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' },
		{ "quot", '"' }, { "apos", '\'' },
	};
	/* The longest entity we know is "&#x10FFFF;" (10 bytes). */
	const char *semi = memchr(s, ';', len < 12 ? len : 12);
	size_t body;

	if (!semi)
		return 0;
	body = (size_t)(semi - s) - 1;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == body && memcmp(s + 1, named[i].name, body) == 0) {
			u[0] = (unsigned char)named[i].c;
			*ulen = 1;
			return body + 2;
		}
	if (body >= 2 && s[1] == '#') {
		size_t n = utf8(numeric_ref(s + 2, body - 1), u);

		if (n == 0)
			return 0;
		*ulen = n;
		return body + 2;
	}
	return 0;
}

/* Unescape v[0..len) into out; -ENOSPC when cut. */
static ssize_t unescape(const char *v, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len;) {
		unsigned char u[4];
		size_t ulen = 1, span = v[i] == '&' ? entity(v + i, len - i, u, &ulen) : 0;

		if (span == 0) {
			u[0] = (unsigned char)v[i];
			span = 1;
		}
		for (size_t k = 0; k < ulen; k++)
			if (!put(out, cap, &n, u[k])) {
				out[n] = '\0';
				return -ENOSPC;
			}
		i += span;
	}
	out[n] = '\0';
	return (ssize_t)n;
}

ssize_t s3err_tag(const char *body, size_t len, const char *tag,
		  char *out, size_t cap)
{
	char open[LIMIT_S3ERR_TOKEN_BYTES], close[LIMIT_S3ERR_TOKEN_BYTES];
	int olen, clen;
	const char *v, *empty, *end;

	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	if (!body)
		return -ENOENT;
	if (len > LIMIT_S3ERR_BODY_BYTES)
		len = LIMIT_S3ERR_BODY_BYTES;
	olen = snprintf(open, sizeof(open), "<%s>", tag);
	clen = snprintf(close, sizeof(close), "</%s>", tag);
	if (olen < 0 || clen < 0 || (size_t)clen >= sizeof(close))
		return -ENOENT;
	v = find(body, len, open, (size_t)olen);
	/* "<Tag/>" counts when it comes first. */
	open[olen - 1] = '/';
	empty = find(body, v ? (size_t)(v - body) : len, open, (size_t)olen);
	if (empty && empty[olen] == '>')
		return 0;
	if (!v)
		return -ENOENT;
	v += olen;
	end = find(v, len - (size_t)(v - body), close, (size_t)clen);
	if (!end)
		return -ENOENT;
	return unescape(v, (size_t)(end - v), out, cap);
}

/* ---- a whole response ---------------------------------------------------- */

static bool starts_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* HTML by Content-Type or by the first tag of the body. */
static bool is_html(const struct http1_header *h, size_t n, const char *body, size_t len)
{
	const struct http1_header *ct = h ? http1_find_header(h, n, "content-type") : NULL;

	if (ct && starts_ci(ct->value, ct->value_len, "text/html"))
		return true;
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')) {
		body++;
		len--;
	}
	return starts_ci(body, len, "<html") || starts_ci(body, len, "<!doctype html");
}

/* One field: truncation is remembered, absence is fine. */
static void field(struct s3err_result *r, const char *b, size_t len,
		  const char *tag, char *out, size_t cap)
{
	if (s3err_tag(b, len, tag, out, cap) == -ENOSPC)
		r->truncated = true;
}

/* "... expecting 'us-east-1'" (AWS and Swift word it so) → region. */
static void region_from_message(struct s3err_result *r)
{
	static const char key[] = "expecting '";
	const char *p = strstr(r->f.message, key), *q;

	if (!p)
		return;
	p += sizeof(key) - 1;
	q = strchr(p, '\'');
	if (q && q > p && (size_t)(q - p) < sizeof(r->f.region)) {
		memcpy(r->f.region, p, (size_t)(q - p));
		r->f.region[q - p] = '\0';
	}
}

static void region_from_header(struct s3err_result *r, const struct http1_header *h, size_t n)
{
	const struct http1_header *x = h ? http1_find_header(h, n, "x-amz-bucket-region") : NULL;

	if (x && x->value_len > 0 && x->value_len < sizeof(r->f.region)) {
		memcpy(r->f.region, x->value, x->value_len);
		r->f.region[x->value_len] = '\0';
	}
}

/* The <Error> element's fields; the body before "<Error>" is ignored. */
static void parse_xml(struct s3err_result *r, const char *body, size_t len)
{
	const char *e = find(body, len, "<Error>", 7);
	struct s3err_fields *f = &r->f;

	if (!e)
		return;
	len -= (size_t)(e - body);
	r->xml = true;
	field(r, e, len, "Code", f->code, sizeof(f->code));
	field(r, e, len, "Message", f->message, sizeof(f->message));
	field(r, e, len, "Region", f->region, sizeof(f->region));
	field(r, e, len, "Endpoint", f->endpoint, sizeof(f->endpoint));
	field(r, e, len, "BucketName", f->bucket, sizeof(f->bucket));
	if (!f->bucket[0])
		field(r, e, len, "Bucket", f->bucket, sizeof(f->bucket));
	field(r, e, len, "Key", f->key, sizeof(f->key));
	field(r, e, len, "RequestId", f->request_id, sizeof(f->request_id));
	field(r, e, len, "ServerTime", f->server_time, sizeof(f->server_time));
	field(r, e, len, "ArgumentName", f->argument_name, sizeof(f->argument_name));
	field(r, e, len, "StringToSign", f->string_to_sign, sizeof(f->string_to_sign));
	field(r, e, len, "CanonicalRequest", f->canonical_request,
	      sizeof(f->canonical_request));
	r->code = s3err_code_from_name(f->code, strlen(f->code));
}

int s3err_parse(uint16_t status, const struct http1_header *headers,
		size_t n_headers, const char *body, size_t body_len,
		int64_t clock_skew_s, struct s3err_result *out)
{
	bool arg_auth;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->status = status;
	out->clock_skew_s = clock_skew_s;
	if (!body)
		body_len = 0;
	if (body_len > LIMIT_S3ERR_BODY_BYTES)
		body_len = LIMIT_S3ERR_BODY_BYTES;
	if (body_len)
		parse_xml(out, body, body_len);
	out->html = !out->xml && is_html(headers, n_headers, body, body_len);
	if (!out->f.region[0] && out->code == S3ERR_CODE_AUTHORIZATION_HEADER_MALFORMED)
		region_from_message(out);
	if (!out->f.region[0])
		region_from_header(out, headers, n_headers);
	arg_auth = strcasecmp(out->f.argument_name, "Authorization") == 0 ||
		   (!out->f.argument_name[0] && strstr(out->f.message, "Authorization"));
	out->verdict = s3err_classify(status, out->code, out->html, arg_auth);
	return 0;
}

/* ---- masking a secret in a passed-through body -------------------------- */

/* Byte j of the secret in a form: itself, or "hh hh hh" (lower-case hex). */
static char mask_pat(const struct s3err_masker *m, int form, size_t j)
{
	static const char hex[] = "0123456789abcdef";

	if (form == S3ERR_MASK_TEXT)
		return m->secret[j];
	unsigned char b = (unsigned char)m->secret[j / 3];
	switch (j % 3) {
	case 0: return hex[b >> 4];
	case 1: return hex[b & 15];
	default: return ' ';
	}
}

static size_t mask_len(const struct s3err_masker *m, int form)
{
	return form == S3ERR_MASK_TEXT ? m->len : 3 * m->len - 1;
}

/* Does p[0..n) equal the form's bytes [at, at + n)? Hex matches any case. */
static bool mask_eq(const struct s3err_masker *m, int form, const char *p, size_t n, size_t at)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i], pc = mask_pat(m, form, at + i);
		if (form == S3ERR_MASK_HEX && c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (c != pc)
			return false;
	}
	return true;
}

/* Is the form's prefix of length k also the suffix of its prefix of length mt? */
static bool mask_border(const struct s3err_masker *m, int form, size_t k, size_t mt)
{
	for (size_t i = 0; i < k; i++)
		if (mask_pat(m, form, i) != mask_pat(m, form, mt - k + i))
			return false;
	return true;
}

/* Match the form in src[0..n) (the piece as it came), mask in dst. Every
 * occurrence is masked whole, overlapping ones too (a token with a border,
 * "abXab", occurs twice in "abXabXab"). */
static void mask_form(struct s3err_masker *m, int form, const char *src, char *dst, size_t n)
{
	size_t len = mask_len(m, form);
	size_t mt = m->matched[form];

	m->matched[form] = 0;
	/* The last piece ended with mt bytes of the secret (masked): each of
	 * those suffixes that is also a prefix (mt itself, then its borders,
	 * longest first) may go on in this piece. One this piece is too short
	 * to finish is carried on; the whole piece is masked then. */
	for (size_t k = mt; k > 0; k--) {
		if (k != mt && !mask_border(m, form, k, mt))
			continue;
		size_t need = len - k, c = need < n ? need : n;
		if (!mask_eq(m, form, src, c, k))
			continue;
		memset(dst, '*', c);
		if (c < need) {
			m->matched[form] = (uint32_t)(k + c);
			return;
		}
	}
	for (size_t s = 0; s < n; s++) {
		size_t c = len < n - s ? len : n - s;
		if (!mask_eq(m, form, src + s, c, 0))
			continue;
		memset(dst + s, '*', c);
		if (c < len) {              /* cut by the piece's end */
			m->matched[form] = (uint32_t)c;
			return;
		}
	}
}

void s3err_mask_init(struct s3err_masker *m, const char *secret)
{
	memset(m, 0, sizeof(*m));
	m->secret = secret ? secret : "";
	m->len = strlen(m->secret);
}

void s3err_mask(struct s3err_masker *m, char *p, size_t n)
{
	char src[1024];

	if (m->len == 0)
		return;
	/* Each form is matched in the bytes as they came, so that one form's
	 * stars never hide the other form's match; windows of the piece are
	 * just smaller pieces to the streaming match. */
	for (size_t at = 0; at < n; at += sizeof(src)) {
		size_t w = n - at < sizeof(src) ? n - at : sizeof(src);
		memcpy(src, p + at, w);
		for (int form = 0; form < S3ERR_MASK__FORMS; form++)
			mask_form(m, form, src, p + at, w);
	}
}
