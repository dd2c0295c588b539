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
#include "cache/collapse.h"
#include "cache/vary.h"
#include "edge/h2.h"
#include "edge/origin.h"
#include "net/req_hygiene.h"
#include "net/tls.h"
#include "net/wbuf.h"


static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void vc_close(struct shard *sh, struct visitor_conn *vc);
static void process_input(struct shard *sh, struct visitor_conn *vc);
static void finish_exchange(struct shard *sh, struct visitor_conn *vc);
static void release_held(struct shard *sh, struct visitor_conn *vc);
static void pump(struct shard *sh, struct visitor_conn *vc);
static void tls_send(struct shard *sh, struct visitor_conn *vc);
static bool tls_decrypt(struct shard *sh, struct visitor_conn *vc);
static void tls_goodbye(struct shard *sh, struct visitor_conn *vc);
static void h2_timer(struct shard *sh, struct visitor_conn *vc);
static void switch_h2(struct shard *sh, struct visitor_conn *vc);
static size_t upload_room(const struct visitor_conn *vc);

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

static void flush(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->x.background) {
		/* Nothing is queued for a background refresh (queue_block and
		 * visitor_response_body drop it): it ends when its last byte
		 * would have been sent. */
		if (vc->state == VC_BUSY && vc->x.resp_done)
			finish_exchange(sh, vc);
		return;
	}
	if (vc->h2_sid) {
		/* An HTTP/2 stream: its connection takes the queued bytes. */
		if (vc->h2)
			h2_stream_flush(sh, vc);
		return;
	}
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

static bool queue_block(struct shard *sh, struct visitor_conn *vc, char *block, size_t len)
{
	struct iobuf_seg seg = { .ptr = block, .len = (uint32_t)len,
				 .kind = IOBUF_SEG_HBUF, .block = block };
	if (vc->x.background) {
		iobuf_pool_put(&sh->pool, block);   /* nobody to send it to */
		return true;
	}
	if (!iobuf_outq_push(&vc->out, &seg)) {
		iobuf_pool_put(&sh->pool, block);
		return false;
	}
	return true;
}

static void count_status(struct shard *sh, int status)
{
	static const enum counters_id by_class[] = {
		CTR_status_1xx, CTR_status_1xx, CTR_status_2xx, CTR_status_3xx,
		CTR_status_4xx, CTR_status_5xx,
	};
	int c = status / 100;
	if (c > 5)
		c = 5;          /* RFC 9110 15: an unknown class counts as 5xx */
	if (c >= 1)
		counters_add(sh->lp.ctr, by_class[c], 1);
}

/* ---- slots ---------------------------------------------------------------- */

