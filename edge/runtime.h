/*
 * edge/runtime.h — the run-time snapshot shards serve from: the loaded
 * config, each zone's origins in failover order, each origin's resolved
 * address, per-shard origin state (keep-alive pool, back-off), and, per
 * S3 origin, one atomic pointer to its credentials object (below).
 *
 * Owns: everything in struct runtime, including the struct cfg it was
 * built from, and the current credentials object of each origin.
 * Called by: the control thread builds, publishes and frees snapshots;
 * shards read the current one through one atomic pointer, never lock.
 *
 * Lifetime (quiescent-state reclamation): a shard takes the current
 * snapshot at the top of its loop; each exchange counts itself on the
 * snapshot it started with (shard_rt_ref / shard_rt_unref in edge/shard.h:
 * per-shard counters, no atomics). When a shard has moved to a newer
 * snapshot and its count on an older one reaches zero, it acknowledges the
 * older one (one atomic decrement). The control thread frees a retired
 * snapshot when every shard has acknowledged it.
 *
 * Skipped snapshots: several may be published between two turns of a
 * shard's loop (a burst of reloads, a shard busy in one long batch). Each
 * snapshot links to the one it replaced (`replaced`, set before it is
 * published), so a shard moving from `old` to the current one walks that
 * chain back to `old` and acknowledges every snapshot in between, which it
 * never used: each is freed once no shard uses it, however many were
 * skipped. The walk only touches snapshots this shard has not yet
 * acknowledged, which the control thread therefore cannot have freed.
 *
 * Credentials apart (struct origin_creds): a change of an origin's S3
 * credentials, or the daily key roll, publishes a new immutable object in
 * place of the old (rt_creds_swap) — the snapshot, its TLS client
 * contexts and session caches, addresses and every shard's pooled
 * connections stay. The old object is retired to the server's epoch
 * domain (core/snapshot.h) and freed once every shard has started a loop
 * turn after the swap. That is safe because a shard reads a credentials
 * object only inside one completion handler (signing a request, the
 * 400/403 overlap retry, masking the token out of an error body), never
 * keeping the pointer across loop turns: what an exchange keeps is the
 * generation number it signed with (exchange.creds_gen).
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
#include "core/snapshot.h"
#include "sigv4/sigv4.h"

struct origin_conn;
struct tls_ctx;

/* An origin's address, republished by the control thread (DNS refresh)
 * behind a sequence lock: shards retry a read, never wait. */
struct rt_addr {
	_Atomic uint32_t seq;               /* odd while being written */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool valid;
};

/* Per shard, per origin: touched only by that shard. */
struct rt_origin_shard {
	struct origin_conn *idle;           /* keep-alive pool, most recent first */
	uint32_t n_idle;
	uint64_t backoff_until_ms;          /* skip this origin until then */
};

/* Requests one shard signed with an object's cur / prev credentials:
 * written by that shard only (relaxed load + store), summed by the
 * control thread for GET /metrics (rt_creds_signed). */
struct origin_creds_shard {
	_Atomic uint64_t signed_cur, signed_prev;
};

#define ORIGIN_CREDS_MAGIC 0x43524544u    /* "CRED" */

/*
 * One S3 origin's credentials, immutable once published: the set in use
 * with its signing keys for today and tomorrow, and the set before it
 * with the deadline of the 400/403 overlap retry. Lives in a mapping of
 * its own excluded from core dumps, wiped before it is unmapped.
 */
struct origin_creds {
	struct snap_node node;              /* retirement; first member */
	uint32_t magic;
	uint32_t n_shards;
	size_t map_bytes;                   /* the whole mapping, this struct included */
	/* Credential generations (the access log and GET /metrics tag each
	 * signed request with one): the publication in which cur was set or
	 * changed, and that of prev (0: none). A key roll keeps them. */
	uint64_t gen, prev_gen;
	bool has_prev;                      /* prev signs the overlap retry ... */
	uint64_t prev_until_ms;             /* ... until then (CLOCK_MONOTONIC) */
	/* Signatures counted on the objects before this one, per generation. */
	uint64_t signed_base, prev_signed_base;
	struct sigv4_creds cur, prev;
	struct origin_creds_shard per_shard[];   /* [n_shards] */
};

