/*
 * cache/store_int.h — the store's internal types, shared by store.c (the
 * shard side) and store_open.c (files, checkpoints, scan). Not for other
 * modules: they use cache/store.h.
 */
#ifndef EDGECACHE_CACHE_STORE_INT_H
#define EDGECACHE_CACHE_STORE_INT_H

#include "cache/store.h"

#define STORE_MAGIC        0x53544f52u      /* "STOR": struct store */
#define STORE_ENTRY_MAGIC  0x45434531u      /* "ECE1": an entry header */
#define STORE_VERSION      1
#define STORE_SUPER_MAGIC  0x3130455a43474445ull  /* "EDGCZE01" */
#define STORE_CKPT_MAGIC   0x31305450434b4345ull  /* "ECKCPT01" */

enum store_type { STORE_T_META = 1, STORE_T_CHUNK = 2, STORE_T_PAD = 3 };

/* Entry header, 64 bytes at the start of every entry (docs/cache-store.md). */
struct store_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;                       /* enum store_type */
	uint16_t meta_len;                  /* META: caller's meta bytes */
	struct cindex_key key;
	uint64_t pos;                       /* absolute log position of this entry */
	uint64_t total_len;                 /* object body bytes */
	uint32_t seq;                       /* object write sequence (per shard) */
	uint32_t chunk;                     /* CHUNK: index */
	uint32_t payload_len;               /* bytes after the header */
	uint32_t hdr_csum;                  /* XXH3-64 (low 32) of the header, this 0 */
	uint64_t payload_csum;              /* XXH3-64 of the payload */
};
_Static_assert(sizeof(struct store_hdr) == STORE_HDR_BYTES, "64-byte header");

/* First bytes of a META payload: what the index needs after a scan. */
struct store_objrec {
	uint32_t expires;
	uint16_t prefix[LIMIT_CINDEX_PREFIX_DEPTH];
	uint32_t spare;
};
_Static_assert(sizeof(struct store_objrec) == STORE_OBJREC_BYTES, "objrec");

/* Superblock, at offset 0 of every cache file, one block. */
struct store_super {
	uint64_t magic;
	uint32_t version;
	uint32_t block;                     /* STORE_BLOCK */
	uint8_t uuid[16];
	uint64_t file_bytes;
	uint64_t stripe_bytes;
	uint32_t chunk_bytes;
	uint32_t n_stripes;
	uint64_t data_off;                  /* first stripe */
	uint64_t csum;                      /* XXH3-64 of the bytes above */
};

/* Log-order record of one reservation: judged when the cursor nears it. */
struct store_fifo {
	struct cindex_key key;
	uint64_t pos;
};

struct store_stripe {
	uint32_t id;                        /* global: file * stripes + i */
	uint32_t file;
	int fd;
	uint64_t base;                      /* file offset of the stripe */
	uint64_t bytes;
	uint64_t cursor;                    /* next free position (atomic stores) */
	uint64_t safe;                      /* oldest uncommitted reservation */
	uint64_t window;                    /* judge this far ahead of the cursor */
	struct store_fifo *fifo;
	uint32_t fifo_cap, fifo_head, fifo_n;
	struct cindex_entry *rq;            /* copy-forward queue */
	uint32_t rq_head, rq_n;
	void *pad;                          /* one aligned block for pad headers */
	bool pad_busy;
};

struct store_wr {
	bool busy, failed;
	uint32_t gen;
	struct cindex_key key;
	uint32_t stripe;
	uint64_t pos;                       /* reservation start (pad included) */
	uint64_t entry_pos;                 /* next entry's position */
	uint32_t entry, n_entries;          /* next entry to seal; 0 = META */
	uint32_t fill;                      /* payload bytes in buf */
	int32_t buf;
	uint32_t meta_len, seq, inflight;
	uint64_t body_done;
	struct cindex_entry ent;            /* committed when all is written */
};

struct store_shard {
	char *mem;                          /* n_bufs × buf_bytes, aligned */
	uint32_t n_bufs, n_free;
	uint32_t *free;
	struct store_wr w[LIMIT_STORE_WRITES];
	uint32_t w_next, seq;
	uint64_t ctr[STORE_CTR__COUNT];     /* this shard is the only writer */
} __attribute__((aligned(64)));

struct store_file {
	char *path;
	int fd;
	struct store_super sb;
};

struct store {
	uint32_t magic;
	bool sim;
	uint32_t chunk_bytes;
	uint32_t cblocks;                   /* full chunk entry, in blocks */
	uint64_t buf_bytes;                 /* the largest entry */
	struct store_file *files;
	unsigned n_files;
	struct store_stripe *stripes;
	unsigned n_stripes;
	struct store_shard *shards;
	unsigned n_shards;
	struct cindex ix;
	uint64_t ctl_ctr[STORE_CTR__COUNT]; /* start-up and control thread */
	/* store_freeze: no write is begun or continued (control thread sets,
	 * shards read it relaxed at each plan). */
	bool frozen;
	uint64_t fault_nth;
	int fault_err;
};

static inline void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

uint64_t store_round(uint64_t n);
uint64_t store_chunk_entry_bytes(const struct store *st, uint64_t total, uint64_t i);
uint64_t store_object_bytes(const struct store *st, uint64_t meta_blocks, uint64_t total,
			    bool chunked);
bool store_is_stale(const struct store *st, const struct cindex_entry *e);
void store_index_put(struct store *st, uint64_t *ctr, const struct cindex_entry *e);
void store_hdr_seal(struct store_hdr *h, const void *payload);
bool store_hdr_ok(const struct store_hdr *h);

#endif /* EDGECACHE_CACHE_STORE_INT_H */
