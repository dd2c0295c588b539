/*
 * edge/visitor.c — visitor connections (see visitor.h).
 *
 * Life of a connection: accept → READING (multishot recv appends to the
 * input block; each append re-parses the head) → BUSY (one exchange; more
 * input is kept behind the head for pipelining) → the response is sent →
 * READING again with the pipelined bytes moved to the front, or LINGER
 * (write side shut, input drained briefly so an RST cannot eat our last
 * response) → CLOSING (cancel + close; the slot is freed when every
 * submitted operation has completed).
 */
#include "edge/visitor.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/config.h"
#include "core/loop.h"
#include "edge/shard.h"
#include "edge/exchange.h"
#include "net/h2.h"
#include "edge/origin.h"
#include "net/http1.h"
#include "net/req_hygiene.h"
#include "net/tls.h"
#include "net/wbuf.h"


static void vc_close(struct shard *sh, struct visitor_conn *vc);
static void process_input(struct shard *sh, struct visitor_conn *vc);
static void release_held(struct shard *sh, struct visitor_conn *vc);
static void pump(struct shard *sh, struct visitor_conn *vc);
static void tls_send(struct shard *sh, struct visitor_conn *vc);
static bool tls_decrypt(struct shard *sh, struct visitor_conn *vc);
static void tls_goodbye(struct shard *sh, struct visitor_conn *vc);
static void h2_timer(struct shard *sh, struct visitor_conn *vc);
static void switch_h2(struct shard *sh, struct visitor_conn *vc);

/* ---- small helpers ------------------------------------------------------ */

static void set_timer(struct shard *sh, struct visitor_conn *vc, enum visitor_timer kind,
		      uint32_t ms)
{
	vc->timer_kind = (uint8_t)kind;
	wheel_arm(&sh->lp.wheel, &vc->timer, sh->lp.now_ms + ms);
}

static void clear_timer(struct shard *sh, struct visitor_conn *vc)
{
	vc->timer_kind = VT_NONE;
	wheel_disarm(&sh->lp.wheel, &vc->timer);
}

static void arm_recv(struct shard *sh, struct visitor_conn *vc)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);

	io_uring_prep_recv_multishot(sqe, vc->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SHARD_GROUP_VISITOR;
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VRECV, vc->idx, vc->gen));
	vc->ops++;
	vc->recv_armed = true;
}

/* Cancel the multishot recv: input is arriving faster than we can hold. */
static void pause_recv(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->recv_paused)
		return;
	vc->recv_paused = true;
	if (!vc->recv_armed)
		return;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_cancel64(sqe, shard_ud(OP_VRECV, vc->idx, vc->gen), 0);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VCLOSE, vc->idx, vc->gen));
	vc->ops++;
}

static void resume_recv(struct shard *sh, struct visitor_conn *vc)
{
	vc->recv_paused = false;
	if (!vc->recv_armed && !vc->peer_closed && !vc->recv_starved &&
	    (vc->state == VC_READING || vc->state == VC_BUSY || vc->state == VC_LINGER))
		arm_recv(sh, vc);
}

/* A connection whose held input pins its share of the provided buffers
 * reads no more until it consumed some (pump and tls_input resume it):
 * the rings are the shard's, not one visitor's. */
static void share_check(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->held_n < LIMIT_RECV_SHARE_BUFS || vc->recv_paused ||
	    vc->state == VC_CLOSING || vc->state == VC_FREE)
		return;
	COUNT(sh, recv_share_paused);
	pause_recv(sh, vc);
}

void visitor_send(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->is_tls) {
		tls_send(sh, vc);
		return;
	}
	if (vc->out.in_flight || vc->out.n == 0 || vc->state == VC_CLOSING)
		return;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	/* Not the HTTP/2 connection: its frame buffer is rewritten per send. */
	uint64_t zc_min = vc->h2 || sh->zc_off || vc->out.zc_never ? 0 :
			  (uint64_t)sh->scfg->send_zerocopy_bytes;
	vc->out.zc = iobuf_outq_prep_send_zc(&vc->out, sqe, vc->fd, zc_min);
	if (vc->out.zc)
		COUNT(sh, send_zc);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VSEND, vc->idx, vc->gen));
	vc->ops++;
	vc->out.in_flight = true;
	set_timer(sh, vc, VT_SEND, sh->scfg->send_timeout_ms);
}

/* ---- slots ---------------------------------------------------------------- */

static void vc_free_slot(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->h2) {
		h2_free(vc->h2);            /* no send from its frame buffer in flight */
		vc->h2 = NULL;
	}
	if (vc->ex) {
		/* No send from the exchange's buffers is in flight either. */
		struct exchange *ex = vc->ex;
		vc->ex = NULL;
		exchange_detach(sh, ex);
	}
	iobuf_outq_clear(&vc->out, &sh->pool);
	release_held(sh, vc);
	tls_session_free(vc->tls);          /* no send from its output is in flight */
	vc->tls = NULL;
	if (vc->in) {
		iobuf_pool_put(&sh->pool, vc->in);
		vc->in = NULL;
	}
	vc->state = VC_FREE;
	vc->gen++;
	vc->next = sh->vfree;
	sh->vfree = vc;
	sh->vconns_used--;
	counters_add(sh->lp.ctr, CTR_conns_open, (uint64_t)-1);
}

static void vc_maybe_free(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->state == VC_CLOSING && vc->ops == 0)
		vc_free_slot(sh, vc);
}

/* ---- held input ---------------------------------------------------------- */

/* A FIFO of buffers of group g linked through tab (one per group: a
 * buffer is in at most one FIFO); each entry holds a reference, counted
 * in *n (the connection's held_n). */
