/* control/admin_req.c — framing, token, routing and body decoding of admin
 * requests (contract in control/admin_req.h). */
#include "control/admin_req.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "control/config_load.h"
#include "core/limits.h"

const char *const admin_field_names[ADMIN_F__COUNT] = {
#define ADMIN_F_NAME(n, t) #n,
	ADMIN_ORIGIN_FIELDS(ADMIN_F_NAME)
#undef ADMIN_F_NAME
};

static const enum admin_ftype field_types[ADMIN_F__COUNT] = {
#define ADMIN_F_TYPE(n, t) t,
	ADMIN_ORIGIN_FIELDS(ADMIN_F_TYPE)
#undef ADMIN_F_TYPE
};

int admin_fail(struct admin_err *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return status;
}

/* ---- framing ---------------------------------------------------------------- */

int admin_req_frame(const char *buf, size_t len, struct admin_req *r, struct admin_err *e)
{
	size_t head = len < LIMIT_ADMIN_HEAD_BYTES ? len : LIMIT_ADMIN_HEAD_BYTES;
	int n = http1_parse_request(buf, head, &r->http);

	if (n == -HTTP1_E_AGAIN && len >= LIMIT_ADMIN_HEAD_BYTES)
		return admin_fail(e, 431, NULL, "request head over %d bytes",
				  LIMIT_ADMIN_HEAD_BYTES);
	if (n == -HTTP1_E_AGAIN)
		return -1;
	if (n < 0) {
		int st = http1_err_status(n);

		return admin_fail(e, st == 431 || st == 414 ? 431 : 400, NULL,
				  "bad request head: %s", http1_err_name(n));
	}
	r->head_len = (size_t)n;
	if (r->http.chunked)
		return admin_fail(e, 411, NULL, "a chunked body is not accepted: "
				  "send Content-Length");
	if (r->http.content_length > LIMIT_ADMIN_BODY_BYTES)
		return admin_fail(e, 413, NULL, "body over %d bytes", LIMIT_ADMIN_BODY_BYTES);
	r->body_len = r->http.content_length > 0 ? (size_t)r->http.content_length : 0;
	if (len - r->head_len < r->body_len)
		return -1;
	r->body = buf + r->head_len;
	return 0;
}

bool admin_req_authorized(const struct admin_req *r, const char *token)
{
	static const char scheme[] = "Bearer ";
	const size_t sl = sizeof(scheme) - 1;
	bool found = false, ok = false;

	if (!token)
		return true;
	for (unsigned i = 0; i < r->http.n_headers; i++) {
		const struct http1_header *h = &r->http.headers[i];

		if (h->name_len != 13 || strncasecmp(h->name, "authorization", 13) != 0)
			continue;
		if (found)
			return false;    /* two Authorization fields: refuse both */
		found = true;
		if (h->value_len < sl || strncasecmp(h->value, scheme, sl) != 0)
			continue;
		size_t tl = strlen(token), vl = h->value_len - sl;
		unsigned char d = vl != tl;

		/* every byte of the token looked at, whatever matches */
		for (size_t k = 0; k < tl; k++)
			d |= (unsigned char)(token[k] ^ (k < vl ? h->value[sl + k] : 0));
		ok = d == 0;
	}
	return ok;
}

/* ---- routing ---------------------------------------------------------------------- */

/* One path segment as a canonical uuid (lower-cased into out), else false. */
static bool seg_uuid(const char *s, size_t len, char out[37])
{
	char tmp[37];

	if (len != 36)
		return false;
	memcpy(tmp, s, 36);
	tmp[36] = '\0';
	if (!cfg_valid_uuid(tmp))
		return false;
	for (int i = 0; i < 36; i++)
		out[i] = (char)(tmp[i] >= 'A' && tmp[i] <= 'F' ? tmp[i] + 32 : tmp[i]);
	out[36] = '\0';
	return true;
}

/* Split p[0..len) at '/' into at most max segments; -1 if more. An empty
 * segment (//, a trailing /) counts: only the exact paths route. */
static int split(const char *p, size_t len, const char **seg, size_t *sl, int max)
{
	int n = 0;

	if (len == 0 || p[0] != '/')
		return -1;
	for (size_t i = 1; i <= len; ) {
		size_t j = i;

		while (j < len && p[j] != '/')
			j++;
		if (n == max)
			return -1;
		seg[n] = p + i;
		sl[n++] = j - i;
		i = j + 1;
	}
	return n;
}

static bool seg_is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

