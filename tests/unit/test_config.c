/*
 * tests/unit/test_config.c — cfg_load on config trees written under a
 * mkdtemp directory: every error path with its exact message, every limit
 * at the limit and one past it, and cfg_zone_by_host.
 *
 * Each case gets its own directory and is loaded from there as "edge.ini",
 * so messages read "edge.ini:4: ..." and "zones/a.ini:7: ...".
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config_load.h"
#include "core/log.h"
#include "check.h"

/* 3 lines, then the case's extra server keys from line 4. */
#define MAIN "[server]\nlisten = 127.0.0.1:8080\nzones = zones/*.ini\n"
/* 6 lines, then the case's extra origin keys from line 7. */
#define ZONE "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n" \
	     "hosts = a.example\n[origin o]\nurl = http://127.0.0.1:8081\n"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3 "s3_auth_enabled = true\ns3_access_key = AKIDEXAMPLE\n"

static char root[] = "/tmp/test_config.XXXXXX";
static int n_case;

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	chmod(path, mode);
}

/* A fresh directory with edge.ini and, unless NULL, zones/a.ini. */
static void new_case(const char *main_text, const char *zone_text)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "%s/c%d", root, ++n_case);
	if (mkdir(dir, 0700) || chdir(dir) || mkdir("zones", 0700)) {
		perror(dir);
		exit(1);
	}
	put("edge.ini", main_text, 0644);
	if (zone_text)
		put("zones/a.ini", zone_text, 0644);
}

static void expect_load_err(int line, int rc, const char *msg)
{
	struct cfg *cfg = NULL;
	struct cfg_error err = { 0 };
	int got = cfg_load("edge.ini", &cfg, &err);

	check_count += 2;
	if (got != rc || cfg) {
		check_failures++;
		fprintf(stderr, "%s:%d: rc %d, want %d\n", __FILE__, line, got, rc);
	}
	if (strcmp(err.msg, msg) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: message\n  got:  %s\n  want: %s\n", __FILE__, line,
			err.msg, msg);
	}
	CHECK(strstr(err.msg, SECRET) == NULL);
	cfg_free(cfg);
}

static struct cfg *expect_load_ok(int line)
{
	struct cfg *cfg = NULL;
	struct cfg_error err = { 0 };
	int rc = cfg_load("edge.ini", &cfg, &err);

	check_count++;
	if (rc != 0 || !cfg) {
		check_failures++;
		fprintf(stderr, "%s:%d: load failed (%d): %s\n", __FILE__, line, rc, err.msg);
	}
	return cfg;
}

#define ERR(main, zone, rc, msg) \
	do { new_case(main, zone); expect_load_err(__LINE__, rc, msg); } while (0)
#define SRV_ERR(extra, msg) ERR(MAIN extra, ZONE, -EINVAL, msg)
#define ORG_ERR(extra, msg) ERR(MAIN, ZONE extra, -EINVAL, msg)
#define OK(main, zone) (new_case(main, zone), expect_load_ok(__LINE__))

/* An ok case only checked for loading. */
static void ok_only(int line, const char *main_text, const char *zone_text)
{
	new_case(main_text, zone_text);
	cfg_free(expect_load_ok(line));
}
#define OK_ONLY(main, zone) ok_only(__LINE__, main, zone)

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][16384];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static void test_defaults(void)
{
	struct cfg *c = OK(MAIN, ZONE);
	const struct cfg_origin *o;

	if (!c)
		return;
	CHECK_EQ_INT(c->server.n_listens, 1);
	CHECK_EQ_STR(c->server.listens[0].host, "127.0.0.1");
	CHECK_EQ_INT(c->server.listens[0].port, 8080);
	CHECK_EQ_INT(c->server.workers, 0);
	CHECK_EQ_STR(c->server.zones_glob, "zones/*.ini");
	CHECK_EQ_INT(c->server.header_timeout_ms, LIMIT_HEADER_TIMEOUT_MS_DEFAULT);
	CHECK_EQ_INT(c->server.idle_timeout_ms, LIMIT_IDLE_TIMEOUT_MS_DEFAULT);
	CHECK_EQ_INT(c->server.send_timeout_ms, LIMIT_SEND_TIMEOUT_MS_DEFAULT);
	CHECK_EQ_INT(c->server.drain_timeout_ms, LIMIT_DRAIN_TIMEOUT_MS_DEFAULT);
	CHECK_EQ_INT(c->server.origin_backoff_ms, LIMIT_ORIGIN_BACKOFF_MS_DEFAULT);
	CHECK_EQ_INT(c->server.dns_refresh_ms, LIMIT_DNS_REFRESH_MS_DEFAULT);
	CHECK_EQ_INT(c->server.max_conns, LIMIT_MAX_CONNS_DEFAULT);
	CHECK_EQ_INT(c->server.max_body_bytes, LIMIT_MAX_BODY_BYTES_DEFAULT);
	CHECK_EQ_INT(c->server.send_zerocopy_bytes, 0);
	CHECK_EQ_INT(c->server.origin_pool, LIMIT_ORIGIN_POOL_DEFAULT);
	CHECK(c->server.access_log == NULL && c->server.error_log == NULL);
	CHECK(c->server.counters_file == NULL);
	CHECK_EQ_INT(c->server.log_level, LOG_INFO);
	CHECK_EQ_INT(c->n_zones, 1);
	CHECK_EQ_STR(c->zones[0].name, "a");
	CHECK_EQ_STR(c->zones[0].file, "zones/a.ini");
	CHECK_EQ_INT(c->zones[0].where.line, 1);
	CHECK_EQ_INT(c->zones[0].n_hosts, 1);
	CHECK(!c->zones[0].is_default && c->default_zone == NULL);
	CHECK_EQ_INT(c->zones[0].n_origins, 1);
	o = &c->zones[0].origins[0];
	CHECK_EQ_STR(o->name, "o");
	CHECK_EQ_STR(o->where.file, "zones/a.ini");
	CHECK_EQ_INT(o->where.line, 5);
	CHECK_EQ_INT(o->scheme, CFG_SCHEME_HTTP);
	CHECK_EQ_STR(o->host, "127.0.0.1");
	CHECK_EQ_INT(o->port, 8081);
	CHECK_EQ_STR(o->host_header, "127.0.0.1:8081");
	CHECK_EQ_STR(o->base_path, "");
	CHECK_EQ_INT(o->connect_timeout_ms, LIMIT_CONNECT_TIMEOUT_MS_DEFAULT);
	CHECK_EQ_INT(o->read_timeout_ms, LIMIT_READ_TIMEOUT_MS_DEFAULT);
	CHECK(!o->s3_auth_enabled && !o->s3_access_key && !o->s3_secret_key);
	CHECK(!o->s3_session_token);
	CHECK_EQ_STR(o->s3_region, "auto");
	CHECK_EQ_STR(o->s3_service, "s3");
	CHECK_EQ_INT(o->s3_payload, CFG_S3_PAYLOAD_EMPTY_HASH);
	CHECK_EQ_INT(o->s3_addressing, CFG_S3_ADDRESSING_PATH);
	cfg_free(c);
}

static void test_server_values(void)
{
	struct cfg *c = OK("[server]\nlisten = [::1]:80, *:8080,\n  localhost:1\n"
			   "  10.0.0.1:65535 ; comment\nworkers = 256\nzones = zones/*.ini\n"
			   "max_body_bytes = 64m\naccess_log = off\nerror_log = logs/e.log\n"
			   "counters_file = /run/c\nlog_level = debug\nidle_timeout_ms = 1\r\n"
			   "  ; indented comment\n\n# hash comment\n", ZONE);

	if (!c)
		return;
	CHECK_EQ_INT(c->server.n_listens, 4);
	CHECK_EQ_STR(c->server.listens[0].host, "::1");
	CHECK_EQ_STR(c->server.listens[1].host, "*");
	CHECK_EQ_STR(c->server.listens[2].host, "localhost");
	CHECK_EQ_STR(c->server.listens[3].host, "10.0.0.1");
	CHECK_EQ_INT(c->server.listens[3].port, 65535);
	CHECK_EQ_INT(c->server.workers, 256);
	CHECK_EQ_INT(c->server.max_body_bytes, 64LL << 20);
	CHECK_EQ_STR(c->server.access_log, "off");
	CHECK_EQ_STR(c->server.error_log, "logs/e.log");
	CHECK_EQ_STR(c->server.counters_file, "/run/c");
	CHECK_EQ_INT(c->server.log_level, LOG_DEBUG);
	CHECK_EQ_INT(c->server.idle_timeout_ms, 1);
	cfg_free(c);

	c = OK(MAIN "workers = 4 ; four\nerror_log = /a#b;c\naccess_log = x.log\n", ZONE);
	if (c) {
		CHECK_EQ_INT(c->server.workers, 4);
		CHECK_EQ_STR(c->server.error_log, "/a#b;c");
		CHECK_EQ_STR(c->server.access_log, "x.log");
		cfg_free(c);
	}
	/* relative paths follow the main file's directory */
	new_case(MAIN "access_log = a.log\n", ZONE);
	if (mkdir("etc", 0700) || rename("edge.ini", "etc/edge.ini") ||
	    rename("zones", "etc/zones"))
		perror("etc");
	{
		struct cfg_error err;

		c = NULL;
		CHECK_EQ_INT(cfg_load("etc/edge.ini", &c, &err), 0);
		if (c) {
			CHECK_EQ_STR(c->server.access_log, "etc/a.log");
			CHECK_EQ_STR(c->server.zones_glob, "etc/zones/*.ini");
			CHECK_EQ_STR(c->zones[0].file, "etc/zones/a.ini");
			cfg_free(c);
		}
	}
}

/* `head` (whose last line holds item 1) and continuation lines for items
 * 2..count: "  <pre><number><post>". Returns the length. */
static size_t list_text(char *text, size_t cap, const char *head, const char *pre,
			const char *post, int count)
{
	size_t n = (size_t)snprintf(text, cap, "%s", head);

	for (int i = 2; i <= count; i++)
		n += (size_t)snprintf(text + n, cap - n, "  %s%d%s\n", pre, i, post);
	return n;
}

#define MAIN_L(l) "[server]\nlisten = " l "\nzones = zones/*.ini\n"

