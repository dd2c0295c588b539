/*
 * edge/runtime.h — the run-time snapshot shards serve from: the loaded
 * config, each zone's origins in failover order, each origin's resolved
 * address, per-shard origin state (keep-alive pool, back-off), and the S3
 * credentials with their signing keys for today and tomorrow derived.
 *
 * Owns: everything in struct runtime, including the struct cfg it was
 * built from (shared between generations that only roll keys). Secrets
 * live in pages excluded from core dumps and are wiped when freed.
 * Called by: the control thread builds, publishes and frees snapshots;
 * shards read the current one through one atomic pointer, never lock.
 *
 * Lifetime (quiescent-state reclamation): a shard takes the current
 * snapshot at the top of its loop; each exchange counts itself on the
 * snapshot it started with (shard_rt_ref / shard_rt_unref: per-shard
 * counters, no atomics). When a shard has moved to a newer snapshot and
 * its count on an older one reaches zero, it acknowledges the older one
 * (one atomic decrement). The control thread frees a retired snapshot
 * when every shard has acknowledged it.
 *
 * Skipped snapshots: several may be published between two turns of a
 * shard's loop (a burst of reloads, a shard busy in one long batch). Each
 * snapshot links to the one it replaced (`replaced`, set before it is
 * published), so a shard moving from `old` to the current one walks that
 * chain back to `old` and acknowledges every snapshot in between, which it
 * never used: each is freed once no shard uses it, however many were
 * skipped. The walk only touches snapshots this shard has not yet
 * acknowledged, which the control thread therefore cannot have freed.
 */
#ifndef EDGECACHE_EDGE_RUNTIME_H
#define EDGECACHE_EDGE_RUNTIME_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "core/config.h"

struct oconn;
struct sigv4_creds;
struct tls_ctx;

/* An origin's address, republished by the control thread (DNS refresh)
 * behind a sequence lock: shards retry a read, never wait. */
struct origin_addr {
	_Atomic uint32_t seq;               /* odd while being written */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool valid;
};

/* Per shard, per origin: touched only by that shard. */
struct origin_shard {
	struct oconn *idle;                 /* keep-alive pool, most recent first */
	uint32_t n_idle;
	uint64_t backoff_until_ms;          /* skip this origin until then */
	/* Requests signed with creds / prev_creds: written by this shard
	 * only (relaxed load + store), summed by the control thread for
	 * GET /metrics (rt_signed). */
	_Atomic uint64_t signed_cur, signed_prev;
};

struct origin_rt {
	uint32_t id;                        /* index in runtime.origins */
	const struct cfg_zone *zone;
	const struct cfg_origin *cfg;
	char *base_path_wire;               /* base_path percent-encoded once */
	size_t base_path_wire_len;
	struct origin_addr addr;
	const struct sigv4_creds *creds;    /* NULL unless s3_auth_enabled */
	/* The credentials of the snapshot before, when this one changed them,
	 * until prev_until_ms (CLOCK_MONOTONIC): a miss answered 400/403 is
	 * retried once with them (rt_inherit_creds). NULL = none. */
	const struct sigv4_creds *prev_creds;
	uint64_t prev_until_ms;
	/* Credential generations (the access log and GET /metrics tag each
	 * signed request with one): the generation of the snapshot in which
	 * creds were last set or changed, and that of prev_creds (0: none).
	 * signed_base / prev_signed_base carry the counts a generation had
	 * in the snapshots before this one (control thread only). */
	uint64_t creds_gen, prev_creds_gen;
	uint64_t signed_base, prev_signed_base;
	struct tls_ctx *tls;                /* https origins: verification, resumption */
	/* S3: server clock minus ours, learned from a RequestTimeTooSkewed
	 * answer's Date (as the AWS SDKs do); signing adds it. Written by any
	 * shard, read by all: one atomic word. */
	_Atomic int64_t clock_offset_s;
	struct origin_shard *per_shard;     /* [runtime.n_shards] */
};

struct zone_rt {
	const struct cfg_zone *cfg;
	struct tls_ctx *tls;                /* HTTPS visitors: its certificate, or NULL */
	struct origin_rt **origins;         /* failover order */
	uint32_t n_origins;
};

#define RUNTIME_MAGIC 0x52554e54u

