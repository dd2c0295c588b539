/*
 * control/config_check.c — what a load checks once the keys are read: the
 * rules that tie keys together ([server], [cache], [admin], each zone and
 * origin, the S3 same-credentials rule), defaults that depend on other
 * keys, names, uuids and hosts unique across zones (building the host
 * table), and each zone's certificate, key and cipher policy. Called by
 * cfg_load (core/config.c) in that order; an error names the file and the
 * line of the key or section it is about. Contract in core/config.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "control/config_int.h"
#include "net/tls.h"

/* ---- the main file's sections -------------------------------------------- */

/* [admin] given: the default address; a token unless loopback only. */
int cfg_admin_finish(struct load *ld)
{
	struct cfg_admin *a = &ld->cfg->admin;
	const char *f = ld->cfg->main_file;

	if (!ld->admin_line)
		return 0;
	a->enabled = true;
	if (!a->listen.host) {
		a->listen.port = LIMIT_ADMIN_PORT_DEFAULT;
		if (!(a->listen.host = strdup("127.0.0.1")))
			return cfg_load_fail(ld, -ENOMEM, f, 0, NULL, "out of memory");
	}
	if (!a->token && !cfg_is_loopback(a->listen.host))
		return cfg_load_fail(ld, -EINVAL, f, ld->admin_listen_line, "listen",
				     "%s:%u is not a loopback address: set token_file (a bearer "
				     "token) or listen on 127.0.0.1 or [::1]", a->listen.host,
				     a->listen.port);
	if (a->token && strlen(a->token) < LIMIT_ADMIN_TOKEN_MIN_BYTES)
		return cfg_load_fail(ld, -EINVAL, f, ld->admin_line, "token_file",
				     "the token is shorter than %d bytes", LIMIT_ADMIN_TOKEN_MIN_BYTES);
	return 0;
}

/* [fleet] given: etcd, pop, secrets_key_file and state_dir are required;
 * prefix and node have defaults; a client certificate comes whole. */
int cfg_fleet_finish(struct load *ld)
{
	struct cfg_fleet *fl = &ld->cfg->fleet;
	const char *f = ld->cfg->main_file;
	char host[LIMIT_FLEET_NAME_BYTES + 1];
	static const char *const required[] = { "etcd", "pop", "secrets_key_file", "state_dir" };
	const void *have[] = { fl->etcd, fl->pop, fl->secrets_key, fl->state_dir };

	if (!ld->fleet_line)
		return 0;
	fl->enabled = true;
	for (size_t i = 0; i < ARRAY_LEN(required); i++)
		if (!have[i])
			return cfg_load_fail(ld, -EINVAL, f, ld->fleet_line, "[fleet]",
					     "%s is required", required[i]);
	if (!fl->cert_file != !fl->key_file)
		return cfg_load_fail(ld, -EINVAL, f, ld->fleet_line, "[fleet]",
				     "cert_file and key_file go together");
	if (!fl->user != !fl->password)
		return cfg_load_fail(ld, -EINVAL, f, ld->fleet_line, "[fleet]",
				     "user and password_file go together");
	if (!fl->prefix && !(fl->prefix = strdup("/edgecache")))
		return cfg_load_fail(ld, -ENOMEM, f, 0, NULL, "out of memory");
	if (!fl->node) {
		/* the default node name is the host name, so it must make a
		 * valid key part too */
		if (gethostname(host, sizeof(host)) != 0 || !cfg_valid_name(host) ||
		    strlen(host) > LIMIT_FLEET_NAME_BYTES)
			return cfg_load_fail(ld, -EINVAL, f, ld->fleet_line, "[fleet]",
					     "node is required: the host name is not a valid name");
		if (!(fl->node = strdup(host)))
			return cfg_load_fail(ld, -ENOMEM, f, 0, NULL, "out of memory");
	}
	return 0;
}

