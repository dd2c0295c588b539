/*
 * net/vconn.h — the transport of a visitor (client) connection on a
 * loop's ring: the socket, its multishot recv and the held input FIFOs
 * (with the connection's share of the receive buffers), the input block,
 * TLS (the ClientHello copied aside, the handshake, records both ways),
 * the send queue and its sends (by copy or zero-copy, one in flight), the
 * timers, the linger after the last response, and closing.
 *
 * Owns, per connection (struct vconn, embedded first in its user's slot):
 * the fd, the count of submitted operations, the timer (a wheel entry:
 * the loop's timer callback gets it, inside the user's slot), the input
 * block (iobuf pool; its user may take it, as edge/visitor.c does when a
 * connection turns HTTP/2), the held FIFOs (links in env's tables), the
 * TLS session, the send queue. The state is set by its user too
 * (VC_READING / VC_BUSY, as a request starts and ends); vconn moves it to
 * LINGER, CLOSING and FREE.
 * Given by its user (struct vconn_env, one per loop): the loop (ring,
 * wheel, clock, counters), the op numbers for user_data with the slot's
 * index and generation, the receive group and the software group for
 * decrypted records, their held tables, the head pool, where the server
 * settings are, the loop's "starved" and "zero-copy off" flags, and the
 * ops. It counts in the core counter block (conns_accepted, bytes_in,
 * bytes_out, send_zc*, recv_nobufs, recv_share_paused, timeouts_*,
 * buffers_exhausted, tls_* but tls_sni_unknown); conns_open and the
 * slots are its user's.
 * Reports to its user through struct vconn_ops: input to consume, a send
 * completed, the visitor's EOF, the TLS context for an SNI, the handshake
 * done (its ALPN), the connection closing. Each op gets env->user.
 * Called by: the thread that owns the loop (edge/visitor.c, which owns
 * the slots, parses, starts exchanges, pipelining, uploads, HTTP/2, and
 * decides what the visitor's EOF and a drain mean; edge/exchange.c sends
 * through visitor_send → vconn_send, and still reads a few fields of
 * struct vconn itself: the send queue it queues on, the input block a
 * request head lives in, the peer address and out_moved_ms).
 * Never: blocks (setsockopt/getpeername do not; recv, send, shutdown,
 * cancel and close go through the ring), parses a request, knows an
 * exchange, a zone or the config file, or frees the slot (its user does,
 * once ops is 0: vconn_release).
 */
#ifndef EDGECACHE_NET_VCONN_H
#define EDGECACHE_NET_VCONN_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/wheel.h"
#include "net/iobuf.h"

struct cfg_server;
struct tls_ctx;
struct tls_session;
struct vconn;

enum vconn_state {
	VC_FREE = 0,
	VC_READING,         /* waiting for (the rest of) a request head */
	VC_BUSY,            /* an exchange is in progress, or HTTP/2 */
	VC_LINGER,          /* final response sent, write side shut, draining input */
	VC_CLOSING,         /* close submitted; freed when ops reaches 0 */
};

enum vconn_timer { VT_NONE = 0, VT_HEADER, VT_IDLE, VT_SEND, VT_LINGER, VT_HANDSHAKE };

/* Bytes received but not consumed yet, per buffer id of a group: the
 * links of each connection's FIFO of held buffers. A buffer id is in at
 * most one FIFO, so one table per group serves all connections. */
struct vconn_held {
	int32_t next;                       /* next buffer id, -1 = last */
	uint16_t off;
	uint16_t len;
};

struct vconn_ops {
	/* Input is waiting (vconn_input_next): consume what it can. */
	void (*input)(void *user, struct vconn *vc);
	/* A send completed (bytes left the queue): room to send more. */
	void (*sent)(void *user, struct vconn *vc);
	/* The visitor closed its side (TCP EOF or close_notify). */
	void (*peer_eof)(void *user, struct vconn *vc);
	/* The server context for SNI name (len 0: none), or NULL to refuse
	 * (the hello gets unrecognized_name). */
	struct tls_ctx *(*tls_ctx)(void *user, const char *name, size_t len);
	/* The handshake is done; alpn is the protocol chosen, or NULL. */
	void (*tls_ready)(void *user, struct vconn *vc, const char *alpn);
	/* The connection is closing (called once, before its state becomes
	 * VC_CLOSING): end what runs over it. */
	void (*closing)(void *user, struct vconn *vc);
	/* The same, after the state became VC_CLOSING. */
	void (*closed)(void *user, struct vconn *vc);
};

struct vconn_env {
	struct loop *lp;                    /* ring, wheel, clock, counters */
	unsigned op_recv, op_send, op_close; /* loop_ud(op, idx, gen) on every SQE */
	unsigned op_shut;                   /* the linger's shutdown (its own op: see vconn_close) */
	struct iobuf_group *recv_group;     /* a kernel ring: recv picks from it */
	struct iobuf_group *plain_group;    /* software: decrypted records */
	struct vconn_held *held;            /* links for recv_group's buffers */
	struct vconn_held *held_plain;      /* links for plain_group's buffers */
	struct iobuf_pool *pool;            /* input blocks, segments */
	const struct cfg_server *const *scfg; /* timeouts, send_zerocopy_bytes */
	bool *starved;                      /* set: re-arm starved recvs on the tick */
	bool *zc_off;                       /* no zero-copy sends (lacking or refused) */
	const struct vconn_ops *ops;
	void *user;
};

