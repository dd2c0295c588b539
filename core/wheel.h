/*
 * core/wheel.h — a hashed timing wheel for connection deadlines.
 *
 * Owns: nothing but its slot heads; entries are embedded in the objects
 * they time (intrusive), so arming a timer never allocates.
 * Called by: one shard thread (not thread-safe).
 *
 * Resolution is WHEEL_TICK_MS; an entry whose deadline is more than one
 * revolution away simply stays in its slot and is looked at again a
 * revolution later. Timeouts here are seconds long, so a tick of tens of
 * milliseconds is plenty.
 */
#ifndef EDGECACHE_CORE_WHEEL_H
#define EDGECACHE_CORE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHEEL_TICK_MS  25
#define WHEEL_SLOTS    512     /* power of two: one revolution = 12.8 s */

struct wheel_entry {
	struct wheel_entry *next, *prev;    /* NULL when disarmed */
	uint64_t deadline_ms;
};

struct wheel {
	struct wheel_entry slots[WHEEL_SLOTS];   /* list heads */
	uint64_t last_ms;                        /* time of the last advance */
	uint32_t armed;
};

void wheel_init(struct wheel *w, uint64_t now_ms);

static inline bool wheel_armed(const struct wheel_entry *e)
{
	return e->next != NULL;
}

/* (Re)arm e to fire at deadline_ms. */
void wheel_arm(struct wheel *w, struct wheel_entry *e, uint64_t deadline_ms);
void wheel_disarm(struct wheel *w, struct wheel_entry *e);

/*
 * Fire, in no particular order, every entry due at now_ms: each is
 * disarmed, then fire(e, arg) is called; fire may re-arm or disarm any
 * entry, including e. Returns the number fired.
 */
unsigned wheel_advance(struct wheel *w, uint64_t now_ms,
		       void (*fire)(struct wheel_entry *e, void *arg), void *arg);

#endif
