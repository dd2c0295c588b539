#!/usr/bin/python3
"""Request desync through an early origin response (issue 16, finding 1).

An origin may answer before it has read the whole request body (nginx
does for `return` and for a POST to a static file: 405), and then reads
the rest of the body as its next request. If the edge put that origin
connection back in its keep-alive pool, the next visitor's request would
be read by the origin as body bytes, and whatever follows as a request
the edge never accepted: an attacker makes the origin answer `GET /A` to
another visitor's `GET /x`, and /x is cached with /A's bytes.

The rule under test: an origin connection is reused only when the whole
request (head and every body byte its framing announced) was sent and the
whole response read; an early final response stops the upload, closes that
origin connection and, for HTTP/1.1, the visitor's connection after the
response (counted: origin_early_responses, origin_conns_not_reused).

Each shape goes through the real binary in front of real nginx:
  - the exact repro (HTTP/1.1 POST with 10 of its 10+N body bytes, then a
    GET whose X-Pad header holds the smuggled request line);
  - HTTP/2 (h2c, frames by hand): DATA shorter than content-length, then
    END_STREAM, RST_STREAM, or a stall;
  - Expect: 100-continue with the body withheld;
  - a slow 1 MiB upload (100 KB/s) to a static file while another client's
    GETs use the same origin pool;
and, against the Python origin, uploads it reads whole keep their pooled
connection, and a visitor or an h2 stream that goes away mid-upload does
not leave one behind. The nginx origin's log must never show a request the edge
did not accept.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

FILES = {'x': 3000, 'A': 3100, 's.bin': 5000}
FILES.update({'g%d' % i: 2000 + i for i in range(30)})
PREFIX_BODY = b'0123456789'


class Origin:
	"""nginx: `return 200` for /a (answers a POST without reading its
	body), static files with Cache-Control elsewhere (a POST to one is an
	early 405). Log: "$connection $request $status"."""

	def __init__(self, cert, key):
		self.dir = et.tmpdir('desync-origin')
		self.port, self.tls_port = et.free_port(), et.free_port()
		self.root = os.path.join(self.dir, 'html')
		os.makedirs(self.root)
		for name, size in FILES.items():
			with open(os.path.join(self.root, name), 'wb') as f:
				f.write(et.det_bytes(name, size))
		self.access_log = os.path.join(self.dir, 'access.log')
		conf = os.path.join(self.dir, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(et.nginx_main_conf(self.dir) + '''
http {
	%s
	log_format conn '$connection $request $status';
	access_log %s conn;
	keepalive_requests 100000;
	keepalive_timeout 60s;
	server {
		listen 127.0.0.1:%d;
		listen 127.0.0.1:%d ssl;
		ssl_certificate %s;
		ssl_certificate_key %s;
		root %s;
		location = /a { return 200 "early answer\\n"; }
		location / { add_header Cache-Control "max-age=600"; }
	}
}
''' % (et.nginx_temp_paths(self.dir), self.access_log, self.port, self.tls_port, cert, key,
       self.root))
		self.proc = et.start_proc([et.NGINX, '-p', self.dir, '-c', conf],
					  os.path.join(self.dir, 'stderr.log'), signal.SIGQUIT)
		et.wait_port(self.port, self.proc, log=os.path.join(self.dir, 'error.log'))
		self.url = 'http://127.0.0.1:%d' % self.port
		self.host = '127.0.0.1:%d' % self.port
		self.tls_url = 'https://localhost:%d' % self.tls_port
		self.tls_host = 'localhost:%d' % self.tls_port

	def requests(self):
		"""[(method, target)] the origin answered, in log order."""
		out = []
		for ln in et.read_log(self.access_log):
			f = ln.split(' ')
			if len(f) >= 3:
				out.append((f[1], f[2]))
		return out


def content(name):
	return et.det_bytes(name, FILES[name])


def smuggle_prefix(host_header, target):
	"""The bytes of the edge's origin request for `GET target` (with the
	X-Pad header first) up to the X-Pad value: body bytes an origin still
	reading an earlier body swallows, so that the X-Pad value is read as
	its next request line."""
	return b'GET %s HTTP/1.1\r\nHost: %s\r\nX-Pad: ' % (target.encode(), host_header.encode())


def victim_get(srv, target, vhost):
	"""B's request: a plain GET whose X-Pad value is a request line."""
	c = srv.conn(timeout=8)
	try:
		c.send(b'GET %s HTTP/1.1\r\nHost: %s\r\nX-Pad: GET /A HTTP/1.0\r\n\r\n' %
		       (target.encode(), vhost.encode()))
		return c.read_response()
	finally:
		c.close()


