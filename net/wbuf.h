/*
 * net/wbuf.h — a bounded writer for building message heads in a block.
 *
 * Owns: nothing (writes into the caller's buffer). Any thread.
 * Never: writes past cap; once something did not fit, `overflow` stays set
 * and the caller refuses the whole message (no truncated heads go out).
 */
#ifndef EDGECACHE_NET_WBUF_H
#define EDGECACHE_NET_WBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wbuf {
	char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

static inline void wbuf_init(struct wbuf *w, char *p, size_t cap)
{
	w->p = p;
	w->len = 0;
	w->cap = cap;
	w->overflow = false;
}

static inline void wbuf_put(struct wbuf *w, const char *s, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static inline void wbuf_str(struct wbuf *w, const char *s)
{
	wbuf_put(w, s, strlen(s));
}

/* Unsigned decimal without printf. */
static inline void wbuf_u64(struct wbuf *w, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wbuf_put(w, tmp + sizeof(tmp) - n, n);
}

/* 16 lower-case hex digits, zero-padded (request ids). */
static inline void wbuf_hex64(struct wbuf *w, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	for (int i = 15; i >= 0; i--, v >>= 4)
		tmp[i] = digits[v & 15];
	wbuf_put(w, tmp, sizeof(tmp));
}

/* "Name: value\r\n" */
static inline void wbuf_header(struct wbuf *w, const char *name, size_t name_len,
			       const char *value, size_t value_len)
{
	wbuf_put(w, name, name_len);
	wbuf_put(w, ": ", 2);
	wbuf_put(w, value, value_len);
	wbuf_put(w, "\r\n", 2);
}

#endif
