/*
 * core/config.h — the configuration: one main INI file and one INI file per
 * zone, read with inih.
 *
 * Owns: struct cfg and every string and array hanging off it (one tree,
 * freed by cfg_free; secrets are wiped before they are freed).
 * Called by: every layer reads it; control/ loads it (control/config_load.h:
 * cfg_load, the validators, cfg_error). A loaded struct cfg is immutable:
 * shards read it, nobody writes it; a reload builds a new one.
 * Never: resolves DNS, opens sockets, logs (errors go to the caller).
 *
 * The code: core/config.c frees a cfg, finds zones (by Host, by name) and
 * keeps secrets in no-dump pages; loading is control/'s (shared internals
 * in control/config_int.h, for those files only):
 *   config_load.c   cfg_load's order (read, then check)
 *   config_read.c   the INI files (main, each zone file of the zones glob), the
 *                   key table and value parsers, "file:line: key: what" errors
 *   config_keys.c   secrets: S3 secret / session token (inline or from a file)
 *                   and admin token; files owner-only, stored with
 *                   cfg_secret_dup (no-dump pages, here in core)
 *   config_check.c  rules across keys, origins and zones (the S3 same-credentials
 *                   rule, unique names, uuids, hosts) and the zones' TLS files
 *   config_hosts.c  listen addresses, hosts, origin urls; builds the host → zone
 *                   table that cfg_zone_by_host (here in core) looks up
 *
 * Main file:
 *   [server] listen = 127.0.0.1:8080, [::1]:8080   (one or more host:port)
 *            listen_tls = 127.0.0.1:8443   (HTTPS visitors; zones' tls_cert)
 *            tls_unknown_sni = default | reject, tls_handshake_timeout_ms,
 *            tls_ticket_rotate (seconds, s/m/h/d suffix)
 *            workers = auto | N
 *            zones = GLOB  (e.g. zones/\*.ini; relative to the main file)
 *            header_timeout_ms, idle_timeout_ms, send_timeout_ms,
 *            drain_timeout_ms, max_conns, max_body_bytes, origin_pool,
 *            credential_overlap_ms,
 *            origin_backoff_ms, dns_refresh_ms, access_log, error_log,
 *            counters_file, log_level = error | warn | info | debug,
 *            user, group, upgrade_socket (the control socket of `edgecache upgrade`)
 *   [cache]  path = /var/cache/edge/a, /dev/nvme1n1   (one or more)
 *            size (total, k/m/g/t), chunk_size, memory, checkpoint_interval,
 *            average_object_size
 *   [admin]  listen = 127.0.0.1:9180 (one host:port; the default),
 *            token_file (bearer token; required unless listen is loopback)
 * Zone file:
 *   [zone]   name, uuid, hosts = a.example, b.example   ("*" = default zone)
 *            default_ttl, negative_ttl, stale_while_revalidate,
 *            stale_if_error (seconds, s/m/h/d suffix),
 *            tls_cert, tls_key (PEM; the key chmod 600; chosen by SNI = hosts)
 *            tls_ciphers (suite names, ':'-separated), tls_min_version = 1.2 | 1.3
 *            query_string = ignore | include | sorted, heuristic_freshness,
 *            targeted_field, store_server_errors
 *            set_cookie = pass | strip
 *   [origin NAME] url = http[s]://host[:port]   (no path)
 *            uuid (absent: derived from the zone's uuid and NAME), probe_path,
 *            host_header, base_path, connect_timeout_ms, read_timeout_ms,
 *            s3_auth_enabled, s3_access_key, s3_secret_key | s3_secret_key_file,
 *            s3_region (blank → auto), s3_service (default s3),
 *            s3_session_token | s3_session_token_file,
 *            s3_payload = empty-hash | unsigned,
 *            s3_addressing = path | virtual
 * docs/CONFIG.md describes every key, its default and range, the syntax
 * (what inih accepts and what the loader refuses) and the error format.
 */
