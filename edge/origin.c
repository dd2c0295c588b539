/*
 * edge/origin.c — the origin pipeline (see origin.h); the transport is
 * net/origin_client.c.
 *
 * Receives are single-shot (oclient_recv), armed here only while the
 * visitor has room: that is the backpressure that bounds a response in
 * flight to about LIMIT_STREAM_WINDOW_BYTES, whatever the object size.
 * Body bytes are not copied: the visitor's send queue points into the
 * provided buffers.
 */
#include "edge/origin.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

#include "core/config.h"
#include "core/loop.h"
#include "edge/shard.h"
#include "edge/edge_cache.h"
#include "cache/http_cache.h"
#include "sigv4/s3_error.h"
#include "net/req_hygiene.h"
#include "sigv4/s3_path.h"
#include "edge/origin_request.h"
#include "edge/visitor.h"
#include "sigv4/sigv4.h"
#include "net/wbuf.h"

static void oc_close(struct shard *sh, struct origin_conn *oc);
static void try_origin(struct shard *sh, struct exchange *ex, bool allow_pool);

/* ---- slots and pools ----------------------------------------------------- */

/* The shard's ring, ops, buffer groups and head pool, as the transport
 * (net/origin_client.h) takes them; filled at the first connection. */
static const struct oclient_env *oenv(struct shard *sh)
{
	struct oclient_env *e = &sh->oenv;

	if (!e->lp) {
		*e = (struct oclient_env){
			.lp = &sh->lp, .op_recv = OP_ORECV, .op_send = OP_OSEND,
			.op_connect = OP_OCONNECT, .op_linkto = OP_OLINKTO, .op_close = OP_OCLOSE,
			.recv_group = shard_group(sh, SHARD_GROUP_ORIGIN),
			.plain_group = shard_group(sh, SHARD_GROUP_PLAIN), .pool = &sh->pool,
		};
	}
	return e;
}

static struct origin_conn *oc_alloc(struct shard *sh)
{
	struct origin_conn *oc = shard_oconn_take(sh);
	if (!oc)
		return NULL;
	sh->oconns_used++;
	uint32_t gen = oc->gen, idx = oc->idx;
	memset(oc, 0, offsetof(struct origin_conn, cl));
	oc->magic = OCONN_MAGIC;
	oc->gen = gen;
	oc->idx = idx;
	oclient_init(&oc->cl, oenv(sh), idx, gen);
	return oc;
}

static void oc_free_slot(struct shard *sh, struct origin_conn *oc)
{
	if (oc->s3_body) {
		iobuf_pool_put(&sh->pool, oc->s3_body);
		oc->s3_body = NULL;
	}
	oc->s3_status = 0;
	oclient_release(&oc->cl);
	oc->state = OC_FREE;
	oc->gen++;
	oc->next = sh->ofree;
	sh->ofree = oc;
	sh->oconns_used--;
}

static void oc_maybe_free(struct shard *sh, struct origin_conn *oc)
{
	if (oc->state == OC_CLOSING && oc->cl.ops == 0)
		oc_free_slot(sh, oc);
}

static struct rt_origin_shard *oshard(struct shard *sh, const struct rt_origin *o)
{
	return shard_origin(sh, o);
}

static void idle_remove(struct shard *sh, struct origin_conn *oc)
{
	struct rt_origin_shard *os = oshard(sh, oc->origin);
	if (oc->prev)
		oc->prev->next = oc->next;
	else
		os->idle = oc->next;
	if (oc->next)
		oc->next->prev = oc->prev;
	oc->next = oc->prev = NULL;
	os->n_idle--;
}

static struct origin_conn *idle_pop(struct shard *sh, const struct rt_origin *o)
{
	struct origin_conn *oc = oshard(sh, o)->idle;
	if (oc)
		idle_remove(sh, oc);
	return oc;
}

static void submit_recv(struct shard *sh, struct origin_conn *oc)
{
	oclient_recv(&oc->cl);
	if (oc->ex && oc->state == OC_BUSY) {
		oc->recv_counted = true;
		sh->orecv_armed++;
	}
}

/*
 * The ring is low (shard_bufs_low; docs/ARCHITECTURE.md "Receive
 * buffers"): an exchange whose visitor pins buffers waits for the tick,
 * when stalled holders are reclaimed; one that pins none reads now if a
 * buffer is there for every read armed and nobody waits before it, else
 * takes its turn in the FIFO. True when it must not arm now.
 */
static bool wait_turn(struct shard *sh, struct origin_conn *oc)
{
	const struct iobuf_group *g = shard_group(sh, SHARD_GROUP_ORIGIN);

	if (!oc->ex || oc->state != OC_BUSY || !shard_bufs_low(sh))
		return false;
	if (oc->ex->out->n_pbuf == 0 && sh->owait_n == 0 &&
	    iobuf_group_avail(g) > sh->orecv_armed)
		return false;
	COUNT(sh, recv_share_paused);
	if (oc->ex->out->n_pbuf > 0 || sh->owait_n == sh->owait_cap) {
		oc->recv_starved = true;
		sh->starved = true;
		return true;
	}
	sh->owait[(sh->owait_head + sh->owait_n++) % sh->owait_cap] =
		(uint64_t)oc->idx << 32 | oc->gen;
	oc->recv_waiting = true;
	return true;
}

