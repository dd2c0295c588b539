/*
 * control/cli.h — the subcommands of the edgecache binary besides serving.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand)
 * and returns the process exit status: 0 success, 1 a negative answer
 * (check-origin: the origin did not say 2xx), 2 bad usage or input.
 * They run on the main thread before any shard exists and may block.
 */
#ifndef EDGECACHE_CONTROL_CLI_H
#define EDGECACHE_CONTROL_CLI_H

#include <stdint.h>
#include <stdio.h>

/* edgecache sign ... METHOD URL   (control/cli_sign.c) */
int cli_sign_main(int argc, char **argv);

/* edgecache check-origin -c FILE ZONE [PATH]   (control/cli_check_origin.c) */
int cli_check_origin_main(int argc, char **argv);

/* The same diagnosis of one origin for the admin API (POST .../test, the
 * probe before a credential change): the report text to `out`, the
 * outcome in *res. Blocks on a socket (TLS for an https origin, verified
 * as the serving path does) with connect, handshake and read timeouts
 * capped at timeout_ms (control thread); not reentrant. */
struct cfg_zone;
struct cfg_origin;
struct check_origin_result {
	int result;              /* 0 OK (2xx), 1 FAILED, 2 NOT CHECKED */
	unsigned status;         /* the origin's HTTP status, 0 = no answer */
	char code[128];          /* S3 <Code>, "" if none */
	char message[256];       /* S3 <Message>, cut to fit */
	char tls_error[128];     /* https: why TLS failed ("certificate verify
				  * failed: unknown CA"), "" if it did not */
	const char *meaning;     /* the guide's words (static) */
	const char *fix;
};
int check_origin_run(const struct cfg_zone *z, const struct cfg_origin *o, const char *path,
		     uint32_t timeout_ms, FILE *out, struct check_origin_result *res);

#endif
