/*
 * control/main.c — the edgecache binary: serve, validate, or run a tool.
 *
 *   edgecache -c FILE          serve
 *   edgecache -t -c FILE       validate the config and exit (like nginx -t)
 *   edgecache sign ...         print SigV4 headers for one request
 *   edgecache check-origin ... diagnose a zone's origin
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control/admin.h"
#include "control/cli.h"
#include "control/config_load.h"
#include "core/log.h"
#include "control/server.h"

static void usage(FILE *f)
{
	fputs("usage: edgecache [-t] -c FILE\n"
	      "       edgecache sign --access-key AK (--secret-key SK | --secret-key-file F)\n"
	      "                 [--region R] [--service S] [--session-token T] [--time T]\n"
	      "                 [--unsigned-payload] [-H 'Name: value']... [-v] METHOD URL\n"
	      "       edgecache check-origin -c FILE ZONE [PATH]\n", f);
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	bool test_only = false;
	int opt;

	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cli_sign_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check-origin") == 0)
		return cli_check_origin_main(argc - 1, argv + 1);

	while ((opt = getopt(argc, argv, "c:thV")) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'V':
			puts("edgecache 0.1.0");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!file || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct cfg *cfg = NULL;
	struct cfg_error err;
	if (cfg_load(file, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
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
	if (log_open(cfg->server.error_log, cfg->server.access_log) < 0) {
		cfg_free(cfg);
		return 1;
	}
	int status = server_run(cfg, file, &admin_service);   /* takes cfg */
	log_close();
	return status;
}
