/*
 * net/http1_int.h — internals shared by net/http1*.c, nobody else.
 *
 * Owns: the byte-class table (one 256-byte lookup per byte is what keeps
 * the parser fast and the character rules in one place).
 * Called by: net/http1.c, net/http1_chunked.c, net/http1_text.c only.
 * Never: included outside net/.
 */
#ifndef EDGECACHE_NET_HTTP1_INT_H
#define EDGECACHE_NET_HTTP1_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_TCHAR   0x01  /* token character (RFC 9110 5.6.2) */
#define H1_VALUE   0x02  /* field-value byte: VCHAR, SP, HTAB, obs-text */
#define H1_TARGET  0x04  /* request-target byte: anything but CTL, SP, DEL */
#define H1_HOST    0x08  /* authority byte: unreserved, sub-delims, %, :, [ ] */
#define H1_HEX     0x10  /* hex digit */

extern const uint8_t http1_ctab[256];

static inline bool http1_is(char c, uint8_t cls)
{
	return http1_ctab[(uint8_t)c] & cls;
}

static inline bool http1_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline unsigned char http1_lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26u ? (unsigned char)(c | 0x20) : c;
}

/* s[0..n) equals the lower-case literal `lc` ignoring ASCII case. */
static inline bool http1_eq_lower(const char *s, const char *lc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http1_lower((unsigned char)s[i]) != (unsigned char)lc[i])
			return false;
	return true;
}

/*
 * Next element of a comma-separated list (RFC 9110 5.6.1) in [*pp, end):
 * skips OWS and empty elements, trims the element. Returns false at the
 * end. Quoted strings are not special: no list we read carries commas in
 * quotes that change the answer (see http1.c).
 */
bool http1_list_next(const char **pp, const char *end, const char **tok,
		     size_t *tok_len);

#endif /* EDGECACHE_NET_HTTP1_INT_H */
