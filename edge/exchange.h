/*
 * edge/exchange.h — one request and its response, apart from the
 * connection it came on.
 *
 * Owns, per exchange slot (the shard's pool: free list, high-water mark,
 * generation, magic, like the connection slots): the parsed request and,
 * for an HTTP/2 stream or a background refresh, the block its head lives
 * in (an HTTP/1 exchange's head stays in its connection's input block, in
 * front of the pipelined bytes); the exchange's state (snapshot, zone,
 * origin connection, request body framing, response framing); its cache
 * state (struct ecache_x); the collapse links (leader, followers, parked);
 * and where its response goes:
 *   - an HTTP/1 (or TLS) visitor connection: `conn`, whose send queue
 *     `out` points at;
 *   - an HTTP/2 stream: `h2` (the connection's session) and stream id;
 *     the response queues on the exchange's own `sout`, which nghttp2
 *     pulls;
 *   - nothing: a stale-while-revalidate refresh (`background`), whose
 *     response only refreshes the cache.
 * Completions routed to an exchange (store reads, OP_CREAD) carry its
 * slot and generation: one for a slot since reused is dropped by the loop.
 * A closing exchange is freed once no store read is in flight for it and
 * its HTTP/1 connection no longer sends from its buffers (the connection
 * lets go with exchange_detach when its own slot is freed).
 *
 * Called by: the shard thread. edge/visitor.c starts HTTP/1 exchanges
 * and ends them, and runs one per HTTP/2 stream for net/h2.c
 * (exchange_stream_*, from its h2 ops);
 * edge/origin.c, edge/edge_cache.c and edge/edge_large.c answer through
 * exchange_response_* and the rest below.
 * Never: blocks; touches a socket (the connection sends, edge/visitor.c;
 * a stream's bytes go through nghttp2, net/h2.c); allocates (slots are
 * mapped at start-up, head blocks come from the shard's pool).
 */
#ifndef EDGECACHE_EDGE_EXCHANGE_H
#define EDGECACHE_EDGE_EXCHANGE_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "edge/edge_cache.h"
#include "net/http1.h"
#include "net/iobuf.h"

struct shard;
struct origin_conn;
struct visitor_conn;
struct h2conn;
struct rt_zone_state;
struct runtime;

enum exchange_state {
	EX_FREE = 0,
	EX_BUSY,            /* the request is being answered */
	EX_CLOSING,         /* over; freed when nothing is in flight for it */
};

/* How the response body is framed towards the visitor. */
enum exchange_resp_mode {
	VR_NONE = 0,        /* no body (HEAD, 204, 304) */
	VR_LENGTH,          /* Content-Length: pass bytes through */
	VR_CHUNKED,         /* chunked from the origin, passed through as is */
	VR_DECHUNK,         /* chunked from the origin, de-chunked for HTTP/1.0 */
	VR_CLOSE,           /* close-delimited */
};

#define EXCHANGE_MAGIC 0x45584348u

struct exchange {
	uint32_t magic;
	uint32_t gen;
	uint32_t idx;
	uint8_t state;                      /* enum exchange_state */
	uint32_t ops;                       /* store reads in flight */
	/* Where the response goes (see the top). */
	struct visitor_conn *conn;          /* HTTP/1: its connection, until it is freed */
	struct h2conn *h2;                  /* a stream: the session, until h2 lets go */
	int32_t h2_sid;                     /* a stream's id (kept: marks a stream) */
	uint16_t h2_idx;                    /* its name in the session (net/h2.h) */
	struct iobuf_outq *out;             /* &conn->t.out, else &sout */
	uint64_t out_moved_ms;              /* a stream's: when nghttp2 last pulled */
	/* A stream's or a refresh's own block with the request head. */
	char *in;
	uint32_t in_len;
	char peer_ip[48];

