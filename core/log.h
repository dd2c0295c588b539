/*
 * core/log.h — error log and access log.
 *
 * Owns: the two log file descriptors and their paths, and the byte rings
 * that shard threads fill and the control thread drains (so a shard never
 * blocks on a write; a full ring drops the line and counts it in
 * log_dropped); the counters block "log_" (reopens for logrotate).
 * Called by: any thread. A thread bound with log_bind_thread (a shard)
 * formats into its ring; any other thread writes at once.
 * Never: prints a secret — callers pass none (tests grep the logs).
 */
#ifndef EDGECACHE_CORE_LOG_H
#define EDGECACHE_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/counters.h"

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Single-producer single-consumer byte ring of whole lines. */
struct log_ring {
	char *buf;
	uint32_t cap;                       /* power of two */
	uint64_t head;                      /* written by the producer */
	uint64_t tail;                      /* written by the consumer */
	uint64_t *dropped;                  /* producer's counter, may be NULL */
};

extern int log_level_max;               /* lines above this level are skipped */

/* Open the logs: NULL error_log = stderr; NULL access_log = stdout; "off"
 * = no access log. Returns 0 or -errno (message on stderr). Control thread. */
int log_open(const char *error_log, const char *access_log);
void log_close(void);
/* Control thread (SIGUSR1, for logrotate): open each log's path again —
 * created if the old file was renamed away — and put the new file under
 * the old descriptor with dup2 (atomic), so every line goes whole to the
 * old file or the new one and none is lost: only the control thread
 * writes the files (shards' lines wait in their rings). A log on
 * stderr/stdout or "off" is left alone. 0, or the first -errno (that log
 * keeps writing to its old file; counted in log_reopen_failures). */
int log_reopen(void);
/* Control thread, before a privilege drop: the open log files (not
 * stderr/stdout) become the user's — regular files only: a device
 * (access_log = /dev/null) stays as it is. 0 or -errno. */
int log_chown(uid_t uid, gid_t gid);
extern struct counters_block log_counters;
bool log_access_enabled(void);

int log_ring_init(struct log_ring *r, uint32_t cap, uint64_t *dropped);
void log_ring_free(struct log_ring *r);
/* All or nothing; false (and *dropped++) when it does not fit. */
bool log_ring_push(struct log_ring *r, const char *line, size_t len);
/* Control thread: write what is queued to the error / access log. */
void log_ring_drain_error(struct log_ring *r);
void log_ring_drain_access(struct log_ring *r);

/* Route this thread's log_msg lines into `r` (shards call it once). */
void log_bind_thread(struct log_ring *r);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "2026-11-28T19:30:00.123Z" (24 chars + NUL) for a time in ms. */
void log_format_time(uint64_t unix_ms, char out[25]);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  do { if (log_level_max >= LOG_WARN)  log_msg(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level_max >= LOG_INFO)  log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level_max >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
