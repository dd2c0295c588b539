/*
 * edge/shard.h — one shard: a pinned thread, its event loop (core/loop.h,
 * embedded), and every connection it serves.
 *
 * Owns: its loop (ring, wheel, clocks, counters, log rings); its
 * SO_REUSEPORT listening sockets (after start); the provided-buffer groups
 * and head-buffer pool (net/iobuf.h); the visitor and origin connection
 * slots, the exchange slots (edge/exchange.h) and the origin keep-alive
 * pools; the RAM tier and the store writes in flight.
 * Never: blocks. Every socket operation goes through the ring; the only
 * direct syscalls are socket(2)/setsockopt(2) for a new origin connection,
 * setsockopt(2)/getpeername(2) once per accepted connection, clock reads
 * (vDSO), and madvise(MADV_DONTNEED) at most once a trim period
 * (LIMIT_HBUF_TRIM_MS) for idle head blocks, visitor and exchange slots.
 * Called by: its own thread only, except shard_create / shard_start /
 * shard_wake / shard_join and reading counters (control thread).
 * Registers with its loop the handlers of its ops (visitor, origin, store),
 * the wheel's timer callback and its tick, wake and batch hooks: core/
 * calls nothing here by name.
 *
 * Completion routing: core/loop.h (op | slot | generation in user_data);
 * the ops below are numbered from LOOP_OP__FIRST. Every submitted
 * operation is counted on its slot (ops); a closing slot is freed only
 * when ops is 0, so the kernel never writes into, or sends from, memory
 * we reused.
 */
#ifndef EDGECACHE_EDGE_SHARD_H
#define EDGECACHE_EDGE_SHARD_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/loop.h"
#include "edge/runtime.h"
#include "core/wheel.h"

struct store_io;
#include "cache/store.h"
#include "net/http1.h"
#include "net/iobuf.h"
#include "edge/origin.h"
#include "sigv4/s3_error.h"
#include "edge/exchange.h"
#include "edge/visitor.h"

struct collapse;
struct refreshed;

enum shard_op {
	OP_NONE = LOOP_OP_NONE,
	OP_WAKE = LOOP_OP_WAKE,     /* eventfd read (the loop's) */
	OP_TICK = LOOP_OP_TICK,     /* timer wheel tick (the loop's) */
	OP_IGNORE = LOOP_OP_IGNORE, /* completion carries nothing to do */
	OP_ACCEPT = LOOP_OP__FIRST, /* slot = listener index */
	OP_VRECV,       /* visitor multishot recv */
	OP_VSEND,       /* visitor sendmsg */
	OP_VCLOSE,      /* visitor cancel / close */
	OP_VSHUT,       /* visitor shutdown(SHUT_WR) of a linger */
	OP_ORECV,       /* origin recv */
	OP_OSEND,       /* origin sendmsg */
	OP_OCONNECT,    /* origin connect */
	OP_OLINKTO,     /* linked timeout of a connect */
	OP_OCLOSE,      /* origin cancel / close */
	OP_CREAD,       /* store read for an exchange (slot = exchange slot) */
	OP_CWRITE,      /* store write (slot = index in the write table) */
	OP_SHARD__END,
};
_Static_assert((unsigned)OP_SHARD__END <= (unsigned)LIMIT_LOOP_OPS, "shard ops fit the loop's table");

enum { SHARD_GROUP_VISITOR = 0, SHARD_GROUP_ORIGIN = 1, SHARD_GROUP_PLAIN = 2 };

static inline uint64_t shard_ud(enum shard_op op, uint32_t slot, uint32_t gen)
{
	return loop_ud(op, slot, gen);
}
static inline enum shard_op shard_ud_op(uint64_t ud) { return (enum shard_op)loop_ud_op(ud); }
static inline uint32_t shard_ud_slot(uint64_t ud) { return loop_ud_slot(ud); }
static inline uint32_t shard_ud_gen(uint64_t ud) { return loop_ud_gen(ud); }

/*
 * What all shards share with the control thread, which owns it
 * (control/server.c points these into its struct server): the published
 * snapshot, the drain flag and deadline, the disk cache and the
 * cross-shard key tables. Shards only read through it.
 */