	struct runtime *rt;                 /* snapshot it runs on (counted) */
	const struct rt_zone_state *zone;
	struct origin_conn *oc;             /* origin connection serving it */
	uint32_t head_len;                  /* request head bytes at the front of its block */
	uint32_t attempt;                   /* index in zone->origins being tried */
	uint8_t tries;                      /* origins tried */
	bool retried;                       /* a pooled connection failed once */
	bool prev_creds;                    /* retried with the previous credentials */
	uint64_t creds_gen;                 /* credential generation of the last signed
					     * origin request (0: none; access log) */
	bool keep_alive;                    /* the connection survives this exchange */
	bool head_queued;                   /* response head is in the send queue */
	bool resp_done;                     /* last response byte queued */
	bool body_sent;                     /* request body bytes reached an origin */
	bool must_linger;                   /* refused mid-request: input may follow */
	bool discard_origin_body;           /* answered from the cache: drop it */
	/* A stale-while-revalidate refresh: no visitor; its response only
	 * refreshes the cache (exchange_background). */
	bool background;
	/* request body (pass-through methods) */
	bool has_body;
	bool body_chunked;
	bool body_done;                     /* every body byte read from the visitor */
	int64_t body_left;                  /* Content-Length bytes still to read */
	int64_t body_seen;                  /* chunked: decoded bytes so far */
	struct http1_chunked body_chunk;
	uint8_t resp_mode;                  /* enum exchange_resp_mode */
	uint16_t status;
	uint16_t origin_status;
	uint64_t body_bytes_out;
	uint64_t start_ms;
	uint64_t start_ns;
	uint64_t reqid;
	struct ecache_x cache;              /* edge/edge_cache.h */
	/* Request collapsing (cache/collapse.h): a leader streams its origin
	 * response to same-shard followers too; a parked follower waits for
	 * another shard's leader to commit the object. */
	bool leading;                       /* we claimed the key */
	bool claim_in_fill;                 /* the store write releases the claim */
	bool parked;
	uint64_t parked_until_ms;           /* set at the first park, never moved */
	struct exchange *leader;            /* on a follower */
	struct exchange *followers;         /* on a leader */
	struct exchange *next_follower;
	struct exchange *next_parked;

	/* Not cleared when the slot is taken (req is filled up to its last
	 * header field by the parser or edge/visitor.c's copy of the parsed
	 * head; sout's segments are written before they are read): 3.6 KiB
	 * less to zero per request. */
	struct http1_request req;           /* parsed head of the request */
	struct iobuf_outq sout;             /* a stream's response (nghttp2 pulls it) */
	struct exchange *next;              /* free list */
};

/*
 * A shard's exchange slots (struct shard's `xp`), LIMIT_EXCHANGES_PER_CONN
 * x max_conns of them: an HTTP/1 connection's request, an HTTP/2 stream, a
 * background refresh. Taken from the free list, else from the never-used
 * tail at hwm (a slot's memory is touched only once traffic needs it);
 * free slots above the highest in use go back to the kernel each trim
 * period, and one taken from the tail again starts at gen_floor.
 */
struct exchange_pool {
	struct exchange *slots;
	struct exchange *free;
	uint32_t n;
	uint32_t hwm;
	uint32_t gen_floor;
	uint32_t used;
	struct exchange *parked;            /* followers waiting on another shard */
};

/*
 * Slots and life:
 * - exchange_new: a slot for a request that arrived on HTTP/1 connection
 *   conn (its head, head_len bytes, parsed in conn's input block), or
 *   NULL when every exchange slot is taken (counted exchanges_refused).
 * - exchange_start: run it (zone, path, fields, body framing, the cache,
 *   the origin). On return it may already be answered or closed.
 * - exchange_reject: answer a request whose head did not parse (err: a
 *   -HTTP1_E_* code) and close the connection after it.
 * - exchange_log: count its status and write its access log line.
 * - exchange_close: it is over (its origin connection detached, its
 *   followers failed); freed once nothing is in flight for it.
 * - exchange_detach: its connection no longer sends from its buffers.
 */
