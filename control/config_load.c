/*
 * control/config_load.c — cfg_load: the order a load runs in (contract in
 * control/config_load.h, every key in docs/CONFIG.md). A load reads the
 * main file (config_read.c), checks its sections (config_check.c), reads
 * and checks each zone file the zones glob matched, then checks across zones (names, uuids, hosts: the host
 * table of config_hosts.c) and the zones' certificates. The first error
 * stops it and frees what was built (cfg_free, core/config.c). Secrets:
 * config_keys.c.
 */
#include <assert.h>
#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/config_int.h"
#include "core/log.h"

/* ---- load ---------------------------------------------------------------- */

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

/* A fleet text's secrets onto the origins they name (cfg_load_fleet). */
static int give_secrets(struct load *ld, struct cfg_zone *z, const struct cfg_zone_text *t)
{
	for (size_t i = 0; i < t->n_secrets; i++) {
		const struct cfg_origin_secret *s = &t->secrets[i];

		for (size_t j = 0; j < z->n_origins; j++) {
			struct cfg_origin *o = &z->origins[j];
			char **dst[2] = { &o->s3_secret_key, &o->s3_session_token };
			const char *src[2] = { s->s3_secret_key, s->s3_session_token };

			if (!o->uuid || strcasecmp(o->uuid, s->uuid) != 0)
				continue;
			for (int k = 0; k < 2; k++) {
				if (!src[k])
					continue;
				cfg_secret_free(*dst[k]);
				if (!(*dst[k] = cfg_secret_dup(src[k], strlen(src[k]))))
					return cfg_load_fail(ld, -ENOMEM, z->file, 0, NULL,
							     "out of memory");
			}
		}
	}
	return 0;
}

static int load_zones(struct load *ld)
{
	struct cfg *cfg = ld->cfg;
	size_t n = ld->texts ? ld->n_texts : ld->globbed ? ld->zones.gl_pathc : 0;

	if (n > LIMIT_ZONES)
		return cfg_load_fail(ld, -EINVAL, cfg->main_file, 0, NULL, "more than %d zones",
				     LIMIT_ZONES);
	/* fleet mode may have no zone yet: one slot, so calloc never says 0 */
	cfg->zones = calloc(n ? n : 1, sizeof(*cfg->zones));
	ld->zl = calloc(n ? n : 1, sizeof(*ld->zl));
	if (!cfg->zones || !ld->zl)
		return cfg_load_fail(ld, -ENOMEM, cfg->main_file, 0, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct cfg_zone *z = &cfg->zones[cfg->n_zones++];

		z->query_string = CFG_QS_INCLUDE;
		z->file = strdup(ld->texts ? ld->texts[i].name : ld->zones.gl_pathv[i]);
		if (!z->file)
			return cfg_load_fail(ld, -ENOMEM, cfg->main_file, 0, NULL, "out of memory");
		const char *from = z->file;

		if (ld->texts) {
			if (cfg_parse_text(ld, z->file, ld->texts[i].text, ld->texts[i].len, z,
					   &ld->zl[i]) || give_secrets(ld, z, &ld->texts[i]) ||
			    cfg_zone_finish(ld, z, &ld->zl[i]))
				return ld->rc;
			continue;
		}

		if (ld->replace_file && strcmp(z->file, ld->replace_file) == 0) {
			from = ld->replacement;
			ld->replaced = true;
		}
		if (cfg_parse_file(ld, from, z, &ld->zl[i]) || cfg_zone_finish(ld, z, &ld->zl[i]))
			return ld->rc;
	}
	return 0;
}

static int load(struct load *ldp, const char *path, struct cfg **out, struct cfg_error *err);

int cfg_load(const char *path, struct cfg **out, struct cfg_error *err)
{
	return cfg_load_replacing(path, NULL, NULL, out, err);
}

int cfg_load_replacing(const char *path, const char *zone_file, const char *replacement,
		       struct cfg **out, struct cfg_error *err)
{
	struct load ld = { .replace_file = zone_file, .replacement = replacement };

	return load(&ld, path, out, err);
}

int cfg_load_fleet(const char *path, const struct cfg_zone_text *texts, size_t n,
		   struct cfg **out, struct cfg_error *err)
{
	static const struct cfg_zone_text none;
	struct load ld = { .texts = texts ? texts : &none, .n_texts = n };

	return load(&ld, path, out, err);
}

static int load(struct load *ldp, const char *path, struct cfg **out, struct cfg_error *err)
{
	struct cfg_error ignored;
	struct load ld = *ldp;
	const char *zone_file = ld.replace_file;

	ld.err = err ? err : &ignored;
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
	    !cfg_cache_finish(&ld) && !cfg_admin_finish(&ld) && !cfg_fleet_finish(&ld) &&
	    !load_zones(&ld) &&
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

/* ---- [server] user before the load ----------------------------------------- */

struct peek {
	char *user, *group;
	size_t len;
	int rc;
};

static int peek_key(void *arg, const char *section, const char *name, const char *val)
{
	struct peek *pk = arg;
	char *to = !strcmp(name, "user") ? pk->user : !strcmp(name, "group") ? pk->group : NULL;

	if (strcmp(section, "server") != 0 || !to)
		return 1;
	if (snprintf(to, pk->len, "%s", val) >= (int)pk->len)
		pk->rc = -EINVAL;
	return 1;
}

int cfg_peek_user(const char *path, char *user, char *group, size_t len, struct cfg_error *err)
{
	struct peek pk = { .user = user, .group = group, .len = len };

	user[0] = group[0] = '\0';
	int r = ini_parse(path, peek_key, &pk);
	if (r == -1) {
		int e = errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	if (pk.rc < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s: [server] user or group: longer than %zu bytes",
			 path, len - 1);
		return pk.rc;
	}
	return 0;       /* a syntax error is the full load's to report, with its line */
}

