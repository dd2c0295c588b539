/*
 * control/admin.h — the admin API: its listener and connections, the bearer
 * token, the endpoints (zones and origins as JSON, origin create / update
 * / delete, purge, Prometheus metrics) and the log line of every action.
 *
 * Owns: the admin listening socket, LIMIT_ADMIN_CONNS connection slots
 * with their buffers (allocated at admin_open), and the responses.
 * Called by: the control thread only (control/server.c, through
 * admin_service): its poll loop waits on admin_pollfds too and hands the
 * results to admin_poll. Shards
 * never see it; a change reaches them as a new snapshot through the same
 * publish a SIGHUP reload uses.
 * Never: blocks on a client (sockets are non-blocking, every connection
 * has a deadline, heads and bodies are bounded), returns or logs a secret
 * (secrets show as s3_secret_key_set and the first 8 hex digits of their
 * SHA-256), or changes anything for a request it refuses.
 *
 * Endpoints, codes and the file format of a change: docs/ADMIN.md.
 */
#ifndef EDGECACHE_CONTROL_ADMIN_H
#define EDGECACHE_CONTROL_ADMIN_H

#include <poll.h>
#include <stdint.h>

#include <jansson.h>

#include "control/server.h"

struct admin;

/* Bind [admin] listen (when enabled) before the shards start. 0 (with
 * *out NULL when the section is absent), or -1 with the reason on stderr. */
int admin_open(struct server *srv, struct admin **out);
void admin_close(struct admin *a);

/* The fds to wait on (at most 1 + LIMIT_ADMIN_CONNS); returns the count. */
unsigned admin_pollfds(struct admin *a, struct pollfd *pfd);
/* Serve what poll reported on those fds, and expire slow connections. */
void admin_poll(struct admin *a, const struct pollfd *pfd, unsigned n, uint64_t now_ms);

/* Purge a zone's stored objects as POST .../purge does (in, decoded by
 * admin_purge_decode): the count dropped, or -errno for a prefix that
 * cannot be purged. control/fleet.c runs it for a purge event. */
struct cfg_zone;
struct admin_purge_in;
long admin_purge_run(struct server *srv, const struct cfg_zone *z,
		     const struct admin_purge_in *in);

/* A zone as GET /cdn/zones/{uuid} shows it, without its origins (a new
 * object; NULL: out of memory). control/fleet.c builds its zone values
 * on it. */
json_t *admin_zone_fields(const struct cfg_zone *z);

/* The calls above as the service main.c hands to server_run: the server
 * drives the admin API without naming it (admin → server, one way). */
extern const struct server_service admin_service;

#endif /* EDGECACHE_CONTROL_ADMIN_H */
