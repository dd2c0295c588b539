/*
 * edge/exchange.c — one request and its response (see exchange.h).
 *
 * Life of an exchange: taken from the shard's pool when a request head is
 * complete (HTTP/1 connection, HTTP/2 stream) or a stale hit starts a
 * refresh → BUSY (the cache, collapsing, the origin; the response queues
 * where it goes) → its last byte is sent (HTTP/1: the connection finishes
 * it, visitor_finish), nghttp2 closes its stream, or a refresh's response
 * ends → CLOSING → freed when no store read is in flight for it and its
 * connection no longer sends from its buffers.
 */
#include "edge/exchange.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cache/cache_policy.h"
#include "cache/collapse.h"
#include "cache/http_cache.h"
#include "cache/vary.h"
#include "core/config.h"
#include "core/loop.h"
#include "net/h2.h"
#include "edge/origin.h"
#include "edge/shard.h"
#include "edge/visitor.h"
#include "net/req_hygiene.h"
#include "net/wbuf.h"

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void finish(struct shard *sh, struct exchange *ex);

/* ---- slots ---------------------------------------------------------------- */

/* A free slot (idx and gen set), or NULL at the limit. */
static struct exchange *take(struct shard *sh)
{
	struct exchange *ex = sh->xp.free;
	if (ex) {
		sh->xp.free = ex->next;
	} else if (sh->xp.hwm < sh->xp.n) {
		ex = &sh->xp.slots[sh->xp.hwm];
		ex->idx = sh->xp.hwm++;
		ex->gen = sh->xp.gen_floor;   /* past any gen a retired slot had */
	}
	if (!ex)
		return NULL;
	uint32_t gen = ex->gen, idx = ex->idx;
	memset(ex, 0, offsetof(struct exchange, req));
	ex->req.method = HTTP1_OTHER;
	ex->req.target = NULL;              /* logged as "- -" until parsed */
	ex->magic = EXCHANGE_MAGIC;
	ex->gen = gen;
	ex->idx = idx;
	iobuf_outq_init(&ex->sout);
	ex->out = &ex->sout;
	ex->state = EX_BUSY;
	ex->start_ms = sh->lp.unix_ms;
	ex->start_ns = loop_now_ns();
	ex->reqid = ((uint64_t)sh->id << 48) | ++sh->req_seq;
	sh->xp.used++;
	COUNT(sh, exchanges_open);
	return ex;
}

static void give_back(struct shard *sh, struct exchange *ex)
{
	if (ex->background)
		ecache_background_end(sh, ex);
	ecache_exchange_end(sh, ex);        /* nobody sends from its buffers */
	iobuf_outq_clear(&ex->sout, &sh->pool);
	if (ex->in) {
		iobuf_pool_put(&sh->pool, ex->in);
		ex->in = NULL;
	}
	ex->state = EX_FREE;
	ex->gen++;
	ex->next = sh->xp.free;
	sh->xp.free = ex;
	sh->xp.used--;
	counters_add(sh->lp.ctr, CTR_exchanges_open, (uint64_t)-1);
}

static void maybe_free(struct shard *sh, struct exchange *ex)
{
	if (ex->state == EX_CLOSING && ex->ops == 0 && !ex->conn)
		give_back(sh, ex);
}

struct exchange *exchange_new(struct shard *sh, struct visitor_conn *conn)
{
	struct exchange *ex = take(sh);

	if (!ex) {
		COUNT(sh, exchanges_refused);
		return NULL;
	}
	ex->conn = conn;
	ex->out = &conn->t.out;
	memcpy(ex->peer_ip, conn->t.peer_ip, sizeof(ex->peer_ip));
	return ex;
}

void exchange_detach(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	ex->conn = NULL;
	ex->out = &ex->sout;
	maybe_free(sh, ex);
}

void exchange_op_done(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC && ex->ops > 0);
	ex->ops--;
	maybe_free(sh, ex);
}

void exchange_on_cqe(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe)
{
	assert(ex->magic == EXCHANGE_MAGIC && ex->ops > 0);
	ex->ops--;
	ecache_on_read(sh, ex, cqe);
	maybe_free(sh, ex);
}

/* The block the request head is in, and the bytes that block holds: an
 * HTTP/1 connection's input block (pipelined bytes behind the head), or
 * the exchange's own. */
static char *head_block(struct exchange *ex, uint32_t **len)
{
	if (ex->conn && !ex->in) {
		*len = &ex->conn->t.in_len;
		return ex->conn->t.in;
	}
	*len = &ex->in_len;
	return ex->in;
}

/* ---- small helpers ------------------------------------------------------ */

static void flush(struct shard *sh, struct exchange *ex)
{
	if (ex->background) {
		/* Nothing is queued for a background refresh (queue_block and
		 * exchange_response_body drop it): it ends when its last byte
		 * would have been sent. */
		if (ex->state == EX_BUSY && ex->resp_done)
			finish(sh, ex);
		return;
	}
	if (ex->h2_sid) {
		/* An HTTP/2 stream: its connection takes the queued bytes. */
		if (ex->h2 && !h2_stream_flush(ex->h2, ex->h2_idx, ex))
			ex->h2 = NULL;          /* reset: the response goes nowhere */
		return;
	}
	if (ex->conn)
		visitor_send(sh, ex->conn);
}

