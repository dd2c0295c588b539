/*
 * control/config_read.c — reading the INI files: the main file and each zone
 * file (the zones glob is expanded here), the key table and the value
 * parsers, and the "file:line: key: what" errors (contract in
 * core/config.h, every key in docs/CONFIG.md, shared internals in
 * control/config_int.h). Keys that name hosts are parsed in config_hosts.c,
 * secrets stored in config_keys.c; what needs more than one key is
 * checked in config_check.c once a file is read.
 *
 * How a file is read: inih's ini_parse_stream with our own reader. The
 * reader is called once per line, so it counts lines (Debian's inih has
 * no INI_HANDLER_LINENO), refuses a line longer than inih's buffer (inih
 * would cut it and read the rest as a new line), refuses indented lines
 * that inih would glue to the key above unless that key is a list, and
 * parses section headers itself (inih cuts section names at 49 bytes).
 * inih still splits "key = value", trims both, and drops an inline comment
 * (";" after whitespace). The first error stops the load.
 */
#include <assert.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "cache/http_cache.h"
#include "control/config_int.h"
#include "net/req_hygiene.h"

_Static_assert(LIMIT_CONFIG_LINE_BYTES < INI_MAX_LINE, "inih line buffer");

/* ---- errors ------------------------------------------------------------- */

