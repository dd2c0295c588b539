/*
 * net/http1.h — HTTP/1.1 message parsing and writing helpers.
 *
 * Owns: nothing. Parsers fill caller-provided structs whose pointers point
 * into the caller's buffer; they never allocate, never copy, never call
 * back per byte.
 * Called by: any thread (shards on the hot path; CLI tools).
 * Never: blocks, logs, or accepts what enables request smuggling.
 *
 * Strictness (RFC 9112): a request with Transfer-Encoding and
 * Content-Length, conflicting Content-Length values, a Transfer-Encoding
 * whose final coding is not chunked (or any coding but chunked), obs-fold,
 * a bare CR, a NUL, or a non-token character in a method or header name is
 * refused. Limits come from core/limits.h.
 *
 * What the limits count (each accepted at the limit, refused one past it):
 *   LIMIT_REQUEST_LINE_BYTES  the request line from the method's first byte
 *                             through its LF (CR LF or bare LF included);
 *                             leading empty lines do not count.
 *   LIMIT_HEADER_BYTES,       the whole head: any leading empty lines, the
 *   LIMIT_RESPONSE_HEADER_BYTES  start line, the field lines and the final
 *                             blank line, i.e. the parser's return value.
 *   LIMIT_HEADER_COUNT        field lines in one head.
 *   LIMIT_METHOD_BYTES        the method token.
 * A limit is refused as soon as that many bytes arrived without the end
 * being among them; the parser never waits for bytes it would refuse.
 * Line ends are CR LF or a bare LF; a CR anywhere else is HTTP1_E_BARE_CR.
 */
#ifndef EDGECACHE_NET_HTTP1_H
#define EDGECACHE_NET_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/http_msg.h"
#include "core/limits.h"


/*
 * Parse errors. Each is returned negated by the parsers; http1_err_status
 * maps it to the status sent to the visitor and http1_err_name to the
 * counter/log name ("bad_method", ...).
 */
enum http1_err {
	HTTP1_E_AGAIN = 1,        /* incomplete: read more (not an error) */
	HTTP1_E_METHOD,           /* 400 bad or too long method token */
	HTTP1_E_TARGET,           /* 400 bad request-target (not origin-form, CTL, ...) */
	HTTP1_E_URI_TOO_LONG,     /* 414 request line over LIMIT_REQUEST_LINE_BYTES */
	HTTP1_E_VERSION,          /* 505/400 not HTTP/1.0 or HTTP/1.1 */
	HTTP1_E_HEADERS_TOO_LARGE,/* 431 head over LIMIT_HEADER_BYTES */
	HTTP1_E_TOO_MANY_HEADERS, /* 431 over LIMIT_HEADER_COUNT */
	HTTP1_E_HEADER_NAME,      /* 400 empty name, non-token char, space before ':' */
	HTTP1_E_HEADER_VALUE,     /* 400 CTL in value */
	HTTP1_E_BARE_CR,          /* 400 CR not followed by LF */
	HTTP1_E_NUL,              /* 400 NUL byte anywhere in the head */
	HTTP1_E_OBS_FOLD,         /* 400 line folding */
	HTTP1_E_TE_AND_CL,        /* 400 both Transfer-Encoding and Content-Length */
	HTTP1_E_CL_CONFLICT,      /* 400 Content-Length values differ */
	HTTP1_E_CL_INVALID,       /* 400 not 1*DIGIT, or overflows int64 */
	HTTP1_E_TE_UNSUPPORTED,   /* 400 a coding other than a single final chunked (smuggling) */
	HTTP1_E_HOST,             /* 400 missing (HTTP/1.1) or repeated Host */
	HTTP1_E_STATUS,           /* 502 bad origin status line */
	HTTP1_E_CHUNK,            /* bad chunk size line / missing CRLF after data */
	HTTP1_E__COUNT
};

/* The parse errors' counters, one per error from HTTP1_E_METHOD on:
 * parse_error_<name> in counters_file, parse_errors_total{error="<name>"}
 * in /metrics. Error e is counter e - HTTP1_E_METHOD (COUNT_IN). */
struct counters_block;
extern struct counters_block http1_counters;

/*
 * The status for the visitor: 414, 431, 505, 502 (STATUS, CHUNK:
 * origin faults), 400 for the rest, and 0 for HTTP1_E_AGAIN (and 0), which
 * are not errors. A bad chunked *request* body is the visitor's fault: the
 * caller sends 400 for it, not 502.
 */
int http1_err_status(int err);          /* err positive or negative */
const char *http1_err_name(int err);    /* static string, never NULL */