static bool queue_block(struct shard *sh, struct exchange *ex, char *block, size_t len)
{
	struct iobuf_seg seg = { .ptr = block, .len = (uint32_t)len,
				 .kind = IOBUF_SEG_HBUF, .block = block };
	if (ex->background) {
		iobuf_pool_put(&sh->pool, block);   /* nobody to send it to */
		return true;
	}
	if (!iobuf_outq_push(ex->out, &seg)) {
		iobuf_pool_put(&sh->pool, block);
		return false;
	}
	return true;
}

/* The visitor side goes: an HTTP/1 connection closes (the visitor sees a
 * cut response), a stream is reset, a refresh just ends. */
static void cut(struct shard *sh, struct exchange *ex)
{
	if (ex->conn && ex->conn->ex == ex)
		visitor_close(sh, ex->conn);        /* closes ex too */
	else
		exchange_close(sh, ex);
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

/* ---- collapsed followers ------------------------------------------------ */

static void unlink_follower(struct exchange *ex)
{
	struct exchange *l = ex->leader;
	if (!l)
		return;
	struct exchange **pp = &l->followers;
	while (*pp && *pp != ex)
		pp = &(*pp)->next_follower;
	if (*pp)
		*pp = ex->next_follower;
	ex->leader = NULL;
	ex->next_follower = NULL;
}

static void unlink_parked(struct shard *sh, struct exchange *ex)
{
	if (!ex->parked)
		return;
	struct exchange **pp = &sh->xp.parked;
	while (*pp && *pp != ex)
		pp = &(*pp)->next_parked;
	if (*pp)
		*pp = ex->next_parked;
	ex->parked = false;
	ex->next_parked = NULL;
}

/* Take a leader's followers off it (each then stands alone). */
static struct exchange *take_followers(struct exchange *ex)
{
	struct exchange *list = ex->followers;
	ex->followers = NULL;
	for (struct exchange *f = list; f; f = f->next_follower)
		f->leader = NULL;
	return list;
}

void exchange_follow(struct shard *sh, struct exchange *ex, struct exchange *lex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	ex->leader = lex;
	ex->next_follower = lex->followers;
	lex->followers = ex;
	COUNT(sh, collapsed_followers);
}

void exchange_park(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	ex->parked = true;
	/* From the first park: a request that parks again (a read that finds
	 * no buffer, a revalidation behind another) never waits longer. */
	if (!ex->parked_until_ms)
		ex->parked_until_ms = sh->lp.now_ms + LIMIT_COLLAPSE_WAIT_MS;
	ex->next_parked = sh->xp.parked;
	sh->xp.parked = ex;
	COUNT(sh, collapsed_parked);
}

bool exchange_may_park(const struct shard *sh, const struct exchange *ex)
{
	return !ex->parked_until_ms || sh->lp.now_ms < ex->parked_until_ms;
}

void exchange_park_followers(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	for (struct exchange *f = take_followers(ex), *n; f; f = n) {
		n = f->next_follower;
		f->next_follower = NULL;
		exchange_park(sh, f);
	}
}

void exchange_parked_tick(struct shard *sh)
{
	struct exchange *list = sh->xp.parked;
	sh->xp.parked = NULL;
	while (list) {
		struct exchange *ex = list;
		list = ex->next_parked;
		ex->next_parked = NULL;
		ex->parked = false;
		if (ex->state != EX_BUSY)
			continue;
		if (sh->lp.now_ms < ex->parked_until_ms &&
		    collapse_active(sh->cache.collapse, ex->cache.key)) {
			ex->parked = true;          /* still in flight: keep waiting */
			ex->next_parked = sh->xp.parked;
			sh->xp.parked = ex;
			continue;
		}
		/* The leader's object landed (a hit now), or it will not come. */
		if (!ecache_lookup(sh, ex))
			origin_start(sh, ex);
	}
}

/* ---- closing ------------------------------------------------------------- */

void exchange_close(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->state != EX_BUSY)
		return;
	if (ex->h2) {
		h2_stream_gone(ex->h2, ex->h2_idx, ex);   /* RST_STREAM: the response is cut */
		ex->h2 = NULL;
	}
	if (ex->oc) {
		origin_detach(sh, ex->oc);
		ex->oc = NULL;
	}
	if (ex->rt) {
		shard_rt_unref(sh, ex->rt);
		ex->rt = NULL;
	}
	ecache_fill_end(sh, ex, false);
	unlink_follower(ex);
	unlink_parked(sh, ex);
	ex->state = EX_CLOSING;
	for (struct exchange *f = take_followers(ex), *n; f; f = n) {
		n = f->next_follower;
		f->next_follower = NULL;
		if (f->head_queued)
			exchange_response_abort(sh, f);     /* the fetch it shared ends */
		else
			exchange_response_fail(sh, f, 502);
	}
	maybe_free(sh, ex);
}

void exchange_close_all(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->xp.hwm; i++)
		if (sh->xp.slots[i].state == EX_BUSY)
			cut(sh, &sh->xp.slots[i]);
}

/* Is ex's queue (a stream's) pinning provided buffers without moving? */
static bool stalled_stream(const struct shard *sh, const struct exchange *ex)
{
	return ex->state == EX_BUSY && ex->h2 && ex->sout.n_pbuf > 0 &&
	       sh->lp.now_ms - ex->out_moved_ms >= LIMIT_RECV_SHARE_STALL_MS;
}

