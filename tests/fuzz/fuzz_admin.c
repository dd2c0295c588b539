/*
 * tests/fuzz/fuzz_admin.c — libFuzzer target for the admin API's request
 * side (control/admin_req.h): framing, token, routing, origin and purge body
 * decoding, on one input taken as a whole admin request.
 *
 * Beyond "does not crash" (ASan/UBSan), it checks what admin_req.h
 * promises: framing gives "more", a complete request inside the input,
 * or one of its error statuses; the same bytes framed alone give the same
 * request; a route names only canonical lower-case uuids; a decoded body
 * holds a value for every field it says is set, with no control
 * character in it. A broken promise aborts.
 *
 * Built with clang -fsanitize=fuzzer when meson's `fuzz` option is on;
 * otherwise fuzz_main.c drives it as a replay + mutation test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/admin_req.h"
#include "control/config_load.h"

#include "tests/fuzz/fuzz.h"

static bool no_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check_uuid(const char *u)
{
	if (!u[0])
		return;
	FUZZ_ASSERT(cfg_valid_uuid(u));
	for (; *u; u++)
		FUZZ_ASSERT(!(*u >= 'A' && *u <= 'F'));
}

static void check_bodies(const struct admin_req *r)
{
	struct admin_origin_in in;
	struct admin_purge_in pin;
	struct admin_err e;
	int rc = admin_origin_decode(r->body, r->body_len, &in, &e);

	FUZZ_ASSERT(rc == 0 || rc == 400 || rc == 422);
	FUZZ_ASSERT(rc == 0 || e.status == rc);
	for (int f = 0; rc == 0 && f < ADMIN_F__COUNT; f++) {
		FUZZ_ASSERT(!in.set[f] || in.val[f]);
		FUZZ_ASSERT(!in.set[f] || no_ctl(in.val[f]));
	}
	admin_origin_in_free(&in);
	rc = admin_purge_decode(r->body, r->body_len, &pin, &e);
	FUZZ_ASSERT(rc == 0 || rc == 400 || rc == 422);
	FUZZ_ASSERT(rc != 0 || !pin.prefix == (pin.n_paths > 0));
	for (size_t i = 0; rc == 0 && i < pin.n_paths; i++)
		FUZZ_ASSERT(pin.paths[i][0] == '/' && no_ctl(pin.paths[i]));
	admin_purge_in_free(&pin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct admin_req r, r2;
	struct admin_err e;
	const char *buf = (const char *)data;
	int rc = admin_req_frame(buf, size, &r, &e);

	FUZZ_ASSERT(rc == -1 || rc == 0 || rc == 400 || rc == 411 || rc == 413 || rc == 431);
	if (rc != 0)
		return 0;
	FUZZ_ASSERT(r.head_len + r.body_len <= size);
	FUZZ_ASSERT(r.body == buf + r.head_len);
	FUZZ_ASSERT(admin_req_frame(buf, r.head_len + r.body_len, &r2, &e) == 0);
	FUZZ_ASSERT(r2.head_len == r.head_len && r2.body_len == r.body_len);
	(void)admin_req_authorized(&r, "tok-0123456789abcdef");
	FUZZ_ASSERT(admin_req_authorized(&r, NULL));
	rc = admin_req_route(&r, &e);
	FUZZ_ASSERT(rc == 0 || rc == 404 || rc == 405);
	check_uuid(r.zone);
	check_uuid(r.origin);
	FUZZ_ASSERT(rc != 0 || r.route != ADMIN_R_NONE);
	check_bodies(&r);
	return 0;
}
