/*
 * tests/unit/tls_certs.h — test certificates for the TLS tests, made at
 * test time with the openssl CLI in a mkdtemp directory (removed at exit).
 *
 *   ca.pem            test CA (P-256)          ca2.pem  another CA
 *   origin.{pem,key}  CN origin.test, SAN DNS:origin.test, IP:127.0.0.1
 *   other.{pem,key}   CN other.test
 *   wild.{pem,key}    SAN DNS:*.origin.test
 *   expired.{pem,key} origin.test, notAfter in the past
 * Included by one test file each (static helpers).
 */
#ifndef EDGECACHE_TESTS_TLS_CERTS_H
#define EDGECACHE_TESTS_TLS_CERTS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tlsc_dir[] = "/tmp/edgecache-tls-XXXXXX";
static char tlsc_path_buf[8][512];
static unsigned tlsc_path_next;

__attribute__((format(printf, 1, 2)))
static int tlsc_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd);
}

/* dir/name, in a small ring of buffers (a few live at once). */
static const char *tlsc_path(const char *name)
{
	char *p = tlsc_path_buf[tlsc_path_next++ % 8];

	snprintf(p, sizeof(tlsc_path_buf[0]), "%s/%s", tlsc_dir, name);
	return p;
}

static void tlsc_cleanup(void)
{
	tlsc_sh("rm -rf '%s'", tlsc_dir);
}

#define TLSC_EC "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

/* A leaf key + certificate `name` signed by ca with subjectAltName san
 * (may be empty) and `days` of validity (negative: already expired). */
static int tlsc_leaf(const char *name, const char *cn, const char *san, int days)
{
	const char *d = tlsc_dir;

	if (tlsc_sh("printf '%s' > '%s/%s.ext'", san, d, name))
		return -1;
	if (tlsc_sh("cd '%s' && openssl req " TLSC_EC " -keyout %s.key -out %s.csr "
		    "-subj /CN=%s >/dev/null 2>&1", d, name, name, cn))
		return -1;
	return tlsc_sh("cd '%s' && openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key "
		       "-CAcreateserial -days %d -out %s.pem -extfile %s.ext >/dev/null 2>&1",
		       d, name, days, name, name);
}

/* 0 = made; 77 = no openssl (the caller skips); -1 = failed. */
static int tlsc_make(void)
{
	if (tlsc_sh("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: the openssl CLI is missing (apt-get install openssl)\n");
		return 77;
	}
	if (mkdtemp(tlsc_dir) == NULL)
		return -1;
	atexit(tlsc_cleanup);
	if (tlsc_sh("cd '%s' && openssl req -x509 " TLSC_EC " -keyout ca.key -out ca.pem "
		    "-days 30 -subj /CN=edgecache-test-CA >/dev/null 2>&1 && "
		    "openssl req -x509 " TLSC_EC " -keyout ca2.key -out ca2.pem "
		    "-days 30 -subj /CN=edgecache-other-CA >/dev/null 2>&1", tlsc_dir))
		return -1;
	if (tlsc_leaf("origin", "origin.test", "subjectAltName=DNS:origin.test,IP:127.0.0.1", 30) ||
	    tlsc_leaf("other", "other.test", "subjectAltName=DNS:other.test", 30) ||
	    tlsc_leaf("wild", "origin.test", "subjectAltName=DNS:*.origin.test", 30) ||
	    tlsc_leaf("expired", "origin.test", "subjectAltName=DNS:origin.test", -1))
		return -1;
	return 0;
}

#endif
