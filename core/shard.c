/*
 * core/shard.c — a shard's thread: ring set-up and the event loop (see
 * shard.h). Everything here is dispatch; the protocol work is in
 * net/visitor.c and net/origin.c.
 */
#include "core/shard.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/server.h"
#include "cache/store.h"
#include "net/edge_cache.h"

#define SHARD_LOG_RING_BYTES (1u << 20)
/* Store write ios in flight per shard: each write slot holds a few. */
#define SHARD_STORE_IOS      (LIMIT_STORE_WRITES * 4)
/*
 * Adaptive wait. With DEFER_TASKRUN the kernel wakes a waiter only once
 * `wait_nr` completions are ready. After a busy iteration (many
 * completions) we ask for a few at a time, bounded by a short timeout, so
 * a loaded shard sleeps and wakes less per request; an idle one waits for
 * one completion and adds no latency.
 */
#define SHARD_BUSY_CQES       4
#define SHARD_BATCH_CQES      8
#define SHARD_BATCH_WAIT_NS   50000

struct io_uring_sqe *shard_sqe(struct shard *sh)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sh->ring);
	while (!sqe) {
		io_uring_submit(&sh->ring);
		sqe = io_uring_get_sqe(&sh->ring);
	}
	return sqe;
}

void shard_prep_store_io(struct shard *sh, const struct store_io *io, uint64_t ud)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	const char *b = io->buf, *base = sh->store_fixed;
	bool fixed = base && b >= base && b + io->len <= base + sh->store_fixed_bytes;
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
	sh->reads_queued |= rd;
}

static void update_clocks(struct shard *sh)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	sh->now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	sh->unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (ts.tv_sec != sh->date_sec) {
		sh->date_sec = ts.tv_sec;
		http1_format_date(ts.tv_sec, sh->date);
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

struct shard *shard_create(struct server *srv, unsigned id, int cpu,
			   const int *listen_fds, unsigned n_listen, unsigned n_plain)
{
	struct shard *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->magic = SHARD_MAGIC;
	sh->id = id;
	sh->cpu = cpu;
	sh->srv = srv;
	sh->rt = atomic_load(&srv->rt);
	sh->scfg = &sh->rt->cfg->server;
	atomic_fetch_add(&sh->rt->switched, 1);
	sh->wake_fd = -1;
	for (unsigned i = 0; i < n_listen; i++)
		sh->listen_fds[i] = listen_fds[i];
	sh->n_listen = n_listen;
	sh->n_listen_plain = n_plain;
	sh->n_vconns = sh->scfg->max_conns;
	/* One origin connection per busy visitor, plus the keep-alive pools. */
	sh->n_oconns = sh->scfg->max_conns + sh->rt->n_origins * sh->scfg->origin_pool;
	sh->vconns = slots_map((size_t)sh->n_vconns * sizeof(*sh->vconns));
	sh->oconns = slots_map((size_t)sh->n_oconns * sizeof(*sh->oconns));
	sh->owait_cap = 2 * sh->n_oconns;
	sh->owait = malloc((size_t)sh->owait_cap * sizeof(*sh->owait));
	if (!sh->vconns || !sh->oconns || !sh->owait ||
	    log_ring_init(&sh->log_err, SHARD_LOG_RING_BYTES, &sh->ctr[CTR_log_dropped]) < 0 ||
	    log_ring_init(&sh->log_access, SHARD_LOG_RING_BYTES, &sh->ctr[CTR_log_dropped]) < 0) {
		shard_destroy(sh);
		return NULL;
	}
	sh->store = srv->store;
	/* Tests only: sign as if this host's clock were off by this much. */
	const char *skew = getenv("EDGECACHE_TEST_CLOCK_SKEW_S");
	sh->test_clock_skew_s = skew ? strtoll(skew, NULL, 10) : 0;
	sh->collapse = srv->collapse;
	sh->invalidated = srv->invalidated;
	sh->passes = srv->passes;
	sh->wio = calloc(SHARD_STORE_IOS, sizeof(*sh->wio));
	sh->wio_free = calloc(SHARD_STORE_IOS, sizeof(*sh->wio_free));
	if (!sh->wio || !sh->wio_free) {
		shard_destroy(sh);
		return NULL;
	}
	for (uint32_t i = 0; i < SHARD_STORE_IOS; i++)
		sh->wio_free[sh->n_wio_free++] = i;
	sh->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (sh->wake_fd < 0) {
		shard_destroy(sh);
		return NULL;
	}
	return sh;
}

void shard_destroy(struct shard *sh)
{
	if (!sh)
		return;
	if (sh->wake_fd >= 0)
		close(sh->wake_fd);
	for (unsigned i = 0; i < sh->n_listen; i++)
		if (sh->listen_fds[i] >= 0)
			close(sh->listen_fds[i]);
	slots_unmap(sh->vconns, (size_t)sh->n_vconns * sizeof(*sh->vconns));
	slots_unmap(sh->oconns, (size_t)sh->n_oconns * sizeof(*sh->oconns));
	free(sh->owait);
	free(sh->wio);
	free(sh->wio_free);
	log_ring_free(&sh->log_err);
	log_ring_free(&sh->log_access);
	free(sh);
}

/* ---- ring set-up (shard thread) ------------------------------------------ */

static int ring_init(struct shard *sh)
{
	/* Best first; older kernels lack DEFER_TASKRUN (6.1) or SINGLE_ISSUER. */
	static const struct { unsigned flags; const char *name; } tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL, "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL, "SINGLE_ISSUER|COOP_TASKRUN" },
		{ IORING_SETUP_SUBMIT_ALL, "plain" },
	};
	int ret = -ENOSYS;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = tries[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = LIMIT_RING_ENTRIES * 4;
		ret = io_uring_queue_init_params(LIMIT_RING_ENTRIES, &sh->ring, &p);
		if (ret == 0) {
			sh->ring_flags = tries[i].flags;
			if (sh->id == 0)
				log_info("io_uring: %s, %u entries", tries[i].name, LIMIT_RING_ENTRIES);
			return 0;
		}
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static void arm_accept(struct shard *sh, unsigned i)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_multishot_accept(sqe, sh->listen_fds[i], NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_ACCEPT, i, 0));
}