static void arm_recv(struct shard *sh, struct origin_conn *oc)
{
	if (oc->cl.recv_armed || oc->recv_starved || oc->recv_waiting || oc->state == OC_CLOSING)
		return;
	if (!wait_turn(sh, oc))
		submit_recv(sh, oc);
}

void origin_serve_waiting(struct shard *sh)
{
	const struct iobuf_group *g = shard_group(sh, SHARD_GROUP_ORIGIN);

	while (sh->owait_n > 0) {
		if (shard_bufs_low(sh) && iobuf_group_avail(g) <= sh->orecv_armed)
			return;
		uint64_t e = sh->owait[sh->owait_head];
		sh->owait_head = (sh->owait_head + 1) % sh->owait_cap;
		sh->owait_n--;
		struct origin_conn *oc = &sh->oconns[e >> 32];
		if (oc->gen != (uint32_t)e || !oc->recv_waiting)
			continue;               /* closed since it queued */
		oc->recv_waiting = false;
		if (oc->cl.recv_armed)
			continue;
		if (oc->state == OC_IDLE ||  /* pooled meanwhile: watch it close */
		    (oc->state == OC_BUSY && oc->ex &&
		     (!oc->cl.rd.head_done || exchange_room(oc->ex) > 0)))
			submit_recv(sh, oc);
	}
}

/* Request bytes go out only while the connection serves a request (a
 * pooled TLS connection's own output waits for the next one). */
static void flush(struct origin_conn *oc)
{
	if (oc->state == OC_BUSY)
		oclient_flush(&oc->cl);
}

/* A finished exchange: keep the connection for the next request. */
static void pool_put(struct shard *sh, struct origin_conn *oc)
{
	struct rt_origin_shard *os = oshard(sh, oc->origin);

	oclient_request_done(&oc->cl);
	enum oclient_reuse reuse = oclient_reuse(&oc->cl.rd, oclient_request_sent(&oc->cl),
						 oc->body_unsafe);
	if (reuse == OCLIENT_REUSE_DESYNC) {
		/* The origin answered before it had the whole request, or the
		 * body was one origins may ignore (net/origin_client.h). */
		COUNT(sh, origin_conns_not_reused);
		oc_close(sh, oc);
		return;
	}
	/* A connection of an older snapshot is not pooled: the shard is
	 * letting go of that snapshot. */
	if (reuse != OCLIENT_REUSE || os->n_idle >= sh->scfg->origin_pool ||
	    sh->draining || oc->rt != sh->rt) {
		oc_close(sh, oc);
		return;
	}
	oc->state = OC_IDLE;
	oc->ex = NULL;
	oc->next = os->idle;
	oc->prev = NULL;
	if (os->idle)
		os->idle->prev = oc;
	os->idle = oc;
	os->n_idle++;
	/* An armed recv on an idle connection notices the origin closing it. */
	arm_recv(sh, oc);
}

static void oc_close(struct shard *sh, struct origin_conn *oc)
{
	if (oc->state == OC_CLOSING || oc->state == OC_FREE)
		return;
	if (oc->state == OC_IDLE)
		idle_remove(sh, oc);
	oc->state = OC_CLOSING;
	oc->ex = NULL;
	oclient_close(&oc->cl);
	oc_maybe_free(sh, oc);
}

/* ---- the request ---------------------------------------------------------- */

static bool drop_request_header(const struct http1_header *h, bool s3)
{
	if (http1_is_hop_by_hop(h->name, h->name_len))
		return true;
	/* S3: the visitor's credentials and x-amz-* headers never reach the
	 * bucket; the edge's signature is the only authority. */
	if (s3 && ((h->name_len >= 6 && strncasecmp(h->name, "x-amz-", 6) == 0) ||
		   (h->name_len == 13 && strncasecmp(h->name, "authorization", 13) == 0)))
		return true;
	switch (h->name_len) {
	case 4:
		return strncasecmp(h->name, "host", 4) == 0;
	case 6:
		return strncasecmp(h->name, "expect", 6) == 0;
	case 14:
		return strncasecmp(h->name, "content-length", 14) == 0;
	case 15:
		return strncasecmp(h->name, "x-forwarded-for", 15) == 0;
	default:
		return false;
	}
}

