/*
 * control/server.c — the control thread (see server.h): start-up checks,
 * listening sockets, shard threads, signals, counters file, log draining,
 * DNS refresh, and the drain on SIGTERM.
 */
#include "control/server.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/config_load.h"
#include "control/upgrade.h"
#include "control/privdrop.h"
#include "control/sdnotify.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ring.h"
#include "edge/shard.h"
#include "net/http1.h"
#include "sigv4/s3_error.h"
#include "cache/store.h"
#include "cache/collapse.h"
#include "cache/refreshed.h"
#include "edge/runtime.h"
#include "net/tls.h"

#define CONTROL_POLL_MS     100
#define COUNTERS_EVERY_MS   1000

/* ---- listening sockets -------------------------------------------------------- */

int server_listen(const struct cfg_listen *l, bool reuseport)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	const char *host = strcmp(l->host, "*") == 0 ? NULL : l->host;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (!host)
		hints.ai_family = AF_INET;
	snprintf(port, sizeof(port), "%u", l->port);
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0 || !res) {
		fprintf(stderr, "edgecache: listen %s:%u: %s\n", l->host, l->port, gai_strerror(r));
		return -EINVAL;
	}
	int fd = upgrade_listener_take(res->ai_addr, reuseport);
	if (fd >= 0) {
		freeaddrinfo(res);
		upgrade_listener_note(fd);
		return fd;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, LIMIT_LISTEN_BACKLOG) < 0) {
		int e = errno;
		fprintf(stderr, "edgecache: listen %s:%u: %s\n", l->host, l->port, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);
	upgrade_listener_note(fd);
	return fd;
}

/* ---- counters ----------------------------------------------------------------------- */

static struct runtime *srv_rt(struct server *srv)
{
	return atomic_load_explicit(&srv->rt, memory_order_acquire);
}

void server_counters_write(struct server *srv, FILE *f, enum counters_format fmt)
{
	const uint64_t *arrs[LIMIT_WORKERS];

	assert(srv->n_shards <= LIMIT_WORKERS);
	for (unsigned s = 0; s < srv->n_shards; s++)
		arrs[s] = srv->shards[s]->lp.ctr;
	counters_write(f, fmt, arrs, srv->n_shards);
}

/* Every subsystem's counter block, in the order the outputs list them
 * (the core block is always first). Before any shard runs: a block's
 * slots are placed before anyone counts in them. */
static int register_counters(struct server *srv)
{
	struct counters_block *const blocks[] = {
		&http1_counters, &s3err_counters, &store_counters, &log_counters,
		&sdnotify_counters, &upgrade_counters,
	};

	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		int ret = counters_register(blocks[i]);
		if (ret < 0) {
			fprintf(stderr, "edgecache: counter block %s: %s\n", blocks[i]->prefix,
				strerror(-ret));
			return ret;
		}
	}
	store_counters.ctx = srv->store;    /* the disk store's (none: left out) */
	return 0;
}

static void write_counters(struct server *srv)
{
	const char *path = srv_rt(srv)->cfg->server.counters_file;
	if (!path)
		return;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_warn("counters_file %s: %s", tmp, strerror(errno));
		return;
	}
	server_counters_write(srv, f, COUNTERS_FILE);
	struct runtime *rt = srv_rt(srv);
	for (uint32_t i = 0; i < rt->n_origins; i++)
		if (rt->origins[i].cfg->s3_auth_enabled)
			fprintf(f, "s3_clock_offset_s{zone=\"%s\",origin=\"%s\"} %lld\n",
				rt->origins[i].zone->name, rt->origins[i].cfg->name,
				(long long)atomic_load(&rt->origins[i].clock_offset_s));
	fprintf(f, "runtime_snapshots_live %u\n", server_snapshots_live(srv));
	fprintf(f, "shards %u\nuptime_ms %llu\n", srv->n_shards,
		(unsigned long long)(loop_now_ms() - srv->started_ms));
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		log_warn("counters_file %s: %s", path, strerror(errno));
}

