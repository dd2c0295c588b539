#!/usr/bin/python3
"""Large objects (bigger than one chunk) through the real binary, against
an nginx origin whose access log says every request's Range and the bytes
it sent: a Range miss on a 64 MiB object fetches only the chunk it covers
(a chunk-aligned Range) and serves the exact slice; a second Range in that
chunk is a HIT with no origin request; a full GET is a MISS, then a HIT
byte-exact with no origin request, served chunk by chunk from the disk
(the RAM tier is off in the first server, on in the second); HEAD, a Range
across chunks, If-None-Match and an unsatisfiable Range from the record;
the origin changing the object (new ETag) between two Range misses of
different chunks gives the new bytes, never a stitch of both versions; a
flipped byte in a stored chunk is never served (the chunk is fetched
again); when the head is already out and a chunk fetched again is of
another version, the connection is closed; more concurrent readers than
store buffers all get their bytes; a visitor that stops reading holds up
nobody; 20 concurrent misses make one origin request; objects without a
strong validator (a Python origin that honours Range) are served across
several fetches but never stored; a POST's 2xx drops a large object; the
admin API's purge by path drops one and purge by prefix removes its record
and every chunk; a restart (SIGTERM, SIGKILL) keeps large
objects."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

MiB = 1 << 20
CHUNK = MiB
FILES = {'big': 64 * MiB, 'full': 24 * MiB, 'etag': 8 * MiB, 'flip': 6 * MiB,
	 'keep': 5 * MiB + 123, 'ram': 16 * MiB, 'mid': 4 * MiB, 'many': 3 * MiB,
	 'coll': 8 * MiB, 'gone': 5 * MiB, 'pfx/a': 3 * MiB, 'brec': 6 * MiB}
TOKEN = 'slices-admin-token-0123456789abcdef'


class RangeOrigin:
	"""nginx serving det_bytes files; each log line: uri status bytes "range"."""

	def __init__(self, files):
		self.dir = et.tmpdir('origin')
		self.port = et.free_port()
		self.root = os.path.join(self.dir, 'html')
		os.makedirs(self.root)
		self.files = dict(files)
		for name, size in files.items():
			self.write(name, et.det_bytes(name, size))
		self.access_log = os.path.join(self.dir, 'access.log')
		conf = os.path.join(self.dir, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(et.nginx_main_conf(self.dir) + '''
http {
	%s
	log_format r '$uri $status $body_bytes_sent "$http_range"';
	access_log %s r;
	keepalive_requests 100000;
	sendfile on;
	server {
		listen 127.0.0.1:%d;
		root %s;
		location / { }
	}
}
''' % (et.nginx_temp_paths(self.dir), self.access_log, self.port, self.root))
		self.proc = et.start_proc([et.NGINX, '-p', self.dir, '-c', conf],
					  os.path.join(self.dir, 'stderr.log'), signal.SIGQUIT)
		et.wait_port(self.port, self.proc, log=os.path.join(self.dir, 'error.log'))
		self.url = 'http://127.0.0.1:%d' % self.port

	def write(self, name, data, mtime=None):
		path = os.path.join(self.root, name)
		os.makedirs(os.path.dirname(path), exist_ok=True)
		with open(path, 'wb') as f:
			f.write(data)
		if mtime:
			os.utime(path, (mtime, mtime))

	def log(self, name=None):
		"""[(uri, status, bytes, range)] in log order (after nginx wrote them)."""
		time.sleep(0.1)
		out = []
		for ln in et.read_log(self.access_log):
			uri, status, nbytes, rng = ln.split(' ', 3)
			if name is None or uri == '/' + name:
				out.append((uri, int(status), int(nbytes), rng.strip('"')))
		return out

	def stop(self):
		return et.stop_proc(self.proc, signal.SIGQUIT)


class AdminEdge(et.Edgecache):
	"""edgecache with the admin API on loopback (purge, docs/ADMIN.md)."""

	def __init__(self, zones, **kw):
		self.admin_port = et.free_port()
		super().__init__(zones, **kw)

	def write_config(self):
		main = super().write_config()
		tok = os.path.join(self.dir, 'admin.token')
		fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
		with os.fdopen(fd, 'w') as f:
			f.write(TOKEN + '\n')
		with open(main, 'a') as f:
			f.write('[admin]\nlisten = 127.0.0.1:%d\ntoken_file = %s\n' % (self.admin_port, tok))
		return main

	def purge(self, zone_uuid, what):
		r = et.request(self.admin_port, 'POST', '/cdn/zones/%s/purge' % zone_uuid,
			       host='admin', headers=[('Authorization', 'Bearer ' + TOKEN),
						      ('Content-Type', 'application/json')],
			       body=json.dumps(what).encode())
		return r.status, (json.loads(r.body) if r.body else None)


def get(srv, path, method='GET', headers=(), host='localhost'):
	return et.request(srv.port, method, path, host=host, headers=list(headers), timeout=60)


def concurrently(n, fn, timeout):
	"""fn() in n threads at once: their results (or exceptions), in order."""
	import threading
	got = [None] * n

	def one(i):
		try:
			got[i] = fn()
		except Exception as e:          # noqa: BLE001 - the caller reports it
			got[i] = e
	ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(timeout)
	return got


def wait_fills(srv, n0, n, timeout=20.0):
	"""Wait until n more objects (a record, chunks) are committed."""
	deadline = time.monotonic() + timeout
	c = srv.counters().get('cache_fills', 0)
	while c < n0 + n and time.monotonic() < deadline:
		time.sleep(0.05)
		c = srv.counters().get('cache_fills', 0)
	return c - n0


def aligned(first, last):
	return 'bytes=%d-%d' % (first // CHUNK * CHUNK, (last // CHUNK + 1) * CHUNK - 1)


def range_miss(ck, srv, org):
	want = et.det_bytes('big', FILES['big'])
	n0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/big', headers=[('Range', 'bytes=40000000-40000999')])
	ck.check('Range miss on 64 MiB: 206 with the exact bytes',
		 r.status == 206 and r.body == want[40000000:40001000] and
		 r.header('content-range') == 'bytes 40000000-40000999/%d' % FILES['big'] and
		 r.header('x-cache') == 'MISS', repr(r) + str(r.headers))
	log = org.log('big')
	ck.check('the origin got one chunk-aligned Range and sent one chunk (%s)' % log,
		 log == [('/big', 206, CHUNK, aligned(40000000, 40000999))])
	ck.check('record + chunk committed', wait_fills(srv, n0, 2) >= 2)
	r = get(srv, '/big', headers=[('Range', 'bytes=40100000-40100099')])
	ck.check('a second Range in the same chunk: HIT, exact bytes',
		 r.status == 206 and r.body == want[40100000:40100100] and
		 r.header('x-cache') == 'HIT', repr(r) + str(r.headers))
	ck.check('no origin request for it', len(org.log('big')) == 1, str(org.log('big')))
	r = get(srv, '/big', headers=[('Range', 'bytes=40800000-40900000')])
	ck.check('a Range across the stored chunk and the next (missing): exact bytes',
		 r.status == 206 and r.body == want[40800000:40900001], repr(r))
	log = org.log('big')
	ck.check('the origin got only the missing chunk (%s)' % log[1:],
		 log[1:] == [('/big', 206, CHUNK, aligned(40894464, 40894464))])
	n = len(log)
	r = get(srv, '/big', headers=[('Range', 'bytes=30000000-')])
	ck.check('an open Range (bytes=30000000-, 34 MiB) across stored and missing chunks: exact',
		 r.status == 206 and r.body == want[30000000:] and r.header('content-range') ==
		 'bytes 30000000-%d/%d' % (FILES['big'] - 1, FILES['big']), repr(r))
	log = org.log('big')[n:]
	ck.check('fetched in chunk-aligned runs of at most 8 chunks, never the 2 stored ones (%d)' %
		 len(log), all(st == 206 and b <= 8 * CHUNK and b % CHUNK == 0 for _, st, b, _ in log)
		 and sum(b for _, _, b, _ in log) == FILES['big'] - 30 * CHUNK, str(log))
	r = get(srv, '/big', headers=[('Range', 'bytes=%d-' % (FILES['big'] + 10))])
	ck.check('unsatisfiable Range (record known) → 416', r.status == 416 and
		 r.header('content-range') == 'bytes */%d' % FILES['big'], repr(r))


def full_get(ck, srv, org, name='full', first_xcache='MISS'):
	want = et.det_bytes(name, FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/' + name)
	ck.check('%s: full GET → 200 %s, byte-exact' % (name, first_xcache),
		 r.status == 200 and r.body == want and r.header('x-cache') == first_xcache,
		 repr(r))
	nchunks = (FILES[name] + CHUNK - 1) // CHUNK
	got = wait_fills(srv, n0, 1 + nchunks)
	ck.check('%s: record + %d chunks committed (%d)' % (name, nchunks, got),
		 got >= 1 + nchunks)
	before = len(org.log(name))
	for i in range(2):
		r = get(srv, '/' + name)
		ck.check('%s: full GET %d → HIT, byte-exact' % (name, i + 1),
			 r.status == 200 and r.body == want and r.header('x-cache') == 'HIT' and
			 r.header('content-length') == str(FILES[name]), repr(r))
	ck.check('%s: no origin request for the hits' % name, len(org.log(name)) == before,
		 str(org.log(name)))
	return want


def record_answers(ck, srv, org):
	want = et.det_bytes('full', FILES['full'])
	before = len(org.log('full'))
	r = get(srv, '/full', method='HEAD')
	ck.check('HEAD: 200, the length, no body, HIT', r.status == 200 and not r.body and
		 r.header('content-length') == str(FILES['full']) and r.header('x-cache') == 'HIT',
		 repr(r))
	r = get(srv, '/full', headers=[('Range', 'bytes=1048000-3146000')])
	ck.check('Range across three chunks from cache: exact', r.status == 206 and
		 r.body == want[1048000:3146001] and r.header('x-cache') == 'HIT', repr(r))
	r = get(srv, '/full', headers=[('Range', 'bytes=-1000')])
	ck.check('suffix Range from cache', r.status == 206 and r.body == want[-1000:], repr(r))
	etag = get(srv, '/full', method='HEAD').header('etag')
	r = get(srv, '/full', headers=[('If-None-Match', etag or '"x"')])
	ck.check('If-None-Match → 304', r.status == 304 and not r.body, repr(r))
	r = get(srv, '/full', headers=[('Range', 'bytes=%d-' % FILES['full'])])
	ck.check('unsatisfiable Range → 416', r.status == 416, repr(r))
	ck.check('none of these reached the origin', len(org.log('full')) == before,
		 str(org.log('full')[before:]))


def etag_change(ck, srv, org):
	old = et.det_bytes('etag', FILES['etag'])
	new = et.det_bytes('etag-v2', FILES['etag'])
	n0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/etag', headers=[('Range', 'bytes=2100000-2100099')])
	ck.check('v1: Range miss, exact', r.status == 206 and r.body == old[2100000:2100100], repr(r))
	wait_fills(srv, n0, 2)
	etag1 = r.header('etag')
	org.write('etag', new, mtime=time.time() + 100)
	m0 = srv.counters().get('cache_large_mismatch', 0)
	r = get(srv, '/etag', headers=[('Range', 'bytes=5300000-5300099')])
	etag2 = r.header('etag')
	ck.check('after the origin changed: another chunk has the new bytes and ETag',
		 r.status == 206 and r.body == new[5300000:5300100] and etag2 != etag1,
		 '%r %s→%s' % (r, etag1, etag2))
	ck.check('the mismatch was seen and counted', srv.counters().get(
		'cache_large_mismatch', 0) > m0)
	n = len(org.log('etag'))
	r = get(srv, '/etag', headers=[('Range', 'bytes=2100000-2100099')])
	ck.check('the first chunk again: new bytes (refetched), never the stored old ones',
		 r.status == 206 and r.body == new[2100000:2100100] and r.header('etag') == etag2,
		 repr(r))
	ck.check('it was fetched from the origin', len(org.log('etag')) == n + 1,
		 str(org.log('etag')))
	r = get(srv, '/etag')
	ck.check('a full GET now: all new bytes', r.status == 200 and r.body == new, repr(r))


def flipped_byte(ck, srv, org, cache_file):
	name = 'flip'
	want = et.det_bytes(name, FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	get(srv, '/' + name)
	wait_fills(srv, n0, 1 + 6)
	ck.check('stopped cleanly', srv.stop() == 0)
	at3 = 3 * CHUNK + 5000
	copies = et.flip_copies(cache_file, want[at3:at3 + 64])
	ck.check('chunk 3 is in the cache file (%d copies)' % copies, copies >= 1)
	srv.start()
	n = len(org.log(name))
	r = get(srv, '/' + name, headers=[('Range', 'bytes=%d-%d' % (at3, at3 + 99))])
	ck.check('a Range in the damaged chunk: the right bytes', r.status == 206 and
		 r.body == want[at3:at3 + 100], repr(r))
	r = get(srv, '/' + name)
	ck.check('a full GET: the right bytes', r.status == 200 and r.body == want, repr(r))
	c = srv.counters()
	ck.check('the bad chunk was counted (cache_large_bad_chunks %d)' %
		 c.get('cache_large_bad_chunks', 0), c.get('cache_large_bad_chunks', 0) >= 1)
	ck.check('and fetched again from the origin', len(org.log(name)) > n, str(org.log(name)))


def bad_record(ck, srv, org, cache_file):
	"""A Range miss whose object's record is unusable (a flipped bit in its
	ETag): the miss claims the object, finds the entry again — it must not
	park on it until LIMIT_COLLAPSE_WAIT_MS, but fetch (was 31 s)."""
	name = 'brec'
	want = et.det_bytes(name, FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/' + name, headers=[('Range', 'bytes=0-99')])
	etag = r.header('etag') or ''
	wait_fills(srv, n0, 2)
	ck.check('stopped cleanly', srv.stop() == 0)
	copies = et.flip_copies(cache_file, etag.encode(), at=3)
	ck.check('the record is in the cache file (%d copies)' % copies, copies >= 1)
	srv.start()
	t0 = time.monotonic()
	r = get(srv, '/' + name, headers=[('Range', 'bytes=100-199')])
	dt = time.monotonic() - t0
	ck.check('a Range GET: the right bytes', r.status == 206 and r.body == want[100:200],
		 repr(r))
	ck.check('answered at once (%.1f s < 5 s)' % dt, dt < 5.0)


def mid_mismatch(ck, srv, org, cache_file):
	"""The head (old ETag) is out when a later chunk, fetched again, comes
	back as another version: the connection is closed, never stitched."""
	name = 'mid'
	old = et.det_bytes(name, FILES[name])
	new = et.det_bytes(name + '-v2', FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	get(srv, '/' + name)
	wait_fills(srv, n0, 1 + 4)
	ck.check('stopped cleanly', srv.stop() == 0)
	copies = et.flip_copies(cache_file, old[2 * CHUNK + 100:2 * CHUNK + 164])
	ck.check('chunk 2 damaged (%d copies)' % copies, copies >= 1)
	org.write(name, new, mtime=time.time() + 200)
	srv.start()
	c = et.RawConn(srv.port, 30)
	try:
		c.send(et.build('GET', '/' + name))
		r = c.read_response()
	except et.Closed:
		r = None
	finally:
		c.close()
	ck.check('a full GET across the changed chunk: closed before the end, never 200 complete',
		 r is None or not r.complete, repr(r))
	ck.check('counted as a mismatch', srv.counters().get('cache_large_mismatch', 0) >= 1)
	r = get(srv, '/' + name)
	ck.check('the next GET: the new version whole', r.status == 200 and r.body == new, repr(r))


def many_readers(ck, srv, org):
	"""More concurrent readers than store buffers (2 each, 64 per shard;
	the RAM tier is off): they wait for buffers, never fail or mix bytes."""
	name = 'many'
	want = et.det_bytes(name, FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	get(srv, '/' + name)
	wait_fills(srv, n0, 1 + 3)
	before = len(org.log(name))
	got = concurrently(80, lambda: get(srv, '/' + name), 60)
	good = sum(1 for r in got if isinstance(r, et.Response) and r.status == 200 and
		   r.body == want and r.header('x-cache') == 'HIT')
	ck.check('80 concurrent HITs of a 3 MiB object: all byte-exact (%d)' % good, good == 80,
		 str([r for r in got if not isinstance(r, et.Response) or r.body != want][:3]))
	ck.check('no origin request', len(org.log(name)) == before)
	print('cache_large_waits %d' % srv.counters().get('cache_large_waits', 0), flush=True)


def aborted_and_pipelined(ck, srv, org):
	"""Visitors that close mid-body give their chunk buffers back (70
	of them, more than the 64 store buffers, then a full GET from disk
	still completes); pipelined requests behind a large response are
	answered in order."""
	import socket
	want = et.det_bytes('full', FILES['full'])
	for _ in range(70):
		s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
		s.sendall(et.build('GET', '/full'))
		got = 0
		while got < 3 * CHUNK:
			d = s.recv(1 << 20)
			if not d:
				break
			got += len(d)
		s.close()
	t0 = time.monotonic()
	r = get(srv, '/full')
	ck.check('after 70 visitors closed mid-body: a full GET byte-exact (%.2fs)' %
		 (time.monotonic() - t0), r.status == 200 and r.body == want, repr(r))
	c = et.RawConn(srv.port, 30)
	try:
		c.send(et.build('GET', '/full', headers=[('Range', 'bytes=5000000-5000099')]) +
		       et.build('HEAD', '/full') + et.build('GET', '/full') +
		       et.build('GET', '/full', headers=[('Range', 'bytes=-10')]))
		rs = [c.read_response(), c.read_response(head_request=True), c.read_response(),
		      c.read_response()]
	finally:
		c.close()
	ck.check('four pipelined requests: 206, HEAD, 200, 206 in order, exact',
		 [r.status for r in rs] == [206, 200, 200, 206] and
		 rs[0].body == want[5000000:5000100] and not rs[1].body and rs[2].body == want and
		 rs[3].body == want[-10:], str(rs))


def concurrent_misses(ck, srv, org):
	"""20 concurrent GETs of a new 8 MiB object: collapsed (same-shard
	followers, other shards parked, chunk claims), so the origin sends
	about the object once, not 20 times."""
	name = 'coll'
	want = et.det_bytes(name, FILES[name])
	got = concurrently(20, lambda: get(srv, '/' + name), 60)
	good = sum(1 for r in got if isinstance(r, et.Response) and r.status == 200 and
		   r.body == want)
	ck.check('20 concurrent misses: all byte-exact (%d)' % good, good == 20)
	log = org.log(name)
	sent = sum(b for _, _, b, _ in log)
	ck.check('the origin sent %.2f× the object in %d requests (bound: 2×)' %
		 (sent / FILES[name], len(log)), sent <= 2 * FILES[name], str(log))


def validators(ck, srv, py):
	"""An object with no validator, or only a weak ETag, cannot be checked
	across fetches: served (a 20 MiB open Range takes three fetches), never
	stored; with a strong ETag it is stored."""
	n = 20 * MiB
	want = et.det_bytes('pyorigin', n)
	for v, stored in (('none', False), ('weak', False), ('etag', True)):
		path = '/ranged/%s/%d' % (v, n)
		for i in range(2):
			before = sum(1 for ln in py.log() if ln[2] == path)
			r = get(srv, path, headers=[('Range', 'bytes=1000-')], host='py.test')
			time.sleep(0.3)
			after = sum(1 for ln in py.log() if ln[2] == path)
			ck.check('%s, GET %d: 206 with all %d bytes' % (v, i + 1, n - 1000),
				 r.status == 206 and r.body == want[1000:], repr(r))
			if i == 0:
				ck.check('%s: fetched in 3 chunk-aligned requests (%d)' % (v, after - before),
					 after - before == 3)
			else:
				ck.check('%s: %s' % (v, 'stored: no origin request' if stored else
						     'not stored: fetched again'),
					 (after == before) == stored, '%d → %d' % (before, after))


def invalidation(ck, srv, py):
	"""An unsafe method's 2xx drops a large object (its record: every
	chunk becomes unreachable at once, as a purge by key does)."""
	n = 6 * MiB + 7
	path = '/ranged/etag/%d' % n
	want = et.det_bytes('pyorigin', n)
	f0 = srv.counters().get('cache_fills', 0)
	r = get(srv, path, host='py.test')
	wait_fills(srv, f0, 1 + 7)
	r = get(srv, path, host='py.test')
	ck.check('cached: a HIT', r.header('x-cache') == 'HIT' and r.body == want, repr(r))
	r = et.request(srv.port, 'POST', path, host='py.test', body=b'x')
	ck.check('POST passes through', r.status == 200, repr(r))
	before = sum(1 for ln in py.log() if ln[2] == path)
	r = get(srv, path, host='py.test')
	ck.check('after the POST: a MISS, fetched again, byte-exact',
		 r.header('x-cache') == 'MISS' and r.body == want and
		 sum(1 for ln in py.log() if ln[2] == path) == before + 1, repr(r))
	r = get(srv, path, headers=[('Range', 'bytes=3000000-3000009')], host='py.test')
	ck.check('and a Range of it: right bytes', r.status == 206 and
		 r.body == want[3000000:3000010], repr(r))


def purge(ck, srv, org, zone_uuid):
	"""The admin API's purge by path drops a large object (its record: no
	chunk can be found again); purge by prefix removes the record and every
	chunk's index entry."""
	for name, nchunks in (('gone', 5), ('pfx/a', 3)):
		f0 = srv.counters().get('cache_fills', 0)
		get(srv, '/' + name)
		wait_fills(srv, f0, 1 + nchunks)
		ck.check('%s cached' % name, get(srv, '/' + name).header('x-cache') == 'HIT')
	st, j = srv.purge(zone_uuid, {'paths': ['/gone']})
	ck.check('purge by path: 200, the record purged (%s)' % j, st == 200 and j == {'purged': 1})
	n = len(org.log('gone'))
	r = get(srv, '/gone', headers=[('Range', 'bytes=2000000-2000009')])
	ck.check('after it: a Range is a MISS with the right bytes, from the origin',
		 r.status == 206 and r.header('x-cache') == 'MISS' and
		 r.body == et.det_bytes('gone', FILES['gone'])[2000000:2000010] and
		 len(org.log('gone')) == n + 1, repr(r))
	st, j = srv.purge(zone_uuid, {'prefix': '/pfx/'})
	ck.check('purge by prefix: the record and its 3 chunks (%s)' % j,
		 st == 200 and j.get('purged', 0) >= 4)
	r = get(srv, '/pfx/a')
	ck.check('under the prefix: a MISS, byte-exact', r.header('x-cache') == 'MISS' and
		 r.body == et.det_bytes('pfx/a', FILES['pfx/a']), repr(r))


