/*
 * edge/shard.c — a shard's thread: its slots, buffers and store writes,
 * and the handlers it registers with its loop (see shard.h; the ring and
 * the dispatch are core/loop.c). The protocol work is in edge/visitor.c
 * and edge/origin.c.
 */
#include "edge/shard.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "core/ring.h"
#include "edge/edge_cache.h"

/* Store write ios in flight per shard: each write slot holds a few. */
#define SHARD_STORE_IOS      (LIMIT_STORE_WRITES * 4)
void shard_prep_store_io(struct shard *sh, const struct store_io *io, uint64_t ud)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	const char *b = io->buf, *base = sh->cache.store_fixed;
	bool fixed = base && b >= base && b + io->len <= base + sh->cache.store_fixed_bytes;
	bool rd = io->kind == STORE_IO_READ;

	if (rd && fixed)
		io_uring_prep_read_fixed(sqe, io->fd, io->buf, io->len, io->off, 0);
	else if (rd)
		io_uring_prep_read(sqe, io->fd, io->buf, io->len, io->off);
	else if (fixed)
		io_uring_prep_write_fixed(sqe, io->fd, io->buf, io->len, io->off, 0);
	else
		io_uring_prep_write(sqe, io->fd, io->buf, io->len, io->off);
	io_uring_sqe_set_data64(sqe, ud);
	if (rd)
		loop_read_queued(&sh->lp);
}

/* ---- the store-write-delay test hook ------------------------------------- */

/* A store write completion held back (EDGECACHE_TEST_STORE_WRITE_DELAY_MS). */
struct shard_wdelay {
	uint32_t slot;
	int32_t res;
	uint64_t due_ms;
};

int shard_test_write_delay(uint32_t *ms, char *err, size_t cap)
{
	*ms = 0;
	int r = cfg_env_ms("EDGECACHE_TEST_STORE_WRITE_DELAY_MS", 0,
			   LIMIT_TEST_STORE_WRITE_DELAY_MS, ms, err, cap);
	return r < 0 ? r : 0;
}

/* Hand on the held-back completions that are due (all of them when the
 * shard stops waiting for writes: its drain deadline passed). */
static void wdelay_run(struct shard *sh, bool all)
{
	while (sh->wdelay_n > 0) {
		struct shard_wdelay *d = &sh->wdelay[sh->wdelay_head];
		if (!all && d->due_ms > sh->lp.now_ms)
			break;
		struct io_uring_cqe cqe = { .res = d->res };
		sh->wdelay_head = (sh->wdelay_head + 1) % SHARD_STORE_IOS;
		sh->wdelay_n--;
		ecache_on_write(sh, d->slot, &cqe);
	}
}

/* ---- creation (control thread) -------------------------------------------- */

/* Slot arrays are sized for max_conns but committed page by page as slots
 * are first used (anonymous mappings are zero-filled on first touch). */
static void *slots_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void slots_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

