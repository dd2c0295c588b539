/*
 * bench/tls_bench.c — bulk throughput of a net/tls session pair in memory
 * on one core: the client encrypts, the server decrypts, the buffer API
 * moves the records (what the ring will do, minus the syscalls). Also
 * counts wolfSSL's allocations per record (wolfSSL_SetAllocators).
 *
 * Usage: tls_bench CERT KEY CA [MiB]   (certificates: see docs/tls.md)
 * Prints one line per protocol: MB/s of plaintext, cipher, mallocs/record.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/tls.h"

static unsigned long n_malloc;

static void *count_malloc(size_t n)
{
	n_malloc++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n)
{
	n_malloc++;
	return realloc(p, n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void move(struct tls_session *from, struct tls_session *to)
{
	const void *p;
	size_t n;

	tls_pending_output(from, &p, &n);
	if (n)
		tls_output_done(from, tls_feed(to, p, n));
}

static int run(const char *cert, const char *key, const char *ca, unsigned flags, size_t mib)
{
	static char plain[1 << 20], sink[1 << 16];
	struct tls_ctx *cc, *sc;
	struct tls_session *c, *s;
	size_t total = mib << 20, sent = 0, got = 0;
	unsigned long m0;
	const char *why;
	double t0, dt;

	if (tls_client_ctx_new(ca, flags, &cc, &why) || tls_server_ctx_new(cert, key, flags, &sc, &why) ||
	    tls_session_new(cc, "origin.test", &c) || tls_session_new(sc, NULL, &s)) {
		fprintf(stderr, "tls_bench: %s\n", why);
		return 1;
	}
	for (int i = 0, rc = 1, rs = 1; i < 100 && (rc || rs); i++) {
		rc = tls_handshake(c);
		move(c, s);
		rs = tls_handshake(s);
		move(s, c);
	}
	if (tls_handshake(c) || tls_handshake(s)) {
		fprintf(stderr, "tls_bench: handshake: %s %s\n", tls_reason(c), tls_reason(s));
		return 1;
	}
	memset(plain, 'x', sizeof(plain));
	m0 = n_malloc;
	t0 = now_s();
	while (got < total) {
		ssize_t n;

		if (sent < total) {
			size_t want = total - sent < sizeof(plain) ? total - sent : sizeof(plain);

			n = tls_write(c, plain, want);
			if (n > 0)
				sent += (size_t)n;
		}
		move(c, s);
		while ((n = tls_read(s, sink, sizeof(sink))) > 0)
			got += (size_t)n;
		if (n != -EAGAIN) {
			fprintf(stderr, "tls_bench: read: %zd %s\n", n, tls_reason(s));
			return 1;
		}
	}
	dt = now_s() - t0;
	printf("%-8s %-28s %8.0f MB/s  %zu MiB in %.3f s  %.2f wolfSSL mallocs per record\n",
	       tls_version(c), tls_cipher(c), (double)total / 1e6 / dt, mib, dt,
	       (double)(n_malloc - m0) / (double)(total / TLS_RECORD_PLAIN_MAX));
	tls_session_free(c);
	tls_session_free(s);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
	return 0;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 4 ? strtoul(argv[4], NULL, 10) : 1024;

	if (argc < 4) {
		fprintf(stderr, "usage: tls_bench CERT KEY CA [MiB]\n");
		return 2;
	}
	wolfSSL_SetAllocators(count_malloc, free, count_realloc);
	return run(argv[1], argv[2], argv[3], TLS_ONLY_13, mib) ||
	       run(argv[1], argv[2], argv[3], TLS_ONLY_12, mib);
}