/* [cache] given: path and size are required; each file gets its share. */
int cfg_cache_finish(struct load *ld)
{
	const struct cfg_cache *c = &ld->cfg->cache;
	const char *f = ld->cfg->main_file;

	if (!ld->cache_line)
		return 0;
	if (!c->n_paths)
		return cfg_load_fail(ld, -EINVAL, f, ld->cache_line, "[cache]", "path is required");
	if (!ld->cache_size_line)
		return cfg_load_fail(ld, -EINVAL, f, ld->cache_line, "[cache]", "size is required");
	if (c->size_bytes / (int64_t)c->n_paths < LIMIT_CACHE_SIZE_MIN)
		return cfg_load_fail(ld, -EINVAL, f, ld->cache_size_line, "size",
				     "%lld bytes over %zu paths is below the minimum %lld per path",
				     (long long)c->size_bytes, c->n_paths,
				     (long long)LIMIT_CACHE_SIZE_MIN);
	/* the store's own geometry check, as a start would run it: each
	 * shard's stripe must hold four of the largest entries */
	unsigned shards = cfg_worker_count(ld->cfg);
	struct store_opts so = {
		.paths = (const char *const *)c->paths, .n_paths = (unsigned)c->n_paths,
		.size_bytes = (uint64_t)c->size_bytes, .chunk_bytes = (uint32_t)c->chunk_bytes,
		.stripes = shards, .shards = shards,
	};
	char err[256];
	if (store_opts_check(&so, err, sizeof(err)) < 0)
		return cfg_load_fail(ld, -EINVAL, f, ld->cache_size_line, "size", "%s (workers = %u)",
				     err, shards);
	return 0;
}

int cfg_server_finish(struct load *ld)
{
	const char *f = ld->cfg->main_file;

	if (!ld->server_line)
		return cfg_load_fail(ld, -EINVAL, f, 0, "[server]", "section missing");
	if (!ld->listen_line)
		return cfg_load_fail(ld, -EINVAL, f, ld->server_line, "[server]",
				     "listen is required");
	if (ld->cfg->server.n_listens == 0)
		return cfg_load_fail(ld, -EINVAL, f, ld->listen_line, "listen",
				     "no address given");
	/* fleet mode: the zones come from etcd (zones, if given, is what
	 * `edgecache fleet import` reads) */
	if (!ld->zones_line && !ld->fleet_line)
		return cfg_load_fail(ld, -EINVAL, f, ld->server_line, "[server]",
				     "zones is required (or a [fleet] section)");
	if (ld->cfg->server.upgrade_socket &&
	    strlen(ld->cfg->server.upgrade_socket) > LIMIT_UPGRADE_SOCKET_PATH_BYTES)
		return cfg_load_fail(ld, -EINVAL, f, ld->server_line, "upgrade_socket",
				     "%zu bytes once resolved, over the %d a Unix socket "
				     "address holds", strlen(ld->cfg->server.upgrade_socket),
				     LIMIT_UPGRADE_SOCKET_PATH_BYTES);
	return 0;
}

/* ---- a zone and its origins ---------------------------------------------- */

