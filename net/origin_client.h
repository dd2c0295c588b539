/*
 * net/origin_client.h — the HTTP/1.1 client side of an origin connection
 * on a loop's ring: the socket, connect with its timeout, TLS (handshake
 * and records), the request's send queue, receives from a provided-buffer
 * group, reading the response by its framing and telling its user head,
 * body, end or error through struct oclient_ops; and the rule of when the
 * connection may be reused.
 *
 * Owns, per connection (struct oclient, embedded in its user's slot): the
 * fd, the TLS session, the queue of request bytes (head block and body
 * segments, released as sent), the connect address and timeout (read by
 * the kernel at submission), the read timeout (a wheel entry, re-armed by
 * every read that brings response bytes — a decrypted record on https;
 * the user's timer callback gets it, see
 * oclient_request_start), the count of its submitted operations, and
 * per response (struct oclient_reader) the head being read (a block of
 * the head pool while the head is split across reads) and the body
 * framing and its progress.
 * Given by its user at init (struct oclient_env, one per loop): the loop
 * (ring, wheel, clock, counters), the op numbers to put in user_data with
 * the user's slot and generation, the provided-buffer group receives pick
 * from, the software group decrypted records go into, and the head pool.
 * It counts
 * in the core counter block (origin_connects, origin_connect_failures,
 * origin_tls_*, recv_nobufs).
 * Called by: the thread that owns the loop (a shard thread: edge/origin.c,
 * which owns the slot, the keep-alive pools, when to read, what a
 * timeout means, failover and retries). Callbacks run inside oclient_read,
 * oclient_read_eof and oclient_on_recv on that thread.
 * Never: blocks (socket(2)/setsockopt(2) do not; connect, send, receive
 * and close go through the ring), allocates but a TLS session per https
 * connection (net/tls.h) and head blocks from the pool, frees the slot
 * (its user does, once ops is 0), or decides what a response *means*: caching, S3 errors,
 * retries, zones, credentials and the visitor are its user's. It reads
 * the framing and nothing else.
 *
 * Response rules (RFC 9112 6.3; the parser is net/http1.h):
 *  - interim responses (1xx: 103, a stray 100) go to on_interim, each as
 *    a head with no body whatever its Content-Length says, at most
 *    LIMIT_ORIGIN_INTERIM_HEADS of them and LIMIT_ORIGIN_INTERIM_BYTES in
 *    all per response (beyond: OCLIENT_E_INTERIM); 101 is an error (the
 *    edge never asks to switch protocols: what follows is not HTTP);
 *  - a response to HEAD, a 204 and a 304 have no body whatever their
 *    Content-Length says; bytes after such a head end reuse;
 *  - Content-Length: exactly that many bytes (0: the head ends it), bytes
 *    past them end reuse;
 *  - chunked: passed on with its framing, or as data only (`dechunk`, an
 *    HTTP/1.0 visitor); a broken chunk line is an error;
 *  - neither: the body runs until the origin closes (never reused);
 *  - an end of input before the framing says the body ended is an error
 *    (OCLIENT_E_TRUNCATED): never a short response that looks complete.
 *
 * Reuse (the desync rule, oclient_reuse): a connection goes back to a
 * keep-alive pool only when the whole request was sent — head and every
 * body byte its framing announced — and the whole response was read
 * within its framing. An origin may answer before it has read the body
 * (nginx does for `return` and for a POST to a static file); it then reads
 * the rest of the body as its next request, so a pooled connection would
 * let one visitor's bytes become another's request. And a request whose
 * method gives a body no meaning (GET, HEAD, DELETE, OPTIONS, TRACE) but
 * that carries one is never reused even when all of it was sent: origins
 * that ignore such a body read it as their next request (CL.0).
 */
#ifndef EDGECACHE_NET_ORIGIN_CLIENT_H
#define EDGECACHE_NET_ORIGIN_CLIENT_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/limits.h"
#include "core/loop.h"
#include "net/http1.h"
#include "net/iobuf.h"

struct tls_ctx;
struct tls_session;

