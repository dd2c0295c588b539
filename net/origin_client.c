/*
 * net/origin_client.c — the origin client (see origin_client.h): first
 * the response reader (pure: bytes in, callbacks out), then the
 * connection around it on the ring.
 */
#include "net/origin_client.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "core/counters.h"
#include "core/limits.h"
#include "net/tls.h"

void oclient_reader_release(struct oclient_reader *r)
{
	if (r->head) {
		iobuf_pool_put(r->pool, r->head);
		r->head = NULL;
	}
	r->head_len = 0;
}

void oclient_reader_start(struct oclient_reader *r, struct iobuf_pool *pool,
			  bool head_request, bool dechunk)
{
	if (r->head && r->pool)
		oclient_reader_release(r);
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->head_request = head_request;
	r->dechunk = dechunk;
}

static int fail(struct oclient_reader *r, const struct oclient_ops *ops, void *user,
		enum oclient_error err)
{
	r->keep_alive = false;
	ops->on_error(user, err);
	return OCLIENT_STOPPED;
}

static void set_framing(struct oclient_reader *r, const struct http1_response *resp)
{
	r->keep_alive = resp->keep_alive;
	if (resp->no_body || r->head_request) {
		r->body_mode = OCLIENT_BODY_NONE;
	} else if (resp->chunked) {
		r->body_mode = OCLIENT_BODY_CHUNKED;
		http1_chunked_init(&r->chunk);
	} else if (resp->content_length >= 0) {
		r->body_mode = OCLIENT_BODY_LENGTH;
		r->body_left = resp->content_length;
	} else {
		r->body_mode = OCLIENT_BODY_CLOSE;
		r->keep_alive = false;
	}
}

/*
 * Response head bytes. Parses in place when the whole head is in p (the
 * common case); otherwise accumulates in a head block. Returns the bytes
 * of p the head took, or OCLIENT_STOPPED.
 */
static ssize_t read_head(struct oclient_reader *r, const char *p, size_t len,
			 const struct oclient_ops *ops, void *user)
{
	struct http1_response resp;
	const char *src = p;
	size_t src_len = len, taken = len;

	if (r->head) {
		size_t room = IOBUF_HBUF_BYTES - r->head_len;
		taken = len < room ? len : room;
		memcpy(r->head + r->head_len, p, taken);
		r->head_len += (uint32_t)taken;
		src = r->head;
		src_len = r->head_len;
	}
	int rc = http1_parse_response(src, src_len, r->head_request, &resp);
	if (rc == -HTTP1_E_AGAIN) {
		if (!r->head) {
			r->head = iobuf_pool_get(r->pool);
			if (!r->head)
				return fail(r, ops, user, OCLIENT_E_NOBUFS);
			memcpy(r->head, p, len);
			r->head_len = (uint32_t)len;
		}
		return (ssize_t)len;
	}
	/* 101: the edge never asks to switch protocols (Upgrade is not
	 * forwarded), so what follows is not HTTP we may read or pool. */
	if (rc < 0 || resp.status == 101)
		return fail(r, ops, user, OCLIENT_E_BAD_HEAD);
	/* Bytes of p that belong to the head. The head ended inside what was
	 * just appended, so whatever follows it in the block came from p and
	 * is still there in p: the block is not needed any more. */
	size_t head_from_p = r->head ? taken - (src_len - (size_t)rc) : (size_t)rc;
	/* resp points into the block: it goes back after the call */
	if (resp.status >= 200) {
		r->head_done = true;
		set_framing(r, &resp);
		if (!ops->on_head(user, &resp))
			return OCLIENT_STOPPED;
	} else {
		/* An interim response (103 Early Hints, a stray 100): a head
		 * alone, whatever Content-Length it has (RFC 9110 15.2).
		 * Bounded: each one re-arms the read timeout. */
		r->interim_bytes += (uint32_t)rc;
		if (++r->interim_n > LIMIT_ORIGIN_INTERIM_HEADS ||
		    r->interim_bytes > LIMIT_ORIGIN_INTERIM_BYTES)
			return fail(r, ops, user, OCLIENT_E_INTERIM);
		if (ops->on_interim && !ops->on_interim(user, &resp))
			return OCLIENT_STOPPED;
	}
	oclient_reader_release(r);
	return (ssize_t)head_from_p;
}

static void data(const struct oclient_ops *ops, void *user, char *p, size_t n)
{
	if (ops->on_data && n > 0)
		ops->on_data(user, p, n);
}

/* A chunked body: content spans to on_data, then on to on_body as framed
 * bytes or as spans. Returns bytes of p taken, or OCLIENT_STOPPED. */
