/*
 * net/req_hygiene.h — what of a visitor's request may reach the origin:
 * the path's dot segments and the header fields the edge does not pass.
 *
 * Owns: nothing; works in the caller's request and buffer.
 * Called by: any thread (shards at the start of an exchange; unit tests).
 * Never: allocates, blocks or logs.
 *
 * Paths (docs/CONFIG.md "Dot segments"). A segment is the text between
 * separators; a separator is "/" and, because origins disagree on them,
 * also "\", "%2F" and "%5C" (any case). A dot segment is "." or ".." with
 * each dot raw or "%2E" (any case). RFC 3986 5.2.4 removes the dot
 * segments that sit between plain "/" separators ("/a/./b/../c" is
 * "/a/c", as nginx does); one that climbs above "/" ("/..", "/a/../..")
 * or that touches another separator ("/..%2f", "/a\..") or a ";" path
 * parameter ("/..;/", which servlet origins read as "/../") is refused: no
 * origin, whatever it takes for a separator, may read the forwarded path
 * as above its base_path. After a successful reqh_path_normalize the
 * path is reqh_path_clean.
 *
 * Header fields (docs/CONFIG.md "Forwarded request headers"): removed from
 * the request before the cache and the origin see it, so the key, the Vary
 * variant and the origin's answer all come from the same fields.
 */
#ifndef EDGECACHE_NET_REQ_HYGIENE_H
#define EDGECACHE_NET_REQ_HYGIENE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http1.h"

/*
 * Remove path[0..len)'s dot segments in place. Returns 0 and the new
 * length in *out_len (== len: nothing was changed, nothing was written);
 * -EINVAL when a dot segment climbs above "/" or touches a separator other
 * than "/", or the path holds "%00" (the edge answers 400). A path not starting with "/" ("*") is
 * left as it is. Never lengthens the path.
 */
int reqh_path_normalize(char *path, size_t len, size_t *out_len);

/* True when path[0..len) has no dot segment under any of the separators
 * above: the invariant the origin request writer asserts. */
bool reqh_path_clean(const char *path, size_t len);

/* Fields dropped by reqh_filter_headers, by reason. */
struct reqh_drops {
	uint32_t hop;            /* hop-by-hop: the fixed list and those Connection names */
	uint32_t underscore;     /* a name with "_" */
	uint32_t unkeyed;        /* a routing override the key does not cover */
};

/*
 * Remove from r->headers (compacting it, order kept) every field that is
 * not forwarded: hop-by-hop fields (Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
 * HTTP2-Settings, Proxy-Authenticate, Proxy-Authorization) and those the
 * request's Connection fields name — but never Host or Content-Length,
 * which the edge reads for routing and framing and writes itself —; names
 * with "_"; and the unkeyed routing overrides (X-Forwarded-Host,
 * X-Original-URL, X-Rewrite-URL, X-HTTP-Method-Override, ...). The last
 * two kinds are kept when named in pass[0..n_pass) (lower case). The
 * parse results (host, content_length, chunked, keep_alive) are untouched.
 * Adds the counts to *d.
 */
void reqh_filter_headers(struct http1_request *r, char *const *pass, size_t n_pass,
			 struct reqh_drops *d);

/* True for a name pass_request_headers may list: an underscore name or
 * an unkeyed override — not a hop-by-hop field, which never passes. */
bool reqh_passable(const char *name, size_t len);

#endif /* EDGECACHE_NET_REQ_HYGIENE_H */
