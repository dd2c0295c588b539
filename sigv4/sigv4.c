/*
 * sigv4/sigv4.c — credentials, signing keys, and the one signer that
 * both S3 requests and the AWS test vectors go through.
 *
 * Everything lives on the caller's stack or in the caller's structs: no
 * allocation, no I/O, no clock. Secret material on the stack (the
 * "AWS4"+secret key, intermediate HMAC keys, wolfCrypt HMAC and keyed
 * SHA-256 states) is wiped with explicit_bzero before returning.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "sigv4/sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define DAY_SECONDS     86400

static const char hex_lower[] = "0123456789abcdef";

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[b[i] >> 4];
		out[2 * i + 1] = hex_lower[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* wolfCrypt only fails here on bad arguments, i.e. a programmer error. */
static void hmac_sha256(const void *key, size_t klen, const void *msg,
			size_t mlen, uint8_t out[32])
{
	Hmac h;
	int rc = wc_HmacInit(&h, NULL, INVALID_DEVID);

	if (rc == 0)
		rc = wc_HmacSetKey(&h, WC_SHA256, key, (word32)klen);
	if (rc == 0)
		rc = wc_HmacUpdate(&h, msg, (word32)mlen);
	if (rc == 0)
		rc = wc_HmacFinal(&h, out);
	wc_HmacFree(&h);
	explicit_bzero(&h, sizeof(h));   /* holds the key's ipad/opad */
	assert(rc == 0);
	(void)rc;
}

/*
 * HMAC-SHA256 (RFC 2104) split at the key: the SHA-256 states after the
 * ipad and opad blocks of a 32-byte key. A day key keeps one, so a
 * signature copies it and hashes only its message: two SHA-256 blocks and
 * wolfCrypt's Hmac set-up fewer than hmac_sha256. SHA-256 is wolfCrypt's.
 */
struct hmac_mid {
	wc_Sha256 inner;
	wc_Sha256 outer;
};

_Static_assert(sizeof(struct hmac_mid) <= SIGV4_HMAC_STATE_BYTES,
	       "SIGV4_HMAC_STATE_BYTES too small for this wolfSSL's wc_Sha256");
_Static_assert(_Alignof(struct hmac_mid) <= 16,
	       "sigv4_day_key.hmac is only 16-byte aligned");

static void hmac_mid_init(struct hmac_mid *m, const uint8_t key[32])
{
	uint8_t pad[WC_SHA256_BLOCK_SIZE];
	int rc;

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < 32; i++)
		pad[i] ^= key[i];
	rc = wc_InitSha256(&m->inner);
	if (rc == 0)
		rc = wc_Sha256Update(&m->inner, pad, sizeof(pad));
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	if (rc == 0)
		rc = wc_InitSha256(&m->outer);
	if (rc == 0)
		rc = wc_Sha256Update(&m->outer, pad, sizeof(pad));
	explicit_bzero(pad, sizeof(pad));
	assert(rc == 0);   /* fails only on bad arguments */
	(void)rc;
}

/* HMAC(key of m, msg). m is only read (wolfCrypt's copy takes no const). */
static void hmac_mid_final(const struct hmac_mid *m, const void *msg,
			   size_t len, uint8_t out[32])
{
	struct hmac_mid h;
	uint8_t ih[32];
	int rc = wc_Sha256Copy((wc_Sha256 *)&m->inner, &h.inner);

	if (rc == 0)
		rc = wc_Sha256Copy((wc_Sha256 *)&m->outer, &h.outer);
	if (rc == 0)
		rc = wc_Sha256Update(&h.inner, msg, (word32)len);
	if (rc == 0)
		rc = wc_Sha256Final(&h.inner, ih);
	if (rc == 0)
		rc = wc_Sha256Update(&h.outer, ih, sizeof(ih));
	if (rc == 0)
		rc = wc_Sha256Final(&h.outer, out);
	wc_Sha256Free(&h.inner);
	wc_Sha256Free(&h.outer);
	explicit_bzero(&h, sizeof(h));   /* as good as the key */
	explicit_bzero(ih, sizeof(ih));
	assert(rc == 0);
	(void)rc;
}

/* The day key's keyed state; the array is aligned and sized for it. */
static const struct hmac_mid *day_hmac(const struct sigv4_day_key *dk)
{
	return (const struct hmac_mid *)(const void *)dk->hmac;
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
	wc_Sha256 s;
	int rc = wc_InitSha256(&s);

	if (rc == 0)
		rc = wc_Sha256Update(&s, data, (word32)len);
	if (rc == 0)
		rc = wc_Sha256Final(&s, out);
	wc_Sha256Free(&s);
	assert(rc == 0);
	(void)rc;
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	uint8_t d[32];

	sha256(data, len, d);
	to_hex(d, sizeof(d), hex);
}

