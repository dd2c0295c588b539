/*
 * net/h2.h — HTTP/2 framing for a server connection (libnghttp2).
 *
 * Owns, per HTTP/2 connection (struct h2conn, allocated by h2_new, freed
 * by h2_free): the nghttp2 session (HPACK, flow control, stream states),
 * the table of its open streams (≤ LIMIT_H2_MAX_STREAMS), one buffer of
 * serialised frames waiting on the connection's send queue, flood
 * accounting (counted h2_flood_*, h2_protocol_errors) and the stream
 * id → user map. A connection becomes HTTP/2 after ALPN "h2" (TLS) or
 * when its first bytes are the client preface (h2c with prior knowledge);
 * from then on its user feeds its input to h2_recv.
 *
 * Reports to its user through struct h2_ops, with an opaque pointer per
 * stream (the user's; edge/ gives an exchange): a stream opens (the user
 * gives a head block or refuses it), its request head is ready — rebuilt
 * as HTTP/1.1 head bytes in that block, so the user runs the very same
 * request path as for HTTP/1.1 —, request body bytes, the stream closed.
 * Responses are pulled: the user queues a response as for HTTP/1.1 (the
 * head as HTTP/1.1 text in the first segment, then the body) on a queue
 * of its own that ops->stream_response hands over, and calls
 * h2_stream_flush when it has new bytes; the head is parsed back into
 * HTTP/2 fields (nghttp2_submit_response) and the body copied out by
 * nghttp2's data source within the peer's window. A stream whose window
 * is closed is not pulled, its queue fills, and its producer pauses
 * exactly as for a slow HTTP/1.1 visitor. Frames go on the connection's
 * send queue (given at h2_new), and ops->conn_send asks the user to send
 * them.
 * Given by its user (struct h2_env, copied at h2_new): the loop (clock,
 * counters), the block pool the queues' segments return to, the ops.
 * Called by: the thread that owns the loop (edge/visitor.c for the
 * connection, edge/exchange.c for a stream's response).
 * Never: blocks; touches a socket or TLS (bytes in, bytes on a queue
 * out); closes the connection itself (it returns false and the user
 * closes it); lets one connection hold more than LIMIT_H2_MAX_STREAMS
 * streams; writes into its user's state beyond the two queues it is given
 * (frames pushed on the connection's, pulled bytes consumed off a
 * stream's): the user learns a stream is gone from stream_closed, or
 * from h2_stream_flush returning false.
 * Re-entrancy: ops run inside nghttp2 (h2_recv, h2_start and the sends);
 * from there the user may call h2_stream_flush and h2_stream_gone (they
 * only submit or resume, and the outer call serialises).
 */
#ifndef EDGECACHE_NET_H2_H
#define EDGECACHE_NET_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct iobuf_pool;
struct iobuf_outq;
struct h2conn;
struct http1_response;

/* The client connection preface (RFC 9113 3.4). */
#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/*
 * What a connection tells its user. `env` is h2_env.user; `conn` the
 * pointer given to h2_new; `st` the pointer stream_open returned.
 */
struct h2_ops {
	/* HEADERS opened stream sid: return its user pointer and, in
	 * *block, a block of IOBUF_HBUF_BYTES its request head is rebuilt
	 * in (the user's, kept while the stream is); NULL refuses it
	 * (REFUSED_STREAM, counted h2_streams_refused). (h, idx) name the
	 * stream in h2_stream_flush / h2_stream_drained / h2_stream_gone. */
	void *(*stream_open)(void *env, void *conn, struct h2conn *h, int32_t sid, uint16_t idx,
			     char **block);
	/* The header block is complete: head_len bytes of HTTP/1.1 request
	 * head ("METHOD path HTTP/1.1", Host, the fields, CRLF) at the front
	 * of the block. has_body: DATA frames follow. */
	void (*stream_head)(void *env, void *st, uint32_t head_len, bool has_body);
	/* Request body bytes (DATA payload). False: the user reset the
	 * stream from here (h2_stream_gone) and let go of it. */
	bool (*stream_body)(void *env, void *st, const char *p, size_t n);
	/* Room for another window's worth of body: the peer's window is
	 * given back (WINDOW_UPDATE) only while this is true. */
	bool (*stream_upload_room)(void *env, const void *st);
	/* The pull side: the stream's response queue, *ended when its last
	 * byte is on it, *head_req when the request was HEAD (no body goes
	 * out, whatever the head says). */
	struct iobuf_outq *(*stream_response)(void *env, void *st, bool *ended, bool *head_req);
	/* Bytes were taken off that queue (what a completed send is for
	 * HTTP/1.1). The user may queue more and call h2_stream_flush. */
	void (*stream_pulled)(void *env, void *st);
	/* The stream closed (complete: its whole response went out), or
	 * the connection did (h2_conn_end): the user lets go of it. */
	void (*stream_closed)(void *env, void *st, bool complete);
	/* Frames were queued on the connection's send queue: send them. */
	void (*conn_send)(void *env, void *conn);
	/* A stream's bytes may now wait for the peer's window: re-read
	 * h2_idle / h2_stall_deadline. */
	void (*conn_timers)(void *env, void *conn);
};