static void test_listen(void)
{
	char text[4096];
	size_t n;
	static const char *const bad[][2] = {
		{ "127.0.0.1", "\"127.0.0.1\" has no port (host:port)" },
		{ "[::1", "\"[::1\" has '[' without ']'" },
		{ "[::1]x", "\"[::1]x\" has text after ']' that is not :port" },
		{ "[1.2.3.4]:80", "\"[1.2.3.4]:80\" is not a valid [IPv6] address" },
		{ "::1:80", "\"::1:80\" is an IPv6 address without brackets: write [address]:port" },
		{ "999.1.1.1:80", "\"999.1.1.1:80\" is not an IP address, \"*\" or a host name" },
		{ "a_b:80", "\"a_b:80\" is not an IP address, \"*\" or a host name" },
		{ ":80", "\":80\" has no host" },
		{ "127.0.0.1:0", "\"127.0.0.1:0\": port 0 is below the minimum 1" },
		{ "127.0.0.1:65536", "\"127.0.0.1:65536\": port 65536 is above the maximum 65535" },
		{ "127.0.0.1:http", "\"127.0.0.1:http\": port \"http\" is not a number" },
		{ "a:1, A:1", "\"A:1\" is listed twice" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERR(fmt(MAIN_L("%s"), bad[i][0]), ZONE, -EINVAL,
		    fmt("edge.ini:2: listen: %s", bad[i][1]));
	ERR(MAIN_L(""), ZONE, -EINVAL, "edge.ini:2: listen: no address given");
	ERR("[server]\nzones = zones/*.ini\n", ZONE, -EINVAL,
	    "edge.ini:1: [server]: listen is required");
	ERR("; nothing\n", ZONE, -EINVAL, "edge.ini: [server]: section missing");
	/* LIMIT_LISTEN_ADDRS at the limit and one past it, on continuation lines */
	n = list_text(text, sizeof(text), "[server]\nzones = zones/*.ini\nlisten = 127.0.0.1:1\n",
		      "127.0.0.1:", "", LIMIT_LISTEN_ADDRS);
	OK_ONLY(text, ZONE);
	list_text(text + n, sizeof(text) - n, "", "127.0.0.1:9", "", 2);
	ERR(text, ZONE, -EINVAL, fmt("edge.ini:%d: listen: more than %d addresses",
				     3 + LIMIT_LISTEN_ADDRS, LIMIT_LISTEN_ADDRS));
}

/* HTTPS visitors: the keys the loader checks without certificates (the
 * certificate checks run in tests/integration/test_visitor_tls.py). */
static void test_tls_keys(void)
{
	struct cfg *c = OK(MAIN, ZONE);

	if (c) {
		CHECK(c->server.n_listens_tls == 0);
		CHECK(c->server.tls_unknown_sni == CFG_SNI_DEFAULT);
		CHECK(c->server.tls_ticket_rotate_s == LIMIT_TLS_TICKET_ROTATE_S_DEFAULT);
		CHECK(c->server.tls_handshake_timeout_ms == LIMIT_TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT);
		cfg_free(c);
	}
	SRV_ERR("listen_tls = 127.0.0.1\n",
		"edge.ini:4: listen_tls: \"127.0.0.1\" has no port (host:port)");
	SRV_ERR("listen_tls = 127.0.0.1:8080\n",
		"edge.ini:4: listen_tls: \"127.0.0.1:8080\" is also in listen");
	SRV_ERR("listen_tls = 127.0.0.1:8443, 127.0.0.1:8443\n",
		"edge.ini:4: listen_tls: \"127.0.0.1:8443\" is listed twice");
	SRV_ERR("listen_tls = 127.0.0.1:8443\n",
		"edge.ini:4: listen_tls: no zone has tls_cert and tls_key");
	SRV_ERR("tls_unknown_sni = maybe\n",
		"edge.ini:4: tls_unknown_sni: \"maybe\" is not default or reject");
	OK_ONLY(MAIN "tls_unknown_sni = reject\n", ZONE);
	OK_ONLY(MAIN "tls_ticket_rotate = 1\n", ZONE);
	OK_ONLY(MAIN "tls_ticket_rotate = 1d\n", ZONE);
	SRV_ERR("tls_ticket_rotate = 0\n", "edge.ini:4: tls_ticket_rotate: 0 is below the minimum 1");
	SRV_ERR("tls_ticket_rotate = 86401\n",
		"edge.ini:4: tls_ticket_rotate: 86401 is above the maximum 86400");
#define ZONE_TLS(k) "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n" \
	"hosts = a.example\n" k "\n[origin o]\nurl = http://127.0.0.1:8081\n"
	ERR(MAIN, ZONE_TLS("tls_cert = a.pem"), -EINVAL,
	    "zones/a.ini:5: tls_cert: tls_key is required with it");
	ERR(MAIN, ZONE_TLS("tls_key = a.key"), -EINVAL,
	    "zones/a.ini:5: tls_key: tls_cert is required with it");
	ERR(MAIN, ZONE_TLS("tls_cert ="), -EINVAL, "zones/a.ini:5: tls_cert: is empty");
#undef ZONE_TLS
}

/* A zone with an ECDSA certificate made by the openssl CLI in root
 * (tls_cert and tls_key at absolute paths) and the keys k from line 7. */
static const char *zone_cert(const char *k)
{
	return fmt("[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n"
		   "hosts = a.example\ntls_cert = %s/t.pem\ntls_key = %s/t.key\n%s\n"
		   "[origin o]\nurl = http://127.0.0.1:8081\n", root, root, k);
}

/* tls_ciphers, tls_min_version: the policy of a zone's HTTPS visitors
 * (what each suite is refused for: tests/unit/test_tls.c). */
static void test_tls_policy(void)
{
	char list[LIMIT_TLS_CIPHERS_BYTES + 64];
	struct cfg *c;
	size_t n = 0, kept = 0;

#define ZONE_TLS(k) "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n" \
	"hosts = a.example\n" k "\n[origin o]\nurl = http://127.0.0.1:8081\n"
	ERR(MAIN, ZONE_TLS("tls_min_version = 1.1"), -EINVAL,
	    "zones/a.ini:5: tls_min_version: \"1.1\" is not 1.2 or 1.3");
	ERR(MAIN, ZONE_TLS("tls_min_version = 1.3"), -EINVAL,
	    "zones/a.ini:5: tls_min_version: the zone has no tls_cert for it to apply to");
	ERR(MAIN, ZONE_TLS("tls_ciphers = TLS13-AES128-GCM-SHA256"), -EINVAL,
	    "zones/a.ini:5: tls_ciphers: the zone has no tls_cert for it to apply to");
	ERR(MAIN, ZONE_TLS("tls_ciphers ="), -EINVAL, "zones/a.ini:5: tls_ciphers: is empty");
	ERR(MAIN, ZONE_TLS("tls_ciphers = A B"), -EINVAL,
	    "zones/a.ini:5: tls_ciphers: contains a space: separate suites with ':'");
#undef ZONE_TLS
	if (system(fmt("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		       "-keyout %s/t.key -out %s/t.pem -days 2 -subj /CN=a.example "
		       ">/dev/null 2>&1", root, root)) != 0 ||
	    chmod(fmt("%s/t.key", root), 0600) != 0) {
		fprintf(stderr, "SKIP test_tls_policy's cases with a certificate: no openssl CLI\n");
		return;
	}
	c = OK(MAIN, zone_cert(""));
	if (c) {
		CHECK(c->zones[0].tls_ciphers == NULL);
		CHECK(c->zones[0].tls_min_version == CFG_TLS_MIN_12);
		cfg_free(c);
	}
	c = OK(MAIN, zone_cert("tls_min_version = 1.3\n"
			       "tls_ciphers = TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES256-GCM-SHA384"));
	if (c) {
		CHECK(strcmp(c->zones[0].tls_ciphers,
			     "TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES256-GCM-SHA384") == 0);
		CHECK(c->zones[0].tls_min_version == CFG_TLS_MIN_13);
		cfg_free(c);
	}
	OK_ONLY(MAIN, zone_cert("tls_min_version = 1.2"));
	/* CBC: the operator's call */
	OK_ONLY(MAIN, zone_cert("tls_ciphers = TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA"));
	ERR(MAIN, zone_cert("tls_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-NULL-SHA"),
	    -EINVAL, "zones/a.ini:7: tls_ciphers: \"ECDHE-ECDSA-NULL-SHA\" is refused: a NULL "
	    "cipher: records are not encrypted");
	ERR(MAIN, zone_cert("tls_ciphers = ADH-AES128-SHA"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"ADH-AES128-SHA\" is refused: anonymous: no "
	    "certificate, anyone can pose as the edge");
	ERR(MAIN, zone_cert("tls_ciphers = EXP-RC4-MD5"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"EXP-RC4-MD5\" is refused: export grade");
	ERR(MAIN, zone_cert("tls_ciphers = HIGH"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"HIGH\" is not the name of a cipher suite in this "
	    "wolfSSL (keywords such as HIGH are not accepted: list suites by name)");
	ERR(MAIN, zone_cert("tls_ciphers = HIGH:!aNULL"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"HIGH\" is not the name of a cipher suite in this "
	    "wolfSSL (keywords such as HIGH are not accepted: list suites by name)");
	ERR(MAIN, zone_cert("tls_ciphers = !ECDHE-ECDSA-NULL-SHA"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"!ECDHE-ECDSA-NULL-SHA\": operators (!, +, @) are "
	    "not supported: list the suites to allow by name");
	ERR(MAIN, zone_cert("tls_min_version = 1.3\ntls_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256"),
	    -EINVAL, "zones/a.ini:8: tls_ciphers: has no TLS 1.3 suite: every client that offers "
	    "TLS 1.3 would fail (wolfSSL does not fall back to TLS 1.2 for want of one)");
	/* continued on indented lines (',' separates too), kept as one list */
	c = OK(MAIN, zone_cert("tls_ciphers = TLS13-AES128-GCM-SHA256\n"
			       "\tECDHE-ECDSA-AES128-GCM-SHA256,ECDHE-ECDSA-AES256-GCM-SHA384\n"
			       "\tECDHE-ECDSA-CHACHA20-POLY1305 ; a comment"));
	if (c) {
		CHECK(strcmp(c->zones[0].tls_ciphers, "TLS13-AES128-GCM-SHA256:"
			     "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
			     "ECDHE-ECDSA-CHACHA20-POLY1305") == 0);
		cfg_free(c);
	}
	ERR(MAIN, zone_cert("tls_ciphers = TLS13-AES128-GCM-SHA256\n\tADH-AES128-SHA"), -EINVAL,
	    "zones/a.ini:7: tls_ciphers: \"ADH-AES128-SHA\" is refused: anonymous: no "
	    "certificate, anyone can pose as the edge");
	/* the length at the limit and one past: 23 + 35 x 20 + 14 x 18 bytes of
	 * names and 49 ':', 5 names a line */
	for (int i = 0; i < 50; i++) {
		const char *name = i == 0 ? "TLS13-AES128-GCM-SHA256" :
				   i <= 35 ? "ECDHE-RSA-AES128-SHA" : "DHE-RSA-AES128-SHA";

		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
				      i == 0 ? "" : i % 5 ? ":" : "\n\t", name);
		kept += (i > 0) + strlen(name);
	}
	CHECK_EQ_INT(kept, LIMIT_TLS_CIPHERS_BYTES);
	OK_ONLY(MAIN, zone_cert(fmt("tls_ciphers = %s", list)));
	ERR(MAIN, zone_cert(fmt("tls_ciphers = %sX", list)), -EINVAL,
	    fmt("zones/a.ini:16: tls_ciphers: is longer than %d bytes", LIMIT_TLS_CIPHERS_BYTES));
}

/* LIMIT_CFG_ECHO_BYTES: a bad value is quoted whole up to the limit, cut
 * to it one past; a section name the same. */
static void test_echo_limit(void)
{
	char at[LIMIT_CFG_ECHO_BYTES + 1], past[LIMIT_CFG_ECHO_BYTES + 2];

	memset(at, 'x', LIMIT_CFG_ECHO_BYTES);
	at[LIMIT_CFG_ECHO_BYTES] = '\0';
	memset(past, 'x', LIMIT_CFG_ECHO_BYTES + 1);
	past[LIMIT_CFG_ECHO_BYTES + 1] = '\0';
	ERR(fmt(MAIN "origin_pool = %s\n", at), ZONE, -EINVAL,
	    fmt("edge.ini:4: origin_pool: \"%s\" is not a number", at));
	ERR(fmt(MAIN "origin_pool = %s\n", past), ZONE, -EINVAL,
	    fmt("edge.ini:4: origin_pool: \"%s\" is not a number", at));
	ERR(fmt(MAIN "[%s]\n", at), ZONE, -EINVAL,
	    fmt("edge.ini:4: [%s]: unknown section (the main file has [server], [cache], "
		"[admin] and [fleet])", at));
	ERR(fmt(MAIN "[%s]\n", past), ZONE, -EINVAL,
	    fmt("edge.ini:4: [%s]: unknown section (the main file has [server], [cache], "
		"[admin] and [fleet])", at));
}

static void test_server_keys(void)
{
	static const char *const ms[] = { "header_timeout_ms", "idle_timeout_ms",
		"send_timeout_ms", "drain_timeout_ms", "origin_backoff_ms", "dns_refresh_ms",
		"tls_handshake_timeout_ms" };

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		OK_ONLY(fmt(MAIN "%s = 1\n", ms[i]), ZONE);
		OK_ONLY(fmt(MAIN "%s = 3600000\n", ms[i]), ZONE);
		ERR(fmt(MAIN "%s = 0\n", ms[i]), ZONE, -EINVAL,
		    fmt("edge.ini:4: %s: 0 is below the minimum 1", ms[i]));
		ERR(fmt(MAIN "%s = 3600001\n", ms[i]), ZONE, -EINVAL,
		    fmt("edge.ini:4: %s: 3600001 is above the maximum 3600000", ms[i]));
		ERR(fmt(MAIN "%s = 10s\n", ms[i]), ZONE, -EINVAL,
		    fmt("edge.ini:4: %s: \"10s\" is not a number", ms[i]));
	}
	OK_ONLY(MAIN "workers = 1\n", ZONE);
	SRV_ERR("workers = 0\n", "edge.ini:4: workers: \"0\" is not \"auto\" or a number 1..256");
	SRV_ERR("workers = 257\n", "edge.ini:4: workers: \"257\" is not \"auto\" or a number 1..256");
	SRV_ERR("workers = lots\n", "edge.ini:4: workers: \"lots\" is not \"auto\" or a number 1..256");
	OK_ONLY(MAIN "max_conns = 16\n", ZONE);
	OK_ONLY(MAIN "max_conns = 1048576\n", ZONE);
	SRV_ERR("max_conns = 15\n", "edge.ini:4: max_conns: 15 is below the minimum 16");
	SRV_ERR("max_conns = 1048577\n",
		"edge.ini:4: max_conns: 1048577 is above the maximum 1048576");
	OK_ONLY(MAIN "send_zerocopy_bytes = 0\n", ZONE);
	OK_ONLY(MAIN "send_zerocopy_bytes = 1g\n", ZONE);
	SRV_ERR("send_zerocopy_bytes = 1073741825\n", "edge.ini:4: send_zerocopy_bytes: "
		"1073741825 is above the maximum 1073741824");
	OK_ONLY(MAIN "max_body_bytes = 0\n", ZONE);
	OK_ONLY(MAIN "max_body_bytes = 1099511627776\n", ZONE);
	OK_ONLY(MAIN "max_body_bytes = 1024G\n", ZONE);
	SRV_ERR("max_body_bytes = -1\n", "edge.ini:4: max_body_bytes: -1 is below the minimum 0");
	SRV_ERR("max_body_bytes = 1099511627777\n", "edge.ini:4: max_body_bytes: "
		"1099511627777 is above the maximum 1099511627776");
	SRV_ERR("max_body_bytes = 1025g\n", "edge.ini:4: max_body_bytes: "
		"1025g is above the maximum 1099511627776");
	SRV_ERR("max_body_bytes = 99999999999999999999\n", "edge.ini:4: max_body_bytes: "
		"99999999999999999999 is above the maximum 1099511627776");
	SRV_ERR("max_body_bytes = 64x\n", "edge.ini:4: max_body_bytes: "
		"\"64x\" is not a number (a k, m, g or t suffix is allowed)");
	SRV_ERR("max_body_bytes = m\n", "edge.ini:4: max_body_bytes: "
		"\"m\" is not a number (a k, m, g or t suffix is allowed)");
	SRV_ERR("max_body_bytes =\n", "edge.ini:4: max_body_bytes: "
		"\"\" is not a number (a k, m, g or t suffix is allowed)");
	OK_ONLY(MAIN "origin_pool = 0\n", ZONE);
	OK_ONLY(MAIN "origin_pool = 4096\n", ZONE);
	SRV_ERR("origin_pool = -1\n", "edge.ini:4: origin_pool: -1 is below the minimum 0");
	SRV_ERR("origin_pool = 4097\n", "edge.ini:4: origin_pool: 4097 is above the maximum 4096");
	SRV_ERR("origin_pool = 1k\n", "edge.ini:4: origin_pool: \"1k\" is not a number");
	SRV_ERR("log_level = verbose\n",
		"edge.ini:4: log_level: \"verbose\" is not error, warn, info or debug");
	SRV_ERR("access_log =\n", "edge.ini:4: access_log: is empty");
	SRV_ERR("error_log =\n", "edge.ini:4: error_log: is empty");
	SRV_ERR("counters_file =\n", "edge.ini:4: counters_file: is empty");
	/* user / group: names (control/privdrop.h looks them up), at the limit and one past */
	OK_ONLY(fmt(MAIN "user = %0*d\ngroup = %0*d\n", LIMIT_USER_NAME_BYTES, 0,
		    LIMIT_USER_NAME_BYTES, 0), ZONE);
	ERR(fmt(MAIN "user = %0*d\n", LIMIT_USER_NAME_BYTES + 1, 0), ZONE, -EINVAL,
	    "edge.ini:4: user: is longer than 32 bytes");
	ERR(fmt(MAIN "group = %0*d\n", LIMIT_USER_NAME_BYTES + 1, 0), ZONE, -EINVAL,
	    "edge.ini:4: group: is longer than 32 bytes");
	SRV_ERR("user = a b\n", "edge.ini:4: user: contains a space");
	SRV_ERR("user =\n", "edge.ini:4: user: is empty");
	SRV_ERR("zones = zones/*.ini\n", "edge.ini:4: zones: repeated (first at line 3)");
	ERR("[server]\nlisten = 127.0.0.1:1\n", ZONE, -EINVAL,
	    "edge.ini:1: [server]: zones is required (or a [fleet] section)");
	ERR("[server]\nlisten = 127.0.0.1:1\nzones = none/*.ini\n", ZONE, -ENOENT,
	    "edge.ini:3: zones: \"none/*.ini\" matches no file");
	ERR("[server]\nlisten = 127.0.0.1:1\nzones =\n", ZONE, -EINVAL,
	    "edge.ini:3: zones: is empty");
}

static void test_syntax(void)
{
	char line[512];

	SRV_ERR("name = x\n", "edge.ini:4: name: unknown key in [server]");
	SRV_ERR("Workers = 1\n", "edge.ini:4: Workers: unknown key in [server]");
	SRV_ERR("[storage]\n", "edge.ini:4: [storage]: unknown section "
		"(the main file has [server], [cache], [admin] and [fleet])");
	SRV_ERR("[origin x]\n", "edge.ini:4: [origin x]: unknown section "
		"(the main file has [server], [cache], [admin] and [fleet])");
	/* a control byte quoted from the file is '?': the message is one line
	 * (found by fuzz_ini) */
	SRV_ERR("[st\rorage]\n", "edge.ini:4: [st?orage]: unknown section "
		"(the main file has [server], [cache], [admin] and [fleet])");
	SRV_ERR("work\x01" "ers = 1\n", "edge.ini:4: work?ers: unknown key in [server]");
	SRV_ERR("[server]\n", "edge.ini:4: [server]: repeated (first at line 1)");
	SRV_ERR("workers = 1\nworkers = 2\n", "edge.ini:5: workers: repeated (first at line 4)");
	ERR("workers = 1\n" MAIN, ZONE, -EINVAL, "edge.ini:1: workers: key outside of any section");
	SRV_ERR("workers\n", "edge.ini:4: expected \"[section]\" or \"key = value\"");
	SRV_ERR("workers ; = 1\n", "edge.ini:4: expected \"[section]\" or \"key = value\"");
	SRV_ERR("= 1\n", "edge.ini:4: no key before '='");
	SRV_ERR("[server\n", "edge.ini:4: section header without ']'");
	SRV_ERR("[server] x\n", "edge.ini:4: text after the section header");
	/* continuation lines: only lists; inih would glue them to any key */
	SRV_ERR("workers = 1\n  2\n", "edge.ini:5: workers: indented line: "
		"only listen, listen_tls, hosts, path and tls_ciphers continue on indented lines");
	SRV_ERR("workers = 1\n\tmax_conns = 16\n", "edge.ini:5: workers: indented line: "
		"only listen, listen_tls, hosts, path and tls_ciphers continue on indented lines");
	ERR("[server]\n  listen = 127.0.0.1:1\nzones = zones/*.ini\n", ZONE, -EINVAL,
	    "edge.ini:2: indented line: only listen, listen_tls, hosts, path and tls_ciphers continue on indented lines");
	SRV_ERR("workers = 1\n  [x]\n", "edge.ini:5: indented section header");
	/* a line inih would cut: LIMIT_CONFIG_LINE_BYTES and one more */
	snprintf(line, sizeof(line), MAIN "error_log = /%0*d\n",
		 LIMIT_CONFIG_LINE_BYTES - 13, 0);
	OK_ONLY(line, ZONE);
	snprintf(line, sizeof(line), MAIN "error_log = /%0*d\n",
		 LIMIT_CONFIG_LINE_BYTES - 12, 0);
	ERR(line, ZONE, -EINVAL, "edge.ini:4: error_log: line is longer than 199 bytes");
	snprintf(line, sizeof(line), MAIN "%0*d\n", LIMIT_CONFIG_LINE_BYTES + 1, 0);
	ERR(line, ZONE, -EINVAL, "edge.ini:4: line is longer than 199 bytes");
	/* a NUL byte */
	new_case(MAIN, ZONE);
	{
		FILE *f = fopen("edge.ini", "a");

		fwrite("workers = 1\0\n", 1, 13, f);
		fclose(f);
	}
	expect_load_err(__LINE__, -EINVAL, "edge.ini:4: NUL byte in the line");
	{
		struct cfg *c = NULL;
		struct cfg_error err;

		CHECK_EQ_INT(cfg_load("/nonexistent/edge.ini", &c, &err), -ENOENT);
		CHECK_EQ_STR(err.msg, "/nonexistent/edge.ini: cannot open: No such file or directory");
		CHECK(c == NULL);
		CHECK_EQ_INT(cfg_load("/nonexistent/edge.ini", &c, NULL), -ENOENT);
	}
}

#define UUID_A "00000000-0000-0000-0000-00000000000a"
#define ZONE_H(h) "[zone]\nname = a\nuuid = " UUID_A "\nhosts = " h \
	"\n[origin o]\nurl = http://127.0.0.1:8081\n"
#define ORIGIN "[origin o]\nurl = http://127.0.0.1:8081\n"

static void test_zone(void)
{
	char text[8192];
	size_t n;
	struct cfg *c;

	c = OK(MAIN, "[zone]\nname = Zone_1.x-y\nuuid = ABCDEF00-0000-0000-0000-00000000000A\n"
	       "hosts = A.Example, *,\n  b.example\n" ORIGIN);
	if (c) {
		CHECK_EQ_STR(c->zones[0].name, "Zone_1.x-y");
		CHECK_EQ_STR(c->zones[0].uuid, "abcdef00-0000-0000-0000-00000000000a");
		CHECK_EQ_INT(c->zones[0].n_hosts, 3);
		CHECK_EQ_STR(c->zones[0].hosts[0], "a.example");
		CHECK_EQ_STR(c->zones[0].hosts[1], "*");
		CHECK(c->zones[0].is_default && c->default_zone == &c->zones[0]);
		cfg_free(c);
	}
	ERR(MAIN, ORIGIN, -EINVAL, "zones/a.ini: [zone]: section missing");
	ERR(MAIN, "[zone]\nuuid = " UUID_A "\nhosts = a.example\n" ORIGIN, -EINVAL,
	    "zones/a.ini:1: [zone]: name is required");
	ERR(MAIN, "[zone]\nname = a\nhosts = a.example\n" ORIGIN, -EINVAL,
	    "zones/a.ini:1: [zone]: uuid is required");
	ERR(MAIN, "[zone]\nname = a\nuuid = " UUID_A "\n" ORIGIN, -EINVAL,
	    "zones/a.ini:1: [zone]: hosts is required");
	ERR(MAIN, "[zone]\nname = a\nuuid = " UUID_A "\nhosts = a.example\n", -EINVAL,
	    "zones/a.ini:1: [zone]: at least one [origin NAME] is required");
	ERR(MAIN, ZONE_H(""), -EINVAL, "zones/a.ini:4: hosts: no host given");
	ERR(MAIN, ZONE "[zone]\n", -EINVAL, "zones/a.ini:7: [zone]: repeated (first at line 1)");
	ERR(MAIN, ZONE "[server]\n", -EINVAL, "zones/a.ini:7: [server]: unknown section "
	    "(a zone file has [zone] and [origin NAME])");
	ERR(MAIN, "[zone]\nlisten = 1\n", -EINVAL, "zones/a.ini:2: listen: unknown key in [zone]");
	ERR(MAIN, "[zone]\nname = a b\n", -EINVAL,
	    "zones/a.ini:2: name: \"a b\" is not 1..128 of A-Z a-z 0-9 . _ -");
	ERR(MAIN, "[zone]\nname =\n", -EINVAL,
	    "zones/a.ini:2: name: \"\" is not 1..128 of A-Z a-z 0-9 . _ -");
	/* LIMIT_NAME_BYTES at the limit and one past it */
	OK_ONLY(MAIN, fmt("[zone]\nname = %0*d\nuuid = " UUID_A "\nhosts = a.example\n" ORIGIN,
			  LIMIT_NAME_BYTES, 0));
	ERR(MAIN, fmt("[zone]\nname = %0*d\n", LIMIT_NAME_BYTES + 1, 0), -EINVAL,
	    fmt("zones/a.ini:2: name: \"%0*d\" is not 1..128 of A-Z a-z 0-9 . _ -", 64, 0));
	ERR(MAIN, "[zone]\nuuid = 1234\n", -EINVAL, "zones/a.ini:2: uuid: \"1234\" is not a UUID "
	    "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)");
	ERR(MAIN, "[zone]\nuuid = 00000000-0000-0000-0000-00000000000g\n", -EINVAL,
	    "zones/a.ini:2: uuid: \"00000000-0000-0000-0000-00000000000g\" is not a UUID "
	    "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)");
	ERR(MAIN, "[zone]\nuuid = 00000000-0000-0000-00000-0000000000a\n", -EINVAL,
	    "zones/a.ini:2: uuid: \"00000000-0000-0000-00000-0000000000a\" is not a UUID "
	    "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)");
	ERR(MAIN, ZONE_H("a.example, -bad.example"), -EINVAL,
	    "zones/a.ini:4: hosts: \"-bad.example\" is not a host name or \"*\"");
	ERR(MAIN, ZONE_H("*.example"), -EINVAL,
	    "zones/a.ini:4: hosts: \"*.example\" is not a host name or \"*\"");
	ERR(MAIN, ZONE_H("a..example"), -EINVAL,
	    "zones/a.ini:4: hosts: \"a..example\" is not a host name or \"*\"");
	ERR(MAIN, ZONE_H("1.2.3.456"), -EINVAL,
	    "zones/a.ini:4: hosts: \"1.2.3.456\" is not a host name or \"*\"");
	ERR(MAIN, fmt(ZONE_H("%0*d.example"), 64, 0), -EINVAL,
	    fmt("zones/a.ini:4: hosts: \"%0*d\" is not a host name or \"*\"", 64, 0));
	OK_ONLY(MAIN, fmt(ZONE_H("%0*d.example"), 63, 0));
	ERR(MAIN, ZONE_H("a.example, A.EXAMPLE"), -EINVAL,
	    "zones/a.ini:4: hosts: \"a.example\" is listed twice");
	ERR(MAIN, ZONE_H("*, *"), -EINVAL, "zones/a.ini:4: hosts: \"*\" is listed twice");
	/* LIMIT_ZONE_HOSTS at the limit and one past it, on continuation lines */
	n = list_text(text, sizeof(text), ORIGIN "[zone]\nname = a\nuuid = " UUID_A
		      "\nhosts = h1.example\n", "h", ".example", LIMIT_ZONE_HOSTS);
	OK_ONLY(MAIN, text);
	list_text(text + n, sizeof(text) - n, "", "h0", ".example", 2);
	ERR(MAIN, text, -EINVAL, fmt("zones/a.ini:%d: hosts: more than %d hosts",
				     6 + LIMIT_ZONE_HOSTS, LIMIT_ZONE_HOSTS));
}

static void test_origin(void)
{
	char text[8192];
	size_t n;
	struct cfg *c;

	ERR(MAIN, ZONE "[origin]\n", -EINVAL, "zones/a.ini:7: [origin]: needs a name: [origin NAME]");
	ERR(MAIN, ZONE "[origin a/b]\n", -EINVAL,
	    "zones/a.ini:7: [origin a/b]: the name is not 1..128 of A-Z a-z 0-9 . _ -");
	ERR(MAIN, ZONE "[origin  o ]\n", -EINVAL,
	    "zones/a.ini:7: [origin  o]: repeated (first at line 5)");
	ERR(MAIN, ZONE "[origin p]\n", -EINVAL, "zones/a.ini:7: [origin p]: url is required");
	ERR(MAIN, ZONE "foo = 1\n", -EINVAL, "zones/a.ini:7: foo: unknown key in [origin o]");
	ERR(MAIN, ZONE "url = http://h\n", -EINVAL, "zones/a.ini:7: url: repeated (first at line 6)");
	/* LIMIT_ZONE_ORIGINS at the limit and one past it */
	n = (size_t)snprintf(text, sizeof(text), "[zone]\nname = a\nuuid = " UUID_A
			     "\nhosts = a.example\n");
	for (int i = 1; i <= LIMIT_ZONE_ORIGINS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[origin o%d]\nurl = http://10.0.0.%d\n", i, i);
	c = OK(MAIN, text);
	if (c) {
		CHECK_EQ_INT(c->zones[0].n_origins, LIMIT_ZONE_ORIGINS);
		CHECK_EQ_STR(c->zones[0].origins[15].name, "o16");
		CHECK_EQ_STR(c->zones[0].origins[15].host_header, "10.0.0.16");
		cfg_free(c);
	}
	snprintf(text + n, sizeof(text) - n, "[origin o17]\n");
	ERR(MAIN, text, -EINVAL, fmt("zones/a.ini:%d: [origin o17]: more than 16 origins in a zone",
				     5 + 2 * LIMIT_ZONE_ORIGINS));
	ORG_ERR("connect_timeout_ms = 0\n",
		"zones/a.ini:7: connect_timeout_ms: 0 is below the minimum 1");
	ORG_ERR("connect_timeout_ms = 3600001\n",
		"zones/a.ini:7: connect_timeout_ms: 3600001 is above the maximum 3600000");
	ORG_ERR("read_timeout_ms = 0\n", "zones/a.ini:7: read_timeout_ms: 0 is below the minimum 1");
	ORG_ERR("read_timeout_ms = 3600001\n",
		"zones/a.ini:7: read_timeout_ms: 3600001 is above the maximum 3600000");
	c = OK(MAIN, ZONE "connect_timeout_ms = 1\nread_timeout_ms = 3600000\n");
	if (c) {
		CHECK_EQ_INT(c->zones[0].origins[0].connect_timeout_ms, 1);
		CHECK_EQ_INT(c->zones[0].origins[0].read_timeout_ms, 3600000);
		cfg_free(c);
	}
}

#define URL_ERR(url, msg) ERR(MAIN, ZONE "[origin p]\nurl = " url "\n", -EINVAL, \
			      "zones/a.ini:8: url: " msg)

static void check_url(int line, const char *url, const char *host, int port,
		      const char *host_header)
{
	struct cfg *c;

	new_case(MAIN, fmt(ZONE "[origin p]\nurl = %s\n", url));
	c = expect_load_ok(line);
	if (!c)
		return;
	CHECK_EQ_STR(c->zones[0].origins[1].host, host);
	CHECK_EQ_INT(c->zones[0].origins[1].port, port);
	CHECK_EQ_STR(c->zones[0].origins[1].host_header, host_header);
	CHECK_EQ_STR(c->zones[0].origins[1].url, url);
	cfg_free(c);
}

static void test_url(void)
{
	URL_ERR("ftp://h", "must start with http:// or https://");
	URL_ERR("h:80", "must start with http:// or https://");
	URL_ERR("http://user:" SECRET "@h", "must not contain user information (user@)");
	URL_ERR("http://h/bucket", "has a path \"/bucket\": the url is scheme://host[:port]; "
		"put the path in base_path");
	URL_ERR("http://h//", "has a path \"//\": the url is scheme://host[:port]; "
		"put the path in base_path");
	URL_ERR("http://h/?a=1", "must not have a query or a fragment");
	URL_ERR("http://h#f", "must not have a query or a fragment");
	URL_ERR("http://h:0", "port 0 is below the minimum 1");
	URL_ERR("http://h:65536", "port 65536 is above the maximum 65535");
	URL_ERR("http://h:", "port \"\" is not a number");
	URL_ERR("http://bad_host", "host \"bad_host\" is not an IP address or a host name");
	URL_ERR("http://[::1", "host \"[::1\" has '[' without ']'");
	URL_ERR("http://[::g]", "host \"[::g]\" is not a valid [IPv6] address");
	URL_ERR("http://::1", "host \"::1\" is an IPv6 address without brackets: "
		"write [address]:port");
	URL_ERR("http://", "host \"\" has no host");
	URL_ERR("http://a\tb", "contains a space or a control character");
	check_url(__LINE__, "http://h.example", "h.example", 80, "h.example");
	check_url(__LINE__, "http://h.example:80/", "h.example", 80, "h.example");
	check_url(__LINE__, "http://h.example:443", "h.example", 443, "h.example:443");
	check_url(__LINE__, "HTTPS://S3.EU-Central-1.amazonaws.com", "s3.eu-central-1.amazonaws.com",
		  443, "s3.eu-central-1.amazonaws.com");
	check_url(__LINE__, "https://[2001:DB8::1]:8443/", "2001:db8::1", 8443,
		  "[2001:db8::1]:8443");
	check_url(__LINE__, "https://10.1.2.3:443", "10.1.2.3", 443, "10.1.2.3");
}

static void test_host_header_base_path(void)
{
	struct cfg *c = OK(MAIN, ZONE "host_header = Bucket.S3.example:8080\nbase_path = /my-media/\n");

	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].host_header, "Bucket.S3.example:8080");
		CHECK_EQ_STR(c->zones[0].origins[0].base_path, "/my-media");
		cfg_free(c);
	}
	c = OK(MAIN, ZONE "host_header =\nbase_path = /a..b/.x/%20 y//\n");
	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].host_header, "127.0.0.1:8081");
		CHECK_EQ_STR(c->zones[0].origins[0].base_path, "/a..b/.x/%20 y");
		cfg_free(c);
	}
	c = OK(MAIN, ZONE "base_path = /\n");
	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].base_path, "");
		cfg_free(c);
	}
	ORG_ERR("host_header = a b\n", "zones/a.ini:7: host_header: contains a space");
	ORG_ERR("host_header = a\tb\n", "zones/a.ini:7: host_header: contains a control character");
	ORG_ERR("base_path = bucket\n", "zones/a.ini:7: base_path: \"bucket\" does not start with \"/\"");
	ORG_ERR("base_path = /a/../b\n", "zones/a.ini:7: base_path: has a \".\" or \"..\" segment");
	ORG_ERR("base_path = /a/.\n", "zones/a.ini:7: base_path: has a \".\" or \"..\" segment");
	ORG_ERR("base_path = /a?b\n",
		"zones/a.ini:7: base_path: contains '?', '#' or a control character");
	ORG_ERR("base_path = /a#b\n",
		"zones/a.ini:7: base_path: contains '?', '#' or a control character");
	ORG_ERR("base_path = /a\tb\n",
		"zones/a.ini:7: base_path: contains '?', '#' or a control character");
	/* LIMIT_PATH_BYTES (1024) cannot be reached through a 199-byte line:
	 * the longest base_path a file can hold is the line limit's. */
	OK_ONLY(MAIN, fmt(ZONE "base_path = /%0*d\n", LIMIT_CONFIG_LINE_BYTES - 13, 0));
	ERR(MAIN, fmt(ZONE "base_path = /%0*d\n", LIMIT_CONFIG_LINE_BYTES - 12, 0), -EINVAL,
	    "zones/a.ini:7: base_path: line is longer than 199 bytes");
}

