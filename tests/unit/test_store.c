/*
 * tests/unit/test_store.c — the disk store on real O_DIRECT files in a
 * mkdtemp directory under /var/tmp (ext4 here; skip 77 where O_DIRECT
 * does not work): write/read of small and chunked objects, ranges,
 * restart from a checkpoint and after a SIGKILL-style stop (no
 * checkpoint), wrap-around, stale entries, FIFO eviction and copy-forward
 * of hot objects, corruption of a payload and of a header, torn writes,
 * fault injection (fail the Nth I/O with ENOSPC/EIO, for every N), files
 * refused at open, purge, limits at the limit and one past, and the time
 * to index entries at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "cache/store.h"
#include "tests/unit/check.h"

#define CHUNK (64u << 10)
#define IOS 64

static char root[] = "/var/tmp/test_store.XXXXXX";
static char path[256];
static int n_case;

static struct store_opts opts(uint64_t size)
{
	static const char *paths[1];

	paths[0] = path;
	return (struct store_opts){ .paths = paths, .n_paths = 1, .size_bytes = size,
				    .chunk_bytes = CHUNK, .stripes = 2, .shards = 2,
				    .avg_object_bytes = 4096, .bufs = 16 };
}

static void new_path(void)
{
	snprintf(path, sizeof(path), "%s/cache%d", root, ++n_case);
}

static struct store *open_ok(int line, const struct store_opts *o)
{
	struct store *st = NULL;
	char err[256];
	int rc = store_open(o, &st, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "%s:%d: store_open: %d %s\n", __FILE__, line, rc, err);
		check_failures++;
	}
	return st;
}
#define OPEN(o) open_ok(__LINE__, (o))

/* A new cache file for one case: size, shards, stripes per file. */
static struct store *fresh(int line, struct store_opts *o, uint64_t size, unsigned shards,
			   unsigned stripes)
{
	new_path();
	*o = opts(size);
	o->shards = shards;
	o->stripes = stripes;
	return open_ok(line, o);
}
#define FRESH(o, size, shards, stripes) fresh(__LINE__, (o), (size), (shards), (stripes))

static struct cindex_key key_of(const char *text)
{
	XXH128_hash_t h = XXH3_128bits(text, strlen(text));

	return (struct cindex_key){ h.low64, h.high64 };
}

/* Deterministic body bytes of object `seed`. */
static void fill(char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)((i * 131 + seed * 7) >> 3);
}

static int store_exec_one(struct store *st, const struct store_io *io)
{
	int r;

	store_exec(st, io, 1, &r);
	return r;
}

static void run(struct store *st, struct store_io *io, int n, int *res)
{
	if (n > 0)
		store_exec(st, io, (unsigned)n, res);
}

/* Write one object through the plan API and the executor; returns the
 * last store_write_done result (1 = committed). */
static int put(struct store *st, unsigned shard, const char *text, size_t body_len,
	       unsigned seed)
{
	static char body[4u << 20];
	struct store_obj o = { .meta = text, .meta_len = (uint32_t)strlen(text),
			       .body_len = body_len, .expires = 1234, .key_text = text,
			       .key_text_len = strlen(text) };
	struct store_io io[IOS];
	int res[IOS], n, rc = 0;
	uint32_t wid;

	fill(body, body_len, seed);
	n = store_write_begin(st, shard, key_of(text), &o, &wid, io, IOS);
	if (n < 0)
		return n;
	for (size_t off = 0; ; ) {
		run(st, io, n, res);
		for (int i = 0; i < n; i++)
			rc = store_write_done(st, &io[i], res[i]);
		if (off == body_len || rc < 0)
			break;
		/* feed in odd pieces: entries fill across appends */
		size_t piece = body_len - off < 50000 ? body_len - off : 50000, used;

		n = store_write_append(st, shard, wid, body + off, piece, &used, io, IOS);
		if (n < 0)
			return n;
		if (used == 0 && n == 0)
			return -ENOBUFS;
		off += used;
	}
	return rc;
}

