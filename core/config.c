/*
 * core/config.c — cfg_load, cfg_free and the zone lookups (contract in
 * core/config.h, every key in docs/CONFIG.md).
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
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "core/config.h"
#include "net/req_hygiene.h"
#include "net/tls.h"
#include "core/log.h"
#include "sigv4/sigv4.h"

_Static_assert(LIMIT_ACCESS_KEY_BYTES <= SIGV4_ACCESS_KEY_MAX, "access key");
_Static_assert(LIMIT_SECRET_BYTES <= SIGV4_SECRET_MAX, "secret");
_Static_assert(LIMIT_SESSION_TOKEN_BYTES <= SIGV4_TOKEN_MAX, "token");
_Static_assert(LIMIT_REGION_BYTES <= SIGV4_REGION_MAX, "region");
_Static_assert(LIMIT_SERVICE_BYTES <= SIGV4_SERVICE_MAX, "service");
_Static_assert(LIMIT_CONFIG_LINE_BYTES < INI_MAX_LINE, "inih line buffer");

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ECHO_MAX 64              /* bytes of a bad value quoted in an error */

struct cfg_host_slot {
	const char *key;         /* NULL = free slot; lower-case */
	uint32_t len;
	uint32_t zone;           /* index into cfg->zones */
};

enum sect { SECT_NONE, SECT_SERVER, SECT_ZONE, SECT_ORIGIN, SECT_CACHE, SECT_ADMIN };

/* Lines of the zone keys that cross-zone errors point back to. */
struct zone_lines {
	int name, uuid, hosts, tls_cert, tls_key, tls_ciphers, tls_min_version;
};

/* One cfg_load call. */
struct load {
	struct cfg *cfg;
	struct cfg_error *err;
	int rc;                  /* first error, 0 = none */
	int server_line, listen_line, listen_tls_line, zones_line, cache_line, cache_size_line, cache_path_line;
	int admin_line, admin_listen_line;
	const char *replace_file;        /* cfg_load_replacing: this zone file... */
	const char *replacement;         /* ...is read from this one */
	bool replaced;
	glob_t zones;
	bool globbed;
	struct zone_lines *zl;   /* one per zone file */
};

/* One file being read. */
struct parse {
	struct load *ld;
	const char *file;        /* as shown in messages */
	char *dir;               /* its directory: "" = the current one */
	FILE *f;
	char *buf;               /* getline's buffer; wiped (secrets) */
	size_t buf_cap;
	int line;
	bool indented;           /* the current line continues the key above */
	enum sect sect;
	char label[ECHO_MAX + 3];/* "[server]", "[origin a]": for messages */
	int last_key;            /* key table index of the last key, -1 = none */
	int seen[64];            /* per key: line set in this section, 0 = not */
	struct cfg_zone *zone;   /* NULL while reading the main file */
	struct zone_lines *zl;
	struct cfg_origin *origin;
	char iobuf[8192];        /* stdio's buffer, ours so it can be wiped */
};

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
static int cfg_load_fail(struct load *ld, int rc, const char *file, int line,
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

/* An -EINVAL at the current line of the file being read. */
#define pfail(p, key, ...) \
	cfg_load_fail((p)->ld, -EINVAL, (p)->file, (p)->line, (key), __VA_ARGS__)
#define pfail_oom(p) \
	cfg_load_fail((p)->ld, -ENOMEM, (p)->file, (p)->line, NULL, "out of memory")

/* ---- small pure helpers ------------------------------------------------- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

static bool has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static char *trim(char *s)
{
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	return s;
}

bool cfg_valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > LIMIT_NAME_BYTES)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") == len;
}

/* RFC 1123 host name: labels of 1..63 [A-Za-z0-9-], no '-' at either end. */
static bool valid_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > LIMIT_HOST_BYTES)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

/* An IPv4 literal or a DNS name; digits-and-dots must be a real IPv4. */
static bool valid_host(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) == 1)
		return true;
	if (strspn(s, "0123456789.") == strlen(s))
		return false;
	return valid_dns_name(s);
}