static void vc_free_slot(struct shard *sh, struct visitor_conn *vc)
{
	bool background = vc->x.background;
	bool socketless = background || vc->h2_sid;
	if (background)
		ecache_background_end(sh, vc);
	if (vc->h2 && !vc->h2_sid)
		h2_conn_free(vc);           /* no send from its frame buffer in flight */
	ecache_exchange_end(sh, vc);        /* sends from its buffers are done */
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
	if (!socketless)
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

/* ---- collapsed followers ------------------------------------------------ */

static void unlink_follower(struct visitor_conn *vc)
{
	struct visitor_conn *l = vc->x.leader;
	if (!l)
		return;
	struct visitor_conn **pp = &l->x.followers;
	while (*pp && *pp != vc)
		pp = &(*pp)->x.next_follower;
	if (*pp)
		*pp = vc->x.next_follower;
	vc->x.leader = NULL;
	vc->x.next_follower = NULL;
}

static void unlink_parked(struct shard *sh, struct visitor_conn *vc)
{
	if (!vc->x.parked)
		return;
	struct visitor_conn **pp = &sh->parked;
	while (*pp && *pp != vc)
		pp = &(*pp)->x.next_parked;
	if (*pp)
		*pp = vc->x.next_parked;
	vc->x.parked = false;
	vc->x.next_parked = NULL;
}

/* Take a leader's followers off it (each then stands alone). */
static struct visitor_conn *take_followers(struct visitor_conn *vc)
{
	struct visitor_conn *list = vc->x.followers;
	vc->x.followers = NULL;
	for (struct visitor_conn *f = list; f; f = f->x.next_follower)
		f->x.leader = NULL;
	return list;
}

void visitor_follow(struct shard *sh, struct visitor_conn *vc, struct visitor_conn *lvc)
{
	assert(vc->magic == VCONN_MAGIC);
	vc->x.leader = lvc;
	vc->x.next_follower = lvc->x.followers;
	lvc->x.followers = vc;
	COUNT(sh, collapsed_followers);
}

void visitor_park(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	vc->x.parked = true;
	vc->x.parked_until_ms = sh->lp.now_ms + LIMIT_COLLAPSE_WAIT_MS;
	vc->x.next_parked = sh->parked;
	sh->parked = vc;
	COUNT(sh, collapsed_parked);
}

void visitor_parked_tick(struct shard *sh)
{
	struct visitor_conn *list = sh->parked;
	sh->parked = NULL;
	while (list) {
		struct visitor_conn *vc = list;
		list = vc->x.next_parked;
		vc->x.next_parked = NULL;
		vc->x.parked = false;
		if (vc->state != VC_BUSY)
			continue;
		if (sh->lp.now_ms < vc->x.parked_until_ms &&
		    collapse_active(sh->collapse, vc->x.cache.key)) {
			vc->x.parked = true;        /* still in flight: keep waiting */
			vc->x.next_parked = sh->parked;
			sh->parked = vc;
			continue;
		}
		/* The leader's object landed (a hit now), or it will not come. */
		if (!ecache_lookup(sh, vc))
			origin_start(sh, vc);
	}
}

/* A slot just taken: cleared, its index and generation kept. */
static void slot_init(struct visitor_conn *vc, int fd)
{
	uint32_t gen = vc->gen, idx = vc->idx;
	memset(vc, 0, offsetof(struct visitor_conn, req));
	memset(&vc->x, 0, sizeof(vc->x));
	iobuf_outq_init(&vc->out);
	vc->magic = VCONN_MAGIC;
	vc->gen = gen;
	vc->idx = idx;
	vc->fd = fd;
	vc->held_head = vc->held_tail = -1;
	vc->cheld_head = vc->cheld_tail = -1;
}

/* ---- background refresh (stale-while-revalidate) -------------------------- */

/* A slot taken for a refresh that will not start goes back. */
static void background_give_back(struct shard *sh, struct visitor_conn *vc, char *in)
{
	iobuf_pool_put(&sh->pool, in);
	vc->next = sh->vfree;
	sh->vfree = vc;
	COUNT(sh, cache_swr_skipped);
}

void visitor_background(struct shard *sh, struct visitor_conn *pv)
{
	assert(pv->magic == VCONN_MAGIC);
	char *in = sh->draining || !sh->collapse ? NULL : iobuf_pool_get(&sh->pool);
	struct visitor_conn *vc = in ? shard_vconn_take(sh) : NULL;
	struct collapse_leader l;

	if (!vc) {
		if (in)
			iobuf_pool_put(&sh->pool, in);
		COUNT(sh, cache_swr_skipped);
		return;
	}
	/* One refresh per key: the claim is what concurrent stale hits
	 * find (and then start none); it is released when the refresh's
	 * write lands or it ends. */
	struct collapse_leader me = { sh->id, vc->idx, vc->gen };
	if (collapse_claim(sh->collapse, pv->x.cache.key, &me, &l) != 0) {
		background_give_back(sh, vc, in);
		return;
	}
	slot_init(vc, -1);
	memcpy(vc->peer_ip, pv->peer_ip, sizeof(vc->peer_ip));
	/* Its own copy of the visitor's head: the visitor's input block
	 * moves on to its next request while the refresh runs. */
	memcpy(in, pv->in, pv->x.head_len);
	vc->in = in;
	vc->in_len = pv->x.head_len;
	if (http1_parse_request(vc->in, vc->in_len, &vc->req) != (int)vc->in_len) {
		collapse_release(sh->collapse, pv->x.cache.key);
		vc->in = NULL;
		background_give_back(sh, vc, in);
		return;
	}
	struct visitor_exchange *x = &vc->x;
	x->background = true;
	x->head_len = vc->in_len;
	x->start_ms = sh->lp.unix_ms;
	x->start_ns = loop_now_ns();
	x->reqid = ((uint64_t)sh->id << 48) | ++sh->req_seq;
	x->body_done = true;
	x->rt = pv->x.rt;
	shard_rt_ref(sh, x->rt);
	x->zone = pv->x.zone;
	/* The head was parsed again: the same fields go (counted once, for
	 * the visitor's exchange). */
	struct reqh_drops d = { 0 };
	reqh_filter_headers(&vc->req, x->zone->cfg->pass_headers, x->zone->cfg->n_pass_headers, &d);
	x->leading = true;
	x->cache.ckey = pv->x.cache.key;
	vc->state = VC_BUSY;
	sh->vconns_used++;
	COUNT(sh, cache_swr_refreshes);
	/* Looks the object up again (its own reference or read), finds it
	 * stale and asks the origin with its validators. */
	if (!ecache_lookup(sh, vc))
		origin_start(sh, vc);
}

/* The exchange no longer needs its snapshot. */
static void exchange_release(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->x.rt) {
		shard_rt_unref(sh, vc->x.rt);
		vc->x.rt = NULL;
	}
}

static void vc_close(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->state == VC_CLOSING || vc->state == VC_FREE)
		return;
	if (vc->h2 && vc->h2_sid)
		h2_stream_gone(sh, vc);     /* RST_STREAM: the response is cut */
	else if (vc->h2)
		h2_conn_end(sh, vc);        /* its streams' slots close */
	if (vc->x.oc) {
		origin_detach(sh, vc->x.oc);
		vc->x.oc = NULL;
	}
	exchange_release(sh, vc);
	ecache_fill_end(sh, vc, false);
	unlink_follower(vc);
	unlink_parked(sh, vc);
	for (struct visitor_conn *f = take_followers(vc), *n; f; f = n) {
		n = f->x.next_follower;
		f->x.next_follower = NULL;
		if (f->x.head_queued)
			visitor_response_abort(sh, f);      /* the fetch it shared ends */
		else
			visitor_response_fail(sh, f, 502);
	}
	release_held(sh, vc);
	clear_timer(sh, vc);
	vc->state = VC_CLOSING;
	if (vc->x.background || vc->h2_sid) {
		vc_maybe_free(sh, vc);      /* no socket: free once no read is in flight */
		return;
	}
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

/* ---- local responses ---------------------------------------------------- */

/* Answer `status` ourselves; `close` ends the connection after it. */
static void send_local(struct shard *sh, struct visitor_conn *vc, int status, bool close)
{
	struct visitor_exchange *x = &vc->x;
	char *blk = iobuf_pool_get(&sh->pool);
	struct wbuf w;

	if (close)
		x->keep_alive = false;
	x->status = (uint16_t)status;
	x->head_queued = true;
	x->resp_done = true;
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		vc_close(sh, vc);
		return;
	}
	const char *reason = http1_reason(status);
	char body[64];
	int blen = snprintf(body, sizeof(body), "%d %s\n", status, reason);
	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	wbuf_str(&w, "HTTP/1.1 ");
	wbuf_u64(&w, (uint64_t)status);
	wbuf_str(&w, " ");
	wbuf_str(&w, reason);
	wbuf_str(&w, "\r\nDate: ");
	wbuf_str(&w, sh->lp.date);
	wbuf_str(&w, "\r\nServer: edgecache\r\nContent-Type: text/plain\r\nContent-Length: ");
	wbuf_u64(&w, (uint64_t)blen);
	if (status == 405)
		wbuf_str(&w, "\r\nAllow: GET, HEAD");
	if (!x->keep_alive)
		wbuf_str(&w, "\r\nConnection: close");
	wbuf_str(&w, "\r\n\r\n");
	if (vc->req.method != HTTP1_HEAD) {
		wbuf_put(&w, body, (size_t)blen);
		x->body_bytes_out = (uint64_t)blen;
	}
	assert(!w.overflow);
	if (!queue_block(sh, vc, blk, w.len)) {
		vc_close(sh, vc);
		return;
	}
	flush(sh, vc);
}