unsigned exchange_reclaim(struct shard *sh)
{
	unsigned closed = 0;

	for (uint32_t i = 0; i < sh->xp.hwm; i++) {
		struct exchange *ex = &sh->xp.slots[i];
		if (!stalled_stream(sh, ex))
			continue;
		COUNT(sh, recv_share_closed);
		log_debug("visitor %s: stream reset: its queue has pinned %u receive buffers for "
			  "%llu ms while the shard was short of them", ex->peer_ip, ex->sout.n_pbuf,
			  (unsigned long long)(sh->lp.now_ms - ex->out_moved_ms));
		exchange_response_abort(sh, ex);    /* logged; RST_STREAM */
		closed++;
	}
	return closed;
}

/* ---- background refresh (stale-while-revalidate) -------------------------- */

void exchange_background(struct shard *sh, struct exchange *pv)
{
	assert(pv->magic == EXCHANGE_MAGIC);
	uint32_t *pv_len;
	const char *pv_head = head_block(pv, &pv_len);
	char *in = cpol_refresh_may_start(sh->cache.collapse != NULL, sh->draining) ?
		   iobuf_pool_get(&sh->pool) : NULL;
	struct exchange *ex = in ? take(sh) : NULL;
	struct collapse_leader l;

	if (!ex) {
		if (in)
			iobuf_pool_put(&sh->pool, in);
		COUNT(sh, cache_swr_skipped);
		return;
	}
	ex->in = in;                        /* freed with the exchange */
	/* One refresh per key: the claim is what concurrent stale hits
	 * find (and then start none); it is released when the refresh's
	 * write lands or it ends. */
	struct collapse_leader me = { sh->id, ex->idx, ex->gen };
	if (collapse_claim(sh->cache.collapse, pv->cache.key, &me, &l) != 0) {
		COUNT(sh, cache_swr_skipped);
		ex->state = EX_CLOSING;
		give_back(sh, ex);
		return;
	}
	memcpy(ex->peer_ip, pv->peer_ip, sizeof(ex->peer_ip));
	/* Its own copy of the visitor's head: the visitor's input block
	 * moves on to its next request while the refresh runs. */
	memcpy(in, pv_head, pv->head_len);
	ex->in_len = pv->head_len;
	if (http1_parse_request(ex->in, ex->in_len, &ex->req) != (int)ex->in_len) {
		collapse_release(sh->cache.collapse, pv->cache.key);
		COUNT(sh, cache_swr_skipped);
		ex->state = EX_CLOSING;
		give_back(sh, ex);
		return;
	}
	ex->background = true;
	ex->leading = true;                 /* the claim goes with the exchange */
	ex->cache.ckey = pv->cache.key;
	ex->head_len = ex->in_len;
	ex->body_done = true;
	ex->rt = pv->rt;
	shard_rt_ref(sh, ex->rt);
	ex->zone = pv->zone;
	/* The head was parsed again: the same fields go (counted once, for
	 * the visitor's exchange). */
	struct reqh_drops d = { 0 };
	reqh_filter_headers(&ex->req, ex->zone->cfg->pass_headers, ex->zone->cfg->n_pass_headers,
			    &d);
	COUNT(sh, cache_swr_refreshes);
	/* Looks the object up again (its own reference or read), finds it
	 * stale and asks the origin with its validators. */
	if (!ecache_lookup(sh, ex))
		origin_start(sh, ex);
}

/* ---- local responses ---------------------------------------------------- */

void exchange_send_local(struct shard *sh, struct exchange *ex, int status, bool close)
{
	char *blk = iobuf_pool_get(&sh->pool);
	struct wbuf w;

	if (close)
		ex->keep_alive = false;
	ex->status = (uint16_t)status;
	ex->head_queued = true;
	ex->resp_done = true;
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		cut(sh, ex);
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
	if (!ex->keep_alive)
		wbuf_str(&w, "\r\nConnection: close");
	wbuf_str(&w, "\r\n\r\n");
	if (ex->req.method != HTTP1_HEAD) {
		wbuf_put(&w, body, (size_t)blen);
		ex->body_bytes_out = (uint64_t)blen;
	}
	assert(!w.overflow);
	if (!queue_block(sh, ex, blk, w.len)) {
		cut(sh, ex);
		return;
	}
	flush(sh, ex);
}

/* A request head that did not parse: answer and close (RFC 9112: after a
 * framing error the rest of the stream cannot be trusted). */
void exchange_reject(struct shard *sh, struct exchange *ex, int err)
{
	int e = err < 0 ? -err : err;
	if (e >= HTTP1_E_METHOD && e < HTTP1_E__COUNT)
		COUNT_IN(sh, http1_counters, e - HTTP1_E_METHOD);
	ex->req.method = HTTP1_OTHER;
	ex->req.target = NULL;
	ex->must_linger = true;
	exchange_send_local(sh, ex, http1_err_status(e), true);
}

/* ---- request bodies ------------------------------------------------------ */

static bool body_setup(struct shard *sh, struct exchange *ex)
{
	const struct http1_request *r = &ex->req;

	if (r->chunked) {
		ex->has_body = true;
		ex->body_chunked = true;
		http1_chunked_init(&ex->body_chunk);
	} else if (r->content_length > 0) {
		if (r->content_length > sh->scfg->max_body_bytes) {
			COUNT(sh, body_too_large);
			exchange_send_local(sh, ex, 413, true);
			return false;
		}
		ex->has_body = true;
		ex->body_left = r->content_length;
	}
	ex->body_done = !ex->has_body;
	return true;
}