static void lower_str(char *s)
{
	for (; *s; s++)
		*s = lower(*s);
}

/* Suffixes a number may carry: none, sizes, or durations in seconds. */
enum unit { UNIT_NONE, UNIT_SIZE, UNIT_SECONDS };

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
static int cfg_parse_int(const char *s, int64_t min, int64_t max, enum unit unit,
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
		snprintf(why, why_cap, "\"%.*s\" is not a number%s", ECHO_MAX, s,
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
		snprintf(why, why_cap, "%.*s is below the minimum %lld", ECHO_MAX, s,
			 (long long)min);
		return -EINVAL;
	}
	if (over || v > max) {
		snprintf(why, why_cap, "%.*s is above the maximum %lld", ECHO_MAX, s,
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
static char *cfg_resolve_path(const char *dir, const char *rel, bool glob_escape)
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

void cfg_free_wiped(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/*
 * The S3 secret and session token (F_SECRET keys) get pages of their own,
 * kept out of core dumps like the snapshot's credentials (core/runtime.c):
 * the cfg outlives many snapshots (key rolls derive from it), so a heap
 * copy would put the secret in every core dump. The string is never
 * changed once stored, so its length gives the mapping's size back.
 */
static size_t secret_span(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + 1 + page - 1) / page * page;
}

static char *secret_dup(const char *s, size_t len)
{
	char *p = mmap(NULL, secret_span(len), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, secret_span(len), MADV_DONTDUMP);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static void cfg_secret_free(char *s)
{
	if (s) {
		size_t len = strlen(s);

		explicit_bzero(s, len);
		munmap(s, secret_span(len));
	}
}

/* ---- the key table ------------------------------------------------------ */

enum ktype { KT_U32, KT_SIZE, KT_SECONDS, KT_STR, KT_PATH, KT_BOOL, KT_ENUM, KT_FILE, KT_FN };

#define F_BLANK   1u             /* KT_STR: blank = unset (NULL) */
#define F_NOSPACE 2u             /* KT_STR: no space inside */
#define F_OFF     4u             /* KT_PATH: "off" is kept as is */
#define F_LIST    8u             /* indented lines continue the list */
#define F_SECRET  16u            /* KT_STR, KT_FILE: kept in no-dump pages */

struct key_def {
	const char *name;
	enum sect sect;
	enum ktype type;
	unsigned flags;
	size_t off;              /* the field in the section's struct */
	int64_t min, max;        /* numbers: range; strings and files: bytes */
	const char *const *names;/* KT_ENUM: the values, in enum order */
	const char *excl;        /* KT_STR/KT_FILE: the other way to set it */
	size_t path_off;         /* KT_FILE: where the resolved path goes */
	int (*fn)(struct parse *p, const char *val);
};

static int cfg_set_listen(struct parse *p, const char *val);
static int set_workers(struct parse *p, const char *val);
static int set_zones(struct parse *p, const char *val);
static int set_zone_name(struct parse *p, const char *val);
static int set_uuid(struct parse *p, const char *val);
static int set_origin_uuid(struct parse *p, const char *val);
static int cfg_set_admin_listen(struct parse *p, const char *val);
static int cfg_set_hosts(struct parse *p, const char *val);
static int cfg_set_url(struct parse *p, const char *val);
static int set_base_path(struct parse *p, const char *val);
static int set_probe_path(struct parse *p, const char *val);
static int set_cache_path(struct parse *p, const char *val);
static int set_cache_size(struct parse *p, const char *val);
static int set_chunk_size(struct parse *p, const char *val);
static int cfg_set_listen_tls(struct parse *p, const char *val);
static int set_tls_cert(struct parse *p, const char *val);
static int set_tls_key(struct parse *p, const char *val);
static int set_pass_headers(struct parse *p, const char *val);
static int set_tls_ciphers(struct parse *p, const char *val);
static int set_tls_min_version(struct parse *p, const char *val);

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
	{ "log_level", SRV(log_level), .type = KT_ENUM, .names = log_levels },
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
};

_Static_assert(ARRAY_LEN(keys) <= ARRAY_LEN(((struct parse *)0)->seen), "seen[]");

static int find_key(enum sect sect, const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (keys[i].sect == sect && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void *cfg_sect_obj(struct parse *p)
{
	switch (p->sect) {
	case SECT_SERVER: return &p->ld->cfg->server;
	case SECT_ZONE:   return p->zone;
	case SECT_ORIGIN: return p->origin;
	case SECT_CACHE:  return &p->ld->cfg->cache;
	case SECT_ADMIN:  return &p->ld->cfg->admin;
	default:          return NULL;
	}
}

/* ---- setters by type ---------------------------------------------------- */

/* Length, control characters and spaces of a string value (never echoed:
 * it may be a secret). */
static int cfg_check_str(struct parse *p, const struct key_def *k, const char *s,
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

static int cfg_store_str(struct parse *p, char **field, const char *s, size_t len)
{
	return store(p, field, strndup(s, len));
}

/* cfg_store_str for an F_SECRET key: its own no-dump pages. */
static int cfg_store_key_str(struct parse *p, const struct key_def *k, char **field,
			     const char *s, size_t len)
{
	if (!(k->flags & F_SECRET))
		return cfg_store_str(p, field, s, len);
	char *v = secret_dup(s, len);
	if (!v)
		return pfail_oom(p);
	cfg_secret_free(*field);
	*field = v;
	return 0;
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
		     ECHO_MAX, val);
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
	return pfail(p, k->name, "\"%.*s\" is not %s", ECHO_MAX, val, list);
}

/* Read a whole secret file into buf[0..cap); *n = bytes read. */
static int read_all(struct parse *p, const struct key_def *k, int fd, char *buf,
		    size_t cap, size_t *n)
{
	*n = 0;
	while (*n < cap) {
		ssize_t r = read(fd, buf + *n, cap - *n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			return cfg_load_fail(p->ld, -e, p->file, p->line, k->name,
					     "cannot read: %s", strerror(e));
		}
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

/*
 * s3_*_file: a regular file that group and others cannot access (it holds
 * a secret); the content, minus one trailing newline, is the value.
 */
static int cfg_set_file(struct parse *p, const struct key_def *k, char **field,
			const char *val)
{
	char buf[LIMIT_SESSION_TOKEN_BYTES + 2], *path;
	struct stat st;
	size_t n = 0;
	int fd, rc;

	if (!*val)
		return pfail(p, k->name, "is empty");
	path = cfg_resolve_path(p->dir, val, false);
	if (!path)
		return pfail_oom(p);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;

		rc = cfg_load_fail(p->ld, -e, p->file, p->line, k->name, "\"%s\": %s",
				   path, strerror(e));
	} else if (!S_ISREG(st.st_mode)) {
		rc = pfail(p, k->name, "\"%s\" is not a regular file", path);
	} else if (st.st_mode & 077) {
		rc = pfail(p, k->name, "\"%s\" is accessible by group or others "
			   "(mode %04o): chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	} else {
		rc = read_all(p, k, fd, buf, (size_t)k->max + 2, &n);
	}
	if (fd >= 0)
		close(fd);
	if (!rc && n && buf[n - 1] == '\n')
		n--;
	if (!rc && n == 0)
		rc = pfail(p, k->name, "\"%s\" is empty", path);
	if (!rc)
		rc = cfg_check_str(p, k, buf, n);
	if (!rc)
		rc = cfg_store_key_str(p, k, field, buf, n);
	explicit_bzero(buf, sizeof(buf));
	if (!rc) {       /* kept so that a rewrite of the file can refer to it */
		char **pf = (char **)((char *)cfg_sect_obj(p) + k->path_off);

		free(*pf);
		*pf = path;
		return 0;
	}
	free(path);
	return rc;
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

/*
 * "host:port", "[v6]:port" or "host" (port NULL) split in place. Returns
 * NULL or what is wrong with it.
 */
static const char *split_hostport(char *s, char **host, char **port, bool *v6)
{
	unsigned char a[16];
	char *c;

	*port = NULL;
	*host = s;
	*v6 = *s == '[';
	if (*v6) {
		c = strchr(s, ']');
		if (!c)
			return "has '[' without ']'";
		*c++ = '\0';
		*host = s + 1;
		if (inet_pton(AF_INET6, *host, a) != 1)
			return "is not a valid [IPv6] address";
		if (*c && *c != ':')
			return "has text after ']' that is not :port";
		*port = *c ? c + 1 : NULL;
		return NULL;
	}
	c = strchr(s, ':');
	if (c && strchr(c + 1, ':'))
		return "is an IPv6 address without brackets: write [address]:port";
	if (c) {
		*c = '\0';
		*port = c + 1;
	}
	return *s ? NULL : "has no host";
}

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

static bool listed(const struct cfg_listen *l, size_t n, const char *host, int64_t port)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].port == port && strcasecmp(l[i].host, host) == 0)
			return true;
	return false;
}

/* One address of `listen` (tls false) or `listen_tls` (tls true); an
 * address may be in only one of the two lists. */
static int add_listen_to(struct parse *p, char *item, bool tls)
{
	struct cfg_server *s = &p->ld->cfg->server;
	const char *key = tls ? "listen_tls" : "listen";
	struct cfg_listen *arr = tls ? s->listens_tls : s->listens;
	size_t *n = tls ? &s->n_listens_tls : &s->n_listens;
	char echo[ECHO_MAX + 1], why[160], *host, *port;
	const char *bad;
	int64_t v;
	bool v6;

	snprintf(echo, sizeof(echo), "%.*s", ECHO_MAX, item);
	if (*n == LIMIT_LISTEN_ADDRS)
		return pfail(p, key, "more than %d addresses", LIMIT_LISTEN_ADDRS);
	bad = split_hostport(item, &host, &port, &v6);
	if (!bad && !port)
		bad = "has no port (host:port)";
	if (!bad && !v6 && strcmp(host, "*") != 0 && !valid_host(host))
		bad = "is not an IP address, \"*\" or a host name";
	if (bad)
		return pfail(p, key, "\"%s\" %s", echo, bad);
	if (cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, key, "\"%s\": port %s", echo, why);
	if (listed(arr, *n, host, v))
		return pfail(p, key, "\"%s\" is listed twice", echo);
	if (listed(tls ? s->listens : s->listens_tls, tls ? s->n_listens : s->n_listens_tls,
		   host, v))
		return pfail(p, key, "\"%s\" is also in %s", echo, tls ? "listen" : "listen_tls");
	arr[*n].host = strdup(host);
	if (!arr[*n].host)
		return pfail_oom(p);
	arr[(*n)++].port = (uint16_t)v;
	return 0;
}

static int add_listen(struct parse *p, char *item)
{
	return add_listen_to(p, item, false);
}

static int add_listen_tls(struct parse *p, char *item)
{
	return add_listen_to(p, item, true);
}

/*
 * A list key's line (or continuation line): the array gets its LIMIT
 * slots on first use; *line remembers the key line for later errors.
 */
static int cfg_set_list(struct parse *p, const char *val, void **arr, size_t n,
			size_t size, int *line, int (*add)(struct parse *p, char *item))
{
	if (!*arr && !(*arr = calloc(n, size)))
		return pfail_oom(p);
	if (!p->indented)
		*line = p->line;
	return for_each_item(p, val, add);
}

static int cfg_set_listen(struct parse *p, const char *val)
{
	struct cfg_server *s = &p->ld->cfg->server;

	return cfg_set_list(p, val, (void **)&s->listens, LIMIT_LISTEN_ADDRS,
			    sizeof(*s->listens), &p->ld->listen_line, add_listen);
}

static int cfg_set_listen_tls(struct parse *p, const char *val)
{
	struct cfg_server *s = &p->ld->cfg->server;

	return cfg_set_list(p, val, (void **)&s->listens_tls, LIMIT_LISTEN_ADDRS,
			    sizeof(*s->listens_tls), &p->ld->listen_tls_line, add_listen_tls);
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
			     ECHO_MAX, val, LIMIT_WORKERS);
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
	g = glob(pat, 0, NULL, &ld->zones);    /* a missing directory: no match */
	ld->globbed = true;
	if (g == GLOB_NOMATCH)
		return cfg_load_fail(ld, -ENOENT, p->file, p->line, "zones",
				     "\"%.*s\" matches no file", ECHO_MAX, val);
	if (g == GLOB_NOSPACE)
		return pfail_oom(p);
	if (g)
		return cfg_load_fail(ld, -EIO, p->file, p->line, "zones",
				     "cannot read \"%.*s\"", ECHO_MAX, val);
	if (ld->zones.gl_pathc > LIMIT_ZONES)
		return pfail(p, "zones", "\"%.*s\" matches %zu files, more than %d",
			     ECHO_MAX, val, ld->zones.gl_pathc, LIMIT_ZONES);
	return 0;
}

static int set_zone_name(struct parse *p, const char *val)
{
	if (!cfg_valid_name(val))
		return pfail(p, "name", "\"%.*s\" is not 1..%d of A-Z a-z 0-9 . _ -",
			     ECHO_MAX, val, LIMIT_NAME_BYTES);
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
			     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)", ECHO_MAX, val);
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

/* [admin] listen: one host:port; loopback unless token_file is set
 * (checked in cfg_admin_finish, when both keys are known). */
static int cfg_set_admin_listen(struct parse *p, const char *val)
{
	struct cfg_admin *a = &p->ld->cfg->admin;
	char copy[LIMIT_CONFIG_LINE_BYTES + 1], why[160], *host, *port;
	const char *bad;
	int64_t v;
	bool v6;

	snprintf(copy, sizeof(copy), "%s", val);
	bad = split_hostport(copy, &host, &port, &v6);
	if (!bad && !port)
		bad = "has no port (host:port)";
	if (!bad && !v6 && strcmp(host, "*") != 0 && !valid_host(host))
		bad = "is not an IP address, \"*\" or a host name";
	if (bad)
		return pfail(p, "listen", "\"%.*s\" %s", ECHO_MAX, val, bad);
	if (cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, "listen", "\"%.*s\": port %s", ECHO_MAX, val, why);
	p->ld->admin_listen_line = p->line;
	a->listen.port = (uint16_t)v;
	return cfg_store_str(p, &a->listen.host, host, strlen(host));
}

static int add_host(struct parse *p, char *h)
{
	struct cfg_zone *z = p->zone;

	lower_str(h);
	if (strcmp(h, "*") != 0 && !valid_host(h))
		return pfail(p, "hosts", "\"%.*s\" is not a host name or \"*\"", ECHO_MAX, h);
	for (size_t i = 0; i < z->n_hosts; i++)
		if (strcmp(z->hosts[i], h) == 0)
			return pfail(p, "hosts", "\"%s\" is listed twice", h);
	if (z->n_hosts == LIMIT_ZONE_HOSTS)
		return pfail(p, "hosts", "more than %d hosts", LIMIT_ZONE_HOSTS);
	z->hosts[z->n_hosts] = strdup(h);
	if (!z->hosts[z->n_hosts])
		return pfail_oom(p);
	z->n_hosts++;
	z->is_default |= strcmp(h, "*") == 0;
	return 0;
}

static int cfg_set_hosts(struct parse *p, const char *val)
{
	return cfg_set_list(p, val, (void **)&p->zone->hosts, LIMIT_ZONE_HOSTS,
			    sizeof(*p->zone->hosts), &p->zl->hosts, add_host);
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
			     ECHO_MAX, h, LIMIT_PASS_HEADER_NAME_BYTES);
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

/* scheme://host[:port][/]: no userinfo, path, query or fragment. */
static int cfg_set_url(struct parse *p, const char *val)
{
	struct cfg_origin *o = p->origin;
	char auth[LIMIT_CONFIG_LINE_BYTES + 1], echo[ECHO_MAX + 1], why[160];
	char *host, *port;
	const char *s, *bad;
	size_t alen;
	int64_t v;
	bool v6;

	if (strncasecmp(val, "http://", 7) == 0)
		o->scheme = CFG_SCHEME_HTTP;
	else if (strncasecmp(val, "https://", 8) == 0)
		o->scheme = CFG_SCHEME_HTTPS;
	else
		return pfail(p, "url", "must start with http:// or https://");
	s = val + (o->scheme == CFG_SCHEME_HTTP ? 7 : 8);
	o->port = o->scheme == CFG_SCHEME_HTTP ? 80 : 443;
	alen = strcspn(s, "/");
	if (has_ctl(val, strlen(val)) || strchr(val, ' '))
		return pfail(p, "url", "contains a space or a control character");
	if (strchr(s, '@'))      /* anywhere: a password may hold a '/' */
		return pfail(p, "url", "must not contain user information (user@)");
	if (strpbrk(val, "?#"))
		return pfail(p, "url", "must not have a query or a fragment");
	if (s[alen] && strcmp(s + alen, "/") != 0)
		return pfail(p, "url", "has a path \"%.*s\": the url is scheme://host[:port]; "
			     "put the path in base_path", ECHO_MAX, s + alen);
	assert(alen < sizeof(auth));
	memcpy(auth, s, alen);
	auth[alen] = '\0';
	snprintf(echo, sizeof(echo), "%.*s", ECHO_MAX, auth);
	bad = split_hostport(auth, &host, &port, &v6);
	if (!bad && !v6 && !valid_host(host))
		bad = "is not an IP address or a host name";
	if (bad)
		return pfail(p, "url", "host \"%s\" %s", echo, bad);
	if (port && cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, "url", "port %s", why);
	if (port)
		o->port = (uint16_t)v;
	if (cfg_store_str(p, &o->url, val, strlen(val)) ||
	    cfg_store_str(p, &o->host, host, strlen(host)))
		return p->ld->rc;
	lower_str(o->host);
	return 0;
}

/* A decoded path prefix: "" or "/seg[/seg]", no "." or ".." segment. */
static int set_base_path(struct parse *p, const char *val)
{
	size_t len = strlen(val);

	if (len && val[0] != '/')
		return pfail(p, "base_path", "\"%.*s\" does not start with \"/\"",
			     ECHO_MAX, val);
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
		return pfail(p, "probe_path", "\"%.*s\" does not start with \"/\"", ECHO_MAX, val);
	if (has_ctl(val, len) || strchr(val, ' '))
		return pfail(p, "probe_path", "contains a space or a control character");
	return cfg_store_str(p, &p->origin->probe_path, val, len);
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
			return pfail(p, "path", "\"%.*s\" is listed twice", ECHO_MAX, item);
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
		return pfail(p, "chunk_size", "%.*s is not a power of two", ECHO_MAX, val);
	p->ld->cfg->cache.chunk_bytes = v;
	return 0;
}

static bool cfg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcasecmp(host, "localhost") == 0;
}

/* [admin] given: the default address; a token unless loopback only. */
static int cfg_admin_finish(struct load *ld)
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

/* [cache] given: path and size are required; each file gets its share. */
static int cfg_cache_finish(struct load *ld)
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
				       "[cache] and [admin])");
	if (!p->zone && strcmp(name, "cache") == 0)
		first = &p->ld->cache_line;
	else if (!p->zone && strcmp(name, "admin") == 0)
		first = &p->ld->admin_line;
	else if (strcmp(name, p->zone ? "zone" : "server") != 0)
		return pfail(p, label, "unknown section (%s)", p->zone ?
			     "a zone file has [zone] and [origin NAME]" :
			     "the main file has [server], [cache] and [admin]");
	if (*first)
		return pfail(p, label, "repeated (first at line %d)", *first);
	*first = p->line;
	p->sect = p->zone ? SECT_ZONE : first == &p->ld->cache_line ? SECT_CACHE :
		  first == &p->ld->admin_line ? SECT_ADMIN : SECT_SERVER;
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
	snprintf(p->label, sizeof(p->label), "[%.*s]", ECHO_MAX, trim(name));
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
static int cfg_parse_file(struct load *ld, const char *file, struct cfg_zone *zone,
			  struct zone_lines *zl)
{
	struct parse *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return cfg_load_fail(ld, -ENOMEM, file, 0, NULL, "out of memory");
	*p = (struct parse){ .ld = ld, .file = file, .zone = zone, .zl = zl,
			     .last_key = -1, .dir = dir_of(file) };
	p->f = p->dir ? fopen(file, "re") : NULL;
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

static int cfg_server_finish(struct load *ld)
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
	if (!ld->zones_line)
		return cfg_load_fail(ld, -EINVAL, f, ld->server_line, "[server]",
				     "zones is required");
	return 0;
}

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

static int cfg_zone_finish(struct load *ld, struct cfg_zone *z, struct zone_lines *zl)
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

/* ---- the host table and cross-zone checks -------------------------------- */

/*
 * FNV-1a over the lower-cased bytes. The table is built from the config,
 * not from visitors, and kept at most half full, so whatever Host a
 * visitor sends, a lookup is one hash and a short probe.
 */
static uint64_t hash_lower(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)lower(s[i])) * 0x100000001b3ull;
	return h;
}

