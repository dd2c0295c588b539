/*
 * cache/http_cache.h — the HTTP caching rules of RFC 9111 (and the parts
 * of RFC 9110 a cache needs) as pure functions over parsed heads.
 *
 * Owns: nothing. Every function reads its arguments and writes only the
 * caller's structs and buffers; results point into the caller's message
 * buffers (struct http1_request / http1_response) or are copied into
 * fixed-size fields bounded by core/limits.h.
 * Called by: any thread; the serving core on the hot path (edge/edge_cache.c,
 * which also persists struct hcache_entry in a stored object's meta,
 * edge/edge_large.c, edge/edge_vary.c, edge/origin.c), cache/vary.c and
 * cache/slice.c, and the admin API for the key of a purged path
 * (control/admin.c).
 * Never: does I/O, reads a clock (times are passed in, seconds since the
 * epoch), allocates, logs, or keeps state between calls.
 *
 * The flow, and every decision taken here, is in docs/http-cache.md:
 *   request  → hcache_parse_request → hcache_key (+ hcache_vary_key)
 *   lookup   → hcache_decide (hcache_decide_lookup) → serve / revalidate /
 *              miss / 504
 *   serve    → hcache_hit_plan (hcache_eval_conditional 304/412,
 *              hcache_range 206/416), hcache_age, hcache_xcache_name; the
 *              head: hcache_header_replaced_on_hit, hcache_header_kept_in_304
 *   response → hcache_parse_response → hcache_storable → struct hcache_entry
 *              (headers kept: hcache_header_stored, hcache_header_in_stored_head;
 *              the store entry's expiry: hcache_store_expires)
 *   origin   → hcache_origin_head: the stored entry answers (304, 5xx with
 *              stale-if-error) or the response is forwarded
 *   unsafe   → hcache_invalidates, hcache_invalidated_paths
 *   304      → hcache_304_matches, hcache_merge_304, then storable again
 *              (the origin request: hcache_revalidation_headers, the
 *              visitor's own dropped: hcache_header_conditional)
 * Vary's variants are cache/vary.h, large objects' slices cache/slice.h.
 */
#ifndef EDGECACHE_CACHE_HTTP_CACHE_H
#define EDGECACHE_CACHE_HTTP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/http_msg.h"

/* "No such time": an absent or invalid Date, Last-Modified, ... */
#define HCACHE_TIME_NONE INT64_MIN

/* ---- Cache-Control ------------------------------------------------------ */

enum hcache_cc_flag {
	HCACHE_CC_NO_STORE         = 1u << 0,
	HCACHE_CC_NO_CACHE         = 1u << 1,   /* also no-cache="field" */
	HCACHE_CC_PRIVATE          = 1u << 2,   /* also private="field" */
	HCACHE_CC_PUBLIC           = 1u << 3,
	HCACHE_CC_MUST_REVALIDATE  = 1u << 4,
	HCACHE_CC_PROXY_REVALIDATE = 1u << 5,
	HCACHE_CC_ONLY_IF_CACHED   = 1u << 6,
	HCACHE_CC_IMMUTABLE        = 1u << 7,
	HCACHE_CC_MUST_UNDERSTAND  = 1u << 8,
	HCACHE_CC_MAX_STALE_ANY    = 1u << 9,   /* max-stale without a value */
	HCACHE_CC_INVALID          = 1u << 10,  /* some value could not be read */
};

/*
 * Parsed Cache-Control. Numbers are delta-seconds, -1 when the directive
 * is absent, capped at LIMIT_DELTA_SECONDS_MAX. The first occurrence of a
 * directive counts (RFC 9111 4.2.1). An invalid value (max-age=abc,
 * max-age=-1, max-age='1') sets HCACHE_CC_INVALID and: max-age and
 * s-maxage become 0 (stale: RFC 9111 4.2.1), min-fresh, max-stale,
 * stale-while-revalidate and stale-if-error stay -1 (ignored).
 */
