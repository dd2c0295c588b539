/*
 * core/loop.c — the ring, its set-up, the wait and the dispatch through
 * the registered handlers (see loop.h). Everything here is generic: the
 * protocol work is in the handlers (edge/shard.c registers them).
 */
#include "core/loop.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/http_msg.h"
#include "core/limits.h"
#include "core/ring.h"

#define LOOP_LOG_RING_BYTES (1u << 20)
/*
 * Adaptive wait: interrupt coalescing, as a NIC does it. Every wake-up of
 * the shard costs a context switch, a cross-CPU wake from the core that
 * completed the I/O and a cache gone cold; with DEFER_TASKRUN the kernel
 * wakes a waiter only once `wait_nr` completions are ready. So the loop
 * asks for the completions it expects within LOOP_BATCH_WAIT_NS at the
 * rate they have been arriving (a moving average), at most one per two
 * open visitor connections (or open exchanges, when HTTP/2 streams
 * outnumber them) and LOOP_BATCH_CQES, and waits at most that
 * long; expecting fewer than LOOP_BUSY_CQES it waits for one, with no
 * timer: a quiet loop adds no latency. The rate, not the size of
 * the last batch, decides: a loop that keeps up sees small batches at any
 * load, and the former rule (batch after an iteration of >= 4) woke it for
 * nearly every completion at 64 busy connections — up to 1.7 waits per
 * pass-through request (bench/results/2026-12-07-passthrough.md).
 */
#define LOOP_BUSY_CQES       4
#define LOOP_BATCH_CQES      64
#define LOOP_BATCH_WAIT_NS   100000
/* Why half: clients that wait on us send nothing more, so asking for a
 * completion per connection waits out the window, and the shard and its
 * peers then run in lock-step waves (4 connections: half the requests per
 * second, p50 +150 µs with a 200 µs window); half keeps the other half of
 * the pipeline moving, and below 8 connections the loop waits for one. */
#define LOOP_BATCH_CONNS_DIV 2

uint64_t loop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void)
{
	return loop_now_ns() / 1000000;
}

uint64_t loop_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct io_uring_sqe *loop_sqe(struct loop *lp)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&lp->ring);
	while (!sqe) {
		io_uring_submit(&lp->ring);
		sqe = io_uring_get_sqe(&lp->ring);
	}
	return sqe;
}

static void update_clocks(struct loop *lp)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	/* atomic: the control thread reads it as the shard's heartbeat */
	__atomic_store_n(&lp->now_ms, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
			 __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	lp->unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (ts.tv_sec != lp->date_sec) {
		lp->date_sec = ts.tv_sec;
		http1_format_date(ts.tv_sec, lp->date);
	}
}

/* ---- creation (control thread) -------------------------------------------- */

int loop_create(struct loop *lp, unsigned id)
{
	lp->magic = LOOP_MAGIC;
	lp->id = id;
	lp->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (lp->wake_fd < 0)
		return -errno;
	if (log_ring_init(&lp->log_err, LOOP_LOG_RING_BYTES, &lp->ctr[CTR_log_dropped]) < 0 ||
	    log_ring_init(&lp->log_access, LOOP_LOG_RING_BYTES, &lp->ctr[CTR_log_dropped]) < 0)
		return -ENOMEM;
	return 0;
}

void loop_destroy(struct loop *lp)
{
	if (lp->magic != LOOP_MAGIC)
		return;                 /* never created */
	if (lp->wake_fd >= 0)
		close(lp->wake_fd);
	lp->wake_fd = -1;
	log_ring_free(&lp->log_err);
	log_ring_free(&lp->log_access);
}

/* ---- ring set-up (loop thread) ------------------------------------------- */

