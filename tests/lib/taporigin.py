#!/usr/bin/python3
"""tests/lib/taporigin.py — an origin that records every byte it receives.

Owns: one listening socket on 127.0.0.1, a thread per connection, and a
log directory: conn-N.bin (every byte connection N received, in order,
appended as it arrives) and events.jsonl (one JSON object per line: a
request parsed, a parse error, an EOF).
Called by: test_smuggling.py through TapOrigin (own process, so the
test's timing is not the GIL's), which also imports parse_head /
parse_chunked to judge bytes the same way.
Never: listens beyond loopback, accepts what RFC 9112 does not (it is the
strict reader a smuggling test needs: any byte the edge forwards that a
strict origin would read differently is an error here), runs unbounded
(--max-seconds).

Answers (keep-alive): 200, Cache-Control: no-store, and a body naming the
request it saw: "METHOD TARGET BODYLEN SHA256[:16]\n". Paths:
  /early/...      the answer goes out as soon as the head is parsed, before
                  the body is read (the body is then read and discarded,
                  as nginx does), body "early METHOD TARGET\n"
  /continue/...   an unsolicited "100 Continue" before reading the body
  /close/...      the answer says Connection: close, then the tap closes
  /drop/...       no answer: the tap closes once it read the request
  /s204/..., /s304/...  that status and no body (the 304 with the
                  Content-Length a 200 would have: framing that must not be
                  read as a body)
A parse error is logged, answered 400 and the connection closed.

Events: {"conn", "seq", "start", "head_end", "end", "method", "target",
"headers": [[name, value]...], "body_len", "body_sha", "early"} with byte
offsets into conn-N.bin; a body cut by EOF has "partial": true and end
null. {"conn", "error", "at"}; {"conn", "eof": total bytes}.
"""
import argparse
import hashlib
import json
import os
import re
import socket
import threading
import time

MAX_HEAD = 65536
TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# The target may hold raw bytes >= 0x80 (as nginx reads them): the edge
# passes UTF-8 paths on as they came.
REQ_LINE = re.compile(rb'(' + TCHAR + rb'+) ([\x21-\x7e\x80-\xff]+) HTTP/1\.1\r\n')
FIELD = re.compile(rb'(' + TCHAR + rb'+):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?)[ \t]*\r\n')
CHUNK_EXT = re.compile(rb'(?:[ \t]*;[ \t]*' + TCHAR + rb'+(?:[ \t]*=[ \t]*(?:' + TCHAR +
		       rb'+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*')


class Bad(Exception):
	"""Bytes a strict HTTP/1.1 reader refuses."""


def parse_head(buf, pos):
	"""A request head at buf[pos:]: None if incomplete, else (method,
	target, [(name, value)], head_end). Raises Bad."""
	end = buf.find(b'\r\n\r\n', pos)
	if end < 0:
		if len(buf) - pos > MAX_HEAD:
			raise Bad('head over %d bytes' % MAX_HEAD)
		# A bare LF / bare CR is an error as soon as it is seen.
		_no_bare(buf[pos:])
		return None
	head = buf[pos:end + 2]
	m = REQ_LINE.match(head)
	if not m:
		raise Bad('request line %r' % bytes(head[:80]))
	p, fields = m.end(), []
	while p < len(head):
		f = FIELD.match(head, p)
		if not f:
			raise Bad('field line %r' % bytes(head[p:p + 80]))
		fields.append((f.group(1).decode('latin-1'), f.group(2).decode('latin-1')))
		p = f.end()
	_framing(fields)
	return m.group(1).decode(), m.group(2).decode('latin-1'), fields, end + 4


def _no_bare(b):
	for i, c in enumerate(b):
		if c == 0x0a and (i == 0 or b[i - 1] != 0x0d):
			raise Bad('bare LF')
		if c == 0x0d and i + 1 < len(b) and b[i + 1] != 0x0a:
			raise Bad('bare CR')


def _framing(fields):
	low = [(k.lower(), v) for k, v in fields]
	if sum(k == 'host' for k, _ in low) != 1:
		raise Bad('Host fields: %d' % sum(k == 'host' for k, _ in low))
	cl = [v for k, v in low if k == 'content-length']
	te = [v for k, v in low if k == 'transfer-encoding']
	if len(cl) > 1 or len(te) > 1 or (cl and te):
		raise Bad('framing fields CL=%r TE=%r' % (cl, te))
	if cl and not re.fullmatch(r'[0-9]{1,18}', cl[0]):
		raise Bad('Content-Length %r' % cl[0])
	if te and te[0] != 'chunked':
		raise Bad('Transfer-Encoding %r' % te[0])


def body_framing(fields):
	"""('length', n) or ('chunked', None)."""
	for k, v in fields:
		if k.lower() == 'transfer-encoding':
			return 'chunked', None
		if k.lower() == 'content-length':
			return 'length', int(v)
	return 'length', 0


