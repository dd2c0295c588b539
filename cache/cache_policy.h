/*
 * cache/cache_policy.h — the request pipeline's caching decisions, as pure
 * functions: whether a request is looked up, passed or bypassed (and its
 * X-Cache), whether a miss may collapse and on which leader, the pass-stamp
 * window, what a stored object found by a lookup leads to, what a fill does
 * with a response (Vary: * and a Vary response too large for one object),
 * which counter a storability outcome goes to, when a leader passes, when
 * conditionals are dropped from an origin request, when a background
 * refresh may start and when it failed, and the X-Cache of a hit that the
 * origin answered after all.
 *
 * RFC 9111 itself is cache/http_cache*.c's; these functions combine its
 * answers with the pipeline's facts (the zone has a store, the exchange is
 * a background refresh, a stale copy is held, ...) into one decision that
 * edge/ applies: I/O, counters, queueing, X-Cache.
 *
 * Owns: nothing. Every function reads its arguments and returns a value.
 * Called by: edge/edge_cache.c, edge/edge_large.c and edge/exchange.c (the
 * request pipeline); any thread.
 * Never: does I/O, reads a clock (times are passed in), allocates, logs,
 * counts, or keeps state between calls.
 */
#ifndef EDGECACHE_CACHE_CACHE_POLICY_H
#define EDGECACHE_CACHE_CACHE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/http_cache.h"
#include "cache/index.h"
#include "core/http_msg.h"

/* ---- before the lookup ------------------------------------------------- */

enum cpol_request {
	CPOL_REQ_PASS = 0,          /* not GET/HEAD, or a request body: never answered */
	CPOL_REQ_BYPASS,            /* the zone has no store */
	CPOL_REQ_NO_KEY,            /* (the caller's fact) the cache key does not fit */
	CPOL_REQ_LOOKUP,            /* looked up (needs the key) */
};

/*
 * A request's first decision. LOOKUP needs the cache key: when the caller
 * cannot build it (hcache_key < 0) the request is CPOL_REQ_NO_KEY.
 */
enum cpol_request cpol_request(enum http1_method method, bool has_body, bool store_on);

/* The X-Cache a request carries after that decision (PASS, BYPASS for
 * BYPASS and NO_KEY, MISS until a lookup finds more). */
enum hcache_xcache cpol_request_xcache(enum cpol_request d);

/* ---- collapsing ---------------------------------------------------------- */

/* A miss, about to fetch: the facts that say whether it may collapse. */
struct cpol_collapse_in {
	bool collapse_on;           /* the shard has a collapse table */
	enum http1_method method;
	bool have_stored;           /* it revalidates a stored copy of its own */
	bool background;            /* a refresh: it claimed its key before */
	bool range;                 /* a Range that goes to the origin as is */
};

/*
 * May this miss lead or follow a fetch of its key? Only a GET for the
 * whole object, not a refresh, not revalidating its own copy: a partial
 * answer, a 304 or an error to another request is nobody else's.
 */
bool cpol_collapse_eligible(const struct cpol_collapse_in *in);

/*
 * The pass-stamp window at now_ms: a key whose last response could not be
 * shared (stamped at or after *since) fetches side by side for
 * LIMIT_COLLAPSE_PASS_MS. False: the window starts before the clock's
 * origin (no stamp counts yet).
 */
bool cpol_pass_since(uint64_t now_ms, uint64_t *since);

/* A leader's state, as a follower sees it. */
struct cpol_leader {
	bool busy;                  /* its slot holds a live exchange of that generation */
	bool leading;
	bool background;
	bool head_queued;           /* its head went out: too late to share */
	enum http1_method method;
	uint8_t version_minor;
	struct cindex_key ckey;     /* the key it claimed */
};

/*
 * May a GET with HTTP/1.<version_minor> for `key` follow this same-shard
 * leader (receive its response as it is sent)? Its head not yet queued, a
 * plain GET of the same version (the head is written once for all), the
 * same key. False: the follower parks until the object lands.
 */
bool cpol_may_follow(const struct cpol_leader *l, uint8_t version_minor, struct cindex_key key);

/*
 * A leader's response head was decided: does it pass (its followers fetch
 * on their own and the key is pass-stamped)? Yes for a leader whose
 * response cannot be shared (not storable).
 */
bool cpol_pass(bool leading, bool shareable);

/* ---- a stored object found ----------------------------------------------- */

