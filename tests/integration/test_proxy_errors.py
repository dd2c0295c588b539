#!/usr/bin/python3
"""Origin failures as the visitor sees them: refused → 503, slow → 504,
closed mid-body → the visitor's connection closes before the body is whole
(Content-Length and chunked), failover to the next origin, reset → 5xx,
unknown Host without a default zone → 404; an empty Content-Length body
ends the response (the connection serves the next request)."""
import os
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
	empty.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