def slow_visitor(ck, srv, org):
	"""A visitor that stops reading holds its two chunks, nothing more, and
	slows nobody else."""
	want = et.det_bytes('full', FILES['full'])
	slow = et.RawConn(srv.port, 60)
	slow.send(et.build('GET', '/full'))
	time.sleep(0.5)
	t0 = time.monotonic()
	r = get(srv, '/full')
	ck.check('another visitor meanwhile: byte-exact, not held up (%.2fs)' %
		 (time.monotonic() - t0), r.body == want and time.monotonic() - t0 < 10, repr(r))
	time.sleep(0.5)
	r = slow.read_response()
	slow.close()
	ck.check('the slow visitor then gets every byte', r.status == 200 and r.body == want,
		 repr(r))


def restarts(ck, srv, org):
	name = 'keep'
	want = et.det_bytes(name, FILES[name])
	n0 = srv.counters().get('cache_fills', 0)
	get(srv, '/' + name)
	wait_fills(srv, n0, 1 + 6)
	n = len(org.log(name))
	for how in (signal.SIGTERM, signal.SIGKILL):
		rc = srv.stop(how)
		ck.check('%s: exit as expected (%s)' % (how.name, rc),
			 rc == (0 if how == signal.SIGTERM else -signal.SIGKILL))
		srv.start()
		r = get(srv, '/' + name)
		ck.check('after %s and a restart: a HIT, the same bytes' % how.name,
			 r.status == 200 and r.header('x-cache') == 'HIT' and r.body == want, repr(r))
		r = get(srv, '/' + name, headers=[('Range', 'bytes=4000000-4000009')])
		ck.check('after %s: a Range HIT' % how.name, r.status == 206 and
			 r.body == want[4000000:4000010] and r.header('x-cache') == 'HIT', repr(r))
	ck.check('no origin request across the restarts', len(org.log(name)) == n,
		 str(org.log(name)))