static void arm_wake(struct shard *sh)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_read(sqe, sh->wake_fd, &sh->wake_buf, sizeof(sh->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_WAKE, 0, 0));
}

static void arm_tick(struct shard *sh)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	sh->tick_ts.tv_sec = 0;
	sh->tick_ts.tv_nsec = WHEEL_TICK_MS * 1000000LL;
	io_uring_prep_timeout(sqe, &sh->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, shard_ud(OP_TICK, 0, 0));
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
	void *mem = sh->store ? store_shard_mem(sh->store, sh->id, &bytes) : NULL;
	if (!mem)
		return;
	struct iovec iov = { .iov_base = mem, .iov_len = bytes };
	int r = io_uring_register_buffers(&sh->ring, &iov, 1);
	if (r < 0) {
		if (sh->id == 0)
			log_info("io_uring: store buffers not registered (%s): plain reads",
				 strerror(-r));
		return;
	}
	sh->store_fixed = mem;
	sh->store_fixed_bytes = bytes;
}

static void shard_teardown(struct shard *sh)
{
	if (sh->mt_on)
		memtier_free(&sh->mt);
	sh->mt_on = false;
	iobuf_group_free(&sh->ring, &sh->groups[SHARD_GROUP_VISITOR]);
	iobuf_group_free(&sh->ring, &sh->groups[SHARD_GROUP_ORIGIN]);
	iobuf_group_free(&sh->ring, &sh->groups[SHARD_GROUP_PLAIN]);
	io_uring_queue_exit(&sh->ring);
	iobuf_pool_free(&sh->pool);
}

