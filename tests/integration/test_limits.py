#!/usr/bin/python3
"""Limits moved into core/limits.h, each at the limit and one past,
through the binary (the values are read from core/limits.h):
LIMIT_ACCESS_LOG_TARGET_BYTES (a request-target logged whole at the limit,
cut to it one past), LIMIT_ADMIN_LOG_PATH_BYTES (the same for an admin
request's path in the error log), LIMIT_LINGER_MS (after a 400 the
connection is read and dropped until then: still open just before, closed
just after), LIMIT_ADMIN_PROBE_TIMEOUT_MS (an origin that answers a probe
just inside it is OK, one that answers just past it FAILED, at the limit).
Pure ones have unit tests: LIMIT_LOG_LINE_BYTES (test_log),
LIMIT_ADMIN_FIELD_ECHO_BYTES and LIMIT_ADMIN_PATH_SEGMENTS (test_admin_req),
LIMIT_TLS_CIPHER_NAME_BYTES (test_tls), LIMIT_COUNTER* (test_counters)."""
import json
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402


def limit(name):
	with open(os.path.join(HERE, '..', '..', 'core', 'limits.h')) as f:
		m = re.search(r'^#define %s\s+(\d+)\b' % name, f.read(), re.M)
	return int(m.group(1))


TARGET = limit('LIMIT_ACCESS_LOG_TARGET_BYTES')
ADMIN_PATH = limit('LIMIT_ADMIN_LOG_PATH_BYTES')
LINGER_MS = limit('LIMIT_LINGER_MS')
PROBE_MS = limit('LIMIT_ADMIN_PROBE_TIMEOUT_MS')


Edge = et.AdminEdgecache


def wait_log(path, pattern, timeout=5.0):
	"""The first line of log path matching pattern (the control thread
	writes the shards' lines within a poll period), or None."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		for ln in et.read_log(path):
			m = re.search(pattern, ln)
			if m:
				return m
		time.sleep(0.05)
	return None


def admin(srv, method, path, body=None):
	"""(status, body bytes) of one admin request."""
	data = json.dumps(body).encode() if body is not None else b''
	return et.admin_request(srv.admin_port, method, path, data, timeout=PROBE_MS / 1000 + 10)


def access_target(ck, srv):
	for n, want in ((TARGET, TARGET), (TARGET + 1, TARGET)):
		mark = 't%d' % n
		target = '/' + mark + 'a' * (n - 1 - len(mark))
		r = et.request(srv.port, 'GET', target, host='py.test')
		ck.check('a %d-byte target is answered (%d)' % (n, r.status), r.status in (200, 404))
		m = wait_log(srv.access_log, r'GET (/%sa*) ' % mark)
		ck.check('access log: a %d-byte target logged as %d bytes (LIMIT_ACCESS_LOG_TARGET_BYTES '
			 '= %d)' % (n, want, TARGET), m is not None and len(m.group(1)) == want,
			 m and len(m.group(1)))


def admin_path(ck, srv):
	for n, want in ((ADMIN_PATH, ADMIN_PATH), (ADMIN_PATH + 1, ADMIN_PATH)):
		mark = 'p%d' % n
		path = '/' + mark + 'x' * (n - 1 - len(mark))
		st, _ = admin(srv, 'GET', path)
		ck.check('admin GET of a %d-byte path → 404' % n, st == 404, st)
		m = wait_log(srv.error_log, r'admin: \S+ GET (/%sx*) -> 404' % mark)
		ck.check('error log: a %d-byte admin path logged as %d bytes (LIMIT_ADMIN_LOG_PATH_BYTES '
			 '= %d)' % (n, want, ADMIN_PATH), m is not None and len(m.group(1)) == want,
			 m and len(m.group(1)))


def still_read(c):
	"""Does the edge still read what we send? A socket it has closed
	answers data with a reset (seen by the next send or recv)."""
	try:
		for _ in range(3):
			c.sock.send(b'x')
			time.sleep(0.05)
		c.sock.settimeout(0.05)
		try:
			c.sock.recv(1)              # b'': our side was shut long ago
		except socket.timeout:
			pass
		return True
	except OSError:
		return False


def linger(ck, srv):
	"""Lingering = our side shut (the visitor sees EOF at once), its input
	read and dropped until LIMIT_LINGER_MS, then the socket closed."""
	c = et.RawConn(srv.port)
	c.send(b'GET / HTTP/1.1\r\nHost: py.test\r\nno colon here\r\n\r\n')
	r = c.read_response()
	t0 = time.monotonic()
	ck.check('a head that does not parse → 400', r.status == 400, repr(r))
	time.sleep(max(0, t0 + (LINGER_MS - 300) / 1000 - time.monotonic()))
	ck.check('input still read and dropped %d ms after the 400' % (LINGER_MS - 300),
		 still_read(c))
	time.sleep(max(0, t0 + (LINGER_MS + 300) / 1000 - time.monotonic()))
	ck.check('closed %d ms after the 400 (LIMIT_LINGER_MS = %d): input is reset' %
		 (LINGER_MS + 300, LINGER_MS), not still_read(c))
	c.close()


def probe_timeout(ck, srv, zone):
	st, b = admin(srv, 'GET', '/cdn/zones/%s/origins' % zone['uuid'])
	origins = json.loads(b)
	ouuid = (origins.get('origins', origins) if isinstance(origins, dict) else origins)[0]['uuid']
	path = '/cdn/zones/%s/origins/%s/test' % (zone['uuid'], ouuid)
	for ms, ok in ((PROBE_MS - 700, True), (PROBE_MS + 700, False)):
		t0 = time.monotonic()
		st, b = admin(srv, 'POST', path, {'path': '/sleep/%d' % ms})
		took = time.monotonic() - t0
		j = json.loads(b) if st == 200 else {}
		res = j.get('result')
		if ok:
			ck.check('probe of an origin answering after %d ms: OK (LIMIT_ADMIN_PROBE_TIMEOUT_MS '
				 '= %d)' % (ms, PROBE_MS), st == 200 and res == 'OK', (st, b[:200]))
		else:
			ck.check('probe of an origin answering after %d ms: FAILED at the limit (%.2f s)' %
				 (ms, took), st == 200 and res == 'FAILED' and
				 PROBE_MS / 1000 - 0.1 <= took < ms / 1000, (st, took, b[:200]))


def main():
	py = et.PyOrigin()
	z = et.zone('py', ['py.test'], [('a', py.url, {})])
	srv = Edge([z]).start()
	ck = et.Checks()
	ck.run('access_target', access_target, ck, srv)
	ck.run('admin_path', admin_path, ck, srv)
	ck.run('linger', linger, ck, srv)
	ck.run('probe_timeout', probe_timeout, ck, srv, z)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
