/* control/cli_fleet.c — `edgecache fleet import|export -c FILE [-d DIR]`
 * (contract in cli.h; what they write in control/fleet.h, docs/FLEET.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "control/cli.h"
#include "control/fleet.h"

static const char usage[] =
	"usage: edgecache fleet import -c FILE     seed etcd from FILE's zone files\n"
	"       edgecache fleet export -c FILE -d DIR   write etcd's zones into DIR\n";

int cli_fleet_main(int argc, char **argv)
{
	const char *file = NULL, *dir = NULL, *verb = argc >= 2 ? argv[1] : "";
	int opt;

	optind = 2;
	while ((opt = getopt(argc, argv, "c:d:")) != -1) {
		if (opt == 'c')
			file = optarg;
		else if (opt == 'd')
			dir = optarg;
		else
			goto bad;
	}
	if (!file || optind != argc)
		goto bad;
	if (strcmp(verb, "import") == 0 && !dir)
		return fleet_import(file, stderr) < 0 ? 1 : 0;
	if (strcmp(verb, "export") == 0 && dir)
		return fleet_export(file, dir, stderr) < 0 ? 1 : 0;
bad:
	fputs(usage, stderr);
	return 2;
}
