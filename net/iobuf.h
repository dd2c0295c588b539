/*
 * net/iobuf.h — the buffers a shard moves bytes through.
 *
 * Owns, per shard:
 *  - provided-buffer groups (io_uring buffer rings): the kernel picks a
 *    buffer for each multishot recv completion; the buffer then has one or
 *    more owners counted in refs[] (the handler, plus each queued send
 *    segment that points into it) and goes back to the kernel at zero.
 *  - a pool of head buffers (fixed blocks, LIFO so hot blocks are reused):
 *    visitor input, built response heads, origin request heads, partial
 *    origin response heads. Blocks no one took for a whole trim period
 *    are given back to the kernel (iobuf_pool_trim), so RSS follows the
 *    load down instead of staying at its peak.
 *  - send queues: an ordered list of segments sent with one sendmsg at a
 *    time; each segment says who owns its bytes and is released when sent.
 * Called by: the owning shard thread only.
 * Never: allocates after start-up.
 */
#ifndef EDGECACHE_NET_IOBUF_H
#define EDGECACHE_NET_IOBUF_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/limits.h"

/* Head buffer block: room for the largest origin response head plus the
 * headers we add, or a visitor head plus pipelined requests behind it. */
#define IOBUF_HBUF_BYTES   (LIMIT_RESPONSE_HEADER_BYTES + 8192)
/* Segments queued per send queue, and iovecs per sendmsg. */
#define IOBUF_OUTQ_SEGS    64
#define IOBUF_OUTQ_IOV     32
/* Body bytes up to this size are copied behind the head they follow. */
#define IOBUF_COALESCE_BYTES 4096

struct iobuf_group {
	struct io_uring_buf_ring *br;       /* NULL: a software group */
	char *mem;
	uint16_t bgid;
	uint32_t count;
	uint32_t size;
	uint16_t *refs;
	/* Software groups (no kernel ring: decrypted TLS plaintext) keep their
	 * free buffers on a stack; the refcounting is the same. */
	uint16_t *free;
	uint32_t n_free;
	/* Buffers out of the ring (or off the free stack): held by us. The
	 * kernel can pick only from count - n_out (docs/ARCHITECTURE.md,
	 * "Receive buffers"). */
	uint32_t n_out;
};

/* Buffers a group still has for recvs to pick. */
static inline uint32_t iobuf_group_avail(const struct iobuf_group *g)
{
	return g->count - g->n_out;
}

struct iobuf_pool {
	char *mem;
	uint32_t count;
	uint32_t n_free;
	uint32_t *free;                     /* stack of free block indices */
	/* Trimming: the lowest n_free since the last trim (stack positions
	 * below it were not taken all period), and which blocks were
	 * touched since they were last given back. */
	uint32_t low;
	uint8_t *dirty;
};

enum iobuf_seg_kind {
	IOBUF_SEG_STATIC,                   /* constant bytes, nothing to release */
	IOBUF_SEG_HBUF,                     /* a pool block: put back when sent */
	IOBUF_SEG_PBUF,                     /* a provided buffer: unref when sent */
};

struct iobuf_seg {
	const char *ptr;
	uint32_t len;
	uint8_t kind;
	uint16_t bid;                       /* PBUF: buffer id */
	struct iobuf_group *group;          /* PBUF */
	void *block;                        /* HBUF: block to put back */
};

struct iobuf_outq {
	struct iobuf_seg segs[IOBUF_OUTQ_SEGS];
	uint16_t head;                      /* index of the first queued segment */
	uint16_t n;                         /* queued segments */
	uint16_t n_pbuf;                    /* of them, IOBUF_SEG_PBUF: pinned buffers */
	bool in_flight;                     /* a sendmsg is submitted */
	/* The send in flight is zero-copy; zc_res is its result, kept until
	 * its notification says the kernel let go of the bytes. */
	bool zc;
	bool zc_wait;
	/* The kernel reported copying a zero-copy send (a loopback or a
	 * device without scatter-gather): the rest of this connection's sends
	 * are copies, as the pinning then only adds cost. */
	bool zc_never;
	int32_t zc_res;
	uint64_t bytes;                     /* queued, not yet sent */
	struct msghdr msg;                  /* stable while in flight */
	struct iovec iov[IOBUF_OUTQ_IOV];
};