struct shard *shard_create(const struct shard_env *env, unsigned id, int cpu,
			   const int *listen_fds, unsigned n_listen, unsigned n_plain)
{
	struct shard *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->magic = SHARD_MAGIC;
	sh->id = id;
	sh->cpu = cpu;
	sh->env = *env;
	sh->rt = atomic_load(env->rt);
	sh->scfg = &sh->rt->cfg->server;
	atomic_fetch_add(&sh->rt->switched, 1);
	sh->lp.wake_fd = -1;
	for (unsigned i = 0; i < n_listen; i++)
		sh->listen_fds[i] = listen_fds[i];
	sh->n_listen = n_listen;
	sh->n_listen_plain = n_plain;
	sh->n_vconns = sh->scfg->max_conns;
	sh->xp.n = sh->scfg->max_conns * LIMIT_EXCHANGES_PER_CONN;
	/* One origin connection per busy exchange (HTTP/2 streams and
	 * refreshes included: they hold no connection slot), plus the
	 * keep-alive pools. */
	sh->n_oconns = sh->xp.n + sh->rt->n_origins * sh->scfg->origin_pool;
	sh->vconns = slots_map((size_t)sh->n_vconns * sizeof(*sh->vconns));
	sh->xp.slots = slots_map((size_t)sh->xp.n * sizeof(*sh->xp.slots));
	sh->oconns = slots_map((size_t)sh->n_oconns * sizeof(*sh->oconns));
	sh->owait_cap = 2 * sh->n_oconns;
	sh->owait = malloc((size_t)sh->owait_cap * sizeof(*sh->owait));
	if (!sh->vconns || !sh->xp.slots || !sh->oconns || !sh->owait || loop_create(&sh->lp, id) < 0) {
		shard_destroy(sh);
		return NULL;
	}
	sh->cache.store = env->store;
	sh->lp.snap = env->creds_epochs;
	/* Tests only: sign as if this host's clock were off by this much. */
	const char *skew = getenv("EDGECACHE_TEST_CLOCK_SKEW_S");
	sh->test_clock_skew_s = skew ? strtoll(skew, NULL, 10) : 0;
	sh->cache.collapse = env->collapse;
	sh->cache.invalidated = env->invalidated;
	sh->cache.passes = env->passes;
	sh->cache.refreshed = env->refreshed;
	sh->cache.wio = calloc(SHARD_STORE_IOS, sizeof(*sh->cache.wio));
	sh->cache.wio_free = calloc(SHARD_STORE_IOS, sizeof(*sh->cache.wio_free));
	if (env->test_store_write_delay_ms)
		sh->wdelay = calloc(SHARD_STORE_IOS, sizeof(*sh->wdelay));
	if (!sh->cache.wio || !sh->cache.wio_free ||
	    (env->test_store_write_delay_ms && !sh->wdelay)) {
		shard_destroy(sh);
		return NULL;
	}
	for (uint32_t i = 0; i < SHARD_STORE_IOS; i++)
		sh->cache.wio_free[sh->cache.n_wio_free++] = i;
	return sh;
}

void shard_destroy(struct shard *sh)
{
	if (!sh)
		return;
	assert(sh->magic == SHARD_MAGIC);
	loop_destroy(&sh->lp);
	for (unsigned i = 0; i < sh->n_listen; i++)
		if (sh->listen_fds[i] >= 0)
			close(sh->listen_fds[i]);
	slots_unmap(sh->vconns, (size_t)sh->n_vconns * sizeof(*sh->vconns));
	slots_unmap(sh->xp.slots, (size_t)sh->xp.n * sizeof(*sh->xp.slots));
	slots_unmap(sh->oconns, (size_t)sh->n_oconns * sizeof(*sh->oconns));
	free(sh->owait);
	free(sh->cache.wio);
	free(sh->cache.wio_free);
	free(sh->wdelay);
	sh->magic = 0;
	free(sh);
}

/* ---- ring set-up (shard thread) ------------------------------------------ */

/* ---- ring set-up (shard thread) ------------------------------------------ */

static void arm_accept(struct shard *sh, unsigned i)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_multishot_accept(sqe, sh->listen_fds[i], NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_ACCEPT, i, 0));
	sh->accepts_armed++;
}

/*
 * Register the store's buffer pool of this shard as fixed buffer 0: an
 * O_DIRECT read into a plain buffer pins its pages on every I/O
 * (gup_fast_fallback, 2.6-5.6% of a disk-tier hit in bench/README.md);
 * a registered buffer is pinned once, here. Best effort: without it
 * (RLIMIT_MEMLOCK for a non-root user, an old kernel) reads stay plain.
 */
static void register_store_bufs(struct shard *sh)
{
	size_t bytes;
	void *mem = sh->cache.store ? store_shard_mem(sh->cache.store, sh->id, &bytes) : NULL;
	if (!mem || !ring_has(RING_FIXED_BUFS))
		return;
	struct iovec iov = { .iov_base = mem, .iov_len = bytes };
	int r = io_uring_register_buffers(&sh->lp.ring, &iov, 1);
	if (r < 0) {
		if (sh->id == 0)
			log_info("io_uring: store buffers not registered (%s): plain reads",
				 strerror(-r));
		return;
	}
	sh->cache.store_fixed = mem;
	sh->cache.store_fixed_bytes = bytes;
	if (sh->id == 0)
		log_info("io_uring: store buffers registered: fixed reads");
}

