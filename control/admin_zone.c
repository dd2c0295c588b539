/* control/admin_zone.c — a zone change as a candidate file, validated by the
 * config loader, then swapped in atomically (contract in admin_zone.h). */
#include "control/admin_zone.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_PREFIX ".secret-"       /* our secret files: ".secret-UUID-NONCE" */

/* The keys of an [origin NAME] section in the order we write them. */
enum okey {
	K_uuid, K_url, K_host_header, K_base_path, K_probe_path, K_ca_file, K_connect_timeout_ms,
	K_read_timeout_ms, K_s3_auth_enabled, K_s3_access_key, K_s3_secret_key_file,
	K_s3_region, K_s3_service, K_s3_session_token_file, K_s3_payload, K_s3_addressing,
	K__COUNT
};

static const char *const okey_names[K__COUNT] = {
	"uuid", "url", "host_header", "base_path", "probe_path", "ca_file", "connect_timeout_ms",
	"read_timeout_ms", "s3_auth_enabled", "s3_access_key", "s3_secret_key_file",
	"s3_region", "s3_service", "s3_session_token_file", "s3_payload", "s3_addressing",
};

/* An origin as it will be written. Strings are malloc'd; NULL = omitted. */
struct draft {
	char *name;
	char *kv[K__COUNT];
	char *secret;            /* to write to a new secret file (wiped) */
	char *token;             /* the same for an inline session token */
};

static void draft_free(struct draft *d)
{
	free(d->name);
	for (int k = 0; k < K__COUNT; k++)
		free(d->kv[k]);
	cfg_free_wiped(d->secret);
	cfg_free_wiped(d->token);
	memset(d, 0, sizeof(*d));
}

static char *num(long long v)
{
	char b[24];

	snprintf(b, sizeof(b), "%lld", v);
	return strdup(b);
}

/* A path the loader resolved, as it must be written: our own secret
 * files by their name (they sit beside the zone file), anything else
 * absolute (the loader resolves relative names against the zone file's
 * directory, which may not be what the resolved path is relative to). */
