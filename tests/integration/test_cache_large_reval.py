#!/usr/bin/python3
"""A stale large (sliced) object is revalidated with its stored validator
(#17 defect 4), against nginx serving a 4 MiB file (1 MiB chunks) with
`Cache-Control: max-age=1` and its own ETag/Last-Modified, whose access log
says each request's status, body bytes and conditionals: the first GET is a
MISS (the object and its 5 chunks stored), the next from the cache; then, three
times, once the object is stale: a GET → the origin sees exactly one
request, conditional (If-None-Match with the stored ETag), answered 304 with
0 body bytes; the visitor gets the whole body byte-exact with
`X-Cache: REVALIDATED`; a GET right after is served from the cache with no
origin body byte (the record's freshness refreshed, its chunks kept). Then the file changes (new bytes, new ETag):
once stale, a GET → one conditional request answered 200 with the new
bytes, the visitor gets the new bytes byte-exact, and the next GET has them
from the cache (HIT, or a 304-revalidation once a second went by: never an
origin body byte). 10 concurrent GETs of the stale object: one conditional
request (two at most: see there), the others wait for its record. A Range GET of a stale object is revalidated the same way and gets
its 206 from the kept chunks; a HEAD on a stale object drops nothing. Before the fix a stale sliced object was
dropped and fetched whole: 4 MiB from the origin for each refresh."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

MiB = 1 << 20
SIZE = 4 * MiB + 321


class MaxAgeOrigin:
	"""nginx: /obj with max-age=1; log: uri status bytes "if-none-match" "if-modified-since"."""

	def __init__(self):
		self.dir = et.tmpdir('origin')
		self.port = et.free_port()
		self.root = os.path.join(self.dir, 'html')
		os.makedirs(self.root)
		self.access_log = os.path.join(self.dir, 'access.log')
		conf = os.path.join(self.dir, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(et.nginx_main_conf(self.dir) + '''
http {
	%s
	log_format r '$uri $status $body_bytes_sent "$http_if_none_match" "$http_if_modified_since" "$http_range"';
	access_log %s r;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:%d;
		root %s;
		location / { add_header Cache-Control "max-age=1"; }
	}
}
''' % (et.nginx_temp_paths(self.dir), self.access_log, self.port, self.root))
		self.proc = et.start_proc([et.NGINX, '-p', self.dir, '-c', conf],
					  os.path.join(self.dir, 'stderr.log'), signal.SIGQUIT)
		et.wait_port(self.port, self.proc, log=os.path.join(self.dir, 'error.log'))
		self.url = 'http://127.0.0.1:%d' % self.port

	def write(self, name, data, mtime):
		path = os.path.join(self.root, name)
		with open(path, 'wb') as f:
			f.write(data)
		os.utime(path, (mtime, mtime))

	def log(self):
		"""[(status, bytes, if-none-match, if-modified-since, range)] for /obj."""
		time.sleep(0.1)
		out = []
		for ln in et.read_log(self.access_log):
			uri, status, nbytes, rest = ln.split(' ', 3)
			rest = rest.replace('\\x22', "'")   # nginx escapes the quotes
			inm, ims, rng = [x.strip('"') for x in rest.split('" "')]
			if uri == '/obj':
				out.append((int(status), int(nbytes), inm, ims, rng))
		return out

	def stop(self):
		return et.stop_proc(self.proc, signal.SIGQUIT)


def get(srv, headers=()):
	return et.request(srv.port, 'GET', '/obj', headers=list(headers), timeout=30)


def wait_fills(srv, n0, n, timeout=20.0):
	deadline = time.monotonic() + timeout
	while srv.counters().get('cache_fills', 0) < n0 + n and time.monotonic() < deadline:
		time.sleep(0.05)


def stale_wait():
	time.sleep(2.1)                     # max-age=1, Age counted in whole seconds


def revalidations(ck, srv, org, v1):
	f0 = srv.counters().get('cache_fills', 0)
	r = get(srv)
	ck.check('first GET: 200 MISS, byte-exact', r.status == 200 and r.body == v1 and
		 r.header('x-cache') == 'MISS', repr(r) + str(r.headers))
	wait_fills(srv, f0, 1 + 5)
	n0 = len(org.log())
	r = get(srv)
	ck.check('second GET: from the cache (HIT, or REVALIDATED if a second went by), '
		 'byte-exact, no origin body byte', r.body == v1 and
		 r.header('x-cache') in ('HIT', 'REVALIDATED') and
		 sum(x[1] for x in org.log()[n0:]) == 0, repr(r) + str(r.headers))
	etag = [v for k, v in r.headers if k.lower() == 'etag'][0]
	for i in range(3):
		stale_wait()
		n0 = len(org.log())
		rv0 = srv.counters().get('cache_revalidated', 0)
		f0 = srv.counters().get('cache_fills', 0)
		r = get(srv)
		log = org.log()[n0:]
		ck.check('stale #%d: one origin request, conditional on the stored ETag, 304 with '
			 '0 body bytes (%s)' % (i + 1, log),
			 len(log) == 1 and log[0][0] == 304 and log[0][1] == 0 and
		 log[0][2] == etag.replace('"', "'"))
		ck.check('stale #%d: 200 REVALIDATED, the whole body byte-exact' % (i + 1),
			 r.status == 200 and r.body == v1 and r.header('x-cache') == 'REVALIDATED',
			 repr(r) + str(r.headers))
		ck.check('stale #%d: cache_revalidated +1' % (i + 1),
			 srv.counters().get('cache_revalidated', 0) == rv0 + 1)
		wait_fills(srv, f0, 1)          # the refreshed record lands
		r = get(srv)
		ck.check('stale #%d: the next GET from the cache, no origin body byte' % (i + 1),
			 r.body == v1 and r.header('x-cache') in ('HIT', 'REVALIDATED') and
			 sum(x[1] for x in org.log()[n0:]) == 0,
			 repr(r) + str(r.headers) + str(org.log()[n0:]))


def concurrent(ck, srv, org, v1):
	"""10 GETs of the stale object at once: one revalidation, the others
	wait for its record and are served from the chunks."""
	import threading
	stale_wait()
	n0 = len(org.log())
	got = [None] * 10

	def one(i):
		got[i] = get(srv)
	ts = [threading.Thread(target=one, args=(i,)) for i in range(10)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(30)
	log = org.log()[n0:]
	good = sum(1 for r in got if r is not None and r.status == 200 and r.body == v1 and
		   r.header('x-cache') in ('REVALIDATED', 'HIT'))
	ck.check('10 concurrent stale GETs: all byte-exact from the chunks (%d)' % good, good == 10,
		 str([(r.status, r.header('x-cache')) for r in got if r is not None]))
	# One revalidation for all; a second at most, when the refreshed record
	# is stale again within the same run (max-age=1 and Date, Age in whole
	# seconds: it may be stale a few ms after it landed, as seen under ASan).
	ck.check('10 concurrent stale GETs: one conditional request (two at most), each '
		 'a 304 with no body (%s)' % log,
		 1 <= len(log) <= 2 and all(x[0] == 304 and x[1] == 0 for x in log))


def range_revalidation(ck, srv, org, v1):
	stale_wait()
	n0 = len(org.log())
	a, b = MiB - 100, 3 * MiB + 50
	r = get(srv, [('Range', 'bytes=%d-%d' % (a, b - 1))])
	log = org.log()[n0:]
	ck.check('stale, a Range GET: one conditional request, 304, no Range (%s)' % log,
		 len(log) == 1 and log[0][0] == 304 and log[0][2] != '-' and log[0][4] == '-')
	ck.check('stale, a Range GET: 206 REVALIDATED from the kept chunks, byte-exact',
		 r.status == 206 and r.body == v1[a:b] and r.header('x-cache') == 'REVALIDATED',
		 repr(r) + str(r.headers))


def head_keeps(ck, srv, org, v1):
	"""A HEAD on a stale object (a download manager's first request) goes
	to the origin but never drops the version: the GET after it is still
	one 304 with no body byte, served from the kept chunks."""
	stale_wait()
	n0 = len(org.log())
	r = et.request(srv.port, 'HEAD', '/obj', timeout=30)
	ck.check('stale, a HEAD: 200, no body', r.status == 200 and not r.body, repr(r))
	r = get(srv)
	log = org.log()[n0:]
	ck.check('then a GET: REVALIDATED, byte-exact', r.status == 200 and r.body == v1 and
		 r.header('x-cache') == 'REVALIDATED', repr(r) + str(r.headers))
	ck.check('the HEAD dropped nothing: no origin body byte, the GET a 304 (%s)' % log,
		 sum(x[1] for x in log) == 0 and log and log[-1][0] == 304)


def changed(ck, srv, org, v1):
	v2 = et.det_bytes('obj-v2', SIZE)
	org.write('obj', v2, time.time() - 100)     # another Last-Modified: another ETag
	stale_wait()
	n0 = len(org.log())
	f0 = srv.counters().get('cache_fills', 0)
	r = get(srv)
	log = org.log()[n0:]
	ck.check('changed: one conditional request, answered 200 with the new body (%s)' % log,
		 len(log) == 1 and log[0][0] == 200 and log[0][1] == SIZE and log[0][2] != '-')
	ck.check('changed: the visitor gets the new bytes, byte-exact',
		 r.status == 200 and r.body == v2, repr(r) + str(r.headers))
	wait_fills(srv, f0, 1 + 5)
	r = get(srv)
	ck.check('changed: then the new version from the cache, byte-exact, no more origin '
		 'body bytes', r.body == v2 and r.header('x-cache') in ('HIT', 'REVALIDATED') and
		 sum(x[1] for x in org.log()[n0:]) == SIZE,
		 repr(r) + str(r.headers) + str(org.log()[n0:]))
	r = get(srv, [('Range', 'bytes=100-199')])
	ck.check('changed: a Range HIT has the new bytes', r.status == 206 and
		 r.body == v2[100:200], repr(r))


def main():
	org = MaxAgeOrigin()
	v1 = et.det_bytes('obj-v1', SIZE)
	org.write('obj', v1, time.time() - 1000)
	cache_dir = et.tmpdir('cachefile')
	zones = [et.zone('c', ['*'], [('o', org.url, {})])]
	srv = et.Edgecache(zones, workers=1, cache={'path': os.path.join(cache_dir, 'c.dat'),
						   'size': '64m', 'chunk_size': '1m'}).start()
	ck = et.Checks()
	ck.run('revalidations', revalidations, ck, srv, org, v1)
	ck.run('concurrent', concurrent, ck, srv, org, v1)
	ck.run('range_revalidation', range_revalidation, ck, srv, org, v1)
	ck.run('head_keeps', head_keeps, ck, srv, org, v1)
	ck.run('changed', changed, ck, srv, org, v1)
	org.stop()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
