#!/usr/bin/python3
"""Pass-through proxying: byte-exact bodies, HEAD, pipelining, origin
keep-alive reuse, request bodies (Content-Length and chunked), origin error
statuses, and the headers and access-log line every response carries."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SIZES = {'f1k': 1024, 'f16k': 16384, 'f1m': 1 << 20, 'f64m': 64 << 20}
LOG_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ [A-Z]+ \S+ \d{3} \d+ '
		    r'(\d{3}|-) (HIT|MISS|EXPIRED|STALE|UPDATING|REVALIDATED|PASS|BYPASS|-) \d+ '
		    r'(\d+|-) [0-9a-f]{16}$')


def bodies(ck, srv, origin):
	for name, size in SIZES.items():
		r = et.request(srv.port, 'GET', '/' + name, timeout=60)
		ck.check('GET %s status' % name, r.status == 200, repr(r))
		ck.check('GET %s sha256' % name, r.complete and et.sha256(r.body) ==
			 et.sha256(origin.content(name)), '%r' % r)
		ck.check('GET %s Content-Length' % name,
			 r.framing != 'length' or r.header('content-length') == str(size))


def head(ck, srv):
	c = srv.conn()
	c.send(et.build('HEAD', '/f16k'))
	r = c.read_response(head_request=True)
	ck.check('HEAD status', r.status == 200, repr(r))
	ck.check('HEAD Content-Length', r.header('content-length') == '16384', str(r.headers))
	# A body sent after a HEAD head would be read as the next response.
	c.send(et.build('GET', '/f1k'))
	r2 = c.read_response()
	ck.check('HEAD sends no body (next response on the conn is clean)',
		 r2.status == 200 and len(r2.body) == 1024, repr(r2))
	c.close()


def pipelining(ck, srv, origin):
	names = ['f1k', 'f16k'] * 8
	c = srv.conn(timeout=20)
	c.send(b''.join(et.build('GET', '/' + n) for n in names))
	got = []
	for n in names:
		r = c.read_response()
		got.append(r.status == 200 and r.body == origin.content(n))
	c.close()
	ck.check('16 pipelined requests, 16 responses in order', all(got) and len(got) == 16,
		 str(got))


def reuse(ck, srv, origin):
	before = len(origin.log())
	cnt0 = srv.counters() if srv.has_counters else None
	c = srv.conn()
	n = 20
	for _ in range(n):
		c.send(et.build('GET', '/f1k'))
		r = c.read_response()
		if r.status != 200:
			break
	c.close()
	lines = origin.log_wait(before + n)[before:]
	conns = {ln[0] for ln in lines}
	ck.check('origin saw all %d requests' % n, len(lines) == n, '%d lines' % len(lines))
	ck.check('origin connections reused (origin log: %d conns for %d requests)' %
		 (len(conns), len(lines)), 0 < len(conns) < len(lines) // 2)
	if cnt0 is not None:
		cnt = srv.counters()
		d = {k: cnt.get(k, 0) - cnt0.get(k, 0) for k in ('origin_reuses', 'origin_connects')}
		ck.check('counters: origin_reuses grew (%s)' % d, d['origin_reuses'] >= n // 2)
		ck.check('counters: origin_connects < requests', d['origin_connects'] < n // 2)


def request_bodies(ck, srv):
	for method in ('POST', 'PUT'):
		body = et.det_bytes('req' + method, 300 * 1024 + 7)
		r = et.request(srv.port, method, '/echo', host='py.test', body=body)
		ck.check('%s Content-Length body echoed byte-exact' % method,
			 r.status == 200 and r.body == body, repr(r))
		hdrs = [('Transfer-Encoding', 'chunked')]
		r = et.request(srv.port, method, '/echo', host='py.test', headers=hdrs,
			       body=et.chunk(body, 10000))
		ck.check('%s chunked body echoed byte-exact' % method,
			 r.status == 200 and r.body == body, repr(r))
		ck.check('%s reached the origin as %s' % (method, method),
			 r.header('x-echo-method') == method, str(r.headers))
	# Keep-alive after a request body: the next request on the conn works.
	c = srv.conn()
	c.send(et.build('POST', '/echo', 'py.test', body=b'abc') + et.build('GET', '/f1k'))
	r1, r2 = c.read_response(), c.read_response()
	c.close()
	ck.check('request after a POST body on the same connection',
		 r1.body == b'abc' and r2.status == 200 and len(r2.body) == 1024, '%r %r' % (r1, r2))


def statuses(ck, srv):
	for code in (404, 500):
		r = et.request(srv.port, 'GET', '/status/%d' % code, host='py.test')
		ck.check('origin %d passes through with its body' % code,
			 r.status == code and r.body == b'status %d\n' % code, repr(r))


def headers(ck, srv):
	r = et.request(srv.port, 'GET', '/f1k')
	ck.check('Date present', bool(r.header('date')), str(r.headers))
	if srv.kind != 'edgecache':
		ck.skip('Server/Via values', 'edgecache-only')
		return
	ck.check('Server: edgecache', r.header('server') == 'edgecache', str(r.headers))
	ck.check('Via: 1.1 edgecache', r.header('via') == '1.1 edgecache', str(r.headers))


class HopOrigin(et.HeadServer):
	"""Answers /named with a Connection field that names a field, /ka with
	only "Connection: keep-alive"; both with a Keep-Alive field."""

	def answer(self, c, head):
		named = head.split(' ', 2)[1] == '/named'
		c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n' +
			  (b'Connection: keep-alive, X-Origin-Hop\r\nX-Origin-Hop: secret\r\n'
			   if named else b'Connection: keep-alive\r\n') +
			  b'Keep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\nok')


def hop_fields(ck, srv):
	# RFC 9110 7.6.1: the fields a response's Connection names, and the
	# hop-by-hop ones, are not forwarded (edge/exchange.c reads the
	# Connection list once per response).
	for path in ('/named', '/ka'):
		r = et.request(srv.port, 'GET', path, 'hop.test')
		ck.check('%s: 200 ok, X-Kept forwarded' % path,
			 r.status == 200 and r.body == b'ok' and r.header('x-kept') == 'yes', repr(r))
		ck.check('%s: Keep-Alive and the named X-Origin-Hop dropped' % path,
			 r.header('keep-alive') is None and r.header('x-origin-hop') is None,
			 str(r.headers))


def access_log(ck, srv):
	if srv.kind != 'edgecache':
		ck.skip('access log format', 'edgecache-only')
		return
	et.request(srv.port, 'GET', '/f1k?q=1')
	# Shards hand log lines to the control thread: give it a moment.
	deadline = time.monotonic() + 3
	while time.monotonic() < deadline and not any(' /f1k?q=1 ' in ln for ln in srv.access()):
		time.sleep(0.05)
	lines = srv.access()
	bad = [ln for ln in lines if not LOG_RE.match(ln)]
	ck.check('access log: every line has the 11 fields', lines and not bad, str(bad[:3]))
	f = lines[-1].split(' ') if lines else []
	ck.check('access log: last line is our GET /f1k?q=1 (zone demo, 200, 1024, origin 200)',
		 f[1:7] == ['demo', 'GET', '/f1k?q=1', '200', '1024', '200'], str(f))
	reqids = [ln.split(' ')[-1] for ln in lines]
	ck.check('access log: request ids are unique', len(set(reqids)) == len(reqids))


def main():
	origin = et.NginxOrigin(SIZES)
	py = et.PyOrigin()
	hop = HopOrigin()
	zones = [et.zone('demo', ['localhost', '*'], [('primary', origin.url, {})]),
		 et.zone('py', ['py.test'], [('primary', py.url, {})]),
		 et.zone('hop', ['hop.test'], [('primary', hop.url, {})])]
	srv = et.server(zones).start()
	ck = et.Checks()
	ck.run('bodies', bodies, ck, srv, origin)
	ck.run('head', head, ck, srv)
	ck.run('pipelining', pipelining, ck, srv, origin)
	ck.run('reuse', reuse, ck, srv, origin)
	ck.run('request_bodies', request_bodies, ck, srv)
	ck.run('statuses', statuses, ck, srv)
	ck.run('headers', headers, ck, srv)
	ck.run('hop_fields', hop_fields, ck, srv)
	ck.run('access_log', access_log, ck, srv)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
