/*
 * control/cli_check_origin.c — `edgecache check-origin -c FILE ZONE [PATH]`:
 * ask each origin of a zone for PATH the way the edge would (mapped path,
 * SigV4-signed HEAD) and explain the answer in the words of the user
 * guide's error table (sigv4/s3_error.h).
 *
 * Every origin of the zone is checked, in failover order, each with its
 * own report: one origin that works does not hide another that does not.
 * Exit status: 0 when every origin answered 2xx, 1 when one answered
 * anything else or could not be reached (a certificate that does not
 * verify included), 2 for bad usage, a bad config or a bad PATH.
 *
 * A blocking client on purpose: this is a one-shot CLI on the main
 * thread (and the admin API's control thread), and a plain socket with
 * poll() timeouts is easier to read than the shards' ring. An https
 * origin goes through the serving path's own TLS code (net/tls.h): a
 * client context from tls_client_ctx_new with the origin's ca_file (or
 * the system bundle), SNI and host-name verification against the
 * origin's host, TLS 1.2/1.3; this file only moves its ciphertext over
 * the socket. An unverified peer is never sent the request. It never
 * prints the secret key or the session token (a token line in a
 * canonical request is shown redacted).
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control/cli.h"
#include "control/config_load.h"
#include "core/limits.h"
#include "edge/origin_request.h"
#include "net/http1.h"
#include "sigv4/s3_error.h"
#include "sigv4/s3_path.h"
#include "net/tls.h"
#include "sigv4/sigv4.h"

#define CO_REQUEST_BYTES  (LIMIT_S3_WIRE_PATH_BYTES + SIGV4_AUTH_MAX + SIGV4_TOKEN_MAX + 1024)

/* The longest string to sign (algorithm, X-Amz-Date, scope with the
 * longest region and service, a hash) fits the trace buffer. */
_Static_assert(sizeof("AWS4-HMAC-SHA256\n") + SIGV4_AMZ_DATE_LEN + sizeof("\nYYYYMMDD/") +
	       LIMIT_REGION_BYTES + 1 + LIMIT_SERVICE_BYTES + sizeof("/aws4_request\n") + 64 <=
	       LIMIT_CHECK_ORIGIN_STS_BYTES, "check-origin's string to sign must fit");

/* One origin answer: the raw head, and the body decoded up to the cap. */
struct co_resp {
	char head[LIMIT_RESPONSE_HEADER_BYTES];
	size_t head_len;                 /* bytes read into head[] */
	struct http1_response parsed;
	char body[LIMIT_S3ERR_BODY_BYTES];
	size_t body_len;
	uint64_t body_seen;              /* body bytes received (Content-Length) */
	bool body_cut;                   /* more body than we keep */
	const char *parse_err;           /* why the head was refused (-EPROTO) */
	struct http1_chunked chunked;
};

/* One connection to the origin: the socket, and for https its TLS
 * session with ciphertext received but not yet taken by tls_feed. */
struct co_conn {
	int fd;
	struct tls_session *tls;         /* NULL: plain HTTP */
	char raw[LIMIT_CHECK_ORIGIN_IN_BYTES];
	size_t raw_off, raw_len;
	bool eof;                        /* the socket said 0 (fed to the session) */
};

/* Where the report goes: stdout and stderr for the CLI, one memory
 * stream for the admin API (cli_check_origin_run). */
static FILE *co_out, *co_err;

/* What one check of one origin needs; big, so static (CLI only). */
struct co_check {
	const struct cfg_origin *o;
	const char *raw;                 /* the visitor path asked for (with any ?query) */
	int64_t clock_offset_s;          /* the origin's clock minus ours, learned by the edge */
	struct sigv4_creds creds;
	char path[LIMIT_S3_WIRE_PATH_BYTES + 1];
	char host[LIMIT_S3_HOST_BYTES + 1];
	char canonical[LIMIT_S3ERR_TEXT_BYTES];
	char sts[LIMIT_CHECK_ORIGIN_STS_BYTES];
	char req[CO_REQUEST_BYTES];
	size_t req_len;
	struct co_resp resp;
	struct s3err_result err;
	struct tls_ctx *tls;             /* https: this check's client context */
	char tls_why[128];               /* why TLS failed ("" if it did not) */
};

