/* control/admin.c — the admin API's listener, connections and endpoints
 * (contract in control/admin.h; requests in admin_req.h, files in
 * admin_zone.h). */
#include "control/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "cache/http_cache.h"
#include "cache/store.h"
#include "control/admin_req.h"
#include "control/admin_zone.h"
#include "control/cli.h"
#include "control/config_load.h"
#include "control/fleet.h"
#include "core/counters.h"
#include "core/log.h"
#include "control/server.h"
#include "edge/shard.h"
#include "cache/collapse.h"
#include "sigv4/s3_error.h"
#include "sigv4/sigv4.h"

#define IN_CAP (LIMIT_ADMIN_HEAD_BYTES + LIMIT_ADMIN_BODY_BYTES)

struct aconn {
	int fd;                  /* -1 = free slot */
	uint64_t deadline_ms;
	char peer[64];           /* "addr:port", for the log */
	size_t in_len;
	char *in;                /* IN_CAP bytes, allocated once */
	char *out;               /* the response, malloc'd */
	size_t out_len, out_off;
};

struct admin {
	struct server *srv;
	int lfd;
	/* Started with a token: a reload that drops token_file must not open
	 * the API (the listen address may not be loopback); it locks it. */
	bool need_token;
	struct aconn c[LIMIT_ADMIN_CONNS];
	/* Counted here, exported by GET /metrics (control thread only). */
	uint64_t by_status[600];         /* answers by HTTP status */
	uint64_t busy;                   /* connections refused: every slot taken */
	uint64_t timeouts;               /* connections closed at their deadline */
	struct fleet *fleet;             /* fleet mode: writes go to etcd; NULL = files */
};

void admin_set_fleet(void *admin, struct fleet *f)
{
	((struct admin *)admin)->fleet = f;
}

/* One response: status, JSON or text body. */
struct reply {
	int status;
	json_t *json;            /* or */
	char *text;              /* text/plain body (metrics), malloc'd */
	size_t text_len;
};

static struct runtime *cur_rt(struct admin *a)
{
	return atomic_load_explicit(&a->srv->rt, memory_order_acquire);
}

/* The latest applied config: the snapshot's, or newer credentials. */
static const struct cfg *cur_cfg(struct admin *a)
{
	return server_cfg(a->srv);
}

/* ---- JSON views of the config ------------------------------------------------ */

static json_t *origin_json(const struct cfg_origin *o)
{
	char hex[65] = "";

	if (o->s3_secret_key)
		sigv4_sha256_hex(o->s3_secret_key, strlen(o->s3_secret_key), hex);
	hex[8] = '\0';           /* a fingerprint, not the hash */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:I,s:I,s:b,s:s?,s:b,s:s?,s:s,s:s,s:b,"
			 "s:s,s:s}",
			 "uuid", o->uuid, "name", o->name, "url", o->url,
			 "host_header", o->host_header, "base_path", o->base_path,
			 "probe_path", o->probe_path,
			 "ca_file", o->ca_file,
			 "connect_timeout_ms", (json_int_t)o->connect_timeout_ms,
			 "read_timeout_ms", (json_int_t)o->read_timeout_ms,
			 "s3_auth_enabled", o->s3_auth_enabled,
			 "s3_access_key", o->s3_access_key,
			 "s3_secret_key_set", o->s3_secret_key != NULL,
			 "s3_secret_key_sha256_8", o->s3_secret_key ? hex : NULL,
			 "s3_region", o->s3_region, "s3_service", o->s3_service,
			 "s3_session_token_set", o->s3_session_token != NULL,
			 "s3_payload", cfg_payload_names[o->s3_payload],
			 "s3_addressing", cfg_addressing_names[o->s3_addressing]);
}

static json_t *origins_json(const struct cfg_zone *z)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < z->n_origins; i++)
		json_array_append_new(arr, origin_json(&z->origins[i]));
	return arr;
}

json_t *admin_zone_fields(const struct cfg_zone *z)
{
	json_t *hosts = json_array();

	for (size_t i = 0; hosts && i < z->n_hosts; i++)
		json_array_append_new(hosts, json_string(z->hosts[i]));
	return json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:s,s:b,s:s}",
			 "uuid", z->uuid, "name", z->name, "hosts", hosts,
			 "default_ttl", (json_int_t)z->default_ttl_s,
			 "negative_ttl", (json_int_t)z->negative_ttl_s,
			 "stale_while_revalidate", (json_int_t)z->stale_while_revalidate_s,
			 "stale_if_error", (json_int_t)z->stale_if_error_s,
			 "query_string", cfg_query_string_names[z->query_string],
			 "heuristic_freshness", z->heuristic_freshness,
			 "set_cookie", cfg_set_cookie_names[z->set_cookie]);
}

static json_t *zone_json(const struct cfg_zone *z)
{
	json_t *j = admin_zone_fields(z);

	if (j)
		json_object_set_new(j, "origins", origins_json(z));
	return j;
}

