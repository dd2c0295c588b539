/* cache/refreshed.c — see refreshed.h. Open addressing over
 * LIMIT_REFRESHED_PROBE slots from the key's hash, as cache/collapse.c;
 * each slot has a one-byte spinlock, held while its meta is copied in or
 * out (a few KiB). */
#include "cache/refreshed.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"

enum slot_state { SLOT_FREE = 0, SLOT_WRITING, SLOT_LANDED };

struct slot {
	_Atomic uint8_t lock;
	uint8_t state;                      /* enum slot_state */
	struct cindex_key key;
	uint64_t loc;                       /* the copy it refreshes */
	uint32_t shard, wid;                /* the rewrite */
	uint32_t meta_len;
};

struct refreshed {
	struct slot *s;
	char *meta;                         /* slot i's bytes at i * cap */
	uint32_t cap;
	uint32_t mask;
};

int refreshed_init(struct refreshed **out, uint32_t slots, uint32_t meta_cap)
{
	struct refreshed *t = calloc(1, sizeof(*t));
	uint32_t n = 1;

	while (n < slots)
		n <<= 1;
	/* calloc: pages are touched only by slots that get used. */
	if (!t || !(t->s = calloc(n, sizeof(*t->s))) ||
	    !(t->meta = calloc(n, meta_cap))) {
		refreshed_free(t);
		return -ENOMEM;
	}
	t->cap = meta_cap;
	t->mask = n - 1;
	*out = t;
	return 0;
}

void refreshed_free(struct refreshed *t)
{
	if (!t)
		return;
	free(t->s);
	free(t->meta);
	free(t);
}

static void lock(struct slot *s)
{
	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();     /* held for a meta copy: spin politely */
}

static void unlock(struct slot *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

static bool same(struct cindex_key a, struct cindex_key b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

static struct slot *slot_at(const struct refreshed *t, struct cindex_key key, uint32_t i)
{
	return &t->s[(key.lo + i) & t->mask];
}

/* Whether a put may take slot s, in pass `pass`: the key's own slot first,
 * then a free one, then one whose rewrite has landed. Under s's lock. */
static bool may_take(const struct slot *s, struct cindex_key key, int pass)
{
	switch (pass) {
	case 0:
		return s->state != SLOT_FREE && same(s->key, key);
	case 1:
		return s->state == SLOT_FREE;
	default:
		return s->state == SLOT_LANDED;
	}
}

int refreshed_put(struct refreshed *t, struct cindex_key key, uint64_t loc, uint32_t shard,
		  uint32_t wid, const void *meta, uint32_t meta_len)
{
	if (meta_len > t->cap)
		return -E2BIG;
	for (int pass = 0; pass < 3; pass++) {
		for (uint32_t i = 0; i < LIMIT_REFRESHED_PROBE; i++) {
			struct slot *s = slot_at(t, key, i);

			lock(s);
			if (!may_take(s, key, pass)) {
				unlock(s);
				continue;
			}
			s->state = SLOT_WRITING;
			s->key = key;
			s->loc = loc;
			s->shard = shard;
			s->wid = wid;
			s->meta_len = meta_len;
			memcpy(t->meta + (size_t)(s - t->s) * t->cap, meta, meta_len);
			unlock(s);
			return 0;
		}
	}
	return -ENOSPC;
}

void refreshed_done(struct refreshed *t, struct cindex_key key, uint32_t shard, uint32_t wid,
		    bool landed)
{
	for (uint32_t i = 0; i < LIMIT_REFRESHED_PROBE; i++) {
		struct slot *s = slot_at(t, key, i);

		lock(s);
		bool mine = s->state == SLOT_WRITING && same(s->key, key) &&
			    s->shard == shard && s->wid == wid;
		if (mine)
			s->state = landed ? SLOT_LANDED : SLOT_FREE;
		unlock(s);
		if (mine)
			return;
	}
}

int refreshed_get(struct refreshed *t, struct cindex_key key, uint64_t loc, void *out,
		  uint32_t cap)
{
	for (uint32_t i = 0; i < LIMIT_REFRESHED_PROBE; i++) {
		struct slot *s = slot_at(t, key, i);
		int n = -ENOENT;

		lock(s);
		if (s->state != SLOT_FREE && same(s->key, key) && s->loc == loc &&
		    s->meta_len <= cap) {
			memcpy(out, t->meta + (size_t)(s - t->s) * t->cap, s->meta_len);
			n = (int)s->meta_len;
		}
		unlock(s);
		if (n >= 0)
			return n;
	}
	return -ENOENT;
}
