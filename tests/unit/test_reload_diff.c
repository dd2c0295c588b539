/*
 * tests/unit/test_reload_diff.c — what a SIGHUP compares before it chooses
 * between swapping credentials in place and building a snapshot
 * (edge/runtime.h rt_cfg_creds_only, rt_files_same; control/server.c
 * reload).
 *
 * rt_cfg_creds_only: a config is loaded from files, then again after one
 * edit; each credential edit (secret file content, access key, region,
 * session token, the admin token file) keeps it true, each other edit of
 * every section (a server timeout, a listen, [cache] and [admin] keys, a
 * zone key, an origin key, an origin added, zones reordered) makes it false.
 * rt_files_same: a snapshot built with a zone certificate and an https
 * origin's ca_file stays "same" when the files are rewritten with the same
 * bytes, and not when a byte is added, a file replaced by another
 * certificate, or removed. Skips (77) without the openssl CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "control/config_load.h"
#include "edge/runtime.h"
#include "tls_certs.h"

#define MAIN "[server]\nlisten = 127.0.0.1:8080\nzones = zones/*.ini\n"
#define ZONE_A "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\nhosts = *\n"
#define ZONE_B "[zone]\nname = b\nuuid = 00000000-0000-0000-0000-00000000000b\n" \
	       "hosts = b.test\n[origin p]\nurl = http://127.0.0.1:8082\n"
#define S3 "[origin o]\nurl = http://127.0.0.1:8081\nbase_path = /bucket\n" \
	   "s3_auth_enabled = true\ns3_secret_key_file = ../secret\n"
#define KEY "s3_access_key = AKIDEXAMPLE\n"
#define REGION "s3_region = us-east-1\n"

static struct cfg *load(int line)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;

	if (cfg_load("edge.ini", &cfg, &err) < 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: cfg_load: %s\n", __FILE__, line, err.msg);
		return NULL;
	}
	return cfg;
}

/* The base files: one S3 origin in zone a, a plain one in zone b. */
static void base(void)
{
	check_put("edge.ini", MAIN "[admin]\ntoken_file = token\n", 0644);
	check_put("token", "admin-token-0123456789\n", 0600);
	check_put("secret", "secret-one\n", 0600);
	check_put("zones/a.ini", ZONE_A S3 KEY REGION, 0644);
	check_put("zones/b.ini", ZONE_B, 0644);
}

struct edit {
	const char *what, *file, *text;
	bool creds_only;
};

static const struct edit edits[] = {
	{ "nothing", NULL, NULL, true },
	{ "the secret file's content", "secret", "secret-two\n", true },
	{ "s3_access_key", "zones/a.ini", ZONE_A S3 "s3_access_key = AKIDOTHER\n" REGION, true },
	{ "s3_region", "zones/a.ini", ZONE_A S3 KEY "s3_region = eu-west-1\n", true },
	{ "s3_session_token added", "zones/a.ini",
	  ZONE_A S3 KEY REGION "s3_session_token = tok-abc\n", true },
	{ "the admin token file", "token", "admin-token-abcdefghij\n", true },
	{ "a server timeout", "edge.ini",
	  MAIN "idle_timeout_ms = 12345\n[admin]\ntoken_file = token\n", false },
	{ "a second listen", "edge.ini",
	  "[server]\nlisten = 127.0.0.1:8080, 127.0.0.1:8090\nzones = zones/*.ini\n"
	  "[admin]\ntoken_file = token\n", false },
	{ "the admin listen", "edge.ini",
	  MAIN "[admin]\nlisten = 127.0.0.1:9999\ntoken_file = token\n", false },
	{ "log_level", "edge.ini", MAIN "log_level = debug\n[admin]\ntoken_file = token\n", false },
	{ "a zone's default_ttl", "zones/a.ini",
	  ZONE_A "default_ttl = 7\n" S3 KEY REGION, false },
	{ "a zone's hosts", "zones/b.ini",
	  "[zone]\nname = b\nuuid = 00000000-0000-0000-0000-00000000000b\n"
	  "hosts = b.test, c.test\n[origin p]\nurl = http://127.0.0.1:8082\n", false },
	{ "an origin's read_timeout_ms", "zones/a.ini",
	  ZONE_A S3 KEY REGION "read_timeout_ms = 777\n", false },
	{ "an origin's url", "zones/b.ini",
	  "[zone]\nname = b\nuuid = 00000000-0000-0000-0000-00000000000b\n"
	  "hosts = b.test\n[origin p]\nurl = http://127.0.0.1:8083\n", false },
	{ "an origin's probe_path", "zones/a.ini",
	  ZONE_A S3 KEY REGION "probe_path = /x\n", false },
	{ "an origin added", "zones/b.ini", ZONE_B "[origin q]\nurl = http://127.0.0.1:8084\n",
	  false },
	{ "a credential and a timeout", "zones/a.ini",
	  ZONE_A S3 "s3_access_key = AKIDOTHER\n" REGION "connect_timeout_ms = 99\n", false },
};