static void fifo_push(struct shard_held_buf *tab, struct iobuf_group *g, int32_t *head,
		      int32_t *tail, uint16_t *n, uint16_t bid, size_t len)
{
	iobuf_group_ref(g, bid);
	tab[bid] = (struct shard_held_buf){ .next = -1, .off = 0, .len = (uint16_t)len };
	if (*tail >= 0)
		tab[*tail].next = bid;
	else
		*head = bid;
	*tail = bid;
	(*n)++;
}

static void fifo_pop(struct shard_held_buf *tab, struct iobuf_group *g, int32_t *head,
		     int32_t *tail,
		     uint16_t *n)
{
	uint16_t bid = (uint16_t)*head;
	*head = tab[bid].next;
	if (*head < 0)
		*tail = -1;
	assert(*n > 0);
	(*n)--;
	iobuf_group_unref(g, bid);
}

/* What the parser and uploads consume: provided buffers for plain HTTP,
 * decrypted buffers of the software group for HTTPS. */
static struct iobuf_group *in_group(struct shard *sh, const struct visitor_conn *vc)
{
	return shard_group(sh, vc->is_tls ? SHARD_GROUP_PLAIN : SHARD_GROUP_VISITOR);
}

static struct shard_held_buf *in_held(struct shard *sh, const struct visitor_conn *vc)
{
	return vc->is_tls ? sh->held_plain : sh->held;
}

static void held_push(struct shard *sh, struct visitor_conn *vc, uint16_t bid, size_t len)
{
	fifo_push(in_held(sh, vc), in_group(sh, vc), &vc->held_head, &vc->held_tail,
		  &vc->held_n, bid, len);
}

static void held_pop(struct shard *sh, struct visitor_conn *vc)
{
	fifo_pop(in_held(sh, vc), in_group(sh, vc), &vc->held_head, &vc->held_tail, &vc->held_n);
}

static void cipher_push(struct shard *sh, struct visitor_conn *vc, uint16_t bid, size_t len)
{
	fifo_push(sh->held, shard_group(sh, SHARD_GROUP_VISITOR), &vc->cheld_head,
		  &vc->cheld_tail, &vc->held_n, bid, len);
}

static void cipher_pop(struct shard *sh, struct visitor_conn *vc)
{
	fifo_pop(sh->held, shard_group(sh, SHARD_GROUP_VISITOR), &vc->cheld_head, &vc->cheld_tail,
		 &vc->held_n);
}

static void release_held(struct shard *sh, struct visitor_conn *vc)
{
	while (vc->held_head >= 0)
		held_pop(sh, vc);
	while (vc->cheld_head >= 0)
		cipher_pop(sh, vc);
}

/* ---- closing ------------------------------------------------------------- */

/* A slot just taken: cleared, its index and generation kept. */
static void slot_init(struct visitor_conn *vc, int fd)
{
	uint32_t gen = vc->gen, idx = vc->idx;
	memset(vc, 0, sizeof(*vc));
	iobuf_outq_init(&vc->out);
	vc->magic = VCONN_MAGIC;
	vc->gen = gen;
	vc->idx = idx;
	vc->fd = fd;
	vc->held_head = vc->held_tail = -1;
	vc->cheld_head = vc->cheld_tail = -1;
}

static void vc_close(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->state == VC_CLOSING || vc->state == VC_FREE)
		return;
	if (vc->h2)
		h2_conn_end(vc->h2);        /* its streams end */
	vc->state = VC_CLOSING;
	if (vc->ex)
		exchange_close(sh, vc->ex); /* kept until the slot is freed */
	release_held(sh, vc);
	clear_timer(sh, vc);
	/* Cancel whatever is pending on the fd (the multishot recv, a send),
	 * then close; HARDLINK so the close runs even if nothing was found. */
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_cancel_fd(sqe, vc->fd, IORING_ASYNC_CANCEL_ALL);
	sqe->flags |= IOSQE_IO_HARDLINK;
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VCLOSE, vc->idx, vc->gen));
	sqe = shard_sqe(sh);
	io_uring_prep_close(sqe, vc->fd);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VCLOSE, vc->idx, vc->gen));
	vc->ops += 2;
	vc->fd = -1;
}

void visitor_close(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	vc_close(sh, vc);
}

/* Last response is out: shut our side, read until EOF or LIMIT_LINGER_MS. */
static void vc_linger(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->peer_closed) {
		vc_close(sh, vc);
		return;
	}
	vc->state = VC_LINGER;
	if (vc->is_tls)
		tls_goodbye(sh, vc);        /* close_notify, linked before the shutdown */
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_shutdown(sqe, vc->fd, SHUT_WR);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VCLOSE, vc->idx, vc->gen));
	vc->ops++;
	resume_recv(sh, vc);
	set_timer(sh, vc, VT_LINGER, LIMIT_LINGER_MS);
}

/* ---- accept ------------------------------------------------------------- */

void visitor_accept(struct shard *sh, int fd, bool tls)
{
	struct visitor_conn *vc = sh->draining ? NULL : shard_vconn_take(sh);

	if (!vc) {
		/* Over max_conns: close at once; counted, never queued. */
		COUNT(sh, conns_refused_limit);
		struct io_uring_sqe *sqe = shard_sqe(sh);
		io_uring_prep_close(sqe, fd);
		io_uring_sqe_set_data64(sqe, shard_ud(OP_IGNORE, 0, 0));
		return;
	}
	sh->vconns_used++;
	COUNT(sh, conns_accepted);
	COUNT(sh, conns_open);

	slot_init(vc, fd);
	vc->is_tls = tls;
	vc->state = VC_READING;
	if (tls)
		COUNT(sh, tls_accepted);

	/* Responses go out in as few sends as we can make them, and a small
	 * last segment must not wait for the peer's delayed ACK. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	/* getpeername is a plain non-blocking syscall on a connected socket. */
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
				  vc->peer_ip, sizeof(vc->peer_ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
				  vc->peer_ip, sizeof(vc->peer_ip));
	}
	arm_recv(sh, vc);
	if (tls)
		set_timer(sh, vc, VT_HANDSHAKE, sh->scfg->tls_handshake_timeout_ms);
	else
		set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
}

