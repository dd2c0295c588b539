/* edge/runtime.c — building and freeing run-time snapshots (see runtime.h). */
#include "edge/runtime.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"
#include "net/tls.h"
#include "sigv4/sigv4.h"

bool rt_origin_addr(const struct rt_origin *o, struct sockaddr_storage *out, socklen_t *len)
{
	const struct rt_addr *a = &o->addr;
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

static void publish_addr(struct rt_addr *a, const struct sockaddr *sa, socklen_t len)
{
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_acq_rel);
	memcpy(&a->addr, sa, len);
	a->addr_len = len;
	a->valid = true;
	atomic_fetch_add_explicit(&a->seq, 1, memory_order_release);
}

int rt_resolve_origin(struct rt_origin *o, bool quiet)
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

/* ---- the files a snapshot reads --------------------------------------------- */

/* Read path whole (certificates, keys, CA bundles: kilobytes to a few
 * hundred) and hash it; bytes -1 if it cannot be read. The copy is wiped:
 * a zone's key file is a secret. */
static struct rt_file_id file_id(const char *path)
{
	struct rt_file_id id = { .hash = 0, .bytes = -1 };
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return id;
	char *buf = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (buf = malloc(st.st_size + 1))) {
		size_t len = 0;
		ssize_t n = 1;
		/* up to one byte past the size: a file that grew is not cut */
		while (len <= (size_t)st.st_size &&
		       (n = read(fd, buf + len, (size_t)st.st_size + 1 - len)) > 0)
			len += (size_t)n;
		if (n >= 0) {
			id.hash = XXH3_64bits(buf, len);
			id.bytes = (int64_t)len;
		}
		explicit_bzero(buf, (size_t)st.st_size + 1);
	}
	free(buf);
	close(fd);
	return id;
}

static bool file_same(const char *path, const struct rt_file_id *was)
{
	struct rt_file_id now = file_id(path);

	return was->bytes >= 0 && now.bytes == was->bytes && now.hash == was->hash;
}

static const char *ca_path(const struct cfg_origin *c)
{
	return c->ca_file ? c->ca_file : TLS_SYSTEM_CA_FILE;
}

bool rt_files_same(const struct runtime *rt)
{
	for (size_t z = 0; z < rt->cfg->n_zones; z++) {
		const struct rt_zone_state *zr = &rt->zones[z];

		if (zr->cfg->tls_cert && (!file_same(zr->cfg->tls_cert, &zr->cert_id) ||
					  !file_same(zr->cfg->tls_key, &zr->key_id)))
			return false;
	}
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		const struct rt_origin *o = &rt->origins[i];

		if (o->cfg->scheme == CFG_SCHEME_HTTPS && !file_same(ca_path(o->cfg), &o->ca_id))
			return false;
	}
	return true;
}

/* ---- credentials objects ------------------------------------------------ */

/* Each object sits in a mapping of its own, kept out of core dumps. */
static struct origin_creds *creds_map(unsigned n_shards)
{
	size_t bytes = sizeof(struct origin_creds) +
		       (size_t)(n_shards ? n_shards : 1) * sizeof(struct origin_creds_shard);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_DONTDUMP);
	struct origin_creds *c = p;         /* zero-filled by the kernel */
	c->magic = ORIGIN_CREDS_MAGIC;
	c->n_shards = n_shards;
	c->map_bytes = bytes;
	return c;
}

void rt_creds_free(struct origin_creds *c)
{
	if (!c)
		return;
	assert(c->magic == ORIGIN_CREDS_MAGIC);
	sigv4_creds_wipe(&c->cur);
	sigv4_creds_wipe(&c->prev);
	size_t bytes = c->map_bytes;
	explicit_bzero(c, sizeof(*c));
	munmap(c, bytes);
}

int rt_creds_new(const struct cfg_origin *oc, unsigned n_shards, uint64_t gen, time_t now,
		 struct origin_creds **out, char *err, size_t err_len)
{
	struct origin_creds *c = creds_map(n_shards);

	if (!c) {
		snprintf(err, err_len, "origin %s: S3 credentials: out of memory", oc->name);
		return -ENOMEM;
	}
	int r = sigv4_creds_init(&c->cur, oc->s3_access_key, oc->s3_secret_key, oc->s3_region,
				 oc->s3_service, oc->s3_session_token, now);
	if (r < 0) {
		snprintf(err, err_len, "origin %s: S3 credentials: %s", oc->name, strerror(-r));
		rt_creds_free(c);
		return r;
	}
	c->gen = gen;
	/* The address only (never the content): lets a test find the mapping
	 * in /proc/PID/smaps and check it is excluded from core dumps. */
	log_debug("snapshot %llu: credentials in a no-dump mapping at %p, %zu bytes",
		  (unsigned long long)gen, (void *)c, c->map_bytes);
	*out = c;
	return 0;
}