enum oclient_body_mode {
	OCLIENT_BODY_NONE = 0,
	OCLIENT_BODY_LENGTH,
	OCLIENT_BODY_CHUNKED,
	OCLIENT_BODY_CLOSE,
};

/* Why a response failed; the user answers (502, 503) and counts. */
enum oclient_error {
	OCLIENT_E_BAD_HEAD = 1,     /* the head did not parse, or a 101 */
	OCLIENT_E_BAD_CHUNK,        /* chunked framing broken */
	OCLIENT_E_NOBUFS,           /* no head block for a head split across reads */
	OCLIENT_E_CLOSED,           /* input ended before the head did */
	OCLIENT_E_TRUNCATED,        /* input ended inside the body */
	OCLIENT_E_INTERIM,          /* too many interim (1xx) heads, or too many bytes of them */
};

/*
 * What the reader tells its user. Each callback gets the `user` pointer
 * given to oclient_read. A callback returning false has ended the
 * exchange (answered, retried elsewhere, closed): the reader stops at once
 * and touches nothing more; oclient_read returns OCLIENT_STOPPED.
 */
struct oclient_ops {
	/* An interim response head (1xx but 101), before the final one; it
	 * has no body. Valid during the call only, like on_head's. Optional
	 * (NULL: skipped). */
	bool (*on_interim)(void *user, const struct http1_response *resp);
	/* The final response head (the fields point into the bytes fed, or
	 * into the reader's head block: valid during the call only). */
	bool (*on_head)(void *user, const struct http1_response *resp);
	/* Content bytes, each once and in order, without chunk framing,
	 * before they are passed on: the user may read or overwrite them in
	 * place (same length). Optional (NULL). */
	void (*on_data)(void *user, char *p, size_t n);
	/* Bytes to pass on, in order: the content, and the chunk framing
	 * unless the reader de-chunks. p points into the bytes fed, which
	 * lie in buffer bid of g (as given to oclient_read): a user that
	 * keeps them past the call takes a reference (iobuf_group_ref). */
	bool (*on_body)(void *user, struct iobuf_group *g, uint16_t bid, const char *p,
			size_t n);
	/* The response ended within its framing. */
	void (*on_end)(void *user);
	/* The response failed; nothing more comes for it. */
	void (*on_error)(void *user, enum oclient_error err);
};

_Static_assert(LIMIT_ORIGIN_INTERIM_HEADS < 255, "oclient_reader.interim_n is a uint8_t");

struct oclient_reader {
	struct iobuf_pool *pool;            /* for a head split across reads */
	char *head;                         /* that head so far, or NULL */
	uint32_t head_len;
	bool head_request;                  /* the request was HEAD */
	bool dechunk;                       /* pass chunked content without framing */
	bool got_bytes;                     /* any response byte arrived */
	bool head_done;                     /* the final head was read */
	uint8_t interim_n;                  /* interim heads read before it */
	uint32_t interim_bytes;             /* and their bytes */
	bool keep_alive;                    /* the response allows another request */
	uint8_t body_mode;                  /* enum oclient_body_mode */
	int64_t body_left;                  /* OCLIENT_BODY_LENGTH */
	struct http1_chunked chunk;         /* OCLIENT_BODY_CHUNKED */
	struct iobuf_group *g;              /* the buffer being read (on_body's) */
	uint16_t bid;
};

/* oclient_read / oclient_read_eof results. */
enum {
	OCLIENT_MORE = 0,           /* the response goes on: feed more */
	OCLIENT_DONE = 1,           /* on_end was called */
	OCLIENT_STOPPED = -1,       /* on_error was called, or a callback returned false */
};

/* Ready the reader for the response to a new request (a head block left
 * from an earlier response goes back to the pool). */
void oclient_reader_start(struct oclient_reader *r, struct iobuf_pool *pool,
			  bool head_request, bool dechunk);
