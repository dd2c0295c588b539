/* edge/origin_request.c — the origin request writer (see origin_request.h). */
#include "edge/origin_request.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "core/limits.h"
#include "edge/runtime.h"
#include "net/http1.h"
#include "sigv4/s3_path.h"

/* A plain origin: base path + the visitor's path as it came. */
static int write_plain(const struct oreq *r, struct wbuf *w)
{
	wbuf_put(w, r->method, r->method_len);
	wbuf_put(w, " ", 1);
	wbuf_put(w, r->base_path_wire, r->base_path_wire_len);
	wbuf_put(w, r->path, r->path_len);
	if (r->query) {
		wbuf_put(w, "?", 1);
		wbuf_put(w, r->query, r->query_len);
	}
	wbuf_str(w, " HTTP/1.1\r\nHost: ");
	wbuf_str(w, r->cfg->host_header);
	wbuf_put(w, "\r\n", 2);
	return 0;
}

/*
 * An S3 origin: the path mapped the S3 way (decode once, base_path,
 * encode once: what is signed is what is sent), then the SigV4 headers.
 */
static int write_s3(const struct oreq *r, struct wbuf *w, struct sigv4_trace *trace,
		    struct oreq_result *res)
{
	char path[LIMIT_S3_WIRE_PATH_BYTES + 1], host[LIMIT_S3_HOST_BYTES + 1];
	struct s3path_out m = { .path = path, .path_cap = sizeof(path),
				.host = host, .host_cap = sizeof(host) };
	struct sigv4_s3_signed sig;
	char method[8];

	if (r->method_len >= sizeof(method))
		return -EINVAL;
	memcpy(method, r->method, r->method_len);
	method[r->method_len] = '\0';
	int rc = s3path_map(r->cfg, r->path, r->path_len, &m);
	if (rc < 0)
		return rc;
	struct sigv4_s3_request sr = {
		.method = method, .host = host, .host_len = m.host_len,
		.path = path, .path_len = m.path_len,
		.query = r->query, .query_len = r->query ? r->query_len : 0,
		.unsigned_payload = r->cfg->s3_payload == CFG_S3_PAYLOAD_UNSIGNED,
		.now = (time_t)((int64_t)r->now + r->clock_offset_s),
	};
	rc = sigv4_s3_sign(r->creds, &sr, &sig, trace);
	if (rc < 0)
		return rc == -ENOSPC ? -ENOSPC : -EINVAL;
	res->signed_s3 = true;
	res->key_derived = !sig.used_precomputed_key;
	wbuf_put(w, r->method, r->method_len);
	wbuf_put(w, " ", 1);
	wbuf_put(w, path, m.path_len);
	if (r->query) {
		wbuf_put(w, "?", 1);
		wbuf_put(w, r->query, r->query_len);
	}
	wbuf_str(w, " HTTP/1.1\r\n");
	wbuf_header(w, "Host", 4, host, m.host_len);
	wbuf_header(w, "X-Amz-Date", 10, sig.amz_date, SIGV4_AMZ_DATE_LEN);
	wbuf_header(w, "X-Amz-Content-SHA256", 20, sig.payload_hash, strlen(sig.payload_hash));
	if (r->creds->session_token[0])
		wbuf_header(w, "X-Amz-Security-Token", 20, r->creds->session_token,
			    strlen(r->creds->session_token));
	wbuf_header(w, "Authorization", 13, sig.authorization, sig.authorization_len);
	return 0;
}

int oreq_write(const struct oreq *r, struct wbuf *w, struct sigv4_trace *trace,
	       struct oreq_result *res)
{
	struct oreq_result ignored;

	res = res ? res : &ignored;
	memset(res, 0, sizeof(*res));
	return r->creds ? write_s3(r, w, trace, res) : write_plain(r, w);
}

void oreq_for_visitor(const struct rt_origin *o, const struct sigv4_creds *creds,
		      const struct http1_request *req, time_t now, struct oreq *out)
{
	bool head = req->method == HTTP1_HEAD;

	*out = (struct oreq){
		.cfg = o->cfg,
		.base_path_wire = o->base_path_wire, .base_path_wire_len = o->base_path_wire_len,
		.creds = creds,
		.method = creds ? (head ? "HEAD" : "GET") : req->method_str,
		.method_len = creds ? (head ? 4 : 3) : req->method_len,
		.path = req->path, .path_len = req->path_len,
		.query = req->query, .query_len = req->query ? req->query_len : 0,
		.now = now,
		.clock_offset_s = atomic_load_explicit(&((struct rt_origin *)o)->clock_offset_s,
						       memory_order_relaxed),
	};
}
