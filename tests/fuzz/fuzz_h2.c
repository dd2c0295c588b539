/*
 * tests/fuzz/fuzz_h2.c — target for the HTTP/2 framing (net/h2.c): the
 * input is what a client sends after the connection preface, fed in
 * pieces to a server-side session exactly as edge/visitor.c does (h2_new,
 * h2_start, h2_recv, h2_on_sent, h2_conn_end, h2_free).
 *
 * The seam is net/h2.h's ops: the fake user here plays the streams (an
 * exchange in edgecache) and the connection, with no ring and no socket.
 * A stream's request, rebuilt by h2.c as an HTTP/1.1 head, is checked at
 * stream_head:
 *   - it fits its block, has no NUL, no bare CR or LF (no line a header
 *     value could inject), and parses as exactly one request of exactly
 *     head_len bytes or not at all (the visitor answers 400 then);
 *   - it is never chunked (HTTP/2 frames the body itself);
 *   - each header line the parser found is one h2.c wrote.
 * Each stream is then answered (a 200 with a body now or after the input,
 * a 304, or an upload refused by the "origin"), so the response side runs
 * too (submit_head, read_body, deferral, resets). At the end every stream
 * was closed exactly once, and none is left. A broken promise aborts.
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
#include "core/loop.h"
#include "net/h2.h"
#include "net/http1.h"
#include "net/iobuf.h"

#include "tests/fuzz/fuzz.h"

#define FAKE_MAGIC   0x66616b65u     /* "fake": a stream's slot in use */
#define MAX_SLOTS    (LIMIT_H2_MAX_STREAMS + 8)

/* ---- the fake user ----------------------------------------------------------- */

/* A stream as the user sees it (edgecache's is an exchange). */
struct fake_stream {
	uint32_t magic;
	char *in;                           /* its head block */
	struct iobuf_outq sout;             /* its response, pulled by h2 */
	struct http1_request req;
	bool resp_done;
	bool live;                          /* h2 has not let go of it */
	struct h2conn *h2;
	int32_t sid;
	uint16_t idx;
};

struct fake_conn {
	struct h2conn *h2;
	struct iobuf_outq out;
	char peer_ip[48];
};

static struct loop *lp;                 /* clock and counters */
static struct iobuf_pool pool;          /* no blocks: every segment is static */
static int env_tag;                     /* h2_env.user: checked in every op */
static struct fake_conn conn;
static struct fake_stream *slots[MAX_SLOTS];
static bool slot_later[MAX_SLOTS];      /* body queued after the input */
static unsigned n_live;
static bool conn_sent;                  /* conn_send was called */
static uint64_t mode;                   /* per input: answers, refusals */

static const char resp_200[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nCache-Control: max-age=60\r\n"
	"Connection: keep-alive\r\nX-Cache: MISS\r\n\r\n";
static const char resp_304[] = "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n";
static const char body_11[] = "hello world";

/* Needed by h2.c's log_debug: no output. */
int log_level_max = LOG_ERROR;

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	(void)lvl;
	(void)fmt;
}

static int slot_of(const struct fake_stream *svc)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (slots[i] == svc)
			return i;
	return -1;
}

static void slot_free(struct fake_stream *svc)
{
	int i = slot_of(svc);

	FUZZ_ASSERT(i >= 0 && svc->magic == FAKE_MAGIC);
	svc->magic = 0;
	slots[i] = NULL;
	n_live--;
	iobuf_outq_clear(&svc->sout, &pool);
	free(svc->in);
	free(svc);
}

static struct fake_stream *stream_of(void *env, const void *st)
{
	struct fake_stream *svc = (struct fake_stream *)st;

	FUZZ_ASSERT(env == &env_tag && svc && slot_of(svc) >= 0 && svc->magic == FAKE_MAGIC);
	return svc;
}