struct hcache_cc {
	uint32_t flags;
	int64_t max_age, s_maxage, max_stale, min_fresh;
	int64_t stale_while_revalidate, stale_if_error;
};

/*
 * Parse every line of `name` ("cache-control") among h[0..n) as one list
 * (repeated lines combined), directive names in any case, values as token
 * or quoted-string; commas inside quoted strings are skipped over.
 * Returns the number of lines seen (0: the header is absent).
 */
int hcache_parse_cc(const struct http1_header *h, size_t n, struct hcache_cc *cc);

/* No Cache-Control at all: no flag, every number absent (-1). */
#define HCACHE_CC_ABSENT ((struct hcache_cc){ .flags = 0, .max_age = -1, .s_maxage = -1, \
	.max_stale = -1, .min_fresh = -1, .stale_while_revalidate = -1, .stale_if_error = -1 })

/* ---- dates and validators ----------------------------------------------- */

/*
 * An HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime formats
 * that RFC 9110 5.6.7 requires recipients to accept (a two-digit RFC 850
 * year more than 50 years ahead of now_s is taken as the past century).
 * Returns 0 and *out (seconds since the epoch), or -EINVAL.
 */
int hcache_parse_date(const char *s, size_t len, int64_t now_s, int64_t *out);

struct hcache_span {
	const char *p;           /* into the caller's buffer; NULL = absent */
	uint32_t len;
};

struct hcache_vary {
	bool star;               /* "*" anywhere: never stored */
	bool too_many;           /* more than LIMIT_VARY_FIELDS names */
	uint8_t n;
	struct hcache_span names[LIMIT_VARY_FIELDS];
};

/* What a cache needs from a response head. */
struct hcache_resp_info {
	uint16_t status;
	struct hcache_cc cc;
	int n_cc;                /* Cache-Control lines (0 = absent) */
	int64_t date;            /* HCACHE_TIME_NONE if absent or invalid */
	int64_t expires;         /* invalid ("0") → 0: already expired */
	bool has_expires;
	/* Age (RFC 9111 5.1): the first member of the first line; when that
	 * is not 1*DIGIT the field is ignored (age 0, age_ignored). */
	int64_t age;             /* 0 if absent or ignored */
	bool age_ignored;
	int64_t last_modified;   /* HCACHE_TIME_NONE if absent or invalid */
	/* The parsed head, for the zone's targeted field (hcache_storable
	 * reads it): valid as long as r's buffer is. */
	const struct http1_header *headers;
	size_t n_headers;
	struct hcache_span etag; /* the whole value, W/ and quotes included */
	bool etag_weak;
	bool etag_invalid;       /* present but not an entity-tag: ignored */
	bool set_cookie;         /* a Set-Cookie line: personal, see hcache_policy */
	struct hcache_vary vary;
};

/* Fill *out from r (now_s only to read two-digit years). Returns 0. */
int hcache_parse_response(const struct http1_response *r, int64_t now_s,
			  struct hcache_resp_info *out);

/* What a cache needs from a visitor request head. */
struct hcache_req_info {
	enum http1_method method;
	struct hcache_cc cc;     /* Pragma: no-cache → NO_CACHE if no Cache-Control */
	bool authorization;
	struct hcache_span if_match, if_none_match, if_range, range;
	int64_t if_modified_since;    /* HCACHE_TIME_NONE: absent or invalid */
	int64_t if_unmodified_since;  /* idem */
};

int hcache_parse_request(const struct http1_request *r, int64_t now_s,
			 struct hcache_req_info *out);

/* ---- zone policy ------------------------------------------------------- */

enum hcache_qs { HCACHE_QS_IGNORE, HCACHE_QS_INCLUDE, HCACHE_QS_SORTED };