/* ---- exchanges ---------------------------------------------------------- */

/* Forward body bytes already in the input block (after the head). */
static void body_from_block(struct shard *sh, struct visitor_conn *vc)
{
	struct exchange *x = vc->ex;
	uint32_t avail = vc->in_len - x->head_len;
	if (!x->has_body || avail == 0)
		return;
	ssize_t n = exchange_body_take(sh, x, vc->in + x->head_len, avail);
	if (n < 0) {
		exchange_body_failed(sh, x, n);
		return;
	}
	if (n > 0 && x->oc) {
		char *blk = iobuf_pool_get(&sh->pool);
		if (!blk) {
			COUNT(sh, buffers_exhausted);
			exchange_response_abort(sh, x);
			return;
		}
		memcpy(blk, vc->in + x->head_len, (size_t)n);
		struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)n,
					 .kind = IOBUF_SEG_HBUF, .block = blk };
		x->body_sent = true;
		if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
			exchange_response_abort(sh, x);
			return;
		}
	}
	/* Keep the head where it is; pipelined bytes move right behind it. */
	memmove(vc->in + x->head_len, vc->in + x->head_len + n, avail - (size_t)n);
	vc->in_len -= (uint32_t)n;
}

/* The exchange's response is completely sent: log it, then the next
 * request or close. */
void visitor_finish(struct shard *sh, struct visitor_conn *vc)
{
	struct exchange *ex = vc->ex;

	assert(vc->magic == VCONN_MAGIC && ex && ex->conn == vc);
	exchange_log(sh, ex);
	bool keep = ex->keep_alive && ex->body_done && !sh->draining;
	bool linger = ex->must_linger || !ex->body_done || sh->draining || vc->is_tls ||
		      vc->in_len > ex->head_len || vc->held_head >= 0;
	uint32_t head_len = ex->head_len;
	vc->ex = NULL;
	exchange_close(sh, ex);
	exchange_detach(sh, ex);            /* its queue is empty: freed now */
	if (!keep) {
		/* Linger only where unread input may be waiting (an RST would
		 * destroy our response); a visitor that asked to close and sent
		 * nothing more is closed at once, as nginx does. */
		if (linger)
			vc_linger(sh, vc);
		else
			vc_close(sh, vc);
		return;
	}
	/* Drop the answered head; pipelined input moves to the front. */
	uint32_t rest = vc->in_len - head_len;
	memmove(vc->in, vc->in + head_len, rest);
	vc->in_len = rest;
	vc->state = VC_READING;
	process_input(sh, vc);
	pump(sh, vc);
}

/* A request head parsed (n bytes, or a parse error < 0): its exchange. */
static void begin_exchange(struct shard *sh, struct visitor_conn *vc,
			   const struct http1_request *req, int n)
{
	struct exchange *ex = exchange_new(sh, vc);

	if (!ex) {
		vc_close(sh, vc);           /* counted exchanges_refused */
		return;
	}
	vc->ex = ex;
	ex->req = *req;
	vc->state = VC_BUSY;
	clear_timer(sh, vc);
	if (n < 0) {
		exchange_reject(sh, ex, n);
		return;
	}
	exchange_start(sh, ex, (uint32_t)n);
	if (vc->state == VC_BUSY && vc->ex == ex && ex->state == EX_BUSY && !ex->resp_done)
		body_from_block(sh, vc);
}

static void process_input(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->state == VC_READING);
	if (vc->in_len == 0) {
		if (vc->in) {
			iobuf_pool_put(&sh->pool, vc->in);
			vc->in = NULL;
		}
		if (vc->peer_closed || sh->draining) {
			vc_close(sh, vc);
			return;
		}
		set_timer(sh, vc, VT_IDLE, sh->scfg->idle_timeout_ms);
		return;
	}
	/* h2c with prior knowledge (RFC 9113 3.3): the client preface. */
	if (!vc->is_tls && vc->in[0] == 'P') {
		size_t k = vc->in_len < H2_PREFACE_LEN ? vc->in_len : H2_PREFACE_LEN;
		if (memcmp(vc->in, H2_PREFACE, k) == 0) {
			if (k == H2_PREFACE_LEN) {
				switch_h2(sh, vc);
				return;
			}
			if (vc->timer_kind != VT_HEADER)
				set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
			if (vc->peer_closed)
				vc_close(sh, vc);
			return;
		}
	}
	struct http1_request req;
	int n = http1_parse_request(vc->in, vc->in_len, &req);
	if (n == -HTTP1_E_AGAIN) {
		/* The deadline runs from the first byte of the head: more bytes
		 * do not extend it (slow loris). */
		if (vc->timer_kind != VT_HEADER)
			set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
		if (vc->peer_closed)
			vc_close(sh, vc);
		return;
	}
	begin_exchange(sh, vc, &req, n);
}

/* ---- HTTP/2 (net/h2.h) ------------------------------------------------------- */

/* net/h2's ops: each stream is an exchange (edge/exchange.h), run as an
 * HTTP/1.1 request would be; its response is pulled off the exchange's
 * own send queue. h2 lets go of a stream by stream_closed (or by a
 * false h2_stream_flush, or the exchange's h2_stream_gone): ex->h2 is
 * cleared then, so an exchange calls into h2 only for a live stream. */
static void *h2op_stream_open(void *env, void *conn, struct h2conn *h, int32_t sid,
			      uint16_t idx, char **block)
{
	struct visitor_conn *vc = conn;
	struct exchange *ex = exchange_stream_new(env, h, vc->peer_ip);

	if (!ex)
		return NULL;
	ex->h2_sid = sid;
	ex->h2_idx = idx;
	*block = ex->in;
	return ex;
}

