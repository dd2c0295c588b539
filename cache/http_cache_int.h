/*
 * cache/http_cache_int.h — helpers shared by the cache/http_cache*.c
 * files: field-value lists and case-insensitive names. Not for other
 * modules (they use cache/http_cache.h).
 */
#ifndef EDGECACHE_CACHE_HTTP_CACHE_INT_H
#define EDGECACHE_CACHE_HTTP_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/http_cache.h"

static inline char hcache_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* s[0..len) equals the lower-case literal `lit`, ignoring case. */
bool hcache_eq(const char *s, size_t len, const char *lit);

/* a[0..alen) equals b[0..blen), ignoring ASCII case. */
bool hcache_eq_ci(const char *a, size_t alen, const char *b, size_t blen);

/* Does some line of field `field` (lower-case) among h[0..n) list the
 * token tok (any case)? Connection, Pragma. */
bool hcache_field_has(const struct http1_header *h, size_t n, const char *field,
		  const char *tok, size_t tok_len);

/*
 * The next item of a comma-separated field value in [*cur, end), OWS
 * trimmed; commas inside quoted strings do not split. Empty items are
 * returned too (len 0). Returns false when nothing is left.
 */
bool hcache_list_next(const char **cur, const char *end, struct hcache_span *item);

/* 1*DIGIT, capped at LIMIT_DELTA_SECONDS_MAX; -1 if not 1*DIGIT. */
int64_t hcache_delta_seconds(const char *s, size_t len);

/* Does the entity-tag list a[0..alen) hold tag t (weak: W/ ignored on
 * both; strong: both strong and equal)? "*" matches any tag. */
bool hcache_etag_list_match(const char *a, size_t alen, const char *t, size_t tlen,
			bool strong);

#endif /* EDGECACHE_CACHE_HTTP_CACHE_INT_H */
