/*
 * net/origin_client.h — the HTTP/1.1 client side of an origin connection:
 * reading a response and telling its user head, body, end or error
 * through struct oclient_ops; and the rule of when the connection may be
 * reused.
 *
 * Owns, per response (struct oclient_reader): the response head being
 * read (a block of the caller's head pool while the head is split across
 * reads), the body framing (Content-Length, chunked, until close, none)
 * and its progress, and whether the connection may carry another request.
 * Called by: the thread that owns the connection (a shard thread: edge/
 * origin.c), with the bytes its recv completions carried, in order. The
 * callbacks run inside oclient_read / oclient_read_eof on that thread.
 * Never: blocks, does I/O, allocates (but one head block from the pool it
 * is given), or decides what a response *means*: caching, S3 errors,
 * retries, zones, credentials and the visitor are its user's. It reads
 * the framing and nothing else.
 *
 * Response rules (RFC 9112 6.3; the parser is net/http1.h):
 *  - interim responses (1xx: 100, 103) are skipped; 101 is an error (the
 *    edge never asks to switch protocols: what follows is not HTTP);
 *  - a response to HEAD, a 204 and a 304 have no body whatever their
 *    Content-Length says; bytes after such a head end reuse;
 *  - Content-Length: exactly that many bytes, bytes past them end reuse;
 *  - chunked: passed on with its framing, or as data only (`dechunk`, an
 *    HTTP/1.0 visitor); a broken chunk line is an error;
 *  - neither: the body runs until the origin closes (never reused);
 *  - an end of input before the framing says the body ended is an error
 *    (OCLIENT_E_TRUNCATED): never a short response that looks complete.
 *
 * Reuse (the desync rule, oclient_reusable): a connection goes back to a
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_msg.h"
#include "net/http1.h"
#include "net/iobuf.h"

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
};

/*
 * What the reader tells its user. Each callback gets the `user` pointer
 * given to oclient_read. A callback returning false has ended the
 * exchange (answered, retried elsewhere, closed): the reader stops at once
 * and touches nothing more; oclient_read returns OCLIENT_STOPPED.
 */
struct oclient_ops {
	/* The final response head (the fields point into the bytes fed, or
	 * into the reader's head block: valid during the call only). */
	bool (*on_head)(void *user, const struct http1_response *resp);
	/* Content bytes, each once and in order, without chunk framing,
	 * before they are passed on: the user may read or overwrite them in
	 * place (same length). Optional (NULL). */
	void (*on_data)(void *user, char *p, size_t n);
	/* Bytes to pass on, in order: the content, and the chunk framing
	 * unless the reader de-chunks. p points into the bytes fed. */
	bool (*on_body)(void *user, const char *p, size_t n);
	/* The response ended within its framing. */
	void (*on_end)(void *user);
	/* The response failed; nothing more comes for it. */
	void (*on_error)(void *user, enum oclient_error err);
};

struct oclient_reader {
	struct iobuf_pool *pool;            /* for a head split across reads */
	char *head;                         /* that head so far, or NULL */
	uint32_t head_len;
	bool head_request;                  /* the request was HEAD */
	bool dechunk;                       /* pass chunked content without framing */
	bool got_bytes;                     /* any response byte arrived */
	bool head_done;                     /* the final head was read */
	bool keep_alive;                    /* the response allows another request */
	uint8_t body_mode;                  /* enum oclient_body_mode */
	int64_t body_left;                  /* OCLIENT_BODY_LENGTH */
	struct http1_chunked chunk;         /* OCLIENT_BODY_CHUNKED */
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
 * Response bytes as they came. Calls on_head once, then on_data/on_body
 * for the body, then on_end — or on_error. p may be overwritten by
 * on_data. Returns OCLIENT_MORE, OCLIENT_DONE or OCLIENT_STOPPED.
 */
int oclient_read(struct oclient_reader *r, char *p, size_t len,
		 const struct oclient_ops *ops, void *user);
/* The input ended: `clean` for an EOF, false for a receive or send error
 * (a reset). on_end if the body runs until the close and the close was
 * clean, else on_error. OCLIENT_DONE or OCLIENT_STOPPED. */
int oclient_read_eof(struct oclient_reader *r, bool clean, const struct oclient_ops *ops,
		     void *user);

/* RFC 9110 9.3: content on these methods has no defined meaning. */
bool oclient_method_ignores_body(enum http1_method m);
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

#endif /* EDGECACHE_NET_ORIGIN_CLIENT_H */
