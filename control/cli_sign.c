/*
 * control/cli_sign.c — `edgecache sign`: print the SigV4 headers for one
 * request, the way the edge would sign it (sigv4_s3_sign).
 *
 *   edgecache sign --access-key AK (--secret-key SK | --secret-key-file F)
 *       [--region R] [--service s3] [--session-token T]
 *       [--time YYYYMMDDTHHMMSSZ] [--unsigned-payload]
 *       [-H 'Name: value']... [-v] METHOD URL
 *
 * The URL is what goes on the wire: its path is signed as given (already
 * encoded; never encoded again). The secret may also come from the
 * environment (EDGECACHE_SECRET_KEY) because argv is visible in ps. The
 * secret is never printed, not even in error messages; the session token
 * is printed only where it is part of the request (its header and, with
 * -v, the canonical request). Bad input: one line on stderr, exit 2.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "control/cli.h"
#include "core/limits.h"
#include "sigv4/sigv4.h"

#define SIGN_ENV_SECRET "EDGECACHE_SECRET_KEY"

struct sign_args {
	const char *access_key, *secret_file, *region, *service, *token, *time_str;
	char *secret_arg;                 /* argv memory, wiped once copied */
	bool unsigned_payload, verbose;
	struct sigv4_header h[LIMIT_SIGV4_HEADERS];
	size_t n_h;
	const char *method, *url;
};

