/*
 * tests/fuzz/fuzz_ini.c — target for the config loader (core/config.c):
 * a main file and one zone file written from the input, then cfg_load.
 *
 * Input: the main file's text, a NUL byte, the zone file's text (with no
 * NUL, the whole input is the zone file under a fixed main file). The
 * files live in a private directory (on tmpfs): edge.ini and zones/a.ini.
 * Checked, beyond "no crash, no leak" (ASan/LSan):
 *   - success gives a config and 0; failure a negative errno, no config,
 *     and a message shaped "file:line: key: what" (":line" and "key: "
 *     optional, as docs/CONFIG.md says) whose file is one of the two,
 *     whose line exists in it, and whose key and detail offset agree;
 *   - no secret value (s3_secret_key, s3_session_token) of the input is
 *     quoted in the message (bytes of it that are there must be the
 *     message's own words: they stay when the secret's letters change).
 * Inputs naming /dev, /proc, /sys or /run are skipped: a glob or secret
 * file there could block (a FIFO, /dev/zero) and say nothing of the loader;
 * so are zones globs outside the directory (absolute, or with ".."): they
 * would read the host's files.
 * A broken promise aborts.
 *
 * Built with clang -fsanitize=fuzzer when meson's `fuzz` option is on;
 * otherwise fuzz_main.c drives it as a replay + mutation test.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config_load.h"
#include "core/log.h"

#include "tests/fuzz/fuzz.h"

#define MAIN_DEFAULT "[server]\nlisten = 127.0.0.1:8080\nzones = zones/*.ini\n"

static char dir[32];
static char main_path[64], zone_path[64], zones_dir[64];

static void cleanup(void)
{
	unlink(zone_path);
	rmdir(zones_dir);
	unlink(main_path);
	rmdir(dir);
}

static void setup(void)
{
	/* tmpfs if there is one: a load is mostly file system calls, which
	 * ext4 makes 30 times slower */
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz_ini.XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_ini.XXXXXX");
		FUZZ_ASSERT(mkdtemp(dir));
	}
	snprintf(main_path, sizeof(main_path), "%s/edge.ini", dir);
	snprintf(zones_dir, sizeof(zones_dir), "%s/zones", dir);
	snprintf(zone_path, sizeof(zone_path), "%s/zones/a.ini", dir);
	FUZZ_ASSERT(mkdir(zones_dir, 0700) == 0);
	atexit(cleanup);
	log_level_max = LOG_ERROR;      /* the loader's warnings are noise here */
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "w");

	FUZZ_ASSERT(f);
	FUZZ_ASSERT(fwrite(p, 1, n, f) == n);
	FUZZ_ASSERT(fclose(f) == 0);
}

static bool has(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* Lines in p[0..n): a last line without newline counts. */
static size_t lines(const uint8_t *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k + (n > 0 && p[n - 1] != '\n');
}

/* A "secret-key = value" line's value (≥ 6 bytes, found once in all the
 * input, so no other key may legitimately echo it) that is in msg: its
 * offset in `all` and length. False when there is none. */
static bool quoted_secret(const uint8_t *all, size_t all_n, const uint8_t *p, size_t n,
			  const char *msg, size_t *off, size_t *len)
{
	static const char *const keys[] = { "s3_secret_key", "s3_session_token" };
	size_t i = 0;

	while (i < n) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) : n;
		for (size_t k = 0; k < 2; k++) {
			size_t kl = strlen(keys[k]), at = i;
			if (end - i < kl || memcmp(p + i, keys[k], kl) != 0)
				continue;
			at += kl;
			while (at < end && (p[at] == ' ' || p[at] == '\t'))
				at++;
			if (at == end || p[at] != '=')
				continue;
			for (at++; at < end && (p[at] == ' ' || p[at] == '\t'); at++)
				;
			size_t vl = end - at;
			while (vl && (p[at + vl - 1] == '\r' || p[at + vl - 1] == ' '))
				vl--;
			if (vl < 6 || memmem(p + at + vl, all + all_n - (p + at + vl), p + at, vl) ||
			    memmem(all, (size_t)(p + at - all), p + at, vl))
				continue;               /* short, or not only here */
			if (memmem(msg, strlen(msg), p + at, vl)) {
				*off = (size_t)(p + at - all);
				*len = vl;
				return true;
			}
		}
		i = end + 1;
	}
	return false;
}

/* A line "zones = VALUE" (any spacing, '=' or ':') whose value is
 * absolute or climbs with "..". */
static bool glob_outside(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; ) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) : n, at = i;
		while (at < end && (p[at] == ' ' || p[at] == '\t'))
			at++;
		if (end - at > 5 && memcmp(p + at, "zones", 5) == 0) {
			for (at += 5; at < end && (p[at] == ' ' || p[at] == '\t'); at++)
				;
			if (at < end && (p[at] == '=' || p[at] == ':')) {
				for (at++; at < end && (p[at] == ' ' || p[at] == '\t'); at++)
					;
				if ((at < end && p[at] == '/') || memmem(p + at, end - at, "..", 2))
					return true;
			}
		}
		i = end + 1;
	}
	return false;
}

