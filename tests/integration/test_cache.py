#!/usr/bin/python3
"""The disk cache through the real binary (2 shards, one cache file), the
origin's access log counting what reached it: hit after miss (any shard
serves any key), Age and X-Cache, 304 for If-None-Match, 206 for a Range,
HEAD from cache; 64 concurrent connections on disk hits (RAM tier off:
store reads submitted ahead of sends, registered buffers); no-store, no freshness (default_ttl 0), 404 and expired
responses not served from cache; a stale entry with an ETag is revalidated
(304 → REVALIDATED, refreshed) and served stale while the origin is down
(stale-if-error); an unsafe method invalidates; restart
after SIGTERM and after SIGKILL keeps the hits; a flipped byte in the
cache file is a miss with the right bytes, never wrong bytes."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

FRESH = '/cc/max-age=3600/'


def origin_hits(py, path):
	time.sleep(0.05)
	return sum(1 for ln in py.log() if ln[2] == path)


def get(srv, path, method='GET', headers=()):
	return et.request(srv.port, method, path, headers=list(headers))


def fills(srv):
	return srv.counters().get('cache_fills', 0)


def miss_then_cached(srv, path, timeout=5.0):
	"""GET (a MISS that fills the store), then wait until that fill is
	committed — store writes complete after the response — and return the
	next GET (a HIT). Waiting on the counter, not retrying GETs, so no
	second miss writes a second copy."""
	n0 = fills(srv)
	first = get(srv, path)
	deadline = time.monotonic() + timeout
	while fills(srv) <= n0 and time.monotonic() < deadline:
		time.sleep(0.02)
	return first, get(srv, path)


def basics(ck, srv, py):
	path = FRESH + '5000'
	want = et.det_bytes('pyorigin', 5000)
	r1, r2 = miss_then_cached(srv, path)
	ck.check('first GET is a MISS', r1.status == 200 and r1.header('x-cache') == 'MISS' and
		 r1.body == want, repr(r1))
	ck.check('second GET is a HIT with the same bytes', r2.status == 200 and
		 r2.header('x-cache') == 'HIT' and r2.body == want, repr(r2))
	ck.check('a hit carries Age', r2.header('age') is not None, str(r2.headers))
	hits = [get(srv, path).header('x-cache') for _ in range(10)]
	ck.check('ten more GETs (new connections, both shards) are HITs', hits == ['HIT'] * 10,
		 str(hits))
	ck.check('the origin saw the object once', origin_hits(py, path) == 1,
		 str(origin_hits(py, path)))
	r = get(srv, path, headers=[('If-None-Match', '"v-5000"')])
	ck.check('If-None-Match → 304 from cache', r.status == 304 and not r.body and
		 r.header('etag') == '"v-5000"', repr(r))
	r = get(srv, path, headers=[('Range', 'bytes=100-199')])
	ck.check('Range → 206 from cache with the right bytes', r.status == 206 and
		 r.body == want[100:200] and r.header('content-range') == 'bytes 100-199/5000',
		 repr(r))
	r = get(srv, path, headers=[('Range', 'bytes=9000-')])
	ck.check('unsatisfiable Range → 416', r.status == 416, repr(r))
	r = get(srv, path, method='HEAD')
	ck.check('HEAD from cache: no body, the length', r.status == 200 and not r.body and
		 r.header('content-length') == '5000' and r.header('x-cache') == 'HIT', repr(r))
	ck.check('still one origin request', origin_hits(py, path) == 1)


def not_stored(ck, srv, py):
	for name, path in (('no-store', '/cc/no-store/100'),
			   ('no freshness, default_ttl 0', '/cc/-/101'),
			   ('404 (negative_ttl 0)', '/status/404')):
		get(srv, path)
		r = get(srv, path)
		ck.check('%s: not served from cache' % name, r.header('x-cache') != 'HIT' and
			 origin_hits(py, path) == 2, '%r, origin %d' % (r, origin_hits(py, path)))
	# A short max-age is stored and served. Not 1 s: the wait for the fill
	# (the counters file) plus a loaded ASan run can take that long.
	path = '/cc/max-age=3/102'
	_, r = miss_then_cached(srv, path)
	ck.check('max-age=3: a HIT at once', r.header('x-cache') == 'HIT',
		 '%r X-Cache %s' % (r, r.header('x-cache')))
	time.sleep(3.2)
	n = origin_hits(py, path)
	r = get(srv, path)
	ck.check('max-age=3: refetched once stale', r.header('x-cache') != 'HIT' and
		 origin_hits(py, path) == n + 1, repr(r))


def invalidation(ck, srv, py):
	path = FRESH + '103'
	ck.check('cached', miss_then_cached(srv, path)[1].header('x-cache') == 'HIT')
	c0 = srv.counters()
	r = et.request(srv.port, 'POST', path, body=b'x')
	ck.check('POST passes through', r.status == 200, repr(r))
	r = get(srv, path)
	c1 = srv.counters()
	diag = {k: c1.get(k, 0) - c0.get(k, 0) for k in ('cache_invalidated', 'cache_fills',
							   'cache_hits', 'cache_ram_hits')}
	ck.check('after a POST the object is fetched again', r.header('x-cache') == 'MISS',
		 '%r; counters %s; origin saw %s' % (r, diag, [ln for ln in py.log() if ln[2] == path]))


def invalidation_race(ck, srv, py):
	"""A POST lands while a GET of the same object is still being fetched
	and written: what that fill writes must not be served afterwards."""
	import threading
	path = '/ccdrip/600/max-age=3600/40000'
	got = {}
	t = threading.Thread(target=lambda: got.setdefault('r', get(srv, path)))
	n0 = fills(srv)
	t.start()
	time.sleep(0.25)                     # the head and half the body are in
	r = et.request(srv.port, 'POST', path, body=b'x')
	ck.check('POST during the fill passes through', r.status == 200, repr(r))
	t.join(10)
	c = srv.counters()
	ck.check('the GET got its bytes', got.get('r') is not None and
		 got['r'].body == et.det_bytes('pyorigin', 40000), repr(got.get('r')))
	deadline = time.monotonic() + 5
	while c.get('cache_fill_invalidated', 0) < 1 and time.monotonic() < deadline:
		time.sleep(0.05)
		c = srv.counters()
	r = get(srv, path)
	ck.check('the fill that landed after the POST is not served (a MISS)',
		 r.header('x-cache') == 'MISS', '%r, cache_fill_invalidated %d' %
		 (r, c.get('cache_fill_invalidated', 0)))


def restarts(ck, srv, py):
	path = FRESH + '20000'
	want = et.det_bytes('pyorigin', 20000)
	miss_then_cached(srv, path)
	for how in (signal.SIGTERM, signal.SIGKILL):
		t0 = time.monotonic()
		rc = srv.stop(how)
		print('stopped by %s: exit %s after %.2fs' % (how.name, rc, time.monotonic() - t0),
		      flush=True)
		ck.check('%s: exit as expected' % how.name, rc == (0 if how == signal.SIGTERM
								   else -signal.SIGKILL), str(rc))
		srv.start()
		r = get(srv, path)
		ck.check('after %s and a restart: a HIT, the same bytes' % how.name,
			 r.header('x-cache') == 'HIT' and r.body == want, repr(r))
	ck.check('the origin saw it once across both restarts', origin_hits(py, path) == 1)


def corruption(ck, srv, py, cache_file):
	path = FRESH + '30000'
	want = et.det_bytes('pyorigin', 30000)
	ck.check('cached', miss_then_cached(srv, path)[1].header('x-cache') == 'HIT')
	srv.stop()
	copies = et.flip_copies(cache_file, want[1000:1064])
	ck.check('the object body is in the cache file (%d copies)' % copies, copies >= 1)
	srv.start()
	r = get(srv, path)
	ck.check('a flipped byte: a MISS with the right bytes, never the wrong ones',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'MISS', repr(r))
	c = srv.counters()
	ck.check('counted (cache_read_errors %d)' % c.get('cache_read_errors', 0),
		 c.get('cache_read_errors', 0) >= 1)


def collapsing(ck, srv, py):
	"""100 concurrent misses on one key (a slow origin): one origin request,
	100 byte-exact bodies (same-shard followers stream the leader's bytes,
	others wait for the object to land)."""
	import threading
	path = '/ccslow/300/max-age=3600/200000'
	origin_path = '/cc/max-age=3600/200000'      # how the origin logs it
	want = et.det_bytes('pyorigin', 200000)
	results = [None] * 100

	def one(i):
		try:
			results[i] = et.request(srv.port, 'GET', path, timeout=30)
		except Exception as e:            # noqa: BLE001 — reported below
			results[i] = e
	threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(40)
	ok = sum(1 for r in results if not isinstance(r, Exception) and r is not None and
		 r.status == 200 and r.body == want)
	bad = [r for r in results if isinstance(r, Exception) or r is None or
	       r.status != 200 or r.body != want][:3]
	ck.check('100 concurrent misses: %d/100 bodies byte-exact' % ok, ok == 100, repr(bad))
	n = origin_hits(py, origin_path)
	ck.check('100 concurrent misses: %d origin request(s)' % n, n == 1, str(n))
	c = srv.counters()
	print('collapsed_followers %d, collapsed_parked %d' % (c.get('collapsed_followers', 0),
							     c.get('collapsed_parked', 0)), flush=True)


def not_shared(ck, srv, py):
	"""Concurrent misses on a key whose response may not be stored
	(private): each visitor gets its own origin response (never another's),
	and they fetch side by side, not one after the other behind a claim."""
	import threading
	path = '/ccslow/300/private/3000'
	origin_path = '/cc/private/3000'
	want = et.det_bytes('pyorigin', 3000)

	def burst(n):
		results = [None] * n

		def one(i):
			try:
				results[i] = et.request(srv.port, 'GET', path, timeout=30)
			except Exception as e:        # noqa: BLE001 — reported below
				results[i] = e
		threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
		t0 = time.monotonic()
		for t in threads:
			t.start()
		for t in threads:
			t.join(40)
		return time.monotonic() - t0, results

	c0 = srv.counters()
	for rnd in (1, 2):
		n0 = origin_hits(py, origin_path)
		took, results = burst(20)
		ok = sum(1 for r in results if not isinstance(r, Exception) and r is not None and
			 r.status == 200 and r.body == want)
		ck.check('burst %d: 20 concurrent private misses, %d byte-exact' % (rnd, ok), ok == 20,
			 repr([r for r in results if isinstance(r, Exception)][:2]))
		n = origin_hits(py, origin_path) - n0
		ck.check('burst %d: one origin request each, none shared (%d)' % (rnd, n), n == 20)
		# 300 ms a fetch: side by side ~0.3-0.7 s; one after another ~6 s.
		ck.check('burst %d: side by side, not queued (%.2f s)' % (rnd, took), took < 2.5)
	c = srv.counters()
	d = {k: c.get(k, 0) - c0.get(k, 0) for k in ('collapse_unshared', 'collapse_passed')}
	ck.check('counted: %s' % d, d['collapse_passed'] >= 20 and
		 d['collapse_unshared'] + d['collapse_passed'] >= 20)


def revalidation(ck, srv, py):
	# max-age=2: long enough to see the refreshed entry fresh even under
	# ASan, short enough to go stale quickly.
	path = '/cc/max-age=2/104'
	want = et.det_bytes('pyorigin', 104)
	miss_then_cached(srv, path)
	time.sleep(2.5)
	n0 = fills(srv)
	r = get(srv, path)
	ck.check('stale with an ETag: revalidated by a 304, the stored bytes served',
		 r.status == 200 and r.header('x-cache') == 'REVALIDATED' and r.body == want,
		 repr(r))
	statuses = [ln[3] for ln in py.log() if ln[2] == path]
	ck.check('the origin answered 304 to our If-None-Match (%s)' % statuses,
		 statuses[-1:] == [304])
	deadline = time.monotonic() + 5
	while fills(srv) <= n0 and time.monotonic() < deadline:
		time.sleep(0.02)
	r = get(srv, path)
	ck.check('the refreshed entry is fresh again: a HIT', r.header('x-cache') == 'HIT', repr(r))


def stale_if_error(ck, srv, py):
	path = '/cc/max-age=1,stale-if-error=60/105'
	want = et.det_bytes('pyorigin', 105)
	miss_then_cached(srv, path)
	py.stop()
	time.sleep(1.5)
	r = get(srv, path)
	ck.check('origin down, stale-if-error: the stale copy is served',
		 r.status == 200 and r.header('x-cache') == 'STALE' and r.body == want, repr(r))
	r = get(srv, FRESH + '999999')
	ck.check('origin down, nothing stored: 503', r.status == 503, repr(r))


def disk_hits_concurrent(ck, py):
	"""64 keep-alive connections asking for 64 objects at once, the RAM
	tier off (every hit an O_DIRECT read): all bytes right, all from disk,
	and the loop submitted new requests' store reads ahead of hits' sends
	(loop_early_submits) — the store buffers registered with the ring."""
	import selectors
	import socket
	d = et.tmpdir('cachefile-conc')
	zones = [et.zone('c', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, workers=1, cache={'path': os.path.join(d, 'c.dat'),
						    'size': '64m', 'memory': 0}).start()
	try:
		paths = [FRESH + str(3000 + i) for i in range(64)]
		for p in paths:
			miss_then_cached(srv, p)
		c0 = srv.counters()
		sel = selectors.DefaultSelector()
		state = {}
		for i, p in enumerate(paths):
			s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
			s.setblocking(False)
			state[s] = {'i': i, 'buf': b''}
			s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % p).encode())
			sel.register(s, selectors.EVENT_READ)
		done, bad = 0, []
		deadline = time.monotonic() + 2.0
		while time.monotonic() < deadline and len(bad) < 5:
			for key, _ in sel.select(0.5):
				s, st = key.fileobj, state[key.fileobj]
				st['buf'] += s.recv(65536)
				head, sep, rest = st['buf'].partition(b'\r\n\r\n')
				if not sep:
					continue
				lines = head.decode('latin-1').split('\r\n')
				h = dict((k.strip().lower(), v.strip()) for k, _, v in
					 (ln.partition(':') for ln in lines[1:]))
				n = int(h.get('content-length', '-1'))
				if len(rest) < n:
					continue
				size = 3000 + st['i']
				if (not lines[0].startswith('HTTP/1.1 200') or h.get('x-cache') != 'HIT'
				    or rest[:n] != et.det_bytes('pyorigin', size)):
					bad.append('%s: %s x-cache %s, %d bytes' % (paths[st['i']], lines[0],
										   h.get('x-cache'), n))
				done += 1
				st['i'] = (st['i'] + 7) % 64
				st['buf'] = rest[n:]
				s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' %
					   paths[st['i']]).encode())
		for s in state:
			sel.unregister(s)
			s.close()
		c1 = srv.counters()
		dc = {k: c1.get(k, 0) - c0.get(k, 0) for k in ('cache_hits', 'cache_ram_hits',
							       'cache_read_errors', 'loop_early_submits')}
		ck.check('concurrent disk hits: right bytes, all HITs', done >= 64 and not bad,
			 '%d responses; %s' % (done, bad[:3]))
		ck.check('all from disk, no read error', dc['cache_ram_hits'] == 0 and
			 dc['cache_read_errors'] == 0 and dc['cache_hits'] >= done, str(dc))
		ck.check('store reads submitted ahead of sends', dc['loop_early_submits'] > 0, str(dc))
		ck.check('no "not registered" fallback (root)', os.geteuid() != 0 or
			 'not registered' not in open(srv.error_log).read(), '')
	finally:
		rc = srv.stop()
	ck.check('that server exits 0 on SIGTERM', rc == 0, 'exit %s' % rc)


def main():
	py = et.PyOrigin()
	cache_dir = et.tmpdir('cachefile')
	cache_file = os.path.join(cache_dir, 'c.dat')
	zones = [et.zone('c', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, workers=2, cache={'path': cache_file, 'size': '64m'}).start()
	ck = et.Checks()
	ck.run('basics', basics, ck, srv, py)
	ck.run('not_stored', not_stored, ck, srv, py)
	ck.run('invalidation', invalidation, ck, srv, py)
	ck.run('invalidation_race', invalidation_race, ck, srv, py)
	ck.run('disk_hits_concurrent', disk_hits_concurrent, ck, py)
	ck.run('restarts', restarts, ck, srv, py)
	ck.run('corruption', corruption, ck, srv, py, cache_file)
	ck.run('collapsing', collapsing, ck, srv, py)
	ck.run('not_shared', not_shared, ck, srv, py)
	ck.run('revalidation', revalidation, ck, srv, py)
	ck.run('stale_if_error', stale_if_error, ck, srv, py)      # stops the origin
	c = srv.counters()
	print('counters: ' + ', '.join('%s %d' % (k, v) for k, v in sorted(c.items())
				       if k.startswith('cache_')), flush=True)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