#ifndef EDGECACHE_CORE_CONFIG_H
#define EDGECACHE_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

/* Where a setting came from, for error messages: "file:line: key: ...". */
struct cfg_where {
	const char *file;
	int line;
};

struct cfg_listen {
	char *host;              /* as written, without brackets: "127.0.0.1", "::1" */
	uint16_t port;
};

enum cfg_scheme { CFG_SCHEME_HTTP, CFG_SCHEME_HTTPS };
enum cfg_s3_payload { CFG_S3_PAYLOAD_EMPTY_HASH, CFG_S3_PAYLOAD_UNSIGNED };
enum cfg_s3_addressing { CFG_S3_ADDRESSING_PATH, CFG_S3_ADDRESSING_VIRTUAL };
/* Same order as enum hcache_qs (cache/http_cache.h). */
enum cfg_query_string { CFG_QS_IGNORE, CFG_QS_INCLUDE, CFG_QS_SORTED };
/* Same order as enum hcache_set_cookie: a response with Set-Cookie is
 * passed to its visitor and not stored (default), or stored without it. */
enum cfg_set_cookie { CFG_SC_PASS, CFG_SC_STRIP };
/* A TLS visitor whose SNI names no zone: the default zone's certificate,
 * or a fatal unrecognized_name alert. */
enum cfg_unknown_sni { CFG_SNI_DEFAULT, CFG_SNI_REJECT };
/* A zone's lowest TLS version for visitors (tls_min_version). */
enum cfg_tls_min { CFG_TLS_MIN_12, CFG_TLS_MIN_13 };
extern const char *const cfg_tls_min_names[];

struct cfg_origin {
	char *name;              /* [origin NAME] */
	char *uuid;              /* lower-case; never NULL after load (derived) */
	bool uuid_derived;       /* no uuid key: cfg_origin_uuid made it */
	char *url;               /* as written */
	enum cfg_scheme scheme;
	char *host;              /* from url, no brackets */
	uint16_t port;           /* from url, or 80 / 443 */
	char *host_header;       /* never empty after load: blank → host[:port] */
	char *ca_file;           /* https: CA bundle to verify with; NULL = the system's */
	char *base_path;         /* "" or "/seg[/seg]" — no trailing slash */
	char *probe_path;        /* a visitor path the admin API HEADs before a
				  * credential change; NULL = no probe */
	uint32_t connect_timeout_ms;
	uint32_t read_timeout_ms;

	bool s3_auth_enabled;
	char *s3_access_key;     /* NULL unless set */
	char *s3_secret_key;     /* from s3_secret_key or s3_secret_key_file; in no-dump
				  * pages of its own, wiped on free */
	char *s3_secret_key_file;/* the file it came from (resolved), NULL if inline */
	char *s3_region;         /* never NULL after load when s3_auth_enabled: blank → "auto" */
	char *s3_service;        /* default "s3" */
	char *s3_session_token;  /* NULL unless set (blank = unset); no-dump pages, wiped */
	char *s3_session_token_file; /* the file it came from (resolved), NULL if inline */
	enum cfg_s3_payload s3_payload;
	enum cfg_s3_addressing s3_addressing;

	struct cfg_where where;  /* the [origin NAME] line */
};

