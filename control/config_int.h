/*
 * control/config_int.h — what the control/config*.c files share and nobody
 * else may use (other modules include control/config_load.h): the state of
 * one load (struct load) and of one file being read (struct parse), the key
 * table's types, the error helpers, and the functions one of those files
 * calls in another, listed below by the file that defines them.
 * Called on the control thread only (a load blocks on file I/O); like the
 * rest of the config code it never logs: errors go into struct cfg_error.
 */
#ifndef EDGECACHE_CONTROL_CONFIG_INT_H
#define EDGECACHE_CONTROL_CONFIG_INT_H

#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "control/config_load.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum sect { SECT_NONE, SECT_SERVER, SECT_ZONE, SECT_ORIGIN, SECT_CACHE, SECT_ADMIN, SECT_FLEET };

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
	int fleet_line, fleet_etcd_line;
	/* cfg_load_fleet: the zone files' text, instead of the zones glob */
	const struct cfg_zone_text *texts;
	size_t n_texts;
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
	/* "[server]", "[origin a]": for messages; a longer name is cut */
	char label[LIMIT_CFG_ECHO_BYTES + 3];
	int last_key;            /* key table index of the last key, -1 = none */
	int seen[80];            /* per key: line set in this section, 0 = not */
	struct cfg_zone *zone;   /* NULL while reading the main file */
	struct zone_lines *zl;
	struct cfg_origin *origin;
	char iobuf[8192];        /* stdio's buffer, ours so it can be wiped */
};

/* ---- errors (config_read.c) ---------------------------------------------- */

/* Record the first error of a load: "file:line: key: what" (line 0 and
 * key NULL leave their parts out). Returns ld->rc, the first error's. */
__attribute__((format(printf, 6, 7)))
int cfg_load_fail(struct load *ld, int rc, const char *file, int line,
		  const char *key, const char *fmt, ...);

/* An -EINVAL at the current line of the file being read. */
#define pfail(p, key, ...) \
	cfg_load_fail((p)->ld, -EINVAL, (p)->file, (p)->line, (key), __VA_ARGS__)
#define pfail_oom(p) \
	cfg_load_fail((p)->ld, -ENOMEM, (p)->file, (p)->line, NULL, "out of memory")

/* ---- small pure helpers ------------------------------------------------- */

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

static inline bool has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static inline char *trim(char *s)
{
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	return s;
}

static inline void lower_str(char *s)
{
	for (; *s; s++)
		*s = lower(*s);
}

/* Suffixes a number may carry: none, sizes, or durations in seconds. */
enum unit { UNIT_NONE, UNIT_SIZE, UNIT_SECONDS };

/* The one number parser of every numeric key (config_read.c): 0 and *out
 * in min..max, or -EINVAL with `why` saying what is wrong. */
int cfg_parse_int(const char *s, int64_t min, int64_t max, enum unit unit,
		  int64_t *out, char *why, size_t why_cap);

/* `rel` against `dir`, malloc'd, or NULL (config_read.c). */
char *cfg_resolve_path(const char *dir, const char *rel, bool glob_escape);

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

/* ---- config_read.c: files, lines, keys ------------------------------------ */

/* Read one file into ld->cfg (zone == NULL: the main file); ld->rc. */
int cfg_parse_file(struct load *ld, const char *file, struct cfg_zone *zone,
		   struct zone_lines *zl);
/* The same for a zone file's text in memory (text NULL: read file);
 * `file` names it in messages. */
int cfg_parse_text(struct load *ld, const char *file, const char *text, size_t len,
		   struct cfg_zone *zone, struct zone_lines *zl);
/* The struct the current section's keys are fields of. */
void *cfg_sect_obj(struct parse *p);
/* Length, control characters and spaces of a string value (never echoed). */
int cfg_check_str(struct parse *p, const struct key_def *k, const char *s,
		  size_t len);
/* Store a copy of s[0..len) in *field (freeing the old one). */
int cfg_store_str(struct parse *p, char **field, const char *s, size_t len);
/* A list key's line: the array gets its n slots on first use, add() is
 * called per item; *line remembers the key line. */
int cfg_set_list(struct parse *p, const char *val, void **arr, size_t n,
		 size_t size, int *line, int (*add)(struct parse *p, char *item));

/* ---- config_keys.c: secrets ---------------------------------------------- */

/* cfg_store_str, except that an F_SECRET key gets no-dump pages of its own. */
int cfg_store_key_str(struct parse *p, const struct key_def *k, char **field,
		      const char *s, size_t len);
/* A KT_FILE key: the secret read from a file only its owner can access. */
int cfg_set_file(struct parse *p, const struct key_def *k, char **field,
		 const char *val);
/* [fleet] secrets_key_file, secrets_previous_key_file: exactly
 * LIMIT_FLEET_KEY_BYTES raw bytes from a file only its owner can access. */
int cfg_set_fleet_key(struct parse *p, const char *val);
int cfg_set_fleet_previous_key(struct parse *p, const char *val);

/* ---- config_hosts.c: addresses, host names, the host table ----------------- */

/* The setters of the keys that name hosts (the key table points at them). */
int cfg_set_listen(struct parse *p, const char *val);
int cfg_set_listen_tls(struct parse *p, const char *val);
int cfg_set_admin_listen(struct parse *p, const char *val);
int cfg_set_hosts(struct parse *p, const char *val);
int cfg_set_url(struct parse *p, const char *val);
/* 127.0.0.0/8, ::1 or "localhost". */
bool cfg_is_loopback(const char *host);
/* A new zeroed host table for n keys (open addressing, lower-case keys,
 * at most half full; cfg_slot_find in core/config.h), its mask in *mask
 * (NULL: out of memory). */
struct cfg_host_slot *cfg_table_new(size_t n, size_t *mask);

/* ---- config_check.c: checks once a file, or every file, is read ------------ */

/* Each returns 0 or ld->rc (the error recorded). */
int cfg_server_finish(struct load *ld);
int cfg_cache_finish(struct load *ld);
int cfg_admin_finish(struct load *ld);
int cfg_fleet_finish(struct load *ld);
int cfg_zone_finish(struct load *ld, struct cfg_zone *z, struct zone_lines *zl);
int cfg_check_zones(struct load *ld);
int cfg_tls_finish(struct load *ld);

#endif /* EDGECACHE_CONTROL_CONFIG_INT_H */