struct h2_env {
	struct loop *lp;                    /* clock (now_ms) and counters */
	struct iobuf_pool *pool;            /* where consumed segments return */
	const struct h2_ops *ops;
	void *user;                         /* the ops' `env` (a shard) */
};

/* A session for a new HTTP/2 connection whose frames go on `out` (the
 * connection's send queue; h2 pushes only while it is empty). peer names
 * it in logs (kept: it must outlive the session). NULL: no memory. */
struct h2conn *h2_new(const struct h2_env *env, void *conn, struct iobuf_outq *out,
		      const char *peer);
/* Start it: our SETTINGS, then the `n` bytes already read (the preface
 * and what followed). False: the connection must close now. */
bool h2_start(struct h2conn *h, const char *pre, size_t n);
/* Bytes from the peer. False: the connection must close now. */
bool h2_recv(struct h2conn *h, const char *p, size_t n);
/* The connection's send queue moved (a send completed): serialise more.
 * False when the session is over (GOAWAY sent, or both sides done). */
bool h2_on_sent(struct h2conn *h);
/* No stream open: the connection is idle (its idle timer runs). */
bool h2_idle(const struct h2conn *h);
/*
 * The send deadline (loop clock, ms) of a connection whose streams have
 * response bytes the peer's window does not let out: timeout_ms after
 * the last DATA byte went out; 0 when nothing waits. A peer that never
 * opens its window (while it pings, say) is cut like an HTTP/1.1 visitor
 * that stops reading (timeouts_send).
 */
uint64_t h2_stall_deadline(struct h2conn *h, uint32_t timeout_ms);
/* Draining: the GOAWAY shutdown notice (no stream refused); the client
 * opens no more and closes once its open streams are answered. */
void h2_drain(struct h2conn *h);
/* Draining, LIMIT_DRAIN_IDLE_GRACE_MS after h2_drain: the final GOAWAY
 * (last stream we processed, RFC 9113 6.8). Later streams are refused;
 * the connection ends (h2_on_sent / h2_recv false) once no stream is
 * open — an idle client that never closes does not hold the drain. */
void h2_drain_final(struct h2conn *h);
/* The connection closes: stream_closed(…, false) for every open stream. */
void h2_conn_end(struct h2conn *h);
/* No send from its frame buffer is in flight any more: free the session. */
void h2_free(struct h2conn *h);

/*
 * One stream, named by (h, idx) from stream_open and its user pointer st
 * (a stale name — the stream closed, the entry reused — is ignored):
 * - h2_stream_flush: its queue has new bytes, or its last: submit the
 *   head, or resume the body. False: the head did not convert (counted
 *   h2_streams_aborted, the stream reset): the user lets go of it.
 * - h2_stream_drained: the user took queued request body: give the peer
 *   back the window stream_upload_room held.
 * - h2_stream_interim: an interim (1xx but 100, 101) response head, as a
 *   HEADERS frame before the final response's (RFC 9113 8.1), queued:
 *   the next h2_stream_flush sends it (never sends itself, so a caller
 *   reading the origin is not re-entered); false when it was not queued
 *   (the final head went, the stream is gone, the fields do not convert,
 *   nghttp2 refused it): the stream goes on regardless.
 * - h2_stream_gone: the user is done with the stream before it closed
 *   (RST_STREAM INTERNAL_ERROR, counted h2_streams_aborted); no
 *   stream_closed follows.
 */
bool h2_stream_flush(struct h2conn *h, uint16_t idx, void *st);
void h2_stream_drained(struct h2conn *h, uint16_t idx, void *st);
bool h2_stream_interim(struct h2conn *h, uint16_t idx, void *st,
		       const struct http1_response *resp);
void h2_stream_gone(struct h2conn *h, uint16_t idx, void *st);

#endif
