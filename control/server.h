/*
 * control/server.h — the process: configuration at run time, the shard
 * threads, and the control thread that starts, watches and stops them.
 *
 * Owns: the current snapshot (core/runtime.h) and the retired ones, the
 * latest applied struct cfg, the epoch domain that frees replaced S3
 * credentials objects (core/snapshot.h), the listening sockets (created
 * here so bind errors are reported before serving), the shard threads,
 * signals, the counters file and the draining of shard logs.
 * Called by: main (server_run) on the main thread, which becomes the
 * control thread; the admin API (publish, build). Shards only read what
 * struct shard_env points at (edge/shard.h).
 * Never: runs on a shard thread; shards never block on anything it does;
 * names the admin API (it drives a struct server_service it is handed).
 */
#ifndef EDGECACHE_CONTROL_SERVER_H
#define EDGECACHE_CONTROL_SERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "control/config_load.h"
#include "core/config.h"
#include "core/counters.h"
#include "edge/runtime.h"

struct pollfd;
struct shard;
struct runtime;
struct store;
struct collapse;
struct refreshed;
struct server;

/*
 * A service the control loop drives beside its signals (the admin API:
 * admin_service in control/admin.h). The server knows it only through
 * these calls, so the dependency goes one way: the service may call the
 * server_* functions below, the server never names it.
 * open: before the shards start; 0 (state may be NULL: nothing to serve),
 * or -1 with the reason on stderr. pollfds: at most SERVER_SERVICE_FDS.
 * poll: what poll(2) reported on those fds (n = 0: a timeout), every
 * CONTROL_POLL_MS at least. close: at exit, also after a failed start.
 */
struct server_service {
	int (*open)(struct server *srv, void **state);
	unsigned (*pollfds)(void *state, struct pollfd *pfd);
	void (*poll)(void *state, const struct pollfd *pfd, unsigned n, uint64_t now_ms);
	void (*close)(void *state);
};
/* the admin API's listener and connections, and the fleet's etcd watch */
#define SERVER_SERVICE_FDS (1 + LIMIT_ADMIN_CONNS + 2)

struct server {
	/* The snapshot shards serve from: written by the control thread only,
	 * read by shards with one acquire load per loop iteration. */
	_Atomic(struct runtime *) rt;
	struct runtime *retired;            /* waiting for every shard to let go */
	/* The latest applied config (control thread: the admin API's views
	 * and the base of its next change): rt->cfg, or a newer one that
	 * differs from it only in S3 credentials (cfg_own: then ours). */
	struct cfg *cfg;
	bool cfg_own;
	/* Retired credentials objects (core/runtime.h), freed by epochs: each
	 * shard announces the epoch at the top of its loop. */
	struct snap_domain creds_epochs;
	struct store *store;                /* the disk cache, NULL without [cache] */
	struct collapse *collapse;          /* in-flight cache keys (with a store) */
	struct collapse *invalidated;       /* invalidation stamps (with a store) */
	struct collapse *passes;            /* not-storable stamps (with a store) */
	struct refreshed *refreshed;        /* 304 rewrites in flight (with a store) */
	uint64_t generation;
	const char *main_file;
	unsigned n_shards;                  /* started */
	unsigned n_shards_planned;          /* workers */
	uint32_t test_store_write_delay_ms; /* the test hook (edge/shard.h), 0 = off */
	struct shard **shards;
	_Atomic bool draining;              /* SIGTERM: stop accepting, finish */
	uint64_t drain_deadline_ms;         /* CLOCK_MONOTONIC ms */
	uint64_t started_ms;
	const struct server_service *svc;   /* NULL: none */
	void *svc_state;                    /* its open's, NULL when it serves nothing */
	uint64_t swaps;                     /* snapshots published after the first */
	uint64_t creds_swaps;               /* credentials objects published in place */
	uint64_t last_swap_ns;              /* the last one's publication to all shards */
	/* How SIGHUP loads the config: NULL = cfg_load; a service may set it
	 * (fleet mode: the zones are etcd's, control/fleet.h). */
	int (*load)(void *arg, const char *main_file, struct cfg **out, struct cfg_error *err);
	void *load_arg;
	struct upgrade *up;                 /* control/upgrade.h */
	/* An upgrade's new process owns the store now: no checkpoint of ours
	 * (it would replace the new one's with our older index). */
	bool store_handed_over;
};

