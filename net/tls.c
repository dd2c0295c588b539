/*
 * net/tls.c — wolfSSL sessions on our buffers (see net/tls.h, docs/tls.md).
 *
 * wolfSSL's custom I/O callbacks are the only way bytes enter or leave a
 * session: the receive callback copies from the session's input buffer
 * (filled by tls_feed), the send callback appends to its output buffer
 * (drained by the ring). Neither ever blocks: an empty input is WANT_READ,
 * a full output is WANT_WRITE, and the caller turns those into ring work.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/aes.h>

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "net/tls.h"

_Static_assert(LIMIT_TLS_OUT_BYTES >= TLS_RECORD_PLAIN_MAX + 2048 + LIMIT_TLS_OUT_RESERVE_BYTES,
	       "the output buffer must hold a full record beside the reserve");

struct tls_cached {
	char host[LIMIT_HOST_BYTES + 1];
	WOLFSSL_SESSION *sess;              /* our own copy, never shared */
};

struct tls_ctx {
	uint32_t magic;
	bool server;
	bool only_12;                       /* TLS_ONLY_12 */
	WOLFSSL_CTX *wctx;
	/* Try-lock over cache[]: shards never wait for it (net/tls.h). */
	atomic_flag cache_lock;
	unsigned cache_next;                /* round-robin victim */
	struct tls_cached cache[LIMIT_TLS_SESSION_CACHE];
};

struct tls_session {
	uint32_t magic;
	struct tls_ctx *ctx;
	WOLFSSL *ssl;
	int err;                            /* sticky fatal -errno, or 0 */
	const char *reason;
	bool eof;                           /* the transport closed */
	bool done;                          /* handshake finished */
	bool fresh;                         /* a new resumable session to keep */
	bool prev_key_ticket;               /* opened a ticket of the previous key */
	size_t in_head, in_len;             /* unread input is in[in_head..in_len) */
	size_t out_head, out_len;           /* pending output is out[out_head..out_len) */
	/* Record framing of the input stream (tls_input_mid_record). */
	unsigned char rec_hdr[5];
	uint8_t rec_hdr_len;
	uint32_t rec_body_left;
	char host[LIMIT_HOST_BYTES + 1];
	size_t in_cap;                      /* LIMIT_TLS_IN_BYTES, servers: _SERVER_ */
	char out[LIMIT_TLS_OUT_BYTES];
	char in[];                          /* [in_cap] */
};

static const char alpn_http11[] = "http/1.1";
static const char alpn_h2[] = "h2";
/* What HTTPS visitors are offered, in our order of preference. */
static const char alpn_server[] = "h2,http/1.1";

static int on_new_session(WOLFSSL *ssl, WOLFSSL_SESSION *sess);
static void track_records(struct tls_session *s, const unsigned char *p, size_t len);

/* ---- I/O callbacks: the session's buffers are wolfSSL's only transport -- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_session *s = arg;
	size_t n = s->in_len - s->in_head;

	(void)ssl;
	if (n == 0)
		return s->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, s->in + s->in_head, n);
	s->in_head += n;
	if (s->in_head == s->in_len)
		s->in_head = s->in_len = 0;
	return (int)n;
}

/* Appends only: bytes already pending may be owned by an in-flight send. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_session *s = arg;
	size_t room = sizeof(s->out) - s->out_len;
	size_t n = (size_t)sz;

	(void)ssl;
	if (room == 0)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	if (n > room)
		n = room;
	memcpy(s->out + s->out_len, buf, n);
	s->out_len += n;
	return (int)n;
}

/* ---- errors ------------------------------------------------------------- */

/* wolfSSL's error code → -errno and words for the log. */
static int classify(int e, const char **why)
{
	switch (e) {
	case ASN_NO_SIGNER_E:
		*why = "certificate verify failed: unknown CA";
		return -EKEYREJECTED;
	case ASN_SELF_SIGNED_E:
		*why = "certificate verify failed: self-signed certificate";
		return -EKEYREJECTED;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
		*why = "certificate verify failed: host-name mismatch";
		return -EKEYREJECTED;
	case ASN_AFTER_DATE_E:
		*why = "certificate verify failed: certificate expired";
		return -EKEYREJECTED;
	case ASN_BEFORE_DATE_E:
		*why = "certificate verify failed: certificate not yet valid";
		return -EKEYREJECTED;
	case ASN_SIG_CONFIRM_E:
		*why = "certificate verify failed: bad signature";
		return -EKEYREJECTED;
	case VERIFY_CERT_ERROR:
		*why = "certificate verify failed";
		return -EKEYREJECTED;
	case FATAL_ERROR:
		*why = "the peer sent a fatal alert";
		return -EPROTO;
	case VERIFY_MAC_ERROR:
	case DECRYPT_ERROR:
		*why = "bad record MAC";
		return -EPROTO;
	case SOCKET_PEER_CLOSED_E:
	case SOCKET_ERROR_E:
	case WOLFSSL_ERROR_SYSCALL:     /* wolfSSL_get_error's name for the first */
		*why = "the peer closed the connection without close_notify";
		return -ECONNRESET;
	case MEMORY_E:
	case MEMORY_ERROR:
		*why = "out of memory";
		return -ENOMEM;
	default:
		*why = wolfSSL_ERR_reason_error_string((unsigned long)e);
		if (*why == NULL || **why == '\0')
			*why = "TLS protocol error";
		return -EPROTO;
	}
}