ssize_t exchange_body_take(struct shard *sh, struct exchange *ex, const char *p, size_t len)
{
	size_t n;

	if (ex->body_chunked) {
		/* The raw chunked bytes are forwarded as they are; the spans
		 * count the decoded size against max_body_bytes. */
		struct http1_span spans[16];
		size_t n_spans, total = 0;
		while (total < len && !ex->body_chunk.done) {
			ssize_t c = http1_chunked_feed(&ex->body_chunk, p + total, len - total,
						       spans, 16, &n_spans);
			if (c < 0)
				return -EPROTO;
			for (size_t i = 0; i < n_spans; i++)
				ex->body_seen += spans[i].len;
			if (ex->body_seen > sh->scfg->max_body_bytes)
				return -EFBIG;
			if (c == 0)
				break;
			total += (size_t)c;
		}
		n = total;
		if (ex->body_chunk.done)
			ex->body_done = true;
	} else {
		n = (uint64_t)ex->body_left < len ? (size_t)ex->body_left : len;
		ex->body_left -= (int64_t)n;
		if (ex->body_left == 0)
			ex->body_done = true;
	}
	return (ssize_t)n;
}

void exchange_body_failed(struct shard *sh, struct exchange *ex, ssize_t err)
{
	if (err == -EFBIG)
		COUNT(sh, body_too_large);
	else
		COUNT_IN(sh, http1_counters, HTTP1_E_CHUNK - HTTP1_E_METHOD);
	ex->must_linger = true;
	if (ex->head_queued) {
		exchange_response_abort(sh, ex);
		return;
	}
	if (ex->oc) {
		origin_detach(sh, ex->oc);
		ex->oc = NULL;
	}
	exchange_send_local(sh, ex, err == -EFBIG ? 413 : 400, true);
}

size_t exchange_upload_room(const struct exchange *ex)
{
	const struct origin_conn *oc = ex->oc;
	uint64_t queued = origin_request_queued(oc);
	/* Upload pieces wait in the provided buffers they came in: its
	 * share of those, whatever their size (LIMIT_RECV_SHARE_BUFS). */
	if (queued >= LIMIT_STREAM_WINDOW_BYTES || oc->cl.out.n >= IOBUF_OUTQ_SEGS - 2 ||
	    oc->cl.out.n_pbuf >= LIMIT_RECV_SHARE_BUFS)
		return 0;
	return (size_t)(LIMIT_STREAM_WINDOW_BYTES - queued);
}

/* ---- starting ------------------------------------------------------------ */

/*
 * Dot segments: removed in the head itself, so that the cache key, the
 * origin request and a background refresh's copy of the head all read one
 * path; or refused (400). The head shrinks: what follows it in the block
 * moves up and the head is parsed again. False when answered.
 */
static bool clean_path(struct shard *sh, struct exchange *ex)
{
	struct http1_request *r = &ex->req;
	char *path = (char *)r->path;      /* in the head block, or a static "/" left alone */
	uint32_t *len;
	char *in = head_block(ex, &len);
	size_t n;

	if (reqh_path_normalize(path, r->path_len, &n) < 0) {
		COUNT(sh, path_refused);
		ex->must_linger = true;
		exchange_send_local(sh, ex, 400, true);
		return false;
	}
	if (n == r->path_len)
		return true;
	COUNT(sh, paths_normalized);
	uint32_t gap = r->path_len - (uint32_t)n;
	char *tail = path + r->path_len;
	memmove(path + n, tail, (size_t)(in + *len - tail));
	*len -= gap;
	ex->head_len -= gap;
	int rc = http1_parse_request(in, ex->head_len, r);
	assert(rc == (int)ex->head_len && reqh_path_clean(r->path, r->path_len));
	(void)rc;
	return true;
}

/* Fields the origin must not see leave the request before the cache
 * reads it (net/req_hygiene.h). */
static void filter_fields(struct shard *sh, struct exchange *ex)
{
	const struct cfg_zone *z = ex->zone->cfg;
	struct reqh_drops d = { 0 };

	reqh_filter_headers(&ex->req, z->pass_headers, z->n_pass_headers, &d);
	if (d.hop)
		counters_add(sh->lp.ctr, CTR_req_hop_dropped, d.hop);
	if (d.underscore)
		counters_add(sh->lp.ctr, CTR_req_underscore_dropped, d.underscore);
	if (d.unkeyed)
		counters_add(sh->lp.ctr, CTR_req_unkeyed_dropped, d.unkeyed);
}

void exchange_start(struct shard *sh, struct exchange *ex, uint32_t head_len)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	const struct http1_request *r = &ex->req;

	ex->head_len = head_len;
	ex->keep_alive = r->keep_alive && !sh->draining;
	COUNT(sh, requests);

	ex->rt = sh->rt;
	shard_rt_ref(sh, ex->rt);
	const struct cfg_zone *z = cfg_zone_by_host(ex->rt->cfg, r->host, r->host ? r->host_len : 0);
	if (!z) {
		COUNT(sh, no_zone);
		ex->keep_alive = ex->keep_alive && !r->chunked && r->content_length <= 0;
		exchange_send_local(sh, ex, 404, !ex->keep_alive);
		return;
	}
	ex->zone = rt_zone(ex->rt, z);
	if (r->method == HTTP1_CONNECT || r->method == HTTP1_TRACE) {
		exchange_send_local(sh, ex, 405, true);
		return;
	}
	if (!clean_path(sh, ex))
		return;
	filter_fields(sh, ex);
	if (!body_setup(sh, ex))
		return;
	if (ex->has_body && r->expect_continue) {
		struct iobuf_seg seg = { .ptr = continue_100, .len = sizeof(continue_100) - 1,
					 .kind = IOBUF_SEG_STATIC };
		iobuf_outq_push(ex->out, &seg);
		flush(sh, ex);
	}
	/* Also with a body: the lookup records the PASS (X-Cache, log). */
	if (ecache_lookup(sh, ex))
		return;                     /* a store read decides */
	origin_start(sh, ex);
}