/* ---- time -------------------------------------------------------------- */

static int utc(time_t t, struct tm *tm)
{
	if (!gmtime_r(&t, tm))
		return -EINVAL;
	if (tm->tm_year + 1900 < 1 || tm->tm_year + 1900 > 9999)
		return -EINVAL;
	return 0;
}

int64_t sigv4_day(time_t t)
{
	struct tm tm;

	if (utc(t, &tm) < 0)
		return -EINVAL;
	return (int64_t)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
	       tm.tm_mday;
}

static void put_digits(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
}

/* X-Amz-Date "YYYYMMDDTHHMMSSZ" into out[17]. */
static int amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
	struct tm tm;

	if (utc(t, &tm) < 0)
		return -EINVAL;
	put_digits(out, (unsigned)tm.tm_year + 1900, 4);
	put_digits(out + 4, (unsigned)tm.tm_mon + 1, 2);
	put_digits(out + 6, (unsigned)tm.tm_mday, 2);
	out[8] = 'T';
	put_digits(out + 9, (unsigned)tm.tm_hour, 2);
	put_digits(out + 11, (unsigned)tm.tm_min, 2);
	put_digits(out + 13, (unsigned)tm.tm_sec, 2);
	out[15] = 'Z';
	out[16] = '\0';
	return 0;
}

/* ---- keys -------------------------------------------------------------- */

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
 * "aws4_request"). Four HMACs: the cost the key cache saves per request. */
static void derive_key(const struct sigv4_creds *c, uint32_t day,
		       uint8_t out[32])
{
	uint8_t k0[4 + SIGV4_SECRET_MAX];
	uint8_t k1[32], k2[32];
	char date[8];
	size_t slen = strlen(c->secret);

	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, c->secret, slen);
	put_digits(date, day, 8);
	hmac_sha256(k0, 4 + slen, date, sizeof(date), k1);
	hmac_sha256(k1, sizeof(k1), c->region, strlen(c->region), k2);
	hmac_sha256(k2, sizeof(k2), c->service, strlen(c->service), k1);
	hmac_sha256(k1, sizeof(k1), "aws4_request", 12, out);
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));
}

static const struct sigv4_day_key *find_key(const struct sigv4_creds *c,
					    uint32_t day)
{
	for (size_t i = 0; i < 2; i++)
		if (c->keys[i].day == day)
			return &c->keys[i];
	return NULL;
}

int sigv4_creds_roll(struct sigv4_creds *c, time_t now)
{
	int64_t want[2] = { sigv4_day(now), sigv4_day(now + DAY_SECONDS) };
	int derived = 0;

	assert(c->magic == SIGV4_CREDS_MAGIC);
	if (want[0] < 0 || want[1] < 0)
		return -EINVAL;
	for (size_t w = 0; w < 2; w++) {
		if (find_key(c, (uint32_t)want[w]))
			continue;
		/* a slot holding neither wanted day is stale: reuse it */
		size_t s = (c->keys[0].day == want[0] || c->keys[0].day == want[1]);
		uint8_t k[32];

		derive_key(c, (uint32_t)want[w], k);
		hmac_mid_init((struct hmac_mid *)(void *)c->keys[s].hmac, k);
		c->keys[s].day = (uint32_t)want[w];
		explicit_bzero(k, sizeof(k));
		derived++;
	}
	return derived;
}

