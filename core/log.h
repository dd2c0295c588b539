/*
 * core/log.h — error log and access log.
 *
 * Owns: the log file descriptors and, per shard, a bounded byte ring that
 * the shard fills and the control thread drains (so a shard never blocks on
 * a write). A full ring drops the line and counts it.
 * Called by: any thread. On a shard thread the line goes to that shard's
 * ring; elsewhere it is written at once.
 * Never: prints a secret — callers pass none (tests grep the logs).
 */
#ifndef EDGECACHE_CORE_LOG_H
#define EDGECACHE_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level_max;    /* lines above this level are skipped */

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  do { if (log_level_max >= LOG_WARN)  log_msg(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level_max >= LOG_INFO)  log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level_max >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
