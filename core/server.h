/*
 * core/server.h — the process: configuration at run time, the shard
 * threads, and the control thread that starts, watches and stops them.
 *
 * Owns: the loaded struct cfg, the per-origin run-time state that all
 * shards read (resolved addresses, encoded base paths), the listening
 * sockets (created here so bind errors are reported before serving), the
 * shard threads, signals, the counters file and the draining of shard logs.
 * Called by: main (server_run) on the main thread, which becomes the
 * control thread. Shards only read struct server and its origins.
 * Never: runs on a shard thread; shards never block on anything it does.
 */
#ifndef EDGECACHE_CORE_SERVER_H
#define EDGECACHE_CORE_SERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/runtime.h"

struct shard;
struct runtime;
struct store;
struct collapse;

struct server {
	/* The snapshot shards serve from: written by the control thread only,
	 * read by shards with one acquire load per loop iteration. */
	_Atomic(struct runtime *) rt;
	struct runtime *retired;            /* waiting for every shard to let go */
	struct store *store;                /* the disk cache, NULL without [cache] */
	struct collapse *collapse;          /* in-flight cache keys (with a store) */
	struct collapse *invalidated;       /* invalidation stamps (with a store) */
	uint64_t generation;
	const char *main_file;
	unsigned n_shards;                  /* started */
	unsigned n_shards_planned;          /* workers */
	struct shard **shards;
	_Atomic bool draining;              /* SIGTERM: stop accepting, finish */
	uint64_t drain_deadline_ms;         /* CLOCK_MONOTONIC ms */
	uint64_t started_ms;
};

/* Serve `cfg` (ownership moves in, also on failure) loaded from
 * main_file until SIGTERM/SIGINT, then drain and return the exit status
 * (0). SIGHUP reloads main_file and its zones through a snapshot swap.
 * Returns 1 with a message on stderr if it cannot start. */
int server_run(struct cfg *cfg, const char *main_file);

uint64_t server_now_ms(void);           /* CLOCK_MONOTONIC, ms */
uint64_t server_now_ns(void);           /* CLOCK_MONOTONIC, ns (vDSO: any thread) */
uint64_t server_unix_ms(void);          /* CLOCK_REALTIME, ms */

#endif
