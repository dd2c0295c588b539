/*
 * edge/origin.h — the origin pipeline: an exchange's trip to its zone's
 * origins, on the shard's ring, over net/origin_client.h's connections.
 *
 * Owns, per origin connection slot: which origin and snapshot it belongs
 * to, the exchange it serves, its place in the shard's read FIFO while
 * buffers are low, the S3 error being read (first bytes, masker, clock
 * difference); per shard, each origin's keep-alive pool and back-off. The
 * transport — socket, connect, TLS, the request queue, receives, the read
 * timeout, response framing and the desync rule — is the client's
 * (struct oclient, embedded in the slot); what a timeout means (504, or a
 * cut response) is decided here.
 * Choosing the origin, failover and back-off, the retry on a dead pooled
 * connection and the overlap retry with the previous credentials, writing
 * the request (edge/origin_request.h), S3 errors and what the visitor and
 * the cache get are decided here.
 * Called by: the shard thread; edge/exchange.c starts an exchange's
 * origin trip with origin_start (as do edge/edge_cache.c and
 * edge/edge_large.c for misses, revalidations and chunk fetches) and feeds
 * request bodies with origin_request_body.
 * Never: blocks (connect and I/O go through the ring; addresses come
 * resolved from the control thread), or keeps more than
 * LIMIT_STREAM_WINDOW_BYTES of a response queued to a slow visitor.
 *
 * Failure policy (the seed's table): connect refused / unreachable / timed
 * out → next origin of the zone (an origin that failed is skipped for
 * origin_backoff_ms), none left → 503; no response head within
 * read_timeout_ms → 504; a malformed head, or the origin closing or
 * resetting before its final head → 502; more interim (1xx) heads than
 * LIMIT_ORIGIN_INTERIM_HEADS (or their bytes) → 502. Each of these answers
 * goes through exchange_response_fail, which serves a stale copy instead
 * where stale-if-error allows (the stored response's, the zone's, the
 * request's). The origin closing mid-body → the visitor connection is
 * closed (never a short response that looks complete; the fill is
 * dropped). A pooled connection that turns out closed before any response
 * byte is retried once on a fresh one when the request's method is
 * idempotent and no body was sent (RFC 9110 9.2.2); otherwise that close is
 * an origin error like the others.
 * Interim heads go to the exchange (exchange_response_interim: forwarded
 * to the visitor that leads the fetch, never stored).
 *
 * Reuse: a connection goes back to its origin's pool only when the client
 * allows it (oclient_reuse: the desync rule, net/origin_client.h), the
 * pool has room, the shard is not draining and the connection belongs to
 * the current snapshot. An early answer (the origin answered before it
 * had the whole request) is passed on, the upload ends with the response
 * and the connection is closed (origin_early_responses,
 * origin_conns_not_reused).
 */
#ifndef EDGECACHE_EDGE_ORIGIN_H
#define EDGECACHE_EDGE_ORIGIN_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/iobuf.h"
#include "net/origin_client.h"
#include "sigv4/s3_error.h"

struct shard;
struct exchange;
struct rt_origin;
struct runtime;

enum origin_conn_state {
	OC_FREE = 0,
	OC_CONNECTING,
	OC_BUSY,            /* request sent or being sent, response being read */
	OC_IDLE,            /* in its origin's keep-alive pool */
	OC_CLOSING,
};

#define OCONN_MAGIC 0x4f434f4eu

struct origin_conn {
	uint32_t magic;
	uint32_t gen;
	uint32_t idx;
	uint8_t state;                      /* enum origin_conn_state */
	bool recv_starved;
	bool recv_waiting;                  /* in the shard's FIFO for a read (origin_serve_waiting) */
	bool recv_counted;                  /* its armed read is in shard.orecv_armed */
	bool reused;                        /* came from the keep-alive pool */
	bool body_unsafe;                   /* a body its method gives no meaning: never reused */
	uint16_t s3_status;                 /* S3 error response being read, else 0 */
	bool s3_has_date;                   /* it had a Date we could parse */
	bool s3_mask_lost;                  /* the signing set is gone: mask all */
	int64_t s3_skew_s;                  /* its Date minus our signing clock */
	int64_t s3_date_offset_s;           /* its Date minus our clock (no offset) */
	uint64_t s3_gen;                    /* credential generation that signed */
	char *s3_body;                      /* its first bytes (a pool block) */
	uint32_t s3_body_len;
	struct s3err_masker s3_mask;        /* the session token, out of its body */
	const struct rt_origin *origin;
	const struct runtime *rt;           /* the snapshot origin belongs to */
	struct exchange *ex;            /* the exchange it serves, or NULL */
	/* The transport (net/origin_client.h): fd, TLS, request queue, the
	 * response being read. Last but for the lists: oc_alloc clears what
	 * comes before it, oclient_init the client. */
	struct oclient cl;
	struct origin_conn *next;           /* free / idle / starved list */
	struct origin_conn *prev;           /* idle list */
};

/*
 * Start the exchange of ex (its request head is parsed in ex->req): pick
 * an origin of the zone, take a pooled connection or open one, build and
 * queue the request head. On failure the visitor is answered through
 * exchange_response_fail, so the caller need not check anything.
 */
void origin_start(struct shard *sh, struct exchange *ex);
/* Request body bytes from the visitor (ownership of seg moves here).
 * `last` marks the final bytes of the body the request's framing
 * announced: only then may the connection be reused. False when the
 * queue is full. */
bool origin_request_body(struct shard *sh, struct origin_conn *oc,
			 const struct iobuf_seg *seg, bool last);
/* Bytes of request body queued to the origin, not yet sent. */
uint64_t origin_request_queued(const struct origin_conn *oc);
/* The visitor drained its queue below the window: read more response. */
void origin_visitor_drained(struct shard *sh, struct origin_conn *oc);
/* The visitor went away: drop the exchange (the connection is closed
 * unless the response had been read completely). */
void origin_detach(struct shard *sh, struct origin_conn *oc);

void origin_on_cqe(struct shard *sh, struct origin_conn *oc, int op,
		   const struct io_uring_cqe *cqe);
void origin_on_timer(struct shard *sh, struct origin_conn *oc);
void origin_rearm_starved(struct shard *sh);
/* While the origin ring is low, exchanges wait their turn for a read in
 * a FIFO (first come, first served; no lottery between a new miss and
 * hundreds of re-arming streams): arm as many as there are buffers for.
 * Called by the shard loop after each batch of completions. */
void origin_serve_waiting(struct shard *sh);
/* Close every idle pooled connection (drain, reload). */
void origin_close_idle(struct shard *sh);

#endif
