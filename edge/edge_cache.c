/*
 * edge/edge_cache.c — the cache in the request path (see edge_cache.h).
 *
 * What the store keeps as an object's meta: struct ecache_meta (a magic,
 * the stored head's length, the RFC 9111 entry), then the stored response
 * head ("HTTP/1.1 200 OK\r\n" + the headers a cache stores + "\r\n"),
 * without framing headers: the body length is the store's.
 */
#include "edge/edge_cache.h"
#include "edge/edge_cache_int.h"

#include <errno.h>
#include <string.h>

#include "cache/cache_policy.h"
#include "cache/memtier.h"
#include "cache/refreshed.h"
#include "cache/slice.h"
#include "core/config.h"
#include "edge/runtime.h"
#include "edge/shard.h"
#include "cache/collapse.h"
#include "edge/origin.h"
#include "edge/visitor.h"
#include "net/wbuf.h"

#define ECACHE_META_MAGIC 0x45434d31u       /* "ECM1" */

struct ecache_meta {
	uint32_t magic;
	uint32_t head_len;
	struct hcache_entry e;
};

static int64_t now_s(const struct shard *sh)
{
	return (int64_t)(sh->lp.unix_ms / 1000);
}

static struct hcache_policy zone_policy(const struct cfg_zone *z)
{
	struct hcache_policy p = {
		.default_ttl_s = z->default_ttl_s,
		.negative_ttl_s = z->negative_ttl_s,
		.stale_while_revalidate_s = z->stale_while_revalidate_s,
		.stale_if_error_s = z->stale_if_error_s,
		.query_string = (enum hcache_qs)z->query_string,
		.set_cookie = (enum hcache_set_cookie)z->set_cookie,
		.heuristic_freshness = z->heuristic_freshness,
		.targeted_field = z->targeted_field,
		.store_server_errors = z->store_server_errors,
	};
	return p;
}

/* The cache key of ex's request; its text into text[cap) when wanted. */
static int request_key(const struct exchange *ex, char *text, size_t cap, size_t *text_len,
		       struct cindex_key *key)
{
	const struct cfg_zone *z = ex->zone->cfg;
	const struct http1_request *r = &ex->req;
	struct hcache_key k;
	int rc = hcache_key(z->name, strlen(z->name), r->path, r->path_len,
			    r->query, r->query ? r->query_len : 0,
			    (enum hcache_qs)z->query_string, text, cap, text_len, &k);
	if (rc == 0)
		*key = (struct cindex_key){ .lo = k.lo, .hi = k.hi };
	return rc;
}

/* A store read or write failed (res: the I/O's -errno, or a short count):
 * one error-log line per interval per shard, saying how many were not
 * logged; the counters count each one. */
static void log_io_error(struct shard *sh, bool write, int res)
{
	uint64_t *last = &sh->cache.ioerr_logged_ms[write];
	uint64_t *quiet = &sh->cache.ioerr_unlogged[write];

	if (*last != 0 && sh->lp.now_ms - *last < LIMIT_CACHE_IOERR_LOG_INTERVAL_MS) {
		(*quiet)++;
		return;
	}
	log_error("cache: store %s failed: %s (%llu more since the last such line); %s",
		  write ? "write" : "read", res < 0 ? strerror(-res) : "short transfer",
		  (unsigned long long)*quiet, write ? "the object is not cached" :
		  "served from the origin");
	*last = sh->lp.now_ms;
	*quiet = 0;
}

static void release_reads(struct shard *sh, struct ecache_x *c)
{
	for (unsigned i = 0; i < c->n_rio; i++)
		store_io_release(sh->cache.store, &c->rio[i]);
	c->n_rio = 0;
}

const char *ecache_xcache(const struct exchange *ex)
{
	return hcache_xcache_name((enum hcache_xcache)ex->cache.xcache);
}

static bool serve_stored(struct shard *sh, struct exchange *ex, const void *meta,
			 uint32_t meta_len, const char *body, uint64_t body_len, uint64_t total);
static void submit_writes(struct shard *sh, const struct store_io *io, int n);
static bool write_room(const struct shard *sh, unsigned n);
static bool write_stored_head(struct wbuf *w, const struct http1_response *resp);

/* ---- lookup ------------------------------------------------------------------ */

static bool lookup_store(struct shard *sh, struct exchange *ex);

/* A miss of a cacheable GET: lead the fetch, follow a same-shard leader
 * that has not answered yet, or park until the leader's object lands. */
static bool collapse_miss(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	struct collapse_leader me = { sh->id, ex->idx, ex->gen }, l;
	struct cpol_collapse_in in = {
		.collapse_on = sh->cache.collapse != NULL, .method = ex->req.method,
		.have_stored = c->have_stored, .background = ex->background,
		.range = c->req.range.p != NULL,
	};
	uint64_t since;

	if (!cpol_collapse_eligible(&in))
		return false;
	/* Its last response could not be shared: fetch side by side. */
	if (cpol_pass_since(sh->lp.now_ms, &since) &&
	    collapse_stamped_since(sh->cache.passes, c->key, since)) {
		COUNT(sh, collapse_passed);
		return false;
	}
	int r = collapse_claim(sh->cache.collapse, c->key, &me, &l);
	if (r == 0) {
		ex->leading = true;
		c->ckey = c->key;
		return false;               /* we fetch */
	}
	if (r < 0)
		return false;
	if (l.shard == sh->id && l.vidx < sh->xp.hwm) {
		struct exchange *lex = &sh->xp.slots[l.vidx];
		struct cpol_leader cl = {
			.busy = lex->gen == l.vgen && lex->state == EX_BUSY,
			.leading = lex->leading, .background = lex->background,
			.head_queued = lex->head_queued, .method = lex->req.method,
			.version_minor = lex->req.version_minor, .ckey = lex->cache.ckey,
		};
		if (cpol_may_follow(&cl, ex->req.version_minor, c->key)) {
			exchange_follow(sh, ex, lex);
			return true;
		}
	}
	if (!exchange_may_park(sh, ex))
		return false;               /* waited long enough: fetch */
	exchange_park(sh, ex);
	return true;
}

