/*
 * core/counters.h — the counter registry: every counter of edgecache,
 * declared once with its meaning (Varnish's VSC_*.vsc), in blocks.
 *
 * Owns: the registry (which blocks exist, where each block's counters sit
 * in a shard's array) and the core block below. Every other subsystem
 * declares its block (a name prefix, names, help text) in its own module
 * and registers it once with counters_register, on the control thread,
 * before the first shard is created; the registry does not change while
 * shards run.
 * Values: each shard has one array of LIMIT_COUNTERS (core/loop.h `ctr`)
 * and is its only writer (relaxed stores, no lock, no shared cache line).
 * The core block sits at index 0, so COUNT(sh, name) is a constant index;
 * another block's counter i is at its base + i (COUNT_IN). A block whose
 * module keeps its own counters (the store: unit tests and benches use it
 * without shards) gives a sum function instead and takes no room.
 * Called by: shards (COUNT, COUNT_IN), the control thread (counters_register,
 * counters_sum, counters_write: GET /metrics and counters_file).
 * Never: allocates or locks; the only I/O is counters_write's, into the
 * caller's FILE on the control thread. Shards never wait on the registry.
 */
#ifndef EDGECACHE_CORE_COUNTERS_H
#define EDGECACHE_CORE_COUNTERS_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/limits.h"

/* The core block: counters of the shard loop and the request pipeline.
 * An empty doc repeats the one above; a doc ending in "(gauge)" marks a
 * gauge (a level, not a count: no _total in /metrics). */