/*
 * Read body [off, off+len) of `text` and compare with what put wrote.
 * 0 = right bytes, -ENOENT not indexed, -EIO / -EBADMSG a failed read.
 * Never returns 0 with wrong bytes: that is a CHECK failure.
 */
static int get(struct store *st, unsigned shard, const char *text, uint64_t off,
	       uint64_t len, unsigned seed)
{
	static char want[4u << 20];
	struct cindex_entry hit;
	struct store_io io[IOS];
	struct store_view v;
	int res[IOS], n, rc = 0;

	if (store_lookup(st, shard, key_of(text), &hit))
		return -ENOENT;
	fill(want, hit.total_len, seed);
	n = store_read_plan(st, shard, &hit, true, off, len, io, IOS);
	if (n < 0)
		return n;
	run(st, io, n, res);
	for (int i = 0; i < n; i++) {
		int r = store_read_verify(st, &io[i], res[i], &v);

		if (r == 0) {
			CHECK(v.body_off + v.body_len <= hit.total_len);
			CHECK(memcmp(v.body, want + v.body_off, v.body_len) == 0);
			if (v.meta) {
				CHECK_EQ_INT(v.meta_len, strlen(text));
				CHECK(memcmp(v.meta, text, v.meta_len) == 0);
				CHECK_EQ_INT(v.expires, 1234);
			}
		}
		rc = rc ? rc : r;
		store_io_release(st, &io[i]);
	}
	return rc;
}

static uint64_t ctr(struct store *st, enum store_ctr c)
{
	return store_counter(st, c);
}

static void test_small_and_chunked(void)
{
	struct store_opts o;
	struct store *st;

	if (!(st = FRESH(&o, 64u << 20, 2, 2)))
		return;
	CHECK_EQ_INT(get(st, 0, "z/none", 0, 0, 0), -ENOENT);
	CHECK_EQ_INT(put(st, 0, "z/a/small", 1000, 1), 1);
	CHECK_EQ_INT(put(st, 1, "z/a/empty", 0, 2), 1);
	CHECK_EQ_INT(put(st, 0, "z/a/exact", CHUNK, 3), 1);
	CHECK_EQ_INT(put(st, 1, "z/b/big", 5 * CHUNK + 777, 4), 1);
	CHECK_EQ_INT(get(st, 0, "z/a/small", 0, 1000, 1), 0);
	CHECK_EQ_INT(get(st, 1, "z/a/empty", 0, 0, 2), 0);
	CHECK_EQ_INT(get(st, 0, "z/a/exact", 0, CHUNK, 3), 0);
	CHECK_EQ_INT(get(st, 0, "z/b/big", 0, 5 * CHUNK + 777, 4), 0);
	/* a range reads only the chunks it covers: META + chunks 2 and 3 */
	{
		struct cindex_entry hit;
		struct store_io io[IOS];
		int n;

		CHECK_EQ_INT(store_lookup(st, 0, key_of("z/b/big"), &hit), 0);
		CHECK(hit.flags & CINDEX_F_CHUNKED);
		n = store_read_plan(st, 0, &hit, true, 2 * CHUNK + 5, CHUNK, io, IOS);
		CHECK_EQ_INT(n, 3);
		for (int i = 0; i < n; i++)
			store_io_release(st, &io[i]);
		n = store_read_plan(st, 0, &hit, false, 5 * CHUNK, 777, io, IOS);
		CHECK_EQ_INT(n, 1);
		for (int i = 0; i < n; i++)
			store_io_release(st, &io[i]);
		CHECK_EQ_INT(store_read_plan(st, 0, &hit, false, 5 * CHUNK, 778, io, IOS), -EINVAL);
	}
	CHECK_EQ_INT(get(st, 1, "z/b/big", 3 * CHUNK - 1, 2, 4), 0);
	CHECK_EQ_INT(ctr(st, STORE_CTR_writes_committed), 4);
	/* a rewrite of a key replaces it */
	CHECK_EQ_INT(put(st, 0, "z/a/small", 2000, 9), 1);
	CHECK_EQ_INT(get(st, 0, "z/a/small", 0, 2000, 9), 0);
	/* purge by key and by prefix (counted purged); the cache's own drop
	 * (counted deleted, issue 17: it was counted as a purge) */
	CHECK_EQ_INT(store_purge(st, key_of("z/a/empty")), 0);
	CHECK_EQ_INT(get(st, 0, "z/a/empty", 0, 0, 2), -ENOENT);
	CHECK_EQ_INT(store_purge(st, key_of("z/a/empty")), -ENOENT);
	CHECK_EQ_INT(store_purge_prefix(st, "z/a/", 4), 2);
	CHECK_EQ_INT(get(st, 0, "z/a/exact", 0, 0, 3), -ENOENT);
	CHECK_EQ_INT(get(st, 0, "z/b/big", 0, 1, 4), 0);
	CHECK_EQ_INT(ctr(st, STORE_CTR_purged), 3);
	CHECK_EQ_INT(ctr(st, STORE_CTR_deleted), 0);
	CHECK_EQ_INT(store_delete(st, key_of("z/b/big")), 0);
	CHECK_EQ_INT(get(st, 0, "z/b/big", 0, 1, 4), -ENOENT);
	CHECK_EQ_INT(ctr(st, STORE_CTR_purged), 3);
	CHECK_EQ_INT(ctr(st, STORE_CTR_deleted), 1);
	store_close(st);
}

