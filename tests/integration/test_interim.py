#!/usr/bin/python3
"""Interim (1xx) responses from the origin (issue 17, "Interim responses"):
a raw origin sends `103 Early Hints` with a Link (and a body-ish
Content-Length, a Connection-listed field) before its cacheable 200.

- HTTP/1.1 visitor (raw socket): the 103 head first, as sent minus
  hop-by-hop, Connection-listed and Content-Length fields, then the 200
  (MISS); origin_interim_forwarded +1.
- the next request is a HIT with no 103 (never stored), the origin asked once.
- HTTP/1.0 visitor: only the 200 (RFC 9110 15.2).
- HTTP/2 visitor (h2c, raw frames; curl -v too): a HEADERS frame without
  END_STREAM and with :status 103 and link before the final HEADERS and DATA.
- collapsed followers get no 103, only the leader does (one origin fetch).
- a stray `100 Continue` from the origin is not forwarded.
- a hostile origin: 20 interim heads in a row (past
  LIMIT_ORIGIN_INTERIM_HEADS, 8: eight go out), or six of 6000 bytes each
  (past LIMIT_ORIGIN_INTERIM_BYTES, 32 KiB) → 502, origin_interim_excess
  +1 each.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

EARLY = (b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n'
	 b'Content-Length: 5\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n')
FINAL = b'HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Length: 5\r\n\r\nhello'


class Origin(et.HeadServer):
	def __init__(self):
		super().__init__()
		self.requests = []

	def answer(self, c, head):
		path = head.split(' ')[1]
		self.requests.append(path)
		if path.startswith('/many'):
			c.sendall(EARLY * 20)
		elif path.startswith('/fat'):
			c.sendall((b'HTTP/1.1 103 Early Hints\r\nLink: <%s>\r\n\r\n' % (b'x' * 6000)) * 6)
		elif path.startswith('/stray100'):
			c.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
		else:
			c.sendall(EARLY)
		# The final head in a later read: the 103 must have gone on its own.
		time.sleep(0.6 if path.startswith('/slow') else 0.05)
		c.sendall(FINAL)


def raw(srv, path, version='1.1'):
	"""Every byte of the answer to one GET (Connection: close)."""
	c = et.RawConn(srv.port)
	try:
		c.send(('GET %s HTTP/%s\r\nHost: i.test\r\nConnection: close\r\n\r\n' %
			(path, version)).encode())
		return c.read_all()
	finally:
		c.close()


def heads(b):
	"""The heads in an HTTP/1 byte stream, up to the final one's."""
	out = []
	while b.startswith(b'HTTP/'):
		head, _, b = b.partition(b'\r\n\r\n')
		out.append(head.decode('latin-1'))
		if int(head.split(b' ', 2)[1]) >= 200:
			break
	return out


def delta(srv, c0, *names):
	c = srv.counters()
	return {k: c.get(k, 0) - c0.get(k, 0) for k in names}


def h1(ck, srv, o):
	c0 = srv.counters()
	b = raw(srv, '/eh/1')
	hs = heads(b)
	first = hs[0] if hs else ''
	ck.check('HTTP/1.1: the 103 comes first', first.startswith('HTTP/1.1 103 Early Hints\r\n'),
		 repr(b[:200]))
	ck.check('HTTP/1.1: the 103 keeps Link, drops Content-Length, Connection and X-Hop',
		 'Link: </style.css>; rel=preload' in first and 'Content-Length' not in first and
		 'Connection' not in first and 'X-Hop' not in first, repr(first))
	ck.check('HTTP/1.1: then the 200 (MISS) and its body',
		 len(hs) == 2 and hs[1].startswith('HTTP/1.1 200 OK') and 'X-Cache: MISS' in hs[1] and
		 b.endswith(b'\r\n\r\nhello'), repr(b))
	d = delta(srv, c0, 'origin_interim_forwarded')
	ck.check('counted origin_interim_forwarded +1 (%s)' % d, d['origin_interim_forwarded'] == 1)
	c0 = srv.counters()
	b = raw(srv, '/eh/1')
	ck.check('the next request: a HIT, no 103 (interim heads are never stored)',
		 b.startswith(b'HTTP/1.1 200 OK') and b'X-Cache: HIT' in b and b' 103 ' not in b,
		 repr(b))
	ck.check('the origin was asked once (%s)' % o.requests.count('/eh/1'),
		 o.requests.count('/eh/1') == 1)
	b = raw(srv, '/eh/2', '1.0')
	ck.check('HTTP/1.0: only the 200', b.startswith(b'HTTP/1.1 200 OK') and b' 103 ' not in b,
		 repr(b))
	b = raw(srv, '/stray100/1')
	ck.check('a stray 100 Continue from the origin is not forwarded',
		 b.startswith(b'HTTP/1.1 200 OK') and b'100 Continue' not in b, repr(b))
	d = delta(srv, c0, 'origin_interim_forwarded')
	ck.check('none of those counted origin_interim_forwarded (%s)' % d,
		 d['origin_interim_forwarded'] == 0)


def frame(ftype, flags, sid, payload=b''):
	return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
		struct.pack('>I', sid) + payload


