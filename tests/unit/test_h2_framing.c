/*
 * tests/unit/test_h2_framing.c — net/h2 alone: a real nghttp2 client
 * session talks to an h2conn in memory (no socket, no ring), and the
 * ops here play its user. Checked: the request head rebuilt as HTTP/1.1
 * bytes (Host from :authority, cookie crumbs joined, te/expect dropped),
 * request body and has_body, the response pulled off the user's queue
 * (connection fields dropped, names lower-cased; a HEAD's body never
 * sent; a body queued later goes out on h2_stream_flush), a refused
 * stream (REFUSED_STREAM, h2_streams_refused), h2_stream_gone
 * (RST_STREAM INTERNAL_ERROR, h2_streams_aborted), h2_conn_end closing
 * what is open, and a PING flood (GOAWAY ENHANCE_YOUR_CALM,
 * h2_flood_ping +1, the session over).
 */
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/limits.h"
#include "core/loop.h"
#include "net/h2.h"
#include "net/iobuf.h"
#include "tests/unit/check.h"

/* ---- the user: streams and a connection ------------------------------------ */

struct ustream {
	struct h2conn *h2;
	uint16_t idx;
	int32_t sid;
	bool live, closed, complete, has_body, head_req, ended;
	char *block;
	char head[2048];
	uint32_t head_len;
	char body[64];
	size_t body_len;
	struct iobuf_outq q;
};

static struct loop *lp;
static struct iobuf_pool pool;
static struct iobuf_outq out;           /* the connection's send queue */
static struct ustream streams[8];
static unsigned n_open;
static bool refuse_next;
static int env_tag, conn_tag;

static void *op_open(void *env, void *conn, struct h2conn *h, int32_t sid, uint16_t idx,
		     char **block)
{
	CHECK(env == &env_tag && conn == &conn_tag);
	if (refuse_next || n_open == sizeof(streams) / sizeof(streams[0]))
		return NULL;
	struct ustream *u = &streams[n_open++];
	memset(u, 0, sizeof(*u));
	u->h2 = h;
	u->idx = idx;
	u->sid = sid;
	u->live = true;
	u->block = malloc(IOBUF_HBUF_BYTES);
	iobuf_outq_init(&u->q);
	*block = u->block;
	return u;
}

static void op_head(void *env, void *st, uint32_t head_len, bool has_body)
{
	struct ustream *u = st;

	(void)env;
	CHECK(head_len < sizeof(u->head));
	memcpy(u->head, u->block, head_len);
	u->head[head_len] = '\0';
	u->head_len = head_len;
	u->has_body = has_body;
	u->head_req = strncmp(u->head, "HEAD ", 5) == 0;
}

static bool op_body(void *env, void *st, const char *p, size_t n)
{
	struct ustream *u = st;

	(void)env;
	CHECK(u->body_len + n <= sizeof(u->body));
	if (u->body_len + n <= sizeof(u->body)) {
		memcpy(u->body + u->body_len, p, n);
		u->body_len += n;
	}
	return true;
}

static bool op_room(void *env, const void *st)
{
	(void)env;
	(void)st;
	return true;
}

static struct iobuf_outq *op_response(void *env, void *st, bool *ended, bool *head_req)
{
	struct ustream *u = st;

	(void)env;
	CHECK(u->live);
	*ended = u->ended;
	*head_req = u->head_req;
	return &u->q;
}

static void op_pulled(void *env, void *st)
{
	(void)env;
	CHECK(((struct ustream *)st)->live);
}

static void op_closed(void *env, void *st, bool complete)
{
	struct ustream *u = st;

	(void)env;
	CHECK(u->live && !u->closed);
	u->live = false;
	u->closed = true;
	u->complete = complete;
}

static void op_send(void *env, void *conn)
{
	CHECK(env == &env_tag && conn == &conn_tag);
}

static void op_timers(void *env, void *conn)
{
	CHECK(env == &env_tag && conn == &conn_tag);
}

