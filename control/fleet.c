/* control/fleet.c — fleet mode: the applied state, its validation and
 * publication, the watch, the node key, the state file, the admin API's
 * writes (contract in fleet.h, the data model in docs/FLEET.md). */
#include "control/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/admin.h"
#include "control/config_load.h"
#include "control/fleet_crypt.h"
#include "control/fleet_etcd.h"
#include "core/log.h"
#include "core/loop.h"

#define FLEET_MAGIC 0x464c4554u  /* "FLET" */
#define STATE_FILE "fleet-state.json"

enum watch_state { W_DOWN, W_LIVE };

struct fleet {
	uint32_t magic;
	struct server *srv;
	char *main_file;
	struct cfg_fleet keys;   /* our copies: prefix, pop, node, the keys, state_dir */
	struct fetcd *etcd;
	char zones_pfx[LIMIT_FLEET_PREFIX_BYTES + 16];   /* "<prefix>/zones/" */
	char origins_pfx[LIMIT_FLEET_PREFIX_BYTES + 16]; /* "<prefix>/origins/" */
	char watch_end[LIMIT_FLEET_PREFIX_BYTES + 16];   /* "<prefix>/zones0" */
	char nodes_pfx[LIMIT_FLEET_PREFIX_BYTES + 16];   /* "<prefix>/nodes/" */
	char purges_pfx[LIMIT_FLEET_PREFIX_BYTES + 16];  /* "<prefix>/purges/" */
	char own_purge[LIMIT_FLEET_PREFIX_BYTES + 64];   /* ours: run by the admin API */
	char node_key[LIMIT_FLEET_PREFIX_BYTES + 2 * LIMIT_FLEET_NAME_BYTES + 16];
	/* The applied state: key -> {"value": text, "mod": n, "create": n} */
	json_t *kvs;
	int64_t rev;             /* complete up to this etcd revision */
	int64_t seen_rev;        /* the newest revision etcd told us of */
	bool need_range;         /* a full range and diff before the next watch */
	bool state_dirty;        /* the state file is behind the applied state */
	/* a failing state write or node-key put is tried again after a
	 * doubling delay (not every pass), counted, and logged per try */
	struct retry { uint64_t at_ms, delay_ms; } state_retry, report_retry;
	enum watch_state watch;
	uint64_t retry_at_ms, backoff_ms;
	int64_t lease;
	uint64_t keepalive_at_ms;
	/* What the node key says: the revision of the last change applied
	 * (or of the last range), not f->rev, which progress notifications
	 * move with every write anywhere — the node keys' own included */
	int64_t applied_rev;
	int64_t reported_rev;    /* in our node key */
	/* counted here (control thread), exported by GET /metrics */
	uint64_t reconnects, invalid, applied, ranges, compactions;
	uint64_t apply_failures;  /* states that built but were not published */
	uint64_t state_write_failures, report_failures;
	/* the service */
	struct admin *admin;
	unsigned n_admin_fds;
	/* watches started: the fds svc_pollfds gave are stale once the
	 * admin API (?wait=all runs fleet_tick) started another */
	uint64_t watch_starts, polled_starts;
};

static struct fleet *booted;     /* fleet_boot's, taken by the service */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* ---- rendering: the state as zone texts ------------------------------------------ */

struct render {
	struct cfg_zone_text *texts;
	char **bufs;             /* the texts' buffers (export: hold secrets, wiped) */
	size_t *lens, n;
	/* the opened secrets, given to the loader beside the texts (one per
	 * origin key at most); export (inline_secrets) writes them as lines */
	struct cfg_origin_secret *sec;
	size_t n_sec;
	bool inline_secrets;
	char err[512];
};

static void render_free(struct render *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->bufs[i])
			explicit_bzero(r->bufs[i], r->lens[i]);
		free(r->bufs[i]);
		free((char *)r->texts[i].name);
	}
	for (size_t i = 0; i < r->n_sec; i++) {
		cfg_secret_free((char *)r->sec[i].s3_secret_key);
		cfg_secret_free((char *)r->sec[i].s3_session_token);
	}
	free(r->sec);
	free(r->texts);
	free(r->bufs);
	free(r->lens);
	memset(r, 0, sizeof(*r));
}

/* A zone value's member as INI lines; false (r->err) if it cannot be. */
static bool zone_member(FILE *out, const char *k, const json_t *v, struct render *r)
{
	struct admin_err e = { 0 };

	if (!cfg_valid_name(k) || strchr(k, '.')) {
		snprintf(r->err, sizeof(r->err), "a member name is not a key");
		return false;
	}
	if (json_is_boolean(v)) {
		fprintf(out, "%s = %s\n", k, json_is_true(v) ? "true" : "false");
	} else if (json_is_integer(v)) {
		fprintf(out, "%s = %lld\n", k, (long long)json_integer_value(v));
	} else if (json_is_string(v)) {
		if (admin_ini_string(v, k, &e))
			goto bad;
		fprintf(out, "%s = %s\n", k, json_string_value(v));
	} else if (json_is_array(v) && json_array_size(v) > 0) {
		size_t i;
		const json_t *x;

		/* "k = " is written: the first item on its line, the rest
		 * continue on indented lines (the loader's list form) */
		json_array_foreach(v, i, x) {
			if (admin_ini_string(x, k, &e) || !*json_string_value(x) ||
			    strchr(json_string_value(x), ','))
				goto bad;
			fprintf(out, "%s%s\n", i ? "\t" : "", json_string_value(x));
		}
	} else {
		snprintf(r->err, sizeof(r->err), "%s: must be a string, number, boolean or a list", k);
		return false;
	}
	return true;
bad:
	snprintf(r->err, sizeof(r->err), "%s: %s", k, e.msg[0] ? e.msg : "a list of names");
	return false;
}

/* A zone or origin value is an object whose uuid, if it names one, is
 * its key's. */
static bool value_is_for(const json_t *v, const char *uuid, struct render *r)
{
	if (!json_is_object(v)) {
		snprintf(r->err, sizeof(r->err), "not a JSON object");
		return false;
	}
	const char *ju = json_string_value(json_object_get(v, "uuid"));
	if (ju && strcasecmp(ju, uuid) != 0) {
		snprintf(r->err, sizeof(r->err), "uuid: differs from the key's");
		return false;
	}
	return true;
}

/* The [zone] section of a zone value (uuid from its key). */
static bool render_zone(FILE *out, const char *uuid, const json_t *z, struct render *r)
{
	const char *k;
	json_t *v;

	if (!value_is_for(z, uuid, r))
		return false;
	fprintf(out, "[zone]\nuuid = %s\n", uuid);
	json_object_foreach((json_t *)z, k, v) {
		if (strcmp(k, "uuid") == 0 || strcmp(k, "origins") == 0)
			continue;
		if (json_is_array(v)) {
			fprintf(out, "%s = ", k);
			if (!zone_member(out, k, v, r))
				return false;
		} else if (!zone_member(out, k, v, r)) {
			return false;
		}
	}
	return true;
}

/* Open a sealed member of an origin value: *plain (no-dump pages) or
 * NULL when absent; false (r->err) when it does not open. */
static bool open_secret(struct fleet *f, const char *key, const json_t *o, const char *field,
			char **plain, struct render *r)
{
	char aad[600];
	const json_t *s = json_object_get(o, field);
	int rc;

	*plain = NULL;
	if (!s || json_is_null(s))
		return true;
	snprintf(aad, sizeof(aad), "%s#%s", key, field);
	rc = fleet_open(&f->keys, aad, s, plain);
	if (rc == 0)
		return true;
	snprintf(r->err, sizeof(r->err), "%s: %s", field,
		 rc == -ENOKEY ? "sealed under a fleet key this node does not have (kid)" :
		 rc == -EBADMSG ? "does not open under its kid's key for this key (moved or changed)" :
		 rc == -EINVAL ? "not a sealed value {kid, nonce, ct}" : "out of memory");
	return false;
}

