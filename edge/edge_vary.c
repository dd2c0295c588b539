/*
 * edge/edge_vary.c — Vary with stored variants in the request path (see
 * edge_vary.h): the marker's store write. What to write and which key a
 * variant gets is cache/vary.c's.
 */
#include "edge/edge_vary.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "core/loop.h"
#include "edge/shard.h"
#include "edge/edge_cache.h"
#include "edge/visitor.h"

/* A new epoch, taken when the marker starts over (vary_add): unique per
 * marker written (shard, request, clocks), so that variants of an older
 * marker are never reached again. */
static uint64_t new_epoch(const struct shard *sh, const struct exchange *ex)
{
	uint64_t in[3] = { sh->lp.unix_ms, ex->reqid, loop_now_ns() };
	return XXH3_64bits(in, sizeof(in));
}

/* Write the marker under primary (meta only): best effort. */
static int write_marker(struct shard *sh, const struct vary_state *s, const char *names,
			size_t names_len, struct cindex_key primary, const char *key_text,
			size_t key_text_len, uint32_t expires)
{
	char buf[VARY_MARKER_MAX_BYTES];
	struct store_io io[4];
	uint32_t wid;

	int len = vary_marker_encode(s, names, names_len, buf, sizeof(buf));
	if (len < 0 || !ecache_write_room(sh, 4))
		return -EBUSY;
	struct store_obj obj = {
		.meta = buf, .meta_len = (uint32_t)len, .body_len = 0,
		.expires = expires, .key_text = key_text, .key_text_len = key_text_len,
	};
	int n = store_write_begin(sh->cache.store, sh->id, primary, &obj, &wid, io, 4);
	if (n < 0)
		return -EBUSY;
	sh->cache.fill_began_ms[wid % LIMIT_STORE_WRITES] = sh->lp.now_ms;
	ecache_submit_writes(sh, io, n);
	COUNT(sh, cache_vary_markers);
	return 0;
}

int evary_fill(struct shard *sh, struct exchange *ex, const struct hcache_resp_info *ri,
	       struct cindex_key primary, const char *key_text, size_t key_text_len,
	       uint32_t expires, struct cindex_key *okey, bool *marker_written)
{
	struct vary_state *s = &ex->cache.vary;
	char names[LIMIT_VARY_NAMES_BYTES];
	size_t names_len;
	uint64_t vh;

	*marker_written = false;
	if (hcache_vary_names(&ri->vary, names, sizeof(names), &names_len) < 0 ||
	    vary_request_key(names, names_len, &ex->req, &vh) < 0)
		return -EINVAL;
	int r = vary_add(s, XXH3_64bits(names, names_len), new_epoch(sh, ex), vh, primary, okey);
	if (r == -ENOSPC) {
		COUNT(sh, cache_vary_refused);
		return -ENOSPC;
	}
	if (r == 0)
		return 0;                   /* listed: only the variant is rewritten */
	if (write_marker(sh, s, names, names_len, primary, key_text, key_text_len, expires) < 0)
		return -EBUSY;
	*marker_written = true;
	return 0;
}
