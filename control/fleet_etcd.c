/* control/fleet_etcd.c — etcd's v3 JSON gateway through libcurl (contract
 * in fleet_etcd.h). int64 values come as JSON strings (grpc-gateway's
 * encoding) or numbers; both are read, strings are sent. */
#include "control/fleet_etcd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

#include "control/fleet_crypt.h"
#include "core/limits.h"
#include "core/log.h"

#define FETCD_MAGIC 0x45544344u  /* "ETCD" */

/* grpc status codes etcd answers with in the gateway's error JSON */
#define GRPC_OUT_OF_RANGE 11     /* "required revision has been compacted" */
#define GRPC_UNAVAILABLE  14     /* no leader, member stopping: try another */
#define GRPC_UNAUTHENTICATED 16

struct buf {
	char *p;
	size_t len, cap;
};

struct fetcd {
	uint32_t magic;
	char **ep;               /* endpoint base URLs */
	size_t n_ep, cur;        /* cur: the endpoint that answered last */
	char *ca_file, *cert_file, *key_file, *user, *password;
	char *token;             /* auth: the Authorization header's value */
	CURL *req;               /* requests */
	char err[256];
	/* the watch */
	CURLM *multi;
	CURL *wh;
	struct curl_slist *whdr;
	char *wbody;
	struct buf win;          /* stream bytes not yet a whole message */
	fetcd_watch_fn wfn;
	void *warg;
	int wstop;               /* the callback's <0, or a framing error */
	struct { int fd, events; } wfd[FETCD_WATCH_FDS];
	long wtimer_ms;          /* -1: none */
	uint64_t wtimer_at, wlast_ms;
	bool wcreated;           /* etcd's "created" answer came */
};

