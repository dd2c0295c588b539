#!/usr/bin/python3
"""HTTP/2 visitors (net/h2.c): h2c with prior knowledge on the plain
listener and h2 by ALPN on listen_tls. Many streams multiplexed on one
connection (curl --parallel, h2load); bodies of 1 KiB, 16 KiB, 1 MiB and
16 MiB byte-exact from the origin and then from the cache; HEAD; Range
(206); If-None-Match (304); uploads echoed byte-exact (4 MiB, 8 in
parallel over TLS), a body without content-length (411);
HTTP/1.1 over TLS still chosen by ALPN http/1.1. Floods from small
raw-frame clients (the socket module, HPACK by hand) — rapid reset
(HEADERS + RST_STREAM), CONTINUATION, SETTINGS, PING, PRIORITY,
WINDOW_UPDATE, empty DATA — each end their own connection with
GOAWAY(ENHANCE_YOUR_CALM) and are counted (h2_flood_*), a decreasing or
reused stream id with GOAWAY(PROTOCOL_ERROR) (h2_protocol_errors), while
another connection keeps being served byte-exact; curl's 60 streams and
h2load (also with 16 KiB windows) trip none of them. A peer that never
opens its flow-control window is cut at send_timeout_ms."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SIZES = (1024, 16384, 1 << 20, 16 << 20)
HOST = 'a.test'


def cc_bytes(n, tag=''):
	"""The body of pyorigin's /cc/CC/N[/tag]."""
	return et.det_bytes('pyorigin' + tag, n)


def curl(args, timeout=60):
	r = subprocess.run(['curl', '-sS', '-v', *args], capture_output=True, timeout=timeout)
	return r.returncode, r.stdout, r.stderr.decode('latin-1')


def h2c(srv, path, *opts):
	return curl(['--http2-prior-knowledge', *opts, srv.url(path)])


def h2tls(srv, ca, path, *opts):
	return curl(['--http2', '--cacert', ca, '--resolve', '%s:%d:127.0.0.1' % (HOST, srv.tls_port),
		     *opts, 'https://%s:%d%s' % (HOST, srv.tls_port, path)])


def check_bodies(ck, srv, ca, d):
	"""Every size from the origin (MISS) then the cache (HIT), h2c and h2."""
	for label, get in (('h2c', lambda p, *o: h2c(srv, p, *o)),
			   ('h2/TLS', lambda p, *o: h2tls(srv, ca, p, *o))):
		tag = label.replace('/', '')
		for n in SIZES:
			for want in ('MISS', 'HIT'):
				rc, body, err = get('/cc/max-age=600/%d/%s' % (n, tag))
				ck.check('%s %d bytes %s: byte-exact, over HTTP/2' % (label, n, want),
					 rc == 0 and body == cc_bytes(n, tag) and
					 '< HTTP/2 200' in err and ('x-cache: %s' % want.lower()) in err.lower(),
					 'rc=%d len=%d %s' % (rc, len(body), err[-300:]))
		rc, body, err = get('/files/%d' % (1 << 20))
		ck.check('%s uncacheable 1 MiB from the origin byte-exact' % label,
			 rc == 0 and body == et.det_bytes('pyorigin', 1 << 20), err[-300:])
		rc, body, err = get('/chunked/100000')
		ck.check('%s chunked origin body arrives de-chunked' % label,
			 rc == 0 and body == et.det_bytes('pyorigin', 100000), 'rc=%d len=%d %s' % (rc, len(body), err[-300:]))