static void h2op_stream_head(void *env, void *st, uint32_t head_len, bool has_body)
{
	exchange_stream_start(env, st, head_len, has_body);
}

static bool h2op_stream_body(void *env, void *st, const char *p, size_t n)
{
	return exchange_stream_body(env, st, p, n);
}

static bool h2op_stream_upload_room(void *env, const void *st)
{
	(void)env;
	return exchange_stream_upload_room(st);
}

static struct iobuf_outq *h2op_stream_response(void *env, void *st, bool *ended, bool *head_req)
{
	struct exchange *ex = st;

	(void)env;
	*ended = ex->resp_done;
	*head_req = ex->req.method == HTTP1_HEAD;
	return &ex->sout;
}

static void h2op_stream_pulled(void *env, void *st)
{
	exchange_stream_pulled(env, st);
}

static void h2op_stream_closed(void *env, void *st, bool complete)
{
	struct exchange *ex = st;

	ex->h2 = NULL;
	exchange_stream_closed(env, ex, complete);
}

static void h2op_conn_send(void *env, void *conn)
{
	visitor_send(env, conn);
}

static void h2op_conn_timers(void *env, void *conn)
{
	h2_timer(env, conn);
}

static const struct h2_ops h2_stream_ops = {
	.stream_open = h2op_stream_open,
	.stream_head = h2op_stream_head,
	.stream_body = h2op_stream_body,
	.stream_upload_room = h2op_stream_upload_room,
	.stream_response = h2op_stream_response,
	.stream_pulled = h2op_stream_pulled,
	.stream_closed = h2op_stream_closed,
	.conn_send = h2op_conn_send,
	.conn_timers = h2op_conn_timers,
};

/* The connection speaks HTTP/2 from now on: the bytes already in its
 * input block (the preface and what followed) go to nghttp2. */
static void switch_h2(struct shard *sh, struct visitor_conn *vc)
{
	char *in = vc->in;
	uint32_t n = vc->in_len;

	vc->in = NULL;
	vc->in_len = 0;
	vc->state = VC_BUSY;                /* until it closes: streams are the exchanges */
	clear_timer(sh, vc);
	struct h2_env env = { .lp = &sh->lp, .pool = &sh->pool, .ops = &h2_stream_ops, .user = sh };
	vc->h2 = h2_new(&env, vc, &vc->out, vc->peer_ip);
	bool ok = vc->h2 && h2_start(vc->h2, in, n);
	if (in)
		iobuf_pool_put(&sh->pool, in);
	if (vc->state != VC_BUSY)
		return;
	if (!ok) {
		if (!vc->h2)
			COUNT(sh, buffers_exhausted);
		vc_close(sh, vc);
		return;
	}
	h2_timer(sh, vc);
}

/* The session is over: its streams' exchanges close, then the connection
 * lingers like an HTTP/1.1 one after its last response. */
static void h2_close(struct shard *sh, struct visitor_conn *vc)
{
	h2_conn_end(vc->h2);
	vc_linger(sh, vc);
}

/* An HTTP/2 connection with no stream open runs the idle timer; one
 * whose streams wait for the peer's window, the send deadline. */
static void h2_timer(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->state != VC_BUSY || !vc->h2)
		return;
	if (h2_idle(vc->h2)) {
		if (vc->timer_kind != VT_SEND)
			set_timer(sh, vc, VT_IDLE, sh->scfg->idle_timeout_ms);
		return;
	}
	uint64_t dl = h2_stall_deadline(vc->h2, sh->scfg->send_timeout_ms);
	if (dl)
		set_timer(sh, vc, VT_SEND, dl > sh->lp.now_ms ? (uint32_t)(dl - sh->lp.now_ms) : 1);
	else if (vc->timer_kind == VT_IDLE || vc->timer_kind == VT_HEADER ||
		 (vc->timer_kind == VT_SEND && !vc->out.in_flight))
		clear_timer(sh, vc);    /* a send in flight keeps its own deadline */
}

/* ---- input ---------------------------------------------------------------- */

/* Request body bytes from a held buffer to the origin. Returns bytes
 * consumed (0: the origin queue is full), or -1 if the exchange ended. */
static ssize_t upload(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len,
		      uint16_t bid)
{
	struct exchange *x = vc->ex;
	/* Answered already (an origin error, our 413): the connection closes
	 * after the response, so the rest of the body is only drained. */
	if (!x->oc || x->resp_done)
		return (ssize_t)len;
	size_t room = exchange_upload_room(x);
	if (room == 0)
		return 0;
	ssize_t n = exchange_body_take(sh, x, p, len < room ? len : room);
	if (n < 0) {
		exchange_body_failed(sh, x, n);
		return -1;
	}
	if (n > 0) {
		struct iobuf_group *g = in_group(sh, vc);
		iobuf_group_ref(g, bid);
		struct iobuf_seg seg = { .ptr = p, .len = (uint32_t)n,
					 .kind = IOBUF_SEG_PBUF, .bid = bid, .group = g };
		x->body_sent = true;
		if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
			exchange_response_abort(sh, x);
			return -1;
		}
	}
	return n;
}

/* Head and pipelined bytes into the input block; returns bytes taken
 * (0: the block is full, or the connection was closed). */
static size_t append_input(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len)
{
	if (!vc->in) {
		vc->in = iobuf_pool_get(&sh->pool);
		if (!vc->in) {
			COUNT(sh, buffers_exhausted);
			vc_close(sh, vc);
			return 0;
		}
		vc->in_len = 0;
	}
	if (vc->state == VC_READING && vc->timer_kind != VT_HEADER)
		set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
	uint32_t room = IOBUF_HBUF_BYTES - vc->in_len;
	size_t n = len < room ? len : room;
	memcpy(vc->in + vc->in_len, p, n);
	vc->in_len += (uint32_t)n;
	return n;
}

