/*
 * cache/http_cache_parse.c — reading the fields a cache looks at:
 * Cache-Control, HTTP-dates, Age, ETag, Vary, and the request's
 * preconditions (contracts in cache/http_cache.h).
 *
 * Everything here errs towards "stale": a value we cannot read never makes
 * a response fresher than it would be without it (RFC 9111 4.2.1).
 */
#include <errno.h>
#include <string.h>

#include "cache/http_cache.h"
#include "cache/http_cache_int.h"

bool hcache_eq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len && lit[i]; i++)
		if (hcache_lower(s[i]) != lit[i])
			return false;
	return i == len && !lit[i];
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool hcache_list_next(const char **cur, const char *end, struct hcache_span *item)
{
	const char *s = *cur, *e;
	bool quoted = false;

	if (!s)
		return false;
	for (e = s; e < end && (quoted || *e != ','); e++) {
		if (quoted && *e == '\\' && e + 1 < end)
			e++;
		else if (*e == '"')
			quoted = !quoted;
	}
	*cur = e < end ? e + 1 : NULL;
	while (s < e && is_ows(*s))
		s++;
	while (e > s && is_ows(e[-1]))
		e--;
	item->p = s;
	item->len = (uint32_t)(e - s);
	return true;
}

bool hcache_eq_ci(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (hcache_lower(a[i]) != hcache_lower(b[i]))
			return false;
	return true;
}

bool hcache_field_has(const struct http1_header *h, size_t n, const char *field,
		  const char *tok, size_t tok_len)
{
	for (size_t i = 0; i < n; i++) {
		const char *cur = h[i].value, *end = cur + h[i].value_len;
		struct hcache_span it;

		if (!hcache_eq(h[i].name, h[i].name_len, field))
			continue;
		while (hcache_list_next(&cur, end, &it))
			if (hcache_eq_ci(it.p, it.len, tok, tok_len))
				return true;
	}
	return false;
}

int64_t hcache_delta_seconds(const char *s, size_t len)
{
	int64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v < LIMIT_DELTA_SECONDS_MAX)
			v = v * 10 + (s[i] - '0');
	}
	return v < LIMIT_DELTA_SECONDS_MAX ? v : LIMIT_DELTA_SECONDS_MAX;
}

/* ---- Cache-Control ------------------------------------------------------ */

static const struct { const char *name; uint32_t flag; } cc_flags[] = {
	{ "no-store", HCACHE_CC_NO_STORE }, { "no-cache", HCACHE_CC_NO_CACHE },
	{ "private", HCACHE_CC_PRIVATE }, { "public", HCACHE_CC_PUBLIC },
	{ "must-revalidate", HCACHE_CC_MUST_REVALIDATE },
	{ "proxy-revalidate", HCACHE_CC_PROXY_REVALIDATE },
	{ "only-if-cached", HCACHE_CC_ONLY_IF_CACHED },
	{ "immutable", HCACHE_CC_IMMUTABLE },
	{ "must-understand", HCACHE_CC_MUST_UNDERSTAND },
};

/* Which number a directive sets; its "invalid" value. */
static int64_t *cc_number(struct hcache_cc *cc, const char *n, size_t len,
			  int64_t *if_invalid)
{
	*if_invalid = -1;
	if (hcache_eq(n, len, "max-age") || hcache_eq(n, len, "s-maxage")) {
		*if_invalid = 0;       /* invalid freshness → stale */
		return n[0] == 'm' || n[0] == 'M' ? &cc->max_age : &cc->s_maxage;
	}
	if (hcache_eq(n, len, "max-stale"))
		return &cc->max_stale;
	if (hcache_eq(n, len, "min-fresh"))
		return &cc->min_fresh;
	if (hcache_eq(n, len, "stale-while-revalidate"))
		return &cc->stale_while_revalidate;
	if (hcache_eq(n, len, "stale-if-error"))
		return &cc->stale_if_error;
	return NULL;
}

/* A directive's value: token, or quoted-string without its quotes (a
 * backslash escape makes it unusable as a number, which is fine). */
static bool cc_value(const char *v, size_t len, struct hcache_span *out)
{
	out->p = v;
	out->len = (uint32_t)len;
	if (len && v[0] == '"') {
		if (len < 2 || v[len - 1] != '"')
			return false;
		out->p = v + 1;
		out->len = (uint32_t)(len - 2);
	}
	return true;
}