/*
 * Parse a request head from buf[0..len). Returns the head's length in
 * bytes (through the blank line) and fills *req; -HTTP1_E_AGAIN if the
 * head is not complete yet and no limit is exceeded; another -HTTP1_E_*
 * if the request must be refused. Leading empty lines (CRLF) before the
 * request line are skipped and counted in the returned length.
 * The parser keeps no state: after -HTTP1_E_AGAIN call it again from the
 * start of the head with more bytes. The bytes after the returned length
 * (body, pipelined requests) are not looked at. Request-target: origin-form,
 * "*" (OPTIONS only) or absolute-form http[s]://authority[path] without
 * userinfo; any byte but CTL, SP and DEL (raw UTF-8 passes). Transfer-
 * Encoding must be exactly one field "chunked" in HTTP/1.1 (else
 * HTTP1_E_TE_UNSUPPORTED). *req is only meaningful when it returns > 0.
 */
int http1_parse_request(const char *buf, size_t len, struct http1_request *req);

/*
 * Parse an origin response head. `head_request` says the request was HEAD
 * (no body whatever the headers say). Same return convention; limits are
 * LIMIT_RESPONSE_HEADER_BYTES and LIMIT_HEADER_COUNT. A response with both
 * Transfer-Encoding: chunked and Content-Length uses chunked and is marked
 * not keep_alive (RFC 9112 6.3). Transfer codings whose final one is not
 * chunked mean close_delimited; codings before a final chunked ("gzip,
 * chunked") cannot be stored as sent and are HTTP1_E_TE_UNSUPPORTED, as is
 * any Transfer-Encoding in an HTTP/1.0 response (faulty framing, RFC 9112
 * 6.1). Status codes 100..999 (RFC 9110 15: 6xx-9xx are passed on and treated
 * as 5xx by the caller); a 1xx head is returned like any other
 * (no_body set): the caller parses the next head after it.
 */
int http1_parse_response(const char *buf, size_t len, bool head_request,
			 struct http1_response *resp);

/*
 * Does a field named `field` among h[0..n) list the token tok[0..tok_len)
 * (names and tokens compared ignoring case)? The value is split at commas
 * and at white space, so "Connection: a b" names both a and b: a list the
 * edge reads to drop fields errs towards dropping. The proxy uses it for
 * the fields a request's or a response's Connection header names.
 */
bool http1_fields_list(const struct http1_header *h, size_t n, const char *field,
		       const char *tok, size_t tok_len);

/*
 * Does a field named `field` list any token but `except` (split and
 * compared as above)? One pass, for a caller about to ask
 * http1_fields_list once per field: with no Connection field, or only
 * "Connection: keep-alive" (Keep-Alive is hop-by-hop anyway), it need not.
 */
bool http1_fields_list_other(const struct http1_header *h, size_t n, const char *field,
			     const char *except);

/*
 * Incremental chunked-body decoder. Feed it the body bytes as they arrive;
 * it reports where the chunk data lies (for the cache) and when the message
 * ends (for pass-through framing).
 * Accepts: chunk-size (hex, at most 2^63 - 1), optional chunk-ext (RFC
 * 9112 7.1.1 grammar: BWS ';' BWS name [BWS '=' BWS token/quoted-string],
 * skipped) with the whole size line, line end included, at most
 * LIMIT_CHUNK_LINE_BYTES; CR LF (never a bare LF) after the size line,
 * the data, each trailer line and the final empty line; trailer fields
 * (name ':' value, no obs-fold) whose section, final empty line included,
 * is at most LIMIT_TRAILER_BYTES. Strict because a request body's framing
 * is forwarded byte for byte: it must read the same to any origin.
 */
struct http1_chunked {
	uint8_t state;                      /* internal */
	bool done;                          /* last chunk and trailers seen */
	uint64_t remaining;                 /* data bytes left in the current chunk */
	uint32_t line_len;                  /* bytes of the current size/trailer line */
	uint32_t trailer_bytes;
};

struct http1_span {
	uint32_t off;                       /* offset into the fed buffer */
	uint32_t len;
};

void http1_chunked_init(struct http1_chunked *c);

/*
 * Consume up to `len` bytes. Returns bytes consumed (stops right after the
 * end of the message, so trailing bytes belong to the next message), or
 * -HTTP1_E_CHUNK. Data spans found are written to spans[0..*n_spans), at
 * most max_spans (it stops early when spans are full; call again with the
 * rest). After an error every later call fails too; after `done` a call
 * consumes nothing. At most UINT32_MAX bytes are taken per call.
 */
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len,
			   struct http1_span *spans, size_t max_spans,
			   size_t *n_spans);

/* "200 OK" style reason phrase for a status code ("Unknown" if none). */
const char *http1_reason(int status);

#endif /* EDGECACHE_NET_HTTP1_H */
