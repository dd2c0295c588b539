/*
 * net/vconn.c — the transport of a visitor connection (see vconn.h).
 *
 * Life of a connection: accepted → READING (its user consumes input) →
 * BUSY (its user's exchange; input is held or pauses recv) → READING
 * again, or LINGER (write side shut, input drained briefly so an RST
 * cannot eat our last response) → CLOSING (cancel + close; the slot is
 * freed by its user when every submitted operation has completed).
 */
#include "net/vconn.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/tls.h"

#define COUNT(vc, name)      counters_add((vc)->env->lp->ctr, CTR_##name, 1)
#define COUNT_N(vc, name, n) counters_add((vc)->env->lp->ctr, CTR_##name, (n))

static void tls_send(struct vconn *vc);
static void tls_goodbye(struct vconn *vc);

/* ---- small helpers ------------------------------------------------------ */

static const struct cfg_server *scfg(const struct vconn *vc)
{
	return *vc->env->scfg;
}

static uint64_t ud(const struct vconn *vc, unsigned op)
{
	return loop_ud(op, vc->idx, vc->gen);
}

void vconn_set_timer(struct vconn *vc, enum vconn_timer kind, uint32_t ms)
{
	vc->timer_kind = (uint8_t)kind;
	wheel_arm(&vc->env->lp->wheel, &vc->timer, vc->env->lp->now_ms + ms);
}

void vconn_clear_timer(struct vconn *vc)
{
	vc->timer_kind = VT_NONE;
	wheel_disarm(&vc->env->lp->wheel, &vc->timer);
}

static void arm_recv(struct vconn *vc)
{
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);

	io_uring_prep_recv_multishot(sqe, vc->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = vc->env->recv_group->bgid;
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_recv));
	vc->ops++;
	vc->recv_armed = true;
}

/* Cancel the multishot recv: input is arriving faster than we can hold. */
void vconn_pause(struct vconn *vc)
{
	if (vc->recv_paused)
		return;
	vc->recv_paused = true;
	if (!vc->recv_armed)
		return;
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_cancel64(sqe, ud(vc, vc->env->op_recv), 0);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_close));
	vc->ops++;
}

void vconn_resume(struct vconn *vc)
{
	vc->recv_paused = false;
	if (!vc->recv_armed && !vc->peer_closed && !vc->recv_starved &&
	    (vc->state == VC_READING || vc->state == VC_BUSY || vc->state == VC_LINGER))
		arm_recv(vc);
}

/* A connection whose held input pins its share of the provided buffers
 * reads no more until it consumed some (input_take and tls_input resume
 * it): the rings are the loop's, not one visitor's. */
static void share_check(struct vconn *vc)
{
	if (vc->held_n < LIMIT_RECV_SHARE_BUFS || vc->recv_paused ||
	    vc->state == VC_CLOSING || vc->state == VC_FREE)
		return;
	COUNT(vc, recv_share_paused);
	vconn_pause(vc);
}

void vconn_send(struct vconn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->is_tls) {
		tls_send(vc);
		return;
	}
	if (vc->out.in_flight || vc->out.n == 0 || vc->state == VC_CLOSING)
		return;
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	uint64_t zc_min = *vc->env->zc_off || vc->out.zc_never ? 0 :
			  (uint64_t)scfg(vc)->send_zerocopy_bytes;
	vc->out.zc = iobuf_outq_prep_send_zc(&vc->out, sqe, vc->fd, zc_min);
	if (vc->out.zc)
		COUNT(vc, send_zc);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_send));
	vc->ops++;
	vc->out.in_flight = true;
	vconn_set_timer(vc, VT_SEND, scfg(vc)->send_timeout_ms);
}

/* ---- held input ---------------------------------------------------------- */

/* A FIFO of buffers of group g linked through tab (one per group: a
 * buffer is in at most one FIFO); each entry holds a reference, counted
 * in *n (the connection's held_n). */
