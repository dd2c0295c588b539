/*
 * net/origin_client.c — origin responses read by their framing (see
 * origin_client.h).
 */
#include "net/origin_client.h"

#include <string.h>

void oclient_reader_release(struct oclient_reader *r)
{
	if (r->head) {
		iobuf_pool_put(r->pool, r->head);
		r->head = NULL;
	}
	r->head_len = 0;
}

void oclient_reader_start(struct oclient_reader *r, struct iobuf_pool *pool,
			  bool head_request, bool dechunk)
{
	if (r->head && r->pool)
		oclient_reader_release(r);
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->head_request = head_request;
	r->dechunk = dechunk;
}

static int fail(struct oclient_reader *r, const struct oclient_ops *ops, void *user,
		enum oclient_error err)
{
	r->keep_alive = false;
	ops->on_error(user, err);
	return OCLIENT_STOPPED;
}

static void set_framing(struct oclient_reader *r, const struct http1_response *resp)
{
	r->keep_alive = resp->keep_alive;
	if (resp->no_body || r->head_request) {
		r->body_mode = OCLIENT_BODY_NONE;
	} else if (resp->chunked) {
		r->body_mode = OCLIENT_BODY_CHUNKED;
		http1_chunked_init(&r->chunk);
	} else if (resp->content_length >= 0) {
		r->body_mode = OCLIENT_BODY_LENGTH;
		r->body_left = resp->content_length;
	} else {
		r->body_mode = OCLIENT_BODY_CLOSE;
		r->keep_alive = false;
	}
}

/*
 * Response head bytes. Parses in place when the whole head is in p (the
 * common case); otherwise accumulates in a head block. Returns the bytes
 * of p the head took, or OCLIENT_STOPPED.
 */
static ssize_t read_head(struct oclient_reader *r, const char *p, size_t len,
			 const struct oclient_ops *ops, void *user)
{
	struct http1_response resp;
	const char *src = p;
	size_t src_len = len, taken = len;

	if (r->head) {
		size_t room = IOBUF_HBUF_BYTES - r->head_len;
		taken = len < room ? len : room;
		memcpy(r->head + r->head_len, p, taken);
		r->head_len += (uint32_t)taken;
		src = r->head;
		src_len = r->head_len;
	}
	int rc = http1_parse_response(src, src_len, r->head_request, &resp);
	if (rc == -HTTP1_E_AGAIN) {
		if (!r->head) {
			r->head = iobuf_pool_get(r->pool);
			if (!r->head)
				return fail(r, ops, user, OCLIENT_E_NOBUFS);
			memcpy(r->head, p, len);
			r->head_len = (uint32_t)len;
		}
		return (ssize_t)len;
	}
	/* 101: the edge never asks to switch protocols (Upgrade is not
	 * forwarded), so what follows is not HTTP we may read or pool. */
	if (rc < 0 || resp.status == 101)
		return fail(r, ops, user, OCLIENT_E_BAD_HEAD);
	/* Bytes of p that belong to the head. The head ended inside what was
	 * just appended, so whatever follows it in the block came from p and
	 * is still there in p: the block is not needed any more. */
	size_t head_from_p = r->head ? taken - (src_len - (size_t)rc) : (size_t)rc;
	if (resp.status >= 200) {
		r->head_done = true;
		set_framing(r, &resp);
		/* resp points into the block: it goes back after the call */
		if (!ops->on_head(user, &resp))
			return OCLIENT_STOPPED;
	}
	/* Interim responses (103 Early Hints, a stray 100) are skipped. */
	oclient_reader_release(r);
	return (ssize_t)head_from_p;
}

static void data(const struct oclient_ops *ops, void *user, char *p, size_t n)
{
	if (ops->on_data && n > 0)
		ops->on_data(user, p, n);
}

/* A chunked body: content spans to on_data, then on to on_body as framed
 * bytes or as spans. Returns bytes of p taken, or OCLIENT_STOPPED. */
