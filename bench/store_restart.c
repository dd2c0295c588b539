/*
 * bench/store_restart.c — start-up time of the disk store with N small
 * objects (default 1 million): written through the real plan API, the
 * entries of adjacent ios coalesced into big sequential pwritev calls,
 * then the store is reopened (1) with no checkpoint, so the scan indexes
 * every entry (the SIGKILL worst case: a whole log to rescan), and (2)
 * from a checkpoint (the normal restart). Prints the seconds of each.
 *
 * usage: store_restart [dir (default /var/tmp)] [objects (default 1000000)]
 * The cache file (objects × 4 KiB + room) is removed at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"

#define BATCH 256                           /* ios per pwritev: 1 MiB */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cindex_key key_of(uint64_t i)
{
	return (struct cindex_key){ i * 0x9e3779b97f4a7c15ull + 1, (i + 7) * 0xbf58476d1ce4e5b9ull };
}

/* Write `n` ios, contiguous runs as one pwritev each; complete them. */
static int flush(struct store *st, struct store_io *io, unsigned n)
{
	struct iovec iov[BATCH];
	unsigned i = 0;

	while (i < n) {
		unsigned j = i, k = 0;
		size_t len = 0;
		ssize_t w;

		while (j < n && (j == i || io[j].off == io[j - 1].off + io[j - 1].len) &&
		       io[j].fd == io[i].fd) {
			iov[k++] = (struct iovec){ io[j].buf, io[j].len };
			len += io[j++].len;
		}
		w = pwritev(io[i].fd, iov, (int)k, (off_t)io[i].off);
		for (; i < j; i++)
			store_write_done(st, &io[i], w == (ssize_t)len ? (int)io[i].len : -EIO);
		if (w != (ssize_t)len)
			return -EIO;
	}
	return 0;
}

static int fill(struct store *st, uint64_t n)
{
	static const char meta[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	static char body[100];
	struct store_io io[BATCH + 2];
	unsigned pending = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct store_obj o = { .meta = meta, .meta_len = sizeof(meta) - 1,
				       .body_len = sizeof(body), .expires = 1 };
		uint32_t wid;
		size_t used;
		int k = store_write_begin(st, 0, key_of(i), &o, &wid, io + pending, 2);

		if (k < 0)
			return k;
		pending += (unsigned)k;
		k = store_write_append(st, 0, wid, body, sizeof(body), &used, io + pending, 1);
		if (k < 0)
			return k;
		pending += (unsigned)k;
		if (pending >= BATCH && flush(st, io, pending))
			return -EIO;
		pending = pending >= BATCH ? 0 : pending;
	}
	return flush(st, io, pending);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	char path[512], ckpt[520], err[256];
	const char *paths[1] = { path };
	struct store_opts o = { .paths = paths, .n_paths = 1, .chunk_bytes = 1u << 20,
				.stripes = 1, .shards = 1, .avg_object_bytes = 4096,
				.bufs = BATCH + 4 };
	struct store *st;
	double t0, t_write, t_scan, t_ckpt, t_load;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/store_restart.%d", dir, getpid());
	snprintf(ckpt, sizeof(ckpt), "%s.idx", path);
	o.size_bytes = n * 4096 + n * 4096 / 4 + (64u << 20);   /* no wrap */
	if (store_open(&o, &st, err, sizeof(err))) {
		fprintf(stderr, "store_restart: %s\n", err);
		return 1;
	}
	t0 = now_s();
	if (fill(st, n)) {
		fprintf(stderr, "store_restart: write failed\n");
		store_close(st);
		goto out;
	}
	t_write = now_s() - t0;
	store_close(st);                        /* "SIGKILL": no checkpoint */
	t0 = now_s();
	if (store_open(&o, &st, err, sizeof(err)))
		goto out_err;
	t_scan = now_s() - t0;
	printf("objects %llu: written in %.2f s; restart by scan (no checkpoint) %.2f s, "
	       "%llu indexed\n", (unsigned long long)n, t_write, t_scan,
	       (unsigned long long)store_counter(st, STORE_CTR_scan_entries));
	t0 = now_s();
	store_checkpoint(st);
	t_ckpt = now_s() - t0;
	store_close(st);
	t0 = now_s();
	if (store_open(&o, &st, err, sizeof(err)))
		goto out_err;
	t_load = now_s() - t0;
	printf("checkpoint written in %.2f s; restart from checkpoint %.2f s, %llu indexed\n",
	       t_ckpt, t_load, (unsigned long long)store_counter(st, STORE_CTR_ckpt_entries));
	store_close(st);
	rc = 0;
	goto out;
out_err:
	fprintf(stderr, "store_restart: %s\n", err);
out:
	unlink(path);
	unlink(ckpt);
	return rc;
}
