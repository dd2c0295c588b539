/*
 * tests/unit/test_tls_openssl.c — net/tls against a real OpenSSL server:
 * Debian's `openssl s_server -www` on 127.0.0.1:TEST_PORT, driven by a
 * plain blocking socket loop around the buffer API (the shard will put
 * its ring where this loop has send/recv). Proves interop with OpenSSL:
 * TLS 1.2 and 1.3, verification, SNI + host name, resumption.
 * No openssl CLI → skip (77).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "tests/unit/check.h"
#include "tests/unit/tls_certs.h"

#define TEST_PORT 24443          /* our range: 24000-24999 */

extern char **environ;
static pid_t server_pid = -1;

static void server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
}

static int tcp_connect(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(TEST_PORT) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* openssl s_server in the background; 0 once it accepts (5 s at most). */
static int server_start(void)
{
	char port[16];
	char *argv[] = { "openssl", "s_server", "-accept", port, "-www", "-quiet",
			 "-cert", (char *)tlsc_path("origin.pem"),
			 "-key", (char *)tlsc_path("origin.key"), NULL };
	posix_spawn_file_actions_t fa;

	snprintf(port, sizeof(port), "127.0.0.1:%d", TEST_PORT);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&server_pid, "openssl", &fa, NULL, argv, environ) != 0)
		server_pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	if (server_pid < 0)
		return -1;
	atexit(server_stop);
	for (int i = 0; i < 100; i++) {
		int fd = tcp_connect();

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(50000);
	}
	return -1;
}

/* Send everything the session has to send. */
static int flush_out(int fd, struct tls_session *s)
{
	const void *p;
	size_t n;

	for (tls_pending_output(s, &p, &n); n; tls_pending_output(s, &p, &n)) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		tls_output_done(s, (size_t)k);
	}
	return 0;
}

/* One recv into the session (0 bytes = the peer closed: told to it). */
static int fill_in(int fd, struct tls_session *s)
{
	char buf[16384];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n < 0)
		return -1;
	/* -EAGAIN from the session means it drained its input: all fits */
	if (tls_feed(s, buf, (size_t)n) != (size_t)n)
		return -1;
	return 0;
}

/* Handshake over fd: 0 or the session's error. */
static int blocking_handshake(int fd, struct tls_session *s)
{
	for (int i = 0; i < 1000; i++) {
		int rc = tls_handshake(s);

		if (flush_out(fd, s))
			return -EIO;
		if (rc != -EAGAIN)
			return rc;
		if (fill_in(fd, s))
			return -EIO;
	}
	return -ETIMEDOUT;
}

/* GET / over HTTPS; the response in out (NUL-terminated); resumed or not
 * in *resumed. Returns 0 or a negative error. */
static int https_get(struct tls_ctx *ctx, const char *host, char *out, size_t cap,
		     bool *resumed)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct tls_session *s;
	size_t got = 0;
	int fd = tcp_connect(), rc;

	if (fd < 0 || tls_session_new(ctx, host, &s) != 0) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	rc = blocking_handshake(fd, s);
	if (rc) {
		fprintf(stderr, "handshake with %s: %d %s\n", host, rc, tls_reason(s));
		goto out;
	}
	*resumed = tls_resumed(s);
	if (tls_write(s, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1 || flush_out(fd, s)) {
		rc = -EIO;
		goto out;
	}
	for (int i = 0; i < 10000 && got + 1 < cap; i++) {
		ssize_t n = tls_read(s, out + got, cap - 1 - got);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == -EAGAIN) {
			if (flush_out(fd, s) || fill_in(fd, s))
				break;
		} else {
			/* 0: close_notify; s_server -www may also just close */
			rc = n == 0 || n == -ECONNRESET ? 0 : (int)n;
			break;
		}
	}
	out[got] = '\0';
out:
	tls_session_free(s);
	close(fd);
	return rc;
}

static void test_version(unsigned flags, const char *version)
{
	static char page[65536];
	struct tls_ctx *ctx;
	const char *why;
	bool resumed = true;

	CHECK_EQ_INT(tls_client_ctx_new(tlsc_path("ca.pem"), flags, &ctx, &why), 0);
	CHECK_EQ_INT(https_get(ctx, "origin.test", page, sizeof(page), &resumed), 0);
	CHECK(!resumed);
	CHECK(strncmp(page, "HTTP/1.0 200 ok", 15) == 0);
	/* s_server's page names the protocol it negotiated */
	CHECK(strstr(page, version) != NULL);
	/* a second connection resumes (TLS 1.3 ticket / TLS 1.2 ticket or id) */
	resumed = false;
	CHECK_EQ_INT(https_get(ctx, "origin.test", page, sizeof(page), &resumed), 0);
	CHECK(resumed);
	CHECK(strstr(page, "Reused") != NULL);
	/* the IP literal matches the IP SAN */
	CHECK_EQ_INT(https_get(ctx, "127.0.0.1", page, sizeof(page), &resumed), 0);
	/* wrong host name: refused before any request is sent */
	CHECK_EQ_INT(https_get(ctx, "other.test", page, sizeof(page), &resumed), -EKEYREJECTED);
	tls_ctx_free(ctx);

	CHECK_EQ_INT(tls_client_ctx_new(tlsc_path("ca2.pem"), flags, &ctx, &why), 0);
	CHECK_EQ_INT(https_get(ctx, "origin.test", page, sizeof(page), &resumed), -EKEYREJECTED);
	tls_ctx_free(ctx);
}

int main(void)
{
	int rc = tlsc_make();

	if (rc)
		return rc == 77 ? 77 : 1;
	signal(SIGPIPE, SIG_IGN);
	if (server_start()) {
		fprintf(stderr, "openssl s_server did not start on port %d\n", TEST_PORT);
		return 1;
	}
	test_version(TLS_ONLY_13, "TLSv1.3");
	test_version(TLS_ONLY_12, "TLSv1.2");
	test_version(0, "TLSv1.3");
	server_stop();
	return check_exit();
}
