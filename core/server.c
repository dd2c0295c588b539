/*
 * core/server.c — the control thread (see server.h): start-up checks,
 * listening sockets, shard threads, signals, counters file, log draining,
 * DNS refresh, and the drain on SIGTERM.
 */
#include "core/server.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/counters.h"
#include "core/log.h"
#include "core/shard.h"
#include "net/http1.h"
#include "sigv4/sigv4.h"

#define CONTROL_POLL_MS     100
#define COUNTERS_EVERY_MS   1000
#define LISTEN_BACKLOG      4096

uint64_t server_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t server_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- origin addresses (seqlock: one writer, readers never wait) ----------- */

bool server_origin_addr(const struct origin_rt *o, struct sockaddr_storage *out,
			socklen_t *len)
{
	const struct origin_addr *a = &o->addr;
	uint32_t s1, s2;
	bool valid;

	do {
		s1 = atomic_load_explicit(&a->seq, memory_order_acquire);
		memcpy(out, &a->addr, sizeof(*out));
		*len = a->addr_len;
		valid = a->valid;
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&a->seq, memory_order_relaxed);
	} while ((s1 & 1) || s1 != s2);
	return valid;
}

static void publish_addr(struct origin_addr *a, const struct sockaddr *sa, socklen_t len)
{
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_acq_rel);
	memcpy(&a->addr, sa, len);
	a->addr_len = len;
	a->valid = true;
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_release);
}

/* Blocking getaddrinfo: control thread only. */
static int resolve_origin(struct origin_rt *o, bool quiet)
{
	struct addrinfo hints, *res = NULL;
	char port[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", o->cfg->port);
	int r = getaddrinfo(o->cfg->host, port, &hints, &res);
	if (r != 0 || !res) {
		if (!quiet)
			log_warn("zone %s: origin %s: cannot resolve %s: %s", o->zone->name,
				 o->cfg->name, o->cfg->host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	struct sockaddr_storage cur;
	socklen_t cur_len;
	bool had = server_origin_addr(o, &cur, &cur_len);
	if (!had || cur_len != res->ai_addrlen || memcmp(&cur, res->ai_addr, cur_len) != 0)
		publish_addr(&o->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* ---- run-time view of the config ------------------------------------------- */

static int build_runtime(struct server *srv)
{
	struct cfg *cfg = srv->cfg;
	uint32_t n = 0;

	for (size_t z = 0; z < cfg->n_zones; z++)
		n += (uint32_t)cfg->zones[z].n_origins;
	srv->origins = calloc(n ? n : 1, sizeof(*srv->origins));
	srv->zones = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*srv->zones));
	if (!srv->origins || !srv->zones)
		return -ENOMEM;
	srv->n_origins = n;
	n = 0;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		const struct cfg_zone *zc = &cfg->zones[z];
		struct zone_rt *zr = &srv->zones[z];
		zr->cfg = zc;
		zr->n_origins = (uint32_t)zc->n_origins;
		zr->origins = calloc(zc->n_origins, sizeof(*zr->origins));
		if (!zr->origins)
			return -ENOMEM;
		for (size_t i = 0; i < zc->n_origins; i++) {
			struct origin_rt *o = &srv->origins[n];
			o->id = n++;
			o->zone = zc;
			o->cfg = &zc->origins[i];
			o->index_in_zone = (uint32_t)i;
			/* base_path is a decoded prefix: encoded once, like a key. */
			size_t bl = strlen(o->cfg->base_path);
			o->base_path_wire = malloc(bl * 3 + 1);
			if (!o->base_path_wire)
				return -ENOMEM;
			ssize_t el = sigv4_uri_encode_path(o->cfg->base_path, bl,
							   o->base_path_wire, bl * 3 + 1);
			if (el < 0)
				return (int)el;
			o->base_path_wire[el] = '\0';
			o->base_path_wire_len = (size_t)el;
			zr->origins[i] = o;
			resolve_origin(o, false);
		}
	}
	return 0;
}

static void free_runtime(struct server *srv)
{
	if (srv->zones)
		for (size_t z = 0; z < srv->cfg->n_zones; z++)
			free(srv->zones[z].origins);
	for (uint32_t i = 0; i < srv->n_origins; i++)
		free(srv->origins[i].base_path_wire);
	free(srv->origins);
	free(srv->zones);
}

/* ---- listening sockets -------------------------------------------------------- */

static int open_listener(const struct cfg_listen *l)
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
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		fprintf(stderr, "edgecache: listen %s:%u: %s\n", l->host, l->port, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);
	return fd;
}

/* ---- start-up checks ------------------------------------------------------------ */

/* io_uring must work, with the features we rely on; say what to change. */
static int check_io_uring(void)
{
	struct io_uring ring;
	int ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "edgecache: io_uring is unavailable (%s): it needs Linux >= 6.0 "
			"with io_uring enabled (sysctl kernel.io_uring_disabled=0; not blocked "
			"by seccomp in containers)\n", strerror(-ret));
		return -1;
	}
	if (ret == -ENOMEM) {
		struct rlimit rl;
		getrlimit(RLIMIT_MEMLOCK, &rl);
		fprintf(stderr, "edgecache: io_uring ring setup failed: out of locked memory "
			"(RLIMIT_MEMLOCK is %llu KiB): raise it with `ulimit -l unlimited` or "
			"LimitMEMLOCK=infinity in the systemd unit\n",
			(unsigned long long)rl.rlim_cur / 1024);
		return -1;
	}
	if (ret < 0) {
		fprintf(stderr, "edgecache: io_uring setup failed: %s\n", strerror(-ret));
		return -1;
	}
	struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
	bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_ACCEPT) &&
		  io_uring_opcode_supported(probe, IORING_OP_RECV) &&
		  io_uring_opcode_supported(probe, IORING_OP_SENDMSG) &&
		  io_uring_opcode_supported(probe, IORING_OP_CONNECT) &&
		  io_uring_opcode_supported(probe, IORING_OP_LINK_TIMEOUT) &&
		  io_uring_opcode_supported(probe, IORING_OP_SHUTDOWN);
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	if (!ok) {
		fprintf(stderr, "edgecache: this kernel's io_uring lacks accept/recv/sendmsg/"
			"connect/link-timeout/shutdown: Linux >= 6.0 is required\n");
		return -1;
	}
	return 0;
}

