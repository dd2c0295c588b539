/*
 * tests/fuzz/fuzz_main.c — a driver for fuzz_http1.c without libFuzzer
 * (gcc builds): replays every corpus file given on the command line, then
 * mutates each one (bit flips, byte changes, inserts of HTTP-ish bytes,
 * cuts, splices) with a fixed seed for a bounded time, so every run is
 * reproducible and the test ends. A broken invariant aborts (test fails);
 * the input that broke it is written to fuzz-crash-PID in the current
 * directory first, to replay (give it as the only FILE) and to add to the
 * corpus once fixed. Every target (fuzz_*.c) uses this driver.
 *
 * Usage: fuzz_X_replay [-t seconds] [-s seed] FILE|DIR...
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_INPUT  (64 * 1024)
#define FUZZ_MAX_SEEDS  256

static uint8_t *seeds[FUZZ_MAX_SEEDS];
static size_t seed_len[FUZZ_MAX_SEEDS];
static size_t n_seeds;
static uint64_t rng;
static const uint8_t *cur;      /* the input being run */
static size_t cur_len;

/* SIGABRT (a broken invariant, a sanitizer report): save the input. */
static void on_abort(int sig)
{
	char name[32] = "fuzz-crash-";
	int pid = (int)getpid(), k = 11, fd;
	char digits[12];
	int nd = 0;

	do
		digits[nd++] = (char)('0' + pid % 10);
	while ((pid /= 10) && nd < 11);
	while (nd)
		name[k++] = digits[--nd];
	name[k] = 0;
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && cur) {
		(void)!write(fd, cur, cur_len);
		close(fd);
		(void)!write(2, "fuzz: input saved to ", 21);
		(void)!write(2, name, (size_t)k);
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run(const uint8_t *p, size_t n)
{
	cur = p;
	cur_len = n;
	LLVMFuzzerTestOneInput(p, n);
}

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	buf = malloc(FUZZ_MAX_INPUT);
	n = buf ? fread(buf, 1, FUZZ_MAX_INPUT, f) : 0;
	fclose(f);
	if (!buf || n_seeds == FUZZ_MAX_SEEDS) {
		free(buf);
		fprintf(stderr, "fuzz: too many seeds or no memory\n");
		return -1;
	}
	seeds[n_seeds] = buf;
	seed_len[n_seeds++] = n;
	return 0;
}

static int load(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[4096];

	if (!d)
		return load_file(path);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (load_file(sub)) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* One random edit of buf[0..*n). */
static void mutate(uint8_t *buf, size_t *n)
{
	static const char bytes[] = "\r\n\t :;,0123456789abcdefxX-+\"\x00\x7f\x80\xff";
	size_t at = *n ? next() % *n : 0;
	uint8_t b = (uint8_t)bytes[next() % (sizeof(bytes) - 1)];

	switch (next() % 6) {
	case 0:
		if (*n)
			buf[at] ^= (uint8_t)(1u << (next() % 8));
		break;
	case 1:
		if (*n)
			buf[at] = b;
		break;
	case 2:
		if (*n < FUZZ_MAX_INPUT) {
			memmove(buf + at + 1, buf + at, *n - at);
			buf[at] = b;
			(*n)++;
		}
		break;
	case 3:
		if (*n) {
			memmove(buf + at, buf + at + 1, *n - at - 1);
			(*n)--;
		}
		break;
	case 4:
		*n = at;
		break;
	default: {      /* splice the tail of another seed */
		size_t s = next() % n_seeds, from = seed_len[s] ?
			next() % seed_len[s] : 0, take = seed_len[s] - from;

		if (at + take > FUZZ_MAX_INPUT)
			take = FUZZ_MAX_INPUT - at;
		memcpy(buf + at, seeds[s] + from, take);
		*n = at + take;
		break;
	}
	}
}

int main(int argc, char **argv)
{
	double seconds = 5;
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	unsigned long runs = 0;
	struct timespec t0, t;
	int i;

	rng = 0x9e3779b97f4a7c15ULL;
	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "-t"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "-s"))
			rng = strtoull(argv[i + 1], NULL, 0) | 1;
	}
	for (; i < argc; i++)
		if (load(argv[i]))
			return 1;
	if (!buf || !n_seeds) {
		fprintf(stderr, "fuzz: no corpus given\n");
		return 1;
	}
	signal(SIGABRT, on_abort);
	for (size_t s = 0; s < n_seeds; s++, runs++)
		run(seeds[s], seed_len[s]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		size_t s = next() % n_seeds, n = seed_len[s];
		int edits = 1 + (int)(next() % 4);

		memcpy(buf, seeds[s], n);
		while (edits--)
			mutate(buf, &n);
		run(buf, n);
		if (++runs % 64)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) +
		    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
			break;
	}
	fprintf(stderr, "fuzz: %zu seeds, %lu runs, no invariant broken\n",
		n_seeds, runs);
	for (size_t s = 0; s < n_seeds; s++)
		free(seeds[s]);
	free(buf);
	return 0;
}