def over_tls(ck, org, cache_dir):
	"""HTTPS visitors: chunk buffers are released once their bytes are
	encrypted, never before (8 concurrent readers from disk, byte-exact)."""
	import test_visitor_tls as vt
	d = et.tmpdir('certs')
	p = vt.make_certs(d)
	# a.test stores nothing (no default_ttl): its large objects are only
	# served; b.test caches them.
	zones = [et.zone('a', ['a.test'], [('o', org.url, {})], tls_cert=p('a.pem'),
			 tls_key=p('a.key')),
		 et.zone('b', ['b.test', '*'], [('o', org.url, {})], tls_cert=p('b.pem'),
			 tls_key=p('b.key'), default_ttl=3600)]
	port = et.free_port()
	srv = et.Edgecache(zones, workers=2, listen_tls='127.0.0.1:%d' % port,
			   cache={'path': os.path.join(cache_dir, 't.dat'), 'size': '256m',
				  'chunk_size': '1m'}).start()
	want = et.det_bytes('full', FILES['full'])

	def tls_get(headers=(), host='b.test'):
		c = vt.TlsConn(port, host, p('ca.pem'), timeout=60)
		try:
			c.send(et.build('GET', '/full', host=host, headers=list(headers)))
			return c.read_response()
		finally:
			c.close()
	r = tls_get([('Range', 'bytes=1000-20000000')], host='a.test')
	ck.check('TLS, not storable: a Range over three fetches, exact', r.status == 206 and
		 r.body == want[1000:20000001] and r.header('x-cache') == 'MISS', repr(r))
	f0 = srv.counters().get('cache_fills', 0)
	r = tls_get()
	ck.check('TLS: full GET MISS byte-exact', r.status == 200 and r.body == want, repr(r))
	wait_fills(srv, f0, 1 + 24)
	got = concurrently(8, tls_get, 120)
	good = sum(1 for r in got if isinstance(r, et.Response) and r.body == want and
		   r.header('x-cache') == 'HIT')
	ck.check('TLS: 8 concurrent HITs from disk, byte-exact (%d)' % good, good == 8,
		 str(got[:2]))
	r = tls_get([('Range', 'bytes=7000000-9000000')])
	ck.check('TLS: a Range across chunks, exact', r.status == 206 and
		 r.body == want[7000000:9000001], repr(r))
	ck.check('TLS server exits 0', srv.stop() == 0)