/* ---- the end ------------------------------------------------------------- */

static void write_access_log(struct shard *sh, struct exchange *ex)
{
	char line[2048], ts[25];
	struct wbuf w;

	if (!log_access_enabled())
		return;
	log_format_time(ex->start_ms, ts);
	wbuf_init(&w, line, sizeof(line) - 1);
	wbuf_put(&w, ts, 24);
	wbuf_put(&w, " ", 1);
	if (ex->zone)
		wbuf_str(&w, ex->zone->cfg->name);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	if (ex->req.target) {
		wbuf_put(&w, ex->req.method_str, ex->req.method_len);
		wbuf_put(&w, " ", 1);
		/* Bounded: a long target is cut, the line stays one line. */
		size_t tl = ex->req.target_len < LIMIT_ACCESS_LOG_TARGET_BYTES ?
			    ex->req.target_len : LIMIT_ACCESS_LOG_TARGET_BYTES;
		wbuf_put(&w, ex->req.target, tl);
	} else {
		wbuf_put(&w, "- -", 3);
	}
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, ex->status);
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, ex->body_bytes_out);
	wbuf_put(&w, " ", 1);
	if (ex->origin_status)
		wbuf_u64(&w, ex->origin_status);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	wbuf_str(&w, ecache_xcache(ex));    /* what the X-Cache header said */
	wbuf_put(&w, " ", 1);
	wbuf_u64(&w, (loop_now_ns() - ex->start_ns) / 1000);
	wbuf_put(&w, " ", 1);
	/* The credential generation the origin request was signed with
	 * (the overlap retry's: the previous one); - when none was signed. */
	if (ex->creds_gen)
		wbuf_u64(&w, ex->creds_gen);
	else
		wbuf_put(&w, "-", 1);
	wbuf_put(&w, " ", 1);
	wbuf_hex64(&w, ex->reqid);
	if (w.overflow)
		w.len = sizeof(line) - 1;
	line[w.len++] = '\n';
	log_ring_push(&sh->lp.log_access, line, w.len);
}

void exchange_log(struct shard *sh, struct exchange *ex)
{
	count_status(sh, ex->status);
	write_access_log(sh, ex);
}

/* Every byte of the response is queued and, for HTTP/1, sent. */
static void finish(struct shard *sh, struct exchange *ex)
{
	if (ex->background) {
		exchange_close(sh, ex);     /* it was only for this refresh */
		return;
	}
	if (ex->h2) {
		/* All of an HTTP/2 response is queued: it ends when nghttp2 has
		 * taken the last byte and closes the stream (exchange_stream_closed). */
		flush(sh, ex);
		return;
	}
	if (ex->h2_sid) {
		exchange_log(sh, ex);
		exchange_close(sh, ex);
		return;
	}
	if (ex->conn && ex->conn->ex == ex)
		visitor_finish(sh, ex->conn);       /* logs it, then the next request */
	else
		exchange_close(sh, ex);
}

/* ---- HTTP/2 streams (net/h2.h; the ops are edge/visitor.c's) -------------- */

struct exchange *exchange_stream_new(struct shard *sh, struct h2conn *h, const char *peer_ip)
{
	/* Also while draining: the client stops opening streams once it has
	 * our GOAWAY notice (h2_drain); those already on their way are
	 * answered, not refused. After the final GOAWAY (h2_drain_final)
	 * nghttp2 itself ignores new ones. */
	char *in = iobuf_pool_get(&sh->pool);
	struct exchange *ex = in ? take(sh) : NULL;

	if (!ex) {
		if (in)
			iobuf_pool_put(&sh->pool, in);
		return NULL;
	}
	ex->h2 = h;
	ex->in = in;
	ex->out_moved_ms = sh->lp.now_ms;
	memcpy(ex->peer_ip, peer_ip, sizeof(ex->peer_ip));
	return ex;
}

void exchange_stream_start(struct shard *sh, struct exchange *ex, uint32_t head_len,
			   bool has_body)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	ex->in_len = head_len;
	ex->start_ms = sh->lp.unix_ms;
	ex->start_ns = loop_now_ns();
	int n = http1_parse_request(ex->in, head_len, &ex->req);
	if (n != (int)head_len) {
		exchange_reject(sh, ex, n < 0 ? n : -HTTP1_E_HEADER_NAME);
		return;
	}
	/* HTTP/2 frames the body itself: de-chunked like an HTTP/1.0
	 * visitor's, which is also who it may share a collapsed fetch with. */
	ex->req.version_minor = 0;
	if (has_body && ex->req.content_length < 0) {
		/* DATA frames become an upload of content-length bytes; a body
		 * of unknown length is not re-chunked (yet). */
		COUNT(sh, h2_bodies_refused);
		COUNT(sh, requests);
		exchange_send_local(sh, ex, 411, true);
		return;
	}
	exchange_start(sh, ex, head_len);
}

