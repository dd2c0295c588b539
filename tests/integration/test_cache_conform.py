#!/usr/bin/python3
"""Issue 17's conformance fixes through the real binary, a scripted origin
counting the requests per path (each row of ROUTES: the head it answers).

Targeted cache control (RFC 9213): CDN-Cache-Control and the zone's own
field (`targeted_field = Edgecache-Control` here) replace Cache-Control and
Expires — the zone's field first, then CDN-Cache-Control, an unreadable one
(not an RFC 8941 Dictionary, max-age as a String) skipped — and neither is
ever forwarded, on the MISS or the HIT, while Cache-Control is.
Age (RFC 9111 5.1): a non-numeric or negative Age is ignored (the response
is fresh: a HIT), the first of several counts (7200 first: stale, a MISS).
A HIT keeps the origin's Date (and Age grows from it) and a 200's own
Content-Range; a fresh 204 is stored and its HIT has no Content-Length.
A 500 with max-age is stored only in a zone with `store_server_errors =
true` (never by default: CPDoS), a 500 without freshness never. A SIGHUP
that renames the zone's field applies: the new name is obeyed and hidden,
the old one is an ordinary field again (forwarded, not obeyed). Each group
fails on the binary before the change (its config is refused: no
targeted_field key)."""
import email.utils
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

OWN = 'Edgecache-Control'
PAST = email.utils.formatdate(time.time() - 100, usegmt=True)
ROUTES = {
	'/own': (200, [('Cache-Control', 'no-store'), (OWN, 'max-age=60')]),
	'/cdn': (200, [('Cache-Control', 'max-age=60'), ('CDN-Cache-Control', 'no-store')]),
	'/cdn-fresh': (200, [('Cache-Control', 'no-store'), ('CDN-Cache-Control', 'max-age=60')]),
	'/both': (200, [(OWN, 'max-age=60'), ('CDN-Cache-Control', 'no-store')]),
	'/bad-own': (200, [('Cache-Control', 'no-store'), (OWN, 'max-age="60"'),
			   ('CDN-Cache-Control', 'max-age=60')]),
	'/bad-cdn': (200, [('Cache-Control', 'no-store'), ('CDN-Cache-Control', 'max-age=60, &&')]),
	'/expires': (200, [('Expires', email.utils.formatdate(time.time() + 3600, usegmt=True)),
			   ('CDN-Cache-Control', 'max-age=0')]),
	'/age-abc': (200, [('Cache-Control', 'max-age=3600'), ('Age', 'abc')]),
	'/age-neg': (200, [('Cache-Control', 'max-age=3600'), ('Age', '-7200')]),
	'/age-first': (200, [('Cache-Control', 'max-age=3600'), ('Age', '7200, 0')]),
	'/date': (200, [('Cache-Control', 'max-age=3600'), ('Date', PAST)]),
	'/crange': (200, [('Cache-Control', 'max-age=3600'), ('Content-Range', 'ananananananana')]),
	'/204': (204, [('Cache-Control', 'max-age=3600')]),
	'/500': (500, [('Cache-Control', 'max-age=3600')]),
	'/500-plain': (500, []),
	'/renamed': (200, [('Cache-Control', 'no-store'), ('Other-Control', 'max-age=60'),
			   (OWN, 'no-store')]),
}
BODY = b'0123456789'


class Origin(et.HeadServer):
	def __init__(self):
		super().__init__()
		self.lock = threading.Lock()
		self.hits = {}

	def answer(self, c, head):
		path = head.split(' ', 2)[1]
		with self.lock:
			self.hits[path] = self.hits.get(path, 0) + 1
		status, headers = ROUTES.get(path, (404, []))
		body = b'' if status == 204 else BODY
		lines = ['HTTP/1.1 %d X' % status] + ['%s: %s' % h for h in headers]
		if not any(k == 'Date' for k, _ in headers):
			lines.append('Date: ' + email.utils.formatdate(usegmt=True))
		if status != 204:
			lines.append('Content-Length: %d' % len(body))
		c.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body)

	def count(self, path):
		with self.lock:
			return self.hits.get(path, 0)


def twice(srv, path, host='localhost'):
	"""GET (a MISS that may fill the store), wait until a fill, if any, is
	committed (store writes complete after the response), GET again."""
	fills = srv.counters().get('cache_fills', 0)
	first = et.request(srv.port, 'GET', path, host=host)
	deadline = time.monotonic() + 1.5
	while srv.counters().get('cache_fills', 0) <= fills and time.monotonic() < deadline:
		time.sleep(0.02)
	return first, et.request(srv.port, 'GET', path, host=host)


def no_targeted(*responses):
	return all(r.header(OWN) is None and r.header('CDN-Cache-Control') is None
		   for r in responses)