static void drain_logs(struct server *srv)
{
	for (unsigned s = 0; s < srv->n_shards; s++) {
		log_ring_drain_error(&srv->shards[s]->lp.log_err);
		log_ring_drain_access(&srv->shards[s]->lp.log_access);
	}
}

/* ---- shards -------------------------------------------------------------------------- */

/* CPUs this process may run on, in order: shard i is pinned to the i-th. */
static int cpu_for(unsigned i)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	int n = CPU_COUNT(&set);
	if (n <= 0)
		return -1;
	unsigned want = i % (unsigned)n;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && want-- == 0)
			return c;
	return -1;
}

static int start_shards(struct server *srv, unsigned want)
{
	const struct cfg_server *sc = &srv_rt(srv)->cfg->server;

	/* n_shards counts only shards that run, so cleanup touches no other. */
	srv->n_shards = 0;
	srv->shards = calloc(want, sizeof(*srv->shards));
	if (!srv->shards)
		return -ENOMEM;
	size_t n_fds = sc->n_listens + sc->n_listens_tls;
	const struct shard_env env = {
		.rt = &srv->rt, .draining = &srv->draining,
		.drain_deadline_ms = &srv->drain_deadline_ms, .store = srv->store,
		.collapse = srv->collapse, .invalidated = srv->invalidated,
		.passes = srv->passes, .refreshed = srv->refreshed,
		.n_shards_planned = srv->n_shards_planned,
		.creds_epochs = &srv->creds_epochs,
		.test_store_write_delay_ms = srv->test_store_write_delay_ms,
	};
	for (unsigned i = 0; i < want; i++) {
		int fds[2 * LIMIT_LISTEN_ADDRS];
		for (size_t l = 0; l < n_fds; l++) {
			fds[l] = server_listen(l < sc->n_listens ? &sc->listens[l] :
					       &sc->listens_tls[l - sc->n_listens], true);
			if (fds[l] < 0) {
				while (l-- > 0)
					close(fds[l]);
				return -1;
			}
		}
		struct shard *sh = shard_create(&env, i, cpu_for(i), fds, (unsigned)n_fds,
						(unsigned)sc->n_listens);
		if (!sh) {
			for (size_t l = 0; l < n_fds; l++)
				close(fds[l]);
			fprintf(stderr, "edgecache: out of memory creating shard %u\n", i);
			return -ENOMEM;
		}
		int ret = shard_start(sh);
		if (ret < 0) {
			fprintf(stderr, "edgecache: shard %u failed to start: %s\n", i, strerror(-ret));
			shard_destroy(sh);
			return ret;
		}
		srv->shards[srv->n_shards++] = sh;
	}
	return 0;
}

/* ---- snapshots: publish, reload, key roll, reclaim ------------------------- */

/* The config a snapshot replaced was the latest or, after credential
 * changes, older than it: either way the latest is now rt's. */
static void adopt_cfg(struct server *srv, struct cfg *cfg, bool own)
{
	if (srv->cfg_own)
		cfg_free(srv->cfg);
	srv->cfg = cfg;
	srv->cfg_own = own;
}

/* Make rt current; the old one is retired until every shard lets go. */
void server_publish(struct server *srv, struct runtime *rt)
{
	struct runtime *old = srv_rt(srv);

	adopt_cfg(srv, rt->cfg, false);

	rt->published_ns = loop_now_ns();
	rt_retire(old, rt, srv->n_shards);
	atomic_store_explicit(&srv->rt, rt, memory_order_release);
	old->next_retired = srv->retired;
	srv->retired = old;
	for (unsigned s = 0; s < srv->n_shards; s++)
		shard_wake(srv->shards[s]);
}

unsigned server_snapshots_live(const struct server *srv)
{
	unsigned n = 1;                     /* the current one */

	for (const struct runtime *rt = srv->retired; rt; rt = rt->next_retired)
		n++;
	return n;
}

static void creds_node_free(struct snap_node *n)
{
	rt_creds_free((struct origin_creds *)n);     /* node is its first member */
}