bool exchange_stream_body(struct shard *sh, struct exchange *ex, const char *p, size_t n)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->state != EX_BUSY || !ex->has_body || ex->body_done || !ex->oc || ex->resp_done)
		return true;                /* answered already: the rest is dropped */
	ssize_t k = exchange_body_take(sh, ex, p, n);
	if (k < 0) {
		exchange_body_failed(sh, ex, k);
		return false;
	}
	if (k == 0)
		return true;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		exchange_response_abort(sh, ex);
		return false;
	}
	memcpy(blk, p, (size_t)k);
	struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)k, .kind = IOBUF_SEG_HBUF,
				 .block = blk };
	ex->body_sent = true;
	if (!origin_request_body(sh, ex->oc, &seg, ex->body_done)) {
		exchange_response_abort(sh, ex);   /* more small DATA frames than segments */
		return false;
	}
	return true;
}

void exchange_stream_pulled(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	ex->out_moved_ms = sh->lp.now_ms;
	if (ex->state == EX_BUSY && ex->cache.large.on && !ex->resp_done)
		elarge_on_sent(sh, ex);
	/* That send empties the queue; a pull takes at most a frame, so the
	 * free segments are checked too (a de-chunked read makes one per
	 * chunk). */
	if (ex->state == EX_BUSY && ex->oc && exchange_room(ex) > LIMIT_STREAM_WINDOW_BYTES / 2)
		origin_visitor_drained(sh, ex->oc);
}

bool exchange_stream_upload_room(const struct exchange *ex)
{
	return !ex->oc || ex->state != EX_BUSY ||
	       exchange_upload_room(ex) >= LIMIT_STREAM_WINDOW_BYTES / 2;
}

void exchange_stream_closed(struct shard *sh, struct exchange *ex, bool complete)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (complete && ex->state == EX_BUSY)
		finish(sh, ex);             /* logged and counted, then closed */
	else
		exchange_close(sh, ex);
}

/* ---- responses from the origin ------------------------------------------ */

/* Is `name` one of the tokens of a Connection header value? */
static bool connection_lists(const struct http1_response *resp, const char *name, size_t len)
{
	return http1_fields_list(resp->headers, resp->n_headers, "connection", name, len);
}

/* conn_names: a Connection field lists more than keep-alive (asked once
 * per response, not once per field). */
static bool drop_response_header(const struct http1_response *resp,
				 const struct http1_header *h, bool conn_names)
{
	if (http1_is_hop_by_hop(h->name, h->name_len))
		return true;
	if (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0)
		return true;                /* we write the framing ourselves */
	if (h->name_len == 6 && strncasecmp(h->name, "server", 6) == 0)
		return true;
	return conn_names && connection_lists(resp, h->name, h->name_len);
}

/*
 * The status line and the origin's fields as this visitor gets them, final
 * or interim head alike: hop-by-hop and framing fields dropped, and a
 * targeted field (RFC 9213: addressed to us, not the visitor). True if a
 * Date was among them.
 */
static bool put_status_fields(struct wbuf *w, const struct exchange *ex,
			      const struct http1_response *resp)
{
	bool have_date = false;

	wbuf_str(w, "HTTP/1.1 ");
	wbuf_u64(w, resp->status);
	wbuf_put(w, " ", 1);
	if (resp->reason_len)
		wbuf_put(w, resp->reason, resp->reason_len);
	else
		wbuf_str(w, http1_reason(resp->status));
	wbuf_put(w, "\r\n", 2);
	/* Read once per head: does Connection name any field beyond the
	 * hop-by-hop ones we drop anyway? */
	bool conn_names = http1_fields_list_other(resp->headers, resp->n_headers, "connection",
						  "keep-alive");
	for (unsigned i = 0; i < resp->n_headers; i++) {
		const struct http1_header *h = &resp->headers[i];
		if (drop_response_header(resp, h, conn_names) ||
		    hcache_targeted_field(h, ex->zone->cfg->targeted_field))
			continue;
		/* A follower shares the leader's response only when it may be
		 * stored (set_cookie = strip): the cookie is the leader's. */
		if (ex->leader && h->name_len == 10 && strncasecmp(h->name, "set-cookie", 10) == 0)
			continue;
		if (h->name_len == 4 && strncasecmp(h->name, "date", 4) == 0)
			have_date = true;
		wbuf_header(w, h->name, h->name_len, h->value, h->value_len);
	}
	return have_date;
}

