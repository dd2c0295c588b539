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

struct shard;

/* An origin's address, published by the control thread (DNS refresh) and
 * read by shards through a sequence lock: shards never wait for it. */
struct origin_addr {
	_Atomic uint32_t seq;               /* odd while being written */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool valid;
};

/* Run-time view of one [origin NAME]: what shards need per request. */
struct origin_rt {
	uint32_t id;                        /* index in server.origins */
	const struct cfg_zone *zone;
	const struct cfg_origin *cfg;
	uint32_t index_in_zone;
	char *base_path_wire;               /* base_path percent-encoded once */
	size_t base_path_wire_len;
	struct origin_addr addr;
};

/* Run-time view of a zone: its origins in failover order. */
struct zone_rt {
	const struct cfg_zone *cfg;
	struct origin_rt **origins;
	uint32_t n_origins;
};

struct server {
	struct cfg *cfg;
	struct origin_rt *origins;          /* all origins of all zones */
	uint32_t n_origins;
	struct zone_rt *zones;              /* parallel to cfg->zones */
	unsigned n_shards;
	struct shard **shards;
	_Atomic bool draining;              /* SIGTERM: stop accepting, finish */
	uint64_t drain_deadline_ms;         /* CLOCK_MONOTONIC ms */
	uint64_t started_ms;
};

/* Load nothing, start nothing: serve `cfg` (ownership moves in) until
 * SIGTERM/SIGINT, then drain and return the exit status (0). Returns 1
 * with a message on stderr if it cannot start. */
int server_run(struct cfg *cfg);

/* The zone_rt for a cfg_zone (same index). */
static inline const struct zone_rt *server_zone(const struct server *s,
						const struct cfg_zone *z)
{
	return &s->zones[z - s->cfg->zones];
}

/* Copy an origin's current address; false if it is not resolved. */
bool server_origin_addr(const struct origin_rt *o, struct sockaddr_storage *out,
			socklen_t *len);

uint64_t server_now_ms(void);           /* CLOCK_MONOTONIC, ms */
uint64_t server_unix_ms(void);          /* CLOCK_REALTIME, ms */

#endif