static void fifo_push(struct vconn_held *tab, struct iobuf_group *g, int32_t *head,
		      int32_t *tail, uint16_t *n, uint16_t bid, size_t len)
{
	iobuf_group_ref(g, bid);
	tab[bid] = (struct vconn_held){ .next = -1, .off = 0, .len = (uint16_t)len };
	if (*tail >= 0)
		tab[*tail].next = bid;
	else
		*head = bid;
	*tail = bid;
	(*n)++;
}

static void fifo_pop(struct vconn_held *tab, struct iobuf_group *g, int32_t *head,
		     int32_t *tail, uint16_t *n)
{
	uint16_t bid = (uint16_t)*head;
	*head = tab[bid].next;
	if (*head < 0)
		*tail = -1;
	assert(*n > 0);
	(*n)--;
	iobuf_group_unref(g, bid);
}

/* What its user consumes: provided buffers for plain HTTP, decrypted
 * buffers of the software group for HTTPS. */
static struct iobuf_group *in_group(const struct vconn *vc)
{
	return vc->is_tls ? vc->env->plain_group : vc->env->recv_group;
}

static struct vconn_held *in_held(const struct vconn *vc)
{
	return vc->is_tls ? vc->env->held_plain : vc->env->held;
}

static void held_push(struct vconn *vc, uint16_t bid, size_t len)
{
	fifo_push(in_held(vc), in_group(vc), &vc->held_head, &vc->held_tail, &vc->held_n, bid,
		  len);
}

static void held_pop(struct vconn *vc)
{
	fifo_pop(in_held(vc), in_group(vc), &vc->held_head, &vc->held_tail, &vc->held_n);
}

static void cipher_push(struct vconn *vc, uint16_t bid, size_t len)
{
	fifo_push(vc->env->held, vc->env->recv_group, &vc->cheld_head, &vc->cheld_tail,
		  &vc->held_n, bid, len);
}

static void cipher_pop(struct vconn *vc)
{
	fifo_pop(vc->env->held, vc->env->recv_group, &vc->cheld_head, &vc->cheld_tail,
		 &vc->held_n);
}

static void release_held(struct vconn *vc)
{
	while (vc->held_head >= 0)
		held_pop(vc);
	while (vc->cheld_head >= 0)
		cipher_pop(vc);
}

static bool tls_decrypt(struct vconn *vc);

bool vconn_input_next(struct vconn *vc, const char **p, size_t *len)
{
	/* HTTPS: one record is decrypted when the last one is consumed. */
	if (vc->held_head < 0 && !(vc->is_tls && tls_decrypt(vc)))
		return false;
	const struct vconn_held *h = &in_held(vc)[vc->held_head];
	*p = iobuf_group_ptr(in_group(vc), (uint16_t)vc->held_head) + h->off;
	*len = h->len;
	return true;
}

void vconn_input_take(struct vconn *vc, size_t n)
{
	struct vconn_held *h = &in_held(vc)[vc->held_head];

	assert(vc->held_head >= 0 && n <= h->len);
	h->off = (uint16_t)(h->off + n);
	h->len = (uint16_t)(h->len - n);
	if (h->len == 0)
		held_pop(vc);
}

struct iobuf_seg vconn_input_seg(struct vconn *vc, const char *p, size_t n)
{
	struct iobuf_group *g = in_group(vc);
	uint16_t bid = (uint16_t)vc->held_head;

	iobuf_group_ref(g, bid);
	return (struct iobuf_seg){ .ptr = p, .len = (uint32_t)n, .kind = IOBUF_SEG_PBUF,
				   .bid = bid, .group = g };
}

size_t vconn_block_append(struct vconn *vc, const char *p, size_t len)
{
	if (!vc->in) {
		vc->in = iobuf_pool_get(vc->env->pool);
		if (!vc->in) {
			COUNT(vc, buffers_exhausted);
			vconn_close(vc);
			return 0;
		}
		vc->in_len = 0;
	}
	uint32_t room = IOBUF_HBUF_BYTES - vc->in_len;
	size_t n = len < room ? len : room;
	memcpy(vc->in + vc->in_len, p, n);
	vc->in_len += (uint32_t)n;
	return n;
}