static bool curl_ready;

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3)))
static void set_err(struct fetcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

const char *fetcd_error(const struct fetcd *e)
{
	return e->err;
}

static json_t *b64_json(const char *s, size_t len)
{
	word32 olen = (word32)((len + 2) / 3 * 4 + 1);
	char *out = malloc(olen + 1);
	json_t *j = NULL;

	if (out && (len == 0 || Base64_Encode_NoNl((const byte *)s, (word32)len, (byte *)out,
						   &olen) == 0)) {
		out[len ? olen : 0] = '\0';
		j = json_string(out);
	}
	free(out);
	return j;
}

/* A base64 member decoded, NUL-terminated; "" if absent (etcd leaves out
 * empty values). NULL: not base64, or out of memory. */
static char *b64_dup(const json_t *obj, const char *name, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	size_t sl = s ? strlen(s) : 0;
	word32 olen = (word32)(sl / 4 * 3 + 3);
	char *out = malloc(olen + 1);

	if (!out)
		return NULL;
	if (sl && Base64_Decode((const byte *)s, (word32)sl, (byte *)out, &olen) != 0) {
		free(out);
		return NULL;
	}
	out[sl ? olen : 0] = '\0';
	if (len)
		*len = sl ? olen : 0;
	return out;
}

/* An int64 member: "123" or 123; 0 if absent. */
static int64_t i64(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static json_t *i64_json(int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%lld", (long long)v);
	return json_string(b);
}

/* The end of a prefix range: the prefix with its last byte + 1. */
static json_t *prefix_end(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix);
	json_t *j;

	if (!end || !len) {
		free(end);
		return NULL;
	}
	end[len - 1]++;
	j = b64_json(end, len);
	free(end);
	return j;
}

static void kv_free(struct fetcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void fetcd_kvs_free(struct fetcd_kvs *k)
{
	for (size_t i = 0; i < k->n; i++)
		kv_free(&k->kv[i]);
	free(k->kv);
	memset(k, 0, sizeof(*k));
}

static int kv_from(const json_t *j, struct fetcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	kv->key = b64_dup(j, "key", NULL);
	kv->value = b64_dup(j, "value", &kv->value_len);
	kv->mod_revision = i64(j, "mod_revision");
	kv->create_revision = i64(j, "create_revision");
	kv->lease = i64(j, "lease");
	if (!kv->key || !kv->value) {
		kv_free(kv);
		return -EPROTO;
	}
	return 0;
}

static size_t on_bytes(char *p, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = sz * n;

	if (b->len + len + 1 > LIMIT_FLEET_RESPONSE_BYTES)
		return 0;        /* curl fails the transfer: never buffered without end */
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *q = realloc(b->p, cap);

		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* TLS, timeouts and the rest every handle of ours has. */
static void common_opts(struct fetcd *e, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)LIMIT_FLEET_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	if (e->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
	}
}

/* ---- requests ------------------------------------------------------------------ */

enum outcome { OK, NEXT, FAIL };

/* One POST to one endpoint: OK with *resp, NEXT (try another endpoint),
 * FAIL (*rc set: the answer is final). */
static enum outcome post_one(struct fetcd *e, size_t ep, const char *path, const char *body,
			     json_t **resp, int *rc)
{
	char url[LIMIT_FLEET_URL_BYTES + 64], auth[1024];
	struct curl_slist *hdr = NULL;
	struct buf b = { 0 };
	long status = 0;
	CURLcode cc;
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", e->ep[ep], path);
	curl_easy_reset(e->req);
	common_opts(e, e->req);
	curl_easy_setopt(e->req, CURLOPT_URL, url);
	curl_easy_setopt(e->req, CURLOPT_TIMEOUT_MS, (long)LIMIT_FLEET_REQUEST_MS);
	curl_easy_setopt(e->req, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->req, CURLOPT_WRITEFUNCTION, on_bytes);
	curl_easy_setopt(e->req, CURLOPT_WRITEDATA, &b);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (e->token && strcmp(path, "/v3/auth/authenticate") != 0) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		hdr = curl_slist_append(hdr, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	curl_easy_setopt(e->req, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(e->req);
	curl_easy_getinfo(e->req, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (cc != CURLE_OK) {
		set_err(e, "%s: %s", e->ep[ep], curl_easy_strerror(cc));
		free(b.p);
		return NEXT;
	}
	j = b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	free(b.p);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		set_err(e, "%s%s: HTTP %ld, not a JSON object", e->ep[ep], path, status);
		return status >= 500 ? NEXT : (*rc = -EPROTO, FAIL);
	}
	if (status == 200 && !json_object_get(j, "error")) {
		*resp = j;
		return OK;
	}
	int64_t code = i64(j, "code");
	const char *msg = json_string_value(json_object_get(j, "error"));
	set_err(e, "%s%s: HTTP %ld: %.160s", e->ep[ep], path, status, msg ? msg : "?");
	json_decref(j);
	if (code == GRPC_UNAVAILABLE || status >= 500)
		return NEXT;
	*rc = code == GRPC_OUT_OF_RANGE ? -ESTALE : code == GRPC_UNAUTHENTICATED ? -EACCES :
	      -EPROTO;
	return FAIL;
}

static int authenticate(struct fetcd *e, size_t ep);

/* POST body to path on the current endpoint, then the others once each;
 * *resent (may be NULL): an earlier endpoint may have applied it (no
 * answer came back) before the one that answered. */
static int post_ex(struct fetcd *e, const char *path, json_t *body, json_t **resp,
		   bool *resent)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = -EHOSTUNREACH;
	bool tried = false;

	json_decref(body);
	*resp = NULL;
	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_ep; i++) {
		size_t ep = (e->cur + i) % e->n_ep;
		enum outcome o;

		if (e->user && !e->token && (rc = authenticate(e, ep)) < 0)
			continue;
		if (resent)
			*resent = tried;
		tried = true;
		o = post_one(e, ep, path, text, resp, &rc);
		if (o == FAIL && rc == -EACCES && e->user) {
			/* the token expired: once more with a new one */
			free(e->token);
			e->token = NULL;
			if (authenticate(e, ep) == 0)
				o = post_one(e, ep, path, text, resp, &rc);
		}
		if (o == OK) {
			e->cur = ep;
			rc = 0;
			break;
		}
		if (o == FAIL)
			break;
		rc = -EHOSTUNREACH;
	}
	free(text);
	return rc;
}

static int post(struct fetcd *e, const char *path, json_t *body, json_t **resp)
{
	return post_ex(e, path, body, resp, NULL);
}

static int authenticate(struct fetcd *e, size_t ep)
{
	json_t *resp = NULL, *body = json_pack("{s:s,s:s}", "name", e->user, "password",
					       e->password);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = -EHOSTUNREACH;

	json_decref(body);      /* the password's copy wiped by fleet_wipe_free */
	if (!text)
		return -ENOMEM;
	enum outcome o = post_one(e, ep, "/v3/auth/authenticate", text, &resp, &rc);
	explicit_bzero(text, strlen(text));
	free(text);
	if (o != OK)
		return o == FAIL ? rc : -EHOSTUNREACH;
	const char *t = json_string_value(json_object_get(resp, "token"));
	free(e->token);
	e->token = t ? strdup(t) : NULL;
	json_decref(resp);
	return e->token ? 0 : -EPROTO;
}

static int range(struct fetcd *e, json_t *req, struct fetcd_kvs *out)
{
	json_t *resp;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!req)
		return -ENOMEM;
	if ((rc = post(e, "/v3/kv/range", req, &resp)) < 0)
		return rc;
	json_t *kvs = json_object_get(resp, "kvs");
	size_t n = json_array_size(kvs);

	out->revision = i64(json_object_get(resp, "header"), "revision");
	out->kv = calloc(n ? n : 1, sizeof(*out->kv));
	if (!out->kv)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		if ((rc = kv_from(json_array_get(kvs, i), &out->kv[i])) == 0)
			out->n++;
	}
	json_decref(resp);
	if (!rc && out->revision <= 0)
		rc = -EPROTO;
	if (rc) {
		set_err(e, "range: an answer without a revision or with a bad kv");
		fetcd_kvs_free(out);
	}
	return rc;
}