/* "file:line: key: detail" with file one of ours and line in it. */
static void check_msg(const struct cfg_error *e, const uint8_t *mp, size_t mn,
		      const uint8_t *zp, size_t zn)
{
	const char *m = e->msg, *files[2] = { main_path, zone_path };
	size_t max_line[2] = { lines(mp, mn), lines(zp, zn) };
	int which = -1;

	for (int f = 0; f < 2 && which < 0; f++)
		if (strncmp(m, files[f], strlen(files[f])) == 0 && m[strlen(files[f])] == ':')
			which = f;
	/* Another file under the directory: a zones glob the input changed
	 * (matching the main file or the zones/ directory itself). */
	const char *s = which >= 0 ? m + strlen(files[which]) + 1 : strchr(m, ':');
	if (strncmp(m, dir, strlen(dir)) != 0 || m[strlen(dir)] != '/' || !s) {
		fprintf(stderr, "fuzz_ini: message \"%s\"\n", m);
		FUZZ_ASSERT(!"the message names one of the files");
	}
	if (which < 0)
		s++;
	if (*s >= '0' && *s <= '9') {
		char *end;
		unsigned long line = strtoul(s, &end, 10);
		FUZZ_ASSERT(*s != '0' && line >= 1);
		FUZZ_ASSERT(which < 0 || line <= max_line[which] + 1);
		FUZZ_ASSERT(*end == ':');
		s = end + 1;
	}
	FUZZ_ASSERT(*s == ' ');
	s++;
	if (e->s3_conflict) {
		/* the same-credentials rule: the prefix names the section, key
		 * the first setting that differs (config.h) */
		FUZZ_ASSERT(*s == '[' && e->key[0]);
	} else if (e->key[0]) {
		/* err->key is bounded (a long unknown key is cut there): the
		 * message's key starts with it and ends at detail */
		size_t kl = strlen(e->key);
		if (strncmp(s, e->key, kl) != 0)
			fprintf(stderr, "fuzz_ini: message \"%s\", key \"%s\"\n", m, e->key);
		FUZZ_ASSERT(strncmp(s, e->key, kl) == 0);
		if (kl < sizeof(e->key) - 1)
			FUZZ_ASSERT(s[kl] == ':' && s[kl + 1] == ' ');
		FUZZ_ASSERT(e->detail >= (size_t)(s - m) + kl + 2 && e->detail < sizeof(e->msg));
		FUZZ_ASSERT(m[e->detail - 2] == ':' && m[e->detail - 1] == ' ');
		s = m + e->detail;
	} else {
		FUZZ_ASSERT(e->detail == (size_t)(s - m));
	}
	FUZZ_ASSERT(*s != '\0');
	for (const char *c = m; *c; c++)      /* one line, as a log line */
		FUZZ_ASSERT(*c != '\n' && *c != '\r');
}

/* Write the two files from the input and load them. */
static int load(const uint8_t *data, size_t size, struct cfg_error *err,
		const uint8_t **mp, size_t *mn, const uint8_t **zp, size_t *zn)
{
	const uint8_t *nul = memchr(data, 0, size);
	struct cfg *cfg = NULL;

	*mp = (const uint8_t *)MAIN_DEFAULT;
	*mn = strlen(MAIN_DEFAULT);
	*zp = data;
	*zn = size;
	if (nul) {
		*mp = data;
		*mn = (size_t)(nul - data);
		*zp = nul + 1;
		*zn = size - *mn - 1;
	}
	write_file(main_path, *mp, *mn);
	write_file(zone_path, *zp, *zn);
	memset(err, 0, sizeof(*err));
	int rc = cfg_load(main_path, &cfg, err);
	if (rc == 0) {
		FUZZ_ASSERT(cfg != NULL);
		cfg_free(cfg);
	} else {
		FUZZ_ASSERT(rc < 0 && cfg == NULL);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static struct cfg_error err, err2;
	const uint8_t *mp, *zp;
	size_t mn, zn, off, len;

	const uint8_t *nul = memchr(data, 0, size);

	if (has(data, size, "/dev") || has(data, size, "/proc") ||
	    has(data, size, "/sys") || has(data, size, "/run") ||
	    (nul && glob_outside(data, (size_t)(nul - data))))
		return 0;
	if (!ready) {
		setup();
		ready = true;
	}
	if (load(data, size, &err, &mp, &mn, &zp, &zn) == 0)
		return 0;
	check_msg(&err, mp, mn, zp, zn);
	if (!quoted_secret(data, size, data, size, err.msg, &off, &len))
		return 0;
	/* The secret's bytes are in the message: they must be its own words
	 * ("[zone]"), which stay when the secret's letters change. */
	uint8_t *other = malloc(size);
	FUZZ_ASSERT(other);
	memcpy(other, data, size);
	for (size_t i = off; i < off + len; i++)
		if ((other[i] >= 'a' && other[i] <= 'z') || (other[i] >= 'A' && other[i] <= 'Z') ||
		    (other[i] >= '0' && other[i] <= '9'))
			other[i] = other[i] == 'Q' ? 'R' : 'Q';
	(void)load(other, size, &err2, &mp, &mn, &zp, &zn);
	free(other);
	if (!memmem(err2.msg, strlen(err2.msg), data + off, len))
		fprintf(stderr, "fuzz_ini: a secret is quoted: \"%s\"\n", err.msg);
	FUZZ_ASSERT(memmem(err2.msg, strlen(err2.msg), data + off, len));
	return 0;
}