struct cfg_zone {
	char *name;
	char *uuid;
	char **hosts;            /* lower-case, as listed; "*" kept as is */
	size_t n_hosts;
	bool is_default;         /* hosts contains "*" */
	/* HTTP caching (docs/http-cache.md): seconds, 0..LIMIT_TTL_S_MAX */
	uint32_t default_ttl_s;            /* no freshness info: 0 = not stored */
	uint32_t negative_ttl_s;           /* 404/410 without freshness: 0 = off */
	uint32_t stale_while_revalidate_s; /* when the response has none */
	uint32_t stale_if_error_s;         /* when the response has none */
	enum cfg_query_string query_string;  /* default include */
	bool heuristic_freshness;          /* default off */
	bool store_server_errors;          /* default off: a 5xx is never stored */
	/* The zone's own targeted cache-control field (RFC 9213), obeyed
	 * before CDN-Cache-Control and never forwarded; NULL = none. */
	char *targeted_field;
	/* Request fields forwarded though dropped by default (underscore
	 * names, unkeyed overrides: net/req_hygiene.h), lower case. */
	char **pass_headers;
	size_t n_pass_headers;
	enum cfg_set_cookie set_cookie;    /* default pass */
	char *tls_cert;          /* PEM chain for HTTPS visitors, or NULL */
	char *tls_key;           /* its key (checked at load: matches, mode 600) */
	char *tls_ciphers;       /* the zone's cipher list (tls_ciphers_check), NULL =
				  * TLS_SERVER_CIPHERS_DEFAULT */
	enum cfg_tls_min tls_min_version;  /* default 1.2 */
	struct cfg_origin *origins;  /* in file order: the failover order */
	size_t n_origins;
	char *file;              /* absolute or as globbed */
	struct cfg_where where;  /* the [zone] line */
};

struct cfg_server {
	struct cfg_listen *listens;
	size_t n_listens;
	struct cfg_listen *listens_tls;   /* HTTPS visitors; may be empty */
	size_t n_listens_tls;
	enum cfg_unknown_sni tls_unknown_sni;
	uint32_t tls_handshake_timeout_ms;
	uint32_t tls_ticket_rotate_s;
	unsigned workers;        /* 0 = auto: one per online CPU */
	char *zones_glob;        /* resolved against the main file's directory */
	uint32_t header_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t send_timeout_ms;
	uint32_t drain_timeout_ms;
	uint32_t origin_backoff_ms;
	uint32_t dns_refresh_ms;
	uint32_t credential_overlap_ms;  /* 0 = off (runtime.h rt_inherit_creds) */
	uint32_t max_conns;      /* per shard */
	int64_t max_body_bytes;
	int64_t send_zerocopy_bytes;  /* 0 = off (net/iobuf.h IOBUF zero-copy) */
	uint32_t origin_pool;    /* idle connections per origin per shard */
	char *access_log;        /* path, "off", or NULL = stdout */
	char *error_log;         /* path or NULL = stderr */
	char *counters_file;     /* path the server writes its counters to, or NULL */
	char *upgrade_socket;    /* `edgecache upgrade`'s socket (control/upgrade.h), or NULL */
	int log_level;           /* LOG_ERROR..LOG_DEBUG (core/log.h) */
	char *user;              /* drop to it once listening (control/privdrop.h), or NULL */
	char *group;             /* its group instead of the user's own, or NULL */
};
/* [cache]: the disk store (cache/store.h). Absent section: n_paths 0,
 * no disk cache. */
struct cfg_cache {
	char **paths;            /* files or block devices, resolved */
	size_t n_paths;
	int64_t size_bytes;      /* total, split evenly across paths */
	int64_t chunk_bytes;     /* power of two */
	int64_t memory_bytes;    /* RAM tier (the serving path's) */
	uint32_t checkpoint_interval_s;
	int64_t avg_object_bytes;/* sizes the index: size / this objects */
};

/* [admin]: the admin API (core/admin.h). Absent section: enabled false. */
struct cfg_admin {
	bool enabled;
	struct cfg_listen listen;  /* default 127.0.0.1:LIMIT_ADMIN_PORT_DEFAULT */
	char *token;             /* from token_file; NULL = none (loopback only); wiped */
	char *token_file;        /* resolved */
};

/* [fleet]: zones, origins and credentials from etcd (control/fleet.h,
 * docs/FLEET.md). Absent section: enabled false, the zone files serve. */