static ssize_t read_chunked(struct oclient_reader *r, char *p, size_t len,
			    const struct oclient_ops *ops, void *user)
{
	struct http1_span spans[16];
	size_t done = 0;

	while (done < len && !r->chunk.done) {
		size_t n_spans = 0;
		ssize_t c = http1_chunked_feed(&r->chunk, p + done, len - done, spans, 16,
					       &n_spans);
		if (c < 0)
			return fail(r, ops, user, OCLIENT_E_BAD_CHUNK);
		/* Content is seen before it goes out, framing never: masking
		 * a chunk-size line passed through would leave the visitor
		 * waiting for a line that never ends. */
		for (size_t i = 0; i < n_spans; i++)
			data(ops, user, p + done + spans[i].off, spans[i].len);
		if (r->dechunk) {
			for (size_t i = 0; i < n_spans; i++)
				if (spans[i].len > 0 &&
				    !ops->on_body(user, p + done + spans[i].off, spans[i].len))
					return OCLIENT_STOPPED;
		} else if (c > 0 && !ops->on_body(user, p + done, (size_t)c)) {
			return OCLIENT_STOPPED;
		}
		if (c == 0)
			break;
		done += (size_t)c;
	}
	return (ssize_t)done;
}

/* Body bytes. Returns bytes of p that belong to this response, or
 * OCLIENT_STOPPED. */
static ssize_t read_body(struct oclient_reader *r, char *p, size_t len,
			 const struct oclient_ops *ops, void *user)
{
	size_t n;

	switch (r->body_mode) {
	case OCLIENT_BODY_LENGTH:
		n = (uint64_t)r->body_left < len ? (size_t)r->body_left : len;
		data(ops, user, p, n);
		if (n > 0 && !ops->on_body(user, p, n))
			return OCLIENT_STOPPED;
		r->body_left -= (int64_t)n;
		return (ssize_t)n;
	case OCLIENT_BODY_CHUNKED:
		return read_chunked(r, p, len, ops, user);
	case OCLIENT_BODY_CLOSE:
		data(ops, user, p, len);
		if (len > 0 && !ops->on_body(user, p, len))
			return OCLIENT_STOPPED;
		return (ssize_t)len;
	default:
		return 0;
	}
}

static bool body_complete(const struct oclient_reader *r)
{
	switch (r->body_mode) {
	case OCLIENT_BODY_NONE:
		return true;
	case OCLIENT_BODY_LENGTH:
		return r->body_left == 0;
	case OCLIENT_BODY_CHUNKED:
		return r->chunk.done;
	default:
		return false;               /* until the origin closes */
	}
}

int oclient_read(struct oclient_reader *r, char *p, size_t len,
		 const struct oclient_ops *ops, void *user)
{
	if (len > 0)
		r->got_bytes = true;
	while (len > 0 && !r->head_done) {
		ssize_t n = read_head(r, p, len, ops, user);
		if (n < 0)
			return OCLIENT_STOPPED;
		p += n;
		len -= (size_t)n;
	}
	if (!r->head_done)
		return OCLIENT_MORE;
	ssize_t n = len > 0 ? read_body(r, p, len, ops, user) : 0;
	if (n < 0)
		return OCLIENT_STOPPED;
	if ((size_t)n < len)
		r->keep_alive = false;      /* bytes past the message: do not reuse */
	if (!body_complete(r))
		return OCLIENT_MORE;
	ops->on_end(user);
	return OCLIENT_DONE;
}

int oclient_read_eof(struct oclient_reader *r, bool clean, const struct oclient_ops *ops,
		     void *user)
{
	if (!r->head_done)
		return fail(r, ops, user, OCLIENT_E_CLOSED);
	if (r->body_mode != OCLIENT_BODY_CLOSE || !clean)
		return fail(r, ops, user, OCLIENT_E_TRUNCATED);
	r->keep_alive = false;
	ops->on_end(user);
	return OCLIENT_DONE;
}

bool oclient_method_ignores_body(enum http1_method m)
{
	return m == HTTP1_GET || m == HTTP1_HEAD || m == HTTP1_DELETE ||
	       m == HTTP1_OPTIONS || m == HTTP1_TRACE;
}

enum oclient_reuse oclient_reuse(const struct oclient_reader *r, bool request_sent,
				 bool body_unsafe)
{
	if (!request_sent || body_unsafe)
		return OCLIENT_REUSE_DESYNC;
	if (!r->head_done || !body_complete(r) || !r->keep_alive)
		return OCLIENT_REUSE_CLOSE;
	return OCLIENT_REUSE;
}