/* [key, end), or the prefix key when end is NULL */
static json_t *range_end(const char *key, const char *end)
{
	return end ? b64_json(end, strlen(end)) : prefix_end(key);
}

int fetcd_range(struct fetcd *e, const char *key, const char *end, int64_t rev,
		struct fetcd_kvs *out)
{
	json_t *req = json_pack("{s:o,s:o}", "key", b64_json(key, strlen(key)),
				"range_end", range_end(key, end));

	if (req && rev > 0)
		json_object_set_new(req, "revision", i64_json(rev));
	return range(e, req, out);
}

int fetcd_get(struct fetcd *e, const char *key, struct fetcd_kvs *out)
{
	return range(e, json_pack("{s:o}", "key", b64_json(key, strlen(key))), out);
}

static json_t *put_op(const char *key, const char *value, int64_t lease)
{
	json_t *p;

	if (!value)
		return json_pack("{s:{s:o}}", "request_delete_range", "key",
				 b64_json(key, strlen(key)));
	p = json_pack("{s:o,s:o}", "key", b64_json(key, strlen(key)), "value",
		      b64_json(value, strlen(value)));
	if (p && lease)
		json_object_set_new(p, "lease", i64_json(lease));
	return p ? json_pack("{s:o}", "request_put", p) : NULL;
}

/* A failed txn's range answer after a re-send: the key holds value (or,
 * value NULL, is gone): our first try was applied — 0 and *rev its
 * revision; else -EEXIST. */
static int txn_was_ours(const json_t *resp, const char *value, int64_t *rev)
{
	const json_t *rr = json_object_get(json_array_get(json_object_get(resp, "responses"), 0),
					   "response_range");
	const json_t *kvs = json_object_get(rr, "kvs");
	struct fetcd_kv kv;
	int rc = -EEXIST;

	if (!rr)
		return -EEXIST;
	if (json_array_size(kvs) == 0)
		return value ? -EEXIST : 0;
	if (value && kv_from(json_array_get(kvs, 0), &kv) == 0) {
		if (strcmp(kv.value, value) == 0) {
			*rev = kv.mod_revision;
			rc = 0;
		}
		kv_free(&kv);
	}
	return rc;
}

int fetcd_txn(struct fetcd *e, const char *key, const char *value, int64_t expect,
	      int64_t lease, int64_t *rev)
{
	/* expect 0: the key must not exist (its create_revision is 0) */
	json_t *cmp = json_pack("{s:o,s:s,s:s,s:o}", "key", b64_json(key, strlen(key)),
				"target", expect ? "MOD" : "CREATE", "result", "EQUAL",
				expect ? "mod_revision" : "create_revision", i64_json(expect));
	/* on failure the key as it is now: a txn re-sent after a failover
	 * whose first try was applied fails its compare on its own write */
	json_t *req = json_pack("{s:[o],s:[o],s:[{s:{s:o}}]}", "compare", cmp, "success",
				put_op(key, value, lease), "failure", "request_range", "key",
				b64_json(key, strlen(key)));
	json_t *resp;
	bool resent = false;
	int rc;

	if (!req)
		return -ENOMEM;
	if ((rc = post_ex(e, "/v3/kv/txn", req, &resp, &resent)) < 0)
		return rc;
	*rev = i64(json_object_get(resp, "header"), "revision");
	rc = json_is_true(json_object_get(resp, "succeeded")) ? 0 : -EEXIST;
	if (rc && resent)
		rc = txn_was_ours(resp, value, rev);
	json_decref(resp);
	return rc;
}

