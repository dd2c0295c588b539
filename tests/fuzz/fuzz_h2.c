/*
 * tests/fuzz/fuzz_h2.c — target for the HTTP/2 glue (edge/h2.c): the input
 * is what a client sends after the connection preface, fed in pieces to a
 * server-side session exactly as edge/visitor.c does (h2_start, h2_recv,
 * h2_on_sent, h2_conn_end, h2_conn_free).
 *
 * The seam is the link: edge/h2.c is compiled in as is, and the exchange
 * and visitor functions it calls (exchange_stream_new/start/body/closed/
 * pulled, visitor_send, ...) are played here by a fake layer with no ring
 * and no socket. A stream's request, rebuilt by h2.c as an HTTP/1.1 head,
 * is checked at exchange_stream_start:
 *   - it fits its block, has no NUL, no bare CR or LF (no line a header
 *     value could inject), and parses as exactly one request of exactly
 *     head_len bytes or not at all (the visitor answers 400 then);
 *   - it is never chunked (HTTP/2 frames the body itself);
 *   - each header line the parser found is one h2.c wrote.
 * Each stream is then answered (a 200 with a body now or after the input,
 * a 304, or an upload refused by the "origin"), so the response side runs
 * too (submit_head, read_body, deferral, resets). At the end every stream
 * exchange was closed exactly once, and none is left. A broken promise aborts.
 *
 * Built with clang -fsanitize=fuzzer when meson's `fuzz` option is on;
 * otherwise fuzz_main.c drives it as a replay + mutation test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "edge/shard.h"
#include "edge/exchange.h"
#include "edge/h2.h"
#include "net/http1.h"
#include "net/iobuf.h"
#include "edge/visitor.h"

#include "tests/fuzz/fuzz.h"

#define FAKE_MAGIC   0x66616b65u     /* "fake": a live stream exchange */
#define MAX_SLOTS    (LIMIT_H2_MAX_STREAMS + 8)

/* ---- the fake visitor layer ------------------------------------------------ */

static struct shard *sh;
static struct visitor_conn conn;
static struct exchange *slots[MAX_SLOTS];
static bool slot_later[MAX_SLOTS];      /* body queued after the input */
static unsigned n_live;
static bool conn_sent;                  /* visitor_send was called */
static uint64_t mode;                   /* per input: answers, refusals */

static const char resp_200[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nCache-Control: max-age=60\r\n"
	"Connection: keep-alive\r\nX-Cache: MISS\r\n\r\n";
static const char resp_304[] = "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n";
static const char body_11[] = "hello world";

/* Needed by h2.c's log_debug and counters: no output. */
int log_level_max = LOG_ERROR;

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	(void)lvl;
	(void)fmt;
}

static int slot_of(const struct exchange *svc)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (slots[i] == svc)
			return i;
	return -1;
}

static void slot_free(struct exchange *svc)
{
	int i = slot_of(svc);

	FUZZ_ASSERT(i >= 0 && svc->magic == FAKE_MAGIC);
	svc->magic = 0;
	slots[i] = NULL;
	n_live--;
	iobuf_outq_clear(&svc->sout, &sh->pool);
	free(svc->in);
	free(svc);
}

struct exchange *exchange_stream_new(struct shard *s, struct h2conn *h, const char *peer_ip)
{
	FUZZ_ASSERT(s == sh && h == conn.h2 && peer_ip == conn.peer_ip);
	/* one refusal in 16 inputs: no slot (the pool is empty) */
	if ((mode & 15) == 0 && n_live == 1)
		return NULL;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (slots[i])
			continue;
		struct exchange *svc = calloc(1, sizeof(*svc));
		FUZZ_ASSERT(svc);
		svc->in = malloc(IOBUF_HBUF_BYTES);
		FUZZ_ASSERT(svc->in);
		svc->magic = FAKE_MAGIC;
		svc->h2 = h;
		iobuf_outq_init(&svc->sout);
		slots[i] = svc;
		slot_later[i] = false;
		n_live++;
		return svc;
	}
	FUZZ_ASSERT(!"h2.c holds more stream slots than LIMIT_H2_MAX_STREAMS");
	return NULL;
}

static void push(struct exchange *svc, const char *p, size_t n)
{
	struct iobuf_seg seg = { .ptr = p, .len = (uint32_t)n, .kind = IOBUF_SEG_STATIC };

	FUZZ_ASSERT(iobuf_outq_push(&svc->sout, &seg));
}

/* What h2.c wrote: CRLF lines only, no NUL, one request of head_len bytes. */
static void check_head(const char *in, uint32_t len, struct http1_request *req)
{
	unsigned lines = 0;

	FUZZ_ASSERT(len >= 4 && len <= IOBUF_HBUF_BYTES);
	for (uint32_t i = 0; i < len; i++) {
		FUZZ_ASSERT(in[i] != '\0');
		if (in[i] == '\r')
			FUZZ_ASSERT(i + 1 < len && in[i + 1] == '\n');
		if (in[i] == '\n') {
			FUZZ_ASSERT(i > 0 && in[i - 1] == '\r');
			lines++;
		}
	}
	FUZZ_ASSERT(memcmp(in + len - 4, "\r\n\r\n", 4) == 0);
	char *copy = malloc(len);       /* exact size: ASan sees an over-read */
	FUZZ_ASSERT(copy);
	memcpy(copy, in, len);
	int r = http1_parse_request(copy, len, req);
	free(copy);
	FUZZ_ASSERT(r < 0 || (uint32_t)r == len);
	if (r < 0)
		return;                 /* the visitor answers 400 */
	FUZZ_ASSERT(!req->chunked);
	/* request line + fields + blank line: every line a field the parser
	 * saw (the Host line is one of them) */
	FUZZ_ASSERT(req->n_headers + 2u == lines);
}