int loop_open(struct loop *lp)
{
	assert(lp->magic == LOOP_MAGIC);
	/* The best flags the kernel has (core/ring.c detected them once). */
	unsigned flags = IORING_SETUP_SUBMIT_ALL;
	const char *name = "plain";
	if (ring_has(RING_DEFER_TASKRUN)) {
		flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
		name = "SINGLE_ISSUER|DEFER_TASKRUN";
	} else if (ring_has(RING_SINGLE_ISSUER)) {
		flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
		name = "SINGLE_ISSUER|COOP_TASKRUN";
	}
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CQSIZE;
	p.cq_entries = LIMIT_RING_ENTRIES * 4;
	int ret = io_uring_queue_init_params(LIMIT_RING_ENTRIES, &lp->ring, &p);
	if (ret < 0)
		return ret;
	lp->ring_flags = flags;
	if (lp->id == 0)
		log_info("io_uring: %s, %u entries", name, LIMIT_RING_ENTRIES);
	update_clocks(lp);
	wheel_init(&lp->wheel, lp->now_ms);
	return 0;
}

void loop_close(struct loop *lp)
{
	io_uring_queue_exit(&lp->ring);
}

/* ---- registration ------------------------------------------------------------ */

void loop_register(struct loop *lp, unsigned op, const struct loop_handler *h)
{
	assert(op < LIMIT_LOOP_OPS && h->on_cqe);
	lp->handlers[op] = *h;
}

void loop_on_timer(struct loop *lp, void (*fn)(struct wheel_entry *, void *), void *arg)
{
	lp->on_timer = fn;
	lp->timer_arg = arg;
}

static void add_hook(struct loop_hook *hooks, unsigned *n, void (*fn)(void *), void *arg)
{
	assert(*n < LIMIT_LOOP_HOOKS);
	hooks[*n].fn = fn;
	hooks[(*n)++].arg = arg;
}

void loop_add_tick(struct loop *lp, void (*fn)(void *), void *arg)
{
	add_hook(lp->tick, &lp->n_tick, fn, arg);
}

void loop_add_wake(struct loop *lp, void (*fn)(void *), void *arg)
{
	add_hook(lp->wake, &lp->n_wake, fn, arg);
}

void loop_add_batch(struct loop *lp, void (*fn)(void *), void *arg)
{
	add_hook(lp->batch, &lp->n_batch, fn, arg);
}

static void run_hooks(const struct loop_hook *hooks, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		hooks[i].fn(hooks[i].arg);
}

/* ---- the loop --------------------------------------------------------------- */

static void arm_wake(struct loop *lp)
{
	struct io_uring_sqe *sqe = loop_sqe(lp);
	io_uring_prep_read(sqe, lp->wake_fd, &lp->wake_buf, sizeof(lp->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_WAKE, 0, 0));
}

static void arm_tick(struct loop *lp)
{
	struct io_uring_sqe *sqe = loop_sqe(lp);
	lp->tick_ts.tv_sec = 0;
	lp->tick_ts.tv_nsec = WHEEL_TICK_MS * 1000000LL;
	io_uring_prep_timeout(sqe, &lp->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_TICK, 0, 0));
}

static void on_tick(struct loop *lp)
{
	if (lp->on_timer)
		wheel_advance(&lp->wheel, lp->now_ms, lp->on_timer, lp->timer_arg);
	run_hooks(lp->tick, lp->n_tick);
	arm_tick(lp);
}

static void dispatch(struct loop *lp, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	unsigned op = loop_ud_op(ud);
	uint32_t slot = loop_ud_slot(ud);

	switch (op) {
	case LOOP_OP_WAKE:
		run_hooks(lp->wake, lp->n_wake);
		if (!lp->stop)
			arm_wake(lp);
		return;
	case LOOP_OP_TICK:
		on_tick(lp);
		return;
	default:
		break;
	}
	const struct loop_handler *h = op < LIMIT_LOOP_OPS ? &lp->handlers[op] : NULL;
	if (!h || !h->on_cqe)
		h = &lp->handlers[LOOP_OP_NONE];
	if (!h->on_cqe)
		return;
	if (h->live && !h->live(h->arg, slot, loop_ud_gen(ud))) {
		if (h->on_stale)
			h->on_stale(h->arg, cqe);
		return;
	}
	h->on_cqe(h->arg, op, slot, cqe);
}

static bool is_late(const struct loop *lp, const struct io_uring_cqe *cqe)
{
	unsigned op = loop_ud_op(cqe->user_data);
	return op < LIMIT_LOOP_OPS && lp->handlers[op].late;
}