/* Swap o's credentials for c; the old object is freed once every shard
 * has begun a loop turn after this (they are woken so they do). */
static void publish_creds(struct server *srv, struct rt_origin *o, struct origin_creds *c)
{
	struct origin_creds *old = rt_creds_swap(o, c);

	if (old)
		snap_retire(&srv->creds_epochs, &old->node, creds_node_free);
	srv->creds_swaps++;
}

static void wake_shards(struct server *srv)
{
	for (unsigned s = 0; s < srv->n_shards; s++)
		shard_wake(srv->shards[s]);
}

/* The S3 origin of cfg at rt's origin index i (rt_cfg_creds_only: the
 * same zones and origins in the same order). */
static const struct cfg_origin *cfg_origin_at(const struct runtime *rt, const struct cfg *cfg,
					      uint32_t i)
{
	const struct rt_origin *o = &rt->origins[i];
	const struct cfg_zone *z = &cfg->zones[o->zone - rt->cfg->zones];

	return &z->origins[o->cfg - o->zone->origins];
}

int server_creds_prepare(struct server *srv, const struct cfg *cfg,
			 struct server_creds_change *ch, char *err, size_t err_len)
{
	struct runtime *rt = srv_rt(srv);
	uint64_t gen = srv->generation + 1;  /* taken only if something changes */
	time_t now = time(NULL);

	ch->rt = rt;
	ch->next = calloc(rt->n_origins ? rt->n_origins : 1, sizeof(*ch->next));
	if (!ch->next) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		const struct cfg_origin *oc = cfg_origin_at(rt, cfg, i);
		const struct origin_creds *cur = rt_creds(&rt->origins[i]);
		char why[160];

		if (!oc->s3_auth_enabled || !cur)
			continue;
		int r = rt_creds_new(oc, srv->n_shards, gen, now, &ch->next[i], why, sizeof(why));
		if (r < 0) {
			snprintf(err, err_len, "zone %s: %s", rt->origins[i].zone->name, why);
			server_creds_discard(ch);
			return r;
		}
		if (!rt_creds_follow(ch->next[i], cur, loop_now_ms(),
				     cfg->server.credential_overlap_ms)) {
			rt_creds_free(ch->next[i]);       /* unchanged: the object stays */
			ch->next[i] = NULL;
		} else {
			srv->generation = gen;
		}
	}
	return 0;
}

/* The snapshot's config keeps what it was built with but its credential
 * strings, which nothing reads any more once newer ones are published:
 * wiped now rather than kept until the snapshot goes. */
static void wipe_cfg_creds(struct cfg *cfg)
{
	for (size_t z = 0; z < cfg->n_zones; z++)
		for (size_t i = 0; i < cfg->zones[z].n_origins; i++) {
			struct cfg_origin *o = &cfg->zones[z].origins[i];

			if (o->s3_secret_key)
				explicit_bzero(o->s3_secret_key, strlen(o->s3_secret_key));
			if (o->s3_session_token)
				explicit_bzero(o->s3_session_token, strlen(o->s3_session_token));
		}
}

void server_creds_publish(struct server *srv, struct cfg *cfg, struct server_creds_change *ch)
{
	struct runtime *rt = ch->rt;

	assert(rt == srv_rt(srv));
	for (uint32_t i = 0; i < rt->n_origins; i++)
		if (ch->next[i]) {
			publish_creds(srv, &rt->origins[i], ch->next[i]);
			ch->next[i] = NULL;
		}
	if (!srv->cfg_own)
		wipe_cfg_creds(srv->cfg);           /* rt->cfg */
	adopt_cfg(srv, cfg, true);
	wake_shards(srv);
	free(ch->next);
	ch->next = NULL;
}

void server_creds_discard(struct server_creds_change *ch)
{
	for (uint32_t i = 0; ch->next && i < ch->rt->n_origins; i++)
		rt_creds_free(ch->next[i]);
	free(ch->next);
	ch->next = NULL;
}

