/*
 * tests/fuzz/fuzz_targeted.c — fuzz target for targeted cache-control
 * fields (cache/http_cache_targeted.c: RFC 9213, read as RFC 8941
 * Dictionaries from an origin's response).
 *
 * Beyond "does not crash" (ASan/UBSan), it checks what the parser
 * promises: every number it reports is -1 or in [0, 2^31]; only known
 * flags are set; a field whose lines ('\n' in the input, OWS trimmed as
 * net/http1 trims field values) read reads as those lines joined by ", "
 * (RFC 9110 5.3: one list; the converse need not hold: a member split
 * across lines, inside a string, is not read); the zone's own field and
 * CDN-Cache-Control read alike; a name check never crashes. A broken
 * promise aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache/http_cache.h"

#include "tests/fuzz/fuzz.h"

#define LINES 8

static const uint32_t known_flags = HCACHE_CC_NO_STORE | HCACHE_CC_NO_CACHE | HCACHE_CC_PRIVATE |
	HCACHE_CC_PUBLIC | HCACHE_CC_MUST_REVALIDATE | HCACHE_CC_PROXY_REVALIDATE |
	HCACHE_CC_IMMUTABLE | HCACHE_CC_MUST_UNDERSTAND;

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void check_numbers(const struct hcache_cc *cc)
{
	const int64_t v[] = { cc->max_age, cc->s_maxage, cc->stale_while_revalidate,
			      cc->stale_if_error };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		FUZZ_ASSERT(v[i] >= -1 && v[i] <= LIMIT_DELTA_SECONDS_MAX);
	FUZZ_ASSERT(cc->max_stale == -1 && cc->min_fresh == -1);
	FUZZ_ASSERT((cc->flags & ~known_flags) == 0);
}

/* Field by field: the struct has padding, which no parse writes. */
static bool same_cc(const struct hcache_cc *x, const struct hcache_cc *y)
{
	return x->flags == y->flags && x->max_age == y->max_age && x->s_maxage == y->s_maxage &&
	       x->max_stale == y->max_stale && x->min_fresh == y->min_fresh &&
	       x->stale_while_revalidate == y->stale_while_revalidate &&
	       x->stale_if_error == y->stale_if_error;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char joined[8192];
	const char *p = (const char *)data, *end = p + size;
	struct http1_header lines[LINES], own[LINES], one;
	struct hcache_policy pol = { .targeted_field = "Edge-CC" };
	struct hcache_cc a, b, c;
	size_t n = 0, jl = 0;

	hcache_targeted_name_valid(p, size);
	if (size > sizeof(joined) / 2)
		return 0;
	while (p <= end && n < LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *s = p;

		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		lines[n] = (struct http1_header){ .name = "CDN-Cache-Control", .name_len = 17,
						  .value = s, .value_len = (uint32_t)(e - s) };
		own[n] = lines[n];
		own[n].name = "edge-cc";
		own[n].name_len = 7;
		if (n) {                 /* an empty line is an empty member too */
			memcpy(joined + jl, ", ", 2);
			jl += 2;
		}
		memcpy(joined + jl, s, (size_t)(e - s));
		jl += (size_t)(e - s);
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	if (p < end && n == LINES)
		return 0;                /* more lines than we compare */
	one = (struct http1_header){ .name = "cdn-cache-control", .name_len = 17, .value = joined,
				     .value_len = (uint32_t)jl };

	int ra = hcache_parse_targeted(&pol, lines, n, &a);
	int rb = hcache_parse_targeted(&pol, &one, 1, &b);
	int rc = hcache_parse_targeted(&pol, own, n, &c);
	FUZZ_ASSERT(ra == 0 || ra == 1);
	FUZZ_ASSERT(ra == rc && (ra == 0 || rb == 1));
	if (rb)
		check_numbers(&b);
	if (ra) {
		check_numbers(&a);
		FUZZ_ASSERT(same_cc(&a, &b) && same_cc(&a, &c));
	}
	return 0;
}
