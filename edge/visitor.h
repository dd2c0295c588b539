/*
 * edge/visitor.h — visitor (client) connections: HTTP/1.1 in, responses out.
 *
 * Owns, per connection slot: the socket, its multishot recv, the input
 * block (request head, then pipelined requests behind it), the current
 * exchange (one request at a time: responses go out in request order),
 * and the send queue to the visitor.
 * Called by: the shard thread that accepted the connection; edge/origin.c,
 * edge/edge_cache.c and edge/edge_large.c call the visitor_response_*
 * functions to stream a response in (from the origin or the store), and
 * edge/h2.c the visitor_stream_* ones for each HTTP/2 stream.
 * Never: blocks; reads more than one pipelined request ahead of the one
 * being answered (input beyond the input block pauses recv).
 */
#ifndef EDGECACHE_EDGE_VISITOR_H
#define EDGECACHE_EDGE_VISITOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/wheel.h"
#include "net/http1.h"
#include "edge/edge_cache.h"
#include "net/iobuf.h"

struct shard;
struct origin_conn;
struct tls_session;
struct rt_zone_state;
struct runtime;

enum visitor_conn_state {
	VC_FREE = 0,
	VC_READING,         /* waiting for (the rest of) a request head */
	VC_BUSY,            /* an exchange is in progress */
	VC_LINGER,          /* final response sent, write side shut, draining input */
	VC_CLOSING,         /* close submitted; freed when ops reaches 0 */
};

enum visitor_timer { VT_NONE = 0, VT_HEADER, VT_IDLE, VT_SEND, VT_LINGER, VT_HANDSHAKE };

/* How the response body is framed towards the visitor. */
enum visitor_resp_mode {
	VR_NONE = 0,        /* no body (HEAD, 204, 304) */
	VR_LENGTH,          /* Content-Length: pass bytes through */
	VR_CHUNKED,         /* chunked from the origin, passed through as is */
	VR_DECHUNK,         /* chunked from the origin, de-chunked for HTTP/1.0 */
	VR_CLOSE,           /* close-delimited */
};

/* One request and its response. */
struct visitor_exchange {
	struct runtime *rt;                 /* snapshot it runs on (counted) */
	const struct rt_zone_state *zone;
	struct origin_conn *oc;             /* origin connection serving it */
	uint32_t head_len;                  /* request head bytes at the front of in */
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
	/* A stale-while-revalidate refresh: a slot with no socket whose
	 * response only refreshes the cache (visitor_background). */
	bool background;
	/* request body (pass-through methods) */
	bool has_body;
	bool body_chunked;
	bool body_done;                     /* every body byte read from the visitor */
	int64_t body_left;                  /* Content-Length bytes still to read */
	int64_t body_seen;                  /* chunked: decoded bytes so far */
	struct http1_chunked body_chunk;
	uint8_t resp_mode;                  /* enum visitor_resp_mode */
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
	uint64_t parked_until_ms;
	struct visitor_conn *leader;        /* on a follower */
	struct visitor_conn *followers;     /* on a leader */
	struct visitor_conn *next_follower;
	struct visitor_conn *next_parked;
};

#define VCONN_MAGIC 0x56434f4eu

