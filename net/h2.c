/*
 * net/h2.c — HTTP/2 framing for a server connection (see h2.h).
 *
 * Re-entrancy: nghttp2 must not be re-entered from its own callbacks
 * (mem_recv, mem_send), yet those callbacks start the user's streams,
 * whose responses may be queued at once (a cache hit), and pulling a
 * stream's body lets its producer go on. So `busy` marks the time inside
 * nghttp2: a stream that wants output then only submits or resumes
 * (allowed in callbacks) and the outer call serialises it when nghttp2
 * returns.
 */
#include "net/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/counters.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/http1.h"
#include "net/iobuf.h"

/* One open stream: its user and how its request head is being rebuilt. */
struct h2s {
	void *user;                         /* NULL: entry free */
	char *in;                           /* the user's head block */
	int32_t sid;
	bool submitted;                     /* response HEADERS submitted */
	bool deferred;                      /* the data source waits for bytes */
	bool eof;                           /* END_STREAM handed to nghttp2 */
	bool bad;                           /* header block did not fit: reset */
	/* The request head is built in the user's head block: regular
	 * fields as "name: value\r\n" from the front (hlen bytes), pseudo
	 * values stored down from the end (top). */
	uint32_t hlen, top, list_bytes;
	uint32_t m_off, m_len, p_off, p_len, a_off, a_len;
	int32_t cookie_end;                 /* end of the Cookie line's value, -1 */
	/* Request body bytes received but not yet given back to the peer's
	 * window (nghttp2_session_consume): they wait for the user. */
	uint32_t credit;
};

struct h2conn {
	nghttp2_session *s;
	struct h2_env env;
	void *conn;                         /* the user's connection (ops) */
	struct iobuf_outq *out;             /* the connection's send queue */
	const char *peer;                   /* for logs */
	bool busy;                          /* inside nghttp2 (see the top) */
	bool ending;                        /* GOAWAY submitted for an error or flood */
	bool failed;                        /* nghttp2 cannot go on: close now */
	bool closed;                        /* the connection closed: streams gone */
	uint32_t n_streams;
	/* Flood accounting: frames in the current second of the shard clock. */
	uint64_t win_ms;
	uint32_t n_rst, n_settings, n_ping, n_cont;
	/* Frames that do no work, over the connection's life, against what
	 * the peer earned (LIMIT_H2_PRIORITY_BASE and the rest): the streams
	 * it opened and the DATA frames we sent. */
	uint32_t n_priority, n_window_update, n_empty_data, n_opened;
	uint64_t n_data_sent;
	/* Stream ids: the highest one a HEADERS opened (a lower one that is
	 * not an open stream is a connection error), and the last ones we
	 * reset (RFC 9113 5.4.2: the peer may not have seen it yet). */
	int32_t max_sid;
	int32_t reset_sids[LIMIT_H2_RESET_SIDS];
	uint32_t n_reset_sids;
	/* Streams waiting for the peer's window (h2_stall_deadline): DATA
	 * bytes pulled so far, the count when last looked at, and since when
	 * none were (0: nothing waits). */
	uint64_t pulled, pulled_seen, stall_since_ms;
	/* Serialised frames not yet copied into obuf (nghttp2 keeps them
	 * valid until its next mem_send). */
	const uint8_t *pend;
	size_t pend_len;
	struct h2s st[LIMIT_H2_MAX_STREAMS];
	char obuf[LIMIT_H2_OUT_BYTES];      /* the connection's queued frames */
};

static void h2_send(struct h2conn *h);

static void count(struct h2conn *h, enum counters_id c)
{
	counters_add(h->env.lp->ctr, c, 1);
}

/* ---- floods ------------------------------------------------------------- */

/* End the connection politely: GOAWAY(code), counted once; input after it
 * is dropped and the connection closes once it is sent. */
static void conn_error(struct h2conn *h, enum counters_id c, uint32_t code)
{
	if (h->ending)
		return;
	h->ending = true;
	count(h, c);
	nghttp2_session_terminate_session(h->s, code);
}