static void *op_stream_open(void *env, void *c, struct h2conn *h, int32_t sid, uint16_t idx,
			    char **block)
{
	FUZZ_ASSERT(env == &env_tag && c == &conn && h == conn.h2);
	FUZZ_ASSERT(sid > 0 && (sid & 1) && idx < LIMIT_H2_MAX_STREAMS);
	for (int i = 0; i < MAX_SLOTS; i++)     /* a name in use is never given twice */
		FUZZ_ASSERT(!slots[i] || !slots[i]->live || slots[i]->idx != idx);
	/* one refusal in 16 inputs: no slot (the pool is empty) */
	if ((mode & 15) == 0 && n_live == 1)
		return NULL;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (slots[i])
			continue;
		struct fake_stream *svc = calloc(1, sizeof(*svc));
		FUZZ_ASSERT(svc);
		svc->in = malloc(IOBUF_HBUF_BYTES);
		FUZZ_ASSERT(svc->in);
		svc->magic = FAKE_MAGIC;
		svc->live = true;
		svc->h2 = h;
		svc->sid = sid;
		svc->idx = idx;
		iobuf_outq_init(&svc->sout);
		slots[i] = svc;
		slot_later[i] = false;
		n_live++;
		*block = svc->in;
		return svc;
	}
	FUZZ_ASSERT(!"h2.c holds more stream slots than LIMIT_H2_MAX_STREAMS");
	return NULL;
}

/* The fake's h2_stream_flush: a false one lets go of the stream. */
static void flush(struct fake_stream *svc)
{
	if (svc->live && !h2_stream_flush(svc->h2, svc->idx, svc))
		svc->live = false;
}

static void push(struct fake_stream *svc, const char *p, size_t n)
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