static void reclaim(struct server *srv)
{
	struct runtime **pp = &srv->retired;
	while (*pp) {
		struct runtime *rt = *pp;
		if (atomic_load(&rt->pending) > 0) {
			pp = &rt->next_retired;
			continue;
		}
		*pp = rt->next_retired;
		rt_free(rt);
	}
	snap_reclaim(&srv->creds_epochs);
}

/* The delay from publication to the last shard serving from it, once per
 * snapshot (also one already replaced by a newer one). */
static void log_propagation_of(struct server *srv, struct runtime *rt)
{
	if (rt->propagation_logged || rt->generation == 1 ||
	    atomic_load(&rt->switched) < srv->n_shards)
		return;
	rt->propagation_logged = true;
	srv->swaps++;
	srv->last_swap_ns = atomic_load(&rt->max_switch_ns);
	log_info("snapshot %llu live on all %u shards %.3f ms after the swap",
		 (unsigned long long)rt->generation, srv->n_shards,
		 (double)atomic_load(&rt->max_switch_ns) / 1e6);
}

static void log_propagation(struct server *srv)
{
	for (struct runtime *rt = srv->retired; rt; rt = rt->next_retired)
		log_propagation_of(srv, rt);
	log_propagation_of(srv, srv_rt(srv));
}

int server_build(struct server *srv, struct cfg *cfg, struct runtime **out, char *err,
		 size_t err_len)
{
	int rc = rt_build(cfg, NULL, srv->n_shards, ++srv->generation, time(NULL), out, err,
			  err_len);

	if (rc == 0)
		rt_inherit_creds(*out, srv_rt(srv), loop_now_ms(),
				 cfg->server.credential_overlap_ms);
	return rc;
}

/* A config whose difference from the snapshot's is credentials alone
 * (rt_cfg_creds_only), the files it read unchanged (rt_files_same): as a
 * PATCH of credentials does, only the changed origins' credentials
 * objects are swapped in place; the snapshot, its TLS client contexts
 * and their sessions, addresses and every pooled connection stay. */
static int apply_creds(struct server *srv, struct cfg *cfg, const char *why)
{
	struct server_creds_change ch;
	unsigned n = 0;
	char err[256];

	if (server_creds_prepare(srv, cfg, &ch, err, sizeof(err)) < 0) {
		log_error("%s: %s; still serving snapshot %llu", why, err,
			  (unsigned long long)ch.rt->generation);
		cfg_free(cfg);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < ch.rt->n_origins; i++)
		n += ch.next[i] != NULL;
	server_creds_publish(srv, cfg, &ch);
	log_info("%s: %s: credentials of %u origin(s) swapped in place, snapshot %llu kept",
		 why, srv->main_file, n, (unsigned long long)srv_rt(srv)->generation);
	return 0;
}

int server_apply(struct server *srv, struct cfg *cfg, const char *why)
{
	struct runtime *rt, *cur = srv_rt(srv);
	char err[256];

	if (rt_cfg_creds_only(cur, cfg) && rt_files_same(cur))
		return apply_creds(srv, cfg, why);
	if (server_build(srv, cfg, &rt, err, sizeof(err)) < 0) {
		log_error("%s: %s; still serving snapshot %llu", why, err,
			  (unsigned long long)cur->generation);
		return -EINVAL;
	}
	log_info("%s: %s: %zu zone(s), snapshot %llu", why, srv->main_file, cfg->n_zones,
		 (unsigned long long)rt->generation);
	server_publish(srv, rt);
	return 0;
}

/* SIGHUP: re-read the config (through srv->load when a service set one:
 * fleet mode's zones are etcd's, not the zone files'); on any error keep
 * serving the old one. */