/* Give back what the reader holds (the head block). */
void oclient_reader_release(struct oclient_reader *r);
/*
 * Response bytes as they came, in buffer bid of group g (NULL, 0 when
 * they lie in no group). Calls on_interim for each interim head, on_head
 * once, then on_data/on_body for the body, then on_end — or on_error. p may be overwritten by on_data.
 * Returns OCLIENT_MORE, OCLIENT_DONE or OCLIENT_STOPPED.
 */
int oclient_read(struct oclient_reader *r, char *p, size_t len, struct iobuf_group *g,
		 uint16_t bid, const struct oclient_ops *ops, void *user);
/* The input ended: `clean` for an EOF, false for a receive or send error
 * (a reset). on_end if the body runs until the close and the close was
 * clean, else on_error. OCLIENT_DONE or OCLIENT_STOPPED. */
int oclient_read_eof(struct oclient_reader *r, bool clean, const struct oclient_ops *ops,
		     void *user);

/* RFC 9110 9.3: content on these methods has no defined meaning. */
bool oclient_method_ignores_body(enum http1_method m);
/* RFC 9110 9.2.2: idempotent methods, the only ones a proxy may retry
 * on its own. */
bool oclient_method_idempotent(enum http1_method m);
/* Whether the connection may carry another request after this response. */
enum oclient_reuse {
	OCLIENT_REUSE = 0,          /* yes: it may go back to a keep-alive pool */
	OCLIENT_REUSE_CLOSE,        /* no: the response closes it (framing, Connection) */
	OCLIENT_REUSE_DESYNC,       /* no: the origin may read leftovers as a request */
};
/*
 * The desync rule, once the response was read. `request_sent`: every byte
 * of the request, head and body, left (nothing queued, in flight, or in a
 * TLS session's output). `body_unsafe`: it carried a body its method
 * gives no meaning (oclient_method_ignores_body). Desync wins over close.
 */
enum oclient_reuse oclient_reuse(const struct oclient_reader *r, bool request_sent,
				 bool body_unsafe);

/* ---- the connection ------------------------------------------------------- */

/* What a loop's connections share, set once by their user. */
struct oclient_env {
	struct loop *lp;                    /* ring, wheel, clock, counters */
	/* user_data ops: loop_ud(op, slot, gen) on every SQE */
	unsigned op_recv, op_send, op_connect, op_linkto, op_close;
	struct iobuf_group *recv_group;     /* a kernel ring: receives pick from it */
	struct iobuf_group *plain_group;    /* software: decrypted records */
	struct iobuf_pool *pool;            /* head blocks, request head segments */
};

struct oclient {
	const struct oclient_env *env;
	uint32_t slot, gen;                 /* the user's, for user_data */
	int fd;                             /* -1: none (not opened, or closing) */
	uint32_t ops;                       /* submitted, not completed */
	bool connected;                     /* connect completed, not closed */
	bool busy;                          /* a request's response is awaited */
	bool recv_armed;
	bool tls_ready;                     /* https: handshake done */
	/* Request body bytes the request's framing announced are still to
	 * come (oclient_request_body's `last` clears it). */
	bool body_pending;
	struct tls_session *tls;            /* https: the session, NULL for http */
	uint32_t read_timeout_ms;
	/* Armed while a handshake or a response is awaited: no byte for
	 * read_timeout_ms. The loop's timer callback gets this entry (it lies
	 * inside the user's slot). */
	struct wheel_entry timer;
	struct oclient_reader rd;           /* the response being read */
	struct iobuf_outq out;              /* request bytes to the origin */
	struct sockaddr_storage addr;       /* read by the kernel at submission */
	struct __kernel_timespec connect_ts;
};

/* A fresh connection in slot/gen: nothing open, nothing queued. */
void oclient_init(struct oclient *c, const struct oclient_env *env, uint32_t slot,
		  uint32_t gen);
/*
 * Open: a socket, and its connect with a linked timeout of
 * connect_timeout_ms on the ring (op_connect's completion says how it
 * went); https when tls is not NULL (a session for host, verified against
 * tls's trust store). read_timeout_ms bounds each wait for the origin
 * after that (the handshake, each response byte). Returns 0 or -errno
 * (no TLS session, no socket: nothing is submitted then).
 */
