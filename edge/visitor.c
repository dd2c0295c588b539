/*
 * edge/visitor.c — what visitor connections' input means (see visitor.h);
 * their transport is net/vconn.c.
 *
 * Life of a connection: accept → READING (input is appended to the input
 * block; each append re-parses the head) → BUSY (one exchange; more input
 * is kept behind the head for pipelining, or request body goes to the
 * origin) → the response is sent → READING again with the pipelined
 * bytes moved to the front, or LINGER → CLOSING (net/vconn.c).
 */
#include "edge/visitor.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/loop.h"
#include "edge/shard.h"
#include "edge/exchange.h"
#include "net/h2.h"
#include "edge/origin.h"
#include "net/http1.h"
#include "net/tls.h"


static void process_input(struct shard *sh, struct visitor_conn *vc);
static void pump(struct shard *sh, struct visitor_conn *vc);
static void h2_timer(struct shard *sh, struct visitor_conn *vc);
static void switch_h2(struct shard *sh, struct visitor_conn *vc);
static const struct vconn_ops vconn_ops;

void visitor_send(struct shard *sh, struct visitor_conn *vc)
{
	(void)sh;
	vconn_send(&vc->t);
}

/* ---- slots ---------------------------------------------------------------- */

/* The shard's ring, ops, buffer groups, held tables and pool, as the
 * transport (net/vconn.h) takes them; filled at the first connection. */
static const struct vconn_env *venv(struct shard *sh)
{
	struct vconn_env *e = &sh->venv;

	if (!e->lp) {
		*e = (struct vconn_env){
			.lp = &sh->lp, .op_recv = OP_VRECV, .op_send = OP_VSEND,
			.op_close = OP_VCLOSE, .op_shut = OP_VSHUT,
			.recv_group = shard_group(sh, SHARD_GROUP_VISITOR),
			.plain_group = shard_group(sh, SHARD_GROUP_PLAIN),
			.held = sh->held, .held_plain = sh->held_plain, .pool = &sh->pool,
			.scfg = &sh->scfg, .starved = &sh->starved, .zc_off = &sh->zc_off,
			.ops = &vconn_ops, .user = sh,
		};
	}
	return e;
}

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
	vconn_release(&vc->t);
	vc->next = sh->vfree;
	sh->vfree = vc;
	sh->vconns_used--;
	counters_add(sh->lp.ctr, CTR_conns_open, (uint64_t)-1);
}

void visitor_close(struct shard *sh, struct visitor_conn *vc)
{
	(void)sh;
	assert(vc->t.magic == VCONN_MAGIC);
	vconn_close(&vc->t);
}

/* ---- accept ------------------------------------------------------------- */

void visitor_accept(struct shard *sh, int fd, bool tls)
{
	/* Also while draining: an accept that completed before the drain's
	 * cancel is a connection the client thinks is open (an upgrade's new
	 * process did not get it): it is served, with Connection: close. */
	struct visitor_conn *vc = shard_vconn_take(sh);

	if (!vc) {
		/* Over max_conns: close at once; counted, never queued. */
		COUNT(sh, conns_refused_limit);
		struct io_uring_sqe *sqe = shard_sqe(sh);
		io_uring_prep_close(sqe, fd);
		io_uring_sqe_set_data64(sqe, shard_ud(OP_IGNORE, 0, 0));
		return;
	}
	sh->vconns_used++;
	COUNT(sh, conns_open);
	vc->h2 = NULL;
	vc->ex = NULL;
	vc->next = NULL;
	vconn_accept(&vc->t, venv(sh), fd, tls);
}

/* ---- exchanges ---------------------------------------------------------- */