static const struct h2_ops ops = {
	.stream_open = op_open, .stream_head = op_head, .stream_body = op_body,
	.stream_upload_room = op_room, .stream_response = op_response,
	.stream_pulled = op_pulled, .stream_closed = op_closed,
	.conn_send = op_send, .conn_timers = op_timers,
};

/* ---- the client ------------------------------------------------------------ */

struct cresp {
	int status;
	bool connection_field, x_a;
	char body[64];
	size_t body_len;
	bool closed;
	uint32_t close_code;
};

static struct cresp cr[64];
static uint32_t goaway_code = UINT32_MAX;

static struct cresp *cresp_of(int32_t sid)
{
	return sid > 0 && sid < 128 ? &cr[sid / 2] : &cr[0];
}

static int c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
		    const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	struct cresp *r = cresp_of(f->hd.stream_id);

	(void)s;
	(void)flags;
	(void)ud;
	if (nl == 7 && memcmp(n, ":status", 7) == 0)
		r->status = atoi((const char *)v);      /* the value is NUL-terminated */
	if (nl == 10 && memcmp(n, "connection", 10) == 0)
		r->connection_field = true;
	if (nl == 3 && memcmp(n, "x-a", 3) == 0 && vl == 1 && v[0] == 'b')
		r->x_a = true;
	return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t len,
		  void *ud)
{
	struct cresp *r = cresp_of(sid);

	(void)s;
	(void)flags;
	(void)ud;
	if (r->body_len + len <= sizeof(r->body)) {
		memcpy(r->body + r->body_len, d, len);
		r->body_len += len;
	}
	return 0;
}

static int c_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	(void)s;
	(void)ud;
	cresp_of(sid)->closed = true;
	cresp_of(sid)->close_code = code;
	return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	(void)ud;
	if (f->hd.type == NGHTTP2_GOAWAY)
		goaway_code = f->goaway.error_code;
	return 0;
}

static nghttp2_session *client(void)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *s;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
	nghttp2_session_client_new(&s, cb, NULL);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	return s;
}

/* Bytes both ways until neither side has more; false once the server
 * says its session is over. */
static bool pump(nghttp2_session *c, struct h2conn *h)
{
	bool alive = true;

	for (int round = 0; round < 256; round++) {
		bool moved = false;
		const uint8_t *d;
		ssize_t n;
		while ((n = nghttp2_session_mem_send(c, &d)) > 0) {
			alive = h2_recv(h, (const char *)d, (size_t)n) && alive;
			moved = true;
		}
		while (out.n > 0) {
			const struct iobuf_seg *seg = &out.segs[out.head];
			nghttp2_session_mem_recv(c, (const uint8_t *)seg->ptr, seg->len);
			iobuf_outq_consume(&out, &pool, seg->len);
			alive = h2_on_sent(h) && alive;
			moved = true;
		}
		if (!moved)
			break;
	}
	return alive;
}

static void queue(struct ustream *u, const char *p)
{
	struct iobuf_seg seg = { .ptr = p, .len = (uint32_t)strlen(p), .kind = IOBUF_SEG_STATIC };

	CHECK(iobuf_outq_push(&u->q, &seg));
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, \
		   NGHTTP2_NV_FLAG_NONE }

static const char upload[] = "abcdef";

static ssize_t c_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
		      uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)s;
	(void)sid;
	(void)src;
	(void)ud;
	CHECK(len >= sizeof(upload) - 1);
	memcpy(buf, upload, sizeof(upload) - 1);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)(sizeof(upload) - 1);
}

static struct h2conn *server(void)
{
	struct h2_env env = { .lp = lp, .pool = &pool, .ops = &ops, .user = &env_tag };

	memset(cr, 0, sizeof(cr));
	n_open = 0;
	refuse_next = false;
	goaway_code = UINT32_MAX;
	iobuf_outq_init(&out);
	struct h2conn *h = h2_new(&env, &conn_tag, &out, "192.0.2.1");
	CHECK(h != NULL);
	CHECK(h2_start(h, NULL, 0));
	return h;
}