int fetcd_put(struct fetcd *e, const char *key, const char *value, int64_t lease, int64_t *rev)
{
	json_t *req = json_pack("{s:o,s:o}", "key", b64_json(key, strlen(key)), "value",
				b64_json(value, strlen(value))), *resp;
	int rc;

	if (req && lease)
		json_object_set_new(req, "lease", i64_json(lease));
	if (!req)
		return -ENOMEM;
	if ((rc = post(e, "/v3/kv/put", req, &resp)) < 0)
		return rc;
	*rev = i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	return 0;
}

int fetcd_lease_grant(struct fetcd *e, int ttl_s, int64_t *id)
{
	json_t *resp;
	int rc = post(e, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl_s), &resp);

	if (rc < 0)
		return rc;
	*id = i64(resp, "ID");
	json_decref(resp);
	return *id ? 0 : -EPROTO;
}

int fetcd_lease_keepalive(struct fetcd *e, int64_t id)
{
	json_t *resp, *req = json_pack("{s:o}", "ID", i64_json(id));
	int rc = post(e, "/v3/lease/keepalive", req, &resp);

	if (rc < 0)
		return rc;
	/* a stream of one answer: {"result": {"ID", "TTL"}}; TTL 0 = gone */
	rc = i64(json_object_get(resp, "result"), "TTL") > 0 ? 0 : -ENOENT;
	json_decref(resp);
	return rc;
}

/* ---- the watch --------------------------------------------------------------- */

static void msg_free(struct fetcd_watch_msg *m)
{
	for (size_t i = 0; i < m->n_ev; i++)
		kv_free(&m->ev[i].kv);
	free(m->ev);
}

/* One line of the stream: {"result": {...}} or {"error": {...}}. */
static int watch_line(struct fetcd *e, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL), *r = json_object_get(j, "result");
	struct fetcd_watch_msg m = { 0 };
	int rc = 0;

	if (!json_is_object(r)) {
		set_err(e, "watch: a message that is not a result");
		json_decref(j);
		return -EPROTO;
	}
	json_t *evs = json_object_get(r, "events");
	m.created = json_is_true(json_object_get(r, "created"));
	e->wcreated |= m.created;
	m.canceled = json_is_true(json_object_get(r, "canceled"));
	m.compact_revision = i64(r, "compact_revision");
	m.revision = i64(json_object_get(r, "header"), "revision");
	m.ev = calloc(json_array_size(evs) + 1, sizeof(*m.ev));
	if (!m.ev)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < json_array_size(evs); i++) {
		const json_t *ev = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(ev, "type"));

		m.ev[i].put = !type || strcmp(type, "PUT") == 0;
		if ((rc = kv_from(json_object_get(ev, "kv"), &m.ev[i].kv)) == 0)
			m.n_ev++;
		else     /* the error a caller logs is this one, not an older one */
			set_err(e, "watch: event %zu of a message does not decode (%s)", i,
				rc == -ENOMEM ? "out of memory" : "not a kv");
	}
	json_decref(j);
	if (!rc)
		rc = e->wfn(e->warg, &m);
	msg_free(&m);
	return rc;
}

static size_t on_watch_bytes(char *p, size_t sz, size_t n, void *arg)
{
	struct fetcd *e = arg;
	size_t len = sz * n, start = 0, seen = e->win.len;

	if (e->wstop || on_bytes(p, sz, n, &e->win) != len)
		return 0;
	e->wlast_ms = now_ms();
	/* only the new bytes: what was kept holds no '\n' (a line that grows
	 * to the response limit is scanned once, not once per chunk) */
	for (size_t i = seen; i < e->win.len; i++) {
		if (e->win.p[i] != '\n')
			continue;
		if (i > start && (e->wstop = watch_line(e, e->win.p + start, i - start)) < 0)
			return 0;
		start = i + 1;
	}
	if (start) {
		memmove(e->win.p, e->win.p + start, e->win.len - start);
		e->win.len -= start;
	}
	return len;
}