static void flood(struct h2conn *h, enum counters_id c)
{
	conn_error(h, c, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* One more frame of a kind that does no work: over its allowance (a base
 * plus what the streams opened and DATA frames sent earned) is a flood. */
static void spend(struct h2conn *h, uint32_t *n, uint64_t allowance, enum counters_id c)
{
	if (++*n > allowance)
		flood(h, c);
}

/* A HEADERS frame on a stream id not above every one opened before: the
 * trailers of a stream the peer may still send on, or a frame racing our
 * RST_STREAM, are fine; anything else is a decreasing or reused id (RFC
 * 9113 5.1.1: PROTOCOL_ERROR). nghttp2 itself ignores such a HEADERS when
 * it has forgotten the stream. */
static bool headers_allowed(struct h2conn *h, int32_t sid)
{
	nghttp2_stream *st = nghttp2_session_find_stream(h->s, sid);
	int state = st ? (int)nghttp2_stream_get_state(st) : NGHTTP2_STREAM_STATE_CLOSED;

	if (state == NGHTTP2_STREAM_STATE_OPEN || state == NGHTTP2_STREAM_STATE_HALF_CLOSED_LOCAL)
		return true;
	for (unsigned i = 0; i < LIMIT_H2_RESET_SIDS && i < h->n_reset_sids; i++)
		if (h->reset_sids[i] == sid)
			return true;
	return false;
}

static void on_headers_begin(struct h2conn *h, int32_t sid)
{
	h->n_cont = 0;
	if (sid <= 0 || !(sid & 1))
		return;                     /* nghttp2 refuses these itself */
	if (sid > h->max_sid) {
		h->max_sid = sid;
		h->n_opened++;
	} else if (!headers_allowed(h, sid)) {
		conn_error(h, CTR_h2_protocol_errors, NGHTTP2_PROTOCOL_ERROR);
	}
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
	struct h2conn *h = ud;
	uint64_t now = h->env.lp->now_ms;

	(void)s;
	if (now - h->win_ms >= 1000) {
		h->win_ms = now;
		h->n_rst = h->n_settings = h->n_ping = 0;
	}
	switch (hd->type) {
	case NGHTTP2_RST_STREAM:
		if (++h->n_rst > LIMIT_H2_RST_PER_S)
			flood(h, CTR_h2_flood_rst);
		break;
	case NGHTTP2_SETTINGS:
		if (!(hd->flags & NGHTTP2_FLAG_ACK) && ++h->n_settings > LIMIT_H2_SETTINGS_PER_S)
			flood(h, CTR_h2_flood_settings);
		break;
	case NGHTTP2_PING:
		if (!(hd->flags & NGHTTP2_FLAG_ACK) && ++h->n_ping > LIMIT_H2_PING_PER_S)
			flood(h, CTR_h2_flood_ping);
		break;
	case NGHTTP2_HEADERS:
		on_headers_begin(h, hd->stream_id);
		break;
	case NGHTTP2_CONTINUATION:
		if (++h->n_cont > LIMIT_H2_CONTINUATIONS)
			flood(h, CTR_h2_flood_continuation);
		break;
	case NGHTTP2_PRIORITY:
		spend(h, &h->n_priority, LIMIT_H2_PRIORITY_BASE +
		      (uint64_t)LIMIT_H2_PRIORITY_PER_STREAM * h->n_opened, CTR_h2_flood_priority);
		break;
	case NGHTTP2_WINDOW_UPDATE:
		spend(h, &h->n_window_update, LIMIT_H2_WINDOW_UPDATE_BASE +
		      (uint64_t)LIMIT_H2_WINDOW_UPDATE_PER_STREAM * h->n_opened +
		      LIMIT_H2_WINDOW_UPDATE_PER_DATA * h->n_data_sent, CTR_h2_flood_window_update);
		break;
	case NGHTTP2_DATA:
		/* Payload and padding count against our window; only an empty
		 * frame (not ending its stream) escapes flow control. */
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM))
			spend(h, &h->n_empty_data, LIMIT_H2_EMPTY_DATA_BASE +
			      (uint64_t)LIMIT_H2_EMPTY_DATA_PER_STREAM * h->n_opened,
			      CTR_h2_flood_empty_data);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- streams: request ------------------------------------------------------ */

static struct h2s *stream_of(struct h2conn *h, int32_t sid)
{
	struct h2s *st = nghttp2_session_get_stream_user_data(h->s, sid);
	return st && st->user && st->sid == sid ? st : NULL;
}

/* The entry named by the user, or NULL when that name is stale. */
static struct h2s *stream_at(struct h2conn *h, uint16_t idx, const void *user)
{
	struct h2s *st = idx < LIMIT_H2_MAX_STREAMS ? &h->st[idx] : NULL;
	return st && user && st->user == user ? st : NULL;
}

/* The entry no longer has a user (it closes or goes on alone). */
static void stream_drop(struct h2conn *h, struct h2s *st)
{
	/* Bytes no one will take: the connection's window gets them back. */
	if (st->credit)
		nghttp2_session_consume_connection(h->s, st->credit);
	st->credit = 0;
	nghttp2_session_set_stream_user_data(h->s, st->sid, NULL);
	st->user = NULL;
	st->in = NULL;
	h->n_streams--;
}

static void refuse(struct h2conn *h, int32_t sid)
{
	count(h, CTR_h2_streams_refused);
	nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_REFUSED_STREAM);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;
	struct h2s *st = NULL;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (h->ending)
		return 0;                   /* after our GOAWAY: ignored */
	for (unsigned i = 0; i < LIMIT_H2_MAX_STREAMS && !st; i++)
		if (!h->st[i].user)
			st = &h->st[i];
	char *block = NULL;
	void *user = st ? h->env.ops->stream_open(h->env.user, h->conn, h, f->hd.stream_id,
						  (uint16_t)(st - h->st), &block) : NULL;
	if (!user) {
		refuse(h, f->hd.stream_id);
		return 0;
	}
	*st = (struct h2s){ .user = user, .in = block, .sid = f->hd.stream_id,
			    .top = IOBUF_HBUF_BYTES, .cookie_end = -1 };
	h->n_streams++;
	nghttp2_session_set_stream_user_data(h->s, st->sid, st);
	count(h, CTR_h2_streams);
	return 0;
}

static bool name_is(const uint8_t *n, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(n, lit, len) == 0;
}

/* A pseudo value (or Host) into the top of the block. */
static bool stash(struct h2s *st, const uint8_t *v, size_t len, uint32_t *off, uint32_t *olen)
{
	if (st->hlen + len + 2 > st->top)
		return false;
	st->top -= (uint32_t)len;
	memcpy(st->in + st->top, v, len);
	*off = st->top;
	*olen = (uint32_t)len;
	return true;
}

static bool add_field(struct h2s *st, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl)
{
	char *in = st->in;

	if (name_is(n, nl, "cookie") && st->cookie_end >= 0) {
		/* RFC 9113 8.2.3: crumbs are joined with "; " for HTTP/1.1. */
		size_t add = vl + 2;
		if (st->hlen + add + 2 > st->top)
			return false;
		uint32_t at = (uint32_t)st->cookie_end;
		memmove(in + at + add, in + at, st->hlen - at);
		memcpy(in + at, "; ", 2);
		memcpy(in + at + 2, v, vl);
		st->hlen += (uint32_t)add;
		st->cookie_end += (int32_t)add;
		return true;
	}
	if (st->hlen + nl + vl + 4 + 2 > st->top)
		return false;
	memcpy(in + st->hlen, n, nl);
	memcpy(in + st->hlen + nl, ": ", 2);
	memcpy(in + st->hlen + nl + 2, v, vl);
	st->hlen += (uint32_t)(nl + 2 + vl);
	if (name_is(n, nl, "cookie"))
		st->cookie_end = (int32_t)st->hlen;
	memcpy(in + st->hlen, "\r\n", 2);
	st->hlen += 2;
	return true;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
		     const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	struct h2conn *h = ud;
	struct h2s *st = stream_of(h, f->hd.stream_id);
	bool ok = true;

	(void)s;
	(void)flags;
	if (!st || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    st->bad)
		return 0;                   /* trailers and refused streams: ignored */
	st->list_bytes += (uint32_t)(nl + vl + 32);
	if (st->list_bytes > LIMIT_H2_HEADER_LIST_BYTES)
		ok = false;
	else if (name_is(n, nl, ":method"))
		ok = stash(st, v, vl, &st->m_off, &st->m_len);
	else if (name_is(n, nl, ":path"))
		ok = stash(st, v, vl, &st->p_off, &st->p_len);
	else if (name_is(n, nl, ":authority") || (name_is(n, nl, "host") && st->a_len == 0))
		ok = stash(st, v, vl, &st->a_off, &st->a_len);
	else if (nl > 0 && n[0] == ':')
		;                           /* :scheme: nghttp2 checked it */
	else if (!name_is(n, nl, "host") && !name_is(n, nl, "te") && !name_is(n, nl, "expect"))
		ok = add_field(st, n, nl, v, vl);
	if (!ok) {
		st->bad = true;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* resets the stream */
	}
	return 0;
}

/* The header block is complete: "METHOD path HTTP/1.1", Host, the fields,
 * and the user runs it as it would an HTTP/1.1 request. */
static void start_stream(struct h2conn *h, struct h2s *st, bool end_stream)
{
	char *in = st->in;
	size_t pre = st->m_len + 1 + st->p_len + 11 + (st->a_len ? 8 + st->a_len : 0);

	if (pre + st->hlen + 2 > st->top) {
		void *user = st->user;
		int32_t sid = st->sid;
		stream_drop(h, st);
		refuse(h, sid);             /* the head does not fit a block */
		h->env.ops->stream_closed(h->env.user, user, false);
		return;
	}
	memmove(in + pre, in, st->hlen);
	char *w = in;
	memcpy(w, in + st->m_off, st->m_len);
	w += st->m_len;
	*w++ = ' ';
	memcpy(w, in + st->p_off, st->p_len);
	w += st->p_len;
	memcpy(w, " HTTP/1.1\r\n", 11);
	w += 11;
	if (st->a_len) {
		memcpy(w, "Host: ", 6);
		memcpy(w + 6, in + st->a_off, st->a_len);
		memcpy(w + 6 + st->a_len, "\r\n", 2);
	}
	memcpy(in + pre + st->hlen, "\r\n", 2);
	h->env.ops->stream_head(h->env.user, st->user, (uint32_t)(pre + st->hlen + 2), !end_stream);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2s *st = stream_of(h, f->hd.stream_id);
	if (st && !st->bad)
		start_stream(h, st, f->hd.flags & NGHTTP2_FLAG_END_STREAM);
	return 0;
}

/* Request body: to the user; the peer's window is given back only while
 * the user has room (upload backpressure). */
static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d,
			 size_t len, void *ud)
{
	struct h2conn *h = ud;
	struct h2s *st = stream_of(h, sid);

	(void)flags;
	if (!st) {
		nghttp2_session_consume_connection(s, len);
		return 0;
	}
	void *user = st->user;
	if (!h->env.ops->stream_body(h->env.user, user, (const char *)d, len)) {
		nghttp2_session_consume_connection(s, len);
		return 0;                   /* the stream was reset (stream_drop) */
	}
	st->credit += (uint32_t)len;
	if (h->env.ops->stream_upload_room(h->env.user, user)) {
		nghttp2_session_consume(s, sid, st->credit);
		st->credit = 0;
	}
	return 0;
}