/* ---- slots, closing ------------------------------------------------------ */

void vconn_release(struct vconn *vc)
{
	assert(vc->ops == 0);
	iobuf_outq_clear(&vc->out, vc->env->pool);
	release_held(vc);
	tls_session_free(vc->tls);          /* no send from its output is in flight */
	vc->tls = NULL;
	if (vc->in) {
		iobuf_pool_put(vc->env->pool, vc->in);
		vc->in = NULL;
	}
	vc->state = VC_FREE;
	vc->gen++;
}

/* The close itself: the fd number is free for the next socket after it. */
static void close_fd(struct vconn *vc)
{
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_close(sqe, vc->fd);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_close));
	vc->ops++;
	vc->fd = -1;
}

void vconn_close(struct vconn *vc)
{
	if (vc->state == VC_CLOSING || vc->state == VC_FREE)
		return;
	const struct vconn_ops *ops = vc->env->ops;
	ops->closing(vc->env->user, vc);
	vc->state = VC_CLOSING;
	ops->closed(vc->env->user, vc);
	release_held(vc);
	vconn_clear_timer(vc);
	/* Cancel whatever is pending on the fd (the multishot recv, a send),
	 * then close; HARDLINK so the close runs even if nothing was found. */
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_cancel_fd(sqe, vc->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_close));
	vc->ops++;
	/*
	 * Not while the linger's shutdown is in flight: the kernel always runs
	 * a shutdown in an io-wq worker, which looks the fd NUMBER up only
	 * when it runs, and a cancel by fd cannot find it before (it matches
	 * by file). Closed first, the number may already be a new visitor's
	 * (any shard's accept takes the lowest free one) and the shutdown
	 * would end that visitor's connection before its request was read:
	 * a request lost without an answer or a counter. So the close waits
	 * for the shutdown's completion (vconn_on_cqe).
	 */
	if (vc->shut_pending) {
		vc->close_deferred = true;
		return;
	}
	sqe->flags |= IOSQE_IO_HARDLINK;
	close_fd(vc);
}

void vconn_linger(struct vconn *vc)
{
	if (vc->peer_closed) {
		vconn_close(vc);
		return;
	}
	vc->state = VC_LINGER;
	if (vc->is_tls)
		tls_goodbye(vc);            /* close_notify, linked before the shutdown */
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_shutdown(sqe, vc->fd, SHUT_WR);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_shut));
	vc->ops++;
	vc->shut_pending = true;            /* the fd stays ours until it completes */
	vconn_resume(vc);
	vconn_set_timer(vc, VT_LINGER, LIMIT_LINGER_MS);
}

/* ---- accept ------------------------------------------------------------- */

void vconn_accept(struct vconn *vc, const struct vconn_env *env, int fd, bool tls)
{
	uint32_t gen = vc->gen, idx = vc->idx;

	memset(vc, 0, sizeof(*vc));
	iobuf_outq_init(&vc->out);
	vc->magic = VCONN_MAGIC;
	vc->gen = gen;
	vc->idx = idx;
	vc->env = env;
	vc->fd = fd;
	vc->held_head = vc->held_tail = -1;
	vc->cheld_head = vc->cheld_tail = -1;
	vc->is_tls = tls;
	vc->state = VC_READING;
	COUNT(vc, conns_accepted);
	if (tls)
		COUNT(vc, tls_accepted);

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
	arm_recv(vc);
	if (tls)
		vconn_set_timer(vc, VT_HANDSHAKE, scfg(vc)->tls_handshake_timeout_ms);
	else
		vconn_set_timer(vc, VT_HEADER, scfg(vc)->header_timeout_ms);
}

/* ---- HTTPS visitors ------------------------------------------------------ */

