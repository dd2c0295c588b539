/*
 * control/main.c — the edgecache binary: serve, validate, or run a tool.
 *
 *   edgecache -c FILE          serve
 *   edgecache -t -c FILE       validate the config and exit (like nginx -t)
 *   edgecache -v | -h          version and build / usage (like nginx -v, -h)
 *   edgecache sign ...         print SigV4 headers for one request
 *   edgecache fleet ...        import zone files into etcd / export them
 *   edgecache check-origin ... diagnose a zone's origin
 *   edgecache upgrade -c FILE  start the new binary in the running one's
 *                              place (control/upgrade.h), like SIGUSR2
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control/admin.h"
#include "control/cli.h"
#include "control/config_load.h"
#include "control/fleet.h"
#include "control/privdrop.h"
#include "control/sdnotify.h"
#include "core/log.h"
#include "control/server.h"
#include "control/upgrade.h"
#include "core/limits.h"

/* Bad usage: the synopsis only, on stderr, exit 2 (like nginx). */
static const char synopsis[] =
	"usage: edgecache [-h] [-v] [-t] -c FILE\n"
	"       edgecache sign --access-key AK (--secret-key SK | --secret-key-file F)\n"
	"                 [--region R] [--service S] [--session-token T] [--time T]\n"
	"                 [--unsigned-payload] [-H 'Name: value']... [-v] METHOD URL\n"
	"       edgecache check-origin -c FILE ZONE [PATH]\n"
	"       edgecache fleet import -c FILE | fleet export -c FILE -d DIR\n"
	"       edgecache upgrade -c FILE\n";

/* -h: the synopsis, then one line per option, subcommand and signal. */
static const char help[] =
	"\n"
	"options:\n"
	"  -c FILE        the main config file (docs/CONFIG.md); serve in the foreground\n"
	"  -t             check the config (zones, secrets, certificates) and exit\n"
	"  -v, --version  version, libraries, build flags, and exit (-V: the same)\n"
	"  -h, --help     this text, and exit\n"
	"\n"
	"subcommands:\n"
	"  sign           print the SigV4 headers for one request (docs/sigv4.md)\n"
	"  check-origin   diagnose a zone's origin for a path (docs/check-origin.md)\n"
	"  fleet          import zone files into etcd, export etcd's zones (docs/FLEET.md)\n"
	"  upgrade        have the process serving FILE start the installed binary in its\n"
	"                 place, without a refused connection (upgrade_socket; docs/OPERATIONS.md)\n"
	"\n"
	"signals:\n"
	"  TERM, INT      stop accepting, finish requests for up to drain_timeout_ms, exit\n"
	"  HUP            reload the config; on any error keep serving the old one\n"
	"  USR1           reopen the log files (logrotate) and write counters_file now\n"
	"  USR2           upgrade: start the installed binary, hand it the listening sockets\n"
	"                 and the cache, drain and exit (a failed start: keep serving)\n"
	"\n"
	"environment:\n"
	"  NOTIFY_SOCKET  systemd's: READY=1 once listening, STOPPING=1, STATUS=\n"
	"  WATCHDOG_USEC  systemd's: WATCHDOG=1 every half of it while every shard runs\n";

static bool same_name(const char *peeked, const char *loaded)
{
	return strcmp(peeked, loaded ? loaded : "") == 0;
}

/* The whole load (main file, zone files, certificates, secret files)
 * runs with [server] user's rights when we are root, as every reload
 * after the drop will (control/privdrop.h): what cannot be read then
 * refuses start now. -t as another user only checks that the names
 * exist. 0, or -1 with the reason (no secret) in why. */
static int load_config(const char *file, bool test_only, struct cfg **cfg,
		       char *why, size_t why_len)
{
	char user[LIMIT_USER_NAME_BYTES + 1], group[LIMIT_USER_NAME_BYTES + 1];
	struct cfg_error err = { .msg = "" };
	struct privdrop_ids ids;

	if (cfg_peek_user(file, user, group, sizeof(user), &err) < 0) {
		snprintf(why, why_len, "%s", err.msg);
		return -1;
	}
	const char *u = user[0] ? user : NULL, *g = group[0] ? group : NULL;
	char pw[256];
	if ((test_only && geteuid() != 0 ? privdrop_resolve(u, g, &ids, pw, sizeof(pw))
					 : privdrop_check(u, g, pw, sizeof(pw))) < 0 ||
	    privdrop_assume(u, g, pw, sizeof(pw)) < 0) {
		snprintf(why, why_len, "edgecache: %s", pw);
		return -1;
	}
	int r = cfg_load(file, cfg, &err);
	privdrop_unassume();
	if (r < 0) {
		snprintf(why, why_len, "%s", err.msg);
		return -1;
	}
	if (!same_name(user, (*cfg)->server.user) || !same_name(group, (*cfg)->server.group)) {
		snprintf(why, why_len, "edgecache: %s: [server] user/group read differently "
			 "before the load: write them as plain `user = NAME` lines", file);
		cfg_free(*cfg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool test_only = false;
	int opt;

	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cli_sign_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check-origin") == 0)
		return cli_check_origin_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "fleet") == 0)
		return cli_fleet_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "upgrade") == 0)
		return upgrade_cli_main(argc - 1, argv + 1);
	if (upgrade_init(argc, argv) < 0)
		return 1;

	while ((opt = getopt_long(argc, argv, "c:thvV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'v':
		case 'V':
			cli_version_print(stdout);
			return 0;
		case 'h':
			fputs(synopsis, stdout);
			fputs(help, stdout);
			return 0;
		default:   /* getopt has said which option on stderr */
			fputs(synopsis, stderr);
			return 2;
		}
	}
	if (!file || optind != argc) {
		fputs(synopsis, stderr);
		return 2;
	}

	struct cfg *cfg = NULL;
	char why[512];
	if (load_config(file, test_only, &cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s\n", why);
		upgrade_child_fail(why);
		if (test_only)
			fprintf(stderr, "edgecache: configuration file %s test failed\n", file);
		return 1;
	}
	if (test_only) {
		fprintf(stderr, "edgecache: configuration file %s test is successful\n", file);
		cfg_free(cfg);
		return 0;
	}
	log_level_max = cfg->server.log_level;
	if (log_open(cfg->server.error_log, cfg->server.access_log) < 0 || sdnotify_init() < 0) {
		log_close();
		cfg_free(cfg);
		return 1;
	}
	/* fleet mode: the zones are etcd's (or the last known good state's) */
	const struct server_service *svc = &admin_service;
	if (cfg->fleet.enabled) {
		/* etcd's zones, certificates and the state file: read as the
		 * user, as fleet's later changes are (load_config says why) */
		char pw[256];
		int fr = privdrop_assume(cfg->server.user, cfg->server.group, pw, sizeof(pw));
		if (fr == 0) {
			fr = fleet_boot(file, &cfg);
			privdrop_unassume();
		} else {
			fprintf(stderr, "edgecache: %s\n", pw);
		}
		if (fr < 0) {
			cfg_free(cfg);
			sdnotify_close();
			log_close();
			return 1;
		}
		svc = &fleet_service;
	}
	int status = server_run(cfg, file, svc);   /* takes cfg */
	sdnotify_close();
	log_close();
	return status;
}