static void shard_teardown(struct shard *sh)
{
	if (sh->cache.mt_on)
		memtier_free(&sh->cache.mt);
	sh->cache.mt_on = false;
	iobuf_group_free(&sh->lp.ring, &sh->groups[SHARD_GROUP_VISITOR]);
	iobuf_group_free(&sh->lp.ring, &sh->groups[SHARD_GROUP_ORIGIN]);
	iobuf_group_free(&sh->lp.ring, &sh->groups[SHARD_GROUP_PLAIN]);
	loop_close(&sh->lp);
	iobuf_pool_free(&sh->pool);
}

static void register_handlers(struct shard *sh);

static int shard_setup(struct shard *sh)
{
	int ret = loop_open(&sh->lp);
	if (ret < 0)
		return ret;
	ret = iobuf_group_init(&sh->lp.ring, &sh->groups[SHARD_GROUP_VISITOR],
			       SHARD_GROUP_VISITOR, LIMIT_RECV_BUFS, LIMIT_RECV_BUF_BYTES);
	if (ret == 0)
		ret = iobuf_group_init(&sh->lp.ring, &sh->groups[SHARD_GROUP_ORIGIN],
				       SHARD_GROUP_ORIGIN, LIMIT_ORIGIN_RECV_BUFS,
				       LIMIT_ORIGIN_RECV_BUF_BYTES);
	if (ret == 0)
		ret = iobuf_soft_init(&sh->groups[SHARD_GROUP_PLAIN], LIMIT_TLS_PLAIN_BUFS,
				      LIMIT_TLS_PLAIN_BUF_BYTES);
	/* Blocks: visitor input per connection, request head (a stream's, a
	 * refresh's) and response head per exchange, request and partial head
	 * per origin connection, at worst. */
	if (ret == 0)
		ret = iobuf_pool_init(&sh->pool, sh->n_vconns + sh->xp.n * 2 +
					  sh->n_oconns * 2);
	/* The RAM tier: [cache] memory split across shards. */
	const struct cfg_cache *cc = &sh->rt->cfg->cache;
	if (ret == 0 && sh->cache.store && cc->memory_bytes > 0) {
		ret = memtier_init(&sh->cache.mt, (uint64_t)cc->memory_bytes / sh->env.n_shards_planned,
				   (uint32_t)cc->chunk_bytes);
		sh->cache.mt_on = ret == 0;
	}
	if (ret < 0) {
		shard_teardown(sh);     /* each part frees only what it set up */
		return ret;
	}
	register_store_bufs(sh);
	sh->zc_off = !ring_has(RING_SEND_ZC);
	for (unsigned i = 0; i < sh->n_listen; i++)
		arm_accept(sh, i);
	sh->listening = true;
	register_handlers(sh);
	return 0;
}

/* ---- snapshots ---------------------------------------------------------------- */

void shard_rt_unref(struct shard *sh, struct runtime *rt)
{
	assert(sh->magic == SHARD_MAGIC);
	assert(rt->shard_refs[sh->id] > 0);
	if (--rt->shard_refs[sh->id] == 0 && rt != sh->rt)
		atomic_fetch_sub(&rt->pending, 1);
}

/* Move new exchanges to the published snapshot; let go of the old one at
 * once if nothing of ours uses it, else when its last exchange ends; and
 * of every snapshot published in between at once (we never used them). */
static void sync_runtime(struct shard *sh)
{
	struct runtime *rt = atomic_load_explicit(sh->env.rt, memory_order_acquire);
	struct runtime *old = sh->rt;

	if (rt == old)
		return;
	origin_close_idle(sh);          /* pooled connections belong to old */
	sh->rt = rt;
	sh->scfg = &rt->cfg->server;
	uint64_t delay = loop_now_ns() - rt->published_ns;
	uint64_t max = atomic_load(&rt->max_switch_ns);
	while (delay > max && !atomic_compare_exchange_weak(&rt->max_switch_ns, &max, delay))
		;
	atomic_fetch_add(&rt->switched, 1);
	rt_release_skipped(rt, old, sh->id);
	if (old->shard_refs[sh->id] == 0)
		atomic_fetch_sub(&old->pending, 1);
}

/* ---- the loop --------------------------------------------------------------- */

