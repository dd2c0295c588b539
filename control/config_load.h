/*
 * control/config_load.h — loading the configuration (struct cfg, whose
 * types are core/config.h's): read the main file and the zone files,
 * validate, report the first error as "file:line: key: what".
 *
 * Owns: nothing after a call returns (the struct cfg it builds is the
 * caller's, freed with cfg_free).
 * Called by: the control thread (start, SIGHUP reload, the admin API's
 * candidate zone files) and the CLI tools (-t, sign, check-origin).
 * Never: called from a shard (it blocks on file I/O); logs.
 */
#ifndef EDGECACHE_CONTROL_CONFIG_LOAD_H
#define EDGECACHE_CONTROL_CONFIG_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

/*
 * The first error found: "file:line: key: what is wrong" (like nginx -t).
 * "key" is a key name or a section ("[origin a]"); ":line" is left out when
 * the error is about a whole file. Never holds a secret value.
 */
struct cfg_error {
	char msg[512];
	/* The same error for the admin API: the key or section it is about
	 * ("url", "[origin a]"; "" when none), what is wrong without the
	 * "file:line: key: " prefix, and whether it is the same-credentials
	 * rule (key then names the first setting that differs). */
	char key[72];
	size_t detail;           /* offset into msg */
	bool s3_conflict;
};

/*
 * Read and validate the main file at `path` and every zone file its
 * `zones` glob matches. Returns 0 and sets *out (caller frees with
 * cfg_free), or a negative errno with err->msg set and *out untouched:
 * -EINVAL a bad value or syntax, -ENOENT a missing file (main, zone glob
 * matching nothing, secret file), -ENOMEM, or the -errno of a failed
 * open/read (-EACCES, -EIO). Validation covers unknown sections and keys,
 * repeated keys, bad values, limits (core/limits.h), duplicate zone
 * names, uuids and hosts, and the S3 constraint that all S3-authenticated
 * origins of one zone share access key, secret, region and endpoint (the
 * error names both origins). Blocks (file I/O): control thread only.
 */
int cfg_load(const char *path, struct cfg **out, struct cfg_error *err);

/*
 * cfg_load, except that the zone file `zone_file` (as the zones glob
 * names it) is read from `replacement` instead (a file in the same
 * directory, so relative paths resolve alike): the admin API validates a
 * candidate zone file with every rule of a load before it replaces the
 * real one. -ENOENT if the glob no longer matches zone_file.
 */
int cfg_load_replacing(const char *path, const char *zone_file, const char *replacement,
		       struct cfg **out, struct cfg_error *err);

/*
 * [server] user and group of the main file at path, read before the load
 * (and with no other key), so that the load itself can run with that
 * user's rights (control/privdrop.h): "" when a key is absent. The load
 * that follows checks the file whole; its user must match (the caller
 * compares). 0, or -errno of the open / -EINVAL for a name of len or more
 * bytes, with err->msg set.
 */
int cfg_peek_user(const char *path, char *user, char *group, size_t len, struct cfg_error *err);

/* An origin's secrets given beside its zone text, not as INI lines: a
 * session token is longer than a line (LIMIT_CONFIG_LINE_BYTES) and inih
 * cuts a value at " ;" and trims its edge spaces. Either may be NULL;
 * checked by the caller (length, no control byte). */
struct cfg_origin_secret {
	char uuid[37];                  /* the [origin]'s uuid key */
	const char *s3_secret_key;
	const char *s3_session_token;
};

/* A zone file's text held in memory (fleet mode: rendered from etcd's
 * values, never written to disk), and its origins' secrets. name is what
 * messages call the file ("etcd:/edgecache/zones/UUID"). */
struct cfg_zone_text {
	const char *name;
	const char *text;
	size_t len;
	const struct cfg_origin_secret *secrets;
	size_t n_secrets;
};

/*
 * cfg_load, except that the zones are the n texts given (in that order)
 * instead of the files the zones glob matches: every rule of a load, so
 * fleet mode accepts exactly what a zone file may say. Relative paths in
 * the texts are taken as they are (from the current directory). A text's
 * secrets are set on the origins whose uuid they name (copied, no-dump
 * pages) before the zone's checks, as if the text had said them.
 */
int cfg_load_fleet(const char *path, const struct cfg_zone_text *texts, size_t n,
		   struct cfg **out, struct cfg_error *err);

/* An origin's uuid when its section has no uuid key: a version-8 UUID
 * made of SHA-256(zone uuid "/" origin name), so it is stable across
 * restarts until a write persists it (docs/CONFIG.md). out: 37 bytes. */
void cfg_origin_uuid(const char *zone_uuid, const char *origin_name, char out[37]);

/* The values of the enum keys, in enum order, NULL-terminated. */
extern const char *const cfg_payload_names[];
extern const char *const cfg_addressing_names[];
extern const char *const cfg_query_string_names[];
extern const char *const cfg_set_cookie_names[];

/* Zone and origin names: 1..LIMIT_NAME_BYTES of [A-Za-z0-9._-]. */
bool cfg_valid_name(const char *s);
/* Canonical 8-4-4-4-12 hex (any case). */
bool cfg_valid_uuid(const char *s);

#endif /* EDGECACHE_CONTROL_CONFIG_LOAD_H */