/* Serve `cfg` (ownership moves in, also on failure) loaded from
 * main_file until SIGTERM/SIGINT, then drain and return the exit status
 * (0), driving svc (may be NULL) from the control loop. SIGHUP reloads
 * main_file and its zones: through a snapshot swap, or, when only
 * credentials changed (rt_cfg_creds_only, rt_files_same), by swapping
 * the changed origins' credentials objects in place. Returns 1 with a
 * message on stderr if it cannot start. */
int server_run(struct cfg *cfg, const char *main_file, const struct server_service *svc);

/* Open a listening socket on l (SO_REUSEPORT when `reuseport`: one per
 * shard), or take the one an upgrade handed over for that address
 * (control/upgrade.h); either way noted, to be handed over in turn. The
 * fd, or -errno with the reason on stderr. */
int server_listen(const struct cfg_listen *l, bool reuseport);

/* Control thread: draining (SIGTERM, or an upgrade done). */
bool server_draining(const struct server *srv);
/* Control thread: stop accepting, finish what we hold within
 * drain_timeout_ms, then server_run returns. `why` for the log. */
void server_drain_begin(struct server *srv, uint64_t now_ms, const char *why);
/* Control thread: an upgrade's new process serves: it owns the store
 * (we write no checkpoint) and the admin API's socket (ours closed, its
 * connections cut), and we drain. */
void server_hand_over(struct server *srv, uint64_t now_ms);

/* Control thread: a snapshot of cfg (ownership moves in, also on
 * failure) for the running shards, and making one current, as SIGHUP
 * does. server_build: 0 or -errno with err set (never a secret). */
int server_build(struct server *srv, struct cfg *cfg, struct runtime **out, char *err,
		 size_t err_len);
void server_publish(struct server *srv, struct runtime *rt);
/* Serve cfg (ownership moves in, also on failure) as SIGHUP does: its
 * credentials swapped in place when nothing else changed, else a new
 * snapshot. 0, or -EINVAL with the reason logged (as "why: ...") and the
 * old config still served. */
int server_apply(struct server *srv, struct cfg *cfg, const char *why);

/*
 * Control thread: a change of credentials alone (a PATCH of them, or a
 * SIGHUP), applied without a new snapshot. server_creds_prepare makes the
 * new credentials objects for cfg (a freshly loaded config that differs
 * from the current snapshot's only in credentials: rt_cfg_creds_only),
 * unpublished: 0 or -errno
 * with err set (never a secret). server_creds_publish swaps them in (the
 * old ones retired to creds_epochs) and makes cfg (ownership moves in) the
 * latest config; server_creds_discard drops them.
 */
struct server_creds_change {
	struct runtime *rt;                 /* the snapshot they are for */
	struct origin_creds **next;         /* [rt->n_origins]: NULL = unchanged */
};
int server_creds_prepare(struct server *srv, const struct cfg *cfg,
			 struct server_creds_change *ch, char *err, size_t err_len);
void server_creds_publish(struct server *srv, struct cfg *cfg, struct server_creds_change *ch);
void server_creds_discard(struct server_creds_change *ch);

/* Control thread: the latest applied config (see struct server). */
static inline const struct cfg *server_cfg(const struct server *srv)
{
	return srv->cfg;
}
/* Control thread: snapshots not yet freed, the current one included (1
 * once every shard has moved to it and let go of the ones before). */
unsigned server_snapshots_live(const struct server *srv);

/* Control thread: every registered counter block summed over the shards
 * (core/counters.h), to f: counters_file and GET /metrics. */
void server_counters_write(struct server *srv, FILE *f, enum counters_format fmt);


#endif