def targeted(ck, srv, o):
	for path, cached, why in (
			('/own', True, 'the zone\'s field over Cache-Control: no-store'),
			('/cdn', False, 'CDN-Cache-Control: no-store over Cache-Control: max-age'),
			('/cdn-fresh', True, 'CDN-Cache-Control: max-age over Cache-Control: no-store'),
			('/both', True, 'the zone\'s field before CDN-Cache-Control'),
			('/bad-own', True, 'an unreadable zone field: CDN-Cache-Control decides'),
			('/bad-cdn', False, 'an unreadable CDN-Cache-Control: Cache-Control decides'),
			('/expires', False, 'CDN-Cache-Control: max-age=0 over a future Expires')):
		r1, r2 = twice(srv, path)
		# not from the cache: a MISS, or EXPIRED (stored, but stale at once)
		ok = r2.header('x-cache') == 'HIT' if cached else r2.header('x-cache') in ('MISS',
											     'EXPIRED')
		ck.check('%s: %s (%s)' % (path, 'HIT' if cached else 'not from the cache', why),
			 r1.status == 200 and r2.status == 200 and ok and
			 o.count(path) == (1 if cached else 2),
			 '%s, origin saw %d' % (r2.header('x-cache'), o.count(path)))
		ck.check('%s: no targeted field reaches the visitor' % path, no_targeted(r1, r2),
			 '%s / %s' % (r1.headers, r2.headers))
	r = et.request(srv.port, 'GET', '/own')
	ck.check('Cache-Control itself is forwarded', r.header('cache-control') == 'no-store',
		 str(r.headers))


def age(ck, srv, o):
	for path, cached in (('/age-abc', True), ('/age-neg', True), ('/age-first', False)):
		r1, r2 = twice(srv, path)
		ck.check('%s: %s' % (path, 'ignored: a HIT' if cached else 'the first value: stale'),
			 (r2.header('x-cache') == 'HIT') == cached and
			 o.count(path) == (1 if cached else 2),
			 '%s, origin saw %d' % (r2.header('x-cache'), o.count(path)))


def hit_head(ck, srv, o):
	r1, r2 = twice(srv, '/date')
	ck.check('a HIT keeps the origin\'s Date', r2.header('x-cache') == 'HIT' and
		 r2.header('date') == PAST, '%s %s' % (r2.header('x-cache'), r2.header('date')))
	ck.check('... and its Age counts from it', int(r2.header('age') or -1) >= 100,
		 str(r2.header('age')))
	r1, r2 = twice(srv, '/crange')
	ck.check('a HIT keeps a 200\'s Content-Range', r2.header('x-cache') == 'HIT' and
		 r2.header('content-range') == 'ananananananana' and r2.body == BODY,
		 str(r2.headers))
	r = et.request(srv.port, 'GET', '/crange', headers=[('Range', 'bytes=0-3')])
	ck.check('a 206 from it carries its own Content-Range only',
		 r.status == 206 and [v for k, v in r.headers if k.lower() == 'content-range'] ==
		 ['bytes 0-3/10'] and r.body == BODY[:4], str(r.headers))


def statuses(ck, srv, o):
	r1, r2 = twice(srv, '/204')
	ck.check('a fresh 204 is stored: HIT', r2.status == 204 and
		 r2.header('x-cache') == 'HIT' and o.count('/204') == 1,
		 '%d %s, origin saw %d' % (r2.status, r2.header('x-cache'), o.count('/204')))
	ck.check('... without Content-Length', r2.header('content-length') is None, str(r2.headers))
	r1, r2 = twice(srv, '/500', host='strict.test')
	ck.check('a 500 with max-age is not stored by default', r2.status == 500 and
		 r2.header('x-cache') == 'MISS' and o.count('/500') == 2,
		 '%d %s, origin saw %d' % (r2.status, r2.header('x-cache'), o.count('/500')))
	r1, r2 = twice(srv, '/500')
	ck.check('store_server_errors: a 500 with max-age is stored: HIT', r2.status == 500 and
		 r2.header('x-cache') == 'HIT' and r2.body == BODY and o.count('/500') == 3,
		 '%d %s, origin saw %d' % (r2.status, r2.header('x-cache'), o.count('/500')))
	r1, r2 = twice(srv, '/500-plain')
	ck.check('a 500 without freshness is not', r2.status == 500 and
		 r2.header('x-cache') == 'MISS' and o.count('/500-plain') == 2,
		 '%d %s' % (r2.status, r2.header('x-cache')))


def reload(ck, srv, o, zones):
	"""targeted_field renamed by a SIGHUP: the snapshot's zone changed."""
	srv.rewrite_zone(zones[0])
	n0 = sum('reload:' in ln for ln in et.read_log(srv.error_log))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 10
	while (sum('reload:' in ln for ln in et.read_log(srv.error_log)) <= n0 and
	       time.monotonic() < deadline):
		time.sleep(0.02)
	r1, r2 = twice(srv, '/renamed')
	ck.check('after the SIGHUP the new field is obeyed (HIT over no-store)',
		 r2.header('x-cache') == 'HIT' and o.count('/renamed') == 1,
		 '%s, origin saw %d' % (r2.header('x-cache'), o.count('/renamed')))
	ck.check('... and hidden, while the old name is forwarded as any field',
		 r1.header('other-control') is None and r2.header('other-control') is None and
		 r1.header(OWN) == 'no-store', str(r1.headers))


def main():
	o = Origin()
	d = et.tmpdir('cachefile')
	zones = [et.zone('c', ['*'], [('o', o.url, {})], default_ttl=0, targeted_field=OWN,
			 store_server_errors='true'),
		 et.zone('strict', ['strict.test'], [('o', o.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, cache={'path': os.path.join(d, 'c.dat'), 'size': '64m'}).start()
	ck = et.Checks()
	ck.run('targeted', targeted, ck, srv, o)
	ck.run('age', age, ck, srv, o)
	ck.run('hit_head', hit_head, ck, srv, o)
	ck.run('statuses', statuses, ck, srv, o)
	zones[0] = et.zone('c', ['*'], [('o', o.url, {})], default_ttl=0,
			   targeted_field='Other-Control', store_server_errors='true')
	ck.run('reload', reload, ck, srv, o, zones)
	o.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
