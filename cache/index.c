/*
 * cache/index.c — the 2-choice set-associative index (contract in
 * cache/index.h).
 *
 * Concurrency: every bucket has a sequence counter and a spinlock. A
 * writer takes the lock, makes the counter odd, stores the entry words
 * with relaxed atomics, makes it even again (release). A reader loads the
 * counter (acquire), copies the words it needs (relaxed), and retries if
 * the counter was odd or changed (a seqlock, as Linux's seqcount). The
 * access bit is set by readers with an atomic OR outside the lock: a lost
 * or misplaced bit only changes an eviction decision.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache/index.h"

#define WORDS (sizeof(struct cindex_entry) / sizeof(uint64_t))
#define FLAGS_WORD 4                        /* expires | meta_blocks | flags */
#define FLAGS_SHIFT 48

struct cindex_bucket {
	uint32_t seq;
	uint32_t lock;
	struct cindex_entry e[CINDEX_WAYS];
} __attribute__((aligned(256)));
_Static_assert(sizeof(struct cindex_bucket) == 256, "bucket is 4 cache lines");

/* ---- words and locks ------------------------------------------------------ */

static void entry_load(const struct cindex_entry *src, struct cindex_entry *dst)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t w[WORDS];

	for (size_t i = 0; i < WORDS; i++)
		w[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	memcpy(dst, w, sizeof(w));
}

static void entry_store(struct cindex_entry *dst, const struct cindex_entry *src)
{
	uint64_t *d = (uint64_t *)dst, w[WORDS];

	memcpy(w, src, sizeof(w));
	for (size_t i = 0; i < WORDS; i++)
		__atomic_store_n(&d[i], w[i], __ATOMIC_RELAXED);
}

static uint8_t entry_flags(const struct cindex_entry *e)
{
	return (uint8_t)(__atomic_load_n(&((const uint64_t *)e)[FLAGS_WORD],
					 __ATOMIC_RELAXED) >> FLAGS_SHIFT);
}