/* A request head that did not parse: answer and close (RFC 9112: after a
 * framing error the rest of the stream cannot be trusted). */
static void reject(struct shard *sh, struct visitor_conn *vc, int err)
{
	int e = err < 0 ? -err : err;
	if (e >= HTTP1_E_METHOD && e < HTTP1_E__COUNT)
		COUNT_IN(sh, http1_counters, e - HTTP1_E_METHOD);
	memset(&vc->x, 0, sizeof(vc->x));
	vc->x.start_ms = sh->lp.unix_ms;
	vc->x.start_ns = loop_now_ns();
	vc->req.method = HTTP1_OTHER;
	vc->req.target = NULL;
	vc->state = VC_BUSY;
	vc->x.must_linger = true;
	clear_timer(sh, vc);
	send_local(sh, vc, http1_err_status(e), true);
}

/* ---- exchanges ---------------------------------------------------------- */

static bool body_setup(struct shard *sh, struct visitor_conn *vc)
{
	struct visitor_exchange *x = &vc->x;
	const struct http1_request *r = &vc->req;

	if (r->chunked) {
		x->has_body = true;
		x->body_chunked = true;
		http1_chunked_init(&x->body_chunk);
	} else if (r->content_length > 0) {
		if (r->content_length > sh->scfg->max_body_bytes) {
			COUNT(sh, body_too_large);
			send_local(sh, vc, 413, true);
			return false;
		}
		x->has_body = true;
		x->body_left = r->content_length;
	}
	x->body_done = !x->has_body;
	return true;
}

/*
 * Take the body bytes at the front of [p, p+len): returns how many belong
 * to the current request body, -EPROTO for bad chunk framing, -EFBIG when
 * a chunked body grows past max_body_bytes.
 */
static ssize_t body_take(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len)
{
	struct visitor_exchange *x = &vc->x;
	size_t n;

	if (x->body_chunked) {
		/* The raw chunked bytes are forwarded as they are; the spans
		 * count the decoded size against max_body_bytes. */
		struct http1_span spans[16];
		size_t n_spans, total = 0;
		while (total < len && !x->body_chunk.done) {
			ssize_t c = http1_chunked_feed(&x->body_chunk, p + total, len - total,
						       spans, 16, &n_spans);
			if (c < 0)
				return -EPROTO;
			for (size_t i = 0; i < n_spans; i++)
				x->body_seen += spans[i].len;
			if (x->body_seen > sh->scfg->max_body_bytes)
				return -EFBIG;
			if (c == 0)
				break;
			total += (size_t)c;
		}
		n = total;
		if (x->body_chunk.done)
			x->body_done = true;
	} else {
		n = (uint64_t)x->body_left < len ? (size_t)x->body_left : len;
		x->body_left -= (int64_t)n;
		if (x->body_left == 0)
			x->body_done = true;
	}
	return (ssize_t)n;
}

/* The request body cannot be passed on: 413 / 400 if nothing was
 * answered yet, else cut the connection. */
static void body_failed(struct shard *sh, struct visitor_conn *vc, ssize_t err)
{
	struct visitor_exchange *x = &vc->x;
	if (err == -EFBIG)
		COUNT(sh, body_too_large);
	else
		COUNT_IN(sh, http1_counters, HTTP1_E_CHUNK - HTTP1_E_METHOD);
	x->must_linger = true;
	if (x->head_queued) {
		visitor_response_abort(sh, vc);
		return;
	}
	if (x->oc) {
		origin_detach(sh, x->oc);
		x->oc = NULL;
	}
	send_local(sh, vc, err == -EFBIG ? 413 : 400, true);
}

/* Forward body bytes already in the input block (after the head). */
static void body_from_block(struct shard *sh, struct visitor_conn *vc)
{
	struct visitor_exchange *x = &vc->x;
	uint32_t avail = vc->in_len - x->head_len;
	if (!x->has_body || avail == 0)
		return;
	ssize_t n = body_take(sh, vc, vc->in + x->head_len, avail);
	if (n < 0) {
		body_failed(sh, vc, n);
		return;
	}
	if (n > 0 && x->oc) {
		char *blk = iobuf_pool_get(&sh->pool);
		if (!blk) {
			COUNT(sh, buffers_exhausted);
			visitor_response_abort(sh, vc);
			return;
		}
		memcpy(blk, vc->in + x->head_len, (size_t)n);
		struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)n,
					 .kind = IOBUF_SEG_HBUF, .block = blk };
		x->body_sent = true;
		if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
			visitor_response_abort(sh, vc);
			return;
		}
	}
	/* Keep the head where it is; pipelined bytes move right behind it. */
	memmove(vc->in + x->head_len, vc->in + x->head_len + n, avail - (size_t)n);
	vc->in_len -= (uint32_t)n;
}

/*
 * Dot segments: removed in the head itself, so that the cache key, the
 * origin request and a background refresh's copy of the head all read one
 * path; or refused (400). The head shrinks: what follows it in the block
 * moves up and the head is parsed again. False when answered.
 */
static bool clean_path(struct shard *sh, struct visitor_conn *vc)
{
	struct visitor_exchange *x = &vc->x;
	struct http1_request *r = &vc->req;
	char *path = (char *)r->path;      /* in vc->in, or a static "/" left alone */
	size_t n;

	if (reqh_path_normalize(path, r->path_len, &n) < 0) {
		COUNT(sh, path_refused);
		x->must_linger = true;
		send_local(sh, vc, 400, true);
		return false;
	}
	if (n == r->path_len)
		return true;
	COUNT(sh, paths_normalized);
	uint32_t gap = r->path_len - (uint32_t)n;
	char *tail = path + r->path_len;
	memmove(path + n, tail, (size_t)(vc->in + vc->in_len - tail));
	vc->in_len -= gap;
	x->head_len -= gap;
	int rc = http1_parse_request(vc->in, x->head_len, r);
	assert(rc == (int)x->head_len && reqh_path_clean(r->path, r->path_len));
	(void)rc;
	return true;
}