static enum exchange_resp_mode response_mode(struct exchange *ex,
					     const struct http1_response *resp)
{
	if (resp->no_body || ex->req.method == HTTP1_HEAD)
		return VR_NONE;
	if (resp->chunked)
		return ex->req.version_minor >= 1 ? VR_CHUNKED : VR_DECHUNK;
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
static void unshare_followers(struct shard *sh, struct exchange *ex,
			      const struct http1_response *resp)
{
	for (struct exchange *f = ex->followers, *n; f; f = n) {
		n = f->next_follower;
		int r = vary_shares(resp, &ex->req, &f->req);
		if (r == 1)
			continue;
		unlink_follower(f);
		COUNT(sh, cache_vary_unshared);
		if (r == 0)
			exchange_park(sh, f);
		else
			origin_start(sh, f);
	}
}

int exchange_response_head(struct shard *sh, struct exchange *ex,
			   const struct http1_response *resp)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	char *blk = iobuf_pool_get(&sh->pool);
	bool have_date = false;
	struct wbuf w;

	if (!blk) {
		COUNT(sh, buffers_exhausted);
		return -ENOBUFS;
	}
	if (ex->cache.large.fetching) {
		/* A chunk-aligned Range fetch of a large object. */
		int r = elarge_origin_head(sh, ex, resp);
		if (r != 0) {
			iobuf_pool_put(&sh->pool, blk);
			return r < 0 ? r : 0;
		}
	}
	/* Followers get the leader's head as it is sent: only the leader (or
	 * an exchange alone) asks the cache what the response means. */
	enum ecache_head ch = ex->leader ? ECACHE_HEAD_FORWARD : ecache_response_head(sh, ex, resp);
	if (ch == ECACHE_HEAD_STORED) {
		/* A 304 to our validators, or a 5xx within stale-if-error: the
		 * stored object answered; the origin's body is dropped. */
		iobuf_pool_put(&sh->pool, blk);
		ex->discard_origin_body = true;
		ex->keep_alive = ex->keep_alive && resp->keep_alive;
		return 0;
	}
	if (ch == ECACHE_HEAD_PASS)
		for (struct exchange *f = take_followers(ex), *n; f; f = n) {
			n = f->next_follower;
			f->next_follower = NULL;
			COUNT(sh, collapse_unshared);
			origin_start(sh, f);
		}
	ex->resp_mode = (uint8_t)response_mode(ex, resp);
	if (ex->resp_mode == VR_DECHUNK || ex->resp_mode == VR_CLOSE)
		ex->keep_alive = false;
	/* An early answer (the body is not all read): the rest of the body
	 * is not forwarded once the response ends, and rather than skip it
	 * to find the next request, the connection closes after this
	 * response, as nginx does (the linger drains what still comes). */
	if (!ex->body_done)
		ex->keep_alive = false;
	ex->status = resp->status;
	ex->origin_status = resp->status;

	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	have_date = put_status_fields(&w, ex, resp);
	if (!have_date)
		wbuf_header(&w, "Date", 4, sh->lp.date, 29);
	wbuf_str(&w, "Server: edgecache\r\nVia: 1.1 edgecache\r\nX-Cache: ");
	wbuf_str(&w, ecache_xcache(ex));
	wbuf_put(&w, "\r\n", 2);
	if (ex->resp_mode == VR_LENGTH ||
	    (resp->content_length >= 0 && (ex->req.method == HTTP1_HEAD || resp->status == 304))) {
		wbuf_str(&w, "Content-Length: ");
		wbuf_u64(&w, (uint64_t)resp->content_length);
		wbuf_put(&w, "\r\n", 2);
	} else if (ex->resp_mode == VR_CHUNKED) {
		wbuf_str(&w, "Transfer-Encoding: chunked\r\n");
	}
	if (!ex->keep_alive)
		wbuf_str(&w, "Connection: close\r\n");
	else if (ex->req.version_minor == 0)
		wbuf_str(&w, "Connection: keep-alive\r\n");
	wbuf_put(&w, "\r\n", 2);
	if (w.overflow) {
		iobuf_pool_put(&sh->pool, blk);
		return -ENOSPC;
	}
	if (!queue_block(sh, ex, blk, w.len))
		return -ENOBUFS;
	ex->head_queued = true;
	/* Not flushed here: body bytes from the same origin read join it in
	 * one sendmsg (the origin calls exchange_flush after each read). */
	if (ex->followers)
		unshare_followers(sh, ex, resp);
	for (struct exchange *f = ex->followers, *n; f; f = n) {
		n = f->next_follower;
		if (exchange_response_head(sh, f, resp) < 0)
			exchange_response_abort(sh, f);
	}
	return 0;
}

void exchange_response_interim(struct shard *sh, struct exchange *ex,
			       const struct http1_response *resp)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	/* 100: the edge answered Expect itself (origin.c drops the field), so
	 * the origin's is a stray; HTTP/1.0 has no 1xx (RFC 9110 15.2). */
	if (resp->status == 100 || ex->background || ex->head_queued || ex->state != EX_BUSY)
		return;
	if (ex->h2_sid ? !ex->h2 : (!ex->conn || ex->req.version_minor == 0))
		return;
	/* Not while an earlier one is still queued: the shard's head blocks
	 * are budgeted at two per exchange (edge/shard.c), and a hint that
	 * waits behind another is no earlier than the final head anyway. */
	if (!ex->h2_sid && ex->out->n > 0) {
		COUNT(sh, origin_interim_dropped);
		return;
	}
	/* The head as it goes to an HTTP/1.1 visitor; a stream gets it parsed
	 * back into fields, as the final head (one rule for what is dropped).
	 * The origin's head fit one block, so ours does (fields only dropped). */
	char *blk = iobuf_pool_get(&sh->pool);
	struct wbuf w;
	bool queued = false;
	if (blk) {
		wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
		put_status_fields(&w, ex, resp);
		wbuf_put(&w, "\r\n", 2);
	}
	if (!blk || w.overflow) {
		/* not queued */
	} else if (ex->h2_sid) {
		struct http1_response r2;
		queued = http1_parse_response(blk, w.len, false, &r2) == (int)w.len &&
			 h2_stream_interim(ex->h2, ex->h2_idx, ex, &r2);
	} else {
		queued = queue_block(sh, ex, blk, w.len);   /* takes blk, even failing */
		blk = NULL;
	}
	if (blk)
		iobuf_pool_put(&sh->pool, blk);     /* nghttp2 copied the fields */
	/* Sent by the origin's flush after its read (edge/origin.c on_data). */
	counters_add(sh->lp.ctr, queued ? CTR_origin_interim_forwarded : CTR_origin_interim_dropped, 1);
}

void exchange_flush(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	for (struct exchange *f = ex->followers; f; f = f->next_follower)
		flush(sh, f);
	flush(sh, ex);
}