/*
 * A response that sets a cookie: PASS (the default) delivers it to the
 * visitor whose request fetched it and stores nothing; STRIP stores it
 * without its Set-Cookie lines (the caller drops them from the stored
 * head: ecache's write_stored_head). Set-Cookie is one visitor's session:
 * stored as is, every later visitor would be handed it.
 */
enum hcache_set_cookie { HCACHE_SC_PASS, HCACHE_SC_STRIP };

/* A zone's caching keys (core/config.h struct cfg_zone, docs/CONFIG.md). */
struct hcache_policy {
	uint32_t default_ttl_s;          /* 0 = no freshness → not stored */
	uint32_t negative_ttl_s;         /* 404/410 without freshness; 0 = off */
	uint32_t stale_while_revalidate_s;
	uint32_t stale_if_error_s;
	enum hcache_qs query_string;
	enum hcache_set_cookie set_cookie;
	bool heuristic_freshness;
	/* A 5xx with explicit freshness is stored (zone store_server_errors;
	 * default off: a 5xx one request caused would be the URL's, CPDoS). */
	bool store_server_errors;
	/* The zone's own targeted cache-control field (RFC 9213; zone key
	 * targeted_field), obeyed before CDN-Cache-Control; NULL = none.
	 * Points into the zone's config, which outlives every exchange. */
	const char *targeted_field;
};

/* ---- targeted cache control (RFC 9213, cache/http_cache_targeted.c) ----- */

/*
 * The targeted field that applies to a response with headers h[0..n): the
 * zone's own (pol->targeted_field) when present and valid, else
 * CDN-Cache-Control when present and valid — each a Structured Field
 * Dictionary (RFC 8941; its lines one list, each line whole members: a
 * member split across lines is not read) whose directives are
 * Cache-Control's, freshness ones as non-negative Integers. Returns 1 and
 * *cc (then Cache-Control and Expires are ignored: hcache_storable does
 * so), or 0: none present, or not readable (bad syntax, max-age="1"), and
 * Cache-Control decides as if the field were not there.
 */
int hcache_parse_targeted(const struct hcache_policy *pol, const struct http1_header *h,
			  size_t n, struct hcache_cc *cc);

/* Is h a targeted field this edge obeys: CDN-Cache-Control, or `own` (the
 * zone's targeted_field; NULL = none)? Such a field is addressed to us: it
 * is never forwarded to the visitor, on a miss (edge/exchange.c) or a hit
 * (hcache_hit_drops_header). */
bool hcache_targeted_field(const struct http1_header *h, const char *own);

/* May `name` be a zone's targeted_field? A header-name token of at most
 * LIMIT_TARGETED_FIELD_BYTES that is not a field with a meaning of its own
 * (Cache-Control, CDN-Cache-Control, Expires, Age, Date, Pragma, Vary,
 * X-Cache, a hop-by-hop field). Checked when the config loads. */
bool hcache_targeted_name_valid(const char *name, size_t len);

/* ---- storability and the stored entry ----------------------------------- */

enum hcache_reason {
	/* stored */
	HCACHE_R_EXPLICIT = 0,       /* s-maxage, max-age or Expires */
	HCACHE_R_HEURISTIC,          /* 10% of Last-Modified age */
	HCACHE_R_DEFAULT_TTL,        /* zone default_ttl */
	HCACHE_R_NEGATIVE_TTL,       /* zone negative_ttl (404/410) */
	/* not stored */
	HCACHE_R_METHOD,             /* not GET (HEAD is never stored) */
	HCACHE_R_STATUS,             /* 1xx, 304, or not cacheable without freshness */
	HCACHE_R_PARTIAL,            /* 206: the edge stores whole objects */
	HCACHE_R_AUTH_STATUS,        /* 401, 403, 407 */
	/* any other 4xx but 404 and 410: it tells about this request (its
	 * size, syntax, Range, preconditions, rate), not the URL's resource */
	HCACHE_R_REQUEST_ERROR,
	HCACHE_R_SERVER_ERROR,       /* 5xx (store_server_errors: without explicit freshness) */
	HCACHE_R_RANGE,              /* the request had a Range: only a 200 is stored */
	HCACHE_R_MUST_UNDERSTAND,    /* must-understand with a status we do not know */
	HCACHE_R_NO_STORE_REQUEST,
	HCACHE_R_NO_STORE,
	HCACHE_R_PRIVATE,
	HCACHE_R_SET_COOKIE,         /* Set-Cookie, zone set_cookie = pass */
	HCACHE_R_AUTHORIZATION,      /* request had Authorization, no public etc. */
	HCACHE_R_VARY_STAR,
	HCACHE_R_VARY_TOO_MANY,
	HCACHE_R_ETAG_TOO_LONG,
	HCACHE_R_NO_FRESHNESS,       /* nothing says how long, default_ttl = 0 */
	HCACHE_R__COUNT
};