def check_many_streams(ck, srv, ca, d):
	"""curl --parallel over TLS (curl 7.88 does not multiplex h2c with prior
	knowledge: its pending transfers fail before they start): 60 streams
	on one connection, each byte-exact; then h2load on h2c."""
	c0 = srv.counters()
	args = ['--parallel', '--parallel-max', '60', '--http2', '--cacert', ca, '--resolve',
		'%s:%d:127.0.0.1' % (HOST, srv.tls_port)]
	want = []
	for i in range(60):
		n = SIZES[i % 3] + i
		path = os.path.join(d, 'par-%d' % i)
		args += ['https://%s:%d/cc/max-age=600/%d/p%d' % (HOST, srv.tls_port, n, i % 7),
			 '-o', path]
		want.append((path, n, 'p%d' % (i % 7)))
	rc, _, err = curl(args, timeout=120)
	ok = rc == 0 and all(open(p, 'rb').read() == cc_bytes(n, t) for p, n, t in want)
	c1 = srv.counters()
	ck.check('60 parallel streams byte-exact', ok, err[-400:])
	ck.check('they shared one connection (h2_conns +%d, h2_streams +%d)' %
		 (c1['h2_conns'] - c0['h2_conns'], c1['h2_streams'] - c0['h2_streams']),
		 c1['h2_conns'] - c0['h2_conns'] == 1 and c1['h2_streams'] - c0['h2_streams'] == 60)
	try:
		r = subprocess.run(['h2load', '-n', '2000', '-c', '4', '-m', '32',
				    srv.url('/cc/max-age=600/1024/h2load')],
				   capture_output=True, timeout=60)
		out = r.stdout.decode()
		ck.check('h2load: 2000 requests, 32 streams at a time, all 2xx',
			 '2000 succeeded' in out and '2000 2xx' in out, out[-600:])
		# Small windows (16 KiB stream and connection): a WINDOW_UPDATE for
		# nearly every DATA frame, the heaviest legitimate rate.
		r = subprocess.run(['h2load', '-n', '64', '-c', '2', '-m', '8', '-w', '14', '-W', '14',
				    srv.url('/cc/max-age=600/1048576/h2loadw')],
				   capture_output=True, timeout=60)
		out = r.stdout.decode()
		ck.check('h2load with 16 KiB windows: 64 MiB in 64 requests, all 2xx',
			 '64 succeeded' in out and '64 2xx' in out, out[-600:])
	except FileNotFoundError:
		ck.skip('h2load', 'nghttp2-client missing')
	c2 = srv.counters()
	trips = {k: c2[k] - c0[k] for k in c2 if k.startswith('h2_flood_') or k == 'h2_protocol_errors'}
	ck.check('these legitimate heavy clients tripped no flood or protocol error (%s)' %
		 {k: v for k, v in trips.items() if v}, not any(trips.values()))