/* The visitor's headers we pass on, then ours, then the blank line. */
static void write_forwarded_headers(struct wbuf *w, const struct exchange *ex, bool s3)
{
	const struct http1_request *r = &ex->req;
	const struct http1_header *xff = NULL;

	for (unsigned i = 0; i < r->n_headers; i++) {
		const struct http1_header *h = &r->headers[i];
		if (h->name_len == 15 && strncasecmp(h->name, "x-forwarded-for", 15) == 0)
			xff = h;
		if (!drop_request_header(h, s3) && !ecache_drops_request_header(ex, h))
			wbuf_header(w, h->name, h->name_len, h->value, h->value_len);
	}
	ecache_origin_headers(ex, w);
	wbuf_str(w, "X-Forwarded-For: ");
	if (xff) {
		wbuf_put(w, xff->value, xff->value_len);
		wbuf_put(w, ", ", 2);
	}
	wbuf_str(w, ex->peer_ip[0] ? ex->peer_ip : "unknown");
	wbuf_str(w, "\r\nVia: 1.1 edgecache\r\n");
	if (ex->body_chunked) {
		wbuf_str(w, "Transfer-Encoding: chunked\r\n");
	} else if (ex->has_body) {
		wbuf_str(w, "Content-Length: ");
		wbuf_u64(w, (uint64_t)r->content_length);
		wbuf_put(w, "\r\n", 2);
	}
	wbuf_put(w, "\r\n", 2);
}

/* Our clock as signing sees it (the test hook skews it; the learned
 * offset is added by the writer). */
static time_t signing_clock(const struct shard *sh)
{
	return (time_t)((int64_t)(sh->lp.unix_ms / 1000) + sh->test_clock_skew_s);
}

/*
 * The credentials ex's request is signed with, from c, o's object as
 * loaded in this completion handler (never kept: core/runtime.h): the
 * current set, or for the overlap retry the previous one. *gen gets its
 * generation. NULL for a plain origin (c NULL).
 */
static const struct sigv4_creds *signing_creds(const struct exchange *ex,
					       const struct origin_creds *c, uint64_t *gen,
					       bool *prev)
{
	*gen = 0;
	*prev = false;
	if (!c)
		return NULL;
	assert(c->magic == ORIGIN_CREDS_MAGIC);
	if (ex->prev_creds && c->has_prev) {
		*gen = c->prev_gen;
		*prev = true;
		return &c->prev;
	}
	*gen = c->gen;
	return &c->cur;
}

/* The request is signed: count the signature for its credential
 * generation (GET /metrics), on the object c that signed it. */
static void count_signature(struct shard *sh, const struct origin_creds *c, bool prev)
{
	/* per-shard words of an immutable object: this shard's alone */
	_Atomic uint64_t *n = prev ? (_Atomic uint64_t *)&c->per_shard[sh->id].signed_prev :
			      (_Atomic uint64_t *)&c->per_shard[sh->id].signed_cur;

	atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Build the origin request head for ex's request into a block: the head
 * from edge/origin_request.h (the one writer the admin probe and
 * check-origin share), then the forwarded headers. Returns 0, -ENOBUFS
 * (no block), -ENOSPC (too long), -EINVAL (bad path). */
static int build_request(struct shard *sh, struct exchange *ex, const struct rt_origin *o,
			 char **out, size_t *out_len)
{
	char *blk = iobuf_pool_get(&sh->pool);
	struct oreq_result res;
	struct oreq q;
	struct wbuf w;
	uint64_t gen;
	bool prev;
	int rc;

	if (!blk)
		return -ENOBUFS;
	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	/* The visitor's path stays under base_path: the exchange removed or
	 * refused its dot segments (net/req_hygiene.h). */
	assert(reqh_path_clean(ex->req.path, ex->req.path_len));
	const struct origin_creds *c = rt_creds(o);      /* this handler only */
	const struct sigv4_creds *creds = signing_creds(ex, c, &gen, &prev);
	oreq_for_visitor(o, creds, &ex->req, signing_clock(sh), &q);
	rc = oreq_write(&q, &w, NULL, &res);
	if (rc == 0)
		write_forwarded_headers(&w, ex, creds != NULL);
	if (rc == 0 && w.overflow)
		rc = -ENOSPC;
	if (rc < 0) {
		iobuf_pool_put(&sh->pool, blk);
		return rc;
	}
	/* the access log's generation; a failover to a plain origin signs nothing */
	ex->creds_gen = gen;
	if (res.signed_s3) {
		COUNT(sh, s3_signed);
		if (res.key_derived)
			COUNT(sh, s3_key_derived);
		count_signature(sh, c, prev);
	}
	*out = blk;
	*out_len = w.len;
	return 0;
}

/* ---- choosing an origin --------------------------------------------------- */

/* The first origin at or after `from` not in back-off; if all are, `from`
 * itself (a recovered origin must be found again). -1 past the end. */
static int pick_origin(struct shard *sh, const struct rt_zone_state *z, uint32_t from)
{
	for (uint32_t i = from; i < z->n_origins; i++)
		if (oshard(sh, z->origins[i])->backoff_until_ms <= sh->lp.now_ms)
			return (int)i;
	return from < z->n_origins ? (int)from : -1;
}

static void fail_visitor(struct shard *sh, struct exchange *ex, int status)
{
	if (ex->oc) {
		struct origin_conn *oc = ex->oc;
		ex->oc = NULL;
		oc->ex = NULL;
		oc_close(sh, oc);
	}
	exchange_response_fail(sh, ex, status);
}

/* Connecting to the current origin failed: back it off, try the next. */
static void failover(struct shard *sh, struct exchange *ex)
{
	const struct rt_origin *o = ex->zone->origins[ex->attempt];

	oshard(sh, o)->backoff_until_ms = sh->lp.now_ms + sh->scfg->origin_backoff_ms;
	log_warn("zone %s: origin %s (%s) unreachable, backing off %u ms",
		 ex->zone->cfg->name, o->cfg->name, o->cfg->url, sh->scfg->origin_backoff_ms);
	if (ex->oc) {
		struct origin_conn *oc = ex->oc;
		ex->oc = NULL;
		oc->ex = NULL;
		oc_close(sh, oc);
	}
	/* A body already read from the visitor cannot be replayed. */
	int next = ex->body_sent ? -1 : pick_origin(sh, ex->zone, ex->attempt + 1);
	if (next < 0 || ex->tries >= ex->zone->n_origins) {
		COUNT(sh, origin_unavailable);
		exchange_response_fail(sh, ex, 503);
		return;
	}
	COUNT(sh, origin_failovers);
	ex->attempt = (uint32_t)next;
	try_origin(sh, ex, true);
}

/* A new connection to o: its address from the snapshot (resolved by the
 * control thread), https when o has a TLS context. 0 or -errno. */
static int open_connection(struct shard *sh, struct origin_conn *oc, const struct rt_origin *o)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	(void)sh;
	if (!rt_origin_addr(o, &ss, &sl))
		return -EHOSTUNREACH;
	int err = oclient_connect(&oc->cl, &ss, sl, o->cfg->connect_timeout_ms,
				  o->cfg->read_timeout_ms, o->tls, o->cfg->host);
	if (err == 0)
		oc->state = OC_CONNECTING;
	return err;
}

