/*
 * cache/cache_policy.c — the request pipeline's caching decisions (see
 * cache_policy.h); moved from edge/edge_cache.c and edge/edge_large.c,
 * which apply them.
 */
#include "cache/cache_policy.h"

#include "core/limits.h"

enum cpol_request cpol_request(enum http1_method method, bool has_body, bool store_on)
{
	/* Methods the cache never answers, and requests with a body, pass. */
	if (has_body || (method != HTTP1_GET && method != HTTP1_HEAD))
		return CPOL_REQ_PASS;
	return store_on ? CPOL_REQ_LOOKUP : CPOL_REQ_BYPASS;
}

enum hcache_xcache cpol_request_xcache(enum cpol_request d)
{
	switch (d) {
	case CPOL_REQ_PASS:
		return HCACHE_X_PASS;
	case CPOL_REQ_BYPASS:
	case CPOL_REQ_NO_KEY:
		return HCACHE_X_BYPASS;
	case CPOL_REQ_LOOKUP:
		break;
	}
	return HCACHE_X_MISS;
}

bool cpol_collapse_eligible(const struct cpol_collapse_in *in)
{
	return in->collapse_on && in->method == HTTP1_GET && !in->have_stored &&
	       !in->background && !in->range;
}

bool cpol_pass_since(uint64_t now_ms, uint64_t *since)
{
	if (now_ms <= LIMIT_COLLAPSE_PASS_MS)
		return false;
	*since = now_ms - LIMIT_COLLAPSE_PASS_MS;
	return true;
}

bool cpol_may_follow(const struct cpol_leader *l, uint8_t version_minor, struct cindex_key key)
{
	return l->busy && l->leading && !l->background && !l->head_queued &&
	       l->method == HTTP1_GET && l->version_minor == version_minor &&
	       l->ckey.lo == key.lo && l->ckey.hi == key.hi;
}

bool cpol_pass(bool leading, bool shareable)
{
	return leading && !shareable;
}

struct cpol_stored cpol_stored(enum hcache_action a, enum http1_method method)
{
	struct cpol_stored d = { .act = CPOL_STORED_SERVE };

	switch (a) {
	case HCACHE_SERVE_FRESH:
		d.xcache = HCACHE_X_HIT;
		break;
	case HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND:
		d.xcache = HCACHE_X_UPDATING;
		d.refresh = method == HTTP1_GET;
		break;
	case HCACHE_SERVE_STALE:
		d.xcache = HCACHE_X_STALE;
		break;
	case HCACHE_GATEWAY_TIMEOUT:
		d.act = CPOL_STORED_504;
		d.xcache = HCACHE_X_MISS;
		break;
	case HCACHE_MISS:
	case HCACHE_REVALIDATE:
	default:
		/* Stale or no-cache: the origin, with the copy's validators
		 * when it has any; the copy answers a 304 or stale-if-error. */
		d.act = CPOL_STORED_ORIGIN;
		d.xcache = HCACHE_X_EXPIRED;
		break;
	}
	return d;
}

enum hcache_xcache cpol_xcache_unserved(enum hcache_xcache x)
{
	if (x == HCACHE_X_HIT || x == HCACHE_X_UPDATING || x == HCACHE_X_STALE)
		return HCACHE_X_MISS;
	return x;
}

enum cpol_count cpol_storable_count(const struct hcache_resp_info *ri,
				    const struct hcache_store *hs)
{
	if (hs->store && ri->set_cookie)
		return CPOL_COUNT_SET_COOKIE_STRIPPED;
	switch (hs->reason) {
	case HCACHE_R_SET_COOKIE:
		return CPOL_COUNT_SET_COOKIE_PASSED;
	case HCACHE_R_REQUEST_ERROR:
		return CPOL_COUNT_REQUEST_ERROR_PASSED;
	case HCACHE_R_RANGE:
		return CPOL_COUNT_RANGE_PASSED;
	default:
		return CPOL_COUNT_NONE;
	}
}

struct cpol_fill cpol_fill(const struct cpol_fill_in *in)
{
	struct cpol_fill d = { .what = CPOL_FILL_UNFRAMED };

	if (!in->framed)
		return d;
	d.drop_primary = in->vary_star && in->had_stored;
	if (!in->store)
		d.what = CPOL_FILL_NOT_STORED;
	else if (in->vary_n > 0 && (uint64_t)in->content_length > in->max_object)
		d.what = CPOL_FILL_VARY_TOO_LARGE;
	else
		d.what = CPOL_FILL_STORE;
	return d;
}

bool cpol_drops_conditionals(bool large_fetching, bool revalidating, bool background)
{
	return large_fetching || revalidating || background;
}

bool cpol_refresh_may_start(bool collapse_on, bool draining)
{
	return collapse_on && !draining;
}

bool cpol_refresh_failed(enum hcache_xcache xcache, uint16_t origin_status)
{
	if (xcache == HCACHE_X_HIT)
		return false;
	return origin_status == 0 || origin_status >= 500;
}
