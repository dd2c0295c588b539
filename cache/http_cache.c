/*
 * cache/http_cache.c — storability, freshness, age and the serving
 * decision (RFC 9111 3, 4.2, 4.2.3, 5.2; RFC 5861). Contracts in
 * cache/http_cache.h; the decisions are explained in docs/http-cache.md.
 */
#include <errno.h>
#include <string.h>

#include "cache/http_cache.h"
#include "cache/http_cache_int.h"

static const char *const reason_names[HCACHE_R__COUNT] = {
	[HCACHE_R_EXPLICIT] = "explicit",
	[HCACHE_R_HEURISTIC] = "heuristic",
	[HCACHE_R_DEFAULT_TTL] = "default_ttl",
	[HCACHE_R_NEGATIVE_TTL] = "negative_ttl",
	[HCACHE_R_METHOD] = "method",
	[HCACHE_R_STATUS] = "status",
	[HCACHE_R_PARTIAL] = "partial",
	[HCACHE_R_AUTH_STATUS] = "auth_status",
	[HCACHE_R_REQUEST_ERROR] = "request_error",
	[HCACHE_R_SERVER_ERROR] = "server_error",
	[HCACHE_R_RANGE] = "range",
	[HCACHE_R_MUST_UNDERSTAND] = "must_understand",
	[HCACHE_R_NO_STORE_REQUEST] = "no_store_request",
	[HCACHE_R_NO_STORE] = "no_store",
	[HCACHE_R_PRIVATE] = "private",
	[HCACHE_R_SET_COOKIE] = "set_cookie",
	[HCACHE_R_AUTHORIZATION] = "authorization",
	[HCACHE_R_VARY_STAR] = "vary_star",
	[HCACHE_R_VARY_TOO_MANY] = "vary_too_many",
	[HCACHE_R_ETAG_TOO_LONG] = "etag_too_long",
	[HCACHE_R_NO_FRESHNESS] = "no_freshness",
};

const char *hcache_reason_name(enum hcache_reason r)
{
	return (unsigned)r < HCACHE_R__COUNT && reason_names[r] ? reason_names[r] : "unknown";
}

const char *hcache_action_name(enum hcache_action a)
{
	static const char *const n[] = {
		"miss", "serve_fresh", "serve_stale",
		"serve_stale_revalidate_in_background", "revalidate", "gateway_timeout",
	};

	return (unsigned)a < sizeof(n) / sizeof(n[0]) ? n[a] : "unknown";
}

const char *hcache_xcache_name(enum hcache_xcache x)
{
	static const char *const n[HCACHE_X__COUNT] = {
		[HCACHE_X_NONE] = "-", [HCACHE_X_HIT] = "HIT", [HCACHE_X_MISS] = "MISS",
		[HCACHE_X_EXPIRED] = "EXPIRED", [HCACHE_X_STALE] = "STALE",
		[HCACHE_X_UPDATING] = "UPDATING", [HCACHE_X_REVALIDATED] = "REVALIDATED",
		[HCACHE_X_PASS] = "PASS", [HCACHE_X_BYPASS] = "BYPASS",
	};

	return (unsigned)x < HCACHE_X__COUNT ? n[x] : "-";
}

/* ---- status classes ------------------------------------------------------- */

/* RFC 9110 15.1: cacheable by default (heuristics allowed). */
static bool heuristic_status(uint16_t s)
{
	switch (s) {
	case 200: case 203: case 204: case 206: case 300: case 301: case 308:
	case 404: case 405: case 410: case 414: case 501:
		return true;
	default:
		return false;
	}
}

/* Statuses whose semantics the edge implements (must-understand). */
static bool understood_status(uint16_t s)
{
	return heuristic_status(s) || s == 302 || s == 303 || s == 307 || s == 400;
}

/*
 * Why the status alone keeps a response out, else HCACHE_R__COUNT. The
 * key is the URL, never the request's headers, so a status caused by one
 * request's headers would be every visitor's answer: of the 4xx only 404
 * and 410 (the resource is not there) are about the URL; 400, 412, 413,
 * 414, 416, 417, 431, 429, ... are about this request (CPDoS). A 5xx
 * says the origin failed, maybe on this request (a header it chokes on):
 * not stored either, unless the zone says its origin's errors are about
 * the URL (store_server_errors) and the origin gave this one explicit
 * freshness (s-maxage, max-age, Expires; RFC 9111 3: any status may be
 * stored then) — never on a default_ttl or a heuristic (lifetime() has
 * none for a 5xx).
 */