def counters(srv):
	return srv.counters() if getattr(srv, 'has_counters', False) else None


def delta(c0, c1, name):
	return c1.get(name, 0) - c0.get(name, 0)


def check_victim(ck, srv, origin, label, target, log0, vhost='e'):
	"""B gets /x's bytes, a later GET (a HIT) too, and the origin saw no
	request the edge did not accept."""
	try:
		r = victim_get(srv, target, vhost)
		ok, detail = r.status == 200 and r.body == content('x'), repr(r)
	except (et.Closed, socket.timeout, OSError) as e:
		ok, detail = False, repr(e)
	ck.check('%s: the next visitor\'s GET %s gets /x\'s bytes' % (label, target), ok, detail)
	try:
		r = et.request(srv.port, 'GET', target, host=vhost, timeout=8)
		ok = r.status == 200 and r.body == content('x')
		ck.check('%s: a later GET %s (%s) still has /x\'s bytes' %
			 (label, target, r.header('x-cache')), ok, repr(r))
		if TARGET_IS_EDGE:
			ck.check('%s: that later GET is a HIT' % label, r.header('x-cache') == 'HIT',
				 repr(r.headers))
	except (et.Closed, socket.timeout, OSError) as e:
		ck.check('%s: a later GET %s still has /x\'s bytes' % (label, target), False, repr(e))
	time.sleep(0.3)                     # nginx logs after the response
	seen = origin.requests()[log0:]
	bad = [rq for rq in seen if rq[1] not in ('/a', '/s.bin', target) and
	       not rq[1].startswith('/g')]
	ck.check('%s: the origin saw only requests the edge accepted' % label, not bad,
		 'origin log: %r' % seen)


# ---- HTTP/1.1 ------------------------------------------------------------------

def check_h1_repro(ck, srv, origin, label, target, vhost, host_header):
	"""The exact repro: A's POST /a announces 10+N body bytes, sends 10 and
	stays open; nginx answers at once; 100 ms later B's GET."""
	n = len(smuggle_prefix(host_header, target))
	log0 = len(origin.requests())
	c0 = counters(srv)
	a = srv.conn(timeout=5)
	a.send(b'POST /a HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s' %
	       (vhost.encode(), len(PREFIX_BODY) + n, PREFIX_BODY))
	r = a.read_response()
	ck.check('%s: A gets the early answer' % label, r.status == 200 and r.body == b'early answer\n',
		 repr(r))
	if TARGET_IS_EDGE:
		ck.check('%s: A\'s response says Connection: close (its body was not read)' % label,
			 (r.header('connection') or '').lower() == 'close', repr(r.headers))
	time.sleep(0.1)
	check_victim(ck, srv, origin, label, target, log0, vhost)
	ck.check('%s: A\'s connection is closed after the response' % label, a.closed(4.0))
	a.close()
	if c0 is not None:
		c1 = counters(srv)
		ck.check('%s: counted (origin_early_responses +%d, origin_conns_not_reused +%d)' %
			 (label, delta(c0, c1, 'origin_early_responses'),
			  delta(c0, c1, 'origin_conns_not_reused')),
			 delta(c0, c1, 'origin_early_responses') == 1 and
			 delta(c0, c1, 'origin_conns_not_reused') == 1)


def check_expect(ck, srv, origin):
	"""Expect: 100-continue, then the body is withheld: the origin (which
	got the head without Expect) answers at once."""
	target = '/x?v=2'
	n = len(smuggle_prefix(origin.host, target))
	log0 = len(origin.requests())
	c0 = counters(srv)
	a = srv.conn(timeout=5)
	a.send(b'POST /a HTTP/1.1\r\nHost: e\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n'
	       % n)
	r = a.read_response()
	ck.check('expect: A gets the early answer', r.status == 200 and
		 r.body == b'early answer\n', repr(r))
	time.sleep(0.1)
	check_victim(ck, srv, origin, 'expect', target, log0)
	a.close()
	if c0 is not None:
		c1 = counters(srv)
		ck.check('expect: counted (origin_conns_not_reused +%d)' %
			 delta(c0, c1, 'origin_conns_not_reused'),
			 delta(c0, c1, 'origin_conns_not_reused') == 1)