/* Forward body bytes already in the input block (after the head). */
static void body_from_block(struct shard *sh, struct visitor_conn *vc)
{
	struct exchange *x = vc->ex;
	struct vconn *t = &vc->t;
	uint32_t avail = t->in_len - x->head_len;
	if (!x->has_body || avail == 0)
		return;
	ssize_t n = exchange_body_take(sh, x, t->in + x->head_len, avail);
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
		memcpy(blk, t->in + x->head_len, (size_t)n);
		struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)n,
					 .kind = IOBUF_SEG_HBUF, .block = blk };
		x->body_sent = true;
		if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
			exchange_response_abort(sh, x);
			return;
		}
	}
	/* Keep the head where it is; pipelined bytes move right behind it. */
	memmove(t->in + x->head_len, t->in + x->head_len + n, avail - (size_t)n);
	t->in_len -= (uint32_t)n;
}

/* The exchange's response is completely sent: log it, then the next
 * request or close. */
void visitor_finish(struct shard *sh, struct visitor_conn *vc)
{
	struct exchange *ex = vc->ex;
	struct vconn *t = &vc->t;

	assert(t->magic == VCONN_MAGIC && ex && ex->conn == vc);
	exchange_log(sh, ex);
	/* Draining, a response whose head promised keep-alive (it went out
	 * before the drain) leaves the connection open: the client may have
	 * sent its next request already, which is answered with
	 * Connection: close (exchange_start); else the drain's short grace
	 * closes it (process_input). */
	bool keep = ex->keep_alive && ex->body_done;
	bool linger = ex->must_linger || !ex->body_done || sh->draining || t->is_tls ||
		      t->in_len > ex->head_len || t->held_head >= 0;
	uint32_t head_len = ex->head_len;
	vc->ex = NULL;
	exchange_close(sh, ex);
	exchange_detach(sh, ex);            /* its queue is empty: freed now */
	if (!keep) {
		/* Linger only where unread input may be waiting (an RST would
		 * destroy our response); a visitor that asked to close and sent
		 * nothing more is closed at once, as nginx does. */
		if (linger)
			vconn_linger(t);
		else
			vconn_close(t);
		return;
	}
	/* Drop the answered head; pipelined input moves to the front. */
	uint32_t rest = t->in_len - head_len;
	memmove(t->in, t->in + head_len, rest);
	t->in_len = rest;
	t->state = VC_READING;
	process_input(sh, vc);
	pump(sh, vc);
}

/* A request head parsed (n bytes, or a parse error < 0): its exchange. */
static void begin_exchange(struct shard *sh, struct visitor_conn *vc,
			   const struct http1_request *req, int n)
{
	struct exchange *ex = exchange_new(sh, vc);

	if (!ex) {
		vconn_close(&vc->t);        /* counted exchanges_refused */
		return;
	}
	vc->ex = ex;
	/* The head up to its last field, not the whole array (3.6 KiB): what
	 * a request reads. A head that failed to parse has no fields. */
	memcpy(&ex->req, req, offsetof(struct http1_request, headers));
	ex->req.n_headers = n < 0 ? 0 : req->n_headers;
	memcpy(ex->req.headers, req->headers, ex->req.n_headers * sizeof(req->headers[0]));
	vc->t.state = VC_BUSY;
	vconn_clear_timer(&vc->t);
	if (n < 0) {
		exchange_reject(sh, ex, n);
		return;
	}
	exchange_start(sh, ex, (uint32_t)n);
	if (vc->t.state == VC_BUSY && vc->ex == ex && ex->state == EX_BUSY && !ex->resp_done)
		body_from_block(sh, vc);
}