/* Counter name ("explicit", "no_store", ...); static, never NULL. */
const char *hcache_reason_name(enum hcache_reason r);

enum hcache_entry_flag {
	HCACHE_E_NO_CACHE      = 1u << 0,   /* revalidate before every use */
	/* must-revalidate, proxy-revalidate or s-maxage: never served stale,
	 * neither stale-while-revalidate nor stale-if-error */
	HCACHE_E_NO_STALE      = 1u << 1,
	HCACHE_E_AUTH_OK       = 1u << 2,   /* may answer requests with Authorization */
	HCACHE_E_IMMUTABLE     = 1u << 3,
	HCACHE_E_HAS_LM        = 1u << 4,
};

/*
 * What the store keeps per object besides headers and body: fixed-size,
 * no pointers, so it can be written to disk as is.
 */
struct hcache_entry {
	int64_t request_time;        /* the origin request was sent */
	int64_t response_time;       /* its response head arrived */
	int64_t corrected_initial_age;
	int64_t lifetime_s;          /* freshness lifetime */
	int64_t date;                /* Date, else response_time */
	int64_t last_modified;       /* HCACHE_TIME_NONE if none */
	uint32_t stale_while_revalidate_s;   /* response's, else the zone's */
	uint32_t stale_if_error_s;           /* idem */
	uint32_t flags;              /* enum hcache_entry_flag */
	uint16_t status;
	uint8_t etag_len;            /* 0 = no ETag */
	bool etag_weak;
	char etag[LIMIT_ETAG_BYTES]; /* as sent, W/ and quotes included */
};

struct hcache_store {
	bool store;
	enum hcache_reason reason;
	int64_t lifetime_s;
	int64_t fresh_until;         /* absolute: stale from here on */
	int64_t swr_until;           /* stale-while-revalidate window ends */
	int64_t sie_until;           /* stale-if-error window ends */
};

/*
 * RFC 9111 3: may the response to `req` (a GET; HEAD is never stored) be
 * stored, and for how long. request_time/response_time: when the origin
 * request was sent and its response head arrived. Fills *st always and
 * *e when st->store. Never stored, whatever the freshness: a 4xx other
 * than 404 and 410 (it is about the request: stored under the URL's key,
 * one visitor's odd headers would deny the URL to everyone), a 5xx
 * (with the policy's store_server_errors: a 5xx without explicit freshness
 * — s-maxage, max-age, Expires), anything but a
 * 200 answering a request with Range, Set-Cookie unless the policy strips
 * it. Freshness: s-maxage > max-age > Expires - Date > heuristic (zone
 * on, Last-Modified, a heuristically cacheable status below 500) >
 * default_ttl (200, 203, 204, 300, 301, 308) or negative_ttl (404, 410).
 * A targeted field (hcache_parse_targeted) replaces Cache-Control and
 * Expires in all of it. Returns 0.
 */
int hcache_storable(const struct hcache_policy *pol,
		    const struct hcache_req_info *req,
		    const struct hcache_resp_info *resp,
		    int64_t request_time, int64_t response_time,
		    struct hcache_store *st, struct hcache_entry *e);