#define S3_ERR(extra, msg) ORG_ERR(S3 extra, msg)

static void test_s3_keys(void)
{
	struct cfg *c;
	const struct cfg_origin *o;

	c = OK(MAIN, ZONE S3 "s3_secret_key = " SECRET "\ns3_region =\ns3_session_token =\n"
	       "s3_payload = unsigned\ns3_addressing = virtual\n");
	if (c) {
		o = &c->zones[0].origins[0];
		CHECK(o->s3_auth_enabled);
		CHECK_EQ_STR(o->s3_access_key, "AKIDEXAMPLE");
		CHECK_EQ_STR(o->s3_secret_key, SECRET);
		CHECK_EQ_STR(o->s3_region, "auto");
		CHECK_EQ_STR(o->s3_service, "s3");
		CHECK(o->s3_session_token == NULL);
		CHECK_EQ_INT(o->s3_payload, CFG_S3_PAYLOAD_UNSIGNED);
		CHECK_EQ_INT(o->s3_addressing, CFG_S3_ADDRESSING_VIRTUAL);
		cfg_free(c);
	}
	/* s3_* keys while s3_auth_enabled is false: kept, unused */
	c = OK(MAIN, ZONE "s3_access_key = AK\ns3_region = us-east-1\ns3_service = s3x\n");
	if (c) {
		o = &c->zones[0].origins[0];
		CHECK(!o->s3_auth_enabled);
		CHECK_EQ_STR(o->s3_access_key, "AK");
		CHECK_EQ_STR(o->s3_region, "us-east-1");
		CHECK_EQ_STR(o->s3_service, "s3x");
		cfg_free(c);
	}
	static const char *const yes[] = { "true", "YES", "on", "1" }, *const no[] = {
		"false", "No", "off", "0" };
	for (int i = 0; i < 4; i++) {
		c = OK(MAIN, fmt(ZONE "s3_auth_enabled = %s\ns3_access_key = A\ns3_secret_key = S\n",
				 yes[i]));
		CHECK(c && c->zones[0].origins[0].s3_auth_enabled);
		cfg_free(c);
		c = OK(MAIN, fmt(ZONE "s3_auth_enabled = %s\n", no[i]));
		CHECK(c && !c->zones[0].origins[0].s3_auth_enabled);
		cfg_free(c);
	}
	ORG_ERR("s3_auth_enabled = maybe\n", "zones/a.ini:7: s3_auth_enabled: "
		"\"maybe\" is not true or false (or yes/no, on/off, 1/0)");
	ORG_ERR("s3_auth_enabled = yes\n", "zones/a.ini:5: [origin o]: "
		"s3_access_key is required when s3_auth_enabled is true");
	ORG_ERR(S3, "zones/a.ini:5: [origin o]: "
		"s3_secret_key or s3_secret_key_file is required when s3_auth_enabled is true");
	ORG_ERR("s3_access_key =\n", "zones/a.ini:7: s3_access_key: is empty");
	ORG_ERR("s3_access_key = AK ID\n", "zones/a.ini:7: s3_access_key: contains a space");
	OK_ONLY(MAIN, fmt(ZONE "s3_access_key = %0*d\n", LIMIT_ACCESS_KEY_BYTES, 0));
	ERR(MAIN, fmt(ZONE "s3_access_key = %0*d\n", LIMIT_ACCESS_KEY_BYTES + 1, 0), -EINVAL,
	    "zones/a.ini:7: s3_access_key: is longer than 128 bytes");
	S3_ERR("s3_secret_key =\n", "zones/a.ini:9: s3_secret_key: is empty");
	S3_ERR("s3_secret_key = " SECRET "\tx\n",
	       "zones/a.ini:9: s3_secret_key: contains a control character");
	S3_ERR("s3_secret_key = " SECRET "\ns3_secret_key = " SECRET "\n",
	       "zones/a.ini:10: s3_secret_key: repeated (first at line 9)");
	/* the secret stops at " ;" (inline comment), not at ";" */
	c = OK(MAIN, ZONE S3 "s3_secret_key = " SECRET ";x ;comment\n");
	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].s3_secret_key, SECRET ";x");
		cfg_free(c);
	}
	/* a secret too long for a line: the hint, never the value */
	S3_ERR("s3_secret_key = " SECRET SECRET SECRET SECRET SECRET "\n",
	       "zones/a.ini:9: s3_secret_key: line is longer than 199 bytes: "
	       "put the secret in s3_secret_key_file");
	S3_ERR("s3_session_token = " SECRET SECRET SECRET SECRET SECRET "\n",
	       "zones/a.ini:9: s3_session_token: line is longer than 199 bytes: "
	       "put the token in s3_session_token_file");
	OK_ONLY(MAIN, fmt(ZONE "s3_region = %0*d\ns3_service = %0*d\n", LIMIT_REGION_BYTES, 0,
			  LIMIT_SERVICE_BYTES, 0));
	ERR(MAIN, fmt(ZONE "s3_region = %0*d\n", LIMIT_REGION_BYTES + 1, 0), -EINVAL,
	    "zones/a.ini:7: s3_region: is longer than 64 bytes");
	ERR(MAIN, fmt(ZONE "s3_service = %0*d\n", LIMIT_SERVICE_BYTES + 1, 0), -EINVAL,
	    "zones/a.ini:7: s3_service: is longer than 32 bytes");
	ORG_ERR("s3_region = us east\n", "zones/a.ini:7: s3_region: contains a space");
	ORG_ERR("s3_payload = none\n",
		"zones/a.ini:7: s3_payload: \"none\" is not empty-hash or unsigned");
	ORG_ERR("s3_addressing = host\n",
		"zones/a.ini:7: s3_addressing: \"host\" is not path or virtual");
}

