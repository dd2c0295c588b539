/*
 * bench/http1_bench.c — ns per parse of a typical ~400-byte browser GET
 * (and of a typical origin response head), single thread, warm cache.
 * Run by hand: build/bench/http1_bench [iterations]. Pin it
 * (taskset -c 1) for stable numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/http1.h"

static const char get[] =
	"GET /assets/js/app.3f2a9c81.min.js?v=20240115 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
	"Accept: */*\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Referer: https://www.example.com/products/index.html\r\n"
	"Connection: keep-alive\r\n"
	"Sec-Fetch-Dest: script\r\n"
	"Sec-Fetch-Mode: no-cors\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"\r\n";

static const char resp[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/javascript\r\n"
	"Content-Length: 48213\r\n"
	"Last-Modified: Mon, 15 Jan 2024 10:00:00 GMT\r\n"
	"ETag: \"5e8c-60f0a1b2c3d4e\"\r\n"
	"Cache-Control: public, max-age=31536000, immutable\r\n"
	"Date: Tue, 16 Jan 2024 08:00:00 GMT\r\n"
	"Server: nginx\r\n"
	"\r\n";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int parse_get(void)
{
	static struct http1_request req;

	return http1_parse_request(get, sizeof(get) - 1, &req);
}

static int parse_resp(void)
{
	static struct http1_response r;

	return http1_parse_response(resp, sizeof(resp) - 1, false, &r);
}

/* ns per call of parse(), which must return `want` every time. */
static double bench(int (*parse)(void), int want, long iters)
{
	double t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		int n = parse();

		if (n != want) {
			fprintf(stderr, "http1_bench: parse failed: %s\n",
				http1_err_name(n));
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 5000000;
	double best_req = 1e9, best_resp = 1e9;

	if (iters <= 0) {
		fprintf(stderr, "usage: http1_bench [iterations]\n");
		return 2;
	}
	bench(parse_get, (int)sizeof(get) - 1, iters / 10);     /* warm up */
	for (int round = 0; round < 3; round++) {
		double a = bench(parse_get, (int)sizeof(get) - 1, iters);
		double b = bench(parse_resp, (int)sizeof(resp) - 1, iters);

		best_req = a < best_req ? a : best_req;
		best_resp = b < best_resp ? b : best_resp;
	}
	printf("request  %zu bytes: %.1f ns/parse (%.2f GB/s), best of 3 x %ld\n",
	       sizeof(get) - 1, best_req, (double)(sizeof(get) - 1) / best_req,
	       iters);
	printf("response %zu bytes: %.1f ns/parse (%.2f GB/s), best of 3 x %ld\n",
	       sizeof(resp) - 1, best_resp, (double)(sizeof(resp) - 1) / best_resp,
	       iters);
	return 0;
}
