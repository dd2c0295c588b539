/*
 * control/privdrop.h — running as an unprivileged user after start-up:
 * [server] user (and group), like nginx's `user` directive.
 *
 * Owns: nothing past the call; the process's credentials change.
 * Called by: main (privdrop_check, before anything is opened, so an
 * unknown name refuses start at once; also for -t), main and server_run
 * (privdrop_assume around reading the config and building the runtime:
 * the certificates, keys and secret files are read with the user's
 * rights at start as at every reload after the drop — the same files
 * load or fail alike, and root never opens a path a zone file names), and
 * the control thread (privdrop_to, once the listeners, the cache files
 * and the logs are open and the shards run: glibc applies set*id to every
 * thread).
 * The drop comes after the shards start (their rings are set up, their
 * listeners bound as root): io_uring runs a request's async work with the
 * credentials its submitter has at submit time, so io-wq workers made
 * before the drop act as the user for every request after it; READY (and
 * so traffic routed by the manager) waits for the drop.
 * Never: leaves a way back — after privdrop_to the real, effective and
 * saved ids are the user's and setuid(0) fails, or the call fails and
 * start-up stops; never keeps root's supplementary groups.
 */
#ifndef EDGECACHE_CONTROL_PRIVDROP_H
#define EDGECACHE_CONTROL_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct privdrop_ids {
	const char *user;                   /* NULL: nothing to drop */
	uid_t uid;
	gid_t gid;
};

/* Look user and group (NULL = the user's own) up. 0 (user NULL: ids->user
 * NULL), or -ENOENT with "[server] user = NAME: no such user" in err. */
int privdrop_resolve(const char *user, const char *group, struct privdrop_ids *ids,
		     char *err, size_t err_len);

/* privdrop_resolve, and this process can become them: it runs as root,
 * or as that user already. 0, -ENOENT or -EPERM with the reason in err. */
int privdrop_check(const char *user, const char *group, char *err, size_t err_len);

/* Become ids for good: the user's supplementary groups (initgroups), then
 * gid, then uid (all three ids each), then proof that root cannot be
 * regained. 0 (also ids->user NULL, or already that user), or -errno with
 * the reason in err. ids->user must outlive the call only. */
int privdrop_to(const struct privdrop_ids *ids, char *err, size_t err_len);

/* Take the rights of user (and group) for what follows, with a way back:
 * the user's supplementary groups, then the effective gid and uid; the
 * saved ids stay root's. Only when running as root (otherwise, or with
 * user NULL, nothing to do: 0). 0, or -errno (-ENOENT: unknown name) with
 * the reason in err. Before any thread but the caller's exists. */
int privdrop_assume(const char *user, const char *group, char *err, size_t err_len);
/* Back to root's effective ids (and no supplementary group) after
 * privdrop_assume; nothing if it assumed nothing. Aborts if the kernel
 * refuses, which the saved root ids rule out. */
void privdrop_unassume(void);

/* After the drop: a warning (error log) naming key when the directory of
 * path is not writable by us now — what will fail later (`fails`: a
 * checkpoint, the counters file), said at start. path NULL: nothing. */
void privdrop_warn_unwritable(const char *key, const char *path, const char *fails);

#endif