/* Clean restart (checkpoint) and SIGKILL-style restart (none since). */
static void test_restart(void)
{
	struct store_opts o;
	struct store *st;
	char k[64];

	if (!(st = FRESH(&o, 64u << 20, 2, 2)))
		return;
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "z/r/%d", i);
		CHECK_EQ_INT(put(st, (unsigned)i % 2, k, (size_t)i * 10000, (unsigned)i), 1);
	}
	CHECK_EQ_INT(store_checkpoint(st), 0);
	for (int i = 20; i < 30; i++) {           /* after the checkpoint */
		snprintf(k, sizeof(k), "z/r/%d", i);
		CHECK_EQ_INT(put(st, (unsigned)i % 2, k, (size_t)i * 10000, (unsigned)i), 1);
	}
	store_close(st);                          /* "SIGKILL": no checkpoint */
	o.shards = 3;                             /* another worker count */
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_ckpt_entries), 20);
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_entries), 10);
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_dropped), 0);
	for (int i = 0; i < 30; i++) {
		snprintf(k, sizeof(k), "z/r/%d", i);
		CHECK_EQ_INT(get(st, 2, k, 0, (size_t)i * 10000, (unsigned)i), 0);
	}
	/* new writes go after the recovered ones and survive a clean restart */
	CHECK_EQ_INT(put(st, 2, "z/r/new", 3000, 77), -ENODEV); /* 3 shards, 2 stripes */
	CHECK_EQ_INT(put(st, 1, "z/r/new", 3000, 77), 1);
	CHECK_EQ_INT(store_checkpoint(st), 0);
	store_close(st);
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_entries), 0);
	CHECK_EQ_INT(get(st, 0, "z/r/new", 0, 3000, 77), 0);
	CHECK_EQ_INT(get(st, 0, "z/r/29", 0, 1, 29), 0);
	store_close(st);
}

/* The smallest store: 2 stripes of 4 largest entries each. */
static uint64_t tiny_size(void)
{
	uint64_t buf = ((uint64_t)CHUNK + LIMIT_STORE_META_BYTES + 4095) / 4096 * 4096;

	return 4096 + 2 * 4 * buf;
}

/* Write far more than fits: the log wraps, old objects go (evicted or
 * stale, never wrong bytes), recent ones stay, a hot one is copied
 * forward and survives many laps. */