static struct co_check check;

/* ---- the blocking HTTP/1.1 client ---------------------------------------- */

/* Wait for `events` on fd; 0, -ETIMEDOUT, or -errno. */
static int co_wait(int fd, short events, uint32_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, (int)timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Non-blocking connect bounded by timeout_ms; a connected fd or -errno. */
static int co_connect_one(const struct addrinfo *ai, uint32_t timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	int rc = 0, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = errno == EINPROGRESS ? co_wait(fd, POLLOUT, timeout_ms) : -errno;
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
			rc = -soerr;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Resolve and connect; a fd, or -errno (-EHOSTUNREACH for DNS failure). */
static int co_connect(const struct cfg_origin *o, const char **what)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int fd = -ECONNREFUSED;

	snprintf(port, sizeof(port), "%u", (unsigned)o->port);
	*what = "DNS lookup";
	if (getaddrinfo(o->host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	*what = "connect";
	for (ai = res; ai; ai = ai->ai_next) {
		fd = co_connect_one(ai, o->connect_timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

static int co_send_plain(int fd, const char *p, size_t len, uint32_t timeout_ms)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = errno == EINTR ? 0 : co_wait(fd, POLLOUT, timeout_ms);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read what is there within timeout_ms; bytes read (0 = closed) or -errno. */
static ssize_t co_recv_plain(int fd, char *buf, size_t cap, uint32_t timeout_ms)
{
	int rc = co_wait(fd, POLLIN, timeout_ms);
	ssize_t n;

	if (rc < 0)
		return rc;
	do
		n = recv(fd, buf, cap, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Send whatever ciphertext the session has queued. */
static int co_tls_flush(struct co_conn *c, uint32_t timeout_ms)
{
	const void *p;
	size_t n;
	int rc;

	tls_pending_output(c->tls, &p, &n);
	if (n == 0)
		return 0;
	if ((rc = co_send_plain(c->fd, p, n, timeout_ms)) < 0)
		return rc;
	tls_output_done(c->tls, n);
	return 0;
}

/* The session wants input: flush, then feed it what the socket has
 * (leftovers first). 0, or -errno (-ETIMEDOUT, -ECONNRESET after EOF). */
static int co_tls_input(struct co_conn *c, uint32_t timeout_ms)
{
	int rc = co_tls_flush(c, timeout_ms);
	size_t took;

	if (rc < 0)
		return rc;
	if (c->raw_off == c->raw_len) {
		ssize_t n;

		if (c->eof)
			return -ECONNRESET;
		n = co_recv_plain(c->fd, c->raw, sizeof(c->raw), timeout_ms);
		if (n < 0)
			return (int)n;
		c->raw_off = 0;
		c->raw_len = (size_t)n;
		if (n == 0) {
			c->eof = true;
			tls_feed(c->tls, c->raw, 0);
			return 0;
		}
	}
	took = tls_feed(c->tls, c->raw + c->raw_off, c->raw_len - c->raw_off);
	c->raw_off += took;
	return took > 0 ? 0 : -EPROTO;  /* full and still wanting more: stuck */
}

/* Keep tls_reason's words for the report (the session goes first). */
static void co_tls_fail(struct co_check *k, const struct co_conn *c, int rc)
{
	const char *why = c->tls ? tls_reason(c->tls) : "";

	snprintf(k->tls_why, sizeof(k->tls_why), "%s", why[0] ? why : strerror(-rc));
}

/* The handshake, bounded by timeout_ms per wait. */
static int co_tls_handshake(struct co_conn *c, uint32_t timeout_ms)
{
	for (;;) {
		int rc = tls_handshake(c->tls);

		if (rc == 0)
			return co_tls_flush(c, timeout_ms);
		if (rc != -EAGAIN)
			return rc;
		if ((rc = co_tls_input(c, timeout_ms)) < 0)
			return rc;
	}
}

static int co_send_all(struct co_conn *c, const char *p, size_t len, uint32_t timeout_ms)
{
	if (!c->tls)
		return co_send_plain(c->fd, p, len, timeout_ms);
	while (len > 0) {
		ssize_t n = tls_write(c->tls, p, len);
		int rc;

		if (n < 0 && n != -EAGAIN)
			return (int)n;
		if ((rc = co_tls_flush(c, timeout_ms)) < 0)
			return rc;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* Plaintext within timeout_ms (per wait); bytes (0 = closed) or -errno.
 * A TLS peer that closes without close_notify reads as closed too: the
 * answer is a diagnosis, and a cut body only shortens the error text. */
static ssize_t co_recv(struct co_conn *c, char *buf, size_t cap, uint32_t timeout_ms)
{
	if (!c->tls)
		return co_recv_plain(c->fd, buf, cap, timeout_ms);
	for (;;) {
		ssize_t n = tls_read(c->tls, buf, cap);
		int rc;

		if (n >= 0)
			return n;
		if (n == -ECONNRESET && c->eof)
			return 0;
		if (n != -EAGAIN)
			return n;
		if ((rc = co_tls_input(c, timeout_ms)) < 0)
			return rc == -ECONNRESET ? 0 : rc;
	}
}

/* Keep what fits of the body; the rest is counted, not kept. */
static void co_keep(struct co_resp *r, const char *p, size_t len)
{
	size_t room = sizeof(r->body) - r->body_len;

	if (len > room) {
		r->body_cut = true;
		len = room;
	}
	memcpy(r->body + r->body_len, p, len);
	r->body_len += len;
}

/* Take body bytes; true once the body is complete (or all we keep). */
static bool co_body(struct co_resp *r, const char *p, size_t len, int *err)
{
	const struct http1_response *h = &r->parsed;

	if (!h->chunked) {
		if (h->content_length >= 0 &&
		    (uint64_t)h->content_length - r->body_seen < len)
			len = (size_t)((uint64_t)h->content_length - r->body_seen);
		r->body_seen += len;
		co_keep(r, p, len);
		return r->body_cut || (h->content_length >= 0 &&
				       r->body_seen >= (uint64_t)h->content_length);
	}
	while (len > 0 && !r->chunked.done) {
		struct http1_span sp[16];
		size_t n_sp = 0;
		ssize_t used = http1_chunked_feed(&r->chunked, p, len, sp, 16, &n_sp);

		if (used < 0) {
			r->parse_err = http1_err_name((int)used);
			*err = -EPROTO;
			return true;
		}
		for (size_t i = 0; i < n_sp; i++)
			co_keep(r, p + sp[i].off, sp[i].len);
		p += used;
		len -= (size_t)used;
	}
	return r->chunked.done || r->body_cut;
}

/* Read the head; its length, or -errno (-EPROTO: see r->parse_err). */
static int co_read_head(struct co_conn *c, struct co_resp *r, bool head_req, uint32_t timeout_ms)
{
	for (;;) {
		int hl;
		ssize_t n;

		if (r->head_len == sizeof(r->head)) {
			r->parse_err = "response head too large";
			return -EPROTO;
		}
		n = co_recv(c, r->head + r->head_len, sizeof(r->head) - r->head_len, timeout_ms);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		r->head_len += (size_t)n;
		hl = http1_parse_response(r->head, r->head_len, head_req, &r->parsed);
		if (hl >= 0)
			return hl;
		if (hl != -HTTP1_E_AGAIN) {
			/* http1 errors share numbers with errno: keep the name. */
			r->parse_err = http1_err_name(hl);
			return -EPROTO;
		}
	}
}

/* One exchange on fd: send req, read the head and up to the body cap. */
static int co_exchange(struct co_conn *c, const struct cfg_origin *o, const char *req,
		       size_t req_len, bool head_req, struct co_resp *r)
{
	char buf[16384];
	int hl, err = 0;
	bool done;

	memset(r, 0, sizeof(*r));
	http1_chunked_init(&r->chunked);
	if ((hl = co_send_all(c, req, req_len, o->read_timeout_ms)) < 0)
		return hl;
	hl = co_read_head(c, r, head_req, o->read_timeout_ms);
	if (hl < 0)
		return hl;
	if (r->parsed.no_body)
		return 0;
	done = co_body(r, r->head + hl, r->head_len - (size_t)hl, &err);
	while (!done) {
		ssize_t n = co_recv(c, buf, sizeof(buf), o->read_timeout_ms);

		/* Close ends a close-delimited body; otherwise what came is
		 * enough: the status is known, the error document may be cut. */
		if (n <= 0)
			return 0;
		done = co_body(r, buf, (size_t)n, &err);
	}
	return err;
}

/* ---- the request ----------------------------------------------------------- */

/* Append to c->req; false (and req_len past the cap) when it does not fit. */
static bool co_add(struct co_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool co_add(struct co_check *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->req_len >= sizeof(c->req))
		return false;
	va_start(ap, fmt);
	n = vsnprintf(c->req + c->req_len, sizeof(c->req) - c->req_len, fmt, ap);
	va_end(ap);
	c->req_len += n < 0 ? sizeof(c->req) : (size_t)n;
	return c->req_len < sizeof(c->req);
}

/* NUL-terminate a trace text at what the signer wrote. */
static void co_terminate(char *buf, size_t cap, size_t len)
{
	buf[len < cap ? len : cap - 1] = '\0';
}

int check_origin_request(const struct cfg_origin *o, const struct sigv4_creds *creds,
			 int64_t clock_offset_s, const char *method, const char *raw, time_t now,
			 struct wbuf *w, struct sigv4_trace *trace)
{
	char base[3 * LIMIT_S3_WIRE_PATH_BYTES + 1];
	const char *q = strchr(raw, '?');
	size_t bl = strlen(o->base_path);
	ssize_t el = bl * 3 < sizeof(base) ?
		     sigv4_uri_encode_path(o->base_path, bl, base, sizeof(base)) : -ENOSPC;

	if (el < 0)
		return (int)el;
	struct oreq r = {
		.cfg = o, .base_path_wire = base, .base_path_wire_len = (size_t)el,
		.creds = o->s3_auth_enabled ? creds : NULL,
		.method = method, .method_len = strlen(method),
		.path = raw, .path_len = q ? (size_t)(q - raw) : strlen(raw),
		.query = q ? q + 1 : NULL, .query_len = q ? strlen(q + 1) : 0,
		.now = now, .clock_offset_s = clock_offset_s,
	};
	return oreq_write(&r, w, trace, NULL);
}

/*
 * Write `method` for c->raw into c->req the way the edge would (the
 * serving path's writer, with the learned clock offset), signed when the
 * origin signs; `unsigned_hdr` (may be NULL) is added after signing, as
 * the guide's Range probe does. Returns 0, or -errno from the signer /
 * -ENOSPC.
 */
static int co_build(struct co_check *c, const char *method, const char *unsigned_hdr,
		    time_t now)
{
	struct sigv4_trace tr = { c->canonical, sizeof(c->canonical), 0,
				  c->sts, sizeof(c->sts), 0 };
	struct wbuf w;
	bool ok;

	wbuf_init(&w, c->req, sizeof(c->req));
	int rc = check_origin_request(c->o, &c->creds, c->clock_offset_s, method, c->raw, now,
				      &w, &tr);
	if (rc < 0)
		return rc;
	if (w.overflow)
		return -ENOSPC;
	c->req_len = w.len;
	if (c->o->s3_auth_enabled) {
		co_terminate(c->canonical, sizeof(c->canonical), tr.canonical_request_len);
		co_terminate(c->sts, sizeof(c->sts), tr.string_to_sign_len);
	}
	ok = true;
	if (unsigned_hdr)
		ok = co_add(c, "%s\r\n", unsigned_hdr);
	ok = ok && co_add(c, "User-Agent: edgecache-check-origin\r\nConnection: close\r\n\r\n");
	return ok ? 0 : -ENOSPC;
}

/* ---- printing -------------------------------------------------------------- */

/* The next line of a NUL-terminated text; false at its end. */
static bool co_line(const char **p, const char **line, int *len)
{
	const char *nl;

	if (!*p)
		return false;
	nl = strchr(*p, '\n');
	*line = *p;
	*len = nl ? (int)(nl - *p) : (int)strlen(*p);
	*p = nl ? nl + 1 : NULL;
	return true;
}

/* A canonical-request or request line as shown: a token is redacted. */
static void co_show(const char *prefix, const char *line, int len, const char *suffix)
{
	static const char *const tok[] = { "x-amz-security-token:", "X-Amz-Security-Token:" };

	for (size_t i = 0; i < 2; i++) {
		int tl = (int)strlen(tok[i]);

		if (len >= tl && memcmp(line, tok[i], (size_t)tl) == 0) {
			fprintf(co_out, "%s%s%s<redacted>%s", prefix, tok[i],
			       len > tl && line[tl] == ' ' ? " " : "", suffix);
			return;
		}
	}
	fprintf(co_out, "%s%.*s%s", prefix, len, line, suffix);
}

/* The request as sent, one "> " line per header line. */
static void co_print_request(const struct co_check *c)
{
	const char *p = c->req, *line;
	int len;

	while (co_line(&p, &line, &len) && len > 1)
		co_show("> ", line, len - 1, "\n");     /* len - 1: drop the CR */
}

/* Ours beside the server's, "*" on lines that differ; 1 if they differ. */
static int co_side_by_side(const char *title, const char *ours, const char *theirs)
{
	const char *a = ours, *b = theirs, *la, *lb, *p = ours;
	int wa = 0, na, nb, width = 0, line = 0, first = 0;
	bool more_a, more_b;

	while (co_line(&p, &la, &wa))
		width = wa > width ? wa : width;
	width = width > 72 ? 72 : width;
	fprintf(co_out, "%s, ours | server's (* = differs):\n", title);
	for (;;) {
		more_a = co_line(&a, &la, &na);
		more_b = co_line(&b, &lb, &nb);
		if (!more_a && !more_b)
			break;
		if (!more_a)
			la = "", na = 0;
		if (!more_b)
			lb = "", nb = 0;
		line++;
		bool same = more_a == more_b && na == nb && memcmp(la, lb, (size_t)na) == 0;
		if (!same && !first)
			first = line;
		fprintf(co_out, "%c ", same ? ' ' : '*');
		co_show("", la, na, "");
		fprintf(co_out, "%*s| ", na < width ? width - na + 1 : 1, "");
		co_show("", lb, nb, "\n");
	}
	if (!first) {
		fprintf(co_out, "%s: identical\n", title);
		return 0;
	}
	fprintf(co_out, "first difference: %s line %d\n", title, first);
	return 1;
}

/* For SignatureDoesNotMatch: our texts against the server's. */
static void co_compare_signing(const struct co_check *c)
{
	const struct s3err_fields *f = &c->err.f;
	int diff = 0;

	if (!f->canonical_request[0] && !f->string_to_sign[0]) {
		fprintf(co_out, "the server did not send its canonical request; ours:\n");
		co_side_by_side("canonical request", c->canonical, "");
		return;
	}
	if (f->canonical_request[0])
		diff += co_side_by_side("canonical request", c->canonical, f->canonical_request);
	if (f->string_to_sign[0])
		diff += co_side_by_side("string to sign", c->sts, f->string_to_sign);
	if (!diff)
		fprintf(co_out, "both sides signed the same texts: the key differs — the secret "
		       "access key (or the date / region of its scope)\n");
}

/* The server's Date minus our clock, in seconds; false without a Date. */
static bool co_skew(const struct co_resp *r, time_t now, int64_t *skew)
{
	const struct http1_header *d = http1_find_header(r->parsed.headers,
							 r->parsed.n_headers, "date");
	char buf[64];
	struct tm tm;

	if (!d || d->value_len >= sizeof(buf))
		return false;
	memcpy(buf, d->value, d->value_len);
	buf[d->value_len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (!strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return false;
	*skew = (int64_t)timegm(&tm) - (int64_t)now;
	return true;
}

/* The details a verdict needs beyond its words. */
static void co_details(const struct co_check *c, bool have_skew, int64_t skew)
{
	const struct s3err_result *e = &c->err;

	switch (e->verdict) {
	case S3ERR_V_SIGNATURE:
		co_compare_signing(c);
		break;
	case S3ERR_V_REGION:
		fprintf(co_out, "the server expects region '%s'; this origin signs for '%s' (s3_region)\n",
		       e->f.region[0] ? e->f.region : "(not named)", c->creds.region);
		break;
	case S3ERR_V_CLOCK_SKEW:
		if (have_skew)
			fprintf(co_out, "clock skew: the server's Date is %+lld s from this host's clock\n",
			       (long long)skew);
		break;
	case S3ERR_V_REDIRECT:
		fprintf(co_out, "the server names endpoint '%s', region '%s'\n",
		       e->f.endpoint[0] ? e->f.endpoint : "(none)",
		       e->f.region[0] ? e->f.region : "(none)");
		break;
	case S3ERR_V_NO_SUCH_BUCKET:
		fprintf(co_out, "asked for %s%s (base_path '%s'); the bucket is its first segment\n",
		       c->o->s3_addressing == CFG_S3_ADDRESSING_VIRTUAL ? "host " : "",
		       c->o->s3_addressing == CFG_S3_ADDRESSING_VIRTUAL ? c->host : c->path,
		       c->o->base_path ? c->o->base_path : "");
		break;
	case S3ERR_V_NO_SUCH_KEY:
		fprintf(co_out, "key: %s\n", e->f.key[0] ? e->f.key : c->path);
		break;
	default:
		break;
	}
}

static void co_explain(const struct co_check *c, time_t now)
{
	const struct s3err_result *e = &c->err;
	const struct s3err_advice *a = s3err_advice(e->verdict);
	int64_t skew = 0;
	bool have_skew = co_skew(&c->resp, now, &skew);

	if (e->f.code[0])
		fprintf(co_out, "S3 Code: %s\nS3 Message: %s\n", e->f.code, e->f.message);
	else if (e->html)
		fprintf(co_out, "body: HTML, no S3 XML error document\n");
	else if (e->verdict != S3ERR_V_OK)
		fprintf(co_out, "body: no S3 XML error document\n");
	if (e->truncated)
		fprintf(co_out, "(some fields of the error document were cut to their size)\n");
	fprintf(co_out, "verdict: %s\nfix: %s\n", a->meaning, a->fix);
	co_details(c, have_skew, skew);
	if (have_skew && e->verdict != S3ERR_V_CLOCK_SKEW && (skew > 300 || skew < -300))
		fprintf(co_out, "note: the server's clock is %+lld s from this host's\n", (long long)skew);
}

/* ---- one origin ------------------------------------------------------------ */

/* close_notify when it can go out at once, then the socket. */
static void co_close(struct co_conn *c)
{
	if (c->tls) {
		if (tls_shutdown(c->tls) == 0)
			(void)co_tls_flush(c, 100);
		tls_session_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
}

/*
 * Send one request and read the answer into c->resp. Returns 0 or -errno;
 * *what names the step that failed (DNS lookup, connect, exchange).
 */
static int co_round(struct co_check *c, const char *method, const char *unsigned_hdr,
		    time_t now, const char **what)
{
	static struct co_conn conn_mem;
	struct co_conn *conn = &conn_mem;
	int rc;

	memset(conn, 0, sizeof(*conn));

	*what = "sign";
	if ((rc = co_build(c, method, unsigned_hdr, now)) < 0)
		return rc;
	co_print_request(c);
	conn->fd = co_connect(c->o, what);
	if (conn->fd < 0)
		return conn->fd;
	if (c->tls) {
		*what = "TLS handshake";
		rc = tls_session_new(c->tls, c->o->host, &conn->tls);
		if (rc == 0)
			rc = co_tls_handshake(conn, c->o->connect_timeout_ms);
		if (rc < 0) {
			co_tls_fail(c, conn, rc);
			co_close(conn);
			return rc;
		}
		fprintf(co_out, "* TLS: %s %s, certificate verified for %s%s\n",
			tls_version(conn->tls), tls_cipher(conn->tls), c->o->host,
			tls_resumed(conn->tls) ? " (resumed)" : "");
	}
	*what = "exchange";
	rc = co_exchange(conn, c->o, c->req, c->req_len, strcmp(method, "HEAD") == 0, &c->resp);
	if (rc < 0 && conn->tls)
		co_tls_fail(c, conn, rc);
	co_close(conn);
	if (rc < 0)
		return rc;
	fprintf(co_out, "< HTTP/1.%u %u %.*s (%zu body bytes%s)\n", c->resp.parsed.version_minor,
	       c->resp.parsed.status, (int)c->resp.parsed.reason_len, c->resp.parsed.reason,
	       c->resp.body_len, c->resp.body_cut ? ", cut" : "");
	return 0;
}

/* A TLS failure in the guide's manner: s3_error.h's verdicts are about
 * answers; this one is about the channel, and nothing was asked. */
static const char co_tls_meaning[] =
	"TLS with the origin failed: its certificate did not verify or the handshake was "
	"refused (nothing was sent; the edge answers 503 Service Unavailable)";
static const char co_tls_fix[] =
	"Set ca_file to the CA bundle that signed the origin's certificate (default: the "
	"system bundle), and use in url the host name the certificate names";

static void co_unreachable(const struct co_check *c, const char *what, int rc)
{
	const struct s3err_advice *a = s3err_advice(S3ERR_V_UNREACHABLE);

	if (c->tls_why[0]) {
		fprintf(co_out, "no answer: %s with %s port %u failed: %s\nverdict: %s\nfix: %s\n",
			what, c->o->host, (unsigned)c->o->port, c->tls_why, co_tls_meaning,
			co_tls_fix);
		return;
	}
	fprintf(co_out, "no answer: %s to %s port %u failed: %s\n", what, c->o->host,
	       (unsigned)c->o->port,
	       rc == -EPROTO && c->resp.parse_err ? c->resp.parse_err :
	       rc == -EHOSTUNREACH && strcmp(what, "DNS lookup") == 0 ? "name not resolved" :
	       strerror(-rc));
	fprintf(co_out, "verdict: %s\nfix: %s\n", a->meaning, a->fix);
}

/* Map the path and load the credentials; 0 or an exit status (2). */
static int co_prepare(struct co_check *c, const char *raw, time_t now)
{
	const struct cfg_origin *o = c->o;
	struct s3path_out out = { c->path, sizeof(c->path), 0, c->host, sizeof(c->host), 0 };
	const char *q = strchr(raw, '?');
	int rc = s3path_map(o, raw, q ? (size_t)(q - raw) : strlen(raw), &out);

	if (rc < 0) {
		fprintf(co_err, "check-origin: PATH '%s' cannot be mapped: %s\n", raw,
			rc == -EINVAL ? "bad %-escape, no leading '/', or no bucket segment "
			"for virtual addressing" : "too long");
		return 2;
	}
	if (!o->s3_auth_enabled)
		return 0;
	rc = sigv4_creds_init(&c->creds, o->s3_access_key ? o->s3_access_key : "",
			      o->s3_secret_key ? o->s3_secret_key : "", o->s3_region,
			      o->s3_service, o->s3_session_token, now);
	if (rc < 0) {
		fprintf(co_err, "check-origin: %s:%d: origin %s: the S3 credentials are "
			"unusable (%s)\n", o->where.file, o->where.line, o->name, strerror(-rc));
		return 2;
	}
	return 0;
}

/* https: the serving path's trust settings (tls_client_ctx_new with the
 * origin's ca_file), made per check so an admin candidate's ca_file is
 * the one tried. 0 or -errno with c->tls_why set. */
static int co_tls_ctx(struct co_check *c, const char **what)
{
	const char *why = NULL;
	int rc;

	if (c->o->scheme != CFG_SCHEME_HTTPS)
		return 0;
	*what = "TLS setup";
	rc = tls_client_ctx_new(c->o->ca_file, 0, &c->tls, &why);
	if (rc < 0)
		snprintf(c->tls_why, sizeof(c->tls_why), "ca_file %s: %s",
			 c->o->ca_file ? c->o->ca_file : TLS_SYSTEM_CA_FILE,
			 why ? why : strerror(-rc));
	return rc;
}

/* Check one origin; returns its exit status (0, 1 or 2). */
static int co_origin(const struct cfg_zone *z, const struct cfg_origin *o, const char *raw,
		     int64_t clock_offset_s)
{
	struct co_check *c = &check;
	time_t now = time(NULL);
	const char *what;
	int rc;

	memset(c, 0, sizeof(*c));
	c->o = o;
	c->raw = raw;
	c->clock_offset_s = clock_offset_s;
	c->err.verdict = S3ERR_V_UNREACHABLE;
	fprintf(co_out, "== zone %s, origin %s (%s), path %s\n", z->name, o->name, o->url, raw);
	if ((rc = co_prepare(c, raw, now)) != 0)
		return rc;
	rc = co_tls_ctx(c, &what);
	if (rc == 0)
		rc = co_round(c, "HEAD", NULL, now, &what);
	if (rc == 0 && (c->resp.parsed.status < 200 || c->resp.parsed.status > 299) &&
	    c->resp.body_len == 0) {
		fprintf(co_out, "HEAD answered %u without a body; repeating as a signed GET with "
		       "an unsigned Range: bytes=0-0 to read the error document\n",
		       c->resp.parsed.status);
		rc = co_round(c, "GET", "Range: bytes=0-0", now, &what);
	}
	tls_ctx_free(c->tls);
	c->tls = NULL;
	if (rc < 0) {
		co_unreachable(c, what, rc);
		sigv4_creds_wipe(&c->creds);
		return 1;
	}
	s3err_parse(c->resp.parsed.status, c->resp.parsed.headers, c->resp.parsed.n_headers,
		    c->resp.body, c->resp.body_len, 0, &c->err);
	co_explain(c, now);
	sigv4_creds_wipe(&c->creds);
	return c->err.verdict == S3ERR_V_OK ? 0 : 1;
}

int cli_check_origin_run(const struct cfg_zone *z, const struct cfg_origin *o, const char *path,
		     int64_t clock_offset_s, uint32_t timeout_ms, FILE *out,
		     struct cli_check_origin_result *res)
{
	struct cfg_origin capped = *o;   /* shallow: only the timeouts differ */
	const struct s3err_advice *a;

	if (capped.connect_timeout_ms > timeout_ms)
		capped.connect_timeout_ms = timeout_ms;
	if (capped.read_timeout_ms > timeout_ms)
		capped.read_timeout_ms = timeout_ms;
	co_out = co_err = out;
	memset(res, 0, sizeof(*res));
	res->result = co_origin(z, &capped, path, clock_offset_s);
	fflush(out);
	res->status = check.resp.parsed.status;
	snprintf(res->code, sizeof(res->code), "%.127s", check.err.f.code);
	snprintf(res->message, sizeof(res->message), "%.255s", check.err.f.message);
	snprintf(res->tls_error, sizeof(res->tls_error), "%.127s", check.tls_why);
	a = s3err_advice(res->result == 0 ? S3ERR_V_OK : check.err.verdict);
	res->meaning = a->meaning;
	res->fix = a->fix;
	if (res->result == 1 && check.tls_why[0]) {
		res->meaning = co_tls_meaning;
		res->fix = co_tls_fix;
	}
	if (res->result == 2) {
		res->meaning = "not checked: a path that does not map, or unusable credentials";
		res->fix = "see the report";
	}
	memset(&check, 0, sizeof(check));       /* the request held a signature */
	co_out = stdout;
	co_err = stderr;
	return res->result;
}

static void co_usage(FILE *f)
{
	fputs("usage: edgecache check-origin -c FILE ZONE [PATH]\n"
	      "  ZONE: a zone's name or uuid; PATH: a visitor path (default /)\n", f);
}

int cli_check_origin_main(int argc, char **argv)
{
	const char *file = NULL, *raw;
	const struct cfg_zone *z;
	struct cfg_error err;
	struct cfg *cfg;
	int opt, worst = 0;

	co_out = stdout;
	co_err = stderr;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		if (opt == 'c') {
			file = optarg;
		} else {
			co_usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!file || argc - optind < 1 || argc - optind > 2) {
		co_usage(stderr);
		return 2;
	}
	raw = argc - optind == 2 ? argv[optind + 1] : "/";
	if (cfg_load(file, &cfg, &err) < 0) {
		fprintf(stderr, "check-origin: %s\n", err.msg);
		return 2;
	}
	z = cfg_zone_by_name(cfg, argv[optind]);
	if (!z || z->n_origins == 0) {
		fprintf(stderr, "check-origin: %s '%s'\n", z ? "no origin in zone" : "no zone named",
			argv[optind]);
		cfg_free(cfg);
		return 2;
	}
	for (size_t i = 0; i < z->n_origins; i++) {
		/* no edge running here: no offset learned yet */
		int rc = co_origin(z, &z->origins[i], raw, 0);

		fprintf(co_out, "result: %s\n", rc == 0 ? "OK" : rc == 1 ? "FAILED" : "NOT CHECKED");
		worst = rc > worst ? rc : worst;
	}
	fflush(stdout);
	cfg_free(cfg);
	return worst;
}