static const struct cfg_zone *find_zone(const struct cfg *cfg, const char *uuid, size_t *zi)
{
	for (size_t i = 0; i < cfg->n_zones; i++)
		if (strcmp(cfg->zones[i].uuid, uuid) == 0) {
			*zi = i;
			return &cfg->zones[i];
		}
	return NULL;
}

static const struct cfg_origin *find_origin(const struct cfg_zone *z, const char *uuid,
					    size_t *oi)
{
	for (size_t i = 0; i < z->n_origins; i++)
		if (strcmp(z->origins[i].uuid, uuid) == 0) {
			*oi = i;
			return &z->origins[i];
		}
	return NULL;
}

/* ---- metrics ------------------------------------------------------------------- */

static uint64_t sum_ctr(struct server *srv, unsigned c)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < srv->n_shards; i++)
		s += counters_get(srv->shards[i]->lp.ctr, c);
	return s;
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP edgecache_%s %s\n# TYPE edgecache_%s %s\n", name,
		help && *help ? help : name, name, type);
}

static int metrics_text(struct admin *a, struct reply *r)
{
	struct server *srv = a->srv;
	struct runtime *rt = cur_rt(a);
	FILE *f = open_memstream(&r->text, &r->text_len);

	if (!f)
		return -ENOMEM;
	server_counters_write(srv, f, COUNTERS_PROMETHEUS);
	uint64_t req = sum_ctr(srv, CTR_requests), hits = sum_ctr(srv, CTR_cache_hits);
	metric_head(f, "cache_hit_ratio", "gauge", "cache_hits_total / requests_total");
	fprintf(f, "edgecache_cache_hit_ratio %.6f\n", req ? (double)hits / (double)req : 0.0);
	metric_head(f, "shard_requests_total", "counter", "visitor requests per shard");
	for (unsigned i = 0; i < srv->n_shards; i++)
		fprintf(f, "edgecache_shard_requests_total{shard=\"%u\"} %llu\n", i,
			(unsigned long long)counters_get(srv->shards[i]->lp.ctr, CTR_requests));
	metric_head(f, "shard_loop_iterations_total", "counter", "event-loop iterations per shard");
	for (unsigned i = 0; i < srv->n_shards; i++)
		fprintf(f, "edgecache_shard_loop_iterations_total{shard=\"%u\"} %llu\n", i,
			(unsigned long long)counters_get(srv->shards[i]->lp.ctr,
			 CTR_loop_iterations));
	metric_head(f, "shard_loop_busy_seconds_total", "counter",
		    "time each shard spent handling completions, not waiting for them");
	for (unsigned i = 0; i < srv->n_shards; i++)
		fprintf(f, "edgecache_shard_loop_busy_seconds_total{shard=\"%u\"} %.6f\n", i,
			(double)counters_get(srv->shards[i]->lp.ctr, CTR_loop_busy_ns) / 1e9);
	metric_head(f, "snapshot_generation", "gauge",
		    "generation of the last publication: a snapshot, or S3 credentials swapped "
		    "in place");
	fprintf(f, "edgecache_snapshot_generation %llu\n", (unsigned long long)srv->generation);
	metric_head(f, "snapshot_swap_seconds", "gauge",
		    "publication to the last shard serving it, of the last snapshot swapped in");
	fprintf(f, "edgecache_snapshot_swap_seconds %.9f\n", (double)srv->last_swap_ns / 1e9);
	metric_head(f, "snapshot_swaps_total", "counter", "snapshots published after the first");
	fprintf(f, "edgecache_snapshot_swaps_total %llu\n", (unsigned long long)srv->swaps);
	metric_head(f, "runtime_snapshots_live", "gauge",
		    "snapshots not yet freed, the current one included (1 at rest)");
	fprintf(f, "edgecache_runtime_snapshots_live %u\n", server_snapshots_live(srv));
	metric_head(f, "credential_swaps_total", "counter",
		    "S3 credentials objects published in place (changes, daily key rolls): no "
		    "new snapshot, pooled origin connections kept");
	fprintf(f, "edgecache_credential_swaps_total %llu\n",
		(unsigned long long)srv->creds_swaps);
	metric_head(f, "credentials_retired_live", "gauge",
		    "replaced credentials objects not yet freed (a shard has not passed them)");
	fprintf(f, "edgecache_credentials_retired_live %llu\n",
		(unsigned long long)snap_pending(&srv->creds_epochs));
	metric_head(f, "s3_clock_offset_seconds", "gauge", "S3 server clock minus ours, per origin");
	for (uint32_t i = 0; i < rt->n_origins; i++)
		if (rt->origins[i].cfg->s3_auth_enabled)
			fprintf(f, "edgecache_s3_clock_offset_seconds{zone=\"%s\",origin=\"%s\"} %lld\n",
				rt->origins[i].zone->name, rt->origins[i].cfg->name,
				(long long)atomic_load(&rt->origins[i].clock_offset_s));
	metric_head(f, "s3_credential_generation", "gauge",
		    "snapshot generation in which each S3 origin's credentials were last set");
	/* The control thread frees credentials objects: it may read them. */
	for (uint32_t i = 0; i < rt->n_origins; i++)
		if (rt_creds(&rt->origins[i]))
			fprintf(f, "edgecache_s3_credential_generation{zone=\"%s\",origin=\"%s\"} "
				"%llu\n", rt->origins[i].zone->name, rt->origins[i].cfg->name,
				(unsigned long long)rt_creds(&rt->origins[i])->gen);
	metric_head(f, "s3_signatures_total", "counter",
		    "origin requests signed, per credential generation (the current one and, "
		    "after a change, the previous one: the overlap retry signs with it)");
	for (uint32_t i = 0; i < rt->n_origins; i++) {
		const struct rt_origin *o = &rt->origins[i];
		const struct origin_creds *c = rt_creds(o);
		uint64_t gens[2] = { c ? c->gen : 0, c ? c->prev_gen : 0 };

		for (int g = 0; g < 2; g++)
			if (gens[g])
				fprintf(f, "edgecache_s3_signatures_total{zone=\"%s\",origin=\"%s\","
					"generation=\"%llu\"} %llu\n", o->zone->name, o->cfg->name,
					(unsigned long long)gens[g],
					(unsigned long long)rt_creds_signed(c, g == 1));
	}
	metric_head(f, "admin_requests_total", "counter", "admin API answers by status");
	for (int st = 100; st < 600; st++)
		if (a->by_status[st])
			fprintf(f, "edgecache_admin_requests_total{status=\"%d\"} %llu\n", st,
				(unsigned long long)a->by_status[st]);
	metric_head(f, "admin_busy_total", "counter",
		    "admin connections refused with 503: every slot taken");
	fprintf(f, "edgecache_admin_busy_total %llu\n", (unsigned long long)a->busy);
	metric_head(f, "admin_timeouts_total", "counter",
		    "admin connections closed: request or response not done in time");
	fprintf(f, "edgecache_admin_timeouts_total %llu\n", (unsigned long long)a->timeouts);
	metric_head(f, "shards", "gauge", "shard threads serving");
	fprintf(f, "edgecache_shards %u\n", srv->n_shards);
	metric_head(f, "uptime_seconds", "gauge", "seconds since start");
	fprintf(f, "edgecache_uptime_seconds %.3f\n",
		(double)(loop_now_ms() - srv->started_ms) / 1e3);
	if (a->fleet)
		fleet_metrics(a->fleet, f);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

/* ---- changes ---------------------------------------------------------------------- */

/* The clock offset the shards learned for this origin (zone and origin
 * uuid) of the current snapshot: a probe signs as a miss would. */
static int64_t learned_offset(struct admin *a, const char *zone_uuid, const char *origin_uuid)
{
	const struct runtime *rt = cur_rt(a);

	for (uint32_t i = 0; i < rt->n_origins; i++) {
		const struct rt_origin *o = &rt->origins[i];

		if (strcmp(o->zone->uuid, zone_uuid) == 0 && strcmp(o->cfg->uuid, origin_uuid) == 0)
			return atomic_load(&((struct rt_origin *)o)->clock_offset_s);
	}
	return 0;
}

/* Does the body change what signing depends on (or, ca_file, whether
 * the origin is reached at all)? */
static bool changes_signing(const struct admin_origin_in *in)
{
	return in->set[ADMIN_F_s3_auth_enabled] || in->set[ADMIN_F_s3_access_key] ||
	       (in->set[ADMIN_F_s3_secret_key] && *in->val[ADMIN_F_s3_secret_key]) ||
	       in->set[ADMIN_F_s3_region] || in->set[ADMIN_F_url] ||
	       in->set[ADMIN_F_s3_service] || in->set[ADMIN_F_ca_file];
}

/*
 * Before a credential change goes live: a signed HEAD of the candidate
 * origin's probe_path with the new settings (check-origin's diagnosis).
 * Anything but 2xx refuses the change with 422 and the S3 Code, unless
 * the body says "force": true. No probe_path, S3 off: nothing to probe.
 */
static int probe(struct admin *a, const struct admin_commit *c, const struct admin_origin_in *in,
		 const char *zone_uuid, struct admin_err *e)
{
	const struct cfg_zone *z;
	const struct cfg_origin *o = NULL;
	struct cli_check_origin_result res;
	char *text = NULL;
	size_t text_len = 0, zi, oi;

	if (!(z = find_zone(c->cfg, zone_uuid, &zi)))
		return 0;        /* cannot happen: the loader kept the zone */
	for (oi = 0; oi < z->n_origins; oi++)
		if (strcmp(z->origins[oi].uuid, c->origin_uuid) == 0)
			o = &z->origins[oi];
	if (!o || !o->probe_path || !o->s3_auth_enabled || !changes_signing(in) ||
	    (in->set[ADMIN_F_force] && strcmp(in->val[ADMIN_F_force], "true") == 0))
		return 0;
	FILE *f = open_memstream(&text, &text_len);
	if (!f)
		return admin_fail(e, 500, NULL, "out of memory");
	cli_check_origin_run(z, o, o->probe_path, learned_offset(a, z->uuid, o->uuid),
			 LIMIT_ADMIN_PROBE_TIMEOUT_MS, f, &res);
	fclose(f);
	free(text);              /* the report is for POST .../test */
	log_info("admin: probe of zone %s origin %s %s with the new credentials: %u %s%s%s",
		 z->name, o->name, o->probe_path, res.status, res.code[0] ? res.code : "-",
		 res.tls_error[0] ? ", TLS: " : "", res.tls_error);
	if (res.result == 0)
		return 0;
	if (res.tls_error[0]) {
		admin_fail(e, 422, in->set[ADMIN_F_ca_file] ? "ca_file" : "url",
			   "probe HEAD %s with the new settings: TLS: %s (\"force\": true applies "
			   "it anyway)", o->probe_path, res.tls_error);
		return 422;
	}
	const char *field = strcmp(res.code, "InvalidAccessKeyId") == 0 ? "s3_access_key" :
			    strcmp(res.code, "AuthorizationHeaderMalformed") == 0 ? "s3_region" :
			    "s3_secret_key";
	admin_fail(e, 422, field, "probe HEAD %s with the new settings: %u %s: %s "
		   "(\"force\": true applies it anyway)", o->probe_path, res.status,
		   res.code[0] ? res.code : "-", res.meaning);
	snprintf(e->s3_code, sizeof(e->s3_code), "%s", res.code);
	return 422;
}

/* POST .../test: check-origin's diagnosis of one origin as JSON. */
static int test_origin(struct admin *a, const struct admin_req *q, const struct cfg_zone *z,
		       const struct cfg_origin *o, struct reply *r, struct admin_err *e)
{
	struct cli_check_origin_result res;
	const char *path;
	json_t *root;
	char *text = NULL;
	size_t text_len = 0;
	static const char *const results[] = { "OK", "FAILED", "NOT CHECKED" };

	(void)a;
	if (admin_test_decode(q->body, q->body_len, &root, &path, e)) {
		json_decref(root);
		return e->status;
	}
	path = path ? path : o->probe_path ? o->probe_path : "/";
	FILE *f = open_memstream(&text, &text_len);
	if (!f) {
		json_decref(root);
		return admin_fail(e, 500, NULL, "out of memory");
	}
	cli_check_origin_run(z, o, path, learned_offset(a, z->uuid, o->uuid),
			     LIMIT_ADMIN_PROBE_TIMEOUT_MS, f,
			 &res);
	fclose(f);
	r->json = json_pack("{s:s,s:s,s:I,s:s?,s:s?,s:s?,s:s,s:s,s:s}",
			    "result", results[res.result < 0 || res.result > 2 ? 2 : res.result],
			    "path", path, "status", (json_int_t)res.status,
			    "s3_code", res.code[0] ? res.code : NULL,
			    "s3_message", res.message[0] ? res.message : NULL,
			    "tls_error", res.tls_error[0] ? res.tls_error : NULL,
			    "verdict", res.meaning, "fix", res.fix, "report", text ? text : "");
	free(text);
	json_decref(root);
	r->status = 200;
	return r->json ? 0 : admin_fail(e, 500, NULL, "out of memory");
}

/* Does the body set S3 credentials and nothing else (a rotation)? */
static bool sets_only_creds(const struct admin_origin_in *in)
{
	bool any = false;

	for (int f = 0; f < ADMIN_F__COUNT; f++) {
		bool cred = f == ADMIN_F_s3_access_key || f == ADMIN_F_s3_secret_key ||
			    f == ADMIN_F_s3_region;
		if (in->set[f] && !cred && f != ADMIN_F_force)
			return false;
		any |= in->set[f] && cred;
	}
	return any;
}

/*
 * A rotation: new credentials objects swapped in place (server.h,
 * server_creds_prepare): the snapshot, TLS sessions, addresses and pooled
 * origin connections stay. The file is replaced between making and
 * publishing them, as for a snapshot.
 */
static int apply_creds(struct admin *a, struct admin_commit *c, struct admin_err *e)
{
	struct server_creds_change ch;
	char err[256];

	if (server_creds_prepare(a->srv, c->cfg, &ch, err, sizeof(err)) < 0) {
		admin_zone_abort(c);
		return admin_fail(e, 500, NULL, "%s", err);
	}
	if (admin_zone_commit(c, e)) {
		server_creds_discard(&ch);
		admin_zone_abort(c);
		return e->status;
	}
	struct cfg *cfg = c->cfg;
	c->cfg = NULL;           /* the server's latest config from here */
	server_creds_publish(a->srv, cfg, &ch);
	log_info("admin: credentials of generation %llu published in place",
		 (unsigned long long)a->srv->generation);
	return 0;
}

/* Candidate validated: build its snapshot (or, for a rotation, only new
 * credentials), replace the file, publish. */
static int apply(struct admin *a, struct admin_commit *c, bool creds_only, struct admin_err *e)
{
	struct runtime *rt;
	struct cfg *cfg = c->cfg;
	char err[256];

	if (creds_only && rt_cfg_creds_only(cur_rt(a), cfg))
		return apply_creds(a, c, e);
	c->cfg = NULL;           /* the snapshot owns it from here, also on failure */
	if (server_build(a->srv, cfg, &rt, err, sizeof(err)) < 0) {
		admin_zone_abort(c);
		if (strstr(err, ": TLS: "))
			return admin_fail(e, 422, "ca_file", "%s", err);
		return admin_fail(e, 500, NULL, "%s", err);
	}
	if (admin_zone_commit(c, e)) {
		rt_free(rt);
		return e->status;
	}
	server_publish(a->srv, rt);
	log_info("admin: snapshot %llu published", (unsigned long long)rt->generation);
	return 0;
}

/*
 * Fleet mode: validated as in file mode (the decoder, every rule of a
 * load, the probe), then written to etcd in a txn on the key's
 * mod_revision (409 when another node's write came first). Every node,
 * this one too, applies it from its watch; ?wait=all answers once every
 * live node reports it (504 when that takes longer than
 * LIMIT_FLEET_WAIT_MS: the change is in etcd and will arrive).
 */
static int change_origin_fleet(struct admin *a, const struct admin_req *q, enum admin_op op,
			       struct admin_origin_in *in, struct reply *r, struct admin_err *e)
{
	struct admin_commit c;
	struct fleet_change ch;
	int64_t rev = 0;
	size_t zi, oi;
	unsigned pending = 0;
	int rc;

	rc = fleet_prepare(a->fleet, q->zone, op, op == ADMIN_OP_CREATE ? NULL : q->origin, in,
			   &c, &ch, e);
	if (!rc && op != ADMIN_OP_DELETE && (rc = probe(a, &c, in, q->zone, e)))
		fleet_change_free(&ch);
	if (!rc)
		rc = fleet_commit(a->fleet, &ch, &rev, e);
	if (rc) {
		admin_zone_abort(&c);
		return rc;
	}
	const struct cfg_zone *z = find_zone(c.cfg, q->zone, &zi);
	const struct cfg_origin *o = z ? find_origin(z, c.origin_uuid, &oi) : NULL;
	r->json = op == ADMIN_OP_DELETE ? json_pack("{s:s}", "deleted", q->origin) :
		  o ? origin_json(o) : NULL;
	admin_zone_abort(&c);
	if (!r->json)
		return admin_fail(e, 500, NULL, "the change is in etcd but its answer is not");
	json_object_set_new(r->json, "revision", json_integer(rev));
	log_info("admin: fleet: %s written at etcd revision %lld", ch.key, (long long)rev);
	if (q->wait_all && fleet_wait_all(a->fleet, rev, &pending) < 0) {
		json_decref(r->json);
		r->json = NULL;
		return admin_fail(e, 504, NULL, "written at revision %lld; %u node(s) have not "
				  "applied it after %d ms", (long long)rev, pending,
				  LIMIT_FLEET_WAIT_MS);
	}
	r->status = op == ADMIN_OP_CREATE ? 201 : 200;
	return 0;
}

static int change_origin(struct admin *a, const struct admin_req *q, enum admin_op op,
			 struct reply *r, struct admin_err *e)
{
	const struct cfg *cfg = cur_cfg(a);
	struct admin_origin_in in = { 0 };
	struct admin_commit c;
	size_t zi = 0, oi = 0;
	int rc;

	if (!a->fleet && !find_zone(cfg, q->zone, &zi))
		return admin_fail(e, 404, "uuid", "no such zone");
	if (!a->fleet && op != ADMIN_OP_CREATE && !find_origin(&cfg->zones[zi], q->origin, &oi))
		return admin_fail(e, 404, "origin_uuid", "no such origin");
	if (op != ADMIN_OP_DELETE && admin_origin_decode(q->body, q->body_len, &in, e)) {
		admin_origin_in_free(&in);
		return e->status;
	}
	if (a->fleet) {
		rc = change_origin_fleet(a, q, op, &in, r, e);
		admin_origin_in_free(&in);
		return rc;
	}
	rc = admin_zone_prepare(cfg, a->srv->main_file, zi, op, oi,
				op == ADMIN_OP_DELETE ? NULL : &in, &c, e);
	if (!rc && op != ADMIN_OP_DELETE && (rc = probe(a, &c, &in, q->zone, e)))
		admin_zone_abort(&c);
	bool creds_only = op == ADMIN_OP_UPDATE && sets_only_creds(&in);
	admin_origin_in_free(&in);
	if (rc || (rc = apply(a, &c, creds_only, e)))
		return rc;
	/* answered from what is live now */
	const struct cfg_zone *z = find_zone(cur_cfg(a), q->zone, &zi);
	const struct cfg_origin *o = z ? find_origin(z, c.origin_uuid, &oi) : NULL;
	if (op == ADMIN_OP_DELETE) {
		r->json = json_pack("{s:s}", "deleted", q->origin);
	} else if (o) {
		r->json = origin_json(o);
	} else {
		return admin_fail(e, 500, NULL, "the change is live but its origin is not found");
	}
	r->status = op == ADMIN_OP_CREATE ? 201 : 200;
	return 0;
}

/* Drop stored objects of a zone: each path (with its query, as the cache
 * keys it), or every key under a prefix. A stamp per path keeps a fill
 * already on its way from landing after the purge. */
long admin_purge_run(struct server *srv, const struct cfg_zone *z, const struct admin_purge_in *in)
{
	char text[LIMIT_CACHE_KEY_BYTES];
	size_t tl;
	long n = 0;

	if (srv->store && in->prefix) {
		int w = snprintf(text, sizeof(text), "%s\n%s", z->name, in->prefix);

		n = w > 0 && (size_t)w < sizeof(text) ?
		    store_purge_prefix(srv->store, text, (size_t)w) : -ENOSPC;
	}
	for (size_t i = 0; srv->store && n >= 0 && i < in->n_paths; i++) {
		const char *p = in->paths[i], *qm = strchr(p, '?');
		size_t len = strlen(p);
		struct hcache_key k;

		if (hcache_key(z->name, strlen(z->name), p, qm ? (size_t)(qm - p) : len,
			       qm ? qm + 1 : NULL, qm ? len - (size_t)(qm - p) - 1 : 0,
			       (enum hcache_qs)z->query_string, text, sizeof(text), &tl, &k) < 0)
			continue;
		struct cindex_key key = { .lo = k.lo, .hi = k.hi };
		collapse_stamp(srv->invalidated, key, loop_now_ms());
		n += store_purge(srv->store, key) == 0;
	}
	/* a scan after a crash could bring purged entries back: checkpoint */
	if (srv->store && n > 0 && store_checkpoint(srv->store) < 0)
		log_error("admin: checkpoint after a purge failed");
	return n;
}

static int purge(struct admin *a, const struct admin_req *q, struct reply *r,
		 struct admin_err *e)
{
	const struct cfg_zone *z;
	struct admin_purge_in in;
	size_t zi;
	int64_t rev = 0;
	long n;

	if (!(z = find_zone(cur_cfg(a), q->zone, &zi)))
		return admin_fail(e, 404, "uuid", "no such zone");
	if (admin_purge_decode(q->body, q->body_len, &in, e)) {
		admin_purge_in_free(&in);
		return e->status;
	}
	/* fleet mode: every other node purges when the event reaches it;
	 * this one now (the count is this node's) */
	if (a->fleet && fleet_purge(a->fleet, q->zone, q->body, q->body_len, &rev, e)) {
		admin_purge_in_free(&in);
		return e->status;
	}
	n = admin_purge_run(a->srv, z, &in);
	admin_purge_in_free(&in);
	if (n < 0)
		return admin_fail(e, 422, "prefix", "cannot purge this prefix: %s", strerror((int)-n));
	r->json = json_pack("{s:I}", "purged", (json_int_t)n);
	if (r->json && a->fleet)
		json_object_set_new(r->json, "revision", json_integer(rev));
	unsigned pending = 0;
	if (r->json && a->fleet && q->wait_all && fleet_wait_all(a->fleet, rev, &pending) < 0) {
		json_decref(r->json);
		r->json = NULL;
		return admin_fail(e, 504, NULL, "purge written at revision %lld; %u node(s) have "
				  "not applied it after %d ms", (long long)rev, pending,
				  LIMIT_FLEET_WAIT_MS);
	}
	r->status = 200;
	return r->json ? 0 : admin_fail(e, 500, NULL, "out of memory");
}

static int dispatch(struct admin *a, const struct admin_req *q, struct reply *r,
		    struct admin_err *e)
{
	const struct cfg *cfg = cur_cfg(a);
	const struct cfg_zone *z = NULL;
	const struct cfg_origin *o = NULL;
	enum http1_method m = q->http.method;
	size_t zi, oi;

	/* fleet mode: a zone in etcd with no origin yet is not served, but
	 * takes its first one (fleet_prepare looks the zone up in etcd's state) */
	if (a->fleet && q->route == ADMIN_R_ORIGINS && m == HTTP1_POST)
		return change_origin(a, q, ADMIN_OP_CREATE, r, e);
	if (q->zone[0] && !(z = find_zone(cfg, q->zone, &zi)))
		return admin_fail(e, 404, "uuid", "no such zone");
	if (q->origin[0] && !(o = find_origin(z, q->origin, &oi)))
		return admin_fail(e, 404, "origin_uuid", "no such origin");
	r->status = 200;
	switch (q->route) {
	case ADMIN_R_ZONES: {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < cfg->n_zones; i++)
			json_array_append_new(arr, zone_json(&cfg->zones[i]));
		r->json = json_pack("{s:o}", "zones", arr);
		break;
	}
	case ADMIN_R_ZONE:
		r->json = zone_json(z);
		break;
	case ADMIN_R_ORIGINS:
		if (m == HTTP1_POST)
			return change_origin(a, q, ADMIN_OP_CREATE, r, e);
		r->json = json_pack("{s:o}", "origins", origins_json(z));
		break;
	case ADMIN_R_ORIGIN:
		if (m == HTTP1_PATCH)
			return change_origin(a, q, ADMIN_OP_UPDATE, r, e);
		if (m == HTTP1_DELETE)
			return change_origin(a, q, ADMIN_OP_DELETE, r, e);
		r->json = origin_json(o);
		break;
	case ADMIN_R_PURGE:
		return purge(a, q, r, e);
	case ADMIN_R_TEST:
		return test_origin(a, q, z, o, r, e);
	case ADMIN_R_FLEET:
		if (!a->fleet)
			return admin_fail(e, 404, NULL, "not in fleet mode (no [fleet] section)");
		if (!(r->json = fleet_nodes_json(a->fleet, e)))
			return e->status;
		break;
	case ADMIN_R_METRICS:
		if (metrics_text(a, r) < 0)
			return admin_fail(e, 500, NULL, "out of memory");
		return 0;
	case ADMIN_R_NONE:
		return admin_fail(e, 404, NULL, "no such path");
	}
	return r->json ? 0 : admin_fail(e, 500, NULL, "out of memory");
}