static bool same_sigv4(const struct sigv4_creds *a, const struct sigv4_creds *b)
{
	return strcmp(a->access_key, b->access_key) == 0 && strcmp(a->secret, b->secret) == 0 &&
	       strcmp(a->region, b->region) == 0 && strcmp(a->service, b->service) == 0 &&
	       strcmp(a->session_token, b->session_token) == 0;
}

uint64_t rt_creds_signed(const struct origin_creds *c, bool prev)
{
	uint64_t n = prev ? c->prev_signed_base : c->signed_base;

	for (unsigned i = 0; i < c->n_shards; i++)
		n += atomic_load_explicit(prev ? &c->per_shard[i].signed_prev :
					  &c->per_shard[i].signed_cur, memory_order_relaxed);
	return n;
}

bool rt_creds_follow(struct origin_creds *n, const struct origin_creds *old, uint64_t now_ms,
		     uint32_t overlap_ms)
{
	bool changed = !same_sigv4(&n->cur, &old->cur);
	bool keep_prev = !changed && old->has_prev && old->prev_until_ms > now_ms;

	if (changed) {
		n->prev_gen = old->gen;
		n->prev_signed_base = rt_creds_signed(old, false);
		if (overlap_ms) {
			memcpy(&n->prev, &old->cur, sizeof(n->prev));
			n->has_prev = true;
			n->prev_until_ms = now_ms + overlap_ms;
		}
		return true;
	}
	n->gen = old->gen;
	n->signed_base = rt_creds_signed(old, false);
	if (old->prev_gen) {
		n->prev_gen = old->prev_gen;
		n->prev_signed_base = rt_creds_signed(old, true);
	}
	if (keep_prev) {
		memcpy(&n->prev, &old->prev, sizeof(n->prev));
		n->has_prev = true;
		n->prev_until_ms = old->prev_until_ms;
	}
	return false;
}

int rt_creds_rolled(const struct origin_creds *old, time_t now, uint64_t now_ms,
		    struct origin_creds **out)
{
	int64_t today = sigv4_day(now), tomorrow = sigv4_day(now + 86400);
	bool have = false, have_next = false;

	for (int k = 0; k < 2; k++) {
		have |= old->cur.keys[k].day == (uint32_t)today;
		have_next |= old->cur.keys[k].day == (uint32_t)tomorrow;
	}
	bool prev_expired = old->has_prev && old->prev_until_ms <= now_ms;
	if (have && have_next && !prev_expired)
		return 0;
	struct origin_creds *c = creds_map(old->n_shards);
	if (!c)
		return -ENOMEM;
	memcpy(&c->cur, &old->cur, sizeof(c->cur));
	sigv4_creds_roll(&c->cur, now);
	c->gen = old->gen;
	c->signed_base = rt_creds_signed(old, false);
	c->prev_gen = old->prev_gen;
	c->prev_signed_base = rt_creds_signed(old, true);
	if (old->has_prev && !prev_expired) {
		memcpy(&c->prev, &old->prev, sizeof(c->prev));
		sigv4_creds_roll(&c->prev, now);
		c->has_prev = true;
		c->prev_until_ms = old->prev_until_ms;
	}
	*out = c;
	return 1;
}

struct origin_creds *rt_creds_swap(struct rt_origin *o, struct origin_creds *c)
{
	return atomic_exchange_explicit(&o->creds, c, memory_order_acq_rel);
}

