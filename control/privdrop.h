/*
 * control/privdrop.h — running as an unprivileged user after start-up:
 * [server] user (and group), like nginx's `user` directive.
 *
 * Owns: nothing past the call; the process's credentials change.
 * Called by: main (privdrop_check, before anything is opened, so an
 * unknown name refuses start at once; also for -t) and the control thread
 * (privdrop_to, once the listeners, the cache files and the logs are
 * open and the shards run: glibc applies set*id to every thread).
 * Never: leaves a way back — after privdrop_to the real, effective and
 * saved ids are the user's and setuid(0) fails, or the call fails and
 * start-up stops; never keeps root's supplementary groups.
 */
#ifndef EDGECACHE_CONTROL_PRIVDROP_H
#define EDGECACHE_CONTROL_PRIVDROP_H

#include <stddef.h>

/* user NULL: nothing to drop, 0. Else 0 when user (and group, NULL = the
 * user's own) exist and this process can become them: it runs as root,
 * or as that user already; -ENOENT / -EPERM with the reason in err. */
int privdrop_check(const char *user, const char *group, char *err, size_t err_len);

/* Become user:group for good: the user's supplementary groups
 * (initgroups), then gid, then uid (all three ids each), then proof that
 * root cannot be regained. 0 (also user NULL, or already that user), or
 * -errno with the reason in err. */
int privdrop_to(const char *user, const char *group, char *err, size_t err_len);

#endif