/* Copy src (or dflt when src is NULL/"") into dst of max bytes + NUL. */
static int copy_field(char *dst, size_t max, const char *src, const char *dflt)
{
	size_t len;

	if (!src || !*src)
		src = dflt;
	if (!src)
		return -EINVAL;
	len = strnlen(src, max + 1);
	if (len > max)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
			return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int sigv4_creds_init(struct sigv4_creds *c, const char *access_key,
		     const char *secret, const char *region,
		     const char *service, const char *token, time_t now)
{
	int rc;

	explicit_bzero(c, sizeof(*c));
	rc = copy_field(c->access_key, SIGV4_ACCESS_KEY_MAX, access_key, NULL);
	if (rc == 0)
		rc = copy_field(c->secret, SIGV4_SECRET_MAX, secret, NULL);
	if (rc == 0)
		rc = copy_field(c->region, SIGV4_REGION_MAX, region, "auto");
	if (rc == 0)
		rc = copy_field(c->service, SIGV4_SERVICE_MAX, service, "s3");
	if (rc == 0)
		rc = copy_field(c->session_token, SIGV4_TOKEN_MAX, token, "");
	if (rc < 0) {
		explicit_bzero(c, sizeof(*c));
		return rc;
	}
	c->magic = SIGV4_CREDS_MAGIC;
	rc = sigv4_creds_roll(c, now);
	if (rc < 0) {
		explicit_bzero(c, sizeof(*c));
		return rc;
	}
	return 0;
}

void sigv4_creds_wipe(struct sigv4_creds *c)
{
	/* everything, magic included: a wiped creds can no longer sign */
	explicit_bzero(c, sizeof(*c));
}

/* ---- canonical request --------------------------------------------------- */

/* An append-only buffer; running out sets `over` once, checked at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool over;
};

static void sb_put(struct sbuf *b, const void *s, size_t n)
{
	if (b->over || b->cap - b->len < n) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void sb_putc(struct sbuf *b, char ch)
{
	sb_put(b, &ch, 1);
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

static int lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Case-insensitive bytewise order of header names (lower-cased order). */
static int name_cmp(const struct sigv4_header *a, const struct sigv4_header *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;

	for (size_t i = 0; i < n; i++) {
		int d = lower((unsigned char)a->name[i]) - lower((unsigned char)b->name[i]);

		if (d)
			return d;
	}
	return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void trim(const char **v, size_t *n)
{
	while (*n && is_ows(**v)) {
		(*v)++;
		(*n)--;
	}
	while (*n && is_ows((*v)[*n - 1]))
		(*n)--;
}

/* SigV4 "Trimall": trimmed, inner runs of spaces/tabs as one space. */
static void sb_trimall(struct sbuf *b, const char *v, size_t n)
{
	trim(&v, &n);
	for (size_t i = 0; i < n; i++) {
		if (is_ows(v[i])) {
			if (is_ows(v[i - 1]))
				continue;
			sb_putc(b, ' ');
		} else {
			sb_putc(b, v[i]);
		}
	}
}

/* The headers to sign: the caller's plus the ones the signer adds. */
struct hset {
	struct sigv4_header h[LIMIT_SIGV4_HEADERS];
	uint8_t order[LIMIT_SIGV4_HEADERS];     /* sorted by name, stable */
	size_t n;
};

static int hset_add(struct hset *s, const struct sigv4_header *h)
{
	size_t k;

	if (!is_token(h->name, h->name_len))
		return -EINVAL;
	if (h->name_len == 13 && name_cmp(h, &(struct sigv4_header){
			.name = "authorization", .name_len = 13 }) == 0)
		return -EINVAL;
	for (size_t i = 0; i < h->value_len; i++) {
		unsigned char ch = (unsigned char)h->value[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return -EINVAL;   /* CR/LF would forge canonical lines */
	}
	if (s->n == LIMIT_SIGV4_HEADERS)
		return -ENOSPC;
	s->h[s->n] = *h;
	for (k = s->n; k > 0 && name_cmp(&s->h[s->order[k - 1]], h) > 0; k--)
		s->order[k] = s->order[k - 1];
	s->order[k] = (uint8_t)s->n++;
	return 0;
}

/*
 * Add lname: value unless the caller already has it. The same value is
 * fine (AWS's S3 examples carry x-amz-date themselves); another value
 * would sign one thing and send another, so it is refused.
 */
static int hset_ensure(struct hset *s, const char *lname, const char *value)
{
	struct sigv4_header want = {
		.name = lname, .name_len = strlen(lname),
		.value = value, .value_len = strlen(value),
	};
	bool found = false;

	for (size_t i = 0; i < s->n; i++) {
		const char *v = s->h[i].value;
		size_t n = s->h[i].value_len;

		if (name_cmp(&s->h[i], &want) != 0)
			continue;
		trim(&v, &n);
		if (n != want.value_len || memcmp(v, value, n) != 0)
			return -EINVAL;
		found = true;
	}
	return found ? 0 : hset_add(s, &want);
}

/* "name:v1,v2\n" per distinct name into cr, "a;b;c" into signed_h. */
static void put_headers(const struct hset *s, struct sbuf *cr,
			struct sbuf *signed_h)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct sigv4_header *h = &s->h[s->order[i]];
		bool first = i == 0 || name_cmp(&s->h[s->order[i - 1]], h) != 0;

		if (first) {
			if (i > 0) {
				sb_putc(cr, '\n');
				sb_putc(signed_h, ';');
			}
			for (size_t k = 0; k < h->name_len; k++) {
				sb_putc(cr, (char)lower((unsigned char)h->name[k]));
				sb_putc(signed_h, (char)lower((unsigned char)h->name[k]));
			}
			sb_putc(cr, ':');
		} else {
			sb_putc(cr, ',');
		}
		sb_trimall(cr, h->value, h->value_len);
	}
	if (s->n > 0)
		sb_putc(cr, '\n');
}

static int check_uri(const char *uri, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)uri[i];

		if (ch <= 0x20 || ch == 0x7f)
			return -EINVAL;   /* a wire path is already encoded */
	}
	return 0;
}