/* A case whose zones/secret file holds `content` with `mode`. */
static void secret_case(const char *zone_extra, const char *content, mode_t mode)
{
	new_case(MAIN, fmt(ZONE S3 "%s", zone_extra));
	put("zones/secret", content, mode);
}

static void test_secret_files(void)
{
	char big[LIMIT_SESSION_TOKEN_BYTES + 8];
	struct cfg *c;

	secret_case("s3_secret_key_file = secret\n", SECRET "\n", 0600);
	c = expect_load_ok(__LINE__);
	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].s3_secret_key, SECRET);
		cfg_free(c);
	}
	secret_case("s3_secret_key_file = secret\n", SECRET "\n", 0644);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: \"zones/secret\" "
			"is accessible by group or others (mode 0644): chmod 600 it");
	secret_case("s3_secret_key_file = secret\n", SECRET, 0640);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: \"zones/secret\" "
			"is accessible by group or others (mode 0640): chmod 600 it");
	secret_case("s3_secret_key_file = nope\n", SECRET, 0600);
	expect_load_err(__LINE__, -ENOENT, "zones/a.ini:9: s3_secret_key_file: \"zones/nope\": "
			"No such file or directory");
	secret_case("s3_secret_key_file = .\n", SECRET, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: \"zones/.\" "
			"is not a regular file");
	secret_case("s3_secret_key_file =\n", SECRET, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: is empty");
	secret_case("s3_secret_key_file = secret\n", "\n", 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: "
			"\"zones/secret\" is empty");
	secret_case("s3_secret_key_file = secret\n", SECRET "\r\n", 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: "
			"contains a control character");
	secret_case("s3_secret_key_file = secret\n", SECRET "\n\n", 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: "
			"contains a control character");
	secret_case("s3_secret_key = " SECRET "\ns3_secret_key_file = secret\n", SECRET, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:10: s3_secret_key_file: "
			"s3_secret_key is set too (line 9): give one of them");
	secret_case("s3_secret_key_file = secret\ns3_secret_key = " SECRET "\n", SECRET, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:10: s3_secret_key: "
			"s3_secret_key_file is set too (line 9): give one of them");
	/* LIMIT_SECRET_BYTES at the limit (with and without newline), one past */
	snprintf(big, sizeof(big), "%0*d\n", LIMIT_SECRET_BYTES, 0);
	secret_case("s3_secret_key_file = secret\n", big, 0600);
	cfg_free(expect_load_ok(__LINE__));
	snprintf(big, sizeof(big), "%0*d", LIMIT_SECRET_BYTES, 0);
	secret_case("s3_secret_key_file = secret\n", big, 0600);
	cfg_free(expect_load_ok(__LINE__));
	snprintf(big, sizeof(big), "%0*d\n", LIMIT_SECRET_BYTES + 1, 0);
	secret_case("s3_secret_key_file = secret\n", big, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:9: s3_secret_key_file: "
			"is longer than 256 bytes");
	/* the session token file: same rules, LIMIT_SESSION_TOKEN_BYTES */
	snprintf(big, sizeof(big), "%0*d\n", LIMIT_SESSION_TOKEN_BYTES, 0);
	secret_case("s3_secret_key = S\ns3_session_token_file = /dev/null\n", big, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:10: s3_session_token_file: "
			"\"/dev/null\" is not a regular file");
	secret_case("s3_secret_key = S\ns3_session_token_file = secret\n", big, 0600);
	c = expect_load_ok(__LINE__);
	if (c) {
		CHECK_EQ_INT(strlen(c->zones[0].origins[0].s3_session_token),
			     LIMIT_SESSION_TOKEN_BYTES);
		cfg_free(c);
	}
	secret_case("s3_secret_key = S\ns3_session_token_file = secret\n", big, 0604);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:10: s3_session_token_file: "
			"\"zones/secret\" is accessible by group or others (mode 0604): chmod 600 it");
	snprintf(big, sizeof(big), "%0*d", LIMIT_SESSION_TOKEN_BYTES + 1, 0);
	secret_case("s3_secret_key = S\ns3_session_token_file = secret\n", big, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:10: s3_session_token_file: "
			"is longer than 4096 bytes");
	secret_case("s3_secret_key = S\ns3_session_token = t\ns3_session_token_file = secret\n",
		    big, 0600);
	expect_load_err(__LINE__, -EINVAL, "zones/a.ini:11: s3_session_token_file: "
			"s3_session_token is set too (line 10): give one of them");
}