bool exchange_queue_head_block(struct shard *sh, struct exchange *ex, char *blk, size_t len)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (!queue_block(sh, ex, blk, len)) {
		cut(sh, ex);
		return false;
	}
	ex->head_queued = true;
	return true;
}

/* The queue starts pinning provided buffers now: the stall clock of
 * visitor_reclaim / exchange_reclaim runs from here. */
static void mark_moved(struct shard *sh, struct exchange *ex)
{
	if (ex->conn && ex->out == &ex->conn->t.out)
		ex->conn->t.out_moved_ms = sh->lp.now_ms;
	else
		ex->out_moved_ms = sh->lp.now_ms;
}

/*
 * A small segment when the queue is nearly out of segments: copied into a
 * block of its own, which the next small ones join (iobuf_outq_coalesce).
 * A de-chunked body (HTTP/1.0 and HTTP/2 visitors) makes one segment per
 * chunk: a 64 KiB origin read of 1000-byte chunks is 65 of them.
 */
static bool copy_small(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	if (seg->len > IOBUF_COALESCE_BYTES || IOBUF_OUTQ_SEGS - ex->out->n > 8 ||
	    iobuf_outq_full(ex->out))
		return false;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk)
		return false;
	memcpy(blk, seg->ptr, seg->len);
	struct iobuf_seg copy = { .ptr = blk, .len = seg->len, .kind = IOBUF_SEG_HBUF, .block = blk };
	iobuf_outq_push(ex->out, &copy);
	iobuf_seg_release(seg, &sh->pool);
	return true;
}

bool exchange_response_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->background) {
		iobuf_seg_release(seg, &sh->pool);  /* the store fill copied it */
		return true;
	}
	if (ex->cache.large.fetching)
		return elarge_origin_body(sh, ex, seg);
	/* Followers get the same bytes first (their own reference each); one
	 * that cannot keep up is cut off, never slows the others. */
	for (struct exchange *f = ex->followers, *n; f; f = n) {
		n = f->next_follower;
		if (f->resp_mode == VR_NONE)
			continue;
		struct iobuf_seg copy = *seg;
		if (copy.kind != IOBUF_SEG_PBUF) {
			/* Only refcounted provided buffers can be shared. */
			exchange_response_abort(sh, f);
			continue;
		}
		iobuf_group_ref(copy.group, copy.bid);
		if (f->out->n_pbuf == 0)
			mark_moved(sh, f);
		if (!iobuf_outq_coalesce(f->out, &copy, &sh->pool) &&
		    !iobuf_outq_push(f->out, &copy)) {
			iobuf_seg_release(&copy, &sh->pool);
			exchange_response_abort(sh, f);
			continue;
		}
		f->body_bytes_out += copy.len;
	}
	if (ex->out->n_pbuf == 0)
		mark_moved(sh, ex);
	if (!iobuf_outq_coalesce(ex->out, seg, &sh->pool) && !copy_small(sh, ex, seg) &&
	    !iobuf_outq_push(ex->out, seg))
		return false;
	ex->body_bytes_out += seg->len;
	return true;
}

void exchange_response_end(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->cache.large.fetching) {
		elarge_origin_end(sh, ex);  /* more chunks may follow */
		return;
	}
	for (struct exchange *f = take_followers(ex), *n; f; f = n) {
		n = f->next_follower;
		f->next_follower = NULL;
		exchange_response_end(sh, f);
	}
	ex->resp_done = true;
	if (ex->oc) {
		origin_detach(sh, ex->oc);
		ex->oc = NULL;
	}
	if (ex->out->n == 0 && !ex->out->in_flight)
		finish(sh, ex);
	else
		flush(sh, ex);
}

void exchange_response_fail(struct shard *sh, struct exchange *ex, int status)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->head_queued && ex->cache.large.on) {
		/* A large object's later fetch failed: only a close ends it. */
		exchange_response_abort(sh, ex);
		return;
	}
	for (struct exchange *f = take_followers(ex), *n; f; f = n) {
		n = f->next_follower;
		f->next_follower = NULL;
		exchange_response_fail(sh, f, status);
	}
	ex->oc = NULL;
	if (status >= 500 && ecache_fail_stale(sh, ex))
		return;                     /* a stale copy, where stale-if-error allows */
	/* An unread request body would be taken for the next request. */
	exchange_send_local(sh, ex, status, !ex->body_done);
}

void exchange_response_abort(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->state != EX_BUSY)
		return;
	ex->status = ex->status ? ex->status : 502;
	if (!ex->background)                /* no visitor asked for it */
		exchange_log(sh, ex);
	cut(sh, ex);
}

int64_t exchange_room(const struct exchange *ex)
{
	/* Its share of the origin's (or plaintext) buffers: a recv of a few
	 * bytes pins a whole buffer, so bytes alone do not bound it. */
	if (IOBUF_OUTQ_SEGS - ex->out->n < IOBUF_OUTQ_SEGS / 2 ||
	    ex->out->n_pbuf >= LIMIT_RECV_SHARE_BUFS || elarge_paused(ex))
		return 0;
	return (int64_t)LIMIT_STREAM_WINDOW_BYTES - (int64_t)ex->out->bytes;
}

void exchange_origin_drained(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	if (ex->h2)
		h2_stream_drained(ex->h2, ex->h2_idx, ex);  /* the peer may send more DATA */
	else if (ex->conn && ex->state == EX_BUSY)
		visitor_read_on(sh, ex->conn);
}
