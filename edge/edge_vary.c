/*
 * edge/edge_vary.c — Vary with stored variants (see edge_vary.h).
 *
 * The marker's meta: struct evary_meta, then the canonical Vary names
 * (hcache_vary_names). Its body is empty.
 */
#include "edge/edge_vary.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "core/loop.h"
#include "edge/shard.h"
#include "edge/edge_cache.h"
#include "edge/visitor.h"

#define EVARY_MAGIC 0x45435631u             /* "ECV1" */

struct evary_meta {
	uint32_t magic;
	uint16_t names_len;
	uint8_t n;
	uint8_t pad;
	uint64_t epoch;
	uint64_t vary[LIMIT_VARY_VARIANTS];
};

bool evary_is_marker(const void *meta, uint32_t meta_len)
{
	uint32_t magic;

	_Static_assert(sizeof(struct evary_meta) + LIMIT_VARY_NAMES_BYTES <= EVARY_MARKER_MAX_BYTES,
		       "EVARY_MARKER_MAX_BYTES");
	if (meta_len < sizeof(struct evary_meta) || meta_len > EVARY_MARKER_MAX_BYTES)
		return false;
	memcpy(&magic, meta, sizeof(magic));
	return magic == EVARY_MAGIC;
}

static struct cindex_key to_cindex(const struct hcache_key *k)
{
	return (struct cindex_key){ .lo = k->lo, .hi = k->hi };
}

/* The variant `req` selects among canonical names[0..len). */
static int request_vary(const char *names, size_t len, const struct http1_request *req,
			uint64_t *out)
{
	struct hcache_vary v;

	if (hcache_vary_parse_names(names, len, &v) < 0)
		return -EINVAL;
	return hcache_vary_key(&v, req->headers, req->n_headers, out);
}

int evary_from_marker(struct evary_state *s, const void *meta, uint32_t meta_len,
		      struct cindex_key primary, const struct http1_request *req,
		      struct cindex_key *variant)
{
	struct evary_meta m;
	uint64_t vh;

	memcpy(&m, meta, sizeof(m));
	if (m.names_len > meta_len - sizeof(m) || m.n > LIMIT_VARY_VARIANTS ||
	    m.names_len > LIMIT_VARY_NAMES_BYTES)
		return -EINVAL;
	const char *names = (const char *)meta + sizeof(m);
	if (request_vary(names, m.names_len, req, &vh) < 0)
		return -EINVAL;
	s->have = true;
	s->variant = true;
	s->n = m.n;
	s->epoch = m.epoch;
	s->names_hash = XXH3_64bits(names, m.names_len);
	memcpy(s->vary, m.vary, sizeof(s->vary));
	struct hcache_key pk = { .hi = primary.hi, .lo = primary.lo }, vk;
	hcache_variant_key(&pk, m.epoch, vh, &vk);
	*variant = to_cindex(&vk);
	return 0;
}

/* A new epoch: unique per marker written (shard, request, clocks), so
 * that variants of an older marker are never reached again. */
static uint64_t new_epoch(const struct shard *sh, const struct visitor_conn *vc)
{
	uint64_t in[3] = { sh->lp.unix_ms, vc->x.reqid, loop_now_ns() };
	return XXH3_64bits(in, sizeof(in));
}

/* Write the marker under primary (meta only): best effort. */
static int write_marker(struct shard *sh, const struct evary_state *s, const char *names,
			size_t names_len, struct cindex_key primary, const char *key_text,
			size_t key_text_len, uint32_t expires)
{
	char buf[sizeof(struct evary_meta) + LIMIT_VARY_NAMES_BYTES];
	struct evary_meta m = {
		.magic = EVARY_MAGIC, .names_len = (uint16_t)names_len, .n = s->n,
		.epoch = s->epoch,
	};
	struct store_io io[4];
	uint32_t wid;

	memcpy(m.vary, s->vary, sizeof(m.vary));
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), names, names_len);
	if (!ecache_write_room(sh, 4))
		return -EBUSY;
	struct store_obj obj = {
		.meta = buf, .meta_len = (uint32_t)(sizeof(m) + names_len), .body_len = 0,
		.expires = expires, .key_text = key_text, .key_text_len = key_text_len,
	};
	int n = store_write_begin(sh->store, sh->id, primary, &obj, &wid, io, 4);
	if (n < 0)
		return -EBUSY;
	sh->fill_began_ms[wid % LIMIT_STORE_WRITES] = sh->lp.now_ms;
	ecache_submit_writes(sh, io, n);
	COUNT(sh, cache_vary_markers);
	return 0;
}

int evary_fill(struct shard *sh, struct visitor_conn *vc, const struct hcache_resp_info *ri,
	       struct cindex_key primary, const char *key_text, size_t key_text_len,
	       uint32_t expires, struct cindex_key *okey, bool *marker_written)
{
	struct evary_state *s = &vc->x.cache.vary;
	char names[LIMIT_VARY_NAMES_BYTES];
	size_t names_len;
	uint64_t vh;

	*marker_written = false;
	if (hcache_vary_names(&ri->vary, names, sizeof(names), &names_len) < 0 ||
	    request_vary(names, names_len, &vc->req, &vh) < 0)
		return -EINVAL;
	uint64_t nh = XXH3_64bits(names, names_len);
	if (!s->have || s->names_hash != nh) {
		/* A new URL, a plain object before, or Vary names that
		 * changed: the variants of the old list must not be served
		 * for this one. */
		s->have = true;
		s->epoch = new_epoch(sh, vc);
		s->names_hash = nh;
		s->n = 0;
		memset(s->vary, 0, sizeof(s->vary));
	}
	struct hcache_key pk = { .hi = primary.hi, .lo = primary.lo }, vk;
	hcache_variant_key(&pk, s->epoch, vh, &vk);
	*okey = to_cindex(&vk);
	for (unsigned i = 0; i < s->n; i++)
		if (s->vary[i] == vh)
			return 0;           /* listed: only the variant is rewritten */
	if (s->n == LIMIT_VARY_VARIANTS) {
		COUNT(sh, cache_vary_refused);
		return -ENOSPC;
	}
	s->vary[s->n++] = vh;
	if (write_marker(sh, s, names, names_len, primary, key_text, key_text_len, expires) < 0)
		return -EBUSY;
	*marker_written = true;
	return 0;
}

int evary_shares(const struct http1_response *resp, const struct http1_request *a,
		 const struct http1_request *b)
{
	struct hcache_resp_info ri;
	char names[LIMIT_VARY_NAMES_BYTES];
	size_t names_len;
	uint64_t va, vb;

	hcache_parse_response(resp, 0, &ri);
	if (ri.vary.n == 0 && !ri.vary.star)
		return 1;
	if (hcache_vary_names(&ri.vary, names, sizeof(names), &names_len) < 0 ||
	    request_vary(names, names_len, a, &va) < 0 ||
	    request_vary(names, names_len, b, &vb) < 0)
		return -1;
	return va == vb;
}