static int fail_with(struct tls_session *s, int err, const char *why)
{
	s->err = err;
	s->reason = why;
	return err;
}

static int fail(struct tls_session *s, int wolf_err)
{
	const char *why;
	int err = classify(wolf_err, &why);

	return fail_with(s, err, why);
}

/* A wolfSSL call returned ret: -EAGAIN for "needs input/output room",
 * else the sticky fatal error. */
static int io_result(struct tls_session *s, int ret, bool want_write_ok)
{
	int e = wolfSSL_get_error(s->ssl, ret);

	if (e == WOLFSSL_ERROR_WANT_READ)
		return -EAGAIN;
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		return want_write_ok ? -EAGAIN :
			fail_with(s, -EPROTO, "the peer made us answer more than the output reserve");
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return fail_with(s, -ECONNRESET, "the peer closed during the handshake");
	return fail(s, e);
}

/* ---- contexts ----------------------------------------------------------- */

static pthread_once_t wolf_once = PTHREAD_ONCE_INIT;
static int wolf_init_rc;

static void wolf_init(void)
{
	wolf_init_rc = wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -ENOMEM;
}

static WOLFSSL_METHOD *method_for(bool server, unsigned flags)
{
	if (flags & TLS_ONLY_12)
		return server ? wolfTLSv1_2_server_method() : wolfTLSv1_2_client_method();
	if (flags & TLS_ONLY_13)
		return server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method();
	return server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
}

/* The parts every context shares: method, floor at TLS 1.2, our I/O. */
static int ctx_alloc(bool server, unsigned flags, struct tls_ctx **out, const char **why)
{
	struct tls_ctx *c;

	*why = "";
	if ((flags & ~(TLS_ONLY_12 | TLS_ONLY_13)) || flags == (TLS_ONLY_12 | TLS_ONLY_13)) {
		*why = "bad TLS flags";
		return -EINVAL;
	}
	pthread_once(&wolf_once, wolf_init);
	if (wolf_init_rc) {
		*why = "wolfSSL_Init failed";
		return wolf_init_rc;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->wctx = wolfSSL_CTX_new(method_for(server, flags))) == NULL) {
		free(c);
		*why = "out of memory";
		return -ENOMEM;
	}
	c->magic = TLS_CTX_MAGIC;
	c->server = server;
	c->only_12 = flags & TLS_ONLY_12;
	atomic_flag_clear(&c->cache_lock);
	if (wolfSSL_CTX_SetMinVersion(c->wctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		tls_ctx_free(c);
		*why = "cannot set TLS 1.2 as the minimum";
		return -EINVAL;
	}
	wolfSSL_CTX_SetIORecv(c->wctx, io_recv);
	wolfSSL_CTX_SetIOSend(c->wctx, io_send);
	*out = c;
	return 0;
}

/* Why a PEM file was refused: missing/unreadable, or no usable content. */
static int file_error(const char *path, const char **why, const char *bad_content)
{
	if (access(path, R_OK) != 0) {
		*why = "file missing or unreadable";
		return -ENOENT;
	}
	*why = bad_content;
	return -EBADMSG;
}