static void timer_fired(struct wheel_entry *e, void *arg)
{
	struct shard *sh = arg;
	char *p = (char *)e;

	if (p >= (char *)sh->vconns && p < (char *)(sh->vconns + sh->n_vconns)) {
		size_t i = (size_t)(p - (char *)sh->vconns) / sizeof(struct visitor_conn);
		visitor_on_timer(sh, &sh->vconns[i]);
	} else {
		size_t i = (size_t)(p - (char *)sh->oconns) / sizeof(struct origin_conn);
		assert(i < sh->n_oconns);
		origin_on_timer(sh, &sh->oconns[i]);
	}
}

static void stop_listening(struct shard *sh)
{
	if (!sh->listening)
		return;
	sh->listening = false;
	for (unsigned i = 0; i < sh->n_listen; i++) {
		struct io_uring_sqe *sqe = shard_sqe(sh);
		io_uring_prep_cancel64(sqe, shard_ud(OP_ACCEPT, i, 0), 0);
		io_uring_sqe_set_data64(sqe, shard_ud(OP_IGNORE, 0, 0));
		sqe = shard_sqe(sh);
		io_uring_prep_close(sqe, sh->listen_fds[i]);
		io_uring_sqe_set_data64(sqe, shard_ud(OP_IGNORE, 0, 0));
		sh->listen_fds[i] = -1;
	}
}

static void check_drain(struct shard *sh)
{
	if (!sh->draining && atomic_load(sh->env.draining)) {
		sh->draining = true;
		stop_listening(sh);
		visitor_drain(sh);
		origin_close_idle(sh);
		sh->drain_final_ms = sh->lp.now_ms + LIMIT_DRAIN_IDLE_GRACE_MS;
	}
	if (sh->draining && sh->drain_final_ms && sh->lp.now_ms >= sh->drain_final_ms) {
		sh->drain_final_ms = 0;
		visitor_drain_final(sh);
	}
	if (sh->draining && sh->lp.now_ms >= *sh->env.drain_deadline_ms) {
		visitor_close_all(sh);
		exchange_close_all(sh);
		origin_close_idle(sh);
	}
	if (sh->draining && sh->vconns_used == 0 && sh->xp.used == 0) {
		origin_close_idle(sh);
		/* Store writes in flight finish first (bounded by the drain
		 * deadline): an object a visitor just got is still committed. */
		bool writes_done = sh->cache.n_wio_free == SHARD_STORE_IOS ||
				   sh->lp.now_ms >= *sh->env.drain_deadline_ms;
		/* And every accept has ended (its cancel's last completion): one
		 * that completed before the cancel is a connection we serve
		 * (visitor_accept), not one left unseen in the ring — the
		 * listening socket lives on in an upgrade's new process. */
		if (sh->oconns_used == 0 && writes_done && sh->accepts_armed == 0) {
			wdelay_run(sh, true);   /* the test hook's: landed, so commit */
			__atomic_store_n(&sh->lp.stop, true, __ATOMIC_RELEASE);
		}
	}
}

/*
 * When load ends, the slots above the highest one in use go back to the
 * kernel (a visitor slot was ~6 KiB: 8,000 connections held 46 MiB for
 * good) and leave the free list, which is rebuilt lowest index first so
 * new ones pack at the bottom and the top can go at the next period.
 * A slot taken from the tail again starts at *gen_floor, above every
 * generation it had. One walk serves both pools (visitor connections,
 * exchanges): each slot type has a generation and a state (0 = free), named
 * by gn and st (a visitor slot's are in its transport), and next.
 */
#define TRIM_POOL(sh, arr, hwm, gen_floor, freelist, type, st, gn)                  \
	do {                                                                        \
		uint32_t top = (sh)->hwm;                                           \
		while (top > 0 && (sh)->arr[top - 1].st == 0)                       \
			top--;                                                      \
		if (top == (sh)->hwm)                                               \
			break;                                                      \
		for (uint32_t i = top; i < (sh)->hwm; i++)                          \
			if ((sh)->arr[i].gn >= (sh)->gen_floor)                     \
				(sh)->gen_floor = (sh)->arr[i].gn + 1;              \
		(sh)->freelist = NULL;                                              \
		for (uint32_t i = top; i-- > 0;) {                                  \
			type *s_ = &(sh)->arr[i];                                   \
			if (s_->st == 0) {                                          \
				s_->next = (sh)->freelist;                          \
				(sh)->freelist = s_;                                \
			}                                                           \
		}                                                                   \
		uintptr_t a_ = ((uintptr_t)&(sh)->arr[top] + 4095) & ~(uintptr_t)4095; \
		uintptr_t b_ = (uintptr_t)&(sh)->arr[(sh)->hwm] & ~(uintptr_t)4095; \
		if (b_ > a_)                                                        \
			madvise((void *)a_, b_ - a_, MADV_DONTNEED);                \
		(sh)->hwm = top;                                                    \
	} while (0)