/*
 * A file a snapshot read when it was built (a zone's tls_cert and tls_key,
 * an https origin's ca_file or the system bundle): a hash of its content
 * (XXH3, 64 bits) and its length, taken just before the file was loaded.
 * A reload compares them with the files as they are now (rt_files_same):
 * a file rewritten in place, renamed over, or touched to the same bytes
 * counts by content, not by inode or mtime, so a certificate renewed
 * under the same name is never missed and a `touch` costs nothing. Taken
 * before the load: a file replaced between the two reads leaves a hash
 * older than what was loaded, which only makes the next reload rebuild.
 */
struct rt_file_id {
	uint64_t hash;
	int64_t bytes;                      /* -1: could not be read */
};

struct rt_origin {
	uint32_t id;                        /* index in runtime.origins */
	const struct cfg_zone *zone;
	const struct cfg_origin *cfg;
	char *base_path_wire;               /* base_path percent-encoded once */
	size_t base_path_wire_len;
	struct rt_addr addr;
	/* NULL unless s3_auth_enabled. Shards: rt_creds, used within one
	 * completion handler. Control thread: rt_creds_swap. */
	_Atomic(struct origin_creds *) creds;
	struct tls_ctx *tls;                /* https origins: verification, resumption */
	struct rt_file_id ca_id;            /* https: the CA file tls was made from */
	/* S3: server clock minus ours, learned from a RequestTimeTooSkewed
	 * answer's Date (as the AWS SDKs do); signing adds it. An absolute
	 * value (origin Date minus our unskewed clock), stored with one
	 * atomic store, so two answers learning it at once store the same
	 * value instead of adding the difference twice. */
	_Atomic int64_t clock_offset_s;
	struct rt_origin_shard *per_shard;  /* [runtime.n_shards] */
};

struct rt_zone_state {
	const struct cfg_zone *cfg;
	struct tls_ctx *tls;                /* HTTPS visitors: its certificate, or NULL */
	struct rt_file_id cert_id, key_id;  /* the files tls was made from */
	struct rt_origin **origins;         /* failover order */
	uint32_t n_origins;
};

#define RUNTIME_MAGIC 0x52554e54u

