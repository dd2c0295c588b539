/*
 * core/http_msg.h — the HTTP message model every layer shares: the method
 * enum, a header field, a parsed request and response head, and the pure
 * field helpers the cache rules and the S3 error reader call.
 *
 * Owns: nothing. The structs point into the caller's buffer; net/http1.c
 * fills them (the parser), cache/ and sigv4/ read them, so neither needs
 * the parser's header.
 * Called by: any thread.
 * Never: allocates, logs, does I/O, or reads a clock (times are passed in).
 */
#ifndef EDGECACHE_CORE_HTTP_MSG_H
#define EDGECACHE_CORE_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

enum http1_method {
	HTTP1_OTHER = 0, HTTP1_GET, HTTP1_HEAD, HTTP1_POST, HTTP1_PUT,
	HTTP1_DELETE, HTTP1_OPTIONS, HTTP1_PATCH, HTTP1_CONNECT, HTTP1_TRACE,
};

struct http1_header {
	const char *name;
	const char *value;                  /* leading/trailing OWS removed */
	uint16_t name_len;
	uint32_t value_len;
};

struct http1_request {
	enum http1_method method;
	const char *method_str;
	uint16_t method_len;
	uint8_t version_minor;              /* 0 or 1 */
	const char *target;                 /* whole request-target */
	uint32_t target_len;
	/* target up to '?' (still %-encoded); "*" for OPTIONS *; for the
	 * absolute-form the part from the first '/' after the authority, or a
	 * static "/" when there is none (the only pointer not into buf). */
	const char *path;
	uint32_t path_len;
	const char *query;                  /* after '?', NULL if no '?' */
	uint32_t query_len;
	/* Host value, NULL if absent (HTTP/1.0); the authority of an
	 * absolute-form target instead (RFC 9112 3.2.2), though HTTP/1.1 still
	 * needs exactly one Host field. Only authority bytes (RFC 3986
	 * unreserved, sub-delims, '%', ':', '[', ']'), may be empty. */
	const char *host;
	uint32_t host_len;
	int64_t content_length;             /* -1 if none */
	bool chunked;                       /* Transfer-Encoding: chunked */
	bool keep_alive;                    /* after version default and Connection */
	bool expect_continue;               /* Expect: 100-continue */
	uint16_t n_headers;
	struct http1_header headers[LIMIT_HEADER_COUNT];
};

struct http1_response {
	uint16_t status;
	uint8_t version_minor;
	const char *reason;
	uint16_t reason_len;
	/* -1 if none; as the field said even when no_body (a HEAD response's
	 * length), -1 when chunked overrides it. Framing: look at no_body,
	 * then chunked, then close_delimited, then content_length. */
	int64_t content_length;
	bool chunked;
	bool keep_alive;                    /* the origin connection can be reused */
	bool no_body;                       /* 1xx, 204, 304, or response to HEAD */
	bool close_delimited;               /* body ends when the origin closes */
	uint16_t n_headers;
	struct http1_header headers[LIMIT_HEADER_COUNT];
};

/* Case-insensitive lookup; returns the first header named `name`, or NULL. */
const struct http1_header *http1_find_header(const struct http1_header *h,
					     size_t n, const char *name);

/*
 * IMF-fixdate for `t` ("Sun, 06 Nov 1994 08:49:37 GMT"), 29 bytes + NUL,
 * into out[30]. Shards cache it per second. No locale, no time zone, no
 * libc time calls; t is clamped to 1970-01-01 .. 9999-12-31T23:59:59Z.
 */
void http1_format_date(int64_t t, char out[30]);

/* True for hop-by-hop header names a proxy never forwards: Connection,
 * Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization,
 * TE, Trailer, Transfer-Encoding, Upgrade. */
bool http1_is_hop_by_hop(const char *name, size_t len);

#endif /* EDGECACHE_CORE_HTTP_MSG_H */