static void test_wrap_evict_reinsert(void)
{
	struct store_opts o;
	struct store *st;
	char k[64];
	int found = 0, copies = 0;

	if (!(st = FRESH(&o, tiny_size(), 1, 2)))
		return;
	CHECK_EQ_INT(put(st, 0, "z/hot", 20000, 5), 1);
	for (int i = 0; i < 400; i++) {
		struct cindex_entry e;

		snprintf(k, sizeof(k), "z/w/%d", i);
		CHECK_EQ_INT(put(st, 0, k, 30000 + (size_t)i * 97, (unsigned)i), 1);
		CHECK_EQ_INT(get(st, 0, "z/hot", 0, 1, 5), 0);  /* touch: access bit */
		for (unsigned s = 0; s < store_n_stripes(st); s++) {
			while (store_reinsert_next(st, s, &e) == 0) {
				/* copy forward: here by rewriting it (the shard
				 * reads it back first; same bytes) */
				if (e.key.lo == key_of("z/hot").lo) {
					CHECK_EQ_INT(put(st, 0, "z/hot", 20000, 5), 1);
					copies++;
				}
			}
		}
	}
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "z/w/%d", i);
		int r = get(st, 0, k, 0, 1, (unsigned)i);

		CHECK(r == 0 || r == -ENOENT);
		found += r == 0;
	}
	fprintf(stderr, "wrap: %d of 400 still cached, %d copies forward, "
		"evicted %llu stale %llu\n", found, copies,
		(unsigned long long)ctr(st, STORE_CTR_evicted),
		(unsigned long long)ctr(st, STORE_CTR_stale));
	CHECK(found > 0 && found < 100);
	CHECK(get(st, 0, "z/w/399", 0, 1, 399) == 0);
	CHECK(get(st, 0, "z/w/0", 0, 1, 0) == -ENOENT);
	CHECK(copies > 3);
	CHECK_EQ_INT(get(st, 0, "z/hot", 0, 20000, 5), 0);
	CHECK(ctr(st, STORE_CTR_evicted) > 300);
	/* a restart after all those laps finds the recent ones again */
	CHECK_EQ_INT(store_checkpoint(st), 0);
	store_close(st);
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(get(st, 0, "z/w/399", 0, 1, 399), 0);
	CHECK_EQ_INT(get(st, 0, "z/hot", 0, 20000, 5), 0);
	/* recovered objects are back in the FIFO: a lap later they are judged */
	for (int i = 0; i < 40; i++) {
		snprintf(k, sizeof(k), "z/x/%d", i);
		put(st, 0, k, 40000, (unsigned)i);
	}
	CHECK(ctr(st, STORE_CTR_evicted) + ctr(st, STORE_CTR_reinserts_queued) >= 4);
	CHECK_EQ_INT(ctr(st, STORE_CTR_stale), 0);
	store_close(st);
}

/* A stale entry: its place was overwritten behind the index's back. */
static void test_stale_read(void)
{
	struct store_opts o;
	struct store *st;
	struct cindex_entry old;
	struct store_io io[IOS];
	struct store_view v;
	int res[IOS], n;

	if (!(st = FRESH(&o, tiny_size(), 1, 2)))
		return;
	CHECK_EQ_INT(put(st, 0, "z/s/old", 5000, 1), 1);
	CHECK_EQ_INT(store_lookup(st, 0, key_of("z/s/old"), &old), 0);
	for (int i = 0; i < 60; i++) {
		char k[32];

		snprintf(k, sizeof(k), "z/s/%d", i);
		put(st, 0, k, 60000, (unsigned)i);
	}
	/* the old hit, kept by a slow reader: its read is refused */
	n = store_read_plan(st, 0, &old, true, 0, 5000, io, IOS);
	CHECK_EQ_INT(n, 1);
	run(st, io, n, res);
	CHECK_EQ_INT(store_read_verify(st, &io[0], res[0], &v), -EBADMSG);
	store_io_release(st, &io[0]);
	CHECK_EQ_INT(ctr(st, STORE_CTR_reads_bad), 1);
	CHECK_EQ_INT(get(st, 0, "z/s/old", 0, 1, 1), -ENOENT);
	store_close(st);
}

/* Flip one byte of the cache file at the entry of `text` + delta. */
static void flip(struct store *st, const char *text, uint64_t delta)
{
	struct cindex_entry hit;
	int fd = open(path, O_RDWR);
	unsigned char c;
	uint64_t off;

	CHECK_EQ_INT(store_lookup(st, 0, key_of(text), &hit), 0);
	off = 4096 + CINDEX_LOC_STRIPE(hit.loc) * store_stripe_bytes(st) +
	      (CINDEX_LOC_BLOCKS(hit.loc) * 4096) % store_stripe_bytes(st) + delta;
	CHECK(pread(fd, &c, 1, (off_t)off) == 1);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, (off_t)off) == 1);
	fsync(fd);
	close(fd);
}