static int shard_setup(struct shard *sh)
{
	int ret = ring_init(sh);
	if (ret < 0)
		return ret;
	ret = iobuf_group_init(&sh->ring, &sh->groups[SHARD_GROUP_VISITOR],
			       SHARD_GROUP_VISITOR, LIMIT_RECV_BUFS, LIMIT_RECV_BUF_BYTES);
	if (ret == 0)
		ret = iobuf_group_init(&sh->ring, &sh->groups[SHARD_GROUP_ORIGIN],
				       SHARD_GROUP_ORIGIN, LIMIT_ORIGIN_RECV_BUFS,
				       LIMIT_ORIGIN_RECV_BUF_BYTES);
	if (ret == 0)
		ret = iobuf_soft_init(&sh->groups[SHARD_GROUP_PLAIN], LIMIT_TLS_PLAIN_BUFS,
				      LIMIT_TLS_PLAIN_BUF_BYTES);
	/* Blocks: visitor input and response head per visitor, request and
	 * partial head per origin connection, at worst. */
	if (ret == 0)
		ret = iobuf_pool_init(&sh->pool, sh->n_vconns * 2 + sh->n_oconns * 2);
	/* The RAM tier: [cache] memory split across shards. */
	const struct cfg_cache *cc = &sh->rt->cfg->cache;
	if (ret == 0 && sh->store && cc->memory_bytes > 0) {
		ret = memtier_init(&sh->mt, (uint64_t)cc->memory_bytes / sh->srv->n_shards_planned,
				   (uint32_t)cc->chunk_bytes);
		sh->mt_on = ret == 0;
	}
	if (ret < 0) {
		shard_teardown(sh);     /* each part frees only what it set up */
		return ret;
	}
	register_store_bufs(sh);
	update_clocks(sh);
	wheel_init(&sh->wheel, sh->now_ms);
	for (unsigned i = 0; i < sh->n_listen; i++)
		arm_accept(sh, i);
	sh->listening = true;
	arm_wake(sh);
	arm_tick(sh);
	return 0;
}

/* ---- snapshots ---------------------------------------------------------------- */

void shard_rt_unref(struct shard *sh, struct runtime *rt)
{
	assert(rt->shard_refs[sh->id] > 0);
	if (--rt->shard_refs[sh->id] == 0 && rt != sh->rt)
		atomic_fetch_sub(&rt->pending, 1);
}

/* Move new exchanges to the published snapshot; let go of the old one at
 * once if nothing of ours uses it, else when its last exchange ends; and
 * of every snapshot published in between at once (we never used them). */
static void sync_runtime(struct shard *sh)
{
	struct runtime *rt = atomic_load_explicit(&sh->srv->rt, memory_order_acquire);
	struct runtime *old = sh->rt;

	if (rt == old)
		return;
	origin_close_idle(sh);          /* pooled connections belong to old */
	sh->rt = rt;
	sh->scfg = &rt->cfg->server;
	uint64_t delay = server_now_ns() - rt->published_ns;
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
		size_t i = (size_t)(p - (char *)sh->vconns) / sizeof(struct vconn);
		visitor_on_timer(sh, &sh->vconns[i]);
	} else {
		size_t i = (size_t)(p - (char *)sh->oconns) / sizeof(struct oconn);
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
	if (!sh->draining && atomic_load(&sh->srv->draining)) {
		sh->draining = true;
		stop_listening(sh);
		visitor_drain(sh);
		origin_close_idle(sh);
	}
	if (sh->draining && sh->now_ms >= sh->srv->drain_deadline_ms) {
		visitor_close_all(sh);
		origin_close_idle(sh);
	}
	if (sh->draining && sh->vconns_used == 0) {
		origin_close_idle(sh);
		/* Store writes in flight finish first (bounded by the drain
		 * deadline): an object a visitor just got is still committed. */
		bool writes_done = sh->n_wio_free == SHARD_STORE_IOS ||
				   sh->now_ms >= sh->srv->drain_deadline_ms;
		if (sh->oconns_used == 0 && writes_done)
			__atomic_store_n(&sh->stop, true, __ATOMIC_RELEASE);
	}
}