def check_semantics(ck, srv, ca, d):
	n = 16384
	path = '/cc/max-age=600/%d/sem' % n
	h2c(srv, path)
	rc, body, err = h2c(srv, path, '-I')
	ck.check('HEAD: 200, content-length, no body',
		 rc == 0 and body == b'' or b'content-length: %d' % n in body.lower(), err[-300:])
	rc, body, err = h2c(srv, path, '-r', '100-1123')
	ck.check('Range from the cache: 206 and the bytes',
		 rc == 0 and '< HTTP/2 206' in err and body == cc_bytes(n, 'sem')[100:1124],
		 err[-300:])
	rc, body, err = h2c(srv, '/cc/max-age=600/5000/rng', '-r', '0-99')
	full = cc_bytes(5000, 'rng')
	ck.check('Range on a miss: 206 with the bytes, or the origin\'s whole 200',
		 rc == 0 and (('< HTTP/2 206' in err and body == full[:100]) or
			      ('< HTTP/2 200' in err and body == full)), err[-300:])
	rc, body, err = h2c(srv, '/cc/max-age=600/5000/rng', '-r', '0-99')
	ck.check('Range on the stored copy: 206, the bytes',
		 rc == 0 and '< HTTP/2 206' in err and body == full[:100], err[-300:])
	rc, body, err = h2c(srv, path, '-H', 'If-None-Match: "sem-%d"' % n)
	ck.check('If-None-Match: 304, no body', rc == 0 and '< HTTP/2 304' in err and body == b'',
		 err[-300:])
	rc, body, err = h2tls(srv, ca, path, '-H', 'If-None-Match: "sem-%d"' % n)
	ck.check('If-None-Match over TLS: 304', rc == 0 and '< HTTP/2 304' in err, err[-300:])
	rc, body, err = h2c(srv, '/status/404')
	ck.check('an origin 404 passes through', rc == 0 and '< HTTP/2 404' in err, err[-300:])
	rc, body, err = h2c(srv, '/echo', '--data-binary', 'hello')
	ck.check('POST: the body reaches the origin (echoed)',
		 rc == 0 and '< HTTP/2 200' in err and body == b'hello', err[-300:])
	big = os.path.join(d, 'up.bin')
	with open(big, 'wb') as f:
		f.write(et.det_bytes('upload', 4 << 20))
	rc, body, err = h2c(srv, '/echo', '--data-binary', '@' + big)
	ck.check('POST 4 MiB (past every window) echoed byte-exact',
		 rc == 0 and body == et.det_bytes('upload', 4 << 20), 'rc=%d len=%d %s' %
		 (rc, len(body), err[-300:]))
	# -d options of one curl add up to one body: --next gives each its own.
	common = ['--http2', '--cacert', ca, '--resolve', '%s:%d:127.0.0.1' % (HOST, srv.tls_port)]
	args = ['--parallel', '--parallel-max', '8']
	for i in range(8):
		args += (['--next'] if i else []) + common
		args += ['--data-binary', '@' + big, '-o', os.path.join(d, 'up-%d' % i),
			 'https://%s:%d/echo/%d' % (HOST, srv.tls_port, i)]
	rc, _, err = curl(args, timeout=120)
	ok = rc == 0 and all(open(os.path.join(d, 'up-%d' % i), 'rb').read() ==
			     et.det_bytes('upload', 4 << 20) for i in range(8))
	ck.check('8 parallel 4 MiB uploads over TLS echoed byte-exact', ok, err[-300:])
	# curl -T - (stdin, size unknown) sends no content-length over HTTP/2.
	r = subprocess.run(['curl', '-sS', '-v', '--http2-prior-knowledge', '-T', '-',
			    srv.url('/echo')], input=b'abc', capture_output=True, timeout=30)
	err = r.stderr.decode('latin-1')
	ck.check('a body without content-length: 411', '< HTTP/2 411' in err, err[-300:])
	rc, body, err = h2tls(srv, ca, '/files/1024')
	ck.check('ALPN h2 chosen over TLS', rc == 0 and 'ALPN: server accepted h2' in err and
		 body == et.det_bytes('pyorigin', 1024), err[-400:])
	rc, body, err = curl(['--http1.1', '--cacert', ca, '--resolve',
			      '%s:%d:127.0.0.1' % (HOST, srv.tls_port),
			      'https://%s:%d/files/1024' % (HOST, srv.tls_port)])
	ck.check('ALPN http/1.1 still HTTP/1.1', rc == 0 and 'ALPN: server accepted http/1.1' in err
		 and '< HTTP/1.1 200' in err and body == et.det_bytes('pyorigin', 1024), err[-400:])
	rc, body, err = curl(['--http1.1', srv.url('/files/1024')])
	ck.check('plain HTTP/1.1 unchanged', rc == 0 and '< HTTP/1.1 200' in err, err[-300:])


# ---- raw frames ----------------------------------------------------------------

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONT = \
	0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 1, 4, 1


def frame(ftype, flags, sid, payload=b''):
	return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
		struct.pack('>I', sid) + payload


def hpack_get(path, authority=HOST):
	"""GET, http, path and authority: static-table names, literal values."""
	lit = lambda idx, v: bytes([idx, len(v)]) + v  # noqa: E731  (never indexed)
	return b'\x82\x86' + lit(0x04, path.encode()) + lit(0x01, authority.encode())


def read_frames(sock, timeout=5.0):
	"""Frames until EOF (or the deadline): [(type, flags, sid, payload)], eof."""
	buf, eof = b'', False
	deadline = time.monotonic() + timeout
	sock.settimeout(0.2)
	while time.monotonic() < deadline:
		try:
			d = sock.recv(65536)
		except socket.timeout:
			continue
		except ConnectionResetError:
			eof = True
			break
		if not d:
			eof = True
			break
		buf += d
	return et.h2_frames(buf)[0], eof


def flood(srv, frames):
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	try:
		s.sendall(PREFACE + frame(SETTINGS, 0, 0))
		try:
			s.sendall(frames)
		except (BrokenPipeError, ConnectionResetError):
			pass
		got, eof = read_frames(s, 5.0)
	finally:
		s.close()
	goaway = [f for f in got if f[0] == GOAWAY]
	code = int.from_bytes(goaway[0][3][4:8], 'big') if goaway else None
	return code, eof


