/*
 * sigv4/s3_path.h — the path an S3 origin is asked for, from the path a
 * visitor asked for (the guide's "Path mapping": Option A, bucket as the
 * first URL segment and base_path empty; Option B, base_path = /bucket).
 *
 * Owns: nothing; writes into caller buffers.
 * Called by: any thread (shards on a miss; `edgecache check-origin`).
 * Never: allocates, blocks, logs, or normalises the path: "//" is kept,
 * because S3 keys may contain it and the signature covers the path
 * exactly as sent; a "." or ".." segment (decoded, "/" or "\\" around it)
 * is refused, so the mapped path always stays under base_path. The shard
 * removed or refused those before (net/req_hygiene.h): keys with such a
 * segment cannot be reached through the edge (docs/CONFIG.md).
 *
 * Mapping: decode the visitor path once (sigv4_uri_decode), prepend the
 * origin's base_path (a decoded prefix), encode once the S3 way
 * (sigv4_uri_encode_path). With s3_addressing = virtual the first segment
 * of that path is the bucket: it moves into the host
 * ("<bucket>.<host_header>") and leaves the path, which keeps its "/".
 */
#ifndef EDGECACHE_SIGV4_S3_PATH_H
#define EDGECACHE_SIGV4_S3_PATH_H

#include <stddef.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/limits.h"

/* Caller buffers; LIMIT_S3_WIRE_PATH_BYTES / LIMIT_S3_HOST_BYTES + 1 always
 * suffice for a visitor path within LIMIT_REQUEST_LINE_BYTES. */
struct s3path_out {
	char *path;                  /* wire = canonical path, NUL-terminated */
	size_t path_cap;
	size_t path_len;
	char *host;                  /* Host header value, NUL-terminated */
	size_t host_cap;
	size_t host_len;
};

/*
 * Map raw[0..raw_len) — the visitor's path as it arrived, percent-encoded,
 * without the query — for origin o. Returns 0 and fills out->path /
 * out->host; -EINVAL for a path not starting with "/", a bad %-escape, a
 * "." or ".." segment once decoded, or
 * (virtual addressing) a missing or non-DNS bucket segment — the edge
 * answers 400; -ENOSPC when a buffer is too small (the edge answers 414).
 * On error the buffers hold no valid result.
 */
int s3path_map(const struct cfg_origin *o, const char *raw, size_t raw_len,
	       struct s3path_out *out);

#endif /* EDGECACHE_SIGV4_S3_PATH_H */
