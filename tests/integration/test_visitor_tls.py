#!/usr/bin/python3
"""HTTPS visitors (listen_tls): a test CA made here with openssl signs an
ECDSA P-256 certificate for zone a (a.test) and an RSA one for the default
zone b (b.test, *). curl over TLS 1.2 and 1.3 gets each zone's certificate
by SNI and an unknown name the default one; ALPN says http/1.1 when only
it is offered and h2 when both are; a ticket
or session id resumes on both shards (workers = 2: the shard is in each
request's access-log id); bodies of 1 KiB to 16 MiB from the origin, from
the cache, uploads and pipelined requests arrive byte-exact over TLS.
Bad input closes only its own connection and is counted: garbage instead
of a ClientHello, a truncated hello, a truncated record after the
handshake, a client that stops mid-handshake (tls_handshake_timeout_ms).
tls_unknown_sni = reject answers an unknown name with a fatal alert.
edgecache -t refuses a missing file, a key that does not match, a key
others can read, and listen_tls without a certificate to fall back on."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402


def openssl(*args, inp=None, timeout=20):
	return subprocess.run(('openssl',) + args, input=inp, capture_output=True, timeout=timeout)


def make_certs(d):
	"""ca.pem; a.pem/a.key (ECDSA P-256, a.test); b.pem/b.key (RSA, b.test)."""
	def run(*args):
		subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	p = lambda n: os.path.join(d, n)  # noqa: E731
	run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'),
	    '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=edgecache test CA')
	for name, alg in (('a', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
			  ('b', ['-newkey', 'rsa:2048'])):
		run('openssl', 'req', *alg, '-nodes', '-keyout', p(name + '.key'), '-out',
		    p(name + '.csr'), '-subj', '/CN=%s.test' % name)
		with open(p(name + '.ext'), 'w') as f:
			f.write('subjectAltName=DNS:%s.test\n' % name)
		run('openssl', 'x509', '-req', '-in', p(name + '.csr'), '-CA', p('ca.pem'), '-CAkey',
		    p('ca.key'), '-CAcreateserial', '-out', p(name + '.pem'), '-days', '2',
		    '-extfile', p(name + '.ext'))
		os.chmod(p(name + '.key'), 0o600)
	return p


def tls_zones(p, origin_url):
	return [et.zone('a', ['a.test'], [('o', origin_url, {})],
			tls_cert=p('a.pem'), tls_key=p('a.key')),
		et.zone('b', ['b.test', '*'], [('o', origin_url, {})],
			tls_cert=p('b.pem'), tls_key=p('b.key'))]


class TlsConn(et.RawConn):
	"""RawConn over TLS (Python's ssl, verifying against the test CA)."""

	def __init__(self, port, host, ca, timeout=10.0, alpn=None):
		ctx = ssl.create_default_context(cafile=ca)
		if alpn:
			ctx.set_alpn_protocols(alpn)
		raw = socket.create_connection(('127.0.0.1', port), timeout=timeout)
		raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.sock = ctx.wrap_socket(raw, server_hostname=host)
		self.timeout = timeout
		self.buf = bytearray()
		self.eof = False


def curl(port, host, ca, path, *opts):
	"""curl -v over TLS, HTTP/1.1 (test_h2 covers ALPN h2); returns (rc,
	body bytes, stderr text)."""
	r = subprocess.run(['curl', '-sS', '-v', '--http1.1', '--cacert', ca, '--resolve',
			    '%s:%d:127.0.0.1' % (host, port), *opts,
			    'https://%s:%d%s' % (host, port, path)], capture_output=True, timeout=60)
	return r.returncode, r.stdout, r.stderr.decode('latin-1')


def handshaken_bio(port, host, ca):
	"""A socket and an SSLObject with the handshake done through memory BIOs,
	so the test decides which ciphertext bytes reach the server."""
	ctx = ssl.create_default_context(cafile=ca)
	inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
	obj = ctx.wrap_bio(inc, out, server_hostname=host)
	sock = socket.create_connection(('127.0.0.1', port), timeout=5)
	deadline = time.monotonic() + 5
	while time.monotonic() < deadline:
		try:
			obj.do_handshake()
			break
		except ssl.SSLWantReadError:
			sock.sendall(out.read())
			d = sock.recv(65536)
			if not d:
				raise RuntimeError('closed during the handshake')
			inc.write(d)
	sock.sendall(out.read())
	return sock, obj, out, inc


def shard_of(line):
	"""The shard that served an access-log line: top bits of its request id."""
	return int(line.split()[-1], 16) >> 48


def check_certs_and_versions(ck, srv, ca):
	for host, subject in (('a.test', 'CN=a.test'), ('b.test', 'CN=b.test'),
			      ('unknown.test', 'CN=b.test')):
		for ver, opts in (('TLSv1.3', ['--tlsv1.3']), ('TLSv1.2', ['--tlsv1.2', '--tls-max', '1.2'])):
			insecure = ['-k'] if host == 'unknown.test' else []
			rc, body, err = curl(srv.tls_port, host, ca, '/files/1024', *opts, *insecure)
			ck.check('%s %s: 200, byte-exact' % (host, ver),
				 rc == 0 and body == et.det_bytes('pyorigin', 1024), err[-400:])
			ck.check('%s %s: certificate %s' % (host, ver, subject),
				 re.search(r'subject: %s\b' % re.escape(subject), err) is not None,
				 err[-800:])
			ck.check('%s %s: negotiated %s' % (host, ver, ver),
				 'SSL connection using %s' % ver in err, err[-800:])
			ck.check('%s %s: ALPN http/1.1' % (host, ver),
				 'ALPN: server accepted http/1.1' in err or
				 'ALPN, server accepted to use http/1.1' in err, err[-800:])
	r = openssl('s_client', '-connect', '127.0.0.1:%d' % srv.tls_port, '-servername', 'a.test',
		    '-alpn', 'h2,http/1.1', inp=b'')
	out = r.stdout.decode('latin-1')
	ck.check('ALPN offered h2,http/1.1: h2 chosen (net/h2.c)',
		 'ALPN protocol: h2' in out, out[-600:])


def check_resumption(ck, srv, ca, d, tls12):
	"""A ticket (1.3) or session (1.2) from one connection resumes on later
	connections, served by both shards (the access-log request ids)."""
	sess = os.path.join(d, 'sess-%s.pem' % ('12' if tls12 else '13'))
	ver = ['-tls1_2'] if tls12 else ['-tls1_3']
	req = b'GET /files/1024 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'
	base = ['s_client', '-connect', '127.0.0.1:%d' % srv.tls_port, '-servername', 'a.test',
		'-CAfile', ca, '-ign_eof', *ver]
	r = openssl(*base, '-sess_out', sess, inp=req)
	ck.check('%s: first connection is a full handshake' % ver[0],
		 b'New, TLS' in r.stdout and os.path.exists(sess), r.stdout[-400:])
	before = len(et.read_log(srv.access_log))
	reused = 0
	n = 24
	for _ in range(n):
		r = openssl(*base, '-sess_in', sess, inp=req)
		reused += b'\nReused, TLS' in r.stdout and b'HTTP/1.1 200' in r.stdout
	deadline = time.monotonic() + 3
	lines = []
	while time.monotonic() < deadline:
		lines = et.read_log(srv.access_log)[before:]
		if len(lines) >= n:
			break
		time.sleep(0.05)
	shards = {shard_of(ln) for ln in lines}
	ck.check('%s: %d of %d connections resumed' % (ver[0], reused, n), reused == n)
	ck.check('%s: resumed connections served by both shards (%s)' % (ver[0], sorted(shards)),
		 shards == {0, 1}, repr(lines[-3:]))


def check_bodies(ck, srv, ca):
	sizes = [1024, 65536, 1 << 20, 16 << 20]
	for n in sizes:
		c = TlsConn(srv.tls_port, 'a.test', ca, timeout=60)
		c.send(et.build('GET', '/files/%d' % n, 'a.test'))
		r = c.read_response()
		ck.check('origin body %d B over TLS byte-exact' % n,
			 r.status == 200 and r.body == et.det_bytes('pyorigin', n), repr(r)[:200])
		# the same connection: a cacheable object, twice (miss, then hit)
		for i in range(2):
			c.send(et.build('GET', '/cc/max-age=600/%d' % n, 'a.test'))
			r = c.read_response()
			ck.check('cache %s %d B over TLS byte-exact' % (('miss', 'hit')[i], n),
				 r.status == 200 and r.body == et.det_bytes('pyorigin', n) and
				 (i == 0 or r.header('x-cache') == 'HIT'), repr(r)[:300])
			if i == 0:
				time.sleep(0.3)     # the fill commits
		c.close()
	# an upload, echoed back
	body = et.det_bytes('upload', 3 << 20)
	c = TlsConn(srv.tls_port, 'a.test', ca, timeout=60)
	c.send(et.build('POST', '/echo', 'a.test', body=body))
	r = c.read_response()
	ck.check('3 MiB upload over TLS echoed byte-exact', r.status == 200 and r.body == body,
		 repr(r)[:200])
	# pipelined: ten requests in one write, answered in order
	reqs = b''.join(et.build('GET', '/files/%d' % (1000 + i), 'a.test') for i in range(10))
	c.send(reqs)
	ok = all(c.read_response().body == et.det_bytes('pyorigin', 1000 + i) for i in range(10))
	ck.check('10 pipelined requests over TLS answered in order, byte-exact', ok)
	c.close()
	# 24 uploads at once, 4 MiB each: more decrypted bytes in flight to the
	# origin than the shards have plaintext buffers (256 x 16 KiB each), so
	# some wait for the tick (recv_nobufs); every echo must come back whole
	n0 = srv.counters()['recv_nobufs']
	body4 = et.det_bytes('parallel', 4 << 20)
	results = []

	def upload_one():
		try:
			u = TlsConn(srv.tls_port, 'a.test', ca, timeout=60)
			u.send(et.build('POST', '/echo', 'a.test', body=body4))
			r = u.read_response()
			results.append(r.status == 200 and r.body == body4)
			u.close()
		except (OSError, et.Closed) as e:
			results.append(repr(e))
	threads = [threading.Thread(target=upload_one) for _ in range(24)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(120)
	ck.check('24 parallel 4 MiB uploads over TLS echoed byte-exact (%d)' % results.count(True),
		 results.count(True) == 24, repr([r for r in results if r is not True][:3]))
	nobufs = srv.counters()['recv_nobufs'] - n0
	if nobufs:
		ck.check('  plaintext buffers ran out on the way (recv_nobufs +%d)' % nobufs, True)
	else:
		ck.skip('  plaintext buffers ran out on the way', 'the origin kept up this time')
	# an upload whose last part comes with the visitor's TCP half-close:
	# the origin drains the body after the EOF was seen, and the echoed
	# response must still go out (a read after the EOF would fail, and a
	# failure in the session sticks: its writes would fail too)
	e0 = srv.counters()['tls_errors']
	body = et.det_bytes('halfclose', 200000)
	sock, obj, out, inc = handshaken_bio(srv.tls_port, 'a.test', ca)
	req = et.build('POST', '/echo', 'a.test', body=body)
	obj.write(req[:-100000])
	sock.sendall(out.read())
	time.sleep(0.3)
	obj.write(req[-100000:])
	sock.sendall(out.read())
	sock.shutdown(socket.SHUT_WR)
	plain, deadline = bytearray(), time.monotonic() + 20
	while time.monotonic() < deadline:
		d = sock.recv(1 << 20)
		if not d:
			break
		inc.write(d)
		try:
			while True:
				plain += obj.read(1 << 20)
		except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
			pass
	sock.close()
	ck.check('upload ending with a half-close: the echo arrives whole',
		 bytes(plain).endswith(body), '%d bytes' % len(plain))
	ck.check('  and counts no TLS error', srv.counters()['tls_errors'] == e0)


def check_reload(ck, srv, ca, sess, cert):
	"""A SIGHUP after a certificate file changed (same name, new bytes)
	builds new certificate contexts; one with nothing changed builds
	nothing (control/server.c reload: rt_files_same). A connection made
	before keeps working on its session (wolfSSL keeps its context alive),
	new ones and resumption go on."""
	c = TlsConn(srv.tls_port, 'a.test', ca)
	c.send(et.build('GET', '/files/500', 'a.test'))
	ck.check('before SIGHUP', c.read_response().status == 200)
	n0 = open(srv.error_log).read().count('reload:')
	with open(cert, 'a') as f:
		f.write('\n')                   # the same certificate, other bytes
	for i in range(2):
		srv.proc.send_signal(signal.SIGHUP)
		deadline = time.monotonic() + 5
		while time.monotonic() < deadline and \
			open(srv.error_log).read().count('reload:') < n0 + i + 1:
			time.sleep(0.05)
		time.sleep(0.3)                 # the old snapshot is reclaimed
	reloads = [ln for ln in open(srv.error_log).read().splitlines() if 'reload:' in ln][n0:]
	ck.check('the certificate file rewritten: the SIGHUP built a snapshot; the next, '
		 'nothing changed, kept it (%s)' % reloads, len(reloads) == 2 and
		 re.search(r'snapshot \d+$', reloads[0]) and
		 'credentials of 0 origin(s) swapped in place' in reloads[1])
	c.send(et.build('GET', '/files/600', 'a.test'))
	r = c.read_response()
	ck.check('a connection from before two reloads still served',
		 r.status == 200 and r.body == et.det_bytes('pyorigin', 600))
	c.close()
	rc, body, err = curl(srv.tls_port, 'b.test', ca, '/files/10')
	ck.check('new connections after the reloads', rc == 0 and
		 body == et.det_bytes('pyorigin', 10), err[-300:])
	r = openssl('s_client', '-connect', '127.0.0.1:%d' % srv.tls_port, '-servername', 'a.test',
		    '-CAfile', ca, '-tls1_3', '-sess_in', sess, inp=b'')
	ck.check('a ticket from before the reloads resumes (keys are per process)',
		 b'\nReused, TLS' in r.stdout, r.stdout[-300:])


def bad_input(ck, srv, ca, p):
	"""Each bad connection is closed alone and counted; a good one stays."""
	good = TlsConn(srv.tls_port, 'a.test', ca)
	good.send(et.build('GET', '/files/100', 'a.test'))
	ck.check('a good connection before the bad ones', good.read_response().status == 200)
	c0 = srv.counters()

	s = socket.create_connection(('127.0.0.1', srv.tls_port), timeout=5)
	s.sendall(b'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
	ck.check('garbage instead of a ClientHello: closed', et_closed(s))

	hello = et.tls_hello_bytes('a.test')
	s = socket.create_connection(('127.0.0.1', srv.tls_port), timeout=5)
	s.sendall(hello[:len(hello) // 2])
	s.shutdown(socket.SHUT_WR)
	ck.check('a truncated ClientHello then EOF: closed', et_closed(s))

	sock, obj, out, _ = handshaken_bio(srv.tls_port, 'a.test', ca)
	obj.write(et.build('GET', '/files/100', 'a.test'))
	rec = out.read()
	sock.sendall(rec[:len(rec) // 2])
	sock.shutdown(socket.SHUT_WR)
	ck.check('a truncated record after the handshake then EOF: closed', et_closed(sock))

	sock, obj, out, _ = handshaken_bio(srv.tls_port, 'a.test', ca)
	obj.write(et.build('GET', '/files/100', 'a.test'))
	rec = bytearray(out.read())
	rec[-3] ^= 0x55                     # a flipped byte: the record fails its tag
	sock.sendall(bytes(rec))
	ck.check('a record with a bad tag: closed', et_closed(sock))

	# a hello in 3 pieces is fine; dribbled in more than
	# LIMIT_TLS_HELLO_PIECES (8) it is refused (each piece pins a recv buffer)
	for pieces, ok in ((3, True), (12, False)):
		s = socket.create_connection(('127.0.0.1', srv.tls_port), timeout=5)
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		step = len(hello) // pieces + 1
		try:
			for i in range(0, len(hello), step):
				s.sendall(hello[i:i + step])
				time.sleep(0.05)
			s.settimeout(2)
			answer = s.recv(5)
		except (ConnectionResetError, BrokenPipeError, socket.timeout):
			answer = b''
		s.close()
		ck.check('a hello in %d pieces: %s' % (pieces, 'answered' if ok else 'refused'),
			 (answer[:1] == b'\x16') == ok, repr(answer))

	stall = socket.create_connection(('127.0.0.1', srv.tls_port), timeout=5)
	stall.sendall(hello[:100])
	t0 = time.monotonic()
	# meanwhile others are served, on the good connection and new ones
	good.send(et.build('GET', '/files/200', 'a.test'))
	ck.check('the good connection still served', good.read_response().status == 200)
	c = TlsConn(srv.tls_port, 'b.test', ca)
	c.send(et.build('GET', '/files/300', 'b.test'))
	ck.check('a new connection served during the stall', c.read_response().status == 200)
	c.close()
	closed = et_closed(stall, 5)
	waited = time.monotonic() - t0
	ck.check('a client stalled mid-handshake is closed after tls_handshake_timeout_ms '
		 '(%.2f s)' % waited, closed and 0.7 <= waited <= 3.0)
	good.send(et.build('GET', '/files/400', 'a.test'))
	ck.check('the good connection survives all of it', good.read_response().status == 200)
	good.close()
	c1 = srv.counters()
	d = {k: c1[k] - c0.get(k, 0) for k in c1 if k.startswith('tls_')}
	ck.check('tls_handshake_failures counted (%d: garbage, truncated hello, dribbled hello)' %
		 d['tls_handshake_failures'], d['tls_handshake_failures'] == 3, repr(d))
	ck.check('tls_truncated counted (%d: hello, record)' % d['tls_truncated'],
		 d['tls_truncated'] == 2, repr(d))
	ck.check('tls_errors counted (%d: bad tag)' % d['tls_errors'], d['tls_errors'] == 1, repr(d))
	ck.check('tls_handshake_timeouts counted (%d)' % d['tls_handshake_timeouts'],
		 d['tls_handshake_timeouts'] == 1, repr(d))


def et_closed(sock, timeout=3.0):
	"""True if the server closes sock (EOF or reset) within timeout."""
	deadline = time.monotonic() + timeout
	try:
		while time.monotonic() < deadline:
			sock.settimeout(max(0.01, deadline - time.monotonic()))
			if not sock.recv(65536):
				return True
	except (ConnectionResetError, BrokenPipeError):
		return True
	except socket.timeout:
		return False
	finally:
		sock.close()
	return False


def check_reject(ck, p, origin_url):
	srv = tls_server(p, origin_url, tls_unknown_sni='reject').start()
	ca = p('ca.pem')
	r = openssl('s_client', '-connect', '127.0.0.1:%d' % srv.tls_port, '-servername',
		    'unknown.test', '-CAfile', ca, inp=b'')
	err = (r.stdout + r.stderr).decode('latin-1')
	ck.check('tls_unknown_sni = reject: an unknown name gets unrecognized_name',
		 'unrecognized name' in err, err[-600:])
	rc, body, err = curl(srv.tls_port, 'b.test', ca, '/files/10')
	ck.check('tls_unknown_sni = reject: known names still served', rc == 0, err[-300:])
	c = srv.counters()
	ck.check('tls_sni_rejected counted (%d)' % c['tls_sni_rejected'], c['tls_sni_rejected'] == 1)
	ck.check('reject server stops cleanly', srv.stop() == 0)


def tls_server(p, origin_url, cache=None, **kw):
	port = et.free_port()
	srv = et.Edgecache(tls_zones(p, origin_url), cache=cache, workers=2,
			   listen_tls='127.0.0.1:%d' % port, tls_handshake_timeout_ms=1000, **kw)
	srv.tls_port = port
	return srv


def check_rotation(ck, p, d, origin_url, proto):
	"""tls_ticket_rotate = 1s: a ticket resumes while its key is current
	or previous, and not once two newer keys were made. The control thread
	logs each rotation (debug), which is what the test times against.
	tls_resumed_prev_key tells a previous key's ticket from the rest: under
	TLS 1.2 the session-id cache would resume the session too (its lifetime
	is 2 x tls_ticket_rotate), and the previous key's ticket is the
	RET_CREATE path (accepted, re-issued under the current key)."""
	srv = tls_server(p, origin_url, tls_ticket_rotate='1s', log_level='debug').start()
	ca, sess = p('ca.pem'), os.path.join(d, 'sess-rot%s.pem' % proto)
	base = ['s_client', '-connect', '127.0.0.1:%d' % srv.tls_port, '-servername', 'a.test',
		'-CAfile', ca, '-ign_eof', proto]
	req = b'GET /files/10 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'
	ver = {'-tls1_3': 'TLSv1.3', '-tls1_2': 'TLSv1.2'}[proto]

	def rotations():
		return open(srv.error_log).read().count('TLS ticket keys rotated')

	def next_rotation():
		n, deadline = rotations(), time.monotonic() + 5
		while rotations() == n and time.monotonic() < deadline:
			time.sleep(0.02)
		return rotations() > n

	def prev_key():
		return srv.counters().get('tls_resumed_prev_key', 0)

	def resumed():
		return b'\nReused, ' + ver.encode() in openssl(*base, '-sess_in', sess, inp=req).stdout
	ck.check('%s: a rotation is logged' % ver, next_rotation())
	out = openssl(*base, '-sess_out', sess, inp=req).stdout
	ck.check('%s: a full handshake gives a ticket' % ver,
		 b'\nNew, ' + ver.encode() in out and b'TLS session ticket:' in out, out[-600:])
	ck.check('%s: a ticket under the current key resumes (not by the previous key)' % ver,
		 resumed() and prev_key() == 0)
	ck.check('%s: the next rotation comes' % ver, next_rotation())
	ck.check('%s: after one rotation the ticket (previous key) still resumes' % ver,
		 resumed())
	n = prev_key()
	ck.check('%s: the previous key\'s ticket did it (tls_resumed_prev_key %d)' % (ver, n),
		 n == 1)
	ck.check('%s: another rotation comes' % ver, next_rotation())
	if proto == '-tls1_3':
		ck.check('%s: after two rotations the ticket no longer resumes (full handshake)' % ver,
			 not resumed())
	else:
		# the session id may still resume it (its own lifetime): not the ticket
		resumed()
		ck.check('%s: after two rotations the ticket is refused (tls_resumed_prev_key %d)'
			 % (ver, prev_key()), prev_key() == n)
	ck.check('%s: rotation server stops cleanly' % ver, srv.stop() == 0)


def check_admin(ck, p, origin_url):
	"""An admin API change to an HTTPS zone rewrites its file: the zone
	keeps its certificate."""
	srv = tls_server(p, origin_url)
	admin_port = et.free_port()
	with open(srv.main, 'a') as f:
		f.write('[admin]\nlisten = 127.0.0.1:%d\n' % admin_port)
	srv.start()
	zone_a = tls_zones(p, origin_url)[0]
	answer = et.admin_post_raw(admin_port, '/cdn/zones/%s/origins' % zone_a['uuid'],
				   {'name': 'o2', 'url': origin_url})
	ck.check('admin API: an origin added to the HTTPS zone (201)',
		 answer.startswith(b'HTTP/1.1 201'), answer[:300])
	text = open(os.path.join(srv.dir, 'zones', 'a.ini')).read()
	ck.check('the rewritten zone file keeps tls_cert and tls_key',
		 'tls_cert = ' in text and 'tls_key = ' in text, text)
	rc, body, err = curl(srv.tls_port, 'a.test', p('ca.pem'), '/files/10')
	ck.check('after the change a.test still gets its own certificate',
		 rc == 0 and re.search(r'subject: CN=a\.test\b', err) is not None, err[-600:])
	ck.check('admin server stops cleanly', srv.stop() == 0)


def check_config(ck, p, d, origin_url):
	"""edgecache -t: file:line: key: what, for each refusal."""
	def check_t(name, zones, want, **server):
		srv = et.Edgecache(zones, listen_tls='127.0.0.1:%d' % et.free_port(), **server)
		r = subprocess.run([srv.bin, '-t', '-c', srv.main], capture_output=True, timeout=20)
		msg = (r.stdout + r.stderr).decode('latin-1')
		ck.check('-t refuses %s' % name, r.returncode != 0 and re.search(want, msg) is not None,
			 msg.strip())
	url = origin_url
	open_key = os.path.join(d, 'open.key')
	with open(p('a.key')) as f, open(open_key, 'w') as g:
		g.write(f.read())
	os.chmod(open_key, 0o644)
	z = lambda **k: [et.zone('b', ['b.test', '*'], [('o', url, {})], **k)]  # noqa: E731
	check_t('a missing certificate file',
		z(tls_cert=p('missing.pem'), tls_key=p('b.key')),
		r'b\.ini:\d+: tls_cert: .*missing\.pem.*No such file')
	check_t('a key that does not match the certificate',
		z(tls_cert=p('b.pem'), tls_key=p('a.key')),
		r'b\.ini:\d+: tls_key: .*a\.key.*no usable PEM key')
	check_t('a key group/other can read',
		z(tls_cert=p('a.pem'), tls_key=open_key),
		r'b\.ini:\d+: tls_key: .*open\.key.* accessible by group or others \(mode 0644\)')
	check_t('tls_cert without tls_key', z(tls_cert=p('a.pem')),
		r'b\.ini:\d+: tls_cert: tls_key is required')
	check_t('listen_tls with no certificate anywhere', z(),
		r'main\.ini:\d+: listen_tls: no zone has tls_cert')
	check_t('listen_tls without a default certificate (tls_unknown_sni = default)',
		[et.zone('a', ['a.test'], [('o', url, {})], tls_cert=p('a.pem'), tls_key=p('a.key'))],
		r'main\.ini:\d+: listen_tls: unknown SNI gets the default zone')


def main():
	for tool in (['openssl', 'version'], ['curl', '--version']):
		try:
			subprocess.run(tool, check=True, stdout=subprocess.DEVNULL)
		except (OSError, subprocess.CalledProcessError):
			et.skip('%s (Debian package) missing: run scripts/setup' % tool[0])
	d = et.tmpdir('vtls')
	p = make_certs(d)
	origin = et.PyOrigin()
	ck = et.Checks()
	cache_file = os.path.join(d, 'cache.dat')
	srv = tls_server(p, origin.url, cache={'path': cache_file, 'size': '256m', 'chunk_size': '16m'}).start()
	ca = p('ca.pem')
	ck.run('certificates by SNI, TLS 1.2 and 1.3, ALPN', check_certs_and_versions, ck, srv, ca)
	ck.run('TLS 1.3 ticket resumption across shards', check_resumption, ck, srv, ca, d, False)
	ck.run('TLS 1.2 resumption across shards', check_resumption, ck, srv, ca, d, True)
	ck.run('bodies, cache, upload, pipelining over TLS', check_bodies, ck, srv, ca)
	ck.run('bad input closes only its connection', bad_input, ck, srv, ca, p)
	ck.run('SIGHUP with HTTPS connections open', check_reload, ck, srv, ca,
	       os.path.join(d, 'sess-13.pem'), p('a.pem'))
	c = srv.counters()
	ck.check('tls_handshakes and tls_resumed count (%d, %d)' %
		 (c['tls_handshakes'], c['tls_resumed']),
		 c['tls_handshakes'] > 50 and c['tls_resumed'] >= 48)
	ck.check('server stops cleanly', srv.stop() == 0)
	ck.run('tls_unknown_sni = reject', check_reject, ck, p, origin.url)
	ck.run('ticket key rotation (TLS 1.3)', check_rotation, ck, p, d, origin.url, '-tls1_3')
	ck.run('ticket key rotation (TLS 1.2)', check_rotation, ck, p, d, origin.url, '-tls1_2')
	ck.run('admin API change to an HTTPS zone', check_admin, ck, p, origin.url)
	ck.run('edgecache -t', check_config, ck, p, d, origin.url)
	ck.finish()


if __name__ == '__main__':
	main()