static ssize_t read_chunked(struct oclient_reader *r, char *p, size_t len,
			    const struct oclient_ops *ops, void *user)
{
	struct http1_span spans[16];
	size_t done = 0;

	while (done < len && !r->chunk.done) {
		size_t n_spans = 0;
		ssize_t c = http1_chunked_feed(&r->chunk, p + done, len - done, spans, 16,
					       &n_spans);
		if (c < 0)
			return fail(r, ops, user, OCLIENT_E_BAD_CHUNK);
		/* Content is seen before it goes out, framing never: masking
		 * a chunk-size line passed through would leave the visitor
		 * waiting for a line that never ends. */
		for (size_t i = 0; i < n_spans; i++)
			data(ops, user, p + done + spans[i].off, spans[i].len);
		if (r->dechunk) {
			for (size_t i = 0; i < n_spans; i++)
				if (spans[i].len > 0 &&
				    !ops->on_body(user, r->g, r->bid, p + done + spans[i].off,
						  spans[i].len))
					return OCLIENT_STOPPED;
		} else if (c > 0 && !ops->on_body(user, r->g, r->bid, p + done, (size_t)c)) {
			return OCLIENT_STOPPED;
		}
		if (c == 0)
			break;
		done += (size_t)c;
	}
	return (ssize_t)done;
}

/* Body bytes. Returns bytes of p that belong to this response, or
 * OCLIENT_STOPPED. */
static ssize_t read_body(struct oclient_reader *r, char *p, size_t len,
			 const struct oclient_ops *ops, void *user)
{
	size_t n;

	switch (r->body_mode) {
	case OCLIENT_BODY_LENGTH:
		n = (uint64_t)r->body_left < len ? (size_t)r->body_left : len;
		data(ops, user, p, n);
		if (n > 0 && !ops->on_body(user, r->g, r->bid, p, n))
			return OCLIENT_STOPPED;
		r->body_left -= (int64_t)n;
		return (ssize_t)n;
	case OCLIENT_BODY_CHUNKED:
		return read_chunked(r, p, len, ops, user);
	case OCLIENT_BODY_CLOSE:
		data(ops, user, p, len);
		if (len > 0 && !ops->on_body(user, r->g, r->bid, p, len))
			return OCLIENT_STOPPED;
		return (ssize_t)len;
	default:
		return 0;
	}
}

static bool body_complete(const struct oclient_reader *r)
{
	switch (r->body_mode) {
	case OCLIENT_BODY_NONE:
		return true;
	case OCLIENT_BODY_LENGTH:
		return r->body_left == 0;
	case OCLIENT_BODY_CHUNKED:
		return r->chunk.done;
	default:
		return false;               /* until the origin closes */
	}
}

int oclient_read(struct oclient_reader *r, char *p, size_t len, struct iobuf_group *g,
		 uint16_t bid, const struct oclient_ops *ops, void *user)
{
	if (len > 0)
		r->got_bytes = true;
	while (len > 0 && !r->head_done) {
		ssize_t n = read_head(r, p, len, ops, user);
		if (n < 0)
			return OCLIENT_STOPPED;
		p += n;
		len -= (size_t)n;
	}
	if (!r->head_done)
		return OCLIENT_MORE;
	r->g = g;
	r->bid = bid;
	ssize_t n = len > 0 ? read_body(r, p, len, ops, user) : 0;
	if (n < 0)
		return OCLIENT_STOPPED;
	if ((size_t)n < len)
		r->keep_alive = false;      /* bytes past the message: do not reuse */
	if (!body_complete(r))
		return OCLIENT_MORE;
	ops->on_end(user);
	return OCLIENT_DONE;
}

int oclient_read_eof(struct oclient_reader *r, bool clean, const struct oclient_ops *ops,
		     void *user)
{
	if (!r->head_done)
		return fail(r, ops, user, OCLIENT_E_CLOSED);
	if (r->body_mode != OCLIENT_BODY_CLOSE || !clean)
		return fail(r, ops, user, OCLIENT_E_TRUNCATED);
	r->keep_alive = false;
	ops->on_end(user);
	return OCLIENT_DONE;
}

bool oclient_method_ignores_body(enum http1_method m)
{
	return m == HTTP1_GET || m == HTTP1_HEAD || m == HTTP1_DELETE ||
	       m == HTTP1_OPTIONS || m == HTTP1_TRACE;
}

bool oclient_method_idempotent(enum http1_method m)
{
	return m == HTTP1_GET || m == HTTP1_HEAD || m == HTTP1_PUT || m == HTTP1_DELETE ||
	       m == HTTP1_OPTIONS || m == HTTP1_TRACE;
}

enum oclient_reuse oclient_reuse(const struct oclient_reader *r, bool request_sent,
				 bool body_unsafe)
{
	if (!request_sent || body_unsafe)
		return OCLIENT_REUSE_DESYNC;
	if (!r->head_done || !body_complete(r) || !r->keep_alive)
		return OCLIENT_REUSE_CLOSE;
	return OCLIENT_REUSE;
}

