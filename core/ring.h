/*
 * core/ring.h — which io_uring features of the running kernel the edge
 * uses, detected once at start.
 *
 * Owns: the process's feature set (a bit per enum ring_feat), written once
 * by ring_detect on the control thread before any shard starts, read-only
 * afterwards (so any thread may ask ring_has).
 * Why one place: the edge is built against liburing 2.9 and runs on Linux
 * 6.0 and later (the opcodes it cannot do without are checked here too);
 * each feature newer than that minimum is used only where the kernel has
 * it, its fallback is the code path a 6.0 kernel (or a kernel that refuses
 * the feature) takes, and what is not used is logged once with the reason
 * (kernel too old, or turned off for a test). Debian 12's 6.1 has them all.
 * Test hook: EDGECACHE_TEST_RING_DISABLE=name[,name...] (ring_feat_name's
 * names, or "all") turns features off as if the kernel lacked them, so the
 * fallbacks run on this kernel too (tests/integration/test_ring_fallback.py).
 * Never: changes after start; touches a shard's ring (it probes its own).
 */
#ifndef EDGECACHE_CORE_RING_H
#define EDGECACHE_CORE_RING_H

#include <stdbool.h>
#include <stddef.h>

enum ring_feat {
	RING_SINGLE_ISSUER,     /* IORING_SETUP_SINGLE_ISSUER (6.0) */
	RING_DEFER_TASKRUN,     /* IORING_SETUP_DEFER_TASKRUN (6.1) */
	RING_SEND_ZC,           /* IORING_OP_SEND_ZC (6.0) and SENDMSG_ZC (6.1) */
	RING_FIXED_BUFS,        /* the store's registered buffers: off only by the
				 * test hook (edge/shard.c falls back per shard) */
	RING__COUNT,
};

/* The name the log and EDGECACHE_TEST_RING_DISABLE use. */
const char *ring_feat_name(enum ring_feat f);

/*
 * Control thread, once, before shards start: probe the kernel with one
 * small ring of its own (and one opcode probe), apply
 * EDGECACHE_TEST_RING_DISABLE, log once (info) what is used and each
 * feature that is not, with why. 0, or a negative errno with err set to
 * what to change: -EINVAL (an unknown name in the test hook), the probe
 * ring's set-up error (io_uring disabled or blocked, RLIMIT_MEMLOCK), or
 * -EOPNOTSUPP (a kernel older than 6.0: an opcode the edge needs is
 * missing).
 */
int ring_detect(char *err, size_t cap);

/* Whether feature f is used (false before ring_detect). */
bool ring_has(enum ring_feat f);

#endif /* EDGECACHE_CORE_RING_H */