/* Fatal unrecognized_name alert (RFC 6066 3), in the clear: no session. */
static const char alert_unrecognized_name[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70 };

/* Held ciphertext into the session, while it has room; false if none
 * went in. The session's input is smaller than a record can be, so a
 * caller told "needs input" feeds again while this says it fed some. */
static bool tls_fill(struct vconn *vc)
{
	struct iobuf_group *g = vc->env->recv_group;
	bool fed = false;

	if (vc->hello_in) {
		/* The hello (and what came with it) first, from our own copy. */
		size_t n = tls_feed(vc->tls, vc->in, vc->in_len);
		fed = n > 0;
		memmove(vc->in, vc->in + n, vc->in_len - n);
		vc->in_len -= (uint32_t)n;
		if (vc->in_len > 0)
			return fed;
		iobuf_pool_put(vc->env->pool, vc->in);
		vc->in = NULL;
		vc->hello_in = false;
	}
	while (vc->cheld_head >= 0) {
		struct vconn_held *h = &vc->env->held[vc->cheld_head];
		size_t n = tls_feed(vc->tls, iobuf_group_ptr(g, (uint16_t)vc->cheld_head) + h->off,
				    h->len);
		fed = fed || n > 0;
		h->off = (uint16_t)(h->off + n);
		h->len = (uint16_t)(h->len - n);
		if (h->len > 0)
			break;
		cipher_pop(vc);
	}
	return fed;
}

/* Send raw bytes linked to what follows (the shutdown of vconn_linger). */
static void send_linked(struct vconn *vc, const void *p, size_t n)
{
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_send(sqe, vc->fd, p, n, MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_send));
	vc->ops++;
	vc->out.in_flight = true;
}

/*
 * Ciphertext before the session exists (the ClientHello, whose SNI picks
 * the certificate) is copied into the connection's input block, so a
 * hello dribbled in pieces pins one block of its own, never the loop's
 * provided buffers (a 10-byte piece used to hold a 16 KiB one). False
 * when the connection was closed (no block free, or past a record).
 */
static bool hello_append(struct vconn *vc, const char *p, size_t len)
{
	if (vc->in && len > IOBUF_HBUF_BYTES - vc->in_len) {
		COUNT(vc, tls_handshake_failures);   /* no hello is this long */
		vconn_close(vc);
		return false;
	}
	if (vconn_block_append(vc, p, len) < len) {
		if (vc->state == VC_CLOSING)
			return false;               /* no block: counted */
		COUNT(vc, tls_handshake_failures);
		vconn_close(vc);
		return false;
	}
	vc->hello_in = true;
	vc->hello_pieces++;
	return true;
}

/*
 * The first record (the ClientHello) is in: its SNI picks the context
 * (the user's tls_ctx op), and the session is made on it. False while
 * the record is incomplete, or when the connection was refused.
 */
static bool tls_start(struct vconn *vc)
{
	char name[LIMIT_HOST_BYTES + 2];
	struct tls_ctx *ctx;
	int r;

	r = tls_sni_peek(vc->in, vc->in_len, name, sizeof(name));
	if (r == -EAGAIN && vc->hello_pieces < LIMIT_TLS_HELLO_PIECES &&
	    vc->in_len < 5 + TLS_RECORD_PLAIN_MAX)
		return false;
	if (r < 0) {
		COUNT(vc, tls_handshake_failures);   /* not a TLS hello */
		vconn_close(vc);
		return false;
	}
	ctx = vc->env->ops->tls_ctx(vc->env->user, name, (size_t)r);
	if (!ctx) {
		COUNT(vc, tls_sni_rejected);
		send_linked(vc, alert_unrecognized_name, sizeof(alert_unrecognized_name));
		vconn_linger(vc);
		return false;
	}
	if (tls_session_new(ctx, NULL, &vc->tls) < 0) {
		COUNT(vc, buffers_exhausted);
		vconn_close(vc);
		return false;
	}
	return true;
}