static int origin_init(struct runtime *rt, struct rt_origin *o, time_t now,
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
		struct origin_creds *c;
		char why[160];
		int r = rt_creds_new(o->cfg, rt->n_shards, rt->generation, now, &c, why,
				     sizeof(why));
		if (r < 0) {
			snprintf(err, err_len, "zone %s: %s", o->zone->name, why);
			return r;
		}
		atomic_init(&o->creds, c);
	}
	if (o->cfg->scheme == CFG_SCHEME_HTTPS) {
		const char *why = NULL;
		o->ca_id = file_id(ca_path(o->cfg));     /* before the load: see rt_file_id */
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
static int zone_tls_init(const struct runtime *rt, struct rt_zone_state *zr, char *err,
			 size_t err_len)
{
	const struct cfg_zone *zc = zr->cfg;
	const char *why = NULL;
	int r;

	if (!zc->tls_cert)
		return 0;
	zr->cert_id = file_id(zc->tls_cert);     /* before the load: see rt_file_id */
	zr->key_id = file_id(zc->tls_key);
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
	if (!rt->origins || !rt->zones || !rt->shard_refs)
		goto fail;
	n = 0;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		const struct cfg_zone *zc = &cfg->zones[z];
		struct rt_zone_state *zr = &rt->zones[z];
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
			struct rt_origin *o = &rt->origins[n];
			o->id = n++;
			o->zone = zc;
			o->cfg = &zc->origins[i];
			zr->origins[i] = o;
			ret = origin_init(rt, o, now, err, err_len);
			if (ret < 0)
				goto fail;
		}
	}
	*out = rt;
	return 0;
fail:
	rt_free(rt);
	return ret;
}

void rt_inherit_creds(struct runtime *rt, const struct runtime *old, uint64_t now_ms,
		      uint32_t overlap_ms)
{
	if (!old)
		return;
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		struct rt_origin *o = &rt->origins[i];
		struct origin_creds *c = atomic_load(&o->creds);

		for (uint32_t j = 0; c && j < old->n_origins; j++) {
			const struct rt_origin *p = &old->origins[j];
			const struct origin_creds *pc = rt_creds(p);

			if (!pc || strcmp(p->zone->uuid, o->zone->uuid) != 0 ||
			    strcmp(p->cfg->uuid, o->cfg->uuid) != 0)
				continue;
			rt_creds_follow(c, pc, now_ms, overlap_ms);
			/* the origin's clock did not change with the config */
			atomic_store(&o->clock_offset_s,
				     atomic_load(&((struct rt_origin *)p)->clock_offset_s));
			break;
		}
	}
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_strs(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

static bool same_listens(const struct cfg_listen *a, size_t na, const struct cfg_listen *b,
			 size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].port != b[i].port || !same_str(a[i].host, b[i].host))
			return false;
	return true;
}

/*
 * The comparisons below name every field of the config structs but the
 * credentials, how a setting was written (`where`; `uuid_derived`: the
 * admin API writes a derived uuid out, the same uuid) and what load
 * derives from compared fields (the host table from the zones' hosts). A
 * field added to one of them must be added here (or, if only the admin
 * API reads it from the latest config, be named a credential in
 * runtime.h): else a reload changing only that field would keep the old
 * snapshot. [fleet] is not compared: only control/fleet reads it, from
 * the latest config. The sizes catch a forgotten one
 * (x86-64 layout; elsewhere the build does without the check).
 */
#if defined(__x86_64__) && defined(__LP64__)
_Static_assert(sizeof(struct cfg_origin) == 184, "cfg_origin changed: same_origin_but_creds");
_Static_assert(sizeof(struct cfg_zone) == 168, "cfg_zone changed: same_zone");
_Static_assert(sizeof(struct cfg_server) == 168, "cfg_server changed: same_server");
_Static_assert(sizeof(struct cfg_cache) == 56, "cfg_cache changed: rt_cfg_creds_only");
_Static_assert(sizeof(struct cfg_admin) == 40, "cfg_admin changed: rt_cfg_creds_only");
_Static_assert(sizeof(struct cfg) == 456, "cfg changed: rt_cfg_creds_only");
#endif

/* Everything of an origin but its credentials (see rt_cfg_creds_only). */
static bool same_origin_but_creds(const struct cfg_origin *a, const struct cfg_origin *b)
{
	return same_str(a->name, b->name) && same_str(a->uuid, b->uuid) &&
	       same_str(a->url, b->url) &&
	       a->scheme == b->scheme && same_str(a->host, b->host) && a->port == b->port &&
	       same_str(a->host_header, b->host_header) && same_str(a->ca_file, b->ca_file) &&
	       same_str(a->base_path, b->base_path) && same_str(a->probe_path, b->probe_path) &&
	       a->connect_timeout_ms == b->connect_timeout_ms &&
	       a->read_timeout_ms == b->read_timeout_ms &&
	       a->s3_auth_enabled == b->s3_auth_enabled &&
	       same_str(a->s3_service, b->s3_service) && a->s3_payload == b->s3_payload &&
	       a->s3_addressing == b->s3_addressing;
}