/* ---- connections ---------------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Internal Server Error";
	}
}

static void conn_close(struct aconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

/* The whole response into c->out; the connection closes after it. */
static void conn_reply(struct aconn *c, struct reply *r, const struct admin_err *e)
{
	char *body = NULL;
	size_t blen = 0;
	const char *type = "application/json";

	if (e) {
		json_decref(r->json);
		r->json = json_pack("{s:s,s:s?}", "error", e->msg, "field",
				    e->field[0] ? e->field : NULL);
		if (r->json && e->s3_code[0])
			json_object_set_new(r->json, "s3_code", json_string(e->s3_code));
		r->status = e->status;
	}
	if (r->text) {
		body = r->text;
		blen = r->text_len;
		type = "text/plain; version=0.0.4";
	} else if (r->json) {
		body = json_dumps(r->json, JSON_COMPACT);
		blen = body ? strlen(body) : 0;
	}
	int n = asprintf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n%.*s", r->status,
			 reason(r->status), type, blen,
			 r->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
			 (int)blen, body ? body : "");
	c->out_len = n < 0 ? 0 : (size_t)n;
	if (n < 0)
		c->out = NULL;
	free(body);
	json_decref(r->json);
	r->json = NULL;
	r->text = NULL;
}

/* framed: the head parsed (also for a 411 / 413 refused after it). */
static void log_action(const struct aconn *c, const struct admin_req *q, bool framed,
		       int status, const struct admin_err *e)
{
	int pl = !framed ? 1 : q->http.path_len < LIMIT_ADMIN_LOG_PATH_BYTES ?
		 (int)q->http.path_len : LIMIT_ADMIN_LOG_PATH_BYTES;

	log_info("admin: %s %.*s %.*s -> %d%s%s", c->peer,
		 framed ? (int)q->http.method_len : 1, framed ? q->http.method_str : "-",
		 pl, framed ? q->http.path : "-", status, e ? ": " : "", e ? e->msg : "");
}