bool ecache_lookup(struct shard *sh, struct exchange *ex)
{
	if (lookup_store(sh, ex))
		return true;
	if (elarge_miss(sh, ex))
		return true;                /* a Range miss fetches its chunks */
	return ex->cache.cacheable && collapse_miss(sh, ex);
}

static bool lookup_key(struct shard *sh, struct exchange *ex);

/* The primary key held a Vary marker: look up the variant the visitor's
 * headers select (once: a marker under a variant key is a miss). */
static bool lookup_variant(struct shard *sh, struct exchange *ex, const void *meta,
			   uint32_t meta_len)
{
	struct ecache_x *c = &ex->cache;

	if (c->vary.variant ||
	    vary_from_marker(&c->vary, meta, meta_len, c->pkey, &ex->req, &c->key) < 0) {
		COUNT(sh, cache_read_errors);
		return false;
	}
	return lookup_key(sh, ex);
}

static bool lookup_store(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	const struct http1_request *r = &ex->req;
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t text_len;

	struct cindex_key ckey = c->ckey;   /* a background refresh's claim */
	memset(c, 0, sizeof(*c));
	c->ckey = ckey;
	enum cpol_request d = cpol_request(r->method, ex->has_body, sh->cache.store != NULL);
	if (d == CPOL_REQ_LOOKUP && request_key(ex, text, sizeof(text), &text_len, &c->key) < 0)
		d = CPOL_REQ_NO_KEY;
	c->xcache = cpol_request_xcache(d);
	if (d != CPOL_REQ_LOOKUP)
		return false;
	hcache_parse_request(r, now_s(sh), &c->req);
	c->cacheable = true;
	c->request_time = now_s(sh);
	c->pkey = c->key;
	return lookup_key(sh, ex);
}

/* Look c->key up: serve from RAM, start a store read (true), or miss. */
static bool lookup_key(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	struct cindex_entry hit;

	if (store_lookup(sh->cache.store, sh->id, c->key, &hit) < 0)
		return false;
	/* One entry (meta + body): the objects this slice serves. */
	if (hit.flags & CINDEX_F_CHUNKED)
		return false;
	c->loc = hit.loc;
	if (sh->cache.mt_on && memtier_get(&sh->cache.mt, c->key, hit.loc, MEMTIER_WHOLE, &c->mobj) == 1) {
		/* The hot set: served from RAM, no disk read. */
		uint32_t ml, bl;
		const void *meta = memtier_meta(&sh->cache.mt, c->mobj, &ml);
		const char *body = memtier_body(&sh->cache.mt, c->mobj, &bl);
		COUNT(sh, cache_ram_hits);
		if (vary_is_marker(meta, ml)) {
			/* The marker's bytes stay referenced while they are read. */
			struct memtier_obj *marker = c->mobj;
			c->mobj = NULL;
			bool r = lookup_variant(sh, ex, meta, ml);
			memtier_unref(&sh->cache.mt, marker);
			return r;
		}
		if (serve_stored(sh, ex, meta, ml, body, bl, hit.total_len))
			return true;
		if (!c->have_stored) {
			memtier_unref(&sh->cache.mt, c->mobj);
			c->mobj = NULL;
		}
		return false;
	}
	bool park = sh->cache.collapse && !ex->background && exchange_may_park(sh, ex);
	/* Reads leave the fills writing large objects' chunks their reserve
	 * (edge/edge_large.h): a fill without a buffer pauses. */
	int n = park && store_bufs_free(sh->cache.store, sh->id) <= LIMIT_ELARGE_WRITE_RESERVE ?
		-ENOBUFS :
		store_read_plan(sh->cache.store, sh->id, &hit, true, 0, hit.total_len, c->rio, 2);
	if (n == -ENOBUFS && park) {
		/* The object is there, the shard's store buffers are out (sends
		 * give them back): look again at the next tick rather than
		 * fetch a stored object again (a large one: a new version). */
		COUNT(sh, cache_read_waits);
		exchange_park(sh, ex);
		return true;
	}
	if (n <= 0) {
		COUNT(sh, cache_read_errors);
		return false;
	}
	c->n_rio = (uint8_t)n;
	if (n != 1) {
		release_reads(sh, c);
		return false;
	}
	shard_prep_store_io(sh, &c->rio[0], shard_ud(OP_CREAD, ex->idx, ex->gen));
	ex->ops++;
	c->reading = true;
	return true;
}

/* ---- hits ----------------------------------------------------------------------- */