int tls_client_ctx_new(const char *ca_file, unsigned flags, struct tls_ctx **out,
		       const char **why)
{
	const char *dummy;
	struct tls_ctx *c;
	int rc;

	why = why ? why : &dummy;
	if (ca_file == NULL)
		ca_file = TLS_SYSTEM_CA_FILE;
	rc = ctx_alloc(false, flags, &c, why);
	if (rc)
		return rc;
	if (wolfSSL_CTX_load_verify_locations(c->wctx, ca_file, NULL) != WOLFSSL_SUCCESS) {
		tls_ctx_free(c);
		return file_error(ca_file, why, "ca_file holds no usable PEM certificate");
	}
	wolfSSL_CTX_set_verify(c->wctx, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_sess_set_new_cb(c->wctx, on_new_session);
	rc = tls_ctx_policy(c, NULL, flags & TLS_ONLY_13, why);
	if (rc) {
		tls_ctx_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- cipher policy (docs/tls.md, "Cipher policy") ----------------------- */

/* Room for wolfSSL_get_ciphers(_iana): every suite compiled in, by name. */
#define CIPHER_NAMES_BYTES 16384
#define TLS13_SUITE_BYTE   0x13         /* RFC 8446 B.4: TLS 1.3 suites are 0x13,0xNN */

_Static_assert(sizeof(TLS_CLIENT_CIPHERS_DEFAULT) <= LIMIT_TLS_CIPHERS_BYTES + 1 &&
	       sizeof(TLS_SERVER_CIPHERS_DEFAULT) <= LIMIT_TLS_CIPHERS_BYTES + 1,
	       "the default lists pass the length check");

/* Parts of a suite name (wolfSSL's, OpenSSL's or IANA's; any case) that
 * make it unusable whatever an operator wants. */
static const struct {
	const char *part, *why;
} cipher_banned[] = {
	{ "NULL", "a NULL cipher: records are not encrypted" },
	{ "SHA256-SHA256", "integrity only: records are not encrypted" },
	{ "SHA384-SHA384", "integrity only: records are not encrypted" },
	{ "SHA256_SHA256", "integrity only: records are not encrypted" },
	{ "SHA384_SHA384", "integrity only: records are not encrypted" },
	{ "ADH", "anonymous: no certificate, anyone can pose as the edge" },
	{ "AECDH", "anonymous: no certificate, anyone can pose as the edge" },
	{ "anon", "anonymous: no certificate, anyone can pose as the edge" },
	{ "EXP", "export grade" },
	{ "PSK", "pre-shared keys: the edge has none" },
	{ "RC4", "RC4 (prohibited by RFC 7465)" },
	{ "DES", "DES/3DES: 64-bit blocks (Sweet32)" },
	{ "MD5", "MD5 MAC" },
	{ "RENEGOTIATION", "a signalling value, not a cipher suite" },
	{ "SCSV", "a signalling value, not a cipher suite" },
};

/* Every suite of this wolfSSL by name, wolfSSL's and IANA's, each list
 * ':'-separated and in the same order (both walk wolfSSL's one table). */
struct suite_names {
	char *names, *iana;
};

static int suite_names_get(struct suite_names *sn)
{
	pthread_once(&wolf_once, wolf_init);
	sn->names = malloc(CIPHER_NAMES_BYTES);
	sn->iana = malloc(CIPHER_NAMES_BYTES);
	if (wolf_init_rc || !sn->names || !sn->iana ||
	    wolfSSL_get_ciphers(sn->names, CIPHER_NAMES_BYTES) != WOLFSSL_SUCCESS ||
	    wolfSSL_get_ciphers_iana(sn->iana, CIPHER_NAMES_BYTES) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	return 0;
}

static void suite_names_free(struct suite_names *sn)
{
	free(sn->names);
	free(sn->iana);
}

static bool has_part(const char *s, size_t len, const char *part)
{
	size_t n = strlen(part);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, part, n) == 0)
			return true;
	return false;
}

/* The position of s[0..len) among the ':'-separated items of all, or -1;
 * with out (cap > LIMIT_TLS_CIPHER_NAME_BYTES), the item at position want instead. */
static int item_index(const char *all, const char *s, size_t len, int want, char *out)
{
	int i = 0;

	for (const char *p = all; *p; i++) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (out && i == want && n <= LIMIT_TLS_CIPHER_NAME_BYTES) {
			memcpy(out, p, n);
			out[n] = '\0';
			return i;
		}
		if (!out && n == len && memcmp(p, s, len) == 0)
			return i;
		if (!end)
			break;
		p = end + 1;
	}
	return -1;
}

/* One item of a list: its two bytes (wolfSSL's name of it first), or
 * -EINVAL with why. */
static int cipher_item(const struct suite_names *sn, const char *s, size_t len,
		       unsigned char cs[2], char *why, size_t why_len)
{
	char name[LIMIT_TLS_CIPHER_NAME_BYTES + 1];
	int i, flags;

	if (len == 0) {
		snprintf(why, why_len, "an empty item (two ':' in a row, or one at an end)");
		return -EINVAL;
	}
	for (size_t k = 0; k < len; k++) {
		if (!(s[k] == '-' || s[k] == '_' || (s[k] >= '0' && s[k] <= '9') ||
		      (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z'))) {
			snprintf(why, why_len, "\"%.*s\": operators (!, +, @) are not "
				 "supported: list the suites to allow by name",
				 (int)(len < LIMIT_TLS_CIPHER_NAME_BYTES ? len : LIMIT_TLS_CIPHER_NAME_BYTES), s);
			return -EINVAL;
		}
	}
	for (size_t k = 0; k < sizeof(cipher_banned) / sizeof(cipher_banned[0]); k++) {
		if (has_part(s, len, cipher_banned[k].part)) {
			snprintf(why, why_len, "\"%.*s\" is refused: %s",
				 (int)(len < LIMIT_TLS_CIPHER_NAME_BYTES ? len : LIMIT_TLS_CIPHER_NAME_BYTES), s,
				 cipher_banned[k].why);
			return -EINVAL;
		}
	}
	i = item_index(sn->names, s, len, 0, NULL);
	if (i < 0)
		i = item_index(sn->iana, s, len, 0, NULL);
	if (len > LIMIT_TLS_CIPHER_NAME_BYTES || i < 0 || item_index(sn->names, NULL, 0, i, name) != i ||
	    wolfSSL_get_cipher_suite_from_name(name, &cs[0], &cs[1], &flags) != 0) {
		snprintf(why, why_len, "\"%.*s%s\" is not the name of a cipher suite in this "
			 "wolfSSL (keywords such as HIGH are not accepted: list suites by name)",
			 (int)(len < LIMIT_TLS_CIPHER_NAME_BYTES ? len : LIMIT_TLS_CIPHER_NAME_BYTES), s,
			 len > LIMIT_TLS_CIPHER_NAME_BYTES ? "..." : "");
		return -EINVAL;
	}
	return 0;
}

/*
 * The suites of list as wolfSSL's two-byte values, in order, into out
 * (cap >= LIMIT_TLS_CIPHERS_BYTES + 1: two bytes per item of at least one
 * byte and a ':'); *any13 = a TLS 1.3 suite is among them. Bytes, not
 * names, go to wolfSSL: its OpenSSL-compatible wolfSSL_CTX_set_cipher_list
 * keeps the TLS 1.3 suites it had when the list's first suite is TLS 1.2
 * (and the reverse), so a name list would not be the whole policy.
 */
static int cipher_list_parse(const char *list, unsigned char *out, size_t *n, bool *any13,
			     char *why, size_t why_len)
{
	struct suite_names sn;
	int rc = 0;

	*n = 0;
	*any13 = false;
	if (strlen(list) > LIMIT_TLS_CIPHERS_BYTES) {
		snprintf(why, why_len, "is longer than %d bytes", LIMIT_TLS_CIPHERS_BYTES);
		return -EINVAL;
	}
	rc = suite_names_get(&sn);
	if (rc)
		snprintf(why, why_len, "out of memory");
	for (const char *p = list; rc == 0; ) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		rc = cipher_item(&sn, p, len, out + *n, why, why_len);
		if (rc == 0) {
			*any13 = *any13 || out[*n] == TLS13_SUITE_BYTE;
			*n += 2;
		}
		if (!end)
			break;
		p = end + 1;
	}
	suite_names_free(&sn);
	return rc;
}

int tls_ciphers_check(const char *list, char *why, size_t why_len)
{
	unsigned char cs[LIMIT_TLS_CIPHERS_BYTES + 1];
	size_t n;
	bool any13;
	int rc;

	snprintf(why, why_len, "%s", "");
	rc = cipher_list_parse(list, cs, &n, &any13, why, why_len);
	if (rc == 0 && !any13) {
		snprintf(why, why_len, "has no TLS 1.3 suite: every client that offers TLS 1.3 "
			 "would fail (wolfSSL does not fall back to TLS 1.2 for want of one)");
		rc = -EINVAL;
	}
	return rc;
}

int tls_ctx_policy(struct tls_ctx *c, const char *list, bool min_13, const char **why)
{
	unsigned char cs[LIMIT_TLS_CIPHERS_BYTES + 1];
	char detail[256];
	const char *dummy;
	size_t n;
	bool any13;
	int rc;

	assert(c->magic == TLS_CTX_MAGIC);
	why = why ? why : &dummy;
	if (list == NULL)
		list = c->server ? TLS_SERVER_CIPHERS_DEFAULT : TLS_CLIENT_CIPHERS_DEFAULT;
	rc = cipher_list_parse(list, cs, &n, &any13, detail, sizeof(detail));
	if (rc) {
		*why = rc == -ENOMEM ? "out of memory" : "the cipher list fails tls_ciphers_check";
		return rc;
	}
	if (wolfSSL_CTX_set_cipher_list_bytes(c->wctx, cs, (int)n) != WOLFSSL_SUCCESS) {
		*why = "wolfSSL refused the cipher list";
		return -EINVAL;
	}
	if (wolfSSL_CTX_SetMinVersion(c->wctx, min_13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2) !=
	    WOLFSSL_SUCCESS) {
		*why = "cannot set the minimum TLS version";
		return -EINVAL;
	}
	/* TLS 1.2 curves and TLS 1.3 groups, both. wolfSSL 5.5.4 refuses a
	 * group list on a TLS 1.2-only method (TLS_ONLY_12: tests, bench),
	 * which keeps its default curves. */
	if (!c->only_12 &&
	    wolfSSL_CTX_set1_curves_list(c->wctx, c->server ? TLS_SERVER_GROUPS :
					 TLS_CLIENT_GROUPS) != WOLFSSL_SUCCESS) {
		*why = "cannot set the key-exchange groups";
		return -EINVAL;
	}
	return 0;
}

/* ---- session-ticket keys (one set per process, see net/tls.h) ---------- */

#define TICKET_KEY_BYTES 32                 /* AES-256-GCM */
#define TICKET_NONCE_BYTES 12

struct ticket_key {
	unsigned char name[WOLFSSL_TICKET_NAME_SZ];
	unsigned char key[TICKET_KEY_BYTES];
};

struct ticket_keys {
	_Atomic uint32_t seq;               /* odd while the control thread writes */
	bool have_prev;
	struct ticket_key cur, prev;
};

/* A page of its own, so that it can be kept out of core dumps. */
static union {
	struct ticket_keys k;
	char page[4096];
} tickets __attribute__((aligned(4096)));
static pthread_once_t tickets_once = PTHREAD_ONCE_INIT;
/* Nonces: 4 random bytes per process + a counter, unique under one key
 * (keys never outlive the process). */
static unsigned char nonce_salt[4];
static _Atomic uint64_t nonce_ctr;

static void fill_random(void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		assert(n > 0);                   /* the kernel's CSPRNG does not fail */
		p += n;
		len -= (size_t)n;
	}
}

static void tickets_init(void)
{
	madvise(&tickets, sizeof(tickets), MADV_DONTDUMP);
	fill_random(&tickets.k.cur, sizeof(tickets.k.cur));
	fill_random(nonce_salt, sizeof(nonce_salt));
}

void tls_tickets_rotate(void)
{
	struct ticket_keys *t = &tickets.k;
	struct ticket_key fresh;

	pthread_once(&tickets_once, tickets_init);
	fill_random(&fresh, sizeof(fresh));
	atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	t->prev = t->cur;
	t->have_prev = true;
	t->cur = fresh;
	atomic_fetch_add_explicit(&t->seq, 1, memory_order_release);
	explicit_bzero(&fresh, sizeof(fresh));
}

/* A consistent copy of the keys (sequence lock: retry, never wait). */
static void tickets_read(struct ticket_keys *out)
{
	const struct ticket_keys *t = &tickets.k;
	uint32_t s0, s1;

	do {
		s0 = atomic_load_explicit(&t->seq, memory_order_acquire);
		out->have_prev = t->have_prev;
		out->cur = t->cur;
		out->prev = t->prev;
		atomic_thread_fence(memory_order_acquire);
		s1 = atomic_load_explicit(&t->seq, memory_order_relaxed);
	} while ((s0 & 1) || s0 != s1);
}

/*
 * wolfSSL's ticket callback: seal (enc) or open a ticket in place with
 * AES-256-GCM; name || nonce || length is the associated data. A ticket
 * under the previous key is accepted and re-issued (RET_CREATE; RET_OK
 * under TLS 1.3, below); an unknown name or a failed tag means a full
 * handshake (RET_REJECT).
 */
static int ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
		     unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
		     int enc, unsigned char *ticket, int in_len, int *out_len, void *arg)
{
	struct ticket_keys keys;
	const struct ticket_key *k = NULL;
	unsigned char aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2];
	int rc = enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	Aes aes;

	(void)arg;
	tickets_read(&keys);
	if (enc) {
		uint64_t c = atomic_fetch_add_explicit(&nonce_ctr, 1, memory_order_relaxed);

		k = &keys.cur;
		memcpy(name, k->name, WOLFSSL_TICKET_NAME_SZ);
		memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
		memcpy(iv, nonce_salt, sizeof(nonce_salt));
		memcpy(iv + sizeof(nonce_salt), &c, sizeof(c));
	} else if (memcmp(name, keys.cur.name, WOLFSSL_TICKET_NAME_SZ) == 0) {
		k = &keys.cur;
	} else if (keys.have_prev && memcmp(name, keys.prev.name, WOLFSSL_TICKET_NAME_SZ) == 0) {
		k = &keys.prev;
	}
	if (k != NULL && in_len >= 0 && in_len <= 0xffff &&
	    wc_AesInit(&aes, NULL, INVALID_DEVID) == 0) {
		memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
		memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
		aad[sizeof(aad) - 2] = (unsigned char)(in_len >> 8);
		aad[sizeof(aad) - 1] = (unsigned char)in_len;
		if (wc_AesGcmSetKey(&aes, k->key, TICKET_KEY_BYTES) == 0 &&
		    (enc ? wc_AesGcmEncrypt(&aes, ticket, ticket, (word32)in_len, iv,
					    TICKET_NONCE_BYTES, mac, AES_BLOCK_SIZE, aad, sizeof(aad))
			 : wc_AesGcmDecrypt(&aes, ticket, ticket, (word32)in_len, iv,
					    TICKET_NONCE_BYTES, mac, AES_BLOCK_SIZE, aad,
					    sizeof(aad))) == 0) {
			*out_len = in_len;
			/* TLS 1.3: a previous key's ticket is RET_OK too. wolfSSL
			 * 5.7 resumes a TLS 1.3 PSK only on RET_OK (CREATE means a
			 * full handshake there), and every 1.3 handshake ends with a
			 * NewSessionTicket under the current key anyway. */
			rc = enc || k == &keys.cur || wolfSSL_version(ssl) == TLS1_3_VERSION ?
			     WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
			if (k == &keys.prev) {
				struct tls_session *s = wolfSSL_GetIOReadCtx(ssl);

				if (s != NULL && s->magic == TLS_SESSION_MAGIC)
					s->prev_key_ticket = true;
			}
		}
		wc_AesFree(&aes);
	}
	explicit_bzero(&keys, sizeof(keys));
	explicit_bzero(&aes, sizeof(aes));
	return rc;
}