static void test_corruption(void)
{
	struct store_opts o;
	struct store *st;

	if (!(st = FRESH(&o, 64u << 20, 1, 1)))
		return;
	CHECK_EQ_INT(put(st, 0, "z/c/payload", 9000, 1), 1);
	CHECK_EQ_INT(put(st, 0, "z/c/header", 9000, 2), 1);
	CHECK_EQ_INT(put(st, 0, "z/c/after", 9000, 3), 1);
	flip(st, "z/c/payload", 64 + 16 + 5000);
	flip(st, "z/c/header", 20);
	CHECK_EQ_INT(get(st, 0, "z/c/payload", 0, 9000, 1), -EBADMSG);
	CHECK_EQ_INT(get(st, 0, "z/c/header", 0, 9000, 2), -EBADMSG);
	CHECK_EQ_INT(ctr(st, STORE_CTR_reads_bad), 2);
	CHECK_EQ_INT(get(st, 0, "z/c/after", 0, 9000, 3), 0);
	/* a restart by scan (no checkpoint) drops both (one bad run: one
	 * resync), keeps what follows */
	store_close(st);
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_dropped), 1);
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_entries), 1);
	CHECK_EQ_INT(get(st, 0, "z/c/payload", 0, 1, 1), -ENOENT);
	CHECK_EQ_INT(get(st, 0, "z/c/after", 0, 9000, 3), 0);
	store_close(st);
}

/* Torn writes: the tail of an entry never reached the disk. */
static void test_torn(void)
{
	struct store_opts o;
	struct store *st;
	struct cindex_entry hit;
	static char zero[CHUNK];
	uint64_t off;
	int fd;

	if (!(st = FRESH(&o, 64u << 20, 1, 1)))
		return;
	CHECK_EQ_INT(put(st, 0, "z/t/before", 3000, 1), 1);
	CHECK_EQ_INT(put(st, 0, "z/t/torn", 3 * CHUNK, 2), 1);
	CHECK_EQ_INT(put(st, 0, "z/t/torn-small", 20000, 4), 1);
	CHECK_EQ_INT(put(st, 0, "z/t/after", 3000, 3), 1);
	CHECK_EQ_INT(store_lookup(st, 0, key_of("z/t/torn"), &hit), 0);
	/* the second chunk of the chunked object: zero its second half */
	off = 4096 + CINDEX_LOC_STRIPE(hit.loc) * store_stripe_bytes(st) +
	      CINDEX_LOC_BLOCKS(hit.loc) * 4096 + hit.meta_blocks * 4096 +
	      (CHUNK + 4096) + CHUNK / 2;
	fd = open(path, O_RDWR);
	CHECK(pwrite(fd, zero, CHUNK / 2, (off_t)off) == CHUNK / 2);
	/* the small one: cut after its first block */
	CHECK_EQ_INT(store_lookup(st, 0, key_of("z/t/torn-small"), &hit), 0);
	off = 4096 + CINDEX_LOC_STRIPE(hit.loc) * store_stripe_bytes(st) +
	      CINDEX_LOC_BLOCKS(hit.loc) * 4096 + 4096;
	CHECK(pwrite(fd, zero, 8192, (off_t)off) == 8192);
	fsync(fd);
	close(fd);
	store_close(st);
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(get(st, 0, "z/t/before", 0, 3000, 1), 0);
	CHECK_EQ_INT(get(st, 0, "z/t/torn", 0, 1, 2), -ENOENT);
	CHECK_EQ_INT(get(st, 0, "z/t/torn-small", 0, 1, 4), -ENOENT);
	CHECK_EQ_INT(get(st, 0, "z/t/after", 0, 3000, 3), 0);
	CHECK(ctr(st, STORE_CTR_scan_dropped) >= 2);
	store_close(st);
}

