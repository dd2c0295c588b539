/*
 * control/sdnotify.h — the service manager's side channel (systemd's
 * sd_notify protocol, spoken without libsystemd): READY=1 once the
 * listeners and the cache are up, STATUS= lines, STOPPING=1 when the
 * drain begins, WATCHDOG=1 while every shard is seen turning its loop.
 *
 * Owns: one datagram socket to $NOTIFY_SOCKET (a path, or '@' for the
 * abstract namespace), the watchdog's thread and period, the control
 * loop's heartbeat; the counters block "sdnotify_".
 * Called by: the control thread (server.c, main.c); sdnotify_beat is an
 * atomic store, the watchdog thread sends its pings itself.
 * Never: blocks (MSG_DONTWAIT; a full socket drops the message and counts
 * it), or pings the watchdog on a timer alone — it pings only while every
 * shard turns its loop (checked each period) and the control loop turns
 * within LIMIT_WATCHDOG_CONTROL_STALL_MS. The ping is sent from its own
 * thread, so the control loop's blocking work (a resolver timing out, a
 * reload, a checkpoint's fsync) does not withhold it. Without
 * $NOTIFY_SOCKET every call is a no-op; a malformed one fails start-up
 * (sdnotify_init), as systemd never sets one.
 * Stall tolerance (period p = WatchdogSec/2): a ping is due p after the
 * last one sent and is sent at the first check (every p/8) that finds
 * the shards alive, so a shard stuck for less than WatchdogSec is
 * forgiven; one stuck for longer than 1.5 × WatchdogSec is restarted by
 * the manager (in between: depends on where in a period the stall began).
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

/* Whether the server is alive at now_ms: every running shard turned its
 * loop within period_ms. Called on the watchdog thread. */
typedef bool sdnotify_alive_fn(void *ctx, uint64_t now_ms, uint64_t period_ms);

/* With a watchdog period: start the thread that pings while alive(ctx)
 * and the control loop's beat say so; otherwise it counts the withheld
 * ping and logs it (once per period) and leaves the manager to act.
 * After READY. 0 (also without a watchdog), or -errno (thread not
 * started: logged; serving goes on, the manager will restart us). */
int sdnotify_watchdog_start(sdnotify_alive_fn *alive, void *ctx);
/* Stop and join that thread (at most a tick, 250 ms). Before what alive
 * reads is freed. sdnotify_close calls it too. */
void sdnotify_watchdog_stop(void);
/* Each control-loop turn (and between long steps): the control thread
 * is alive at now_ms. */
void sdnotify_beat(uint64_t now_ms);

#endif