def parse_chunked(buf, pos):
	"""A chunked body at buf[pos:]: None if incomplete, else (body, end).
	Raises Bad."""
	parts = []
	while True:
		le = buf.find(b'\r\n', pos)
		if le < 0:
			_no_bare(buf[pos:])
			if len(buf) - pos > 4096:
				raise Bad('chunk size line over 4096 bytes')
			return None
		line = buf[pos:le]
		m = re.match(rb'[0-9A-Fa-f]+', line)
		if not m or CHUNK_EXT.fullmatch(line, m.end()) is None or int(m.group(0), 16) >= 1 << 63:
			raise Bad('chunk size line %r' % bytes(line[:80]))
		size = int(m.group(0), 16)
		pos = le + 2
		if size == 0:
			break
		if len(buf) < pos + size + 2:
			return None
		parts.append(buf[pos:pos + size])
		if buf[pos + size:pos + size + 2] != b'\r\n':
			raise Bad('no CRLF after chunk data: %r' % bytes(buf[pos + size:pos + size + 2]))
		pos += size + 2
	while True:      # trailer section
		le = buf.find(b'\r\n', pos)
		if le < 0:
			_no_bare(buf[pos:])
			return None
		if le == pos:
			return b''.join(parts), le + 2
		if not FIELD.fullmatch(buf[pos:le + 2]):
			raise Bad('trailer line %r' % bytes(buf[pos:le][:80]))
		pos = le + 2


class Tap:
	def __init__(self, logdir):
		self.dir = logdir
		self.lock = threading.Lock()
		self.next_id = 0
		self.events = open(os.path.join(logdir, 'events.jsonl'), 'a')

	def event(self, ev):
		with self.lock:
			self.events.write(json.dumps(ev) + '\n')
			self.events.flush()

	def serve(self, sock):
		with self.lock:
			self.next_id += 1
			cid = self.next_id
		Conn(self, sock, cid).run()


class Conn:
	def __init__(self, tap, sock, cid):
		self.tap, self.sock, self.id = tap, sock, cid
		self.buf = bytearray()
		self.raw = open(os.path.join(tap.dir, 'conn-%d.bin' % cid), 'ab')
		self.eof = False
		self.seq = 0

	def fill(self):
		"""Read more; False at EOF."""
		if self.eof:
			return False
		try:
			d = self.sock.recv(65536)
		except OSError:
			d = b''
		if not d:
			self.eof = True
			self.tap.event({'conn': self.id, 'eof': len(self.buf)})
			return False
		self.raw.write(d)
		self.raw.flush()
		self.buf += d
		return True

	def until(self, fn):
		"""fn(buf) until it is not None; None at EOF."""
		while True:
			r = fn(self.buf)        # no copy: a body may be large
			if r is not None:
				return r
			if not self.fill():
				return None

	def send(self, data):
		try:
			self.sock.sendall(data)
		except OSError:
			pass

	def answer(self, status, body, close=False, method=''):
		self.send(b'HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n'
			  b'X-Tap-Conn: %d\r\nContent-Length: %d\r\n%s\r\n%s' %
			  (status, self.id, len(body), b'Connection: close\r\n' if close else b'',
			   b'' if method == 'HEAD' else body))

	def run(self):
		pos = 0
		try:
			while True:
				if pos == len(self.buf) and not self.fill():
					return
				pos = self.one(pos)
				if pos is None:
					return
		except Bad as e:
			self.tap.event({'conn': self.id, 'error': str(e), 'at': pos})
			self.answer(400, b'tap: %s\n' % str(e).encode('latin-1', 'replace'), close=True)
		finally:
			self.raw.close()
			self.sock.close()

	def one(self, pos):
		"""One request from pos; returns where the next starts (None: EOF)."""
		head = self.until(lambda b: parse_head(b, pos))
		if head is None:
			if pos < len(self.buf):
				self.tap.event({'conn': self.id, 'error': 'EOF in a head', 'at': pos})
			return None
		method, target, fields, head_end = head
		ev = {'conn': self.id, 'seq': self.seq, 'start': pos, 'head_end': head_end,
		      'method': method, 'target': target, 'headers': fields, 'early': False}
		self.seq += 1
		path = target.split('?')[0]
		if path.startswith('/early/'):
			ev['early'] = True
			self.answer(200, b'early %s %s\n' % (method.encode(), target.encode('latin-1')),
				    method=method)
		elif path.startswith('/continue/'):
			self.send(b'HTTP/1.1 100 Continue\r\n\r\n')
		kind, n = body_framing(fields)
		if kind == 'length':
			got = self.until(lambda b: (b[head_end:head_end + n], head_end + n)
					 if len(b) >= head_end + n else None)
		else:
			got = self.until(lambda b: parse_chunked(b, head_end))
		if got is None:
			ev.update(end=None, partial=True, body_len=len(self.buf) - head_end)
			self.tap.event(ev)
			return None
		body, end = got
		ev.update(end=end, body_len=len(body), body_sha=hashlib.sha256(body).hexdigest())
		self.tap.event(ev)
		close = path.startswith('/close/')
		if path.startswith('/drop/'):
			return None
		if path.startswith('/s204/'):
			self.send(b'HTTP/1.1 204 No Content\r\nX-Tap-Conn: %d\r\n\r\n' % self.id)
		elif path.startswith('/s304/'):
			self.send(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 50\r\n\r\n')
		elif not ev['early']:
			self.answer(200, b'%s %s %d %s\n' % (method.encode(), target.encode('latin-1'),
							   len(body), ev['body_sha'][:16].encode()),
				    close=close, method=method)
		return None if close else end


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument('--port', type=int, required=True)
	ap.add_argument('--dir', required=True)
	ap.add_argument('--max-seconds', type=float, default=600)
	a = ap.parse_args()
	tap = Tap(a.dir)
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(('127.0.0.1', a.port))
	ls.listen(256)
	ls.settimeout(1.0)
	deadline = time.monotonic() + a.max_seconds
	while time.monotonic() < deadline:
		try:
			s, _ = ls.accept()
		except socket.timeout:
			continue
		s.settimeout(a.max_seconds)
		threading.Thread(target=tap.serve, args=(s,), daemon=True).start()


if __name__ == '__main__':
	main()