static void try_origin(struct shard *sh, struct exchange *ex, bool allow_pool)
{
	const struct rt_origin *o = ex->zone->origins[ex->attempt];
	char *blk;
	size_t len;

	ex->tries++;
	if (o->cfg->s3_auth_enabled && ex->req.method != HTTP1_GET &&
	    ex->req.method != HTTP1_HEAD) {
		/* The seed: S3 origins take GET and HEAD only. */
		exchange_response_fail(sh, ex, 405);
		return;
	}
	struct origin_conn *oc = allow_pool ? idle_pop(sh, o) : NULL;
	if (oc) {
		COUNT(sh, origin_reuses);
		oc->reused = true;
		oc->state = OC_BUSY;
	} else {
		oc = oc_alloc(sh);
		if (!oc) {
			COUNT(sh, buffers_exhausted);
			exchange_response_fail(sh, ex, 503);
			return;
		}
		oc->origin = o;
		oc->rt = ex->rt;
		int err = open_connection(sh, oc, o);
		if (err < 0) {
			COUNT(sh, origin_connect_failures);
			oc->state = OC_CLOSING;
			oc_maybe_free(sh, oc);
			failover(sh, ex);
			return;
		}
	}
	oc->ex = ex;
	oc->body_unsafe = ex->has_body && oclient_method_ignores_body(ex->req.method);
	ex->oc = oc;
	int rc = build_request(sh, ex, o, &blk, &len);
	if (rc < 0) {
		if (rc == -EINVAL)
			COUNT(sh, bad_path);
		fail_visitor(sh, ex, rc == -EINVAL ? 400 : rc == -ENOSPC ? 414 : 503);
		return;
	}
	struct iobuf_seg seg = { .ptr = blk, .len = (uint32_t)len,
				 .kind = IOBUF_SEG_HBUF, .block = blk };
	oclient_request_start(&oc->cl, &seg, ex->req.method == HTTP1_HEAD,
			      ex->req.version_minor == 0, !ex->body_done);
	if (oc->state == OC_BUSY)
		arm_recv(sh, oc);
}

void origin_start(struct shard *sh, struct exchange *ex)
{
	assert(ex->magic == EXCHANGE_MAGIC);
	int first = pick_origin(sh, ex->zone, 0);
	if (first < 0) {
		exchange_response_fail(sh, ex, 503);
		return;
	}
	ex->attempt = (uint32_t)first;
	try_origin(sh, ex, true);
}

bool origin_request_body(struct shard *sh, struct origin_conn *oc,
			 const struct iobuf_seg *seg, bool last)
{
	assert(oc->magic == OCONN_MAGIC);
	(void)sh;
	return oclient_request_body(&oc->cl, seg, last);
}

uint64_t origin_request_queued(const struct origin_conn *oc)
{
	return oc->cl.out.bytes;
}

/* ---- the response ---------------------------------------------------------- */

/* ---- S3 origin errors ------------------------------------------------------- */

/* An S3 origin answered an error: keep its first bytes (the XML document)
 * and the clock difference its Date shows. A conditional request's answer
 * (304, 412) is no error: resp_head counts it and never calls this. */