static void cc_directive(struct hcache_cc *cc, struct hcache_span it, uint32_t *seen)
{
	const char *eq = memchr(it.p, '=', it.len);
	size_t nlen = eq ? (size_t)(eq - it.p) : it.len;
	struct hcache_span val = { NULL, 0 };
	int64_t *num, bad, v;

	for (size_t i = 0; i < sizeof(cc_flags) / sizeof(cc_flags[0]); i++)
		if (hcache_eq(it.p, nlen, cc_flags[i].name))
			cc->flags |= cc_flags[i].flag;  /* no-cache="f" is no-cache */
	num = cc_number(cc, it.p, nlen, &bad);
	if (!num)
		return;
	if (*seen & (1u << (num - &cc->max_age)))
		return;                 /* the first occurrence counts */
	*seen |= 1u << (num - &cc->max_age);
	if (!eq && num == &cc->max_stale) {
		cc->flags |= HCACHE_CC_MAX_STALE_ANY;
		return;
	}
	v = eq && cc_value(eq + 1, it.len - nlen - 1, &val) ?
	    hcache_delta_seconds(val.p, val.len) : -1;
	if (v < 0)
		cc->flags |= HCACHE_CC_INVALID;
	*num = v < 0 ? bad : v;
}

int hcache_parse_cc(const struct http1_header *h, size_t n, struct hcache_cc *cc)
{
	uint32_t seen = 0;
	int lines = 0;

	*cc = HCACHE_CC_ABSENT;
	for (size_t i = 0; i < n; i++) {
		const char *cur = h[i].value, *end = cur + h[i].value_len;
		struct hcache_span it;

		if (!hcache_eq(h[i].name, h[i].name_len, "cache-control"))
			continue;
		lines++;
		while (hcache_list_next(&cur, end, &it))
			if (it.len)
				cc_directive(cc, it, &seen);
	}
	return lines;
}

/* ---- HTTP-date (RFC 9110 5.6.7) ------------------------------------------ */

static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

static int month_of(const char *s)
{
	for (int m = 0; m < 12; m++)
		if (hcache_lower(s[0]) == months[3 * m] &&
		    hcache_lower(s[1]) == months[3 * m + 1] &&
		    hcache_lower(s[2]) == months[3 * m + 2])
			return m + 1;
	return -1;
}

/* n digits at s (a leading space counts as 0 when lead_sp). */
static int digits(const char *s, int n, bool lead_sp)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (i == 0 && lead_sp && s[i] == ' ')
			continue;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int make_time(int y, int mon, int d, const char *hms, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int h = digits(hms, 2, false), mi = digits(hms + 3, 2, false),
	    s = digits(hms + 6, 2, false);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (hms[2] != ':' || hms[5] != ':' || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    s < 0 || s > 60 || mon < 1 || d < 1 || d > mdays[mon - 1] ||
	    (mon == 2 && d == 29 && !leap) || y < 1000)
		return -EINVAL;
	*out = days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

static int year_of(int64_t t)
{
	int y = 1970 + (int)(t / 31556952);

	while (days_from_civil(y, 1, 1) * 86400 > t)
		y--;
	while (days_from_civil(y + 1, 1, 1) * 86400 <= t)
		y++;
	return y;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (after "Sun,") or RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" (after "Sunday,"); "gmt" in any case,
 * as month and weekday names are: it can mean nothing else. */
static int parse_after_comma(const char *s, size_t len, int64_t now_s, int64_t *out)
{
	int d, mon, y;

	if (len == 25 && s[0] == ' ' && s[3] == ' ' && s[7] == ' ' && s[12] == ' ' &&
	    s[21] == ' ' && hcache_eq(s + 22, 3, "gmt")) {
		d = digits(s + 1, 2, false);
		mon = month_of(s + 4);
		y = digits(s + 8, 4, false);
		return d < 0 || y < 0 ? -EINVAL : make_time(y, mon, d, s + 13, out);
	}
	if (len == 23 && s[0] == ' ' && s[3] == '-' && s[7] == '-' && s[10] == ' ' &&
	    s[19] == ' ' && hcache_eq(s + 20, 3, "gmt")) {
		int now_y = year_of(now_s);

		d = digits(s + 1, 2, false);
		mon = month_of(s + 4);
		y = digits(s + 8, 2, false);
		if (d < 0 || y < 0)
			return -EINVAL;
		y += now_y - now_y % 100;
		if (y > now_y + 50)
			y -= 100;
		return make_time(y, mon, d, s + 11, out);
	}
	return -EINVAL;
}

int hcache_parse_date(const char *s, size_t len, int64_t now_s, int64_t *out)
{
	const char *comma = memchr(s, ',', len);
	size_t wd = comma ? (size_t)(comma - s) : 3;
	int d, y;

	if (len < 3 || wd < 3 || wd > 9)
		return -EINVAL;
	for (size_t i = 0; i < wd; i++)
		if (!((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z'))
			return -EINVAL;
	if (comma)
		return parse_after_comma(comma + 1, len - wd - 1, now_s, out);
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
		return -EINVAL;
	d = digits(s + 8, 2, true);
	y = digits(s + 20, 4, false);
	if (d < 0 || y < 0)
		return -EINVAL;
	return make_time(y, month_of(s + 4), d, s + 11, out);
}

/* ---- response and request heads ---------------------------------------- */

/* The first line of `name`, or NULL; *count = lines of it. */
static const struct http1_header *field(const struct http1_header *h, size_t n,
					const char *name, int *count)
{
	const struct http1_header *first = NULL;

	*count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!hcache_eq(h[i].name, h[i].name_len, name))
			continue;
		if (!first)
			first = &h[i];
		++*count;
	}
	return first;
}

static int64_t date_field(const struct http1_header *h, size_t n, const char *name,
			  int64_t now_s)
{
	int count;
	const struct http1_header *f = field(h, n, name, &count);
	int64_t t;

	if (!f || hcache_parse_date(f->value, f->value_len, now_s, &t))
		return HCACHE_TIME_NONE;
	return t;
}

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text */
static bool valid_etag(const char *s, size_t len, bool *weak)
{
	*weak = len >= 2 && s[0] == 'W' && s[1] == '/';
	if (*weak) {
		s += 2;
		len -= 2;
	}
	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c < 0x21 || c == 0x7f)
			return false;
	}
	return true;
}

static void parse_vary(const struct http1_header *h, size_t n, struct hcache_vary *v)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const char *cur = h[i].value, *end = cur + h[i].value_len;
		struct hcache_span it;

		if (!hcache_eq(h[i].name, h[i].name_len, "vary"))
			continue;
		while (hcache_list_next(&cur, end, &it)) {
			if (it.len == 1 && it.p[0] == '*')
				v->star = true;
			else if (it.len && v->n == LIMIT_VARY_FIELDS)
				v->too_many = true;
			else if (it.len)
				v->names[v->n++] = it;
		}
	}
}

