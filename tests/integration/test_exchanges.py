#!/usr/bin/python3
"""Exchanges apart from connections (edge/exchange.h, issue 11 point 4).

One shard, max_conns = 16 (the minimum), so 16 connection slots and
LIMIT_EXCHANGES_PER_CONN (2) x 16 = 32 exchange slots; origin_pool = 0, so
every busy exchange needs an origin connection slot of its own (one per
exchange slot: 32 streams on the origin at once get 32, never a 503
counted buffers_exhausted):
  - one HTTP/2 connection opens 24 streams at once on a slow origin path:
    while they run, /metrics-style counters show 1 connection open
    (conns_open) and 24 exchanges (exchanges_open), an HTTP/1.1 request on a
    second connection is served, and all 24 streams are answered (a stream
    used to take a connection slot: 15 of 16 were left for streams, the
    other 9 were refused and the HTTP/1.1 visitor was turned away);
  - at the limit and one past it: 32 streams at once (no other exchange
    open) all answered, while an HTTP/1.1 request meanwhile finds no
    exchange slot (its connection closed, exchanges_refused +1); 33 — the
    33rd refused (RST_STREAM REFUSED_STREAM, h2_streams_refused +1);
  - a stale-while-revalidate hit starts a background refresh: while the
    slow origin answers it, no connection is open (conns_open 0) and one
    exchange is (exchanges_open 1);
  - at the end exchanges_open and conns_open are back to 0.
Raw frames (the socket module, HPACK by hand) so the streams really are
concurrent on one connection.
"""
import os
import socket
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

HOST = 'a.test'
MAX_CONNS = 16
EXCHANGES = 2 * MAX_CONNS           # LIMIT_EXCHANGES_PER_CONN x max_conns
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, RST, SETTINGS = 0, 1, 3, 4
END_STREAM, END_HEADERS = 1, 4
REFUSED_STREAM = 7


def frame(ftype, flags, sid, payload=b''):
	return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
		struct.pack('>I', sid) + payload


def hpack_get(path):
	"""GET, http, path and authority: static-table names, literal values."""
	lit = lambda idx, v: bytes([idx, len(v)]) + v  # noqa: E731  (never indexed)
	return b'\x82\x86' + lit(0x04, path.encode()) + lit(0x01, HOST.encode())


class Streams:
	"""n GETs of path opened at once on one h2c connection; a thread reads
	until every stream ended or was reset (or the deadline)."""

	def __init__(self, port, path, n, timeout=15.0):
		self.n, self.buf = n, b''
		self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
		self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0) + b''.join(
			frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, hpack_get(path))
			for i in range(n)))
		self.deadline = time.monotonic() + timeout
		self.thread = threading.Thread(target=self.read, daemon=True)
		self.thread.start()

	def ends(self):
		fr = et.h2_frames(self.buf)[0]
		done = {f[2] for f in fr if f[0] in (DATA, HEADERS) and f[1] & END_STREAM}
		refused = {f[2] for f in fr if f[0] == RST and
			   int.from_bytes(f[3][:4], 'big') == REFUSED_STREAM}
		reset = {f[2] for f in fr if f[0] == RST} - refused
		return done, refused, reset

	def read(self):
		self.sock.settimeout(0.2)
		while time.monotonic() < self.deadline:
			d, r, x = self.ends()
			if len(d | r | x) >= self.n:
				break
			try:
				got = self.sock.recv(65536)
			except socket.timeout:
				continue
			except OSError:
				break
			if not got:
				break
			self.buf += got

	def finish(self):
		self.thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + 1)
		self.sock.close()
		return self.ends()


def settled(srv, names, timeout=5.0):
	"""The counters once every one of names is 0, or at the deadline."""
	deadline = time.monotonic() + timeout
	c = srv.counters()
	while any(c.get(k, 1) for k in names) and time.monotonic() < deadline:
		time.sleep(0.1)
		c = srv.counters()
	return c


def get(srv, path):
	req = urllib.request.Request(srv.url(path), headers={'Host': HOST})
	with urllib.request.urlopen(req, timeout=10) as r:
		return r.status, r.read(), r.headers


def check_streams_take_no_conn_slot(ck, srv):
	c0 = srv.counters()
	st = Streams(srv.port, '/sleep/1500', 24)
	time.sleep(0.7)                     # the streams wait on the origin
	mid = srv.counters()
	try:
		status, body, _ = get(srv, '/files/10')
	except OSError as e:                # turned away: no connection slot
		status, body = repr(e), b''
	done, refused, reset = st.finish()
	c1 = srv.counters()
	ck.check('24 streams in flight: 1 connection open, 24 exchanges (conns_open %s, '
		 'exchanges_open %s)' % (mid.get('conns_open'), mid.get('exchanges_open')),
		 mid.get('conns_open') == 1 and mid.get('exchanges_open') == 24)
	ck.check('an HTTP/1.1 visitor is served meanwhile (%s)' % status,
		 status == 200 and body == et.det_bytes('pyorigin', 10))
	ck.check('all 24 streams answered, none refused (%d answered, refused %s, reset %s)' %
		 (len(done), sorted(refused), sorted(reset)),
		 len(done) == 24 and not refused and not reset)
	ck.check('no connection refused (conns_refused_limit +%d, h2_streams_refused +%d)' %
		 (c1['conns_refused_limit'] - c0['conns_refused_limit'],
		  c1['h2_streams_refused'] - c0['h2_streams_refused']),
		 c1['conns_refused_limit'] == c0['conns_refused_limit'] and
		 c1['h2_streams_refused'] == c0['h2_streams_refused'])