static enum hcache_reason status_reason(const struct hcache_policy *pol, uint16_t s,
					const struct hcache_resp_info *r)
{
	uint32_t cc_flags = r->cc.flags;

	if (s < 200 || s == 304)
		return HCACHE_R_STATUS;
	if (s == 206)
		return HCACHE_R_PARTIAL;
	if (s == 401 || s == 403 || s == 407)
		return HCACHE_R_AUTH_STATUS;
	if (s >= 400 && s < 500 && s != 404 && s != 410)
		return HCACHE_R_REQUEST_ERROR;
	if (s >= 500 && (!pol->store_server_errors ||
			 (r->cc.s_maxage < 0 && r->cc.max_age < 0 && !r->has_expires)))
		return HCACHE_R_SERVER_ERROR;
	if ((cc_flags & HCACHE_CC_MUST_UNDERSTAND) && !understood_status(s))
		return HCACHE_R_MUST_UNDERSTAND;
	return HCACHE_R__COUNT;
}

/* RFC 9111 3 and 3.5: the directives and fields that keep it out. */
static enum hcache_reason directive_reason(const struct hcache_policy *pol,
					   const struct hcache_req_info *req,
					   const struct hcache_resp_info *r)
{
	uint32_t f = r->cc.flags;
	/* must-understand with a status we understand overrides no-store */
	bool understood = (f & HCACHE_CC_MUST_UNDERSTAND) && understood_status(r->status);

	if (req->method != HTTP1_GET)
		return HCACHE_R_METHOD;
	if (req->cc.flags & HCACHE_CC_NO_STORE)
		return HCACHE_R_NO_STORE_REQUEST;
	if (status_reason(pol, r->status, r) != HCACHE_R__COUNT)
		return status_reason(pol, r->status, r);
	/* A 200 to a Range request is the whole representation (RFC 9110
	 * 14.2: the origin ignored the Range); anything else answers that
	 * Range (a 416, an error a WAF gave an odd Range) and not the URL. */
	if (req->range.p && r->status != 200)
		return HCACHE_R_RANGE;
	if ((f & HCACHE_CC_NO_STORE) && !understood)
		return HCACHE_R_NO_STORE;
	if (f & HCACHE_CC_PRIVATE)
		return HCACHE_R_PRIVATE;
	if (r->set_cookie && pol->set_cookie != HCACHE_SC_STRIP)
		return HCACHE_R_SET_COOKIE;
	if (req->authorization && !(f & (HCACHE_CC_PUBLIC | HCACHE_CC_MUST_REVALIDATE)) &&
	    r->cc.s_maxage < 0)
		return HCACHE_R_AUTHORIZATION;
	if (r->vary.star)
		return HCACHE_R_VARY_STAR;
	if (r->vary.too_many)
		return HCACHE_R_VARY_TOO_MANY;
	if (r->etag.len > LIMIT_ETAG_BYTES)
		return HCACHE_R_ETAG_TOO_LONG;
	return HCACHE_R__COUNT;
}

/* ---- freshness lifetime (RFC 9111 4.2.1, 4.2.2) ------------------------- */

static enum hcache_reason lifetime(const struct hcache_policy *pol,
				   const struct hcache_resp_info *r, int64_t date,
				   int64_t *out)
{
	uint16_t s = r->status;

	if (r->cc.s_maxage >= 0 || r->cc.max_age >= 0 || r->has_expires) {
		*out = r->cc.s_maxage >= 0 ? r->cc.s_maxage : r->cc.max_age >= 0 ?
		       r->cc.max_age : r->expires - date;
		*out = *out < 0 ? 0 : *out;
		return HCACHE_R_EXPLICIT;
	}
	/* no-cache with a validator and nothing else: the origin asks to be
	 * asked each time (RFC 9111 5.2.2.4), so it is stored stale and
	 * revalidated on every use — a 304 then saves the body's transfer. */
	if ((r->cc.flags & HCACHE_CC_NO_CACHE) && heuristic_status(s) && s < 400 &&
	    (r->etag.len || r->last_modified != HCACHE_TIME_NONE)) {
		*out = 0;
		return HCACHE_R_EXPLICIT;
	}
	if (pol->heuristic_freshness && r->last_modified != HCACHE_TIME_NONE &&
	    (heuristic_status(s) || (r->cc.flags & HCACHE_CC_PUBLIC)) && s < 500) {
		*out = (date - r->last_modified) / 10;
		*out = *out < 0 ? 0 : *out > LIMIT_HEURISTIC_S_MAX ? LIMIT_HEURISTIC_S_MAX : *out;
		return HCACHE_R_HEURISTIC;
	}
	if (s == 404 || s == 410) {
		*out = pol->negative_ttl_s;
		return pol->negative_ttl_s ? HCACHE_R_NEGATIVE_TTL : HCACHE_R_NO_FRESHNESS;
	}
	*out = pol->default_ttl_s;
	if (!heuristic_status(s))
		return HCACHE_R_STATUS;
	return pol->default_ttl_s ? HCACHE_R_DEFAULT_TTL : HCACHE_R_NO_FRESHNESS;
}