/*
 * RFC 9111 5.1: Age is a singleton, but a list (or several lines) is read
 * by its first member; a first member that is not a non-negative integer
 * (abc, -7200, 7200.0, 7200;p=1) makes the field ignored — age 0, as if
 * absent, never "stale" (RFC 9111 5.1 "a cache SHOULD ignore the field").
 * Values past LIMIT_DELTA_SECONDS_MAX are capped (stale for any lifetime).
 */
static void parse_age(const struct http1_header *h, size_t n, struct hcache_resp_info *o)
{
	int count;
	const struct http1_header *f = field(h, n, "age", &count);
	const char *cur;
	struct hcache_span first;

	o->age = 0;
	o->age_ignored = false;
	if (!f)
		return;
	cur = f->value;
	hcache_list_next(&cur, f->value + f->value_len, &first);
	o->age = hcache_delta_seconds(first.p, first.len);
	o->age_ignored = o->age < 0;
	if (o->age_ignored)
		o->age = 0;
}

int hcache_parse_response(const struct http1_response *r, int64_t now_s,
			  struct hcache_resp_info *o)
{
	const struct http1_header *h = r->headers, *f;
	size_t n = r->n_headers;
	int count;

	memset(o, 0, sizeof(*o));
	o->status = r->status;
	o->headers = h;
	o->n_headers = n;
	o->n_cc = hcache_parse_cc(h, n, &o->cc);
	o->date = date_field(h, n, "date", now_s);
	o->last_modified = date_field(h, n, "last-modified", now_s);
	o->has_expires = field(h, n, "expires", &count) != NULL;
	o->expires = date_field(h, n, "expires", now_s);
	if (o->expires == HCACHE_TIME_NONE)
		o->expires = 0;         /* invalid (e.g. "0"): already expired */
	parse_age(h, n, o);
	f = field(h, n, "etag", &count);
	if (f && valid_etag(f->value, f->value_len, &o->etag_weak))
		o->etag = (struct hcache_span){ f->value, f->value_len };
	else
		o->etag_invalid = f != NULL;
	parse_vary(h, n, &o->vary);
	o->set_cookie = field(h, n, "set-cookie", &count) != NULL;
	return 0;
}

static struct hcache_span span_of(const struct http1_header *h, size_t n, const char *name)
{
	int count;
	const struct http1_header *f = field(h, n, name, &count);

	return f ? (struct hcache_span){ f->value, f->value_len }
		 : (struct hcache_span){ NULL, 0 };
}

int hcache_parse_request(const struct http1_request *r, int64_t now_s,
			 struct hcache_req_info *o)
{
	const struct http1_header *h = r->headers;
	size_t n = r->n_headers;
	int count;

	memset(o, 0, sizeof(*o));
	o->method = r->method;
	/* RFC 9111 5.4: Pragma: no-cache only where Cache-Control is absent */
	if (hcache_parse_cc(h, n, &o->cc) == 0 && hcache_field_has(h, n, "pragma", "no-cache", 8))
		o->cc.flags |= HCACHE_CC_NO_CACHE;
	o->authorization = field(h, n, "authorization", &count) != NULL;
	o->if_match = span_of(h, n, "if-match");
	o->if_none_match = span_of(h, n, "if-none-match");
	o->if_range = span_of(h, n, "if-range");
	o->range = span_of(h, n, "range");
	o->if_modified_since = date_field(h, n, "if-modified-since", now_s);
	o->if_unmodified_since = date_field(h, n, "if-unmodified-since", now_s);
	return 0;
}
