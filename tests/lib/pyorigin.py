#!/usr/bin/python3
"""tests/lib/pyorigin.py — a tiny HTTP/1.1 origin that misbehaves on purpose.

Owns: one listening socket on 127.0.0.1 and a thread per connection.
Called by: edgetest.PyOrigin (started as its own process so the test's own
timing is not disturbed by this server's GIL), never imported by tests.
Never: listens beyond loopback, runs unbounded (--max-seconds).

Paths (keep-alive unless said):
  /files/N            N deterministic bytes (edgetest.det_bytes('pyorigin', N))
  /sleep/MS[/...]     sleep MS before the response head, then 200 "slept\n"
  /close-after/N/T    Content-Length T, send N bytes, then close
  /chunked/N          N deterministic bytes as chunks of 1000
  /chunked-close/N    chunked, N bytes of chunks, close without the 0-chunk
  /reset              close with RST (SO_LINGER 0) before any response
  /status/CODE        that status, body "status CODE\n"
  /ccslow/MS/CC/N     /cc/CC/N after sleeping MS ms
  /ccdrip/MS/CC/N     /cc/CC/N whose second half of body comes MS ms later
  /cc/CC/N[/tag]      N bytes with Cache-Control CC ('_' for space, '-' none),
                      ETag "tag-N" (or "v-N") and a Last-Modified; a matching
                      If-None-Match gets 304
  /ranged/V/N         N bytes honouring one "Range: bytes=a-b" / "a-" (206 +
                      Content-Range); V says the validator: etag (ETag "r-N"),
                      weak (W/"r-N"), none (neither ETag nor Last-Modified)
  /ccfail/CC/N        /cc/CC/N, but a conditional request (If-None-Match)
                      gets 503: a revalidation that fails
  /ccnew/CC/N         /cc/CC/N, but a conditional request gets /cc/CC/N/new
                      (a 200 with new bytes and ETag): the object changed
  /vary/NAMES/CC/N    N bytes that depend on the request's values of the
                      header fields NAMES (comma-separated; '-': the names
                      the request's X-Set-Vary lists), with Vary: NAMES,
                      Cache-Control CC, an ETag per variant (a matching
                      If-None-Match gets 304) and Content-Encoding: gzip
                      when those values name gzip; logged as
                      TARGET#VALUES (values joined by '|', absent = '-',
                      spaces as '_')
  .../echohead/CC/... the request head exactly as received (request line,
                      fields, blank line) as the body, Cache-Control CC ('_'
                      for space, '-' none); any path segments may come before
                      it (a base_path, an S3 bucket). A POST/PUT reads its
                      body and appends "--body--\n" and the body.
  POST/PUT any path   echo the request body (Content-Length or chunked,
                      de-chunked) with Content-Length; X-Echo-Framing says
                      which framing the request used
Log: one line per request, "CONNID METHOD TARGET STATUS" (as the nginx
origin's "$connection $request $status"), flushed at once.
"""
import argparse
import random
import socket
import struct
import sys
import threading
import time
import zlib

MAX_HEAD = 65536


def det_bytes(name, n):
	"""Same generator as edgetest.det_bytes: content depends on name and size."""
	return random.Random('%s:%d' % (name, n)).randbytes(n)


class Conn:
	def __init__(self, sock, connid, log):
		self.sock = sock
		self.connid = connid
		self.log = log
		self.buf = b''

	def read_until(self, marker):
		while marker not in self.buf:
			if len(self.buf) > MAX_HEAD:
				raise ValueError('head too large')
			d = self.sock.recv(65536)
			if not d:
				raise EOFError
			self.buf += d
		i = self.buf.index(marker) + len(marker)
		out, self.buf = self.buf[:i], self.buf[i:]
		return out

	def read_n(self, n):
		while len(self.buf) < n:
			d = self.sock.recv(min(1 << 20, n - len(self.buf) + 65536))
			if not d:
				raise EOFError
			self.buf += d
		out, self.buf = self.buf[:n], self.buf[n:]
		return out

	def read_chunked(self):
		body = []
		while True:
			line = self.read_until(b'\r\n')
			size = int(line.split(b';')[0].strip(), 16)
			if size == 0:
				while self.read_until(b'\r\n') != b'\r\n':
					pass
				return b''.join(body)
			body.append(self.read_n(size))
			self.read_n(2)

	def send_head(self, status, headers, reason='X'):
		lines = ['HTTP/1.1 %d %s' % (status, reason)]
		lines += ['%s: %s' % kv for kv in headers]
		self.sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())

	def logline(self, method, target, status):
		self.log.write('%d %s %s %d\n' % (self.connid, method, target, status))
		self.log.flush()


