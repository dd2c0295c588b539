/*
 * core/config.c — cfg_load and cfg_free: the order a load runs in and the
 * end of the tree it builds (contract in core/config.h, every key in
 * docs/CONFIG.md). A load reads the main file (config_read.c), checks its
 * sections (config_check.c), reads and checks each zone file the zones
 * glob matched, then checks across zones (names, uuids, hosts: the host
 * table of config_hosts.c) and the zones' certificates. The first error
 * stops it and frees what was built. Secrets: config_keys.c. Also
 * cfg_zone_by_name (a linear scan, for the CLI tools).
 */
#include <assert.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_int.h"
#include "core/log.h"

/* ---- load, free, look up ------------------------------------------------- */

static void server_defaults(struct cfg_server *s)
{
	s->workers = 0;
	s->header_timeout_ms = LIMIT_HEADER_TIMEOUT_MS_DEFAULT;
	s->idle_timeout_ms = LIMIT_IDLE_TIMEOUT_MS_DEFAULT;
	s->send_timeout_ms = LIMIT_SEND_TIMEOUT_MS_DEFAULT;
	s->send_zerocopy_bytes = LIMIT_SEND_ZEROCOPY_BYTES_DEFAULT;
	s->drain_timeout_ms = LIMIT_DRAIN_TIMEOUT_MS_DEFAULT;
	s->origin_backoff_ms = LIMIT_ORIGIN_BACKOFF_MS_DEFAULT;
	s->dns_refresh_ms = LIMIT_DNS_REFRESH_MS_DEFAULT;
	s->credential_overlap_ms = LIMIT_CREDENTIAL_OVERLAP_MS_DEFAULT;
	s->max_conns = LIMIT_MAX_CONNS_DEFAULT;
	s->max_body_bytes = LIMIT_MAX_BODY_BYTES_DEFAULT;
	s->origin_pool = LIMIT_ORIGIN_POOL_DEFAULT;
	s->log_level = LOG_INFO;
	s->tls_unknown_sni = CFG_SNI_DEFAULT;
	s->tls_handshake_timeout_ms = LIMIT_TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	s->tls_ticket_rotate_s = LIMIT_TLS_TICKET_ROTATE_S_DEFAULT;
}

static void cache_defaults(struct cfg_cache *c)
{
	c->chunk_bytes = LIMIT_CACHE_CHUNK_DEFAULT;
	c->memory_bytes = LIMIT_CACHE_MEMORY_DEFAULT;
	c->checkpoint_interval_s = LIMIT_CACHE_CHECKPOINT_S_DEFAULT;
	c->avg_object_bytes = LIMIT_CACHE_AVG_OBJECT_DEFAULT;
}

static int load_zones(struct load *ld)
{
	struct cfg *cfg = ld->cfg;
	size_t n = ld->zones.gl_pathc;

	cfg->zones = calloc(n, sizeof(*cfg->zones));
	ld->zl = calloc(n, sizeof(*ld->zl));
	if (!cfg->zones || !ld->zl)
		return cfg_load_fail(ld, -ENOMEM, cfg->main_file, 0, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct cfg_zone *z = &cfg->zones[cfg->n_zones++];

		z->query_string = CFG_QS_INCLUDE;
		z->file = strdup(ld->zones.gl_pathv[i]);
		if (!z->file)
			return cfg_load_fail(ld, -ENOMEM, cfg->main_file, 0, NULL, "out of memory");
		const char *from = z->file;

		if (ld->replace_file && strcmp(z->file, ld->replace_file) == 0) {
			from = ld->replacement;
			ld->replaced = true;
		}
		if (cfg_parse_file(ld, from, z, &ld->zl[i]) || cfg_zone_finish(ld, z, &ld->zl[i]))
			return ld->rc;
	}
	return 0;
}

int cfg_load(const char *path, struct cfg **out, struct cfg_error *err)
{
	return cfg_load_replacing(path, NULL, NULL, out, err);
}

int cfg_load_replacing(const char *path, const char *zone_file, const char *replacement,
		       struct cfg **out, struct cfg_error *err)
{
	struct cfg_error ignored;
	struct load ld = { .err = err ? err : &ignored, .replace_file = zone_file,
			   .replacement = replacement };
	struct cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg || !(cfg->main_file = strdup(path))) {
		free(cfg);
		return cfg_load_fail(&ld, -ENOMEM, path, 0, NULL, "out of memory");
	}
	cfg->magic = CFG_MAGIC;
	server_defaults(&cfg->server);
	cache_defaults(&cfg->cache);
	ld.cfg = cfg;
	if (!cfg_parse_file(&ld, cfg->main_file, NULL, NULL) && !cfg_server_finish(&ld) &&
	    !cfg_cache_finish(&ld) && !cfg_admin_finish(&ld) && !load_zones(&ld) &&
	    !cfg_check_zones(&ld))
		cfg_tls_finish(&ld);
	if (!ld.rc && zone_file && !ld.replaced)
		cfg_load_fail(&ld, -ENOENT, zone_file, 0, NULL,
			      "no longer matched by the zones glob");
	if (ld.globbed)
		globfree(&ld.zones);
	free(ld.zl);
	if (ld.rc) {
		cfg_free(cfg);
		return ld.rc;
	}
	*out = cfg;
	return 0;
}

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
	for (size_t i = 0; i < cfg->cache.n_paths; i++)
		free(cfg->cache.paths[i]);
	free(cfg->admin.listen.host);
	cfg_secret_free(cfg->admin.token);
	free(cfg->admin.token_file);
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