/* Fields the origin must not see leave the request before the cache
 * reads it (net/req_hygiene.h). */
static void filter_fields(struct shard *sh, struct visitor_conn *vc)
{
	const struct cfg_zone *z = vc->x.zone->cfg;
	struct reqh_drops d = { 0 };

	reqh_filter_headers(&vc->req, z->pass_headers, z->n_pass_headers, &d);
	if (d.hop)
		counters_add(sh->lp.ctr, CTR_req_hop_dropped, d.hop);
	if (d.underscore)
		counters_add(sh->lp.ctr, CTR_req_underscore_dropped, d.underscore);
	if (d.unkeyed)
		counters_add(sh->lp.ctr, CTR_req_unkeyed_dropped, d.unkeyed);
}

static void start_exchange(struct shard *sh, struct visitor_conn *vc, uint32_t head_len)
{
	struct visitor_exchange *x = &vc->x;
	const struct http1_request *r = &vc->req;

	memset(x, 0, sizeof(*x));
	x->head_len = head_len;
	x->start_ms = sh->lp.unix_ms;
	x->start_ns = loop_now_ns();
	x->reqid = ((uint64_t)sh->id << 48) | ++sh->req_seq;
	x->keep_alive = r->keep_alive && !sh->draining;
	vc->state = VC_BUSY;
	clear_timer(sh, vc);
	COUNT(sh, requests);

	x->rt = sh->rt;
	shard_rt_ref(sh, x->rt);
	const struct cfg_zone *z = cfg_zone_by_host(x->rt->cfg, r->host, r->host ? r->host_len : 0);
	if (!z) {
		COUNT(sh, no_zone);
		x->keep_alive = x->keep_alive && !r->chunked && r->content_length <= 0;
		send_local(sh, vc, 404, !x->keep_alive);
		return;
	}
	x->zone = rt_zone(x->rt, z);
	if (r->method == HTTP1_CONNECT || r->method == HTTP1_TRACE) {
		send_local(sh, vc, 405, true);
		return;
	}
	if (!clean_path(sh, vc))
		return;
	filter_fields(sh, vc);
	if (!body_setup(sh, vc))
		return;
	if (x->has_body && r->expect_continue) {
		struct iobuf_seg seg = { .ptr = continue_100, .len = sizeof(continue_100) - 1,
					 .kind = IOBUF_SEG_STATIC };
		iobuf_outq_push(&vc->out, &seg);
		flush(sh, vc);
	}
	/* Also with a body: the lookup records the PASS (X-Cache, log). */
	if (ecache_lookup(sh, vc))
		return;                     /* a store read decides */
	origin_start(sh, vc);
	if (vc->state == VC_BUSY && !x->resp_done)
		body_from_block(sh, vc);
}

static void write_access_log(struct shard *sh, struct visitor_conn *vc)
{
	const struct visitor_exchange *x = &vc->x;
	char line[2048], ts[25];
	struct wbuf w;

	if (!log_access_enabled())
		return;
	log_format_time(x->start_ms, ts);
	wbuf_init(&w, line, sizeof(line) - 1);
	wbuf_put(&w, ts, 24);
	wbuf_put(&w, " ", 1);
	if (x->zone)
		wbuf_str(&w, x->zone->cfg->name);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	if (vc->req.target) {
		wbuf_put(&w, vc->req.method_str, vc->req.method_len);
		wbuf_put(&w, " ", 1);
		/* Bounded: a long target is cut, the line stays one line. */
		size_t tl = vc->req.target_len < LIMIT_ACCESS_LOG_TARGET_BYTES ?
			    vc->req.target_len : LIMIT_ACCESS_LOG_TARGET_BYTES;
		wbuf_put(&w, vc->req.target, tl);
	} else {
		wbuf_put(&w, "- -", 3);
	}
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, x->status);
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, x->body_bytes_out);
	wbuf_put(&w, " ", 1);
	if (x->origin_status)
		wbuf_u64(&w, x->origin_status);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	wbuf_str(&w, ecache_xcache(vc));    /* what the X-Cache header said */
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, (loop_now_ns() - x->start_ns) / 1000);
	wbuf_put(&w, " ", 1);
	/* The credential generation the origin request was signed with
	 * (the overlap retry's: the previous one); - when none was signed. */
	if (x->creds_gen)
		wbuf_u64(&w, x->creds_gen);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	wbuf_hex64(&w, x->reqid);
	if (w.overflow)
		w.len = sizeof(line) - 1;
	line[w.len++] = '\n';
	log_ring_push(&sh->lp.log_access, line, w.len);
}