struct runtime {
	uint32_t magic;
	uint64_t generation;
	struct cfg *cfg;
	unsigned *cfg_refs;                 /* runtimes sharing cfg (control thread) */
	struct rt_zone_state *zones;        /* parallel to cfg->zones */
	struct rt_origin *origins;
	uint32_t n_origins;
	/* HTTPS visitors whose SNI names no zone with a certificate: the
	 * default zone's context, or NULL (tls_unknown_sni = reject). */
	struct tls_ctx *tls_default;
	unsigned n_shards;
	uint32_t *shard_refs;               /* [n_shards]: exchanges per shard */
	uint32_t key_day;                   /* UTC day the keys were derived for (control) */
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
 * (blocking: control thread only), encode base paths, make each S3
 * origin's credentials object (rt_creds_new, generation `generation`).
 * Takes a reference on cfg
 * (pass cfg_refs NULL for a fresh cfg: the runtime then owns it).
 * Returns 0 or -errno with err set (never containing a secret).
 */
int rt_build(struct cfg *cfg, unsigned *cfg_refs, unsigned n_shards, uint64_t generation,
	     time_t now, struct runtime **out, char *err, size_t err_len);

/*
 * Before rt is published (control thread): each S3 origin of rt follows
 * the same origin (zone uuid + origin uuid) of `old` as rt_creds_follow
 * says, and keeps its learned clock offset.
 */
void rt_inherit_creds(struct runtime *rt, const struct runtime *old, uint64_t now_ms,
		      uint32_t overlap_ms);

/*
 * A credentials object for origin c (s3_auth_enabled) with keys for the
 * UTC day of `now` and the next, generation gen, in a fresh no-dump
 * mapping. 0 or -errno with err set (never containing a secret).
 */
int rt_creds_new(const struct cfg_origin *c, unsigned n_shards, uint64_t gen, time_t now,
		 struct origin_creds **out, char *err, size_t err_len);

/*
 * The overlap window and the generations, for n (new, unpublished) made to
 * replace old: credentials equal to old's (access key, secret, region,
 * service, token) keep old's generation, signature count and unexpired
 * previous set; changed ones keep old's current set as prev until now_ms
 * + overlap_ms (overlap_ms 0: no retry), old's generation becoming
 * prev_gen, and n keeps its own generation. True if they changed.
 */
bool rt_creds_follow(struct origin_creds *n, const struct origin_creds *old, uint64_t now_ms,
		     uint32_t overlap_ms);

/*
 * The daily key roll: a copy of old with keys for the UTC day of `now`
 * and the next (an expired previous set dropped). 1 with *out set when
 * anything changed, 0 when old already has them, -ENOMEM.
 */
int rt_creds_rolled(const struct origin_creds *old, time_t now, uint64_t now_ms,
		    struct origin_creds **out);

/* Signatures counted for c's cur (prev false) or prev set, over every
 * object that carried that generation (control thread). */
uint64_t rt_creds_signed(const struct origin_creds *c, bool prev);

/* Wipe and unmap (no shard may hold it: rt_free, or the epoch domain). */
void rt_creds_free(struct origin_creds *c);

/* Publish c as o's credentials (control thread); returns the object it
 * replaces, which the caller retires (core/snapshot.h), or NULL. */
struct origin_creds *rt_creds_swap(struct rt_origin *o, struct origin_creds *c);

/* Shards: o's credentials object for this completion handler only. */
static inline const struct origin_creds *rt_creds(const struct rt_origin *o)
{
	return atomic_load_explicit(&((struct rt_origin *)o)->creds, memory_order_acquire);
}

/* The set that signed generation gen in c (cur or prev), or NULL if c no
 * longer carries it. */
static inline const struct sigv4_creds *rt_creds_of_gen(const struct origin_creds *c,
							  uint64_t gen)
{
	if (c && gen == c->gen)
		return &c->cur;
	if (c && c->has_prev && gen == c->prev_gen)
		return &c->prev;
	return NULL;
}

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

/* Free (control thread; no shard may hold it): wipes and unmaps each
 * origin's current credentials; frees cfg when this was its last runtime. */
void rt_free(struct runtime *rt);

/* The rt_zone_state for a zone of rt->cfg. */
static inline const struct rt_zone_state *rt_zone(const struct runtime *rt,
					    const struct cfg_zone *z)
{
	return &rt->zones[z - rt->cfg->zones];
}

/*
 * Does cfg differ from rt's config in credentials alone, so that it can be
 * applied by swapping credentials objects (server_creds_prepare) instead
 * of building a snapshot? Credentials: each origin's s3_access_key,
 * s3_secret_key (and the s3_secret_key_file it came from), s3_region,
 * s3_session_token (and its file); [admin] token and token_file, which
 * only the admin API reads, from the latest config (server_cfg). Every
 * other setting of every section, zone and origin must be equal (order
 * included); only how a setting was written is not compared (its
 * file:line, kept for load errors; whether a uuid was derived or written
 * out). True also when nothing differs. The files a
 * snapshot reads are rt_files_same's.
 */
bool rt_cfg_creds_only(const struct runtime *rt, const struct cfg *cfg);

/*
 * Control thread (reads files, blocking): are the files rt was built from
 * (struct rt_file_id) still what they were? False if any changed or
 * cannot be read now: the reload then builds a snapshot, which reports it.
 */
bool rt_files_same(const struct runtime *rt);

/* Copy an origin's current address; false if it is not resolved. */
bool rt_origin_addr(const struct rt_origin *o, struct sockaddr_storage *out, socklen_t *len);

/* Resolve o's host again and publish the address if it changed
 * (control thread). 0 or -EHOSTUNREACH. */
int rt_resolve_origin(struct rt_origin *o, bool quiet);

/* UTC day number (days since the epoch) of t. */
static inline uint32_t rt_utc_day(time_t t)
{
	return (uint32_t)(t / 86400);
}

#endif /* EDGECACHE_EDGE_RUNTIME_H */
