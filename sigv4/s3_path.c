/*
 * sigv4/s3_path.c — visitor path to S3 wire path and Host. See s3_path.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sigv4/s3_path.h"
#include "sigv4/sigv4.h"

/* S3 bucket names that can go into a DNS name: 3..63 of [a-z0-9.-]. */
static bool dns_bucket(const char *b, size_t len)
{
	if (len < 3 || len > LIMIT_S3_BUCKET_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Virtual-hosted addressing: dec[0..*len) starts "/bucket"; move the
 * bucket into the host and drop it from dec (which keeps a leading "/").
 */
static int split_bucket(const struct cfg_origin *o, char *dec, size_t *len,
			struct s3path_out *out)
{
	const char *slash = memchr(dec + 1, '/', *len - 1);
	size_t blen = (slash ? (size_t)(slash - dec) : *len) - 1;
	int n;

	if (!dns_bucket(dec + 1, blen))
		return -EINVAL;
	n = snprintf(out->host, out->host_cap, "%.*s.%s", (int)blen, dec + 1, o->host_header);
	if (n < 0 || (size_t)n >= out->host_cap)
		return -ENOSPC;
	out->host_len = (size_t)n;
	if (slash) {
		memmove(dec, slash, *len - blen - 1);
		*len -= blen + 1;
	} else {
		*len = 1;               /* "/bucket" → "/" */
	}
	return 0;
}

/* No "." or ".." segment in the decoded dec[0..len), "/" or "\\" around
 * it: what the bucket gets stays under base_path whatever it takes for a
 * separator. */
static bool dot_free(const char *dec, size_t len)
{
	size_t s = 0;

	while (s <= len) {
		size_t e = s;

		while (e < len && dec[e] != '/' && dec[e] != '\\')
			e++;
		if ((e - s == 1 && dec[s] == '.') || (e - s == 2 && dec[s] == '.' && dec[s + 1] == '.'))
			return false;
		s = e + 1;
	}
	return true;
}

int s3path_map(const struct cfg_origin *o, const char *raw, size_t raw_len,
	       struct s3path_out *out)
{
	/* Decoded base_path + decoded visitor path: both bounded by limits,
	 * and decoding never grows a string. */
	char dec[LIMIT_PATH_BYTES + LIMIT_REQUEST_LINE_BYTES];
	size_t base_len = o->base_path ? strlen(o->base_path) : 0;
	ssize_t n;
	size_t len;
	int rc;

	if (raw_len == 0 || raw[0] != '/')
		return -EINVAL;
	if (raw_len > LIMIT_REQUEST_LINE_BYTES || base_len > LIMIT_PATH_BYTES ||
	    out->path_cap == 0 || out->host_cap == 0)
		return -ENOSPC;
	if (base_len)
		memcpy(dec, o->base_path, base_len);
	n = sigv4_uri_decode(raw, raw_len, dec + base_len, sizeof(dec) - base_len);
	if (n < 0)
		return (int)n;
	if (!dot_free(dec + base_len, (size_t)n))
		return -EINVAL;
	len = base_len + (size_t)n;
	if (o->s3_addressing == CFG_S3_ADDRESSING_VIRTUAL) {
		rc = split_bucket(o, dec, &len, out);
		if (rc < 0)
			return rc;
	} else {
		size_t hlen = strlen(o->host_header);

		if (hlen >= out->host_cap)
			return -ENOSPC;
		memcpy(out->host, o->host_header, hlen + 1);
		out->host_len = hlen;
	}
	n = sigv4_uri_encode_path(dec, len, out->path, out->path_cap - 1);
	if (n < 0)
		return (int)n;
	out->path[n] = '\0';
	out->path_len = (size_t)n;
	return 0;
}