static void s3_error_begin(struct shard *sh, struct origin_conn *oc,
			   const struct http1_response *resp)
{
	if (!oc->origin->cfg->s3_auth_enabled || resp->status < 300 || oc->cl.rd.head_request)
		return;
	oc->s3_status = resp->status;
	oc->s3_body_len = 0;
	oc->s3_skew_s = 0;
	oc->s3_date_offset_s = 0;
	oc->s3_has_date = false;
	/* Our clock (with the test hook), and the one we sign with. */
	int64_t ours = (int64_t)signing_clock(sh);
	int64_t signing_now = ours + atomic_load_explicit(&oc->origin->clock_offset_s,
							  memory_order_relaxed);
	const struct http1_header *d = http1_find_header(resp->headers, resp->n_headers, "date");
	int64_t t;
	if (d && hcache_parse_date(d->value, d->value_len, signing_now, &t) == 0) {
		oc->s3_has_date = true;
		oc->s3_skew_s = t - signing_now;
		oc->s3_date_offset_s = t - ours;
	}
	if (!oc->s3_body)
		oc->s3_body = iobuf_pool_get(&sh->pool);
	/* The token of the set that signed (by generation: the object may be
	 * replaced before the body has come). */
	oc->s3_gen = oc->ex->creds_gen;
	const struct sigv4_creds *set = rt_creds_of_gen(rt_creds(oc->origin), oc->s3_gen);
	oc->s3_mask_lost = !set;
	s3err_mask_init(&oc->s3_mask, set ? set->session_token : NULL);
}

/* Body bytes of an S3 error: the session token masked in place (the
 * bytes are ours until sent), the first ones kept for s3_error_end. */
static void s3_error_body(struct shard *sh, struct origin_conn *oc, const char *p, size_t n)
{
	if (!oc->s3_status)
		return;
	/* The masker's token pointer is taken again from the object loaded in
	 * this handler: one from an earlier turn may have been freed. When no
	 * object carries that generation any more (two swaps during one error
	 * body), the token cannot be matched: the whole piece is masked. */
	const struct sigv4_creds *set = rt_creds_of_gen(rt_creds(oc->origin), oc->s3_gen);
	if (set && !oc->s3_mask_lost) {
		oc->s3_mask.secret = set->session_token;
		s3err_mask(&oc->s3_mask, (char *)p, n);
	} else if (oc->s3_mask_lost || oc->s3_mask.len) {
		memset((char *)p, '*', n);
		COUNT_N(sh, s3_body_bytes_masked_whole, n);
	}
	if (!oc->s3_body)
		return;
	size_t room = IOBUF_HBUF_BYTES - oc->s3_body_len;
	n = n < room ? n : room;
	memcpy(oc->s3_body + oc->s3_body_len, p, n);
	oc->s3_body_len += (uint32_t)n;
}

/* The error response ended: count it by <Code>, log it (once per 10 s per
 * Code and shard) in check-origin's words, learn a clock offset. */
static void s3_error_end(struct shard *sh, struct origin_conn *oc)
{
	struct s3err_result res;

	if (!oc->s3_status)
		return;
	s3err_parse(oc->s3_status, NULL, 0, oc->s3_body, oc->s3_body_len, oc->s3_skew_s, &res);
	oc->s3_status = 0;
	COUNT_IN(sh, s3err_counters, res.code);
	struct rt_origin *o = (struct rt_origin *)oc->origin;
	if (res.code == S3ERR_CODE_REQUEST_TIME_TOO_SKEWED && oc->s3_has_date) {
		/* Absolute: the origin's Date minus our clock, never a sum.
		 * Answers to requests signed before the offset was learned
		 * carry the same offset read at whole-second Dates, so a
		 * second apart: within LIMIT_CLOCK_OFFSET_SLACK_S it is the
		 * offset already held, not a new one to store, count and log. */
		int64_t off = oc->s3_date_offset_s;
		int64_t was = atomic_load(&o->clock_offset_s);
		bool learned = false;
		while (!learned && llabs(was - off) > LIMIT_CLOCK_OFFSET_SLACK_S)
			learned = atomic_compare_exchange_weak(&o->clock_offset_s, &was, off);
		if (learned) {
			COUNT(sh, s3_clock_offset_learned);
			log_warn("zone %s: origin %s: RequestTimeTooSkewed: our clock is %lld s "
				 "off the origin's Date; signing with that offset from now on",
				 o->zone->name, o->cfg->name, (long long)-off);
		}
	}
	if (sh->lp.now_ms - sh->s3err_logged_ms[res.code] < LIMIT_S3ERR_LOG_INTERVAL_MS &&
	    sh->s3err_logged_ms[res.code] != 0)
		return;
	sh->s3err_logged_ms[res.code] = sh->lp.now_ms;
	const struct s3err_advice *a = s3err_advice(res.verdict);
	log_warn("zone %s: origin %s: %u %s: %s %s", o->zone->name, o->cfg->name,
		 res.status, s3err_code_name(res.code), a ? a->meaning : "",
		 a ? a->fix : "");
}

/* The whole response is read: hand the connection back, then tell the
 * visitor (which may start its next pipelined request at once). */