/* A session token as the loader would take one from its file: at most
 * LIMIT_SESSION_TOKEN_BYTES, no control byte (it goes into a header). */
static bool token_ok(const char *t, struct render *r)
{
	if (!t)
		return true;
	if (strlen(t) > LIMIT_SESSION_TOKEN_BYTES) {
		snprintf(r->err, sizeof(r->err), "s3_session_token: longer than %d bytes",
			 LIMIT_SESSION_TOKEN_BYTES);
		return false;
	}
	for (const char *c = t; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(r->err, sizeof(r->err), "s3_session_token: a control character");
			return false;
		}
	return true;
}

/*
 * An [origin] section from an origin value: checked by the admin API's
 * own decoder (types, unknown members, what an INI line can hold), with
 * the secrets opened in memory only and handed to the loader beside the
 * text (r->sec), never as INI lines — except for export (inline_secrets).
 */
static bool render_origin(struct fleet *f, FILE *out, const char *key, const char *uuid,
			  const json_t *o, struct render *r)
{
	struct admin_origin_in in;
	struct admin_err e = { 0 };
	char *secret = NULL, *token = NULL, *body = NULL;
	bool ok = false;

	if (!value_is_for(o, uuid, r))
		return false;
	if (!open_secret(f, key, o, "s3_secret_key", &secret, r) ||
	    !open_secret(f, key, o, "s3_session_token", &token, r))
		goto out;
	json_t *copy = json_deep_copy(o);
	if (!copy)
		goto oom;
	json_object_del(copy, "uuid");
	json_object_del(copy, "s3_session_token");
	json_object_del(copy, "force");
	if (secret)
		json_object_set_new(copy, "s3_secret_key", json_string(secret));
	body = json_dumps(copy, JSON_COMPACT);
	if (secret)
		explicit_bzero((char *)json_string_value(json_object_get(copy, "s3_secret_key")),
			       strlen(secret));
	json_decref(copy);
	if (!body)
		goto oom;
	if (admin_origin_decode(body, strlen(body), &in, &e)) {
		snprintf(r->err, sizeof(r->err), "%s: %s", e.field[0] ? e.field : "value", e.msg);
		admin_origin_in_free(&in);
		goto out;
	}
	if (!in.set[ADMIN_F_name] || !in.set[ADMIN_F_url]) {
		snprintf(r->err, sizeof(r->err), "%s: is required",
			 in.set[ADMIN_F_name] ? "url" : "name");
		admin_origin_in_free(&in);
		goto out;
	}
	if (!token_ok(token, r)) {
		admin_origin_in_free(&in);
		goto out;
	}
	fprintf(out, "\n[origin %s]\nuuid = %s\n", in.val[ADMIN_F_name], uuid);
	for (int fi = 0; fi < ADMIN_F__COUNT; fi++)
		if (in.set[fi] && fi != ADMIN_F_name && fi != ADMIN_F_force && *in.val[fi] &&
		    (fi != ADMIN_F_s3_secret_key || r->inline_secrets))
			fprintf(out, "%s = %s\n", admin_field_names[fi], in.val[fi]);
	admin_origin_in_free(&in);
	if (r->inline_secrets) {
		if (token)
			fprintf(out, "s3_session_token = %s\n", token);
	} else if (secret || token) {
		struct cfg_origin_secret *s = &r->sec[r->n_sec++];

		snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
		s->s3_secret_key = secret;        /* owned by r from here */
		s->s3_session_token = token;
		secret = token = NULL;
	}
	ok = true;
	goto out;
oom:
	snprintf(r->err, sizeof(r->err), "out of memory");
out:
	if (body)
		explicit_bzero(body, strlen(body));
	free(body);
	cfg_secret_free(secret);
	cfg_secret_free(token);
	return ok;
}

struct okey {
	const char *key;
	int64_t create;
};

static int by_create(const void *a, const void *b)
{
	const struct okey *x = a, *y = b;

	return x->create < y->create ? -1 : x->create > y->create;
}

static json_t *kv_value_json(const json_t *rec)
{
	const char *s = json_string_value(json_object_get(rec, "value"));

	return s ? json_loads(s, 0, NULL) : NULL;
}

/* One zone's text: the zone, then its origins in the order they were
 * created (the failover order, as a POST appends to a zone file). */
static bool render_one(struct fleet *f, const json_t *kvs, const char *zkey, struct render *r,
		       char **bad_key)
{
	const char *uuid = zkey + strlen(f->zones_pfx), *k;
	char opfx[LIMIT_FLEET_PREFIX_BYTES + 64];
	struct okey ok[LIMIT_ZONE_ORIGINS + 1];
	size_t n = 0, len = 0;
	char *buf = NULL;
	json_t *rec;
	size_t sec0 = r->n_sec;
	bool good;

	snprintf(opfx, sizeof(opfx), "%s%s/", f->origins_pfx, uuid);
	json_object_foreach((json_t *)kvs, k, rec) {
		if (!has_prefix(k, opfx))
			continue;
		if (n == LIMIT_ZONE_ORIGINS) {
			snprintf(r->err, sizeof(r->err), "more than %d origins", LIMIT_ZONE_ORIGINS);
			*bad_key = strdup(k);
			return false;
		}
		ok[n].key = k;
		ok[n++].create = json_integer_value(json_object_get(rec, "create"));
	}
	/* a zone with no origin yet is not served (a zone file must have
	 * one): its first origin is a POST away */
	if (n == 0)
		return true;
	qsort(ok, n, sizeof(ok[0]), by_create);
	FILE *out = open_memstream(&buf, &len);
	if (!out)
		return false;
	json_t *z = kv_value_json(json_object_get(kvs, zkey));
	good = render_zone(out, uuid, z, r);
	json_decref(z);
	if (!good)
		*bad_key = strdup(zkey);
	for (size_t i = 0; good && i < n; i++) {
		json_t *o = kv_value_json(json_object_get(kvs, ok[i].key));

		good = render_origin(f, out, ok[i].key, ok[i].key + strlen(opfx), o, r);
		json_decref(o);
		if (!good)
			*bad_key = strdup(ok[i].key);
	}
	fclose(out);
	if (!good) {
		if (buf)
			explicit_bzero(buf, len);
		free(buf);
		return false;
	}
	r->texts[r->n] = (struct cfg_zone_text){ .name = strdup(zkey), .text = buf, .len = len,
						 .secrets = r->sec ? r->sec + sec0 : NULL,
						 .n_secrets = r->n_sec - sec0 };
	r->bufs[r->n] = buf;
	r->lens[r->n++] = len;
	return true;
}

/*
 * The config the state kvs makes: every zone rendered, then loaded with
 * every rule of a load. 0 and *out, or -EINVAL with msg (no secret) and,
 * when one value is to blame, *bad_key (malloc'd).
 */
static int build_ce(struct fleet *f, const json_t *kvs, struct cfg **out, char *msg,
		    size_t cap, char **bad_key, struct cfg_error *ce);

static int build(struct fleet *f, const json_t *kvs, struct cfg **out, char *msg, size_t cap,
		 char **bad_key)
{
	struct cfg_error ce;

	return build_ce(f, kvs, out, msg, cap, bad_key, &ce);
}

/* build, with the loader's error (its key, the same-credentials rule) in
 * *ce when the loader refused (ce->key "" otherwise). */