struct visitor_conn {
	uint32_t magic;
	uint32_t gen;
	uint32_t idx;
	int fd;
	uint8_t state;                      /* enum visitor_conn_state */
	uint8_t timer_kind;                 /* enum visitor_timer */
	bool recv_armed;
	bool recv_paused;                   /* input block full: recv cancelled */
	bool recv_starved;                  /* ENOBUFS: re-arm on the next tick */
	bool peer_closed;                   /* EOF seen */
	uint32_t ops;                       /* submitted, not yet completed */
	struct wheel_entry timer;
	char *in;                           /* input block (iobuf pool), or NULL */
	uint32_t in_len;
	/* Received buffers not consumed yet (origin busy, input block full):
	 * a FIFO of provided-buffer ids linked through shard->held; -1 = empty.
	 * While it is not empty recv is paused and new input queues behind. */
	int32_t held_head, held_tail;
	/* Provided buffers in both FIFOs (held, cheld): its share of the
	 * recv groups is LIMIT_RECV_SHARE_BUFS; past it recv pauses. */
	uint16_t held_n;
	/* Last time its send queue moved (a send completed, nghttp2 pulled,
	 * TLS took bytes), or began to pin provided buffers: how long it has
	 * been stalled holding them (visitor_reclaim). */
	uint64_t out_moved_ms;
	/* HTTPS (accepted on listen_tls): the held FIFO above holds decrypted
	 * bytes (SHARD_GROUP_PLAIN, shard->held_plain); ciphertext not fed to
	 * the session yet waits in this one (provided buffers, shard->held).
	 * The session is made at the ClientHello (its SNI picks the
	 * certificate) and freed with the slot. */
	bool is_tls;
	bool tls_ready;                     /* handshake done */
	/* Until the session exists, the ciphertext (the hello) is copied into
	 * the input block `in`, not held in provided buffers; hello_in says
	 * `in` holds ciphertext, fed to the session first. */
	bool hello_in;
	uint8_t hello_pieces;
	struct tls_session *tls;
	int32_t cheld_head, cheld_tail;
	char peer_ip[48];
	/* HTTP/2 (edge/h2.h): on the connection, its session (owned, freed
	 * with the slot); on a stream's slot (fd -1, no socket) the
	 * connection's, borrowed until nghttp2 closes the stream, with the
	 * stream id (kept after: it marks the slot as a stream's) and its
	 * entry in the connection's stream table. */
	struct h2conn *h2;
	int32_t h2_sid;
	uint16_t h2_idx;
	struct http1_request req;           /* parsed head of the current request */
	struct visitor_exchange x;
	struct iobuf_outq out;
	struct visitor_conn *next;          /* free list / starved list */
};

/* A new connection accepted on this shard (tls: on a listen_tls
 * address). Takes ownership of fd. */
void visitor_accept(struct shard *sh, int fd, bool tls);
/* Completion for one of the visitor ops (OP_VRECV, OP_VSEND, OP_VCLOSE). */
void visitor_on_cqe(struct shard *sh, struct visitor_conn *vc, int op,
		    const struct io_uring_cqe *cqe);
void visitor_on_timer(struct shard *sh, struct visitor_conn *vc);
/* Re-arm recv on connections that ran out of provided buffers. */
void visitor_rearm_starved(struct shard *sh);
/* Shard tick while a buffer group is low (shard_bufs_low): close the
 * visitors (reset the HTTP/2 streams) whose send queues have pinned
 * provided buffers without moving for LIMIT_RECV_SHARE_STALL_MS; counted
 * recv_share_closed. Never from inside a completion handler (it closes
 * exchanges other than the one being handled). Returns how many. */
unsigned visitor_reclaim(struct shard *sh);
/* SIGTERM: close idle connections now, the others after their response. */
void visitor_drain(struct shard *sh);
/* Drain deadline passed: close every connection. */
void visitor_close_all(struct shard *sh);

/*
 * Called by edge/origin.c for the exchange of vc:
 * - visitor_response_head: the origin's response head parsed; build ours
 *   and queue it. Returns 0, or -ENOBUFS (no head block: caller fails
 *   the exchange with 503).
 * - visitor_response_body: queue body bytes (the segment's ownership moves
 *   to the visitor); false if the send queue is full (caller pauses).
 *   Head and body are sent on visitor_flush / visitor_response_end.
 * - visitor_response_end: every byte is queued; finish when sent.
 * - visitor_response_fail: no response head was queued: answer `status`
 *   (502/503/504) ourselves.
 * - visitor_response_abort: the origin failed mid-body: close the
 *   connection so the visitor sees a truncated response.
 * - visitor_room: bytes the visitor can take before the origin must pause.
 * - visitor_origin_drained: the origin consumed queued request body; the
 *   visitor may read more.
 */