static void response_complete(struct shard *sh, struct origin_conn *oc)
{
	struct exchange *ex = oc->ex;

	s3_error_end(sh, oc);
	oc->ex = NULL;
	ex->oc = NULL;
	pool_put(sh, oc);
	ecache_fill_end(sh, ex, true);
	exchange_response_end(sh, ex);
}

static void abort_exchange(struct shard *sh, struct origin_conn *oc, int status)
{
	struct exchange *ex = oc->ex;

	oc->ex = NULL;
	ex->oc = NULL;
	oc_close(sh, oc);
	ecache_fill_end(sh, ex, false);
	if (ex->head_queued) {
		COUNT(sh, origin_truncated);
		exchange_response_abort(sh, ex);
	} else {
		exchange_response_fail(sh, ex, status);
	}
}

/*
 * Within credential_overlap_ms of a change of this origin's credentials,
 * a 400 or 403 (SignatureDoesNotMatch, InvalidAccessKeyId, ExpiredToken:
 * the Code is in a body not read yet, and another 4xx is only retried
 * once) to a request signed with the current set is dropped before the
 * visitor sees it, and the request is sent again, once, signed with the
 * previous set. The credentials object is loaded here and the retry is
 * signed in this same handler (try_origin → build_request), so no
 * pointer to it outlives the loop turn. True if it was retried.
 */
static bool overlap_retry(struct shard *sh, struct origin_conn *oc, uint16_t status)
{
	struct exchange *ex = oc->ex;
	const struct origin_creds *c = rt_creds(oc->origin);

	if ((status != 400 && status != 403) || !c || !c->has_prev || ex->prev_creds ||
	    ex->creds_gen != c->gen || sh->lp.now_ms >= c->prev_until_ms || ex->body_sent)
		return false;
	COUNT(sh, s3_overlap_retries);
	ex->prev_creds = true;
	oc->ex = NULL;
	ex->oc = NULL;
	oc_close(sh, oc);        /* the answer is not read: the connection goes */
	ex->tries--;
	try_origin(sh, ex, true);
	return true;
}

/* One oclient_read call's context. */
struct resp_call {
	struct shard *sh;
	struct origin_conn *oc;
};

/* An interim head (103 Early Hints): to the visitor, which decides
 * whether it goes on (exchange_response_interim). */
static bool resp_interim(void *user, const struct http1_response *resp)
{
	struct resp_call *c = user;

	exchange_response_interim(c->sh, c->oc->ex, resp);
	return c->oc->ex != NULL;   /* never sends here, but stay safe if it went */
}

/* The final head: the overlap retry, or on to the visitor (which asks the
 * cache). */
static bool resp_head(void *user, const struct http1_response *resp)
{
	struct resp_call *c = user;
	struct origin_conn *oc = c->oc;

	if (overlap_retry(c->sh, oc, resp->status))
		return false;
	/* An early answer: passed on, and the upload may go on while the
	 * response streams (an origin may read and answer at once), but
	 * pool_put closes the connection unless the request was all sent by
	 * the time the response ends. */
	if (!oclient_request_sent(&oc->cl))
		COUNT(c->sh, origin_early_responses);
	/* A conditional request's answer — 304 Not Modified, 412 Precondition
	 * Failed — is no error, from any origin: the object is (not) as its
	 * validators say. Counted as such, never as an S3 error nor logged as
	 * a refusal (a soak counted 4,198 revalidations as `s3_error_`). */
	if (resp->status == 304)
		COUNT(c->sh, origin_not_modified);
	else if (resp->status == 412)
		COUNT(c->sh, origin_precondition_failed);
	else
		s3_error_begin(c->sh, oc, resp);
	if (exchange_response_head(c->sh, oc->ex, resp) < 0) {
		abort_exchange(c->sh, oc, 502);
		return false;
	}
	return true;
}

/* Content bytes: an S3 error body is masked in place and its first bytes
 * kept (s3_error_body). */
static void resp_data(void *user, char *p, size_t n)
{
	struct resp_call *c = user;

	s3_error_body(c->sh, c->oc, p, n);
}

/* Body bytes to the visitor (and the cache fill), as they came: with a
 * chunked body passed through, its framing too. Not copied: the
 * visitor's send queue holds a reference to the buffer. */
static bool resp_body(void *user, struct iobuf_group *g, uint16_t bid, const char *p,
		      size_t n)
{
	struct resp_call *c = user;
	struct origin_conn *oc = c->oc;

	if (oc->ex->discard_origin_body)
		return true;                /* answered from the cache instead */
	iobuf_group_ref(g, bid);
	struct iobuf_seg seg = { .ptr = p, .len = (uint32_t)n, .kind = IOBUF_SEG_PBUF,
				 .bid = bid, .group = g };
	/* The fill first, while our reference is sure to be alive: it may
	 * take one of its own (a large object's chunk the store cannot take
	 * yet); a background exchange's visitor path lets go of ours. */
	if (oc->ex->cache.filling)
		ecache_fill_body(c->sh, oc->ex, &seg);
	if (!exchange_response_body(c->sh, oc->ex, &seg)) {
		iobuf_group_unref(g, bid);
		abort_exchange(c->sh, oc, 502);
		return false;
	}
	return true;
}

