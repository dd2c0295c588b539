/*
 * control/fleet.h — fleet mode ([fleet] in the main file, docs/FLEET.md):
 * zones, origins and S3 credentials come from etcd, not from zone files.
 *
 * The node keeps the applied state — every key under <prefix>/zones/ and
 * <prefix>/origins/ with its value (secrets still sealed) and revisions —
 * and the etcd revision it is complete up to. It gets there by a range,
 * then follows a watch from that revision + 1; on compaction, a revision
 * that goes backwards (a restored etcd) or a watch that cannot resume, a
 * full range and a diff. Each change is validated as the admin API
 * validates one (admin_origin_decode, then every rule of a config load);
 * a value that fails is logged (never a secret), counted, and the last
 * good one kept. What passes is published like a SIGHUP reload
 * (server_apply: credentials swapped in place, or a snapshot), written to
 * <state_dir>/fleet-state.json (tmp, fsync, rename: the last known good,
 * served at the next start when etcd cannot be reached), and reported
 * in <prefix>/nodes/<pop>/<node> (a lease kept alive by this node).
 *
 * Owns: the applied state, the etcd client (control/fleet_etcd.h), the
 * node's lease, the state file; the admin API it drives (fleet_service
 * wraps admin_service).
 * Called by: main (fleet_boot) and the control thread (the service, the
 * admin API's writes). Never a shard.
 * Never: puts a plaintext secret in etcd, the state file, a log line or
 * an answer; advances the applied revision past what it has applied.
 */
#ifndef EDGECACHE_CONTROL_FLEET_H
#define EDGECACHE_CONTROL_FLEET_H

#include <stdint.h>

#include <jansson.h>

#include "control/admin_req.h"
#include "control/admin_zone.h"
#include "control/server.h"

struct fleet;

/*
 * Before serving: replace *cfg (the main file's, fleet enabled) with the
 * fleet's — from etcd when an endpoint answers, else from the state file
 * (logged), else no zone yet (logged). 0, or -1 with the reason on
 * stderr (a state that does not load, no memory). The state it read is
 * kept for fleet_service.
 */
int fleet_boot(const char *main_file, struct cfg **cfg);

/* The admin API and the fleet's watch, node key and state file, driven by
 * the control loop (main.c hands it to server_run in fleet mode). */
extern const struct server_service fleet_service;

/* ---- the admin API's writes in fleet mode (control/admin.c) ---------------- */

/* A validated change of one origin, ready for etcd. */
struct fleet_change {
	char key[512];
	char *value;             /* the origin's JSON (secrets sealed); NULL: delete */
	int64_t expect;          /* the mod_revision it replaces (0: a new key) */
};

/*
 * Validate a change as the admin API does (op on origin_uuid of zone,
 * with body in): the candidate state loads (c->cfg, c->origin_uuid set
 * for the probe and the answer), and *ch is what goes to etcd. 0, or the
 * status in e (404, 409, 422 naming the field, 500). On success the
 * caller calls fleet_commit or fleet_change_free and admin_zone_abort
 * (which frees c->cfg; no files are involved in fleet mode).
 */
int fleet_prepare(struct fleet *f, const char *zone_uuid, enum admin_op op,
		  const char *origin_uuid, const struct admin_origin_in *in,
		  struct admin_commit *c, struct fleet_change *ch, struct admin_err *e);

/* Write ch in a txn comparing its mod_revision: 0 and *rev, or 409 (a
 * concurrent change won), 503 (etcd not reachable) in e. Frees ch. */
int fleet_commit(struct fleet *f, struct fleet_change *ch, int64_t *rev, struct admin_err *e);
void fleet_change_free(struct fleet_change *ch);

/* A purge for every node: <prefix>/purges/<id> = {"zone", and the body
 * (already checked by admin_purge_decode)} on a lease of
 * LIMIT_FLEET_PURGE_TTL_S; each node runs it when its watch brings it.
 * 0 and *rev, or 503 in e. */
int fleet_purge(struct fleet *f, const char *zone_uuid, const char *body, size_t len,
		int64_t *rev, struct admin_err *e);

/* Wait (bounded by LIMIT_FLEET_WAIT_MS, blocking the control thread as a
 * probe does) until every live node reports rev applied. 0, or -ETIMEDOUT
 * / -EHOSTUNREACH; *pending = nodes not there yet. */
int fleet_wait_all(struct fleet *f, int64_t rev, unsigned *pending);

/* GET /cdn/fleet: {"revision", "nodes": [{"pop", "node", "applied_revision",
 * "lag"}...]}, or NULL with e set (503: etcd not reachable). */
json_t *fleet_nodes_json(struct fleet *f, struct admin_err *e);

/* Prometheus lines of the fleet (watch state, applied revision, lag,
 * reconnects, invalid values), appended to GET /metrics. */
void fleet_metrics(struct fleet *f, FILE *out);

/* ---- edgecache fleet import / export (control/cli_fleet.c) ------------------- */

/* Seed etcd from the zone files of main_file's zones glob: one key per
 * zone and per origin (secrets sealed), written in file order (the
 * failover order is the order of creation). Existing keys are replaced.
 * 0, or -errno with the reason on err. */
int fleet_import(const char *main_file, FILE *err);

/* Write etcd's zones as zone files into dir (created 0700; files 0600:
 * they hold the secrets, opened), one per zone, loadable by -t. 0, or
 * -errno with the reason on err. */
int fleet_export(const char *main_file, const char *dir, FILE *err);

/* The admin API's handle on the fleet (set by fleet_service, NULL in
 * file mode). */
void admin_set_fleet(void *admin, struct fleet *f);

#endif /* EDGECACHE_CONTROL_FLEET_H */
