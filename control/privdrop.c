/*
 * control/privdrop.c — see privdrop.h.
 */
#include "control/privdrop.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <limits.h>
#include <stdbool.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"

/* getpwnam_r/getgrnam_r into a heap buffer that grows on ERANGE (a group
 * with many members outgrows any fixed size), up to LIMIT_PRIVDROP_NSS_BYTES.
 * 0 with *found set (NULL: no such name), or -errno. */
static int lookup(const char *name, bool is_group, struct passwd *pw, struct group *gr,
		  void **found)
{
	size_t len = 4096;
	int r;

	for (;;) {
		char *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		r = is_group ? getgrnam_r(name, gr, buf, len, (struct group **)found)
			     : getpwnam_r(name, pw, buf, len, (struct passwd **)found);
		/* only the ids are used: the strings may go with the buffer */
		free(buf);
		if (r != ERANGE || len >= LIMIT_PRIVDROP_NSS_BYTES)
			return r ? -r : 0;
		len *= 2;
	}
}

int privdrop_resolve(const char *user, const char *group, struct privdrop_ids *ids,
		     char *err, size_t err_len)
{
	struct passwd pw;
	struct group gr;
	void *found = NULL;

	ids->user = user;
	if (!user)
		return 0;
	int r = lookup(user, false, &pw, &gr, &found);
	if (!found) {
		snprintf(err, err_len, "[server] user = %s: %s", user,
			 r ? strerror(-r) : "no such user");
		return r ? r : -ENOENT;
	}
	ids->uid = pw.pw_uid;
	ids->gid = pw.pw_gid;
	if (!group)
		return 0;
	found = NULL;
	r = lookup(group, true, &pw, &gr, &found);
	if (!found) {
		snprintf(err, err_len, "[server] group = %s: %s", group,
			 r ? strerror(-r) : "no such group");
		return r ? r : -ENOENT;
	}
	ids->gid = gr.gr_gid;
	return 0;
}

static bool already(const struct privdrop_ids *ids)
{
	return geteuid() == ids->uid && getuid() == ids->uid && getegid() == ids->gid;
}

int privdrop_check(const char *user, const char *group, char *err, size_t err_len)
{
	struct privdrop_ids ids;

	int r = privdrop_resolve(user, group, &ids, err, err_len);
	if (r < 0 || !user)
		return r;
	if (geteuid() != 0 && !already(&ids)) {
		snprintf(err, err_len, "[server] user = %s: only root can become another user "
			 "(running as uid %u): start as root or drop the key", user,
			 (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/* The proof: no id is root's any more and asking for root back fails. */
static int cannot_regain(const struct privdrop_ids *ids, char *err, size_t err_len)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != ids->uid || eu != ids->uid || su != ids->uid ||
	    rg != ids->gid || eg != ids->gid || sg != ids->gid) {
		snprintf(err, err_len, "privilege drop: ids not all changed");
		return -EPERM;
	}
	if (ids->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, err_len, "privilege drop: root could be regained");
		return -EPERM;
	}
	return 0;
}

int privdrop_to(const struct privdrop_ids *ids, char *err, size_t err_len)
{
	if (!ids->user || already(ids))
		return 0;
	/* Groups before the uid: only root may change them. */
	if (initgroups(ids->user, ids->gid) < 0 || setresgid(ids->gid, ids->gid, ids->gid) < 0 ||
	    setresuid(ids->uid, ids->uid, ids->uid) < 0) {
		int e = errno;
		snprintf(err, err_len, "privilege drop to %s: %s", ids->user, strerror(e));
		return -e;
	}
	return cannot_regain(ids, err, err_len);
}

/* Set while privdrop_assume's ids are the effective ones. */
static bool assumed;

static void back_to_root(void)
{
	/* Cannot fail: the saved uid is root's (assume leaves it). */
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
		abort();
}

int privdrop_assume(const char *user, const char *group, char *err, size_t err_len)
{
	struct privdrop_ids ids;

	int r = privdrop_resolve(user, group, &ids, err, err_len);
	if (r < 0 || !user || geteuid() != 0 || ids.uid == 0)
		return r;
	/* Groups first, while euid is still root's; the saved ids stay 0. */
	if (initgroups(user, ids.gid) < 0 || setegid(ids.gid) < 0 || seteuid(ids.uid) < 0) {
		int e = errno;
		snprintf(err, err_len, "reading the config as %s: %s", user, strerror(e));
		back_to_root();
		return -e;
	}
	assumed = true;
	return 0;
}

void privdrop_unassume(void)
{
	if (assumed)
		back_to_root();
	assumed = false;
}

void privdrop_warn_unwritable(const char *key, const char *path, const char *fails)
{
	char copy[PATH_MAX];

	if (!path || snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return;
	const char *dir = dirname(copy);
	if (access(dir, W_OK | X_OK) < 0)
		log_warn("%s %s: directory %s is not writable by this user (uid %u): %s will fail",
			 key, path, dir, (unsigned)geteuid(), fails);
}