/* The response is completely sent: log it, then next request or close. */
static void finish_exchange(struct shard *sh, struct visitor_conn *vc)
{
	struct visitor_exchange *x = &vc->x;

	if (x->background) {
		vc_close(sh, vc);           /* the slot was only for this refresh */
		return;
	}
	if (vc->h2) {
		/* All of an HTTP/2 response is queued: it ends when nghttp2 has
		 * taken the last byte and closes the stream (visitor_stream_closed). */
		flush(sh, vc);
		return;
	}
	count_status(sh, x->status);
	write_access_log(sh, vc);
	if (vc->h2_sid) {
		vc_close(sh, vc);           /* the slot was only for this stream */
		return;
	}
	if (x->oc) {
		origin_detach(sh, x->oc);
		x->oc = NULL;
	}
	exchange_release(sh, vc);
	ecache_exchange_end(sh, vc);
	if (!x->keep_alive || !x->body_done || sh->draining) {
		/* Linger only where unread input may be waiting (an RST would
		 * destroy our response); a visitor that asked to close and sent
		 * nothing more is closed at once, as nginx does. */
		if (x->must_linger || !x->body_done || sh->draining || vc->is_tls ||
		    vc->in_len > x->head_len || vc->held_head >= 0)
			vc_linger(sh, vc);
		else
			vc_close(sh, vc);
		return;
	}
	/* Drop the answered head; pipelined input moves to the front. */
	uint32_t rest = vc->in_len - x->head_len;
	memmove(vc->in, vc->in + x->head_len, rest);
	vc->in_len = rest;
	x->head_len = 0;
	vc->state = VC_READING;
	process_input(sh, vc);
	pump(sh, vc);
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
	int n = http1_parse_request(vc->in, vc->in_len, &vc->req);
	if (n == -HTTP1_E_AGAIN) {
		/* The deadline runs from the first byte of the head: more bytes
		 * do not extend it (slow loris). */
		if (vc->timer_kind != VT_HEADER)
			set_timer(sh, vc, VT_HEADER, sh->scfg->header_timeout_ms);
		if (vc->peer_closed)
			vc_close(sh, vc);
		return;
	}
	if (n < 0) {
		reject(sh, vc, n);
		return;
	}
	start_exchange(sh, vc, (uint32_t)n);
}

/* ---- HTTP/2 (edge/h2.h) ------------------------------------------------------ */

/* The connection speaks HTTP/2 from now on: the bytes already in its
 * input block (the preface and what followed) go to nghttp2. */
static void switch_h2(struct shard *sh, struct visitor_conn *vc)
{
	char *in = vc->in;
	uint32_t n = vc->in_len;

	vc->in = NULL;
	vc->in_len = 0;
	memset(&vc->x, 0, sizeof(vc->x));
	vc->state = VC_BUSY;                /* until it closes: streams are the exchanges */
	clear_timer(sh, vc);
	bool ok = h2_start(sh, vc, in, n);
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

/* The session is over: its streams' slots close, then the connection
 * lingers like an HTTP/1.1 one after its last response. */
static void h2_close(struct shard *sh, struct visitor_conn *vc)
{
	h2_conn_end(sh, vc);
	vc_linger(sh, vc);
}

/* An HTTP/2 connection with no stream open runs the idle timer; one
 * whose streams wait for the peer's window, the send deadline. */
static void h2_timer(struct shard *sh, struct visitor_conn *vc)
{
	if (vc->state != VC_BUSY || !vc->h2)
		return;
	if (h2_idle(vc)) {
		if (vc->timer_kind != VT_SEND)
			set_timer(sh, vc, VT_IDLE, sh->scfg->idle_timeout_ms);
		return;
	}
	uint64_t dl = h2_stall_deadline(vc, sh->scfg->send_timeout_ms);
	if (dl)
		set_timer(sh, vc, VT_SEND, dl > sh->lp.now_ms ? (uint32_t)(dl - sh->lp.now_ms) : 1);
	else if (vc->timer_kind == VT_IDLE || vc->timer_kind == VT_HEADER ||
		 (vc->timer_kind == VT_SEND && !vc->out.in_flight))
		clear_timer(sh, vc);    /* a send in flight keeps its own deadline */
}

void visitor_h2_timers(struct shard *sh, struct visitor_conn *conn)
{
	assert(conn->magic == VCONN_MAGIC);
	h2_timer(sh, conn);
}

struct visitor_conn *visitor_stream_new(struct shard *sh, struct visitor_conn *conn)
{
	char *in = sh->draining ? NULL : iobuf_pool_get(&sh->pool);
	struct visitor_conn *vc = in ? shard_vconn_take(sh) : NULL;

	if (!vc) {
		if (in)
			iobuf_pool_put(&sh->pool, in);
		return NULL;
	}
	slot_init(vc, -1);
	memcpy(vc->peer_ip, conn->peer_ip, sizeof(vc->peer_ip));
	vc->in = in;
	vc->in_len = 0;
	vc->state = VC_READING;
	sh->vconns_used++;
	return vc;
}

void visitor_stream_start(struct shard *sh, struct visitor_conn *vc, uint32_t head_len,
			  bool has_body)
{
	assert(vc->magic == VCONN_MAGIC);
	vc->in_len = head_len;
	int n = http1_parse_request(vc->in, head_len, &vc->req);
	if (n != (int)head_len) {
		reject(sh, vc, n < 0 ? n : -HTTP1_E_HEADER_NAME);
		return;
	}
	/* HTTP/2 frames the body itself: de-chunked like an HTTP/1.0
	 * visitor's, which is also who it may share a collapsed fetch with. */
	vc->req.version_minor = 0;
	if (has_body && vc->req.content_length < 0) {
		/* DATA frames become an upload of content-length bytes; a body
		 * of unknown length is not re-chunked (yet). */
		COUNT(sh, h2_bodies_refused);
		memset(&vc->x, 0, sizeof(vc->x));
		vc->x.start_ms = sh->lp.unix_ms;
		vc->x.start_ns = loop_now_ns();
		vc->state = VC_BUSY;
		COUNT(sh, requests);
		send_local(sh, vc, 411, true);
		return;
	}
	start_exchange(sh, vc, head_len);
}

bool visitor_stream_body(struct shard *sh, struct visitor_conn *vc, const char *p, size_t n)
{
	assert(vc->magic == VCONN_MAGIC);
	struct visitor_exchange *x = &vc->x;

	if (vc->state != VC_BUSY || !x->has_body || x->body_done || !x->oc || x->resp_done)
		return true;                /* answered already: the rest is dropped */
	ssize_t k = body_take(sh, vc, p, n);
	if (k < 0) {
		body_failed(sh, vc, k);
		return false;
	}
	if (k == 0)
		return true;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		visitor_response_abort(sh, vc);
		return false;
	}
	memcpy(blk, p, (size_t)k);
	struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)k, .kind = IOBUF_SEG_HBUF,
				 .block = blk };
	x->body_sent = true;
	if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
		visitor_response_abort(sh, vc);   /* more small DATA frames than segments */
		return false;
	}
	return true;
}

