/*
 * edge/origin_request.h — the one writer of an origin request's head:
 * request line (path mapped the S3 way for S3 origins, base_path + the
 * visitor's path for plain ones), Host, and for S3 the SigV4 headers,
 * signed at our clock plus the origin's learned clock offset.
 *
 * Owns: nothing (a pure function of its input: no clock read, no I/O,
 * no allocation, no global state).
 * Called by: the serving path (edge/origin.c, per origin request, shard
 * thread), `edgecache check-origin` and the admin API's probe and test
 * (control/cli_check_origin.c, control thread): a probe signs exactly as a
 * miss does, so one cannot pass while the other fails.
 * Never: writes the headers after Host/Authorization (the serving path
 * appends the visitor's forwarded headers, check-origin its own) or the
 * blank line; never logs (the bytes hold a signature and maybe a token).
 */
#ifndef EDGECACHE_EDGE_ORIGIN_REQUEST_H
#define EDGECACHE_EDGE_ORIGIN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/config.h"
#include "net/wbuf.h"
#include "sigv4/sigv4.h"

struct http1_request;
struct rt_origin;

struct oreq {
	const struct cfg_origin *cfg;        /* host_header, base_path, s3_* settings */
	/* Plain origins: base_path percent-encoded once (rt_origin's copy). */
	const char *base_path_wire;
	size_t base_path_wire_len;
	const struct sigv4_creds *creds;     /* S3: the set to sign with; NULL = plain */
	const char *method;                  /* as sent ("GET"/"HEAD" for S3) */
	size_t method_len;
	const char *path;                    /* the visitor's path, as received */
	size_t path_len;
	const char *query;                   /* raw, without '?'; NULL = none */
	size_t query_len;
	time_t now;                          /* our clock (unix seconds) */
	int64_t clock_offset_s;              /* the origin's clock minus ours (learned) */
};

/* What signing did (for the counters): */
struct oreq_result {
	bool signed_s3;                      /* an S3 signature was written */
	bool key_derived;                    /* no precomputed day key: derived now */
};

/*
 * Write r's request line and headers (see the top) to w. trace (may be
 * NULL) receives the canonical request and string to sign. Returns 0, or
 * -EINVAL (a bad %-escape or a header the signer refuses: the edge
 * answers 400), -ENOSPC (a path or signature over its limit: 414). A
 * short w sets w->overflow (the caller's check).
 */
int oreq_write(const struct oreq *r, struct wbuf *w, struct sigv4_trace *trace,
	       struct oreq_result *res);

/*
 * The serving path's input for visitor request req to origin o, signed
 * with creds (NULL for a plain origin) at our clock `now`: the method is
 * GET or HEAD for S3, the visitor's otherwise; the offset is o's learned
 * one (one atomic load).
 */
void oreq_for_visitor(const struct rt_origin *o, const struct sigv4_creds *creds,
		      const struct http1_request *req, time_t now, struct oreq *out);

#endif /* EDGECACHE_EDGE_ORIGIN_REQUEST_H */
