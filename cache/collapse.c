/* cache/collapse.c — see collapse.h. Open addressing over LIMIT_COLLAPSE_PROBE
 * slots from the key's hash; each slot has a one-byte spinlock, held for a
 * few loads and stores only. */
#include "cache/collapse.h"

#include <errno.h>
#include <stdlib.h>

#include "core/limits.h"

struct slot {
	_Atomic uint8_t lock;
	bool used;
	struct cindex_key key;
	struct collapse_leader leader;
	uint64_t stamp;                     /* invalidation tables; claims: progress */
};

struct collapse {
	struct slot *s;
	uint32_t mask;
};

int collapse_init(struct collapse **out, uint32_t slots)
{
	struct collapse *t = calloc(1, sizeof(*t));
	/* Two windows that share slots must lock them in the same order:
	 * true when they cannot go round the table together. */
	uint32_t n = 2 * LIMIT_COLLAPSE_PROBE;
	while (n < slots)
		n <<= 1;
	if (!t || !(t->s = calloc(n, sizeof(*t->s)))) {
		free(t);
		return -ENOMEM;
	}
	t->mask = n - 1;
	*out = t;
	return 0;
}

void collapse_free(struct collapse *t)
{
	if (t)
		free(t->s);
	free(t);
}

static void lock(struct slot *s)
{
	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void unlock(struct slot *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

static bool same(struct cindex_key a, struct cindex_key b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

/* The probe window is locked as a whole, in ring order from the key's
 * slot: the check that nobody holds the key and the reservation are one
 * step (two claimants that each reserved a different free slot of the
 * window both led, when the window was locked slot by slot). Any two
 * windows that share slots lock them in the same order (the table is at
 * least two windows long): no deadlock. */
int collapse_claim(struct collapse *t, struct cindex_key key, const struct collapse_leader *me,
		   struct collapse_leader *leader)
{
	struct slot *w[LIMIT_COLLAPSE_PROBE], *free_slot = NULL;
	int r = -ENOSPC;

	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		w[i] = &t->s[(key.lo + i) & t->mask];
		lock(w[i]);
	}
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE && r != 1; i++) {
		if (w[i]->used && same(w[i]->key, key)) {
			*leader = w[i]->leader;
			r = 1;
		} else if (!w[i]->used && !free_slot) {
			free_slot = w[i];
		}
	}
	if (r != 1 && free_slot) {
		free_slot->used = true;
		free_slot->key = key;
		free_slot->leader = *me;
		free_slot->stamp = 0;
		r = 0;
	}
	for (uint32_t i = LIMIT_COLLAPSE_PROBE; i-- > 0;)
		unlock(w[i]);
	return r;
}

void collapse_release(struct collapse *t, struct cindex_key key)
{
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		if (s->used && same(s->key, key)) {
			s->used = false;
			unlock(s);
			return;
		}
		unlock(s);
	}
}

void collapse_stamp(struct collapse *t, struct cindex_key key, uint64_t ms)
{
	struct slot *oldest = NULL;

	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		if (!s->used || same(s->key, key)) {
			s->used = true;
			s->key = key;
			s->stamp = ms;
			unlock(s);
			return;
		}
		if (!oldest || s->stamp < oldest->stamp)
			oldest = s;
		unlock(s);
	}
	lock(oldest);
	oldest->key = key;
	oldest->stamp = ms;
	unlock(oldest);
}

bool collapse_stamped_since(struct collapse *t, struct cindex_key key, uint64_t ms)
{
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		bool hit = s->used && same(s->key, key) && s->stamp >= ms;
		unlock(s);
		if (hit)
			return true;
	}
	return false;
}

bool collapse_active(struct collapse *t, struct cindex_key key)
{
	uint64_t ms;
	return collapse_active_since(t, key, &ms);
}

void collapse_touch(struct collapse *t, struct cindex_key key, uint64_t ms)
{
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		bool hit = s->used && same(s->key, key);
		if (hit)
			s->stamp = ms;
		unlock(s);
		if (hit)
			return;
	}
}

bool collapse_active_since(struct collapse *t, struct cindex_key key, uint64_t *ms)
{
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		bool hit = s->used && same(s->key, key);
		if (hit)
			*ms = s->stamp;
		unlock(s);
		if (hit)
			return true;
	}
	return false;
}
