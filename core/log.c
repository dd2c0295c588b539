/*
 * core/log.c — see log.h. Lines are formatted on the calling thread into
 * a bounded stack buffer; shards push them to their ring, the control
 * thread writes them with plain write(2) (it may block; shards never do).
 */
#include "core/log.h"
#include "core/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int log_level_max = LOG_INFO;

static int error_fd = 2;
static int access_fd = 1;
static char *error_path;                /* NULL: stderr, never reopened */
static char *access_path;               /* NULL: stdout or off */

static const char *const log_ctr_names[] = { "reopens", "reopen_failures" };
static const char *const log_ctr_docs[] = {
	"log files reopened on SIGUSR1 (logrotate's postrotate)",
	"log files that could not be reopened on SIGUSR1: still written to the old file",
};
static uint64_t log_ctr[2];             /* control thread writes, any reads */

static uint64_t log_ctr_sum(const void *ctx, unsigned i)
{
	(void)ctx;
	return __atomic_load_n(&log_ctr[i], __ATOMIC_RELAXED);
}

struct counters_block log_counters = {
	.prefix = "log_", .names = log_ctr_names, .docs = log_ctr_docs, .n = 2,
	.sum = log_ctr_sum, .ctx = log_ctr,
};
static __thread struct log_ring *thread_ring;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The one way a log file is opened, at start and on reopen. fd or -errno. */
static int open_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

static int open_append_start(const char *path)
{
	int fd = open_append(path);
	if (fd < 0)
		fprintf(stderr, "edgecache: cannot open log %s: %s\n", path, strerror(-fd));
	return fd;
}

int log_open(const char *error_log, const char *access_log)
{
	if (error_log) {
		int fd = open_append_start(error_log);
		if (fd < 0)
			return fd;
		error_fd = fd;
		error_path = strdup(error_log);
	}
	if (access_log && strcmp(access_log, "off") == 0) {
		access_fd = -1;
	} else if (access_log) {
		int fd = open_append_start(access_log);
		if (fd < 0)
			return fd;
		access_fd = fd;
		access_path = strdup(access_log);
	}
	return 0;
}

static int reopen_one(const char *path, int fd)
{
	if (!path || fd < 0)
		return 0;
	int nfd = open_append(path);
	if (nfd < 0 || dup3(nfd, fd, O_CLOEXEC) < 0) {
		int e = nfd < 0 ? -nfd : errno;
		if (nfd >= 0)
			close(nfd);
		__atomic_store_n(&log_ctr[1], log_ctr[1] + 1, __ATOMIC_RELAXED);
		log_msg(LOG_ERROR, "reopen log %s: %s; still writing to the old file", path,
			strerror(e));
		return -e;
	}
	close(nfd);
	__atomic_store_n(&log_ctr[0], log_ctr[0] + 1, __ATOMIC_RELAXED);
	return 0;
}

/* Only a regular file: a log path may name a device (access_log =
 * /dev/null), which root must not give away. */
static int chown_file(int fd, uid_t uid, gid_t gid)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && fchown(fd, uid, gid) < 0)
		return -errno;
	return 0;
}

int log_chown(uid_t uid, gid_t gid)
{
	int r = 0;

	if (error_path)
		r = chown_file(error_fd, uid, gid);
	if (r == 0 && access_path && access_fd >= 0)
		r = chown_file(access_fd, uid, gid);
	return r;
}

int log_reopen(void)
{
	int r = reopen_one(error_path, error_fd);
	int a = reopen_one(access_path, access_fd);

	return r ? r : a;
}

void log_close(void)
{
	if (error_fd > 2)
		close(error_fd);
	if (access_fd > 2)
		close(access_fd);
	error_fd = 2;
	access_fd = 1;
	free(error_path);
	free(access_path);
	error_path = access_path = NULL;
}

bool log_access_enabled(void)
{
	return access_fd >= 0;
}

int log_ring_init(struct log_ring *r, uint32_t cap, uint64_t *dropped)
{
	if (cap == 0 || (cap & (cap - 1)) != 0)
		return -EINVAL;
	r->buf = malloc(cap);
	if (!r->buf)
		return -ENOMEM;
	r->cap = cap;
	r->head = r->tail = 0;
	r->dropped = dropped;
	return 0;
}

void log_ring_free(struct log_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

bool log_ring_push(struct log_ring *r, const char *line, size_t len)
{
	uint64_t head = r->head;
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	if (len > r->cap - (head - tail)) {
		if (r->dropped)
			__atomic_store_n(r->dropped, *r->dropped + 1, __ATOMIC_RELAXED);
		return false;
	}
	uint32_t at = (uint32_t)(head & (r->cap - 1));
	size_t first = r->cap - at < len ? r->cap - at : len;
	memcpy(r->buf + at, line, first);
	memcpy(r->buf, line + first, len - first);
	__atomic_store_n(&r->head, head + len, __ATOMIC_RELEASE);
	return true;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;     /* a log that cannot be written is not worth dying for */
		p += n;
		len -= (size_t)n;
	}
}

static void ring_drain(struct log_ring *r, int fd)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->tail;

	while (tail != head) {
		uint32_t at = (uint32_t)(tail & (r->cap - 1));
		size_t n = head - tail;
		if (n > r->cap - at)
			n = r->cap - at;
		if (fd >= 0)
			write_all(fd, r->buf + at, n);
		tail += n;
	}
	__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
}

void log_ring_drain_error(struct log_ring *r)
{
	ring_drain(r, error_fd);
}

void log_ring_drain_access(struct log_ring *r)
{
	ring_drain(r, access_fd);
}

void log_bind_thread(struct log_ring *r)
{
	thread_ring = r;
}

void log_format_time(uint64_t unix_ms, char out[25])
{
	time_t s = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	/* Fields are range-bounded by gmtime_r; casts tell the compiler so. */
	snprintf(out, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
		 (unsigned)(unix_ms % 1000));
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LIMIT_LOG_LINE_BYTES];
	struct timespec ts;
	va_list ap;

	if ((int)lvl > log_level_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	log_format_time((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, line);
	int n = 24;
	n += snprintf(line + n, sizeof(line) - (size_t)n, " [%s] ", level_names[lvl]);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;      /* truncated: still one line */
	line[n++] = '\n';

	if (thread_ring)
		log_ring_push(thread_ring, line, (size_t)n);
	else
		write_all(error_fd, line, (size_t)n);
}