#define S3_ORIGIN(name, url, extra) "[origin " name "]\nurl = " url "\n" S3 \
	"s3_secret_key = " SECRET "\n" extra

static void test_s3_zone_rule(void)
{
	static const char diff[] = "S3 credentials differ from [origin o] (zones/a.ini:5): "
		"all S3-authenticated origins of a zone must share access key, secret, "
		"region and endpoint";
	const char *head = "[zone]\nname = a\nuuid = " UUID_A "\nhosts = a.example\n";

	OK_ONLY(MAIN, fmt("%s" S3_ORIGIN("o", "http://127.0.0.1:8081", "")
			  "[origin plain]\nurl = http://10.0.0.1\n"
			  S3_ORIGIN("p", "HTTP://127.0.0.1:8081/", "s3_region = auto\n"), head));
	/* each second origin differs from [origin o] in one thing */
	static const char *const second[] = {
		S3_ORIGIN("p", "http://127.0.0.1:8081", "s3_region = us-east-1\n"),
		S3_ORIGIN("p", "http://127.0.0.1:8082", ""),
		S3_ORIGIN("p", "https://127.0.0.1:8081", ""),
		S3_ORIGIN("p", "http://localhost:8081", ""),
		"[origin p]\nurl = http://127.0.0.1:8081\n" S3 "s3_secret_key = other\n",
		"[origin p]\nurl = http://127.0.0.1:8081\ns3_auth_enabled = 1\n"
		"s3_access_key = AKIDOTHER\ns3_secret_key = " SECRET "\n",
	};
	for (size_t i = 0; i < sizeof(second) / sizeof(second[0]); i++)
		ERR(MAIN, fmt("%s" S3_ORIGIN("o", "http://127.0.0.1:8081", "") "%s", head,
			      second[i]), -EINVAL, fmt("zones/a.ini:10: [origin p]: %s", diff));
}