def at_budget(srv, frames, get_sid):
	"""frames, then GET /files/10 on stream get_sid: (GOAWAY code or None,
	whether the GET was answered in full)."""
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	try:
		s.sendall(PREFACE + frame(SETTINGS, 0, 0) + frames +
			  frame(HEADERS, END_STREAM | END_HEADERS, get_sid, hpack_get('/files/10')))
		got, _ = read_frames(s, 1.5)
	except (BrokenPipeError, ConnectionResetError):
		got = []
	finally:
		s.close()
	goaway = [f for f in got if f[0] == GOAWAY]
	code = int.from_bytes(goaway[0][3][4:8], 'big') if goaway else None
	body = b''.join(f[3] for f in got if f[0] == DATA and f[2] == get_sid)
	done = any(f[2] == get_sid and f[1] & END_STREAM for f in got if f[0] in (DATA, HEADERS))
	return code, done and body == et.det_bytes('pyorigin', 10)


def id_order(srv, sids):
	"""HEADERS (GET /files/10) on each stream id of sids in turn; None:
	wait for the answers so far. (GOAWAY code or None, EOF seen)"""
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	try:
		s.sendall(PREFACE + frame(SETTINGS, 0, 0))
		for sid in sids:
			if sid is None:
				got, _ = read_frames(s, 1.0)
				continue
			try:
				s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, sid, hpack_get('/files/10')))
			except (BrokenPipeError, ConnectionResetError):
				pass
		got, eof = read_frames(s, 3.0)
	finally:
		s.close()
	goaway = [f for f in got if f[0] == GOAWAY]
	code = int.from_bytes(goaway[0][3][4:8], 'big') if goaway else None
	return code, eof


def check_limits(ck, srv, ca, d):
	"""SETTINGS_MAX_CONCURRENT_STREAMS 128: the 129th and 130th streams
	open at once are refused (RST_STREAM), the 128 are answered; a header
	list over LIMIT_H2_HEADER_LIST_BYTES resets only its stream."""
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	s.sendall(PREFACE + frame(SETTINGS, 0, 0) + b''.join(
		frame(HEADERS, END_STREAM | END_HEADERS, sid, hpack_get('/sleep/700'))
		for sid in range(1, 2 * 130, 2)))
	got, _ = read_frames(s, 3.0)
	s.close()
	rst = sorted(f[2] for f in got if f[0] == RST)
	done = {f[2] for f in got if f[0] in (DATA, HEADERS) and f[1] & END_STREAM}
	ck.check('130 streams at once: 128 answered, the last 2 reset (%d answered, reset %s)' %
		 (len(done), rst), len(done) == 128 and rst == [257, 259])
	rc, body, err = h2c(srv, '/files/10', '-H', 'x-big: ' + 'a' * 20000)
	ck.check('a 20 KB header: its stream is reset', rc != 0 and body == b'', err[-200:])
	rc, body, err = h2c(srv, '/files/10', '-H', 'x-big: ' + 'a' * 8000)
	ck.check('an 8 KB header is served', rc == 0 and body == et.det_bytes('pyorigin', 10),
		 err[-200:])