static void tls_failed(struct vconn *vc)
{
	COUNT(vc, tls_handshake_failures);
	log_debug("visitor %s: TLS handshake failed: %s", vc->peer_ip, tls_reason(vc->tls));
	vconn_close(vc);
}

/* Ciphertext arrived: the handshake, then plaintext to the user (its
 * input op, as plain visitors' input), then whatever wolfSSL has to say. */
static void tls_input(struct vconn *vc)
{
	if (!vc->tls && !tls_start(vc))
		return;
	if (!vc->tls_ready) {
		int r;
		tls_fill(vc);
		while ((r = tls_handshake(vc->tls)) == -EAGAIN && tls_fill(vc))
			;
		if (vc->recv_paused && vc->held_n < LIMIT_RECV_SHARE_BUFS)
			vconn_resume(vc);           /* share_check paused it */
		if (r == -EAGAIN) {
			tls_send(vc);
			return;
		}
		if (r < 0 || vc->hello_in) {
			/* hello_in: bytes sent before our ServerHello that the
			 * session did not take; no client does that. */
			tls_failed(vc);
			return;
		}
		vc->tls_ready = true;
		COUNT(vc, tls_handshakes);
		if (tls_resumed(vc->tls))
			COUNT(vc, tls_resumed);
		if (tls_resumed_prev_key(vc->tls))
			COUNT(vc, tls_resumed_prev_key);
		/* From here on a request head is due, as after a plain accept. */
		vconn_set_timer(vc, VT_HEADER, scfg(vc)->header_timeout_ms);
		vc->env->ops->tls_ready(vc->env->user, vc, tls_alpn(vc->tls));
		if (vc->state != VC_READING && vc->state != VC_BUSY)
			return;
	}
	vc->env->ops->input(vc->env->user, vc);
	tls_send(vc);
}

/*
 * One record's plaintext into the input FIFO. False when there is none
 * now: more ciphertext needed, no plaintext buffer free (retried on the
 * tick), or the connection ended (close_notify, a record error).
 */
static bool tls_decrypt(struct vconn *vc)
{
	struct iobuf_group *pg = vc->env->plain_group;

	if (!vc->tls_ready || (vc->state != VC_READING && vc->state != VC_BUSY))
		return false;
	/* After the visitor's EOF a read with nothing left would fail, and the
	 * failure sticks: the response still being sent could not be. */
	if (vc->peer_closed && vc->cheld_head < 0 && tls_input_unread(vc->tls) == 0)
		return false;
	tls_fill(vc);
	int bid = iobuf_soft_take(pg);
	if (bid < 0) {
		COUNT(vc, recv_nobufs);
		vc->recv_starved = true;
		*vc->env->starved = true;
		return false;
	}
	ssize_t n;
	while ((n = tls_read(vc->tls, iobuf_group_ptr(pg, (uint16_t)bid), pg->size)) == -EAGAIN &&
	       tls_fill(vc))
		;
	if (n > 0)
		held_push(vc, (uint16_t)bid, (size_t)n);
	iobuf_group_unref(pg, (uint16_t)bid);
	if (n > 0)
		return true;
	if (n == 0) {
		vc->peer_closed = true;     /* close_notify */
		vc->env->ops->peer_eof(vc->env->user, vc);
	} else if (n != -EAGAIN && n != -ECONNRESET) {
		COUNT(vc, tls_errors);      /* bad MAC, fatal alert, ... */
		log_debug("visitor %s: TLS: %s", vc->peer_ip, tls_reason(vc->tls));
		vconn_close(vc);
	}
	return false;                       /* -ECONNRESET: the TCP EOF path decides */
}