static int on_socket(CURL *h, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct fetcd *e = arg;
	int slot = -1;

	(void)h;
	(void)sockp;
	for (int i = 0; i < FETCD_WATCH_FDS && slot < 0; i++)
		if (e->wfd[i].fd == s)
			slot = i;
	for (int i = 0; i < FETCD_WATCH_FDS && slot < 0 && what != CURL_POLL_REMOVE; i++)
		if (e->wfd[i].fd < 0)
			slot = i;
	if (slot < 0)
		return what == CURL_POLL_REMOVE ? 0 : -1;
	if (what == CURL_POLL_REMOVE) {
		e->wfd[slot].fd = -1;
		return 0;
	}
	e->wfd[slot].fd = s;
	e->wfd[slot].events = (what & CURL_POLL_IN ? POLLIN : 0) |
			      (what & CURL_POLL_OUT ? POLLOUT : 0);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *arg)
{
	struct fetcd *e = arg;

	(void)m;
	e->wtimer_ms = timeout_ms;
	e->wtimer_at = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	return 0;
}

void fetcd_watch_stop(struct fetcd *e)
{
	if (e->wh) {
		curl_multi_remove_handle(e->multi, e->wh);
		curl_easy_cleanup(e->wh);
	}
	e->wh = NULL;
	curl_slist_free_all(e->whdr);
	e->whdr = NULL;
	free(e->wbody);
	e->wbody = NULL;
	e->win.len = 0;
	e->wstop = 0;
	e->wtimer_ms = -1;
	for (int i = 0; i < FETCD_WATCH_FDS; i++)
		e->wfd[i].fd = -1;
}

bool fetcd_watch_running(const struct fetcd *e)
{
	return e->wh != NULL;
}

int fetcd_watch_start(struct fetcd *e, const char *key, const char *end, int64_t start_rev,
		      fetcd_watch_fn fn, void *arg)
{
	char url[LIMIT_FLEET_URL_BYTES + 16], auth[1024];
	json_t *req;

	fetcd_watch_stop(e);
	/* the request endpoint answered last; after a failed watch, the next */
	if (e->user && !e->token && authenticate(e, e->cur) < 0)
		return -EHOSTUNREACH;
	req = json_pack("{s:{s:o,s:o,s:o,s:b}}", "create_request", "key",
			b64_json(key, strlen(key)), "range_end", range_end(key, end),
			"start_revision", i64_json(start_rev), "progress_notify", 1);
	e->wbody = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!e->wbody || !(e->wh = curl_easy_init()))
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s/v3/watch", e->ep[e->cur]);
	common_opts(e, e->wh);
	curl_easy_setopt(e->wh, CURLOPT_URL, url);
	curl_easy_setopt(e->wh, CURLOPT_POSTFIELDS, e->wbody);
	curl_easy_setopt(e->wh, CURLOPT_WRITEFUNCTION, on_watch_bytes);
	curl_easy_setopt(e->wh, CURLOPT_WRITEDATA, e);
	/* a member that vanished without a FIN or RST (power, a partition)
	 * is found in about a minute, not at LIMIT_FLEET_WATCH_IDLE_MS */
	curl_easy_setopt(e->wh, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->wh, CURLOPT_TCP_KEEPIDLE, (long)LIMIT_FLEET_KEEPALIVE_IDLE_S);
	curl_easy_setopt(e->wh, CURLOPT_TCP_KEEPINTVL, (long)LIMIT_FLEET_KEEPALIVE_INTVL_S);
	e->whdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->token) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		e->whdr = curl_slist_append(e->whdr, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	curl_easy_setopt(e->wh, CURLOPT_HTTPHEADER, e->whdr);
	e->wfn = fn;
	e->warg = arg;
	e->wlast_ms = now_ms();
	e->wcreated = false;
	if (curl_multi_add_handle(e->multi, e->wh) != CURLM_OK) {
		fetcd_watch_stop(e);
		return -ENOMEM;
	}
	return 0;
}