void tls_tickets_lifetime(struct tls_ctx *ctx, uint32_t lifetime_s)
{
	assert(ctx->magic == TLS_CTX_MAGIC && ctx->server);
	wolfSSL_CTX_set_TicketHint(ctx->wctx, (int)lifetime_s);
	wolfSSL_CTX_set_timeout(ctx->wctx, lifetime_s);
}

int tls_sni_peek(const void *buf, size_t len, char *name, size_t cap)
{
	const unsigned char *b = buf;
	size_t rec;
	word32 sz;
	int r;

	if (len >= 1 && b[0] != 0x16)       /* not a handshake record */
		return -EPROTO;
	if (len < 5)
		return -EAGAIN;
	rec = (size_t)b[3] << 8 | b[4];
	if (rec == 0 || rec > TLS_RECORD_PLAIN_MAX)
		return -EPROTO;
	if (len < 5 + rec)
		return -EAGAIN;
	assert(cap > 1);
	sz = (word32)cap - 1;
	r = wolfSSL_SNI_GetFromBuffer(b, (word32)(5 + rec), WOLFSSL_SNI_HOST_NAME,
				      (unsigned char *)name, &sz);
	if (r == 0)
		return 0;
	if (r != WOLFSSL_SUCCESS)
		return -EPROTO;
	if (sz >= cap - 1)
		return -ENAMETOOLONG;
	name[sz] = '\0';
	return (int)sz;
}