/* ---- counters ----------------------------------------------------------------------- */

static void write_counters(struct server *srv)
{
	const char *path = srv->cfg->server.counters_file;
	if (!path)
		return;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_warn("counters_file %s: %s", tmp, strerror(errno));
		return;
	}
	for (unsigned c = 0; c < CTR__COUNT; c++) {
		uint64_t sum = 0;
		for (unsigned s = 0; s < srv->n_shards; s++)
			sum += counter_get(srv->shards[s]->ctr, c);
		fprintf(f, "%s %llu\n", counter_names[c], (unsigned long long)sum);
	}
	for (int e = HTTP1_E_AGAIN + 1; e < HTTP1_E__COUNT; e++) {
		uint64_t sum = 0;
		for (unsigned s = 0; s < srv->n_shards; s++)
			sum += counter_get(srv->shards[s]->parse_err, (unsigned)e);
		fprintf(f, "parse_error_%s %llu\n", http1_err_name(e), (unsigned long long)sum);
	}
	fprintf(f, "shards %u\nuptime_ms %llu\n", srv->n_shards,
		(unsigned long long)(server_now_ms() - srv->started_ms));
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		log_warn("counters_file %s: %s", path, strerror(errno));
}

static void drain_logs(struct server *srv)
{
	for (unsigned s = 0; s < srv->n_shards; s++) {
		log_ring_drain_error(&srv->shards[s]->log_err);
		log_ring_drain_access(&srv->shards[s]->log_access);
	}
}

/* ---- shards -------------------------------------------------------------------------- */