int oclient_connect(struct oclient *c, const struct sockaddr_storage *ss, socklen_t sl,
		    uint32_t connect_timeout_ms, uint32_t read_timeout_ms,
		    struct tls_ctx *tls, const char *host);
/* The connect completion (op_connect): 0 when connected (the read
 * timeout armed: it bounds the handshake too), else its -errno (counted
 * origin_connect_failures). */
int oclient_on_connect(struct oclient *c, const struct io_uring_cqe *cqe);
/* Cancel what is in flight and close the fd (linked on the ring); the
 * read timeout is disarmed. Its completions still come: the slot is free
 * again only at ops == 0. */
void oclient_close(struct oclient *c);
/* Give back what it holds (TLS session, queued segments, head block);
 * only at ops == 0. */
void oclient_release(struct oclient *c);

/* A new request on this connection: its head block queued (ownership
 * moves here) and sent once connected, the reader readied for its
 * response; `body_pending` when body bytes its framing announced are
 * still to come (oclient_request_body). From now until
 * oclient_request_done (or oclient_close) every response byte re-arms
 * the read timeout (already connected: armed now). */
void oclient_request_start(struct oclient *c, const struct iobuf_seg *head,
			   bool head_request, bool dechunk, bool body_pending);
/* The response was read (or given up): no read timeout any more. */
void oclient_request_done(struct oclient *c);
/* Queue request bytes (ownership of seg moves here, also on failure);
 * `last`: the final body bytes. False when the queue is full. Sends. */
bool oclient_request_body(struct oclient *c, const struct iobuf_seg *seg, bool last);
/* Every request byte left: the head and every body byte its framing
 * announced were queued, and none is still queued, being sent, or
 * waiting in the TLS session's output. */
bool oclient_request_sent(const struct oclient *c);

/* Send what is queued, if connected and nothing is in flight (https:
 * encrypted first, once the handshake is done; the segments go as their
 * bytes are taken). */
void oclient_flush(struct oclient *c);
/* Arm one receive from recv_group. */
void oclient_recv(struct oclient *c);
/*
 * https: advance the handshake (then send what it produced). Returns 0
 * when it is done (counted origin_tls_resumed or origin_tls_full_handshakes),
 * -EAGAIN for more input, another -errno when it failed (counted
 * origin_tls_failures; oclient_tls_reason says why).
 */
int oclient_handshake(struct oclient *c);
const char *oclient_tls_reason(const struct oclient *c);

/* oclient_on_recv / oclient_on_send results. */
enum oclient_rx {
	OCLIENT_RX_OK = 0,          /* bytes handled (or nothing to do) */
	OCLIENT_RX_HANDSHAKE,       /* https: input for the handshake: oclient_handshake */
	OCLIENT_RX_NOBUFS,          /* the group was empty: arm again later */
	OCLIENT_RX_CLOSED,          /* EOF (res 0) or a socket error (res < 0) */
	OCLIENT_RX_BROKEN,          /* a TLS record error: close */
};
/*
 * Bytes for the connection's user: plain bytes, or each decrypted record,
 * in buffer bid of g (a reference is the callee's to take). Return false
 * when the connection must not read more now (closed, or no exchange).
 */
typedef bool (*oclient_bytes_fn)(void *user, char *p, size_t n, struct iobuf_group *g,
				 uint16_t bid);
/* A recv completion of this connection: *res gets cqe->res. */
enum oclient_rx oclient_on_recv(struct oclient *c, const struct io_uring_cqe *cqe,
				oclient_bytes_fn bytes, void *user, int *res);
/* A send completion: with `more` (the connection serves a request) the
 * sent bytes are released and the rest is sent. 0, or the send's -errno
 * (nothing more is sent). */
int oclient_on_send(struct oclient *c, const struct io_uring_cqe *cqe, bool more);

#endif /* EDGECACHE_NET_ORIGIN_CLIENT_H */
