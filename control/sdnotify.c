/*
 * control/sdnotify.c — see sdnotify.h. The protocol is one datagram of
 * "KEY=value\n" lines to the Unix socket systemd names in $NOTIFY_SOCKET
 * (sd_notify(3)); speaking it takes a socket and a sendto, not a library.
 */
#include "control/sdnotify.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/loop.h"

#define SDNOTIFY_CTRS(X) \
	X(sent,              "messages sent to the service manager ($NOTIFY_SOCKET)") \
	X(send_errors,       "messages to the service manager that could not be sent (socket gone or full)") \
	X(watchdog_pings,    "WATCHDOG=1 pings sent: every running shard turned its loop within the period") \
	X(watchdog_withheld, "watchdog pings withheld (counted once per period): a shard had not turned its loop within the period, or the control loop not within LIMIT_WATCHDOG_CONTROL_STALL_MS (the manager restarts us WatchdogSec after the last ping)")

enum sdnotify_ctr {
#define X(n, d) SDN_##n,
	SDNOTIFY_CTRS(X)
#undef X
	SDN__COUNT
};

static const char *const sdn_names[] = {
#define X(n, d) #n,
	SDNOTIFY_CTRS(X)
#undef X
};
static const char *const sdn_docs[] = {
#define X(n, d) d,
	SDNOTIFY_CTRS(X)
#undef X
};

/* fd, addr and period are set by init before the watchdog thread starts
 * and cleared by close after it stopped; the counters and the control
 * loop's beat are atomics (two threads send, any thread prints). */
static struct {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t period_ms;              /* 0: no watchdog */
	uint64_t beat_ms;                /* the control loop's last turn */
	pthread_t thread;
	bool running, stop;
	sdnotify_alive_fn *alive;
	void *alive_ctx;
	uint64_t ctr[SDN__COUNT];
} sdn = { .fd = -1 };

static uint64_t sdn_sum(const void *ctx, unsigned i)
{
	(void)ctx;
	return __atomic_load_n(&sdn.ctr[i], __ATOMIC_RELAXED);
}

/* ctx is never NULL: the block is listed with or without a manager (zeros). */
struct counters_block sdnotify_counters = {
	.prefix = "sdnotify_", .names = sdn_names, .docs = sdn_docs,
	.n = SDN__COUNT, .sum = sdn_sum, .ctx = &sdn,
};

static void count(enum sdnotify_ctr c)
{
	__atomic_fetch_add(&sdn.ctr[c], 1, __ATOMIC_RELAXED);
}

/* WATCHDOG_USEC, if it is meant for us (WATCHDOG_PID absent or ours). */
static uint64_t watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;

	if (!usec)
		return 0;
	if (pid && strtol(pid, &end, 10) != (long)getpid())
		return 0;
	errno = 0;
	unsigned long long v = strtoull(usec, &end, 10);
	return errno || *end || end == usec ? 0 : v;
}

int sdnotify_init(void)
{
	const char *name = getenv("NOTIFY_SOCKET");
	uint64_t usec = watchdog_usec();

	/* A process we start (an upgrade's new binary) inherits the socket
	 * and the timeout, not our pid as the watchdog's. */
	unsetenv("WATCHDOG_PID");
	if (!name)
		return 0;
	size_t len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sdn.addr.sun_path)) {
		fprintf(stderr, "edgecache: NOTIFY_SOCKET=%s: not a Unix socket path or "
			"@abstract name of at most %zu bytes\n", name, sizeof(sdn.addr.sun_path) - 1);
		return -EINVAL;
	}
	memset(&sdn.addr, 0, sizeof(sdn.addr));
	sdn.addr.sun_family = AF_UNIX;
	memcpy(sdn.addr.sun_path, name, len);
	if (name[0] == '@')
		sdn.addr.sun_path[0] = '\0';    /* abstract: no trailing NUL counted */
	sdn.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				   (name[0] == '/'));
	sdn.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sdn.fd < 0) {
		int e = errno;
		fprintf(stderr, "edgecache: NOTIFY_SOCKET: socket: %s\n", strerror(e));
		return -e;
	}
	sdn.period_ms = usec / 2000;        /* half the timeout, as sd_notify(3) says */
	return 0;
}

