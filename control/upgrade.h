/*
 * control/upgrade.h — a new binary takes over without a refused
 * connection, a failed request or a cold cache (docs/OPERATIONS.md "Upgrading",
 * docs/ARCHITECTURE.md "Upgrade").
 *
 * The flow, old process (O) and new one (N):
 *  1. SIGUSR2, or `edgecache upgrade` connecting to upgrade_socket: O
 *     starts the binary at the path it was itself started by (not
 *     /proc/self/exe, the old inode after a package replaced the file)
 *     with O's argv, and a socketpair end named by EDGECACHE_UPGRADE_FD.
 *  2. N loads and checks its config and builds its snapshot (TLS contexts,
 *     origins), then says HELLO.
 *  3. O sends every listening socket it has (each shard's SO_REUSEPORT
 *     socket of each address, the admin API's, upgrade_socket) by
 *     SCM_RIGHTS; freezes its store (no write begins or goes on: store.h
 *     store_freeze), waits for writes in flight, writes the checkpoint and
 *     says CKPT. O keeps accepting and serving meanwhile (fills dropped).
 *  4. N opens the store — the checkpoint O has just written, so nothing is
 *     left to scan — then its listeners: an address N's config still has
 *     takes O's socket (server_listen asks upgrade_listener_take: shard i
 *     gets O's shard i socket of that address), a new one is bound, and O's
 *     sockets N does not want are closed; starts its shards, says READY.
 *  5. O stops accepting and drains (keep-alive: Connection: close after
 *     the current response; HTTP/2: GOAWAY) for up to drain_timeout_ms,
 *     writes no checkpoint (N owns the store now), and exits.
 * The store is never written by both: O's writes stop before its
 * checkpoint, N opens the store only after it.
 * Anything else — N exits or crashes, says FAIL, or is not READY within
 * LIMIT_UPGRADE_READY_MS (killed; tests shorten it with
 * EDGECACHE_TEST_UPGRADE_READY_MS) — and O thaws its store and goes on as
 * before: logged, counted (upgrade_failed, upgrade_timeouts).
 *
 * Owns: the upgrade socket (a Unix socket, 0600, in a directory only our
 * uid may enter; peers checked by SO_PEERCRED: root or our uid), the one
 * upgrade that may run at a time (its child, channel, deadline and the
 * client waiting for its outcome), the list of listening sockets this
 * process has (to hand over) and the ones it inherited (to take).
 * Called by: main (upgrade_init, upgrade_cli_main, upgrade_child_fail),
 * the control thread (everything else). Never: runs on a shard; blocks
 * the control thread on the old side (only the new one, before it
 * serves, waits on the channel, bounded by LIMIT_UPGRADE_READY_MS).
 */
#ifndef EDGECACHE_CONTROL_UPGRADE_H
#define EDGECACHE_CONTROL_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct counters_block;
struct pollfd;
struct server;
struct upgrade;

/* Counted on the control thread (upgrade_ in the counters). */
extern struct counters_block upgrade_counters;

/* main, first: remember how we were started (argv[0] made absolute, the
 * argv) for a later upgrade, and whether we are a new binary started by
 * one (EDGECACHE_UPGRADE_FD, removed from the environment). 0, or -1
 * with the reason on stderr. */
int upgrade_init(int argc, char **argv);
/* Started by an upgrade and not yet READY. */
bool upgrade_is_child(void);

/* New process, before it opens the store: HELLO, then the old one's
 * listening sockets, then its CKPT. Blocks, bounded by
 * LIMIT_UPGRADE_READY_MS. 0, or -1 with the reason on stderr. */
int upgrade_child_takeover(void);
/* New process, serving (shards and admin API up): close the inherited
 * sockets nobody took, say READY. */
void upgrade_child_ready(void);
/* New process that cannot start: `why` (no secret: a config error) to
 * the old one's log, before it exits. Nothing when not a child. */
void upgrade_child_fail(const char *why);

/* server_listen: an inherited listening socket bound to sa (the same
 * SO_REUSEPORT setting), taken (once: the next call for the same address
 * gets the next shard's), or -ENOENT. */
int upgrade_listener_take(const struct sockaddr *sa, bool reuseport);
/* server_listen: fd listens now, to be handed over by an upgrade. */
void upgrade_listener_note(int fd);

/* Control thread, at start (after the admin API): listen on
 * upgrade_socket when the config names one. 0 (*out set, also without
 * a socket: SIGUSR2 still works), or -1 with the reason on stderr. */
int upgrade_open(struct server *srv, struct upgrade **out);
/* What to poll (at most UPGRADE_POLLFDS), and what poll said. */
#define UPGRADE_POLLFDS 2
unsigned upgrade_pollfds(struct upgrade *u, struct pollfd *pfd);
void upgrade_poll(struct upgrade *u, const struct pollfd *pfd, unsigned n, uint64_t now_ms);
/* SIGUSR2: start an upgrade (or log why not). */
void upgrade_signal(struct upgrade *u, uint64_t now_ms);
/* At exit: the socket closed, its path removed unless handed over; a
 * running upgrade's child killed. */
void upgrade_close(struct upgrade *u);

/* `edgecache upgrade -c FILE`: ask the process serving FILE (through its
 * upgrade_socket) and print the outcome. 0 when the new one serves. */
int upgrade_cli_main(int argc, char **argv);

#endif