static void end(nghttp2_session *c, struct h2conn *h)
{
	h2_conn_end(h);
	h2_free(h);
	nghttp2_session_del(c);
	iobuf_outq_clear(&out, &pool);
	for (unsigned i = 0; i < n_open; i++) {
		iobuf_outq_clear(&streams[i].q, &pool);
		free(streams[i].block);
	}
}

/* GET, POST, HEAD and a body queued later on one connection. */
static void test_requests(void)
{
	struct h2conn *h = server();
	nghttp2_session *c = client();
	const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.test"),
		NV(":path", "/a?b"), NV("x-k", "v"), NV("cookie", "a=1"), NV("te", "trailers"),
		NV("cookie", "b=2"),
	};
	const nghttp2_nv post[] = {
		NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "example.test"),
		NV(":path", "/up"), NV("content-length", "6"),
	};
	const nghttp2_nv head[] = {
		NV(":method", "HEAD"), NV(":scheme", "https"), NV(":authority", "example.test"),
		NV(":path", "/h"),
	};
	nghttp2_data_provider dp = { .read_callback = c_read };

	int32_t s1 = nghttp2_submit_request(c, NULL, get, sizeof(get) / sizeof(get[0]), NULL, NULL);
	int32_t s3 = nghttp2_submit_request(c, NULL, post, sizeof(post) / sizeof(post[0]), &dp, NULL);
	int32_t s5 = nghttp2_submit_request(c, NULL, head, sizeof(head) / sizeof(head[0]), NULL,
					    NULL);
	CHECK(pump(c, h));
	CHECK_EQ_INT(n_open, 3);
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_streams), 3);
	CHECK_EQ_INT(streams[0].sid, s1);
	CHECK_EQ_STR(streams[0].head, "GET /a?b HTTP/1.1\r\nHost: example.test\r\nx-k: v\r\n"
				      "cookie: a=1; b=2\r\n\r\n");
	CHECK(!streams[0].has_body);
	CHECK_EQ_STR(streams[1].head, "POST /up HTTP/1.1\r\nHost: example.test\r\n"
				      "content-length: 6\r\n\r\n");
	CHECK(streams[1].has_body);
	CHECK(streams[1].body_len == 6 && memcmp(streams[1].body, "abcdef", 6) == 0);
	CHECK(streams[2].head_req);
	CHECK(!h2_idle(h));

	/* GET: head and body at once; HEAD: a head announcing 5 bytes; POST:
	 * the head now, the body later (the data source defers). */
	queue(&streams[0], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
			   "X-A: b\r\n\r\n");
	queue(&streams[0], "hello");
	streams[0].ended = true;
	CHECK(h2_stream_flush(h, streams[0].idx, &streams[0]));
	queue(&streams[2], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
	streams[2].ended = true;
	CHECK(h2_stream_flush(h, streams[2].idx, &streams[2]));
	queue(&streams[1], "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n");
	CHECK(h2_stream_flush(h, streams[1].idx, &streams[1]));
	CHECK(pump(c, h));
	CHECK(cresp_of(s1)->status == 200 && cresp_of(s1)->x_a && !cresp_of(s1)->connection_field);
	CHECK(cresp_of(s1)->body_len == 5 && memcmp(cresp_of(s1)->body, "hello", 5) == 0);
	CHECK(cresp_of(s1)->closed && cresp_of(s1)->close_code == NGHTTP2_NO_ERROR);
	CHECK(streams[0].closed && streams[0].complete);
	CHECK(cresp_of(s5)->status == 200 && cresp_of(s5)->body_len == 0 && cresp_of(s5)->closed);
	CHECK(streams[2].closed && streams[2].complete);
	CHECK(cresp_of(s3)->status == 201 && !cresp_of(s3)->closed && streams[1].live);
	/* A stream with unsent bytes waits for the peer: a deadline runs. */
	queue(&streams[1], "o");
	CHECK(h2_stream_flush(h, streams[1].idx, &streams[1]));
	CHECK(pump(c, h));
	queue(&streams[1], "k");
	streams[1].ended = true;
	CHECK(h2_stream_flush(h, streams[1].idx, &streams[1]));
	CHECK(pump(c, h));
	CHECK(cresp_of(s3)->body_len == 2 && memcmp(cresp_of(s3)->body, "ok", 2) == 0);
	CHECK(streams[1].closed && streams[1].complete);
	CHECK(h2_idle(h));
	CHECK_EQ_INT(h2_stall_deadline(h, 1000), 0);
	/* A stale name (the stream closed) is ignored. */
	CHECK(h2_stream_flush(h, streams[0].idx, &streams[0]));
	h2_stream_gone(h, streams[0].idx, &streams[0]);
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_streams_aborted), 0);
	end(c, h);
}

