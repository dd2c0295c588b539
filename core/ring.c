/*
 * core/ring.c — the kernel's io_uring features, probed once (see ring.h).
 */
#include "core/ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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
	[RING_SEND_ZC] = { "send_zc", "6.1", "every send copies (send_zerocopy_bytes unused)" },
	/* in every kernel we run on: only the test hook turns it off here (a
	 * registration refused for RLIMIT_MEMLOCK is edge/shard.c's, per shard) */
	[RING_FIXED_BUFS] = { "fixed_bufs", "5.1", "plain store reads and writes" },
};

/* The opcodes the edge cannot run without, all in Linux 6.0. */
static const struct {
	unsigned op;
	const char *name;
} required[] = {
	{ IORING_OP_ACCEPT, "accept" }, { IORING_OP_RECV, "recv" },
	{ IORING_OP_SENDMSG, "sendmsg" }, { IORING_OP_CONNECT, "connect" },
	{ IORING_OP_LINK_TIMEOUT, "link-timeout" }, { IORING_OP_SHUTDOWN, "shutdown" },
	{ IORING_OP_READ_FIXED, "read-fixed" }, { IORING_OP_WRITE_FIXED, "write-fixed" },
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

/* Why a plain ring could not be set up, with what to change. */
static void setup_error(int ret, char *err, size_t cap)
{
	struct rlimit rl;

	if (ret == -ENOSYS || ret == -EPERM)
		snprintf(err, cap, "io_uring is unavailable (%s): it needs Linux >= 6.0 with "
			 "io_uring enabled (sysctl kernel.io_uring_disabled=0; not blocked by "
			 "seccomp in containers)", strerror(-ret));
	else if (ret == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		snprintf(err, cap, "io_uring ring setup failed: out of locked memory "
			 "(RLIMIT_MEMLOCK is %llu KiB): raise it with `ulimit -l unlimited` or "
			 "LimitMEMLOCK=infinity in the systemd unit",
			 (unsigned long long)rl.rlim_cur / 1024);
	else
		snprintf(err, cap, "io_uring setup failed: %s", strerror(-ret));
}

/* What the kernel has, from one small ring of our own and one opcode probe;
 * -EOPNOTSUPP (err set) if it lacks an opcode the edge needs. */
static int probe(unsigned *have, char *err, size_t cap)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER,
		0,
	};
	struct io_uring ring;
	struct io_uring_params p;
	int ret = -EINVAL;
	size_t t;

	/* fixed buffers: see feats[] */
	*have = 1u << RING_FIXED_BUFS;
	for (t = 0; t < sizeof(tries) / sizeof(tries[0]); t++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[t];
		ret = io_uring_queue_init_params(8, &ring, &p);
		if (ret == 0)
			break;
	}
	if (ret < 0) {
		setup_error(ret, err, cap);
		return ret;
	}
	if (tries[t] & IORING_SETUP_SINGLE_ISSUER)
		*have |= 1u << RING_SINGLE_ISSUER;
	if (tries[t] & IORING_SETUP_DEFER_TASKRUN)
		*have |= 1u << RING_DEFER_TASKRUN;

	struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
	ret = pr ? 0 : -EOPNOTSUPP;
	for (size_t i = 0; pr && i < sizeof(required) / sizeof(required[0]); i++) {
		if (!io_uring_opcode_supported(pr, (int)required[i].op)) {
			snprintf(err, cap, "this kernel's io_uring lacks %s: Linux >= 6.0 is "
				 "required", required[i].name);
			ret = -EOPNOTSUPP;
			break;
		}
	}
	if (!pr)
		snprintf(err, cap, "this kernel's io_uring has no opcode probe: Linux >= 6.0 "
			 "is required");
	if (pr && io_uring_opcode_supported(pr, IORING_OP_SEND_ZC) &&
	    io_uring_opcode_supported(pr, IORING_OP_SENDMSG_ZC))
		*have |= 1u << RING_SEND_ZC;
	if (pr)
		io_uring_free_probe(pr);
	io_uring_queue_exit(&ring);
	return ret;
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
	ret = probe(&have, err, cap);
	if (ret < 0)
		return ret;
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
