/*
 * bench/sign_bench.c — SigV4 signatures per second on one core: with the
 * precomputed day key (what edgecache does: one SHA-256 of the canonical
 * request and one HMAC) against a key derived per request (four more
 * HMACs: what Traffic Server's s3_auth and Envoy's aws_request_signing
 * do), and the SHA-256 throughput of the linked libwolfssl.
 *
 *   taskset -c 0 build/bench/sign_bench [seconds-per-run]
 *
 * Run it with LD_LIBRARY_PATH pointing at another libwolfssl.so.35 to
 * compare builds (bench/README.md).
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4/sigv4.h"

#define BENCH_T0 1717200000   /* 2024-06-01 00:00:00 UTC */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sign the edge's typical S3 GET for `secs`; returns signatures/s. */
static double run(const struct sigv4_creds *c, time_t when, double secs,
		  int want_precomputed, unsigned *sink)
{
	static const char path[] = "/my-media/path/to/video/1080p/segment-00042.ts";
	static const char host[] = "my-media.s3.eu-central-1.amazonaws.com";
	struct sigv4_s3_request r = {
		.method = "GET", .host = host, .host_len = sizeof(host) - 1,
		.path = path, .path_len = sizeof(path) - 1, .now = when,
	};
	struct sigv4_s3_signed out;
	unsigned long n = 0;
	double t0 = now_s(), t;

	do {
		for (int i = 0; i < 1000; i++, n++) {
			if (sigv4_s3_sign(c, &r, &out, NULL) != 0 ||
			    out.used_precomputed_key != want_precomputed) {
				fprintf(stderr, "sign_bench: signing failed\n");
				exit(1);
			}
			*sink += (unsigned char)out.authorization[out.authorization_len - 1];
		}
		t = now_s() - t0;
	} while (t < secs);
	return (double)n / t;
}

/* MB/s of wc_Sha256Update over 16 KiB blocks. */
static double sha256_mbps(double secs)
{
	static unsigned char buf[16384];
	unsigned char d[32];
	wc_Sha256 s;
	unsigned long n = 0;
	double t0 = now_s(), t;

	memset(buf, 0xa5, sizeof(buf));
	wc_InitSha256(&s);
	do {
		for (int i = 0; i < 64; i++, n++)
			wc_Sha256Update(&s, buf, sizeof(buf));
		t = now_s() - t0;
	} while (t < secs);
	wc_Sha256Final(&s, d);
	wc_Sha256Free(&s);
	return (double)n * sizeof(buf) / t / 1e6;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	struct sigv4_creds c;
	unsigned sink = 0;
	double pre, der;

	if (secs <= 0 || sigv4_creds_init(&c, "AKIAIOSFODNN7EXAMPLE",
					  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
					  "eu-central-1", "s3", NULL, BENCH_T0) != 0) {
		fprintf(stderr, "usage: sign_bench [seconds-per-run > 0]\n");
		return 2;
	}
	run(&c, BENCH_T0 + 3600, secs / 4, 1, &sink);            /* warm up */
	pre = run(&c, BENCH_T0 + 3600, secs, 1, &sink);
	/* ten days on: no precomputed key, so every signature derives one */
	der = run(&c, BENCH_T0 + 10 * 86400, secs, 0, &sink);
	printf("precomputed key:      %10.0f signatures/s  %6.3f us/signature\n",
	       pre, 1e6 / pre);
	printf("key derived per call: %10.0f signatures/s  %6.3f us/signature\n",
	       der, 1e6 / der);
	printf("ratio:                %10.2fx  (target >= 2x and < 2 us: %s)\n",
	       pre / der, pre / der >= 2 && 1e6 / pre < 2 ? "met" : "NOT met");
	printf("sha256 (wolfCrypt):   %10.0f MB/s\n", sha256_mbps(secs));
	sigv4_creds_wipe(&c);
	return sink == 0xffffffffu;   /* keeps the work observable */
}
