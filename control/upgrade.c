/*
 * control/upgrade.c — the hand-over of a running process to a new binary
 * (contract and flow in upgrade.h).
 */
#include "control/upgrade.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "control/config_load.h"
#include "control/server.h"
#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"

extern char **environ;

#define UPGRADE_ENV "EDGECACHE_UPGRADE_FD"
/* The channel's fd in the new process; every higher one is closed. */
#define UPGRADE_CHILD_FD 3

/* ---- counters ------------------------------------------------------------ */

#define UPGRADE_COUNTERS(X) \
	X(started,      "upgrades begun: a new binary started (SIGUSR2 or edgecache upgrade)") \
	X(done,         "upgrades done: the new binary serves, this process drained") \
	X(failed,       "upgrades failed: the new binary exited, crashed, said why (a bad config) " \
			"or could not be started; this process kept serving") \
	X(timeouts,     "of those, new binaries killed: not serving within LIMIT_UPGRADE_READY_MS") \
	X(refused,      "upgrade requests refused: one was running, or this process was draining") \
	X(peer_refused, "connections to upgrade_socket refused: the peer's uid is neither ours nor root") \
	X(inherited,    "listening sockets this process took over from the one it replaced")

enum upgrade_ctr {
#define UPG_CTR_ENUM(name, doc) UPG_CTR_##name,
	UPGRADE_COUNTERS(UPG_CTR_ENUM)
#undef UPG_CTR_ENUM
	UPG_CTR__COUNT
};
static const char *const upg_ctr_names[UPG_CTR__COUNT] = {
#define UPG_CTR_NAME(name, doc) #name,
	UPGRADE_COUNTERS(UPG_CTR_NAME)
#undef UPG_CTR_NAME
};
static const char *const upg_ctr_docs[UPG_CTR__COUNT] = {
#define UPG_CTR_DOC(name, doc) doc,
	UPGRADE_COUNTERS(UPG_CTR_DOC)
#undef UPG_CTR_DOC
};
/* Control thread only writes them; /metrics is written there too. */
static uint64_t upg_ctr[UPG_CTR__COUNT];

static uint64_t upg_ctr_sum(const void *ctx, unsigned i)
{
	return ((const uint64_t *)ctx)[i];
}

struct counters_block upgrade_counters = {
	.prefix = "upgrade_", .names = upg_ctr_names, .docs = upg_ctr_docs,
	.n = UPG_CTR__COUNT, .sum = upg_ctr_sum, .ctx = upg_ctr,
};

#define UCOUNT(name) (upg_ctr[UPG_CTR_##name]++)

/* ---- the channel: one message each way per step ----------------------------- */

#define UPG_MAGIC 0x45435550u           /* "ECUP" */

enum upg_type { UPG_HELLO = 1, UPG_FDS, UPG_CKPT, UPG_READY, UPG_FAIL };

struct upg_msg {
	uint32_t magic;
	uint32_t type;                      /* enum upg_type */
	uint32_t last;                      /* UPG_FDS: the last batch */
	char text[240];                     /* UPG_FAIL: why (NUL-terminated) */
};

/* One message and up to LIMIT_UPGRADE_FDS_PER_MSG fds. 0 or -errno. */
static int msg_send(int fd, uint32_t type, uint32_t last, const char *text,
		    const int *fds, unsigned n_fds)
{
	struct upg_msg m = { .magic = UPG_MAGIC, .type = type, .last = last };
	union {
		char buf[CMSG_SPACE(sizeof(int) * LIMIT_UPGRADE_FDS_PER_MSG)];
		struct cmsghdr align;
	} c;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert(n_fds <= LIMIT_UPGRADE_FDS_PER_MSG);
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	if (n_fds) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	ssize_t r;
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)sizeof(m) ? 0 : r < 0 ? -errno : -EPROTO;
}

/* One message; its fds (close-on-exec) appended to fds[*n_fds..cap).
 * 1, 0 at EOF, or -errno (-EPROTO: not ours, or more fds than room:
 * those received are closed). */
