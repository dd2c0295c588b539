/*
 * tests/unit/test_runtime_wipe.c — a credential snapshot's secrets are
 * wiped before their pages go back to the kernel: rt_creds_free (a
 * credentials object replaced by a rotation), rt_free (each origin's
 * current credentials object) and the cfg_free it ends with (the config's no-dump
 * copies of the secret and the session token).
 *
 * munmap is wrapped (-Wl,--wrap=munmap, so only calls from our objects):
 * each region is searched for the secret and the token before it is
 * unmapped. Unmapped memory cannot be read afterwards, so this is the one
 * place the wipe is observable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "control/config_load.h"
#include "edge/runtime.h"
#include "sigv4/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/wipe-me-before-munmap"
#define TOKEN  "FwoGZXIvYXdzEXAMPLE-token-wipe-me-too"

int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);

static int unmapped, unmapped_with_secret;

int __wrap_munmap(void *addr, size_t len)
{
	unmapped++;
	if (memmem(addr, len, SECRET, strlen(SECRET)) || memmem(addr, len, TOKEN, strlen(TOKEN)))
		unmapped_with_secret++;
	return __real_munmap(addr, len);
}

/* The test's files: owner-only, as secret files must be. */
static void put(const char *path, const char *text)
{
	check_put(path, text, 0600);
}

int main(void)
{
	char dir[] = "/tmp/test_runtime_wipe.XXXXXX";
	struct cfg_error cerr;
	struct cfg *cfg = NULL;
	struct runtime *rt = NULL;
	char err[256];

	if (!mkdtemp(dir) || chdir(dir) != 0 || mkdir("zones", 0700) != 0) {
		perror("test_runtime_wipe: temp dir");
		return 1;
	}
	put("edge.ini", "[server]\nlisten = 127.0.0.1:8080\nzones = zones/*.ini\n");
	put("secret", SECRET "\n");
	put("token", TOKEN "\n");
	put("zones/a.ini", "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n"
	    "hosts = *\n[origin o]\nurl = http://127.0.0.1:8081\nbase_path = /bucket\n"
	    "s3_auth_enabled = true\ns3_access_key = AKIDEXAMPLE\n"
	    "s3_secret_key_file = ../secret\ns3_session_token_file = ../token\n"
	    "s3_region = us-east-1\n");
	int rc = cfg_load("edge.ini", &cfg, &cerr);
	CHECK_EQ_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "cfg_load: %s\n", cerr.msg);
	if (rc == 0) {
		rc = rt_build(cfg, NULL, 2, 1, time(NULL), &rt, err, sizeof(err));
		CHECK_EQ_INT(rc, 0);
		if (rc != 0)
			fprintf(stderr, "rt_build: %s\n", err);
	}
	if (rc == 0) {
		/* The secrets are where the wipe has to find them. */
		const struct origin_creds *c = rt_creds(&rt->origins[0]);
		CHECK(c != NULL);
		if (!c)
			return check_exit();
		CHECK(memmem(c, c->map_bytes, SECRET, strlen(SECRET)) != NULL);
		CHECK(memmem(c, c->map_bytes, TOKEN, strlen(TOKEN)) != NULL);
		/* A credentials object freed alone (as the epoch domain frees a
		 * replaced one) is wiped too. */
		struct origin_creds *other;
		CHECK_EQ_INT(rt_creds_new(&cfg->zones[0].origins[0], 2, 2, time(NULL), &other, err,
					  sizeof(err)), 0);
		CHECK(memmem(other, other->map_bytes, SECRET, strlen(SECRET)) != NULL);
		rt_creds_free(other);
		CHECK_EQ_INT(unmapped, 1);
		CHECK_EQ_INT(unmapped_with_secret, 0);
		CHECK_EQ_STR(cfg->zones[0].origins[0].s3_secret_key, SECRET);
		CHECK_EQ_STR(cfg->zones[0].origins[0].s3_session_token, TOKEN);
		rt_free(rt);    /* the only runtime of cfg: frees cfg too */
		/* the snapshot's creds, the config's secret, its token */
		CHECK(unmapped >= 3);
		CHECK_EQ_INT(unmapped_with_secret, 0);
		fprintf(stderr, "%d regions unmapped, %d still holding a secret\n", unmapped,
			unmapped_with_secret);
	}
	unlink("zones/a.ini");
	rmdir("zones");
	unlink("token");
	unlink("secret");
	unlink("edge.ini");
	if (chdir("/") == 0)
		rmdir(dir);
	return check_exit();
}