#define COUNTERS(X) \
	X(requests,                "visitor requests whose head parsed") \
	X(status_1xx,              "responses to visitors by status class") \
	X(status_2xx,              "") \
	X(status_3xx,              "") \
	X(status_4xx,              "") \
	X(status_5xx,              "") \
	X(bytes_in,                "bytes received from visitors") \
	X(bytes_out,               "bytes sent to visitors") \
	X(conns_accepted,          "visitor connections accepted") \
	X(conns_refused_limit,     "visitor connections closed at once: max_conns reached") \
	X(conns_open,              "visitor connections open now (gauge)") \
	X(exchanges_open,          "exchanges open now: HTTP/1 requests, HTTP/2 streams and background refreshes being answered (gauge)") \
	X(exchanges_refused,       "HTTP/1 requests whose connection was closed at once: every exchange slot taken") \
	X(accept_errors,           "accept completions with an error") \
	X(origin_connects,         "origin connections opened") \
	X(origin_reuses,           "requests sent on a pooled origin connection") \
	X(origin_connect_failures, "origin connects refused, unreachable or timed out") \
	X(origin_timeouts,         "origin responses not received within read_timeout_ms") \
	X(origin_truncated,        "origin responses that ended before their framing said") \
	X(origin_bad_response,     "origin responses that did not parse (502)") \
	X(origin_closed_before_head, "origin connections closed or reset before a final response head (502, or stale where stale-if-error allows)") \
	X(origin_interim_forwarded, "interim (1xx) response heads forwarded to visitors (103 Early Hints)") \
	X(origin_interim_dropped,  "interim (1xx) heads not forwarded: an earlier one still queued, no head block, or the HTTP/2 stream refused it (the response goes on)") \
	X(origin_interim_excess,   "origin responses with more than LIMIT_ORIGIN_INTERIM_HEADS interim (1xx) heads or LIMIT_ORIGIN_INTERIM_BYTES of them (502)") \
	X(origin_tls_failures,     "origin TLS handshakes refused (verification, protocol): never fetched") \
	X(origin_tls_resumed,      "origin TLS handshakes that resumed a session") \
	X(origin_tls_full_handshakes, "origin TLS handshakes that did not resume: a full one") \
	X(origin_retries,          "requests retried on a fresh connection after a pooled one closed") \
	X(origin_early_responses,  "origin final responses that began before the whole request was sent (an early answer)") \
	X(origin_conns_not_reused, "origin connections closed after their response, not pooled: the request was not all sent, or had a body its method gives no meaning (CL.0)") \
	X(origin_failovers,        "requests moved to the next origin of the zone") \
	X(origin_not_modified,     "origin 304 answers to a conditional request (a revalidation's or a visitor's): not errors") \
	X(origin_precondition_failed, "origin 412 answers to a conditional request (If-Match, If-Unmodified-Since): not errors") \
	X(origin_unavailable,      "requests answered 503: no origin reachable") \
	X(timeouts_header,         "visitor connections closed: head not complete in header_timeout_ms") \
	X(timeouts_idle,           "keep-alive connections closed after idle_timeout_ms") \
	X(send_zc,                 "visitor sends submitted zero-copy (send_zerocopy_bytes)") \
	X(send_zc_copied,          "of those, the kernel copied the bytes anyway (loopback, no SG)") \
	X(send_zc_fallbacks,       "zero-copy sends the kernel refused: sent again by copy, zero-copy off on the shard") \
	X(timeouts_send,           "visitor connections closed: no send progress in send_timeout_ms") \
	X(tls_accepted,            "visitor connections accepted on a listen_tls address") \
	X(tls_handshakes,          "visitor TLS handshakes completed") \
	X(tls_resumed,             "visitor TLS handshakes that resumed a session (ticket or id)") \
	X(tls_resumed_prev_key,    "of those, by a ticket under the previous ticket key (many: tls_ticket_rotate is short)") \
	X(tls_handshake_failures,  "visitor TLS handshakes failed: garbage, protocol error, peer gave up") \
	X(tls_handshake_timeouts,  "visitor TLS handshakes not done in tls_handshake_timeout_ms") \
	X(tls_sni_unknown,         "visitor TLS hellos whose SNI names no zone with a certificate") \
	X(tls_sni_rejected,        "of those, refused with unrecognized_name (tls_unknown_sni = reject)") \
	X(tls_truncated,           "visitor TLS connections that ended inside a record") \
	X(tls_errors,              "visitor TLS connections closed on a record error (bad MAC, alert)") \
	X(h2_conns,                "visitor connections that speak HTTP/2 (ALPN h2, or h2c with prior knowledge)") \
	X(h2_streams,              "HTTP/2 streams started (each is also counted in requests)") \
	X(h2_streams_refused,      "HTTP/2 streams refused (REFUSED_STREAM): no visitor slot or block free") \
	X(h2_streams_reset,        "HTTP/2 streams reset by the visitor before their response ended") \
	X(h2_streams_aborted,      "HTTP/2 streams we reset: the response failed mid-body") \
	X(h2_bodies_refused,       "HTTP/2 requests with a body but no content-length, answered 411") \
	X(h2_protocol_errors,      "HTTP/2 connections closed on a protocol error") \
	X(h2_flood_rst,            "HTTP/2 connections ended: RST_STREAM flood (rapid reset)") \
	X(h2_flood_settings,       "HTTP/2 connections ended: SETTINGS flood") \
	X(h2_flood_ping,           "HTTP/2 connections ended: PING flood") \
	X(h2_flood_continuation,   "HTTP/2 connections ended: CONTINUATION flood") \
	X(h2_flood_priority,       "HTTP/2 connections ended: PRIORITY flood (CVE-2019-9513)") \
	X(h2_flood_window_update,  "HTTP/2 connections ended: WINDOW_UPDATE flood") \
	X(h2_flood_empty_data,     "HTTP/2 connections ended: empty DATA flood (CVE-2019-9518)") \
	X(s3_signed,               "origin requests signed with SigV4") \
	X(s3_overlap_retries,      "misses answered 400/403 retried once with the previous credentials (credential_overlap_ms)") \
	X(s3_key_derived,          "signatures that had to derive a key (no precomputed day key)") \
	X(s3_clock_offset_learned, "RequestTimeTooSkewed answers that changed an origin's clock offset") \
	X(s3_body_bytes_masked_whole, "S3 error body bytes starred whole: the credentials that signed were replaced twice before the body came, so their token could not be matched") \
	X(cache_hits,              "responses served from the disk cache") \
	X(cache_ram_hits,          "cache lookups answered from the shard's RAM tier") \
	X(cache_read_errors,       "store reads that failed or did not verify (served from the origin)") \
	X(cache_not_stored,        "origin responses RFC 9111 or this slice keeps out of the cache") \
	X(cache_set_cookie_passed, "responses with Set-Cookie given to their visitor only, not stored (set_cookie = pass)") \
	X(cache_set_cookie_stripped, "responses stored without their Set-Cookie (set_cookie = strip)") \
	X(cache_request_error_passed, "4xx about the request (400, 412, 413, 416, 431, ...) not stored under the URL") \
	X(cache_range_passed,      "responses to a Range the origin answered (not a 200) not stored under the URL") \
	X(cache_fills,             "objects written to the store and committed") \
	X(cache_fill_dropped,      "fills dropped: store buffers or write slots busy, object too large") \
	X(cache_revalidated,       "stale objects confirmed by a 304 and served (REVALIDATED)") \
	X(cache_refreshed_hits,    "hits served under a 304's refreshed head while the object's rewrite had not landed (cache/refreshed.h)") \
	X(cache_refresh_unlisted,  "304 refreshes whose rewrite found no slot in the refreshed table: the stale copy is found until it lands") \
	X(cache_stale_if_error,    "stale objects served because the origin failed (stale-if-error)") \
	X(collapsed_followers,     "misses that streamed a same-shard leader's origin response") \
	X(collapsed_parked,        "misses that waited for another exchange's fetch to land") \
	X(collapse_unshared,       "followers sent to fetch alone: the leader's response was not storable") \
	X(collapse_full,           "claims not taken: the probe window was full, fetched without collapsing") \
	X(collapse_passed,         "misses not collapsed: the key's last response was not storable") \
	X(cache_fill_invalidated,  "fills dropped as they landed: their key was invalidated meanwhile") \
	X(cache_invalidated,       "stored objects dropped by an unsafe method's response") \
	X(cache_write_errors,      "store writes that failed (ENOSPC, EIO)") \
	X(cache_large_hits,        "responses served from a large object's record and chunks") \
	X(cache_large_fetches,     "chunk-aligned Range requests sent to the origin for missing chunks") \
	X(cache_large_mismatch,    "large objects dropped: a fetched chunk's validator or length changed, or a 304 named another version (502)") \
	X(cache_large_bad_chunks,  "stored chunks that failed verification (dropped, fetched again)") \
	X(cache_large_waits,       "large-object sends that waited: no free store buffer, or another exchange is fetching the chunk") \
	X(cache_read_waits,        "lookups that found their object with every store buffer of the shard out: parked, looked up again at the next tick") \
	X(cache_large_wait_expired, "missing chunks fetched after all: the fill or fetch bringing them did not within LIMIT_ELARGE_CLAIM_WAIT_MS") \
	X(cache_large_held,        "large-object fetches or fills whose origin bytes waited for store room (reads paused, no chunk dropped)") \
	X(cache_large_parked,      "Range misses that waited for another exchange's first fetch of the object (then served from its slices)") \
	X(cache_vary_markers,      "Vary markers written (a URL's Vary names, new or changed, or one more variant)") \
	X(cache_vary_refused,      "variants not stored: the URL has LIMIT_VARY_VARIANTS already") \
	X(cache_vary_unshared,     "collapsed followers sent to the origin: the leader's response varies on their headers") \
	X(cache_swr_refreshes,     "background revalidations started for stale-while-revalidate") \
	X(cache_swr_skipped,       "stale-while-revalidate hits that started no refresh: one in flight, or no slot") \
	X(cache_swr_refresh_failed, "background revalidations that failed (5xx, timeout, unreachable): stale kept") \
	X(no_zone,                 "requests for a Host no zone serves (404)") \
	X(bad_path,                "request paths that do not percent-decode (400)") \
	X(path_refused,            "request paths with a dot segment above \"/\", next to \\, %2F, %5C or \";\", or with %00 (400)") \
	X(paths_normalized,        "request paths whose dot segments were removed (\"/a/../b\" is \"/b\")") \
	X(req_hop_dropped,         "request fields not forwarded: hop-by-hop, or named by the request's Connection") \
	X(req_underscore_dropped,  "request fields not forwarded: a name with \"_\"") \
	X(req_unkeyed_dropped,     "request fields not forwarded: routing overrides the key does not cover (X-Forwarded-Host, ...)") \
	X(body_too_large,          "request bodies over max_body_bytes (413)") \
	X(buffers_exhausted,       "requests refused: no head buffer free (503)") \
	X(recv_nobufs,             "recv stopped: provided buffer ring empty (re-armed)") \
	X(pipeline_paused,         "visitor recv paused: pipelined input buffer full") \
	X(recv_share_paused,       "reads paused: a visitor at its share of receive buffers (LIMIT_RECV_SHARE_BUFS), or, while the origin ring is low, an origin read deferred to the tick (its visitor pins buffers) or queued for its turn") \
	X(recv_share_closed,       "visitor connections closed (HTTP/2 streams reset) to give back receive buffers their stalled sends pinned while the pool was low") \
	X(hbuf_trimmed,            "head-buffer blocks given back to the kernel after staying free a whole trim period") \
	X(log_dropped,             "log lines dropped: shard log ring full") \
	X(loop_busy_ns,            "ns shards spent handling completions (loop time minus waiting)") \
	X(loop_early_submits,      "loop iterations that submitted their store reads before the hits' sends") \
	X(loop_iterations,         "shard event-loop iterations")

