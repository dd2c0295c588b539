/*
 * core/main.c — the edgecache binary: serve, validate, or run a tool.
 *
 *   edgecache -c FILE          serve
 *   edgecache -t -c FILE       validate the config and exit (like nginx -t)
 *   edgecache sign ...         print SigV4 headers for one request
 *   edgecache check-origin ... diagnose a zone's origin
 */
#include <stdio.h>
#include <string.h>

#include "core/cli.h"

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
	if (argc >= 2 && strcmp(argv[1], "check-origin") == 0)
		return cli_check_origin_main(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