/* What goes on the wire, parsed from the URL. */
struct sign_url {
	char host[LIMIT_HOST_BYTES + 16];  /* [v6] or name, plus :port */
	size_t host_len;
	const char *path, *query;
	size_t path_len, query_len;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("edgecache sign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* "Name: value" → a header to sign (value trimmed by the signer). */
static int add_header(struct sign_args *a, const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (!colon || colon == arg)
		return fail("-H wants 'Name: value', got no name or no ':'");
	if (a->n_h == LIMIT_SIGV4_HEADERS - 5)   /* room for what the signer adds */
		return fail("more than %d -H headers", LIMIT_SIGV4_HEADERS - 5);
	a->h[a->n_h++] = (struct sigv4_header){
		.name = arg, .name_len = (size_t)(colon - arg),
		.value = colon + 1, .value_len = strlen(colon + 1),
	};
	return 0;
}

/* The option as typed, without any "=value" (it may be a secret). */
static int bad_option(const char *arg)
{
	size_t n = strcspn(arg, "=");

	fprintf(stderr, "edgecache sign: unknown option or missing value: %.*s\n",
		(int)(n > 64 ? 64 : n), arg);
	return 2;
}

static int parse_args(int argc, char **argv, struct sign_args *a)
{
	static const struct option opts[] = {
		{ "access-key", required_argument, NULL, 'a' },
		{ "secret-key", required_argument, NULL, 's' },
		{ "secret-key-file", required_argument, NULL, 'f' },
		{ "region", required_argument, NULL, 'r' },
		{ "service", required_argument, NULL, 'S' },
		{ "session-token", required_argument, NULL, 't' },
		{ "time", required_argument, NULL, 'T' },
		{ "unsigned-payload", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+H:v", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': a->access_key = optarg; break;
		case 's': a->secret_arg = optarg; break;
		case 'f': a->secret_file = optarg; break;
		case 'r': a->region = optarg; break;
		case 'S': a->service = optarg; break;
		case 't': a->token = optarg; break;
		case 'T': a->time_str = optarg; break;
		case 'u': a->unsigned_payload = true; break;
		case 'v': a->verbose = true; break;
		case 'H':
			if ((rc = add_header(a, optarg)) != 0)
				return rc;
			break;
		default:
			return bad_option(argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return fail("want METHOD URL after the options");
	a->method = argv[optind];
	a->url = argv[optind + 1];
	return 0;
}

/* A wire path or query: printable ASCII, no space, escapes well formed. */
static int wire_ok(const char *s, size_t n)
{
	char tmp[1];

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '#')
			return 0;
		if (ch == '%' && sigv4_uri_decode(s + i, n - i < 3 ? n - i : 3,
						  tmp, sizeof(tmp)) != 1)
			return 0;
	}
	return 1;
}

/* host[:port] or [v6][:port] → Host header (lower-case, default port
 * dropped, as HTTP clients and botocore send it). */
static int parse_authority(const char *s, size_t n, bool https, struct sign_url *u)
{
	const char *end = s + n, *colon;
	size_t hlen;

	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		colon = rb && rb + 1 < end ? rb + 1 : NULL;
		if (!rb || (colon && *colon != ':'))
			return fail("bad URL: bad [IPv6] host");
		hlen = (size_t)(rb + 1 - s);
	} else {
		colon = memchr(s, ':', n);
		hlen = colon ? (size_t)(colon - s) : n;
	}
	if (hlen == 0 || hlen > LIMIT_HOST_BYTES || memchr(s, '@', n))
		return fail("bad URL: empty, too long or user@ host");
	for (size_t i = 0; i < hlen; i++) {
		char ch = s[i];

		if (!isalnum((unsigned char)ch) && !strchr("-._[]:", ch))
			return fail("bad URL: bad character in host");
		u->host[i] = (char)tolower((unsigned char)ch);
	}
	u->host_len = hlen;
	if (!colon)
		return 0;
	char *pe;
	long port = strtol(colon + 1, &pe, 10);

	if (pe != end || colon + 1 == end || !isdigit((unsigned char)colon[1]) ||
	    port < 1 || port > 65535)
		return fail("bad URL: bad port");
	if (port != (https ? 443 : 80))
		u->host_len += (size_t)snprintf(u->host + hlen, sizeof(u->host) - hlen,
						":%ld", port);
	return 0;
}

static int parse_url(const char *url, struct sign_url *u)
{
	bool https = strncasecmp(url, "https://", 8) == 0;
	const char *p, *auth;
	size_t alen;
	int rc;

	if (!https && strncasecmp(url, "http://", 7) != 0)
		return fail("bad URL: want http:// or https://");
	auth = url + (https ? 8 : 7);
	alen = strcspn(auth, "/?#");
	if ((rc = parse_authority(auth, alen, https, u)) != 0)
		return rc;
	p = auth + alen;
	u->path = *p == '/' ? p : "/";
	u->path_len = *p == '/' ? strcspn(p, "?#") : 1;
	p += *p == '/' ? u->path_len : 0;
	u->query = *p == '?' ? p + 1 : NULL;
	u->query_len = u->query ? strlen(u->query) : 0;
	if (*p && *p != '?')
		return fail("bad URL: a fragment is never sent");
	if (!wire_ok(u->path, u->path_len) || !wire_ok(u->query ? u->query : "", u->query_len))
		return fail("bad URL: path and query must be percent-encoded as sent");
	return 0;
}

/* YYYYMMDDTHHMMSSZ, strictly; a date that does not exist is refused. */
static int parse_time(const char *s, time_t *out)
{
	struct tm tm = { 0 }, back;
	char again[32];

	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' ||
	    sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return fail("--time wants YYYYMMDDTHHMMSSZ (UTC)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	if (!gmtime_r(out, &back) ||
	    strftime(again, sizeof(again), "%Y%m%dT%H%M%SZ", &back) != 16 ||
	    strcmp(again, s) != 0)
		return fail("--time: no such date or time: %.16s", s);
	return 0;
}

/* The secret file's bytes, one trailing newline stripped. */
static int read_secret_file(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return fail("--secret-key-file %s: %s", path, strerror(errno));
	while (n < cap - 1 && (r = read(fd, out + n, cap - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return fail("--secret-key-file %s: %s", path, strerror(errno));
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = '\0';
	if (n > SIGV4_SECRET_MAX)
		return fail("--secret-key-file %s: longer than %d bytes", path, SIGV4_SECRET_MAX);
	return 0;
}

/* From --secret-key, --secret-key-file or the environment, into out. */
static int load_secret(struct sign_args *a, char *out, size_t cap)
{
	const char *env = getenv(SIGN_ENV_SECRET);

	if (a->secret_arg && a->secret_file)
		return fail("give --secret-key or --secret-key-file, not both");
	if (a->secret_file)
		return read_secret_file(a->secret_file, out, cap);
	if (!a->secret_arg && !(env && *env))
		return fail("no secret: give --secret-key, --secret-key-file or "
			    SIGN_ENV_SECRET);
	if (strlen(a->secret_arg ? a->secret_arg : env) > SIGV4_SECRET_MAX)
		return fail("the secret key is longer than %d bytes", SIGV4_SECRET_MAX);
	snprintf(out, cap, "%s", a->secret_arg ? a->secret_arg : env);
	if (a->secret_arg)   /* out of /proc/PID/cmdline from now on */
		explicit_bzero(a->secret_arg, strlen(a->secret_arg));
	return 0;
}

/* Which field is too long or bad, named (never shown: it may be secret). */
static int check_fields(const struct sign_args *a)
{
	const struct { const char *opt, *v; size_t max; } f[] = {
		{ "--access-key", a->access_key, SIGV4_ACCESS_KEY_MAX },
		{ "--region", a->region, SIGV4_REGION_MAX },
		{ "--service", a->service, SIGV4_SERVICE_MAX },
		{ "--session-token", a->token, SIGV4_TOKEN_MAX },
	};

	if (!a->access_key || !*a->access_key)
		return fail("no --access-key");
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].v && strlen(f[i].v) > f[i].max)
			return fail("%s is longer than %zu bytes", f[i].opt, f[i].max);
	return 0;
}

static void print_result(const struct sign_args *a, const struct sigv4_creds *c,
			 const struct sigv4_s3_signed *out, const struct sigv4_trace *tr)
{
	if (a->verbose)
		printf("--- canonical request ---\n%.*s\n--- string to sign ---\n%.*s\n"
		       "--- headers ---\n", (int)tr->canonical_request_len,
		       tr->canonical_request, (int)tr->string_to_sign_len,
		       tr->string_to_sign);
	printf("X-Amz-Date: %s\nX-Amz-Content-SHA256: %s\n", out->amz_date,
	       out->payload_hash);
	if (c->session_token[0])
		printf("X-Amz-Security-Token: %s\n", c->session_token);
	printf("Authorization: %.*s\n", (int)out->authorization_len, out->authorization);
}

static int sign_and_print(const struct sign_args *a, const struct sigv4_creds *c,
			  const struct sign_url *u, time_t now)
{
	static char cr[LIMIT_SIGV4_CANONICAL_BYTES + 1], sts[512];
	struct sigv4_trace tr = { cr, sizeof(cr), 0, sts, sizeof(sts), 0 };
	struct sigv4_s3_signed out;
	struct sigv4_s3_request r = {
		.method = a->method, .host = u->host, .host_len = u->host_len,
		.path = u->path, .path_len = u->path_len,
		.query = u->query, .query_len = u->query_len,
		.extra = a->h, .n_extra = a->n_h,
		.unsigned_payload = a->unsigned_payload, .now = now,
	};
	int rc = sigv4_s3_sign(c, &r, &out, &tr);

	if (rc == -ENOSPC)
		return fail("the request is too large to sign (limits in core/limits.h)");
	if (rc < 0)
		return fail("cannot sign: METHOD must be a token, -H names tokens "
			    "without control characters, and not Host or a header "
			    "the signer sets");
	print_result(a, c, &out, &tr);
	return fflush(stdout) == 0 ? 0 : fail("stdout: %s", strerror(errno));
}

int cli_sign_main(int argc, char **argv)
{
	struct sign_args a = { 0 };
	struct sign_url u = { 0 };
	struct sigv4_creds c;
	char secret[SIGV4_SECRET_MAX + 2];
	time_t now = time(NULL);
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc == 0)
		rc = check_fields(&a);
	if (rc == 0)
		rc = parse_url(a.url, &u);
	if (rc == 0 && a.time_str)
		rc = parse_time(a.time_str, &now);
	if (rc == 0)
		rc = load_secret(&a, secret, sizeof(secret));
	if (rc != 0)
		return rc;
	rc = sigv4_creds_init(&c, a.access_key, secret, a.region, a.service,
			      a.token, now);
	explicit_bzero(secret, sizeof(secret));
	if (rc < 0)
		return fail("%s", rc == -EINVAL ? "a credential is empty or has a "
			    "control character" : "a credential is too long");
	rc = sign_and_print(&a, &c, &u, now);
	sigv4_creds_wipe(&c);
	return rc;
}