/* Defaults that depend on other keys, and what s3_auth_enabled needs. */
static int origin_finish(struct load *ld, struct cfg_origin *o, const char *z_uuid)
{
	char label[LIMIT_NAME_BYTES + 10], hh[LIMIT_HOST_HEADER_BYTES + 3];
	bool v6, dflt;
	int line = o->where.line;

	snprintf(label, sizeof(label), "[origin %s]", o->name);
	if (!o->url)
		return cfg_load_fail(ld, -EINVAL, o->where.file, line, label, "url is required");
	if (!o->uuid) {
		char u[37];

		cfg_origin_uuid(z_uuid, o->name, u);
		o->uuid_derived = true;
		if (!(o->uuid = strdup(u)))
			return cfg_load_fail(ld, -ENOMEM, o->where.file, line, label, "out of memory");
	}
	if (o->s3_auth_enabled && !o->s3_access_key)
		return cfg_load_fail(ld, -EINVAL, o->where.file, line, label,
				     "s3_access_key is required when s3_auth_enabled is true");
	if (o->s3_auth_enabled && !o->s3_secret_key)
		return cfg_load_fail(ld, -EINVAL, o->where.file, line, label,
				     "s3_secret_key or s3_secret_key_file is required "
				     "when s3_auth_enabled is true");
	v6 = strchr(o->host, ':') != NULL;
	dflt = o->port == (o->scheme == CFG_SCHEME_HTTP ? 80 : 443);
	snprintf(hh, sizeof(hh), dflt ? "%s%s%s" : "%s%s%s:%u", v6 ? "[" : "",
		 o->host, v6 ? "]" : "", o->port);
	if ((!o->host_header && !(o->host_header = strdup(hh))) ||
	    (!o->base_path && !(o->base_path = strdup(""))) ||
	    (!o->s3_region && !(o->s3_region = strdup("auto"))) ||
	    (!o->s3_service && !(o->s3_service = strdup("s3"))))
		return cfg_load_fail(ld, -ENOMEM, o->where.file, line, label, "out of memory");
	return 0;
}

/* NULL when a and b sign alike, else the first setting that differs. */
static const char *s3_differs(const struct cfg_origin *a, const struct cfg_origin *b)
{
	if (strcmp(a->s3_access_key, b->s3_access_key) != 0)
		return "s3_access_key";
	if (strcmp(a->s3_secret_key, b->s3_secret_key) != 0)
		return "s3_secret_key";
	if (strcmp(a->s3_region, b->s3_region) != 0)
		return "s3_region";
	if (a->scheme != b->scheme || a->port != b->port || strcmp(a->host, b->host) != 0)
		return "url";
	return NULL;
}

int cfg_zone_finish(struct load *ld, struct cfg_zone *z, struct zone_lines *zl)
{
	const struct cfg_origin *s3 = NULL;
	const char *missing = !z->name ? "name" : !z->uuid ? "uuid" :
			      !zl->hosts ? "hosts" : NULL;

	if (!z->where.line)
		return cfg_load_fail(ld, -EINVAL, z->file, 0, "[zone]", "section missing");
	if (missing)
		return cfg_load_fail(ld, -EINVAL, z->file, z->where.line, "[zone]",
				     "%s is required", missing);
	if (z->n_hosts == 0)
		return cfg_load_fail(ld, -EINVAL, z->file, zl->hosts, "hosts", "no host given");
	if (z->n_origins == 0)
		return cfg_load_fail(ld, -EINVAL, z->file, z->where.line, "[zone]",
				     "at least one [origin NAME] is required");
	for (size_t i = 0; i < z->n_origins; i++) {
		struct cfg_origin *o = &z->origins[i];
		char label[LIMIT_NAME_BYTES + 10];

		if (origin_finish(ld, o, z->uuid))
			return ld->rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(z->origins[j].uuid, o->uuid) == 0)
				return cfg_load_fail(ld, -EINVAL, z->file, o->where.line, "uuid",
						     "[origin %s] has the uuid of [origin %s]",
						     o->name, z->origins[j].name);
		if (!o->s3_auth_enabled)
			continue;
		if (!s3) {
			s3 = o;
			continue;
		}
		snprintf(label, sizeof(label), "[origin %s]", o->name);
		const char *diff = s3_differs(s3, o);
		if (diff) {
			cfg_load_fail(ld, -EINVAL, z->file, o->where.line, label,
				      "S3 credentials differ from [origin %s] (%s:%d): "
				      "all S3-authenticated origins of a zone must share "
				      "access key, secret, region and endpoint",
				      s3->name, s3->where.file, s3->where.line);
			snprintf(ld->err->key, sizeof(ld->err->key), "%s", diff);
			ld->err->s3_conflict = true;
			return ld->rc;
		}
	}
	return 0;
}