/* Register `count` buffers of `size` bytes as group `bgid` on ring.
 * Returns 0 or -errno. Must run on the ring's submitter thread. */
int iobuf_group_init(struct io_uring *ring, struct iobuf_group *g, uint16_t bgid,
		     uint32_t count, uint32_t size);
void iobuf_group_free(struct io_uring *ring, struct iobuf_group *g);

static inline char *iobuf_group_ptr(const struct iobuf_group *g, uint16_t bid)
{
	return g->mem + (size_t)bid * g->size;
}

/* A completion handed us buffer bid: we are its first owner. */
static inline void iobuf_group_take(struct iobuf_group *g, uint16_t bid)
{
	g->refs[bid] = 1;
	g->n_out++;
}

static inline void iobuf_group_ref(struct iobuf_group *g, uint16_t bid)
{
	g->refs[bid]++;
}

/* A group the kernel never sees: buffers are taken with iobuf_soft_take
 * and come back on the last unref. 0 or -ENOMEM. */
int iobuf_soft_init(struct iobuf_group *g, uint32_t count, uint32_t size);
/* A free buffer of a software group (we are its first owner), or -1. */
int iobuf_soft_take(struct iobuf_group *g);

/* Drop one owner; at zero the buffer goes back to the kernel (or to a
 * software group's free stack). */
void iobuf_group_unref(struct iobuf_group *g, uint16_t bid);

int iobuf_pool_init(struct iobuf_pool *p, uint32_t count);
void iobuf_pool_free(struct iobuf_pool *p);
/* A block of IOBUF_HBUF_BYTES, or NULL when all are in use. */
void *iobuf_pool_get(struct iobuf_pool *p);
void iobuf_pool_put(struct iobuf_pool *p, void *block);
/* Give back to the kernel (MADV_DONTNEED) the pages of blocks that stayed
 * free since the last call, at most max_blocks of them; call once per
 * trim period. Returns blocks given back. Their bytes read as zero after. */
uint32_t iobuf_pool_trim(struct iobuf_pool *p, uint32_t max_blocks);

void iobuf_outq_init(struct iobuf_outq *q);
/* Queue a segment; false if the queue is full (caller must wait for a
 * send to complete). Ownership of the bytes moves to the queue. */
bool iobuf_outq_push(struct iobuf_outq *q, const struct iobuf_seg *s);
static inline bool iobuf_outq_full(const struct iobuf_outq *q)
{
	return q->n == IOBUF_OUTQ_SEGS;
}
/* Fill q->msg with the queued segments (up to IOBUF_OUTQ_IOV); returns
 * bytes described. */
uint64_t iobuf_outq_prepare(struct iobuf_outq *q);
/* Prepare sqe to send what is queued on fd: IORING_OP_SEND for one
 * segment (no msghdr to copy in), SENDMSG for several. */
void iobuf_outq_prep_send(struct iobuf_outq *q, struct io_uring_sqe *sqe, int fd);
/*
 * Zero-copy variant: when a queued segment among those the next send
 * covers is at least zc_min bytes (0 = never), prepare SEND_ZC/SENDMSG_ZC
 * asking for a usage report and return true. The kernel then posts two
 * completions: the result (IORING_CQE_F_MORE) and, once it no longer
 * reads our pages, the notification (IORING_CQE_F_NOTIF). Every segment
 * of that send must stay queued (unreleased) until the notification, so
 * the caller consumes only then. False: prepared as iobuf_outq_prep_send.
 */
bool iobuf_outq_prep_send_zc(struct iobuf_outq *q, struct io_uring_sqe *sqe, int fd,
			     uint64_t zc_min);
/*
 * Copy a small segment into the block of the last queued segment when
 * that block has room and nothing is in flight, so head and body leave
 * as one buffer. Returns true if it did (s's bytes are then released).
 */
bool iobuf_outq_coalesce(struct iobuf_outq *q, const struct iobuf_seg *s,
			 struct iobuf_pool *pool);
/* `sent` bytes went out: release the segments fully sent. */
void iobuf_outq_consume(struct iobuf_outq *q, struct iobuf_pool *pool, uint64_t sent);
/* Release one segment's bytes to their owner. */
void iobuf_seg_release(const struct iobuf_seg *s, struct iobuf_pool *pool);
/* Release everything queued (connection closing). */
void iobuf_outq_clear(struct iobuf_outq *q, struct iobuf_pool *pool);

#endif
