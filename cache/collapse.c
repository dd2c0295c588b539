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
	uint32_t n = 1;
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

int collapse_claim(struct collapse *t, struct cindex_key key, const struct collapse_leader *me,
		   struct collapse_leader *leader)
{
	struct slot *free_slot = NULL;

	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		if (s->used && same(s->key, key)) {
			*leader = s->leader;
			unlock(s);
			if (free_slot) {
				/* Give back the slot reserved on the way: someone leads
				 * already. (A claimant that saw the reservation meanwhile
				 * finds no leader behind it and waits like any other.) */
				lock(free_slot);
				free_slot->used = false;
				unlock(free_slot);
			}
			return 1;
		}
		if (!s->used && !free_slot) {
			s->used = true;     /* reserve it while we look further */
			s->key = key;
			s->leader = *me;
			s->stamp = 0;
			free_slot = s;
		}
		unlock(s);
	}
	return free_slot ? 0 : -ENOSPC;
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
	for (uint32_t i = 0; i < LIMIT_COLLAPSE_PROBE; i++) {
		struct slot *s = &t->s[(key.lo + i) & t->mask];
		lock(s);
		bool hit = s->used && same(s->key, key);
		unlock(s);
		if (hit)
			return true;
	}
	return false;
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
