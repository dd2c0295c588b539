/*
 * cache/store_open.c — the control-thread side of the store: open or
 * create cache files, check their superblocks, allocate everything,
 * checkpoints (write and load) and the start-up scan. All of it blocks.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <xxhash.h>

#include "cache/store_int.h"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void *block_alloc(size_t bytes)
{
	void *p = aligned_alloc(STORE_BLOCK, store_round(bytes));

	if (p)
		memset(p, 0, store_round(bytes));
	return p;
}

/* ---- files and superblocks ------------------------------------------------ */

static uint64_t super_csum(const struct store_super *sb)
{
	return XXH3_64bits(sb, offsetof(struct store_super, csum));
}

/* A new file's (or an all-zero device's) superblock, written and synced. */
static int super_format(struct store_file *f, uint64_t file_bytes, uint64_t stripe_bytes,
			const struct store_opts *o, void *blk)
{
	struct store_super *sb = &f->sb;

	*sb = (struct store_super){ .magic = STORE_SUPER_MAGIC, .version = STORE_VERSION,
		.block = STORE_BLOCK, .file_bytes = file_bytes, .stripe_bytes = stripe_bytes,
		.chunk_bytes = o->chunk_bytes, .n_stripes = o->stripes, .data_off = STORE_BLOCK };
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid))
		return -errno;
	sb->csum = super_csum(sb);
	memset(blk, 0, STORE_BLOCK);
	memcpy(blk, sb, sizeof(*sb));
	if (pwrite(f->fd, blk, STORE_BLOCK, 0) != STORE_BLOCK || fdatasync(f->fd) != 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* Whether a symbolic link at path was placed by root: its directory is
 * root's and nobody else may write it (/dev/disk/by-id, a root-made
 * directory of links to devices). Such a link is followed; one in a
 * directory another user can write (the dropped user's own) is not. */
static bool link_dir_trusted(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		return stat(".", &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022);
	if ((size_t)(slash - path) >= sizeof(dir))
		return false;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (!dir[0])
		strcpy(dir, "/");
	return stat(dir, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022);
}

/* Open (creating and preallocating) one file, O_DIRECT. */
static int file_open(struct store_file *f, uint64_t file_bytes, bool *fresh,
		     char *err, size_t cap)
{
	struct statfs sf;
	struct stat st;
	int e;

	/* O_NOFOLLOW: opened as root in a directory the dropped user may
	 * own, the path must not lead root to another file or a device
	 * (which the format below would overwrite) — unless root placed the
	 * link (link_dir_trusted), as a stable name for a device. */
	f->fd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
	if (f->fd < 0 && errno == ELOOP && link_dir_trusted(f->path))
		f->fd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	*fresh = f->fd < 0 && errno == ENOENT;
	if (*fresh)
		f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC | O_NOFOLLOW,
			     0600);
	if (f->fd < 0) {
		e = errno;
		if (e == ELOOP)
			return fail(err, cap, "%s: is a symbolic link in a directory others than "
				    "root may write: refused (set [cache] path to the file or "
				    "device it points to)", f->path);
		if (e == EINVAL)
			return fail(err, cap, "%s: the filesystem does not support O_DIRECT "
				    "(tmpfs?): put cache files on a disk filesystem", f->path);
		/* The one a first run meets: a relative path in a copied
		 * example config whose directory is not there. */
		if (e == ENOENT && *fresh) {
			snprintf(err, cap, "%s: cannot create: its directory does not exist "
				 "(create it, or set [cache] path to a file in an existing "
				 "directory on a disk filesystem)", f->path);
			return -e;
		}
		snprintf(err, cap, "%s: cannot open: %s", f->path, strerror(e));
		return -e;
	}
	if (fstat(f->fd, &st) != 0 || fstatfs(f->fd, &sf) != 0)
		return -errno;
	/* A block device's node lives on devtmpfs: only a regular file's
	 * filesystem says where its bytes are. */
	if (S_ISREG(st.st_mode) && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)) {
		if (*fresh)
			unlink(f->path);
		return fail(err, cap, "%s: is on tmpfs/ramfs, which has no real O_DIRECT "
			    "(its pages are the page cache): put cache files on a disk "
			    "filesystem", f->path);
	}
	if (*fresh && fallocate(f->fd, 0, 0, (off_t)file_bytes) != 0) {
		e = errno;
		snprintf(err, cap, "%s: cannot preallocate %llu bytes: %s", f->path,
			 (unsigned long long)file_bytes, strerror(e));
		unlink(f->path);
		return -e;
	}
	return 0;
}