void visitor_stream_pulled(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	vc->out_moved_ms = sh->lp.now_ms;
	if (vc->state == VC_BUSY && vc->x.cache.large.on && !vc->x.resp_done)
		elarge_on_sent(sh, vc);
	/* That send empties the queue; a pull takes at most a frame, so the
	 * free segments are checked too (a de-chunked read makes one per
	 * chunk). */
	if (vc->state == VC_BUSY && vc->x.oc && visitor_room(vc) > LIMIT_STREAM_WINDOW_BYTES / 2)
		origin_visitor_drained(sh, vc->x.oc);
}

bool visitor_stream_upload_room(const struct visitor_conn *vc)
{
	return !vc->x.oc || vc->state != VC_BUSY || upload_room(vc) >= LIMIT_STREAM_WINDOW_BYTES / 2;
}

void visitor_stream_closed(struct shard *sh, struct visitor_conn *vc, bool complete)
{
	assert(vc->magic == VCONN_MAGIC);
	if (complete && vc->state == VC_BUSY)
		finish_exchange(sh, vc);    /* logged and counted, then closed */
	else
		vc_close(sh, vc);
}

/* ---- input ---------------------------------------------------------------- */

/* Bytes the origin's request queue can take now (upload backpressure). */
static size_t upload_room(const struct visitor_conn *vc)
{
	const struct origin_conn *oc = vc->x.oc;
	uint64_t queued = origin_request_queued(oc);
	/* Upload pieces wait in the provided buffers they came in: its
	 * share of those, whatever their size (LIMIT_RECV_SHARE_BUFS). */
	if (queued >= LIMIT_STREAM_WINDOW_BYTES || oc->cl.out.n >= IOBUF_OUTQ_SEGS - 2 ||
	    oc->cl.out.n_pbuf >= LIMIT_RECV_SHARE_BUFS)
		return 0;
	return (size_t)(LIMIT_STREAM_WINDOW_BYTES - queued);
}

/* Request body bytes from a held buffer to the origin. Returns bytes
 * consumed (0: the origin queue is full), or -1 if the exchange ended. */
static ssize_t upload(struct shard *sh, struct visitor_conn *vc, const char *p, size_t len,
		      uint16_t bid)
{
	struct visitor_exchange *x = &vc->x;
	/* Answered already (an origin error, our 413): the connection closes
	 * after the response, so the rest of the body is only drained. */
	if (!x->oc || x->resp_done)
		return (ssize_t)len;
	size_t room = upload_room(vc);
	if (room == 0)
		return 0;
	ssize_t n = body_take(sh, vc, p, len < room ? len : room);
	if (n < 0) {
		body_failed(sh, vc, n);
		return -1;
	}
	if (n > 0) {
		struct iobuf_group *g = in_group(sh, vc);
		iobuf_group_ref(g, bid);
		struct iobuf_seg seg = { .ptr = p, .len = (uint32_t)n,
					 .kind = IOBUF_SEG_PBUF, .bid = bid, .group = g };
		x->body_sent = true;
		if (!origin_request_body(sh, x->oc, &seg, x->body_done)) {
			visitor_response_abort(sh, vc);
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
			bool ok = h2_recv(sh, vc, p, h->len);
			if (vc->state == VC_CLOSING)
				return;
			held_pop(sh, vc);
			if (!ok) {
				h2_close(sh, vc);
				return;
			}
			continue;
		}
		if (vc->state == VC_BUSY && vc->x.has_body && !vc->x.body_done) {
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
	else if (vc->state == VC_BUSY && !vc->x.body_done)
		visitor_response_abort(sh, vc);
	else if (vc->state == VC_BUSY)
		vc->x.keep_alive = false;
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
		flush(sh, vc);
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
	if (vc->state == VC_BUSY && vc->x.cache.large.on && !vc->x.resp_done)
		elarge_on_sent(sh, vc);     /* frees sent chunk buffers, reads on */
	flush(sh, vc);
	if (vc->state == VC_CLOSING)
		return;
	if (vc->h2) {
		if (vc->state != VC_BUSY)
			return;
		if (!h2_on_sent(sh, vc))
			h2_close(sh, vc);       /* GOAWAY sent, or nothing left to do */
		else
			h2_timer(sh, vc);
		return;
	}
	if (!vc->out.in_flight && vc->out.n == 0 && vc->state == VC_BUSY && vc->x.resp_done) {
		finish_exchange(sh, vc);
		return;
	}
	if (vc->state == VC_BUSY && vc->x.oc && vc->out.bytes < LIMIT_STREAM_WINDOW_BYTES / 2)
		origin_visitor_drained(sh, vc->x.oc);
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
	case OP_CREAD:
		ecache_on_read(sh, vc, cqe);
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
		if (vc->state == VC_BUSY)
			visitor_response_abort(sh, vc);   /* logged; a stream: RST_STREAM */
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
		else if (vc->state == VC_BUSY && vc->h2 && !vc->h2_sid)
			h2_drain(sh, vc);
		else if (vc->state == VC_BUSY)
			vc->x.keep_alive = false;
	}
}

void visitor_close_all(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->vconns_hwm; i++)
		vc_close(sh, &sh->vconns[i]);
}

/* ---- responses from the origin ------------------------------------------ */

/* Is `name` one of the tokens of a Connection header value? */
static bool connection_lists(const struct http1_response *resp, const char *name, size_t len)
{
	return http1_fields_list(resp->headers, resp->n_headers, "connection", name, len);
}

static bool drop_response_header(const struct http1_response *resp,
				 const struct http1_header *h)
{
	if (http1_is_hop_by_hop(h->name, h->name_len))
		return true;
	if (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0)
		return true;                /* we write the framing ourselves */
	if (h->name_len == 6 && strncasecmp(h->name, "server", 6) == 0)
		return true;
	return connection_lists(resp, h->name, h->name_len);
}