static int msg_recv(int fd, struct upg_msg *m, int *fds, unsigned *n_fds, unsigned cap)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * LIMIT_UPGRADE_FDS_PER_MSG)];
		struct cmsghdr align;
	} c;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	ssize_t r;

	do
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r == 0 ? 0 : -errno;
	bool bad = r != (ssize_t)sizeof(*m) || m->magic != UPG_MAGIC ||
		   (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC));
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		const unsigned char *p = CMSG_DATA(cm);
		for (unsigned i = 0; i < k; i++) {
			int f;
			memcpy(&f, p + i * sizeof(int), sizeof(int));
			if (bad || !fds || *n_fds >= cap) {
				close(f);
				bad = true;
			} else {
				fds[(*n_fds)++] = f;
			}
		}
	}
	m->text[sizeof(m->text) - 1] = '\0';
	return bad ? -EPROTO : 1;
}

/* ---- how we were started ----------------------------------------------------- */

static char exe_path[PATH_MAX];         /* "": cannot tell */
/* LIMIT_UPGRADE_READY_MS, or the test hook's (upgrade_open). */
static uint32_t ready_ms = LIMIT_UPGRADE_READY_MS;
static char **start_argv;
static int child_chan = -1;             /* new process until READY */
static int inherited[LIMIT_UPGRADE_FDS];
static unsigned n_inherited;
static int noted[LIMIT_UPGRADE_FDS];
static unsigned n_noted;

/* argv[0] as the shell found it, made absolute now: the path the operator
 * installed the new binary at (nginx re-executes argv[0] the same way). */
static void find_exe(const char *arg0)
{
	if (strchr(arg0, '/')) {
		char cwd[PATH_MAX];
		size_t la = strlen(arg0), lc;
		if (arg0[0] == '/' && la < sizeof(exe_path)) {
			memcpy(exe_path, arg0, la + 1);
		} else if (arg0[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
			   (lc = strlen(cwd)) + 1 + la < sizeof(exe_path)) {
			memcpy(exe_path, cwd, lc);
			exe_path[lc] = '/';
			memcpy(exe_path + lc + 1, arg0, la + 1);
		}
		return;                     /* else "": spawn says so */
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		char cand[PATH_MAX];
		if (len > 0 && snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, arg0) <
		    (int)sizeof(cand) && access(cand, X_OK) == 0) {
			snprintf(exe_path, sizeof(exe_path), "%s", cand);
			return;
		}
		path = end ? end + 1 : NULL;
	}
}

int upgrade_init(int argc, char **argv)
{
	(void)argc;
	start_argv = argv;
	find_exe(argv[0]);
	const char *v = getenv(UPGRADE_ENV);
	if (!v)
		return 0;
	char *end;
	long fd = strtol(v, &end, 10);
	struct stat st;
	if (*end || end == v || fd < 3 || fd > INT_MAX || fstat((int)fd, &st) < 0 ||
	    !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "edgecache: %s=%s names no socket: not started by an upgrade?\n",
			UPGRADE_ENV, v);
		return -1;
	}
	unsetenv(UPGRADE_ENV);              /* not for anything we start */
	child_chan = (int)fd;
	fcntl(child_chan, F_SETFD, FD_CLOEXEC);
	return 0;
}

bool upgrade_is_child(void)
{
	return child_chan >= 0;
}

/* ---- listening sockets: noted to give, inherited to take ---------------------- */

void upgrade_listener_note(int fd)
{
	assert(n_noted < LIMIT_UPGRADE_FDS);
	noted[n_noted++] = fd;
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	switch (a->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	case AF_UNIX:
		return strncmp(((const struct sockaddr_un *)(const void *)a)->sun_path,
			       ((const struct sockaddr_un *)(const void *)b)->sun_path,
			       sizeof(((struct sockaddr_un *)0)->sun_path)) == 0;
	default:
		return false;
	}
}