def check_floods(ck, srv, ca, d):
	stop = threading.Event()
	served, failed = [0], []

	def bystander():
		"""Another connection, served all along (one h2c connection per
		round, 4 streams each, byte-exact)."""
		while not stop.is_set():
			rc, body, err = h2c(srv, '/cc/max-age=600/16384/by')
			if rc == 0 and body == cc_bytes(16384, 'by'):
				served[0] += 1
			else:
				failed.append(err[-200:])
	t = threading.Thread(target=bystander)
	t.start()
	try:
		cases = []
		rr = b''.join(frame(HEADERS, END_STREAM | END_HEADERS, sid, hpack_get('/files/10')) +
			      frame(RST, 0, sid, struct.pack('>I', 8)) for sid in range(1, 2 * 1000, 2))
		cases.append(('rapid reset (1000 HEADERS + RST_STREAM)', 'h2_flood_rst', rr))
		# CVE-2025-8671 "MadeYouReset": the edge resets each stream itself
		# (a WINDOW_UPDATE overflowing the stream's window; DATA past the
		# stream's content-length) once its origin exchange has started.
		wu_over = struct.pack('>I', 0x7fffffff)
		myr = b''.join(frame(HEADERS, END_STREAM | END_HEADERS, sid, hpack_get('/sleep/1000')) +
			       frame(WINDOW_UPDATE, 0, sid, wu_over) * 2 for sid in range(1, 2 * 1000, 2))
		cases.append(('server-side resets (1000 streams, WINDOW_UPDATE overflow)',
			      'h2_flood_rst', myr))
		post1 = b'\x83\x86' + hpack_get('/sleep/1000')[2:] + b'\x0f\x0d\x011'
		myr = b''.join(frame(HEADERS, END_HEADERS, sid, post1) + frame(DATA, END_STREAM, sid, b'xy')
			       for sid in range(1, 2 * 1000, 2))
		cases.append(('server-side resets (1000 streams, DATA past content-length)',
			      'h2_flood_rst', myr))
		cont = frame(HEADERS, 0, 1, hpack_get('/files/10')) + \
			b''.join(frame(CONT, 0, 1, b'') for _ in range(200))
		cases.append(('CONTINUATION flood (200 empty frames)', 'h2_flood_continuation', cont))
		sets = b''.join(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 65535 + i)) for i in range(500))
		cases.append(('SETTINGS flood (500 frames)', 'h2_flood_settings', sets))
		pings = b''.join(frame(PING, 0, 0, struct.pack('>Q', i)) for i in range(500))
		cases.append(('PING flood (500 frames)', 'h2_flood_ping', pings))
		# CVE-2019-9513: PRIORITY frames reshaping the tree, over idle streams.
		prio = b''.join(frame(PRIORITY, 0, sid, struct.pack('>IB', sid - 2 if sid > 1 else 0, 15))
				for sid in range(1, 2 * 1000, 2))
		cases.append(('PRIORITY flood (1000 frames)', 'h2_flood_priority', prio))
		# WINDOW_UPDATE of 1 byte, on stream 0 and on an open stream (a slow
		# response keeps it open), no DATA received in between.
		wu = frame(HEADERS, END_STREAM | END_HEADERS, 1, hpack_get('/sleep/1000')) + \
			b''.join(frame(WINDOW_UPDATE, 0, sid, struct.pack('>I', 1))
				 for _ in range(500) for sid in (0, 1))
		cases.append(('WINDOW_UPDATE flood (1000 frames, stream 0 and 1)',
			      'h2_flood_window_update', wu))
		# CVE-2019-9518: empty DATA frames without END_STREAM on an upload.
		post = b'\x83\x86' + hpack_get('/sleep/1000')[2:] + b'\x0f\x0d\x03100'
		empty = frame(HEADERS, END_HEADERS, 1, post) + \
			b''.join(frame(DATA, 0, 1) for _ in range(500))
		cases.append(('empty DATA flood (500 frames)', 'h2_flood_empty_data', empty))
		for name, ctr, data in cases:
			c0 = srv.counters()
			code, eof = flood(srv, data)
			c1 = srv.counters()
			ck.check('%s: GOAWAY(ENHANCE_YOUR_CALM), closed (%s, eof %s)' % (name, code, eof),
				 code == 11 and eof)
			ck.check('%s: counted (%s +%d)' % (name, ctr, c1.get(ctr, 0) - c0.get(ctr, 0)),
				 c1.get(ctr, 0) - c0.get(ctr, 0) == 1)
		# Each budget at its limit (the connection goes on: a GET after the
		# frames is answered) and one past it (GOAWAY), on a fresh connection:
		# LIMIT_H2_PRIORITY_BASE 100, LIMIT_H2_WINDOW_UPDATE_BASE 100 (stream
		# 0, no stream opened), LIMIT_H2_EMPTY_DATA_BASE 16 + 2 for the one
		# upload stream opened.
		post = b'\x83\x86' + hpack_get('/sleep/1000')[2:] + b'\x0f\x0d\x03100'
		budgets = (
			('PRIORITY', 'h2_flood_priority', 100, b'',
			 lambda i: frame(PRIORITY, 0, 2 * i + 101, struct.pack('>IB', 0, 15)), 1),
			('WINDOW_UPDATE', 'h2_flood_window_update', 100, b'',
			 lambda i: frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1)), 1),
			('empty DATA', 'h2_flood_empty_data', 18, frame(HEADERS, END_HEADERS, 1, post),
			 lambda i: frame(DATA, 0, 1), 3))
		for name, ctr, limit, pre, one, get_sid in budgets:
			for n, over in ((limit, False), (limit + 1, True)):
				c0 = srv.counters()
				code, answered = at_budget(srv, pre + b''.join(one(i) for i in range(n)),
							   get_sid)
				c1 = srv.counters()
				moved = c1.get(ctr, 0) - c0.get(ctr, 0)
				ck.check('%d %s frames: %s (GOAWAY %s, GET answered %s, %s +%d)' %
					 (n, name, 'cut off' if over else 'still served', code, answered,
					  ctr, moved),
					 (code == 11 and moved == 1) if over else
					 (code is None and answered and moved == 0))
		# RFC 9113 5.1.1: a new stream's id is above every earlier one.
		ids = (('a decreasing stream id (5, then 3)', (5, 3)),
		       ('a reused stream id (5, answered, then 5 again)', (5, None, 5)))
		for name, sids in ids:
			c0 = srv.counters()
			code, eof = id_order(srv, sids)
			c1 = srv.counters()
			n = c1['h2_protocol_errors'] - c0['h2_protocol_errors']
			ck.check('%s: GOAWAY(PROTOCOL_ERROR), closed, h2_protocol_errors +%d (%s, eof %s)' %
				 (name, n, code, eof), code == 1 and eof and n == 1)
		c0 = srv.counters()
		code, eof = flood(srv, b'this is not a frame at all, nor a settings frame......')
		c1 = srv.counters()
		ck.check('garbage after the preface: closed and counted (%s)' % code,
			 eof and c1['h2_protocol_errors'] - c0['h2_protocol_errors'] == 1)
	finally:
		time.sleep(0.5)
		stop.set()
		t.join(60)
	ck.check('a bystander connection kept being served (%d ok, %d failed)' %
		 (served[0], len(failed)), served[0] >= 3 and not failed, '; '.join(failed[:2]))
	# A flood's streams on /sleep/1000 end with their origin exchange.
	n = conns_open_settled(srv)
	ck.check('no slot left behind (conns_open %d)' % n, n == 0)