/* RFC 9111 4.2.3 current_age at now_s, at least 0, at most
 * LIMIT_DELTA_SECONDS_MAX: also the Age header value to send. */
int64_t hcache_age(const struct hcache_entry *e, int64_t now_s);

/* ---- serving decision ------------------------------------------------- */

enum hcache_action {
	HCACHE_MISS = 0,             /* no usable entry: go to the origin */
	HCACHE_SERVE_FRESH,
	HCACHE_SERVE_STALE,          /* the visitor's max-stale allows it */
	HCACHE_SERVE_STALE_REVALIDATE_IN_BACKGROUND,
	HCACHE_REVALIDATE,           /* conditional request to the origin first */
	HCACHE_GATEWAY_TIMEOUT,      /* only-if-cached and nothing usable: 504 */
};

const char *hcache_action_name(enum hcache_action a);

/*
 * For a stored entry (NULL = none) and a new request at now_s: what to do
 * (RFC 9111 4, 4.2, 5.2.1; RFC 5861). Request max-age, min-fresh and
 * no-cache (or Pragma) narrow freshness; max-stale widens it; the entry's
 * stale-while-revalidate window serves stale and refreshes behind.
 */
enum hcache_action hcache_decide(const struct hcache_entry *e,
				 const struct hcache_req_info *req, int64_t now_s);

/*
 * The origin failed (connect error, timeout, a close or reset before a
 * response head, 5xx) while revalidating e at now_s for request req (NULL:
 * none): true if e may be served stale — within the stale-if-error window
 * (the response's else the zone's, widened by the request's own
 * stale-if-error, RFC 5861 4); never for no-cache, must-revalidate,
 * proxy-revalidate, s-maxage.
 */
bool hcache_stale_if_error(const struct hcache_entry *e, const struct hcache_req_info *req,
			   int64_t now_s);

/*
 * What an origin's response head means for the stored entry an exchange
 * holds (stored NULL: none): the entry answers the visitor — a 304 to our
 * revalidation (HCACHE_HEAD_REVALIDATED: the caller still checks that it
 * matches, hcache_304_matches) or a 5xx while stale-if-error covers the
 * entry at now_s for req (HCACHE_HEAD_STALE, RFC 5861 4) — or the response goes to
 * the visitor (HCACHE_HEAD_FORWARD; whether it is stored is
 * hcache_storable's answer).
 */
enum hcache_head {
	HCACHE_HEAD_FORWARD = 0,
	HCACHE_HEAD_REVALIDATED,
	HCACHE_HEAD_STALE,
};
enum hcache_head hcache_origin_head(const struct hcache_entry *stored,
				   const struct hcache_req_info *req, bool revalidating,
				   uint16_t status, int64_t now_s);

/*
 * What the cache did for one request: the X-Cache header and the access
 * log's cache field, set where the decision is taken (docs/http-cache.md
 * "X-Cache"). Zero is NONE: an exchange starts with no outcome, never
 * with a HIT left over.
 */
enum hcache_xcache {
	HCACHE_X_NONE = 0,           /* no cache decision: answered locally */
	HCACHE_X_HIT,                /* fresh from the cache */
	HCACHE_X_MISS,               /* looked up, nothing stored: from the origin */
	HCACHE_X_EXPIRED,            /* a stored copy could not be used as is; the
				      * origin's new response was served */
	HCACHE_X_STALE,              /* served stale: max-stale, stale-if-error */
	HCACHE_X_UPDATING,           /* served stale, refreshed in the background
				      * (stale-while-revalidate) */
	HCACHE_X_REVALIDATED,        /* a 304 from the origin confirmed the copy */
	HCACHE_X_PASS,               /* a request the cache never answers (POST, PUT,
				      * DELETE, a body): straight to the origin */
	HCACHE_X_BYPASS,             /* a GET/HEAD the cache could not take: no
				      * store, key too long, too many parameters */
	HCACHE_X__COUNT
};