struct cfg_fleet {
	bool enabled;
	char **etcd;             /* endpoint base URLs ("http://127.0.0.1:2379"), in order */
	size_t n_etcd;
	char *ca_file, *cert_file, *key_file;  /* https endpoints; resolved, or NULL */
	char *user;              /* etcd authentication, or NULL */
	char *password;          /* from password_file (no-dump pages, wiped) */
	char *password_file;
	char *prefix;            /* default "/edgecache"; no trailing '/' */
	char *pop;               /* this node's PoP name */
	char *node;              /* default the host name */
	char *secrets_key;       /* LIMIT_FLEET_KEY_BYTES as hex (no-dump pages) */
	char *secrets_key_file;
	char *secrets_previous_key;   /* still decrypts during a key rotation, or NULL */
	char *secrets_previous_key_file;
	char *state_dir;         /* the last known good state */
};

/* Relative paths (zones, logs, counters_file, s3_*_file, cache path) are resolved
 * against the directory of the file that names them, so the tree can move. */

struct cfg_host_slot;        /* core/config_hosts.c: the host → zone hash table */

#define CFG_MAGIC 0x43464731u   /* "CFG1": checked at every entry point */

struct cfg {
	uint32_t magic;          /* CFG_MAGIC */
	char *main_file;
	struct cfg_server server;
	struct cfg_cache cache;
	struct cfg_admin admin;
	struct cfg_fleet fleet;
	struct cfg_zone *zones;
	size_t n_zones;
	const struct cfg_zone *default_zone;   /* NULL if no zone has "*" */
	struct cfg_host_slot *host_slots;      /* open addressing, built at load */
	size_t host_mask;                      /* slots - 1 (a power of two) */
};

/* Free everything; wipes secrets first. NULL is fine. */
void cfg_free(struct cfg *cfg);
/* The shards `workers` asks for: its number, or (auto, 0) one per online
 * CPU up to LIMIT_WORKERS. Config checks and the server use the same count. */
unsigned cfg_worker_count(const struct cfg *cfg);

/* free(s) after zeroing it (NULL is fine): a heap string that held a secret. */
void cfg_free_wiped(char *s);

/* A secret's copy in no-dump pages of its own (the cfg outlives many
 * snapshots, so a heap copy would put it in every core dump); NULL on
 * ENOMEM. cfg_secret_free wipes and unmaps it (NULL is fine). */
char *cfg_secret_dup(const char *s, size_t len);
void cfg_secret_free(char *s);

/* The host table (open addressing, lower-case keys, at most half full):
 * the slot holding s (any case), or the free slot where it would go. */
struct cfg_host_slot {
	const char *key;         /* NULL = free slot; lower-case */
	uint32_t len;
	uint32_t zone;           /* index into cfg->zones */
};

struct cfg_host_slot *cfg_slot_find(struct cfg_host_slot *t, size_t mask,
				    const char *s, size_t len);

/*
 * The zone serving `host` (a Host header value: case-insensitive, a
 * ":port" suffix ignored, "[v6]:port" kept as "[v6]", one trailing dot
 * ignored), else the default zone, else NULL. One hash and a short probe
 * in a table built at load; no allocation, no lock: any thread.
 */
const struct cfg_zone *cfg_zone_by_host(const struct cfg *cfg,
					 const char *host, size_t host_len);

/* The zone whose name (exact) or uuid (any case) is `key`, else NULL
 * (CLI tools: a linear scan). */
const struct cfg_zone *cfg_zone_by_name(const struct cfg *cfg, const char *key);

/*
 * A test hook's value: the environment variable `name`, a whole number of
 * ms in [min, max] (hooks shorten or stretch a bound so a test can reach
 * it; they are not config keys). 0 when unset (*ms untouched), 1 when set
 * (*ms filled), or -EINVAL with the reason in err: start-up is refused.
 */
int cfg_env_ms(const char *name, uint32_t min, uint32_t max, uint32_t *ms, char *err,
	       size_t cap);

#endif /* EDGECACHE_CORE_CONFIG_H */