static void process_input(struct shard *sh, struct visitor_conn *vc)
{
	struct vconn *t = &vc->t;

	assert(t->state == VC_READING);
	if (t->in_len == 0) {
		if (t->in) {
			iobuf_pool_put(&sh->pool, t->in);
			t->in = NULL;
		}
		if (t->peer_closed) {
			vconn_close(t);
			return;
		}
		vconn_set_timer(t, VT_IDLE, sh->draining ? LIMIT_DRAIN_IDLE_GRACE_MS :
					   sh->scfg->idle_timeout_ms);
		return;
	}
	/* h2c with prior knowledge (RFC 9113 3.3): the client preface. */
	if (!t->is_tls && t->in[0] == 'P') {
		size_t k = t->in_len < H2_PREFACE_LEN ? t->in_len : H2_PREFACE_LEN;
		if (memcmp(t->in, H2_PREFACE, k) == 0) {
			if (k == H2_PREFACE_LEN) {
				switch_h2(sh, vc);
				return;
			}
			if (t->timer_kind != VT_HEADER)
				vconn_set_timer(t, VT_HEADER, sh->scfg->header_timeout_ms);
			if (t->peer_closed)
				vconn_close(t);
			return;
		}
	}
	struct http1_request req;
	int n = http1_parse_request(t->in, t->in_len, &req);
	if (n == -HTTP1_E_AGAIN) {
		/* The deadline runs from the first byte of the head: more bytes
		 * do not extend it (slow loris). */
		if (t->timer_kind != VT_HEADER)
			vconn_set_timer(t, VT_HEADER, sh->scfg->header_timeout_ms);
		if (t->peer_closed)
			vconn_close(t);
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
	struct exchange *ex = exchange_stream_new(env, h, vc->t.peer_ip);

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
	struct vconn *t = &vc->t;
	char *in = t->in;
	uint32_t n = t->in_len;

	t->in = NULL;
	t->in_len = 0;
	t->state = VC_BUSY;                 /* until it closes: streams are the exchanges */
	/* Never zero-copy: its frame buffer is rewritten per send. */
	t->out.zc_never = true;
	vconn_clear_timer(t);
	struct h2_env env = { .lp = &sh->lp, .pool = &sh->pool, .ops = &h2_stream_ops, .user = sh };
	vc->h2 = h2_new(&env, vc, &t->out, t->peer_ip);
	bool ok = vc->h2 && h2_start(vc->h2, in, n);
	if (in)
		iobuf_pool_put(&sh->pool, in);
	if (t->state != VC_BUSY)
		return;
	if (!ok) {
		if (!vc->h2)
			COUNT(sh, buffers_exhausted);
		vconn_close(t);
		return;
	}
	h2_timer(sh, vc);
}

/* The session is over: its streams' exchanges close, then the connection
 * lingers like an HTTP/1.1 one after its last response. */
static void h2_close(struct shard *sh, struct visitor_conn *vc)
{
	(void)sh;
	h2_conn_end(vc->h2);
	vconn_linger(&vc->t);
}

/* An HTTP/2 connection with no stream open runs the idle timer; one
 * whose streams wait for the peer's window, the send deadline. */
static void h2_timer(struct shard *sh, struct visitor_conn *vc)
{
	struct vconn *t = &vc->t;

	if (t->state != VC_BUSY || !vc->h2)
		return;
	if (h2_idle(vc->h2)) {
		if (t->timer_kind != VT_SEND)
			vconn_set_timer(t, VT_IDLE, sh->scfg->idle_timeout_ms);
		return;
	}
	uint64_t dl = h2_stall_deadline(vc->h2, sh->scfg->send_timeout_ms);
	if (dl)
		vconn_set_timer(t, VT_SEND, dl > sh->lp.now_ms ? (uint32_t)(dl - sh->lp.now_ms) : 1);
	else if (t->timer_kind == VT_IDLE || t->timer_kind == VT_HEADER ||
		 (t->timer_kind == VT_SEND && !t->out.in_flight))
		vconn_clear_timer(t);    /* a send in flight keeps its own deadline */
}

/* ---- input ---------------------------------------------------------------- */

/* Request body bytes from held input to the origin. Returns bytes
 * consumed (0: the origin queue is full), or -1 if the exchange ended. */
static ssize_t upload(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len)
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
		struct iobuf_seg seg = vconn_input_seg(&vc->t, p, (size_t)n);
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
	struct vconn *t = &vc->t;
	size_t n = vconn_block_append(t, p, len);

	if (t->state == VC_CLOSING)
		return 0;                   /* no block free: counted */
	if (t->state == VC_READING && t->timer_kind != VT_HEADER)
		vconn_set_timer(t, VT_HEADER, sh->scfg->header_timeout_ms);
	return n;
}