/* "-", "HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "PASS",
 * "BYPASS"; never NULL (out of range: "-"). */
const char *hcache_xcache_name(enum hcache_xcache x);

/* ---- serving a stored object (cache/http_cache_hit.c) -------------------- */

/*
 * What a hit answers: the stored `status` with the whole body, unless the
 * visitor's preconditions say 304 or 412 (no body), or — for a 200 — its
 * one Range says 206 (body bytes [first, first + len), Content-Range) or
 * 416 (no body, Content-Range "bytes * /total"). total: the body's length.
 */
struct hcache_hit_plan {
	int status;
	int64_t first, len;          /* body bytes sent: [first, first + len) */
	bool has_content_range;
	char content_range[64];      /* hcache_content_range, when has_ */
};
void hcache_hit_plan(const struct hcache_req_info *req, const struct hcache_entry *e,
		     int status, int64_t total, struct hcache_hit_plan *out);

/* The expiry (seconds since the epoch) of a stored entry: freshness, or
 * the end of its stale-if-error window when that is later. */
uint32_t hcache_store_expires(const struct hcache_store *hs);

/* The visitor's conditionals and Range (If-Match, If-None-Match,
 * If-Modified-Since, If-Unmodified-Since, If-Range, Range): not forwarded
 * when the origin request carries our validators or asks for slices —
 * the stored object answers the visitor's. */
bool hcache_header_conditional(const struct http1_header *h);

/* Headers a 304 carries (RFC 9110 15.4.5); the others describe a body. */
bool hcache_header_kept_in_304(const struct http1_header *h);

/* Stored headers the edge writes itself when it serves a hit: framing
 * (Content-Length, Transfer-Encoding, Connection), Server, Age, X-Cache.
 * Date is not among them: a hit keeps the stored Date (RFC 9110 6.6.1,
 * the time the origin made the response; Age says how old it is). */
bool hcache_header_replaced_on_hit(const struct http1_header *h);

/*
 * Is stored header h left out of a hit's head answered with `status`
 * (hcache_hit_plan's)? The replaced ones above, a targeted cache-control
 * field (hcache_targeted_field; own_targeted: the zone's), for a 304 all
 * but hcache_header_kept_in_304, for a 206 or 416 the stored
 * Content-Range (the hit writes its own; a 200 keeps the origin's).
 */
bool hcache_hit_drops_header(const struct http1_header *h, int status, const char *own_targeted);

/* Does a hit add the edge's Date? Only when the stored head has none. */
bool hcache_hit_adds_date(const struct http1_header *stored, size_t n);

/* Does a hit answered with `status` carry Content-Length? Not a 304 (it
 * has no body of its own) nor a 204 (RFC 9110 8.6). */
bool hcache_hit_sends_length(int status);

/* A header of the stored head: hcache_header_stored, minus Content-Length
 * (the store knows the body length) and Set-Cookie (a stored head is every
 * visitor's; such a response is stored only when the zone strips it). */
bool hcache_header_in_stored_head(const struct http1_header *h, const struct http1_header *all,
				  size_t n);

/*
 * A lookup found e: hcache_decide, except that a background refresh
 * (stale-while-revalidate's) asks the origin for anything not fresh —
 * that is what it is for.
 */
enum hcache_action hcache_decide_lookup(const struct hcache_entry *e,
					const struct hcache_req_info *req, int64_t now_s,
					bool background);

/* Does e have validators (an ETag or Last-Modified) to revalidate with?
 * Without, the origin request for a stale e is unconditional. */
bool hcache_has_validators(const struct hcache_entry *e);

/* Is a response's body delimited by a Content-Length (not chunked, not
 * ended by the close)? Only such a body is stored while it streams. */
bool hcache_fill_framed(const struct http1_response *resp);