static void write_hit_head(struct shard *sh, struct exchange *ex, struct wbuf *w, int status,
			   const struct http1_response *stored, int64_t age,
			   int64_t body_len, const char *content_range)
{
	const char *reason = status == (int)stored->status && stored->reason_len ? NULL
			     : http1_reason(status);
	wbuf_str(w, "HTTP/1.1 ");
	wbuf_u64(w, (uint64_t)status);
	wbuf_put(w, " ", 1);
	if (reason)
		wbuf_str(w, reason);
	else
		wbuf_put(w, stored->reason, stored->reason_len);
	wbuf_put(w, "\r\n", 2);
	for (unsigned i = 0; i < stored->n_headers; i++) {
		const struct http1_header *h = &stored->headers[i];
		if (hcache_hit_drops_header(h, status, ex->zone->cfg->targeted_field))
			continue;
		wbuf_header(w, h->name, h->name_len, h->value, h->value_len);
	}
	if (hcache_hit_adds_date(stored->headers, stored->n_headers))
		wbuf_header(w, "Date", 4, sh->lp.date, 29);
	wbuf_str(w, "Server: edgecache\r\nVia: 1.1 edgecache\r\nAge: ");
	wbuf_u64(w, (uint64_t)age);
	wbuf_str(w, "\r\nX-Cache: ");
	wbuf_str(w, hcache_xcache_name((enum hcache_xcache)ex->cache.xcache));
	wbuf_put(w, "\r\n", 2);
	if (content_range)
		wbuf_header(w, "Content-Range", 13, content_range, strlen(content_range));
	if (hcache_hit_sends_length(status)) {
		wbuf_str(w, "Content-Length: ");
		wbuf_u64(w, (uint64_t)body_len);
		wbuf_put(w, "\r\n", 2);
	}
	if (!ex->keep_alive)
		wbuf_str(w, "Connection: close\r\n");
	else if (ex->req.version_minor == 0)
		wbuf_str(w, "Connection: keep-alive\r\n");
	wbuf_put(w, "\r\n", 2);
}

/* Serve a stored object: 200, 206, 304, 412 or 416, head from the stored
 * head, body bytes straight from the read buffer (released when the
 * exchange ends). Returns 0, or -1 to fall back to the origin. */
static int serve_hit(struct shard *sh, struct exchange *ex, const struct hcache_entry *e,
		     const struct http1_response *stored, const char *body, uint64_t total,
		     bool end)
{
	struct ecache_x *c = &ex->cache;
	struct hcache_hit_plan hp;

	hcache_hit_plan(&c->req, e, e->status, (int64_t)total, &hp);
	int64_t first = hp.first, len = hp.len;
	int status = hp.status;
	const char *content_range = hp.has_content_range ? hp.content_range : NULL;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		return -1;
	}
	struct wbuf w;
	wbuf_init(&w, blk, IOBUF_HBUF_BYTES);
	write_hit_head(sh, ex, &w, status, stored, hcache_age(e, now_s(sh)), len, content_range);
	if (w.overflow) {
		iobuf_pool_put(&sh->pool, blk);
		return -1;
	}
	ex->status = (uint16_t)status;
	if (!exchange_queue_head_block(sh, ex, blk, w.len))
		return 0;                   /* closed */
	if (len > 0 && ex->req.method != HTTP1_HEAD) {
		struct iobuf_seg seg = { .ptr = body + first, .len = (uint32_t)len,
					 .kind = IOBUF_SEG_STATIC };
		exchange_response_body(sh, ex, &seg);
	}
	COUNT(sh, cache_hits);
	if (end)
		exchange_response_end(sh, ex);
	return 0;
}

/* A store read did not give a servable object: ask the origin. */
static void to_origin(struct shard *sh, struct exchange *ex)
{
	if (!ex->cache.have_stored)
		release_reads(sh, &ex->cache);
	if (!elarge_miss(sh, ex))
		origin_start(sh, ex);
}

/* A whole object's meta: its fixed part copied out (the bytes may be
 * unaligned) and its stored head parsed. False: not one of ours, or torn. */
static bool parse_meta(const void *meta, uint32_t meta_len, struct ecache_meta *m,
		       struct http1_response *head)
{
	if (meta_len < sizeof(*m))
		return false;
	memcpy(m, meta, sizeof(*m));
	return m->magic == ECACHE_META_MAGIC && m->head_len <= meta_len - sizeof(*m) &&
	       http1_parse_response((const char *)meta + sizeof(*m), m->head_len, false, head) ==
	       (int)m->head_len;
}

/* The stored object's meta, kept by the exchange. */
static bool stored_meta(const struct ecache_x *c, struct ecache_meta *m,
			struct http1_response *head)
{
	return parse_meta(c->s_meta, c->s_meta_len, m, head);
}

/*
 * The stored copy is not fresh, but a 304 refreshed it and its rewrite has
 * not landed (cache/refreshed.h, any shard's): the refreshed meta with
 * this copy's body (a 304 confirms the same bytes) answers when it is
 * fresh for this request. True if served; false leaves the exchange as it
 * was (the stale copy decides).
 */