static int build_ce(struct fleet *f, const json_t *kvs, struct cfg **out, char *msg,
		    size_t cap, char **bad_key, struct cfg_error *ce)
{
	size_t nz = 0, no = 0;
	struct render r = { 0 };
	const char *k;
	json_t *rec;
	int rc = 0;

	*bad_key = NULL;
	memset(ce, 0, sizeof(*ce));
	json_object_foreach((json_t *)kvs, k, rec) {
		nz += has_prefix(k, f->zones_pfx);
		no += has_prefix(k, f->origins_pfx);
	}
	r.texts = calloc(nz + 1, sizeof(*r.texts));
	r.bufs = calloc(nz + 1, sizeof(*r.bufs));
	r.lens = calloc(nz + 1, sizeof(*r.lens));
	r.sec = calloc(no + 1, sizeof(*r.sec));
	if (!r.texts || !r.bufs || !r.lens || !r.sec) {
		render_free(&r);
		snprintf(msg, cap, "out of memory");
		return -ENOMEM;
	}
	json_object_foreach((json_t *)kvs, k, rec) {
		if (!has_prefix(k, f->zones_pfx))
			continue;
		if (!render_one(f, kvs, k, &r, bad_key)) {
			snprintf(msg, cap, "%s: %s", *bad_key ? *bad_key : k, r.err);
			rc = -EINVAL;
			break;
		}
	}
	if (!rc && cfg_load_fleet(f->main_file, r.texts, r.n, out, ce) < 0) {
		snprintf(msg, cap, "%s", ce->msg);
		rc = -EINVAL;
	}
	render_free(&r);
	return rc;
}

/* ---- the state file ------------------------------------------------------------------ */