void sdnotify_close(void)
{
	sdnotify_watchdog_stop();
	if (sdn.fd >= 0)
		close(sdn.fd);
	sdn.fd = -1;
	sdn.period_ms = 0;
}

uint64_t sdnotify_watchdog_period_ms(void)
{
	return sdn.fd >= 0 ? sdn.period_ms : 0;
}

/* One datagram; a failure is counted and logged, never fatal: the
 * manager's view is advisory to serving. */
static void send_msg(const char *msg)
{
	if (sdn.fd < 0)
		return;
	ssize_t n = sendto(sdn.fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&sdn.addr, sdn.addr_len);
	if (n < 0) {
		count(SDN_send_errors);
		log_warn("sd_notify: %s", strerror(errno));
		return;
	}
	count(SDN_sent);
}

/* STATUS= is one line: a newline in status would start another key. */
static void send_with_status(const char *keys, const char *status)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%sSTATUS=", keys);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	for (size_t i = 0; status[i] && (size_t)n < sizeof(msg) - 1; i++)
		msg[n++] = status[i] == '\n' ? ' ' : status[i];
	msg[n] = '\0';
	send_msg(msg);
}

void sdnotify_ready(const char *status)
{
	char keys[64];

	snprintf(keys, sizeof(keys), "READY=1\nMAINPID=%ld\n", (long)getpid());
	send_with_status(keys, status);
}

void sdnotify_stopping(const char *status)
{
	send_with_status("STOPPING=1\n", status);
}

void sdnotify_beat(uint64_t now_ms)
{
	__atomic_store_n(&sdn.beat_ms, now_ms, __ATOMIC_RELAXED);
}

/* The control loop is allowed longer than a period (a reload, a
 * checkpoint's fsync, a resolver timing out), not forever. */
static bool control_alive(uint64_t now)
{
	uint64_t at = __atomic_load_n(&sdn.beat_ms, __ATOMIC_RELAXED);
	return at >= now || now - at <= LIMIT_WATCHDOG_CONTROL_STALL_MS;
}

/* A ping once a period has passed since the last one sent, so one
 * withheld check costs nothing while the next one, a tick later, may
 * still send it in time (the manager's timeout is two periods). */
static void *watchdog_main(void *arg)
{
	uint64_t last_ping = 0, last_withheld = 0, tick = sdn.period_ms / 8;

	(void)arg;
	tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;   /* also: how long stop waits */
	while (!__atomic_load_n(&sdn.stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = loop_now_ms();

		if (now - last_ping >= sdn.period_ms) {
			if (control_alive(now) && sdn.alive(sdn.alive_ctx, now, sdn.period_ms)) {
				send_msg("WATCHDOG=1");
				count(SDN_watchdog_pings);
				last_ping = now;
			} else if (now - last_withheld >= sdn.period_ms) {
				count(SDN_watchdog_withheld);
				log_error("watchdog: %s: ping withheld",
					  control_alive(now) ? "a shard has not turned its loop "
					  "within the period" : "the control loop is stuck");
				last_withheld = now;
			}
		}
		struct timespec ts = { .tv_sec = (time_t)(tick / 1000),
				       .tv_nsec = (long)(tick % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int sdnotify_watchdog_start(sdnotify_alive_fn *alive, void *ctx)
{
	if (sdnotify_watchdog_period_ms() == 0)
		return 0;
	sdn.alive = alive;
	sdn.alive_ctx = ctx;
	sdn.stop = false;
	sdnotify_beat(loop_now_ms());
	int r = pthread_create(&sdn.thread, NULL, watchdog_main, NULL);
	if (r != 0) {
		log_error("watchdog: cannot start its thread: %s", strerror(r));
		return -r;
	}
	pthread_setname_np(sdn.thread, "ec-watchdog");   /* ps, tests: not a shard */
	sdn.running = true;
	return 0;
}

void sdnotify_watchdog_stop(void)
{
	if (!sdn.running)
		return;
	__atomic_store_n(&sdn.stop, true, __ATOMIC_RELEASE);
	pthread_join(sdn.thread, NULL);
	sdn.running = false;
}