/* SQLite-style: fail the Nth I/O (ENOSPC on writes, EIO on reads), for
 * every N until a whole round runs clean. Failures are counted, nothing
 * wrong is ever served, and the store keeps working afterwards. */
static void test_faults(void)
{
	struct store_opts o;
	struct store *st;
	uint64_t n;

	if (!(st = FRESH(&o, 64u << 20, 1, 2)))
		return;
	for (n = 1; n < 100; n++) {
		uint64_t failed = ctr(st, STORE_CTR_writes_failed) + ctr(st, STORE_CTR_reads_failed);
		int w1, w2, r1, r2;

		store_fault(st, n, n % 2 ? ENOSPC : EIO);
		w1 = put(st, 0, "z/f/a", 3 * CHUNK + 10, (unsigned)n);
		w2 = put(st, 0, "z/f/b", 100, (unsigned)n);
		r1 = w1 == 1 ? get(st, 0, "z/f/a", 0, 3 * CHUNK + 10, (unsigned)n) : 0;
		r2 = w2 == 1 ? get(st, 0, "z/f/b", 0, 100, (unsigned)n) : 0;
		CHECK(w1 == 1 || w1 == -EIO);
		CHECK(w2 == 1 || w2 == -EIO);
		CHECK(r1 == 0 || r1 == -EIO);
		CHECK(r2 == 0 || r2 == -EIO);
		if (w1 == 1 && w2 == 1 && r1 == 0 && r2 == 0) {
			CHECK_EQ_INT(ctr(st, STORE_CTR_writes_failed) +
				     ctr(st, STORE_CTR_reads_failed), failed);
			break;                  /* the Nth I/O was past the round */
		}
		CHECK_EQ_INT(ctr(st, STORE_CTR_writes_failed) + ctr(st, STORE_CTR_reads_failed),
			     failed + 1);
		/* a failed write never replaces what the index had: either the
		 * old version (from round n-1) or nothing */
	}
	fprintf(stderr, "faults: a round has %llu I/Os\n", (unsigned long long)n - 1);
	CHECK(n > 8 && n < 100);
	store_fault(st, 0, 0);
	CHECK_EQ_INT(put(st, 0, "z/f/c", 1000, 1), 1);
	CHECK_EQ_INT(get(st, 0, "z/f/c", 0, 1000, 1), 0);
	/* every buffer came back */
	for (int i = 0; i < 16; i++) {
		char k[32];

		snprintf(k, sizeof(k), "z/f/more%d", i);
		CHECK_EQ_INT(put(st, 0, k, 2 * CHUNK, 1), 1);
	}
	store_close(st);
}

static void expect_refused(int line, const struct store_opts *o, int rc, const char *text)
{
	struct store *st = NULL;
	char err[256] = "";
	int got = store_open(o, &st, err, sizeof(err));

	check_count += 2;
	if (got != rc || st) {
		check_failures++;
		fprintf(stderr, "%s:%d: store_open %d, want %d (%s)\n", __FILE__, line, got, rc, err);
	}
	if (!strstr(err, text)) {
		check_failures++;
		fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, line, err, text);
	}
	store_close(st);
}
#define REFUSED(o, rc, text) expect_refused(__LINE__, (o), (rc), (text))