/* The file's usable size (a device's, or a regular file's length) and
 * whether a larger size is fine (a device may be larger than we use). */
static int file_size(const struct store_file *f, uint64_t *size, bool *dev)
{
	struct stat st;

	if (fstat(f->fd, &st) != 0)
		return -errno;
	*dev = S_ISBLK(st.st_mode);
	if (*dev)
		return ioctl(f->fd, BLKGETSIZE64, size) ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	return n == 0 || (c[0] == 0 && memcmp(c, c + 1, n - 1) == 0);
}

static bool super_sane(const struct store_super *sb)
{
	return sb->n_stripes && sb->n_stripes <= LIMIT_STORE_STRIPES &&
	       sb->data_off == STORE_BLOCK && sb->stripe_bytes % STORE_BLOCK == 0 &&
	       sb->data_off + sb->n_stripes * sb->stripe_bytes <= sb->file_bytes;
}

/* Check an existing file against the config; refuse, never half-read. */
static int super_check(struct store_file *f, uint64_t file_bytes, uint64_t stripe_bytes,
		       const struct store_opts *o, void *blk, char *err, size_t cap)
{
	struct store_super *sb = &f->sb;
	uint64_t size = 0;
	bool dev = false;
	int rc = file_size(f, &size, &dev);

	if (rc)
		return rc;
	if (dev ? size < file_bytes : size != file_bytes)
		return fail(err, cap, "%s: is %llu bytes, [cache] size wants %llu per file: "
			    "refusing it (remove it to start afresh)", f->path,
			    (unsigned long long)size, (unsigned long long)file_bytes);
	if (pread(f->fd, blk, STORE_BLOCK, 0) != STORE_BLOCK)
		return fail(err, cap, "%s: cannot read the superblock", f->path);
	if (dev && all_zero(blk, STORE_BLOCK))  /* a blank device: ours to format */
		return super_format(f, file_bytes, stripe_bytes, o, blk);
	memcpy(sb, blk, sizeof(*sb));
	if (sb->magic != STORE_SUPER_MAGIC || sb->csum != super_csum(sb) ||
	    sb->version != STORE_VERSION || sb->block != STORE_BLOCK)
		return fail(err, cap, "%s: not an edgecache cache file (bad superblock): "
			    "refusing it", f->path);
	if (sb->file_bytes != file_bytes)
		return fail(err, cap, "%s: was made for %llu bytes, [cache] size wants %llu "
			    "per file: refusing it", f->path,
			    (unsigned long long)sb->file_bytes, (unsigned long long)file_bytes);
	if (sb->chunk_bytes != o->chunk_bytes)
		return fail(err, cap, "%s: was made with chunk_size %u, the config says %u: "
			    "refusing it", f->path, sb->chunk_bytes, o->chunk_bytes);
	if (!super_sane(sb))
		return fail(err, cap, "%s: inconsistent superblock: refusing it", f->path);
	return 0;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* "<path>.idx": header, cursor per stripe, entries (loc's stripe is the
 * file's own stripe number), XXH3-64 of everything before it. */
struct ckpt_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t n_stripes;
	uint8_t uuid[16];
	uint64_t n_entries;
};

struct ckpt_walk {
	struct store *st;
	unsigned file;
	FILE *f;
	XXH3_state_t *h;
	uint64_t n;
	int err;
};

static void ckpt_put(struct ckpt_walk *w, const void *p, size_t n)
{
	if (!w->err && fwrite(p, 1, n, w->f) != n)
		w->err = errno ? -errno : -EIO;
	XXH3_64bits_update(w->h, p, n);
}

static int ckpt_entry(void *arg, const struct cindex_entry *e)
{
	struct ckpt_walk *w = arg;
	uint32_t s = CINDEX_LOC_STRIPE(e->loc);
	struct cindex_entry c = *e;

	if (s >= w->st->n_stripes || w->st->stripes[s].file != w->file ||
	    store_is_stale(w->st, e))
		return 0;
	c.loc = CINDEX_LOC(s % w->st->files[w->file].sb.n_stripes, CINDEX_LOC_BLOCKS(e->loc));
	c.flags &= (uint8_t)~CINDEX_F_ACCESS;
	ckpt_put(w, &c, sizeof(c));
	w->n++;
	return w->err;
}

static char *ckpt_path(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);
	char *p = malloc(n + m + 1);

	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, suffix, m + 1);
	}
	return p;
}