/*
 * RFC 9111 4.4: the paths the response to an unsafe method invalidates
 * (none when hcache_invalidates says no): the request's own (its target
 * in origin-form, else its path), then its Location and Content-Location
 * when they name the same host (hcache_same_origin_path). Writes
 * out[0..n), pointing into r's and resp's buffers; returns n (0..3).
 */
int hcache_invalidated_paths(const struct http1_request *r, const struct http1_response *resp,
			     struct hcache_span out[3]);

/* ---- conditional requests (RFC 9110 13) ---------------------------------- */

enum hcache_cond { HCACHE_COND_PROCEED = 0, HCACHE_COND_304, HCACHE_COND_412 };

/*
 * Evaluate the visitor's preconditions against the stored entry, in RFC
 * 9110 13.2.2 order: If-Match (strong), else If-Unmodified-Since; then
 * If-None-Match (weak; "*" matches), else If-Modified-Since (GET/HEAD
 * only, against Last-Modified, else Date). A false If-None-Match is 304
 * for GET/HEAD, 412 otherwise.
 */
enum hcache_cond hcache_eval_conditional(const struct hcache_req_info *req,
					 const struct hcache_entry *e);

/*
 * Validators for revalidating e: "If-None-Match: <etag>\r\n" when it has an
 * ETag, else "If-Modified-Since: <Last-Modified>\r\n", into buf. Returns
 * bytes written (0: no validator, the request is unconditional) or
 * -ENOSPC when cap is too small (120 + LIMIT_ETAG_BYTES always fits).
 */
int hcache_revalidation_headers(const struct hcache_entry *e, char *buf, size_t cap);

/* RFC 9111 4.3.4: does a 304 (parsed into r) refresh e? Yes if it carries
 * no ETag, or one equal to e's (weak comparison). */
bool hcache_304_matches(const struct hcache_entry *e, const struct hcache_resp_info *r);

/*
 * RFC 9111 4.3.4/3.2: the headers of the refreshed entry: each stored
 * header not named in the 304, then the 304's headers that a cache stores
 * (hcache_header_stored) except Content-Length, Content-Encoding,
 * Content-MD5, Content-Range and ETag, which stay as stored. Writes
 * out[0..*n_out) (pointers into either input). Returns 0, or -ENOSPC when
 * more than cap headers would result (nothing is refreshed then).
 */
int hcache_merge_304(const struct http1_header *stored, size_t n_stored,
		     const struct http1_header *fresh, size_t n_fresh,
		     struct http1_header *out, size_t cap, size_t *n_out);

/*
 * RFC 9111 3.1: false for the header fields a cache never stores: the
 * hop-by-hop ones (http1_is_hop_by_hop), Proxy-Authentication-Info, and
 * every field the message's Connection header names. all[0..n) is the
 * whole head (for its Connection field).
 */
bool hcache_header_stored(const struct http1_header *h,
			  const struct http1_header *all, size_t n);

/* ---- Range (RFC 9110 14) ----------------------------------------------- */

enum hcache_range_kind {
	HCACHE_RANGE_NONE = 0,       /* serve the whole object (200) */
	HCACHE_RANGE_PARTIAL,        /* 206 first..last */
	HCACHE_RANGE_UNSATISFIABLE,  /* 416, Content-Range: bytes * /len */
};

struct hcache_range {
	enum hcache_range_kind kind;
	int64_t first, last;         /* inclusive, when PARTIAL */
};

/*
 * The Range of a GET against a stored 200 of `len` bytes. Only
 * "bytes=first-last", "bytes=first-" and "bytes=-suffix" (one range) are
 * served as 206; several ranges, another unit, a bad syntax, a non-GET or
 * a failed If-Range (strong ETag, or a date equal to a strong
 * Last-Modified) give the whole object. Returns 0.
 */
int hcache_range(const struct hcache_req_info *req, const struct hcache_entry *e,
		 int64_t len, struct hcache_range *out);

