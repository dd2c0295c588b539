/*
 * edge/h2.h — HTTP/2 for visitors (libnghttp2), on top of edge/visitor.c.
 *
 * Owns, per HTTP/2 connection: the nghttp2 session (HPACK, flow control,
 * stream states), the table of its open streams, and one buffer of
 * serialised frames waiting to go to the connection's send queue.
 * A connection becomes HTTP/2 after ALPN "h2" (TLS) or when its first
 * bytes are the client preface (h2c with prior knowledge); from then on
 * its input goes to h2_recv instead of the HTTP/1.1 parser.
 * Each stream is an exchange of its own (edge/exchange.h; this file maps
 * stream id -> exchange in the table above): its HEADERS are rebuilt as an
 * HTTP/1.1 request head in the exchange's head block, and it runs the very
 * same pipeline (cache lookup, collapsing, origin) as an HTTP/1.1 request.
 * Its response (head and body) is queued on the exchange's own send queue
 * as for HTTP/1.1; instead of a send, the connection takes it: the head is
 * parsed back into HTTP/2 fields (nghttp2_submit_response) and the body is
 * pulled by nghttp2's data source within the peer's window. A stream whose
 * window is closed is not pulled, its queue fills, and its origin pauses
 * exactly as for a slow HTTP/1.1 visitor. A stream takes no connection
 * slot.
 * Called by: edge/visitor.c (the connection) and edge/exchange.c (a
 * stream's response) on the shard thread that owns the connection.
 * Never: blocks; closes the connection itself (it returns false and the
 * visitor closes it); lets one connection hold more than
 * LIMIT_H2_MAX_STREAMS exchanges.
 */
#ifndef EDGECACHE_EDGE_H2_H
#define EDGECACHE_EDGE_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shard;
struct visitor_conn;
struct exchange;
struct h2conn;

/* The client connection preface (RFC 9113 3.4). */
#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* vc speaks HTTP/2 from now on; `pre` bytes were already read (the
 * preface, and what followed it). False: no memory (the caller closes). */
bool h2_start(struct shard *sh, struct visitor_conn *vc, const char *pre, size_t n);
/* Bytes from the visitor. False: the connection must close now. */
bool h2_recv(struct shard *sh, struct visitor_conn *vc, const char *p, size_t n);
/* The connection's send queue moved (a send completed): serialise more.
 * False when the session is over (GOAWAY sent, or both sides done). */
bool h2_on_sent(struct shard *sh, struct visitor_conn *vc);
/* No stream open: the connection is idle (its idle timer runs). */
bool h2_idle(const struct visitor_conn *vc);
/*
 * The send deadline (shard clock, ms) of a connection whose streams have
 * response bytes the peer's window does not let out: timeout_ms after
 * the last DATA byte went out; 0 when nothing waits. A peer that never
 * opens its window (while it pings, say) is cut like an HTTP/1.1 visitor
 * that stops reading (timeouts_send).
 */
uint64_t h2_stall_deadline(struct visitor_conn *vc, uint32_t timeout_ms);
/* SIGTERM: GOAWAY; the connection ends when its open streams have. */
void h2_drain(struct shard *sh, struct visitor_conn *vc);
/* The connection closes: every stream's exchange is closed. */
void h2_conn_end(struct shard *sh, struct visitor_conn *vc);
/* Its slot is freed (no send from its buffer in flight): the session too. */
void h2_conn_free(struct visitor_conn *vc);

/* A stream's response has new bytes on its send queue, or has ended. */
void h2_stream_flush(struct shard *sh, struct exchange *sx);
/* The origin took queued request body of a stream: give the peer window. */
void h2_stream_drained(struct shard *sh, struct exchange *sx);
/* A stream's exchange closes before nghttp2 closed the stream: reset it
 * (sx->h2 is cleared). */
void h2_stream_gone(struct shard *sh, struct exchange *sx);

#endif