unsigned fetcd_watch_pollfds(struct fetcd *e, struct pollfd *pfd, int *timeout_ms)
{
	unsigned n = 0;
	uint64_t now = now_ms();

	*timeout_ms = -1;
	if (!e->wh)
		return 0;
	for (int i = 0; i < FETCD_WATCH_FDS; i++)
		if (e->wfd[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = e->wfd[i].fd,
						    .events = (short)e->wfd[i].events };
	if (e->wtimer_ms >= 0)
		*timeout_ms = e->wtimer_at > now ? (int)(e->wtimer_at - now) : 0;
	return n;
}

int fetcd_watch_poll(struct fetcd *e, const struct pollfd *pfd, unsigned n)
{
	int running = 0, left;
	CURLMsg *msg;
	uint64_t now = now_ms();

	if (!e->wh)
		return -ENOTCONN;
	for (unsigned i = 0; i < n; i++) {
		int ev = (pfd[i].revents & POLLIN ? CURL_CSELECT_IN : 0) |
			 (pfd[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
			 (pfd[i].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);
		if (ev)
			curl_multi_socket_action(e->multi, pfd[i].fd, ev, &running);
	}
	if (e->wtimer_ms >= 0 && now >= e->wtimer_at) {
		e->wtimer_ms = -1;
		curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while (e->wh && (msg = curl_multi_info_read(e->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		int rc = e->wstop < 0 ? e->wstop : -ECONNRESET;
		if (!e->wstop)
			set_err(e, "watch on %s ended: %s", e->ep[e->cur],
				curl_easy_strerror(msg->data.result));
		/* the next start goes to the next endpoint */
		e->cur = (e->cur + 1) % e->n_ep;
		fetcd_watch_stop(e);
		return rc;
	}
	now = now_ms();          /* the messages above moved wlast_ms */
	/* the "created" answer is a request's answer: due within its time */
	if (e->wh && !e->wcreated && now > e->wlast_ms &&
	    now - e->wlast_ms > LIMIT_FLEET_REQUEST_MS) {
		set_err(e, "watch on %s not created within %d ms", e->ep[e->cur],
			LIMIT_FLEET_REQUEST_MS);
		e->cur = (e->cur + 1) % e->n_ep;
		fetcd_watch_stop(e);
		return -ETIMEDOUT;
	}
	if (e->wh && now > e->wlast_ms && now - e->wlast_ms > LIMIT_FLEET_WATCH_IDLE_MS) {
		set_err(e, "watch on %s silent for %d ms", e->ep[e->cur], LIMIT_FLEET_WATCH_IDLE_MS);
		e->cur = (e->cur + 1) % e->n_ep;
		fetcd_watch_stop(e);
		return -ETIMEDOUT;
	}
	return 0;
}

/* ---- life ---------------------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	*oom |= s && !d;
	return d;
}

struct fetcd *fetcd_new(const struct cfg_fleet *fl)
{
	struct fetcd *e = calloc(1, sizeof(*e));
	bool oom = !e;

	/* curl's frees wiped: its header lists carry the Authorization token */
	if (!curl_ready && curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, fleet_wipe_free,
						realloc, strdup, calloc) == CURLE_OK)
		curl_ready = true;
	if (!e || !curl_ready) {
		free(e);
		return NULL;
	}
	e->magic = FETCD_MAGIC;
	e->wtimer_ms = -1;
	for (int i = 0; i < FETCD_WATCH_FDS; i++)
		e->wfd[i].fd = -1;
	e->ep = calloc(fl->n_etcd, sizeof(*e->ep));
	oom |= !e->ep;
	for (size_t i = 0; e->ep && i < fl->n_etcd; i++)
		e->ep[e->n_ep++] = dup_or_null(fl->etcd[i], &oom);
	e->ca_file = dup_or_null(fl->ca_file, &oom);
	e->cert_file = dup_or_null(fl->cert_file, &oom);
	e->key_file = dup_or_null(fl->key_file, &oom);
	e->user = dup_or_null(fl->user, &oom);
	e->password = fl->password ? cfg_secret_dup(fl->password, strlen(fl->password)) : NULL;
	oom |= fl->password && !e->password;
	e->req = curl_easy_init();
	e->multi = curl_multi_init();
	if (oom || !e->req || !e->multi || e->n_ep == 0) {
		fetcd_free(e);
		return NULL;
	}
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	return e;
}

void fetcd_free(struct fetcd *e)
{
	if (!e)
		return;
	fetcd_watch_stop(e);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	if (e->req)
		curl_easy_cleanup(e->req);
	for (size_t i = 0; i < e->n_ep; i++)
		free(e->ep[i]);
	free(e->ep);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e->user);
	cfg_secret_free(e->password);
	if (e->token)
		explicit_bzero(e->token, strlen(e->token));
	free(e->token);
	free(e->win.p);
	e->magic = 0;
	free(e);
}
