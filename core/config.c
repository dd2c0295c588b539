/*
 * core/config.c — what every layer may do with a loaded struct cfg: free
 * it (secrets wiped first), find a zone by Host or by name, the
 * no-dump memory secrets are kept in, and test hooks' values. Loading it is control/'s
 * (control/config_load.h): a layer below never reads a file.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/limits.h"

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- secrets' memory ----------------------------------------------------- */

void cfg_free_wiped(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/*
 * The S3 secret and session token (F_SECRET keys) get pages of their own,
 * kept out of core dumps like the snapshot's credentials (core/runtime.c):
 * the cfg outlives many snapshots (key rolls derive from it), so a heap
 * copy would put the secret in every core dump. The string is never
 * changed once stored, so its length gives the mapping's size back.
 */
static size_t secret_span(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + 1 + page - 1) / page * page;
}

char *cfg_secret_dup(const char *s, size_t len)
{
	char *p = mmap(NULL, secret_span(len), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, secret_span(len), MADV_DONTDUMP);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void cfg_secret_free(char *s)
{
	if (s) {
		size_t len = strlen(s);

		explicit_bzero(s, len);
		munmap(s, secret_span(len));
	}
}

/* ---- free ---------------------------------------------------------------- */

static void origin_free(struct cfg_origin *o)
{
	free(o->name);
	free(o->uuid);
	free(o->s3_secret_key_file);
	free(o->s3_session_token_file);
	free(o->url);
	free(o->host);
	free(o->host_header);
	free(o->ca_file);
	free(o->base_path);
	free(o->probe_path);
	free(o->s3_access_key);
	cfg_secret_free(o->s3_secret_key);
	free(o->s3_region);
	free(o->s3_service);
	cfg_secret_free(o->s3_session_token);
}

static void zone_free(struct cfg_zone *z)
{
	free(z->name);
	free(z->uuid);
	for (size_t i = 0; i < z->n_hosts; i++)
		free(z->hosts[i]);
	free(z->hosts);
	for (size_t i = 0; i < z->n_pass_headers; i++)
		free(z->pass_headers[i]);
	free(z->pass_headers);
	free(z->tls_cert);
	free(z->tls_key);
	free(z->tls_ciphers);
	free(z->targeted_field);
	for (size_t i = 0; i < z->n_origins; i++)
		origin_free(&z->origins[i]);
	free(z->origins);
	free(z->file);
}

void cfg_free(struct cfg *cfg)
{
	struct cfg_server *s;

	if (!cfg)
		return;
	assert(cfg->magic == CFG_MAGIC);
	s = &cfg->server;
	for (size_t i = 0; i < s->n_listens; i++)
		free(s->listens[i].host);
	free(s->listens);
	for (size_t i = 0; i < s->n_listens_tls; i++)
		free(s->listens_tls[i].host);
	free(s->listens_tls);
	free(s->zones_glob);
	free(s->access_log);
	free(s->error_log);
	free(s->counters_file);
	free(s->upgrade_socket);
	free(s->user);
	free(s->group);
	for (size_t i = 0; i < cfg->cache.n_paths; i++)
		free(cfg->cache.paths[i]);
	free(cfg->admin.listen.host);
	cfg_secret_free(cfg->admin.token);
	free(cfg->admin.token_file);
	for (size_t i = 0; i < cfg->fleet.n_etcd; i++)
		free(cfg->fleet.etcd[i]);
	free(cfg->fleet.etcd);
	free(cfg->fleet.ca_file);
	free(cfg->fleet.cert_file);
	free(cfg->fleet.key_file);
	free(cfg->fleet.user);
	cfg_secret_free(cfg->fleet.password);
	free(cfg->fleet.password_file);
	free(cfg->fleet.prefix);
	free(cfg->fleet.pop);
	free(cfg->fleet.node);
	cfg_secret_free(cfg->fleet.secrets_key);
	free(cfg->fleet.secrets_key_file);
	cfg_secret_free(cfg->fleet.secrets_previous_key);
	free(cfg->fleet.secrets_previous_key_file);
	free(cfg->fleet.state_dir);
	free(cfg->cache.paths);
	for (size_t i = 0; i < cfg->n_zones; i++)
		zone_free(&cfg->zones[i]);
	free(cfg->zones);
	free(cfg->host_slots);
	free(cfg->main_file);
	cfg->magic = 0;
	free(cfg);
}

const struct cfg_zone *cfg_zone_by_name(const struct cfg *cfg, const char *key)
{
	assert(cfg && cfg->magic == CFG_MAGIC);
	for (size_t i = 0; i < cfg->n_zones; i++)
		if (strcmp(cfg->zones[i].name, key) == 0 ||
		    strcasecmp(cfg->zones[i].uuid, key) == 0)
			return &cfg->zones[i];
	return NULL;
}

/* ---- zone by Host --------------------------------------------------------- */

/*
 * FNV-1a over the lower-cased bytes. The table is built from the config,
 * not from visitors, and kept at most half full, so whatever Host a
 * visitor sends, a lookup is one hash and a short probe.
 */
static uint64_t hash_lower(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)lower(s[i])) * 0x100000001b3ull;
	return h;
}

/* The slot holding s (any case), or the free slot where it would go. */
struct cfg_host_slot *cfg_slot_find(struct cfg_host_slot *t, size_t mask,
				    const char *s, size_t len)
{
	for (size_t i = hash_lower(s, len) & mask;; i = (i + 1) & mask) {
		size_t j = 0;

		if (!t[i].key)
			return &t[i];
		if (t[i].len != len)
			continue;
		while (j < len && t[i].key[j] == lower(s[j]))
			j++;
		if (j == len)
			return &t[i];
	}
}

/* A Host value without its port: "a.example:80" → "a.example", "[::1]:80"
 * → "[::1]"; one trailing dot dropped (an FQDN names the same host). */
static size_t host_only(const char *host, size_t len)
{
	const char *end = host[0] == '[' ? memchr(host, ']', len) : NULL;
	const char *colon;

	if (end)
		return (size_t)(end - host) + 1;
	colon = memchr(host, ':', len);
	len = colon ? (size_t)(colon - host) : len;
	return len && host[len - 1] == '.' ? len - 1 : len;
}

const struct cfg_zone *cfg_zone_by_host(const struct cfg *cfg,
					 const char *host, size_t host_len)
{
	const struct cfg_host_slot *sl;
	size_t len;

	assert(cfg && cfg->magic == CFG_MAGIC);
	len = host ? host_only(host, host_len) : 0;
	if (len == 0 || len > LIMIT_HOST_BYTES || !cfg->host_slots)
		return cfg->default_zone;
	sl = cfg_slot_find(cfg->host_slots, cfg->host_mask, host, len);
	return sl->key ? &cfg->zones[sl->zone] : cfg->default_zone;
}

unsigned cfg_worker_count(const struct cfg *cfg)
{
	if (cfg->server.workers)
		return cfg->server.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n <= 0 ? 1 : n > LIMIT_WORKERS ? LIMIT_WORKERS : (unsigned)n;
}

int cfg_env_ms(const char *name, uint32_t min, uint32_t max, uint32_t *ms, char *err,
	       size_t cap)
{
	const char *v = getenv(name);
	char *end;

	if (!v)
		return 0;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno || n < min || n > max) {
		snprintf(err, cap, "%s=\"%.32s\": a test hook; it must be a whole number of "
			 "ms from %u to %u", name, v, min, max);
		return -EINVAL;
	}
	*ms = (uint32_t)n;
	return 1;
}