static void reload(struct server *srv)
{
	struct cfg *cfg = NULL;
	struct cfg_error cerr;
	struct runtime *cur = srv_rt(srv);

	if ((srv->load ? srv->load(srv->load_arg, srv->main_file, &cfg, &cerr)
		       : cfg_load(srv->main_file, &cfg, &cerr)) < 0) {
		log_error("reload: %s; still serving snapshot %llu", cerr.msg,
			  (unsigned long long)cur->generation);
		return;
	}
	if (cfg_worker_count(cfg) != srv->n_shards)
		log_warn("reload: workers changed: takes effect at the next restart");
	if (cfg->server.n_listens != cur->cfg->server.n_listens ||
	    cfg->server.n_listens_tls != cur->cfg->server.n_listens_tls)
		log_warn("reload: listen changed: takes effect at the next restart");
	if (cfg->admin.enabled != cur->cfg->admin.enabled ||
	    (cfg->admin.enabled && (cfg->admin.listen.port != cur->cfg->admin.listen.port ||
				    strcmp(cfg->admin.listen.host, cur->cfg->admin.listen.host))))
		log_warn("reload: [admin] listen changed: takes effect at the next restart "
			 "(token_file is re-read now)");
	server_apply(srv, cfg, "reload");
}

/* A new UTC day: each S3 origin gets a copy of its credentials object
 * with keys for the new day and the next, published in place (signing
 * never waits for it: a missing key is derived on the stack, this only
 * keeps signing at one SHA-256 and one HMAC). An expired overlap set is
 * dropped the same way. */
static void roll_keys(struct server *srv)
{
	struct runtime *rt = srv_rt(srv);
	time_t now = time(NULL);
	unsigned n = 0;

	if (rt_utc_day(now) == rt->key_day)
		return;
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		const struct origin_creds *cur = rt_creds(&rt->origins[i]);
		struct origin_creds *c;

		if (!cur)
			continue;
		int r = rt_creds_rolled(cur, now, loop_now_ms(), &c);
		if (r < 0) {
			log_error("signing keys: zone %s origin %s: out of memory; retrying",
				  rt->origins[i].zone->name, rt->origins[i].cfg->name);
			return;                     /* key_day unchanged: the next tick retries */
		}
		if (r == 1) {
			publish_creds(srv, &rt->origins[i], c);
			n++;
		}
	}
	rt->key_day = rt_utc_day(now);
	if (n) {
		wake_shards(srv);
		log_info("signing keys derived for the new UTC day: %u origin(s), in place", n);
	}
}

/* ---- the disk cache -------------------------------------------------------------------- */

/* Open (and recover) the store before any shard runs. 0, or -1 with the
 * reason on stderr: the process refuses to start on a bad cache file. */
