/*
 * core/loop.h — one thread's event loop: an io_uring ring, and the table
 * of completion handlers the modules above register at start.
 *
 * Owns: the ring; the wake eventfd; the tick (a WHEEL_TICK_MS timeout)
 * and its timer wheel; the cached clocks and IMF-fixdate; the thread's
 * counters and log rings; the table op → handler, the tick hooks and the
 * batch hooks.
 * Called by: its own thread only, except loop_create / loop_destroy /
 * loop_wake and reading counters and draining logs (control thread). The
 * clock functions (loop_now_*) on any thread.
 * Never: blocks but in io_uring_submit_and_wait; knows what a slot is (a
 * module's handler does), names a module above core/, or frees memory a
 * completion may still write (the handlers own their slots).
 *
 * Completion routing (liburing's examples/proxy.c): user_data = op (8 bits)
 * | slot (24 bits) | slot generation (32 bits), never a pointer. The loop
 * reads the op, asks the op's handler whether slot/gen is still live (a
 * late completion for a reused slot is not) and hands it the completion,
 * or its on_stale when it is not. Ops below LOOP_OP__FIRST are the loop's
 * own; a module numbers its ops from LOOP_OP__FIRST (edge/shard.h).
 */
#ifndef EDGECACHE_CORE_LOOP_H
#define EDGECACHE_CORE_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/wheel.h"

enum loop_op {
	LOOP_OP_NONE = 0,   /* also the fallback for an op nobody registered */
	LOOP_OP_WAKE,       /* the eventfd read */
	LOOP_OP_TICK,       /* the tick timeout */
	LOOP_OP_IGNORE,     /* a completion with nothing to do (cancel, close) */
	LOOP_OP__FIRST,     /* the first op a module may register */
};                      /* modules' ops stay below LIMIT_LOOP_OPS (core/limits.h) */

static inline uint64_t loop_ud(unsigned op, uint32_t slot, uint32_t gen)
{
	return (uint64_t)op << 56 | (uint64_t)(slot & 0xffffff) << 32 | gen;
}
static inline unsigned loop_ud_op(uint64_t ud) { return (unsigned)(ud >> 56); }
static inline uint32_t loop_ud_slot(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffff; }
static inline uint32_t loop_ud_gen(uint64_t ud) { return (uint32_t)ud; }

/*
 * What a module registers for one op. live (optional) is the generation
 * check: false → on_stale (optional: give back a buffer the completion
 * carries) instead of on_cqe. A `late` op is dispatched after the others
 * of the same batch, with what they queued submitted first (store reads:
 * see loop_dispatch in core/loop.c).
 */
struct loop_handler {
	void (*on_cqe)(void *arg, unsigned op, uint32_t slot, const struct io_uring_cqe *cqe);
	bool (*live)(void *arg, uint32_t slot, uint32_t gen);
	void (*on_stale)(void *arg, const struct io_uring_cqe *cqe);
	void *arg;
	bool late;
};

struct loop_hook {
	void (*fn)(void *arg);
	void *arg;
};

#define LOOP_MAGIC 0x4c4f4f50u

struct loop {
	uint32_t magic;
	unsigned id;                        /* for logs: the shard's index */
	struct io_uring ring;
	unsigned ring_flags;
	int wake_fd;
	uint64_t wake_buf;
	struct __kernel_timespec tick_ts;
	struct wheel wheel;
	uint64_t now_ms;                    /* monotonic (coarse), stored per turn: also the
					     * watchdog's heartbeat (control/sdnotify.h) */
	uint64_t unix_ms;                   /* realtime, updated per loop */
	int64_t date_sec;
	char date[30];                      /* cached IMF-fixdate */
	bool reads_queued;                  /* reads prepared, not submitted yet */
	/* Adaptive wait (loop.c): when the last batch began, and the
	 * completions expected per batch window at the recent rate, x16. */
	uint64_t batch_at_ns;
	uint32_t batch_expect16;
	bool stop;                          /* set by a hook: loop_run returns */
	/* The reclamation domain this loop reads from (core/snapshot.h), or
	 * NULL: the loop announces its epoch at the top of every turn, before
	 * any handler can load a published pointer. */
	struct snap_domain *snap;

	struct loop_handler handlers[LIMIT_LOOP_OPS];
	/* Wheel entries are embedded in modules' slots: the one timer
	 * callback finds whose entry fired. */
	void (*on_timer)(struct wheel_entry *e, void *arg);
	void *timer_arg;
	struct loop_hook tick[LIMIT_LOOP_HOOKS];  /* each tick, after the wheel, in order */
	unsigned n_tick;
	struct loop_hook wake[LIMIT_LOOP_HOOKS];  /* each eventfd wake-up */
	unsigned n_wake;
	struct loop_hook batch[LIMIT_LOOP_HOOKS]; /* after each batch of completions */
	unsigned n_batch;

	uint64_t ctr[LIMIT_COUNTERS];        /* every registered block (core/counters.h) */
	struct log_ring log_err;
	struct log_ring log_access;
};

/* Control thread: the eventfd and the log rings (nothing else runs yet).
 * 0 or -errno; loop_destroy frees what was made either way. */
int loop_create(struct loop *lp, unsigned id);
void loop_destroy(struct loop *lp);

/* Loop thread: the ring (the best flags the kernel has: ring_detect, in
 * core/ring.h, must have run), the clocks, the wheel. 0 or -errno.
 * loop_close undoes it. */
int loop_open(struct loop *lp);
void loop_close(struct loop *lp);

/* Loop thread, before loop_run: register what a module handles. */
void loop_register(struct loop *lp, unsigned op, const struct loop_handler *h);
void loop_on_timer(struct loop *lp, void (*fn)(struct wheel_entry *, void *), void *arg);
void loop_add_tick(struct loop *lp, void (*fn)(void *), void *arg);
void loop_add_wake(struct loop *lp, void (*fn)(void *), void *arg);
void loop_add_batch(struct loop *lp, void (*fn)(void *), void *arg);

/* Loop thread: arm the wake-up read and the tick, then wait and dispatch
 * until lp->stop. Returns 0, or -errno if io_uring failed. */
int loop_run(struct loop *lp);

/* Any thread: make the loop run its wake hooks (eventfd write, never
 * blocks). */
void loop_wake(struct loop *lp);

/* Loop thread: an SQE, submitting first if the queue is full. */
struct io_uring_sqe *loop_sqe(struct loop *lp);

/* Loop thread: a read was prepared that should reach the device before
 * the sends this batch prepares (see loop_dispatch). */
static inline void loop_read_queued(struct loop *lp)
{
	lp->reads_queued = true;
}

uint64_t loop_now_ms(void);             /* CLOCK_MONOTONIC, ms */
uint64_t loop_now_ns(void);             /* CLOCK_MONOTONIC, ns (vDSO: any thread) */
uint64_t loop_unix_ms(void);            /* CLOCK_REALTIME, ms */

#endif /* EDGECACHE_CORE_LOOP_H */