def zero_copy(ck, org, cache_dir):
	"""send_zerocopy_bytes: hits from the disk and the RAM tier are
	byte-exact; over loopback the kernel reports every zero-copy send as
	copied, so each connection makes one (its first) and then copies;
	visitors that close while a zero-copy send is in flight leave nothing
	behind (the server keeps serving, the slot waits for the notification,
	ASan sees no use after free)."""
	import socket
	srv = et.Edgecache(ck.zones, workers=1, send_zerocopy_bytes='64k',
			   cache={'path': os.path.join(cache_dir, 'z.dat'), 'size': '256m',
				  'chunk_size': '1m', 'memory': '64m'}).start()
	try:
		full_get(ck, srv, org, 'ram')
		c0 = srv.counters()
		ck.check('zc: sends went zero-copy (%d), none refused' % c0.get('send_zc', 0),
			 c0.get('send_zc', 0) >= 1 and c0.get('send_zc_fallbacks', 0) == 0, str(c0))
		ck.check('zc: loopback reported each one copied (%d of %d)' %
			 (c0.get('send_zc_copied', 0), c0.get('send_zc', 0)),
			 c0.get('send_zc_copied', 0) == c0.get('send_zc', 0))
		want = et.det_bytes('ram', FILES['ram'])
		c = et.RawConn(srv.port, 60)
		try:
			c.send(et.build('GET', '/ram') * 3)
			rs = [c.read_response() for _ in range(3)]
		finally:
			c.close()
		c1 = srv.counters()
		ck.check('zc: three pipelined HITs on one connection byte-exact',
			 all(r.status == 200 and r.body == want for r in rs), str(rs))
		ck.check('zc: that connection sent zero-copy once, then by copy (%d)' %
			 (c1.get('send_zc', 0) - c0.get('send_zc', 0)),
			 c1.get('send_zc', 0) - c0.get('send_zc', 0) == 1)
		for _ in range(30):
			s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
			s.sendall(et.build('GET', '/ram'))
			s.recv(65536)
			s.close()
		r = get(srv, '/ram')
		ck.check('zc: after 30 visitors closed mid-send, a HIT byte-exact',
			 r.status == 200 and r.body == want and r.header('x-cache') == 'HIT', repr(r))
		deadline = time.monotonic() + 10
		while srv.counters().get('conns_open', 1) != 0 and time.monotonic() < deadline:
			time.sleep(0.1)
		ck.check('zc: every connection slot released (conns_open 0)',
			 srv.counters().get('conns_open', 1) == 0)
	finally:
		rc = srv.stop()
	ck.check('zc: server exits 0', rc == 0, 'exit %s' % rc)