int admin_req_route(struct admin_req *r, struct admin_err *e)
{
	const char *seg[LIMIT_ADMIN_PATH_SEGMENTS];
	size_t sl[LIMIT_ADMIN_PATH_SEGMENTS];
	int n = split(r->http.path, r->http.path_len, seg, sl, LIMIT_ADMIN_PATH_SEGMENTS);
	enum http1_method m = r->http.method;
	const char *allow;

	r->route = ADMIN_R_NONE;
	r->zone[0] = r->origin[0] = '\0';
	/* the one query that means something: ?wait=all (fleet mode: answer
	 * once every node applied the change); others are ignored, as before */
	r->wait_all = r->http.query && r->http.query_len == 8 &&
		      memcmp(r->http.query, "wait=all", 8) == 0;
	if (n == 1 && seg_is(seg[0], sl[0], "metrics")) {
		r->route = ADMIN_R_METRICS;
	} else if (n == 2 && seg_is(seg[0], sl[0], "cdn") && seg_is(seg[1], sl[1], "fleet")) {
		r->route = ADMIN_R_FLEET;
	} else if (n >= 2 && seg_is(seg[0], sl[0], "cdn") && seg_is(seg[1], sl[1], "zones")) {
		if (n == 2)
			r->route = ADMIN_R_ZONES;
		else if (!seg_uuid(seg[2], sl[2], r->zone))
			return admin_fail(e, 404, "uuid", "no such zone");
		else if (n == 3)
			r->route = ADMIN_R_ZONE;
		else if (n == 4 && seg_is(seg[3], sl[3], "origins"))
			r->route = ADMIN_R_ORIGINS;
		else if (n == 4 && seg_is(seg[3], sl[3], "purge"))
			r->route = ADMIN_R_PURGE;
		else if ((n == 5 || n == 6) && seg_is(seg[3], sl[3], "origins") &&
			 !seg_uuid(seg[4], sl[4], r->origin))
			return admin_fail(e, 404, "origin_uuid", "no such origin");
		else if (n == 5 && seg_is(seg[3], sl[3], "origins"))
			r->route = ADMIN_R_ORIGIN;
		else if (n == 6 && seg_is(seg[3], sl[3], "origins") &&
			 seg_is(seg[5], sl[5], "test"))
			r->route = ADMIN_R_TEST;
	}
	switch (r->route) {
	case ADMIN_R_NONE:
		return admin_fail(e, 404, NULL, "no such path");
	case ADMIN_R_ORIGINS:
		allow = "GET, POST";
		if (m == HTTP1_GET || m == HTTP1_POST)
			return 0;
		break;
	case ADMIN_R_ORIGIN:
		allow = "GET, PATCH, DELETE";
		if (m == HTTP1_GET || m == HTTP1_PATCH || m == HTTP1_DELETE)
			return 0;
		break;
	case ADMIN_R_PURGE:
	case ADMIN_R_TEST:
		allow = "POST";
		if (m == HTTP1_POST)
			return 0;
		break;
	default:
		allow = "GET";
		if (m == HTTP1_GET)
			return 0;
		break;
	}
	return admin_fail(e, 405, NULL, "method not allowed here (allowed: %s)", allow);
}

/* ---- bodies ------------------------------------------------------------------------- */