/* Stream one file's checkpoint into tmp; the count goes in at the end. */
static int ckpt_fill(struct store *st, unsigned fi, FILE *f, XXH3_state_t *h)
{
	const struct store_super *sb = &st->files[fi].sb;
	struct ckpt_walk w = { st, fi, f, h, 0, 0 };
	struct ckpt_hdr hd = { STORE_CKPT_MAGIC, STORE_VERSION, sb->n_stripes, {0}, 0 };
	uint64_t first = (uint64_t)fi * sb->n_stripes, sum;

	memcpy(hd.uuid, sb->uuid, sizeof(hd.uuid));
	if (fwrite(&hd, sizeof(hd), 1, f) != 1)
		return -EIO;
	for (unsigned i = 0; i < sb->n_stripes; i++) {
		uint64_t safe = __atomic_load_n(&st->stripes[first + i].safe, __ATOMIC_ACQUIRE);

		ckpt_put(&w, &safe, sizeof(safe));
	}
	cindex_walk(&st->ix, ckpt_entry, &w);
	hd.n_entries = w.n;
	/* trailer: the body's hash, seeding the hash of the final header */
	sum = XXH3_64bits_withSeed(&hd, sizeof(hd), XXH3_64bits_digest(h));
	if (w.err || fflush(f) || fseeko(f, 0, SEEK_SET) || fwrite(&hd, sizeof(hd), 1, f) != 1 ||
	    fseeko(f, 0, SEEK_END) || fwrite(&sum, sizeof(sum), 1, f) != 1 || fflush(f))
		return w.err ? w.err : -EIO;
	return 0;
}

/* temp + fsync + rename + fsync of the directory: all or nothing. */
static int ckpt_write(struct store *st, unsigned fi)
{
	char *tmp = ckpt_path(st->files[fi].path, ".idx.tmp");
	char *dst = ckpt_path(st->files[fi].path, ".idx");
	XXH3_state_t *h = XXH3_createState();
	FILE *f = tmp ? fopen(tmp, "we") : NULL;
	int rc = (!tmp || !dst || !h) ? -ENOMEM : f ? 0 : -errno;

	if (!rc) {
		XXH3_64bits_reset(h);
		rc = ckpt_fill(st, fi, f, h);
	}
	if (!rc && fsync(fileno(f)) != 0)
		rc = -errno;
	if (f && fclose(f) != 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, dst) != 0)
		rc = -errno;
	if (!rc) {
		char *slash = strrchr(dst, '/');
		int dfd;

		if (slash)
			*slash = '\0';
		dfd = open(slash ? (slash == dst ? "/" : dst) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	} else if (tmp) {
		unlink(tmp);
	}
	XXH3_freeState(h);
	free(tmp);
	free(dst);
	return rc;
}

int store_chown(struct store *st, uid_t uid, gid_t gid)
{
	for (unsigned i = 0; i < st->n_files; i++) {
		if (fchown(st->files[i].fd, uid, gid) < 0)
			return -errno;
		char *ck = ckpt_path(st->files[i].path, ".idx");
		if (!ck)
			return -ENOMEM;
		/* not following a link: root must not chown what it points to */
		int r = fchownat(AT_FDCWD, ck, uid, gid, AT_SYMLINK_NOFOLLOW);
		int e = errno;
		free(ck);
		if (r < 0 && e != ENOENT)
			return -e;
	}
	return 0;
}