/*
 * Consume held input in order: request body to the origin while it has
 * room, everything else into the input block, parsing as we go. Stops
 * (and pauses recv) when neither can take more; called again when the
 * origin drains or the exchange finishes. The transport's input op.
 */
static void pump(struct shard *sh, struct visitor_conn *vc)
{
	struct vconn *t = &vc->t;
	const char *p;
	size_t len;

	while (vconn_input_next(t, &p, &len)) {
		if (t->state == VC_LINGER) {
			vconn_input_take(t, len);   /* input after our last response */
			continue;
		}
		if (t->state != VC_READING && t->state != VC_BUSY)
			return;
		size_t n;
		if (vc->h2) {
			/* HTTP/2: nghttp2 takes every byte (streams are bounded
			 * by LIMIT_H2_MAX_STREAMS, not by this FIFO). */
			bool ok = h2_recv(vc->h2, p, len);
			if (t->state == VC_CLOSING)
				return;
			vconn_input_take(t, len);
			if (!ok) {
				h2_close(sh, vc);
				return;
			}
			continue;
		}
		if (t->state == VC_BUSY && vc->ex->has_body && !vc->ex->body_done) {
			ssize_t r = upload(sh, vc, p, len);
			if (r < 0)
				return;
			n = (size_t)r;
		} else {
			n = append_input(sh, vc, p, len);
			if (t->state == VC_CLOSING)
				return;
		}
		if (n == 0) {
			if (t->state == VC_BUSY)
				COUNT(sh, pipeline_paused);
			vconn_pause(t);
			return;
		}
		vconn_input_take(t, n);
		if (t->state == VC_READING)
			process_input(sh, vc);
	}
	if (vc->h2)
		h2_timer(sh, vc);
	if (t->recv_paused)
		vconn_resume(t);
}

/* ---- the transport's ops (net/vconn.h) ----------------------------------- */

static void vop_input(void *user, struct vconn *t)
{
	pump(user, visitor_of(t));
}

/* A send completed: a large object's next chunk, the next send, and what
 * an empty queue means (the exchange is done, the origin may read on). */
static void vop_sent(void *user, struct vconn *t)
{
	struct shard *sh = user;
	struct visitor_conn *vc = visitor_of(t);
	struct exchange *ex = t->state == VC_BUSY ? vc->ex : NULL;

	if (ex && ex->cache.large.on && !ex->resp_done)
		elarge_on_sent(sh, ex);     /* frees sent chunk buffers, reads on */
	vconn_send(t);
	if (t->state == VC_CLOSING)
		return;
	if (vc->h2) {
		if (t->state != VC_BUSY)
			return;
		if (!h2_on_sent(vc->h2))
			h2_close(sh, vc);       /* GOAWAY sent, or nothing left to do */
		else
			h2_timer(sh, vc);
		return;
	}
	ex = t->state == VC_BUSY ? vc->ex : NULL;
	if (!t->out.in_flight && t->out.n == 0 && ex && ex->resp_done) {
		visitor_finish(sh, vc);
		return;
	}
	if (ex && ex->oc && t->out.bytes < LIMIT_STREAM_WINDOW_BYTES / 2 && !elarge_paused(ex))
		origin_visitor_drained(sh, ex->oc);
}