struct exchange *exchange_new(struct shard *sh, struct visitor_conn *conn);
void exchange_start(struct shard *sh, struct exchange *ex, uint32_t head_len);
void exchange_reject(struct shard *sh, struct exchange *ex, int err);
void exchange_log(struct shard *sh, struct exchange *ex);
void exchange_close(struct shard *sh, struct exchange *ex);
void exchange_detach(struct shard *sh, struct exchange *ex);
/* Completion of a store read for ex (OP_CREAD). */
void exchange_on_cqe(struct shard *sh, struct exchange *ex, const struct io_uring_cqe *cqe);

/*
 * Called by edge/origin.c (and the cache) for ex:
 * - exchange_response_head: the origin's response head parsed; build ours
 *   and queue it. Returns 0, or -errno (-ENOBUFS: no head block; -ENOSPC:
 *   the head does not fit one; -EIO: a large object's head refused): the
 *   caller fails the exchange with 502.
 * - exchange_response_interim: an interim (1xx) head from the origin,
 *   before the final one: its fields filtered as the final head's
 *   (hop-by-hop, Connection-listed, Content-Length, Server, the targeted
 *   field), queued for an HTTP/1.1 visitor or as a HEADERS frame for an
 *   HTTP/2 stream, sent by the caller's next exchange_flush (never from
 *   here: the caller is reading the origin). Not to an HTTP/1.0 visitor
 *   (RFC 9110 15.2), a background refresh, or once the final head is
 *   queued; never a 100 (the edge answers Expect itself). Only this
 *   exchange gets it: collapsed followers attach to the final response.
 *   Never stored. Counted origin_interim_forwarded, or
 *   origin_interim_dropped (an earlier one still queued, no block).
 * - exchange_response_body: queue body bytes (the segment's ownership
 *   moves to the exchange); false if the send queue is full (caller
 *   pauses). Head and body go out on exchange_flush / _end.
 * - exchange_response_end: every byte is queued; finish when sent.
 * - exchange_response_fail: no response head was queued: answer `status`
 *   (502/503/504) ourselves.
 * - exchange_response_abort: the origin failed mid-body: close the
 *   connection (reset the stream) so the visitor sees a truncated response.
 * - exchange_room: bytes the visitor can take before the origin must pause
 *   (0 also while a large object's fill waits for a store buffer).
 * - exchange_origin_drained: the origin consumed queued request body; the
 *   visitor may send more.
 */
int exchange_response_head(struct shard *sh, struct exchange *ex,
			   const struct http1_response *resp);
void exchange_response_interim(struct shard *sh, struct exchange *ex,
			       const struct http1_response *resp);
bool exchange_response_body(struct shard *sh, struct exchange *ex, const struct iobuf_seg *seg);
void exchange_response_end(struct shard *sh, struct exchange *ex);
void exchange_response_fail(struct shard *sh, struct exchange *ex, int status);
void exchange_response_abort(struct shard *sh, struct exchange *ex);
/* An op of ex's that is no completion (edge/edge_large.c: origin bytes
 * held for the store) ended: a closed exchange with none left is freed —
 * ex must not be used after. */
void exchange_op_done(struct shard *sh, struct exchange *ex);
int64_t exchange_room(const struct exchange *ex);
/* Queue a complete response head built in a pool block (a cache hit);
 * false if the exchange had to be closed. */
bool exchange_queue_head_block(struct shard *sh, struct exchange *ex, char *blk, size_t len);
/* Send what is queued (after each origin read), the followers' too. */
void exchange_flush(struct shard *sh, struct exchange *ex);
void exchange_origin_drained(struct shard *sh, struct exchange *ex);
/* Answer `status` ourselves; `close`: the connection ends after it. */
void exchange_send_local(struct shard *sh, struct exchange *ex, int status, bool close);
/*
 * Request body bytes: exchange_body_take takes those at the front of
 * [p, p+len) that belong to the body (returns how many; -EPROTO bad chunk
 * framing, -EFBIG past max_body_bytes); exchange_body_failed answers
 * such an error (413/400, or a cut when the response began).
 * exchange_upload_room: bytes the origin's request queue takes now.
 */
