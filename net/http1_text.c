/*
 * net/http1_text.c — the fixed strings of HTTP/1.1: error names and
 * statuses, reason phrases (the Date header and hop-by-hop names are in
 * core/http_msg.c).
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
	case 103: return "Early Hints";
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