/* ---- across zones --------------------------------------------------------- */

#define ZL_LINE(ld, zi, off) (*(const int *)((const char *)&(ld)->zl[zi] + (off)))

/* Insert zone zi's `s` (lower-case); a clash names both places. */
static int unique_add(struct load *ld, struct cfg_host_slot *t, size_t mask,
		      uint32_t zi, const char *s, const char *key, size_t off,
		      const char *what)
{
	struct cfg_host_slot *sl = cfg_slot_find(t, mask, s, strlen(s));
	const struct cfg_zone *o;

	if (!sl->key) {
		*sl = (struct cfg_host_slot){ s, (uint32_t)strlen(s), zi };
		return 0;
	}
	o = &ld->cfg->zones[sl->zone];
	return cfg_load_fail(ld, -EINVAL, ld->cfg->zones[zi].file, ZL_LINE(ld, zi, off), key,
			     "\"%.*s\" is also %s zone \"%s\" (%s:%d)", LIMIT_CFG_ECHO_BYTES, s, what,
			     o->name, o->file, ZL_LINE(ld, sl->zone, off));
}

static int zone_unique(struct load *ld, struct cfg_host_slot *names,
		       struct cfg_host_slot *uuids, size_t mask, uint32_t zi)
{
	struct cfg *cfg = ld->cfg;
	const struct cfg_zone *z = &cfg->zones[zi], *d = cfg->default_zone;

	if (unique_add(ld, names, mask, zi, z->name, "name",
		       offsetof(struct zone_lines, name), "the name of") ||
	    unique_add(ld, uuids, mask, zi, z->uuid, "uuid",
		       offsetof(struct zone_lines, uuid), "the uuid of"))
		return ld->rc;
	for (size_t h = 0; h < z->n_hosts; h++) {
		if (strcmp(z->hosts[h], "*") != 0) {
			if (unique_add(ld, cfg->host_slots, cfg->host_mask, zi, z->hosts[h],
				       "hosts", offsetof(struct zone_lines, hosts), "a host of"))
				return ld->rc;
		} else if (d) {
			return cfg_load_fail(ld, -EINVAL, z->file, ld->zl[zi].hosts, "hosts",
					     "\"*\": zone \"%s\" (%s:%d) is the default zone already",
					     d->name, d->file, ld->zl[d - cfg->zones].hosts);
		} else {
			cfg->default_zone = d = z;
		}
	}
	return 0;
}

/* Names, uuids and hosts unique across zones; one default; the table. */
int cfg_check_zones(struct load *ld)
{
	struct cfg *cfg = ld->cfg;
	struct cfg_host_slot *names, *uuids;
	size_t n_hosts = 0, mask;

	for (size_t i = 0; i < cfg->n_zones; i++)
		n_hosts += cfg->zones[i].n_hosts;
	cfg->host_slots = cfg_table_new(n_hosts, &cfg->host_mask);
	names = cfg_table_new(cfg->n_zones, &mask);
	uuids = cfg_table_new(cfg->n_zones, &mask);
	if (!cfg->host_slots || !names || !uuids)
		cfg_load_fail(ld, -ENOMEM, cfg->main_file, 0, NULL, "out of memory");
	for (size_t i = 0; !ld->rc && i < cfg->n_zones; i++)
		zone_unique(ld, names, uuids, mask, (uint32_t)i);
	free(names);
	free(uuids);
	return ld->rc;
}

/* ---- HTTPS visitors: certificates per zone --------------------------------- */

/*
 * A zone's cipher policy: only with a certificate to serve it with, and a
 * list net/tls.c accepts (never a NULL, anonymous or export suite, nor a
 * keyword that wolfSSL would expand to its whole list).
 */