static enum visitor_resp_mode response_mode(struct visitor_conn *vc,
					    const struct http1_response *resp)
{
	if (resp->no_body || vc->req.method == HTTP1_HEAD)
		return VR_NONE;
	if (resp->chunked)
		return vc->req.version_minor >= 1 ? VR_CHUNKED : VR_DECHUNK;
	if (resp->content_length >= 0)
		return VR_LENGTH;
	return VR_CLOSE;
}

/*
 * Collapsing on a URL with Vary: a follower that selects another variant
 * than the leader must not get the leader's response. It parks until the
 * leader's marker lands and then looks up its own variant (collapsing on
 * that variant's key); for Vary: * it fetches on its own.
 */
static void unshare_followers(struct shard *sh, struct visitor_conn *vc,
			      const struct http1_response *resp)
{
	for (struct visitor_conn *f = vc->x.followers, *n; f; f = n) {
		n = f->x.next_follower;
		int r = vary_shares(resp, &vc->req, &f->req);
		if (r == 1)
			continue;
		unlink_follower(f);
		COUNT(sh, cache_vary_unshared);
		if (r == 0)
			visitor_park(sh, f);
		else
			origin_start(sh, f);
	}
}

int visitor_response_head(struct shard *sh, struct visitor_conn *vc,
			  const struct http1_response *resp)
{
	assert(vc->magic == VCONN_MAGIC);
	struct visitor_exchange *x = &vc->x;
	char *blk = iobuf_pool_get(&sh->pool);
	bool have_date = false;
	struct wbuf w;

	if (!blk) {
		COUNT(sh, buffers_exhausted);
		return -ENOBUFS;
	}
	if (x->cache.large.fetching) {
		/* A chunk-aligned Range fetch of a large object. */
		int r = elarge_origin_head(sh, vc, resp);
		if (r != 0) {
			iobuf_pool_put(&sh->pool, blk);
			return r < 0 ? r : 0;
		}
	}
	/* Followers get the leader's head as it is sent: only the leader (or
	 * an exchange alone) asks the cache what the response means. */
	enum ecache_head ch = x->leader ? ECACHE_HEAD_FORWARD : ecache_response_head(sh, vc, resp);
	if (ch == ECACHE_HEAD_STORED) {
		/* A 304 to our validators, or a 5xx within stale-if-error: the
		 * stored object answered; the origin's body is dropped. */
		iobuf_pool_put(&sh->pool, blk);
		x->discard_origin_body = true;
		x->keep_alive = x->keep_alive && resp->keep_alive;
		return 0;
	}
	if (ch == ECACHE_HEAD_PASS)
		for (struct visitor_conn *f = take_followers(vc), *n; f; f = n) {
			n = f->x.next_follower;
			f->x.next_follower = NULL;
			COUNT(sh, collapse_unshared);
			origin_start(sh, f);
		}
	x->resp_mode = (uint8_t)response_mode(vc, resp);
	if (x->resp_mode == VR_DECHUNK || x->resp_mode == VR_CLOSE)
		x->keep_alive = false;
	/* An early answer (the body is not all read): the rest of the body
	 * is not forwarded once the response ends, and rather than skip it
	 * to find the next request, the connection closes after this
	 * response, as nginx does (the linger drains what still comes). */
	if (!x->body_done)
		x->keep_alive = false;
	x->status = resp->status;
	x->origin_status = resp->status;

	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	wbuf_str(&w, "HTTP/1.1 ");
	wbuf_u64(&w, resp->status);
	wbuf_put(&w, " ", 1);
	if (resp->reason_len)
		wbuf_put(&w, resp->reason, resp->reason_len);
	else
		wbuf_str(&w, http1_reason(resp->status));
	wbuf_put(&w, "\r\n", 2);
	for (unsigned i = 0; i < resp->n_headers; i++) {
		const struct http1_header *h = &resp->headers[i];
		if (drop_response_header(resp, h))
			continue;
		/* A follower shares the leader's response only when it may be
		 * stored (set_cookie = strip): the cookie is the leader's. */
		if (x->leader && h->name_len == 10 && strncasecmp(h->name, "set-cookie", 10) == 0)
			continue;
		if (h->name_len == 4 && strncasecmp(h->name, "date", 4) == 0)
			have_date = true;
		wbuf_header(&w, h->name, h->name_len, h->value, h->value_len);
	}
	if (!have_date)
		wbuf_header(&w, "Date", 4, sh->lp.date, 29);
	wbuf_str(&w, "Server: edgecache\r\nVia: 1.1 edgecache\r\nX-Cache: ");
	wbuf_str(&w, ecache_xcache(vc));
	wbuf_put(&w, "\r\n", 2);
	if (x->resp_mode == VR_LENGTH ||
	    (resp->content_length >= 0 && (vc->req.method == HTTP1_HEAD || resp->status == 304))) {
		wbuf_str(&w, "Content-Length: ");
		wbuf_u64(&w, (uint64_t)resp->content_length);
		wbuf_put(&w, "\r\n", 2);
	} else if (x->resp_mode == VR_CHUNKED) {
		wbuf_str(&w, "Transfer-Encoding: chunked\r\n");
	}
	if (!x->keep_alive)
		wbuf_str(&w, "Connection: close\r\n");
	else if (vc->req.version_minor == 0)
		wbuf_str(&w, "Connection: keep-alive\r\n");
	wbuf_put(&w, "\r\n", 2);
	if (w.overflow) {
		iobuf_pool_put(&sh->pool, blk);
		return -ENOSPC;
	}
	if (!queue_block(sh, vc, blk, w.len))
		return -ENOBUFS;
	x->head_queued = true;
	/* Not flushed here: body bytes from the same origin read join it in
	 * one sendmsg (the origin calls visitor_flush after each read). */
	if (x->followers)
		unshare_followers(sh, vc, resp);
	for (struct visitor_conn *f = x->followers, *n; f; f = n) {
		n = f->x.next_follower;
		if (visitor_response_head(sh, f, resp) < 0)
			visitor_response_abort(sh, f);
	}
	return 0;
}

