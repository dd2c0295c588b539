/*
 * control/config_keys.c — the config's secrets: the S3 secret key and session
 * token (inline or from s3_*_file) and the admin token (token_file) —
 * read from files that group and others cannot access, kept in no-dump
 * pages of their own, wiped before they are freed. Contract in
 * core/config.h; the keys that name them are in config_read.c's table.
 * Never puts a secret's value in an error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config_int.h"
#include "sigv4/sigv4.h"

/* What a key allows fits what sigv4 signs with. */
_Static_assert(LIMIT_ACCESS_KEY_BYTES <= SIGV4_ACCESS_KEY_MAX, "access key");
_Static_assert(LIMIT_SECRET_BYTES <= SIGV4_SECRET_MAX, "secret");
_Static_assert(LIMIT_SESSION_TOKEN_BYTES <= SIGV4_TOKEN_MAX, "token");
_Static_assert(LIMIT_REGION_BYTES <= SIGV4_REGION_MAX, "region");
_Static_assert(LIMIT_SERVICE_BYTES <= SIGV4_SERVICE_MAX, "service");

/* cfg_store_str for an F_SECRET key: its own no-dump pages. */
int cfg_store_key_str(struct parse *p, const struct key_def *k, char **field,
		      const char *s, size_t len)
{
	if (!(k->flags & F_SECRET))
		return cfg_store_str(p, field, s, len);
	char *v = cfg_secret_dup(s, len);
	if (!v)
		return pfail_oom(p);
	cfg_secret_free(*field);
	*field = v;
	return 0;
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
int cfg_set_file(struct parse *p, const struct key_def *k, char **field,
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

/*
 * The fleet key: exactly LIMIT_FLEET_KEY_BYTES raw bytes (`head -c 32
 * /dev/urandom`), in a regular file group and others cannot access — it
 * decrypts every S3 secret of the fleet, so a readable file refuses the
 * start. Kept in no-dump pages like the secrets it guards.
 */
static int set_key32(struct parse *p, const char *name, char **key, char **path_out,
		     const char *val)
{
	char buf[LIMIT_FLEET_KEY_BYTES + 1], *path;
	const struct key_def k = { .name = name };
	struct stat st;
	size_t n = 0;
	int fd, rc;

	if (!*val)
		return pfail(p, name, "is empty");
	if (!(path = cfg_resolve_path(p->dir, val, false)))
		return pfail_oom(p);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;

		rc = cfg_load_fail(p->ld, -e, p->file, p->line, name, "\"%s\": %s", path,
				   strerror(e));
	} else if (!S_ISREG(st.st_mode)) {
		rc = pfail(p, name, "\"%s\" is not a regular file", path);
	} else if (st.st_mode & 077) {
		rc = pfail(p, name, "\"%s\" is accessible by group or others (mode %04o): "
			   "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	} else if (!(rc = read_all(p, &k, fd, buf, sizeof(buf), &n)) &&
		   n != LIMIT_FLEET_KEY_BYTES) {
		rc = pfail(p, name, "\"%s\" holds %s%zu bytes, not %d (head -c %d /dev/urandom)",
			   path, n > LIMIT_FLEET_KEY_BYTES ? "more than " : "",
			   n > LIMIT_FLEET_KEY_BYTES ? (size_t)LIMIT_FLEET_KEY_BYTES : n,
			   LIMIT_FLEET_KEY_BYTES, LIMIT_FLEET_KEY_BYTES);
	}
	if (fd >= 0)
		close(fd);
	if (!rc) {
		/* kept as hex: cfg_secret_free measures with strlen, which a
		 * raw key's NUL bytes would cut short */
		char hex[2 * LIMIT_FLEET_KEY_BYTES + 1];

		for (size_t i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)buf[i]);
		char *v = cfg_secret_dup(hex, 2 * n);

		explicit_bzero(hex, sizeof(hex));
		if (!v)
			rc = pfail_oom(p);
		cfg_secret_free(*key);
		*key = v;
	}
	explicit_bzero(buf, sizeof(buf));
	if (rc) {
		free(path);
		return rc;
	}
	free(*path_out);
	*path_out = path;
	return 0;
}

int cfg_set_fleet_key(struct parse *p, const char *val)
{
	struct cfg_fleet *f = &p->ld->cfg->fleet;

	return set_key32(p, "secrets_key_file", &f->secrets_key, &f->secrets_key_file, val);
}

int cfg_set_fleet_previous_key(struct parse *p, const char *val)
{
	struct cfg_fleet *f = &p->ld->cfg->fleet;

	return set_key32(p, "secrets_previous_key_file", &f->secrets_previous_key,
			 &f->secrets_previous_key_file, val);
}