/*
 * When load ends, the visitor slots above the highest one in use go back
 * to the kernel (a slot is ~6 KiB: 8,000 connections held 46 MiB for good)
 * and leave the free list, which is rebuilt lowest index first so new
 * connections pack at the bottom and the top can go at the next period.
 */
static void trim_slots(struct shard *sh)
{
	uint32_t top = sh->vconns_hwm;
	while (top > 0 && sh->vconns[top - 1].state == VC_FREE)
		top--;
	if (top == sh->vconns_hwm)
		return;
	for (uint32_t i = top; i < sh->vconns_hwm; i++)
		if (sh->vconns[i].gen >= sh->vgen_floor)
			sh->vgen_floor = sh->vconns[i].gen + 1;
	sh->vfree = NULL;
	for (uint32_t i = top; i-- > 0;) {
		struct vconn *vc = &sh->vconns[i];
		if (vc->state == VC_FREE) {
			vc->next = sh->vfree;
			sh->vfree = vc;
		}
	}
	size_t page = 4096;
	uintptr_t a = ((uintptr_t)&sh->vconns[top] + page - 1) & ~(page - 1);
	uintptr_t b = (uintptr_t)&sh->vconns[sh->vconns_hwm] & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
	sh->vconns_hwm = top;
}

static void on_tick(struct shard *sh)
{
	wheel_advance(&sh->wheel, sh->now_ms, timer_fired, sh);
	if (sh->parked)
		visitor_parked_tick(sh);
	if (sh->large_wait)
		elarge_tick(sh);
	/* Reclaim first, so the re-armed reads find what it gave back
	 * (it lands when the closed connections' sends are cancelled). */
	if (shard_bufs_low(sh))
		visitor_reclaim(sh);
	if (sh->starved) {
		sh->starved = false;
		visitor_rearm_starved(sh);
		origin_rearm_starved(sh);
	}
	if (sh->now_ms - sh->trim_ms >= LIMIT_HBUF_TRIM_MS) {
		sh->trim_ms = sh->now_ms;
		COUNT_N(sh, hbuf_trimmed, iobuf_pool_trim(&sh->pool, LIMIT_HBUF_TRIM_BLOCKS));
		trim_slots(sh);
	}
	check_drain(sh);
	arm_tick(sh);
}

static void recycle_stale(struct shard *sh, const struct io_uring_cqe *cqe, int group)
{
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		iobuf_group_take(&sh->groups[group], bid);
		iobuf_group_unref(&sh->groups[group], bid);
	}
}

static void dispatch(struct shard *sh, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum shard_op op = shard_ud_op(ud);
	uint32_t slot = shard_ud_slot(ud), gen = shard_ud_gen(ud);

	switch (op) {
	case OP_ACCEPT:
		if (cqe->res >= 0)
			visitor_accept(sh, cqe->res, slot >= sh->n_listen_plain);
		else if (cqe->res != -ECANCELED)
			COUNT(sh, accept_errors);
		if (!(cqe->flags & IORING_CQE_F_MORE) && sh->listening)
			arm_accept(sh, slot);
		break;
	case OP_WAKE:
		sync_runtime(sh);
		check_drain(sh);
		if (!sh->stop)
			arm_wake(sh);
		break;
	case OP_TICK:
		on_tick(sh);
		break;
	case OP_CWRITE:
		ecache_on_write(sh, slot, cqe);
		break;
	case OP_VRECV: case OP_VSEND: case OP_VCLOSE: case OP_CREAD: {
		struct vconn *vc = &sh->vconns[slot];
		assert(slot < sh->n_vconns);
		if (vc->gen != gen || vc->state == VC_FREE) {
			recycle_stale(sh, cqe, SHARD_GROUP_VISITOR);
			break;
		}
		visitor_on_cqe(sh, vc, op, cqe);
		break;
	}
	case OP_ORECV: case OP_OSEND: case OP_OCONNECT: case OP_OLINKTO: case OP_OCLOSE: {
		struct oconn *oc = &sh->oconns[slot];
		assert(slot < sh->n_oconns);
		if (oc->gen != gen || oc->state == OC_FREE) {
			recycle_stale(sh, cqe, SHARD_GROUP_ORIGIN);
			break;
		}
		origin_on_cqe(sh, oc, op, cqe);
		break;
	}
	default:
		recycle_stale(sh, cqe, SHARD_GROUP_VISITOR);
		break;
	}
}