static int state_path(const struct fleet *f, char *out, size_t cap, const char *suffix)
{
	int n = snprintf(out, cap, "%s/" STATE_FILE "%s", f->keys.state_dir, suffix);

	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/*
 * dir/name holds text, atomically and privately: a fresh 0600 tmp beside
 * it (O_EXCL: never an existing file's mode or a planted symlink), every
 * byte written, fsync'd, renamed over, the directory fsync'd. 0 or -errno
 * (the tmp removed). Its buffers are the caller's (wiped by the caller).
 */
static int file_put(const char *dir, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char r[6];
	size_t off = 0;
	int fd, rc = 0;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%02x%02x%02x%02x%02x%02x", dir, name, r[0],
			     r[1], r[2], r[3], r[4], r[5]) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (!rc && off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno != EINTR)
			rc = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* The applied state, atomically (file_put). Values are as etcd holds
 * them: secrets sealed. */
static int state_write(struct fleet *f)
{
	char path[PATH_MAX];
	json_t *doc = json_pack("{s:I,s:O}", "revision", (json_int_t)f->rev, "kvs", f->kvs);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int rc;

	json_decref(doc);
	if (!text)
		return -ENOMEM;
	rc = state_path(f, path, sizeof(path), "");
	mkdir(f->keys.state_dir, 0700);
	if (!rc)
		rc = file_put(f->keys.state_dir, STATE_FILE, text, strlen(text));
	free(text);
	if (rc)
		log_error("fleet: cannot write %s: %s", path, strerror(-rc));
	return rc;
}

static int adopt(struct fleet *f, json_t *cand, const char *why);

/* The last known good state into f->kvs (per key, as adopt takes a
 * change): 0, -ENOENT none yet, -EINVAL not a state file. */
static int state_read(struct fleet *f)
{
	char path[PATH_MAX];
	json_error_t je;

	if (state_path(f, path, sizeof(path), ""))
		return -ENAMETOOLONG;
	json_t *doc = json_load_file(path, 0, &je);
	json_t *kvs = json_object_get(doc, "kvs");
	if (!doc || !json_is_object(kvs) || !json_is_integer(json_object_get(doc, "revision"))) {
		json_decref(doc);
		return access(path, F_OK) == 0 ? -EINVAL : -ENOENT;
	}
	/* through adopt: a zone that no longer loads here (a file it names
	 * gone) is refused alone, the others still served */
	int a = adopt(f, json_incref(kvs), "state");
	if (a >= 0)
		f->rev = f->applied_rev = json_integer_value(json_object_get(doc, "revision"));
	json_decref(doc);
	return a < 0 ? a : 0;
}

/* ---- applying changes -------------------------------------------------------------- */

/* s is exactly n canonical uuids joined by '/'. */
static bool uuid_path(const char *s, int n)
{
	char one[37];

	for (int i = 0; i < n; i++, s += 37) {
		if (strnlen(s, 37) < 36 || s[36] != (i == n - 1 ? '\0' : '/'))
			return false;
		memcpy(one, s, 36);
		one[36] = '\0';
		if (!cfg_valid_uuid(one))
			return false;
	}
	return true;
}

/*
 * Is k a zone key (<zones>/<uuid>) or an origin key (<origins>/<zone
 * uuid>/<uuid>)? The uuids of a key are rendered into INI text, so any
 * other key under those prefixes (a "\n" would inject lines) is refused:
 * counted and logged (its bytes beyond the prefix not echoed), never used.
 */
static bool our_key(struct fleet *f, const char *k)
{
	const char *pfx = has_prefix(k, f->zones_pfx) ? f->zones_pfx :
			  has_prefix(k, f->origins_pfx) ? f->origins_pfx : NULL;

	if (!pfx)
		return false;
	if (uuid_path(k + strlen(pfx), pfx == f->zones_pfx ? 1 : 2))
		return true;
	f->invalid++;
	log_error("fleet: a key under %s whose name is not %s refused", pfx,
		  pfx == f->zones_pfx ? "<uuid>" : "<zone uuid>/<uuid>");
	return false;
}

static void state_set(json_t *kvs, const struct fetcd_kv *kv, bool put)
{
	if (!put) {
		json_object_del(kvs, kv->key);
		return;
	}
	json_object_set_new(kvs, kv->key, json_pack("{s:s,s:I,s:I}", "value", kv->value, "mod",
						    (json_int_t)kv->mod_revision, "create",
						    (json_int_t)kv->create_revision));
}

/* One change (rec NULL: the key deleted) over *good, kept if the result
 * builds; else refused: counted, logged (the loader's message, never a
 * secret), *good unchanged. */
static void try_one(struct fleet *f, json_t **good, const char *k, json_t *rec)
{
	json_t *try = json_deep_copy(*good);
	struct cfg *c = NULL;
	char msg[600], *bad = NULL;

	if (rec)
		json_object_set(try, k, rec);
	else
		json_object_del(try, k);
	if (build(f, try, &c, msg, sizeof(msg), &bad) == 0) {
		json_decref(*good);
		*good = try;
	} else {
		json_decref(try);
		f->invalid++;
		log_error("fleet: %s %s at revision %lld refused: %s; the last good value kept",
			  rec ? "value of" : "deleting", k, rec ? (long long)json_integer_value(
			  json_object_get(rec, "mod")) : (long long)f->seen_rev, msg);
	}
	cfg_free(c);
	free(bad);
}

/*
 * Make cand the applied state if it builds; else try its changes (keys
 * whose record differs from the applied one) one at a time, keeping each
 * that builds and counting each that does not. The result is published
 * and written to the state file. Takes cand. 0: all of cand applied;
 * 1: applied without the refused changes; -EAGAIN: nothing applied for a
 * reason not in the values (server_apply failed): to be tried again.
 */
static int adopt(struct fleet *f, json_t *cand, const char *why)
{
	char msg[600], *bad = NULL;
	struct cfg *cfg = NULL;
	uint64_t invalid = f->invalid;

	if (build(f, cand, &cfg, msg, sizeof(msg), &bad) < 0) {
		json_t *good = json_deep_copy(f->kvs);
		const char *k;
		json_t *rec;
		void *tmp;

		free(bad);
		/* deleted keys first, then changed ones */
		json_object_foreach_safe(good, tmp, k, rec)
			if (!json_object_get(cand, k))
				try_one(f, &good, k, NULL);
		json_object_foreach(cand, k, rec)
			if (!json_equal(json_object_get(good, k), rec))
				try_one(f, &good, k, rec);
		json_decref(cand);
		cand = good;
		if (build(f, cand, &cfg, msg, sizeof(msg), &bad) < 0) {
			free(bad);
			json_decref(cand);
			return -EAGAIN;  /* cannot happen: good was built last */
		}
	}
	free(bad);
	int rc = f->invalid == invalid ? 0 : 1;
	if (json_equal(cand, f->kvs) && f->srv) {
		cfg_free(cfg);
		json_decref(cand);
		return rc;
	}
	if (f->srv && server_apply(f->srv, cfg, why) < 0) {
		f->apply_failures++;
		json_decref(cand);
		return -EAGAIN;
	}
	if (!f->srv)
		cfg_free(cfg);
	json_decref(f->kvs);
	f->kvs = cand;
	f->applied++;
	return rc;
}

/* A purge event from any node: checked as the admin API checks a purge
 * body, run on this node's store; a bad one is counted and logged. */
static void run_purge(struct fleet *f, const struct fetcd_kv *kv)
{
	json_t *j = json_loads(kv->value, 0, NULL);
	const char *zone = json_string_value(json_object_get(j, "zone"));
	json_t *body = json_object_get(j, "purge");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct admin_purge_in in = { 0 };
	struct admin_err e = { 0 };
	const struct cfg_zone *z = NULL;
	const struct cfg *cfg = f->srv ? server_cfg(f->srv) : NULL;

	if (strcmp(kv->key, f->own_purge) == 0) {
		json_decref(j);
		free(text);
		return;          /* the admin API ran it here already */
	}
	for (size_t i = 0; cfg && zone && i < cfg->n_zones && !z; i++)
		if (strcmp(cfg->zones[i].uuid, zone) == 0)
			z = &cfg->zones[i];
	if (!z || !text || admin_purge_decode(text, strlen(text), &in, &e)) {
		f->invalid++;
		log_error("fleet: purge %s refused: %s", kv->key, !z ? "no such zone here" :
			  e.msg[0] ? e.msg : "not {\"zone\", \"purge\"}");
	} else {
		long n = admin_purge_run(f->srv, z, &in);

		log_info("fleet: purge %s of zone %s: %ld object(s) dropped here", kv->key, z->name,
			 n < 0 ? 0 : n);
	}
	admin_purge_in_free(&in);
	free(text);
	json_decref(j);
}

/* The watch's messages (called inside fetcd_watch_poll). */
static int on_msg(void *arg, const struct fetcd_watch_msg *m)
{
	struct fleet *f = arg;

	if (m->compact_revision > 0) {
		log_warn("fleet: watch from revision %lld canceled (compacted to %lld): full range",
			 (long long)(f->rev + 1), (long long)m->compact_revision);
		f->compactions++;
		f->need_range = true;
		return -ESTALE;
	}
	if (m->canceled) {
		/* not a compaction (auth, a leader change, an overloaded
		 * member): started again after a back-off, never at once */
		log_warn("fleet: watch from revision %lld canceled by etcd: again after a back-off",
			 (long long)(f->rev + 1));
		return -ECANCELED;
	}
	if (m->revision > 0 && m->revision < f->rev) {
		log_warn("fleet: etcd's revision %lld is behind ours (%lld): a restored etcd? "
			 "full range", (long long)m->revision, (long long)f->rev);
		f->need_range = true;
		return -ESTALE;
	}
	if (m->revision > f->seen_rev)
		f->seen_rev = m->revision;
	if (m->n_ev) {
		json_t *cand = json_deep_copy(f->kvs);
		int64_t top = f->rev;

		for (size_t i = 0; i < m->n_ev; i++) {
			const struct fetcd_kv *kv = &m->ev[i].kv;

			/* a delete of a refused key is no news: not counted again */
			if ((m->ev[i].put || json_object_get(cand, kv->key)) && our_key(f, kv->key))
				state_set(cand, kv, m->ev[i].put);
			if (kv->mod_revision > top)
				top = kv->mod_revision;
		}
		int a = adopt(f, cand, "fleet");
		if (a < 0) {
			/* not applied, not for its values: rev stays, the batch
			 * comes again in a full range after a backoff */
			f->need_range = true;
			return a;
		}
		/* after the state: a purge for a zone created in the same batch */
		for (size_t i = 0; i < m->n_ev; i++)
			if (m->ev[i].put && has_prefix(m->ev[i].kv.key, f->purges_pfx))
				run_purge(f, &m->ev[i].kv);
		/* the last event's revision, not the header's: a catch-up batch
		 * carries etcd's current revision, and its later events are
		 * still to come in the next messages */
		f->rev = top;
		/* a batch with a refused change is not reported applied: a
		 * ?wait=all does not count this node as having taken it */
		if (a == 0)
			f->applied_rev = top;
		f->state_dirty = true;   /* written after the node key: fsync is slow */
	} else if (!m->created && m->revision > f->rev) {
		/* a progress notification: every event up to it was sent */
		f->rev = m->revision;
	} else if (m->created && f->watch != W_LIVE) {
		f->watch = W_LIVE;
		f->backoff_ms = 0;
		log_info("fleet: watching %s.. from revision %lld", f->origins_pfx,
			 (long long)(f->rev + 1));
	}
	return 0;
}

/* A full range: the state etcd has now, diffed against ours. */
static int range_all(struct fleet *f)
{
	struct fetcd_kvs r;
	int rc = fetcd_range(f->etcd, f->origins_pfx, f->watch_end, 0, &r);

	if (rc < 0)
		return rc;
	json_t *cand = json_object();
	for (size_t i = 0; cand && i < r.n; i++)
		if (our_key(f, r.kv[i].key))
			state_set(cand, &r.kv[i], true);
	f->ranges++;
	int a = cand ? adopt(f, cand, "fleet") : -ENOMEM;
	if (a < 0) {
		fetcd_kvs_free(&r);
		return a;        /* need_range stays: again after a backoff */
	}
	f->rev = r.revision;
	if (a == 0)
		f->applied_rev = r.revision;
	if (r.revision > f->seen_rev)
		f->seen_rev = r.revision;
	f->need_range = false;
	fetcd_kvs_free(&r);
	/* written by the caller's poll (never by fleet export: the CLI's
	 * user must not replace a running node's state) */
	f->state_dirty = true;
	return 0;
}

static void backoff(struct fleet *f, uint64_t now, const char *what)
{
	uint32_t r = 0;

	f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : LIMIT_FLEET_BACKOFF_MIN_MS;
	if (f->backoff_ms > LIMIT_FLEET_BACKOFF_MAX_MS)
		f->backoff_ms = LIMIT_FLEET_BACKOFF_MAX_MS;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)now;
	/* +-50%: a fleet that lost etcd does not come back in lockstep */
	uint64_t d = f->backoff_ms / 2 + r % (f->backoff_ms + 1);
	f->retry_at_ms = now + d;
	log_warn("fleet: %s: %s; retrying in %llu ms", what, fetcd_error(f->etcd),
		 (unsigned long long)d);
}

/* A failure of r's task at now: its next try after a doubling delay
 * (LIMIT_FLEET_BACKOFF_MIN_MS .. LIMIT_FLEET_MAX_RETRY_MS). */