def check_slow_upload(ck, srv, origin):
	"""No attacker: a 1 MiB upload at ~100 KB/s to a static file (nginx
	answers 405 at once) while another client's GETs share the origin
	pool: every GET gets its own bytes."""
	total = 1 << 20
	log0 = len(origin.requests())
	c0 = counters(srv)
	got405, stop = [None], threading.Event()

	def uploader():
		try:
			s = et.RawConn(srv.port, timeout=15)
		except OSError as e:
			got405[0] = repr(e)
			return
		try:
			s.send(b'POST /s.bin HTTP/1.1\r\nHost: e\r\nContent-Length: %d\r\n\r\n' % total)
			sent, piece = 0, b'u' * 10240
			t = threading.Thread(target=lambda: got405.__setitem__(0, s.read_response()))
			t.start()
			deadline = time.monotonic() + 12
			while sent < total and not stop.is_set() and time.monotonic() < deadline:
				s.send(piece[:total - sent])
				sent += min(len(piece), total - sent)
				time.sleep(0.1)
			t.join(10)
		except (OSError, et.Closed):
			pass                        # the edge may close it after the 405
		finally:
			s.close()

	t = threading.Thread(target=uploader)
	t.start()
	bad = []
	try:
		time.sleep(0.3)                 # the 405 is back, the upload goes on
		for i in range(20):
			name = 'g%d' % i
			try:
				r = et.request(srv.port, 'GET', '/' + name, host='e', timeout=5)
				if r.status != 200 or r.body != content(name):
					bad.append('%s: %r' % (name, r))
			except (et.Closed, socket.timeout, OSError) as e:
				bad.append('%s: %r' % (name, e))
			time.sleep(0.1)
	finally:
		stop.set()
		t.join(20)
	r = got405[0]
	ck.check('slow upload: the uploader gets nginx\'s early 405',
		 isinstance(r, et.Response) and r.status == 405, repr(r))
	ck.check('slow upload: 20 GETs beside it each get their own bytes', not bad,
		 '; '.join(bad[:3]))
	time.sleep(0.3)
	seen = origin.requests()[log0:]
	want = {('POST', '/s.bin')} | {('GET', '/g%d' % i) for i in range(20)}
	ck.check('slow upload: the origin saw only the requests the edge accepted',
		 set(seen) <= want and len(seen) == 21, repr(seen))
	if c0 is not None:
		c1 = counters(srv)
		ck.check('slow upload: counted (origin_early_responses +%d)' %
			 delta(c0, c1, 'origin_early_responses'),
			 delta(c0, c1, 'origin_early_responses') == 1)


# ---- HTTP/2 ----------------------------------------------------------------------

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, RST, SETTINGS, GOAWAY = 0, 1, 3, 4, 7
END_STREAM, END_HEADERS = 1, 4


def frame(ftype, flags, sid, payload=b''):
	return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
		struct.pack('>I', sid) + payload


def hpack_post(path, length, authority='e'):
	"""POST, http, path, authority, content-length; literals never indexed
	(static-table names by index, content-length by name)."""
	lit = lambda idx, v: bytes([idx, len(v)]) + v  # noqa: E731
	cl = str(length).encode()
	return b'\x83\x86' + lit(0x04, path.encode()) + lit(0x01, authority.encode()) + \
		b'\x00' + bytes([14]) + b'content-length' + bytes([len(cl)]) + cl


def hpack_get(path, authority='e'):
	lit = lambda idx, v: bytes([idx, len(v)]) + v  # noqa: E731
	return b'\x82\x86' + lit(0x04, path.encode()) + lit(0x01, authority.encode())


class Frames:
	"""Reads frames from a socket until a condition or a deadline."""

	def __init__(self, sock):
		self.sock, self.buf, self.got, self.eof = sock, b'', [], False

	def until(self, pred, timeout):
		deadline = time.monotonic() + timeout
		while not pred(self.got) and not self.eof and time.monotonic() < deadline:
			self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
			try:
				d = self.sock.recv(65536)
			except socket.timeout:
				continue
			except OSError:
				d = b''
			if not d:
				self.eof = True
				break
			self.buf += d
			while len(self.buf) >= 9:
				n = int.from_bytes(self.buf[:3], 'big')
				if len(self.buf) < 9 + n:
					break
				self.got.append((self.buf[3], self.buf[4],
						 int.from_bytes(self.buf[5:9], 'big') & 0x7fffffff,
						 self.buf[9:9 + n]))
				self.buf = self.buf[9 + n:]
		return pred(self.got)


def stream_ended(sid):
	return lambda got: any(f[2] == sid and (f[0] == RST or (f[0] in (DATA, HEADERS) and
								  f[1] & END_STREAM)) for f in got)