static void op_stream_head(void *env, void *st, uint32_t head_len, bool has_body)
{
	struct fake_stream *svc = stream_of(env, st);
	int i = slot_of(svc);

	FUZZ_ASSERT(svc->live);
	check_head(svc->in, head_len, &svc->req);
	/* The pointers in req point into the freed copy: only fields. */
	bool head = head_len > 5 && memcmp(svc->in, "HEAD ", 5) == 0;
	svc->req.method = head ? HTTP1_HEAD : HTTP1_GET;
	svc->resp_done = false;
	switch (((mode >> 4) + (uint64_t)svc->sid) & 3) {
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
	flush(svc);
}

static void op_stream_closed(void *env, void *st, bool complete)
{
	struct fake_stream *svc = stream_of(env, st);

	(void)complete;
	FUZZ_ASSERT(svc->live);         /* closed once, never after a let-go */
	svc->live = false;
	slot_free(svc);
}

static bool op_stream_body(void *env, void *st, const char *p, size_t n)
{
	struct fake_stream *svc = stream_of(env, st);

	FUZZ_ASSERT(svc->live && (p || !n));
	/* some uploads fail at the origin: the stream is reset, the slot goes */
	if (((mode >> 8) + (uint64_t)svc->sid) % 5 == 0) {
		h2_stream_gone(svc->h2, svc->idx, svc);
		svc->live = false;
		slot_free(svc);
		return false;
	}
	return true;
}

static bool op_stream_upload_room(void *env, const void *st)
{
	const struct fake_stream *svc = stream_of(env, st);

	return ((mode >> 12) + (uint64_t)svc->sid) % 3 != 0;
}

static struct iobuf_outq *op_stream_response(void *env, void *st, bool *ended, bool *head_req)
{
	struct fake_stream *svc = stream_of(env, st);

	FUZZ_ASSERT(svc->live);
	*ended = svc->resp_done;
	*head_req = svc->req.method == HTTP1_HEAD;
	return &svc->sout;
}

static void op_stream_pulled(void *env, void *st)
{
	FUZZ_ASSERT(stream_of(env, st)->live);
}

static void op_conn_timers(void *env, void *c)
{
	FUZZ_ASSERT(env == &env_tag && c == &conn);
}

static void op_conn_send(void *env, void *c)
{
	FUZZ_ASSERT(env == &env_tag && c == &conn);
	conn_sent = true;
}

static const struct h2_ops fake_ops = {
	.stream_open = op_stream_open,
	.stream_head = op_stream_head,
	.stream_body = op_stream_body,
	.stream_upload_room = op_stream_upload_room,
	.stream_response = op_stream_response,
	.stream_pulled = op_stream_pulled,
	.stream_closed = op_stream_closed,
	.conn_send = op_conn_send,
	.conn_timers = op_conn_timers,
};

/* The connection's sends complete: drop what went out, let h2 go on. */
static bool drain_sends(void)
{
	bool alive = true;

	for (int round = 0; round < 256 && conn_sent; round++) {
		uint64_t n = 0;
		conn_sent = false;
		for (uint16_t k = 0; k < conn.out.n; k++)
			n += conn.out.segs[(conn.out.head + k) % IOBUF_OUTQ_SEGS].len;
		iobuf_outq_consume(&conn.out, &pool, n);
		alive = h2_on_sent(conn.h2);
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
	if (!lp) {
		lp = calloc(1, sizeof(*lp));
		FUZZ_ASSERT(lp);
	}
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	rng = h | 1;
	mode = next();
	lp->now_ms = 1000000;
	memset(&conn, 0, sizeof(conn));
	iobuf_outq_init(&conn.out);
	memcpy(conn.peer_ip, "192.0.2.7", 10);
	memcpy(buf, H2_PREFACE, H2_PREFACE_LEN);
	memcpy(buf + H2_PREFACE_LEN, data, size);

	/* The preface and a first piece, then pieces of random size, each
	 * an exact-size copy; the clock moves a little now and then. */
	size_t at = H2_PREFACE_LEN + (size ? next() % (size + 1) : 0), total = H2_PREFACE_LEN + size;
	struct h2_env env = { .lp = lp, .pool = &pool, .ops = &fake_ops, .user = &env_tag };
	conn.h2 = h2_new(&env, &conn, &conn.out, conn.peer_ip);
	FUZZ_ASSERT(conn.h2);
	bool alive = h2_start(conn.h2, buf, at);
	alive = drain_sends() && alive;
	while (alive && at < total) {
		size_t want = 1 + next() % (mode & 64 ? 4096 : 64);
		size_t len = total - at < want ? total - at : want;
		char *piece = malloc(len);
		FUZZ_ASSERT(piece);
		memcpy(piece, buf + at, len);
		lp->now_ms += next() % 300;
		alive = h2_recv(conn.h2, piece, len);
		free(piece);
		at += len;
		alive = drain_sends() && alive;
	}
	/* Bodies that came later; streams still open keep their slots. */
	for (int i = 0; alive && i < MAX_SLOTS; i++) {
		struct fake_stream *svc = slots[i];
		if (!svc || !slot_later[i] || !svc->live)
			continue;
		slot_later[i] = false;
		push(svc, body_11, sizeof(body_11) - 1);
		svc->resp_done = true;
		flush(svc);
		alive = drain_sends() && alive;
	}
	(void)h2_idle(conn.h2);
	(void)h2_stall_deadline(conn.h2, 1000);
	h2_conn_end(conn.h2);
	h2_free(conn.h2);
	conn.h2 = NULL;
	/* Streams h2 let go of by a failed flush go on alone (an exchange
	 * still answers nobody) and end here; every other one was closed by
	 * h2 exactly once, or reset by its upload (freed there). */
	for (int i = 0; i < MAX_SLOTS; i++)
		if (slots[i]) {
			FUZZ_ASSERT(!slots[i]->live);
			slot_free(slots[i]);
		}
	FUZZ_ASSERT(n_live == 0);
	iobuf_outq_clear(&conn.out, &pool);
	free(buf);
	return 0;
}