static void retry_later(struct retry *r, uint64_t now)
{
	r->delay_ms = r->delay_ms ? r->delay_ms * 2 : LIMIT_FLEET_BACKOFF_MIN_MS;
	if (r->delay_ms > LIMIT_FLEET_MAX_RETRY_MS)
		r->delay_ms = LIMIT_FLEET_MAX_RETRY_MS;
	r->at_ms = now + r->delay_ms;
}

/* The node key: a lease kept alive, and the revision applied. */
static void node_report(struct fleet *f, uint64_t now)
{
	char val[512];
	int64_t rev;
	int rc;

	if (f->lease && now >= f->keepalive_at_ms) {
		rc = fetcd_lease_keepalive(f->etcd, f->lease);
		if (rc == -ENOENT) {
			f->lease = 0;    /* expired while we were cut off: a new one */
			f->reported_rev = -1;
		} else if (rc < 0) {
			f->keepalive_at_ms = now + 1000;
			return;
		} else {
			f->keepalive_at_ms = now + LIMIT_FLEET_LEASE_TTL_S * 1000 / 3;
		}
	}
	if (!f->lease) {
		if (now < f->keepalive_at_ms)
			return;
		if (fetcd_lease_grant(f->etcd, LIMIT_FLEET_LEASE_TTL_S, &f->lease) < 0) {
			f->lease = 0;
			f->keepalive_at_ms = now + 1000;
			return;
		}
		f->keepalive_at_ms = now + LIMIT_FLEET_LEASE_TTL_S * 1000 / 3;
		f->reported_rev = -1;
	}
	if (f->reported_rev == f->applied_rev)
		return;
	snprintf(val, sizeof(val), "{\"pop\":\"%s\",\"node\":\"%s\",\"applied_revision\":%lld,"
		 "\"invalid\":%llu}", f->keys.pop, f->keys.node, (long long)f->applied_rev,
		 (unsigned long long)f->invalid);
	if (fetcd_put(f->etcd, f->node_key, val, f->lease, &rev) == 0) {
		f->reported_rev = f->applied_rev;
		f->report_retry.delay_ms = 0;
		return;
	}
	f->report_failures++;
	retry_later(&f->report_retry, now);
	log_warn("fleet: cannot put %s: %s; again in %llu ms", f->node_key,
		 fetcd_error(f->etcd), (unsigned long long)f->report_retry.delay_ms);
}

/* Everything the control loop does for the fleet, each pass. */
static void fleet_tick(struct fleet *f, const struct pollfd *pfd, unsigned n)
{
	uint64_t now = mono_ms();

	if (fetcd_watch_running(f->etcd)) {
		int rc = fetcd_watch_poll(f->etcd, pfd, n);

		if (rc < 0) {
			f->watch = W_DOWN;
			f->reconnects++;
			if (rc == -ESTALE)
				f->retry_at_ms = now;    /* range at once */
			else
				backoff(f, now, "watch ended");
		}
	}
	if (!fetcd_watch_running(f->etcd) && now >= f->retry_at_ms) {
		int rc = f->need_range ? range_all(f) : 0;

		if (rc == 0)
			rc = fetcd_watch_start(f->etcd, f->origins_pfx, f->watch_end, f->rev + 1,
					       on_msg, f);
		f->watch_starts++;
		if (rc < 0)
			backoff(f, now, f->need_range ? "range" : "watch");
	}
	if (now >= f->report_retry.at_ms)
		node_report(f, now);
	if (f->state_dirty && now >= f->state_retry.at_ms) {
		if (state_write(f) == 0) {
			f->state_dirty = false;
			f->state_retry.delay_ms = 0;
		} else {
			f->state_write_failures++;
			retry_later(&f->state_retry, now);
		}
	}
}

/* ---- set-up ---------------------------------------------------------------------- */

static void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	fetcd_free(f->etcd);
	json_decref(f->kvs);
	free(f->main_file);
	free(f->keys.prefix);
	free(f->keys.pop);
	free(f->keys.node);
	free(f->keys.state_dir);
	cfg_secret_free(f->keys.secrets_key);
	cfg_secret_free(f->keys.secrets_previous_key);
	f->magic = 0;
	free(f);
}

static struct fleet *fleet_new(const char *main_file, const struct cfg_fleet *fl)
{
	struct fleet *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	fleet_wipe_heap();     /* secrets pass through jansson from here on */
	f->magic = FLEET_MAGIC;
	f->main_file = strdup(main_file);
	f->keys.prefix = strdup(fl->prefix);
	f->keys.pop = strdup(fl->pop);
	f->keys.node = strdup(fl->node);
	f->keys.state_dir = strdup(fl->state_dir);
	f->keys.secrets_key = cfg_secret_dup(fl->secrets_key, strlen(fl->secrets_key));
	if (fl->secrets_previous_key)
		f->keys.secrets_previous_key = cfg_secret_dup(fl->secrets_previous_key,
							      strlen(fl->secrets_previous_key));
	f->etcd = fetcd_new(fl);
	f->kvs = json_object();
	f->need_range = true;
	f->reported_rev = -1;
	snprintf(f->zones_pfx, sizeof(f->zones_pfx), "%s/zones/", fl->prefix);
	snprintf(f->origins_pfx, sizeof(f->origins_pfx), "%s/origins/", fl->prefix);
	/* origins/ < purges/ < zones/: the watch and the range take
	 * [origins/, zones0) and so never see the node keys' churn */
	snprintf(f->watch_end, sizeof(f->watch_end), "%s/zones0", fl->prefix);
	snprintf(f->nodes_pfx, sizeof(f->nodes_pfx), "%s/nodes/", fl->prefix);
	snprintf(f->purges_pfx, sizeof(f->purges_pfx), "%s/purges/", fl->prefix);
	snprintf(f->node_key, sizeof(f->node_key), "%s/nodes/%s/%s", fl->prefix, fl->pop,
		 fl->node);
	if (!f->main_file || !f->keys.prefix || !f->keys.pop || !f->keys.node ||
	    !f->keys.state_dir || !f->keys.secrets_key || !f->etcd || !f->kvs ||
	    (fl->secrets_previous_key && !f->keys.secrets_previous_key)) {
		fleet_free(f);
		return NULL;
	}
	return f;
}

/* SIGHUP in fleet mode: the main file again, the zones from the state. */
static int fleet_load(void *arg, const char *main_file, struct cfg **out, struct cfg_error *err)
{
	struct fleet *f = arg;
	char *bad = NULL;
	int rc;

	(void)main_file;
	rc = build(f, f->kvs, out, err->msg, sizeof(err->msg), &bad);
	free(bad);
	return rc;
}