/* zones/b.ini beside the standard zones/a.ini */
static void two_zones(const char *name, const char *uuid, const char *hosts)
{
	new_case(MAIN, ZONE);
	put("zones/b.ini", fmt("[zone]\nname = %s\nuuid = %s\nhosts = %s\n" ORIGIN,
			       name, uuid, hosts), 0644);
}

#define UUID_B "00000000-0000-0000-0000-00000000000b"

static void test_across_zones(void)
{
	two_zones("A", UUID_B, "b.example");
	expect_load_err(__LINE__, -EINVAL, "zones/b.ini:2: name: \"A\" is also the name of "
			"zone \"a\" (zones/a.ini:2)");
	two_zones("b", "00000000-0000-0000-0000-00000000000A", "b.example");
	expect_load_err(__LINE__, -EINVAL, "zones/b.ini:3: uuid: \"" UUID_A "\" is also the "
			"uuid of zone \"a\" (zones/a.ini:3)");
	two_zones("b", UUID_B, "b.example, A.Example");
	expect_load_err(__LINE__, -EINVAL, "zones/b.ini:4: hosts: \"a.example\" is also a host "
			"of zone \"a\" (zones/a.ini:4)");
	new_case(MAIN, ZONE_H("a.example, *"));
	put("zones/b.ini", "[zone]\nname = b\nuuid = " UUID_B "\nhosts = *\n" ORIGIN, 0644);
	expect_load_err(__LINE__, -EINVAL, "zones/b.ini:4: hosts: \"*\": zone \"a\" "
			"(zones/a.ini:4) is the default zone already");
	/* an error in the second zone file names that file */
	new_case(MAIN, ZONE);
	put("zones/b.ini", "[zone]\nname = b\nbogus = 1\n", 0644);
	expect_load_err(__LINE__, -EINVAL, "zones/b.ini:3: bogus: unknown key in [zone]");
}

static const char *zone_name(const struct cfg_zone *z)
{
	return z ? z->name : "(none)";
}

#define BY_HOST(c, h) zone_name(cfg_zone_by_host((c), (h), strlen(h)))

static void test_lookup(void)
{
	struct cfg *c;

	two_zones("b", UUID_B, "b.example, *, 10.0.0.1");
	c = expect_load_ok(__LINE__);
	if (!c)
		return;
	CHECK_EQ_STR(BY_HOST(c, "a.example"), "a");
	CHECK_EQ_STR(BY_HOST(c, "A.EXAMPLE"), "a");
	CHECK_EQ_STR(BY_HOST(c, "a.example:8080"), "a");
	CHECK_EQ_STR(BY_HOST(c, "a.example."), "a");
	CHECK_EQ_STR(BY_HOST(c, "a.example.:80"), "a");
	CHECK_EQ_STR(BY_HOST(c, "b.example"), "b");
	CHECK_EQ_STR(BY_HOST(c, "10.0.0.1:80"), "b");
	CHECK_EQ_STR(BY_HOST(c, "a.examplex"), "b");     /* default */
	CHECK_EQ_STR(BY_HOST(c, "x.a.example"), "b");
	CHECK_EQ_STR(BY_HOST(c, "[::1]:80"), "b");
	CHECK_EQ_STR(BY_HOST(c, ""), "b");
	CHECK_EQ_STR(BY_HOST(c, fmt("%0*d", 300, 0)), "b");
	CHECK_EQ_STR(zone_name(cfg_zone_by_host(c, NULL, 0)), "b");
	/* host_len, not NUL, ends the host */
	CHECK_EQ_STR(zone_name(cfg_zone_by_host(c, "a.example-and-more", 9)), "a");
	CHECK_EQ_STR(zone_name(cfg_zone_by_name(c, "a")), "a");
	CHECK_EQ_STR(zone_name(cfg_zone_by_name(c, "A")), "(none)");
	CHECK_EQ_STR(zone_name(cfg_zone_by_name(c, "00000000-0000-0000-0000-00000000000B")), "b");
	CHECK_EQ_STR(zone_name(cfg_zone_by_name(c, "c")), "(none)");
	cfg_free(c);
	c = OK(MAIN, ZONE);
	if (c) {
		CHECK(cfg_zone_by_host(c, "b.example", 9) == NULL);
		CHECK_EQ_STR(BY_HOST(c, "a.example"), "a");
		cfg_free(c);
	}
	cfg_free(NULL);
}

/* LIMIT_ZONES at the limit and one past it (one past: only globbed). */
static void test_zone_limit(void)
{
	struct cfg *c;
	char path[64];

	new_case(MAIN, NULL);
	for (int i = 0; i < LIMIT_ZONES; i++) {
		snprintf(path, sizeof(path), "zones/z%04d.ini", i);
		put(path, fmt("[zone]\nname = z%d\nuuid = 00000000-0000-0000-0000-%012d\n"
			      "hosts = z%d.example\n" ORIGIN, i, i, i), 0644);
	}
	c = expect_load_ok(__LINE__);
	if (c) {
		CHECK_EQ_INT(c->n_zones, LIMIT_ZONES);
		CHECK_EQ_STR(BY_HOST(c, "z4095.example"), "z4095");
		CHECK_EQ_STR(BY_HOST(c, "Z17.EXAMPLE:443"), "z17");
		CHECK_EQ_STR(BY_HOST(c, "z4096.example"), "(none)");
		cfg_free(c);
	}
	put("zones/z4096.ini", "", 0644);
	expect_load_err(__LINE__, -EINVAL,
			"edge.ini:3: zones: \"zones/*.ini\" matches 4097 files, more than 4096");
}