/* Bytes arrived: frame, authenticate, route, serve. */
static void conn_input(struct admin *a, struct aconn *c)
{
	struct admin_req q;
	struct admin_err e = { 0 };
	struct reply r = { 0 };
	int rc;

	q.head_len = 0;
	rc = admin_req_frame(c->in, c->in_len, &q, &e);

	if (rc < 0)
		return;              /* more to come */
	bool framed = rc == 0;
	const char *token = cur_cfg(a)->admin.token;
	if (framed && ((a->need_token && !token) || !admin_req_authorized(&q, token)))
		rc = admin_fail(&e, 401, NULL, "a valid bearer token is required");
	if (framed && !rc)
		rc = admin_req_route(&q, &e);
	if (framed && !rc)
		rc = dispatch(a, &q, &r, &e);
	int status = rc ? e.status : r.status;
	if (status >= 100 && status < 600)
		a->by_status[status]++;
	log_action(c, &q, q.head_len > 0, status, rc ? &e : NULL);
	conn_reply(c, &r, rc ? &e : NULL);
	/* a probe or test may have taken seconds: the answer gets its own time */
	c->deadline_ms = loop_now_ms() + LIMIT_ADMIN_TIMEOUT_MS;
	if (!c->out)
		conn_close(c);
}

static void conn_read(struct admin *a, struct aconn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	conn_input(a, c);
}