void h2_stream_drained(struct h2conn *h, uint16_t idx, void *user)
{
	struct h2s *st = stream_at(h, idx, user);

	if (!st || st->credit == 0 || !h->env.ops->stream_upload_room(h->env.user, user))
		return;
	nghttp2_session_consume(h->s, st->sid, st->credit);
	st->credit = 0;
	h2_send(h);
}

/* nghttp2 ends a connection on a protocol error with its own GOAWAY. */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;

	(void)s;
	if (f->hd.type == NGHTTP2_DATA)
		h->n_data_sent++;           /* earns the peer WINDOW_UPDATEs */
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		h->reset_sids[h->n_reset_sids++ % LIMIT_H2_RESET_SIDS] = f->hd.stream_id;
		/* A reset the peer's frames forced on us (a window overflow,
		 * DATA past content-length) ends a started stream just as
		 * its own RST_STREAM does (CVE-2025-8671 "MadeYouReset"): same
		 * budget. Ours for an origin failure or over concurrency not. */
		uint32_t code = f->rst_stream.error_code;
		if (code != NGHTTP2_INTERNAL_ERROR && code != NGHTTP2_REFUSED_STREAM &&
		    ++h->n_rst > LIMIT_H2_RST_PER_S)
			flood(h, CTR_h2_flood_rst);
	}
	if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR &&
	    !h->ending) {
		h->ending = true;
		count(h, CTR_h2_protocol_errors);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t err, void *ud)
{
	struct h2conn *h = ud;
	struct h2s *st = stream_of(h, sid);

	(void)s;
	if (!st)
		return 0;
	void *user = st->user;
	bool complete = st->eof && err == NGHTTP2_NO_ERROR;
	stream_drop(h, st);
	if (!complete)
		count(h, CTR_h2_streams_reset);
	h->env.ops->stream_closed(h->env.user, user, complete);
	return 0;
}