static void trim_slots(struct shard *sh)
{
	_Static_assert(VC_FREE == 0 && EX_FREE == 0, "a free slot's state is 0");
	TRIM_POOL(sh, vconns, vconns_hwm, vgen_floor, vfree, struct visitor_conn, t.state, t.gen);
	TRIM_POOL(sh, xp.slots, xp.hwm, xp.gen_floor, xp.free, struct exchange, state, gen);
}

/* The shard's tick hook, after the loop advanced the wheel. */
static void on_tick(void *arg)
{
	struct shard *sh = arg;

	if (sh->xp.parked)
		exchange_parked_tick(sh);
	if (sh->wdelay_n)
		wdelay_run(sh, false);
	if (sh->cache.large_wait)
		elarge_tick(sh);
	/* Reclaim first, so the re-armed reads find what it gave back
	 * (it lands when the closed connections' sends are cancelled). */
	if (shard_bufs_low(sh)) {
		visitor_reclaim(sh);
		exchange_reclaim(sh);
	}
	if (sh->starved) {
		sh->starved = false;
		visitor_rearm_starved(sh);
		origin_rearm_starved(sh);
	}
	if (sh->lp.now_ms - sh->trim_ms >= LIMIT_HBUF_TRIM_MS) {
		sh->trim_ms = sh->lp.now_ms;
		COUNT_N(sh, hbuf_trimmed, iobuf_pool_trim(&sh->pool, LIMIT_HBUF_TRIM_BLOCKS));
		trim_slots(sh);
	}
	check_drain(sh);
}

static void recycle_stale(struct shard *sh, const struct io_uring_cqe *cqe, int group)
{
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		iobuf_group_take(&sh->groups[group], bid);
		iobuf_group_unref(&sh->groups[group], bid);
	}
}

/* ---- the handlers this shard registers with its loop --------------------------- */

static void stale_visitor(void *arg, const struct io_uring_cqe *cqe)
{
	recycle_stale(arg, cqe, SHARD_GROUP_VISITOR);
}

static void stale_origin(void *arg, const struct io_uring_cqe *cqe)
{
	recycle_stale(arg, cqe, SHARD_GROUP_ORIGIN);
}

static void on_accept(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	struct shard *sh = arg;

	if (cqe->res >= 0)
		visitor_accept(sh, cqe->res, slot >= sh->n_listen_plain);
	else if (cqe->res != -ECANCELED)
		COUNT(sh, accept_errors);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		sh->accepts_armed--;
		if (sh->listening)
			arm_accept(sh, slot);
	}
}

static void on_store_write(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	struct shard *sh = arg;
	uint32_t delay = sh->env.test_store_write_delay_ms;

	if (delay == 0) {
		ecache_on_write(sh, slot, cqe);
		return;
	}
	/* The test hook: handled by the tick once due. Each write io is in
	 * the table until handled, so the FIFO never holds more than it. */
	assert(sh->wdelay_n < SHARD_STORE_IOS);
	sh->wdelay[(sh->wdelay_head + sh->wdelay_n++) % SHARD_STORE_IOS] = (struct shard_wdelay){
		.slot = slot, .res = cqe->res, .due_ms = sh->lp.now_ms + delay,
	};
}

static bool visitor_live(void *arg, uint32_t slot, uint32_t gen)
{
	struct shard *sh = arg;
	assert(slot < sh->n_vconns);
	return sh->vconns[slot].t.gen == gen && sh->vconns[slot].t.state != VC_FREE;
}

static void on_visitor(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	struct shard *sh = arg;
	visitor_on_cqe(sh, &sh->vconns[slot], (enum shard_op)op, cqe);
}

static bool exchange_live(void *arg, uint32_t slot, uint32_t gen)
{
	struct shard *sh = arg;
	assert(slot < sh->xp.n);
	return sh->xp.slots[slot].gen == gen && sh->xp.slots[slot].state != EX_FREE;
}