def h2(ck, srv, o):
	# Raw frames: GET (static-table names, literal values), END_STREAM|END_HEADERS.
	lit = lambda idx, v: bytes([idx, len(v)]) + v  # noqa: E731
	block = b'\x82\x86' + lit(0x04, b'/eh/3') + lit(0x01, b'i.test')
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
	s.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
	s.sendall(frame(4, 0, 0) + frame(1, 0x5, 1, block))
	buf, frames = b'', []
	deadline = time.monotonic() + 5
	while time.monotonic() < deadline and not any(f[0] == 0 and f[1] & 1 for f in frames):
		s.settimeout(max(0.1, deadline - time.monotonic()))
		try:
			d = s.recv(65536)
		except socket.timeout:
			break
		if not d:
			break
		buf += d
		got, buf = et.h2_frames(buf)
		frames += got
	s.close()
	mine = [(t, fl) for t, fl, sid, _ in frames if sid == 1 and t in (0, 1)]
	# HEADERS (no END_STREAM) = the 103; HEADERS = the 200; DATA ... END_STREAM.
	ck.check('h2: stream 1 gets HEADERS, HEADERS, then DATA (%s)' % mine,
		 len(mine) >= 3 and mine[0][0] == 1 and not mine[0][1] & 1 and mine[1][0] == 1 and
		 all(t == 0 for t, _ in mine[2:]))
	rc, body, err = (lambda r: (r.returncode, r.stdout, r.stderr.decode('latin-1')))(
		subprocess.run(['curl', '-sS', '-v', '--http2-prior-knowledge', '-H', 'Host: i.test',
				srv.url('/eh/4')], capture_output=True, timeout=30))
	lines = [ln for ln in err.splitlines() if ln.startswith('< ')]
	i103 = next((i for i, ln in enumerate(lines) if ln.startswith('< HTTP/2 103')), -1)
	i200 = next((i for i, ln in enumerate(lines) if ln.startswith('< HTTP/2 200')), -1)
	ck.check('h2 (curl -v): :status 103 with link, then :status 200 and the body',
		 rc == 0 and 0 <= i103 < i200 and
		 any(ln.startswith('< link: </style.css>') for ln in lines[i103:i200]) and
		 body == b'hello', '%s %r %r' % (rc, lines, body))


def followers(ck, srv, o):
	out = {}

	def get(i):
		out[i] = raw(srv, '/slow/1')

	ts = [threading.Thread(target=get, args=(0,))]
	ts[0].start()
	time.sleep(0.25)                     # the leader's 103 is out, its 200 is not
	ts += [threading.Thread(target=get, args=(i,)) for i in (1, 2, 3)]
	for t in ts[1:]:
		t.start()
	for t in ts:
		t.join(15)
	ck.check('collapsing: one origin fetch (%d)' % o.requests.count('/slow/1'),
		 o.requests.count('/slow/1') == 1)
	ck.check('collapsing: the leader gets the 103, then the 200',
		 out.get(0, b'').startswith(b'HTTP/1.1 103 ') and b'HTTP/1.1 200 OK' in out[0],
		 repr(out.get(0)))
	ck.check('collapsing: followers get the 200 only',
		 all(out.get(i, b'').startswith(b'HTTP/1.1 200 OK') and out[i].endswith(b'hello')
		     for i in (1, 2, 3)), repr(out))


def hostile(ck, srv, o):
	for path, what in (('/many/1', '20 interim heads'), ('/fat/1', '6 of 6000 bytes')):
		c0 = srv.counters()
		b = raw(srv, path)
		hs = heads(b)
		ck.check('%s → 502 after the heads within the limits (%d heads)' % (what, len(hs)),
			 len(hs) >= 1 and hs[-1].startswith('HTTP/1.1 502') and
			 all(h.startswith('HTTP/1.1 103') for h in hs[:-1]), repr(b[-300:]))
		d = delta(srv, c0, 'origin_interim_excess', 'status_5xx')
		ck.check('%s: origin_interim_excess +1, status_5xx +1 (%s)' % (what, d),
			 d == {'origin_interim_excess': 1, 'status_5xx': 1})
		# Within the limit, each head is forwarded or, while an earlier
		# one still waits in the queue, dropped (head blocks are
		# budgeted per exchange): never more queued than the visitor got.
		d = delta(srv, c0, 'origin_interim_forwarded', 'origin_interim_dropped')
		n_ok = 8 if path.startswith('/many') else 5
		ck.check('%s: forwarded (%d, as many as the visitor got) + dropped = %d (%s)'
			 % (what, len(hs) - 1, n_ok, d),
			 d['origin_interim_forwarded'] == len(hs) - 1 and
			 d['origin_interim_forwarded'] + d['origin_interim_dropped'] == n_ok)


def main():
	o = Origin()
	zones = [et.zone('i', ['i.test'], [('a', o.url, {})])]
	srv = et.Edgecache(zones, cache={'path': os.path.join(et.tmpdir('interim'), 'c.dat'),
					 'size': '64m'}).start()
	ck = et.Checks()
	ck.run('h1', h1, ck, srv, o)
	ck.run('h2', h2, ck, srv, o)
	ck.run('followers', followers, ck, srv, o)
	ck.run('hostile', hostile, ck, srv, o)
	o.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