def check_h2(ck, srv, origin, mode, target):
	"""h2c: POST /a with content-length 10+N and one DATA frame of 10 bytes;
	nginx answers at once; then END_STREAM (short body), RST_STREAM, or
	nothing (a stall); 100 ms later B's GET over HTTP/1.1."""
	label = 'h2 %s' % mode
	n = len(smuggle_prefix(origin.host, target))
	log0 = len(origin.requests())
	c0 = counters(srv)
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	try:
		s.sendall(PREFACE + frame(SETTINGS, 0, 0) +
			  frame(HEADERS, END_HEADERS, 1, hpack_post('/a', len(PREFIX_BODY) + n)) +
			  frame(DATA, 0, 1, PREFIX_BODY))
		fr = Frames(s)
		fr.until(stream_ended(1), 5.0)
		body = b''.join(f[3] for f in fr.got if f[0] == DATA and f[2] == 1)
		ck.check('%s: the stream gets the early answer' % label, body == b'early answer\n',
			 repr(fr.got[-4:])[:300])
		try:
			if mode == 'end_stream':
				s.sendall(frame(DATA, END_STREAM, 1, b''))
			elif mode == 'rst':
				s.sendall(frame(RST, 0, 1, struct.pack('>I', 8)))
		except OSError:
			pass
		time.sleep(0.1)
		check_victim(ck, srv, origin, label, target, log0)
		if mode == 'stall':
			# The rest of the body comes late: dropped (HTTP/2 frames
			# it), and the connection goes on with its next stream.
			s.sendall(frame(DATA, END_STREAM, 1, b'z' * n) +
				  frame(HEADERS, END_STREAM | END_HEADERS, 3, hpack_get('/g29')))
			fr.until(stream_ended(3), 5.0)
			body = b''.join(f[3] for f in fr.got if f[0] == DATA and f[2] == 3)
			ck.check('%s: the late rest of the body is dropped, the next stream is served'
				 % label, body == content('g29'), repr(fr.got[-4:])[:300])
	finally:
		s.close()
	if c0 is not None:
		c1 = counters(srv)
		ck.check('%s: counted (origin_conns_not_reused +%d)' %
			 (label, delta(c0, c1, 'origin_conns_not_reused')),
			 delta(c0, c1, 'origin_conns_not_reused') == 1)


# ---- visitors that go away mid-upload (Python origin) ---------------------------

def check_reuse_kept(ck, srv):
	"""No false alarm: uploads the origin reads whole before it answers
	(pyorigin echoes them), by length and chunked, and GETs keep their
	origin connection."""
	c0 = counters(srv)
	c = srv.conn(timeout=10)
	bad = []
	try:
		for i in range(40):
			body = et.det_bytes('up', 1000 * (i + 1))
			if i % 4 == 3:
				c.send(et.build('GET', '/files/%d' % (10 + i), host='p'))
				want = et.det_bytes('pyorigin', 10 + i)
			elif i % 4 == 2:
				c.send(et.build('POST', '/echo', host='p',
						headers=[('Transfer-Encoding', 'chunked')]) + et.chunk(body, 700))
				want = body
			else:
				c.send(et.build('PUT', '/echo', host='p', body=body))
				want = body
			r = c.read_response()
			if r.status != 200 or r.body != want:
				bad.append('%d: %r' % (i, r))
	finally:
		c.close()
	ck.check('40 uploads and GETs on one connection, byte-exact', not bad, '; '.join(bad[:3]))
	if c0 is not None:
		c1 = counters(srv)
		d = {k: delta(c0, c1, k) for k in ('origin_early_responses', 'origin_conns_not_reused',
						   'origin_reuses', 'origin_connects')}
		ck.check('uploads read whole keep their origin connection (%r)' % d,
			 d['origin_early_responses'] == 0 and d['origin_conns_not_reused'] == 0 and
			 d['origin_reuses'] >= 39 and d['origin_connects'] <= 1)

def check_cl0(ck, srv, py):
	"""CL.0: an origin that ignores the body of a GET (pyorigin's /files
	does, as many static handlers do) reads it as the start of its next
	request. The edge sent the whole request and read the whole response,
	yet that origin connection must not be reused: the next visitor's GET
	would complete the smuggled head and get /files/33."""
	smug = b'GET /files/33 HTTP/1.1\r\nX-Pad: '
	n0 = len(py.log())
	a = srv.conn(timeout=5)
	try:
		a.send(b'GET /files/7 HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n' % len(smug) +
		       smug)
		r = a.read_response()
	finally:
		a.close()
	ck.check('CL.0: a GET with a body is answered (%r)' % r,
		 r.status == 200 and r.body == et.det_bytes('pyorigin', 7))
	time.sleep(0.2)
	bad = []
	for i in range(3):
		try:
			v = et.request(srv.port, 'GET', '/files/%d' % (120 + i), host='p', timeout=6)
			if v.status != 200 or v.body != et.det_bytes('pyorigin', 120 + i):
				bad.append(repr(v))
		except (et.Closed, socket.timeout, OSError) as e:
			bad.append(repr(e))
	ck.check('CL.0: the next GETs get their own bytes', not bad, '; '.join(bad))
	seen = [e for e in py.log()[n0:] if '/files/33' in e[2]]
	ck.check('CL.0: the origin never saw the smuggled /files/33', not seen, repr(seen))