static void resp_end(void *user)
{
	struct resp_call *c = user;

	response_complete(c->sh, c->oc);
}

static void resp_error(void *user, enum oclient_error err)
{
	struct resp_call *c = user;

	switch (err) {
	case OCLIENT_E_NOBUFS:
		COUNT(c->sh, buffers_exhausted);
		abort_exchange(c->sh, c->oc, 503);
		return;
	case OCLIENT_E_TRUNCATED:
		abort_exchange(c->sh, c->oc, 502);
		return;
	case OCLIENT_E_CLOSED:
		/* Accepted and closed, closed mid-head, reset: an origin error
		 * like a 5xx (stale where stale-if-error allows), not a head
		 * that did not parse. */
		COUNT(c->sh, origin_closed_before_head);
		abort_exchange(c->sh, c->oc, 502);
		return;
	case OCLIENT_E_INTERIM:
		COUNT(c->sh, origin_interim_excess);
		abort_exchange(c->sh, c->oc, 502);
		return;
	default:
		COUNT(c->sh, origin_bad_response);
		abort_exchange(c->sh, c->oc, 502);
		return;
	}
}

static const struct oclient_ops resp_ops = {
	.on_interim = resp_interim,
	.on_head = resp_head,
	.on_data = resp_data,
	.on_body = resp_body,
	.on_end = resp_end,
	.on_error = resp_error,
};

/* Response bytes, in buffer bid of g (the bytes are ours until sent). */
static void on_data(struct shard *sh, struct origin_conn *oc, const char *p, size_t len,
		    struct iobuf_group *g, uint16_t bid)
{
	struct resp_call c = { .sh = sh, .oc = oc };

	/* Sent once the read is done, never from inside it: a send can close
	 * the visitor (TLS), and with it the exchange the reader reports to. */
	if (oclient_read(&oc->cl.rd, (char *)p, len, g, bid, &resp_ops, &c) == OCLIENT_MORE &&
	    oc->ex && (oc->cl.rd.head_done || oc->cl.rd.interim_n))
		exchange_flush(sh, oc->ex);
}

/* EOF or an error on a busy connection. */
static void on_eof(struct shard *sh, struct origin_conn *oc, int res)
{
	struct exchange *ex = oc->ex;
	struct resp_call c = { .sh = sh, .oc = oc };

	if (!oc->cl.rd.got_bytes && oc->reused && !ex->retried && !ex->body_sent &&
	    oclient_method_idempotent(ex->req.method)) {
		/* The origin closed a pooled connection as we reused it (its
		 * keep-alive timeout): maybe before it read our request, maybe
		 * after it acted on it, so only an idempotent one goes again
		 * (RFC 9110 9.2.2: a proxy never retries the others). */
		COUNT(sh, origin_retries);
		ex->retried = true;
		oc->ex = NULL;
		ex->oc = NULL;
		oc_close(sh, oc);
		ex->tries--;
		try_origin(sh, ex, false);
		return;
	}
	oclient_read_eof(&oc->cl.rd, res == 0, &resp_ops, &c);
}

/* https: the handshake failed (verification, protocol; counted by the
 * client): never an unverified fetch; the origin counts as unreachable. */
static void tls_failed(struct shard *sh, struct origin_conn *oc)
{
	log_warn("zone %s: origin %s (%s): TLS: %s", oc->origin->zone->name,
		 oc->origin->cfg->name, oc->origin->cfg->url, oclient_tls_reason(&oc->cl));
	if (oc->ex && !oc->cl.rd.got_bytes)
		failover(sh, oc->ex);       /* closes oc */
	else if (oc->ex)
		abort_exchange(sh, oc, 502);
	else
		oc_close(sh, oc);
}

/* https: advance the handshake; at its end the queued request goes out. */
static void tls_progress(struct shard *sh, struct origin_conn *oc)
{
	int r = oclient_handshake(&oc->cl);
	if (r != 0 && r != -EAGAIN) {
		tls_failed(sh, oc);
		return;
	}
	arm_recv(sh, oc);
}

/* Response bytes from the client (plain, or a decrypted record): to the
 * exchange, or — on a pooled connection — bytes nobody asked for. False
 * when the connection reads no more now. */
static bool rx_bytes(void *user, char *p, size_t n, struct iobuf_group *g, uint16_t bid)
{
	struct resp_call *c = user;
	struct origin_conn *oc = c->oc;

	if (oc->state == OC_BUSY && oc->ex) {
		on_data(c->sh, oc, p, n, g, bid);
		return oc->state == OC_BUSY || oc->state == OC_IDLE;
	}
	oc_close(c->sh, oc);                /* bytes nobody asked for */
	return false;
}

