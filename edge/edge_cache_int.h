/*
 * edge/edge_cache_int.h — what edge/edge_cache.c shares with edge/edge_large.c
 * (the large-object half of the cache in the request path). Not for other
 * modules: they use edge/edge_cache.h.
 */
#ifndef EDGECACHE_EDGE_EDGE_CACHE_INT_H
#define EDGECACHE_EDGE_EDGE_CACHE_INT_H

#include "edge/edge_cache.h"

struct cfg_zone;

int64_t ecache_now_s(const struct shard *sh);
/* Count what hcache_storable decided that a visitor could have caused or
 * that carries personal data: Set-Cookie passed or stripped, a 4xx about
 * the request, a Range's answer (the counters of docs/http-cache.md). */
void ecache_count_storable(struct shard *sh, const struct hcache_resp_info *ri,
			   const struct hcache_store *hs);
struct hcache_policy ecache_zone_policy(const struct cfg_zone *z);
/* The cache key of ex's request; its text into text[cap). */
int ecache_request_key(const struct exchange *ex, char *text, size_t cap, size_t *text_len,
		       struct cindex_key *key);
/* A hit's response head (status, stored headers, Age, X-Cache, framing). */
void ecache_write_hit_head(struct shard *sh, struct exchange *ex, struct wbuf *w, int status,
			   const struct http1_response *stored, int64_t age,
			   int64_t body_len, const char *content_range);
/* The stored head: status line and the headers a cache stores, minus
 * framing and Set-Cookie. False if it did not fit. */
bool ecache_write_stored_head(struct wbuf *w, const struct http1_response *resp);

#endif