def check_exchange_limit(ck, srv):
	c = settled(srv, ('exchanges_open', 'conns_open'))
	c0 = srv.counters()
	for n, want_refused in ((EXCHANGES, 0), (EXCHANGES + 1, 1)):
		st = Streams(srv.port, '/sleep/800', n)
		if n == EXCHANGES:
			# Every exchange slot is taken: an HTTP/1.1 request's
			# connection is closed at once, counted.
			time.sleep(0.3)
			try:
				status = get(srv, '/files/10')[0]
			except OSError as e:
				status = repr(e)
		done, refused, reset = st.finish()
		c1 = srv.counters()
		if n == EXCHANGES:
			ck.check('with all %d exchange slots taken an HTTP/1.1 request is turned away '
				 '(%s, exchanges_refused +%d)' %
				 (EXCHANGES, status, c1['exchanges_refused'] - c0['exchanges_refused']),
				 status != 200 and c1['exchanges_refused'] - c0['exchanges_refused'] == 1)
		ck.check('%d streams at once (%d exchange slots): %d answered, %d refused '
			 '(%d answered, refused %s, reset %s)' %
			 (n, EXCHANGES, n - want_refused, want_refused, len(done), sorted(refused),
			  sorted(reset)),
			 len(done) == n - want_refused and len(refused) == want_refused and not reset)
		ck.check('h2_streams_refused +%d' % want_refused,
			 c1['h2_streams_refused'] - c0['h2_streams_refused'] == want_refused)
		# origin_pool = 0: every busy exchange needs an origin slot of
		# its own, none is ever short of one (503, buffers_exhausted).
		ck.check('an origin connection slot for every exchange (buffers_exhausted +%d)' %
			 (c1['buffers_exhausted'] - c0['buffers_exhausted']),
			 c1['buffers_exhausted'] == c0['buffers_exhausted'])
		c0 = c1
		c = settled(srv, ('exchanges_open', 'conns_open'))
	ck.check('every exchange slot given back (exchanges_open %s)' % c.get('exchanges_open'),
		 c.get('exchanges_open') == 0 and c.get('conns_open') == 0)


def check_background_refresh(ck, srv):
	path = '/ccslow/1500/max-age=1,stale-while-revalidate=60/100'
	status, body, _ = get(srv, path)
	ck.check('slow object fetched and stored', status == 200 and len(body) == 100)
	time.sleep(2.2)                     # stale now, within stale-while-revalidate
	c0 = srv.counters()
	t0 = time.monotonic()
	status, body, h = get(srv, path)
	took = time.monotonic() - t0
	ck.check('a stale hit is answered at once (%.2f s, X-Cache %s)' % (took, h.get('X-Cache')),
		 status == 200 and took < 1.0)
	time.sleep(0.5)                     # the refresh waits on the origin
	mid = srv.counters()
	ck.check('the refresh runs as an exchange with no connection (refreshes +%d, '
		 'conns_open %s, exchanges_open %s)' %
		 (mid['cache_swr_refreshes'] - c0['cache_swr_refreshes'], mid.get('conns_open'),
		  mid.get('exchanges_open')),
		 mid['cache_swr_refreshes'] - c0['cache_swr_refreshes'] == 1 and
		 mid.get('conns_open') == 0 and mid.get('exchanges_open') == 1)
	c = settled(srv, ('exchanges_open',))
	ck.check('it ends and gives its slot back (exchanges_open %s)' % c.get('exchanges_open'),
		 c.get('exchanges_open') == 0)


def main():
	d = et.tmpdir('exchanges')
	origin = et.PyOrigin()
	ck = et.Checks()
	srv = et.Edgecache([et.zone('a', [HOST, '*'], [('o', origin.url, {})])],
			   cache={'path': os.path.join(d, 'cache.dat'), 'size': '64m'},
			   workers=1, max_conns=MAX_CONNS, origin_pool=0)
	srv.start()
	ck.run('HTTP/2 streams take no connection slot', check_streams_take_no_conn_slot, ck, srv)
	ck.run('the exchange pool at its limit and one past it', check_exchange_limit, ck, srv)
	ck.run('a background refresh takes no connection slot', check_background_refresh, ck, srv)
	ck.check('server stops cleanly', srv.stop() == 0)
	origin.stop()
	ck.finish()


if __name__ == '__main__':
	main()