static void lock_bucket(struct cindex_bucket *b)
{
	while (__atomic_exchange_n(&b->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&b->lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void unlock_bucket(struct cindex_bucket *b)
{
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&b->lock, 0, __ATOMIC_RELEASE);
}

/* Two buckets in address order (one if both choices are the same). */
static void lock_pair(struct cindex_bucket *a, struct cindex_bucket *b)
{
	if (a == b) {
		lock_bucket(a);
		return;
	}
	lock_bucket(a < b ? a : b);
	lock_bucket(a < b ? b : a);
}

static void unlock_pair(struct cindex_bucket *a, struct cindex_bucket *b)
{
	unlock_bucket(a);
	if (a != b)
		unlock_bucket(b);
}

static bool key_eq(struct cindex_key a, struct cindex_key b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

static void choices(const struct cindex *ix, struct cindex_key k,
		    struct cindex_bucket **b0, struct cindex_bucket **b1)
{
	*b0 = &ix->b[k.lo & ix->mask];
	*b1 = &ix->b[(k.hi ^ (k.hi >> 29)) & ix->mask];
}

/* ---- init ----------------------------------------------------------------- */

int cindex_init(struct cindex *ix, uint64_t objects)
{
	uint64_t want, n = 1;

	memset(ix, 0, sizeof(*ix));
	if (objects == 0 || objects > (1ull << 40))
		return -EINVAL;
	want = (objects * 100 / CINDEX_LOAD_PCT + CINDEX_WAYS - 1) / CINDEX_WAYS;
	while (n < want)
		n <<= 1;
	ix->b = aligned_alloc(sizeof(struct cindex_bucket), n * sizeof(struct cindex_bucket));
	if (!ix->b)
		return -ENOMEM;
	memset(ix->b, 0, n * sizeof(struct cindex_bucket));
	ix->n_buckets = n;
	ix->mask = n - 1;
	ix->magic = CINDEX_MAGIC;
	return 0;
}

void cindex_free(struct cindex *ix)
{
	if (!ix || ix->magic != CINDEX_MAGIC)
		return;
	free(ix->b);
	ix->b = NULL;
	ix->magic = 0;
}

size_t cindex_bytes(const struct cindex *ix)
{
	return ix->n_buckets * sizeof(struct cindex_bucket);
}

double cindex_bytes_per_object(void)
{
	return (double)sizeof(struct cindex_bucket) / CINDEX_WAYS * 100.0 / CINDEX_LOAD_PCT;
}

/* ---- lookup --------------------------------------------------------------- */

/* One bucket, lock-free: 1 found, 0 not, -EAGAIN a writer raced. */
static int bucket_get(struct cindex_bucket *b, struct cindex_key k, bool touch,
		      struct cindex_entry *out)
{
	uint32_t s = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	int found = 0;

	if (s & 1)
		return -EAGAIN;
	for (unsigned i = 0; i < CINDEX_WAYS && !found; i++) {
		struct cindex_entry *e = &b->e[i];

		if (__atomic_load_n(&e->key.lo, __ATOMIC_RELAXED) != k.lo ||
		    __atomic_load_n(&e->key.hi, __ATOMIC_RELAXED) != k.hi)
			continue;
		entry_load(e, out);
		found = (out->flags & CINDEX_F_USED) != 0;
		if (found && touch && !(out->flags & CINDEX_F_ACCESS))
			__atomic_fetch_or(&((uint64_t *)e)[FLAGS_WORD],
					  (uint64_t)CINDEX_F_ACCESS << FLAGS_SHIFT,
					  __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&b->seq, __ATOMIC_RELAXED) != s)
		return -EAGAIN;
	return found;
}

int cindex_get(struct cindex *ix, struct cindex_key key, bool touch,
	       struct cindex_entry *out)
{
	struct cindex_bucket *b[2];
	int r;

	assert(ix->magic == CINDEX_MAGIC);
	choices(ix, key, &b[0], &b[1]);
	for (int i = 0; i < 2; i++) {
		while ((r = bucket_get(b[i], key, touch, out)) == -EAGAIN) {
			__atomic_fetch_add(&ix->retries, 1, __ATOMIC_RELAXED);
			__builtin_ia32_pause();
		}
		if (r == 1)
			return 0;
	}
	return -ENOENT;
}

/* ---- writes (both buckets locked) ----------------------------------------- */

static struct cindex_entry *find_locked(struct cindex_bucket *b0, struct cindex_bucket *b1,
					struct cindex_key k)
{
	struct cindex_bucket *b[2] = { b0, b1 };

	for (int j = 0; j < 2; j++)
		for (unsigned i = 0; i < CINDEX_WAYS; i++)
			if ((entry_flags(&b[j]->e[i]) & CINDEX_F_USED) &&
			    key_eq(b[j]->e[i].key, k))
				return &b[j]->e[i];
	return NULL;
}

static unsigned used(const struct cindex_bucket *b, struct cindex_entry **free_slot)
{
	unsigned n = 0;

	*free_slot = NULL;
	for (unsigned i = 0; i < CINDEX_WAYS; i++) {
		if (entry_flags(&b->e[i]) & CINDEX_F_USED)
			n++;
		else if (!*free_slot)
			*free_slot = (struct cindex_entry *)&b->e[i];
	}
	return n;
}

/* Both buckets full: the entry to give up. */
static struct cindex_entry *pick_victim(struct cindex_bucket *b0, struct cindex_bucket *b1,
					cindex_stale_fn *stale, void *arg)
{
	struct cindex_bucket *b[2] = { b0, b1 };

	for (int j = 0; stale && j < 2; j++)
		for (unsigned i = 0; i < CINDEX_WAYS; i++)
			if (stale(arg, &b[j]->e[i]))
				return &b[j]->e[i];
	for (int j = 0; j < 2; j++)
		for (unsigned i = 0; i < CINDEX_WAYS; i++)
			if (!(entry_flags(&b[j]->e[i]) & CINDEX_F_ACCESS))
				return &b[j]->e[i];
	return &b0->e[0];
}

int cindex_put(struct cindex *ix, const struct cindex_entry *e,
	       cindex_stale_fn *stale, void *arg, struct cindex_entry *victim)
{
	struct cindex_bucket *b0, *b1;
	struct cindex_entry *slot, *f0, *f1, copy = *e;
	int rc = 0;

	assert(ix->magic == CINDEX_MAGIC);
	copy.flags |= CINDEX_F_USED;
	choices(ix, e->key, &b0, &b1);
	lock_pair(b0, b1);
	slot = find_locked(b0, b1, e->key);
	if (!slot) {
		unsigned n0 = used(b0, &f0), n1 = used(b1, &f1);

		slot = n0 <= n1 ? f0 : f1;
		slot = slot ? slot : (n0 <= n1 ? f1 : f0);
		if (slot) {
			__atomic_fetch_add(&ix->n, 1, __ATOMIC_RELAXED);
		} else {
			slot = pick_victim(b0, b1, stale, arg);
			if (victim)
				entry_load(slot, victim);
			__atomic_fetch_add(&ix->displaced, 1, __ATOMIC_RELAXED);
			rc = 1;
		}
	}
	entry_store(slot, &copy);
	unlock_pair(b0, b1);
	return rc;
}

/* Under the pair's locks: the key's entry if its loc matches. */
static struct cindex_entry *lock_match(struct cindex *ix, struct cindex_key key,
				       uint64_t loc, struct cindex_bucket **b0,
				       struct cindex_bucket **b1)
{
	struct cindex_entry *e;

	assert(ix->magic == CINDEX_MAGIC);
	choices(ix, key, b0, b1);
	lock_pair(*b0, *b1);
	e = find_locked(*b0, *b1, key);
	if (e && loc != CINDEX_LOC_ANY && e->loc != loc)
		e = NULL;
	return e;
}

int cindex_del(struct cindex *ix, struct cindex_key key, uint64_t loc)
{
	static const struct cindex_entry empty;
	struct cindex_bucket *b0, *b1;
	struct cindex_entry *e = lock_match(ix, key, loc, &b0, &b1);

	if (e) {
		entry_store(e, &empty);
		__atomic_fetch_sub(&ix->n, 1, __ATOMIC_RELAXED);
	}
	unlock_pair(b0, b1);
	return e ? 0 : -ENOENT;
}

int cindex_clear_access(struct cindex *ix, struct cindex_key key, uint64_t loc)
{
	struct cindex_bucket *b0, *b1;
	struct cindex_entry *e = lock_match(ix, key, loc, &b0, &b1);
	uint64_t old = 0;

	if (e)
		old = __atomic_fetch_and(&((uint64_t *)e)[FLAGS_WORD],
					 ~((uint64_t)CINDEX_F_ACCESS << FLAGS_SHIFT),
					 __ATOMIC_RELAXED);
	unlock_pair(b0, b1);
	if (!e)
		return -ENOENT;
	return (old >> FLAGS_SHIFT) & CINDEX_F_ACCESS ? 1 : 0;
}

/* ---- prefixes and walks --------------------------------------------------- */

static uint16_t prefix_hash(const char *text, size_t len)
{
	uint16_t h = (uint16_t)XXH3_64bits(text, len);

	return h ? h : 1;                   /* 0 means "no such depth" */
}

void cindex_prefixes(const char *text, size_t len,
		     uint16_t out[LIMIT_CINDEX_PREFIX_DEPTH])
{
	unsigned d = 0;

	memset(out, 0, LIMIT_CINDEX_PREFIX_DEPTH * sizeof(out[0]));
	for (size_t i = 0; i < len && d < LIMIT_CINDEX_PREFIX_DEPTH; i++)
		if (text[i] == '/')
			out[d++] = prefix_hash(text, i + 1);
}

static long purge_bucket(struct cindex *ix, struct cindex_bucket *b, unsigned d,
			 uint16_t h)
{
	static const struct cindex_entry empty;
	long n = 0;

	lock_bucket(b);
	for (unsigned i = 0; i < CINDEX_WAYS; i++) {
		if ((entry_flags(&b->e[i]) & CINDEX_F_USED) && b->e[i].prefix[d] == h) {
			entry_store(&b->e[i], &empty);
			n++;
		}
	}
	unlock_bucket(b);
	__atomic_fetch_sub(&ix->n, (uint64_t)n, __ATOMIC_RELAXED);
	return n;
}

long cindex_purge_prefix(struct cindex *ix, const char *prefix, size_t len)
{
	unsigned d = 0;
	size_t cut = 0;
	uint16_t h;
	long n = 0;

	assert(ix->magic == CINDEX_MAGIC);
	if (len == 0 || prefix[len - 1] != '/')
		return -EINVAL;
	for (size_t i = 0; i < len && d < LIMIT_CINDEX_PREFIX_DEPTH; i++)
		if (prefix[i] == '/') {
			d++;
			cut = i + 1;
		}
	h = prefix_hash(prefix, cut);
	for (uint64_t i = 0; i < ix->n_buckets; i++)
		n += purge_bucket(ix, &ix->b[i], d - 1, h);
	return n;
}

int cindex_walk(struct cindex *ix, int (*fn)(void *arg, const struct cindex_entry *e),
		void *arg)
{
	struct cindex_entry copy[CINDEX_WAYS];

	assert(ix->magic == CINDEX_MAGIC);
	for (uint64_t i = 0; i < ix->n_buckets; i++) {
		struct cindex_bucket *b = &ix->b[i];
		int rc;

		lock_bucket(b);             /* a consistent copy, then no lock held in fn */
		for (unsigned w = 0; w < CINDEX_WAYS; w++)
			entry_load(&b->e[w], &copy[w]);
		unlock_bucket(b);
		for (unsigned w = 0; w < CINDEX_WAYS; w++)
			if ((copy[w].flags & CINDEX_F_USED) && (rc = fn(arg, &copy[w])))
				return rc;
	}
	return 0;
}
