/*
 * control/sdnotify.h — the service manager's side channel (systemd's
 * sd_notify protocol, spoken without libsystemd): READY=1 once the
 * listeners and the cache are up, STATUS= lines, STOPPING=1 when the
 * drain begins, WATCHDOG=1 while every shard is seen turning its loop.
 *
 * Owns: one datagram socket to $NOTIFY_SOCKET (a path, or '@' for the
 * abstract namespace) and the watchdog's period and last ping; the
 * counters block "sdnotify_".
 * Called by: the control thread only (server.c), after sdnotify_init.
 * Never: blocks (MSG_DONTWAIT; a full socket drops the message and counts
 * it), fails start-up (no $NOTIFY_SOCKET: every call is a no-op), or
 * pings the watchdog on a timer alone — the caller says whether the
 * shards are alive, and a stalled shard withholds the ping so that the
 * manager restarts the process after WatchdogSec.
 */
#ifndef EDGECACHE_CONTROL_SDNOTIFY_H
#define EDGECACHE_CONTROL_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"

extern struct counters_block sdnotify_counters;

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC (honoured when $WATCHDOG_PID is
 * unset or ours) and open the socket. Unsets $WATCHDOG_PID alone, so that
 * a process we start (an upgrade's new binary) may notify and be watched
 * in our place. 0 (also without $NOTIFY_SOCKET) or -errno for a socket name that
 * cannot be one (too long, not absolute): the message is on stderr. */
int sdnotify_init(void);
void sdnotify_close(void);

/* The watchdog's ping period in ms (half of WATCHDOG_USEC), 0 = none. */
uint64_t sdnotify_watchdog_period_ms(void);

/* READY=1 with our MAINPID (so a process started by the old one during
 * an upgrade becomes the main one) and STATUS=status. */
void sdnotify_ready(const char *status);
/* STOPPING=1 and STATUS=status: the service is stopping (SIGTERM/INT).
 * Not for an upgrade's old process handing over: with NotifyAccess=all
 * systemd would stop the unit, the new main process with it. */
void sdnotify_stopping(const char *status);

/* Each control-loop turn: sends WATCHDOG=1 when a period has passed since
 * the last ping and shards_alive says every running shard turned its
 * loop within that period; otherwise counts the withheld ping (once per
 * period) and leaves the manager to act. */
void sdnotify_watchdog(uint64_t now_ms, bool shards_alive);

#endif
