/*
 * cache/http_cache_targeted.c — targeted cache-control fields (RFC 9213):
 * CDN-Cache-Control and the zone's own field, read as RFC 8941 Dictionaries
 * (contracts in cache/http_cache.h, "targeted cache control").
 *
 * A targeted field is the origin speaking to this cache and no other: when
 * one applies it replaces Cache-Control and Expires for every decision, and
 * it is never forwarded to the visitor. Anything we cannot read exactly
 * (not a valid Structured Field, a freshness directive that is not a
 * non-negative Integer) makes the field not apply: Cache-Control decides,
 * as it would for a cache that does not know the field (RFC 9213 2.1).
 */
#include <string.h>
#include <strings.h>

#include "cache/http_cache.h"
#include "cache/http_cache_int.h"

enum sf_type { SF_TRUE, SF_FALSE, SF_INT, SF_OTHER };

struct sf_value {
	enum sf_type type;
	int64_t i;               /* SF_INT, capped at LIMIT_DELTA_SECONDS_MAX */
};

struct sf_cursor {
	const char *p, *end;
};

static bool lcalpha(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool alpha(char c)
{
	return lcalpha(c) || (c >= 'A' && c <= 'Z');
}

/* c is one of set's characters (never the NUL that strchr would find). */
static bool in(const char *set, char c)
{
	return c && strchr(set, c);
}

/* RFC 9110 tchar */
static bool tchar(char c)
{
	return alpha(c) || digit(c) || in("!#$%&'*+-.^_`|~", c);
}

static bool at(const struct sf_cursor *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static void skip_sp(struct sf_cursor *c)
{
	while (at(c, ' '))
		c->p++;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static bool sf_key(struct sf_cursor *c, struct hcache_span *k)
{
	const char *s = c->p;

	if (c->p == c->end || !(lcalpha(*c->p) || *c->p == '*'))
		return false;
	while (c->p < c->end && (lcalpha(*c->p) || digit(*c->p) || in("_-.*", *c->p)))
		c->p++;
	k->p = s;
	k->len = (uint32_t)(c->p - s);
	return true;
}

/* sf-integer (at most 15 digits) or sf-decimal (12.3 digits) */
static bool sf_number(struct sf_cursor *c, struct sf_value *v)
{
	bool neg = at(c, '-'), dec = false;
	int n = 0, frac = 0;
	int64_t i = 0;

	if (neg)
		c->p++;
	if (c->p == c->end || !digit(*c->p))
		return false;
	for (; c->p < c->end; c->p++) {
		if (digit(*c->p)) {
			if (dec)
				frac++;
			else if (i < LIMIT_DELTA_SECONDS_MAX)
				i = i * 10 + (*c->p - '0');
			if (++n > (dec ? 16 : 15))
				return false;
		} else if (*c->p == '.' && !dec) {
			if (n > 12)
				return false;
			dec = true;
		} else {
			break;
		}
	}
	if (dec && (frac < 1 || frac > 3))
		return false;
	v->type = dec || neg ? SF_OTHER : SF_INT;
	v->i = i < LIMIT_DELTA_SECONDS_MAX ? i : LIMIT_DELTA_SECONDS_MAX;
	return true;
}

/* bare-item: integer, decimal, string, token, byte sequence, boolean */
static bool sf_bare_item(struct sf_cursor *c, struct sf_value *v)
{
	v->type = SF_OTHER;
	if (c->p == c->end)
		return false;
	if (*c->p == '-' || digit(*c->p))
		return sf_number(c, v);
	if (*c->p == '"') {
		for (c->p++; c->p < c->end; c->p++) {
			unsigned char ch = (unsigned char)*c->p;
			if (ch == '"') {
				c->p++;
				return true;
			}
			if (ch == '\\') {
				if (++c->p == c->end || (*c->p != '"' && *c->p != '\\'))
					return false;
			} else if (ch < 0x20 || ch > 0x7e) {
				return false;
			}
		}
		return false;            /* no closing quote */
	}
	if (alpha(*c->p) || *c->p == '*') {
		while (c->p < c->end && (tchar(*c->p) || *c->p == ':' || *c->p == '/'))
			c->p++;
		return true;
	}
	if (*c->p == ':') {
		for (c->p++; c->p < c->end && *c->p != ':'; c->p++)
			if (!(alpha(*c->p) || digit(*c->p) || in("+/=", *c->p)))
				return false;
		if (c->p == c->end)
			return false;
		c->p++;
		return true;
	}
	if (*c->p == '?' && c->p + 1 < c->end && (c->p[1] == '0' || c->p[1] == '1')) {
		v->type = c->p[1] == '1' ? SF_TRUE : SF_FALSE;
		c->p += 2;
		return true;
	}
	return false;
}

/* parameters = *( ";" *SP key [ "=" bare-item ] ): read and ignored */
static bool sf_params(struct sf_cursor *c)
{
	struct hcache_span k;
	struct sf_value v;

	while (at(c, ';')) {
		c->p++;
		skip_sp(c);
		if (!sf_key(c, &k))
			return false;
		if (at(c, '=')) {
			c->p++;
			if (!sf_bare_item(c, &v))
				return false;
		}
	}
	return true;
}

/* inner-list = "(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters */
static bool sf_inner_list(struct sf_cursor *c)
{
	struct sf_value v;

	c->p++;
	for (;;) {
		skip_sp(c);
		if (at(c, ')')) {
			c->p++;
			return sf_params(c);
		}
		if (!sf_bare_item(c, &v) || !sf_params(c))
			return false;
		if (!at(c, ' ') && !at(c, ')'))
			return false;
	}
}

/* Which number a directive sets (NULL: a flag or unknown). */
static int64_t *number_of(struct hcache_cc *cc, struct hcache_span k)
{
	if (hcache_eq(k.p, k.len, "max-age"))
		return &cc->max_age;
	if (hcache_eq(k.p, k.len, "s-maxage"))
		return &cc->s_maxage;
	if (hcache_eq(k.p, k.len, "stale-while-revalidate"))
		return &cc->stale_while_revalidate;
	if (hcache_eq(k.p, k.len, "stale-if-error"))
		return &cc->stale_if_error;
	return NULL;
}

static const struct { const char *name; uint32_t flag; } flags[] = {
	{ "no-store", HCACHE_CC_NO_STORE }, { "no-cache", HCACHE_CC_NO_CACHE },
	{ "private", HCACHE_CC_PRIVATE }, { "public", HCACHE_CC_PUBLIC },
	{ "must-revalidate", HCACHE_CC_MUST_REVALIDATE },
	{ "proxy-revalidate", HCACHE_CC_PROXY_REVALIDATE },
	{ "immutable", HCACHE_CC_IMMUTABLE },
	{ "must-understand", HCACHE_CC_MUST_UNDERSTAND },
};

/* One member into cc (a later member of the same key overrides an earlier
 * one: RFC 8941 4.2.2). False when a number is not a non-negative
 * Integer: the field does not apply then. */
static bool apply(struct hcache_cc *cc, struct hcache_span k, const struct sf_value *v)
{
	int64_t *num = number_of(cc, k);

	if (num) {
		if (v->type != SF_INT)
			return false;
		*num = v->i;
		return true;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!hcache_eq(k.p, k.len, flags[i].name))
			continue;
		/* ?0 clears; anything else (no-cache="f", private=(f)) sets it,
		 * as a qualified no-cache or private does in Cache-Control. */
		if (v->type == SF_FALSE)
			cc->flags &= ~flags[i].flag;
		else
			cc->flags |= flags[i].flag;
	}
	return true;                     /* unknown keys are extensions */
}

/* One field line's members into cc; false if it is not a Dictionary. */
static bool parse_line(const char *s, size_t len, struct hcache_cc *cc)
{
	struct sf_cursor c = { s, s + len };
	struct hcache_span k;
	struct sf_value v;

	skip_sp(&c);
	for (;;) {
		if (!sf_key(&c, &k))
			return false;
		v.type = SF_TRUE;
		if (at(&c, '=')) {
			c.p++;
			if (at(&c, '(')) {
				if (!sf_inner_list(&c))
					return false;
				v.type = SF_OTHER;
			} else if (!sf_bare_item(&c, &v) || !sf_params(&c)) {
				return false;
			}
		} else if (!sf_params(&c)) {
			return false;
		}
		if (!apply(cc, k, &v))
			return false;
		while (at(&c, ' ') || at(&c, '\t'))
			c.p++;
		if (c.p == c.end)
			return true;
		if (*c.p++ != ',')
			return false;
		while (at(&c, ' ') || at(&c, '\t'))
			c.p++;
		if (c.p == c.end)
			return false;            /* a trailing comma */
	}
}

/* Every line of field `name` as one Dictionary: 1 read, 0 absent, -1 not
 * a valid one (or a freshness directive of the wrong type). Line by line:
 * a member split across two lines (a string with the line break in it) is
 * not read — RFC 8941 would join the lines first; no origin splits one,
 * and not reading it only lets Cache-Control decide. */
static int parse_field(const struct http1_header *h, size_t n, const char *name,
		       size_t name_len, struct hcache_cc *cc)
{
	int lines = 0;

	*cc = HCACHE_CC_ABSENT;
	for (size_t i = 0; i < n; i++) {
		if (!hcache_eq_ci(h[i].name, h[i].name_len, name, name_len))
			continue;
		lines++;
		if (!parse_line(h[i].value, h[i].value_len, cc))
			return -1;
	}
	return lines > 0;
}

bool hcache_targeted_field(const struct http1_header *h, const char *own)
{
	return hcache_eq(h->name, h->name_len, "cdn-cache-control") ||
	       (own && hcache_eq_ci(h->name, h->name_len, own, strlen(own)));
}

int hcache_parse_targeted(const struct hcache_policy *pol, const struct http1_header *h,
			  size_t n, struct hcache_cc *cc)
{
	/* The most specific first: the zone's own, then CDN-Cache-Control. */
	if (pol->targeted_field &&
	    parse_field(h, n, pol->targeted_field, strlen(pol->targeted_field), cc) == 1)
		return 1;
	return parse_field(h, n, "cdn-cache-control", 17, cc) == 1;
}

bool hcache_targeted_name_valid(const char *name, size_t len)
{
	static const char *const taken[] = {
		"cache-control", "cdn-cache-control", "expires", "age", "date", "pragma",
		"vary", "x-cache",
	};

	if (len == 0 || len > LIMIT_TARGETED_FIELD_BYTES)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!tchar(name[i]))
			return false;
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		if (hcache_eq_ci(name, len, taken[i], strlen(taken[i])))
			return false;
	return !http1_is_hop_by_hop(name, len);
}
