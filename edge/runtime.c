/* edge/runtime.c — building and freeing run-time snapshots (see runtime.h). */
#include "edge/runtime.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "net/tls.h"
#include "sigv4/sigv4.h"

bool rt_origin_addr(const struct origin_rt *o, struct sockaddr_storage *out, socklen_t *len)
{
	const struct origin_addr *a = &o->addr;
	uint32_t s1, s2;
	bool valid;

	do {
		s1 = atomic_load_explicit(&a->seq, memory_order_acquire);
		memcpy(out, &a->addr, sizeof(*out));
		*len = a->addr_len;
		valid = a->valid;
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&a->seq, memory_order_relaxed);
	} while ((s1 & 1) || s1 != s2);
	return valid;
}

static void publish_addr(struct origin_addr *a, const struct sockaddr *sa, socklen_t len)
{
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_acq_rel);
	memcpy(&a->addr, sa, len);
	a->addr_len = len;
	a->valid = true;
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_release);
}

int rt_resolve_origin(struct origin_rt *o, bool quiet)
{
	struct addrinfo hints, *res = NULL;
	char port[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", o->cfg->port);
	int r = getaddrinfo(o->cfg->host, port, &hints, &res);
	if (r != 0 || !res) {
		if (!quiet)
			log_warn("zone %s: origin %s: cannot resolve %s: %s", o->zone->name,
				 o->cfg->name, o->cfg->host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	struct sockaddr_storage cur;
	socklen_t cur_len;
	bool had = rt_origin_addr(o, &cur, &cur_len);
	if (!had || cur_len != res->ai_addrlen || memcmp(&cur, res->ai_addr, cur_len) != 0)
		publish_addr(&o->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* Credentials sit in their own mapping, kept out of core dumps. */
static int creds_map(struct runtime *rt)
{
	/* the current credentials, then room for the previous ones */
	rt->creds_bytes = 2 * (size_t)(rt->n_origins ? rt->n_origins : 1) *
			  sizeof(struct sigv4_creds);
	void *p = mmap(NULL, rt->creds_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rt->creds = NULL;
		return -ENOMEM;
	}
	madvise(p, rt->creds_bytes, MADV_DONTDUMP);
	rt->creds = p;
	rt->prev = rt->creds + (rt->n_origins ? rt->n_origins : 1);
	return 0;
}

static int origin_init(struct runtime *rt, struct origin_rt *o, time_t now,
		       char *err, size_t err_len)
{
	/* base_path is a decoded prefix: encoded once, like a key. */
	size_t bl = strlen(o->cfg->base_path);
	o->base_path_wire = malloc(bl * 3 + 1);
	o->per_shard = calloc(rt->n_shards, sizeof(*o->per_shard));
	if (!o->base_path_wire || !o->per_shard)
		return -ENOMEM;
	ssize_t el = sigv4_uri_encode_path(o->cfg->base_path, bl, o->base_path_wire, bl * 3 + 1);
	if (el < 0)
		return (int)el;
	o->base_path_wire[el] = '\0';
	o->base_path_wire_len = (size_t)el;
	if (o->cfg->s3_auth_enabled) {
		struct sigv4_creds *c = &rt->creds[o->id];
		int r = sigv4_creds_init(c, o->cfg->s3_access_key, o->cfg->s3_secret_key,
					 o->cfg->s3_region, o->cfg->s3_service,
					 o->cfg->s3_session_token, now);
		if (r < 0) {
			snprintf(err, err_len, "zone %s: origin %s: S3 credentials: %s",
				 o->zone->name, o->cfg->name, strerror(-r));
			return r;
		}
		o->creds = c;
		o->creds_gen = rt->generation;
	}
	if (o->cfg->scheme == CFG_SCHEME_HTTPS) {
		const char *why = NULL;
		int r = tls_client_ctx_new(o->cfg->ca_file, 0, &o->tls, &why);
		if (r < 0) {
			snprintf(err, err_len, "zone %s: origin %s: TLS: %s", o->zone->name,
				 o->cfg->name, why ? why : strerror(-r));
			return r;
		}
	}
	rt_resolve_origin(o, false);
	return 0;
}

/* A zone's certificate for HTTPS visitors (checked at load already; a
 * file changed since is caught here). */
static int zone_tls_init(const struct runtime *rt, struct zone_rt *zr, char *err, size_t err_len)
{
	const struct cfg_zone *zc = zr->cfg;
	const char *why = NULL;
	int r;

	if (!zc->tls_cert)
		return 0;
	r = tls_server_ctx_new(zc->tls_cert, zc->tls_key, 0, &zr->tls, &why);
	if (r < 0) {
		snprintf(err, err_len, "zone %s: tls_cert %s: %s", zc->name, zc->tls_cert,
			 why ? why : strerror(-r));
		return r;
	}
	/* the list passed tls_ciphers_check at load */
	r = tls_ctx_policy(zr->tls, zc->tls_ciphers, zc->tls_min_version == CFG_TLS_MIN_13, &why);
	if (r < 0) {
		snprintf(err, err_len, "zone %s: tls_ciphers: %s", zc->name, why);
		return r;
	}
	tls_tickets_lifetime(zr->tls, 2 * rt->cfg->server.tls_ticket_rotate_s);
	return 0;
}

int rt_build(struct cfg *cfg, unsigned *cfg_refs, unsigned n_shards, uint64_t generation,
	     time_t now, struct runtime **out, char *err, size_t err_len)
{
	struct runtime *rt = calloc(1, sizeof(*rt));
	uint32_t n = 0;
	int ret = -ENOMEM;

	snprintf(err, err_len, "out of memory");
	if (!rt)
		return -ENOMEM;
	rt->magic = RUNTIME_MAGIC;
	rt->generation = generation;
	rt->cfg = cfg;
	rt->cfg_refs = cfg_refs ? cfg_refs : calloc(1, sizeof(*rt->cfg_refs));
	if (!rt->cfg_refs) {
		free(rt);
		return -ENOMEM;
	}
	(*rt->cfg_refs)++;
	rt->n_shards = n_shards;
	rt->key_day = rt_utc_day(now);
	for (size_t z = 0; z < cfg->n_zones; z++)
		n += (uint32_t)cfg->zones[z].n_origins;
	rt->n_origins = n;
	rt->origins = calloc(n ? n : 1, sizeof(*rt->origins));
	rt->zones = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*rt->zones));
	rt->shard_refs = calloc(n_shards ? n_shards : 1, sizeof(*rt->shard_refs));
	if (!rt->origins || !rt->zones || !rt->shard_refs || creds_map(rt) < 0)
		goto fail;
	n = 0;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		const struct cfg_zone *zc = &cfg->zones[z];
		struct zone_rt *zr = &rt->zones[z];
		zr->cfg = zc;
		zr->n_origins = (uint32_t)zc->n_origins;
		ret = zone_tls_init(rt, zr, err, err_len);
		if (ret < 0)
			goto fail;
		if (zc == cfg->default_zone)
			rt->tls_default = zr->tls;
		zr->origins = calloc(zc->n_origins ? zc->n_origins : 1, sizeof(*zr->origins));
		if (!zr->origins)
			goto fail;
		for (size_t i = 0; i < zc->n_origins; i++) {
			struct origin_rt *o = &rt->origins[n];
			o->id = n++;
			o->zone = zc;
			o->cfg = &zc->origins[i];
			zr->origins[i] = o;
			ret = origin_init(rt, o, now, err, err_len);
			if (ret < 0)
				goto fail;
		}
	}
	/* The address only (never the content): lets a test find the mapping
	 * in /proc/PID/smaps and check it is excluded from core dumps. */
	log_debug("snapshot %llu: credentials in a no-dump mapping at %p, %zu bytes",
		  (unsigned long long)generation, (void *)rt->creds, rt->creds_bytes);
	*out = rt;
	return 0;
fail:
	rt_free(rt);
	return ret;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_creds(const struct cfg_origin *a, const struct cfg_origin *b)
{
	return same_str(a->s3_access_key, b->s3_access_key) &&
	       same_str(a->s3_secret_key, b->s3_secret_key) &&
	       same_str(a->s3_region, b->s3_region) &&
	       same_str(a->s3_session_token, b->s3_session_token);
}

static uint64_t signed_sum(const struct runtime *rt, const struct origin_rt *o, bool prev)
{
	uint64_t n = prev ? o->prev_signed_base : o->signed_base;

	for (unsigned i = 0; i < rt->n_shards; i++)
		n += atomic_load_explicit(prev ? &o->per_shard[i].signed_prev :
					  &o->per_shard[i].signed_cur, memory_order_relaxed);
	return n;
}

uint64_t rt_signed(const struct runtime *rt, const struct origin_rt *o, uint64_t gen)
{
	if (gen && gen == o->creds_gen)
		return signed_sum(rt, o, false);
	if (gen && gen == o->prev_creds_gen)
		return signed_sum(rt, o, true);
	return 0;
}

void rt_inherit_creds(struct runtime *rt, const struct runtime *old, uint64_t now_ms,
		      uint32_t overlap_ms)
{
	if (!old)
		return;
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		struct origin_rt *o = &rt->origins[i];

		if (!o->creds)
			continue;
		for (uint32_t j = 0; j < old->n_origins; j++) {
			const struct origin_rt *p = &old->origins[j];
			const struct sigv4_creds *from = NULL;
			uint64_t until = 0;

			if (!p->creds || strcmp(p->zone->uuid, o->zone->uuid) != 0 ||
			    strcmp(p->cfg->uuid, o->cfg->uuid) != 0)
				continue;
			bool changed = !same_creds(p->cfg, o->cfg);
			bool keep_prev = !changed && p->prev_creds && p->prev_until_ms > now_ms;

			/* The generations, and the counts they had so far. */
			if (changed) {
				o->prev_creds_gen = p->creds_gen;
				o->prev_signed_base = signed_sum(old, p, false);
			} else {
				o->creds_gen = p->creds_gen;
				o->signed_base = signed_sum(old, p, false);
				if (keep_prev) {
					o->prev_creds_gen = p->prev_creds_gen;
					o->prev_signed_base = signed_sum(old, p, true);
				}
			}
			if (overlap_ms == 0)
				break;
			if (changed) {
				from = p->creds;
				until = now_ms + overlap_ms;
			} else if (keep_prev) {
				from = p->prev_creds;
				until = p->prev_until_ms;
			}
			if (from) {
				memcpy(&rt->prev[i], from, sizeof(*from));
				o->prev_creds = &rt->prev[i];
				o->prev_until_ms = until;
			}
			break;
		}
	}
}

void rt_retire(struct runtime *old, struct runtime *rt, unsigned n_shards)
{
	assert(old->magic == RUNTIME_MAGIC && rt->magic == RUNTIME_MAGIC);
	rt->replaced = old;
	atomic_store(&old->pending, (int)n_shards);
}

unsigned rt_release_skipped(const struct runtime *rt, const struct runtime *old,
			    unsigned shard)
{
	unsigned n = 0;

	for (struct runtime *r = rt->replaced; r != old; n++) {
		assert(r && r->magic == RUNTIME_MAGIC && r->generation > old->generation);
		assert(r->shard_refs[shard] == 0);
		/* read before the acknowledgement: r may be freed right after */
		struct runtime *next = r->replaced;
		atomic_fetch_sub(&r->pending, 1);
		r = next;
	}
	return n;
}

void rt_free(struct runtime *rt)
{
	if (!rt)
		return;
	assert(rt->magic == RUNTIME_MAGIC);
	if (rt->zones)
		for (size_t z = 0; z < rt->cfg->n_zones; z++) {
			free(rt->zones[z].origins);
			/* sessions still open keep wolfSSL's context (refcounted) */
			tls_ctx_free(rt->zones[z].tls);
		}
	for (uint32_t i = 0; rt->origins && i < rt->n_origins; i++) {
		free(rt->origins[i].base_path_wire);
		free(rt->origins[i].per_shard);
		if (rt->origins[i].creds)
			sigv4_creds_wipe(&rt->creds[i]);
		if (rt->origins[i].prev_creds)
			sigv4_creds_wipe(&rt->prev[i]);
		tls_ctx_free(rt->origins[i].tls);
	}
	if (rt->creds)
		munmap(rt->creds, rt->creds_bytes);
	if (rt->cfg_refs && --*rt->cfg_refs == 0) {
		cfg_free(rt->cfg);
		free(rt->cfg_refs);
	}
	free(rt->origins);
	free(rt->zones);
	free(rt->shard_refs);
	rt->magic = 0;
	free(rt);
}
