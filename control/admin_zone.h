/*
 * control/admin_zone.h — an admin change to a zone as a file: the zone's
 * INI text rebuilt from the running config plus the change, secrets in
 * 0600 files beside it, the whole config loaded with the candidate in
 * the zone's place (every rule of a SIGHUP load), and then the atomic
 * replacement of the zone file.
 *
 * Owns: the candidate files until commit or abort, and the candidate
 * struct cfg until the caller takes it.
 * Called by: control/admin.c on the control thread (blocks on file I/O and
 * fsync, as a SIGHUP reload does).
 * Never: writes a secret into the zone file, a message or a log.
 *
 * Crash safety: secrets go to new files (never overwritten), the zone
 * file is written to a temporary file, fsync'd, renamed over the old one
 * and the directory fsync'd. A crash at any point leaves the old file or
 * the new one, each naming secret files that exist. Secret files that no
 * longer serve are removed after the rename (a crash before that leaves
 * an unused 0600 file, nothing worse).
 */
#ifndef EDGECACHE_CONTROL_ADMIN_ZONE_H
#define EDGECACHE_CONTROL_ADMIN_ZONE_H

#include <limits.h>
#include <linux/limits.h>     /* PATH_MAX */
#include <stddef.h>

#include "control/admin_req.h"
#include "control/config_load.h"

enum admin_op { ADMIN_OP_CREATE, ADMIN_OP_UPDATE, ADMIN_OP_DELETE };

struct admin_commit {
	struct cfg *cfg;                         /* the loaded candidate */
	char zone_file[PATH_MAX];
	char tmp[PATH_MAX];                      /* candidate zone file */
	char *new_secrets[2 * LIMIT_ZONE_ORIGINS]; /* written for the candidate */
	size_t n_new;
	char *old_secrets[2 * LIMIT_ZONE_ORIGINS]; /* removed after the rename */
	size_t n_old;
	char origin_uuid[37];                    /* created / updated origin */
};

/*
 * Build and validate the candidate for zone zi of cur (the running
 * config, loaded from main_file): op on origin oi (UPDATE, DELETE) or a
 * new origin (CREATE) with the decoded body `in` (NULL for DELETE).
 * 0 and *c ready for commit or abort, or the error status with e filled
 * (409 for the same-credentials rule and a zone's last origin, 422 a bad
 * value naming the field, 500 a file that cannot be written) and nothing
 * left behind on disk.
 */
int admin_zone_prepare(const struct cfg *cur, const char *main_file, size_t zi,
		       enum admin_op op, size_t oi, const struct admin_origin_in *in,
		       struct admin_commit *c, struct admin_err *e);

/* Rename the candidate over the zone file and fsync the directory; then
 * remove the secret files the zone no longer names. 0 or 500 in e (the
 * candidate is then aborted). c->cfg stays the caller's either way. */
int admin_zone_commit(struct admin_commit *c, struct admin_err *e);

/* A random (version 4) uuid for a new origin: 0, or -EIO (no random bytes). */
int admin_new_uuid(char out[37]);

/* Remove the candidate files and free c->cfg (if still set). */
void admin_zone_abort(struct admin_commit *c);

#endif /* EDGECACHE_CONTROL_ADMIN_ZONE_H */