/* ---- the connection ------------------------------------------------------- */

static void count(const struct oclient *c, unsigned id)
{
	counters_add(c->env->lp->ctr, id, 1);
}

/* No byte from the origin for read_timeout_ms: the user's timer callback. */
static void arm_timeout(struct oclient *c)
{
	struct loop *lp = c->env->lp;

	wheel_arm(&lp->wheel, &c->timer, lp->now_ms + c->read_timeout_ms);
}

/* user_data: op, slot, generation (core/loop.h); set after the prep,
 * which may clear the SQE. Counted in ops until its completion. */
static void tag(struct oclient *c, struct io_uring_sqe *sqe, unsigned op)
{
	io_uring_sqe_set_data64(sqe, loop_ud(op, c->slot, c->gen));
	c->ops++;
}

void oclient_init(struct oclient *c, const struct oclient_env *env, uint32_t slot,
		  uint32_t gen)
{
	memset(c, 0, offsetof(struct oclient, out));
	c->env = env;
	c->slot = slot;
	c->gen = gen;
	c->fd = -1;
	iobuf_outq_init(&c->out);
}

int oclient_connect(struct oclient *c, const struct sockaddr_storage *ss, socklen_t sl,
		    uint32_t connect_timeout_ms, uint32_t read_timeout_ms,
		    struct tls_ctx *tls, const char *host)
{
	if (tls) {
		int err = tls_session_new(tls, host, &c->tls);
		if (err < 0)
			return err;
	}
	/* socket(2) and setsockopt(2) never block; connect goes through the ring. */
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	/* The address and timeout are read when the SQEs are submitted, which
	 * may be after we return: they live in the connection. */
	c->addr = *ss;
	c->connect_ts.tv_sec = connect_timeout_ms / 1000;
	c->connect_ts.tv_nsec = (long long)(connect_timeout_ms % 1000) * 1000000;
	c->read_timeout_ms = read_timeout_ms;
	struct io_uring_sqe *sqe = loop_sqe(c->env->lp);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->addr, sl);
	sqe->flags |= IOSQE_IO_LINK;
	tag(c, sqe, c->env->op_connect);
	sqe = loop_sqe(c->env->lp);
	io_uring_prep_link_timeout(sqe, &c->connect_ts, 0);
	tag(c, sqe, c->env->op_linkto);
	count(c, CTR_origin_connects);
	return 0;
}

int oclient_on_connect(struct oclient *c, const struct io_uring_cqe *cqe)
{
	if (cqe->res < 0) {
		count(c, CTR_origin_connect_failures);
		return cqe->res;
	}
	c->connected = true;
	arm_timeout(c);
	return 0;
}

void oclient_close(struct oclient *c)
{
	wheel_disarm(&c->env->lp->wheel, &c->timer);
	c->connected = c->busy = false;
	if (c->fd < 0)
		return;
	struct io_uring_sqe *sqe = loop_sqe(c->env->lp);
	io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
	sqe->flags |= IOSQE_IO_HARDLINK;
	tag(c, sqe, c->env->op_close);
	sqe = loop_sqe(c->env->lp);
	io_uring_prep_close(sqe, c->fd);
	tag(c, sqe, c->env->op_close);
	c->fd = -1;
}

void oclient_release(struct oclient *c)
{
	assert(c->ops == 0);
	tls_session_free(c->tls);
	c->tls = NULL;
	c->tls_ready = false;
	iobuf_outq_clear(&c->out, c->env->pool);
	oclient_reader_release(&c->rd);
}

void oclient_request_start(struct oclient *c, const struct iobuf_seg *head,
			   bool head_request, bool dechunk, bool body_pending)
{
	oclient_reader_start(&c->rd, c->env->pool, head_request, dechunk);
	c->body_pending = body_pending;
	c->busy = true;
	bool queued = iobuf_outq_push(&c->out, head);
	assert(queued);                     /* the queue is empty between requests */
	(void)queued;
	if (c->connected)
		arm_timeout(c);
	oclient_flush(c);
}

void oclient_request_done(struct oclient *c)
{
	c->busy = false;
	wheel_disarm(&c->env->lp->wheel, &c->timer);
}

bool oclient_request_body(struct oclient *c, const struct iobuf_seg *seg, bool last)
{
	if (!iobuf_outq_push(&c->out, seg)) {
		iobuf_seg_release(seg, c->env->pool);   /* ownership was ours */
		return false;
	}
	if (last)
		c->body_pending = false;
	oclient_flush(c);
	return true;
}

bool oclient_request_sent(const struct oclient *c)
{
	const void *p;
	size_t n = 0;

	if (c->body_pending || c->out.n > 0 || c->out.in_flight)
		return false;
	if (c->tls)
		tls_pending_output(c->tls, &p, &n);
	return n == 0;
}