/* RFC 9111 4.2.3: corrected_initial_age (an ignored Age counts as 0). */
static int64_t initial_age(const struct hcache_resp_info *r, int64_t request_time,
			   int64_t response_time)
{
	int64_t apparent = 0, delay = response_time - request_time, corrected;

	if (r->date != HCACHE_TIME_NONE && response_time > r->date)
		apparent = response_time - r->date;
	corrected = r->age + (delay > 0 ? delay : 0);
	return apparent > corrected ? apparent : corrected;
}

static uint32_t window(int64_t directive, uint32_t zone_default)
{
	return directive >= 0 ? (uint32_t)directive : zone_default;
}

static void fill_entry(const struct hcache_policy *pol, const struct hcache_resp_info *r,
		       int64_t request_time, int64_t response_time,
		       struct hcache_entry *e)
{
	uint32_t f = r->cc.flags;

	memset(e, 0, sizeof(*e));
	e->request_time = request_time;
	e->response_time = response_time;
	e->corrected_initial_age = initial_age(r, request_time, response_time);
	e->date = r->date != HCACHE_TIME_NONE ? r->date : response_time;
	e->last_modified = r->last_modified;
	e->stale_while_revalidate_s = window(r->cc.stale_while_revalidate,
					     pol->stale_while_revalidate_s);
	e->stale_if_error_s = window(r->cc.stale_if_error, pol->stale_if_error_s);
	e->flags = (f & HCACHE_CC_NO_CACHE ? HCACHE_E_NO_CACHE : 0) |
		   (f & HCACHE_CC_IMMUTABLE ? HCACHE_E_IMMUTABLE : 0) |
		   (r->last_modified != HCACHE_TIME_NONE ? HCACHE_E_HAS_LM : 0);
	/* shared cache: s-maxage implies proxy-revalidate (RFC 9111 5.2.2.10) */
	if ((f & (HCACHE_CC_MUST_REVALIDATE | HCACHE_CC_PROXY_REVALIDATE)) ||
	    r->cc.s_maxage >= 0)
		e->flags |= HCACHE_E_NO_STALE;
	e->status = r->status;
	e->etag_len = (uint8_t)r->etag.len;
	e->etag_weak = r->etag_weak;
	if (r->etag.len)
		memcpy(e->etag, r->etag.p, r->etag.len);
}

int hcache_storable(const struct hcache_policy *pol,
		    const struct hcache_req_info *req,
		    const struct hcache_resp_info *resp,
		    int64_t request_time, int64_t response_time,
		    struct hcache_store *st, struct hcache_entry *e)
{
	int64_t date = resp->date != HCACHE_TIME_NONE ? resp->date : response_time;
	int64_t life = 0;
	struct hcache_resp_info targeted;
	struct hcache_cc tcc;

	/* RFC 9213 2.1: a targeted field that applies is the only caching
	 * directive: Cache-Control and Expires are ignored. The response is
	 * copied only then. */
	if (resp->headers && hcache_parse_targeted(pol, resp->headers, resp->n_headers, &tcc)) {
		targeted = *resp;
		targeted.cc = tcc;
		targeted.n_cc = 1;
		targeted.has_expires = false;
		resp = &targeted;
	}
	memset(st, 0, sizeof(*st));
	st->reason = directive_reason(pol, req, resp);
	if (st->reason == HCACHE_R__COUNT)
		st->reason = lifetime(pol, resp, date, &life);
	st->store = st->reason <= HCACHE_R_NEGATIVE_TTL;
	if (!st->store)
		return 0;
	fill_entry(pol, resp, request_time, response_time, e);
	e->lifetime_s = life;
	st->lifetime_s = life;
	st->fresh_until = response_time - e->corrected_initial_age + life;
	st->swr_until = st->fresh_until;
	st->sie_until = st->fresh_until;
	if (!(e->flags & (HCACHE_E_NO_STALE | HCACHE_E_NO_CACHE))) {
		st->swr_until += e->stale_while_revalidate_s;
		st->sie_until += e->stale_if_error_s;
	}
	return 0;
}

int64_t hcache_age(const struct hcache_entry *e, int64_t now_s)
{
	int64_t resident = now_s > e->response_time ? now_s - e->response_time : 0;
	int64_t age = e->corrected_initial_age + resident;

	return age < 0 ? 0 : age > LIMIT_DELTA_SECONDS_MAX ? LIMIT_DELTA_SECONDS_MAX : age;
}

/* ---- serving ---------------------------------------------------------- */