void visitor_flush(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	for (struct visitor_conn *f = vc->x.followers; f; f = f->x.next_follower)
		flush(sh, f);
	flush(sh, vc);
}

bool visitor_queue_head_block(struct shard *sh, struct visitor_conn *vc, char *blk, size_t len)
{
	assert(vc->magic == VCONN_MAGIC);
	if (!queue_block(sh, vc, blk, len)) {
		vc_close(sh, vc);
		return false;
	}
	vc->x.head_queued = true;
	return true;
}

/*
 * A small segment when the queue is nearly out of segments: copied into a
 * block of its own, which the next small ones join (iobuf_outq_coalesce).
 * A de-chunked body (HTTP/1.0 and HTTP/2 visitors) makes one segment per
 * chunk: a 64 KiB origin read of 1000-byte chunks is 65 of them.
 */
static bool copy_small(struct shard *sh, struct visitor_conn *vc, const struct iobuf_seg *seg)
{
	if (seg->len > IOBUF_COALESCE_BYTES || IOBUF_OUTQ_SEGS - vc->out.n > 8 ||
	    iobuf_outq_full(&vc->out))
		return false;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk)
		return false;
	memcpy(blk, seg->ptr, seg->len);
	struct iobuf_seg copy = { .ptr = blk, .len = seg->len, .kind = IOBUF_SEG_HBUF, .block = blk };
	iobuf_outq_push(&vc->out, &copy);
	iobuf_seg_release(seg, &sh->pool);
	return true;
}

bool visitor_response_body(struct shard *sh, struct visitor_conn *vc, const struct iobuf_seg *seg)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->x.background) {
		iobuf_seg_release(seg, &sh->pool);  /* the store fill copied it */
		return true;
	}
	if (vc->x.cache.large.fetching)
		return elarge_origin_body(sh, vc, seg);
	/* Followers get the same bytes first (their own reference each); one
	 * that cannot keep up is cut off, never slows the others. */
	for (struct visitor_conn *f = vc->x.followers, *n; f; f = n) {
		n = f->x.next_follower;
		if (f->x.resp_mode == VR_NONE)
			continue;
		struct iobuf_seg copy = *seg;
		if (copy.kind != IOBUF_SEG_PBUF) {
			/* Only refcounted provided buffers can be shared. */
			visitor_response_abort(sh, f);
			continue;
		}
		iobuf_group_ref(copy.group, copy.bid);
		if (f->out.n_pbuf == 0)
			f->out_moved_ms = sh->lp.now_ms;   /* starts pinning now */
		if (!iobuf_outq_coalesce(&f->out, &copy, &sh->pool) &&
		    !iobuf_outq_push(&f->out, &copy)) {
			iobuf_seg_release(&copy, &sh->pool);
			visitor_response_abort(sh, f);
			continue;
		}
		f->x.body_bytes_out += copy.len;
	}
	if (vc->out.n_pbuf == 0)
		vc->out_moved_ms = sh->lp.now_ms;
	if (!iobuf_outq_coalesce(&vc->out, seg, &sh->pool) && !copy_small(sh, vc, seg) &&
	    !iobuf_outq_push(&vc->out, seg))
		return false;
	vc->x.body_bytes_out += seg->len;
	return true;
}

void visitor_response_end(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->x.cache.large.fetching) {
		elarge_origin_end(sh, vc);  /* more chunks may follow */
		return;
	}
	for (struct visitor_conn *f = take_followers(vc), *n; f; f = n) {
		n = f->x.next_follower;
		f->x.next_follower = NULL;
		visitor_response_end(sh, f);
	}
	vc->x.resp_done = true;
	if (vc->x.oc) {
		origin_detach(sh, vc->x.oc);
		vc->x.oc = NULL;
	}
	if (vc->out.n == 0 && !vc->out.in_flight)
		finish_exchange(sh, vc);
	else
		flush(sh, vc);
}

void visitor_response_fail(struct shard *sh, struct visitor_conn *vc, int status)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->x.head_queued && vc->x.cache.large.on) {
		/* A large object's later fetch failed: only a close ends it. */
		visitor_response_abort(sh, vc);
		return;
	}
	for (struct visitor_conn *f = take_followers(vc), *n; f; f = n) {
		n = f->x.next_follower;
		f->x.next_follower = NULL;
		visitor_response_fail(sh, f, status);
	}
	vc->x.oc = NULL;
	if (status >= 500 && ecache_fail_stale(sh, vc))
		return;                     /* a stale copy, where stale-if-error allows */
	/* An unread request body would be taken for the next request. */
	send_local(sh, vc, status, !vc->x.body_done);
}

void visitor_response_abort(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	vc->x.status = vc->x.status ? vc->x.status : 502;
	if (!vc->x.background) {            /* no visitor asked for it */
		count_status(sh, vc->x.status);
		write_access_log(sh, vc);
	}
	vc_close(sh, vc);
}

int64_t visitor_room(const struct visitor_conn *vc)
{
	/* Its share of the origin's (or plaintext) buffers: a recv of a few
	 * bytes pins a whole buffer, so bytes alone do not bound it. */
	if (IOBUF_OUTQ_SEGS - vc->out.n < IOBUF_OUTQ_SEGS / 2 ||
	    vc->out.n_pbuf >= LIMIT_RECV_SHARE_BUFS)
		return 0;
	return (int64_t)LIMIT_STREAM_WINDOW_BYTES - (int64_t)vc->out.bytes;
}

void visitor_origin_drained(struct shard *sh, struct visitor_conn *vc)
{
	assert(vc->magic == VCONN_MAGIC);
	if (vc->h2_sid && vc->h2)
		h2_stream_drained(sh, vc);  /* the peer may send more DATA */
	else if (vc->state == VC_BUSY)
		pump(sh, vc);
}