/* The shipped example (config.ini.example, zones.example/demo.ini) loads. */
static void test_example(void)
{
	const char *src = getenv("EDGECACHE_SRC");
	struct cfg_error err = { 0 };
	struct cfg *c = NULL;

	if (!src)
		return;
	CHECK_EQ_INT(cfg_load(fmt("%s/config.ini.example", src), &c, &err), 0);
	CHECK_EQ_STR(err.msg, "");
	if (!c)
		return;
	CHECK_EQ_INT(c->server.workers, 0);
	CHECK_EQ_STR(c->server.listens[0].host, "127.0.0.1");
	CHECK_EQ_INT(c->server.listens[0].port, 8080);
	CHECK_EQ_STR(BY_HOST(c, "localhost:8080"), "demo");
	CHECK_EQ_STR(BY_HOST(c, "anything"), "demo");
	CHECK_EQ_STR(c->zones[0].origins[0].url, "http://127.0.0.1:8081");
	cfg_free(c);
}

/* [cache]: 3 main lines, "[cache]" at line 4, the case's keys from line 5. */
#define CACHE MAIN "[cache]\n"
#define CACHE_ERR(extra, msg) ERR(CACHE extra, ZONE, -EINVAL, msg)
/* one shard: the store's stripes (one per worker) do not depend on the CPUs */
#define CACHE1 MAIN "workers = 1\n[cache]\n"