static const char key_refused[] = "no usable PEM key for the certificate";

int tls_server_ctx_new(const char *cert_file, const char *key_file, unsigned flags,
		       struct tls_ctx **out, const char **why)
{
	const char *dummy;
	struct tls_ctx *c;
	int rc;

	why = why ? why : &dummy;
	rc = ctx_alloc(true, flags, &c, why);
	if (rc)
		return rc;
	if (wolfSSL_CTX_use_certificate_chain_file(c->wctx, cert_file) != WOLFSSL_SUCCESS) {
		tls_ctx_free(c);
		return file_error(cert_file, why, "no usable PEM certificate chain");
	}
	if (wolfSSL_CTX_use_PrivateKey_file(c->wctx, key_file, WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS || wolfSSL_CTX_check_private_key(c->wctx) != WOLFSSL_SUCCESS) {
		tls_ctx_free(c);
		return file_error(key_file, why, key_refused);
	}
	/* after the key: wolfSSL fits the suites' signature algorithms to it */
	rc = tls_ctx_policy(c, NULL, flags & TLS_ONLY_13, why);
	if (rc) {
		tls_ctx_free(c);
		return rc;
	}
	wolfSSL_CTX_set_verify(c->wctx, WOLFSSL_VERIFY_NONE, NULL);
	pthread_once(&tickets_once, tickets_init);
	wolfSSL_CTX_set_TicketEncCb(c->wctx, ticket_cb);
	tls_tickets_lifetime(c, 2 * LIMIT_TLS_TICKET_ROTATE_S_DEFAULT);
	*out = c;
	return 0;
}

int tls_check_pair(const char *cert_file, const char *key_file, const char **why)
{
	struct tls_ctx *c;
	int rc = tls_server_ctx_new(cert_file, key_file, 0, &c, why);

	if (rc == 0)
		tls_ctx_free(c);
	else if (*why == key_refused || (rc == -ENOENT && access(key_file, R_OK) != 0))
		rc = -ENOKEY;               /* the chain loaded: the key is at fault */
	else if (rc != -ENOMEM)
		rc = -EBADMSG;
	return rc;
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (c == NULL)
		return;
	assert(c->magic == TLS_CTX_MAGIC);
	for (unsigned i = 0; i < LIMIT_TLS_SESSION_CACHE; i++)
		wolfSSL_SESSION_free(c->cache[i].sess);
	wolfSSL_CTX_free(c->wctx);
	c->magic = 0;
	free(c);
}

/* ---- the session cache (try-lock: a busy cache is skipped, not waited) -- */

static bool cache_trylock(struct tls_ctx *c)
{
	return !atomic_flag_test_and_set_explicit(&c->cache_lock, memory_order_acquire);
}

static void cache_unlock(struct tls_ctx *c)
{
	atomic_flag_clear_explicit(&c->cache_lock, memory_order_release);
}

/* Offer host's cached session to ssl (wolfSSL copies it). */
static void cache_offer(struct tls_ctx *c, const char *host, WOLFSSL *ssl)
{
	if (!cache_trylock(c))
		return;
	for (unsigned i = 0; i < LIMIT_TLS_SESSION_CACHE; i++) {
		struct tls_cached *e = &c->cache[i];

		if (e->sess == NULL || strcmp(e->host, host) != 0)
			continue;
		if (wolfSSL_set_session(ssl, e->sess) != WOLFSSL_SUCCESS) {
			wolfSSL_SESSION_free(e->sess);   /* expired */
			e->sess = NULL;
		}
		break;
	}
	cache_unlock(c);
}

/* Keep sess (ours now) for host, replacing host's entry or the oldest. */
static void cache_put(struct tls_ctx *c, const char *host, WOLFSSL_SESSION *sess)
{
	struct tls_cached *e = NULL;
	WOLFSSL_SESSION *old;

	if (!cache_trylock(c)) {
		wolfSSL_SESSION_free(sess);
		return;
	}
	for (unsigned i = 0; i < LIMIT_TLS_SESSION_CACHE && e == NULL; i++)
		if (c->cache[i].sess != NULL && strcmp(c->cache[i].host, host) == 0)
			e = &c->cache[i];
	if (e == NULL) {
		e = &c->cache[c->cache_next];
		c->cache_next = (c->cache_next + 1) % LIMIT_TLS_SESSION_CACHE;
		memcpy(e->host, host, strlen(host) + 1);
	}
	old = e->sess;
	e->sess = sess;
	cache_unlock(c);
	wolfSSL_SESSION_free(old);
}

/*
 * wolfSSL calls this when the connection has a new resumable session: a
 * TLS 1.3 NewSessionTicket, a TLS 1.2 full handshake or its ticket. Only
 * then: after a TLS 1.3 resumption the session already holds the next
 * resumption secret but still the old ticket, a pair no server accepts.
 * Returns 0: wolfSSL keeps (and drops) its own reference.
 */
static int on_new_session(WOLFSSL *ssl, WOLFSSL_SESSION *sess)
{
	struct tls_session *s = wolfSSL_GetIOReadCtx(ssl);

	(void)sess;
	if (s != NULL && s->magic == TLS_SESSION_MAGIC)
		s->fresh = true;
	return 0;
}

/* A fresh session goes to the cache once the handshake is done (never one
 * of a handshake that failed), as a copy: no two threads share one. */
static void session_keep(struct tls_session *s)
{
	WOLFSSL_SESSION *cur, *copy;

	if (!s->fresh || !s->done)
		return;
	s->fresh = false;
	cur = wolfSSL_get1_session(s->ssl);
	if (cur == NULL)
		return;
	copy = wolfSSL_SESSION_dup(cur);
	wolfSSL_SESSION_free(cur);
	if (copy != NULL)
		cache_put(s->ctx, s->host, copy);
}

/* ---- sessions ----------------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Client side: SNI, host-name check, ALPN, resumption offer. */
static int client_setup(struct tls_session *s, const char *host)
{
	char alpn[sizeof(alpn_http11)];
	size_t n = strlen(host);

	if (n == 0 || n > LIMIT_HOST_BYTES)
		return -EINVAL;
	memcpy(s->host, host, n + 1);
	if (!is_ip_literal(host) &&
	    wolfSSL_UseSNI(s->ssl, WOLFSSL_SNI_HOST_NAME, host, (unsigned short)n) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	/* IP literals too: wolfSSL matches them against IP SANs. */
	if (wolfSSL_check_domain_name(s->ssl, host) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	cache_offer(s->ctx, host, s->ssl);
	memcpy(alpn, alpn_http11, sizeof(alpn));   /* wolfSSL wants a char * */
	if (wolfSSL_UseALPN(s->ssl, alpn, sizeof(alpn) - 1,
			    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	return 0;
}

static int server_setup(struct tls_session *s)
{
	char alpn[sizeof(alpn_server)];

	memcpy(alpn, alpn_server, sizeof(alpn));
	if (wolfSSL_UseALPN(s->ssl, alpn, sizeof(alpn) - 1,
			    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	return 0;
}

int tls_session_new(struct tls_ctx *ctx, const char *host, struct tls_session **out)
{
	struct tls_session *s;
	size_t in_cap;
	int rc;

	assert(ctx && ctx->magic == TLS_CTX_MAGIC);
	if ((host == NULL) != ctx->server)
		return -EINVAL;
	in_cap = ctx->server ? LIMIT_TLS_SERVER_IN_BYTES : LIMIT_TLS_IN_BYTES;
	s = malloc(sizeof(*s) + in_cap);
	if (s == NULL)
		return -ENOMEM;
	/* the buffers need no zeroing: only [head, len) is ever read */
	memset(s, 0, offsetof(struct tls_session, out));
	s->in_cap = in_cap;
	s->magic = TLS_SESSION_MAGIC;
	s->ctx = ctx;
	s->reason = "";
	s->ssl = wolfSSL_new(ctx->wctx);
	if (s->ssl == NULL) {
		free(s);
		return -ENOMEM;
	}
	wolfSSL_SetIOReadCtx(s->ssl, s);
	wolfSSL_SetIOWriteCtx(s->ssl, s);
	rc = ctx->server ? server_setup(s) : client_setup(s, host);
	if (rc) {
		tls_session_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	assert(s->magic == TLS_SESSION_MAGIC);
	if (s->err == 0)
		session_keep(s);
	wolfSSL_free(s->ssl);
	s->magic = 0;
	free(s);
}

size_t tls_feed(struct tls_session *s, const void *ciphertext, size_t len)
{
	size_t room;

	assert(s->magic == TLS_SESSION_MAGIC);
	if (len == 0) {
		s->eof = true;
		return 0;
	}
	if (s->in_head > 0 && s->in_cap - s->in_len < len) {
		memmove(s->in, s->in + s->in_head, s->in_len - s->in_head);
		s->in_len -= s->in_head;
		s->in_head = 0;
	}
	room = s->in_cap - s->in_len;
	if (len > room)
		len = room;
	memcpy(s->in + s->in_len, ciphertext, len);
	s->in_len += len;
	track_records(s, ciphertext, len);
	return len;
}

int tls_handshake(struct tls_session *s)
{
	int ret;

	assert(s->magic == TLS_SESSION_MAGIC);
	if (s->err)
		return s->err;
	if (s->done)
		return 0;
	ret = wolfSSL_negotiate(s->ssl);
	if (ret != WOLFSSL_SUCCESS)
		return io_result(s, ret, true);   /* negotiate resumes after WANT_WRITE */
	s->done = true;
	session_keep(s);
	return 0;
}

size_t tls_input_unread(const struct tls_session *s)
{
	return s->in_len - s->in_head;
}

bool tls_input_mid_record(const struct tls_session *s)
{
	return s->rec_hdr_len > 0 || s->rec_body_left > 0;
}

/* Follow record boundaries over bytes fed: headers byte by byte, bodies
 * skipped whole. */
static void track_records(struct tls_session *s, const unsigned char *p, size_t len)
{
	while (len > 0) {
		if (s->rec_body_left > 0) {
			size_t k = len < s->rec_body_left ? len : s->rec_body_left;

			s->rec_body_left -= (uint32_t)k;
			p += k;
			len -= k;
			continue;
		}
		s->rec_hdr[s->rec_hdr_len++] = *p++;
		len--;
		if (s->rec_hdr_len == sizeof(s->rec_hdr)) {
			s->rec_body_left = (uint32_t)s->rec_hdr[3] << 8 | s->rec_hdr[4];
			s->rec_hdr_len = 0;
		}
	}
}

const char *tls_reason(const struct tls_session *s)
{
	return s->reason;
}

void tls_pending_output(const struct tls_session *s, const void **ptr, size_t *len)
{
	*ptr = s->out + s->out_head;
	*len = s->out_len - s->out_head;
}

void tls_output_done(struct tls_session *s, size_t n)
{
	assert(n <= s->out_len - s->out_head);
	s->out_head += n;
	if (s->out_head == s->out_len)       /* nothing in flight: start over */
		s->out_head = s->out_len = 0;
}

/*
 * One record per wolfSSL_write, and only when its exact ciphertext size
 * (wolfSSL_GetOutputSize) fits beside the reserve: our send callback then
 * never says WANT_WRITE to a write, whose retry rules (call again with the
 * same bytes) would leak into our callers.
 */
ssize_t tls_write(struct tls_session *s, const void *plain, size_t len)
{
	const char *p = plain;
	size_t done = 0;
	int max;

	assert(s->magic == TLS_SESSION_MAGIC);
	if (s->err)
		return s->err;
	if (!s->done)
		return -ENOTCONN;
	max = wolfSSL_GetMaxOutputSize(s->ssl);
	if (max <= 0)
		return fail(s, max);
	while (done < len) {
		int chunk = len - done < (size_t)max ? (int)(len - done) : max;
		int need = wolfSSL_GetOutputSize(s->ssl, chunk), n;

		if (need < 0)
			return fail(s, need);
		if (s->out_len + (size_t)need + LIMIT_TLS_OUT_RESERVE_BYTES > sizeof(s->out))
			break;
		n = wolfSSL_write(s->ssl, p + done, chunk);
		if (n <= 0)
			return io_result(s, n, false);
		done += (size_t)n;
	}
	return done ? (ssize_t)done : -EAGAIN;
}

ssize_t tls_read(struct tls_session *s, void *buf, size_t cap)
{
	int n, e;

	assert(s->magic == TLS_SESSION_MAGIC && cap > 0);
	if (s->err)
		return s->err;
	if (!s->done)
		return -ENOTCONN;
	n = wolfSSL_read(s->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	session_keep(s);
	if (n > 0)
		return n;
	e = wolfSSL_get_error(s->ssl, n);
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return 0;
	return io_result(s, n, false);
}

int tls_shutdown(struct tls_session *s)
{
	int ret;

	assert(s->magic == TLS_SESSION_MAGIC);
	if (s->err)
		return s->err;
	if (sizeof(s->out) - s->out_len < LIMIT_TLS_OUT_RESERVE_BYTES)
		return -EAGAIN;
	ret = wolfSSL_shutdown(s->ssl);
	if (ret == WOLFSSL_SUCCESS || ret == WOLFSSL_SHUTDOWN_NOT_DONE)
		return 0;
	return io_result(s, ret, false);
}

bool tls_resumed(const struct tls_session *s)
{
	return wolfSSL_session_reused(s->ssl) == 1;
}

bool tls_resumed_prev_key(const struct tls_session *s)
{
	return s->prev_key_ticket && tls_resumed(s);
}

const char *tls_version(const struct tls_session *s)
{
	return wolfSSL_get_version(s->ssl);
}

const char *tls_cipher(const struct tls_session *s)
{
	return wolfSSL_get_cipher_name(s->ssl);
}

const char *tls_alpn(const struct tls_session *s)
{
	char *proto = NULL;
	unsigned short len = 0;

	if (wolfSSL_ALPN_GetProtocol(s->ssl, &proto, &len) != WOLFSSL_SUCCESS || proto == NULL)
		return NULL;
	/* the only protocols we offer or accept */
	if (len == sizeof(alpn_h2) - 1 && memcmp(proto, alpn_h2, len) == 0)
		return alpn_h2;
	return len == sizeof(alpn_http11) - 1 && memcmp(proto, alpn_http11, len) == 0 ?
		alpn_http11 : NULL;
}