/*
 * Consume held input in order: request body to the origin while it has
 * room, everything else into the input block, parsing as we go. Stops
 * (and pauses recv) when neither can take more; called again when the
 * origin drains or the exchange finishes.
 */
static void pump(struct shard *sh, struct visitor_conn *vc)
{
	struct iobuf_group *g = in_group(sh, vc);
	struct shard_held_buf *tab = in_held(sh, vc);

	/* HTTPS: one record is decrypted when the last one is consumed. */
	while (vc->held_head >= 0 || (vc->is_tls && tls_decrypt(sh, vc))) {
		if (vc->state == VC_LINGER) {
			held_pop(sh, vc);           /* input after our last response */
			continue;
		}
		if (vc->state != VC_READING && vc->state != VC_BUSY)
			return;
		uint16_t bid = (uint16_t)vc->held_head;
		struct shard_held_buf *h = &tab[bid];
		const char *p = iobuf_group_ptr(g, bid) + h->off;
		size_t n;
		if (vc->h2) {
			/* HTTP/2: nghttp2 takes every byte (streams are bounded
			 * by LIMIT_H2_MAX_STREAMS, not by this FIFO). */
			bool ok = h2_recv(vc->h2, p, h->len);
			if (vc->state == VC_CLOSING)
				return;
			held_pop(sh, vc);
			if (!ok) {
				h2_close(sh, vc);
				return;
			}
			continue;
		}
		if (vc->state == VC_BUSY && vc->ex->has_body && !vc->ex->body_done) {
			ssize_t r = upload(sh, vc, p, h->len, bid);
			if (r < 0)
				return;
			n = (size_t)r;
		} else {
			n = append_input(sh, vc, p, h->len);
			if (vc->state == VC_CLOSING)
				return;
		}
		if (n == 0) {
			if (vc->state == VC_BUSY)
				COUNT(sh, pipeline_paused);
			pause_recv(sh, vc);
			return;
		}
		h->off = (uint16_t)(h->off + n);
		h->len = (uint16_t)(h->len - n);
		if (h->len == 0)
			held_pop(sh, vc);
		if (vc->state == VC_READING)
			process_input(sh, vc);
	}
	if (vc->h2)
		h2_timer(sh, vc);
	if (vc->recv_paused)
		resume_recv(sh, vc);
}

/* The visitor closed its side (TCP EOF, or TLS close_notify). */
static void on_peer_eof(struct shard *sh, struct visitor_conn *vc)
{
	vc->peer_closed = true;
	if (vc->h2 && vc->state == VC_BUSY)
		vc_close(sh, vc);           /* its streams end with it */
	else if (vc->state == VC_READING || vc->state == VC_LINGER)
		vc_close(sh, vc);
	else if (vc->state == VC_BUSY && !vc->ex->body_done)
		exchange_response_abort(sh, vc->ex);
	else if (vc->state == VC_BUSY)
		vc->ex->keep_alive = false;
}

/* ---- HTTPS visitors ------------------------------------------------------ */

/* Fatal unrecognized_name alert (RFC 6066 3), in the clear: no session. */
static const char alert_unrecognized_name[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70 };

/* Held ciphertext into the session, while it has room; false if none
 * went in. The session's input is smaller than a record can be, so a
 * caller told "needs input" feeds again while this says it fed some. */
static bool tls_fill(struct shard *sh, struct visitor_conn *vc)
{
	struct iobuf_group *g = shard_group(sh, SHARD_GROUP_VISITOR);
	bool fed = false;

	if (vc->hello_in) {
		/* The hello (and what came with it) first, from our own copy. */
		size_t n = tls_feed(vc->tls, vc->in, vc->in_len);
		fed = n > 0;
		memmove(vc->in, vc->in + n, vc->in_len - n);
		vc->in_len -= (uint32_t)n;
		if (vc->in_len > 0)
			return fed;
		iobuf_pool_put(&sh->pool, vc->in);
		vc->in = NULL;
		vc->hello_in = false;
	}
	while (vc->cheld_head >= 0) {
		struct shard_held_buf *h = &sh->held[vc->cheld_head];
		size_t n = tls_feed(vc->tls, iobuf_group_ptr(g, (uint16_t)vc->cheld_head) + h->off,
				    h->len);
		fed = fed || n > 0;
		h->off = (uint16_t)(h->off + n);
		h->len = (uint16_t)(h->len - n);
		if (h->len > 0)
			break;
		cipher_pop(sh, vc);
	}
	return fed;
}

/* Is `name` listed in z's hosts (not only matched as the default)? */
static bool zone_lists(const struct cfg_zone *z, const char *name, size_t len)
{
	for (size_t i = 0; i < z->n_hosts; i++)
		if (strlen(z->hosts[i]) == len && strncasecmp(z->hosts[i], name, len) == 0)
			return true;
	return false;
}

/*
 * The certificate for SNI `name`: its zone's (the same host table as the
 * Host header), else the default zone's, or NULL to refuse
 * (tls_unknown_sni = reject). A hello without SNI gets the default.
 */
static struct tls_ctx *tls_ctx_for(struct shard *sh, const char *name, size_t len)
{
	const struct runtime *rt = sh->rt;
	const struct cfg *cfg = rt->cfg;
	const struct cfg_zone *z;

	if (len == 0)
		return rt->tls_default;
	z = cfg_zone_by_host(cfg, name, len);
	if (z && (z != cfg->default_zone || zone_lists(z, name, len)) && rt_zone(rt, z)->tls)
		return rt_zone(rt, z)->tls;
	COUNT(sh, tls_sni_unknown);
	return cfg->server.tls_unknown_sni == CFG_SNI_REJECT ? NULL : rt->tls_default;
}