static bool serve_refreshed(struct shard *sh, struct exchange *ex, const char *body,
			    uint64_t total)
{
	struct ecache_x *c = &ex->cache;
	struct ecache_meta m;
	struct http1_response head;

	if (!sh->cache.refreshed)
		return false;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk) {
		COUNT(sh, buffers_exhausted);
		return false;
	}
	int n = refreshed_get(sh->cache.refreshed, c->key, c->loc, blk, IOBUF_HBUF_BYTES);
	bool served = false;
	if (n > 0 && parse_meta(blk, (uint32_t)n, &m, &head)) {
		struct cpol_stored d = cpol_stored(hcache_decide_lookup(&m.e, &c->req, now_s(sh),
								       ex->background),
						   ex->req.method);
		if (d.act == CPOL_STORED_SERVE && d.xcache == HCACHE_X_HIT) {
			c->xcache = d.xcache;   /* unserved: the caller sets its own */
			served = serve_hit(sh, ex, &m.e, &head, body, total, true) == 0;
			if (served)
				COUNT(sh, cache_refreshed_hits);
		}
	}
	/* serve_hit copied the head out; the body is the stale copy's. */
	iobuf_pool_put(&sh->pool, blk);
	return served;
}

/*
 * A stored object's bytes are at hand (RAM or a verified read): decide
 * (RFC 9111) and serve, or fall back to the origin. Returns true if it was
 * served or answered, false to go to the origin.
 */
static bool serve_stored(struct shard *sh, struct exchange *ex, const void *meta,
			 uint32_t meta_len, const char *body, uint64_t body_len, uint64_t total)
{
	struct ecache_x *c = &ex->cache;
	struct ecache_meta m;
	struct http1_response head;

	if (elarge_is_record(meta, meta_len)) {
		/* A large object: its record's buffer is not needed any more. */
		if (!elarge_serve(sh, ex, meta, meta_len))
			return false;
		release_reads(sh, c);
		if (c->mobj) {
			memtier_unref(&sh->cache.mt, c->mobj);
			c->mobj = NULL;
		}
		elarge_start(sh, ex);
		return true;
	}
	if (body_len != total || !parse_meta(meta, meta_len, &m, &head)) {
		COUNT(sh, cache_read_errors);
		return false;
	}
	struct cpol_stored d = cpol_stored(hcache_decide_lookup(&m.e, &c->req, now_s(sh),
							       ex->background), ex->req.method);
	/* Not fresh: it may be a copy that a 304 has just refreshed (not
	 * when no-cache, stored or asked, revalidates it whatever its age). */
	if ((d.act != CPOL_STORED_SERVE || d.xcache != HCACHE_X_HIT) &&
	    !(m.e.flags & HCACHE_E_NO_CACHE) && !(c->req.cc.flags & HCACHE_CC_NO_CACHE) &&
	    serve_refreshed(sh, ex, body, total))
		return true;
	c->xcache = d.xcache;
	if (d.act == CPOL_STORED_504) {
		exchange_response_fail(sh, ex, 504);
		return true;
	}
	if (d.act == CPOL_STORED_ORIGIN) {
		/* Kept for a 304 or stale-if-error; our validators go with the
		 * origin request when the entry has any. */
		c->have_stored = true;
		c->s_meta = meta;
		c->s_meta_len = meta_len;
		c->s_body = body;
		c->s_total = total;
		c->revalidating = hcache_has_validators(&m.e);
		return false;
	}
	/* Before serving: serving may end this exchange and start the next
	 * pipelined request, whose head replaces ours. */
	if (d.refresh)
		exchange_background(sh, ex);
	if (serve_hit(sh, ex, &m.e, &head, body, total, true) < 0) {
		c->xcache = cpol_xcache_unserved((enum hcache_xcache)c->xcache);
		return false;
	}
	return true;
}

/* Offer a verified object to the shard's RAM tier (its policy admits). */
static void admit_ram(struct shard *sh, const struct ecache_x *c, const struct store_view *v)
{
	if (!sh->cache.mt_on || v->total_len > UINT32_MAX ||
	    !memtier_fits_whole(&sh->cache.mt, v->meta_len, v->total_len))
		return;
	struct memtier_obj *o = memtier_admit_begin(&sh->cache.mt, c->key, c->loc, MEMTIER_WHOLE,
						    v->meta_len, (uint32_t)v->total_len);
	if (!o)
		return;
	char *p = memtier_fill_ptr(&sh->cache.mt, o);
	memcpy(p, v->meta, v->meta_len);
	memcpy(p + v->meta_len, v->body, v->body_len);
	memtier_admit_commit(&sh->cache.mt, o);
}

void ecache_on_read(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe)
{
	struct ecache_x *c = &ex->cache;
	struct store_view v;

	if (c->large.on) {
		elarge_on_read(sh, ex, cqe);
		return;
	}
	c->reading = false;
	if (ex->state != EX_BUSY) {
		release_reads(sh, c);       /* closing: nobody sends from it */
		return;
	}
	if (store_read_verify(sh->cache.store, &c->rio[0], cqe->res, &v) < 0) {
		COUNT(sh, cache_read_errors);
		if (cqe->res < 0 || (uint32_t)cqe->res != c->rio[0].len)
			log_io_error(sh, false, cqe->res);
		to_origin(sh, ex);
		return;
	}
	admit_ram(sh, c, &v);
	if (vary_is_marker(v.meta, v.meta_len)) {
		/* The variant is looked up with the marker's bytes released:
		 * it may need the same read buffers. */
		char m[VARY_MARKER_MAX_BYTES];
		uint32_t ml = v.meta_len;
		memcpy(m, v.meta, ml);
		release_reads(sh, c);
		if (lookup_variant(sh, ex, m, ml))
			return;
		if (!c->have_stored && c->cacheable && collapse_miss(sh, ex))
			return;             /* collapsed on the variant's key */
		origin_start(sh, ex);
		return;
	}
	if (!serve_stored(sh, ex, v.meta, v.meta_len, v.body, v.body_len, v.total_len))
		to_origin(sh, ex);
}