static void conn_write(struct aconn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void peer_name(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, cap, "%s%s%s:%s", ss.ss_family == AF_INET6 ? "[" : "", host,
		 ss.ss_family == AF_INET6 ? "]" : "", port);
}

/* Take every pending connection; past the slots, a 503 and close. */
static void accept_all(struct admin *a, uint64_t now)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
		"application/json\r\nContent-Length: 64\r\nConnection: close\r\n\r\n"
		"{\"error\":\"too many admin connections, retry later\",\"field\":null}";
	_Static_assert(sizeof("{\"error\":\"too many admin connections, retry later\","
			      "\"field\":null}") - 1 == 64, "Content-Length");

	for (int k = 0; k < 4 * LIMIT_ADMIN_CONNS; k++) {
		int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct aconn *c = NULL;

		if (fd < 0)
			return;
		for (int i = 0; i < LIMIT_ADMIN_CONNS && !c; i++)
			if (a->c[i].fd < 0)
				c = &a->c[i];
		if (!c) {
			ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			(void)ignored;
			a->busy++;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now + LIMIT_ADMIN_TIMEOUT_MS;
		peer_name(fd, c->peer, sizeof(c->peer));
	}
}

unsigned admin_pollfds(struct admin *a, struct pollfd *pfd)
{
	unsigned n = 0;

	if (!a)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = a->lfd, .events = POLLIN };
	for (int i = 0; i < LIMIT_ADMIN_CONNS; i++)
		if (a->c[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = a->c[i].fd,
						    .events = a->c[i].out ? POLLOUT : POLLIN };
	return n;
}