__attribute__((format(printf, 5, 0)))
static void msg_v(struct cfg_error *err, const char *file, int line,
		  const char *key, const char *fmt, va_list ap)
{
	size_t cap = sizeof(err->msg), n;
	int w;

	if (line > 0)
		w = snprintf(err->msg, cap, "%s:%d: ", file, line);
	else
		w = snprintf(err->msg, cap, "%s: ", file);
	n = w < 0 ? 0 : ((size_t)w < cap ? (size_t)w : cap - 1);
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	if (key) {
		w = snprintf(err->msg + n, cap - n, "%s: ", key);
		n += w < 0 ? 0 : ((size_t)w < cap - n ? (size_t)w : cap - n - 1);
	}
	err->detail = n;
	err->s3_conflict = false;
	vsnprintf(err->msg + n, cap - n, fmt, ap);
	/* A quoted section name or value may hold a CR or other control
	 * byte (inih splits lines at LF only): the message is one log line. */
	for (char *c = err->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	for (char *c = err->key; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* Record the first error of a load; returns ld->rc (the first one's). */
__attribute__((format(printf, 6, 7)))
int cfg_load_fail(struct load *ld, int rc, const char *file, int line,
		  const char *key, const char *fmt, ...)
{
	va_list ap;

	if (ld->rc)
		return ld->rc;
	va_start(ap, fmt);
	msg_v(ld->err, file, line, key, fmt, ap);
	va_end(ap);
	ld->rc = rc;
	return rc;
}

/* ---- small pure helpers ------------------------------------------------- */

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

bool cfg_valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > LIMIT_NAME_BYTES)
		return false;
	return strspn(s, NAME_CHARS) == len;
}

static const struct { const char *chars; int64_t mult[4]; const char *hint; } units[] = {
	[UNIT_NONE] = { "", { 0 }, "" },
	[UNIT_SIZE] = { "kmgt", { 1LL << 10, 1LL << 20, 1LL << 30, 1LL << 40 },
			" (a k, m, g or t suffix is allowed)" },
	[UNIT_SECONDS] = { "smhd", { 1, 60, 3600, 86400 },
			   " (seconds; an s, m, h or d suffix is allowed)" },
};

/*
 * The one number parser of every numeric key: an optional '-', decimal
 * digits, and one suffix of `unit` (k/m/g ×1024, ×1024², ×1024³; s/m/h/d
 * ×1, ×60, ×3600, ×86400). Returns 0 and *out in min..max, or -EINVAL
 * with `why` saying what is wrong (the value as written, the bound it
 * passes).
 */
int cfg_parse_int(const char *s, int64_t min, int64_t max, enum unit unit,
		  int64_t *out, char *why, size_t why_cap)
{
	const char *d = s + (*s == '-'), *suf, *k = NULL;
	size_t nd = strspn(d, "0123456789");
	int64_t v = 0, mult = 1;
	bool over = false, neg = *s == '-';

	suf = d + nd;
	if (unit != UNIT_NONE && *suf && !suf[1])
		k = strchr(units[unit].chars, lower(*suf));
	if (nd == 0 || (*suf && !k)) {
		snprintf(why, why_cap, "\"%.*s\" is not a number%s", LIMIT_CFG_ECHO_BYTES, s,
			 units[unit].hint);
		return -EINVAL;
	}
	for (size_t i = 0; i < nd; i++) {
		if (v > (INT64_MAX - (d[i] - '0')) / 10)
			over = true;
		else
			v = v * 10 + (d[i] - '0');
	}
	if (k)
		mult = units[unit].mult[k - units[unit].chars];
	if (!over) {
		over = v > INT64_MAX / mult;
		v = over ? v : v * mult;
	}
	v = neg ? -v : v;
	if ((over && neg) || (!over && v < min)) {
		snprintf(why, why_cap, "%.*s is below the minimum %lld", LIMIT_CFG_ECHO_BYTES, s,
			 (long long)min);
		return -EINVAL;
	}
	if (over || v > max) {
		snprintf(why, why_cap, "%.*s is above the maximum %lld", LIMIT_CFG_ECHO_BYTES, s,
			 (long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/*
 * `rel` against `dir` ("" = as is). With `glob_escape` the directory's
 * glob characters are escaped so only the user's pattern is a pattern.
 * Returns a malloc'd string or NULL.
 */
char *cfg_resolve_path(const char *dir, const char *rel, bool glob_escape)
{
	size_t dl = strlen(dir), rl = strlen(rel), n = 0;
	char *out;

	if (rel[0] == '/' || dl == 0)
		return strdup(rel);
	out = malloc(2 * dl + rl + 2);
	if (!out)
		return NULL;
	for (size_t i = 0; i < dl; i++) {
		if (glob_escape && strchr("*?[]\\", dir[i]))
			out[n++] = '\\';
		out[n++] = dir[i];
	}
	if (out[n - 1] != '/')
		out[n++] = '/';
	memcpy(out + n, rel, rl + 1);
	return out;
}

/* The directory part of `path` ("" when it has none), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup("");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/* The next item of a comma-separated list, trimmed; NULL at the end. */
static char *list_next(char **cur)
{
	char *s = *cur, *comma;

	if (!s)
		return NULL;
	comma = strchr(s, ',');
	if (comma) {
		*comma = '\0';
		*cur = comma + 1;
	} else {
		*cur = NULL;
	}
	return trim(s);
}

/* ---- the key table ------------------------------------------------------ */

static int set_workers(struct parse *p, const char *val);
static int set_zones(struct parse *p, const char *val);
static int set_zone_name(struct parse *p, const char *val);
static int set_uuid(struct parse *p, const char *val);
static int set_origin_uuid(struct parse *p, const char *val);
static int set_base_path(struct parse *p, const char *val);
static int set_probe_path(struct parse *p, const char *val);
static int set_cache_path(struct parse *p, const char *val);
static int set_cache_size(struct parse *p, const char *val);
static int set_chunk_size(struct parse *p, const char *val);
static int set_tls_cert(struct parse *p, const char *val);
static int set_tls_key(struct parse *p, const char *val);
static int set_pass_headers(struct parse *p, const char *val);
static int set_tls_ciphers(struct parse *p, const char *val);
static int set_tls_min_version(struct parse *p, const char *val);
static int set_targeted_field(struct parse *p, const char *val);
static int set_fleet_etcd(struct parse *p, const char *val);
static int set_fleet_name(struct parse *p, const char *val);

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
const char *const cfg_payload_names[] = { "empty-hash", "unsigned", NULL };
const char *const cfg_addressing_names[] = { "path", "virtual", NULL };
const char *const cfg_query_string_names[] = { "ignore", "include", "sorted", NULL };
const char *const cfg_set_cookie_names[] = { "pass", "strip", NULL };
static const char *const unknown_snis[] = { "default", "reject", NULL };
const char *const cfg_tls_min_names[] = { "1.2", "1.3", NULL };

#define SRV(f) .sect = SECT_SERVER, .off = offsetof(struct cfg_server, f)
#define ORG(f) .sect = SECT_ORIGIN, .off = offsetof(struct cfg_origin, f)
#define ZON(f) .sect = SECT_ZONE, .off = offsetof(struct cfg_zone, f)
#define TTL    .type = KT_SECONDS, .min = LIMIT_TTL_S_MIN, .max = LIMIT_TTL_S_MAX
#define CCH(f) .sect = SECT_CACHE, .off = offsetof(struct cfg_cache, f)
#define OPATH(f) .path_off = offsetof(struct cfg_origin, f)
#define MS     .type = KT_U32, .min = LIMIT_TIMEOUT_MS_MIN, .max = LIMIT_TIMEOUT_MS_MAX
#define FLT(f) .sect = SECT_FLEET, .off = offsetof(struct cfg_fleet, f)

static const struct key_def keys[] = {
	{ "listen", .sect = SECT_SERVER, .type = KT_FN, .flags = F_LIST, .fn = cfg_set_listen },
	{ "workers", .sect = SECT_SERVER, .type = KT_FN, .fn = set_workers },
	{ "zones", .sect = SECT_SERVER, .type = KT_FN, .fn = set_zones },
	{ "header_timeout_ms", SRV(header_timeout_ms), MS },
	{ "idle_timeout_ms", SRV(idle_timeout_ms), MS },
	{ "send_timeout_ms", SRV(send_timeout_ms), MS },
	{ "drain_timeout_ms", SRV(drain_timeout_ms), MS },
	{ "origin_backoff_ms", SRV(origin_backoff_ms), MS },
	{ "dns_refresh_ms", SRV(dns_refresh_ms), MS },
	{ "credential_overlap_ms", SRV(credential_overlap_ms), .type = KT_U32,
	  .min = 0, .max = LIMIT_CREDENTIAL_OVERLAP_MS_MAX },
	{ "max_conns", SRV(max_conns), .type = KT_U32,
	  .min = LIMIT_MAX_CONNS_MIN, .max = LIMIT_MAX_CONNS_MAX },
	{ "max_body_bytes", SRV(max_body_bytes), .type = KT_SIZE,
	  .min = LIMIT_MAX_BODY_BYTES_MIN, .max = LIMIT_MAX_BODY_BYTES_MAX },
	{ "send_zerocopy_bytes", SRV(send_zerocopy_bytes), .type = KT_SIZE,
	  .min = 0, .max = LIMIT_SEND_ZEROCOPY_BYTES_MAX },
	{ "origin_pool", SRV(origin_pool), .type = KT_U32,
	  .min = LIMIT_ORIGIN_POOL_MIN, .max = LIMIT_ORIGIN_POOL_MAX },
	{ "access_log", SRV(access_log), .type = KT_PATH, .flags = F_OFF },
	{ "error_log", SRV(error_log), .type = KT_PATH },
	{ "counters_file", SRV(counters_file), .type = KT_PATH },
	{ "upgrade_socket", SRV(upgrade_socket), .type = KT_PATH },
	{ "log_level", SRV(log_level), .type = KT_ENUM, .names = log_levels },
	{ "user", SRV(user), .type = KT_STR, .flags = F_NOSPACE, .max = LIMIT_USER_NAME_BYTES },
	{ "group", SRV(group), .type = KT_STR, .flags = F_NOSPACE, .max = LIMIT_USER_NAME_BYTES },
	{ "listen_tls", .sect = SECT_SERVER, .type = KT_FN, .flags = F_LIST, .fn = cfg_set_listen_tls },
	{ "tls_unknown_sni", SRV(tls_unknown_sni), .type = KT_ENUM, .names = unknown_snis },
	{ "tls_handshake_timeout_ms", SRV(tls_handshake_timeout_ms), MS },
	{ "tls_ticket_rotate", SRV(tls_ticket_rotate_s), .type = KT_SECONDS,
	  .min = LIMIT_TLS_TICKET_ROTATE_S_MIN, .max = LIMIT_TLS_TICKET_ROTATE_S_MAX },

	{ "name", .sect = SECT_ZONE, .type = KT_FN, .fn = set_zone_name },
	{ "uuid", .sect = SECT_ZONE, .type = KT_FN, .fn = set_uuid },
	{ "hosts", .sect = SECT_ZONE, .type = KT_FN, .flags = F_LIST, .fn = cfg_set_hosts },
	{ "default_ttl", ZON(default_ttl_s), TTL },
	{ "negative_ttl", ZON(negative_ttl_s), TTL },
	{ "stale_while_revalidate", ZON(stale_while_revalidate_s), TTL },
	{ "stale_if_error", ZON(stale_if_error_s), TTL },
	{ "query_string", ZON(query_string), .type = KT_ENUM, .names = cfg_query_string_names },
	{ "heuristic_freshness", ZON(heuristic_freshness), .type = KT_BOOL },
	{ "targeted_field", .sect = SECT_ZONE, .type = KT_FN, .fn = set_targeted_field },
	{ "store_server_errors", ZON(store_server_errors), .type = KT_BOOL },
	{ "pass_request_headers", .sect = SECT_ZONE, .type = KT_FN, .flags = F_LIST,
	  .fn = set_pass_headers },
	{ "set_cookie", ZON(set_cookie), .type = KT_ENUM, .names = cfg_set_cookie_names },
	{ "tls_cert", .sect = SECT_ZONE, .type = KT_FN, .fn = set_tls_cert },
	{ "tls_key", .sect = SECT_ZONE, .type = KT_FN, .fn = set_tls_key },
	{ "tls_ciphers", .sect = SECT_ZONE, .type = KT_FN, .flags = F_LIST,
	  .fn = set_tls_ciphers },
	{ "tls_min_version", .sect = SECT_ZONE, .type = KT_FN, .fn = set_tls_min_version,
	  .names = cfg_tls_min_names },

	{ "url", .sect = SECT_ORIGIN, .type = KT_FN, .fn = cfg_set_url },
	{ "uuid", .sect = SECT_ORIGIN, .type = KT_FN, .fn = set_origin_uuid },
	{ "probe_path", .sect = SECT_ORIGIN, .type = KT_FN, .fn = set_probe_path },
	{ "ca_file", ORG(ca_file), .type = KT_PATH },
	{ "host_header", ORG(host_header), .type = KT_STR, .flags = F_BLANK | F_NOSPACE,
	  .max = LIMIT_HOST_HEADER_BYTES },
	{ "base_path", .sect = SECT_ORIGIN, .type = KT_FN, .fn = set_base_path },
	{ "connect_timeout_ms", ORG(connect_timeout_ms), MS },
	{ "read_timeout_ms", ORG(read_timeout_ms), MS },
	{ "s3_auth_enabled", ORG(s3_auth_enabled), .type = KT_BOOL },
	{ "s3_access_key", ORG(s3_access_key), .type = KT_STR, .flags = F_NOSPACE,
	  .max = LIMIT_ACCESS_KEY_BYTES },
	{ "s3_secret_key", ORG(s3_secret_key), .type = KT_STR, .flags = F_SECRET,
	  .max = LIMIT_SECRET_BYTES, .excl = "s3_secret_key_file" },
	{ "s3_secret_key_file", ORG(s3_secret_key), .type = KT_FILE, .flags = F_SECRET,
	  .max = LIMIT_SECRET_BYTES, .excl = "s3_secret_key", OPATH(s3_secret_key_file) },
	{ "s3_region", ORG(s3_region), .type = KT_STR, .flags = F_BLANK | F_NOSPACE,
	  .max = LIMIT_REGION_BYTES },
	{ "s3_service", ORG(s3_service), .type = KT_STR, .flags = F_BLANK | F_NOSPACE,
	  .max = LIMIT_SERVICE_BYTES },
	{ "s3_session_token", ORG(s3_session_token), .type = KT_STR,
	  .flags = F_BLANK | F_SECRET, .max = LIMIT_SESSION_TOKEN_BYTES,
	  .excl = "s3_session_token_file" },
	{ "s3_session_token_file", ORG(s3_session_token), .type = KT_FILE, .flags = F_SECRET,
	  .max = LIMIT_SESSION_TOKEN_BYTES, .excl = "s3_session_token",
	  OPATH(s3_session_token_file) },
	{ "s3_payload", ORG(s3_payload), .type = KT_ENUM, .names = cfg_payload_names },
	{ "s3_addressing", ORG(s3_addressing), .type = KT_ENUM, .names = cfg_addressing_names },

	{ "path", .sect = SECT_CACHE, .type = KT_FN, .flags = F_LIST, .fn = set_cache_path },
	{ "size", .sect = SECT_CACHE, .type = KT_FN, .fn = set_cache_size },
	{ "chunk_size", .sect = SECT_CACHE, .type = KT_FN, .fn = set_chunk_size },
	{ "memory", CCH(memory_bytes), .type = KT_SIZE,
	  .min = LIMIT_CACHE_MEMORY_MIN, .max = LIMIT_CACHE_MEMORY_MAX },
	{ "checkpoint_interval", CCH(checkpoint_interval_s), .type = KT_U32,
	  .min = LIMIT_CACHE_CHECKPOINT_S_MIN, .max = LIMIT_CACHE_CHECKPOINT_S_MAX },
	{ "average_object_size", CCH(avg_object_bytes), .type = KT_SIZE,
	  .min = LIMIT_CACHE_AVG_OBJECT_MIN, .max = LIMIT_CACHE_AVG_OBJECT_MAX },

	{ "listen", .sect = SECT_ADMIN, .type = KT_FN, .fn = cfg_set_admin_listen },
	{ "token_file", .sect = SECT_ADMIN, .off = offsetof(struct cfg_admin, token),
	  .type = KT_FILE, .flags = F_NOSPACE | F_SECRET, .max = LIMIT_ADMIN_TOKEN_MAX_BYTES,
	  .path_off = offsetof(struct cfg_admin, token_file) },

	{ "etcd", .sect = SECT_FLEET, .type = KT_FN, .fn = set_fleet_etcd },
	{ "ca_file", FLT(ca_file), .type = KT_PATH },
	{ "cert_file", FLT(cert_file), .type = KT_PATH },
	{ "key_file", FLT(key_file), .type = KT_PATH },
	{ "user", FLT(user), .type = KT_STR, .flags = F_NOSPACE, .max = LIMIT_FLEET_NAME_BYTES },
	{ "password_file", FLT(password), .type = KT_FILE, .flags = F_SECRET,
	  .max = LIMIT_FLEET_PASSWORD_BYTES, .path_off = offsetof(struct cfg_fleet, password_file) },
	{ "prefix", .sect = SECT_FLEET, .type = KT_FN, .fn = set_fleet_name },
	{ "pop", .sect = SECT_FLEET, .type = KT_FN, .fn = set_fleet_name },
	{ "node", .sect = SECT_FLEET, .type = KT_FN, .fn = set_fleet_name },
	{ "secrets_key_file", .sect = SECT_FLEET, .type = KT_FN, .fn = cfg_set_fleet_key },
	{ "secrets_previous_key_file", .sect = SECT_FLEET, .type = KT_FN,
	  .fn = cfg_set_fleet_previous_key },
	{ "state_dir", FLT(state_dir), .type = KT_PATH },
};

_Static_assert(ARRAY_LEN(keys) <= ARRAY_LEN(((struct parse *)0)->seen), "seen[]");

static int find_key(enum sect sect, const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (keys[i].sect == sect && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

void *cfg_sect_obj(struct parse *p)
{
	switch (p->sect) {
	case SECT_SERVER: return &p->ld->cfg->server;
	case SECT_ZONE:   return p->zone;
	case SECT_ORIGIN: return p->origin;
	case SECT_CACHE:  return &p->ld->cfg->cache;
	case SECT_ADMIN:  return &p->ld->cfg->admin;
	case SECT_FLEET:  return &p->ld->cfg->fleet;
	default:          return NULL;
	}
}

/* ---- setters by type ---------------------------------------------------- */

/* Length, control characters and spaces of a string value (never echoed:
 * it may be a secret). */
int cfg_check_str(struct parse *p, const struct key_def *k, const char *s,
		  size_t len)
{
	if (len == 0)
		return pfail(p, k->name, "is empty");
	if (len > (size_t)k->max)
		return pfail(p, k->name, "is longer than %lld bytes", (long long)k->max);
	if (has_ctl(s, len))
		return pfail(p, k->name, "contains a control character");
	if ((k->flags & F_NOSPACE) && memchr(s, ' ', len))
		return pfail(p, k->name, "contains a space");
	return 0;
}

/* Put a malloc'd v (NULL = out of memory) in *field. */
static int store(struct parse *p, char **field, char *v)
{
	if (!v)
		return pfail_oom(p);
	cfg_free_wiped(*field);
	*field = v;
	return 0;
}

int cfg_store_str(struct parse *p, char **field, const char *s, size_t len)
{
	return store(p, field, strndup(s, len));
}

static int set_num(struct parse *p, const struct key_def *k, void *field,
		   const char *val)
{
	char why[160];
	int64_t v;

	enum unit unit = k->type == KT_SIZE ? UNIT_SIZE :
			 k->type == KT_SECONDS ? UNIT_SECONDS : UNIT_NONE;

	if (cfg_parse_int(val, k->min, k->max, unit, &v, why, sizeof why))
		return pfail(p, k->name, "%s", why);
	if (k->type == KT_SIZE)
		*(int64_t *)field = v;
	else
		*(uint32_t *)field = (uint32_t)v;
	return 0;
}

static int set_path(struct parse *p, const struct key_def *k, char **field,
		    const char *val)
{
	if (!*val)
		return pfail(p, k->name, "is empty");
	if (has_ctl(val, strlen(val)))
		return pfail(p, k->name, "contains a control character");
	if ((k->flags & F_OFF) && strcmp(val, "off") == 0)
		return store(p, field, strdup(val));
	return store(p, field, cfg_resolve_path(p->dir, val, false));
}

static int set_bool(struct parse *p, const struct key_def *k, bool *field,
		    const char *val)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(val, yes[i]) == 0 || strcasecmp(val, no[i]) == 0) {
			*field = strcasecmp(val, yes[i]) == 0;
			return 0;
		}
	}
	return pfail(p, k->name, "\"%.*s\" is not true or false (or yes/no, on/off, 1/0)",
		     LIMIT_CFG_ECHO_BYTES, val);
}

static int set_enum(struct parse *p, const struct key_def *k, int *field,
		    const char *val)
{
	char list[128];
	size_t n = 0, len = sizeof(list);

	for (int i = 0; k->names[i]; i++) {
		if (strcmp(val, k->names[i]) == 0) {
			*field = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (int i = 0; k->names[i] && n < len; i++) {
		const char *sep = i == 0 ? "" : k->names[i + 1] ? ", " : " or ";
		int w = snprintf(list + n, len - n, "%s%s", sep, k->names[i]);

		n += w > 0 ? (size_t)w : 0;
	}
	return pfail(p, k->name, "\"%.*s\" is not %s", LIMIT_CFG_ECHO_BYTES, val, list);
}

static int set_key(struct parse *p, const struct key_def *k, const char *val)
{
	void *field = (char *)cfg_sect_obj(p) + k->off;
	size_t len = strlen(val);

	switch (k->type) {
	case KT_U32:
	case KT_SIZE:
	case KT_SECONDS:
		return set_num(p, k, field, val);
	case KT_STR:
		if (len == 0 && (k->flags & F_BLANK))
			return 0;
		return cfg_check_str(p, k, val, len) ?: cfg_store_key_str(p, k, field, val, len);
	case KT_PATH:
		return set_path(p, k, field, val);
	case KT_BOOL:
		return set_bool(p, k, field, val);
	case KT_ENUM:
		return set_enum(p, k, field, val);
	case KT_FILE:
		return cfg_set_file(p, k, field, val);
	case KT_FN:
		return k->fn(p, val);
	}
	return pfail(p, k->name, "internal: no setter");
}

/* ---- keys with their own syntax ----------------------------------------- */

/* Call add() for every non-empty item of a comma-separated value. */
static int for_each_item(struct parse *p, const char *val,
			 int (*add)(struct parse *p, char *item))
{
	char *copy = strdup(val), *cur = copy, *item;
	int rc = 0;

	if (!copy)
		return pfail_oom(p);
	while (!rc && (item = list_next(&cur)))
		if (*item)
			rc = add(p, item);
	free(copy);
	return rc;
}

/*
 * A list key's line (or continuation line): the array gets its LIMIT
 * slots on first use; *line remembers the key line for later errors.
 */
int cfg_set_list(struct parse *p, const char *val, void **arr, size_t n,
		 size_t size, int *line, int (*add)(struct parse *p, char *item))
{
	if (!*arr && !(*arr = calloc(n, size)))
		return pfail_oom(p);
	if (!p->indented)
		*line = p->line;
	return for_each_item(p, val, add);
}

/* tls_cert / tls_key: paths; checked with the zone (tls_check_zone). */
static int set_tls_cert(struct parse *p, const char *val)
{
	p->zl->tls_cert = p->line;
	return set_path(p, &keys[find_key(SECT_ZONE, "tls_cert")], &p->zone->tls_cert, val);
}

static int set_tls_key(struct parse *p, const char *val)
{
	p->zl->tls_key = p->line;
	return set_path(p, &keys[find_key(SECT_ZONE, "tls_key")], &p->zone->tls_key, val);
}

/*
 * tls_ciphers: suite names separated by ':' (or ','), continued on
 * indented lines; kept as one ':'-separated string. Checked with the
 * zone's certificate and tls_min_version (tls_check_zone), which may
 * come after it.
 */
static int set_tls_ciphers(struct parse *p, const char *val)
{
	char *old = p->zone->tls_ciphers, *v;
	size_t n = strlen(val), have = old && p->indented ? strlen(old) : 0;

	if (!p->indented)
		p->zl->tls_ciphers = p->line;
	if (n == 0)
		return pfail(p, "tls_ciphers", "is empty");
	if (has_ctl(val, n))
		return pfail(p, "tls_ciphers", "contains a control character");
	if (strpbrk(val, " \t"))
		return pfail(p, "tls_ciphers", "contains a space: separate suites with ':'");
	if (have + !!have + n > LIMIT_TLS_CIPHERS_BYTES)
		return pfail(p, "tls_ciphers", "is longer than %d bytes", LIMIT_TLS_CIPHERS_BYTES);
	v = malloc(have + 1 + n + 1);
	if (!v)
		return pfail_oom(p);
	snprintf(v, have + 1 + n + 1, "%s%s%s", have ? old : "", have ? ":" : "", val);
	for (char *c = v; (c = strchr(c, ',')); )
		*c = ':';
	return store(p, &p->zone->tls_ciphers, v);
}

static int set_tls_min_version(struct parse *p, const char *val)
{
	const struct key_def *k = &keys[find_key(SECT_ZONE, "tls_min_version")];

	p->zl->tls_min_version = p->line;
	return set_enum(p, k, (int *)&p->zone->tls_min_version, val);
}

static int set_workers(struct parse *p, const char *val)
{
	char why[160];
	int64_t v;

	if (strcmp(val, "auto") == 0) {
		p->ld->cfg->server.workers = 0;
		return 0;
	}
	if (cfg_parse_int(val, 1, LIMIT_WORKERS, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, "workers", "\"%.*s\" is not \"auto\" or a number 1..%d",
			     LIMIT_CFG_ECHO_BYTES, val, LIMIT_WORKERS);
	p->ld->cfg->server.workers = (unsigned)v;
	return 0;
}

static int set_zones(struct parse *p, const char *val)
{
	struct load *ld = p->ld;
	char *pat;
	int g;

	if (!*val)
		return pfail(p, "zones", "is empty");
	pat = cfg_resolve_path(p->dir, val, true);
	if (!pat)
		return pfail_oom(p);
	ld->cfg->server.zones_glob = pat;
	ld->zones_line = p->line;
	if (ld->texts)
		return 0;        /* fleet mode: the zones come from etcd */
	g = glob(pat, 0, NULL, &ld->zones);    /* a missing directory: no match */
	ld->globbed = true;
	if (g == GLOB_NOMATCH)
		return cfg_load_fail(ld, -ENOENT, p->file, p->line, "zones",
				     "\"%.*s\" matches no file", LIMIT_CFG_ECHO_BYTES, val);
	if (g == GLOB_NOSPACE)
		return pfail_oom(p);
	if (g)
		return cfg_load_fail(ld, -EIO, p->file, p->line, "zones",
				     "cannot read \"%.*s\"", LIMIT_CFG_ECHO_BYTES, val);
	if (ld->zones.gl_pathc > LIMIT_ZONES)
		return pfail(p, "zones", "\"%.*s\" matches %zu files, more than %d",
			     LIMIT_CFG_ECHO_BYTES, val, ld->zones.gl_pathc, LIMIT_ZONES);
	return 0;
}

/* [fleet] etcd: comma-separated http:// or https:// base URLs, each
 * "scheme://host:port" (no path: the v3 gateway's paths are ours; no
 * user info: credentials go in password_file, never in an echoed URL). */
static int set_fleet_etcd(struct parse *p, const char *val)
{
	struct cfg_fleet *f = &p->ld->cfg->fleet;
	char *copy = strdup(val), *cur = copy, *item, **more;

	if (!copy)
		return pfail_oom(p);
	p->ld->fleet_etcd_line = p->line;
	while (!p->ld->rc && (item = list_next(&cur))) {
		const char *hp = strncmp(item, "http://", 7) == 0 ? item + 7 :
				 strncmp(item, "https://", 8) == 0 ? item + 8 : NULL;
		size_t len = strlen(item);

		/* user:password@ would put a credential in every log line and
		 * 503 body that names an endpoint: refused, and not echoed */
		if (hp && strchr(hp, '@'))
			pfail(p, "etcd", "an endpoint carries user info (user@): the password "
			      "goes in password_file");
		else if (!hp || !*hp || strpbrk(hp, "/?# \t") || !strchr(hp, ':'))
			pfail(p, "etcd", "\"%.*s\" is not http://host:port or https://host:port",
			      LIMIT_CFG_ECHO_BYTES, item);
		else if (len > LIMIT_FLEET_URL_BYTES || has_ctl(item, len))
			pfail(p, "etcd", "an endpoint is longer than %d bytes", LIMIT_FLEET_URL_BYTES);
		else if (f->n_etcd == LIMIT_FLEET_ENDPOINTS)
			pfail(p, "etcd", "more than %d endpoints", LIMIT_FLEET_ENDPOINTS);
		else if (!(more = realloc(f->etcd, (f->n_etcd + 1) * sizeof(*more))))
			pfail_oom(p);
		else if ((f->etcd = more), !(f->etcd[f->n_etcd] = strdup(item)))
			pfail_oom(p);
		else
			f->n_etcd++;
	}
	free(copy);
	if (!p->ld->rc && f->n_etcd == 0)
		pfail(p, "etcd", "no endpoint given");
	return p->ld->rc;
}

/* [fleet] prefix, pop, node: parts of etcd keys. A prefix is "/" and
 * names joined by "/"; pop and node are one name. */
static int set_fleet_name(struct parse *p, const char *val)
{
	struct cfg_fleet *f = &p->ld->cfg->fleet;
	const struct key_def *k = &keys[p->last_key];
	bool prefix = strcmp(k->name, "prefix") == 0;
	char **field = prefix ? &f->prefix : strcmp(k->name, "pop") == 0 ? &f->pop : &f->node;
	size_t len = strlen(val), max = prefix ? LIMIT_FLEET_PREFIX_BYTES : LIMIT_FLEET_NAME_BYTES;

	if (len == 0 || len > max)
		return pfail(p, k->name, "must be 1..%zu bytes", max);
	if (prefix && (val[0] != '/' || val[len - 1] == '/' || strstr(val, "//")))
		return pfail(p, k->name, "must start with '/' and not end with '/' "
			     "(\"/edgecache\")");
	if (strspn(val, prefix ? NAME_CHARS "/" : NAME_CHARS) != len)
		return pfail(p, k->name, "may hold only A-Z a-z 0-9 . _ -%s",
				     prefix ? " and /" : "");
	return cfg_store_str(p, field, val, len);
}

static int set_zone_name(struct parse *p, const char *val)
{
	if (!cfg_valid_name(val))
		return pfail(p, "name", "\"%.*s\" is not 1..%d of A-Z a-z 0-9 . _ -",
			     LIMIT_CFG_ECHO_BYTES, val, LIMIT_NAME_BYTES);
	p->zl->name = p->line;
	return cfg_store_str(p, &p->zone->name, val, strlen(val));
}

bool cfg_valid_uuid(const char *s)
{
	size_t len = strlen(s);
	bool ok = len == 36;

	for (size_t i = 0; ok && i < len; i++) {
		char c = lower(s[i]);

		if (i == 8 || i == 13 || i == 18 || i == 23)
			ok = c == '-';
		else
			ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	}
	return ok;
}

/* Canonical 8-4-4-4-12 hex; stored lower-case. */
static int store_uuid(struct parse *p, char **field, const char *val)
{
	if (!cfg_valid_uuid(val))
		return pfail(p, "uuid", "\"%.*s\" is not a UUID "
			     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)", LIMIT_CFG_ECHO_BYTES, val);
	if (cfg_store_str(p, field, val, strlen(val)))
		return p->ld->rc;
	lower_str(*field);
	return 0;
}

static int set_uuid(struct parse *p, const char *val)
{
	p->zl->uuid = p->line;
	return store_uuid(p, &p->zone->uuid, val);
}

static int set_origin_uuid(struct parse *p, const char *val)
{
	return store_uuid(p, &p->origin->uuid, val);
}

void cfg_origin_uuid(const char *zone_uuid, const char *origin_name, char out[37])
{
	char in[64 + LIMIT_NAME_BYTES], hex[65];
	unsigned char d[WC_SHA256_DIGEST_SIZE];
	int n = snprintf(in, sizeof(in), "%s/%s", zone_uuid, origin_name);

	/* wolfCrypt directly: core links no sigv4 in the unit tests */
	wc_Sha256Hash((const unsigned char *)in, (word32)(n < 0 ? 0 : n), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	hex[12] = '8';                              /* version 8: custom */
	hex[16] = "89ab"[(hex[16] - '0') & 3];      /* RFC 9562 variant */
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
		 hex + 20);
}

/* One name of pass_request_headers: a field the edge drops by default
 * and may forward (never a hop-by-hop one). */
static int add_pass_header(struct parse *p, char *h)
{
	struct cfg_zone *z = p->zone;
	size_t len = strlen(h);

	lower_str(h);
	if (len > LIMIT_PASS_HEADER_NAME_BYTES || strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789"
							"!#$%&'*+-.^_`|~") != len)
		return pfail(p, "pass_request_headers", "\"%.*s\" is not a header name of at most %d bytes",
			     LIMIT_CFG_ECHO_BYTES, h, LIMIT_PASS_HEADER_NAME_BYTES);
	if (!reqh_passable(h, len))
		return pfail(p, "pass_request_headers", "\"%s\" is not a field the edge drops "
			     "(a name with \"_\" or a routing override such as x-forwarded-host); "
			     "hop-by-hop fields are never forwarded", h);
	for (size_t i = 0; i < z->n_pass_headers; i++)
		if (strcmp(z->pass_headers[i], h) == 0)
			return pfail(p, "pass_request_headers", "\"%s\" is listed twice", h);
	if (z->n_pass_headers == LIMIT_PASS_REQUEST_HEADERS)
		return pfail(p, "pass_request_headers", "more than %d names", LIMIT_PASS_REQUEST_HEADERS);
	z->pass_headers[z->n_pass_headers] = strdup(h);
	if (!z->pass_headers[z->n_pass_headers])
		return pfail_oom(p);
	z->n_pass_headers++;
	return 0;
}

static int set_pass_headers(struct parse *p, const char *val)
{
	struct cfg_zone *z = p->zone;

	if (!z->pass_headers &&
	    !(z->pass_headers = calloc(LIMIT_PASS_REQUEST_HEADERS, sizeof(*z->pass_headers))))
		return pfail_oom(p);
	return for_each_item(p, val, add_pass_header);
}

/* A decoded path prefix: "" or "/seg[/seg]", no "." or ".." segment. */
static int set_base_path(struct parse *p, const char *val)
{
	size_t len = strlen(val);

	if (len && val[0] != '/')
		return pfail(p, "base_path", "\"%.*s\" does not start with \"/\"",
			     LIMIT_CFG_ECHO_BYTES, val);
	if (len > LIMIT_PATH_BYTES)
		return pfail(p, "base_path", "is longer than %d bytes", LIMIT_PATH_BYTES);
	if (has_ctl(val, len) || strpbrk(val, "?#"))
		return pfail(p, "base_path", "contains '?', '#' or a control character");
	for (const char *seg = val; *seg; ) {
		size_t sl;

		seg += *seg == '/';
		sl = strcspn(seg, "/");
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return pfail(p, "base_path", "has a \".\" or \"..\" segment");
		seg += sl;
	}
	while (len && val[len - 1] == '/')
		len--;
	return cfg_store_str(p, &p->origin->base_path, val, len);
}

/* A visitor path: '/' first, no space or control character. Blank = none. */
static int set_probe_path(struct parse *p, const char *val)
{
	size_t len = strlen(val);

	if (!len)
		return 0;
	if (val[0] != '/')
		return pfail(p, "probe_path", "\"%.*s\" does not start with \"/\"", LIMIT_CFG_ECHO_BYTES, val);
	if (has_ctl(val, len) || strchr(val, ' '))
		return pfail(p, "probe_path", "contains a space or a control character");
	return cfg_store_str(p, &p->origin->probe_path, val, len);
}

/*
 * targeted_field: the zone's own targeted cache-control field (RFC 9213),
 * a header name; blank = none. A name that means something else (Cache-
 * Control, Age, a hop-by-hop field, ...) would have the edge obey, and
 * hide from visitors, a field the origin sent for them.
 */
static int set_targeted_field(struct parse *p, const char *val)
{
	size_t len = strlen(val);

	if (!len) {
		free(p->zone->targeted_field);
		p->zone->targeted_field = NULL;
		return 0;
	}
	if (!hcache_targeted_name_valid(val, len))
		return pfail(p, "targeted_field",
			     "\"%.*s\" is not a header name of at most %d bytes, or names a field "
			     "with a meaning of its own (Cache-Control, CDN-Cache-Control, Expires, "
			     "Age, Date, Pragma, Vary, X-Cache, hop-by-hop)",
			     LIMIT_CFG_ECHO_BYTES, val, LIMIT_TARGETED_FIELD_BYTES);
	return cfg_store_str(p, &p->zone->targeted_field, val, len);
}

/* ---- [cache] ------------------------------------------------------------ */

static int add_cache_path(struct parse *p, char *item)
{
	struct cfg_cache *c = &p->ld->cfg->cache;
	char *path;

	if (has_ctl(item, strlen(item)))
		return pfail(p, "path", "contains a control character");
	if (c->n_paths == LIMIT_CACHE_PATHS)
		return pfail(p, "path", "more than %d paths", LIMIT_CACHE_PATHS);
	path = cfg_resolve_path(p->dir, item, false);
	if (!path)
		return pfail_oom(p);
	for (size_t i = 0; i < c->n_paths; i++) {
		if (strcmp(c->paths[i], path) == 0) {
			free(path);
			return pfail(p, "path", "\"%.*s\" is listed twice", LIMIT_CFG_ECHO_BYTES, item);
		}
	}
	c->paths[c->n_paths++] = path;
	return 0;
}

static int set_cache_path(struct parse *p, const char *val)
{
	struct cfg_cache *c = &p->ld->cfg->cache;

	return cfg_set_list(p, val, (void **)&c->paths, LIMIT_CACHE_PATHS, sizeof(*c->paths),
			    &p->ld->cache_path_line, add_cache_path);
}

/* A byte size key of [cache] with its own bounds. */
static int cache_bytes(struct parse *p, const char *key, const char *val, int64_t min,
		       int64_t max, int64_t *out)
{
	char why[160];

	if (cfg_parse_int(val, min, max, UNIT_SIZE, out, why, sizeof(why)))
		return pfail(p, key, "%s", why);
	return 0;
}

static int set_cache_size(struct parse *p, const char *val)
{
	p->ld->cache_size_line = p->line;
	return cache_bytes(p, "size", val, LIMIT_CACHE_SIZE_MIN, LIMIT_CACHE_SIZE_MAX,
			   &p->ld->cfg->cache.size_bytes);
}

static int set_chunk_size(struct parse *p, const char *val)
{
	int64_t v;

	if (cache_bytes(p, "chunk_size", val, LIMIT_CACHE_CHUNK_MIN, LIMIT_CACHE_CHUNK_MAX, &v))
		return p->ld->rc;
	if (v & (v - 1))
		return pfail(p, "chunk_size", "%.*s is not a power of two", LIMIT_CFG_ECHO_BYTES, val);
	p->ld->cfg->cache.chunk_bytes = v;
	return 0;
}

/* ---- sections ----------------------------------------------------------- */

static int begin_origin(struct parse *p, const char *name, const char *label)
{
	struct cfg_zone *z = p->zone;
	struct cfg_origin *o;

	if (!*name)
		return pfail(p, label, "needs a name: [origin NAME]");
	if (!cfg_valid_name(name))
		return pfail(p, label, "the name is not 1..%d of A-Z a-z 0-9 . _ -",
			     LIMIT_NAME_BYTES);
	for (size_t i = 0; i < z->n_origins; i++)
		if (strcmp(z->origins[i].name, name) == 0)
			return pfail(p, label, "repeated (first at line %d)",
				     z->origins[i].where.line);
	if (z->n_origins == LIMIT_ZONE_ORIGINS)
		return pfail(p, label, "more than %d origins in a zone", LIMIT_ZONE_ORIGINS);
	o = realloc(z->origins, (z->n_origins + 1) * sizeof(*o));
	if (!o)
		return pfail_oom(p);
	z->origins = o;
	o += z->n_origins++;
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = LIMIT_CONNECT_TIMEOUT_MS_DEFAULT;
	o->read_timeout_ms = LIMIT_READ_TIMEOUT_MS_DEFAULT;
	o->where = (struct cfg_where){ z->file, p->line };
	p->origin = o;
	p->sect = SECT_ORIGIN;
	return cfg_store_str(p, &o->name, name, strlen(name));
}

/* A "[name]" line: which section, and is it allowed in this file. */
static int begin_section(struct parse *p, const char *name, const char *label)
{
	int *first = p->zone ? &p->zone->where.line : &p->ld->server_line;

	memset(p->seen, 0, sizeof(p->seen));
	p->last_key = -1;
	p->sect = SECT_NONE;
	p->origin = NULL;
	if (strncmp(name, "origin", 6) == 0 && (!name[6] || name[6] == ' ' || name[6] == '\t'))
		return p->zone ? begin_origin(p, name + 6 + strspn(name + 6, " \t"), label)
			       : pfail(p, label, "unknown section (the main file has [server], "
				       "[cache], [admin] and [fleet])");
	if (!p->zone && strcmp(name, "cache") == 0)
		first = &p->ld->cache_line;
	else if (!p->zone && strcmp(name, "admin") == 0)
		first = &p->ld->admin_line;
	else if (!p->zone && strcmp(name, "fleet") == 0)
		first = &p->ld->fleet_line;
	else if (strcmp(name, p->zone ? "zone" : "server") != 0)
		return pfail(p, label, "unknown section (%s)", p->zone ?
			     "a zone file has [zone] and [origin NAME]" :
			     "the main file has [server], [cache], [admin] and [fleet]");
	if (*first)
		return pfail(p, label, "repeated (first at line %d)", *first);
	*first = p->line;
	p->sect = p->zone ? SECT_ZONE : first == &p->ld->cache_line ? SECT_CACHE :
		  first == &p->ld->admin_line ? SECT_ADMIN :
		  first == &p->ld->fleet_line ? SECT_FLEET : SECT_SERVER;
	return 0;
}

/* inih's rule: a key line has '=' or ':' before any inline comment. */
static bool has_separator(const char *s)
{
	for (const char *c = s; *c; c++) {
		if (*c == '=' || *c == ':')
			return true;
		if (*c == ';' && c > s && (c[-1] == ' ' || c[-1] == '\t'))
			return false;
	}
	return false;
}

static const char not_continued[] =
	"indented line: only listen, listen_tls, hosts, path and tls_ciphers continue on "
	"indented lines";

/* What inih would take wrong or silently: checked before it sees a line. */
static int check_line(struct parse *p, const char *s)
{
	char name[LIMIT_CONFIG_LINE_BYTES + 1];
	bool indented = *s == ' ' || *s == '\t';
	const char *end, *rest;

	s += strspn(s, " \t");
	p->indented = false;
	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (indented && (*s == '[' || p->last_key < 0))
		return pfail(p, NULL, "%s", *s == '[' ? "indented section header"
			     : not_continued);
	if (indented) {
		p->indented = true;
		return 0;
	}
	if (*s != '[')
		return has_separator(s) ? 0 :
			pfail(p, NULL, "expected \"[section]\" or \"key = value\"");
	end = strchr(s, ']');
	if (!end)
		return pfail(p, NULL, "section header without ']'");
	rest = end + 1 + strspn(end + 1, " \t");
	if (*rest && *rest != ';' && *rest != '#')
		return pfail(p, NULL, "text after the section header");
	memcpy(name, s + 1, (size_t)(end - s - 1));
	name[end - s - 1] = '\0';
	snprintf(p->label, sizeof(p->label), "[%.*s]", LIMIT_CFG_ECHO_BYTES, trim(name));
	return begin_section(p, trim(name), p->label);
}

/* Name the key a too-long line sets, when it starts like one, and say
 * what to do instead. Never quotes the line: it may hold a secret. */
static int fail_long_line(struct parse *p, size_t max)
{
	static const char *const hint[][2] = {
		{ "s3_secret_key", ": put the secret in s3_secret_key_file" },
		{ "s3_session_token", ": put the token in s3_session_token_file" },
		{ "listen", ": continue the list on indented lines" },
		{ "listen_tls", ": continue the list on indented lines" },
		{ "hosts", ": continue the list on indented lines" },
		{ "path", ": continue the list on indented lines" },
		{ "tls_ciphers", ": continue the list on indented lines" },
	};
	size_t n = strspn(p->buf, "abcdefghijklmnopqrstuvwxyz0123456789_");
	char key[32];

	if (n == 0 || n >= sizeof(key) || !strchr(" \t=:", p->buf[n]))
		return pfail(p, NULL, "line is longer than %zu bytes", max);
	memcpy(key, p->buf, n);
	key[n] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(hint); i++)
		if (strcmp(key, hint[i][0]) == 0)
			return pfail(p, key, "line is longer than %zu bytes%s", max, hint[i][1]);
	return pfail(p, key, "line is longer than %zu bytes", max);
}

/* inih's reader: one line per call, counted and checked. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t len, max = (size_t)num - 1;
	ssize_t n;

	if (p->ld->rc)
		return NULL;
	n = getline(&p->buf, &p->buf_cap, p->f);
	if (n < 0) {
		if (ferror(p->f))
			cfg_load_fail(p->ld, -EIO, p->file, p->line + 1, NULL, "read error");
		return NULL;
	}
	p->line++;
	len = (size_t)n;
	len -= len && p->buf[len - 1] == '\n';
	len -= len && p->buf[len - 1] == '\r';
	p->buf[len] = '\0';
	max = max < LIMIT_CONFIG_LINE_BYTES ? max : LIMIT_CONFIG_LINE_BYTES;
	if (strlen(p->buf) != len)
		return pfail(p, NULL, "NUL byte in the line"), NULL;
	if (len > max)
		return fail_long_line(p, max), NULL;
	if (check_line(p, p->buf + (p->line == 1 && !strncmp(p->buf, "\xEF\xBB\xBF", 3)) * 3))
		return NULL;
	memcpy(str, p->buf, len + 1);
	return str;
}

/*
 * inih drops an inline comment from a key line but not from a continuation
 * line: do it here, so both kinds of line read the same.
 */
static const char *cut_comment(struct parse *p, const char *val)
{
	size_t len = strlen(val);

	assert(len < p->buf_cap);
	memcpy(p->buf, val, len + 1);     /* the reader's line is done with */
	for (size_t i = 1; i < len; i++) {
		if (p->buf[i] == ';' && (p->buf[i - 1] == ' ' || p->buf[i - 1] == '\t')) {
			p->buf[i] = '\0';
			break;
		}
	}
	return trim(p->buf);
}

/* inih's handler: one key = value (or a continuation of the last key). */
static int on_key(void *user, const char *section, const char *name, const char *val)
{
	struct parse *p = user;
	int i, x;

	(void)section;           /* ours, from check_line: inih cuts it at 49 bytes */
	if (p->ld->rc)
		return 0;
	if (!*name)
		return pfail(p, NULL, "no key before '='"), 0;
	if (p->sect == SECT_NONE)
		return pfail(p, name, "key outside of any section"), 0;
	i = find_key(p->sect, name);
	if (i < 0)
		return pfail(p, name, "unknown key in %s", p->label), 0;
	if (p->indented && !(keys[i].flags & F_LIST))
		return pfail(p, name, "%s", not_continued), 0;
	if (!p->indented && p->seen[i])
		return pfail(p, name, "repeated (first at line %d)", p->seen[i]), 0;
	x = keys[i].excl ? find_key(p->sect, keys[i].excl) : -1;
	if (x >= 0 && p->seen[x])
		return pfail(p, name, "%s is set too (line %d): give one of them",
			     keys[x].name, p->seen[x]), 0;
	if (!p->indented)
		p->seen[i] = p->line;
	p->last_key = i;
	return set_key(p, &keys[i], p->indented ? cut_comment(p, val) : val) == 0;
}

/* ---- files -------------------------------------------------------------- */

/* Read one file into ld->cfg (zone == NULL: the main file). */
int cfg_parse_file(struct load *ld, const char *file, struct cfg_zone *zone,
		   struct zone_lines *zl)
{
	return cfg_parse_text(ld, file, NULL, 0, zone, zl);
}

int cfg_parse_text(struct load *ld, const char *file, const char *text, size_t len,
		   struct cfg_zone *zone, struct zone_lines *zl)
{
	struct parse *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return cfg_load_fail(ld, -ENOMEM, file, 0, NULL, "out of memory");
	/* a text's relative paths are taken as they are: dir "" */
	*p = (struct parse){ .ld = ld, .file = file, .zone = zone, .zl = zl,
			     .last_key = -1, .dir = text ? strdup("") : dir_of(file) };
	p->f = !p->dir ? NULL : text ? fmemopen((void *)text, len, "r") : fopen(file, "re");
	if (!p->f) {
		int e = p->dir ? errno : ENOMEM;

		cfg_load_fail(ld, -e, file, 0, NULL, "cannot open: %s", strerror(e));
	} else {
		setvbuf(p->f, p->iobuf, _IOFBF, sizeof(p->iobuf));
		rc = ini_parse_stream(read_line, p, on_key, p);
		if (rc > 0)      /* a line inih refused that check_line let by */
			cfg_load_fail(ld, -EINVAL, file, rc, NULL, "syntax error");
		fclose(p->f);
	}
	if (p->buf)
		explicit_bzero(p->buf, p->buf_cap);
	free(p->buf);
	free(p->dir);
	explicit_bzero(p, sizeof(*p));   /* iobuf held the file's secrets */
	free(p);
	return ld->rc;
}