/* ---- streams: response ----------------------------------------------------- */

/* The body source: bytes queued on the stream's send queue, copied into
 * nghttp2's DATA frame as the peer's window allows. */
static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2conn *h = ud;
	struct h2s *st = src->ptr;
	size_t n = 0;
	bool ended = false, head_req = false;

	(void)s;
	if (!st->user || st->sid != sid)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	void *user = st->user;
	struct iobuf_outq *q = h->env.ops->stream_response(h->env.user, user, &ended, &head_req);
	while (n < len && q->n > 0) {
		const struct iobuf_seg *seg = &q->segs[q->head];
		size_t k = seg->len < len - n ? seg->len : len - n;
		memcpy(buf + n, seg->ptr, k);
		n += k;
		iobuf_outq_consume(q, h->env.pool, k);
	}
	h->pulled += n;
	if (q->n == 0 && ended) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		st->eof = true;
	} else if (n == 0) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	/* As after a send to an HTTP/1.1 visitor: the producer goes on
	 * (the user's stream may end in there). */
	h->env.ops->stream_pulled(h->env.user, user);
	return (ssize_t)n;
}

/* A response head's fields as HTTP/2 fields (lower-case names into
 * `names`, the status into `status`): how many, or -1 when the names do
 * not fit. The values point into resp (nghttp2 copies them on submit). */