static int open_store(struct server *srv, const struct cfg *cfg, unsigned shards)
{
	const struct cfg_cache *cc = &cfg->cache;
	char err[256];

	if (cc->n_paths == 0)
		return 0;
	struct store_opts so = {
		.paths = (const char *const *)cc->paths, .n_paths = (unsigned)cc->n_paths,
		.size_bytes = (uint64_t)cc->size_bytes, .chunk_bytes = (uint32_t)cc->chunk_bytes,
		.stripes = shards, .shards = shards,
		.avg_object_bytes = (uint64_t)cc->avg_object_bytes,
	};
	uint64_t t0 = loop_now_ms();
	if (store_open(&so, &srv->store, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgecache: cache: %s\n", err);
		return -1;
	}
	if (collapse_init(&srv->collapse, LIMIT_COLLAPSE_KEYS) < 0 ||
	    collapse_init(&srv->invalidated, LIMIT_COLLAPSE_KEYS) < 0 ||
	    collapse_init(&srv->passes, LIMIT_COLLAPSE_KEYS) < 0 ||
	    refreshed_init(&srv->refreshed, LIMIT_REFRESHED_SLOTS, store_meta_max()) < 0) {
		fprintf(stderr, "edgecache: cache: out of memory\n");
		return -1;
	}
	log_info("cache: %zu file(s), %lld bytes, %llu objects recovered in %llu ms "
		 "(%llu from the checkpoint, %llu by scan)",
		 cc->n_paths, (long long)cc->size_bytes,
		 (unsigned long long)(store_counter(srv->store, STORE_CTR_ckpt_entries) +
				      store_counter(srv->store, STORE_CTR_scan_entries)),
		 (unsigned long long)(loop_now_ms() - t0),
		 (unsigned long long)store_counter(srv->store, STORE_CTR_ckpt_entries),
		 (unsigned long long)store_counter(srv->store, STORE_CTR_scan_entries));
	return 0;
}

static void checkpoint_store(struct server *srv, uint64_t now, uint64_t *last)
{
	const struct cfg_cache *cc = &srv_rt(srv)->cfg->cache;
	if (!srv->store || srv->store_handed_over ||
	    now - *last < (uint64_t)cc->checkpoint_interval_s * 1000)
		return;
	*last = now;
	if (store_checkpoint(srv->store) < 0)
		log_error("cache: checkpoint failed");
}

/* ---- privileges -------------------------------------------------------------------------- */

/* The log files were opened as root: given to the user first, as nginx
 * does, so that SIGUSR1 can still open them (logrotate's create mode
 * makes the new ones). */
static int drop_privileges(const struct cfg *cfg, struct store *store)
{
	struct privdrop_ids ids;
	char err[256];
	int r = privdrop_resolve(cfg->server.user, cfg->server.group, &ids, err, sizeof(err));

	if (r == 0 && ids.user && (r = log_chown(ids.uid, ids.gid)) < 0)
		snprintf(err, sizeof(err), "chown of the log files: %s", strerror(-r));
	/* and the cache files: a new process of an upgrade opens them as the user */
	if (r == 0 && ids.user && store && (r = store_chown(store, ids.uid, ids.gid)) < 0)
		snprintf(err, sizeof(err), "chown of the cache files: %s", strerror(-r));
	if (r == 0)
		r = privdrop_to(&ids, err, sizeof(err));
	if (r < 0) {     /* stderr for a terminal, the error log for the unit's operator */
		fprintf(stderr, "edgecache: %s\n", err);
		log_error("%s: not starting", err);
		return r;
	}
	if (!ids.user)
		return 0;
	log_info("running as user %s", ids.user);
	for (size_t i = 0; i < cfg->cache.n_paths; i++)
		privdrop_warn_unwritable("[cache] path", cfg->cache.paths[i], "its checkpoint");
	privdrop_warn_unwritable("counters_file", cfg->server.counters_file, "writing it");
	if (cfg->fleet.enabled) {
		char state[PATH_MAX];

		/* the fleet's last known good is rewritten (tmp + rename) there */
		snprintf(state, sizeof(state), "%s/fleet-state.json", cfg->fleet.state_dir);
		privdrop_warn_unwritable("[fleet] state_dir", state, "saving the last known good");
	}
	return 0;
}

/* ---- the control loop ----------------------------------------------------------------- */

bool server_draining(const struct server *srv)
{
	return atomic_load(&srv->draining);
}

void server_drain_begin(struct server *srv, uint64_t now, const char *why)
{
	const struct cfg_server *sc = &srv_rt(srv)->cfg->server;

	if (atomic_load(&srv->draining))
		return;
	log_info("%s: draining (up to %u ms)", why, sc->drain_timeout_ms);
	srv->drain_deadline_ms = now + sc->drain_timeout_ms;
	atomic_store(&srv->draining, true);
	for (unsigned s = 0; s < srv->n_shards; s++)
		shard_wake(srv->shards[s]);
}

void server_hand_over(struct server *srv, uint64_t now)
{
	srv->store_handed_over = true;
	if (srv->svc_state) {
		srv->svc->close(srv->svc_state);
		srv->svc_state = NULL;
	}
	server_drain_begin(srv, now, "upgrade done");
}

static void on_signal(struct server *srv, const struct signalfd_siginfo *si, uint64_t now,
		      uint64_t *last_counters)
{
	if (si->ssi_signo == SIGUSR1) {     /* logrotate's postrotate; counters now too */
		if (log_reopen() == 0)
			log_info("signal USR1: log files reopened");
		*last_counters = 0;
	} else if (si->ssi_signo == SIGHUP) {
		if (!atomic_load(&srv->draining))
			reload(srv);
	} else if (si->ssi_signo == SIGUSR2) {
		upgrade_signal(srv->up, now);
	} else if ((si->ssi_signo == SIGTERM || si->ssi_signo == SIGINT) &&
		   !atomic_load(&srv->draining)) {
		server_drain_begin(srv, now, si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		sdnotify_stopping("draining");   /* a stop: never an upgrade's hand-over */
	}
}

/* The watchdog's proof of life (its thread, sdnotify_alive_fn): every
 * shard still running turned its loop (it does at least every
 * WHEEL_TICK_MS) within the last max_ms. */
static bool shards_turning(void *ctx, uint64_t now, uint64_t max_ms)
{
	const struct server *srv = ctx;

	for (unsigned s = 0; s < srv->n_shards; s++) {
		const struct loop *lp = &srv->shards[s]->lp;
		uint64_t at = __atomic_load_n(&lp->now_ms, __ATOMIC_RELAXED);

		if (!__atomic_load_n(&lp->stop, __ATOMIC_ACQUIRE) && at < now && now - at > max_ms)
			return false;
	}
	return true;
}

static int control_loop(struct server *srv, int sfd)
{
	uint64_t last_counters = 0, last_dns = loop_now_ms(), last_ckpt = last_dns;
	uint64_t last_tickets = last_dns;

	for (;;) {
		struct pollfd pfd[1 + SERVER_SERVICE_FDS + UPGRADE_POLLFDS] = {
			{ .fd = sfd, .events = POLLIN } };
		unsigned na = srv->svc_state ? srv->svc->pollfds(srv->svc_state, pfd + 1) : 0;
		unsigned nu = upgrade_pollfds(srv->up, pfd + 1 + na);
		int r = poll(pfd, 1 + na + nu, CONTROL_POLL_MS);
		uint64_t now = loop_now_ms();
		sdnotify_beat(now);
		if (r > 0 && pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				on_signal(srv, &si, now, &last_counters);
		}
		if (srv->svc_state)
			srv->svc->poll(srv->svc_state, pfd + 1, r > 0 ? na : 0, now);
		upgrade_poll(srv->up, pfd + 1 + na, r > 0 ? nu : 0, now);
		struct runtime *rt = srv_rt(srv);
		drain_logs(srv);
		if (now - last_counters >= COUNTERS_EVERY_MS) {
			write_counters(srv);
			last_counters = now;
			roll_keys(srv);
		}
		if (now - last_dns >= rt->cfg->server.dns_refresh_ms) {
			for (uint32_t i = 0; i < rt->n_origins; i++) {
				rt_resolve_origin(&rt->origins[i], true);
				sdnotify_beat(loop_now_ms());   /* each may time out */
			}
			last_dns = now;
		}
		/* A new ticket key; the previous one still opens tickets for one
		 * more period (net/tls.h). Every shard sees it on its next hello. */
		if (now - last_tickets >= (uint64_t)rt->cfg->server.tls_ticket_rotate_s * 1000) {
			tls_tickets_rotate();
			last_tickets = now;
			log_debug("TLS ticket keys rotated");
		}
		log_propagation(srv);
		reclaim(srv);
		checkpoint_store(srv, now, &last_ckpt);
		if (atomic_load(&srv->draining)) {
			bool all = true;
			for (unsigned s = 0; s < srv->n_shards; s++)
				all = all && __atomic_load_n(&srv->shards[s]->lp.stop, __ATOMIC_ACQUIRE);
			if (all)
				return 0;
		}
	}
}

int server_run(struct cfg *cfg, const char *main_file, const struct server_service *svc)
{
	struct server srv;
	struct runtime *rt = NULL;
	sigset_t mask;
	int status = 1;
	char err[256];

	memset(&srv, 0, sizeof(srv));
	srv.main_file = main_file;
	srv.svc = svc;
	srv.started_ms = loop_now_ms();
	unsigned want = cfg_worker_count(cfg);
	srv.n_shards_planned = want;
	/* io_uring works, with the opcodes we rely on; what else it has */
	if (ring_detect(err, sizeof(err)) < 0) {
		fprintf(stderr, "edgecache: %s\n", err);
		cfg_free(cfg);
		return 1;
	}
	if (shard_test_write_delay(&srv.test_store_write_delay_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgecache: %s\n", err);
		cfg_free(cfg);
		return 1;
	}
	/* Certificates and keys read as the user, as every reload will. */
	int built = privdrop_assume(cfg->server.user, cfg->server.group, err, sizeof(err));
	if (built == 0) {
		built = rt_build(cfg, NULL, want, ++srv.generation, time(NULL), &rt, err, sizeof(err));
		privdrop_unassume();
	}
	if (built < 0) {
		fprintf(stderr, "edgecache: %s\n", err);
		return 1;
	}
	atomic_store(&srv.rt, rt);
	srv.cfg = cfg;
	if (snap_domain_init(&srv.creds_epochs, want) < 0) {
		fprintf(stderr, "edgecache: out of memory\n");
		rt_free(rt);
		return 1;
	}
	/* Started by an upgrade: the old process's sockets, and its store
	 * checkpointed, before we open the store (control/upgrade.h). */
	if ((upgrade_is_child() && upgrade_child_takeover() < 0) ||
	    open_store(&srv, cfg, want) < 0 || register_counters(&srv) < 0 ||
	    (svc && svc->open(&srv, &srv.svc_state) < 0) || upgrade_open(&srv, &srv.up) < 0)
		goto out;
	/* Signals go to the control thread's signalfd; shards inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("edgecache: signalfd");
		goto out;
	}
	/* Listeners bound, cache and logs open, shards running: root is no
	 * longer needed, and the manager may route traffic to us. */
	if (start_shards(&srv, want) < 0 || drop_privileges(cfg, srv.store) < 0) {
		atomic_store(&srv.draining, true);
		srv.drain_deadline_ms = 0;
		for (unsigned s = 0; s < srv.n_shards; s++)
			shard_wake(srv.shards[s]);
		for (unsigned s = 0; s < srv.n_shards; s++)
			shard_join(srv.shards[s]);
		close(sfd);
		goto out;
	}
	log_info("edgecache %s: %u shard(s), %zu zone(s), %u origin(s), listening on %zu address(es)"
		 " + %zu for HTTPS", "0.1.0", srv.n_shards, cfg->n_zones, rt->n_origins,
		 cfg->server.n_listens, cfg->server.n_listens_tls);
	if (srv.test_store_write_delay_ms)
		log_warn("test hook EDGECACHE_TEST_STORE_WRITE_DELAY_MS=%u set: store writes are "
			 "delayed (tests only; unset it in production)", srv.test_store_write_delay_ms);
	drain_logs(&srv);
	sdnotify_ready("serving");          /* MAINPID= ours: also after an upgrade */
	upgrade_child_ready();              /* serving: the old process may drain now */
	sdnotify_watchdog_start(shards_turning, &srv);
	status = control_loop(&srv, sfd);
	sdnotify_watchdog_stop();
	for (unsigned s = 0; s < srv.n_shards; s++)
		shard_join(srv.shards[s]);
	drain_logs(&srv);
	write_counters(&srv);
	if (srv.store && !srv.store_handed_over && store_checkpoint(srv.store) < 0)
		log_error("cache: checkpoint at exit failed");
	log_info("drained, exiting");
	close(sfd);
out:
	upgrade_close(srv.up);
	if (srv.svc_state)
		svc->close(srv.svc_state);
	store_counters.ctx = NULL;
	store_close(srv.store);
	collapse_free(srv.collapse);
	collapse_free(srv.invalidated);
	collapse_free(srv.passes);
	refreshed_free(srv.refreshed);
	for (unsigned s = 0; s < srv.n_shards; s++)
		shard_destroy(srv.shards[s]);
	free(srv.shards);
	while (srv.retired) {
		struct runtime *r = srv.retired;
		srv.retired = r->next_retired;
		rt_free(r);
	}
	snap_domain_free(&srv.creds_epochs);
	if (srv.cfg_own)
		cfg_free(srv.cfg);
	rt_free(srv_rt(&srv));
	return status;
}