def conns_open_settled(srv, timeout=5.0):
	"""conns_open once it reaches 0 or the deadline passes: a client's
	close reaches the shard a moment after the client has exited."""
	deadline = time.monotonic() + timeout
	n = srv.counters()['conns_open']
	while n and time.monotonic() < deadline:
		time.sleep(0.1)
		n = srv.counters()['conns_open']
	return n


def check_reset_midbody(ck, srv, ca, d):
	"""A stream reset by the visitor mid-body (a 16 MiB response, window
	never opened past the first 64 KiB): the slot ends, others go on."""
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
	s.sendall(PREFACE + frame(SETTINGS, 0, 0) +
		  frame(HEADERS, END_STREAM | END_HEADERS, 1, hpack_get('/files/%d' % (16 << 20))))
	time.sleep(0.5)
	c0 = srv.counters()
	# The connection window the reset stream used up is given back.
	s.sendall(frame(RST, 0, 1, struct.pack('>I', 8)) +
		  frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1 << 20)) +
		  frame(HEADERS, END_STREAM | END_HEADERS, 3, hpack_get('/files/10')))
	got, eof = read_frames(s, 1.5)
	s.close()
	c1 = srv.counters()
	data3 = b''.join(f[3] for f in got if f[0] == DATA and f[2] == 3)
	ck.check('after a reset stream, the next stream on the connection is served',
		 data3 == et.det_bytes('pyorigin', 10), repr(got[-3:])[:300])
	ck.check('the reset is counted (h2_streams_reset +%d)' %
		 (c1['h2_streams_reset'] - c0['h2_streams_reset']),
		 c1['h2_streams_reset'] - c0['h2_streams_reset'] == 1)


def check_large(ck, origin, d):
	"""Large objects (chunk_size 1m: a 5 MiB object is five chunks, served
	chunk by chunk, each chunk's buffer released as nghttp2 pulls it)."""
	srv = et.Edgecache([et.zone('a', ['*'], [('o', origin.url, {})])],
			   cache={'path': os.path.join(d, 'large.dat'), 'size': '256m',
				  'chunk_size': '1m'})
	srv.start()
	try:
		n = 5 << 20
		for want in ('MISS', 'HIT'):
			rc, body, err = h2c(srv, '/cc/max-age=600/%d/large' % n)
			ck.check('large object (5 chunks) %s over HTTP/2 byte-exact' % want,
				 rc == 0 and body == cc_bytes(n, 'large'), 'rc=%d len=%d %s' %
				 (rc, len(body), err[-300:]))
		rc, body, err = h2c(srv, '/cc/max-age=600/%d/large' % n, '-r', '1000000-3500000')
		ck.check('large object Range across chunks: 206 and the bytes',
			 rc == 0 and '< HTTP/2 206' in err and
			 body == cc_bytes(n, 'large')[1000000:3500001], err[-300:])
	finally:
		ck.check('large-object server stops cleanly', srv.stop() == 0)