enum cpol_stored_do {
	CPOL_STORED_SERVE = 0,      /* serve it as the X-Cache says */
	CPOL_STORED_504,            /* only-if-cached and nothing usable */
	CPOL_STORED_ORIGIN,         /* ask the origin, keeping it (304, stale-if-error) */
};

struct cpol_stored {
	enum cpol_stored_do act;
	enum hcache_xcache xcache;
	bool refresh;               /* start a background refresh before serving */
};

/*
 * What a lookup does with the stored object hcache_decide_lookup judged
 * `a`, for a request of `method`: a fresh hit, a stale one within
 * stale-while-revalidate (refreshed behind, GET only: a HEAD's refresh
 * would store no body), a stale one the visitor allows, a 504, or the
 * origin (X-Cache EXPIRED until a 304 or stale-if-error uses the copy).
 */
struct cpol_stored cpol_stored(enum hcache_action a, enum http1_method method);

/*
 * A stored object chosen to be served was not (no buffer for its head, a
 * large object's chunk missing or of another version) and the origin
 * answers instead: the X-Cache it then says. A hit (HIT, UPDATING, STALE)
 * becomes MISS; EXPIRED, PASS, BYPASS, MISS stay what they were.
 */
enum hcache_xcache cpol_xcache_unserved(enum hcache_xcache x);

/* ---- the origin's answer ----------------------------------------------- */

/* The counter a storability outcome is counted under (edge/ maps it to
 * its named counter; CPOL_COUNT_NONE: none). */
enum cpol_count {
	CPOL_COUNT_NONE = 0,
	CPOL_COUNT_SET_COOKIE_STRIPPED,  /* cache_set_cookie_stripped */
	CPOL_COUNT_SET_COOKIE_PASSED,    /* cache_set_cookie_passed */
	CPOL_COUNT_REQUEST_ERROR_PASSED, /* cache_request_error_passed */
	CPOL_COUNT_RANGE_PASSED,         /* cache_range_passed */
};

/* hcache_storable's answer hs to a response ri → the counter it goes to:
 * a stored response with Set-Cookie had it stripped; a response not
 * stored for its Set-Cookie, a 4xx or a Range is counted as passed. */
enum cpol_count cpol_storable_count(const struct hcache_resp_info *ri,
				    const struct hcache_store *hs);

/* A GET's response head (not a 304 or stale answer): what a fill does. */
struct cpol_fill_in {
	bool framed;                /* hcache_fill_framed: a Content-Length body */
	bool store;                 /* hcache_storable said so */
	bool vary_star;             /* Vary: * */
	uint8_t vary_n;             /* Vary names (0: no Vary) */
	bool had_stored;            /* a marker or a stored copy was found under the key */
	int64_t content_length;
	uint64_t max_object;        /* store_max_object: the largest one-object body */
};

enum cpol_fill_do {
	CPOL_FILL_UNFRAMED = 0,     /* not stored, not counted: its length is unknown */
	CPOL_FILL_NOT_STORED,       /* counted as cache_not_stored */
	CPOL_FILL_VARY_TOO_LARGE,   /* a variant larger than one object: not stored
				     * (variants are never sliced), not counted */
	CPOL_FILL_STORE,
};

struct cpol_fill {
	enum cpol_fill_do what;
	/* Vary: * with something stored: no stored variant fits any more,
	 * the primary key (marker or object) is deleted — even unstored. */
	bool drop_primary;
};

struct cpol_fill cpol_fill(const struct cpol_fill_in *in);

/*
 * Which conditionals and Range headers of the visitor's head an origin
 * request drops: a slice fetch (it asks for its own range, unconditionally),
 * a revalidation (it sends the stored copy's validators instead), a
 * background refresh (the head it copied was another visitor's).
 */
bool cpol_drops_conditionals(bool large_fetching, bool revalidating, bool background);

/*
 * May a stale-while-revalidate hit start a background refresh? Only with
 * the collapse table (its claim is what keeps it to one per key) and not
 * while the shard drains (counted cache_swr_skipped when not).
 */
bool cpol_refresh_may_start(bool collapse_on, bool draining);

/*
 * A background refresh ended: did it fail (counted
 * cache_swr_refresh_failed)? Not when it found the object fresh (someone
 * refreshed it first: X-Cache HIT, nothing was asked); yes when no origin
 * answer came (origin_status 0) or a 5xx did.
 */
bool cpol_refresh_failed(enum hcache_xcache xcache, uint16_t origin_status);

#endif
