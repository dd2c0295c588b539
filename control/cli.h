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
#include <time.h>

/* edgecache -v: version, libraries (compiled and running), build flags,
 * wolfCrypt's SHA-256 path, one per line to f   (control/cli_version.c) */
void cli_version_print(FILE *f);

/* edgecache sign ... METHOD URL   (control/cli_sign.c) */
int cli_sign_main(int argc, char **argv);

/* edgecache fleet import -c FILE | export -c FILE -d DIR   (control/cli_fleet.c) */
int cli_fleet_main(int argc, char **argv);

/* edgecache check-origin -c FILE ZONE [PATH]   (control/cli_check_origin.c) */
int cli_check_origin_main(int argc, char **argv);

/* The same diagnosis of one origin for the admin API (POST .../test, the
 * probe before a credential change): the report text to `out`, the
 * outcome in *res. Blocks on a socket (TLS for an https origin, verified
 * as the serving path does) with connect, handshake and read timeouts
 * capped at timeout_ms (control thread); not reentrant. */
struct cfg_zone;
struct cfg_origin;
struct cli_check_origin_result {
	int result;              /* 0 OK (2xx), 1 FAILED, 2 NOT CHECKED */
	unsigned status;         /* the origin's HTTP status, 0 = no answer */
	char code[128];          /* S3 <Code>, "" if none */
	char message[256];       /* S3 <Message>, cut to fit */
	char tls_error[128];     /* https: why TLS failed ("certificate verify
				  * failed: unknown CA"), "" if it did not */
	const char *meaning;     /* the guide's words (static) */
	const char *fix;
};
int cli_check_origin_run(const struct cfg_zone *z, const struct cfg_origin *o, const char *path,
		     int64_t clock_offset_s, uint32_t timeout_ms, FILE *out,
		     struct cli_check_origin_result *res);

/*
 * The request line and headers check-origin sends for `method` of the
 * visitor path `raw` (with any ?query) to origin o, signed with creds at
 * our clock `now` plus clock_offset_s: edge/origin_request.h's writer fed
 * as the serving path feeds it (the unit test origin_request compares the
 * two). 0 or -errno; a short w sets w->overflow.
 */
struct sigv4_creds;
struct sigv4_trace;
struct wbuf;
int check_origin_request(const struct cfg_origin *o, const struct sigv4_creds *creds,
			 int64_t clock_offset_s, const char *method, const char *raw, time_t now,
			 struct wbuf *w, struct sigv4_trace *trace);

#endif