/* Send raw bytes linked to what follows (the shutdown of vc_linger). */
static void send_linked(struct shard *sh, struct visitor_conn *vc, const void *p, size_t n)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_send(sqe, vc->fd, p, n, MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VSEND, vc->idx, vc->gen));
	vc->ops++;
	vc->out.in_flight = true;
}

/*
 * Ciphertext before the session exists (the ClientHello, whose SNI picks
 * the certificate) is copied into the connection's input block, so a
 * hello dribbled in pieces pins one block of its own, never the shard's
 * provided buffers (a 10-byte piece used to hold a 16 KiB one). False
 * when the connection was closed (no block free, or past a record).
 */
static bool hello_append(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len)
{
	if (!vc->in) {
		vc->in = iobuf_pool_get(&sh->pool);
		if (!vc->in) {
			COUNT(sh, buffers_exhausted);
			vc_close(sh, vc);
			return false;
		}
		vc->in_len = 0;
	}
	if (len > IOBUF_HBUF_BYTES - vc->in_len) {
		COUNT(sh, tls_handshake_failures);   /* no hello is this long */
		vc_close(sh, vc);
		return false;
	}
	memcpy(vc->in + vc->in_len, p, len);
	vc->in_len += (uint32_t)len;
	vc->hello_in = true;
	vc->hello_pieces++;
	return true;
}

/*
 * The first record (the ClientHello) is in: its SNI picks the zone's
 * certificate, and the session is made on that context. False while the
 * record is incomplete, or when the connection was refused.
 */
static bool tls_start(struct shard *sh, struct visitor_conn *vc)
{
	char name[LIMIT_HOST_BYTES + 2];
	struct tls_ctx *ctx;
	int r;

	r = tls_sni_peek(vc->in, vc->in_len, name, sizeof(name));
	if (r == -EAGAIN && vc->hello_pieces < LIMIT_TLS_HELLO_PIECES &&
	    vc->in_len < 5 + TLS_RECORD_PLAIN_MAX)
		return false;
	if (r < 0) {
		COUNT(sh, tls_handshake_failures);   /* not a TLS hello */
		vc_close(sh, vc);
		return false;
	}
	ctx = tls_ctx_for(sh, name, (size_t)r);
	if (!ctx) {
		COUNT(sh, tls_sni_rejected);
		send_linked(sh, vc, alert_unrecognized_name, sizeof(alert_unrecognized_name));
		vc_linger(sh, vc);
		return false;
	}
	if (tls_session_new(ctx, NULL, &vc->tls) < 0) {
		COUNT(sh, buffers_exhausted);
		vc_close(sh, vc);
		return false;
	}
	return true;
}

static void tls_failed(struct shard *sh, struct visitor_conn *vc)
{
	COUNT(sh, tls_handshake_failures);
	log_debug("visitor %s: TLS handshake failed: %s", vc->peer_ip, tls_reason(vc->tls));
	vc_close(sh, vc);
}

/* Ciphertext arrived: the handshake, then plaintext into the same path
 * as plain visitors' input (pump), then whatever wolfSSL has to say. */
static void tls_input(struct shard *sh, struct visitor_conn *vc)
{
	if (!vc->tls && !tls_start(sh, vc))
		return;
	if (!vc->tls_ready) {
		int r;
		tls_fill(sh, vc);
		while ((r = tls_handshake(vc->tls)) == -EAGAIN && tls_fill(sh, vc))
			;
		if (vc->recv_paused && vc->held_n < LIMIT_RECV_SHARE_BUFS)
			resume_recv(sh, vc);        /* share_check paused it */
		if (r == -EAGAIN) {
			tls_send(sh, vc);
			return;
		}
		if (r < 0 || vc->hello_in) {
			/* hello_in: bytes sent before our ServerHello that the
			 * session did not take; no client does that. */
			tls_failed(sh, vc);
			return;
		}
		vc->tls_ready = true;
		COUNT(sh, tls_handshakes);
		if (tls_resumed(vc->tls))
			COUNT(sh, tls_resumed);
		/* From here on a request head is due, as after a plain accept. */
		set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
		const char *alpn = tls_alpn(vc->tls);
		if (alpn && strcmp(alpn, "h2") == 0) {
			switch_h2(sh, vc);
			if (vc->state != VC_BUSY)
				return;
		}
	}
	pump(sh, vc);
	tls_send(sh, vc);
}

/*
 * One record's plaintext into the input FIFO. False when there is none
 * now: more ciphertext needed, no plaintext buffer free (retried on the
 * tick), or the connection ended (close_notify, a record error).
 */
static bool tls_decrypt(struct shard *sh, struct visitor_conn *vc)
{
	struct iobuf_group *pg = shard_group(sh, SHARD_GROUP_PLAIN);

	if (!vc->tls_ready || (vc->state != VC_READING && vc->state != VC_BUSY))
		return false;
	/* After the visitor's EOF a read with nothing left would fail, and the
	 * failure sticks: the response still being sent could not be. */
	if (vc->peer_closed && vc->cheld_head < 0 && tls_input_unread(vc->tls) == 0)
		return false;
	tls_fill(sh, vc);
	int bid = iobuf_soft_take(pg);
	if (bid < 0) {
		COUNT(sh, recv_nobufs);
		vc->recv_starved = true;
		sh->starved = true;
		return false;
	}
	ssize_t n;
	while ((n = tls_read(vc->tls, iobuf_group_ptr(pg, (uint16_t)bid), pg->size)) == -EAGAIN &&
	       tls_fill(sh, vc))
		;
	if (n > 0)
		held_push(sh, vc, (uint16_t)bid, (size_t)n);
	iobuf_group_unref(pg, (uint16_t)bid);
	if (n > 0)
		return true;
	if (n == 0)
		on_peer_eof(sh, vc);        /* close_notify */
	else if (n != -EAGAIN && n != -ECONNRESET) {
		COUNT(sh, tls_errors);      /* bad MAC, fatal alert, ... */
		log_debug("visitor %s: TLS: %s", vc->peer_ip, tls_reason(vc->tls));
		vc_close(sh, vc);
	}
	return false;                       /* -ECONNRESET: the TCP EOF path decides */
}