/* Parse a body that must be one JSON object. */
static json_t *load_object(const char *body, size_t len, struct admin_err *e)
{
	json_error_t je;
	json_t *root;

	if (len == 0) {
		admin_fail(e, 400, NULL, "a JSON object body is required");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson's text names a position and a reason, never the input */
		admin_fail(e, 400, NULL, "malformed JSON at byte %d: %s", je.position, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		admin_fail(e, 400, NULL, "the body must be a JSON object");
		return NULL;
	}
	return root;
}

/* A string member's bytes: no NUL (json_string_length tells), no control
 * character. */
static bool clean_string(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int find_field(const char *key)
{
	for (int i = 0; i < ADMIN_F__COUNT; i++)
		if (strcmp(admin_field_names[i], key) == 0)
			return i;
	return -1;
}

static int decode_member(struct admin_origin_in *in, const char *key, json_t *v,
			 struct admin_err *e)
{
	int f = find_field(key);

	if (f < 0) {
		char k[LIMIT_ADMIN_FIELD_ECHO_BYTES];

		/* named back only when it is a plain identifier */
		snprintf(k, sizeof(k), "%s", strspn(key, "abcdefghijklmnopqrstuvwxyz"
						    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
			 strlen(key) && strlen(key) < sizeof(k) ? key : "");
		return admin_fail(e, 422, k, "unknown field");
	}
	const char *name = admin_field_names[f];
	in->set[f] = true;
	switch (field_types[f]) {
	case ADMIN_T_BOOL:
		if (!json_is_boolean(v))
			return admin_fail(e, 422, name, "must be true or false");
		in->val[f] = json_is_true(v) ? "true" : "false";
		return 0;
	case ADMIN_T_INT:
		if (!json_is_integer(v))
			return admin_fail(e, 422, name, "must be an integer");
		snprintf(in->num[f], sizeof(in->num[f]), "%lld", (long long)json_integer_value(v));
		in->val[f] = in->num[f];
		return 0;
	case ADMIN_T_SECRET:
		if (json_is_null(v)) {
			in->val[f] = "";
			return 0;
		}
		if (!json_is_string(v))
			return admin_fail(e, 422, name, "must be a string");
		if (!clean_string(v))
			return admin_fail(e, 422, name, "contains a control character");
		if (json_string_length(v) > LIMIT_SECRET_BYTES)
			return admin_fail(e, 422, name, "is longer than %d bytes",
					  LIMIT_SECRET_BYTES);
		in->val[f] = json_string_value(v);
		return 0;
	case ADMIN_T_STR:
		break;
	}
	if (admin_ini_string(v, name, e))
		return e->status;
	in->val[f] = json_string_value(v);
	return 0;
}

int admin_ini_string(const json_t *v, const char *name, struct admin_err *e)
{
	if (!json_is_string(v))
		return admin_fail(e, 422, name, "must be a string");
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (!clean_string(v))
		return admin_fail(e, 422, name, "contains a control character");
	if (len && (s[0] == ' ' || s[len - 1] == ' '))
		return admin_fail(e, 422, name, "starts or ends with a space");
	if (strstr(s, " ;"))
		return admin_fail(e, 422, name, "contains \" ;\" (an INI comment)");
	if (len > LIMIT_CONFIG_LINE_BYTES)
		return admin_fail(e, 422, name, "is longer than %d bytes",
				  LIMIT_CONFIG_LINE_BYTES);
	return 0;
}

int admin_origin_decode(const char *body, size_t len, struct admin_origin_in *in,
			struct admin_err *e)
{
	const char *key;
	json_t *v;

	memset(in, 0, sizeof(*in));
	in->root = load_object(body, len, e);
	if (!in->root)
		return e->status;
	json_object_foreach(in->root, key, v)
		if (decode_member(in, key, v, e))
			return e->status;
	return 0;
}

void admin_origin_in_free(struct admin_origin_in *in)
{
	if (in->root) {
		/* the secret's bytes live in the json_t: wipe before the free */
		json_t *s = json_object_get(in->root, "s3_secret_key");

		if (json_is_string(s))
			explicit_bzero((char *)json_string_value(s), json_string_length(s));
		json_decref(in->root);
	}
	memset(in, 0, sizeof(*in));
}

/* A purge path or prefix: '/' first, no control character or space, short
 * enough that zone + path fits a cache key. */
static int purge_path(const json_t *v, const char *field, struct admin_err *e)
{
	if (!json_is_string(v))
		return admin_fail(e, 422, field, "must be a string");
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (!clean_string(v) || memchr(s, ' ', len))
		return admin_fail(e, 422, field, "contains a space or a control character");
	if (len == 0 || s[0] != '/')
		return admin_fail(e, 422, field, "must start with \"/\"");
	if (len > LIMIT_REQUEST_LINE_BYTES)
		return admin_fail(e, 422, field, "is longer than %d bytes",
				  LIMIT_REQUEST_LINE_BYTES);
	return 0;
}

int admin_purge_decode(const char *body, size_t len, struct admin_purge_in *in,
		       struct admin_err *e)
{
	const char *key;
	json_t *v, *paths = NULL, *prefix = NULL;

	memset(in, 0, sizeof(*in));
	in->root = load_object(body, len, e);
	if (!in->root)
		return e->status;
	json_object_foreach(in->root, key, v) {
		if (strcmp(key, "paths") == 0)
			paths = v;
		else if (strcmp(key, "prefix") == 0)
			prefix = v;
		else
			return admin_fail(e, 422, "", "unknown field (paths or prefix)");
	}
	if (!paths == !prefix)
		return admin_fail(e, 422, paths ? "prefix" : "paths",
				  "give either paths or prefix");
	if (prefix) {
		if (purge_path(prefix, "prefix", e))
			return e->status;
		in->prefix = json_string_value(prefix);
		if (in->prefix[json_string_length(prefix) - 1] != '/')
			return admin_fail(e, 422, "prefix", "must end with \"/\"");
		return 0;
	}
	if (!json_is_array(paths))
		return admin_fail(e, 422, "paths", "must be an array of strings");
	if (json_array_size(paths) == 0 || json_array_size(paths) > LIMIT_ADMIN_PURGE_PATHS)
		return admin_fail(e, 422, "paths", "must hold 1..%d paths",
				  LIMIT_ADMIN_PURGE_PATHS);
	for (size_t i = 0; i < json_array_size(paths); i++) {
		if (purge_path(json_array_get(paths, i), "paths", e))
			return e->status;
		in->paths[in->n_paths++] = json_string_value(json_array_get(paths, i));
	}
	return 0;
}

int admin_test_decode(const char *body, size_t len, json_t **root, const char **path,
		      struct admin_err *e)
{
	const char *key;
	json_t *v;

	*root = NULL;
	*path = NULL;
	if (len == 0)
		return 0;
	if (!(*root = load_object(body, len, e)))
		return e->status;
	json_object_foreach(*root, key, v) {
		if (strcmp(key, "path") != 0)
			return admin_fail(e, 422, "", "unknown field (path)");
		if (purge_path(v, "path", e))
			return e->status;
		*path = json_string_value(v);
	}
	return 0;
}

void admin_purge_in_free(struct admin_purge_in *in)
{
	json_decref(in->root);
	memset(in, 0, sizeof(*in));
}
