#!/usr/bin/python3
"""HTTPS origins: edgecache fetches from an nginx TLS origin whose
certificate a test CA (made here with openssl) signed: byte-exact bodies
(1 KiB to 8 MiB), keep-alive reuse over TLS; a wrong CA and a wrong host
name are refused (503, the reason logged, origin_tls_failures counted),
never fetched unverified; a TLS record that fails mid-body ends the
visitor's response at once (closed short, origin_truncated)."""
import os
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402


def wait_log(srv, text, timeout=3.0):
	"""Shard log lines reach the file through the control thread (100 ms)."""
	import time
	deadline = time.monotonic() + timeout
	log = ''
	while time.monotonic() < deadline:
		log = open(srv.error_log).read()
		if text in log:
			break
		time.sleep(0.05)
	return log


class BadRecordOrigin(et.HeadServer):
	"""A TLS origin (Python's ssl) that answers Content-Length: 100000, sends
	1000 bytes, then writes a record that fails its MAC straight onto the
	socket and holds the connection open."""

	def __init__(self, cert, key):
		self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		self.ctx.load_cert_chain(cert, key)
		super().__init__(backlog=8)

	def wrap(self, c):
		return self.ctx.wrap_socket(c, server_side=True)

	def answer(self, s, head):
		s.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n'
			  b'Cache-Control: no-store\r\n\r\n' + b'a' * 1000)
		time.sleep(0.2)
		os.write(s.fileno(), b'\x17\x03\x03\x00\x20' + b'\x55' * 32)
		time.sleep(5)


def bad_record(ck, srv):
	# Before: the connection was closed under the exchange, which waited
	# (no answer, no close) for as long as the visitor did.
	c0 = srv.counters()
	t0 = time.monotonic()
	c = srv.conn(timeout=5)
	c.send(et.build('GET', '/x', 'badrec.test'))
	try:
		r = c.read_response()
	except (et.Closed, OSError) as e:
		r = e
	took = time.monotonic() - t0
	ck.check('a bad TLS record mid-body: the head and 1000 bytes, then a close (%.2fs)' % took,
		 getattr(r, 'status', 0) == 200 and not r.complete and len(r.body) == 1000 and
		 c.eof and took < 2.0, repr(r))
	c.close()
	c1 = srv.counters()
	ck.check('origin_truncated counted', c1['origin_truncated'] - c0['origin_truncated'] == 1)


def main():
	try:
		subprocess.run(['openssl', 'version'], check=True, stdout=subprocess.DEVNULL)
	except (OSError, subprocess.CalledProcessError):
		et.skip('openssl (Debian package) missing: run scripts/setup')
	ca, cert, key = et.make_test_ca(et.tmpdir('https'))
	other_ca, _, _ = et.make_test_ca(et.tmpdir('otherca'))
	sizes = {'f1k': 1024, 'f300k': 300000, 'f8m': 8 << 20}
	origin = et.TlsFront(cert, key, files=sizes)
	badrec = BadRecordOrigin(cert, key)
	url = 'https://localhost:%d' % origin.port
	zones = [et.zone('good', ['good.test'], [('o', url, {'ca_file': ca})]),
		 et.zone('badca', ['badca.test'], [('o', url, {'ca_file': other_ca})]),
		 et.zone('badname', ['badname.test'],
			 [('o', 'https://127.0.0.1:%d' % origin.port, {'ca_file': ca})]),
		 et.zone('badrec', ['badrec.test'],
			 [('o', 'https://localhost:%d' % badrec.port, {'ca_file': ca})])]
	srv = et.server(zones).start()
	ck = et.Checks()
	c0 = srv.counters()
	for name, size in sizes.items():
		for i in range(2):
			r = et.request(srv.port, 'GET', '/' + name, host='good.test', timeout=30)
			ck.check('%s over HTTPS byte-exact (%d)' % (name, i),
				 r.status == 200 and r.body == et.det_bytes(name, size), repr(r))
	c1 = srv.counters()
	ck.check('origin connections reused over TLS (%d reuses)' %
		 (c1['origin_reuses'] - c0['origin_reuses']),
		 c1['origin_reuses'] - c0['origin_reuses'] >= 3)
	for host, why in (('badca.test', 'unknown CA'), ('badname.test', 'host-name mismatch')):
		r = et.request(srv.port, 'GET', '/f1k', host=host)
		ck.check('%s: refused with 503' % why, r.status == 503, repr(r))
		log = wait_log(srv, why)
		ck.check('%s: the reason is logged' % why, why in log, log[-600:])
	c2 = srv.counters()
	ck.check('origin_tls_failures counted (%d)' % (c2['origin_tls_failures'] -
							c1['origin_tls_failures']),
		 c2['origin_tls_failures'] - c1['origin_tls_failures'] == 2)
	ck.run('bad_record', bad_record, ck, srv)
	badrec.close()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