static unsigned worker_count(const struct cfg *cfg)
{
	if (cfg->server.workers)
		return cfg->server.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

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

static int start_shards(struct server *srv)
{
	const struct cfg_server *sc = &srv->cfg->server;
	unsigned want = worker_count(srv->cfg);

	/* n_shards counts only shards that run, so cleanup touches no other. */
	srv->n_shards = 0;
	srv->shards = calloc(want, sizeof(*srv->shards));
	if (!srv->shards)
		return -ENOMEM;
	for (unsigned i = 0; i < want; i++) {
		int fds[LIMIT_LISTEN_ADDRS];
		for (size_t l = 0; l < sc->n_listens; l++) {
			fds[l] = open_listener(&sc->listens[l]);
			if (fds[l] < 0) {
				while (l-- > 0)
					close(fds[l]);
				return -1;
			}
		}
		struct shard *sh = shard_create(srv, i, cpu_for(i), fds, (unsigned)sc->n_listens);
		if (!sh) {
			for (size_t l = 0; l < sc->n_listens; l++)
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

/* ---- the control loop ----------------------------------------------------------------- */

static int control_loop(struct server *srv, int sfd)
{
	uint64_t last_counters = 0, last_dns = server_now_ms();
	const struct cfg_server *sc = &srv->cfg->server;

	for (;;) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		int r = poll(&pfd, 1, CONTROL_POLL_MS);
		uint64_t now = server_now_ms();
		if (r > 0) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					last_counters = 0;
				} else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
					   !atomic_load(&srv->draining)) {
					log_info("signal %u: draining (up to %u ms)", si.ssi_signo,
						 sc->drain_timeout_ms);
					srv->drain_deadline_ms = now + sc->drain_timeout_ms;
					atomic_store(&srv->draining, true);
					for (unsigned s = 0; s < srv->n_shards; s++)
						shard_wake(srv->shards[s]);
				}
			}
		}
		drain_logs(srv);
		if (now - last_counters >= COUNTERS_EVERY_MS) {
			write_counters(srv);
			last_counters = now;
		}
		if (now - last_dns >= sc->dns_refresh_ms) {
			for (uint32_t i = 0; i < srv->n_origins; i++)
				resolve_origin(&srv->origins[i], true);
			last_dns = now;
		}
		if (atomic_load(&srv->draining)) {
			bool all = true;
			for (unsigned s = 0; s < srv->n_shards; s++)
				all = all && __atomic_load_n(&srv->shards[s]->stop, __ATOMIC_ACQUIRE);
			if (all)
				return 0;
		}
	}
}

int server_run(struct cfg *cfg)
{
	struct server srv;
	sigset_t mask;
	int status = 1;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.started_ms = server_now_ms();
	if (check_io_uring() < 0)
		goto out;
	if (build_runtime(&srv) < 0) {
		fprintf(stderr, "edgecache: cannot build the run-time configuration\n");
		goto out;
	}
	/* Signals go to the control thread's signalfd; shards inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("edgecache: signalfd");
		goto out;
	}
	if (start_shards(&srv) < 0) {
		atomic_store(&srv.draining, true);
		srv.drain_deadline_ms = 0;
		for (unsigned s = 0; s < srv.n_shards; s++)
			shard_wake(srv.shards[s]);
		for (unsigned s = 0; s < srv.n_shards; s++)
			shard_join(srv.shards[s]);
		close(sfd);
		goto out;
	}
	log_info("edgecache %s: %u shard(s), %zu zone(s), %u origin(s), listening on %zu address(es)",
		 "0.1.0", srv.n_shards, cfg->n_zones, srv.n_origins, cfg->server.n_listens);
	drain_logs(&srv);
	status = control_loop(&srv, sfd);
	for (unsigned s = 0; s < srv.n_shards; s++)
		shard_join(srv.shards[s]);
	drain_logs(&srv);
	write_counters(&srv);
	log_info("drained, exiting");
	close(sfd);
out:
	for (unsigned s = 0; s < srv.n_shards; s++)
		shard_destroy(srv.shards[s]);
	free(srv.shards);
	free_runtime(&srv);
	return status;
}
