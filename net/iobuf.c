/* net/iobuf.c — see iobuf.h. */
#include "net/iobuf.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int iobuf_group_init(struct io_uring *ring, struct iobuf_group *g, uint16_t bgid,
		     uint32_t count, uint32_t size)
{
	int ret;

	assert(count && (count & (count - 1)) == 0 && count <= 32768);
	memset(g, 0, sizeof(*g));
	g->mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
		      MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	g->refs = calloc(count, sizeof(*g->refs));
	if (g->mem == MAP_FAILED || !g->refs) {
		ret = -ENOMEM;
		goto fail;
	}
	/* liburing maps the ring, registers it and sets its tail to 0. */
	g->br = io_uring_setup_buf_ring(ring, count, bgid, 0, &ret);
	if (!g->br)
		goto fail;
	g->bgid = bgid;
	g->count = count;
	g->size = size;
	for (uint32_t i = 0; i < count; i++)
		io_uring_buf_ring_add(g->br, iobuf_group_ptr(g, (uint16_t)i), size,
				      (unsigned short)i, io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(g->br, (int)count);
	return 0;
fail:
	if (g->mem != MAP_FAILED && g->mem)
		munmap(g->mem, (size_t)count * size);
	free(g->refs);
	memset(g, 0, sizeof(*g));
	return ret;
}

int iobuf_soft_init(struct iobuf_group *g, uint32_t count, uint32_t size)
{
	memset(g, 0, sizeof(*g));
	g->mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
		      MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	g->refs = calloc(count, sizeof(*g->refs));
	g->free = calloc(count, sizeof(*g->free));
	if (g->mem == MAP_FAILED || !g->refs || !g->free) {
		if (g->mem != MAP_FAILED)
			munmap(g->mem, (size_t)count * size);
		free(g->refs);
		free(g->free);
		memset(g, 0, sizeof(*g));
		return -ENOMEM;
	}
	g->count = count;
	g->size = size;
	for (uint32_t i = 0; i < count; i++)
		g->free[g->n_free++] = (uint16_t)(count - 1 - i);
	return 0;
}

int iobuf_soft_take(struct iobuf_group *g)
{
	if (g->n_free == 0)
		return -1;
	uint16_t bid = g->free[--g->n_free];
	g->refs[bid] = 1;
	g->n_out++;
	return bid;
}

void iobuf_group_free(struct io_uring *ring, struct iobuf_group *g)
{
	if (!g->count)
		return;
	if (!g->br) {
		munmap(g->mem, (size_t)g->count * g->size);
		free(g->refs);
		free(g->free);
		memset(g, 0, sizeof(*g));
		return;
	}
	io_uring_free_buf_ring(ring, g->br, g->count, g->bgid);
	munmap(g->mem, (size_t)g->count * g->size);
	free(g->refs);
	memset(g, 0, sizeof(*g));
}

void iobuf_group_unref(struct iobuf_group *g, uint16_t bid)
{
	assert(g->refs[bid] > 0);
	if (--g->refs[bid] > 0)
		return;
	assert(g->n_out > 0);
	g->n_out--;
	if (!g->br) {
		g->free[g->n_free++] = bid;
		return;
	}
	io_uring_buf_ring_add(g->br, iobuf_group_ptr(g, bid), g->size, bid,
			      io_uring_buf_ring_mask(g->count), 0);
	io_uring_buf_ring_advance(g->br, 1);
}

int iobuf_pool_init(struct iobuf_pool *p, uint32_t count)
{
	memset(p, 0, sizeof(*p));
	/* Reserved, not committed: only blocks in use cost memory. */
	p->mem = mmap(NULL, (size_t)count * IOBUF_HBUF_BYTES, PROT_READ | PROT_WRITE,
		      MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return -ENOMEM;
	}
	p->free = malloc((size_t)count * sizeof(*p->free));
	p->dirty = calloc(count, 1);
	if (!p->free || !p->dirty) {
		munmap(p->mem, (size_t)count * IOBUF_HBUF_BYTES);
		free(p->free);
		free(p->dirty);
		memset(p, 0, sizeof(*p));
		return -ENOMEM;
	}
	p->count = count;
	for (uint32_t i = 0; i < count; i++)
		p->free[i] = count - 1 - i;     /* block 0 on top */
	p->n_free = count;
	p->low = count;
	return 0;
}

void iobuf_pool_free(struct iobuf_pool *p)
{
	if (p->mem)
		munmap(p->mem, (size_t)p->count * IOBUF_HBUF_BYTES);
	free(p->free);
	free(p->dirty);
	memset(p, 0, sizeof(*p));
}

void *iobuf_pool_get(struct iobuf_pool *p)
{
	if (p->n_free == 0)
		return NULL;
	uint32_t i = p->free[--p->n_free];
	if (p->n_free < p->low)
		p->low = p->n_free;
	p->dirty[i] = 1;
	return p->mem + (size_t)i * IOBUF_HBUF_BYTES;
}

/*
 * The free stack is LIFO: positions below the period's low-water mark
 * were never taken during the period, so those blocks are cold. Only the
 * ones touched since their last trim cost a syscall.
 */
uint32_t iobuf_pool_trim(struct iobuf_pool *p, uint32_t max_blocks)
{
	uint32_t done = 0;

	for (uint32_t pos = 0; pos < p->low && done < max_blocks; pos++) {
		uint32_t i = p->free[pos];
		if (!p->dirty[i])
			continue;
		madvise(p->mem + (size_t)i * IOBUF_HBUF_BYTES, IOBUF_HBUF_BYTES, MADV_DONTNEED);
		p->dirty[i] = 0;
		done++;
	}
	p->low = p->n_free;
	return done;
}

void iobuf_pool_put(struct iobuf_pool *p, void *block)
{
	size_t off = (size_t)((char *)block - p->mem);
	assert(block && off % IOBUF_HBUF_BYTES == 0 && off / IOBUF_HBUF_BYTES < p->count);
	assert(p->n_free < p->count);
	p->free[p->n_free++] = (uint32_t)(off / IOBUF_HBUF_BYTES);
}

void iobuf_outq_init(struct iobuf_outq *q)
{
	q->head = q->n = q->n_pbuf = 0;
	q->in_flight = false;
	q->zc = q->zc_wait = q->zc_never = false;
	q->bytes = 0;
}

bool iobuf_outq_push(struct iobuf_outq *q, const struct iobuf_seg *s)
{
	if (q->n == IOBUF_OUTQ_SEGS)
		return false;
	q->segs[(q->head + q->n) % IOBUF_OUTQ_SEGS] = *s;
	q->n++;
	if (s->kind == IOBUF_SEG_PBUF)
		q->n_pbuf++;
	q->bytes += s->len;
	return true;
}

uint64_t iobuf_outq_prepare(struct iobuf_outq *q)
{
	uint64_t total = 0;
	unsigned n = q->n < IOBUF_OUTQ_IOV ? q->n : IOBUF_OUTQ_IOV;

	for (unsigned i = 0; i < n; i++) {
		const struct iobuf_seg *s = &q->segs[(q->head + i) % IOBUF_OUTQ_SEGS];
		q->iov[i].iov_base = (void *)s->ptr;
		q->iov[i].iov_len = s->len;
		total += s->len;
	}
	memset(&q->msg, 0, sizeof(q->msg));
	q->msg.msg_iov = q->iov;
	q->msg.msg_iovlen = n;
	return total;
}

void iobuf_outq_prep_send(struct iobuf_outq *q, struct io_uring_sqe *sqe, int fd)
{
	if (q->n == 1) {
		const struct iobuf_seg *s = &q->segs[q->head];
		io_uring_prep_send(sqe, fd, s->ptr, s->len, MSG_NOSIGNAL);
		return;
	}
	iobuf_outq_prepare(q);
	io_uring_prep_sendmsg(sqe, fd, &q->msg, MSG_NOSIGNAL);
}

bool iobuf_outq_prep_send_zc(struct iobuf_outq *q, struct io_uring_sqe *sqe, int fd,
			     uint64_t zc_min)
{
	unsigned n = q->n < IOBUF_OUTQ_IOV ? q->n : IOBUF_OUTQ_IOV;
	bool big = false;

	for (unsigned i = 0; zc_min && i < n && !big; i++)
		big = q->segs[(q->head + i) % IOBUF_OUTQ_SEGS].len >= zc_min;
	if (!big) {
		iobuf_outq_prep_send(q, sqe, fd);
		return false;
	}
	if (q->n == 1) {
		const struct iobuf_seg *s = &q->segs[q->head];
		io_uring_prep_send_zc(sqe, fd, s->ptr, s->len, MSG_NOSIGNAL,
				      IORING_SEND_ZC_REPORT_USAGE);
		return true;
	}
	iobuf_outq_prepare(q);
	io_uring_prep_sendmsg_zc(sqe, fd, &q->msg, MSG_NOSIGNAL);
	/* io_uring_prep_sendmsg_zc takes no zc flags: they live in ioprio. */
	sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
	return true;
}

bool iobuf_outq_coalesce(struct iobuf_outq *q, const struct iobuf_seg *s,
			 struct iobuf_pool *pool)
{
	if (q->n == 0 || q->in_flight || s->len > IOBUF_COALESCE_BYTES)
		return false;
	struct iobuf_seg *last = &q->segs[(q->head + q->n - 1) % IOBUF_OUTQ_SEGS];
	/* Only a block whose bytes start at the block and end at len. */
	if (last->kind != IOBUF_SEG_HBUF || last->ptr != last->block ||
	    IOBUF_HBUF_BYTES - last->len < s->len)
		return false;
	memcpy((char *)last->block + last->len, s->ptr, s->len);
	last->len += s->len;
	q->bytes += s->len;
	iobuf_seg_release(s, pool);
	return true;
}

void iobuf_seg_release(const struct iobuf_seg *s, struct iobuf_pool *pool)
{
	if (s->kind == IOBUF_SEG_HBUF)
		iobuf_pool_put(pool, s->block);
	else if (s->kind == IOBUF_SEG_PBUF)
		iobuf_group_unref(s->group, s->bid);
}

void iobuf_outq_consume(struct iobuf_outq *q, struct iobuf_pool *pool, uint64_t sent)
{
	assert(sent <= q->bytes);
	q->bytes -= sent;
	while (sent > 0 || (q->n > 0 && q->segs[q->head].len == 0)) {
		struct iobuf_seg *s = &q->segs[q->head];
		assert(q->n > 0);
		if (sent < s->len) {
			s->ptr += sent;
			s->len -= (uint32_t)sent;
			return;
		}
		sent -= s->len;
		if (s->kind == IOBUF_SEG_PBUF)
			q->n_pbuf--;
		iobuf_seg_release(s, pool);
		q->head = (uint16_t)((q->head + 1) % IOBUF_OUTQ_SEGS);
		q->n--;
	}
}

void iobuf_outq_clear(struct iobuf_outq *q, struct iobuf_pool *pool)
{
	q->n_pbuf = 0;
	while (q->n > 0) {
		iobuf_seg_release(&q->segs[q->head], pool);
		q->head = (uint16_t)((q->head + 1) % IOBUF_OUTQ_SEGS);
		q->n--;
	}
	q->bytes = 0;
}