int fleet_boot(const char *main_file, struct cfg **cfg)
{
	struct fleet *f = fleet_new(main_file, &(*cfg)->fleet);
	char msg[600], *bad = NULL;
	struct cfg *next = NULL;
	int rc;

	if (!f) {
		fprintf(stderr, "edgecache: fleet: out of memory (or no libcurl)\n");
		return -1;
	}
	/* the state first, etcd's values over it: a value etcd holds now
	 * that does not load keeps the last good one here too, as on the
	 * nodes that were running when it came */
	int sr = state_read(f);
	rc = range_all(f);
	if (rc == 0 && sr == -EINVAL)
		log_warn("fleet: %s/" STATE_FILE " is not a state file: etcd's state used",
			 f->keys.state_dir);
	if (rc < 0) {
		const char *why = fetcd_error(f->etcd);

		if (sr == 0)
			log_warn("fleet: etcd not reachable (%s): serving the last known good state "
				 "(revision %lld) from %s/" STATE_FILE, why, (long long)f->rev,
				 f->keys.state_dir);
		else if (sr == -ENOENT)
			log_warn("fleet: etcd not reachable (%s) and no state in %s yet: serving no "
				 "zone until etcd answers", why, f->keys.state_dir);
		else {
			fprintf(stderr, "edgecache: fleet: %s/" STATE_FILE " is not a state file\n",
				f->keys.state_dir);
			fleet_free(f);
			return -1;
		}
		f->need_range = true;
	} else {
		f->need_range = false;
	}
	if (build(f, f->kvs, &next, msg, sizeof(msg), &bad) < 0) {
		fprintf(stderr, "edgecache: fleet: the state does not load: %s\n", msg);
		free(bad);
		fleet_free(f);
		return -1;
	}
	/* in the node list before the admin API answers: a write's
	 * ?wait=all counts this node from its first moment */
	if (!f->need_range)
		node_report(f, mono_ms());
	cfg_free(*cfg);
	*cfg = next;
	log_info("fleet: %zu zone(s) at revision %lld, node %s/%s", next->n_zones,
		 (long long)f->rev, f->keys.pop, f->keys.node);
	booted = f;
	return 0;
}

/* ---- the admin API's writes ------------------------------------------------------------ */

void fleet_change_free(struct fleet_change *ch)
{
	free(ch->value);
	ch->value = NULL;
}

static size_t zone_origins(const struct fleet *f, const char *zone_uuid)
{
	char opfx[LIMIT_FLEET_PREFIX_BYTES + 64];
	const char *k;
	json_t *rec;
	size_t n = 0;

	snprintf(opfx, sizeof(opfx), "%s%s/", f->origins_pfx, zone_uuid);
	json_object_foreach(f->kvs, k, rec)
		n += has_prefix(k, opfx);
	return n;
}

/* The body's fields over the origin value obj; the secret sealed for key. */
static int merge_fields(struct fleet *f, json_t *obj, const char *key,
			const struct admin_origin_in *in, struct admin_err *e)
{
	char aad[600];

	for (int fi = 0; fi < ADMIN_F__COUNT; fi++) {
		const char *name = admin_field_names[fi];

		if (!in->set[fi] || fi == ADMIN_F_force)
			continue;
		if (fi == ADMIN_F_s3_secret_key) {
			json_t *sealed;
			const char *v = in->val[fi];

			if (!*v)
				continue;        /* blank: keep the current secret */
			snprintf(aad, sizeof(aad), "%s#s3_secret_key", key);
			if (fleet_seal(&f->keys, aad, v, strlen(v), &sealed) < 0)
				return admin_fail(e, 500, NULL, "cannot seal the secret");
			json_object_set_new(obj, name, sealed);
		} else if (!*in->val[fi]) {
			json_object_del(obj, name);      /* "" = unset: the default */
		} else {
			json_object_set(obj, name, json_object_get(in->root, name));
		}
	}
	return 0;
}

int fleet_prepare(struct fleet *f, const char *zone_uuid, enum admin_op op,
		  const char *origin_uuid, const struct admin_origin_in *in,
		  struct admin_commit *c, struct fleet_change *ch, struct admin_err *e)
{
	char zkey[LIMIT_FLEET_PREFIX_BYTES + 64], uuid[37], msg[600], *bad = NULL;
	const json_t *old;
	json_t *obj = NULL, *cand;
	struct cfg_error ce;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	memset(ch, 0, sizeof(*ch));
	snprintf(zkey, sizeof(zkey), "%s%s", f->zones_pfx, zone_uuid);
	if (!json_object_get(f->kvs, zkey))
		return admin_fail(e, 404, "uuid", "no such zone");
	snprintf(uuid, sizeof(uuid), "%s", origin_uuid ? origin_uuid : "");
	if (op == ADMIN_OP_CREATE) {
		if (zone_origins(f, zone_uuid) >= LIMIT_ZONE_ORIGINS)
			return admin_fail(e, 409, NULL, "a zone has at most %d origins",
					  LIMIT_ZONE_ORIGINS);
		if (!in->set[ADMIN_F_name] || !in->set[ADMIN_F_url])
			return admin_fail(e, 422, in->set[ADMIN_F_name] ? "url" : "name",
					  "is required");
		if (admin_new_uuid(uuid) < 0)
			return admin_fail(e, 500, NULL, "no random bytes");
	}
	snprintf(ch->key, sizeof(ch->key), "%s%s/%s", f->origins_pfx, zone_uuid, uuid);
	/* The change applies to the origin as etcd has it now, not as this
	 * node last applied it (its watch may be a few ms behind, its own
	 * previous write included): the txn then fails only if another
	 * write comes between this read and it. */
	struct fetcd_kvs now = { 0 };
	if (op != ADMIN_OP_CREATE && (rc = fetcd_get(f->etcd, ch->key, &now)) < 0)
		return admin_fail(e, 503, NULL, "etcd: %s", fetcd_error(f->etcd));
	if (op != ADMIN_OP_CREATE && now.n == 0) {
		fetcd_kvs_free(&now);
		return admin_fail(e, 404, "origin_uuid", "no such origin");
	}
	if (op == ADMIN_OP_DELETE && zone_origins(f, zone_uuid) == 1) {
		fetcd_kvs_free(&now);
		return admin_fail(e, 409, NULL, "a zone keeps at least one origin");
	}
	cand = json_deep_copy(f->kvs);
	if (!cand) {
		fetcd_kvs_free(&now);
		return admin_fail(e, 500, NULL, "out of memory");
	}
	if (now.n)
		state_set(cand, &now.kv[0], true);
	fetcd_kvs_free(&now);
	old = json_object_get(cand, ch->key);
	ch->expect = old ? json_integer_value(json_object_get(old, "mod")) : 0;
	if (op == ADMIN_OP_DELETE) {
		json_object_del(cand, ch->key);
	} else {
		obj = op == ADMIN_OP_CREATE ? json_pack("{s:s}", "uuid", uuid) : kv_value_json(old);
		if (!obj || !json_is_object(obj)) {
			rc = admin_fail(e, 500, NULL, "the stored origin is not a JSON object");
			goto out;
		}
		if ((rc = merge_fields(f, obj, ch->key, in, e)))
			goto out;
		ch->value = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
		/* a new origin sorts last: after every origin etcd has */
		json_object_set_new(cand, ch->key, json_pack("{s:s,s:I,s:I}", "value",
			ch->value ? ch->value : "", "mod", (json_int_t)ch->expect, "create",
			(json_int_t)(old ? json_integer_value(json_object_get(old, "create"))
				     : INT64_MAX)));
		if (!ch->value) {
			rc = admin_fail(e, 500, NULL, "out of memory");
			goto out;
		}
	}
	if (build_ce(f, cand, &c->cfg, msg, sizeof(msg), &bad, &ce) < 0) {
		/* the loader's message names the key; a rendering one the field */
		const char *field = ce.key[0] == '[' ? NULL : ce.key[0] ? ce.key : NULL;

		rc = admin_fail(e, ce.s3_conflict ? 409 : 422, field, "%s",
				ce.msg[0] ? ce.msg + ce.detail : msg);
		c->cfg = NULL;
		goto out;
	}
	snprintf(c->origin_uuid, sizeof(c->origin_uuid), "%s", uuid);
out:
	free(bad);
	json_decref(obj);
	json_decref(cand);
	if (rc)
		fleet_change_free(ch);
	return rc;
}