def check_stalled_window(ck, origin, d):
	"""A peer that never opens its window (SETTINGS_INITIAL_WINDOW_SIZE 0)
	but pings every 300 ms is cut at send_timeout_ms, like an HTTP/1.1
	visitor that stops reading, and counted (timeouts_send)."""
	srv = et.Edgecache([et.zone('a', ['*'], [('o', origin.url, {})])], send_timeout_ms=1000)
	srv.start()
	try:
		c0 = srv.counters()
		s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
		s.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 0)) +
			  frame(HEADERS, END_STREAM | END_HEADERS, 1, hpack_get('/files/100000')))
		t0, eof, got, last_ping = time.monotonic(), False, b'', 0.0
		s.settimeout(0.1)
		while time.monotonic() - t0 < 6 and not eof:
			try:
				d = s.recv(65536)
				eof = not d
				got += d
			except socket.timeout:
				pass
			except ConnectionResetError:
				eof = True
			if not eof and time.monotonic() - last_ping >= 0.3:
				last_ping = time.monotonic()
				try:
					s.sendall(frame(PING, 0, 0, bytes(8)))
				except (BrokenPipeError, ConnectionResetError):
					eof = True
		took = time.monotonic() - t0
		s.close()
		c1 = srv.counters()
		ck.check('window never opened, pings every 300 ms: closed after send_timeout_ms '
			 '(%.1f s)' % took, eof and 0.9 < took < 3.5)
		ck.check('counted (timeouts_send +%d)' % (c1['timeouts_send'] - c0['timeouts_send']),
			 c1['timeouts_send'] - c0['timeouts_send'] == 1)
		rc, body, err = h2c(srv, '/files/%d' % (1 << 20))
		ck.check('a reader that keeps up is not cut', rc == 0 and
			 body == et.det_bytes('pyorigin', 1 << 20), err[-300:])
		n = conns_open_settled(srv)
		ck.check('no slot left behind (conns_open %d)' % n, n == 0)
	finally:
		ck.check('stalled-window server stops cleanly', srv.stop() == 0)


def main():
	for tool in (['curl', '--version'], ['openssl', 'version']):
		try:
			subprocess.run(tool, check=True, stdout=subprocess.DEVNULL)
		except (OSError, subprocess.CalledProcessError):
			et.skip('%s missing: run scripts/setup' % tool[0])
	r = subprocess.run(['curl', '--version'], capture_output=True)
	if b'HTTP2' not in r.stdout:
		et.skip('curl without HTTP/2')
	d = et.tmpdir('h2')
	ca, cert, key = et.make_test_ca(d, HOST)
	origin = et.PyOrigin()
	ck = et.Checks()
	port = et.free_port()
	srv = et.Edgecache([et.zone('a', [HOST, '*'], [('o', origin.url, {})], tls_cert=cert,
				    tls_key=key)],
			   cache={'path': os.path.join(d, 'cache.dat'), 'size': '256m',
				  'chunk_size': '16m'},
			   listen_tls='127.0.0.1:%d' % port)
	srv.tls_port = port
	srv.start()
	ck.run('bodies from origin and cache', check_bodies, ck, srv, ca, d)
	ck.run('many streams on one connection', check_many_streams, ck, srv, ca, d)
	ck.run('HEAD, Range, 304, ALPN', check_semantics, ck, srv, ca, d)
	ck.run('a stream reset mid-body', check_reset_midbody, ck, srv, ca, d)
	ck.run('concurrent streams and header list limits', check_limits, ck, srv, ca, d)
	ck.run('floods', check_floods, ck, srv, ca, d)
	ck.check('server stops cleanly', srv.stop() == 0)
	ck.run('large objects', check_large, ck, origin, d)
	ck.run('a peer that never opens its window', check_stalled_window, ck, origin, d)
	origin.stop()
	ck.finish()


if __name__ == '__main__':
	main()
