/*
 * tests/unit/test_vary.c — cache/vary: the marker's format (at and one past
 * its length bounds), reading a marker back, the variants a marker lists
 * (at LIMIT_VARY_VARIANTS and one past, names that change), and whether a
 * collapsed follower shares the leader's response (at LIMIT_VARY_FIELDS
 * names and one past). Heads are parsed by net/http1 from text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache/vary.h"
#include "net/http1.h"
#include "check.h"

static char texts[8][8192];

static void request(int slot, const char *headers, struct http1_request *r)
{
	snprintf(texts[slot], sizeof(texts[slot]), "GET /o HTTP/1.1\r\nHost: a\r\n%s\r\n",
		 headers);
	if (http1_parse_request(texts[slot], strlen(texts[slot]), r) <= 0) {
		fprintf(stderr, "bad test request: %s\n", texts[slot]);
		exit(1);
	}
}

static void response(int slot, const char *headers, struct http1_response *r)
{
	snprintf(texts[slot], sizeof(texts[slot]), "HTTP/1.1 200 OK\r\n%s\r\n", headers);
	if (http1_parse_response(texts[slot], strlen(texts[slot]), false, r) <= 0) {
		fprintf(stderr, "bad test response: %s\n", texts[slot]);
		exit(1);
	}
}

static const struct cindex_key primary = { .lo = 0x1111, .hi = 0x2222 };

/* The key hcache gives variant vh of primary at epoch. */
static struct cindex_key variant_of(uint64_t epoch, uint64_t vh)
{
	struct hcache_key pk = { .hi = primary.hi, .lo = primary.lo }, vk;
	hcache_variant_key(&pk, epoch, vh, &vk);
	return (struct cindex_key){ .lo = vk.lo, .hi = vk.hi };
}