def main():
	org = RangeOrigin(FILES)
	cache_dir = et.tmpdir('cachefile')
	cache_file = os.path.join(cache_dir, 'c.dat')
	py = et.PyOrigin()
	zones = [et.zone('c', ['*'], [('o', org.url, {})], default_ttl=3600),
		 et.zone('p', ['py.test'], [('o', py.url, {})], default_ttl=3600)]
	srv = AdminEdge(zones, workers=2, cache={'path': cache_file, 'size': '512m',
						    'chunk_size': '1m'}).start()
	ck = et.Checks()
	ck.run('range_miss', range_miss, ck, srv, org)
	ck.run('full_get', full_get, ck, srv, org)
	ck.run('record_answers', record_answers, ck, srv, org)
	ck.run('etag_change', etag_change, ck, srv, org)
	ck.run('flipped_byte', flipped_byte, ck, srv, org, cache_file)
	ck.run('bad_record', bad_record, ck, srv, org, cache_file)
	ck.run('many_readers', many_readers, ck, srv, org)
	ck.run('slow_visitor', slow_visitor, ck, srv, org)
	ck.run('aborted_and_pipelined', aborted_and_pipelined, ck, srv, org)
	ck.run('concurrent_misses', concurrent_misses, ck, srv, org)
	ck.run('validators', validators, ck, srv, py)
	ck.run('invalidation', invalidation, ck, srv, py)
	ck.run('purge', purge, ck, srv, org, zones[0]['uuid'])
	ck.run('restarts', restarts, ck, srv, org)
	# Last on this server: the connection it closes leaves the server's
	# port in TIME_WAIT, which makes the harness's next stop wait 5 s.
	ck.run('mid_mismatch', mid_mismatch, ck, srv, org, cache_file)
	c = srv.counters()
	print('counters: ' + ', '.join('%s %d' % (k, v) for k, v in sorted(c.items())
				       if k.startswith('cache_')), flush=True)
	ck.check('first server exits 0', srv.stop() == 0)
	# The RAM tier on: chunks served from memory after the first disk read.
	ram_file = os.path.join(cache_dir, 'r.dat')
	srv2 = et.Edgecache(zones, workers=1, cache={'path': ram_file, 'size': '256m',
						     'chunk_size': '1m', 'memory': '64m'}).start()
	ck.run('over_tls', over_tls, ck, org, cache_dir)
	ck.run('ram_tier', full_get, ck, srv2, org, 'ram')
	ck.zones = zones
	ck.run('zero_copy', zero_copy, ck, org, cache_dir)
	want = et.det_bytes('ram', FILES['ram'])
	r0 = srv2.counters().get('cache_ram_hits', 0)
	r = get(srv2, '/ram')
	ck.check('ram: another HIT byte-exact', r.body == want and r.header('x-cache') == 'HIT')
	ck.check('ram: chunks came from the RAM tier (%d)' %
		 (srv2.counters().get('cache_ram_hits', 0) - r0),
		 srv2.counters().get('cache_ram_hits', 0) - r0 >= 16)
	org.stop()
	ck.stop_and_finish(srv2)


if __name__ == '__main__':
	main()