int visitor_response_head(struct shard *sh, struct visitor_conn *vc,
			  const struct http1_response *resp);
bool visitor_response_body(struct shard *sh, struct visitor_conn *vc,
			   const struct iobuf_seg *seg);
void visitor_response_end(struct shard *sh, struct visitor_conn *vc);
void visitor_response_fail(struct shard *sh, struct visitor_conn *vc, int status);
void visitor_response_abort(struct shard *sh, struct visitor_conn *vc);
int64_t visitor_room(const struct visitor_conn *vc);
/* Queue a complete response head built in a pool block (a cache hit);
 * false if the connection had to be closed. */
bool visitor_queue_head_block(struct shard *sh, struct visitor_conn *vc, char *blk, size_t len);
/* Collapsing: attach vc as a follower of lvc (same shard; lvc's response
 * not started); park vc until its key's fetch lands elsewhere; the shard's
 * tick retries parked exchanges. */
void visitor_follow(struct shard *sh, struct visitor_conn *vc, struct visitor_conn *lvc);
void visitor_park(struct shard *sh, struct visitor_conn *vc);
void visitor_parked_tick(struct shard *sh);
/*
 * stale-while-revalidate: start one background refresh of what vc's
 * request looked up (a copy of its head in a slot of its own, fd -1, that
 * claims the key in the collapse table so concurrent stale hits start no
 * second one). Its response goes to the cache only: a 304 refreshes the
 * entry, a 200 replaces it, anything else leaves it (counted). Counted
 * cache_swr_refreshes, or cache_swr_skipped when one is in flight or no
 * slot is free. Never delays vc.
 */
void visitor_background(struct shard *sh, struct visitor_conn *vc);
/*
 * HTTP/2 streams (edge/h2.c), each a slot with no socket:
 * - visitor_stream_new: a slot with an input block for a new stream of
 *   conn, or NULL (none free: the stream is refused).
 * - visitor_stream_start: its request head (head_len bytes of HTTP/1.1 in
 *   the input block) is complete: run the exchange. has_body: the stream
 *   carries a request body (DATA: visitor_stream_body; without a
 *   content-length it is answered 411).
 * - visitor_stream_closed: nghttp2 closed the stream (complete: the whole
 *   response went to nghttp2), or the connection closed: end the slot.
 */
struct visitor_conn *visitor_stream_new(struct shard *sh, struct visitor_conn *conn);
void visitor_stream_start(struct shard *sh, struct visitor_conn *svc, uint32_t head_len,
			  bool has_body);
void visitor_stream_closed(struct shard *sh, struct visitor_conn *svc, bool complete);
/* A stream's DATA (request body, content-length bytes) to its origin as
 * an upload; false when that ended the exchange. upload_room: the origin
 * queue has room for another window's worth (WINDOW_UPDATE may go). */
bool visitor_stream_body(struct shard *sh, struct visitor_conn *svc, const char *p, size_t n);
bool visitor_stream_upload_room(const struct visitor_conn *svc);
/* nghttp2 took bytes off a stream's send queue: what a completed send
 * does for HTTP/1.1 (the origin reads on; a large object's sent chunks
 * are released and the next read). */
void visitor_stream_pulled(struct shard *sh, struct visitor_conn *svc);
/* An HTTP/2 connection's deadlines: idle with no stream open, the send
 * deadline while streams wait for the peer's window (h2_stall_deadline). */
void visitor_h2_timers(struct shard *sh, struct visitor_conn *conn);
/* Send what is queued (after each origin read). */
void visitor_flush(struct shard *sh, struct visitor_conn *vc);
void visitor_origin_drained(struct shard *sh, struct visitor_conn *vc);

#endif