int fleet_commit(struct fleet *f, struct fleet_change *ch, int64_t *rev, struct admin_err *e)
{
	int rc = fetcd_txn(f->etcd, ch->key, ch->value, ch->expect, 0, rev);

	fleet_change_free(ch);
	if (rc == -EEXIST)
		return admin_fail(e, 409, NULL, "the origin changed in etcd since this node's "
				  "revision %lld: read it again and retry", (long long)f->rev);
	if (rc < 0)
		return admin_fail(e, 503, NULL, "etcd: %s", fetcd_error(f->etcd));
	return 0;
}

int fleet_purge(struct fleet *f, const char *zone_uuid, const char *body, size_t len,
		int64_t *rev, struct admin_err *e)
{
	char key[LIMIT_FLEET_PREFIX_BYTES + 64], id[37];
	json_t *b = json_loadb(body, len, 0, NULL);
	json_t *v = b ? json_pack("{s:s,s:o}", "zone", zone_uuid, "purge", b) : NULL;
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	int64_t lease = 0;
	int rc;

	json_decref(v);
	if (!text || admin_new_uuid(id) < 0) {
		free(text);
		return admin_fail(e, 500, NULL, "out of memory or no random bytes");
	}
	snprintf(key, sizeof(key), "%s%s", f->purges_pfx, id);
	snprintf(f->own_purge, sizeof(f->own_purge), "%s", key);
	rc = fetcd_lease_grant(f->etcd, LIMIT_FLEET_PURGE_TTL_S, &lease);
	if (rc == 0)
		rc = fetcd_put(f->etcd, key, text, lease, rev);
	free(text);
	if (rc < 0)
		return admin_fail(e, 503, NULL, "etcd: %s", fetcd_error(f->etcd));
	return 0;
}

/* Every live node's key: pop, node, applied_revision. */
static int nodes(struct fleet *f, struct fetcd_kvs *out)
{
	return fetcd_range(f->etcd, f->nodes_pfx, NULL, 0, out);
}

static int64_t node_applied(const struct fetcd_kv *kv, json_t **j)
{
	*j = json_loads(kv->value, 0, NULL);
	return json_integer_value(json_object_get(*j, "applied_revision"));
}

int fleet_wait_all(struct fleet *f, int64_t rev, unsigned *pending)
{
	uint64_t deadline = mono_ms() + LIMIT_FLEET_WAIT_MS;

	*pending = 0;
	for (;;) {
		struct fetcd_kvs r;
		struct pollfd pfd[FETCD_WATCH_FDS];
		int timeout;

		if (nodes(f, &r) == 0) {
			*pending = 0;
			for (size_t i = 0; i < r.n; i++) {
				json_t *j;

				*pending += node_applied(&r.kv[i], &j) < rev;
				json_decref(j);
			}
			fetcd_kvs_free(&r);
			if (*pending == 0)
				return 0;
		}
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		/* this node applies (and reports) the change too meanwhile */
		unsigned n = fetcd_watch_pollfds(f->etcd, pfd, &timeout);
		int r2 = poll(pfd, n, 10);
		fleet_tick(f, pfd, r2 > 0 ? n : 0);
	}
}

json_t *fleet_nodes_json(struct fleet *f, struct admin_err *e)
{
	struct fetcd_kvs r;
	int64_t top = 0;
	json_t *arr = json_array();

	if (!arr || nodes(f, &r) < 0) {
		json_decref(arr);
		admin_fail(e, 503, NULL, "etcd: %s", fetcd_error(f->etcd));
		return NULL;
	}
	for (size_t i = 0; i < r.n; i++) {
		json_t *j;
		int64_t a = node_applied(&r.kv[i], &j);

		top = a > top ? a : top;
		json_decref(j);
	}
	for (size_t i = 0; i < r.n; i++) {
		json_t *j;
		int64_t a = node_applied(&r.kv[i], &j);

		json_array_append_new(arr, json_pack("{s:O?,s:O?,s:I,s:I}", "pop",
			json_object_get(j, "pop"), "node", json_object_get(j, "node"),
			"applied_revision", (json_int_t)a, "lag", (json_int_t)(top - a)));
		json_decref(j);
	}
	json_t *out = json_pack("{s:I,s:s,s:s,s:I,s:o}", "revision", (json_int_t)r.revision,
				"pop", f->keys.pop, "node", f->keys.node, "applied_revision",
				(json_int_t)f->rev, "nodes", arr);
	fetcd_kvs_free(&r);
	if (!out)
		admin_fail(e, 500, NULL, "out of memory");
	return out;
}

void fleet_metrics(struct fleet *f, FILE *out)
{
	static const struct { const char *name, *type, *help; } m[] = {
		{ "fleet_watch_up", "gauge", "1 while the etcd watch is live" },
		{ "fleet_applied_revision", "gauge", "the etcd revision this node has applied" },
		{ "fleet_lag_revisions", "gauge",
		  "the newest etcd revision this node heard of minus the one it applied" },
		{ "fleet_reconnects_total", "counter", "etcd watches that ended and were restarted" },
		{ "fleet_invalid_values_total", "counter",
		  "values from etcd refused (the last good one kept)" },
		{ "fleet_applies_total", "counter", "fleet states published" },
		{ "fleet_ranges_total", "counter", "full ranges (start, compaction, a restored etcd)" },
		{ "fleet_compactions_total", "counter", "watches canceled by a compaction" },
		{ "fleet_apply_failures_total", "counter",
		  "states that loaded but could not be published (tried again after a backoff)" },
		{ "fleet_state_write_failures_total", "counter",
		  "state file writes that failed (tried again after a backoff)" },
		{ "fleet_report_failures_total", "counter",
		  "puts of this node's key that failed (tried again after a backoff)" },
	};
	uint64_t v[] = { f->watch == W_LIVE, (uint64_t)f->rev,
			 (uint64_t)(f->seen_rev > f->rev ? f->seen_rev - f->rev : 0), f->reconnects,
			 f->invalid, f->applied, f->ranges, f->compactions, f->apply_failures,
			 f->state_write_failures, f->report_failures };

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		fprintf(out, "# HELP edgecache_%s %s\n# TYPE edgecache_%s %s\nedgecache_%s{pop=\"%s\","
			"node=\"%s\"} %llu\n", m[i].name, m[i].help, m[i].name, m[i].type, m[i].name,
			f->keys.pop, f->keys.node, (unsigned long long)v[i]);
}

/* ---- import and export -------------------------------------------------------------- */

static void set_list(json_t *o, const char *k, char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	if (a && n)
		json_object_set_new(o, k, a);
	else
		json_decref(a);
}

/* A zone's [zone] keys as a zone value (the INI key names): the admin
 * API's view of a zone and the keys it does not show. */
static json_t *zone_value(const struct cfg_zone *z)
{
	json_t *o = admin_zone_fields(z);

	if (!o)
		return NULL;
	json_object_set_new(o, "store_server_errors", json_boolean(z->store_server_errors));
	set_list(o, "pass_request_headers", z->pass_headers, z->n_pass_headers);
	if (z->targeted_field)
		json_object_set_new(o, "targeted_field", json_string(z->targeted_field));
	if (z->tls_cert) {
		json_object_set_new(o, "tls_cert", json_string(z->tls_cert));
		json_object_set_new(o, "tls_key", json_string(z->tls_key));
		json_object_set_new(o, "tls_min_version",
				    json_string(cfg_tls_min_names[z->tls_min_version]));
	}
	return o;
}

/* An origin as an origin value: the admin API's field names, the
 * secrets sealed for this key. */