static void on_exchange(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	struct shard *sh = arg;
	(void)op;
	exchange_on_cqe(sh, &sh->xp.slots[slot], cqe);
}

static bool origin_live(void *arg, uint32_t slot, uint32_t gen)
{
	struct shard *sh = arg;
	assert(slot < sh->n_oconns);
	return sh->oconns[slot].gen == gen && sh->oconns[slot].state != OC_FREE;
}

static void on_origin(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	struct shard *sh = arg;
	origin_on_cqe(sh, &sh->oconns[slot], (enum shard_op)op, cqe);
}

/* An op nobody handles (OP_IGNORE, OP_NONE): only a buffer to give back. */
static void on_other(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	recycle_stale(arg, cqe, SHARD_GROUP_VISITOR);
}

/* The loop's eventfd fired: a new snapshot, or the drain began. */
static void on_wake(void *arg)
{
	struct shard *sh = arg;
	sync_runtime(sh);
	check_drain(sh);
}

/* After each batch of completions. */
static void on_batch(void *arg)
{
	struct shard *sh = arg;
	if (sh->owait_n)
		origin_serve_waiting(sh);   /* buffers that batch gave back */
	sync_runtime(sh);
}

static void register_handlers(struct shard *sh)
{
	struct loop *lp = &sh->lp;
	const struct loop_handler other = { .on_cqe = on_other, .arg = sh };
	const struct loop_handler accept = { .on_cqe = on_accept, .arg = sh };
	const struct loop_handler cwrite = { .on_cqe = on_store_write, .arg = sh };
	const struct loop_handler vis = { .on_cqe = on_visitor, .live = visitor_live,
					  .on_stale = stale_visitor, .arg = sh };
	/* Store reads: after the batch's new requests. */
	const struct loop_handler xch = { .on_cqe = on_exchange, .live = exchange_live,
					  .late = true, .arg = sh };
	const struct loop_handler orig = { .on_cqe = on_origin, .live = origin_live,
					   .on_stale = stale_origin, .arg = sh };

	loop_register(lp, OP_NONE, &other);
	loop_register(lp, OP_ACCEPT, &accept);
	loop_register(lp, OP_CWRITE, &cwrite);
	loop_register(lp, OP_VRECV, &vis);
	loop_register(lp, OP_VSEND, &vis);
	loop_register(lp, OP_VCLOSE, &vis);
	loop_register(lp, OP_VSHUT, &vis);
	loop_register(lp, OP_CREAD, &xch);
	loop_register(lp, OP_ORECV, &orig);
	loop_register(lp, OP_OSEND, &orig);
	loop_register(lp, OP_OCONNECT, &orig);
	loop_register(lp, OP_OLINKTO, &orig);
	loop_register(lp, OP_OCLOSE, &orig);
	loop_on_timer(lp, timer_fired, sh);
	loop_add_tick(lp, on_tick, sh);
	loop_add_wake(lp, on_wake, sh);
	loop_add_batch(lp, on_batch, sh);
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;

	assert(sh->magic == SHARD_MAGIC);

	if (sh->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(sh->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	log_bind_thread(&sh->lp.log_err);
	int ret = shard_setup(sh);
	if (ret < 0) {
		sh->start_error = ret;
		atomic_store(&sh->started, -1);
		return NULL;
	}
	atomic_store(&sh->started, 1);
	loop_run(&sh->lp);
	shard_teardown(sh);
	return NULL;
}

int shard_start(struct shard *sh)
{
	assert(sh->magic == SHARD_MAGIC);
	int ret = pthread_create(&sh->thread, NULL, shard_main, sh);
	if (ret != 0)
		return -ret;
	/* 1 ms a turn: the thread reports ready (or its error) within milliseconds */
	for (int i = 0; i < LIMIT_SHARD_START_MS && atomic_load(&sh->started) == 0; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&sh->started) != 1) {
		pthread_join(sh->thread, NULL);
		return sh->start_error ? sh->start_error : -ETIMEDOUT;
	}
	return 0;
}

void shard_wake(struct shard *sh)
{
	assert(sh->magic == SHARD_MAGIC);
	loop_wake(&sh->lp);
}

void shard_join(struct shard *sh)
{
	assert(sh->magic == SHARD_MAGIC);
	pthread_join(sh->thread, NULL);
}