static bool same_zone(const struct cfg_zone *a, const struct cfg_zone *b)
{
	if (!same_str(a->name, b->name) || !same_str(a->uuid, b->uuid) ||
	    !same_strs(a->hosts, a->n_hosts, b->hosts, b->n_hosts) ||
	    a->is_default != b->is_default || a->default_ttl_s != b->default_ttl_s ||
	    a->negative_ttl_s != b->negative_ttl_s ||
	    a->stale_while_revalidate_s != b->stale_while_revalidate_s ||
	    a->stale_if_error_s != b->stale_if_error_s || a->query_string != b->query_string ||
	    a->heuristic_freshness != b->heuristic_freshness ||
	    !same_str(a->targeted_field, b->targeted_field) ||
	    a->store_server_errors != b->store_server_errors ||
	    !same_strs(a->pass_headers, a->n_pass_headers, b->pass_headers, b->n_pass_headers) ||
	    a->set_cookie != b->set_cookie || !same_str(a->tls_cert, b->tls_cert) ||
	    !same_str(a->tls_key, b->tls_key) || !same_str(a->tls_ciphers, b->tls_ciphers) ||
	    a->tls_min_version != b->tls_min_version || !same_str(a->file, b->file) ||
	    a->n_origins != b->n_origins)
		return false;
	for (size_t i = 0; i < a->n_origins; i++)
		if (!same_origin_but_creds(&a->origins[i], &b->origins[i]))
			return false;
	return true;
}

static bool same_server(const struct cfg_server *a, const struct cfg_server *b)
{
	return same_listens(a->listens, a->n_listens, b->listens, b->n_listens) &&
	       same_listens(a->listens_tls, a->n_listens_tls, b->listens_tls, b->n_listens_tls) &&
	       a->tls_unknown_sni == b->tls_unknown_sni &&
	       a->tls_handshake_timeout_ms == b->tls_handshake_timeout_ms &&
	       a->tls_ticket_rotate_s == b->tls_ticket_rotate_s && a->workers == b->workers &&
	       same_str(a->zones_glob, b->zones_glob) &&
	       a->header_timeout_ms == b->header_timeout_ms &&
	       a->idle_timeout_ms == b->idle_timeout_ms &&
	       a->send_timeout_ms == b->send_timeout_ms &&
	       a->drain_timeout_ms == b->drain_timeout_ms &&
	       a->origin_backoff_ms == b->origin_backoff_ms &&
	       a->dns_refresh_ms == b->dns_refresh_ms &&
	       a->credential_overlap_ms == b->credential_overlap_ms &&
	       a->max_conns == b->max_conns && a->max_body_bytes == b->max_body_bytes &&
	       a->send_zerocopy_bytes == b->send_zerocopy_bytes &&
	       a->origin_pool == b->origin_pool && same_str(a->access_log, b->access_log) &&
	       same_str(a->error_log, b->error_log) &&
	       same_str(a->counters_file, b->counters_file) && a->log_level == b->log_level &&
	       same_str(a->user, b->user) && same_str(a->group, b->group) &&
	       same_str(a->upgrade_socket, b->upgrade_socket);
}

bool rt_cfg_creds_only(const struct runtime *rt, const struct cfg *cfg)
{
	const struct cfg *old = rt->cfg;
	const struct cfg_cache *ca = &old->cache, *cb = &cfg->cache;

	if (!same_str(old->main_file, cfg->main_file) || !same_server(&old->server, &cfg->server) ||
	    !same_strs(ca->paths, ca->n_paths, cb->paths, cb->n_paths) ||
	    ca->size_bytes != cb->size_bytes || ca->chunk_bytes != cb->chunk_bytes ||
	    ca->memory_bytes != cb->memory_bytes ||
	    ca->checkpoint_interval_s != cb->checkpoint_interval_s ||
	    ca->avg_object_bytes != cb->avg_object_bytes ||
	    old->admin.enabled != cfg->admin.enabled ||
	    !same_listens(&old->admin.listen, 1, &cfg->admin.listen, 1) ||
	    old->n_zones != cfg->n_zones ||
	    (old->default_zone ? old->default_zone - old->zones : -1) !=
	    (cfg->default_zone ? cfg->default_zone - cfg->zones : -1))
		return false;
	for (size_t z = 0; z < cfg->n_zones; z++)
		if (!same_zone(&old->zones[z], &cfg->zones[z]))
			return false;
	return true;
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
		rt_creds_free(atomic_load(&rt->origins[i].creds));
		tls_ctx_free(rt->origins[i].tls);
	}
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