/* A refused stream, one the user gives up, and the connection's end. */
static void test_refuse_gone_end(void)
{
	uint64_t refused = counters_get(lp->ctr, CTR_h2_streams_refused);
	uint64_t aborted = counters_get(lp->ctr, CTR_h2_streams_aborted);
	struct h2conn *h = server();
	nghttp2_session *c = client();
	const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "http"), NV(":authority", "a"), NV(":path", "/"),
	};

	refuse_next = true;
	int32_t s1 = nghttp2_submit_request(c, NULL, get, 4, NULL, NULL);
	CHECK(pump(c, h));
	CHECK(cresp_of(s1)->closed && cresp_of(s1)->close_code == NGHTTP2_REFUSED_STREAM);
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_streams_refused), refused + 1);
	CHECK_EQ_INT(n_open, 0);

	refuse_next = false;
	int32_t s3 = nghttp2_submit_request(c, NULL, get, 4, NULL, NULL);
	int32_t s5 = nghttp2_submit_request(c, NULL, get, 4, NULL, NULL);
	CHECK(pump(c, h));
	CHECK_EQ_INT(n_open, 2);
	h2_stream_gone(h, streams[0].idx, &streams[0]);
	streams[0].live = false;
	CHECK(pump(c, h));
	CHECK(cresp_of(s3)->closed && cresp_of(s3)->close_code == NGHTTP2_INTERNAL_ERROR);
	CHECK(!streams[0].closed);              /* no stream_closed after a let-go */
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_streams_aborted), aborted + 1);
	CHECK(!cresp_of(s5)->closed && streams[1].live);
	/* Unsent bytes the window lets out are no stall; the connection's
	 * end closes the stream left, incomplete. */
	h2_conn_end(h);
	CHECK(streams[1].closed && !streams[1].complete);
	end(c, h);
}

/* More PINGs in a second than LIMIT_H2_PING_PER_S: GOAWAY, counted once. */
static void test_ping_flood(void)
{
	uint64_t before = counters_get(lp->ctr, CTR_h2_flood_ping);
	struct h2conn *h = server();
	nghttp2_session *c = client();
	uint8_t opaque[8] = { 0 };

	for (unsigned i = 0; i <= LIMIT_H2_PING_PER_S; i++)
		nghttp2_submit_ping(c, NGHTTP2_FLAG_NONE, opaque);
	CHECK(!pump(c, h));                     /* the session is over */
	CHECK_EQ_INT(goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_flood_ping), before + 1);
	end(c, h);

	/* At the limit: no flood. */
	h = server();
	c = client();
	for (unsigned i = 0; i < LIMIT_H2_PING_PER_S; i++)
		nghttp2_submit_ping(c, NGHTTP2_FLAG_NONE, opaque);
	CHECK(pump(c, h));
	CHECK_EQ_INT(goaway_code, UINT32_MAX);
	CHECK_EQ_INT(counters_get(lp->ctr, CTR_h2_flood_ping), before + 1);
	end(c, h);
}

int main(void)
{
	lp = calloc(1, sizeof(*lp));
	CHECK(lp != NULL);
	lp->now_ms = 1000000;
	test_requests();
	test_refuse_gone_end();
	test_ping_flood();
	free(lp);
	return check_exit();
}