struct h2_head_nv {
	nghttp2_nv nv[LIMIT_HEADER_COUNT + 1];
	char names[LIMIT_RESPONSE_HEADER_BYTES], status[4];
};

static int head_nv(const struct http1_response *resp, struct h2_head_nv *o)
{
	size_t nn = 0, used = 0;

	o->status[0] = (char)('0' + resp->status / 100);
	o->status[1] = (char)('0' + resp->status / 10 % 10);
	o->status[2] = (char)('0' + resp->status % 10);
	o->nv[nn++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)o->status, 7, 3,
				     NGHTTP2_NV_FLAG_NONE };
	for (unsigned i = 0; i < resp->n_headers && nn < sizeof(o->nv) / sizeof(o->nv[0]); i++) {
		const struct http1_header *f = &resp->headers[i];
		/* Connection-specific fields are not allowed in HTTP/2. */
		if (http1_is_hop_by_hop(f->name, f->name_len) ||
		    (f->name_len == 16 && strncasecmp(f->name, "proxy-connection", 16) == 0))
			continue;
		if (used + f->name_len > sizeof(o->names))
			return -1;
		for (size_t k = 0; k < f->name_len; k++) {
			char c = f->name[k];
			o->names[used + k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		o->nv[nn++] = (nghttp2_nv){ (uint8_t *)o->names + used, (uint8_t *)f->value,
					     f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE };
		used += f->name_len;
	}
	return (int)nn;
}

/* The response head the user queued (HTTP/1.1 text, the first segment)
 * as HTTP/2 fields; the body follows through read_body. */
static bool submit_head(struct h2conn *h, struct h2s *st, struct iobuf_outq *q, bool ended,
			bool head)
{
	const struct iobuf_seg *seg = &q->segs[q->head];
	struct http1_response resp;
	struct h2_head_nv o;

	int r = http1_parse_response(seg->ptr, seg->len, head, &resp);
	if (r <= 0 || resp.status < 200 || resp.status > 999)
		return false;
	int nn = head_nv(&resp, &o);
	if (nn < 0)
		return false;
	iobuf_outq_consume(q, h->env.pool, (uint64_t)r);
	bool body = !resp.no_body && !head && !(q->n == 0 && ended);
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_body };
	if (nghttp2_submit_response(h->s, st->sid, o.nv, (size_t)nn, body ? &dp : NULL) != 0)
		return false;
	st->submitted = true;
	if (!body) {
		st->eof = true;
		iobuf_outq_clear(q, h->env.pool);    /* HEAD: the body is not sent */
	}
	return true;
}