/* https: encrypt what is queued into the session's output (the segments
 * are released as their bytes are taken), then send that output. */
static void tls_flush(struct oclient *c)
{
	const void *p;
	size_t n;

	while (c->tls_ready && c->out.n > 0) {
		const struct iobuf_seg *seg = &c->out.segs[c->out.head];
		ssize_t k = tls_write(c->tls, seg->ptr, seg->len);
		if (k <= 0)
			break;                  /* output full: after this send */
		iobuf_outq_consume(&c->out, c->env->pool, (uint64_t)k);
	}
	tls_pending_output(c->tls, &p, &n);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = loop_sqe(c->env->lp);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	tag(c, sqe, c->env->op_send);
	c->out.in_flight = true;
}

void oclient_flush(struct oclient *c)
{
	if (!c->connected || c->out.in_flight)
		return;
	if (c->tls) {
		tls_flush(c);
		return;
	}
	if (c->out.n == 0)
		return;
	struct io_uring_sqe *sqe = loop_sqe(c->env->lp);
	iobuf_outq_prep_send(&c->out, sqe, c->fd);
	tag(c, sqe, c->env->op_send);
	c->out.in_flight = true;
}

void oclient_recv(struct oclient *c)
{
	struct io_uring_sqe *sqe = loop_sqe(c->env->lp);

	io_uring_prep_recv(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = c->env->recv_group->bgid;
	tag(c, sqe, c->env->op_recv);
	c->recv_armed = true;
}

int oclient_handshake(struct oclient *c)
{
	int r = tls_handshake(c->tls);

	if (r == 0) {
		c->tls_ready = true;
		count(c, tls_resumed(c->tls) ? CTR_origin_tls_resumed :
					       CTR_origin_tls_full_handshakes);
	} else if (r != -EAGAIN) {
		count(c, CTR_origin_tls_failures);
		return r;
	}
	oclient_flush(c);
	return r;
}

const char *oclient_tls_reason(const struct oclient *c)
{
	return c->tls ? tls_reason(c->tls) : "";
}

/* https: ciphertext in; then each record decrypted into a buffer of the
 * plaintext group goes to `bytes`, while it wants more. */
static enum oclient_rx tls_input(struct oclient *c, const char *p, size_t len,
				 oclient_bytes_fn bytes, void *user)
{
	struct iobuf_group *pg = c->env->plain_group;

	tls_feed(c->tls, p, len);
	if (!c->tls_ready)
		return OCLIENT_RX_HANDSHAKE;
	for (;;) {
		int bid = iobuf_soft_take(pg);
		if (bid < 0) {
			count(c, CTR_recv_nobufs);
			return OCLIENT_RX_OK;
		}
		char *buf = iobuf_group_ptr(pg, (uint16_t)bid);
		ssize_t n = tls_read(c->tls, buf, pg->size);
		if (n > 0 && c->busy)
			arm_timeout(c);
		bool more = n > 0 && bytes(user, buf, (size_t)n, pg, (uint16_t)bid);
		iobuf_group_unref(pg, (uint16_t)bid);
		if (n < 0 && n != -EAGAIN)
			return OCLIENT_RX_BROKEN;
		if (!more)
			return OCLIENT_RX_OK;
	}
}

enum oclient_rx oclient_on_recv(struct oclient *c, const struct io_uring_cqe *cqe,
				oclient_bytes_fn bytes, void *user, int *res)
{
	struct iobuf_group *g = c->env->recv_group;
	enum oclient_rx rx = OCLIENT_RX_OK;

	c->recv_armed = false;
	*res = cqe->res;
	if (cqe->res == -ENOBUFS) {
		count(c, CTR_recv_nobufs);
		return OCLIENT_RX_NOBUFS;
	}
	if (cqe->res <= 0)
		return OCLIENT_RX_CLOSED;
	uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	char *p = iobuf_group_ptr(g, bid);
	iobuf_group_take(g, bid);
	if (bytes && c->tls)
		rx = tls_input(c, p, (size_t)cqe->res, bytes, user);
	else if (bytes) {
		if (c->busy)
			arm_timeout(c);
		bytes(user, p, (size_t)cqe->res, g, bid);
	}
	iobuf_group_unref(g, bid);
	return rx;
}

int oclient_on_send(struct oclient *c, const struct io_uring_cqe *cqe, bool more)
{
	c->out.in_flight = false;
	if (!more)
		return 0;
	if (cqe->res < 0)
		return cqe->res;
	if (c->tls)
		tls_output_done(c->tls, (size_t)cqe->res);
	else
		iobuf_outq_consume(&c->out, c->env->pool, (uint64_t)cqe->res);
	oclient_flush(c);
	return 0;
}
