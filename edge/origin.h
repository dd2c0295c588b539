/*
 * edge/origin.h — the HTTP/1.1 client towards origins, on the shard's ring.
 *
 * Owns, per origin connection slot: the socket, the request being sent
 * (head block + body segments), the response head being read, the body
 * framing state, and the per-shard keep-alive pool of each origin.
 * Called by: the shard thread; edge/visitor.c starts an exchange with
 * origin_start (as do edge/edge_cache.c and edge/edge_large.c for misses,
 * revalidations and chunk fetches) and feeds request bodies with
 * origin_request_body.
 * Never: blocks (connect and I/O go through the ring; addresses come
 * resolved from the control thread), or keeps more than
 * LIMIT_STREAM_WINDOW_BYTES of a response queued to a slow visitor.
 *
 * Failure policy (the seed's table): connect refused / unreachable / timed
 * out → next origin of the zone (an origin that failed is skipped for
 * origin_backoff_ms), none left → 503; no response head within
 * read_timeout_ms → 504; a malformed head → 502; the origin closing
 * mid-body → the visitor connection is closed (never a short response that
 * looks complete). A pooled connection that turns out closed before any
 * response byte is retried once on a fresh one when the request has no body.
 *
 * Reuse (the desync rule): a connection goes back to the keep-alive pool
 * only when the whole request was sent — head and every body byte its
 * framing announced — and the whole response was read. An origin may
 * answer before it has read the body (nginx does for `return` and for a
 * POST to a static file); it then reads the rest of the body as its next
 * request, so a pooled connection would let one visitor's bytes become
 * another's request. Such an early answer is passed on, the upload ends
 * with the response and the connection is closed (origin_early_responses,
 * origin_conns_not_reused).
 */
#ifndef EDGECACHE_EDGE_ORIGIN_H
#define EDGECACHE_EDGE_ORIGIN_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/wheel.h"
#include "net/http1.h"
#include "net/iobuf.h"
#include "net/origin_client.h"
#include "sigv4/s3_error.h"

struct shard;
struct visitor_conn;
struct rt_origin;
struct runtime;
struct tls_session;

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
	int fd;
	uint8_t state;                      /* enum origin_conn_state */
	bool recv_armed;
	bool recv_starved;
	bool recv_waiting;                  /* in the shard's FIFO for a read (origin_serve_waiting) */
	bool recv_counted;                  /* its armed read is in shard.orecv_armed */
	bool reused;                        /* came from the keep-alive pool */
	/* Request body bytes the request's framing announced are still to
	 * come from the visitor (origin_request_body's `last` clears it). */
	bool body_pending;
	bool body_unsafe;                   /* a body its method gives no meaning: never reused */
	bool tls_ready;                     /* https: handshake done */
	uint16_t s3_status;                 /* S3 error response being read, else 0 */
	bool s3_has_date;                   /* it had a Date we could parse */
	bool s3_mask_lost;                  /* the signing set is gone: mask all */
	int64_t s3_skew_s;                  /* its Date minus our signing clock */
	int64_t s3_date_offset_s;           /* its Date minus our clock (no offset) */
	uint64_t s3_gen;                    /* credential generation that signed */
	char *s3_body;                      /* its first bytes (a pool block) */
	uint32_t s3_body_len;
	struct s3err_masker s3_mask;        /* the session token, out of its body */
	struct tls_session *tls;            /* https: the session, NULL for http */
	uint32_t ops;
	const struct rt_origin *origin;
	const struct runtime *rt;           /* the snapshot origin belongs to */
	struct visitor_conn *vc;            /* the exchange it serves, or NULL */
	struct oclient_reader rd;           /* the response being read (net/origin_client.h) */
	struct wheel_entry timer;
	struct iobuf_outq out;              /* request bytes to the origin */
	uint64_t requests;
	struct sockaddr_storage addr;       /* read by the kernel at submission */
	struct __kernel_timespec connect_ts;
	struct origin_conn *next;           /* free / idle / starved list */
	struct origin_conn *prev;           /* idle list */
};

/*
 * Start the exchange of vc (its request head is parsed in vc->req): pick
 * an origin of the zone, take a pooled connection or open one, build and
 * queue the request head. On failure the visitor is answered through
 * visitor_response_fail, so the caller need not check anything.
 */
void origin_start(struct shard *sh, struct visitor_conn *vc);
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