bool h2_stream_flush(struct h2conn *h, uint16_t idx, void *user)
{
	struct h2s *st = stream_at(h, idx, user);

	if (!st || st->eof)
		return true;
	if (!st->submitted) {
		bool ended = false, head_req = false;
		struct iobuf_outq *q = h->env.ops->stream_response(h->env.user, user, &ended,
								   &head_req);
		if (q->n == 0) {
			h2_send(h);         /* an interim head may wait */
			return true;
		}
		if (!submit_head(h, st, q, ended, head_req)) {
			h2_stream_gone(h, idx, user);
			return false;
		}
	} else if (st->deferred) {
		st->deferred = false;
		nghttp2_session_resume_data(h->s, st->sid);
	}
	h2_send(h);
	if (!h->busy && !h->closed)
		h->env.ops->conn_timers(h->env.user, h->conn);  /* bytes may wait for the peer */
	return true;
}

bool h2_stream_interim(struct h2conn *h, uint16_t idx, void *user,
		       const struct http1_response *resp)
{
	struct h2s *st = stream_at(h, idx, user);
	struct h2_head_nv o;

	/* After the final head a HEADERS frame would be trailers. */
	if (!st || st->submitted || st->eof || resp->status < 102 || resp->status > 199)
		return false;
	int nn = head_nv(resp, &o);
	/* Sent by the next h2_stream_flush, not here: the caller may be in
	 * the middle of reading the origin. */
	return nn >= 0 && nghttp2_submit_headers(h->s, NGHTTP2_FLAG_NONE, st->sid, NULL, o.nv,
						 (size_t)nn, NULL) == 0;
}

void h2_stream_gone(struct h2conn *h, uint16_t idx, void *user)
{
	struct h2s *st = stream_at(h, idx, user);

	if (!st)
		return;
	int32_t sid = st->sid;
	stream_drop(h, st);
	count(h, CTR_h2_streams_aborted);
	nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_INTERNAL_ERROR);
	h2_send(h);
}

/* ---- the connection -------------------------------------------------------- */

/* Serialise frames into obuf when the last batch has left the send
 * queue, and have the user send them. */
static void h2_send(struct h2conn *h)
{
	size_t len = 0;

	if (h->busy || h->closed || h->failed || h->out->n > 0)
		return;                     /* after nghttp2 returns / the send completes */
	h->busy = true;
	while (len < sizeof(h->obuf)) {
		if (h->pend_len == 0) {
			const uint8_t *d;
			ssize_t n = nghttp2_session_mem_send(h->s, &d);
			if (n < 0) {
				h->failed = true;
				break;
			}
			if (n == 0)
				break;
			h->pend = d;
			h->pend_len = (size_t)n;
		}
		size_t k = h->pend_len < sizeof(h->obuf) - len ? h->pend_len : sizeof(h->obuf) - len;
		memcpy(h->obuf + len, h->pend, k);
		h->pend += k;
		h->pend_len -= k;
		len += k;
	}
	h->busy = false;
	if (len == 0)
		return;
	struct iobuf_seg seg = { .ptr = h->obuf, .len = (uint32_t)len, .kind = IOBUF_SEG_STATIC };
	iobuf_outq_push(h->out, &seg);
	h->env.ops->conn_send(h->env.user, h->conn);
}

/* More to do on this connection: streams or frames. */
static bool alive(const struct h2conn *h)
{
	if (h->failed)
		return false;
	return h->out->n > 0 || h->pend_len > 0 || nghttp2_session_want_write(h->s) ||
	       (!h->ending && nghttp2_session_want_read(h->s));
}

struct h2conn *h2_new(const struct h2_env *env, void *conn, struct iobuf_outq *out,
		      const char *peer)
{
	struct h2conn *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;

	if (!h || nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
		goto fail;
	h->env = *env;
	h->conn = conn;
	h->out = out;
	h->peer = peer;
	h->win_ms = env->lp->now_ms;
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_settings(opt, LIMIT_H2_SETTINGS_ENTRIES);
	nghttp2_option_set_max_continuations(opt, LIMIT_H2_CONTINUATIONS + 1);
	nghttp2_option_set_max_outbound_ack(opt, LIMIT_H2_PING_PER_S + LIMIT_H2_SETTINGS_PER_S);
	nghttp2_option_set_no_recv_client_magic(opt, 0);
	if (nghttp2_session_server_new2(&h->s, cb, h, opt) != 0)
		goto fail;
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	cb = NULL;
	opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, LIMIT_H2_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, LIMIT_H2_FRAME_BYTES },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, LIMIT_H2_HEADER_LIST_BYTES },
	};
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
		goto fail;
	count(h, CTR_h2_conns);
	return h;