static void test_creds_only(void)
{
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const struct edit *e = &edits[i];

		base();
		struct cfg *a = load(__LINE__);
		if (e->file)
			check_put(e->file, e->text, strcmp(e->file, "secret") == 0 ||
			    strcmp(e->file, "token") == 0 ? 0600 : 0644);
		struct cfg *b = load(__LINE__);
		if (!a || !b) {
			fprintf(stderr, "  (edit: %s)\n", e->what);
		} else {
			struct runtime rt = { .magic = RUNTIME_MAGIC, .cfg = a };
			bool got = rt_cfg_creds_only(&rt, b);

			check_count++;
			if (got != e->creds_only) {
				check_failures++;
				fprintf(stderr, "%s: rt_cfg_creds_only %d, want %d\n", e->what, got,
					e->creds_only);
			}
		}
		cfg_free(a);
		cfg_free(b);
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[16384];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

static void test_files_same(void)
{
	char *ca = slurp(tlsc_path("ca.pem")), *ca2 = slurp(tlsc_path("ca2.pem"));
	char *cert = slurp(tlsc_path("origin.pem")), *key = slurp(tlsc_path("origin.key"));
	char zone[1024], errbuf[256];
	struct runtime *rt = NULL;

	check_put("ca.pem", ca, 0644);
	check_put("cert.pem", cert, 0644);
	check_put("cert.key", key, 0600);
	snprintf(zone, sizeof(zone), ZONE_A "tls_cert = ../cert.pem\ntls_key = ../cert.key\n"
		 "[origin o]\nurl = https://127.0.0.1:8443\nca_file = ../ca.pem\n");
	check_put("edge.ini", MAIN, 0644);
	check_put("zones/a.ini", zone, 0644);
	unlink("zones/b.ini");
	struct cfg *cfg = load(__LINE__);
	if (!cfg || rt_build(cfg, NULL, 1, 1, time(NULL), &rt, errbuf, sizeof(errbuf)) < 0) {
		check_failures++;
		fprintf(stderr, "rt_build: %s\n", cfg ? errbuf : "no config");
		goto out;
	}
	CHECK(rt_files_same(rt));
	check_put("ca.pem", ca, 0644);               /* rewritten, the same bytes */
	check_put("cert.pem", cert, 0644);
	check_put("cert.key", key, 0600);
	CHECK(rt_files_same(rt));
	check_put("ca.pem", ca2, 0644);              /* another CA */
	CHECK(!rt_files_same(rt));
	check_put("ca.pem", ca, 0644);
	CHECK(rt_files_same(rt));
	char *more = malloc(strlen(cert) + 2);
	if (more) {
		memcpy(more, cert, strlen(cert));
		memcpy(more + strlen(cert), "\n", 2);
		check_put("cert.pem", more, 0644);      /* one byte more */
		CHECK(!rt_files_same(rt));
		free(more);
	}
	check_put("cert.pem", cert, 0644);
	CHECK(rt_files_same(rt));
	check_put("cert.key", "", 0600);             /* the key emptied */
	CHECK(!rt_files_same(rt));
	check_put("cert.key", key, 0600);
	unlink("ca.pem");                      /* gone */
	CHECK(!rt_files_same(rt));
	rt_free(rt);                           /* frees cfg */
	cfg = NULL;
out:
	cfg_free(cfg);
	unlink("ca.pem");
	unlink("cert.pem");
	unlink("cert.key");
	unlink("zones/a.ini");
	free(ca);
	free(ca2);
	free(cert);
	free(key);
}

int main(void)
{
	char dir[] = "/tmp/test_reload_diff.XXXXXX";
	int rc = tlsc_make();

	if (rc)
		return rc == 77 ? 77 : 1;
	if (!mkdtemp(dir) || chdir(dir) != 0 || mkdir("zones", 0700) != 0) {
		perror("test_reload_diff: temp dir");
		return 1;
	}
	test_creds_only();
	test_files_same();
	unlink("zones/b.ini");
	unlink("zones/a.ini");
	rmdir("zones");
	unlink("secret");
	unlink("token");
	unlink("edge.ini");
	if (chdir("/") == 0)
		rmdir(dir);
	return check_exit();
}
