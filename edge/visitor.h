/*
 * edge/visitor.h — visitor (client) connections: what their input means
 * (HTTP/1.1 request heads, pipelining, request bodies to the origin,
 * HTTP/2), and the slots they live in.
 *
 * Owns, per connection slot: its transport (struct vconn, net/vconn.h:
 * socket, recv and held input, TLS, send queue, timers, linger, close),
 * and, on an HTTP/2 connection, the HTTP/2 session (net/h2.h). This file
 * gives the transport its ops (input → parse or upload; a send done →
 * the exchange's next step; the visitor's EOF; the certificate for an
 * SNI from the zones; ALPN h2 → the session; closing → the exchange
 * ends).
 * A connection is never a request: an HTTP/1 connection points at its
 * current exchange (edge/exchange.h; one at a time, so responses go out
 * in request order); an HTTP/2 connection's streams are exchanges of
 * their own: this file gives net/h2 its ops (a stream opens, its head is
 * ready, body, closed → exchange_stream_*; frames to send → vconn_send;
 * deadlines to re-read).
 * Called by: the shard thread that accepted the connection; edge/exchange.c
 * sends an HTTP/1 exchange's queued response (visitor_send), finishes it
 * (visitor_finish), reads on (visitor_read_on) or cuts it (visitor_close).
 * Never: blocks; reads more than one pipelined request ahead of the one
 * being answered (input beyond the input block pauses recv); touches the
 * socket or the TLS session but through net/vconn.
 */
#ifndef EDGECACHE_EDGE_VISITOR_H
#define EDGECACHE_EDGE_VISITOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/vconn.h"

struct shard;
struct exchange;

struct visitor_conn {
	struct vconn t;                     /* first: the transport (net/vconn.h) */
	/* HTTP/2 (net/h2.h): its session (owned, freed with the slot). */
	struct h2conn *h2;
	/* HTTP/1: the exchange being answered (NULL while reading a head).
	 * Kept while the connection closes: its send may still read the
	 * exchange's buffers; let go when the slot is freed. */
	struct exchange *ex;
	struct visitor_conn *next;          /* free list */
};

static inline struct visitor_conn *visitor_of(struct vconn *t)
{
	return (struct visitor_conn *)((char *)t - offsetof(struct visitor_conn, t));
}

/* A new connection accepted on this shard (tls: on a listen_tls
 * address). Takes ownership of fd. */
void visitor_accept(struct shard *sh, int fd, bool tls);
/* Completion for one of the visitor ops (OP_VRECV, OP_VSEND, OP_VCLOSE, OP_VSHUT). */
void visitor_on_cqe(struct shard *sh, struct visitor_conn *vc, int op,
		    const struct io_uring_cqe *cqe);
void visitor_on_timer(struct shard *sh, struct visitor_conn *vc);
/* Re-arm recv on connections that ran out of provided buffers. */
void visitor_rearm_starved(struct shard *sh);
/* Shard tick while a buffer group is low (shard_bufs_low): close the
 * connections whose send queues have pinned provided buffers without
 * moving for LIMIT_RECV_SHARE_STALL_MS (exchange_reclaim resets such
 * HTTP/2 streams); counted recv_share_closed. Never from inside a
 * completion handler (it closes exchanges other than the one being
 * handled). Returns how many. */
unsigned visitor_reclaim(struct shard *sh);
/* SIGTERM: close idle connections now, the others after their response. */
void visitor_drain(struct shard *sh);
/* LIMIT_DRAIN_IDLE_GRACE_MS into the drain: every HTTP/2 connection
 * gets its final GOAWAY (h2_drain_final). */
void visitor_drain_final(struct shard *sh);
/* Drain deadline passed: close every connection. */
void visitor_close_all(struct shard *sh);

/*
 * For edge/exchange.c (and net/h2's ops, here):
 * - visitor_send: send what is queued on vc's send queue (vconn_send).
 * - visitor_finish: vc's exchange is answered and every byte sent: log
 *   it, end it, then read the next request (or linger, or close).
 * - visitor_read_on: the origin took queued request body: read more.
 * - visitor_close: close vc (its exchange ends with it).
 */
void visitor_send(struct shard *sh, struct visitor_conn *vc);
void visitor_finish(struct shard *sh, struct visitor_conn *vc);
void visitor_read_on(struct shard *sh, struct visitor_conn *vc);
void visitor_close(struct shard *sh, struct visitor_conn *vc);

#endif