/* The slot holding s (any case), or the free slot where it would go. */
static struct cfg_host_slot *cfg_slot_find(struct cfg_host_slot *t, size_t mask,
					   const char *s, size_t len)
{
	for (size_t i = hash_lower(s, len) & mask;; i = (i + 1) & mask) {
		size_t j = 0;

		if (!t[i].key)
			return &t[i];
		if (t[i].len != len)
			continue;
		while (j < len && t[i].key[j] == lower(s[j]))
			j++;
		if (j == len)
			return &t[i];
	}
}

static struct cfg_host_slot *cfg_table_new(size_t n, size_t *mask)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	*mask = cap - 1;
	return calloc(cap, sizeof(struct cfg_host_slot));
}

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
			     "\"%.*s\" is also %s zone \"%s\" (%s:%d)", ECHO_MAX, s, what,
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
static int cfg_check_zones(struct load *ld)
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
static int cfg_tls_finish(struct load *ld)
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

/* A Host value without its port: "a.example:80" → "a.example", "[::1]:80"
 * → "[::1]"; one trailing dot dropped (an FQDN names the same host). */
static size_t host_only(const char *host, size_t len)
{
	const char *end = host[0] == '[' ? memchr(host, ']', len) : NULL;
	const char *colon;

	if (end)
		return (size_t)(end - host) + 1;
	colon = memchr(host, ':', len);
	len = colon ? (size_t)(colon - host) : len;
	return len && host[len - 1] == '.' ? len - 1 : len;
}

const struct cfg_zone *cfg_zone_by_host(const struct cfg *cfg,
					 const char *host, size_t host_len)
{
	const struct cfg_host_slot *sl;
	size_t len;

	assert(cfg && cfg->magic == CFG_MAGIC);
	len = host ? host_only(host, host_len) : 0;
	if (len == 0 || len > LIMIT_HOST_BYTES || !cfg->host_slots)
		return cfg->default_zone;
	sl = cfg_slot_find(cfg->host_slots, cfg->host_mask, host, len);
	return sl->key ? &cfg->zones[sl->zone] : cfg->default_zone;
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