/* The leader lets go of its key (parked followers look again). */
static void release_claim(struct shard *sh, struct exchange *ex)
{
	if (ex->leading && !ex->claim_in_fill)
		collapse_release(sh->cache.collapse, ex->cache.ckey);
	ex->leading = false;
}

bool ecache_pass(struct shard *sh, struct exchange *ex)
{
	if (!cpol_pass(ex->leading, ex->cache.shareable))
		return false;
	collapse_stamp(sh->cache.passes, ex->cache.ckey, sh->lp.now_ms);
	release_claim(sh, ex);
	return true;
}

void ecache_exchange_end(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	if (!sh->cache.store)
		return;
	ecache_fill_end(sh, ex, false);
	elarge_end(sh, ex);
	release_claim(sh, ex);
	if (!c->reading)
		release_reads(sh, c);
	if (c->mobj) {
		memtier_unref(&sh->cache.mt, c->mobj);
		c->mobj = NULL;
	}
}

void ecache_background_end(struct shard *sh, struct exchange *ex)
{
	if (cpol_refresh_failed((enum hcache_xcache)ex->cache.xcache, ex->origin_status))
		COUNT(sh, cache_swr_refresh_failed);
}

/* ---- revalidation and stale-if-error ------------------------------------------- */

bool ecache_drops_request_header(const struct exchange *ex, const struct http1_header *h)
{
	return cpol_drops_conditionals(ex->cache.large.fetching, ex->cache.revalidating,
				       ex->background) && hcache_header_conditional(h);
}

void ecache_origin_headers(const struct exchange *ex, struct wbuf *w)
{
	const struct ecache_x *c = &ex->cache;
	struct ecache_meta m;
	char buf[160 + LIMIT_ETAG_BYTES];

	if (c->large.fetching)
		elarge_origin_headers(ex, w);
	if (!c->revalidating)
		return;
	memcpy(&m, c->s_meta, sizeof(m));
	int n = hcache_revalidation_headers(&m.e, buf, sizeof(buf));
	if (n > 0)
		wbuf_put(w, buf, (size_t)n);
}

/* Until the rewrite of c's stale copy lands, lookups of that copy on any
 * shard find the refreshed meta (cache/refreshed.h): the object stays
 * findable, and fresh, through its rewrite. */
static void list_rewrite(struct shard *sh, const struct ecache_x *c, uint32_t wid,
			 const void *meta, uint32_t meta_len)
{
	if (!sh->cache.refreshed)
		return;
	if (refreshed_put(sh->cache.refreshed, c->key, c->loc, sh->id, wid, meta, meta_len) < 0) {
		COUNT(sh, cache_refresh_unlisted);
		return;
	}
	sh->cache.rewriting[wid % LIMIT_STORE_WRITES] = true;
}

/* Write the refreshed entry (new meta, same body) back: best effort.
 * True when every write was submitted (its completion commits it). */
static bool refresh_store(struct shard *sh, struct exchange *ex, const struct hcache_entry *e,
			  const struct hcache_store *hs, const struct http1_response *head)
{
	struct ecache_x *c = &ex->cache;
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t text_len;
	struct store_io io[8];
	size_t used = 0;
	struct cindex_key pkey;

	/* Under the key it was found under (a variant's, for Vary); the
	 * primary's text, for purge by prefix. */
	if (!write_room(sh, 12) || request_key(ex, text, sizeof(text), &text_len, &pkey) < 0)
		return false;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk)
		return false;
	struct ecache_meta m = { .magic = ECACHE_META_MAGIC, .e = *e };
	struct wbuf w;
	wbuf_init(&w, blk + sizeof(m), IOBUF_HBUF_BYTES - sizeof(m));
	if (!write_stored_head(&w, head) || sizeof(m) + w.len > store_meta_max()) {
		iobuf_pool_put(&sh->pool, blk);
		return false;
	}
	m.head_len = (uint32_t)w.len;
	memcpy(blk, &m, sizeof(m));
	struct store_obj obj = {
		.meta = blk, .meta_len = (uint32_t)(sizeof(m) + w.len), .body_len = c->s_total,
		.expires = hcache_store_expires(hs),
		.key_text = text, .key_text_len = text_len,
	};
	uint32_t wid;
	int n = store_write_begin(sh->cache.store, sh->id, c->key, &obj, &wid, io, 4);
	if (n < 0) {
		iobuf_pool_put(&sh->pool, blk);
		return false;
	}
	sh->cache.fill_began_ms[wid % LIMIT_STORE_WRITES] = sh->lp.now_ms;
	submit_writes(sh, io, n);
	int k = 0;
	if (c->s_total > 0)
		k = store_write_append(sh->cache.store, sh->id, wid, c->s_body, c->s_total, &used,
				       io, 8);
	if (k < 0 || used < c->s_total) {
		if (k > 0)
			submit_writes(sh, io, k);
		store_write_abort(sh->cache.store, sh->id, wid);
		iobuf_pool_put(&sh->pool, blk);
		COUNT(sh, cache_fill_dropped);
		return false;
	}
	submit_writes(sh, io, k);
	/* Listed once every write is on its way: their last completion
	 * (ecache_on_write) is what takes it off. */
	if (!(e->flags & HCACHE_E_NO_CACHE))        /* never served unrevalidated */
		list_rewrite(sh, c, wid, blk, obj.meta_len);
	iobuf_pool_put(&sh->pool, blk);
	return true;
}