void admin_poll(struct admin *a, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	if (!a)
		return;
	for (unsigned k = 1; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		for (int i = 0; i < LIMIT_ADMIN_CONNS; i++) {
			struct aconn *c = &a->c[i];

			if (c->fd != pfd[k].fd)
				continue;
			if (c->out)
				conn_write(c);
			else
				conn_read(a, c);
			break;
		}
	}
	for (int i = 0; i < LIMIT_ADMIN_CONNS; i++) {
		struct aconn *c = &a->c[i];

		if (c->fd >= 0 && now_ms >= c->deadline_ms) {
			log_info("admin: %s timed out after %d ms", c->peer, LIMIT_ADMIN_TIMEOUT_MS);
			a->timeouts++;
			conn_close(c);
		}
	}
	if (n > 0 && pfd[0].revents)
		accept_all(a, now_ms);
}

int admin_open(struct server *srv, struct admin **out)
{
	const struct cfg_admin *ac = &atomic_load(&srv->rt)->cfg->admin;
	struct admin *a;

	*out = NULL;
	if (!ac->enabled)
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a) {
		fprintf(stderr, "edgecache: admin: out of memory\n");
		return -1;
	}
	a->srv = srv;
	a->lfd = -1;
	a->need_token = ac->token != NULL;
	for (int i = 0; i < LIMIT_ADMIN_CONNS; i++) {
		a->c[i].fd = -1;
		a->c[i].in = malloc(IN_CAP);
		if (!a->c[i].in) {
			admin_close(a);
			fprintf(stderr, "edgecache: admin: out of memory\n");
			return -1;
		}
	}
	/* no SO_REUSEPORT: a second process on the same port is an error */
	a->lfd = server_listen(&ac->listen, false);
	if (a->lfd < 0 || fcntl(a->lfd, F_SETFL, O_NONBLOCK) < 0) {
		admin_close(a);
		return -1;
	}
	log_info("admin API on %s:%u%s", ac->listen.host, ac->listen.port,
		 ac->token ? " (bearer token required)" : " (loopback, no token)");
	*out = a;
	return 0;
}

void admin_close(struct admin *a)
{
	if (!a)
		return;
	for (int i = 0; i < LIMIT_ADMIN_CONNS; i++) {
		conn_close(&a->c[i]);
		free(a->c[i].in);
	}
	if (a->lfd >= 0)
		close(a->lfd);
	free(a);
}

/* ---- the service server_run drives ------------------------------------------ */

static int svc_open(struct server *srv, void **state)
{
	struct admin *a = NULL;
	int r = admin_open(srv, &a);
	*state = a;
	return r;
}

static unsigned svc_pollfds(void *state, struct pollfd *pfd)
{
	return admin_pollfds(state, pfd);
}

static void svc_poll(void *state, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	admin_poll(state, pfd, n, now_ms);
}

static void svc_close(void *state)
{
	admin_close(state);
}

const struct server_service admin_service = {
	.open = svc_open, .pollfds = svc_pollfds, .poll = svc_poll, .close = svc_close,
};