static void test_refusals(void)
{
	struct store_opts o;
	struct store *st;
	struct statfs sf;
	int fd;

	new_path();
	o = opts(tiny_size());
	if ((st = OPEN(&o)))
		store_close(st);
	/* the same file with another size, chunk size; then a foreign file */
	o.size_bytes += 4096;
	REFUSED(&o, -EINVAL, "refusing it");
	o = opts(tiny_size());
	o.chunk_bytes = 2 * CHUNK;
	o.size_bytes = tiny_size() * 2;
	REFUSED(&o, -EINVAL, "refusing it");
	o = opts(tiny_size());
	fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "garbage", 7, 0) == 7);
	close(fd);
	REFUSED(&o, -EINVAL, "not an edgecache cache file");
	/* limits: chunk_size at the bounds and one past, power of two, size */
	o.chunk_bytes = (uint32_t)LIMIT_CACHE_CHUNK_MIN - 1;
	REFUSED(&o, -EINVAL, "chunk_size");
	o.chunk_bytes = (uint32_t)LIMIT_CACHE_CHUNK_MAX * 2;
	REFUSED(&o, -EINVAL, "chunk_size");
	o.chunk_bytes = 3 * CHUNK;
	REFUSED(&o, -EINVAL, "chunk_size");
	new_path();
	o = opts(tiny_size() - 4096);
	REFUSED(&o, -EINVAL, "each needs at least");
	o = opts(tiny_size());
	o.stripes = LIMIT_STORE_STRIPES + 1;
	REFUSED(&o, -EINVAL, "stripes");
	/* tmpfs: no O_DIRECT */
	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994) {
		snprintf(path, sizeof(path), "/dev/shm/test_store.%d", getpid());
		o = opts(tiny_size());
		REFUSED(&o, -EINVAL, "no real O_DIRECT");
		unlink(path);
	} else {
		fprintf(stderr, "no tmpfs at /dev/shm: O_DIRECT refusal not tested\n");
	}
}

/* Limits of one object: meta at the limit and one past; body too. */
static void test_object_limits(void)
{
	static char meta[LIMIT_STORE_META_BYTES];
	struct store_opts o;
	struct store *st;
	struct store_obj ob = { .meta = meta };
	struct store_io io[IOS];
	int res[IOS], n;
	uint32_t wid;

	if (!(st = FRESH(&o, tiny_size(), 1, 2)))
		return;
	ob.meta_len = store_meta_max() + 1;
	CHECK_EQ_INT(store_write_begin(st, 0, key_of("m"), &ob, &wid, io, IOS), -EINVAL);
	ob.meta_len = store_meta_max();
	ob.body_len = store_max_object(st) + 1;
	CHECK_EQ_INT(store_write_begin(st, 0, key_of("m"), &ob, &wid, io, IOS), -EFBIG);
	ob.body_len = 0;
	n = store_write_begin(st, 0, key_of("m"), &ob, &wid, io, IOS);
	CHECK(n >= 1);
	run(st, io, n, res);
	for (int i = 0; i < n; i++)
		store_write_done(st, &io[i], res[i]);
	{
		struct cindex_entry hit;

		CHECK_EQ_INT(store_lookup(st, 0, key_of("m"), &hit), 0);   /* committed */
	}
	/* the largest object fits (it takes up to half a stripe) */
	{
		static char big[4u << 20];
		uint64_t max = store_max_object(st);

		CHECK(max <= sizeof(big));
		ob.meta_len = 10;
		ob.body_len = max;
		n = store_write_begin(st, 0, key_of("max"), &ob, &wid, io, IOS);
		CHECK(n >= 1);
		run(st, io, n, res);
		for (int i = 0; i < n; i++)
			store_write_done(st, &io[i], res[i]);
		/* body past body_len is refused */
		{
			size_t used;

			CHECK_EQ_INT(store_write_append(st, 0, wid, big, max + 1, &used, io, IOS),
				     -EINVAL);
			/* an io_cap of 1 takes one chunk and says so */
			CHECK_EQ_INT(store_write_append(st, 0, wid, big, 2 * CHUNK, &used, io, 1), 1);
			CHECK_EQ_INT(used, CHUNK);
			res[0] = store_exec_one(st, &io[0]);
			CHECK_EQ_INT(store_write_done(st, &io[0], res[0]), 0);
		}
		store_write_abort(st, 0, wid);
		CHECK_EQ_INT(ctr(st, STORE_CTR_writes_aborted), 1);
	}
	store_close(st);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct store *reopen_timed(const struct store_opts *o, double *secs)
{
	double t0 = now_s();
	struct store *st = OPEN(o);

	*secs = now_s() - t0;
	return st;
}

/* Start-up speed: N small entries, indexed by the scan and by a
 * checkpoint. bench/store_restart does 1 million. */
static void test_startup_speed(void)
{
	const int n = 20000;
	struct store_opts o;
	struct store *st;
	double scan, ckpt;
	char k[32];

	if (!(st = FRESH(&o, (uint64_t)n * 4096 * 2 + (32u << 20), 1, 1)))
		return;
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "z/n/%d", i);
		if (put(st, 0, k, 100, (unsigned)i) != 1) {
			CHECK(0);
			break;
		}
	}
	store_close(st);
	if (!(st = reopen_timed(&o, &scan)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_entries), n);
	CHECK_EQ_INT(store_checkpoint(st), 0);
	store_close(st);
	if (!(st = reopen_timed(&o, &ckpt)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_ckpt_entries), n);
	CHECK_EQ_INT(get(st, 0, "z/n/12345", 0, 100, 12345), 0);
	fprintf(stderr, "startup: %d entries: scan %.3f s, checkpoint %.3f s\n", n, scan, ckpt);
	CHECK(scan < 3.0 && ckpt < 3.0);
	store_close(st);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* O_DIRECT must work where the test keeps its files. */