ssize_t exchange_body_take(struct shard *sh, struct exchange *ex, const char *p, size_t len);
void exchange_body_failed(struct shard *sh, struct exchange *ex, ssize_t err);
size_t exchange_upload_room(const struct exchange *ex);

/* Collapsing: attach ex as a follower of lex (same shard; lex's response
 * not started); park ex until its key's fetch lands elsewhere; the shard's
 * tick retries parked exchanges. */
void exchange_follow(struct shard *sh, struct exchange *ex, struct exchange *lex);
void exchange_park(struct shard *sh, struct exchange *ex);
/* May ex park (again)? A request waits LIMIT_COLLAPSE_WAIT_MS in all,
 * counted from its first park, however often it parks: past that it
 * fetches (or reads) itself. */
bool exchange_may_park(const struct shard *sh, const struct exchange *ex);
/* The leader's response will not be shared byte for byte (a large
 * object's fill: edge/edge_large.h): each of its followers parks on its
 * key instead, and reads the object from the store once it lands. */
void exchange_park_followers(struct shard *sh, struct exchange *ex);
void exchange_parked_tick(struct shard *sh);
/*
 * stale-while-revalidate: start one background refresh of what ex's
 * request looked up: an exchange with no connection and its own copy of
 * the head, that claims the key in the collapse table so concurrent stale
 * hits start no second one. Its response goes to the cache only: a 304
 * refreshes the entry, a 200 replaces it, anything else leaves it
 * (counted). Counted cache_swr_refreshes, or cache_swr_skipped when one
 * is in flight, no exchange slot or head block is free, there is no
 * disk cache, the shard drains, or the copied head does not parse again.
 * Never delays ex.
 */
void exchange_background(struct shard *sh, struct exchange *ex);

/*
 * HTTP/2 streams (net/h2.c, through edge/visitor.c's ops), each an exchange
 * of its own:
 * - exchange_stream_new: an exchange with a head block for a new stream
 *   of session h, or NULL (none free, or the shard drains: the stream is
 *   refused).
 * - exchange_stream_start: its request head (head_len bytes of HTTP/1.1
 *   in its block) is complete: run it. has_body: the stream carries a
 *   request body (DATA: exchange_stream_body; without a content-length it
 *   is answered 411).
 * - exchange_stream_closed: nghttp2 closed the stream (complete: the whole
 *   response went to nghttp2), or the connection closed: it ends.
 * - exchange_stream_body: DATA (request body, content-length bytes) to its
 *   origin as an upload; false when that ended the exchange.
 * - exchange_stream_upload_room: the origin queue has room for another
 *   window's worth (WINDOW_UPDATE may go).
 * - exchange_stream_pulled: nghttp2 took bytes off its queue: what a
 *   completed send does for HTTP/1.1 (the origin reads on; a large
 *   object's sent chunks are released and the next read).
 */
struct exchange *exchange_stream_new(struct shard *sh, struct h2conn *h, const char *peer_ip);
void exchange_stream_start(struct shard *sh, struct exchange *ex, uint32_t head_len,
			   bool has_body);
void exchange_stream_closed(struct shard *sh, struct exchange *ex, bool complete);
bool exchange_stream_body(struct shard *sh, struct exchange *ex, const char *p, size_t n);
bool exchange_stream_upload_room(const struct exchange *ex);
void exchange_stream_pulled(struct shard *sh, struct exchange *ex);

/* Shard tick while a buffer group is low: reset the streams whose queues
 * pinned provided buffers without moving for LIMIT_RECV_SHARE_STALL_MS
 * (counted recv_share_closed; visitor_reclaim does the connections).
 * Returns how many. */
unsigned exchange_reclaim(struct shard *sh);
/* Drain deadline passed: close every exchange left (refreshes). */
void exchange_close_all(struct shard *sh);

#endif