/* Method \n URI \n query \n headers \n signed headers \n payload hash. */
static int build_canonical(const struct sigv4_request *r, const struct hset *s,
			   struct sbuf *cr, struct sbuf *signed_h)
{
	size_t mlen = r->method ? strnlen(r->method, LIMIT_METHOD_BYTES + 1) : 0;
	ssize_t q = 0;

	if (mlen > LIMIT_METHOD_BYTES || !is_token(r->method, mlen) ||
	    check_uri(r->uri, r->uri_len) < 0)
		return -EINVAL;
	sb_puts(cr, r->method);
	sb_putc(cr, '\n');
	if (r->uri_len)
		sb_put(cr, r->uri, r->uri_len);
	else
		sb_putc(cr, '/');
	sb_putc(cr, '\n');
	if (r->query_len && !cr->over) {
		q = sigv4_canonical_query(r->query, r->query_len, cr->p + cr->len,
					  cr->cap - cr->len);
		if (q == -EINVAL)
			return -EINVAL;
		if (q < 0)
			cr->over = true;
		else
			cr->len += (size_t)q;
	}
	sb_putc(cr, '\n');
	put_headers(s, cr, signed_h);
	sb_putc(cr, '\n');
	sb_put(cr, signed_h->p, signed_h->len);
	sb_putc(cr, '\n');
	sb_puts(cr, r->payload_hash);
	return cr->over || signed_h->over ? -ENOSPC : 0;
}

static int hset_fill(struct hset *s, const struct sigv4_creds *c,
		     const struct sigv4_request *r, const char *date)
{
	int rc = 0;

	s->n = 0;
	for (size_t i = 0; i < r->n_headers && rc == 0; i++)
		rc = hset_add(s, &r->headers[i]);
	if (rc == 0 && r->sign_content_sha256)
		rc = hset_ensure(s, "x-amz-content-sha256", r->payload_hash);
	if (rc == 0)
		rc = hset_ensure(s, "x-amz-date", date);
	if (rc == 0 && c->session_token[0])
		rc = hset_ensure(s, "x-amz-security-token", c->session_token);
	return rc;
}

/* Copy src into a caller's trace buffer (NUL-terminated when room). */
static int trace_copy(char *dst, size_t cap, size_t *len, const char *src,
		      size_t n)
{
	if (!dst)
		return 0;
	if (cap < n)
		return -ENOSPC;
	memcpy(dst, src, n);
	if (cap > n)
		dst[n] = '\0';
	*len = n;
	return 0;
}

/*
 * HMAC(kSigning, string to sign) as hex. The key of the string's own
 * day (its X-Amz-Date) is used, never a neighbour's: at 00:00 UTC the
 * date signed and the key's day always agree.
 */
static bool sign_sts(const struct sigv4_creds *c, uint32_t day,
		     const char *sts, size_t len, char sig[65])
{
	const struct sigv4_day_key *dk = find_key(c, day);
	struct hmac_mid m;
	uint8_t k[32], mac[32];

	if (dk) {
		hmac_mid_final(day_hmac(dk), sts, len, mac);
	} else {
		derive_key(c, day, k);
		hmac_mid_init(&m, k);
		hmac_mid_final(&m, sts, len, mac);
		explicit_bzero(k, sizeof(k));
		explicit_bzero(&m, sizeof(m));
	}
	to_hex(mac, sizeof(mac), sig);
	return dk != NULL;
}

/*
 * The credential scope "YYYYMMDD/region/service/aws4_request", in both the
 * string to sign and the Authorization value. Appends rather than
 * snprintf: formatting cost a tenth of a signature.
 */
static void sb_scope(struct sbuf *b, const char *date, const struct sigv4_creds *c)
{
	sb_put(b, date, 8);
	sb_putc(b, '/');
	sb_puts(b, c->region);
	sb_putc(b, '/');
	sb_puts(b, c->service);
	sb_puts(b, "/aws4_request");
}