struct shard_env {
	_Atomic(struct runtime *) *rt;
	const _Atomic bool *draining;       /* SIGTERM: stop accepting, finish */
	const uint64_t *drain_deadline_ms;  /* CLOCK_MONOTONIC ms */
	struct store *store;                /* NULL without [cache] */
	struct collapse *collapse;
	struct collapse *invalidated;
	struct collapse *passes;
	struct refreshed *refreshed;        /* 304 rewrites in flight (cache/refreshed.h) */
	unsigned n_shards_planned;          /* splits the RAM tier's budget */
	/* Where retired S3 credentials objects wait for every shard to pass
	 * (edge/runtime.h "Credentials apart"); the loop announces to it. */
	struct snap_domain *creds_epochs;
	/* Tests only (EDGECACHE_TEST_STORE_WRITE_DELAY_MS, 0 = off): a store
	 * write's completion is handled this many ms after it arrives. */
	uint32_t test_store_write_delay_ms;
};

#define SHARD_MAGIC 0x53484152u

struct shard {
	uint32_t magic;
	unsigned id;
	int cpu;                            /* -1: not pinned */
	pthread_t thread;
	struct loop lp;                     /* ring, wheel, clocks, counters, logs */
	struct shard_env env;
	struct runtime *rt;                 /* the snapshot new exchanges use */
	const struct cfg_server *scfg;      /* &rt->cfg->server */

	/* listen addresses, then listen_tls addresses (index >= n_listen_plain) */
	int listen_fds[2 * LIMIT_LISTEN_ADDRS];
	unsigned n_listen;
	unsigned n_listen_plain;
	bool listening;
	unsigned accepts_armed;             /* multishot accepts not yet ended */

	struct iobuf_group groups[3];       /* visitor, origin (kernel rings); plaintext */
	struct iobuf_pool pool;
	struct vconn_held held[LIMIT_RECV_BUFS];   /* links of held visitor input (net/vconn.h) */
	/* The same links for decrypted visitor input (SHARD_GROUP_PLAIN). */
	struct vconn_held held_plain[LIMIT_TLS_PLAIN_BUFS];
	struct ecache_shard cache;          /* the cache in the request path (edge/edge_cache.h) */

	/* Slots come from the free list, else from the never-used tail at
	 * *_hwm: a slot's memory is touched only once traffic needs it. */
	struct visitor_conn *vconns;
	struct visitor_conn *vfree;
	uint32_t n_vconns;
	uint32_t vconns_hwm;
	/* Free slots above the highest one in use are given back to the
	 * kernel each trim period (hwm lowered); a slot taken from the tail
	 * again starts at this generation, above every one it had. */
	uint32_t vgen_floor;
	uint32_t vconns_used;
	struct exchange_pool xp;            /* exchange slots, the same way (edge/exchange.h) */
	struct origin_conn *oconns;
	struct origin_conn *ofree;
	struct oclient_env oenv;            /* what origin connections use of the shard */
	struct vconn_env venv;              /* what visitor connections use of it (net/vconn.h) */
	uint32_t n_oconns;
	uint32_t oconns_hwm;
	uint32_t oconns_used;

	uint64_t req_seq;
	bool starved;                       /* a recv ran out of buffers: re-arm on tick */
	/* Origin reads waiting their turn while the ring is low: a FIFO of
	 * (slot << 32 | gen), 2 × n_oconns (an entry goes stale when its
	 * connection closes; full → the tick's starved re-arm instead); and
	 * the exchanges' reads armed now, one buffer promised to each. */
	uint64_t *owait;
	uint32_t owait_head, owait_n, owait_cap;
	uint32_t orecv_armed;
	uint64_t trim_ms;                   /* last head-pool trim (LIMIT_HBUF_TRIM_MS) */
	bool zc_off;                        /* no zero-copy sends: core/ring.h, or one refused */
	bool draining;
	uint64_t drain_final_ms;            /* h2 final GOAWAY due (0: sent) */

	uint64_t s3err_logged_ms[S3ERR_CODE__COUNT];   /* once per interval */
	int64_t test_clock_skew_s;          /* EDGECACHE_TEST_CLOCK_SKEW_S (tests) */
	/* Store write completions held back by the test hook, a FIFO (the
	 * delay is one constant, so due times are in order; one entry per
	 * write io at most: SHARD_STORE_IOS), handed on by the tick. */
	struct shard_wdelay *wdelay;
	uint32_t wdelay_head, wdelay_n;
	int start_error;                    /* set by the thread if setup failed */
	_Atomic int started;                /* 1 ready, -1 failed */
};