struct runtime {
	uint32_t magic;
	uint64_t generation;
	struct cfg *cfg;
	unsigned *cfg_refs;                 /* runtimes sharing cfg (control thread) */
	struct zone_rt *zones;              /* parallel to cfg->zones */
	struct origin_rt *origins;
	uint32_t n_origins;
	/* HTTPS visitors whose SNI names no zone with a certificate: the
	 * default zone's context, or NULL (tls_unknown_sni = reject). */
	struct tls_ctx *tls_default;
	unsigned n_shards;
	uint32_t *shard_refs;               /* [n_shards]: exchanges per shard */
	struct sigv4_creds *creds;          /* [n_origins] in a no-dump mapping */
	struct sigv4_creds *prev;           /* [n_origins] after them, same mapping */
	size_t creds_bytes;
	uint32_t key_day;                   /* UTC day the keys were derived for */
	/* Publication and retirement (atomics: shards write, control reads). */
	uint64_t published_ns;              /* CLOCK_MONOTONIC when made current */
	_Atomic unsigned switched;          /* shards serving from it */
	_Atomic uint64_t max_switch_ns;     /* slowest shard's delay to switch */
	_Atomic int pending;                /* shards yet to release it, once retired */
	bool propagation_logged;
	struct runtime *next_retired;
	/* The snapshot this one replaced (server_publish), for shards that
	 * skip snapshots; may dangle once that one is freed, but is then only
	 * followed by shards that never reach it (see the top). */
	struct runtime *replaced;
};

/*
 * Build a snapshot of cfg for n_shards shards: resolve origin names
 * (blocking: control thread only), encode base paths, derive S3 signing
 * keys for the UTC day of `now` and the next. Takes a reference on cfg
 * (pass cfg_refs NULL for a fresh cfg: the runtime then owns it).
 * Returns 0 or -errno with err set (never containing a secret).
 */
int rt_build(struct cfg *cfg, unsigned *cfg_refs, unsigned n_shards, uint64_t generation,
	     time_t now, struct runtime **out, char *err, size_t err_len);

/*
 * The overlap window (control thread, before rt is published): each S3
 * origin of rt whose credentials (access key, secret, region, token)
 * differ from those of the same origin (zone uuid + origin uuid) in `old`
 * keeps old's as prev_creds until now_ms + overlap_ms; an origin whose
 * credentials did not change keeps old's unexpired prev_creds. overlap_ms
 * 0: no prev_creds. Either way the credential generations carry over:
 * unchanged credentials keep old's creds_gen (and its signature count),
 * changed ones get rt's generation, old's becoming prev_creds_gen.
 */
void rt_inherit_creds(struct runtime *rt, const struct runtime *old, uint64_t now_ms,
		      uint32_t overlap_ms);

/* Requests o signed with its credentials of generation `gen` (creds_gen
 * or prev_creds_gen), over every snapshot that carried them (control
 * thread; shards' latest increments may not be seen yet). */
uint64_t rt_signed(const struct runtime *rt, const struct origin_rt *o, uint64_t gen);

/* Control thread, before rt is published in old's place: old is retired
 * until each of the n_shards shards acknowledges it (pending), and rt
 * links to it (replaced). */
void rt_retire(struct runtime *old, struct runtime *rt, unsigned n_shards);

/* Shard `shard`, which moved from old to rt: acknowledge every snapshot
 * published between them (skipped: the shard never used them). Each may
 * be freed by the control thread as soon as it is acknowledged. Returns
 * how many were skipped. */
unsigned rt_release_skipped(const struct runtime *rt, const struct runtime *old,
			    unsigned shard);

/* Free (control thread; no shard may hold it): wipes the credentials;
 * frees cfg when this was its last runtime. */
void rt_free(struct runtime *rt);

/* The zone_rt for a zone of rt->cfg. */
static inline const struct zone_rt *rt_zone(const struct runtime *rt,
					    const struct cfg_zone *z)
{
	return &rt->zones[z - rt->cfg->zones];
}

/* Copy an origin's current address; false if it is not resolved. */
bool rt_origin_addr(const struct origin_rt *o, struct sockaddr_storage *out, socklen_t *len);

/* Resolve o's host again and publish the address if it changed
 * (control thread). 0 or -EHOSTUNREACH. */
int rt_resolve_origin(struct origin_rt *o, bool quiet);

/* UTC day number (days since the epoch) of t. */
static inline uint32_t rt_utc_day(time_t t)
{
	return (uint32_t)(t / 86400);
}

#endif /* EDGECACHE_EDGE_RUNTIME_H */
