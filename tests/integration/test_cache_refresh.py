#!/usr/bin/python3
"""A refreshed object stays findable through its rewrite (issue 17, defect
2), through the real binary: 2 shards, one cache file, store writes held
back EDGECACHE_TEST_STORE_WRITE_DELAY_MS (tests/README.md "Test hooks"), so
the rewrite that follows a 304 lands only that long after it.

For a 1 KiB and a 200 KiB object (max-age=5, an ETag): filled, then stale;
a GET revalidates it (the origin answers 304: REVALIDATED) with a second
GET pipelined behind it on the same connection; then, while the rewrite has
not landed (the fills counter says so), 24 GETs over 8 connections (both
shards) spread over the window. Every one must be a HIT with the stored
bytes, served under the refreshed head (cache_refreshed_hits), and the
origin must see no request after the 304. Once the rewrite lands, a HIT
again, still no origin request.

Before the fix, a lookup in that window found the stale copy and went to
the origin again (REVALIDATED, one more 304 each).

max-age=5, not 1: Age counts whole seconds (RFC 9111 4.2.3), so an object
refreshed with max-age=1 is fresh only until the end of the wall-clock
second it was refreshed in — 0 to 1 s, less than the window. With 5 it is
fresh for at least 4 s after the 304: the 2.5 s window (long enough for
the burst on a loaded 2-core machine under ASan) and the check after it."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

DELAY_MS = 2500                          # the store-write hold-back
MAX_AGE = 5
SIZES = (1024, 200 * 1024)


def fills(srv):
	return srv.counters().get('cache_fills', 0)


def wait_fill(srv, n0, timeout):
	deadline = time.monotonic() + timeout
	while fills(srv) <= n0 and time.monotonic() < deadline:
		time.sleep(0.05)
	return fills(srv) > n0


def origin_requests(py, path):
	time.sleep(0.05)
	return [ln[3] for ln in py.log() if ln[2] == path]


def get_on(conn, path):
	conn.send(et.build('GET', path))
	return conn.read_response()


def refresh(ck, srv, py, size):
	path = '/cc/max-age=%d/%d' % (MAX_AGE, size)
	want = et.det_bytes('pyorigin', size)
	tag = '%d KiB' % (size // 1024)

	n0 = fills(srv)
	t_miss = time.monotonic()
	r = et.request(srv.port, 'GET', path)
	ck.check('%s: first GET is a MISS' % tag, r.status == 200 and
		 r.header('x-cache') == 'MISS' and r.body == want, repr(r))
	ck.check('%s: its fill lands (after the hold-back)' % tag,
		 wait_fill(srv, n0, DELAY_MS / 1000 + 5))
	time.sleep(max(0.0, t_miss + MAX_AGE + 0.1 - time.monotonic()))     # stale

	c0 = srv.counters()
	n0 = c0.get('cache_fills', 0)
	seen = len(origin_requests(py, path))
	# The revalidation, and a GET pipelined right behind it: the second is
	# looked up as soon as the first is answered, the rewrite far from landed.
	conn = et.RawConn(srv.port)
	try:
		conn.send(et.build('GET', path) + et.build('GET', path))
		r1, r2 = conn.read_response(), conn.read_response()
	finally:
		conn.close()
	ck.check('%s: stale, revalidated by a 304 (REVALIDATED), bytes exact' % tag,
		 r1.status == 200 and r1.header('x-cache') == 'REVALIDATED' and r1.body == want,
		 repr(r1) + ' ' + str(r1.headers))
	ck.check('%s: the GET pipelined behind it is a HIT, bytes exact' % tag,
		 r2.status == 200 and r2.header('x-cache') == 'HIT' and r2.body == want,
		 repr(r2) + ' ' + str(r2.headers))

	# 24 GETs: 8 connections (spread over both shards), 3 rounds apart.
	conns = [et.RawConn(srv.port) for _ in range(8)]
	got = []
	t0 = time.monotonic()
	try:
		for rnd in range(3):
			for c in conns:
				got.append(get_on(c, path))
			time.sleep(0.3)
	finally:
		for c in conns:
			c.close()
	took = time.monotonic() - t0
	c1 = srv.counters()
	in_window = c1.get('cache_fills', 0) == n0
	ck.check('%s: the burst ran while the rewrite had not landed (%.2f s of %d ms)' %
		 (tag, took, DELAY_MS), in_window)
	bad = [(r, r.header('x-cache')) for r in got
	       if not (r.status == 200 and r.header('x-cache') == 'HIT' and r.body == want)]
	ck.check('%s: all %d GETs in the window are HITs, bytes exact' % (tag, len(got)),
		 not bad, 'not: %s' % bad[:4])
	served = c1.get('cache_refreshed_hits', 0) - c0.get('cache_refreshed_hits', 0)
	ck.check('%s: served under the refreshed head (cache_refreshed_hits +%d)' % (tag, served),
		 served >= 25)
	reqs = origin_requests(py, path)[seen:]
	ck.check('%s: the origin saw the one 304 and nothing more (%s)' % (tag, reqs),
		 reqs == [304])
	# A visitor's no-cache still goes to the origin in the window: the
	# refreshed head is a stored response like any other.
	r = et.request(srv.port, 'GET', path, headers=[('Cache-Control', 'no-cache')])
	reqs = origin_requests(py, path)[seen:]
	ck.check('%s: Cache-Control: no-cache in the window → REVALIDATED, the origin asked (%s)'
		 % (tag, reqs), r.status == 200 and r.header('x-cache') == 'REVALIDATED' and
		 r.body == want and reqs == [304, 304], repr(r))

	ck.check('%s: the rewrite lands' % tag, wait_fill(srv, n0, DELAY_MS / 1000 + 5))
	r = et.request(srv.port, 'GET', path)
	ck.check('%s: after it landed, a HIT, bytes exact' % tag, r.status == 200 and
		 r.header('x-cache') == 'HIT' and r.body == want, repr(r))
	reqs = origin_requests(py, path)[seen:]
	ck.check('%s: no origin request after those two 304s (%s)' % (tag, reqs), reqs == [304, 304])
	ck.check('%s: no refresh went unlisted' % tag,
		 srv.counters().get('cache_refresh_unlisted', 0) == 0)


def main():
	py = et.PyOrigin()
	d = et.tmpdir('cache-refresh')
	zones = [et.zone('c', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, workers=2, cache={'path': os.path.join(d, 'c.dat'),
						    'size': '64m'})
	os.environ['EDGECACHE_TEST_STORE_WRITE_DELAY_MS'] = str(DELAY_MS)
	try:
		srv.start()
	finally:
		del os.environ['EDGECACHE_TEST_STORE_WRITE_DELAY_MS']
	ck = et.Checks()
	for size in SIZES:
		ck.run('refresh %d' % size, refresh, ck, srv, py, size)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