/* A 304 that matches: the stored object with the 304's headers merged in. */
static bool revalidated(struct shard *sh, struct exchange *ex,
			const struct http1_response *r304,
			const struct ecache_meta *m, const struct http1_response *stored)
{
	struct ecache_x *c = &ex->cache;
	struct hcache_resp_info ri;
	struct http1_response merged = *stored;
	size_t n;

	hcache_parse_response(r304, now_s(sh), &ri);
	if (!hcache_304_matches(&m->e, &ri) ||
	    hcache_merge_304(stored->headers, stored->n_headers, r304->headers, r304->n_headers,
			     merged.headers, LIMIT_HEADER_COUNT, &n) < 0)
		return false;
	merged.n_headers = (uint16_t)n;
	struct hcache_entry e = m->e;
	struct hcache_store hs;
	struct hcache_policy pol = zone_policy(ex->zone->cfg);
	hcache_parse_response(&merged, now_s(sh), &ri);
	hcache_storable(&pol, &c->req, &ri, c->request_time, now_s(sh), &hs, &e);
	/* A 304 that sets a cookie: this visitor gets it (merged), the
	 * entry is refreshed only if the zone strips it (else it stays
	 * stale, and the next request asks again). */
	ecache_count_storable(sh, &ri, &hs);
	/* A background refresh keeps its claim until the refreshed entry
	 * lands: a stale hit meanwhile must not start a second one. */
	if (hs.store && refresh_store(sh, ex, &e, &hs, &merged) && ex->background)
		ex->claim_in_fill = ex->leading;
	c->xcache = HCACHE_X_REVALIDATED;
	ex->origin_status = 304;
	return serve_hit(sh, ex, hs.store ? &e : &m->e, &merged, c->s_body, c->s_total,
			 false) == 0;
}

bool ecache_origin_head(struct shard *sh, struct exchange *ex,
			const struct http1_response *resp)
{
	struct ecache_x *c = &ex->cache;
	struct ecache_meta m;
	struct http1_response stored;

	if (!c->have_stored || !stored_meta(c, &m, &stored))
		return false;
	/* A background refresh is shared: the request it copied does not
	 * widen the stale window for everyone (RFC 5861 4 is per request). */
	switch (hcache_origin_head(&m.e, ex->background ? NULL : &c->req, c->revalidating,
				   resp->status, now_s(sh))) {
	case HCACHE_HEAD_FORWARD:
		return false;
	case HCACHE_HEAD_REVALIDATED:
		if (!revalidated(sh, ex, resp, &m, &stored))
			return false;
		COUNT(sh, cache_revalidated);
		return true;
	case HCACHE_HEAD_STALE:
		c->xcache = HCACHE_X_STALE;
		ex->origin_status = resp->status;
		if (serve_hit(sh, ex, &m.e, &stored, c->s_body, c->s_total, false) != 0)
			return false;
		COUNT(sh, cache_stale_if_error);
		return true;
	}
	return false;
}

enum ecache_head ecache_response_head(struct shard *sh, struct exchange *ex,
				      const struct http1_response *resp)
{
	if (ecache_origin_head(sh, ex, resp))
		return ECACHE_HEAD_STORED;
	ecache_fill_begin(sh, ex, resp);
	ecache_invalidate(sh, ex, resp);
	return ecache_pass(sh, ex) ? ECACHE_HEAD_PASS : ECACHE_HEAD_FORWARD;
}

bool ecache_fail_stale(struct shard *sh, struct exchange *ex)
{
	struct ecache_x *c = &ex->cache;
	struct ecache_meta m;
	struct http1_response stored;

	if (!c->have_stored || ex->head_queued || !stored_meta(c, &m, &stored) ||
	    !hcache_stale_if_error(&m.e, &c->req, now_s(sh)))
		return false;
	c->xcache = HCACHE_X_STALE;
	if (serve_hit(sh, ex, &m.e, &stored, c->s_body, c->s_total, true) < 0)
		return false;
	COUNT(sh, cache_stale_if_error);
	return true;
}

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------------- */

/* Drop the stored object of zone + path[?query]. */
static void drop_path(struct shard *sh, const struct exchange *ex, const char *path, size_t len)
{
	const struct cfg_zone *z = ex->zone->cfg;
	const char *q = memchr(path, '?', len);
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t text_len;
	struct hcache_key k;

	if (hcache_key(z->name, strlen(z->name), path, q ? (size_t)(q - path) : len,
		       q ? q + 1 : NULL, q ? len - (size_t)(q - path) - 1 : 0,
		       (enum hcache_qs)z->query_string, text, sizeof(text), &text_len, &k) < 0)
		return;
	struct cindex_key key = { .lo = k.lo, .hi = k.hi };
	/* Stamped even when nothing is stored: a fill of this key may be on
	 * its way, and must not land after us (ecache_on_write). */
	collapse_stamp(sh->cache.invalidated, key, sh->lp.now_ms);
	if (store_delete(sh->cache.store, key) == 0)
		COUNT(sh, cache_invalidated);
}

