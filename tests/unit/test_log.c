/*
 * tests/unit/test_log.c — core/log.c: an error-log line at
 * LIMIT_LOG_LINE_BYTES - 1 bytes (its newline included) is written whole,
 * one byte more of message is cut and the line stays one line.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "check.h"

/* The prefix: "2026-11-28T19:30:00.123Z [error] " */
#define PREFIX 33

static char got[2 * LIMIT_LOG_LINE_BYTES];

/* Log msg at LOG_ERROR into a file standing in for stderr; what was written. */
static ssize_t logged(const char *msg)
{
	char path[] = "/tmp/test_log_XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	unlink(path);
	dup2(fd, 2);
	log_msg(LOG_ERROR, "%s", msg);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, got, sizeof(got) - 1, 0);
	close(fd);
	got[n > 0 ? n : 0] = '\0';
	return n;
}

int main(void)
{
	static char msg[LIMIT_LOG_LINE_BYTES + 16];
	size_t at = LIMIT_LOG_LINE_BYTES - 1 - PREFIX - 1;    /* line = limit - 1 bytes */

	memset(msg, 'm', at);
	msg[at - 1] = 'Z';
	msg[at] = '\0';
	CHECK_EQ_INT(logged(msg), LIMIT_LOG_LINE_BYTES - 1);
	CHECK(strstr(got, " [error] ") == got + PREFIX - 9);
	CHECK(got[LIMIT_LOG_LINE_BYTES - 3] == 'Z' && got[LIMIT_LOG_LINE_BYTES - 2] == '\n');

	/* one past: the same length, the message's last byte cut */
	msg[at - 1] = 'm';
	msg[at] = 'Z';
	msg[at + 1] = '\0';
	CHECK_EQ_INT(logged(msg), LIMIT_LOG_LINE_BYTES - 1);
	CHECK(got[LIMIT_LOG_LINE_BYTES - 3] == 'm' && got[LIMIT_LOG_LINE_BYTES - 2] == '\n');
	CHECK(strchr(got, '\n') == got + LIMIT_LOG_LINE_BYTES - 2);

	/* far past: still one line of that length */
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	CHECK_EQ_INT(logged(msg), LIMIT_LOG_LINE_BYTES - 1);
	CHECK(strchr(got, '\n') == got + LIMIT_LOG_LINE_BYTES - 2);
	return check_exit();
}
