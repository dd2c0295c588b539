/*
 * control/admin_req.h — the admin API's request side, without a socket or a
 * server: framing (the visitor parser, net/http1.h, with the admin
 * limits), the bearer token, routing, and decoding of JSON bodies
 * (jansson) into checked values. Pure functions of their input, so one
 * fuzz target (tests/fuzz/fuzz_admin.c) covers everything a client sends.
 *
 * Owns: nothing beyond the json_t a decode returns in its struct (freed by
 * the matching _free).
 * Called by: control/admin.c on the control thread; the fuzz target.
 * Never: logs, blocks, or copies a secret anywhere but the decoded struct
 * (whose json_t holds it until _free).
 *
 * Errors are an HTTP status, a message and the field it is about; the
 * caller answers {"error": msg, "field": field or null}.
 */
#ifndef EDGECACHE_CONTROL_ADMIN_REQ_H
#define EDGECACHE_CONTROL_ADMIN_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "net/http1.h"

struct admin_err {
	int status;              /* 400, 401, 404, 405, 409, 411, 413, 422, 431, 500, 503 */
	char msg[256];           /* never holds a secret */
	char field[64];          /* "" = none */
	char s3_code[128];       /* a failed probe's S3 <Code>, "" = none */
};

enum admin_route {
	ADMIN_R_NONE,            /* no such path: 404 */
	ADMIN_R_ZONES,           /* /cdn/zones */
	ADMIN_R_ZONE,            /* /cdn/zones/{uuid} */
	ADMIN_R_ORIGINS,         /* /cdn/zones/{uuid}/origins */
	ADMIN_R_ORIGIN,          /* /cdn/zones/{uuid}/origins/{origin_uuid} */
	ADMIN_R_PURGE,           /* /cdn/zones/{uuid}/purge */
	ADMIN_R_TEST,            /* /cdn/zones/{uuid}/origins/{origin_uuid}/test */
	ADMIN_R_METRICS,         /* /metrics */
	ADMIN_R_FLEET,           /* /cdn/fleet (fleet mode) */
};

struct admin_req {
	struct http1_request http;
	size_t head_len;
	const char *body;        /* into the caller's buffer; body_len bytes */
	size_t body_len;
	enum admin_route route;
	char zone[37];           /* lower-case uuid, "" if the route has none */
	char origin[37];
	bool wait_all;           /* ?wait=all */
};

/*
 * Frame buf[0..len): 0 when head and body are complete (*r filled), -1
 * when more bytes are needed (and allowed), or an error status in e: 400
 * bad head, 411 chunked body, 413 body over LIMIT_ADMIN_BODY_BYTES (known
 * from Content-Length, before any of it arrives), 431 head over
 * LIMIT_ADMIN_HEAD_BYTES. Route and method are not looked at.
 */
int admin_req_frame(const char *buf, size_t len, struct admin_req *r, struct admin_err *e);

/* Does the request carry "Authorization: Bearer <token>"? Constant time
 * in the token's bytes. token NULL: no token configured, always true. */
bool admin_req_authorized(const struct admin_req *r, const char *token);

/*
 * Route r's path: 0 and r->route/zone/origin/wait_all (the query is
 * exactly "wait=all"; any other query is ignored), or 404 (unknown path,
 * or a segment that is not a canonical uuid: nothing but [0-9a-f-]
 * reaches a lookup) / 405 (known path, other method) in e.
 */
int admin_req_route(struct admin_req *r, struct admin_err *e);

/* ---- origin bodies (POST / PATCH) ----------------------------------------- */

/* The settable fields of an origin, named as the INI keys and the JSON. */
#define ADMIN_ORIGIN_FIELDS(X) \
	X(name,               ADMIN_T_STR) \
	X(url,                ADMIN_T_STR) \
	X(host_header,        ADMIN_T_STR) \
	X(base_path,          ADMIN_T_STR) \
	X(probe_path,         ADMIN_T_STR) \
	X(ca_file,            ADMIN_T_STR) \
	X(connect_timeout_ms, ADMIN_T_INT) \
	X(read_timeout_ms,    ADMIN_T_INT) \
	X(s3_auth_enabled,    ADMIN_T_BOOL) \
	X(s3_access_key,      ADMIN_T_STR) \
	X(s3_secret_key,      ADMIN_T_SECRET) \
	X(s3_region,          ADMIN_T_STR) \
	X(s3_service,         ADMIN_T_STR) \
	X(s3_payload,         ADMIN_T_STR) \
	X(s3_addressing,      ADMIN_T_STR) \
	X(force,              ADMIN_T_BOOL)   /* not a setting: skip the probe */

enum admin_ftype { ADMIN_T_STR, ADMIN_T_INT, ADMIN_T_BOOL, ADMIN_T_SECRET };

enum admin_field {
#define ADMIN_F_ENUM(n, t) ADMIN_F_##n,
	ADMIN_ORIGIN_FIELDS(ADMIN_F_ENUM)
#undef ADMIN_F_ENUM
	ADMIN_F__COUNT
};

extern const char *const admin_field_names[ADMIN_F__COUNT];

struct admin_origin_in {
	json_t *root;
	bool set[ADMIN_F__COUNT];          /* present in the body */
	/* The value as the INI file will hold it: "" = unset (the default);
	 * s3_secret_key "" = keep the current one. Points into root or num. */
	const char *val[ADMIN_F__COUNT];
	char num[ADMIN_F__COUNT][24];
};

/*
 * Decode an origin body: a JSON object (400 if it is not, or not JSON:
 * malformed, truncated, not UTF-8, a duplicate key, a number no int64
 * holds) whose members are all settable fields of the right type (422
 * naming the field otherwise, also for unknown members), strings without
 * control characters, surrounding spaces or " ;" (which an INI file could
 * not hold as written). Ranges and syntax (urls, paths) are the config
 * loader's, checked when the candidate zone file is loaded.
 * 0, or the status with e filled. Free in with admin_origin_in_free.
 */
int admin_origin_decode(const char *body, size_t len, struct admin_origin_in *in,
			struct admin_err *e);
/* A string value an INI line can hold as written (the rules above for
 * strings): 0, or 422 naming `name` in e. The fleet checks the zone
 * values it reads from etcd with it too. */
int admin_ini_string(const json_t *v, const char *name, struct admin_err *e);
void admin_origin_in_free(struct admin_origin_in *in);

/* ---- purge bodies ------------------------------------------------------------ */

struct admin_purge_in {
	json_t *root;
	const char *prefix;      /* NULL: paths */
	const char *paths[LIMIT_ADMIN_PURGE_PATHS];
	size_t n_paths;
};

/* {"paths": ["/a", ...]} or {"prefix": "/dir/"}: exactly one of them;
 * each path starts with '/', has no control character, and fits a cache
 * key; a prefix also ends with '/'. 0, or the status with e filled. */
int admin_purge_decode(const char *body, size_t len, struct admin_purge_in *in,
		       struct admin_err *e);
void admin_purge_in_free(struct admin_purge_in *in);

/* POST .../test: an empty body, or {"path": "/visitor/path"}. 0 and
 * *path (NULL = none given; points into *root, json_decref it), or the
 * status with e filled. */
int admin_test_decode(const char *body, size_t len, json_t **root, const char **path,
		      struct admin_err *e);

/* Fill e (printf-style message); returns status. */
int admin_fail(struct admin_err *e, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* EDGECACHE_CONTROL_ADMIN_REQ_H */
