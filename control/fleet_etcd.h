/*
 * control/fleet_etcd.h — a client of etcd's v3 JSON gateway (etcd 3.4:
 * /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/auth/authenticate, and the streaming /v3/watch) over HTTP/1.1 with
 * libcurl; keys and values are base64 in the JSON, plain strings here.
 *
 * Owns: one curl easy handle for requests and one multi + easy handle for
 * the watch stream, the auth token, which endpoint is current.
 * Called by: the control thread only (control/fleet.c, the fleet CLI);
 * never a shard. Requests block, each bounded by LIMIT_FLEET_REQUEST_MS
 * per endpoint (LIMIT_FLEET_CONNECT_MS to connect); the watch never
 * blocks: its fds are polled by the control loop (fetcd_watch_pollfds).
 * Failover: a request that cannot reach an endpoint (connect error,
 * timeout, 5xx, "etcdserver: not leader" and the like) is sent to the
 * next one, each endpoint at most once per request.
 * Never: logs a password, a token or a value (values may be sealed
 * secrets: still, they are not ours to print); a timeout is an error,
 * never an empty answer, so no caller takes it for "nothing changed".
 */
#ifndef EDGECACHE_CONTROL_FLEET_ETCD_H
#define EDGECACHE_CONTROL_FLEET_ETCD_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct fetcd;

struct fetcd_kv {
	char *key;
	char *value;             /* NUL-terminated (etcd values are bytes: ours are JSON) */
	size_t value_len;
	int64_t mod_revision;
	int64_t create_revision;
	int64_t lease;
};

struct fetcd_kvs {
	struct fetcd_kv *kv;
	size_t n;
	int64_t revision;        /* the store's revision the answer is at */
};

void fetcd_kvs_free(struct fetcd_kvs *k);

/* A client of the endpoints of fl (copied). NULL: out of memory or no
 * curl. */
struct fetcd *fetcd_new(const struct cfg_fleet *fl);
void fetcd_free(struct fetcd *e);

/* The last error as text (no secret), for logs and admin answers. */
const char *fetcd_error(const struct fetcd *e);

/* Every key in [key, end) (end NULL: every key with the prefix `key`),
 * at revision rev (0 = the latest). 0 and *out, -ESTALE rev was
 * compacted, -EHOSTUNREACH no endpoint answered, -EPROTO an answer we do
 * not understand, -ENOMEM. */
int fetcd_range(struct fetcd *e, const char *key, const char *end, int64_t rev,
		struct fetcd_kvs *out);

/* One key: 0 and *out (out->n 0 or 1), errors as above. */
int fetcd_get(struct fetcd *e, const char *key, struct fetcd_kvs *out);

/*
 * Put key = value if its mod_revision is still expect (0: the key must not
 * exist), in one txn; lease 0 = none. value NULL: delete the key instead.
 * 0 and *rev (the revision of the write), -EEXIST the compare failed (a
 * concurrent change: the admin API's 409), errors as above. A txn re-sent
 * to another endpoint (no answer from the first) whose compare fails while
 * the key already holds value (value NULL: is gone) was ours: 0.
 */
int fetcd_txn(struct fetcd *e, const char *key, const char *value, int64_t expect,
	      int64_t lease, int64_t *rev);

/* Put without a compare (node keys, purge events); value on lease. */
int fetcd_put(struct fetcd *e, const char *key, const char *value, int64_t lease, int64_t *rev);

/* A lease of ttl_s seconds: 0 and *id. Keepalive: 0, -ENOENT the lease
 * expired (grant a new one), errors as above. */
int fetcd_lease_grant(struct fetcd *e, int ttl_s, int64_t *id);
int fetcd_lease_keepalive(struct fetcd *e, int64_t id);

/* ---- the watch ------------------------------------------------------------- */

/* One message of the watch stream. */
struct fetcd_watch_msg {
	bool created;            /* the watch is set up */
	bool canceled;           /* etcd ended it (compact_revision says why) */
	int64_t compact_revision;/* >0: the start revision was compacted */
	int64_t revision;        /* header revision (also of a progress notification) */
	struct fetcd_event {
		bool put;        /* false: delete */
		struct fetcd_kv kv;
	} *ev;
	size_t n_ev;
};

/* Called for each message, in order; returns 0, or <0 to stop the watch. */
typedef int (*fetcd_watch_fn)(void *arg, const struct fetcd_watch_msg *m);

/* Start watching every key in [key, end) (end NULL: the prefix key) from
 * start_rev, progress notifications on. Replaces a running watch. fn
 * must not start or stop the watch. 0 or -errno. */
int fetcd_watch_start(struct fetcd *e, const char *key, const char *end, int64_t start_rev,
		      fetcd_watch_fn fn, void *arg);
void fetcd_watch_stop(struct fetcd *e);
/* Is the watch stream open (connected or connecting)? */
bool fetcd_watch_running(const struct fetcd *e);

/* The fds the watch waits on (at most FETCD_WATCH_FDS) and the longest
 * poll may wait before fetcd_watch_poll must run anyway (ms, -1 none). */
#define FETCD_WATCH_FDS 2
unsigned fetcd_watch_pollfds(struct fetcd *e, struct pollfd *pfd, int *timeout_ms);
/* Drive the stream: what poll said of those fds (n 0: a timeout).
 * Returns 0 while it runs, or -errno once it ended (the caller backs
 * off and starts it again, from the revision it has applied). */
int fetcd_watch_poll(struct fetcd *e, const struct pollfd *pfd, unsigned n);

#endif /* EDGECACHE_CONTROL_FLEET_ETCD_H */
