/*
 * core/http_msg.c — the pure field helpers of core/http_msg.h: header
 * lookup, the IMF-fixdate, hop-by-hop names.
 */
#include "core/http_msg.h"

#include <string.h>

static inline unsigned char lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26u ? (unsigned char)(c | 0x20) : c;
}

/* s[0..n) equals the lower-case literal `lc` ignoring ASCII case. */
static bool eq_lower(const char *s, const char *lc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)lc[i])
			return false;
	return true;
}

const struct http1_header *http1_find_header(const struct http1_header *h,
					     size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++) {
		if (h[i].name_len != len)
			continue;
		size_t j = 0;

		while (j < len && lower((unsigned char)h[i].name[j]) ==
				  lower((unsigned char)name[j]))
			j++;
		if (j == len)
			return &h[i];
	}
	return NULL;
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil
 * inverse): no tables, no locale, no time zone. */
static void civil(int64_t days, unsigned *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

/* 9999-12-31T23:59:59Z: the last instant with a four-digit year. */
#define DATE_MAX 253402300799LL

void http1_format_date(int64_t t, char out[30])
{
	static const char wday[7][4] = {
		"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
	static const char mon[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	unsigned y, m, d, s;
	int64_t days;

	t = t < 0 ? 0 : t > DATE_MAX ? DATE_MAX : t;
	days = t / 86400;
	s = (unsigned)(t % 86400);
	civil(days, &y, &m, &d);
	memcpy(out, wday[days % 7], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, mon[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, y / 100);
	put2(out + 14, y % 100);
	out[16] = ' ';
	put2(out + 17, s / 3600);
	out[19] = ':';
	put2(out + 20, s / 60 % 60);
	out[22] = ':';
	put2(out + 23, s % 60);
	memcpy(out + 25, " GMT", 5);    /* with the NUL */
}

bool http1_is_hop_by_hop(const char *name, size_t len)
{
	switch (len) {
	case 2:
		return eq_lower(name, "te", 2);
	case 7:
		return eq_lower(name, "trailer", 7) ||
		       eq_lower(name, "upgrade", 7);
	case 10:
		return eq_lower(name, "connection", 10) ||
		       eq_lower(name, "keep-alive", 10);
	case 16:
		return eq_lower(name, "proxy-connection", 16);
	case 17:
		return eq_lower(name, "transfer-encoding", 17);
	case 18:
		return eq_lower(name, "proxy-authenticate", 18);
	case 19:
		return eq_lower(name, "proxy-authorization", 19);
	default:
		return false;
	}
}