int store_checkpoint(struct store *st)
{
	assert(st->magic == STORE_MAGIC);
	int rc = 0;

	if (st->sim)
		return 0;
	for (unsigned i = 0; i < st->n_files && !rc; i++)
		rc = ckpt_write(st, i);
	return rc;
}

/* Read a whole checkpoint; NULL if missing or unreadable. */
static char *ckpt_read(const char *path, size_t *len)
{
	char *p = ckpt_path(path, ".idx"), *buf = NULL;
	int fd = p ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;  /* see file_open */
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	long n;

	free(p);
	if (!f && fd >= 0)
		close(fd);
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Whole, ours, and checksummed: else ignored (the scan starts at 0). */
static bool ckpt_valid(const struct store_file *f, const char *b, size_t len,
		       struct ckpt_hdr *hd)
{
	size_t body, want;
	uint64_t sum;

	if (len < sizeof(*hd) + sizeof(sum))
		return false;
	memcpy(hd, b, sizeof(*hd));
	if (hd->magic != STORE_CKPT_MAGIC || hd->version != STORE_VERSION ||
	    hd->n_stripes != f->sb.n_stripes || memcmp(hd->uuid, f->sb.uuid, 16) ||
	    hd->n_entries > (len / sizeof(struct cindex_entry)))
		return false;
	body = hd->n_stripes * sizeof(uint64_t) + hd->n_entries * sizeof(struct cindex_entry);
	want = sizeof(*hd) + body + sizeof(sum);
	if (len != want)
		return false;
	memcpy(&sum, b + sizeof(*hd) + body, sizeof(sum));
	return sum == XXH3_64bits_withSeed(hd, sizeof(*hd),
					   XXH3_64bits(b + sizeof(*hd), body));
}

static void ckpt_load(struct store *st, unsigned fi)
{
	const struct store_file *f = &st->files[fi];
	unsigned first = fi * f->sb.n_stripes;
	struct ckpt_hdr hd;
	size_t len = 0;
	char *b = ckpt_read(f->path, &len);
	const char *p;

	if (!b || !ckpt_valid(f, b, len, &hd)) {
		ctr_add(&st->ctl_ctr[STORE_CTR_ckpt_bad], 1);
		free(b);
		return;
	}
	p = b + sizeof(hd);
	for (unsigned i = 0; i < hd.n_stripes; i++, p += sizeof(uint64_t))
		memcpy(&st->stripes[first + i].cursor, p, sizeof(uint64_t));
	for (uint64_t i = 0; i < hd.n_entries; i++, p += sizeof(struct cindex_entry)) {
		struct cindex_entry e;
		uint32_t s;

		memcpy(&e, p, sizeof(e));
		s = CINDEX_LOC_STRIPE(e.loc);
		if (s >= hd.n_stripes)
			continue;
		e.loc = CINDEX_LOC(first + s, CINDEX_LOC_BLOCKS(e.loc));
		if (store_is_stale(st, &e))
			continue;
		store_index_put(st, st->ctl_ctr, &e);
		ctr_add(&st->ctl_ctr[STORE_CTR_ckpt_entries], 1);
	}
	free(b);
}

/* ---- the start-up scan ------------------------------------------------------- */

/* A window of the stripe read with big O_DIRECT reads. */
struct scan {
	struct store *st;
	struct store_stripe *s;
	char *buf;
	uint64_t cap;
	uint64_t at, len;                   /* the window's log position and bytes */
};

/* [pos, pos + len) in memory, or NULL (read error, or past the lap end). */
static const char *scan_get(struct scan *sc, uint64_t pos, uint64_t len)
{
	uint64_t lap_left = sc->s->bytes - pos % sc->s->bytes, want;
	ssize_t r;

	if (len > lap_left || len > sc->cap)
		return NULL;
	if (pos >= sc->at && pos + len <= sc->at + sc->len)
		return sc->buf + (pos - sc->at);
	want = sc->cap < lap_left ? sc->cap : lap_left;
	r = pread(sc->s->fd, sc->buf, want, (off_t)(sc->s->base + pos % sc->s->bytes));
	if (r < (ssize_t)len) {
		sc->len = 0;
		return NULL;
	}
	sc->at = pos;
	sc->len = (uint64_t)r;
	return sc->buf;
}

/* The entry at pos, whole and checksummed, of `type` (0 = any), or NULL. */
static const struct store_hdr *scan_entry(struct scan *sc, uint64_t pos, uint8_t type)
{
	const struct store_hdr *h = (const void *)scan_get(sc, pos, STORE_BLOCK);

	if (!h || !store_hdr_ok(h) || h->pos != pos || (type && h->type != type))
		return NULL;
	if (h->type == STORE_T_PAD)
		return h;
	if (h->payload_len > sc->st->buf_bytes - STORE_HDR_BYTES)
		return NULL;
	h = (const void *)scan_get(sc, pos, store_round(STORE_HDR_BYTES + h->payload_len));
	if (!h || XXH3_64bits(h + 1, h->payload_len) != h->payload_csum)
		return NULL;
	return h;
}

/* Every chunk of a chunked object at `first` is there and whole. */
static bool scan_chunks(struct scan *sc, const struct store_hdr *m, uint64_t first)
{
	struct cindex_key key = m->key;
	uint64_t total = m->total_len, n = (total + sc->st->chunk_bytes - 1) / sc->st->chunk_bytes;

	for (uint64_t c = 0; c < n; c++) {
		const struct store_hdr *h = scan_entry(sc, first + c * sc->st->cblocks * STORE_BLOCK,
						       STORE_T_CHUNK);

		if (!h || h->chunk != c || h->key.lo != key.lo || h->key.hi != key.hi ||
		    h->total_len != total)
			return false;
	}
	return true;
}

/*
 * The object at pos: 1 added to the index, 0 skipped (pad, orphan chunk),
 * -1 bad. *next = where the next entry starts.
 */
static int scan_object(struct scan *sc, uint64_t pos, uint64_t *next)
{
	struct store *st = sc->st;
	const struct store_hdr *h = scan_entry(sc, pos, 0);
	struct cindex_entry e = { 0 };
	struct store_objrec r;
	uint64_t mb, body;
	bool chunked;

	if (!h)
		return -1;
	if (h->type != STORE_T_META) {
		*next = h->type == STORE_T_PAD ? pos - pos % sc->s->bytes + sc->s->bytes :
			pos + store_round(STORE_HDR_BYTES + h->payload_len);
		return 0;
	}
	if (h->payload_len < STORE_OBJREC_BYTES + h->meta_len)
		return -1;
	body = h->payload_len - STORE_OBJREC_BYTES - h->meta_len;
	chunked = body != h->total_len;
	mb = store_round(STORE_HDR_BYTES + h->payload_len) / STORE_BLOCK;
	memcpy(&r, h + 1, sizeof(r));
	e = (struct cindex_entry){ .key = h->key, .loc = CINDEX_LOC(sc->s->id, pos / STORE_BLOCK),
		.total_len = h->total_len, .expires = r.expires, .meta_blocks = (uint16_t)mb,
		.flags = chunked ? CINDEX_F_CHUNKED : 0 };
	memcpy(e.prefix, r.prefix, sizeof(e.prefix));
	*next = pos + store_object_bytes(st, mb, h->total_len, chunked);
	if (chunked && (body || *next - pos + pos % sc->s->bytes > sc->s->bytes ||
			!scan_chunks(sc, h, pos + mb * STORE_BLOCK)))
		return -1;
	store_index_put(st, st->ctl_ctr, &e);
	return 1;
}

/* After a bad entry: the next block that holds a good header, within the
 * resync window. */
static bool scan_resync(struct scan *sc, uint64_t bad, uint64_t *found)
{
	uint64_t window = LIMIT_STORE_RESYNC_ENTRIES * sc->st->buf_bytes;

	for (uint64_t p = bad + STORE_BLOCK; p < bad + window; p += STORE_BLOCK) {
		const struct store_hdr *h = (const void *)scan_get(sc, p, STORE_BLOCK);

		if (!h && p % sc->s->bytes == 0)
			continue;
		if (h && store_hdr_ok(h) && h->pos == p) {
			*found = p;
			return true;
		}
		if (!h)                         /* lap end: go on at the next lap */
			p = p - p % sc->s->bytes + sc->s->bytes - STORE_BLOCK;
	}
	return false;
}

/* Scan one stripe from its cursor; the cursor ends after the last good entry. */
static void scan_stripe(struct store *st, struct store_stripe *s, char *buf, uint64_t cap)
{
	struct scan sc = { st, s, buf, cap, 0, 0 };
	uint64_t pos = s->cursor, end = s->cursor, limit = s->cursor + s->bytes, next;

	while (pos < limit) {
		int r = scan_object(&sc, pos, &next);

		if (r >= 0) {
			ctr_add(&st->ctl_ctr[STORE_CTR_scan_entries], r == 1);
			pos = end = next;
			continue;
		}
		if (!scan_resync(&sc, pos, &next))
			break;
		ctr_add(&st->ctl_ctr[STORE_CTR_scan_dropped], 1);
		pos = next;
	}
	s->cursor = s->safe = end;
}

/* ---- open and close ------------------------------------------------------------ */

static int opts_check(const struct store_opts *o, uint64_t *file_bytes,
		      uint64_t *stripe_bytes, uint64_t buf_bytes, char *err, size_t cap)
{
	if (!o->n_paths || o->n_paths > LIMIT_CACHE_PATHS || !o->stripes ||
	    o->stripes > LIMIT_STORE_STRIPES || !o->shards || o->shards > LIMIT_WORKERS)
		return fail(err, cap, "cache: 1..%d paths, 1..%d stripes and shards",
			    LIMIT_CACHE_PATHS, LIMIT_STORE_STRIPES);
	if (o->chunk_bytes < LIMIT_CACHE_CHUNK_MIN || o->chunk_bytes > LIMIT_CACHE_CHUNK_MAX ||
	    (o->chunk_bytes & (o->chunk_bytes - 1)))
		return fail(err, cap, "cache: chunk_size %u is not a power of two in %lld..%lld",
			    o->chunk_bytes, LIMIT_CACHE_CHUNK_MIN, LIMIT_CACHE_CHUNK_MAX);
	*file_bytes = o->size_bytes / o->n_paths / STORE_BLOCK * STORE_BLOCK;
	*stripe_bytes = *file_bytes > STORE_BLOCK ?
		(*file_bytes - STORE_BLOCK) / o->stripes / STORE_BLOCK * STORE_BLOCK : 0;
	if (*stripe_bytes < 4 * buf_bytes)
		return fail(err, cap, "cache: size %llu gives %llu-byte stripes (%u per file): "
			    "each needs at least %llu (4 of the largest entry at this chunk_size)",
			    (unsigned long long)o->size_bytes, (unsigned long long)*stripe_bytes,
			    o->stripes, (unsigned long long)(4 * buf_bytes));
	return 0;
}

/* A shard's buffers: bufs × (chunk + meta), a GiB at 16m chunks. Mapped,
 * not malloc'd: the kernel backs pages on first use, where malloc'd memory
 * is touched whole at start when a debugging allocator fills it
 * (MALLOC_PERTURB_, as meson test sets): seconds per GiB on a busy host. */
static void *bufs_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int alloc_shards(struct store *st, const struct store_opts *o)
{
	uint32_t bufs = o->bufs ? o->bufs : LIMIT_STORE_BUFS;

	st->n_shards = o->shards;
	st->shards = aligned_alloc(64, o->shards * sizeof(*st->shards));
	if (!st->shards)
		return -ENOMEM;
	memset(st->shards, 0, o->shards * sizeof(*st->shards));
	for (unsigned i = 0; i < o->shards; i++) {
		struct store_shard *sh = &st->shards[i];

		sh->n_bufs = sh->n_free = bufs;
		sh->free = malloc(bufs * sizeof(*sh->free));
		sh->mem = o->sim ? NULL : bufs_map((size_t)bufs * st->buf_bytes);
		if (!sh->free || (!o->sim && !sh->mem))
			return -ENOMEM;
		for (uint32_t b = 0; b < bufs; b++)
			sh->free[b] = bufs - 1 - b;
	}
	return 0;
}

static int alloc_stripes(struct store *st, uint64_t objects)
{
	uint32_t fifo = (uint32_t)(2 * objects / st->n_stripes + 64);

	st->stripes = calloc(st->n_stripes, sizeof(*st->stripes));
	if (!st->stripes)
		return -ENOMEM;
	for (unsigned i = 0; i < st->n_stripes; i++) {
		struct store_stripe *s = &st->stripes[i];

		s->id = i;
		s->fd = -1;
		s->fifo_cap = fifo;
		s->fifo = malloc(fifo * sizeof(*s->fifo));
		s->rq = malloc(LIMIT_STORE_REINSERT_QUEUE * sizeof(*s->rq));
		s->pad = st->sim ? NULL : block_alloc(STORE_BLOCK);
		if (!s->fifo || !s->rq || (!st->sim && !s->pad))
			return -ENOMEM;
	}
	return 0;
}

/* Open every file and lay its stripes out. */
static int open_files(struct store *st, const struct store_opts *o, uint64_t file_bytes,
		      uint64_t stripe_bytes, char *err, size_t cap)
{
	void *blk = block_alloc(STORE_BLOCK);
	int rc = blk ? 0 : -ENOMEM;

	for (unsigned i = 0; !rc && i < st->n_files; i++) {
		struct store_file *f = &st->files[i];
		bool fresh;

		f->path = strdup(o->paths[i]);
		f->fd = -1;
		rc = f->path ? file_open(f, file_bytes, &fresh, err, cap) : -ENOMEM;
		if (!rc)
			rc = fresh ? super_format(f, file_bytes, stripe_bytes, o, blk) :
				super_check(f, file_bytes, stripe_bytes, o, blk, err, cap);
		if (rc && !err[0])
			snprintf(err, cap, "%s: %s", o->paths[i], strerror(-rc));
		if (!rc && i && f->sb.n_stripes != st->files[0].sb.n_stripes)
			rc = fail(err, cap, "%s: has %u stripes, %s has %u: refusing it", f->path,
				  f->sb.n_stripes, st->files[0].path, st->files[0].sb.n_stripes);
	}
	free(blk);
	return rc;
}

static void layout(struct store *st, const struct store_opts *o, uint64_t stripe_bytes)
{
	unsigned per_file = st->n_stripes / o->n_paths;

	for (unsigned i = 0; i < st->n_stripes; i++) {
		struct store_stripe *s = &st->stripes[i];
		const struct store_file *f = o->sim ? NULL : &st->files[i / per_file];
		unsigned k = i % per_file;

		s->file = i / per_file;
		s->fd = f ? f->fd : -1;
		s->bytes = f ? f->sb.stripe_bytes : stripe_bytes;
		s->base = STORE_BLOCK + k * s->bytes;
		/* judged early enough that one more largest reservation does
		 * not overwrite what was never judged */
		s->window = s->bytes / LIMIT_STORE_REINSERT_WINDOW_DIV;
		s->window = s->window > 2 * st->buf_bytes ? s->window : 2 * st->buf_bytes;
	}
}

static int fifo_add(void *arg, const struct cindex_entry *e)
{
	struct store *st = arg;
	struct store_stripe *s = &st->stripes[CINDEX_LOC_STRIPE(e->loc)];

	if (CINDEX_LOC_STRIPE(e->loc) < st->n_stripes && s->fifo_n < s->fifo_cap)
		s->fifo[s->fifo_n++] = (struct store_fifo){ e->key,
			CINDEX_LOC_BLOCKS(e->loc) * STORE_BLOCK };
	return 0;
}

static int fifo_cmp(const void *a, const void *b)
{
	const struct store_fifo *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Recovered objects enter their stripe's FIFO in log order, so they are
 * judged (evicted or copied forward) like the ones written from now on. */
static void fifo_rebuild(struct store *st)
{
	cindex_walk(&st->ix, fifo_add, st);
	for (unsigned i = 0; i < st->n_stripes; i++)
		qsort(st->stripes[i].fifo, st->stripes[i].fifo_n, sizeof(struct store_fifo),
		      fifo_cmp);
}

static int recover(struct store *st)
{
	uint64_t cap = 2 * st->buf_bytes > (8u << 20) ? 2 * st->buf_bytes : (8u << 20);
	char *buf = aligned_alloc(STORE_BLOCK, cap);

	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < st->n_files; i++)
		ckpt_load(st, i);
	for (unsigned i = 0; i < st->n_stripes; i++)
		scan_stripe(st, &st->stripes[i], buf, cap);
	free(buf);
	fifo_rebuild(st);
	return 0;
}

int store_opts_check(const struct store_opts *o, char *err, size_t cap)
{
	uint64_t file_bytes, stripe_bytes;

	err[0] = '\0';
	return opts_check(o, &file_bytes, &stripe_bytes,
			  store_round((uint64_t)o->chunk_bytes + LIMIT_STORE_META_BYTES), err, cap);
}

int store_open(const struct store_opts *o, struct store **out, char *err, size_t cap)
{
	uint64_t file_bytes = 0, stripe_bytes = 0, buf_bytes, objects;
	struct store *st;
	int rc;

	err[0] = '\0';
	buf_bytes = store_round((uint64_t)o->chunk_bytes + LIMIT_STORE_META_BYTES);
	rc = opts_check(o, &file_bytes, &stripe_bytes, buf_bytes, err, cap);
	if (rc)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->magic = STORE_MAGIC;
	st->sim = o->sim;
	st->chunk_bytes = o->chunk_bytes;
	st->cblocks = (uint32_t)(store_round(STORE_HDR_BYTES + o->chunk_bytes) / STORE_BLOCK);
	st->buf_bytes = buf_bytes;
	st->n_files = o->sim ? 0 : o->n_paths;
	st->files = calloc(o->n_paths, sizeof(*st->files));
	rc = st->files ? 0 : -ENOMEM;
	if (!rc && !o->sim)
		rc = open_files(st, o, file_bytes, stripe_bytes, err, cap);
	st->n_stripes = o->sim ? o->stripes * o->n_paths : st->files[0].sb.n_stripes * o->n_paths;
	objects = o->size_bytes / (o->avg_object_bytes ? o->avg_object_bytes :
				   LIMIT_CACHE_AVG_OBJECT_DEFAULT) + 1;
	if (!rc)
		rc = cindex_init(&st->ix, objects);
	if (!rc)
		rc = alloc_stripes(st, objects);
	if (!rc)
		rc = alloc_shards(st, o);
	if (!rc) {
		layout(st, o, stripe_bytes);
		rc = o->sim ? 0 : recover(st);
	}
	if (rc) {
		if (!err[0])
			snprintf(err, cap, "cache: %s", strerror(-rc));
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (unsigned i = 0; st->files && i < (st->sim ? 0 : st->n_files); i++) {
		if (st->files[i].fd >= 0)
			close(st->files[i].fd);
		free(st->files[i].path);
	}
	for (unsigned i = 0; st->stripes && i < st->n_stripes; i++) {
		free(st->stripes[i].fifo);
		free(st->stripes[i].rq);
		free(st->stripes[i].pad);
	}
	for (unsigned i = 0; st->shards && i < st->n_shards; i++) {
		if (st->shards[i].mem)
			munmap(st->shards[i].mem, (size_t)st->shards[i].n_bufs * st->buf_bytes);
		free(st->shards[i].free);
	}
	free(st->shards);
	free(st->stripes);
	free(st->files);
	cindex_free(&st->ix);
	st->magic = 0;
	free(st);
}