#define COUNT(sh, name)        counters_add((sh)->lp.ctr, CTR_##name, 1)
#define COUNT_N(sh, name, n)   counters_add((sh)->lp.ctr, CTR_##name, (n))
/* Counter i of another module's block (struct counters_block). */
#define COUNT_IN(sh, block, i) counters_add((sh)->lp.ctr, counters_slot(&(block), (i)), 1)

/* Control thread: allocate a shard (nothing started) serving from what
 * env points at (copied; *env's targets outlive the shard). Returns NULL
 * on ENOMEM. The listening fds are handed over and closed by the shard;
 * the first n_plain are plain HTTP, the rest HTTPS (listen_tls). */
struct shard *shard_create(const struct shard_env *env, unsigned id, int cpu,
			   const int *listen_fds, unsigned n_listen, unsigned n_plain);
/*
 * Control thread, at start: the test hook EDGECACHE_TEST_STORE_WRITE_DELAY_MS
 * (unset = 0; else a whole number of ms, 0..LIMIT_TEST_STORE_WRITE_DELAY_MS),
 * for shard_env.test_store_write_delay_ms. Tests use it to hold the window
 * between a store write's last byte and its commit open (the claim on its
 * key stays until then). -EINVAL with the reason in err: start-up is refused.
 */
int shard_test_write_delay(uint32_t *ms, char *err, size_t cap);
/* Start its thread and wait until its ring is up; 0 or -errno. */
int shard_start(struct shard *sh);
/* Ask it to look at *env.draining and *env.rt (eventfd write; never blocks). */
void shard_wake(struct shard *sh);
void shard_join(struct shard *sh);
void shard_destroy(struct shard *sh);

/* A free visitor / origin slot (idx and gen set), or NULL at the limit. */
static inline struct visitor_conn *shard_vconn_take(struct shard *sh)
{
	struct visitor_conn *vc = sh->vfree;
	if (vc) {
		sh->vfree = vc->next;
	} else if (sh->vconns_hwm < sh->n_vconns) {
		vc = &sh->vconns[sh->vconns_hwm];
		vc->t.idx = sh->vconns_hwm++;
		vc->t.gen = sh->vgen_floor;   /* past any gen a retired slot had */
	}
	return vc;
}

static inline struct origin_conn *shard_oconn_take(struct shard *sh)
{
	struct origin_conn *oc = sh->ofree;
	if (oc) {
		sh->ofree = oc->next;
	} else if (sh->oconns_hwm < sh->n_oconns) {
		oc = &sh->oconns[sh->oconns_hwm];
		oc->idx = sh->oconns_hwm++;
	}
	return oc;
}

/* An exchange starts / ends on snapshot rt (see edge/runtime.h). */
static inline void shard_rt_ref(struct shard *sh, struct runtime *rt)
{
	rt->shard_refs[sh->id]++;
}
void shard_rt_unref(struct shard *sh, struct runtime *rt);

/* Per shard, per origin state of origin o. */
static inline struct rt_origin_shard *shard_origin(struct shard *sh, const struct rt_origin *o)
{
	return &o->per_shard[sh->id];
}

/* Shard thread: an SQE, submitting first if the queue is full. */
static inline struct io_uring_sqe *shard_sqe(struct shard *sh)
{
	return loop_sqe(&sh->lp);
}
/* Shard thread: an SQE for store io `io` (a read or write the store
 * planned for this shard), tagged with ud: READ_FIXED/WRITE_FIXED when its
 * buffer lies in the registered pool, else READ/WRITE. A read also marks
 * the loop to submit it early (loop_dispatch in core/loop.c). */
void shard_prep_store_io(struct shard *sh, const struct store_io *io, uint64_t ud);

/* Visitor and origin modules: return a buffer to its group, etc. */
static inline struct iobuf_group *shard_group(struct shard *sh, int g)
{
	return &sh->groups[g];
}

/* A group that origin response bytes land in (origin ring, decrypted
 * plaintext) has fewer than count / LIMIT_RECV_RESERVE_DIV buffers left
 * for reads: the reserve is kept for exchanges that keep up, and stalled
 * holders are reclaimed on the tick (visitor_reclaim). */
static inline bool shard_bufs_low(const struct shard *sh)
{
	for (int g = SHARD_GROUP_ORIGIN; g <= SHARD_GROUP_PLAIN; g++)
		if (iobuf_group_avail(&sh->groups[g]) < sh->groups[g].count / LIMIT_RECV_RESERVE_DIV)
			return true;
	return false;
}

#endif
