/*
 * net/http1_text.c — the fixed strings of HTTP/1.1: error names and
 * statuses, reason phrases, the Date header, hop-by-hop names.
 */
#include "net/http1.h"

#include <string.h>

#include "net/http1_int.h"
#include "core/counters.h"

static const char *const err_names[HTTP1_E__COUNT] = {
	[0]                         = "ok",
	[HTTP1_E_AGAIN]             = "again",
	[HTTP1_E_METHOD]            = "bad_method",
	[HTTP1_E_TARGET]            = "bad_target",
	[HTTP1_E_URI_TOO_LONG]      = "uri_too_long",
	[HTTP1_E_VERSION]           = "bad_version",
	[HTTP1_E_HEADERS_TOO_LARGE] = "headers_too_large",
	[HTTP1_E_TOO_MANY_HEADERS]  = "too_many_headers",
	[HTTP1_E_HEADER_NAME]       = "bad_header_name",
	[HTTP1_E_HEADER_VALUE]      = "bad_header_value",
	[HTTP1_E_BARE_CR]           = "bare_cr",
	[HTTP1_E_NUL]               = "nul_byte",
	[HTTP1_E_OBS_FOLD]          = "obs_fold",
	[HTTP1_E_TE_AND_CL]         = "te_and_cl",
	[HTTP1_E_CL_CONFLICT]       = "cl_conflict",
	[HTTP1_E_CL_INVALID]        = "cl_invalid",
	[HTTP1_E_TE_UNSUPPORTED]    = "te_unsupported",
	[HTTP1_E_HOST]              = "bad_host",
	[HTTP1_E_STATUS]            = "bad_status",
	[HTTP1_E_CHUNK]             = "bad_chunk",
};

struct counters_block http1_counters = {
	.prefix = "parse_error_",
	.names = err_names + HTTP1_E_METHOD,
	.n = HTTP1_E__COUNT - HTTP1_E_METHOD,
	.family = "parse_errors_total",
	.label = "error",
	.family_doc = "visitor requests refused because their head or chunked body did not parse",
};

const char *http1_err_name(int err)
{
	if (err < 0)
		err = -err;
	return err < HTTP1_E__COUNT ? err_names[err] : "unknown";
}

int http1_err_status(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
	case HTTP1_E_AGAIN:
		return 0;       /* not an error: nothing to send */
	case HTTP1_E_URI_TOO_LONG:
		return 414;
	case HTTP1_E_HEADERS_TOO_LARGE:
	case HTTP1_E_TOO_MANY_HEADERS:
		return 431;
	case HTTP1_E_VERSION:
		return 505;
	case HTTP1_E_STATUS:
	case HTTP1_E_CHUNK:
		return 502;
	default:
		return 400;
	}
}

const char *http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
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
		return h1_eq_lower(name, "te", 2);
	case 7:
		return h1_eq_lower(name, "trailer", 7) ||
		       h1_eq_lower(name, "upgrade", 7);
	case 10:
		return h1_eq_lower(name, "connection", 10) ||
		       h1_eq_lower(name, "keep-alive", 10);
	case 16:
		return h1_eq_lower(name, "proxy-connection", 16);
	case 17:
		return h1_eq_lower(name, "transfer-encoding", 17);
	case 18:
		return h1_eq_lower(name, "proxy-authenticate", 18);
	case 19:
		return h1_eq_lower(name, "proxy-authorization", 19);
	default:
		return false;
	}
}