int upgrade_listener_take(const struct sockaddr *sa, bool reuseport)
{
	for (unsigned i = 0; i < n_inherited; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int rp = 0;
		socklen_t rl = sizeof(rp);
		int fd = inherited[i];

		if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    !same_addr(sa, &ss) ||
		    (sa->sa_family != AF_UNIX &&
		     (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rl) < 0 || !rp != !reuseport)))
			continue;
		inherited[i] = -1;
		UCOUNT(inherited);
		return fd;
	}
	return -ENOENT;
}

/* ---- the new process ------------------------------------------------------------- */

int upgrade_child_takeover(void)
{
	struct timeval tv = { .tv_sec = ready_ms / 1000, .tv_usec = ready_ms % 1000 * 1000 };
	struct upg_msg m;
	int r;

	assert(child_chan >= 0);
	setsockopt(child_chan, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(child_chan, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((r = msg_send(child_chan, UPG_HELLO, 0, NULL, NULL, 0)) < 0)
		goto fail;
	do {
		r = msg_recv(child_chan, &m, inherited, &n_inherited, LIMIT_UPGRADE_FDS);
		if (r == 1 && m.type != UPG_FDS)
			r = -EPROTO;
	} while (r == 1 && !m.last);
	if (r == 1)
		r = msg_recv(child_chan, &m, NULL, NULL, 0);
	if (r == 1 && m.type == UPG_FAIL) {
		fprintf(stderr, "edgecache: upgrade: the old process gave up: %s\n", m.text);
		return -1;
	}
	if (r == 1 && m.type != UPG_CKPT)
		r = -EPROTO;
	if (r == 1) {
		log_info("upgrade: %u listening socket(s) handed over by pid %d, its store "
			 "checkpointed", n_inherited, (int)getppid());
		return 0;
	}
fail:
	fprintf(stderr, "edgecache: upgrade: the hand-over from the old process failed: %s\n",
		r == 0 ? "it closed the channel" : strerror(-r));
	return -1;
}

void upgrade_child_ready(void)
{
	unsigned closed = 0;

	if (child_chan < 0)
		return;
	/* What the old config listened on and ours does not: closed here;
	 * the old process closes its copies when it drains. */
	for (unsigned i = 0; i < n_inherited; i++)
		if (inherited[i] >= 0) {
			close(inherited[i]);
			inherited[i] = -1;
			closed++;
		}
	if (closed)
		log_info("upgrade: %u inherited listening socket(s) not in this config: closed",
			 closed);
	int r = msg_send(child_chan, UPG_READY, 0, NULL, NULL, 0);
	if (r < 0)  /* it went away: it cannot serve either, so we go on */
		log_warn("upgrade: could not tell the old process we serve: %s", strerror(-r));
	close(child_chan);
	child_chan = -1;
}

void upgrade_child_fail(const char *why)
{
	if (child_chan < 0)
		return;
	msg_send(child_chan, UPG_FAIL, 0, why, NULL, 0);
	close(child_chan);
	child_chan = -1;
}

/* ---- the old process ------------------------------------------------------------- */

enum up_state { UP_IDLE, UP_SPAWNED, UP_FREEZING, UP_WAIT_READY, UP_DONE };

struct upgrade {
	struct server *srv;
	int lfd;                            /* upgrade_socket, -1: none */
	bool own_path;                      /* unlink it at exit (not handed over) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	enum up_state st;
	pid_t pid;                          /* the new process */
	int chan;                           /* our end of its channel */
	int client;                         /* who asked (upgrade socket), -1: SIGUSR2 */
	uint64_t started_ms, deadline_ms, writes_deadline_ms;
	int pfd_l, pfd_c;                   /* their places in the last pollfds */
};

/* The outcome to whoever asked, one line, and the connection closed. */
static void reply(int *fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int *fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (*fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n > (int)sizeof(line) - 2 ? (int)sizeof(line) - 2 : n;
	line[n++] = '\n';
	if (send(*fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("upgrade: the client went away: %s", strerror(errno));
	close(*fd);
	*fd = -1;
}

/* The child's end: reaped, killed first when it does not exit at once. */
static void reap(struct upgrade *u, char *how, size_t cap)
{
	int status = 0;
	pid_t r = 0;

	for (int i = 0; i < 50 && (r = waitpid(u->pid, &status, WNOHANG)) == 0; i++) {
		struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (r == 0) {
		kill(u->pid, SIGKILL);
		r = waitpid(u->pid, &status, 0);
	}
	if (r != u->pid)
		snprintf(how, cap, "not reaped: %s", strerror(errno));
	else if (WIFEXITED(status))
		snprintf(how, cap, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(how, cap, "killed by signal %d", WTERMSIG(status));
}

/* The new process will not serve: it goes, we go on as before. */
static void fail(struct upgrade *u, const char *why)
{
	char how[64];

	reap(u, how, sizeof(how));
	close(u->chan);
	u->chan = -1;
	if (u->srv->store)
		store_freeze(u->srv->store, false);
	UCOUNT(failed);
	log_error("upgrade failed: new process %d: %s (%s); still serving as pid %d",
		  (int)u->pid, why, how, (int)getpid());
	reply(&u->client, "error: new process %d: %s (%s); pid %d still serving",
	      (int)u->pid, why, how, (int)getpid());
	u->st = UP_IDLE;
}

/* Every listening socket we have, in the order we noted them (shard by
 * shard, address by address: the new process's shard i takes shard i's). */
static int send_listeners(struct upgrade *u)
{
	int fds[LIMIT_UPGRADE_FDS];
	unsigned n = 0;

	for (unsigned i = 0; i < n_noted; i++) {
		int on = 0;
		socklen_t l = sizeof(on);
		if (getsockopt(noted[i], SOL_SOCKET, SO_ACCEPTCONN, &on, &l) == 0 && on)
			fds[n++] = noted[i];
	}
	unsigned i = 0;
	do {
		unsigned k = n - i > LIMIT_UPGRADE_FDS_PER_MSG ? LIMIT_UPGRADE_FDS_PER_MSG : n - i;
		int r = msg_send(u->chan, UPG_FDS, i + k == n, NULL, fds + i, k);
		if (r < 0)
			return r;
		i += k;
	} while (i < n);
	log_info("upgrade: %u listening socket(s) handed to pid %d", n, (int)u->pid);
	return 0;
}

static void freeze_step(struct upgrade *u, uint64_t now)
{
	struct store *st = u->srv->store;
	unsigned busy = st ? store_writes_busy(st) : 0;

	if (busy && now < u->writes_deadline_ms)
		return;
	if (busy)
		log_warn("upgrade: %u store write(s) not landed in %u ms: left uncommitted", busy,
			 LIMIT_UPGRADE_WRITES_MS);
	if (st) {
		uint64_t t0 = loop_now_ms();
		int r = store_checkpoint(st);
		if (r < 0) {
			msg_send(u->chan, UPG_FAIL, 0, "its checkpoint could not be written", NULL, 0);
			fail(u, "our checkpoint could not be written");
			return;
		}
		log_info("upgrade: store frozen, checkpoint written in %llu ms for pid %d",
			 (unsigned long long)(loop_now_ms() - t0), (int)u->pid);
	}
	int r = msg_send(u->chan, UPG_CKPT, 0, NULL, NULL, 0);
	if (r < 0) {
		fail(u, strerror(-r));
		return;
	}
	u->st = UP_WAIT_READY;
}

static void done(struct upgrade *u, uint64_t now)
{
	UCOUNT(done);
	log_info("upgrade: new process %d serving %llu ms after it started; pid %d drains "
		 "and exits", (int)u->pid, (unsigned long long)(now - u->started_ms), (int)getpid());
	reply(&u->client, "ok: new process %d serving; pid %d drains and exits", (int)u->pid,
	      (int)getpid());
	close(u->chan);
	u->chan = -1;
	/* The socket is the new process's now: we stop answering on it and
	 * leave its path. */
	if (u->lfd >= 0)
		close(u->lfd);
	u->lfd = -1;
	u->own_path = false;
	u->st = UP_DONE;
	server_hand_over(u->srv, now);
}

static void on_chan(struct upgrade *u, uint64_t now)
{
	struct upg_msg m;
	int r;

	while (u->chan >= 0 && (r = msg_recv(u->chan, &m, NULL, NULL, 0)) != -EAGAIN) {
		if (r <= 0) {
			fail(u, r == 0 ? "exited before it was ready" : strerror(-r));
		} else if (m.type == UPG_FAIL) {
			fail(u, m.text);
		} else if (m.type == UPG_HELLO && u->st == UP_SPAWNED) {
			if ((r = send_listeners(u)) < 0) {
				fail(u, strerror(-r));
				continue;
			}
			if (u->srv->store)
				store_freeze(u->srv->store, true);
			u->st = UP_FREEZING;
			u->writes_deadline_ms = now + LIMIT_UPGRADE_WRITES_MS;
			freeze_step(u, now);
		} else if (m.type == UPG_READY && u->st == UP_WAIT_READY) {
			done(u, now);
		} else {
			fail(u, "a message out of turn");
		}
	}
}

/* posix_spawn: our argv, our environment plus the channel's fd, and our
 * blocked signals (the new process's signalfd takes them up). */
static int spawn(struct upgrade *u, char *err, size_t cap)
{
	size_t n_env = 0;
	int sv[2];

	if (!exe_path[0]) {
		snprintf(err, cap, "cannot tell the path this binary was started by (%s)",
			 start_argv[0]);
		return -ENOENT;
	}
	while (environ[n_env])
		n_env++;
	char **envp = calloc(n_env + 2, sizeof(*envp));
	char var[sizeof(UPGRADE_ENV) + 16];
	if (!envp || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = envp ? errno : ENOMEM;
		free(envp);
		snprintf(err, cap, "channel: %s", strerror(e));
		return -e;
	}
	size_t k = 0;
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], UPGRADE_ENV "=", sizeof(UPGRADE_ENV)) != 0)
			envp[k++] = environ[i];
	snprintf(var, sizeof(var), UPGRADE_ENV "=%d", UPGRADE_CHILD_FD);
	envp[k] = var;

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* Only stdio and the channel (at fd 3) cross the exec: libraries
	 * open descriptors without O_CLOEXEC (libcurl's etcd sockets in
	 * fleet mode), and each upgrade would leave the new process more.
	 * dup2 onto itself (sv[1] == 3) clears FD_CLOEXEC too (glibc >= 2.29). */
	posix_spawn_file_actions_adddup2(&fa, sv[1], UPGRADE_CHILD_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, UPGRADE_CHILD_FD + 1);
	/* The signal mask is inherited (all our handled signals blocked):
	 * a second USR2 or a HUP before the new process has its signalfd
	 * waits for it instead of killing it with the default action. */
	int r = posix_spawn(&u->pid, exe_path, &fa, NULL, start_argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		snprintf(err, cap, "%s: %s", exe_path, strerror(r));
		return -r;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	u->chan = sv[0];
	return 0;
}

static void start(struct upgrade *u, int client, uint64_t now)
{
	char err[PATH_MAX + 64];

	if (u->st != UP_IDLE || server_draining(u->srv)) {
		char why[160];
		UCOUNT(refused);
		if (u->st == UP_DONE || server_draining(u->srv))
			snprintf(why, sizeof(why), "this process is draining (%s)",
				 u->st == UP_DONE ? "an upgrade finished" : "SIGTERM");
		else
			snprintf(why, sizeof(why), "an upgrade is already running (new process %d)",
				 (int)u->pid);
		log_warn("upgrade refused: %s", why);
		reply(&client, "error: %s", why);
		return;
	}
	u->client = client;
	if (spawn(u, err, sizeof(err)) < 0) {
		UCOUNT(failed);
		log_error("upgrade failed: %s; still serving as pid %d", err, (int)getpid());
		reply(&u->client, "error: %s; pid %d still serving", err, (int)getpid());
		return;
	}
	UCOUNT(started);
	u->st = UP_SPAWNED;
	u->started_ms = now;
	u->deadline_ms = now + ready_ms;
	log_info("upgrade: started %s as pid %d", exe_path, (int)u->pid);
}

void upgrade_signal(struct upgrade *u, uint64_t now_ms)
{
	start(u, -1, now_ms);
}

/* Root or our own uid, no one else: the socket's mode says the same, and
 * a directory of ours that no one else may enter. */
static bool peer_ok(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return false;
	*uid = cr.uid;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void on_listener(struct upgrade *u, uint64_t now)
{
	for (int i = 0; i < LIMIT_UPGRADE_CLIENTS; i++) {
		int fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		uid_t uid = (uid_t)-1;
		if (fd < 0)
			return;
		if (!peer_ok(fd, &uid)) {
			UCOUNT(peer_refused);
			log_warn("upgrade socket: uid %d may not ask for an upgrade", (int)uid);
			reply(&fd, "error: uid %d may not ask for an upgrade", (int)uid);
			continue;
		}
		start(u, fd, now);
	}
}

unsigned upgrade_pollfds(struct upgrade *u, struct pollfd *pfd)
{
	unsigned n = 0;

	u->pfd_l = u->pfd_c = -1;
	if (u->lfd >= 0) {
		u->pfd_l = (int)n;
		pfd[n++] = (struct pollfd){ .fd = u->lfd, .events = POLLIN };
	}
	if (u->chan >= 0) {
		u->pfd_c = (int)n;
		pfd[n++] = (struct pollfd){ .fd = u->chan, .events = POLLIN };
	}
	return n;
}

void upgrade_poll(struct upgrade *u, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	if (u->pfd_c >= 0 && (unsigned)u->pfd_c < n && pfd[u->pfd_c].revents)
		on_chan(u, now_ms);
	if (u->pfd_l >= 0 && (unsigned)u->pfd_l < n && pfd[u->pfd_l].revents && u->lfd >= 0)
		on_listener(u, now_ms);
	if (u->st == UP_FREEZING)
		freeze_step(u, now_ms);
	/* A poll that timed out has no revents, yet a READY may wait on the
	 * channel: read it before the deadline kills a serving process. */
	if ((u->st == UP_SPAWNED || u->st == UP_FREEZING || u->st == UP_WAIT_READY) &&
	    now_ms >= u->deadline_ms)
		on_chan(u, now_ms);
	if ((u->st == UP_SPAWNED || u->st == UP_FREEZING || u->st == UP_WAIT_READY) &&
	    now_ms >= u->deadline_ms) {
		UCOUNT(timeouts);
		kill(u->pid, SIGKILL);
		char why[96];
		snprintf(why, sizeof(why), "not serving within %u ms: killed", ready_ms);
		fail(u, why);
	}
}

/* The directory must be ours and closed to everyone else (0700 or
 * tighter); created so when missing (one level). */
static int private_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0 && errno == ENOENT && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "edgecache: upgrade_socket %s: mkdir %s: %s\n", path, dir,
			strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		fprintf(stderr, "edgecache: upgrade_socket %s: its directory %s must be a "
			"directory of uid %d that no one else may enter (mode 0700)\n", path, dir,
			(int)geteuid());
		return -1;
	}
	return 0;
}

static int bind_socket(struct upgrade *u, const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A path left by a process that died: nobody answers on it. */
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
		fprintf(stderr, "edgecache: upgrade_socket %s: another process serves on it\n",
			u->path);
		close(fd);
		return -1;
	}
	close(fd);
	unlink(u->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177);
	int r = fd < 0 ? -1 : bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r < 0 || chmod(u->path, 0600) < 0 || listen(fd, LIMIT_UPGRADE_CLIENTS) < 0) {
		fprintf(stderr, "edgecache: upgrade_socket %s: %s\n", u->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* EDGECACHE_TEST_UPGRADE_READY_MS (tests only): a shorter bound for a new
 * process to be serving, so a test can see one killed. 0, or -EINVAL
 * with the reason on stderr: start-up is refused. */
static int test_ready_ms(void)
{
	char err[160];
	int r = cfg_env_ms("EDGECACHE_TEST_UPGRADE_READY_MS", 1, LIMIT_UPGRADE_READY_MS,
			   &ready_ms, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "edgecache: %s\n", err);
	else if (r == 1)
		log_warn("test hook EDGECACHE_TEST_UPGRADE_READY_MS=%u set: a new binary must "
			 "serve within it (tests only; unset it in production)", ready_ms);
	return r < 0 ? r : 0;
}

int upgrade_open(struct server *srv, struct upgrade **out)
{
	const char *path = server_cfg(srv)->server.upgrade_socket;
	struct upgrade *u = calloc(1, sizeof(*u));

	if (!u) {
		fprintf(stderr, "edgecache: out of memory\n");
		return -1;
	}
	*u = (struct upgrade){ .srv = srv, .lfd = -1, .chan = -1, .client = -1, .pid = -1 };
	*out = u;
	if (test_ready_ms() < 0)
		return -1;
	if (!path)
		return 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(u->path, sizeof(u->path), "%s", path);
	/* An inherited socket was checked by the process that made it (as
	 * root, maybe, before it dropped to the user we may be now). */
	u->lfd = upgrade_listener_take((const struct sockaddr *)&sa, false);
	if (u->lfd < 0 && (private_dir(path) < 0 || (u->lfd = bind_socket(u, &sa)) < 0))
		return -1;
	u->own_path = true;
	fcntl(u->lfd, F_SETFL, O_NONBLOCK);
	upgrade_listener_note(u->lfd);
	log_info("upgrade socket on %s (edgecache upgrade; SIGUSR2 also starts one)", path);
	return 0;
}

void upgrade_close(struct upgrade *u)
{
	if (!u)
		return;
	if (u->chan >= 0) {
		kill(u->pid, SIGKILL);
		waitpid(u->pid, NULL, 0);
		close(u->chan);
		reply(&u->client, "error: pid %d stopped before the upgrade was done",
		      (int)getpid());
	}
	if (u->lfd >= 0)
		close(u->lfd);
	if (u->own_path)
		unlink(u->path);
	free(u);
}

/* ---- edgecache upgrade -c FILE ----------------------------------------------------- */

int upgrade_cli_main(int argc, char **argv)
{
	const char *file = NULL;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c') {
			fputs("usage: edgecache upgrade -c FILE\n", stderr);
			return 2;
		}
		file = optarg;
	}
	if (!file || optind != argc) {
		fputs("usage: edgecache upgrade -c FILE\n", stderr);
		return 2;
	}
	/* The new binary will load this file: a config it would refuse is
	 * said here, before anything starts. */
	struct cfg *cfg = NULL;
	struct cfg_error err;
	if (cfg_load(file, &cfg, &err) < 0) {
		fprintf(stderr, "edgecache upgrade: %s\nedgecache upgrade: nothing started: the "
			"running process keeps serving\n", err.msg);
		return 1;
	}
	if (!cfg->server.upgrade_socket) {
		fprintf(stderr, "edgecache upgrade: %s names no upgrade_socket ([server]): set "
			"one, or send SIGUSR2 to the running process\n", file);
		cfg_free(cfg);
		return 1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg->server.upgrade_socket);
	cfg_free(cfg);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "edgecache upgrade: no process answers on %s: %s\n", sa.sun_path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	/* The answer comes when the new process serves or has failed, which
	 * the old one bounds by LIMIT_UPGRADE_READY_MS (+ a kill's reaping). */
	struct timeval tv = { .tv_sec = LIMIT_UPGRADE_READY_MS / 1000 + 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char line[600];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(line) - 1 && (r = recv(fd, line + n, sizeof(line) - 1 - n, 0)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "edgecache upgrade: no answer from %s: %s\n", sa.sun_path,
				strerror(errno));
			close(fd);
			return 1;
		}
		n += (size_t)r;
	}
	close(fd);
	line[n] = '\0';
	bool ok = strncmp(line, "ok:", 3) == 0;
	fprintf(ok ? stdout : stderr, "edgecache upgrade: %s%s", n ? line : "no answer\n",
		n && line[n - 1] != '\n' ? "\n" : "");
	return ok ? 0 : 1;
}