fail:
	if (cb)
		nghttp2_session_callbacks_del(cb);
	if (opt)
		nghttp2_option_del(opt);
	if (h && h->s)
		nghttp2_session_del(h->s);
	free(h);
	return NULL;
}

bool h2_start(struct h2conn *h, const char *pre, size_t n)
{
	if (n > 0)
		return h2_recv(h, pre, n);
	h2_send(h);
	return true;
}

bool h2_recv(struct h2conn *h, const char *p, size_t n)
{
	if (h->ending)
		return alive(h);            /* GOAWAY is out or going: input dropped */
	h->busy = true;
	ssize_t r = nghttp2_session_mem_recv(h->s, (const uint8_t *)p, n);
	h->busy = false;
	if (r < 0) {
		if (r == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
			flood(h, CTR_h2_flood_continuation);
		else if (r == NGHTTP2_ERR_TOO_MANY_SETTINGS)
			flood(h, CTR_h2_flood_settings);
		else if (r == NGHTTP2_ERR_FLOODED)
			flood(h, CTR_h2_flood_ping);
		else
			flood(h, CTR_h2_protocol_errors);
		log_debug("visitor %s: HTTP/2: %s", h->peer, nghttp2_strerror((int)r));
	}
	h2_send(h);
	return alive(h);
}

bool h2_on_sent(struct h2conn *h)
{
	h2_send(h);
	return alive(h);
}

bool h2_idle(const struct h2conn *h)
{
	return h->n_streams == 0;
}

uint64_t h2_stall_deadline(struct h2conn *h, uint32_t timeout_ms)
{
	bool waiting = false;

	for (unsigned i = 0; i < LIMIT_H2_MAX_STREAMS && !waiting; i++) {
		struct h2s *st = &h->st[i];
		if (!st->user || !st->submitted || st->eof)
			continue;
		bool ended = false, head_req = false;
		waiting = h->env.ops->stream_response(h->env.user, st->user, &ended,
						      &head_req)->n > 0;
	}
	if (!waiting) {
		h->stall_since_ms = 0;
		return 0;
	}
	if (h->stall_since_ms == 0 || h->pulled != h->pulled_seen) {
		h->pulled_seen = h->pulled;
		h->stall_since_ms = h->env.lp->now_ms;
	}
	return h->stall_since_ms + timeout_ms;
}

void h2_drain(struct h2conn *h)
{
	/* A GOAWAY naming the last stream we processed would refuse the
	 * streams the client sent meanwhile; the notice (RFC 9113 6.8: last
	 * stream id 2^31-1) refuses none and stops the client opening more:
	 * it closes once its streams are answered (or the drain deadline
	 * closes it). Not `ending`: the open streams finish. */
	nghttp2_submit_shutdown_notice(h->s);
	h2_send(h);
}

void h2_drain_final(struct h2conn *h)
{
	/* About a round trip after the notice: streams the client sent
	 * before it saw the notice have arrived. nghttp2 ignores streams
	 * above this id from now on, and want_read ends once the open ones
	 * close, so an idle connection closes instead of holding the drain
	 * to its deadline. */
	if (h->ending || h->failed)
		return;
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h->s),
			      NGHTTP2_NO_ERROR, NULL, 0);
	h2_send(h);
}

void h2_conn_end(struct h2conn *h)
{
	h->closed = true;
	for (unsigned i = 0; i < LIMIT_H2_MAX_STREAMS; i++) {
		struct h2s *st = &h->st[i];
		if (!st->user)
			continue;
		void *user = st->user;
		stream_drop(h, st);
		h->env.ops->stream_closed(h->env.user, user, false);
	}
}

void h2_free(struct h2conn *h)
{
	nghttp2_session_del(h->s);
	free(h);
}