/* TCP EOF on an HTTPS connection: count what it cut short. */
static void tls_eof(struct shard *sh, struct visitor_conn *vc)
{
	/* Bytes of a record the session holds with no more to come, or a
	 * first record (the hello) still incomplete. */
	bool partial = vc->tls ? tls_input_mid_record(vc->tls) && vc->cheld_head < 0 &&
				 !vc->recv_paused
			       : vc->in_len > 0;

	if (vc->tls)
		tls_feed(vc->tls, NULL, 0);
	if (partial)
		COUNT(sh, tls_truncated);
	if (!vc->tls_ready && (vc->tls || vc->in_len > 0))
		COUNT(sh, tls_handshake_failures);   /* gave up mid-handshake */
}

/*
 * Encrypt queued response bytes into the session's output and send that:
 * one send in flight; queue segments are released as they are encrypted,
 * so out.bytes (the backpressure) counts only what is not encrypted yet,
 * plus at most LIMIT_TLS_OUT_BYTES in the session.
 */
static void tls_send(struct shard *sh, struct visitor_conn *vc)
{
	const void *p;
	size_t n;

	if (!vc->tls || vc->out.in_flight || (vc->state != VC_READING && vc->state != VC_BUSY))
		return;
	while (vc->tls_ready && vc->out.n > 0) {
		const struct iobuf_seg *seg = &vc->out.segs[vc->out.head];
		ssize_t k = seg->len ? tls_write(vc->tls, seg->ptr, seg->len) : 0;
		if (k == -EAGAIN)
			break;                  /* output full: after this send */
		if (k < 0) {
			COUNT(sh, tls_errors);
			log_debug("visitor %s: TLS write: %s", vc->peer_ip, tls_reason(vc->tls));
			vc_close(sh, vc);
			return;
		}
		iobuf_outq_consume(&vc->out, &sh->pool, (uint64_t)k);
		vc->out_moved_ms = sh->lp.now_ms;
	}
	tls_pending_output(vc->tls, &p, &n);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_send(sqe, vc->fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_VSEND, vc->idx, vc->gen));
	vc->ops++;
	vc->out.in_flight = true;
	/* Only a response has a send deadline; the handshake and the head
	 * deadlines keep running under a ticket or an alert. */
	if (vc->state == VC_BUSY)
		set_timer(sh, vc, VT_SEND, sh->scfg->send_timeout_ms);
}

/* Before the write side is shut: close_notify, sent linked to it. */
static void tls_goodbye(struct shard *sh, struct visitor_conn *vc)
{
	const void *p;
	size_t n;

	if (!vc->tls || !vc->tls_ready || vc->out.in_flight || tls_shutdown(vc->tls) < 0)
		return;
	tls_pending_output(vc->tls, &p, &n);
	if (n > 0)
		send_linked(sh, vc, p, n);
}

static void on_recv(struct shard *sh, struct visitor_conn *vc, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		vc->recv_armed = false;
	if (cqe->res > 0) {
		struct iobuf_group *g = shard_group(sh, SHARD_GROUP_VISITOR);
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		iobuf_group_take(g, bid);
		if (vc->state != VC_CLOSING) {
			COUNT_N(sh, bytes_in, (uint64_t)cqe->res);
			if (!vc->is_tls) {
				held_push(sh, vc, bid, (size_t)cqe->res);
				pump(sh, vc);
			} else if (vc->state != VC_LINGER) {
				if (vc->tls)
					cipher_push(sh, vc, bid, (size_t)cqe->res);
				if (vc->tls || hello_append(sh, vc, iobuf_group_ptr(g, bid),
							    (size_t)cqe->res))
					tls_input(sh, vc);
			}
			share_check(sh, vc);
		}
		iobuf_group_unref(g, bid);
	} else if (cqe->res == -ENOBUFS) {
		COUNT(sh, recv_nobufs);
		if (!vc->recv_starved) {
			vc->recv_starved = true;
			/* re-armed by visitor_rearm_starved on the next tick */
			sh->starved = true;
		}
	} else if (cqe->res == 0) {
		if (vc->is_tls)
			tls_eof(sh, vc);
		on_peer_eof(sh, vc);
	} else if (cqe->res != -ECANCELED) {
		vc_close(sh, vc);           /* reset by peer, etc. */
	}
	if (!vc->recv_armed && !vc->recv_paused && !vc->recv_starved && !vc->peer_closed &&
	    vc->state != VC_CLOSING && vc->state != VC_FREE)
		arm_recv(sh, vc);
}

static void on_sent(struct shard *sh, struct visitor_conn *vc, int res);

/*
 * A zero-copy send completes twice: its result (F_MORE) and then its
 * notification (F_NOTIF), after which the kernel no longer reads the
 * queued bytes. Only then is the send treated as done, so the segments
 * (and the cache blocks and chunk buffers behind them, released from
 * on_sent) outlive it; a closing connection's slot is not freed before
 * either, as vc->ops counts the notification (visitor_on_cqe).
 */