/*
 * Stale, and no request directive forbids it: max-stale serves it as is,
 * the stale-while-revalidate window serves it and refreshes behind.
 */
static enum hcache_action stale_action(const struct hcache_entry *e,
				       const struct hcache_cc *rc, int64_t age)
{
	int64_t staleness = age - e->lifetime_s;

	if (e->flags & HCACHE_E_NO_STALE || staleness < 0)
		return HCACHE_REVALIDATE;
	if ((rc->flags & HCACHE_CC_MAX_STALE_ANY) ||
	    (rc->max_stale >= 0 && staleness <= rc->max_stale))
		return HCACHE_SERVE_STALE;
	if (rc->max_age < 0 && rc->min_fresh < 0 &&
	    staleness < e->stale_while_revalidate_s)
		return HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND;
	return HCACHE_REVALIDATE;
}

enum hcache_action hcache_decide(const struct hcache_entry *e,
				 const struct hcache_req_info *req, int64_t now_s)
{
	const struct hcache_cc *rc = &req->cc;
	bool oic = rc->flags & HCACHE_CC_ONLY_IF_CACHED;
	enum hcache_action a = HCACHE_REVALIDATE;
	int64_t age;
	bool fresh, immutable;

	if (!e)
		return oic ? HCACHE_GATEWAY_TIMEOUT : HCACHE_MISS;
	age = hcache_age(e, now_s);
	fresh = age < e->lifetime_s;
	/* immutable: a visitor's reload does not reach the origin while fresh */
	immutable = fresh && (e->flags & HCACHE_E_IMMUTABLE);
	if (!immutable && rc->max_age >= 0 && age > rc->max_age)
		fresh = false;
	if (!immutable && rc->min_fresh >= 0 && e->lifetime_s - age < rc->min_fresh)
		fresh = false;
	if (e->flags & HCACHE_E_NO_CACHE)
		a = HCACHE_REVALIDATE;
	else if ((rc->flags & HCACHE_CC_NO_CACHE) && !immutable)
		a = HCACHE_REVALIDATE;
	else if (fresh)
		a = HCACHE_SERVE_FRESH;
	else
		a = stale_action(e, rc, age);
	return a == HCACHE_REVALIDATE && oic ? HCACHE_GATEWAY_TIMEOUT : a;
}

bool hcache_stale_if_error(const struct hcache_entry *e, const struct hcache_req_info *req,
			   int64_t now_s)
{
	int64_t staleness = hcache_age(e, now_s) - e->lifetime_s;
	int64_t window = e->stale_if_error_s;

	if (e->flags & (HCACHE_E_NO_STALE | HCACHE_E_NO_CACHE))
		return false;
	/* RFC 5861 4: the visitor's own stale-if-error is a permission too
	 * (RFC 9111 4.2.4: the client or the origin may allow stale). */
	if (req && req->cc.stale_if_error > window)
		window = req->cc.stale_if_error;
	return staleness < 0 || staleness < window;
}

enum hcache_head hcache_origin_head(const struct hcache_entry *stored,
				   const struct hcache_req_info *req, bool revalidating,
				   uint16_t status, int64_t now_s)
{
	if (!stored)
		return HCACHE_HEAD_FORWARD;
	if (status == 304 && revalidating)
		return HCACHE_HEAD_REVALIDATED;
	if (status >= 500 && hcache_stale_if_error(stored, req, now_s))
		return HCACHE_HEAD_STALE;
	return HCACHE_HEAD_FORWARD;
}

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------- */

bool hcache_invalidates(enum http1_method m, uint16_t status)
{
	bool safe = m == HTTP1_GET || m == HTTP1_HEAD || m == HTTP1_OPTIONS ||
		    m == HTTP1_TRACE;

	return !safe && status >= 200 && status < 400;
}

int hcache_same_origin_path(const char *v, size_t len, const char *host,
			    size_t host_len, struct hcache_span *path)
{
	size_t skip = hcache_eq(v, len < 7 ? len : 7, "http://") ? 7 :
		      hcache_eq(v, len < 8 ? len : 8, "https://") ? 8 : 0;
	const char *slash;

	if (skip) {
		slash = memchr(v + skip, '/', len - skip);
		if (!slash || (size_t)(slash - v - skip) != host_len)
			return -EINVAL;
		for (size_t i = 0; i < host_len; i++)
			if (hcache_lower(v[skip + i]) != hcache_lower(host[i]))
				return -EINVAL;
		len -= (size_t)(slash - v);
		v = slash;
	}
	if (len == 0 || v[0] != '/' || (len > 1 && v[1] == '/'))
		return -EINVAL;
	path->p = v;
	path->len = (uint32_t)len;
	return 0;
}