/* TCP EOF on an HTTPS connection: count what it cut short. */
static void tls_eof(struct vconn *vc)
{
	/* Bytes of a record the session holds with no more to come, or a
	 * first record (the hello) still incomplete. */
	bool partial = vc->tls ? tls_input_mid_record(vc->tls) && vc->cheld_head < 0 &&
				 !vc->recv_paused
			       : vc->in_len > 0;

	if (vc->tls)
		tls_feed(vc->tls, NULL, 0);
	if (partial)
		COUNT(vc, tls_truncated);
	if (!vc->tls_ready && (vc->tls || vc->in_len > 0))
		COUNT(vc, tls_handshake_failures);   /* gave up mid-handshake */
}

/*
 * Encrypt queued response bytes into the session's output and send that:
 * one send in flight; queue segments are released as they are encrypted,
 * so out.bytes (the backpressure) counts only what is not encrypted yet,
 * plus at most LIMIT_TLS_OUT_BYTES in the session.
 */
static void tls_send(struct vconn *vc)
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
			COUNT(vc, tls_errors);
			log_debug("visitor %s: TLS write: %s", vc->peer_ip, tls_reason(vc->tls));
			vconn_close(vc);
			return;
		}
		iobuf_outq_consume(&vc->out, vc->env->pool, (uint64_t)k);
		vc->out_moved_ms = vc->env->lp->now_ms;
	}
	tls_pending_output(vc->tls, &p, &n);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = loop_sqe(vc->env->lp);
	io_uring_prep_send(sqe, vc->fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(vc, vc->env->op_send));
	vc->ops++;
	vc->out.in_flight = true;
	/* Only a response has a send deadline; the handshake and the head
	 * deadlines keep running under a ticket or an alert. */
	if (vc->state == VC_BUSY)
		vconn_set_timer(vc, VT_SEND, scfg(vc)->send_timeout_ms);
}

/* Before the write side is shut: close_notify, sent linked to it. */
static void tls_goodbye(struct vconn *vc)
{
	const void *p;
	size_t n;

	if (!vc->tls || !vc->tls_ready || vc->out.in_flight || tls_shutdown(vc->tls) < 0)
		return;
	tls_pending_output(vc->tls, &p, &n);
	if (n > 0)
		send_linked(vc, p, n);
}

/* ---- completions --------------------------------------------------------- */

static void on_recv(struct vconn *vc, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		vc->recv_armed = false;
	if (cqe->res > 0) {
		struct iobuf_group *g = vc->env->recv_group;
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		iobuf_group_take(g, bid);
		if (vc->state != VC_CLOSING) {
			COUNT_N(vc, bytes_in, (uint64_t)cqe->res);
			if (!vc->is_tls) {
				held_push(vc, bid, (size_t)cqe->res);
				vc->env->ops->input(vc->env->user, vc);
			} else if (vc->state != VC_LINGER) {
				if (vc->tls)
					cipher_push(vc, bid, (size_t)cqe->res);
				if (vc->tls || hello_append(vc, iobuf_group_ptr(g, bid),
							    (size_t)cqe->res))
					tls_input(vc);
			}
			share_check(vc);
		}
		iobuf_group_unref(g, bid);
	} else if (cqe->res == -ENOBUFS) {
		COUNT(vc, recv_nobufs);
		if (!vc->recv_starved) {
			vc->recv_starved = true;
			/* re-armed by vconn_rearm_starved on the next tick */
			*vc->env->starved = true;
		}
	} else if (cqe->res == 0) {
		if (vc->is_tls)
			tls_eof(vc);
		vc->peer_closed = true;
		vc->env->ops->peer_eof(vc->env->user, vc);
	} else if (cqe->res != -ECANCELED) {
		vconn_close(vc);            /* reset by peer, etc. */
	}
	if (!vc->recv_armed && !vc->recv_paused && !vc->recv_starved && !vc->peer_closed &&
	    vc->state != VC_CLOSING && vc->state != VC_FREE)
		arm_recv(vc);
}

