#!/usr/bin/python3
"""Slow loris: 1000 connections dribble a request head one byte a second
while a fast client does keep-alive GETs. The fast client must not notice
(every request succeeds, p99 under 50 ms) and, with header_timeout_ms=2000,
the slow connections are closed after about 2 s (timeouts_header)."""
import os
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SLOW = int(os.environ.get('SLOWLORIS_CONNS', '1000'))
HEADER_TIMEOUT_MS = 2000
FAST_SECONDS = 5.0
P99_MS = 50.0


def fast_client(srv, out):
	c = srv.conn(timeout=5)
	lat, errors = [], []
	end = time.monotonic() + FAST_SECONDS
	while time.monotonic() < end:
		t = time.monotonic()
		try:
			c.send(et.build('GET', '/f'))
			r = c.read_response()
			if r.status != 200 or len(r.body) != 1024:
				errors.append(repr(r))
		except (OSError, et.Closed) as e:
			errors.append(repr(e))
			c = srv.conn(timeout=5)
		lat.append(time.monotonic() - t)
	c.close()
	out['lat'], out['errors'] = lat, errors


def open_slow(port, n):
	socks = []
	for _ in range(n):
		s = socket.create_connection(('127.0.0.1', port), timeout=5)
		s.sendall(b'GET /f HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')
		s.setblocking(False)
		socks.append(s)
	return socks


def dribble(socks, seconds):
	"""One byte a second on every open socket; returns {fd: seconds to close}."""
	sel = selectors.DefaultSelector()
	t0 = time.monotonic()
	for s in socks:
		sel.register(s, selectors.EVENT_READ)
	closed = {}
	next_tick = t0 + 1.0
	while time.monotonic() < t0 + seconds and len(closed) < len(socks):
		for key, _ in sel.select(timeout=max(0.0, min(next_tick - time.monotonic(), 0.2))):
			s = key.fileobj
			try:
				d = s.recv(65536)
			except (BlockingIOError, InterruptedError):
				continue
			except OSError:
				d = b''
			if not d:
				closed[s.fileno()] = time.monotonic() - t0
				sel.unregister(s)
		if time.monotonic() >= next_tick:
			next_tick += 1.0
			for s in socks:
				if s.fileno() not in closed:
					try:
						s.send(b'a')
					except OSError:
						pass
	sel.close()
	return closed


def main():
	et.raise_nofile(SLOW * 2 + 512)
	origin = et.NginxOrigin({'f': 1024})
	zones = [et.zone('demo', ['localhost'], [('a', origin.url, {})])]
	srv = et.server(zones, header_timeout_ms=HEADER_TIMEOUT_MS).start()
	ck = et.Checks()
	c0 = srv.counters() if srv.has_counters else None
	t_open = time.monotonic()
	socks = open_slow(srv.port, SLOW)
	ck.check('%d slow connections opened (%.2fs)' % (SLOW, time.monotonic() - t_open), True)
	out = {}
	th = threading.Thread(target=fast_client, args=(srv, out))
	th.start()
	closed = dribble(socks, FAST_SECONDS + 1.0)
	th.join(FAST_SECONDS + 10)
	lat = sorted(out.get('lat', []))
	p50 = lat[len(lat) // 2] * 1000 if lat else -1
	p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else -1
	print('fast client: %d requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms' %
	      (len(lat), p50, p99, lat[-1] * 1000 if lat else -1))
	ck.check('fast client did requests', len(lat) > 100, '%d' % len(lat))
	ck.check('fast client: every request succeeded', not out.get('errors'),
		 str(out.get('errors', [])[:3]))
	ck.check('fast client p99 %.2f ms < %.0f ms' % (p99, P99_MS), 0 <= p99 < P99_MS)
	times = sorted(closed.values())
	ck.check('all %d slow connections closed by the server (%d were)' % (SLOW, len(times)),
		 len(times) == SLOW)
	if times:
		print('slow conns closed after %.2f..%.2f s of dribbling' % (times[0], times[-1]))
		# Opened before dribbling started; the bound is from accept. Late
		# is 3x the timeout: on some runs (after proxy_memory, minutes
		# after) closes come 1-3 s late in whole seconds, the old build's
		# as ours (tests/README.md); timeouts_header below still counts
		# every one.
		late_s = 3 * HEADER_TIMEOUT_MS / 1000.0
		ck.check('closed after ~2 s (%.2f..%.2f s), not at once, not after %.0f s' %
			 (times[0], times[-1], late_s), times[0] >= 1.0 and times[-1] <= late_s)
	if c0 is not None:
		c1 = srv.counters()
		d = c1.get('timeouts_header', 0) - c0.get('timeouts_header', 0)
		ck.check('counters: timeouts_header grew by %d (%d)' % (SLOW, d), d == SLOW)
	for s in socks:
		s.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
