/*
 * edge/visitor.h — visitor (client) connections: HTTP/1.1 and HTTP/2
 * in, responses out.
 *
 * Owns, per connection slot: the socket, its multishot recv, the input
 * block (request head, then pipelined requests behind it), the held
 * input FIFOs, the TLS session, the timers, the send queue to the
 * visitor and, on an HTTP/2 connection, the HTTP/2 session (net/h2.h).
 * A connection is never a request: an HTTP/1 connection points at its
 * current exchange (edge/exchange.h; one at a time, so responses go out
 * in request order); an HTTP/2 connection's streams are exchanges of
 * their own: this file gives net/h2 its ops (a stream opens, its head is
 * ready, body, closed → exchange_stream_*; frames to send → visitor_send;
 * deadlines to re-read).
 * Called by: the shard thread that accepted the connection; edge/exchange.c
 * sends an HTTP/1 exchange's queued response (visitor_send), finishes it
 * (visitor_finish), reads on (visitor_read_on) or cuts it (visitor_close).
 * Never: blocks; reads more than one pipelined request ahead of the one
 * being answered (input beyond the input block pauses recv).
 */
#ifndef EDGECACHE_EDGE_VISITOR_H
#define EDGECACHE_EDGE_VISITOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/wheel.h"
#include "net/iobuf.h"

struct shard;
struct exchange;
struct tls_session;

enum visitor_conn_state {
	VC_FREE = 0,
	VC_READING,         /* waiting for (the rest of) a request head */
	VC_BUSY,            /* an exchange is in progress, or HTTP/2 */
	VC_LINGER,          /* final response sent, write side shut, draining input */
	VC_CLOSING,         /* close submitted; freed when ops reaches 0 */
};

enum visitor_timer { VT_NONE = 0, VT_HEADER, VT_IDLE, VT_SEND, VT_LINGER, VT_HANDSHAKE };

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
	/* HTTP/2 (net/h2.h): its session (owned, freed with the slot). */
	struct h2conn *h2;
	/* HTTP/1: the exchange being answered (NULL while reading a head).
	 * Kept while the connection closes: its send may still read the
	 * exchange's buffers; let go when the slot is freed. */
	struct exchange *ex;
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
 * connections whose send queues have pinned provided buffers without
 * moving for LIMIT_RECV_SHARE_STALL_MS (exchange_reclaim resets such
 * HTTP/2 streams); counted recv_share_closed. Never from inside a
 * completion handler (it closes exchanges other than the one being
 * handled). Returns how many. */
unsigned visitor_reclaim(struct shard *sh);
/* SIGTERM: close idle connections now, the others after their response. */
void visitor_drain(struct shard *sh);
/* Drain deadline passed: close every connection. */
void visitor_close_all(struct shard *sh);

/*
 * For edge/exchange.c (and net/h2's ops, here):
 * - visitor_send: send what is queued on vc's send queue (plain or TLS).
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