static void on_sent(struct vconn *vc, int res)
{
	bool zc = vc->out.zc;
	vc->out.in_flight = false;
	vc->out.zc = false;
	if (vc->state == VC_CLOSING)
		return;
	if (zc && (res == -EOPNOTSUPP || res == -EINVAL)) {
		/* Nothing went out: the queue is intact; send it by copy. */
		if (!*vc->env->zc_off)
			log_warn("net: zero-copy send refused (%s); sending by copy on this shard",
				 strerror(-res));
		*vc->env->zc_off = true;
		COUNT(vc, send_zc_fallbacks);
		vconn_send(vc);
		return;
	}
	if (res < 0) {
		vconn_close(vc);
		return;
	}
	COUNT_N(vc, bytes_out, (uint64_t)res);
	vc->out_moved_ms = vc->env->lp->now_ms;
	if (vc->is_tls) {
		if (vc->tls)
			tls_output_done(vc->tls, (size_t)res);
	} else {
		iobuf_outq_consume(&vc->out, vc->env->pool, (uint64_t)res);
	}
	if (vc->timer_kind == VT_SEND)
		vconn_clear_timer(vc);
	vc->env->ops->sent(vc->env->user, vc);
}

/*
 * A zero-copy send completes twice: its result (F_MORE) and then its
 * notification (F_NOTIF), after which the kernel no longer reads the
 * queued bytes. Only then is the send treated as done, so the segments
 * (and the cache blocks and chunk buffers behind them, released from the
 * sent op) outlive it; a closing connection's slot is not freed before
 * either, as vc->ops counts the notification (vconn_on_cqe).
 */
static void on_send(struct vconn *vc, const struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		assert(vc->out.zc_wait);
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
			COUNT(vc, send_zc_copied);
			vc->out.zc_never = true;
		}
		vc->out.zc_wait = false;
		on_sent(vc, vc->out.zc_res);
		return;
	}
	if (cqe->flags & IORING_CQE_F_MORE) {
		vc->out.zc_wait = true;
		vc->out.zc_res = cqe->res;
		return;
	}
	on_sent(vc, cqe->res);
}

bool vconn_on_cqe(struct vconn *vc, unsigned op, const struct io_uring_cqe *cqe)
{
	assert(vc->magic == VCONN_MAGIC);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		assert(vc->ops > 0);
		vc->ops--;
	}
	if (op == vc->env->op_recv)
		on_recv(vc, cqe);
	else if (op == vc->env->op_send)
		on_send(vc, cqe);
	else if (op == vc->env->op_shut) {
		vc->shut_pending = false;
		if (vc->close_deferred) {
			vc->close_deferred = false;
			close_fd(vc);           /* vconn_close waited for this */
		}
	}
	/* else: cancel, close */
	return vc->state == VC_CLOSING && vc->ops == 0;
}

void vconn_on_timer(struct vconn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	switch (vc->timer_kind) {
	case VT_HEADER:
		COUNT(vc, timeouts_header);
		break;
	case VT_IDLE:
		COUNT(vc, timeouts_idle);
		break;
	case VT_SEND:
		COUNT(vc, timeouts_send);
		break;
	case VT_HANDSHAKE:
		COUNT(vc, tls_handshake_timeouts);
		break;
	default:
		break;
	}
	vc->timer_kind = VT_NONE;
	vconn_close(vc);
}

void vconn_rearm_starved(struct vconn *vc)
{
	if (!vc->recv_starved)
		return;
	vc->recv_starved = false;
	if (vc->state != VC_FREE && vc->state != VC_CLOSING)
		vconn_resume(vc);
	if (vc->is_tls && (vc->state == VC_READING || vc->state == VC_BUSY))
		vc->env->ops->input(vc->env->user, vc);   /* plaintext waiting for a buffer */
}

bool vconn_stalled(const struct vconn *vc)
{
	return (vc->state == VC_BUSY || vc->state == VC_READING) && vc->out.n_pbuf > 0 &&
	       vc->env->lp->now_ms - vc->out_moved_ms >= LIMIT_RECV_SHARE_STALL_MS;
}