/* Algorithm \n X-Amz-Date \n scope \n hex SHA-256 of the canonical request. */
static size_t build_sts(const struct sigv4_creds *c, const char *date,
			const char *cr_hash, char *sts, size_t cap)
{
	struct sbuf b = { sts, 0, cap, false };

	sb_puts(&b, SIGV4_ALGORITHM "\n");
	sb_put(&b, date, SIGV4_AMZ_DATE_LEN);
	sb_putc(&b, '\n');
	sb_scope(&b, date, c);
	sb_putc(&b, '\n');
	sb_put(&b, cr_hash, 64);
	assert(!b.over);   /* cap is sized from the field maxima */
	return b.len;
}

static int format_auth(const struct sigv4_creds *c, const char *date,
		       const struct sbuf *signed_h, const char *sig,
		       struct sigv4_s3_signed *out)
{
	struct sbuf b = { out->authorization, 0, sizeof(out->authorization) - 1, false };

	sb_puts(&b, SIGV4_ALGORITHM " Credential=");
	sb_puts(&b, c->access_key);
	sb_putc(&b, '/');
	sb_scope(&b, date, c);
	sb_puts(&b, ", SignedHeaders=");
	sb_put(&b, signed_h->p, signed_h->len);
	sb_puts(&b, ", Signature=");
	sb_put(&b, sig, 64);
	if (b.over)
		return -ENOSPC;
	b.p[b.len] = '\0';
	out->authorization_len = b.len;
	return 0;
}

int sigv4_sign_request(const struct sigv4_creds *c, const struct sigv4_request *r,
		       struct sigv4_s3_signed *out, struct sigv4_trace *trace)
{
	char crbuf[LIMIT_SIGV4_CANONICAL_BYTES], shbuf[SIGV4_AUTH_MAX];
	char sts[sizeof(SIGV4_ALGORITHM) + SIGV4_AMZ_DATE_LEN + SIGV4_REGION_MAX +
		 SIGV4_SERVICE_MAX + 96];
	struct sbuf cr = { crbuf, 0, sizeof(crbuf), false };
	struct sbuf sh = { shbuf, 0, sizeof(shbuf), false };
	struct hset hs;
	char cr_hash[65], sig[65];
	uint32_t day = 0;
	size_t n;
	int rc;

	assert(c->magic == SIGV4_CREDS_MAGIC);
	if (amz_date(r->now, out->amz_date) < 0 || !r->payload_hash)
		return -EINVAL;
	for (int i = 0; i < 8; i++)   /* the key's day is the signed date's */
		day = day * 10 + (uint32_t)(out->amz_date[i] - '0');
	out->payload_hash = r->payload_hash;
	rc = hset_fill(&hs, c, r, out->amz_date);
	if (rc == 0)
		rc = build_canonical(r, &hs, &cr, &sh);
	if (rc < 0)
		return rc;
	sigv4_sha256_hex(cr.p, cr.len, cr_hash);
	n = build_sts(c, out->amz_date, cr_hash, sts, sizeof(sts));
	out->used_precomputed_key = sign_sts(c, day, sts, n, sig);
	rc = format_auth(c, out->amz_date, &sh, sig, out);
	if (rc == 0 && trace)
		rc = trace_copy(trace->canonical_request, trace->canonical_request_cap,
				&trace->canonical_request_len, cr.p, cr.len);
	if (rc == 0 && trace)
		rc = trace_copy(trace->string_to_sign, trace->string_to_sign_cap,
				&trace->string_to_sign_len, sts, n);
	return rc;
}

int sigv4_s3_sign(const struct sigv4_creds *c, const struct sigv4_s3_request *r,
		  struct sigv4_s3_signed *out, struct sigv4_trace *trace)
{
	struct sigv4_header h[LIMIT_SIGV4_HEADERS];
	struct sigv4_request g = {
		.method = r->method,
		.uri = r->path, .uri_len = r->path_len,
		.query = r->query, .query_len = r->query ? r->query_len : 0,
		.headers = h, .n_headers = 1 + r->n_extra,
		.payload_hash = r->unsigned_payload ? SIGV4_UNSIGNED_PAYLOAD
						    : SIGV4_EMPTY_SHA256,
		.sign_content_sha256 = true,     /* S3 requires it */
		.now = r->now,
	};
	static const struct sigv4_header host = { .name = "host", .name_len = 4 };

	if (r->host_len == 0 || r->n_extra >= LIMIT_SIGV4_HEADERS)
		return r->host_len == 0 ? -EINVAL : -ENOSPC;
	h[0] = host;
	h[0].value = r->host;
	h[0].value_len = r->host_len;
	for (size_t i = 0; i < r->n_extra; i++) {
		if (name_cmp(&r->extra[i], &host) == 0)
			return -EINVAL;   /* one Host, from r->host */
		h[1 + i] = r->extra[i];
	}
	return sigv4_sign_request(c, &g, out, trace);
}