static void test_cache(void)
{
	struct cfg *c = OK(MAIN, ZONE);

	if (c) {                                  /* no [cache]: no disk cache */
		CHECK_EQ_INT(c->cache.n_paths, 0);
		CHECK_EQ_INT(c->cache.chunk_bytes, LIMIT_CACHE_CHUNK_DEFAULT);
		cfg_free(c);
	}
	c = OK(CACHE "path = a.cache, /var/tmp/b.cache\nsize = 2g\n", ZONE);
	if (c) {
		CHECK_EQ_INT(c->cache.n_paths, 2);
		CHECK(strstr(c->cache.paths[0], "/a.cache") != NULL ||
		      strcmp(c->cache.paths[0], "a.cache") == 0);
		CHECK_EQ_STR(c->cache.paths[1], "/var/tmp/b.cache");
		CHECK_EQ_INT(c->cache.size_bytes, 2LL << 30);
		CHECK_EQ_INT(c->cache.chunk_bytes, LIMIT_CACHE_CHUNK_DEFAULT);
		CHECK_EQ_INT(c->cache.memory_bytes, LIMIT_CACHE_MEMORY_DEFAULT);
		CHECK_EQ_INT(c->cache.checkpoint_interval_s, LIMIT_CACHE_CHECKPOINT_S_DEFAULT);
		CHECK_EQ_INT(c->cache.avg_object_bytes, LIMIT_CACHE_AVG_OBJECT_DEFAULT);
		cfg_free(c);
	}
	c = OK(CACHE "path = a,\n  b\nsize = 1t\nchunk_size = 16m\nmemory = 0\n"
	       "checkpoint_interval = 86400\naverage_object_size = 4k\n", ZONE);
	if (c) {
		CHECK_EQ_INT(c->cache.n_paths, 2);
		CHECK_EQ_INT(c->cache.size_bytes, 1LL << 40);
		CHECK_EQ_INT(c->cache.chunk_bytes, 16 << 20);
		CHECK_EQ_INT(c->cache.memory_bytes, 0);
		CHECK_EQ_INT(c->cache.checkpoint_interval_s, 86400);
		CHECK_EQ_INT(c->cache.avg_object_bytes, 4096);
		cfg_free(c);
	}
	CACHE_ERR("size = 1g\n", "edge.ini:4: [cache]: path is required");
	CACHE_ERR("path = a\n", "edge.ini:4: [cache]: size is required");
	CACHE_ERR("path = a, a\nsize = 1g\n", "edge.ini:5: path: \"a\" is listed twice");
	CACHE_ERR("path = a\nsize = 1g\n[cache]\n",
		  "edge.ini:7: [cache]: repeated (first at line 4)");
	CACHE_ERR("path = a\nsize = 1g\nsize = 2g\n",
		  "edge.ini:7: size: repeated (first at line 6)");
	CACHE_ERR("path = a\nsize = 1g\nfoo = 1\n", "edge.ini:7: foo: unknown key in [cache]");
	/* limits at the limit (above) and one past */
	CACHE_ERR("path = a\nsize = 4194303\n",
		  "edge.ini:6: size: 4194303 is below the minimum 4194304");
	OK_ONLY(CACHE1 "path = a\nsize = 4m\nchunk_size = 64k\n", ZONE);
	/* each stripe holds four of the largest entries (1 MiB chunk + meta) */
	ERR(CACHE1 "path = a\nsize = 4m\n", ZONE, -EINVAL,
	    "edge.ini:7: size: cache: size 4194304 gives 4190208-byte stripes (1 per file): "
	    "each needs at least 4358144 (4 of the largest entry at this chunk_size) (workers = 1)");
	OK_ONLY(CACHE1 "path = a\nsize = 5m\n", ZONE);
	OK_ONLY(CACHE "path = a\nsize = 1048576g\n", ZONE);
	CACHE_ERR("path = a\nsize = 1048577g\n",
		  "edge.ini:6: size: 1048577g is above the maximum 1125899906842624");
	CACHE_ERR("path = a, b\nsize = 7m\n",
		  "edge.ini:6: size: 7340032 bytes over 2 paths is below the minimum 4194304 per path");
	OK_ONLY(CACHE "path = a\nsize = 1g\nchunk_size = 64k\n", ZONE);
	CACHE_ERR("path = a\nsize = 1g\nchunk_size = 32k\n",
		  "edge.ini:7: chunk_size: 32k is below the minimum 65536");
	CACHE_ERR("path = a\nsize = 1g\nchunk_size = 32m\n",
		  "edge.ini:7: chunk_size: 32m is above the maximum 16777216");
	CACHE_ERR("path = a\nsize = 1g\nchunk_size = 96k\n",
		  "edge.ini:7: chunk_size: 96k is not a power of two");
	CACHE_ERR("path = a\nsize = 1g\nmemory = 1025g\n",
		  "edge.ini:7: memory: 1025g is above the maximum 1099511627776");
	CACHE_ERR("path = a\nsize = 1g\ncheckpoint_interval = 0\n",
		  "edge.ini:7: checkpoint_interval: 0 is below the minimum 1");
	CACHE_ERR("path = a\nsize = 1g\ncheckpoint_interval = 86401\n",
		  "edge.ini:7: checkpoint_interval: 86401 is above the maximum 86400");
	CACHE_ERR("path = a\nsize = 1g\naverage_object_size = 4095\n",
		  "edge.ini:7: average_object_size: 4095 is below the minimum 4096");
	{
		char text[2048];
		size_t n = (size_t)snprintf(text, sizeof(text), CACHE "size = 1t\npath = p0\n");

		for (int i = 1; i <= LIMIT_CACHE_PATHS; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "  p%d\n", i);
		ERR(text, ZONE, -EINVAL, fmt("edge.ini:%d: path: more than %d paths",
					    6 + LIMIT_CACHE_PATHS, LIMIT_CACHE_PATHS));
		n = (size_t)snprintf(text, sizeof(text), CACHE "size = 1t\npath = p0\n");
		for (int i = 1; i < LIMIT_CACHE_PATHS; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "  p%d\n", i);
		OK_ONLY(text, ZONE);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* [zone] caching keys from line 5, then the origin. */
#define ZONE_C(extra) "[zone]\nname = a\nuuid = " UUID_A "\nhosts = a.example\n" \
	extra "[origin o]\nurl = http://127.0.0.1:8081\n"
#define ZONE_CACHE_ERR(extra, msg) ERR(MAIN, ZONE_C(extra), -EINVAL, msg)

static void test_zone_cache(void)
{
	struct cfg *c = OK(MAIN, ZONE);

	if (c) {                 /* defaults: nothing cached without freshness */
		CHECK_EQ_INT(c->zones[0].default_ttl_s, 0);
		CHECK_EQ_INT(c->zones[0].negative_ttl_s, 0);
		CHECK_EQ_INT(c->zones[0].stale_while_revalidate_s, 0);
		CHECK_EQ_INT(c->zones[0].stale_if_error_s, 0);
		CHECK_EQ_INT(c->zones[0].query_string, CFG_QS_INCLUDE);
		CHECK(!c->zones[0].heuristic_freshness);
		CHECK_EQ_INT(c->zones[0].set_cookie, CFG_SC_PASS);
		cfg_free(c);
	}
	/* set_cookie: pass (the default) or strip, nothing else */
	c = OK(MAIN, ZONE_C("set_cookie = strip\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].set_cookie, CFG_SC_STRIP);
		cfg_free(c);
	}
	c = OK(MAIN, ZONE_C("set_cookie = pass\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].set_cookie, CFG_SC_PASS);
		cfg_free(c);
	}
	ZONE_CACHE_ERR("set_cookie = store\n",
		  "zones/a.ini:5: set_cookie: \"store\" is not pass or strip");
	ZONE_CACHE_ERR("set_cookie = \n", "zones/a.ini:5: set_cookie: \"\" is not pass or strip");
	c = OK(MAIN, ZONE_C("default_ttl = 1h\nnegative_ttl = 30\nstale_while_revalidate = 2m\n"
			    "stale_if_error = 1D\nquery_string = sorted\nheuristic_freshness = on\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].default_ttl_s, 3600);
		CHECK_EQ_INT(c->zones[0].negative_ttl_s, 30);
		CHECK_EQ_INT(c->zones[0].stale_while_revalidate_s, 120);
		CHECK_EQ_INT(c->zones[0].stale_if_error_s, 86400);
		CHECK_EQ_INT(c->zones[0].query_string, CFG_QS_SORTED);
		CHECK(c->zones[0].heuristic_freshness);
		cfg_free(c);
	}
	c = OK(MAIN, ZONE_C("default_ttl = 45s\nquery_string = ignore\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].default_ttl_s, 45);
		CHECK_EQ_INT(c->zones[0].query_string, CFG_QS_IGNORE);
		cfg_free(c);
	}
	/* at the limit (a year) and one past it, in seconds and in days */
	OK_ONLY(MAIN, ZONE_C("default_ttl = 31536000\n"));
	OK_ONLY(MAIN, ZONE_C("stale_if_error = 365d\n"));
	ZONE_CACHE_ERR("default_ttl = 31536001\n",
		  "zones/a.ini:5: default_ttl: 31536001 is above the maximum 31536000");
	ZONE_CACHE_ERR("negative_ttl = 366d\n",
		  "zones/a.ini:5: negative_ttl: 366d is above the maximum 31536000");
	ZONE_CACHE_ERR("stale_while_revalidate = -1\n",
		  "zones/a.ini:5: stale_while_revalidate: -1 is below the minimum 0");
	ZONE_CACHE_ERR("stale_if_error = 10w\n", "zones/a.ini:5: stale_if_error: \"10w\" is not "
		  "a number (seconds; an s, m, h or d suffix is allowed)");
	ZONE_CACHE_ERR("default_ttl = 1k\n", "zones/a.ini:5: default_ttl: \"1k\" is not "
		  "a number (seconds; an s, m, h or d suffix is allowed)");
	ZONE_CACHE_ERR("query_string = all\n",
		  "zones/a.ini:5: query_string: \"all\" is not ignore, include or sorted");
	ZONE_CACHE_ERR("heuristic_freshness = maybe\n", "zones/a.ini:5: heuristic_freshness: "
		  "\"maybe\" is not true or false (or yes/no, on/off, 1/0)");
	ZONE_CACHE_ERR("default_ttl = 1\ndefault_ttl = 2\n",
		  "zones/a.ini:6: default_ttl: repeated (first at line 5)");
	/* a size suffix is still refused on a plain number */
	SRV_ERR("max_conns = 1m\n", "edge.ini:4: max_conns: \"1m\" is not a number");
}

/* pass_request_headers: names the edge drops by default, up to the limit. */
static void test_pass_headers(void)
{
	struct cfg *c = OK(MAIN, ZONE);
	char list[LIMIT_PASS_REQUEST_HEADERS * 8 + 64], zone[512], msg[256];
	size_t m = 0;

	if (c) {
		CHECK_EQ_INT(c->zones[0].n_pass_headers, 0);
		cfg_free(c);
	}
	c = OK(MAIN, ZONE_C("pass_request_headers = X-Forwarded-Host, x_user ,forwarded\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].n_pass_headers, 3);
		CHECK_EQ_STR(c->zones[0].pass_headers[0], "x-forwarded-host");
		CHECK_EQ_STR(c->zones[0].pass_headers[1], "x_user");
		CHECK_EQ_STR(c->zones[0].pass_headers[2], "forwarded");
		cfg_free(c);
	}
	/* indented lines continue the list (how the admin API writes it back) */
	c = OK(MAIN, ZONE_C("pass_request_headers = x-forwarded-host\n\tx_user\n"));
	if (c) {
		CHECK_EQ_INT(c->zones[0].n_pass_headers, 2);
		CHECK_EQ_STR(c->zones[0].pass_headers[1], "x_user");
		cfg_free(c);
	}
	/* at the limit and one past it */
	m += (size_t)snprintf(list + m, sizeof(list) - m, "pass_request_headers = ");
	for (int i = 0; i < LIMIT_PASS_REQUEST_HEADERS; i++)
		m += (size_t)snprintf(list + m, sizeof(list) - m, "%sx_%d", i ? "," : "", i);
	snprintf(zone, sizeof(zone), ZONE_C("%s\n"), list);
	OK_ONLY(MAIN, zone);
	snprintf(zone, sizeof(zone), ZONE_C("%s,x_last\n"), list);
	ERR(MAIN, zone, -EINVAL, "zones/a.ini:5: pass_request_headers: more than 16 names");
	ZONE_CACHE_ERR("pass_request_headers = connection\n",
		  "zones/a.ini:5: pass_request_headers: \"connection\" is not a field the edge drops "
		  "(a name with \"_\" or a routing override such as x-forwarded-host); "
		  "hop-by-hop fields are never forwarded");
	ZONE_CACHE_ERR("pass_request_headers = accept\n",
		  "zones/a.ini:5: pass_request_headers: \"accept\" is not a field the edge drops "
		  "(a name with \"_\" or a routing override such as x-forwarded-host); "
		  "hop-by-hop fields are never forwarded");
	ZONE_CACHE_ERR("pass_request_headers = x forwarded\n",
		  "zones/a.ini:5: pass_request_headers: \"x forwarded\" is not a header name "
		  "of at most 64 bytes");
	ZONE_CACHE_ERR("pass_request_headers = x_a, X_A\n",
		  "zones/a.ini:5: pass_request_headers: \"x_a\" is listed twice");
	/* a name at 64 bytes, and one at 65 */
	memset(list, 'a', 65);
	list[1] = '_';
	snprintf(zone, sizeof(zone), ZONE_C("pass_request_headers = %.64s\n"), list);
	OK_ONLY(MAIN, zone);
	snprintf(zone, sizeof(zone), ZONE_C("pass_request_headers = %.65s\n"), list);
	snprintf(msg, sizeof(msg), "zones/a.ini:5: pass_request_headers: \"%.64s\" is not a "
		 "header name of at most 64 bytes", list);
	ERR(MAIN, zone, -EINVAL, msg);
}

/* [admin]: the default address, loopback without a token, the token file. */
static void test_admin(void)
{
	struct cfg *c = OK(MAIN "[admin]\n", ZONE);

	if (c) {
		CHECK(c->admin.enabled);
		CHECK_EQ_STR(c->admin.listen.host, "127.0.0.1");
		CHECK_EQ_INT(c->admin.listen.port, LIMIT_ADMIN_PORT_DEFAULT);
		CHECK(c->admin.token == NULL);
		cfg_free(c);
	}
	c = OK(MAIN, ZONE);
	if (c) {
		CHECK(!c->admin.enabled);
		cfg_free(c);
	}
	OK_ONLY(MAIN "[admin]\nlisten = [::1]:9000\n", ZONE);
	SRV_ERR("[admin]\nlisten = 0.0.0.0:9000\n", "edge.ini:5: listen: 0.0.0.0:9000 is not "
		"a loopback address: set token_file (a bearer token) or listen on 127.0.0.1 or [::1]");
	SRV_ERR("[admin]\nlisten = 9000\n", "edge.ini:5: listen: \"9000\" has no port (host:port)");
	new_case(MAIN "[admin]\nlisten = 0.0.0.0:9000\ntoken_file = tok\n", ZONE);
	put("tok", "0123456789abcdef0123\n", 0600);
	c = expect_load_ok(__LINE__);
	if (c) {
		CHECK_EQ_STR(c->admin.token, "0123456789abcdef0123");
		cfg_free(c);
	}
	put("tok", "0123456789abcdef0123\n", 0640);
	expect_load_err(__LINE__, -EINVAL, fmt("edge.ini:6: token_file: \"tok\" is "
		"accessible by group or others (mode 0640): chmod 600 it"));
	put("tok", "short\n", 0600);
	expect_load_err(__LINE__, -EINVAL, "edge.ini:4: token_file: the token is shorter than 16 bytes");
}

/* credential_overlap_ms: 0 (off) by default, 0..1 h. */
static void test_overlap(void)
{
	struct cfg *c = OK(MAIN, ZONE);

	if (c) {
		CHECK_EQ_INT(c->server.credential_overlap_ms, 0);
		cfg_free(c);
	}
	c = OK(MAIN "credential_overlap_ms = 30000\n", ZONE);
	if (c) {
		CHECK_EQ_INT(c->server.credential_overlap_ms, 30000);
		cfg_free(c);
	}
	OK_ONLY(MAIN "credential_overlap_ms = 3600000\n", ZONE);
	SRV_ERR("credential_overlap_ms = 3600001\n", "edge.ini:4: credential_overlap_ms: "
		"3600001 is above the maximum 3600000");
}

/* Origin uuids: derived when absent (stable), kept when given, unique. */
static void test_origin_uuid(void)
{
	struct cfg *c = OK(MAIN, ZONE "uuid = 11111111-2222-4333-8444-55555555555A\n"
			   "[origin p]\nurl = http://127.0.0.1:8082\n");
	char u[37];

	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].uuid, "11111111-2222-4333-8444-55555555555a");
		CHECK(!c->zones[0].origins[0].uuid_derived);
		cfg_origin_uuid(c->zones[0].uuid, "p", u);
		CHECK_EQ_STR(c->zones[0].origins[1].uuid, u);
		CHECK(c->zones[0].origins[1].uuid_derived);
		CHECK(cfg_valid_uuid(u) && u[14] == '8' && strchr("89ab", u[19]));
		cfg_origin_uuid(c->zones[0].uuid, "q", u);
		CHECK(strcmp(c->zones[0].origins[1].uuid, u) != 0);
		cfg_free(c);
	}
	ORG_ERR("probe_path = nope\n", "zones/a.ini:7: probe_path: \"nope\" does not start with \"/\"");
	c = OK(MAIN, ZONE "probe_path = /bucket/key\n");
	if (c) {
		CHECK_EQ_STR(c->zones[0].origins[0].probe_path, "/bucket/key");
		cfg_free(c);
	}
	ORG_ERR("uuid = nope\n", "zones/a.ini:7: uuid: \"nope\" is not a UUID "
		"(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)");
	ORG_ERR("uuid = 11111111-2222-4333-8444-55555555555a\n[origin p]\n"
		"url = http://127.0.0.1:8082\nuuid = 11111111-2222-4333-8444-55555555555a\n",
		"zones/a.ini:8: uuid: [origin p] has the uuid of [origin o]");
}

/* What the admin API gets from an error, and the replacement load. */
static void test_admin_support(void)
{
	struct cfg_error err = { 0 };
	struct cfg *c = NULL;

	new_case(MAIN, ZONE S3 "s3_secret_key = " SECRET "\n[origin p]\nurl = http://127.0.0.1:8081\n"
		 S3 "s3_secret_key = other\n");
	CHECK(cfg_load("edge.ini", &c, &err) == -EINVAL && !c);
	CHECK(err.s3_conflict);
	CHECK_EQ_STR(err.key, "s3_secret_key");
	CHECK(strncmp(err.msg + err.detail, "S3 credentials differ", 21) == 0);
	new_case(MAIN, ZONE "connect_timeout_ms = 0\n");
	CHECK(cfg_load("edge.ini", &c, &err) == -EINVAL && !err.s3_conflict);
	CHECK_EQ_STR(err.key, "connect_timeout_ms");
	CHECK_EQ_STR(err.msg + err.detail, "0 is below the minimum 1");
	/* the zone read from another file, named as the real one */
	put("zones/.a.ini.new", "[zone]\nname = a\nuuid = 00000000-0000-0000-0000-00000000000a\n"
	    "hosts = b.example\n[origin o]\nurl = http://127.0.0.1:8081\n", 0644);
	CHECK(cfg_load_replacing("edge.ini", "zones/a.ini", "zones/.a.ini.new", &c, &err) == 0);
	if (c) {
		CHECK_EQ_STR(c->zones[0].hosts[0], "b.example");
		CHECK_EQ_STR(c->zones[0].file, "zones/a.ini");
		cfg_free(c);
		c = NULL;
	}
	put("zones/a.ini", ZONE, 0644);
	CHECK(cfg_load_replacing("edge.ini", "zones/gone.ini", "zones/.a.ini.new", &c, &err)
	      == -ENOENT && !c);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 77;
	}
	test_defaults();
	test_server_values();
	test_listen();
	test_server_keys();
	test_echo_limit();
	test_tls_keys();
	test_tls_policy();
	test_syntax();
	test_zone();
	test_origin();
	test_url();
	test_host_header_base_path();
	test_s3_keys();
	test_secret_files();
	test_s3_zone_rule();
	test_across_zones();
	test_lookup();
	test_zone_limit();
	test_zone_cache();
	test_pass_headers();
	test_example();
	test_cache();
	test_admin();
	test_overlap();
	test_origin_uuid();
	test_admin_support();
	if (chdir("/") == 0)
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_exit();
}