enum counters_id {
#define COUNTER_ENUM(name, doc) CTR_##name,
	COUNTERS(COUNTER_ENUM)
#undef COUNTER_ENUM
	CTR__COUNT
};

/*
 * A block of counters, declared by the module that counts them. Output
 * names are prefix + names[i]: counters_file writes "<name> <value>";
 * /metrics writes edgecache_<name>_total (a gauge: no _total), or, for a
 * block with a family, one family edgecache_<family> whose samples carry
 * <label>="<names[i]>" (s3_errors_total{code="AccessDenied"}).
 */
struct counters_block {
	const char *prefix;                 /* "" (core), "store_", "parse_error_" */
	const char *const *names;           /* n names */
	const char *const *docs;            /* n docs; NULL for a family block */
	unsigned n;
	const char *family;                 /* NULL: one metric per name */
	const char *label;
	const char *family_doc;
	/* The module keeps the values: sum(ctx, i) is counter i over all its
	 * writers; ctx NULL = not there now (no store), the block is left out.
	 * NULL: the values live in the shards' arrays at base. */
	uint64_t (*sum)(const void *ctx, unsigned i);
	const void *ctx;
	/* Set by counters_register. */
	unsigned base;
	bool registered;
};

/* The core block (always registered, at base 0). */
extern struct counters_block counters_core;