static void on_send(struct shard *sh, struct visitor_conn *vc, const struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		assert(vc->out.zc_wait);
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
			COUNT(sh, send_zc_copied);
			vc->out.zc_never = true;
		}
		vc->out.zc_wait = false;
		on_sent(sh, vc, vc->out.zc_res);
		return;
	}
	if (cqe->flags & IORING_CQE_F_MORE) {
		vc->out.zc_wait = true;
		vc->out.zc_res = cqe->res;
		return;
	}
	on_sent(sh, vc, cqe->res);
}

static void on_sent(struct shard *sh, struct visitor_conn *vc, int res)
{
	bool zc = vc->out.zc;
	vc->out.in_flight = false;
	vc->out.zc = false;
	if (vc->state == VC_CLOSING)
		return;
	if (zc && (res == -EOPNOTSUPP || res == -EINVAL)) {
		/* Nothing went out: the queue is intact; send it by copy. */
		if (!sh->zc_off)
			log_warn("net: zero-copy send refused (%s); sending by copy on this shard",
				 strerror(-res));
		sh->zc_off = true;
		COUNT(sh, send_zc_fallbacks);
		visitor_send(sh, vc);
		return;
	}
	if (res < 0) {
		vc_close(sh, vc);
		return;
	}
	COUNT_N(sh, bytes_out, (uint64_t)res);
	vc->out_moved_ms = sh->lp.now_ms;
	if (vc->is_tls) {
		if (vc->tls)
			tls_output_done(vc->tls, (size_t)res);
	} else {
		iobuf_outq_consume(&vc->out, &sh->pool, (uint64_t)res);
	}
	if (vc->timer_kind == VT_SEND)
		clear_timer(sh, vc);
	struct exchange *ex = vc->state == VC_BUSY ? vc->ex : NULL;
	if (ex && ex->cache.large.on && !ex->resp_done)
		elarge_on_sent(sh, ex);     /* frees sent chunk buffers, reads on */
	visitor_send(sh, vc);
	if (vc->state == VC_CLOSING)
		return;
	if (vc->h2) {
		if (vc->state != VC_BUSY)
			return;
		if (!h2_on_sent(vc->h2))
			h2_close(sh, vc);       /* GOAWAY sent, or nothing left to do */
		else
			h2_timer(sh, vc);
		return;
	}
	ex = vc->state == VC_BUSY ? vc->ex : NULL;
	if (!vc->out.in_flight && vc->out.n == 0 && ex && ex->resp_done) {
		visitor_finish(sh, vc);
		return;
	}
	if (ex && ex->oc && vc->out.bytes < LIMIT_STREAM_WINDOW_BYTES / 2)
		origin_visitor_drained(sh, ex->oc);
}

void visitor_on_cqe(struct shard *sh, struct visitor_conn *vc, int op,
		    const struct io_uring_cqe *cqe)
{
	assert(vc->magic == VCONN_MAGIC);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		assert(vc->ops > 0);
		vc->ops--;
	}
	switch (op) {
	case OP_VRECV:
		on_recv(sh, vc, cqe);
		break;
	case OP_VSEND:
		on_send(sh, vc, cqe);
		break;
	default:
		break;                      /* cancel, shutdown, close */
	}
	vc_maybe_free(sh, vc);
}

void visitor_on_timer(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	switch (vc->timer_kind) {
	case VT_HEADER:
		COUNT(sh, timeouts_header);
		break;
	case VT_IDLE:
		COUNT(sh, timeouts_idle);
		break;
	case VT_SEND:
		COUNT(sh, timeouts_send);
		break;
	case VT_HANDSHAKE:
		COUNT(sh, tls_handshake_timeouts);
		break;
	default:
		break;
	}
	vc->timer_kind = VT_NONE;
	vc_close(sh, vc);
}

void visitor_rearm_starved(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		if (!vc->recv_starved)
			continue;
		vc->recv_starved = false;
		if (vc->state != VC_FREE && vc->state != VC_CLOSING)
			resume_recv(sh, vc);
		if (vc->is_tls && (vc->state == VC_READING || vc->state == VC_BUSY))
			pump(sh, vc);           /* plaintext waiting for a buffer */
	}
}

/* Is vc's send queue pinning provided buffers without moving? */
static bool stalled_holder(const struct shard *sh, const struct visitor_conn *vc)
{
	return (vc->state == VC_BUSY || vc->state == VC_READING) && vc->out.n_pbuf > 0 &&
	       sh->lp.now_ms - vc->out_moved_ms >= LIMIT_RECV_SHARE_STALL_MS;
}

unsigned visitor_reclaim(struct shard *sh)
{
	unsigned closed = 0;

	/* Every stalled holder, not just enough of them: while the pool is
	 * low no one sits on it without moving, and a second look one tick
	 * later would only find the next ones. */
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		if (!stalled_holder(sh, vc))
			continue;
		COUNT(sh, recv_share_closed);
		log_debug("visitor %s: closed: its send has pinned %u receive buffers for %llu ms "
			  "while the shard was short of them", vc->peer_ip, vc->out.n_pbuf,
			  (unsigned long long)(sh->lp.now_ms - vc->out_moved_ms));
		if (vc->state == VC_BUSY && vc->ex)
			exchange_response_abort(sh, vc->ex);   /* logged */
		else
			vc_close(sh, vc);
		closed++;
	}
	return closed;
}

void visitor_drain(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		/* A hello in `in` is no request yet: idle, as before it was
		 * copied there. */
		if (vc->state == VC_READING && (vc->in_len == 0 || vc->hello_in))
			vc_close(sh, vc);
		else if (vc->state == VC_BUSY && vc->h2)
			h2_drain(vc->h2);
		else if (vc->state == VC_BUSY && vc->ex)
			vc->ex->keep_alive = false;
	}
}

void visitor_close_all(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++)
		vc_close(sh, &sh->vconns[i]);
}


void visitor_read_on(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->state == VC_BUSY)
		pump(sh, vc);
}