void exchange_stream_start(struct shard *s, struct exchange *svc, uint32_t head_len,
			  bool has_body)
{
	int i = slot_of(svc);

	FUZZ_ASSERT(s == sh && i >= 0 && svc->magic == FAKE_MAGIC && svc->h2);
	check_head(svc->in, head_len, &svc->req);
	/* The pointers in req point into the freed copy: only fields. */
	bool head = head_len > 5 && memcmp(svc->in, "HEAD ", 5) == 0;
	svc->req.method = head ? HTTP1_HEAD : HTTP1_GET;
	svc->resp_done = false;
	switch (((mode >> 4) + (uint64_t)svc->h2_sid) & 3) {
	case 0:                         /* a 200, body queued at once */
		push(svc, resp_200, sizeof(resp_200) - 1);
		push(svc, body_11, sizeof(body_11) - 1);
		svc->resp_done = true;
		break;
	case 1:                         /* a 304 */
		push(svc, resp_304, sizeof(resp_304) - 1);
		svc->resp_done = true;
		break;
	default:                        /* the head now, the body after the input */
		push(svc, resp_200, sizeof(resp_200) - 1);
		slot_later[i] = true;
		break;
	}
	(void)has_body;
	h2_stream_flush(sh, svc);
}

void exchange_stream_closed(struct shard *s, struct exchange *svc, bool complete)
{
	(void)complete;
	FUZZ_ASSERT(s == sh && svc->h2 == NULL);
	slot_free(svc);
}

bool exchange_stream_body(struct shard *s, struct exchange *svc, const char *p, size_t n)
{
	FUZZ_ASSERT(s == sh && svc->magic == FAKE_MAGIC && (p || !n));
	/* some uploads fail at the origin: the stream is reset, the slot goes */
	if (((mode >> 8) + (uint64_t)svc->h2_sid) % 5 == 0) {
		h2_stream_gone(sh, svc);
		FUZZ_ASSERT(svc->h2 == NULL);
		slot_free(svc);
		return false;
	}
	return true;
}

bool exchange_stream_upload_room(const struct exchange *svc)
{
	return ((mode >> 12) + (uint64_t)svc->h2_sid) % 3 != 0;
}

void exchange_stream_pulled(struct shard *s, struct exchange *svc)
{
	FUZZ_ASSERT(s == sh && svc->magic == FAKE_MAGIC);
}

void visitor_h2_timers(struct shard *s, struct visitor_conn *c)
{
	FUZZ_ASSERT(s == sh && c == &conn);
}

void visitor_send(struct shard *s, struct visitor_conn *vc)
{
	FUZZ_ASSERT(s == sh && vc == &conn);
	conn_sent = true;
}

/* The connection's sends complete: drop what went out, let h2 go on. */
static bool drain_sends(void)
{
	bool alive = true;

	for (int round = 0; round < 256 && conn_sent; round++) {
		uint64_t n = 0;
		conn_sent = false;
		for (uint16_t k = 0; k < conn.out.n; k++)
			n += conn.out.segs[(conn.out.head + k) % IOBUF_OUTQ_SEGS].len;
		iobuf_outq_consume(&conn.out, &sh->pool, n);
		alive = h2_on_sent(sh, &conn);
	}
	return alive;
}

/* ---- one input ------------------------------------------------------------ */

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ULL;
	char *buf = malloc(H2_PREFACE_LEN + size);

	FUZZ_ASSERT(buf);
	if (!sh) {
		sh = calloc(1, sizeof(*sh));
		FUZZ_ASSERT(sh);
	}
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	rng = h | 1;
	mode = next();
	sh->lp.now_ms = 1000000;
	memset(&conn, 0, sizeof(conn));
	iobuf_outq_init(&conn.out);
	conn.fd = 7;
	memcpy(buf, H2_PREFACE, H2_PREFACE_LEN);
	memcpy(buf + H2_PREFACE_LEN, data, size);

	/* The preface and a first piece, then pieces of random size, each
	 * an exact-size copy; the clock moves a little now and then. */
	size_t at = H2_PREFACE_LEN + (size ? next() % (size + 1) : 0), total = H2_PREFACE_LEN + size;
	bool alive = h2_start(sh, &conn, buf, at);
	alive = drain_sends() && alive;
	while (alive && at < total) {
		size_t want = 1 + next() % (mode & 64 ? 4096 : 64);
		size_t len = total - at < want ? total - at : want;
		char *piece = malloc(len);
		FUZZ_ASSERT(piece);
		memcpy(piece, buf + at, len);
		sh->lp.now_ms += next() % 300;
		alive = h2_recv(sh, &conn, piece, len);
		free(piece);
		at += len;
		alive = drain_sends() && alive;
	}
	/* Bodies that came later; streams still open keep their slots. */
	for (int i = 0; alive && conn.h2 && i < MAX_SLOTS; i++) {
		struct exchange *svc = slots[i];
		if (!svc || !slot_later[i] || !svc->h2)
			continue;
		slot_later[i] = false;
		push(svc, body_11, sizeof(body_11) - 1);
		svc->resp_done = true;
		h2_stream_flush(sh, svc);
		alive = drain_sends() && alive;
	}
	if (conn.h2) {
		(void)h2_idle(&conn);
		(void)h2_stall_deadline(&conn, 1000);
		h2_conn_end(sh, &conn);
		h2_conn_free(&conn);
	}
	/* A slot whose stream h2 dropped without closing (a reset upload)
	 * was freed above; every other one was closed by h2 exactly once. */
	FUZZ_ASSERT(n_live == 0);
	iobuf_outq_clear(&conn.out, &sh->pool);
	free(buf);
	return 0;
}
