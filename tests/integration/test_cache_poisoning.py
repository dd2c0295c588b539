#!/usr/bin/python3
"""What the cache stores and what it tells (issue 16: findings 10, 6, 8)
through the real binary, nginx as the origin (every location answers with
`Cache-Control: public, max-age=3600` whatever the status, as an origin
that sets it per location does).

CPDoS: one request whose own headers make the origin answer an error
(Range: bytes=-0, an unsatisfiable multi-range, a Range past the end, a
Range on a Vary URL, If-Match that fails, an 8 KiB header nginx refuses
with 400, 413/414/431/500 from an origin that dislikes a header) is sent
first on a cold URL; the next clean GET and HEAD get 200 and the right
bytes, never the error as a HIT.

Set-Cookie: visitor 2 never receives visitor 1's cookie — not as a HIT
(two MISSes), not from a 304 that brought one, not from a large (sliced)
object or a Range miss, not as a collapsed follower (a slow origin, 12
concurrent misses); with `set_cookie = strip` the second GET is a HIT
without Set-Cookie and followers get no cookie.

X-Cache and the access log's cache field tell one outcome: HIT, MISS,
EXPIRED, STALE, UPDATING, REVALIDATED, PASS (a POST after a HIT on the
same connection, which said HIT before), BYPASS (no [cache]), "-" (no
zone); each log line's field equals the header its response carried."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SIZE = 5000
BIG = 200000                  # > chunk_size 64k: stored as slices
CC = 'add_header Cache-Control "public, max-age=3600" always;'


class CookieOrigin:
	"""nginx: /r/ plain files; /odd/ answers X-Odd: NNN with that status;
	/cookie/ sets a new cookie per request ($request_id); /c304/ sets one
	only on a 304; /vary/ varies on Accept-Language; /short/ is fresh 1 s;
	/swr/ 1 s plus stale-while-revalidate. Every answer carries
	Cache-Control (`always`: errors too)."""

	def __init__(self):
		self.dir = et.tmpdir('origin')
		self.port = et.free_port()
		self.root = os.path.join(self.dir, 'html')
		for d in ('r', 'odd', 'cookie', 'c304', 'vary', 'varyc', 'short', 'swr'):
			os.makedirs(os.path.join(self.root, d))
		self.access_log = os.path.join(self.dir, 'access.log')
		odd = ''.join('if ($http_x_odd = "%d") { return %d; } ' % (s, s)
			      for s in (400, 413, 414, 431, 500))
		with open(os.path.join(self.dir, 'nginx.conf'), 'w') as f:
			f.write(et.nginx_main_conf(self.dir) + '''
http {
	%s
	log_format conn '$connection $request $status';
	access_log %s conn;
	large_client_header_buffers 4 8k;
	keepalive_requests 100000;
	map $status $cookie304 { 304 "sid=$request_id; Path=/"; default ""; }
	server {
		listen 127.0.0.1:%d;
		root %s;
		%s
		location /odd/ { %s }
		location /cookie/ { %s add_header Set-Cookie "sid=$request_id; Path=/" always; }
		location /c304/ { add_header Cache-Control "max-age=1" always;
				  add_header Set-Cookie $cookie304 always; }
		location /vary/ { %s add_header Vary "Accept-Language" always; }
		location /varyc/ { %s add_header Vary "Accept-Language" always;
				   add_header Set-Cookie "sid=$request_id; Path=/" always; }
		location /short/ { add_header Cache-Control "max-age=1" always; }
		location /swr/ { add_header Cache-Control "max-age=1, stale-while-revalidate=60" always; }
	}
}
''' % (et.nginx_temp_paths(self.dir), self.access_log, self.port, self.root, CC, odd, CC, CC,
       CC))
		self.proc = et.start_proc([et.NGINX, '-p', self.dir, '-c',
					   os.path.join(self.dir, 'nginx.conf')],
					  os.path.join(self.dir, 'stderr.log'))
		et.wait_port(self.port, self.proc, log=os.path.join(self.dir, 'error.log'))
		self.url = 'http://127.0.0.1:%d' % self.port

	def put(self, path, size=SIZE, tag=''):
		"""A file at path: det_bytes(path + tag, size). Returns its bytes."""
		data = et.det_bytes(path + tag, size)
		full = os.path.join(self.root, path.lstrip('/'))
		with open(full + '.tmp', 'wb') as f:
			f.write(data)
		os.rename(full + '.tmp', full)
		return data


class SlowCookieOrigin(et.HeadServer):
	"""Answers every GET after `delay` s with its own cookie (sid=N, N
	counting up), Cache-Control max-age=3600, a fixed body: collapsed
	followers would wait on one such fetch."""

	def __init__(self, delay=0.6):
		self.delay, self.n, self.lock = delay, 0, threading.Lock()
		super().__init__()

	def answer(self, c, head):
		with self.lock:
			self.n += 1
			n = self.n
		time.sleep(self.delay)
		body = b'same body for everyone\n'
		c.sendall(b'HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\n'
			  b'Set-Cookie: sid=%d; Path=/\r\nContent-Length: %d\r\n\r\n%s'
			  % (n, len(body), body))


def get(srv, path, headers=(), method='GET', host='localhost'):
	return et.request(srv.port, method, path, host=host, headers=list(headers))


def ok200(r, want, head=False):
	return r.status == 200 and (head or r.body == want)


def counter(srv, name):
	return srv.counters().get(name, 0) if getattr(srv, 'has_counters', False) else 0


def settle(srv, timeout=5.0):
	"""Wait until the fills in flight have landed: cache_fills unchanged
	for 0.3 s (a store write commits after the response was sent; a
	loaded ASan run takes a while)."""
	if not getattr(srv, 'has_counters', False):
		time.sleep(0.3)
		return
	deadline = time.monotonic() + timeout
	last, since = counter(srv, 'cache_fills'), time.monotonic()
	while time.monotonic() < deadline and time.monotonic() - since < 0.3:
		time.sleep(0.05)
		n = counter(srv, 'cache_fills')
		if n != last:
			last, since = n, time.monotonic()


# ---- finding 10: CPDoS ------------------------------------------------------

def poison_then_clean(ck, srv, org, path, bad, what, want=None, clean=()):
	"""Send `bad` headers first on the cold path, then a clean GET and HEAD."""
	want = org.put(path) if want is None else want
	r0 = get(srv, path, bad)
	r1 = get(srv, path, clean)
	r2 = get(srv, path, clean, method='HEAD')
	ck.check('%s (first answer %d %s): the next clean GET is 200 with the bytes, not a '
		 'stored error' % (what, r0.status, r0.header('x-cache')), ok200(r1, want),
		 '%r X-Cache %s' % (r1, r1.header('x-cache')))
	ck.check('%s: then HEAD is 200 too' % what, r2.status == 200,
		 '%r X-Cache %s' % (r2, r2.header('x-cache')))
	return r0


def cpdos(ck, srv, org):
	r0 = poison_then_clean(ck, srv, org, '/r/suffix0', [('Range', 'bytes=-0')],
			       'Range: bytes=-0')
	ck.check('Range: bytes=-0 reached the origin and got its 416', r0.status == 416, repr(r0))
	poison_then_clean(ck, srv, org, '/r/multi', [('Range', 'bytes=90000-90001, 95000-')],
			  'unsatisfiable multi-range')
	poison_then_clean(ck, srv, org, '/r/past', [('Range', 'bytes=99999999-')],
			  'Range past the end (a chunk-aligned fetch)')
	poison_then_clean(ck, srv, org, '/r/ifmatch', [('If-Match', '"nope"')],
			  'If-Match that fails (412)')
	r0 = poison_then_clean(ck, srv, org, '/r/bighdr', [('X-Big', 'a' * 9000)],
			       'an 8 KiB header nginx refuses')
	ck.check('the 9000-byte header got nginx\'s 400', r0.status == 400, repr(r0))
	for st in (400, 413, 414, 431, 500):
		r0 = poison_then_clean(ck, srv, org, '/odd/x%d' % st, [('X-Odd', str(st))],
				       'an origin %d to an odd header' % st)
		ck.check('X-Odd: %d got %d' % (st, r0.status), r0.status == st, repr(r0))
	# Vary URL, cold: the Range goes to the origin with the variant's headers.
	lang = [('Accept-Language', 'fr')]
	poison_then_clean(ck, srv, org, '/vary/cold', [('Range', 'bytes=-0')] + lang,
			  'Range: bytes=-0 on a cold Vary URL', clean=lang)
	# Vary URL whose marker is known: a new variant's miss with a bad Range.
	want = org.put('/vary/warm')
	get(srv, '/vary/warm', [('Accept-Language', 'en')])
	settle(srv)
	poison_then_clean(ck, srv, org, '/vary/warm', [('Range', 'bytes=-0')] + lang,
			  'Range: bytes=-0 on a new variant of a Vary URL', want=want, clean=lang)
	settle(srv)
	r = get(srv, '/vary/warm', lang)
	ck.check('the variant is stored by the clean GET: a HIT',
		 ok200(r, want) and r.header('x-cache') == 'HIT', repr(r))
	if getattr(srv, 'has_counters', False):
		c = srv.counters()
		ck.check('counted: cache_request_error_passed %d (>= 11)' %
			 c.get('cache_request_error_passed', 0),
			 c.get('cache_request_error_passed', 0) >= 11)
	# A plain GET after all that still stores and hits.
	want = org.put('/r/plain')
	get(srv, '/r/plain')
	settle(srv)
	r = get(srv, '/r/plain')
	ck.check('a clean URL: MISS then HIT', ok200(r, want) and r.header('x-cache') == 'HIT',
		 repr(r))


# ---- finding 6: Set-Cookie ---------------------------------------------------

def cookie(r):
	return r.header('set-cookie')


def set_cookie_pass(ck, srv, org):
	want = org.put('/cookie/a')
	p0 = counter(srv, 'cache_set_cookie_passed')
	r1, r2 = get(srv, '/cookie/a'), get(srv, '/cookie/a')
	ck.check('Set-Cookie: visitor 1 gets a MISS with its cookie',
		 ok200(r1, want) and r1.header('x-cache') == 'MISS' and cookie(r1), repr(r1))
	ck.check('visitor 2: a MISS again, never visitor 1\'s cookie (%s / %s)' %
		 (cookie(r1), cookie(r2)), ok200(r2, want) and r2.header('x-cache') == 'MISS' and
		 cookie(r2) and cookie(r2) != cookie(r1), '%r X-Cache %s' % (r2, r2.header('x-cache')))
	if getattr(srv, 'has_counters', False):
		ck.check('counted (cache_set_cookie_passed +2)',
			 counter(srv, 'cache_set_cookie_passed') - p0 == 2)
	# A Vary URL: each variant is passed the same way.
	want = org.put('/varyc/a')
	lang = [('Accept-Language', 'de')]
	r1, r2 = get(srv, '/varyc/a', lang), get(srv, '/varyc/a', lang)
	ck.check('a Vary variant with Set-Cookie: two MISSes, two cookies (%s / %s)' %
		 (cookie(r1), cookie(r2)), ok200(r1, want) and ok200(r2, want) and
		 r2.header('x-cache') == 'MISS' and cookie(r2) and cookie(r2) != cookie(r1),
		 '%r %s' % (r2, r2.header('x-cache')))
	# Large (sliced) object, and a Range miss of one.
	want = org.put('/cookie/big', BIG)
	r1, r2 = get(srv, '/cookie/big'), get(srv, '/cookie/big')
	ck.check('a sliced object with Set-Cookie: two MISSes, two cookies (%s / %s)' %
		 (cookie(r1), cookie(r2)), ok200(r1, want) and ok200(r2, want) and
		 r2.header('x-cache') == 'MISS' and cookie(r2) != cookie(r1),
		 '%r %s' % (r2, r2.header('x-cache')))
	want = org.put('/cookie/bigr', BIG)
	rg = [('Range', 'bytes=70000-70099')]
	r1, r2 = get(srv, '/cookie/bigr', rg), get(srv, '/cookie/bigr', rg)
	ck.check('a Range miss on it: two MISSes, never the first cookie again (%s / %s)' %
		 (cookie(r1), cookie(r2)), r2.status == 206 and r2.body == want[70000:70100] and
		 r2.header('x-cache') == 'MISS' and cookie(r2) != cookie(r1),
		 '%r %s' % (r2, r2.header('x-cache')))
	# A 304 that brings a Set-Cookie: for the visitor that revalidated only.
	want = org.put('/c304/a')
	r0 = get(srv, '/c304/a')
	time.sleep(1.6)
	r1 = get(srv, '/c304/a')
	r2 = get(srv, '/c304/a')
	ck.check('stored without a cookie (%s), revalidated: the 304\'s cookie goes to that '
		 'visitor (%s %s)' % (cookie(r0), r1.header('x-cache'), cookie(r1)),
		 cookie(r0) is None and ok200(r1, want) and r1.header('x-cache') == 'REVALIDATED'
		 and cookie(r1), repr(r1))
	ck.check('the next visitor never gets it (%s %s)' % (r2.header('x-cache'), cookie(r2)),
		 ok200(r2, want) and cookie(r2) != cookie(r1), repr(r2))


def collapsed(srv, path, n=12):
	out = [None] * n

	def one(i):
		try:
			out[i] = et.request(srv.port, 'GET', path, host='slow.example', timeout=20)
		except Exception as e:      # noqa: BLE001 — reported by the caller
			out[i] = e
	ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(30)
	return out


def set_cookie_followers(ck, srv, slow):
	rs = collapsed(srv, '/f/pass')
	good = [r for r in rs if not isinstance(r, Exception) and r and r.status == 200]
	cookies = [cookie(r) for r in good]
	ck.check('12 concurrent misses on a slow Set-Cookie URL: all 200 (%d)' % len(good),
		 len(good) == 12, repr(rs[:3]))
	ck.check('no two visitors got the same cookie (followers never get the leader\'s): %s' %
		 sorted(cookies), len(set(cookies)) == len(cookies) and None not in cookies)


def set_cookie_strip(ck, org, slow, cache_dir):
	zones = [et.zone('s', ['localhost'], [('o', org.url, {})], set_cookie='strip'),
		 et.zone('slow', ['slow.example'], [('o', slow.url, {})], set_cookie='strip')]
	srv = et.server(zones, cache={'path': os.path.join(cache_dir, 's.dat'), 'size': '64m',
				      'chunk_size': '64k'}).start()
	try:
		want = org.put('/cookie/s')
		r1 = get(srv, '/cookie/s')
		settle(srv)
		r2 = get(srv, '/cookie/s')
		ck.check('set_cookie = strip: visitor 1 gets its cookie (MISS)',
			 ok200(r1, want) and r1.header('x-cache') == 'MISS' and cookie(r1), repr(r1))
		ck.check('visitor 2: a HIT without Set-Cookie', ok200(r2, want) and
			 r2.header('x-cache') == 'HIT' and cookie(r2) is None,
			 '%r %s %s' % (r2, r2.header('x-cache'), cookie(r2)))
		want = org.put('/varyc/s')
		lang = [('Accept-Language', 'de')]
		r1 = get(srv, '/varyc/s', lang)
		settle(srv)
		r2 = get(srv, '/varyc/s', lang)
		ck.check('strip, a Vary variant: HIT without Set-Cookie', cookie(r1) and
			 ok200(r2, want) and r2.header('x-cache') == 'HIT' and cookie(r2) is None,
			 '%r %s %s' % (r2, r2.header('x-cache'), cookie(r2)))
		want = org.put('/cookie/sbig', BIG)
		r1 = get(srv, '/cookie/sbig')
		settle(srv)
		r2 = get(srv, '/cookie/sbig')
		ck.check('strip, a sliced object: HIT without Set-Cookie', cookie(r1) and
			 ok200(r2, want) and r2.header('x-cache') == 'HIT' and cookie(r2) is None,
			 '%r %s %s' % (r2, r2.header('x-cache'), cookie(r2)))
		rs = collapsed(srv, '/f/strip')
		good = [r for r in rs if not isinstance(r, Exception) and r and r.status == 200]
		cookies = [cookie(r) for r in good if cookie(r)]
		ck.check('strip, 12 concurrent misses: all 200, at most one carries a cookie (%s)' %
			 cookies, len(good) == 12 and len(cookies) == len(set(cookies)) and
			 len(cookies) <= 1, repr(rs[:3]))
		c = srv.counters()
		ck.check('counted (cache_set_cookie_stripped %d)' %
			 c.get('cache_set_cookie_stripped', 0), c.get('cache_set_cookie_stripped', 0) >= 3)
	finally:
		ck.check('strip server exits 0', srv.stop() == 0)


# ---- finding 8: X-Cache and the access log --------------------------------------

def log_cache_fields(srv, want, timeout=5.0):
	"""The access log's (method, target, cache field) of its last len(want)
	lines, once they are `want` (the shards' log rings drain on their own
	time) or as they are at the deadline."""
	deadline = time.monotonic() + timeout
	while True:
		got = [(f[2], f[3], f[7]) for f in (ln.split(' ') for ln in srv.access())
		       if len(f) > 7][-len(want):]
		if got == want or time.monotonic() > deadline:
			return got
		time.sleep(0.05)


def outcomes(ck, srv, org):
	seen = []                 # (method, path, X-Cache) in request order

	def req(path, method='GET', headers=(), host='localhost', body=None):
		r = et.request(srv.port, method, path, host=host, headers=list(headers), body=body)
		seen.append((method, path, r.header('x-cache')))
		return r
	org.put('/r/o1')
	ck.check('MISS', req('/r/o1').header('x-cache') == 'MISS')
	settle(srv)
	ck.check('HIT', req('/r/o1').header('x-cache') == 'HIT')
	# A POST on the connection that just had a HIT: passed, and says so.
	c = srv.conn()
	c.send(et.build('GET', '/r/o1'))
	rh = c.read_response()
	c.send(et.build('POST', '/r/o1', body=b'x' * 10))
	rp = c.read_response()
	c.close()
	seen += [('GET', '/r/o1', rh.header('x-cache')), ('POST', '/r/o1', rp.header('x-cache'))]
	ck.check('a POST after a HIT on the same connection: X-Cache PASS (%s, %d)' %
		 (rp.header('x-cache'), rp.status), rh.header('x-cache') == 'HIT' and
		 rp.header('x-cache') == 'PASS')
	r = req('/r/o1', 'DELETE')
	ck.check('DELETE: PASS', r.header('x-cache') == 'PASS', r.header('x-cache'))
	# Stale: REVALIDATED (304), STALE (max-stale), EXPIRED (changed), UPDATING (swr).
	org.put('/short/a')
	org.put('/short/b')
	org.put('/swr/a')
	for p in ('/short/a', '/short/b', '/swr/a'):
		req(p)
	time.sleep(1.6)
	r = req('/short/a', headers=[('Cache-Control', 'max-stale=60')])
	ck.check('max-stale on a stale object: STALE', r.header('x-cache') == 'STALE',
		 r.header('x-cache'))
	ck.check('stale, the origin says 304: REVALIDATED',
		 req('/short/a').header('x-cache') == 'REVALIDATED')
	want = org.put('/short/b', tag='v2')
	r = req('/short/b')
	ck.check('stale, the origin sends a new body: EXPIRED (%s)' % r.header('x-cache'),
		 r.header('x-cache') == 'EXPIRED' and r.body == want, repr(r))
	r = req('/swr/a')
	ck.check('inside stale-while-revalidate: UPDATING (%s)' % r.header('x-cache'),
		 r.header('x-cache') == 'UPDATING')
	r = et.request(srv.port, 'GET', '/r/o1', host='nozone.example')
	seen.append(('GET', '/r/o1', '-'))
	ck.check('no zone: 404 without X-Cache', r.status == 404 and r.header('x-cache') is None)
	got = log_cache_fields(srv, seen)
	ck.check('each access-log line\'s cache field is what X-Cache said (%d lines)' % len(got),
		 got == seen, 'log %s\nsaw %s' % (got, seen))


def bypass(ck, org):
	srv = et.server([et.zone('b', ['localhost'], [('o', org.url, {})])]).start()
	try:
		org.put('/r/by')
		r = get(srv, '/r/by')
		ck.check('no [cache]: X-Cache BYPASS (%s)' % r.header('x-cache'),
			 r.status == 200 and r.header('x-cache') == 'BYPASS')
		f = log_cache_fields(srv, [('GET', '/r/by', 'BYPASS')])
		ck.check('logged BYPASS (%s)' % f, f == [('GET', '/r/by', 'BYPASS')])
	finally:
		ck.check('no-cache server exits 0', srv.stop() == 0)


def unasked_switch(ck, srv):
	"""A broken origin's 101 to a request that never asked to switch (the
	edge forwards no Upgrade), then a cacheable 200: a 502, never the 200
	stored as the URL."""
	for i in range(2):
		b0 = counter(srv, 'origin_bad_response')
		r = get(srv, '/switch', host='broken.example')
		ck.check('unasked 101 (request %d): 502, never the bytes after it' % (i + 1),
			 r.status == 502 and b'POISON' not in r.body, '%s %r' % (r.status, r.body[:80]))
		if getattr(srv, 'has_counters', False):
			ck.check('unasked 101 (request %d): origin_bad_response +1' % (i + 1),
				 counter(srv, 'origin_bad_response') - b0 == 1)


def main():
	ck = et.Checks()
	org = CookieOrigin()
	slow = SlowCookieOrigin()
	broken = et.PyOrigin()
	cache_dir = et.tmpdir('cache')
	zones = [et.zone('p', ['localhost'], [('o', org.url, {})]),
		 et.zone('slow', ['slow.example'], [('o', slow.url, {})]),
		 et.zone('broken', ['broken.example'], [('o', broken.url, {})])]
	srv = et.server(zones, cache={'path': os.path.join(cache_dir, 'p.dat'), 'size': '64m',
				      'chunk_size': '64k'}).start()
	ck.run('CPDoS: an error one request caused is never the URL\'s object', cpdos, ck, srv,
	       org)
	ck.run('Set-Cookie is passed, never shared', set_cookie_pass, ck, srv, org)
	ck.run('collapsed followers never get the leader\'s cookie', set_cookie_followers, ck,
	       srv, slow)
	ck.run('X-Cache and the access log tell the outcome', outcomes, ck, srv, org)
	ck.run('set_cookie = strip', set_cookie_strip, ck, org, slow, cache_dir)
	ck.run('BYPASS', bypass, ck, org)
	ck.run('a 101 nobody asked for is a 502, never stored', unasked_switch, ck, srv)
	slow.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