/*
 * Dispatch the completions ready now; returns how many. Two passes: first
 * everything but store reads (new requests prepare their store reads),
 * then the store reads (their hits prepare sends). When both happen, the
 * reads are submitted between the passes. Why: io_uring holds a
 * submission's block I/O in one plug until the whole submission is done,
 * and a send to a loopback client runs the client's receive inline, so
 * reads queued with a batch of sends reached the device only after them
 * (0.9 ms device time per read against fio's 0.3, bench/README.md). One
 * extra io_uring_enter per loop, only in a loop that has both.
 */
static unsigned dispatch_batch(struct shard *sh)
{
	/* Completions posted meanwhile (an inline send during the early
	 * submit) wait for the next loop: count the batch once. */
	unsigned n = io_uring_cq_ready(&sh->ring), head = *sh->ring.cq.khead, later = 0;
	struct io_uring_cqe *cqes = sh->ring.cq.cqes;
	unsigned mask = sh->ring.cq.ring_mask;

	sh->reads_queued = false;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = &cqes[(head + i) & mask];
		if (shard_ud_op(cqe->user_data) == OP_CREAD)
			later++;
		else
			dispatch(sh, cqe);
	}
	if (later == 0)
		return n;
	if (sh->reads_queued) {
		io_uring_submit(&sh->ring);
		COUNT(sh, loop_early_submits);
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = &cqes[(head + i) & mask];
		if (shard_ud_op(cqe->user_data) == OP_CREAD)
			dispatch(sh, cqe);
	}
	return n;
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;

	if (sh->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(sh->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	log_bind_thread(&sh->log_err);
	int ret = shard_setup(sh);
	if (ret < 0) {
		sh->start_error = ret;
		atomic_store(&sh->started, -1);
		return NULL;
	}
	atomic_store(&sh->started, 1);

	unsigned last = 0;
	while (!sh->stop) {
		int r;
		if (last >= SHARD_BUSY_CQES) {
			struct __kernel_timespec ts = { 0, SHARD_BATCH_WAIT_NS };
			struct io_uring_cqe *first;
			r = io_uring_submit_and_wait_timeout(&sh->ring, &first, SHARD_BATCH_CQES,
							     &ts, NULL);
		} else {
			r = io_uring_submit_and_wait(&sh->ring, 1);
		}
		if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) {
			log_error("shard %u: io_uring_submit_and_wait: %s", sh->id, strerror(-r));
			break;
		}
		update_clocks(sh);
		/* Before any handler loads a credentials object: those retired
		 * before this turn may be freed once every shard is past them. */
		snap_reader_enter(&sh->srv->creds_epochs, sh->id);
		/* the coarse clocks above cannot time a loop: two vDSO reads */
		uint64_t busy_from = server_now_ns();
		unsigned n = dispatch_batch(sh);
		io_uring_cq_advance(&sh->ring, n);
		last = n;
		if (sh->owait_n)
			origin_serve_waiting(sh);   /* buffers that batch gave back */
		sync_runtime(sh);
		COUNT(sh, loop_iterations);
		counter_add(sh->ctr, CTR_loop_busy_ns, server_now_ns() - busy_from);
	}
	shard_teardown(sh);
	return NULL;
}

int shard_start(struct shard *sh)
{
	int ret = pthread_create(&sh->thread, NULL, shard_main, sh);
	if (ret != 0)
		return -ret;
	for (int i = 0; i < 5000 && atomic_load(&sh->started) == 0; i++) {
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
	uint64_t one = 1;
	ssize_t n = write(sh->wake_fd, &one, sizeof(one));
	(void)n;
}

void shard_join(struct shard *sh)
{
	pthread_join(sh->thread, NULL);
}
