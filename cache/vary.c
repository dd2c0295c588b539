/*
 * cache/vary.c — Vary with stored variants, the decisions (see vary.h);
 * moved from edge/edge_vary.c, which keeps the store writes.
 *
 * The marker's meta: struct vary_meta, then the canonical Vary names
 * (hcache_vary_names). Its body is empty.
 */
#include "cache/vary.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#define VARY_MAGIC 0x45435631u              /* "ECV1" */

struct vary_meta {
	uint32_t magic;
	uint16_t names_len;
	uint8_t n;
	uint8_t pad;
	uint64_t epoch;
	uint64_t vary[LIMIT_VARY_VARIANTS];
};

bool vary_is_marker(const void *meta, uint32_t meta_len)
{
	uint32_t magic;

	_Static_assert(sizeof(struct vary_meta) + LIMIT_VARY_NAMES_BYTES <= VARY_MARKER_MAX_BYTES,
		       "VARY_MARKER_MAX_BYTES");
	if (meta_len < sizeof(struct vary_meta) || meta_len > VARY_MARKER_MAX_BYTES)
		return false;
	memcpy(&magic, meta, sizeof(magic));
	return magic == VARY_MAGIC;
}

static struct cindex_key to_cindex(const struct hcache_key *k)
{
	return (struct cindex_key){ .lo = k->lo, .hi = k->hi };
}

int vary_request_key(const char *names, size_t len, const struct http1_request *req,
		     uint64_t *out)
{
	struct hcache_vary v;

	if (hcache_vary_parse_names(names, len, &v) < 0)
		return -EINVAL;
	return hcache_vary_key(&v, req->headers, req->n_headers, out);
}

int vary_from_marker(struct vary_state *s, const void *meta, uint32_t meta_len,
		     struct cindex_key primary, const struct http1_request *req,
		     struct cindex_key *variant)
{
	struct vary_meta m;
	uint64_t vh;

	if (!vary_is_marker(meta, meta_len))
		return -EINVAL;
	memcpy(&m, meta, sizeof(m));
	if (m.names_len > meta_len - sizeof(m) || m.n > LIMIT_VARY_VARIANTS ||
	    m.names_len > LIMIT_VARY_NAMES_BYTES)
		return -EINVAL;
	const char *names = (const char *)meta + sizeof(m);
	if (vary_request_key(names, m.names_len, req, &vh) < 0)
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

int vary_add(struct vary_state *s, uint64_t names_hash, uint64_t epoch, uint64_t vh,
	     struct cindex_key primary, struct cindex_key *okey)
{
	if (!s->have || s->names_hash != names_hash) {
		/* A new URL, a plain object before, or Vary names that
		 * changed: the variants of the old list must not be served
		 * for this one. */
		s->have = true;
		s->epoch = epoch;
		s->names_hash = names_hash;
		s->n = 0;
		memset(s->vary, 0, sizeof(s->vary));
	}
	struct hcache_key pk = { .hi = primary.hi, .lo = primary.lo }, vk;
	hcache_variant_key(&pk, s->epoch, vh, &vk);
	*okey = to_cindex(&vk);
	for (unsigned i = 0; i < s->n; i++)
		if (s->vary[i] == vh)
			return 0;           /* listed: only the variant is rewritten */
	if (s->n == LIMIT_VARY_VARIANTS)
		return -ENOSPC;
	s->vary[s->n++] = vh;
	return 1;
}

int vary_marker_encode(const struct vary_state *s, const char *names, size_t names_len,
		       char *buf, size_t cap)
{
	struct vary_meta m = {
		.magic = VARY_MAGIC, .names_len = (uint16_t)names_len, .n = s->n,
		.epoch = s->epoch,
	};

	if (names_len > LIMIT_VARY_NAMES_BYTES || sizeof(m) + names_len > cap)
		return -ENOSPC;
	memcpy(m.vary, s->vary, sizeof(m.vary));
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), names, names_len);
	return (int)(sizeof(m) + names_len);
}

int vary_shares(const struct http1_response *resp, const struct http1_request *a,
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
	    vary_request_key(names, names_len, a, &va) < 0 ||
	    vary_request_key(names, names_len, b, &vb) < 0)
		return -1;
	return va == vb;
}