def serve_one(c, method, target, hdrs):
	"""Answer one request; returns False when the connection must end."""
	parts = target.split('?')[0].strip('/').split('/')
	head = method == 'HEAD'
	if 'echohead' in parts:
		cc = parts[parts.index('echohead') + 1:][:1] or ['-']
		body = c.head
		if method in ('POST', 'PUT'):
			if 'chunked' in hdrs.get('transfer-encoding', ''):
				body += b'--body--\n' + c.read_chunked()
			else:
				body += b'--body--\n' + c.read_n(int(hdrs.get('content-length', '0')))
		out = [('Content-Length', len(body)), ('Content-Type', 'text/plain')]
		if cc[0] != '-':
			out.append(('Cache-Control', cc[0].replace('_', ' ')))
		c.send_head(200, out)
		if not head:
			c.sock.sendall(body)
		c.logline(method, target, 200)
		return True
	if method in ('POST', 'PUT'):
		if 'chunked' in hdrs.get('transfer-encoding', ''):
			body, framing = c.read_chunked(), 'chunked'
		else:
			body, framing = c.read_n(int(hdrs.get('content-length', '0'))), 'length'
		c.send_head(200, [('Content-Length', len(body)), ('X-Echo-Framing', framing),
				  ('X-Echo-Method', method)])
		c.sock.sendall(body)
		c.logline(method, target, 200)
		return True
	if parts[0] == 'sleep':
		time.sleep(int(parts[1]) / 1000.0)
		body = b'slept\n'
	elif parts[0] == 'files':
		body = det_bytes('pyorigin', int(parts[1]))
	elif parts[0] == 'status':
		code = int(parts[1])
		body = ('status %d\n' % code).encode()
		c.send_head(code, [('Content-Length', len(body)), ('Content-Type', 'text/plain')])
		if not head:
			c.sock.sendall(body)
		c.logline(method, target, code)
		return True
	elif parts[0] == 'close-after':
		n, total = int(parts[1]), int(parts[2])
		c.send_head(200, [('Content-Length', total)])
		c.sock.sendall(det_bytes('pyorigin', total)[:n])
		c.logline(method, target, 200)
		time.sleep(0.05)
		return False
	elif parts[0] in ('chunked', 'chunked-close'):
		n = int(parts[1])
		data = det_bytes('pyorigin', n)
		c.send_head(200, [('Transfer-Encoding', 'chunked')])
		for i in range(0, n, 1000):
			piece = data[i:i + 1000]
			c.sock.sendall(b'%x\r\n%s\r\n' % (len(piece), piece))
		c.logline(method, target, 200)
		if parts[0] == 'chunked-close':
			time.sleep(0.05)
			return False
		c.sock.sendall(b'0\r\n\r\n')
		return True
	elif parts[0] == 'ccslow':
		# /ccslow/MS/CC/N: like /cc/CC/N after MS of silence (a fetch that
		# takes a while, for collapsing).
		time.sleep(int(parts[1]) / 1000.0)
		return serve_one(c, method, '/cc/' + '/'.join(parts[2:]), hdrs)
	elif parts[0] == 'ccdrip':
		# /ccdrip/MS/CC/N: like /cc/CC/N, but the body's second half comes
		# MS after the head and first half (a fill still in flight).
		ms, cc, n = int(parts[1]), parts[2].replace('_', ' '), int(parts[3])
		body = det_bytes('pyorigin', n)
		out = [('Content-Length', len(body)), ('ETag', '"v-%d"' % n)]
		if cc != '-':
			out.append(('Cache-Control', cc))
		c.send_head(200, out)
		c.sock.sendall(body[:n // 2])
		time.sleep(ms / 1000.0)
		c.sock.sendall(body[n // 2:])
		c.logline(method, target, 200)
		return True
	elif parts[0] == 'cc':
		# /cc/CACHE-CONTROL/N[/tag]: N bytes with that Cache-Control ('-'
		# for none), a strong ETag and a Last-Modified; the content (and
		# ETag) change with the optional tag.
		cc, n = parts[1].replace('_', ' '), int(parts[2])
		tag = parts[3] if len(parts) > 3 else ''
		body = det_bytes('pyorigin' + tag, n)
		etag = '"%s-%d"' % (tag or 'v', n)
		out = [('ETag', etag), ('Last-Modified', 'Sat, 01 Jan 2022 00:00:00 GMT')]
		if cc != '-':
			out.append(('Cache-Control', cc))
		if hdrs.get('if-none-match') == etag:     # a revalidation that matches
			c.send_head(304, out)
			c.logline(method, target, 304)
			return True
		c.send_head(200, [('Content-Length', len(body))] + out)
		if not head:
			c.sock.sendall(body)
		c.logline(method, target, 200)
		return True
	elif parts[0] == 'ranged':
		n = int(parts[2])
		body = det_bytes('pyorigin', n)
		out = {'etag': [('ETag', '"r-%d"' % n)], 'weak': [('ETag', 'W/"r-%d"' % n)],
		       'none': []}[parts[1]]
		status, rng = 200, hdrs.get('range', '')
		if rng.startswith('bytes=') and ',' not in rng and not rng[6:].startswith('-'):
			a, _, b = rng[6:].partition('-')
			first, last = int(a), min(int(b) if b else n - 1, n - 1)
			if first >= n:
				c.send_head(416, [('Content-Range', 'bytes */%d' % n), ('Content-Length', 0)])
				c.logline(method, target, 416)
				return True
			status, body = 206, body[first:last + 1]
			out.append(('Content-Range', 'bytes %d-%d/%d' % (first, last, n)))
		c.send_head(status, [('Content-Length', len(body))] + out)
		if not head:
			c.sock.sendall(body)
		c.logline(method, target, status)
		return True
	elif parts[0] == 'ccfail':
		if 'if-none-match' in hdrs:
			body = b'down\n'
			c.send_head(503, [('Content-Length', len(body))])
			c.sock.sendall(body)
			c.logline(method, target, 503)
			return True
		return serve_one(c, method, '/cc/' + '/'.join(parts[1:]), hdrs)
	elif parts[0] == 'ccnew':
		tail = '/new' if 'if-none-match' in hdrs else ''
		return serve_one(c, method, '/cc/' + '/'.join(parts[1:]) + tail, hdrs)
	elif parts[0] == 'vary':
		names = parts[1] if parts[1] != '-' else hdrs.get('x-set-vary', '')
		cc, n = parts[2].replace('_', ' '), int(parts[3])
		fields = [f.strip().lower() for f in names.split(',') if f.strip()]
		values = '|'.join(hdrs.get(f, '-') for f in fields)
		body = det_bytes('pyorigin-vary|' + values, n)
		etag = '"%08x-%d"' % (zlib.crc32(values.encode()), n)
		out = [('Vary', names), ('ETag', etag), ('Cache-Control', cc),
		       ('X-Variant', values or '-')]
		if 'gzip' in values:
			out.append(('Content-Encoding', 'gzip'))
		if hdrs.get('if-none-match') == etag:
			c.send_head(304, out)
			c.logline(method, target + '#' + values.replace(' ', '_'), 304)
			return True
		c.send_head(200, [('Content-Length', len(body))] + out)
		if not head:
			c.sock.sendall(body)
		c.logline(method, target + '#' + values.replace(' ', '_'), 200)
		return True
	elif parts[0] == 'switch':
		# a 101 nobody asked for, then a cacheable response: a broken origin
		c.send_head(101, [('Upgrade', 'x'), ('Connection', 'upgrade')])
		body = b'POISON'
		c.send_head(200, [('Content-Length', len(body)), ('Cache-Control', 'max-age=600')])
		c.sock.sendall(body)
		c.logline(method, target, 101)
		return False
	elif parts[0] == 'reset':
		c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
		c.logline(method, target, 0)
		return False
	else:
		body = b'not found\n'
		c.send_head(404, [('Content-Length', len(body))])
		c.sock.sendall(body)
		c.logline(method, target, 404)
		return True
	c.send_head(200, [('Content-Length', len(body)), ('Content-Type', 'application/octet-stream')])
	if not head:
		c.sock.sendall(body)
	c.logline(method, target, 200)
	return True


def handle(sock, connid, log):
	c = Conn(sock, connid, log)
	try:
		while True:
			c.head = c.read_until(b'\r\n\r\n')
			head = c.head.decode('latin-1')
			lines = head.split('\r\n')
			method, target, _ = lines[0].split(' ', 2)
			hdrs = {}
			for line in lines[1:]:
				if ':' in line:
					k, v = line.split(':', 1)
					hdrs[k.strip().lower()] = v.strip()
			if not serve_one(c, method, target, hdrs):
				break
			if hdrs.get('connection', '').lower() == 'close':
				break
	except (EOFError, OSError, ValueError):
		pass
	finally:
		sock.close()


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument('--port', type=int, required=True)
	ap.add_argument('--log', required=True)
	ap.add_argument('--max-seconds', type=float, default=600)
	a = ap.parse_args()
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(('127.0.0.1', a.port))
	ls.listen(1024)
	ls.settimeout(0.5)
	log = open(a.log, 'a')
	deadline = time.monotonic() + a.max_seconds
	connid = 0
	while time.monotonic() < deadline:
		try:
			s, _ = ls.accept()
		except socket.timeout:
			continue
		s.settimeout(60)
		connid += 1
		threading.Thread(target=handle, args=(s, connid, log), daemon=True).start()
	sys.exit(0)


if __name__ == '__main__':
	main()