/* The visitor closed its side (TCP EOF, or TLS close_notify). */
static void vop_peer_eof(void *user, struct vconn *t)
{
	struct visitor_conn *vc = visitor_of(t);

	if (vc->h2 && t->state == VC_BUSY)
		vconn_close(t);             /* its streams end with it */
	else if (t->state == VC_READING || t->state == VC_LINGER)
		vconn_close(t);
	else if (t->state == VC_BUSY && !vc->ex->body_done)
		exchange_response_abort(user, vc->ex);
	else if (t->state == VC_BUSY)
		vc->ex->keep_alive = false;
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
static struct tls_ctx *vop_tls_ctx(void *user, const char *name, size_t len)
{
	struct shard *sh = user;
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

static void vop_tls_ready(void *user, struct vconn *t, const char *alpn)
{
	if (alpn && strcmp(alpn, "h2") == 0)
		switch_h2(user, visitor_of(t));
}

static void vop_closing(void *user, struct vconn *t)
{
	struct visitor_conn *vc = visitor_of(t);

	(void)user;
	if (vc->h2)
		h2_conn_end(vc->h2);        /* its streams end */
}

static void vop_closed(void *user, struct vconn *t)
{
	struct visitor_conn *vc = visitor_of(t);

	if (vc->ex)
		exchange_close(user, vc->ex);   /* kept until the slot is freed */
}

static const struct vconn_ops vconn_ops = {
	.input = vop_input,
	.sent = vop_sent,
	.peer_eof = vop_peer_eof,
	.tls_ctx = vop_tls_ctx,
	.tls_ready = vop_tls_ready,
	.closing = vop_closing,
	.closed = vop_closed,
};

/* ---- the shard's entry points ---------------------------------------------- */

void visitor_on_cqe(struct shard *sh, struct visitor_conn *vc, int op,
		    const struct io_uring_cqe *cqe)
{
	if (vconn_on_cqe(&vc->t, (unsigned)op, cqe))
		vc_free_slot(sh, vc);
}

void visitor_on_timer(struct shard *sh, struct visitor_conn *vc)
{
	(void)sh;
	vconn_on_timer(&vc->t);
}

void visitor_rearm_starved(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++)
		vconn_rearm_starved(&sh->vconns[i].t);
}

unsigned visitor_reclaim(struct shard *sh)
{
	unsigned closed = 0;

	/* Every stalled holder, not just enough of them: while the pool is
	 * low no one sits on it without moving, and a second look one tick
	 * later would only find the next ones. */
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		struct vconn *t = &vc->t;
		if (!vconn_stalled(t))
			continue;
		COUNT(sh, recv_share_closed);
		log_debug("visitor %s: closed: its send has pinned %u receive buffers for %llu ms "
			  "while the shard was short of them", t->peer_ip, t->out.n_pbuf,
			  (unsigned long long)(sh->lp.now_ms - t->out_moved_ms));
		if (t->state == VC_BUSY && vc->ex)
			exchange_response_abort(sh, vc->ex);   /* logged */
		else
			vconn_close(t);
		closed++;
	}
	return closed;
}

void visitor_drain(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		struct vconn *t = &vc->t;
		/* Idle (a hello in `in` is no request yet): closed after a
		 * short grace, not at once — a request already on its way is
		 * answered (Connection: close) instead of meeting a reset. */
		if (t->state == VC_READING && (t->in_len == 0 || t->hello_in))
			vconn_set_timer(t, VT_IDLE, LIMIT_DRAIN_IDLE_GRACE_MS);
		else if (t->state == VC_BUSY && vc->h2)
			h2_drain(vc->h2);
		else if (t->state == VC_BUSY && vc->ex && !vc->ex->head_queued)
			vc->ex->keep_alive = false;   /* its head will say close */
	}
}

void visitor_drain_final(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++) {
		struct visitor_conn *vc = &sh->vconns[i];
		if (vc->t.state == VC_BUSY && vc->h2)
			h2_drain_final(vc->h2);
	}
}

void visitor_close_all(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++)
		vconn_close(&sh->vconns[i].t);
}

void visitor_read_on(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->t.magic == VCONN_MAGIC);
	if (vc->t.state == VC_BUSY)
		pump(sh, vc);
}
