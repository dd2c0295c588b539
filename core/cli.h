/*
 * core/cli.h — the subcommands of the edgecache binary besides serving.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand)
 * and returns the process exit status: 0 success, 1 a negative answer
 * (check-origin: the origin did not say 2xx), 2 bad usage or input.
 * They run on the main thread before any shard exists and may block.
 */
#ifndef EDGECACHE_CORE_CLI_H
#define EDGECACHE_CORE_CLI_H

/* edgecache sign ... METHOD URL   (core/cli_sign.c) */
int cli_sign_main(int argc, char **argv);

/* edgecache check-origin -c FILE ZONE [PATH]   (core/cli_check_origin.c) */
int cli_check_origin_main(int argc, char **argv);

#endif