void ecache_invalidate(struct shard *sh, struct exchange *ex, const struct http1_response *resp)
{
	struct hcache_span paths[3];

	if (!sh->cache.store)
		return;
	int n = hcache_invalidated_paths(&ex->req, resp, paths);
	for (int i = 0; i < n; i++)
		drop_path(sh, ex, paths[i].p, paths[i].len);
}

/* ---- fills ------------------------------------------------------------------------ */

static void submit_writes(struct shard *sh, const struct store_io *io, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t slot = sh->cache.wio_free[--sh->cache.n_wio_free];
		sh->cache.wio[slot] = io[i];
		shard_prep_store_io(sh, &io[i], shard_ud(OP_CWRITE, slot, 0));
	}
}

/* Room for n more write ios in the shard's table. */
static bool write_room(const struct shard *sh, unsigned n)
{
	return sh->cache.n_wio_free >= n;
}

void ecache_submit_writes(struct shard *sh, const struct store_io *io, int n)
{
	submit_writes(sh, io, n);
}

bool ecache_write_room(const struct shard *sh, unsigned n)
{
	return write_room(sh, n);
}

/* ---- for edge/edge_large.c (edge/edge_cache_int.h) --------------------------------- */

void ecache_count_storable(struct shard *sh, const struct hcache_resp_info *ri,
			   const struct hcache_store *hs)
{
	switch (cpol_storable_count(ri, hs)) {
	case CPOL_COUNT_SET_COOKIE_STRIPPED:
		COUNT(sh, cache_set_cookie_stripped);
		break;
	case CPOL_COUNT_SET_COOKIE_PASSED:
		COUNT(sh, cache_set_cookie_passed);
		break;
	case CPOL_COUNT_REQUEST_ERROR_PASSED:
		COUNT(sh, cache_request_error_passed);
		break;
	case CPOL_COUNT_RANGE_PASSED:
		COUNT(sh, cache_range_passed);
		break;
	case CPOL_COUNT_NONE:
		break;
	}
}

int64_t ecache_now_s(const struct shard *sh)
{
	return now_s(sh);
}

struct hcache_policy ecache_zone_policy(const struct cfg_zone *z)
{
	return zone_policy(z);
}

int ecache_request_key(const struct exchange *ex, char *text, size_t cap, size_t *text_len,
		       struct cindex_key *key)
{
	return request_key(ex, text, cap, text_len, key);
}

void ecache_write_hit_head(struct shard *sh, struct exchange *ex, struct wbuf *w, int status,
			   const struct http1_response *stored, int64_t age,
			   int64_t body_len, const char *content_range)
{
	write_hit_head(sh, ex, w, status, stored, age, body_len, content_range);
}

bool ecache_write_stored_head(struct wbuf *w, const struct http1_response *resp)
{
	return write_stored_head(w, resp);
}

/* The stored head: status line and the headers a cache stores, minus
 * framing (the store knows the body length) and minus Set-Cookie: a
 * response with one is stored only when the zone strips it
 * (hcache_storable), and a stored head is every visitor's. */
static bool write_stored_head(struct wbuf *w, const struct http1_response *resp)
{
	wbuf_str(w, "HTTP/1.1 ");
	wbuf_u64(w, resp->status);
	wbuf_put(w, " ", 1);
	wbuf_put(w, resp->reason, resp->reason_len);
	wbuf_put(w, "\r\n", 2);
	for (unsigned i = 0; i < resp->n_headers; i++) {
		const struct http1_header *h = &resp->headers[i];
		if (!hcache_header_in_stored_head(h, resp->headers, resp->n_headers))
			continue;
		wbuf_header(w, h->name, h->name_len, h->value, h->value_len);
	}
	wbuf_put(w, "\r\n", 2);
	return !w->overflow;
}