static bool direct_ok(void)
{
	char p[300];
	int fd;

	snprintf(p, sizeof(p), "%s/probe", root);
	fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(p);
	}
	return fd >= 0;
}

/*
 * An upgrade's hand-over (store_freeze): no write begins (-EROFS) or goes
 * on (a begun one fails, never committed), store_writes_busy drains to 0,
 * reads go on; a checkpoint then is the whole state — reopened, every
 * object comes from it and the scan adds nothing; thawed, writes work.
 */
static void test_freeze(void)
{
	static char body[3 * CHUNK];
	struct store_obj ob = { .meta = "half", .meta_len = 4, .body_len = sizeof(body),
				.expires = 1234 };
	struct store_opts o;
	struct store_io io[IOS];
	struct store *st;
	int res[IOS], n;
	uint32_t wid;
	size_t used;

	if (!(st = FRESH(&o, 8 * tiny_size(), 1, 2)))
		return;
	CHECK_EQ_INT(put(st, 0, "before", 1000, 1), 1);
	n = store_write_begin(st, 0, key_of("half"), &ob, &wid, io, IOS);
	CHECK(n > 0);
	CHECK_EQ_INT(store_writes_busy(st), 1);
	store_freeze(st, true);
	run(st, io, n, res);
	for (int i = 0; i < n; i++)
		CHECK_EQ_INT(store_write_done(st, &io[i], res[i]), 0);
	CHECK_EQ_INT(store_write_append(st, 0, wid, body, CHUNK, &used, io, IOS), -ENOENT);
	CHECK_EQ_INT(store_writes_busy(st), 0);
	CHECK_EQ_INT(put(st, 0, "during", 1000, 2), -EROFS);
	CHECK_EQ_INT(ctr(st, STORE_CTR_writes_frozen), 2);
	CHECK_EQ_INT(get(st, 0, "before", 0, 1000, 1), 0);
	CHECK_EQ_INT(get(st, 0, "half", 0, 1, 0), -ENOENT);
	CHECK_EQ_INT(store_checkpoint(st), 0);
	store_close(st);
	if (!(st = OPEN(&o)))
		return;
	CHECK_EQ_INT(ctr(st, STORE_CTR_ckpt_entries), 1);
	CHECK_EQ_INT(ctr(st, STORE_CTR_scan_entries), 0);
	CHECK_EQ_INT(get(st, 0, "before", 0, 1000, 1), 0);
	store_freeze(st, true);
	store_freeze(st, false);
	CHECK_EQ_INT(put(st, 0, "after", 1000, 3), 1);
	CHECK_EQ_INT(get(st, 0, "after", 0, 1000, 3), 0);
	store_close(st);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror(root);
		return 1;
	}
	if (!direct_ok()) {
		fprintf(stderr, "SKIP: O_DIRECT does not work in %s\n", root);
		nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
		return 77;
	}
	test_small_and_chunked();
	test_restart();
	test_wrap_evict_reinsert();
	test_stale_read();
	test_corruption();
	test_torn();
	test_faults();
	test_refusals();
	test_object_limits();
	test_freeze();
	test_startup_speed();
	nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return check_exit();
}