/* "bytes first-last/len" or, unsatisfiable, "bytes * /len" (no space) into
 * buf. Returns its length or -ENOSPC (64 bytes always fit). */
int hcache_content_range(const struct hcache_range *r, int64_t len, char *buf,
			 size_t cap);

/* Chunks [*first_chunk, *last_chunk] holding bytes first..last. -EINVAL
 * if chunk_size is 0 or first > last or first < 0. */
int hcache_range_chunks(int64_t first, int64_t last, uint64_t chunk_size,
			uint64_t *first_chunk, uint64_t *last_chunk);

/* ---- keys --------------------------------------------------------------- */

struct hcache_key {
	uint64_t hi, lo;             /* XXH3-128 of the key text */
};

/*
 * Cache key of zone + path + query per mode: IGNORE drops the query,
 * INCLUDE keeps it as sent, SORTED sorts its '&'-separated parameters
 * bytewise by name then value (empty ones dropped). Text "zone\npath[?q]"
 * goes to text[0..cap) (cap ≥ LIMIT_CACHE_KEY_BYTES always fits a parsed
 * request); *text_len its length. Returns 0, -ENOSPC (text longer than
 * cap) or -E2BIG (more than LIMIT_CACHE_QUERY_PARAMS parameters).
 */
int hcache_key(const char *zone, size_t zone_len, const char *path, size_t path_len,
	       const char *query, size_t query_len, enum hcache_qs mode,
	       char *text, size_t cap, size_t *text_len, struct hcache_key *out);

/*
 * The secondary key of a request for a response that has Vary: XXH3-64
 * over the field names (lower-cased, sorted) and, for each, the request's
 * lines of that field combined with "," and stripped of whitespace around
 * commas, lower-cased for Accept-Language and Accept-Encoding (their
 * values are case-insensitive); an absent field hashes apart from an
 * empty one. The same request values give the same key whatever the order
 * of Vary's names. Returns 0, -EINVAL when v is "*" or too long (such
 * responses are never stored).
 */
int hcache_vary_key(const struct hcache_vary *v, const struct http1_header *h,
		    size_t n, uint64_t *out);

/*
 * The canonical form of a Vary list, as a variant marker keeps it: names
 * lower-cased, sorted bytewise, duplicates dropped, joined by "," (no
 * spaces), into buf[0..cap). Returns 0 and *len, -EINVAL for "*" or too
 * many names, -ENOSPC past cap. hcache_vary_parse_names reads it back
 * into *v (spans into names); -EINVAL if it holds more than
 * LIMIT_VARY_FIELDS names.
 */
int hcache_vary_names(const struct hcache_vary *v, char *buf, size_t cap, size_t *len);
int hcache_vary_parse_names(const char *names, size_t len, struct hcache_vary *v);

/*
 * The store key of one variant: XXH3-128 over the primary key, the
 * marker's epoch (a new one each time a URL's Vary names change or its
 * marker is dropped, so older variants become unreachable) and the
 * request's hcache_vary_key.
 */
void hcache_variant_key(const struct hcache_key *primary, uint64_t epoch, uint64_t vary,
			struct hcache_key *out);

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------- */

/*
 * True when a response to a request with an unsafe method (anything but
 * GET, HEAD, OPTIONS, TRACE) is 2xx or 3xx: the caller then drops the
 * stored entries of the request's key and those of the response's
 * Location and Content-Location when they are on the same host
 * (hcache_same_origin_path).
 */
bool hcache_invalidates(enum http1_method m, uint16_t status);

/*
 * The path of a Location / Content-Location value v when it names the
 * same host: "/p..." as is, or "http(s)://host/p..." with host equal
 * (any case) to `host`. Returns 0 and *path, or -EINVAL.
 */
int hcache_same_origin_path(const char *v, size_t len, const char *host,
			    size_t host_len, struct hcache_span *path);

#endif /* EDGECACHE_CACHE_HTTP_CACHE_H */
