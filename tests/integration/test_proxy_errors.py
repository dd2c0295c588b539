#!/usr/bin/python3
"""Origin failures as the visitor sees them: refused → 503, slow → 504,
closed mid-body → the visitor's connection closes before the body is whole
(Content-Length and chunked), failover to the next origin, reset → 5xx,
unknown Host without a default zone → 404; an empty Content-Length body
ends the response (the connection serves the next request).

close_stale (edgecache only, its own server with a disk cache; issue 17
defect 3): an origin that accepts and closes, closes mid-head or resets is
an origin error like a 5xx: a stale copy is served (200, X-Cache STALE,
cache_stale_if_error) where stale-if-error allows it — the stored
response's, the zone's `stale_if_error`, the request's own
`Cache-Control: stale-if-error` (RFC 5861 4) — else 502; each counted
origin_closed_before_head. A close mid-body closes the visitor connection
and stores nothing (the next request goes to the origin).

pooled_close (edgecache only): an origin that closes a keep-alive
connection when a second request comes on it: a GET is retried once on a
fresh connection (200, origin_retries), a POST is not (RFC 9110 9.2.2: a
proxy never retries a non-idempotent request) — 502, the origin saw it once."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

# Where nginx (the validation target) answers differently by design.
ORIGIN_DOWN = {'edgecache': 503, 'nginx': 502}


def delta(srv, before, *names):
	if before is None:
		return None
	now = srv.counters()
	return {k: now.get(k, 0) - before.get(k, 0) for k in names}


def snap(srv):
	return srv.counters() if srv.has_counters else None


def origin_down(ck, srv):
	c0 = snap(srv)
	r = et.request(srv.port, 'GET', '/x', host='down.test')
	want = ORIGIN_DOWN[srv.kind]
	ck.check('origin refusing connections → %d' % want, r.status == want, repr(r))
	d = delta(srv, c0, 'origin_connect_failures', 'origin_unavailable', 'status_5xx')
	if d is not None:
		ck.check('counters: origin_connect_failures, origin_unavailable, status_5xx (%s)' % d,
			 d['origin_connect_failures'] >= 1 and d['origin_unavailable'] == 1 and
			 d['status_5xx'] == 1)


def origin_slow(ck, srv):
	c0 = snap(srv)
	t0 = time.monotonic()
	r = et.request(srv.port, 'GET', '/sleep/3000', host='slow.test')
	took = time.monotonic() - t0
	ck.check('origin with no head within read_timeout_ms=500 → 504', r.status == 504, repr(r))
	ck.check('504 comes after ~0.5 s, not after the origin answers (%.2fs)' % took,
		 0.4 <= took < 2.0)
	d = delta(srv, c0, 'origin_timeouts')
	if d is not None:
		ck.check('counters: origin_timeouts (%s)' % d, d['origin_timeouts'] == 1)


def truncated(ck, srv):
	c0 = snap(srv)
	c = srv.conn()
	c.send(et.build('GET', '/close-after/1000/100000', 'py.test'))
	r = c.read_response()
	ck.check('Content-Length: origin closes after 1000 of 100000 bytes → visitor gets '
		 'the head, then a close before 100000 bytes',
		 r.status == 200 and not r.complete and len(r.body) < 100000 and c.eof, repr(r))
	c.close()
	c = srv.conn()
	c.send(et.build('GET', '/chunked-close/50000', 'py.test'))
	r = c.read_response()
	ck.check('chunked: origin closes before the 0-chunk → no 0-chunk, connection closed',
		 r.status == 200 and not r.complete and c.eof, repr(r))
	c.close()
	d = delta(srv, c0, 'origin_truncated')
	if d is not None:
		ck.check('counters: origin_truncated (%s)' % d, d['origin_truncated'] == 2)
	r = et.request(srv.port, 'GET', '/chunked/50000', host='py.test')
	ck.check('chunked origin response, whole: same bytes',
		 r.status == 200 and r.complete and r.body == et.det_bytes('pyorigin', 50000),
		 repr(r))


def failover(ck, srv):
	c0 = snap(srv)
	for i in range(3):
		r = et.request(srv.port, 'GET', '/files/1000', host='fo.test')
		ck.check('failover: first origin refuses, second serves (#%d)' % i,
			 r.status == 200 and r.body == et.det_bytes('pyorigin', 1000), repr(r))
	d = delta(srv, c0, 'origin_connect_failures', 'origin_failovers')
	if d is not None:
		# The dead origin is skipped for origin_backoff_ms after failing once.
		ck.check('counters: dead origin tried once, then backed off (%s)' % d,
			 d['origin_connect_failures'] == 1 and d['origin_failovers'] >= 1)


def reset(ck, srv):
	r = et.request(srv.port, 'GET', '/reset', host='py.test')
	ck.check('origin resets before a head → a 5xx', 500 <= r.status <= 599, repr(r))


def unknown_host(ck, srv):
	c0 = snap(srv)
	r = et.request(srv.port, 'GET', '/', host='nowhere.test')
	ck.check('unknown Host, no default zone → 404', r.status == 404, repr(r))
	d = delta(srv, c0, 'no_zone')
	if d is not None:
		ck.check('counters: no_zone (%s)' % d, d['no_zone'] == 1)


class EmptyBody(et.HeadServer):
	"""Content-Length: 0, head and (no) body in one write."""

	def answer(self, c, head):
		c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n')


def empty_body(ck, srv):
	# Before the fix the origin response never ended (no body byte came to
	# end it): the next request on the visitor connection waited for
	# read_timeout_ms and got a close (origin_timeouts, origin_truncated).
	c0 = snap(srv)
	c = srv.conn(timeout=5)
	for i in range(3):
		t0 = time.monotonic()
		c.send(et.build('GET', '/empty%d' % i, 'empty.test'))
		try:
			r = c.read_response()
		except (et.Closed, OSError) as e:
			r = e
		took = time.monotonic() - t0
		ck.check('Content-Length: 0 response %d on one connection → 200, at once (%.2fs)'
			 % (i, took), getattr(r, 'status', 0) == 200 and took < 1.0, repr(r))
	c.close()
	d = delta(srv, c0, 'origin_timeouts', 'origin_truncated', 'origin_reuses')
	if d is not None:
		ck.check('counters: the origin connection is reused, nothing timed out (%s)' % d,
			 d['origin_timeouts'] == 0 and d['origin_truncated'] == 0 and
			 d['origin_reuses'] >= 1)


class CloseOrigin(et.HeadServer):
	"""A raw origin. mode 'ok': a 100-byte cacheable 200 (max-age=1, and
	stale-if-error=60 under /sie/), Connection: close, so every request
	comes on a fresh connection; 'accept_close': closes each connection as
	it accepts it, before reading; 'mid_head': reads the request, sends
	half a head, closes; 'rst': reads the request, resets (SO_LINGER 0);
	'mid_body': a head for 100000 bytes, 1000 of them, closes."""

	def __init__(self):
		self.mode = 'ok'
		self.requests = []
		super().__init__()

	def wrap(self, c):
		if self.mode == 'accept_close':
			raise OSError('closed as accepted')     # HeadServer closes it
		return c

	def answer(self, c, head):
		path = head.split(' ', 2)[1]
		self.requests.append(path)
		if self.mode == 'mid_head':
			c.sendall(b'HTTP/1.1 200 OK\r\nContent-Le')
		elif self.mode == 'rst':
			c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
		elif self.mode == 'mid_body':
			c.sendall(b'HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n'
				  b'Content-Length: 100000\r\n\r\n' + b'b' * 1000)
		else:
			cc = 'max-age=1, stale-if-error=60' if path.startswith('/sie/') else 'max-age=1'
			c.sendall(('HTTP/1.1 200 OK\r\nCache-Control: %s\r\nETag: "v1"\r\n'
				   'Connection: close\r\nContent-Length: 100\r\n\r\n' % cc).encode() +
				  b'o' * 100)
		raise OSError('done')       # every mode closes after its answer


def close_stale(ck):
	if et.TARGET != 'edgecache':
		ck.skip('close_stale', 'edgecache only (stale-if-error needs its cache)')
		return
	o = CloseOrigin()
	zones = [et.zone('st', ['st.test'], [('a', o.url, {})]),
		 et.zone('zst', ['zst.test'], [('a', o.url, {})], stale_if_error=60)]
	srv = et.Edgecache(zones, cache={'path': os.path.join(et.tmpdir('cs'), 'c.dat'),
					 'size': '64m'}).start()
	sie_req = [('Cache-Control', 'stale-if-error=60')]
	modes = ('accept_close', 'mid_head', 'rst')
	# (host, path, request headers, a stale copy allowed)
	cases = [(h, p + m, hd, ok) for m in modes for h, p, hd, ok in (
		('st.test', '/sie/', [], True),           # the stored response's
		('zst.test', '/zone/', [], True),         # the zone's stale_if_error
		('st.test', '/req/', sie_req, True),      # the request's (RFC 5861 4)
		('st.test', '/none/', [], False))]
	try:
		for h, p, _, _ in cases:
			r = et.request(srv.port, 'GET', p, host=h)
			ck.check('stored %s%s: 200 MISS' % (h, p),
				 r.status == 200 and r.header('x-cache') == 'MISS', repr(r))
		time.sleep(2.2)                     # max-age=1: all stale now
		for m in modes:
			o.mode = m
			c0 = srv.counters()
			for h, p, hd, ok in [c for c in cases if c[1].endswith(m)]:
				r = et.request(srv.port, 'GET', p, host=h, headers=hd)
				if ok:
					ck.check('%s, %s%s: the stale copy, 200 STALE' % (m, h, p),
						 r.status == 200 and r.header('x-cache') == 'STALE' and
						 r.body == b'o' * 100, '%r %s' % (r, r.header('x-cache')))
				else:
					ck.check('%s, %s%s, no stale permission: 502' % (m, h, p),
						 r.status == 502, repr(r))
			d = delta(srv, c0, 'cache_stale_if_error', 'origin_closed_before_head',
				  'status_5xx')
			ck.check('%s: counters cache_stale_if_error 3, origin_closed_before_head 4, '
				 'status_5xx 1 (%s)' % (m, d),
				 d == {'cache_stale_if_error': 3, 'origin_closed_before_head': 4,
				       'status_5xx': 1})
		# (d) a close after the head went out cannot become stale: the
		# visitor's connection closes short, nothing is stored.
		o.mode = 'mid_body'
		c0 = srv.counters()
		c = srv.conn()
		c.send(et.build('GET', '/body/d', 'st.test'))
		r = c.read_response()
		ck.check('mid_body: the head, 1000 of 100000 bytes, then the connection closes',
			 r.status == 200 and not r.complete and len(r.body) == 1000 and c.eof, repr(r))
		c.close()
		d = delta(srv, c0, 'origin_truncated')
		ck.check('mid_body: origin_truncated +1 (%s)' % d, d['origin_truncated'] == 1)
		o.mode = 'ok'
		n0 = len(o.requests)
		r = et.request(srv.port, 'GET', '/body/d', host='st.test')
		ck.check('after mid_body nothing was stored: the next GET is a MISS from the origin',
			 r.status == 200 and r.header('x-cache') == 'MISS' and r.body == b'o' * 100 and
			 o.requests[n0:] == ['/body/d'], '%r %s %s' % (r, r.header('x-cache'),
								  o.requests[n0:]))
	finally:
		o.close()
		rc = srv.stop()
		ck.check('close_stale server exits 0 (%s)' % rc, rc == 0)


class SecondCloses(et.HeadServer):
	"""Answers the first request on each connection (keep-alive), closes
	at the second without a byte: a pooled connection the origin let go."""

	def __init__(self):
		super().__init__()
		self.seen = {}
		self.requests = []

	def answer(self, c, head):
		self.requests.append(head.split('\r\n', 1)[0])
		self.seen[c] = self.seen.get(c, 0) + 1
		if self.seen[c] > 1:
			c.shutdown(socket.SHUT_RDWR)
			return
		c.sendall(b'HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok')


def pooled_close(ck):
	if et.TARGET != 'edgecache':
		ck.skip('pooled_close', 'edgecache only')
		return
	o = SecondCloses()
	srv = et.Edgecache([et.zone('pc', ['pc.test'], [('a', o.url, {})])]).start()
	try:
		r = et.request(srv.port, 'GET', '/g1', host='pc.test')
		ck.check('first GET on a new origin connection: 200', r.status == 200, repr(r))
		c0 = srv.counters()
		r = et.request(srv.port, 'GET', '/g2', host='pc.test')
		d = delta(srv, c0, 'origin_reuses', 'origin_retries')
		ck.check('GET on the pooled connection the origin closes: retried, 200 (%s)' % d,
			 r.status == 200 and d == {'origin_reuses': 1, 'origin_retries': 1}, repr(r))
		c0 = srv.counters()
		r = et.request(srv.port, 'POST', '/p3', host='pc.test', body=b'')
		d = delta(srv, c0, 'origin_reuses', 'origin_retries', 'origin_closed_before_head')
		n = o.requests.count('POST /p3 HTTP/1.1')
		ck.check('POST (no body) on the pooled connection the origin closes: not retried, '
			 '502, the origin saw it once (%d; %s)' % (n, d),
			 r.status == 502 and n == 1 and
			 d == {'origin_reuses': 1, 'origin_retries': 0, 'origin_closed_before_head': 1},
			 repr(r))
	finally:
		o.close()
		rc = srv.stop()
		ck.check('pooled_close server exits 0 (%s)' % rc, rc == 0)


def main():
	py = et.PyOrigin()
	empty = EmptyBody()
	# Two dead origins: backoff is per origin, the tests count each apart.
	dead = 'http://127.0.0.1:%d' % et.free_port()
	dead2 = 'http://127.0.0.1:%d' % et.free_port()
	zones = [et.zone('down', ['down.test'], [('a', dead, {'connect_timeout_ms': 1000})]),
		 et.zone('slow', ['slow.test'], [('a', py.url, {'read_timeout_ms': 500})]),
		 et.zone('py', ['py.test'], [('a', py.url, {})]),
		 et.zone('fo', ['fo.test'], [('dead', dead2, {}), ('live', py.url, {})]),
		 et.zone('empty', ['empty.test'], [('a', empty.url, {'read_timeout_ms': 2000})])]
	srv = et.server(zones, origin_backoff_ms=30000).start()
	ck = et.Checks()
	ck.run('origin_down', origin_down, ck, srv)
	ck.run('origin_slow', origin_slow, ck, srv)
	ck.run('truncated', truncated, ck, srv)
	ck.run('failover', failover, ck, srv)
	ck.run('reset', reset, ck, srv)
	ck.run('unknown_host', unknown_host, ck, srv)
	ck.run('empty_body', empty_body, ck, srv)
	ck.run('close_stale', close_stale, ck)
	ck.run('pooled_close', pooled_close, ck)
	empty.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