static bool key_eq(struct cindex_key a, struct cindex_key b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

static void test_marker_bounds(void)
{
	struct vary_state s = { .have = true, .n = 2, .epoch = 7, .vary = { 1, 2 } };
	char buf[VARY_MARKER_MAX_BYTES + 8];
	char names[LIMIT_VARY_NAMES_BYTES + 1];
	memset(names, 'a', sizeof(names));

	int header = vary_marker_encode(&s, names, 0, buf, sizeof(buf));
	CHECK(header > 0);
	/* a marker with no names is header-only: the shortest one */
	CHECK(vary_is_marker(buf, (uint32_t)header));
	CHECK(!vary_is_marker(buf, (uint32_t)header - 1));
	/* names at LIMIT_VARY_NAMES_BYTES: fits, and is a marker; one past: refused */
	int full = vary_marker_encode(&s, names, LIMIT_VARY_NAMES_BYTES, buf, sizeof(buf));
	CHECK_EQ_INT(full, header + LIMIT_VARY_NAMES_BYTES);
	CHECK(full <= VARY_MARKER_MAX_BYTES);
	CHECK(vary_is_marker(buf, (uint32_t)full));
	CHECK_EQ_INT(vary_marker_encode(&s, names, LIMIT_VARY_NAMES_BYTES + 1, buf, sizeof(buf)),
		     -ENOSPC);
	/* the buffer: exactly the length fits, one byte less does not */
	CHECK_EQ_INT(vary_marker_encode(&s, names, 10, buf, (size_t)header + 10), header + 10);
	CHECK_EQ_INT(vary_marker_encode(&s, names, 10, buf, (size_t)header + 9), -ENOSPC);
	/* meta longer than any marker, or another magic: not a marker */
	CHECK(vary_is_marker(buf, VARY_MARKER_MAX_BYTES));
	CHECK(!vary_is_marker(buf, VARY_MARKER_MAX_BYTES + 1));
	buf[0] ^= 1;
	CHECK(!vary_is_marker(buf, (uint32_t)header));
}

static void test_marker_roundtrip(void)
{
	const char *names = "accept-encoding,accept-language";
	struct vary_state w = { .have = true, .n = 3, .epoch = 0xabcdef, .vary = { 5, 6, 7 } };
	struct vary_state r;
	struct http1_request rq;
	struct cindex_key vk;
	char buf[VARY_MARKER_MAX_BYTES];
	uint64_t vh;

	int len = vary_marker_encode(&w, names, strlen(names), buf, sizeof(buf));
	CHECK(len > 0);
	request(0, "Accept-Encoding: gzip\r\nAccept-Language: fr\r\n", &rq);
	memset(&r, 0, sizeof(r));
	CHECK_EQ_INT(vary_from_marker(&r, buf, (uint32_t)len, primary, &rq, &vk), 0);
	CHECK(r.have && r.variant);
	CHECK_EQ_INT(r.n, 3);
	CHECK_EQ_INT(r.vary[2], 7);
	CHECK(r.epoch == 0xabcdef);
	CHECK(r.names_hash == XXH3_64bits(names, strlen(names)));
	CHECK_EQ_INT(vary_request_key(names, strlen(names), &rq, &vh), 0);
	CHECK(key_eq(vk, variant_of(0xabcdef, vh)));

	/* another visitor's values: another variant of the same marker */
	struct cindex_key vk2;
	request(1, "Accept-Encoding: br\r\nAccept-Language: fr\r\n", &rq);
	CHECK_EQ_INT(vary_from_marker(&r, buf, (uint32_t)len, primary, &rq, &vk2), 0);
	CHECK(!key_eq(vk, vk2));

	/* damaged: names longer than the meta, n one past the bound, not a marker */
	struct vary_state bad = w;
	bad.n = LIMIT_VARY_VARIANTS;
	len = vary_marker_encode(&bad, names, strlen(names), buf, sizeof(buf));
	CHECK_EQ_INT(vary_from_marker(&r, buf, (uint32_t)len, primary, &rq, &vk2), 0);
	bad.n = LIMIT_VARY_VARIANTS + 1;
	len = vary_marker_encode(&bad, names, strlen(names), buf, sizeof(buf));
	CHECK_EQ_INT(vary_from_marker(&r, buf, (uint32_t)len, primary, &rq, &vk2), -EINVAL);
	len = vary_marker_encode(&w, names, strlen(names), buf, sizeof(buf));
	CHECK_EQ_INT(vary_from_marker(&r, buf, (uint32_t)len - 1, primary, &rq, &vk2), -EINVAL);
	CHECK_EQ_INT(vary_from_marker(&r, buf, 8, primary, &rq, &vk2), -EINVAL);
}

static void test_request_key(void)
{
	struct http1_request a, b;
	uint64_t ka, kb;
	char names[LIMIT_VARY_NAMES_BYTES];
	size_t n = 0;

	request(0, "Accept-Encoding: gzip, br\r\n", &a);
	request(1, "Accept-Encoding: gzip,br\r\n", &b);
	CHECK_EQ_INT(vary_request_key("accept-encoding", 15, &a, &ka), 0);
	CHECK_EQ_INT(vary_request_key("accept-encoding", 15, &b, &kb), 0);
	CHECK(ka == kb);                    /* whitespace around commas is not a variant */
	/* LIMIT_VARY_FIELDS names read back; one more is refused */
	for (int i = 0; i < LIMIT_VARY_FIELDS; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%sx%02d", i ? "," : "", i);
	CHECK_EQ_INT(vary_request_key(names, n, &a, &ka), 0);
	n += (size_t)snprintf(names + n, sizeof(names) - n, ",x99");
	CHECK_EQ_INT(vary_request_key(names, n, &a, &ka), -EINVAL);
}

static void test_add(void)
{
	struct vary_state s;
	struct cindex_key k;

	memset(&s, 0, sizeof(s));
	/* no marker yet: it starts with the epoch given and lists vh */
	CHECK_EQ_INT(vary_add(&s, 100, 1, 0x10, primary, &k), 1);
	CHECK(s.have && s.epoch == 1 && s.n == 1);
	CHECK(key_eq(k, variant_of(1, 0x10)));
	/* listed: the variant only, the epoch stays (the new one is not taken) */
	CHECK_EQ_INT(vary_add(&s, 100, 2, 0x10, primary, &k), 0);
	CHECK(s.epoch == 1 && s.n == 1);
	CHECK(key_eq(k, variant_of(1, 0x10)));
	/* up to LIMIT_VARY_VARIANTS listed, then refused (the key still set) */
	for (uint64_t v = 0x11; s.n < LIMIT_VARY_VARIANTS; v++)
		CHECK_EQ_INT(vary_add(&s, 100, 2, v, primary, &k), 1);
	CHECK_EQ_INT(s.n, LIMIT_VARY_VARIANTS);
	CHECK_EQ_INT(vary_add(&s, 100, 2, 0x10, primary, &k), 0);    /* listed: fine */
	CHECK_EQ_INT(vary_add(&s, 100, 2, 0x999, primary, &k), -ENOSPC);
	CHECK(key_eq(k, variant_of(1, 0x999)));
	CHECK_EQ_INT(s.n, LIMIT_VARY_VARIANTS);
	/* other names: a new epoch, the old list forgotten */
	CHECK_EQ_INT(vary_add(&s, 200, 3, 0x10, primary, &k), 1);
	CHECK(s.epoch == 3 && s.n == 1 && s.names_hash == 200 && s.vary[1] == 0);
	CHECK(key_eq(k, variant_of(3, 0x10)));
	CHECK(!key_eq(k, variant_of(1, 0x10)));
}

static void test_shares(void)
{
	struct http1_request a, b;
	struct http1_response r;
	char many[1024];
	size_t n = 0;

	request(0, "Accept-Encoding: gzip\r\n", &a);
	request(1, "Accept-Encoding: br\r\n", &b);
	static const struct { const char *vary; int same, other; } cases[] = {
		{ "",                                   1, 1 },   /* no Vary */
		{ "Vary: accept-encoding\r\n",          1, 0 },
		{ "Vary: Accept-Language\r\n",          1, 1 },   /* neither sent it */
		{ "Vary: *\r\n",                       -1, -1 },
		{ "Vary: accept-encoding, *\r\n",      -1, -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		response(2, cases[i].vary, &r);
		CHECK_EQ_INT(vary_shares(&r, &a, &a), cases[i].same);
		CHECK_EQ_INT(vary_shares(&r, &a, &b), cases[i].other);
	}
	/* LIMIT_VARY_FIELDS names: still a marker; one past: never shared */
	n = (size_t)snprintf(many, sizeof(many), "Vary: accept-encoding");
	for (int i = 1; i < LIMIT_VARY_FIELDS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, ", x%02d", i);
	snprintf(many + n, sizeof(many) - n, "\r\n");
	response(2, many, &r);
	CHECK_EQ_INT(vary_shares(&r, &a, &b), 0);
	snprintf(many + n, sizeof(many) - n, ", x99\r\n");
	response(2, many, &r);
	CHECK_EQ_INT(vary_shares(&r, &a, &a), -1);
}

int main(void)
{
	test_marker_bounds();
	test_marker_roundtrip();
	test_request_key();
	test_add();
	test_shares();
	return check_exit();
}