static void on_recv(struct shard *sh, struct origin_conn *oc, const struct io_uring_cqe *cqe)
{
	struct resp_call c = { .sh = sh, .oc = oc };
	bool open = oc->state == OC_BUSY || oc->state == OC_IDLE;
	int res;

	if (oc->recv_counted) {
		oc->recv_counted = false;
		sh->orecv_armed--;
	}
	switch (oclient_on_recv(&oc->cl, cqe, open ? rx_bytes : NULL, &c, &res)) {
	case OCLIENT_RX_HANDSHAKE:
		tls_progress(sh, oc);
		break;
	case OCLIENT_RX_NOBUFS:
		oc->recv_starved = true;
		sh->starved = true;
		return;
	case OCLIENT_RX_CLOSED:
		if (res == -ECANCELED && oc->state != OC_BUSY)
			break;
		if (oc->state == OC_BUSY && oc->ex)
			on_eof(sh, oc, res);
		else
			oc_close(sh, oc);
		return;
	case OCLIENT_RX_BROKEN:             /* a TLS record error */
		if (oc->state == OC_BUSY && oc->ex)
			on_eof(sh, oc, -EPROTO);
		else
			oc_close(sh, oc);
		return;
	case OCLIENT_RX_OK:
		if (oc->cl.tls)
			flush(oc);          /* tls_read may have produced output */
		break;
	}
	if ((oc->state == OC_BUSY && oc->ex && exchange_room(oc->ex) > 0) ||
	    (oc->state == OC_IDLE && oc->cl.tls))
		arm_recv(sh, oc);       /* an idle TLS peer may send a ticket */
}

static void on_connect(struct shard *sh, struct origin_conn *oc, const struct io_uring_cqe *cqe)
{
	if (oc->state != OC_CONNECTING)
		return;
	if (oclient_on_connect(&oc->cl, cqe) < 0) {
		struct exchange *ex = oc->ex;
		if (ex)
			failover(sh, ex);   /* closes oc */
		else
			oc_close(sh, oc);
		return;
	}
	oc->state = OC_BUSY;
	if (!oc->ex) {
		oc_close(sh, oc);
		return;
	}
	if (oc->cl.tls) {
		tls_progress(sh, oc);
		return;
	}
	flush(oc);
	arm_recv(sh, oc);
}

static void on_send(struct shard *sh, struct origin_conn *oc, const struct io_uring_cqe *cqe)
{
	int rc = oclient_on_send(&oc->cl, cqe, oc->state == OC_BUSY);

	if (oc->state != OC_BUSY)
		return;
	if (rc < 0) {
		if (oc->ex)
			on_eof(sh, oc, rc);
		else
			oc_close(sh, oc);
		return;
	}
	if (oc->ex && oc->cl.out.bytes < LIMIT_STREAM_WINDOW_BYTES / 2)
		exchange_origin_drained(sh, oc->ex);
}

void origin_on_cqe(struct shard *sh, struct origin_conn *oc, int op, const struct io_uring_cqe *cqe)
{
	assert(oc->magic == OCONN_MAGIC);
	assert(oc->cl.ops > 0);
	oc->cl.ops--;
	switch (op) {
	case OP_ORECV:
		on_recv(sh, oc, cqe);
		break;
	case OP_OSEND:
		on_send(sh, oc, cqe);
		break;
	case OP_OCONNECT:
		on_connect(sh, oc, cqe);
		break;
	default:
		break;                      /* linked timeout, cancel, close */
	}
	oc_maybe_free(sh, oc);
}

void origin_on_timer(struct shard *sh, struct origin_conn *oc)
{
	assert(oc->magic == OCONN_MAGIC);
	if (oc->state != OC_BUSY || !oc->ex) {
		oc_close(sh, oc);
		return;
	}
	COUNT(sh, origin_timeouts);
	log_warn("zone %s: origin %s: no response within %u ms",
		 oc->ex->zone->cfg->name, oc->origin->cfg->name,
		 oc->origin->cfg->read_timeout_ms);
	abort_exchange(sh, oc, 504);
}

void origin_visitor_drained(struct shard *sh, struct origin_conn *oc)
{
	assert(oc->magic == OCONN_MAGIC);
	if (oc->state == OC_BUSY && oc->cl.rd.head_done && oc->ex)
		arm_recv(sh, oc);
}

void origin_detach(struct shard *sh, struct origin_conn *oc)
{
	assert(oc->magic == OCONN_MAGIC);
	if (oc->ex) {
		oc->ex->oc = NULL;
		oc->ex = NULL;
	}
	if (oc->state != OC_IDLE)
		oc_close(sh, oc);
}

void origin_rearm_starved(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->oconns_hwm; i++) {
		struct origin_conn *oc = &sh->oconns[i];
		if (!oc->recv_starved)
			continue;
		oc->recv_starved = false;
		if (oc->state == OC_IDLE || (oc->state == OC_BUSY && oc->ex &&
					     exchange_room(oc->ex) > 0))
			arm_recv(sh, oc);
	}
}

void origin_close_idle(struct shard *sh)
{
	for (uint32_t i = 0; i < sh->rt->n_origins; i++) {
		struct rt_origin_shard *os = shard_origin(sh, &sh->rt->origins[i]);
		while (os->idle)
			oc_close(sh, os->idle);
	}
}
