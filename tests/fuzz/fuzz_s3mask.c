/*
 * tests/fuzz/fuzz_s3mask.c — target for the streaming token masker
 * (sigv4/s3_error.c, s3err_mask) that hides the session token in an S3 error
 * body passed through to a visitor.
 *
 * Input: byte 0 sets the token's length, the next bytes its characters
 * (base64 alphabet, as real tokens), the rest is the body, where a few
 * marker bytes expand to the token, its hex form ("hh hh", either case)
 * or a prefix of either, so that occurrences and near-misses are common.
 * The body is masked whole, byte by byte and in random pieces. Checked,
 * whatever the pieces:
 *   - every occurrence of the token in either form is all '*' (and so the
 *     output holds neither form);
 *   - every other byte is unchanged, except a run that matched a prefix of
 *     a form up to a piece's (or a 1 KiB window's) end: masked on
 *     suspicion, as s3_error.h allows.
 * A broken promise aborts.
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

#include "sigv4/s3_error.h"

#include "tests/fuzz/fuzz.h"

#define TOKEN_MAX   64
#define BODY_MAX    (16 * 1024)
#define WINDOW      1024        /* s3err_mask's window: a piece boundary too */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char token[TOKEN_MAX + 1];
static size_t token_len;
static char hexform[2][3 * TOKEN_MAX];  /* lower, upper case */
static size_t hex_len;

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void make_token(const uint8_t *p, size_t n, size_t *used)
{
	static const char hx[2][17] = { "0123456789abcdef", "0123456789ABCDEF" };

	token_len = n ? 1 + p[0] % TOKEN_MAX : 24;
	for (size_t i = 0; i < token_len; i++)
		token[i] = 1 + i < n ? b64[p[1 + i] % 64] : b64[(i * 7) % 64];
	token[token_len] = 0;
	*used = n ? (1 + token_len < n ? 1 + token_len : n) : 0;
	hex_len = 3 * token_len - 1;
	for (int c = 0; c < 2; c++)
		for (size_t i = 0; i < token_len; i++) {
			unsigned char b = (unsigned char)token[i];
			hexform[c][3 * i] = hx[c][b >> 4];
			hexform[c][3 * i + 1] = hx[c][b & 15];
			if (i + 1 < token_len)
				hexform[c][3 * i + 2] = ' ';
		}
}

static size_t put(uint8_t *body, size_t n, const char *s, size_t len)
{
	if (len > BODY_MAX - n)
		len = BODY_MAX - n;
	memcpy(body + n, s, len);
	return n + len;
}

/* 0xf0 token, 0xf1/0xf2 hex lower/upper, 0xf3 k / 0xf4 k a prefix of k
 * bytes of the token / the hex form; any other byte is itself. */
static size_t make_body(const uint8_t *p, size_t len, uint8_t *body)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < BODY_MAX; i++) {
		uint8_t k = i + 1 < len ? p[i + 1] : 1;
		switch (p[i]) {
		case 0xf0: n = put(body, n, token, token_len); break;
		case 0xf1: n = put(body, n, hexform[0], hex_len); break;
		case 0xf2: n = put(body, n, hexform[1], hex_len); break;
		case 0xf3: n = put(body, n, token, k % token_len); i++; break;
		case 0xf4: n = put(body, n, hexform[k & 1], k % hex_len); i++; break;
		default: body[n++] = p[i]; break;
		}
	}
	return n;
}

static bool eq_form(const uint8_t *p, size_t len, int form, size_t at)
{
	for (size_t i = 0; i < len; i++) {
		char c = (char)p[i];
		if (form == 0 ? c != token[at + i] :
		    c != hexform[0][at + i] && c != hexform[1][at + i])
			return false;
	}
	return true;
}

/* How many bytes from body[j] match the form from its start. */
static size_t match_len(const uint8_t *body, size_t n, size_t j, int form)
{
	size_t len = form == 0 ? token_len : hex_len, m = 0;

	while (m < len && j + m < n && eq_form(body + j + m, 1, form, m))
		m++;
	return m;
}

/* Feed body[0..n) in pieces (step 0: whole; 1: bytes; else random). */
static void mask_pieces(uint8_t *out, size_t n, size_t step, bool *boundary)
{
	struct s3err_masker m;
	size_t at = 0;

	memset(boundary, 0, n + 1);
	s3err_mask_init(&m, token);
	while (at < n) {
		size_t want = step == 0 ? n - at : step == 1 ? 1 : 1 + next() % step;
		size_t len = n - at < want ? n - at : want;

		s3err_mask(&m, (char *)out + at, len);
		for (size_t w = at + WINDOW; w < at + len; w += WINDOW)
			boundary[w] = true;
		at += len;
		boundary[at] = true;
	}
}

static void check(const uint8_t *body, const uint8_t *out, size_t n, const bool *boundary,
		  int16_t *allow)
{
	memset(allow, 0, (n + 1) * sizeof(*allow));   /* +1 / -1 marks: a difference array */
	for (int form = 0; form < 2; form++) {
		size_t len = form == 0 ? token_len : hex_len;
		for (size_t j = 0; j < n; j++) {
			size_t m = match_len(body, n, j, form), to = 0;
			if (m == len) {
				to = j + len;
				/* an occurrence: all of it masked */
				for (size_t i = j; i < to; i++)
					FUZZ_ASSERT(out[i] == '*');
			} else {
				for (size_t b = j + m; b > j && !to; b--)
					if (boundary[b])
						to = b;
			}
			if (to) {
				allow[j]++;
				allow[to]--;
			}
		}
	}
	int depth = 0;
	for (size_t i = 0; i < n; i++) {
		depth += allow[i];
		FUZZ_ASSERT(out[i] == body[i] || (out[i] == '*' && depth > 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t body[BODY_MAX], out[BODY_MAX];
	static bool boundary[BODY_MAX + 1];
	static int16_t allow[BODY_MAX + 1];
	uint64_t h = 1469598103934665603ULL;
	size_t used, n;

	make_token(data, size, &used);
	n = make_body(data + used, size - used, body);
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	rng = h | 1;
	for (int round = 0; round < 5; round++) {
		size_t step = round < 2 ? (size_t)round : 1 + next() % (round == 4 ? 3000 : 64);
		memcpy(out, body, n);
		mask_pieces(out, n, step, boundary);
		check(body, out, n, boundary, allow);
	}
	/* an empty secret masks nothing */
	struct s3err_masker m;
	memcpy(out, body, n);
	s3err_mask_init(&m, "");
	s3err_mask(&m, (char *)out, n);
	FUZZ_ASSERT(memcmp(out, body, n) == 0);
	return 0;
}