/*
 * Dispatch the completions ready now; returns how many. Two passes: first
 * everything but the late ops (new requests prepare their store reads),
 * then the late ones (store reads: their hits prepare sends). When both
 * happen, the reads are submitted between the passes. Why: io_uring holds
 * a submission's block I/O in one plug until the whole submission is done,
 * and a send to a loopback client runs the client's receive inline, so
 * reads queued with a batch of sends reached the device only after them
 * (0.9 ms device time per read against fio's 0.3, bench/README.md). One
 * extra io_uring_enter per loop, only in a loop that has both.
 */
static unsigned loop_dispatch(struct loop *lp)
{
	/* Completions posted meanwhile (an inline send during the early
	 * submit) wait for the next loop: count the batch once. */
	unsigned n = io_uring_cq_ready(&lp->ring), head = *lp->ring.cq.khead, later = 0;
	struct io_uring_cqe *cqes = lp->ring.cq.cqes;
	unsigned mask = lp->ring.cq.ring_mask;

	lp->reads_queued = false;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = &cqes[(head + i) & mask];
		if (is_late(lp, cqe))
			later++;
		else
			dispatch(lp, cqe);
	}
	if (later == 0)
		return n;
	if (lp->reads_queued) {
		io_uring_submit(&lp->ring);
		counters_add(lp->ctr, CTR_loop_early_submits, 1);
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = &cqes[(head + i) & mask];
		if (is_late(lp, cqe))
			dispatch(lp, cqe);
	}
	return n;
}

/*
 * How many completions to wait for: those expected within one batch window
 * at the rate of this batch (n since the last began), averaged over the
 * last few (x16 fixed point, weight 1/4), at most one per
 * LOOP_BATCH_CONNS_DIV open visitor connections or exchanges, whichever
 * are more.
 */
static unsigned batch_want(struct loop *lp, unsigned n, uint64_t now_ns)
{
	uint64_t dt = now_ns - lp->batch_at_ns;
	uint64_t cap16 = 16 * (uint64_t)LOOP_BATCH_CQES;
	uint64_t x16 = dt > 0 ? 16 * (uint64_t)n * LOOP_BATCH_WAIT_NS / dt : cap16;

	lp->batch_at_ns = now_ns;
	if (x16 > cap16)
		x16 = cap16;
	lp->batch_expect16 = (uint32_t)(((uint64_t)lp->batch_expect16 * 3 + x16) / 4);
	uint64_t want = lp->batch_expect16 / 16;
	uint64_t conns = lp->ctr[CTR_conns_open], exchanges = lp->ctr[CTR_exchanges_open];
	uint64_t bound = (conns > exchanges ? conns : exchanges) / LOOP_BATCH_CONNS_DIV;
	return (unsigned)(want < bound ? want : bound);
}

int loop_run(struct loop *lp)
{
	unsigned want = 1;

	arm_wake(lp);
	arm_tick(lp);
	lp->batch_at_ns = loop_now_ns();
	lp->batch_expect16 = 0;
	while (!lp->stop) {
		int r;
		if (want >= LOOP_BUSY_CQES) {
			struct __kernel_timespec ts = { 0, LOOP_BATCH_WAIT_NS };
			struct io_uring_cqe *first;
			r = io_uring_submit_and_wait_timeout(&lp->ring, &first, want, &ts, NULL);
		} else {
			r = io_uring_submit_and_wait(&lp->ring, 1);
		}
		if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) {
			log_error("loop %u: io_uring_submit_and_wait: %s", lp->id, strerror(-r));
			return r;
		}
		update_clocks(lp);
		if (lp->snap)
			snap_reader_enter(lp->snap, lp->id);
		/* the coarse clocks above cannot time a loop: two vDSO reads */
		uint64_t busy_from = loop_now_ns();
		unsigned n = loop_dispatch(lp);
		io_uring_cq_advance(&lp->ring, n);
		want = batch_want(lp, n, busy_from);
		run_hooks(lp->batch, lp->n_batch);
		counters_add(lp->ctr, CTR_loop_iterations, 1);
		counters_add(lp->ctr, CTR_loop_busy_ns, loop_now_ns() - busy_from);
	}
	return 0;
}

void loop_wake(struct loop *lp)
{
	uint64_t one = 1;
	ssize_t n = write(lp->wake_fd, &one, sizeof(one));
	(void)n;
}
