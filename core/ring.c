/*
 * core/ring.c — the kernel's io_uring features, probed once (see ring.h).
 */
#include "core/ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"

/* liburing 2.9 is what the edge is built against (meson.build refuses any
 * other); this stops a build that picked up another liburing.h. */
#if !defined(IO_URING_VERSION_MAJOR) || \
	(IO_URING_VERSION_MAJOR == 2 && IO_URING_VERSION_MINOR < 9)
#error "liburing >= 2.9 is required (scripts/build-liburing)"
#endif

#define RING_ENV_DISABLE "EDGECACHE_TEST_RING_DISABLE"

static const struct {
	const char *name;
	const char *kernel;                 /* the first Linux that has it */
	const char *fallback;               /* what runs instead */
} feats[RING__COUNT] = {
	[RING_SINGLE_ISSUER] = { "single_issuer", "6.0", "a ring any thread may submit to" },
	[RING_DEFER_TASKRUN] = { "defer_taskrun", "6.1",
				 "COOP_TASKRUN: completions run at any syscall, not only the wait" },
	[RING_SEND_ZC] = { "send_zc", "6.0", "every send copies (send_zerocopy_bytes unused)" },
	[RING_FIXED_BUFS] = { "fixed_bufs", "5.1", "plain store reads and writes" },
};

static unsigned ring_feats;             /* written by ring_detect only */

const char *ring_feat_name(enum ring_feat f)
{
	return f < RING__COUNT ? feats[f].name : "?";
}

bool ring_has(enum ring_feat f)
{
	return f < RING__COUNT && (ring_feats >> f & 1u);
}

/* The features EDGECACHE_TEST_RING_DISABLE names, as bits; -EINVAL on an
 * unknown name. */
static int parse_disable(const char *v, unsigned *off, char *err, size_t cap)
{
	char buf[256];
	char *save = NULL;

	*off = 0;
	if (v == NULL)
		return 0;
	size_t len = strlen(v);

	if (len >= sizeof(buf)) {
		snprintf(err, cap, RING_ENV_DISABLE ": longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, v, len + 1);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned f = 0;

		if (strcmp(t, "all") == 0) {
			*off = (1u << RING__COUNT) - 1;
			continue;
		}
		while (f < RING__COUNT && strcmp(t, feats[f].name) != 0)
			f++;
		if (f == RING__COUNT) {
			snprintf(err, cap, RING_ENV_DISABLE "=\"%.64s\": a test hook; \"%.32s\" is "
				 "none of single_issuer, defer_taskrun, send_zc, fixed_bufs, all", v, t);
			return -EINVAL;
		}
		*off |= 1u << f;
	}
	return 0;
}

/* What the kernel has, from a small ring of our own. */
static int probe(unsigned *have)
{
	struct io_uring ring;
	struct io_uring_params p;
	int ret;

	*have = 0;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret == 0) {
		*have |= 1u << RING_SINGLE_ISSUER | 1u << RING_DEFER_TASKRUN;
	} else {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SINGLE_ISSUER;
		ret = io_uring_queue_init_params(8, &ring, &p);
		if (ret == 0) {
			*have |= 1u << RING_SINGLE_ISSUER;
		} else {
			memset(&p, 0, sizeof(p));
			ret = io_uring_queue_init_params(8, &ring, &p);
			if (ret < 0)
				return ret;
		}
	}
	struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
	if (pr && io_uring_opcode_supported(pr, IORING_OP_SEND_ZC) &&
	    io_uring_opcode_supported(pr, IORING_OP_SENDMSG_ZC))
		*have |= 1u << RING_SEND_ZC;
	if (pr)
		io_uring_free_probe(pr);

	/* Registration can fail for lack of locked memory, not only age: one
	 * page tells. */
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (page != MAP_FAILED) {
		struct iovec iov = { .iov_base = page, .iov_len = 4096 };
		if (io_uring_register_buffers(&ring, &iov, 1) == 0) {
			*have |= 1u << RING_FIXED_BUFS;
			io_uring_unregister_buffers(&ring);
		}
		munmap(page, 4096);
	}
	io_uring_queue_exit(&ring);
	return 0;
}

int ring_detect(char *err, size_t cap)
{
	unsigned have, off;
	char used[128] = "";
	size_t n = 0;
	int ret;

	ret = parse_disable(getenv(RING_ENV_DISABLE), &off, err, cap);
	if (ret < 0)
		return ret;
	ret = probe(&have);
	if (ret < 0) {
		snprintf(err, cap, "io_uring probe ring: %s", strerror(-ret));
		return ret;
	}
	/* DEFER_TASKRUN needs SINGLE_ISSUER (the kernel refuses it alone). */
	if (off & 1u << RING_SINGLE_ISSUER)
		off |= 1u << RING_DEFER_TASKRUN;
	ring_feats = have & ~off;
	for (unsigned f = 0; f < RING__COUNT; f++) {
		if (ring_feats >> f & 1u) {
			n += (size_t)snprintf(used + n, sizeof(used) - n, "%s%s", n ? ", " : "",
					      feats[f].name);
			if (n >= sizeof(used))
				n = sizeof(used) - 1;
		} else if (have >> f & 1u) {
			log_warn("io_uring: %s turned off by " RING_ENV_DISABLE " (tests only): %s",
				 feats[f].name, feats[f].fallback);
		} else {
			log_info("io_uring: %s not used: this kernel lacks it (Linux %s+): %s",
				 feats[f].name, feats[f].kernel, feats[f].fallback);
		}
	}
	log_info("io_uring: using %s", n ? used : "no optional feature");
	return 0;
}