static char *path_out(const char *p)
{
	const char *base = strrchr(p, '/');
	char *abs;

	base = base ? base + 1 : p;
	if (strncmp(base, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0)
		return strdup(base);
	if (p[0] == '/' || !(abs = realpath(p, NULL)))
		return strdup(p);
	return abs;
}

/* The Host header the loader fills in when host_header is blank. */
static bool default_host_header(const struct cfg_origin *o)
{
	char hh[LIMIT_HOST_HEADER_BYTES + 8];
	bool v6 = strchr(o->host, ':') != NULL;
	bool dflt = o->port == (o->scheme == CFG_SCHEME_HTTP ? 80 : 443);

	snprintf(hh, sizeof(hh), dflt ? "%s%s%s" : "%s%s%s:%u", v6 ? "[" : "", o->host,
		 v6 ? "]" : "", o->port);
	return strcmp(hh, o->host_header) == 0;
}

static int draft_from(struct draft *d, const struct cfg_origin *o)
{
	memset(d, 0, sizeof(*d));
	d->name = strdup(o->name);
	d->kv[K_uuid] = strdup(o->uuid);
	d->kv[K_url] = strdup(o->url);
	if (!default_host_header(o))
		d->kv[K_host_header] = strdup(o->host_header);
	if (o->base_path[0])
		d->kv[K_base_path] = strdup(o->base_path);
	if (o->probe_path)
		d->kv[K_probe_path] = strdup(o->probe_path);
	if (o->ca_file)
		d->kv[K_ca_file] = path_out(o->ca_file);
	d->kv[K_connect_timeout_ms] = num(o->connect_timeout_ms);
	d->kv[K_read_timeout_ms] = num(o->read_timeout_ms);
	d->kv[K_s3_auth_enabled] = strdup(o->s3_auth_enabled ? "true" : "false");
	if (o->s3_access_key)
		d->kv[K_s3_access_key] = strdup(o->s3_access_key);
	if (o->s3_secret_key_file)
		d->kv[K_s3_secret_key_file] = path_out(o->s3_secret_key_file);
	else if (o->s3_secret_key)
		d->secret = strdup(o->s3_secret_key);
	d->kv[K_s3_region] = strdup(o->s3_region);
	d->kv[K_s3_service] = strdup(o->s3_service);
	if (o->s3_session_token_file)
		d->kv[K_s3_session_token_file] = path_out(o->s3_session_token_file);
	else if (o->s3_session_token)
		d->token = strdup(o->s3_session_token);
	d->kv[K_s3_payload] = strdup(cfg_payload_names[o->s3_payload]);
	d->kv[K_s3_addressing] = strdup(cfg_addressing_names[o->s3_addressing]);
	if (!d->name || !d->kv[K_uuid] || !d->kv[K_url] || !d->kv[K_s3_region])
		return -ENOMEM;
	return 0;
}

static int set_kv(char **slot, const char *v)
{
	free(*slot);
	*slot = NULL;
	if (!*v)
		return 0;
	*slot = strdup(v);
	return *slot ? 0 : -ENOMEM;
}

/* The body's fields over the draft. */
static int draft_apply(struct draft *d, const struct admin_origin_in *in, struct admin_err *e)
{
	for (int f = 0; f < ADMIN_F__COUNT; f++) {
		const char *v = in->val[f], *name = admin_field_names[f];
		int rc = 0;

		if (!in->set[f])
			continue;
		if ((f == ADMIN_F_name || f == ADMIN_F_url) && !*v)
			return admin_fail(e, 422, name, "must not be empty");
		if (f == ADMIN_F_name) {
			if (!cfg_valid_name(v))
				return admin_fail(e, 422, name, "is not 1..%d of A-Z a-z 0-9 . _ -",
						  LIMIT_NAME_BYTES);
			rc = set_kv(&d->name, v);
		} else if (f == ADMIN_F_s3_secret_key) {
			if (!*v)
				continue;        /* blank: keep the current secret */
			cfg_free_wiped(d->secret);
			d->secret = strdup(v);
			free(d->kv[K_s3_secret_key_file]);
			d->kv[K_s3_secret_key_file] = NULL;
			rc = d->secret ? 0 : -ENOMEM;
		} else {
			for (int k = 0; k < K__COUNT; k++)
				if (strcmp(okey_names[k], name) == 0)
					rc = set_kv(&d->kv[k], v);
		}
		if (rc)
			return admin_fail(e, 500, NULL, "out of memory");
	}
	return 0;
}

/* ---- files ---------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* "dir/.secret-UUID-NONCE": 0600, O_EXCL, fsync'd; its name into *out. */
static int write_secret(const char *dir, const char *uuid, const char *value, char **out,
			struct admin_commit *c)
{
	unsigned char r[6];
	char path[PATH_MAX];
	int fd, rc;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	snprintf(path, sizeof(path), "%s/" SECRET_PREFIX "%s-%02x%02x%02x%02x%02x%02x", dir,
		 uuid, r[0], r[1], r[2], r[3], r[4], r[5]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, value, strlen(value));
	if (!rc)
		rc = write_all(fd, "\n", 1);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	c->new_secrets[c->n_new] = strdup(path);
	if (!c->new_secrets[c->n_new]) {
		unlink(path);
		return -ENOMEM;
	}
	c->n_new++;
	if (rc)
		return rc;
	*out = strdup(strrchr(path, '/') + 1);
	return *out ? 0 : -ENOMEM;
}

/* The zone file's text: [zone] from the running config, then the drafts. */
static char *zone_text(const struct cfg_zone *z, const struct draft *d, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fprintf(f, "; written by the edgecache admin API: comments are not kept\n"
		"[zone]\nname = %s\nuuid = %s\nhosts = %s\n", z->name, z->uuid, z->hosts[0]);
	for (size_t h = 1; h < z->n_hosts; h++)
		fprintf(f, "\t%s\n", z->hosts[h]);
	fprintf(f, "default_ttl = %u\nnegative_ttl = %u\nstale_while_revalidate = %u\n"
		"stale_if_error = %u\nquery_string = %s\nheuristic_freshness = %s\n",
		z->default_ttl_s, z->negative_ttl_s, z->stale_while_revalidate_s,
		z->stale_if_error_s, cfg_query_string_names[z->query_string],
		z->heuristic_freshness ? "true" : "false");
	/* kept: not settable through the API; one name a line, as a list of
	 * LIMIT_PASS_REQUEST_HEADERS names does not fit the loader's line limit */
	for (size_t h = 0; h < z->n_pass_headers; h++)
		fprintf(f, "%s%s\n", h ? "\t" : "pass_request_headers = ", z->pass_headers[h]);
	/* Kept across an edit through the API: strip is an operator's choice. */
	fprintf(f, "set_cookie = %s\n", cfg_set_cookie_names[z->set_cookie]);
	/* kept: not settable through the API */
	if (z->targeted_field)
		fprintf(f, "targeted_field = %s\n", z->targeted_field);
	fprintf(f, "store_server_errors = %s\n", z->store_server_errors ? "true" : "false");
	if (z->tls_cert) {
		/* HTTPS visitors: the zone keeps its certificate and cipher
		 * policy (not settable through the API) */
		char *cert = path_out(z->tls_cert), *key = path_out(z->tls_key);

		if (cert && key)
			fprintf(f, "tls_cert = %s\ntls_key = %s\ntls_min_version = %s\n", cert,
				key, cfg_tls_min_names[z->tls_min_version]);
		if (z->tls_ciphers) {
			/* one suite a line: a list of up to LIMIT_TLS_CIPHERS_BYTES
			 * does not fit the loader's line limit on one */
			fputs("tls_ciphers = ", f);
			for (const char *c = z->tls_ciphers; *c; c++) {
				if (*c == ':')
					fputs("\n\t", f);
				else
					fputc(*c, f);
			}
			fputc('\n', f);
		}
		free(cert);
		free(key);
		if (!cert || !key) {
			fclose(f);
			free(buf);
			return NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "\n[origin %s]\n", d[i].name);
		for (int k = 0; k < K__COUNT; k++)
			if (d[i].kv[k])
				fprintf(f, "%s = %s\n", okey_names[k], d[i].kv[k]);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/* Write text to c->tmp (beside the zone file) and fsync it. */
static int write_tmp(struct admin_commit *c, const char *dir, const char *text, size_t len)
{
	const char *base = strrchr(c->zone_file, '/');
	int fd, rc;

	base = base ? base + 1 : c->zone_file;
	if ((size_t)snprintf(c->tmp, sizeof(c->tmp), "%s/.%.200s.admin-tmp", dir, base) >=
	    sizeof(c->tmp)) {
		c->tmp[0] = '\0';
		return -ENAMETOOLONG;
	}
	fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		c->tmp[0] = '\0';
		return rc;
	}
	rc = write_all(fd, text, len);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- prepare, commit, abort ------------------------------------------------------- */

/* A loader error as the API's: its key as the field (the secret file is
 * the secret), 409 for the same-credentials rule, else 422. An error in
 * another file than ours means the config on disk does not load: 500. */
static int load_error(const struct cfg_error *ce, const struct admin_commit *c,
		      struct admin_err *e)
{
	const char *field = ce->key;

	if (strncmp(ce->msg, c->tmp, strlen(c->tmp)) != 0 &&
	    strncmp(ce->msg, c->zone_file, strlen(c->zone_file)) != 0)
		return admin_fail(e, 500, NULL, "the configuration does not load: %s", ce->msg);
	if (strcmp(field, "s3_secret_key_file") == 0)
		field = "s3_secret_key";
	else if (field[0] == '[')
		field = strstr(ce->msg + ce->detail, "url") ? "url" : "name";
	return admin_fail(e, ce->s3_conflict ? 409 : 422, field, "%s", ce->msg + ce->detail);
}

int admin_new_uuid(char out[37])
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);     /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
		 r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

/* What the API can say before writing anything. */
static int precheck(const struct draft *d, size_t n, size_t self, struct admin_err *e)
{
	const struct draft *o = &d[self];

	for (size_t i = 0; i < n; i++)
		if (i != self && strcmp(d[i].name, o->name) == 0)
			return admin_fail(e, 422, "name", "the zone has an origin named %s already",
					  o->name);
	if (o->kv[K_s3_auth_enabled] && strcmp(o->kv[K_s3_auth_enabled], "true") == 0) {
		if (!o->kv[K_s3_access_key])
			return admin_fail(e, 422, "s3_access_key",
					  "is required when s3_auth_enabled is true");
		if (!o->secret && !o->kv[K_s3_secret_key_file])
			return admin_fail(e, 422, "s3_secret_key",
					  "is required when s3_auth_enabled is true");
	}
	return 0;
}

int admin_zone_prepare(const struct cfg *cur, const char *main_file, size_t zi,
		       enum admin_op op, size_t oi, const struct admin_origin_in *in,
		       struct admin_commit *c, struct admin_err *e)
{
	const struct cfg_zone *z = &cur->zones[zi];
	struct draft d[LIMIT_ZONE_ORIGINS + 1];
	size_t n = 0, self = oi;
	char *dir = NULL, *text = NULL;
	struct cfg_error ce;
	size_t len;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	memset(d, 0, sizeof(d));
	snprintf(c->zone_file, sizeof(c->zone_file), "%s", z->file);
	if (op == ADMIN_OP_DELETE && z->n_origins == 1)
		return admin_fail(e, 409, NULL, "a zone keeps at least one origin");
	if (op == ADMIN_OP_CREATE && z->n_origins == LIMIT_ZONE_ORIGINS)
		return admin_fail(e, 409, NULL, "a zone has at most %d origins",
				  LIMIT_ZONE_ORIGINS);
	for (size_t i = 0; i < z->n_origins; i++) {
		if (op == ADMIN_OP_DELETE && i == oi)
			continue;
		if (draft_from(&d[n++], &z->origins[i]) < 0) {
			rc = admin_fail(e, 500, NULL, "out of memory");
			goto out;
		}
	}
	if (op == ADMIN_OP_CREATE) {
		char u[37];

		self = n++;
		if (admin_new_uuid(u) < 0 || !(d[self].kv[K_uuid] = strdup(u)) ||
		    !(d[self].kv[K_s3_auth_enabled] = strdup("false"))) {
			rc = admin_fail(e, 500, NULL, "no random bytes or no memory");
			goto out;
		}
		if (!in->set[ADMIN_F_name] || !in->set[ADMIN_F_url]) {
			rc = admin_fail(e, 422, in->set[ADMIN_F_name] ? "url" : "name",
					"is required");
			goto out;
		}
	}
	if (op != ADMIN_OP_DELETE) {
		if ((rc = draft_apply(&d[self], in, e)) || (rc = precheck(d, n, self, e)))
			goto out;
		snprintf(c->origin_uuid, sizeof(c->origin_uuid), "%s", d[self].kv[K_uuid]);
	}
	dir = dir_of(z->file);
	if (!dir) {
		rc = admin_fail(e, 500, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (d[i].secret)
			rc = write_secret(dir, d[i].kv[K_uuid], d[i].secret,
					  &d[i].kv[K_s3_secret_key_file], c);
		if (!rc && d[i].token)
			rc = write_secret(dir, d[i].kv[K_uuid], d[i].token,
					  &d[i].kv[K_s3_session_token_file], c);
	}
	if (rc) {
		rc = admin_fail(e, 500, NULL, "cannot write a secret file in %s: %s", dir,
				strerror(-rc));
		goto out;
	}
	text = zone_text(z, d, n, &len);
	if (!text) {
		rc = admin_fail(e, 500, NULL, "out of memory");
		goto out;
	}
	if ((rc = write_tmp(c, dir, text, len)) < 0) {
		rc = admin_fail(e, 500, NULL, "cannot write %s: %s", c->tmp, strerror(-rc));
		goto out;
	}
	if (cfg_load_replacing(main_file, z->file, c->tmp, &c->cfg, &ce) < 0) {
		rc = load_error(&ce, c, e);
		goto out;
	}
	/* the secret files the old zone named and the new one does not */
	for (size_t i = 0; i < z->n_origins; i++) {
		const char *paths[2] = { z->origins[i].s3_secret_key_file,
					 z->origins[i].s3_session_token_file };

		for (int p = 0; p < 2; p++) {
			const char *base = paths[p] ? strrchr(paths[p], '/') : NULL;
			bool used = false;

			base = base ? base + 1 : paths[p];
			if (!base || strncmp(base, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
				continue;
			for (size_t j = 0; j < n; j++)
				used |= (d[j].kv[K_s3_secret_key_file] &&
					 strcmp(d[j].kv[K_s3_secret_key_file], base) == 0) ||
					(d[j].kv[K_s3_session_token_file] &&
					 strcmp(d[j].kv[K_s3_session_token_file], base) == 0);
			if (!used && c->n_old < sizeof(c->old_secrets) / sizeof(c->old_secrets[0]))
				c->old_secrets[c->n_old++] = strdup(paths[p]);
		}
	}
out:
	if (rc)
		admin_zone_abort(c);
	for (size_t i = 0; i < n; i++)
		draft_free(&d[i]);
	free(text);
	free(dir);
	return rc;
}

static void free_lists(struct admin_commit *c)
{
	for (size_t i = 0; i < c->n_new; i++)
		free(c->new_secrets[i]);
	for (size_t i = 0; i < c->n_old; i++)
		free(c->old_secrets[i]);
	c->n_new = c->n_old = 0;
}

int admin_zone_commit(struct admin_commit *c, struct admin_err *e)
{
	char *dir = dir_of(c->zone_file);
	int dfd;

	if (!dir || rename(c->tmp, c->zone_file) != 0) {
		int er = errno;

		free(dir);
		admin_fail(e, 500, NULL, "cannot replace %s: %s", c->zone_file, strerror(er));
		struct cfg *keep = c->cfg;
		c->cfg = NULL;
		admin_zone_abort(c);
		c->cfg = keep;
		return 500;
	}
	c->tmp[0] = '\0';
	/* the rename itself made durable */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
	for (size_t i = 0; i < c->n_old; i++)
		unlink(c->old_secrets[i]);
	free_lists(c);
	return 0;
}

void admin_zone_abort(struct admin_commit *c)
{
	if (c->tmp[0])
		unlink(c->tmp);
	c->tmp[0] = '\0';
	for (size_t i = 0; i < c->n_new; i++)
		unlink(c->new_secrets[i]);
	free_lists(c);
	cfg_free(c->cfg);
	c->cfg = NULL;
}
