/* core/wheel.c — see wheel.h. */
#include "core/wheel.h"

#include <assert.h>
#include <stddef.h>

static struct wheel_entry *slot_of(struct wheel *w, uint64_t ms)
{
	return &w->slots[(ms / WHEEL_TICK_MS) & (WHEEL_SLOTS - 1)];
}

void wheel_init(struct wheel *w, uint64_t now_ms)
{
	for (unsigned i = 0; i < WHEEL_SLOTS; i++)
		w->slots[i].next = w->slots[i].prev = &w->slots[i];
	w->last_ms = now_ms;
	w->armed = 0;
}

void wheel_disarm(struct wheel *w, struct wheel_entry *e)
{
	if (!e->next)
		return;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = NULL;
	w->armed--;
}

void wheel_arm(struct wheel *w, struct wheel_entry *e, uint64_t deadline_ms)
{
	wheel_disarm(w, e);
	/* Never file an entry behind the cursor: it would wait a revolution. */
	if (deadline_ms < w->last_ms)
		deadline_ms = w->last_ms;
	struct wheel_entry *head = slot_of(w, deadline_ms);
	e->deadline_ms = deadline_ms;
	e->next = head->next;
	e->prev = head;
	head->next->prev = e;
	head->next = e;
	w->armed++;
}

static unsigned fire_slot(struct wheel *w, struct wheel_entry *head, uint64_t now_ms,
			  void (*fire)(struct wheel_entry *, void *), void *arg)
{
	unsigned n = 0;
	/* Move due entries to a private list first: fire() may re-arm into
	 * this very slot, and must not be seen again in this pass. */
	struct wheel_entry due = { &due, &due, 0 };
	struct wheel_entry *e = head->next;
	while (e != head) {
		struct wheel_entry *next = e->next;
		if (e->deadline_ms <= now_ms) {
			e->prev->next = e->next;
			e->next->prev = e->prev;
			e->next = due.next;
			e->prev = &due;
			due.next->prev = e;
			due.next = e;
		}
		e = next;
	}
	while (due.next != &due) {
		e = due.next;
		due.next = e->next;
		e->next->prev = &due;
		e->next = e->prev = NULL;
		w->armed--;
		fire(e, arg);
		n++;
	}
	return n;
}

unsigned wheel_advance(struct wheel *w, uint64_t now_ms,
		       void (*fire)(struct wheel_entry *, void *), void *arg)
{
	unsigned n = 0;
	if (now_ms < w->last_ms)
		return 0;
	uint64_t from = w->last_ms / WHEEL_TICK_MS;
	uint64_t to = now_ms / WHEEL_TICK_MS;
	if (to - from >= WHEEL_SLOTS)
		from = to - WHEEL_SLOTS + 1;
	w->last_ms = now_ms;
	for (uint64_t t = from; t <= to; t++)
		n += fire_slot(w, &w->slots[t & (WHEEL_SLOTS - 1)], now_ms, fire, arg);
	return n;
}