#define VCONN_MAGIC 0x56434f4eu

struct vconn {
	uint32_t magic;
	uint32_t gen;
	uint32_t idx;
	int fd;
	const struct vconn_env *env;
	uint8_t state;                      /* enum vconn_state */
	uint8_t timer_kind;                 /* enum vconn_timer */
	bool recv_armed;
	bool recv_paused;                   /* input block full: recv cancelled */
	bool recv_starved;                  /* ENOBUFS: re-arm on the next tick */
	bool peer_closed;                   /* EOF seen */
	uint32_t ops;                       /* submitted, not yet completed */
	bool shut_pending;                  /* linger's shutdown submitted, not completed */
	bool close_deferred;                /* closing: the close waits for that shutdown */
	struct wheel_entry timer;
	char *in;                           /* input block (iobuf pool), or NULL */
	uint32_t in_len;
	/* Received buffers not consumed yet (origin busy, input block full):
	 * a FIFO of buffer ids linked through env->held (env->held_plain for
	 * HTTPS plaintext); -1 = empty. While it is not empty new input
	 * queues behind. */
	int32_t held_head, held_tail;
	/* Buffers in both FIFOs (held, cheld): its share of the recv groups
	 * is LIMIT_RECV_SHARE_BUFS; past it recv pauses. */
	uint16_t held_n;
	/* Last time its send queue moved (a send completed, its user pulled,
	 * TLS took bytes), or began to pin provided buffers: how long it has
	 * been stalled holding them (vconn_stalled). */
	uint64_t out_moved_ms;
	/* HTTPS: the held FIFO above holds decrypted bytes; ciphertext not
	 * fed to the session yet waits in this one (recv_group buffers). The
	 * session is made at the ClientHello (its SNI picks the context) and
	 * freed with the slot. */
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
	struct iobuf_outq out;
};

/* A slot just taken for accepted socket fd (tls: on a listen_tls
 * address): cleared (its index and generation kept), socket options set,
 * the peer's address read, recv armed, the header (or handshake) timer
 * armed, state VC_READING. Counted conns_accepted (and tls_accepted). */
void vconn_accept(struct vconn *vc, const struct vconn_env *env, int fd, bool tls);
/* A completion for op_recv, op_send, op_close or op_shut. Returns true when the
 * slot may be freed now (closing and nothing in flight). */
bool vconn_on_cqe(struct vconn *vc, unsigned op, const struct io_uring_cqe *cqe);
/* The timer fired: counted by its kind (timeouts_header, _idle, _send,
 * tls_handshake_timeouts) and the connection closed. */
void vconn_on_timer(struct vconn *vc);
/* Give back what the slot holds (input block, held buffers, send queue,
 * TLS session); only at ops == 0, after the user let go of what its
 * queued segments point into. */
void vconn_release(struct vconn *vc);

void vconn_set_timer(struct vconn *vc, enum vconn_timer kind, uint32_t ms);
void vconn_clear_timer(struct vconn *vc);
/* Send what is queued on vc->out (plain, zero-copy from
 * send_zerocopy_bytes unless out.zc_never, or through TLS); one send in
 * flight, with the send deadline. */
void vconn_send(struct vconn *vc);
/* Cancel what is in flight and close (the `closing`/`closed` ops run);
 * the close of the fd waits for a linger's shutdown still in flight. */
void vconn_close(struct vconn *vc);
/* Last response out: shut our side (after close_notify), read until EOF
 * or LIMIT_LINGER_MS, then close. Closes at once after the peer's EOF. */
void vconn_linger(struct vconn *vc);
/* Input: the next held buffer's bytes (decrypting one record on HTTPS
 * when the FIFO is empty), false if none now. vconn_input_take consumes
 * n of them; vconn_input_seg keeps the buffer for a queued segment. */
bool vconn_input_next(struct vconn *vc, const char **p, size_t *len);
void vconn_input_take(struct vconn *vc, size_t n);
struct iobuf_seg vconn_input_seg(struct vconn *vc, const char *p, size_t n);
/* Bytes into the input block (taken from the pool when absent; none free
 * → buffers_exhausted and closed): how many fit, 0 when it is full. */
size_t vconn_block_append(struct vconn *vc, const char *p, size_t len);
/* Input cannot be consumed now: cancel the recv until vconn_resume. */
void vconn_pause(struct vconn *vc);
void vconn_resume(struct vconn *vc);
/* Re-arm a recv that ran out of buffers (the tick); HTTPS plaintext
 * waiting for a buffer is reported as input again. */
void vconn_rearm_starved(struct vconn *vc);
/* Has its send queue pinned provided buffers without moving for
 * LIMIT_RECV_SHARE_STALL_MS? */
bool vconn_stalled(const struct vconn *vc);

#endif