def check_gone_midupload(ck, py):
	"""A visitor that disconnects mid-upload, and an h2 stream reset
	mid-upload: the origin connection is not reused (the origin would
	read the next request as body); the next GETs get their own bytes."""
	srv = et.server([et.zone('p', ['p', '*'], [('o', py.url, {'read_timeout_ms': 3000})])])
	srv.start()
	try:
		check_reuse_kept(ck, srv)
		check_cl0(ck, srv, py)
		for how in ('close', 'h2 rst'):
			if how == 'close':
				a = srv.conn(timeout=5)
				a.send(b'POST /echo HTTP/1.1\r\nHost: p\r\nContent-Length: 100000\r\n\r\n' +
				       b'v' * 5000)
				time.sleep(0.3)
				a.close()
			else:
				s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
				s.sendall(PREFACE + frame(SETTINGS, 0, 0) +
					  frame(HEADERS, END_HEADERS, 1, hpack_post('/echo', 100000, 'p')) +
					  frame(DATA, 0, 1, b'v' * 5000))
				time.sleep(0.3)
				s.sendall(frame(RST, 0, 1, struct.pack('>I', 8)))
				time.sleep(0.2)
				s.close()
			time.sleep(0.2)
			bad = []
			for i in range(3):
				try:
					r = et.request(srv.port, 'GET', '/files/%d' % (100 + i), host='p',
						       timeout=6)
					if r.status != 200 or r.body != et.det_bytes('pyorigin', 100 + i):
						bad.append(repr(r))
				except (et.Closed, socket.timeout, OSError) as e:
					bad.append(repr(e))
			ck.check('visitor gone mid-upload (%s): the next GETs get their own bytes' % how,
				 not bad, '; '.join(bad))
	finally:
		ck.check('python-origin server exits 0 on SIGTERM', srv.stop() == 0)


TARGET_IS_EDGE = et.TARGET == 'edgecache'


def main():
	d = et.tmpdir('desync')
	ca, cert, key = et.make_test_ca(d)
	origin = Origin(cert, key)
	ck = et.Checks()
	kw = {'cache': {'path': os.path.join(d, 'cache.dat'), 'size': '64m',
			'chunk_size': '4m'}} if TARGET_IS_EDGE else {}
	zones = [et.zone('e', ['e', '*'], [('o', origin.url, {'read_timeout_ms': 3000})])]
	if TARGET_IS_EDGE:
		zones.append(et.zone('s', ['s'], [('o', origin.tls_url, {'ca_file': ca})]))
	srv = et.server(zones, **kw)
	srv.start()
	ck.run('HTTP/1.1: early answer to a POST, smuggled GET', check_h1_repro, ck, srv, origin,
	       'h1', '/x?v=1', 'e', origin.host)
	if TARGET_IS_EDGE:
		ck.run('HTTP/1.1 to an https origin: the same', check_h1_repro, ck, srv, origin,
		       'h1 https origin', '/x?v=3', 's', origin.tls_host)
	ck.run('Expect: 100-continue, body withheld', check_expect, ck, srv, origin)
	for i, mode in enumerate(('end_stream', 'rst', 'stall')):
		ck.run('HTTP/2: DATA short of content-length, then %s' % mode, check_h2, ck, srv,
		       origin, mode, '/x?v=%d' % (10 + i))
	ck.run('slow upload to a static file beside GETs', check_slow_upload, ck, srv, origin)
	c = counters(srv)
	if c is not None:
		ck.check('no visitor slot left behind (conns_open %d)' % c['conns_open'],
			 c['conns_open'] == 0)
	ck.check('server exits 0 on SIGTERM', srv.stop() == 0)
	py = et.PyOrigin()
	ck.run('visitors gone mid-upload', check_gone_midupload, ck, py)
	py.stop()
	ck.finish()


if __name__ == '__main__':
	main()