/* Control thread, before shards start: add block b to the registry. Its
 * array counters (if it has no sum) are placed after those registered
 * before. Registering the same block again is a no-op. Returns 0;
 * -EEXIST if an output name (prefix + name, or the family) is already
 * another block's, -ENOSPC past LIMIT_COUNTER_BLOCKS blocks or
 * LIMIT_COUNTERS array slots, -EINVAL for a block without names (or a
 * family without a label, or docs). The registry is unchanged on error. */
int counters_register(struct counters_block *b);

/* Array slots in use (the core block's and every registered block's). */
unsigned counters_used(void);

/* Counter i of block b summed over the n shard arrays (or b->sum). */
uint64_t counters_sum(const struct counters_block *b, unsigned i,
		      const uint64_t *const *arrs, unsigned n);

enum counters_format {
	COUNTERS_FILE,                      /* "name value" lines (counters_file) */
	COUNTERS_PROMETHEUS,                /* # HELP / # TYPE / samples (GET /metrics) */
};

/* Control thread: every registered block, in registration order, summed
 * over the n shard arrays. */
void counters_write(FILE *f, enum counters_format fmt, const uint64_t *const *arrs,
		    unsigned n);

/* Single writer per array: a relaxed load+store is enough and compiles to
 * a plain add; readers on other threads see a torn-free 64-bit value. */
static inline void counters_add(uint64_t *arr, unsigned id, uint64_t n)
{
	__atomic_store_n(&arr[id], __atomic_load_n(&arr[id], __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

static inline uint64_t counters_get(const uint64_t *arr, unsigned id)
{
	return __atomic_load_n(&arr[id], __ATOMIC_RELAXED);
}

/* Index in a shard's array of counter i of block b, which must be a
 * registered block without a sum (a programmer error otherwise). */
static inline unsigned counters_slot(const struct counters_block *b, unsigned i)
{
	assert(b->registered && !b->sum && i < b->n);
	return b->base + i;
}

#endif
