/*
 * tests/unit/test_iobuf.c — the counts the receive-buffer shares rest on
 * (docs/ARCHITECTURE.md "Receive buffers"): buffers out of a group,
 * provided buffers pinned by a send queue, and the head pool's trim.
 */
#include "net/iobuf.h"

#include <string.h>

#include "check.h"

/* A software group: taken, shared by two queues, back at the last unref. */
static void test_group_avail(void)
{
	struct iobuf_group g;
	CHECK_EQ_INT(iobuf_soft_init(&g, 4, 1024), 0);
	CHECK_EQ_INT(iobuf_group_avail(&g), 4);
	int b[4];
	for (int i = 0; i < 4; i++)
		b[i] = iobuf_soft_take(&g);
	CHECK_EQ_INT(iobuf_group_avail(&g), 0);
	CHECK_EQ_INT(iobuf_soft_take(&g), -1);          /* one past the count */
	iobuf_group_ref(&g, (uint16_t)b[0]);
	iobuf_group_unref(&g, (uint16_t)b[0]);
	CHECK_EQ_INT(iobuf_group_avail(&g), 0);         /* still one owner */
	for (int i = 0; i < 4; i++)
		iobuf_group_unref(&g, (uint16_t)b[i]);
	CHECK_EQ_INT(iobuf_group_avail(&g), 4);
	iobuf_group_free(NULL, &g);
}

/* n_pbuf follows provided-buffer segments through push, consume, clear. */
static void test_outq_pinned(void)
{
	struct iobuf_group g;
	struct iobuf_pool pool;
	struct iobuf_outq q;
	CHECK_EQ_INT(iobuf_soft_init(&g, 8, 64), 0);
	CHECK_EQ_INT(iobuf_pool_init(&pool, 4), 0);
	iobuf_outq_init(&q);
	for (int i = 0; i < 3; i++) {
		int bid = iobuf_soft_take(&g);
		struct iobuf_seg s = { .ptr = iobuf_group_ptr(&g, (uint16_t)bid), .len = 10,
				       .kind = IOBUF_SEG_PBUF, .bid = (uint16_t)bid, .group = &g };
		CHECK(iobuf_outq_push(&q, &s));
	}
	struct iobuf_seg st = { .ptr = "abc", .len = 3, .kind = IOBUF_SEG_STATIC };
	CHECK(iobuf_outq_push(&q, &st));
	CHECK_EQ_INT(q.n_pbuf, 3);
	CHECK_EQ_INT(iobuf_group_avail(&g), 5);
	iobuf_outq_consume(&q, &pool, 15);              /* one and a half */
	CHECK_EQ_INT(q.n_pbuf, 2);
	CHECK_EQ_INT(iobuf_group_avail(&g), 6);
	iobuf_outq_clear(&q, &pool);
	CHECK_EQ_INT(q.n_pbuf, 0);
	CHECK_EQ_INT(iobuf_group_avail(&g), 8);
	iobuf_pool_free(&pool);
	iobuf_group_free(NULL, &g);
}

/* Blocks free for a whole period are given back (and read as zero);
 * blocks taken during it are not; a block in use never is. */
static void test_pool_trim(void)
{
	struct iobuf_pool p;
	char *b[4];
	CHECK_EQ_INT(iobuf_pool_init(&p, 4), 0);
	for (int i = 0; i < 4; i++) {
		b[i] = iobuf_pool_get(&p);
		memset(b[i], 'x', IOBUF_HBUF_BYTES);
	}
	CHECK(iobuf_pool_get(&p) == NULL);
	for (int i = 3; i >= 1; i--)
		iobuf_pool_put(&p, b[i]);
	/* This period took every block: nothing was cold all along. */
	CHECK_EQ_INT(iobuf_pool_trim(&p, 100), 0);
	/* A quiet period: the three free ones go, b[0] (in use) stays. */
	CHECK_EQ_INT(iobuf_pool_trim(&p, 100), 3);
	CHECK(b[0][0] == 'x' && b[0][IOBUF_HBUF_BYTES - 1] == 'x');
	CHECK(b[1][0] == 0 && b[3][IOBUF_HBUF_BYTES - 1] == 0);
	CHECK_EQ_INT(iobuf_pool_trim(&p, 100), 0);      /* already given back */
	/* Taken and put back within a period: warm, kept; the bound holds. */
	char *w = iobuf_pool_get(&p);
	w[0] = 'y';
	iobuf_pool_put(&p, w);
	CHECK_EQ_INT(iobuf_pool_trim(&p, 100), 0);
	CHECK_EQ_INT(iobuf_pool_trim(&p, 0), 0);        /* max_blocks 0: none */
	CHECK_EQ_INT(iobuf_pool_trim(&p, 1), 1);
	iobuf_pool_put(&p, b[0]);
	iobuf_pool_free(&p);
}

int main(void)
{
	test_group_avail();
	test_outq_pinned();
	test_pool_trim();
	return check_exit();
}