static json_t *origin_value(struct fleet *f, const char *key, const struct cfg_origin *o)
{
	char aad[600];
	json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:s,s:s,s:s,s:s}", "uuid", o->uuid,
			      "name", o->name, "url", o->url, "host_header", o->host_header,
			      "connect_timeout_ms", (json_int_t)o->connect_timeout_ms,
			      "read_timeout_ms", (json_int_t)o->read_timeout_ms,
			      "s3_auth_enabled", o->s3_auth_enabled, "s3_region", o->s3_region,
			      "s3_service", o->s3_service,
			      "s3_payload", cfg_payload_names[o->s3_payload],
			      "s3_addressing", cfg_addressing_names[o->s3_addressing]);
	const char *secrets[2][2] = { { "s3_secret_key", o->s3_secret_key },
				      { "s3_session_token", o->s3_session_token } };

	if (!v)
		return NULL;
	if (o->base_path[0])
		json_object_set_new(v, "base_path", json_string(o->base_path));
	if (o->probe_path)
		json_object_set_new(v, "probe_path", json_string(o->probe_path));
	if (o->ca_file)
		json_object_set_new(v, "ca_file", json_string(o->ca_file));
	if (o->s3_access_key)
		json_object_set_new(v, "s3_access_key", json_string(o->s3_access_key));
	for (int i = 0; i < 2; i++) {
		json_t *sealed;

		if (!secrets[i][1])
			continue;
		snprintf(aad, sizeof(aad), "%s#%s", key, secrets[i][0]);
		if (fleet_seal(&f->keys, aad, secrets[i][1], strlen(secrets[i][1]), &sealed) < 0) {
			json_decref(v);
			return NULL;
		}
		json_object_set_new(v, secrets[i][0], sealed);
	}
	return v;
}

static int put_json(struct fleet *f, const char *key, json_t *v, FILE *err)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int64_t rev;
	int rc = text ? fetcd_put(f->etcd, key, text, 0, &rev) : -ENOMEM;

	json_decref(v);
	free(text);
	if (rc < 0)
		fprintf(err, "edgecache: fleet import: %s: %s\n", key,
			rc == -ENOMEM ? "out of memory" : fetcd_error(f->etcd));
	return rc;
}

int fleet_import(const char *main_file, FILE *err)
{
	struct cfg *cfg = NULL;
	struct cfg_error ce;
	struct fleet *f;
	char key[LIMIT_FLEET_PREFIX_BYTES + 128];
	int rc = 0;

	if (cfg_load(main_file, &cfg, &ce) < 0) {
		fprintf(err, "%s\n", ce.msg);
		return -EINVAL;
	}
	if (!cfg->fleet.enabled || !cfg->server.zones_glob) {
		fprintf(err, "edgecache: fleet import: %s needs [fleet] and zones\n", main_file);
		cfg_free(cfg);
		return -EINVAL;
	}
	if (!(f = fleet_new(main_file, &cfg->fleet))) {
		cfg_free(cfg);
		return -ENOMEM;
	}
	for (size_t i = 0; !rc && i < cfg->n_zones; i++) {
		const struct cfg_zone *z = &cfg->zones[i];

		snprintf(key, sizeof(key), "%s%s", f->zones_pfx, z->uuid);
		rc = put_json(f, key, zone_value(z), err);
		for (size_t j = 0; !rc && j < z->n_origins; j++) {
			snprintf(key, sizeof(key), "%s%s/%s", f->origins_pfx, z->uuid,
				 z->origins[j].uuid);
			rc = put_json(f, key, origin_value(f, key, &z->origins[j]), err);
		}
		if (!rc)
			fprintf(err, "edgecache: fleet import: zone %s: %zu origin(s)\n", z->name,
				z->n_origins);
	}
	fleet_free(f);
	cfg_free(cfg);
	return rc;
}

int fleet_export(const char *main_file, const char *dir, FILE *err)
{
	struct cfg *cfg = NULL;
	struct cfg_error ce;
	struct fleet *f;
	struct render r = { 0 };
	char name[64], *bad = NULL;
	const char *k;
	json_t *rec;
	int rc;

	if (cfg_load(main_file, &cfg, &ce) < 0) {
		fprintf(err, "%s\n", ce.msg);
		return -EINVAL;
	}
	f = cfg->fleet.enabled ? fleet_new(main_file, &cfg->fleet) : NULL;
	cfg_free(cfg);
	if (!f) {
		fprintf(err, "edgecache: fleet export: %s has no [fleet] (or no memory)\n",
			main_file);
		return -EINVAL;
	}
	if ((rc = range_all(f)) < 0) {
		fprintf(err, "edgecache: fleet export: etcd: %s\n", fetcd_error(f->etcd));
		fleet_free(f);
		return rc;
	}
	size_t nz = json_object_size(f->kvs) + 1;
	r.inline_secrets = true;        /* a zone file says its secrets */
	r.texts = calloc(nz, sizeof(*r.texts));
	r.bufs = calloc(nz, sizeof(*r.bufs));
	r.lens = calloc(nz, sizeof(*r.lens));
	rc = r.texts && r.bufs && r.lens ? 0 : -ENOMEM;
	if (!rc && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = -errno;
	json_object_foreach(f->kvs, k, rec) {
		if (rc || !has_prefix(k, f->zones_pfx))
			continue;
		size_t before = r.n;
		if (!render_one(f, f->kvs, k, &r, &bad)) {
			fprintf(err, "edgecache: fleet export: %s: %s\n", bad ? bad : k, r.err);
			free(bad);
			rc = -EINVAL;
			break;
		}
		if (r.n == before)
			continue;        /* no origin yet: nothing a zone file can say */
		/* plaintext secrets: a new 0600 file each time, never a short one */
		const struct cfg_zone_text *t = &r.texts[r.n - 1];
		snprintf(name, sizeof(name), "%s.ini", k + strlen(f->zones_pfx));
		rc = file_put(dir, name, t->text, t->len);
		if (rc)
			fprintf(err, "edgecache: fleet export: %s/%s: %s\n", dir, name, strerror(-rc));
	}
	if (!rc)
		fprintf(err, "edgecache: fleet export: %zu zone(s) at revision %lld into %s\n", r.n,
			(long long)f->rev, dir);
	render_free(&r);
	fleet_free(f);
	return rc;
}

/* ---- the service: the admin API and the fleet ---------------------------------------- */

static int svc_open(struct server *srv, void **state)
{
	struct fleet *f = booted;

	booted = NULL;
	*state = NULL;
	if (!f) {
		fprintf(stderr, "edgecache: fleet: not booted (fleet_boot)\n");
		return -1;
	}
	if (admin_service.open(srv, (void **)&f->admin) < 0) {
		fleet_free(f);
		return -1;
	}
	f->srv = srv;
	srv->load = fleet_load;
	srv->load_arg = f;
	if (f->admin)
		admin_set_fleet(f->admin, f);
	*state = f;
	return 0;
}

static unsigned svc_pollfds(void *state, struct pollfd *pfd)
{
	struct fleet *f = state;
	int timeout;

	f->n_admin_fds = f->admin ? admin_service.pollfds(f->admin, pfd) : 0;
	f->polled_starts = f->watch_starts;
	return f->n_admin_fds + fetcd_watch_pollfds(f->etcd, pfd + f->n_admin_fds, &timeout);
}

static void svc_poll(void *state, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	struct fleet *f = state;
	unsigned na = n < f->n_admin_fds ? n : f->n_admin_fds;

	if (f->admin)
		admin_service.poll(f->admin, pfd, na, now_ms);
	fleet_tick(f, pfd + na, f->watch_starts == f->polled_starts ? n - na : 0);
}

static void svc_close(void *state)
{
	struct fleet *f = state;

	if (f->admin)
		admin_service.close(f->admin);
	fleet_free(f);
}

const struct server_service fleet_service = {
	.open = svc_open, .pollfds = svc_pollfds, .poll = svc_poll, .close = svc_close,
};