static int tls_policy_check(struct load *ld, const struct cfg_zone *z,
			    const struct zone_lines *zl)
{
	char why[256];
	int rc;

	if (!z->tls_cert && (z->tls_ciphers || zl->tls_min_version)) {
		bool c = z->tls_ciphers != NULL;

		return cfg_load_fail(ld, -EINVAL, z->file, c ? zl->tls_ciphers : zl->tls_min_version,
				     c ? "tls_ciphers" : "tls_min_version",
				     "the zone has no tls_cert for it to apply to");
	}
	if (!z->tls_ciphers)
		return 0;
	rc = tls_ciphers_check(z->tls_ciphers, why, sizeof(why));
	if (rc)
		return cfg_load_fail(ld, rc, z->file, zl->tls_ciphers, "tls_ciphers", "%s", why);
	return 0;
}

/*
 * A zone's tls_cert and tls_key: both or neither; the key a regular file
 * that group and others cannot read (like s3_secret_key_file); the pair
 * loads and matches (net/tls.c, the same code the server runs).
 */
static int tls_check_zone(struct load *ld, const struct cfg_zone *z, const struct zone_lines *zl)
{
	struct stat st;
	const char *why;

	if (tls_policy_check(ld, z, zl))
		return ld->rc;
	if (!z->tls_cert && !z->tls_key)
		return 0;
	if (!z->tls_key)
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_cert, "tls_cert",
				     "tls_key is required with it");
	if (!z->tls_cert)
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_key, "tls_key",
				     "tls_cert is required with it");
	if (stat(z->tls_cert, &st) != 0 || access(z->tls_cert, R_OK) != 0)
		return cfg_load_fail(ld, -errno, z->file, zl->tls_cert, "tls_cert", "\"%s\": %s",
				     z->tls_cert, strerror(errno));
	if (stat(z->tls_key, &st) != 0 || access(z->tls_key, R_OK) != 0)
		return cfg_load_fail(ld, -errno, z->file, zl->tls_key, "tls_key", "\"%s\": %s",
				     z->tls_key, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_key, "tls_key",
				     "\"%s\" is not a regular file", z->tls_key);
	if (st.st_mode & 077)
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_key, "tls_key",
				     "\"%s\" is accessible by group or others (mode %04o): chmod 600 it",
				     z->tls_key, (unsigned)(st.st_mode & 07777));
	switch (tls_check_pair(z->tls_cert, z->tls_key, &why)) {
	case 0:
		return 0;
	case -ENOMEM:
		return cfg_load_fail(ld, -ENOMEM, z->file, zl->tls_cert, NULL, "out of memory");
	case -ENOKEY:
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_key, "tls_key", "\"%s\": %s",
				     z->tls_key, why);
	default:
		return cfg_load_fail(ld, -EINVAL, z->file, zl->tls_cert, "tls_cert", "\"%s\": %s",
				     z->tls_cert, why);
	}
}

/* listen_tls needs a certificate to serve, and unknown SNI a fallback. */
int cfg_tls_finish(struct load *ld)
{
	const struct cfg *cfg = ld->cfg;
	const struct cfg_zone *d = cfg->default_zone;
	bool any = false;

	for (size_t i = 0; i < cfg->n_zones; i++) {
		if (tls_check_zone(ld, &cfg->zones[i], &ld->zl[i]))
			return ld->rc;
		any = any || cfg->zones[i].tls_cert;
	}
	if (cfg->server.n_listens_tls == 0)
		return 0;
	if (!any)
		return cfg_load_fail(ld, -EINVAL, cfg->main_file, ld->listen_tls_line, "listen_tls",
				     "no zone has tls_cert and tls_key");
	if (cfg->server.tls_unknown_sni == CFG_SNI_DEFAULT && (!d || !d->tls_cert))
		return cfg_load_fail(ld, -EINVAL, cfg->main_file, ld->listen_tls_line, "listen_tls",
				     "unknown SNI gets the default zone's certificate, but %s: give it "
				     "tls_cert and tls_key, or set tls_unknown_sni = reject",
				     d ? "the default zone has none" : "no zone has hosts = *");
	return 0;
}