void ecache_fill_begin(struct shard *sh, struct exchange *ex, const struct http1_response *resp)
{
	struct ecache_x *c = &ex->cache;
	struct hcache_resp_info ri;
	struct hcache_store hs;
	struct ecache_meta m;
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t text_len;

	if (!c->cacheable || ex->req.method != HTTP1_GET)
		return;
	hcache_parse_response(resp, now_s(sh), &ri);
	memset(&m, 0, sizeof(m));
	struct hcache_policy pol = zone_policy(ex->zone->cfg);
	hcache_storable(&pol, &c->req, &ri, c->request_time, now_s(sh), &hs, &m.e);
	c->shareable = hs.store;
	ecache_count_storable(sh, &ri, &hs);
	struct cpol_fill_in in = {
		.framed = hcache_fill_framed(resp), .store = hs.store, .vary_star = ri.vary.star,
		.vary_n = (uint8_t)ri.vary.n, .had_stored = c->vary.have || c->have_stored,
		.content_length = resp->content_length,
		.max_object = store_max_object(sh->cache.store),
	};
	struct cpol_fill d = cpol_fill(&in);
	if (d.drop_primary)
		store_delete(sh->cache.store, c->pkey);
	if (d.what == CPOL_FILL_NOT_STORED)
		COUNT(sh, cache_not_stored);
	if (d.what != CPOL_FILL_STORE)
		return;
	uint32_t expires = hcache_store_expires(&hs);
	struct cindex_key pkey, okey;
	bool marker = false;
	if (!write_room(sh, 8) || request_key(ex, text, sizeof(text), &text_len, &pkey) < 0)
		return;
	okey = pkey;
	if (ri.vary.n > 0 &&
	    evary_fill(sh, ex, &ri, pkey, text, text_len, expires, &okey, &marker) < 0) {
		COUNT(sh, cache_not_stored);
		return;
	}
	c->key = okey;
	char *blk = iobuf_pool_get(&sh->pool);
	if (!blk)
		return;
	struct wbuf w;
	wbuf_init(&w, blk + sizeof(m), IOBUF_HBUF_BYTES - sizeof(m));
	if (!write_stored_head(&w, resp) || sizeof(m) + w.len > store_meta_max()) {
		iobuf_pool_put(&sh->pool, blk);
		return;
	}
	if (!marker && slice_is_large(&ri, sizeof(m) + w.len, (uint64_t)resp->content_length,
				      store_chunk_bytes(sh->cache.store))) {
		/* Head and body do not fit one chunk (nor one RAM-tier block):
		 * kept as slices (edge/edge_large.c). */
		iobuf_pool_put(&sh->pool, blk);
		elarge_fill_begin(sh, ex, resp, &m.e, expires);
		return;
	}
	m.magic = ECACHE_META_MAGIC;
	m.head_len = (uint32_t)w.len;
	memcpy(blk, &m, sizeof(m));
	struct store_obj obj = {
		.meta = blk, .meta_len = (uint32_t)(sizeof(m) + w.len),
		.body_len = (uint64_t)resp->content_length,
		.expires = expires,
		.key_text = text, .key_text_len = text_len,
	};
	struct store_io io[4];
	int n = store_write_begin(sh->cache.store, sh->id, c->key, &obj, &c->wid, io, 4);
	iobuf_pool_put(&sh->pool, blk);     /* the store copied the meta */
	if (n < 0) {
		COUNT(sh, cache_fill_dropped);
		return;
	}
	sh->cache.fill_began_ms[c->wid % LIMIT_STORE_WRITES] = sh->lp.now_ms;
	submit_writes(sh, io, n);
	c->filling = true;
	/* The claim now ends when the object is committed (or not): a parked
	 * follower that looks again then finds it. A first Vary response was
	 * claimed under the primary key: the marker's write releases it. */
	ex->claim_in_fill = ex->leading &&
		((c->ckey.lo == okey.lo && c->ckey.hi == okey.hi) ||
		 (marker && c->ckey.lo == pkey.lo && c->ckey.hi == pkey.hi));
}

void ecache_fill_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg)
{
	struct ecache_x *c = &ex->cache;
	struct store_io io[8];
	const char *p = seg->ptr;
	size_t n = seg->len;

	if (c->filling && c->large.fill) {
		elarge_fill_body(sh, ex, seg);
		return;
	}
	while (c->filling && n > 0) {
		size_t used = 0;
		if (!write_room(sh, 8)) {
			ecache_fill_end(sh, ex, false);
			COUNT(sh, cache_fill_dropped);
			return;
		}
		int k = store_write_append(sh->cache.store, sh->id, c->wid, p, n, &used, io, 8);
		if (k < 0 || (k == 0 && used == 0)) {
			/* Best effort: a full buffer pool drops the fill, never
			 * slows the visitor. */
			ecache_fill_end(sh, ex, false);
			COUNT(sh, cache_fill_dropped);
			return;
		}
		submit_writes(sh, io, k);
		p += used;
		n -= used;
	}
}

void ecache_fill_end(struct shard *sh, struct exchange *ex, bool complete)
{
	struct ecache_x *c = &ex->cache;
	if (!c->filling)
		return;
	c->filling = false;
	if (c->large.fill) {
		elarge_fill_end(sh, ex, complete);
		return;
	}
	if (!complete) {
		store_write_abort(sh->cache.store, sh->id, c->wid);
		if (ex->claim_in_fill) {
			collapse_release(sh->cache.collapse, c->ckey);
			ex->claim_in_fill = false;
		}
	}
}

void ecache_on_write(struct shard *sh, uint32_t slot, const struct io_uring_cqe *cqe)
{
	const struct store_io *io = &sh->cache.wio[slot];
	struct cindex_key key = io->key;
	uint32_t ws = io->wslot % LIMIT_STORE_WRITES;
	uint32_t wid = io->wgen * LIMIT_STORE_WRITES + io->wslot;
	uint64_t began = sh->cache.fill_began_ms[ws];
	int r = store_write_done(sh->cache.store, io, cqe->res);
	sh->cache.wio_free[sh->cache.n_wio_free++] = slot;
	/* RFC 9111 4.4: an object fetched before an unsafe method invalidated
	 * its key must not be served after it: drop what just landed. */
	bool dropped = r == 1 && collapse_stamped_since(sh->cache.invalidated, key, began);
	if (dropped) {
		store_delete(sh->cache.store, key);
		COUNT(sh, cache_fill_invalidated);
	}
	/* A 304's rewrite ended: landed, its listing stays for reads of the
	 * old copy still in flight; failed, the old copy is stale again. */
	if (r != 0 && sh->cache.rewriting[ws]) {
		sh->cache.rewriting[ws] = false;
		refreshed_done(sh->cache.refreshed, key, sh->id, wid, r == 1 && !dropped);
	}
	/* The object landed or will not: whoever waited on its key looks again. */
	if (r != 0 && sh->cache.collapse)
		collapse_release(sh->cache.collapse, key);
	if (r == 1 && !dropped)
		COUNT(sh, cache_fills);
	else if (r < 0 && cqe->res < 0) {
		COUNT(sh, cache_write_errors);
		log_io_error(sh, true, cqe->res);
	}
}
