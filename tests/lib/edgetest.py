"""tests/lib/edgetest.py — the integration tests' harness (stdlib only).

Owns: the processes a test starts (origins, the server under test), their
temp dirs, and the loopback ports they bind in 22000-22899.
Called by: tests/integration/*.py, run with /usr/bin/python3.
Never: talks to anything but 127.0.0.1, waits without a bound, leaves a
process running (every start is registered and stopped by PID at exit,
also when meson's timeout sends SIGTERM).

The server under test is EDGETEST_TARGET=edgecache (default: the binary in
EDGECACHE_BIN) or EDGETEST_TARGET=nginx: nginx configured as the same
reverse proxy. Running a test against nginx proves the test itself works
where nginx behaves as edgecache must; tests mark the checks whose expected
answer is edgecache's own (counters, access log, exact limits).
"""
import atexit
import fcntl
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PORT_LO, PORT_HI = 22000, 22899   # 22900-22999: bench/run
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get('EDGECACHE_SRC', os.path.dirname(os.path.dirname(HERE)))
TARGET = os.environ.get('EDGETEST_TARGET', 'edgecache')
NGINX = '/usr/sbin/nginx'

_procs = []       # (Popen, stop signal) in start order
_tmpdirs = []
_given = set()    # ports handed out: never twice, even if not bound yet


# ---- exit codes and checks ------------------------------------------------

def skip(msg):
	"""The machine lacks something this test needs: say what, exit 77."""
	print('SKIP: ' + msg, flush=True)
	sys.exit(77)


class Checks:
	"""Named checks; a failing one is reported and the test goes on."""

	def __init__(self):
		self.passed, self.failed, self.skipped = 0, [], []

	def check(self, name, cond, detail=''):
		if cond:
			self.passed += 1
			print('ok   %s' % name, flush=True)
		else:
			self.failed.append(name)
			print('FAIL %s %s' % (name, detail), flush=True)
		return cond

	def skip(self, name, why):
		self.skipped.append(name)
		print('skip %s: %s' % (name, why), flush=True)

	def run(self, name, fn, *args):
		"""Run a group of checks; an exception fails the group, not the test."""
		t0 = time.monotonic()
		print('--- %s' % name, flush=True)
		try:
			fn(*args)
		except Exception:
			self.failed.append(name)
			print('FAIL %s raised:\n%s' % (name, traceback.format_exc()), flush=True)
		print('--- %s done in %.2fs' % (name, time.monotonic() - t0), flush=True)

	def stop_and_finish(self, srv):
		"""Every test ends the same way: SIGTERM must give exit 0."""
		rc = srv.stop()
		self.check('server exits 0 on SIGTERM', rc == 0, 'exit %s' % rc)
		self.finish()

	def finish(self):
		print('%d passed, %d failed, %d skipped' % (self.passed, len(self.failed),
							     len(self.skipped)), flush=True)
		if self.failed:
			print('failed: ' + ', '.join(self.failed), flush=True)
			sys.exit(1)
		sys.exit(0 if self.passed else 77)


# ---- processes, ports, temp dirs -------------------------------------------

def _stop_all():
	for p, sig in reversed(_procs):
		stop_proc(p, sig)
	if not os.environ.get('EDGETEST_KEEP'):
		for d in _tmpdirs:
			shutil.rmtree(d, ignore_errors=True)


def _on_term(signum, frame):
	sys.exit(1)     # runs atexit: meson's timeout must not leak servers


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_term)


def tmpdir(tag):
	d = tempfile.mkdtemp(prefix='edgetest-%s-' % tag)
	_tmpdirs.append(d)
	return d


def start_proc(cmd, log_path, stop_sig=signal.SIGTERM, **kw):
	"""Start cmd with stdout+stderr to log_path; stopped by PID at exit."""
	out = open(log_path, 'ab')
	p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
			     stdin=subprocess.DEVNULL, **kw)
	out.close()
	_procs.append((p, stop_sig))
	return p


def stop_proc(p, sig=signal.SIGTERM, timeout=5.0):
	"""Signal p and wait up to timeout, then SIGKILL. Returns its exit code."""
	if p.poll() is None:
		try:
			p.send_signal(sig)
			return p.wait(timeout)
		except subprocess.TimeoutExpired:
			p.kill()
			return p.wait(5)
	return p.returncode


def port_free(port):
	s = socket.socket()
	try:
		s.bind(('127.0.0.1', port))
		return True
	except OSError:
		return False
	finally:
		s.close()


# Tests run two at a time: a port one test was given but has not bound yet
# must not be given to the other. Each given port is claimed by an flock on
# its own file, held until this process exits (the kernel lets go of it even
# on a kill, so nothing stale is left to clean).
PORT_CLAIMS = '/tmp/edgecache-test-ports'
_claims = []


def _claim(port):
	os.makedirs(PORT_CLAIMS, exist_ok=True)
	fd = os.open(os.path.join(PORT_CLAIMS, str(port)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
	try:
		fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
	except OSError:
		os.close(fd)
		return False
	_claims.append(fd)
	return True


def free_port():
	"""A port in our range that nobody binds now and no other test process was
	given (random start, bounded scan)."""
	start = random.randrange(PORT_LO, PORT_HI + 1)
	for i in range(PORT_HI - PORT_LO + 1):
		port = PORT_LO + (start - PORT_LO + i) % (PORT_HI - PORT_LO + 1)
		if port not in _given and port_free(port) and _claim(port):
			_given.add(port)
			return port
	raise RuntimeError('no free port in %d-%d' % (PORT_LO, PORT_HI))


# How long a server may take to listen. It returns at the first accept, so a
# long bound costs nothing; under a loaded machine (two tests at a time, and
# ASan) a start has taken more than 10 s.
START_TIMEOUT = 30.0


def wait_port(port, proc=None, timeout=START_TIMEOUT, log=None):
	"""Wait until 127.0.0.1:port accepts; fail early if proc exited."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if proc is not None and proc.poll() is not None:
			raise RuntimeError('process exited with %s before listening on %d%s' %
					   (proc.returncode, port, _tail(log)))
		try:
			socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
			return
		except OSError:
			time.sleep(0.02)
	raise RuntimeError('port %d not accepting after %.1fs%s' % (port, timeout, _tail(log)))


def _tail(path, n=2000):
	if not path or not os.path.exists(path):
		return ''
	with open(path, 'rb') as f:
		return '\n--- %s:\n%s' % (path, f.read()[-n:].decode('latin-1'))


def raise_nofile(n):
	"""Raise RLIMIT_NOFILE (soft) to at least n; skip if the hard limit is lower."""
	import resource
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft >= n:
		return
	if hard != resource.RLIM_INFINITY and hard < n:
		skip('RLIMIT_NOFILE hard limit %d < %d needed' % (hard, n))
	resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def det_bytes(name, n):
	"""n deterministic bytes named `name` (pyorigin uses det_bytes('pyorigin', n))."""
	return random.Random('%s:%d' % (name, n)).randbytes(n)


def flip_copies(path, marker, at=10):
	"""Flip one bit `at` bytes into every copy of `marker` in the file at
	path (a cache file: whichever copy the index names). Returns the count."""
	with open(path, 'r+b') as f:
		data = f.read()
		pos, copies = data.find(marker), 0
		while pos >= 0:
			f.seek(pos + at)
			f.write(bytes([data[pos + at] ^ 0x40]))
			copies += 1
			pos = data.find(marker, pos + 1)
	return copies


def sha256(b):
	return hashlib.sha256(b).hexdigest()


def read_log(path):
	if not os.path.exists(path):
		return []
	with open(path, 'r', errors='replace') as f:
		return [ln.rstrip('\n') for ln in f if ln.strip()]


# ---- origins -------------------------------------------------------------

class NginxOrigin:
	"""nginx serving generated files; its log says which connection served what.

	files: {name: size}; served at /NAME with deterministic content
	det_bytes(name, size). Log lines: "$connection $request $status".
	"""

	def __init__(self, files, port=None, cpu=None):
		self.dir = tmpdir('origin')
		self.port = port or free_port()
		self.root = os.path.join(self.dir, 'html')
		os.makedirs(self.root)
		self.files = dict(files)
		for name, size in self.files.items():
			with open(os.path.join(self.root, name), 'wb') as f:
				f.write(det_bytes(name, size))
		self.access_log = os.path.join(self.dir, 'access.log')
		self.conf = os.path.join(self.dir, 'nginx.conf')
		with open(self.conf, 'w') as f:
			f.write(nginx_main_conf(self.dir) + '''
http {
	%s
	log_format conn '$connection $request $status';
	access_log %s conn;
	keepalive_requests 100000;
	large_client_header_buffers 4 64k;
	keepalive_timeout 60s;
	sendfile on;
	server {
		listen 127.0.0.1:%d;
		root %s;
		location / { }
	}
}
''' % (nginx_temp_paths(self.dir), self.access_log, self.port, self.root))
		cmd = [NGINX, '-p', self.dir, '-c', self.conf]
		if cpu is not None:
			cmd = ['taskset', '-c', str(cpu)] + cmd
		self.proc = start_proc(cmd, os.path.join(self.dir, 'stderr.log'), signal.SIGQUIT)
		wait_port(self.port, self.proc, log=os.path.join(self.dir, 'error.log'))
		self.url = 'http://127.0.0.1:%d' % self.port

	def content(self, name):
		return det_bytes(name, self.files[name])

	def log(self):
		"""[(connection, method, target, status)] in log order."""
		out = []
		for ln in read_log(self.access_log):
			f = ln.split(' ')
			if len(f) >= 5:
				out.append((int(f[0]), f[1], f[2], int(f[-1])))
		return out

	def log_wait(self, n, timeout=3.0):
		"""The log once it has at least n lines (nginx writes a line after
		it has sent the response, so a client can be faster), or as it is
		at the deadline."""
		deadline = time.monotonic() + timeout
		lines = self.log()
		while len(lines) < n and time.monotonic() < deadline:
			time.sleep(0.02)
			lines = self.log()
		return lines

	def stop(self):
		return stop_proc(self.proc, signal.SIGQUIT)


def nginx_main_conf(prefix, master=False, nofile=8192):
	return '''daemon off;
master_process %s;
worker_processes 1;
worker_rlimit_nofile %d;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections %d; }
''' % ('on' if master else 'off', nofile, prefix, prefix, nofile // 2)


def nginx_temp_paths(prefix):
	return ' '.join('%s_temp_path %s/%s_temp;' % (k, prefix, k)
			for k in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))


def make_test_ca(d, name='localhost'):
	"""A CA and a server certificate for `name` (SAN DNS) signed by it, made
	with the openssl CLI in d. Returns (ca.pem, cert.pem, key.pem)."""
	def run(*args):
		subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	ca, srv = os.path.join(d, 'ca'), os.path.join(d, 'srv')
	run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca + '.key',
	    '-out', ca + '.pem', '-days', '2', '-subj', '/CN=edgecache test CA')
	run('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', srv + '.key',
	    '-out', srv + '.csr', '-subj', '/CN=' + name)
	with open(os.path.join(d, 'ext'), 'w') as f:
		f.write('subjectAltName=DNS:%s\n' % name)
	run('openssl', 'x509', '-req', '-in', srv + '.csr', '-CA', ca + '.pem', '-CAkey',
	    ca + '.key', '-CAcreateserial', '-out', srv + '.pem', '-days', '2', '-extfile',
	    os.path.join(d, 'ext'))
	return ca + '.pem', srv + '.pem', srv + '.key'


class TlsFront:
	"""nginx terminating TLS on 127.0.0.1:port with (cert, key): either a
	docroot (files: {name: size}) or a proxy to `upstream` that passes the
	Host header through unchanged (what an S3 signature covers)."""

	def __init__(self, cert, key, files=None, upstream=None, port=None):
		self.dir = tmpdir('tlsfront')
		self.port = port or free_port()
		inner = 'root %s/html;' % self.dir
		if upstream:
			inner = ('location / { proxy_pass %s; proxy_set_header Host $http_host; '
				 'proxy_http_version 1.1; proxy_set_header Connection ""; '
				 'proxy_buffering off; }' % upstream)
		os.makedirs(os.path.join(self.dir, 'html'))
		for name, size in (files or {}).items():
			with open(os.path.join(self.dir, 'html', name), 'wb') as f:
				f.write(det_bytes(name, size))
		conf = os.path.join(self.dir, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(nginx_main_conf(self.dir) + '''
http { access_log %s/access.log; keepalive_requests 100000; %s
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s; %s } }
''' % (self.dir, nginx_temp_paths(self.dir), self.port, cert, key, inner))
		self.proc = start_proc(['nginx', '-p', self.dir, '-c', conf],
				       os.path.join(self.dir, 'stderr.log'))
		wait_port(self.port, self.proc)


class PyOrigin:
	"""tests/lib/pyorigin.py in its own process (see its docstring for paths)."""

	def __init__(self, port=None):
		self.dir = tmpdir('pyorigin')
		self.port = port or free_port()
		self.access_log = os.path.join(self.dir, 'access.log')
		self.proc = start_proc(['/usr/bin/python3', os.path.join(HERE, 'pyorigin.py'),
					'--port', str(self.port), '--log', self.access_log],
				       os.path.join(self.dir, 'stderr.log'))
		wait_port(self.port, self.proc, log=os.path.join(self.dir, 'stderr.log'))
		self.url = 'http://127.0.0.1:%d' % self.port

	def log(self):
		out = []
		for ln in read_log(self.access_log):
			f = ln.split(' ')
			out.append((int(f[0]), f[1], f[2], int(f[3])))
		return out

	def stop(self):
		return stop_proc(self.proc)


# ---- the server under test -------------------------------------------------

def zone(name, hosts, origins, uuid=None, **keys):
	"""origins: [(origin_name, url, {key: value})] in failover order;
	keys: more [zone] keys (default_ttl = ..., ...)."""
	n = sum(map(ord, name))
	return {'name': name, 'hosts': hosts, 'origins': origins, 'keys': keys,
		'uuid': uuid or '6f1c2b9e-3a4d-4e5f-8a7b-%012x' % n}


class Server:
	"""Common part of the targets: config, start, stop, access log."""
	kind = '?'

	def __init__(self, zones, **server):
		self.dir = tmpdir(self.kind)
		self.port = server.pop('port', None) or free_port()
		self.zones = zones
		self.server = {
			'workers': 1, 'header_timeout_ms': 10000, 'idle_timeout_ms': 60000,
			'drain_timeout_ms': 10000,
		}
		self.server.update(server)
		self.access_log = os.path.join(self.dir, 'access.log')
		self.error_log = os.path.join(self.dir, 'error.log')
		self.proc = None

	def url(self, path='/'):
		return 'http://127.0.0.1:%d%s' % (self.port, path)

	def conn(self, timeout=10.0):
		return RawConn(self.port, timeout)

	def access(self):
		return read_log(self.access_log)

	def running(self):
		return self.proc is not None and self.proc.poll() is None


class Edgecache(Server):
	kind = 'edgecache'
	has_counters = True

	def __init__(self, zones, cache=None, **server):
		"""cache: {key: value} of a [cache] section (None: no disk cache)."""
		super().__init__(zones, **server)
		self.cache = cache
		self.bin = os.environ.get('EDGECACHE_BIN') or os.path.join(SRC, 'build', 'edgecache')
		if not os.access(self.bin, os.X_OK):
			skip('edgecache binary not found at %s (build it: scripts/build release)' % self.bin)
		self.counters_file = os.path.join(self.dir, 'counters.txt')
		self.main = self.write_config()

	def secret_file(self, secret):
		"""A 0600 file holding secret (s3_secret_key_file), one per value."""
		path = os.path.join(self.dir, 'secret-%08x' % (hash(secret) & 0xffffffff))
		fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
		with os.fdopen(fd, 'w') as f:
			f.write(secret + '\n')
		return path

	def rewrite_zone(self, z):
		"""Replace one zone's file (then SIGHUP to apply it)."""
		self.zones = [x for x in self.zones if x['name'] != z['name']] + [z]
		self.main = self.write_config()

	def write_config(self):
		zdir = os.path.join(self.dir, 'zones')
		os.makedirs(zdir, exist_ok=True)
		s = dict(self.server)
		s.setdefault('listen', '127.0.0.1:%d' % self.port)
		s.setdefault('zones', 'zones/*.ini')
		s.setdefault('access_log', self.access_log)
		s.setdefault('error_log', self.error_log)
		s.setdefault('log_level', 'info')
		s.setdefault('counters_file', self.counters_file)
		main = os.path.join(self.dir, 'main.ini')
		with open(main, 'w') as f:
			f.write('[server]\n' + ''.join('%s = %s\n' % kv for kv in s.items()))
			if getattr(self, 'cache', None):
				f.write('[cache]\n' + ''.join('%s = %s\n' % kv for kv in self.cache.items()))
		for z in self.zones:
			with open(os.path.join(zdir, z['name'] + '.ini'), 'w') as f:
				f.write('[zone]\nname = %s\nuuid = %s\nhosts = %s\n' %
					(z['name'], z['uuid'], ', '.join(z['hosts'])))
				f.write(''.join('%s = %s\n' % kv for kv in z.get('keys', {}).items()))
				for oname, url, opts in z['origins']:
					f.write('\n[origin %s]\nurl = %s\n' % (oname, url))
					f.write(''.join('%s = %s\n' % kv for kv in opts.items()))
		return main

	def start(self, timeout=START_TIMEOUT):
		log = os.path.join(self.dir, 'stdout.log')
		self.proc = start_proc([self.bin, '-c', self.main], log)
		try:
			wait_port(self.port, self.proc, timeout, log=self.error_log)
		except RuntimeError:
			text = open(log, 'rb').read().decode('latin-1')
			if self.proc.returncode == 2 and text.startswith('usage:'):
				skip('%s is the stub binary (the serving core is not on this '
				     'branch yet)' % self.bin)
			raise RuntimeError('edgecache did not start:%s%s' %
					   (_tail(log), _tail(self.error_log)))
		return self

	def stop(self, sig=signal.SIGTERM, timeout=15.0):
		rc = stop_proc(self.proc, sig, timeout)
		# After SIGKILL the kernel tears an io_uring down asynchronously: the
		# dead process's listener can accept for a moment more. Wait until
		# it is gone, so a restart is not mistaken for ready by wait_port.
		deadline = time.monotonic() + 5
		while time.monotonic() < deadline and not port_free(self.port):
			time.sleep(0.02)
		return 'sanitizer' if self.sanitizer_report() else rc

	def sanitizer_report(self):
		"""True (and printed) if ASan/UBSan reported anything: a failure
		even when the exit code hides it. Tests that wait for the exit
		themselves (drain) call this."""
		for path in (os.path.join(self.dir, 'stdout.log'), self.error_log):
			try:
				text = open(path, 'rb').read().decode('latin-1')
			except FileNotFoundError:
				continue
			if 'Sanitizer' in text or 'runtime error:' in text:
				print('sanitizer report in %s:%s' % (path, _tail(path)), flush=True)
				return True
		return False

	def counters(self, timeout=3.0, until=None):
		"""SIGUSR1, wait for the counters file to be rewritten, parse it.
		The file is also rewritten every second, so a rewrite may come
		before the signal is handled: a caller that checks what a signal
		did passes until (counters -> bool), and the file is read again
		until it holds or the timeout passes (then the last read)."""
		def stamp():
			try:
				st = os.stat(self.counters_file)
				return (st.st_mtime_ns, st.st_ino, st.st_size)
			except FileNotFoundError:
				return None

		def parse():
			out = {}
			with open(self.counters_file) as f:
				for ln in f:
					k, _, v = ln.strip().partition(' ')
					if k:
						out[k] = int(v)
			return out
		before = stamp()
		self.proc.send_signal(signal.SIGUSR1)
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline and stamp() in (before, None):
			time.sleep(0.01)
		if stamp() in (before, None):
			raise RuntimeError('counters file %s not rewritten within %.1fs after SIGUSR1'
					   % (self.counters_file, timeout))
		out = parse()
		while until and not until(out) and time.monotonic() < deadline:
			time.sleep(0.02)
			out = parse()
		return out


class AdminEdgecache(Edgecache):
	"""edgecache with a loopback [admin] section on a free port (no token):
	GET /metrics and the JSON endpoints through admin_request."""

	def __init__(self, zones, **kw):
		self.admin_port = free_port()
		super().__init__(zones, **kw)

	def write_config(self):
		main = super().write_config()
		with open(main, 'a') as f:
			f.write('[admin]\nlisten = 127.0.0.1:%d\n' % self.admin_port)
		return main


def admin_request(port, method, path, body=b'', timeout=10.0):
	"""(status, body bytes) of one request to the admin API on port
	(Connection: close, read to EOF)."""
	s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
	try:
		s.sendall(('%s %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n'
			   'Content-Length: %d\r\n\r\n' % (method, path, len(body))).encode() + body)
		buf = b''
		while True:
			b = s.recv(65536)
			if not b:
				break
			buf += b
	finally:
		s.close()
	head, _, rest = buf.partition(b'\r\n\r\n')
	return int(head.split()[1]), rest


def metrics_text(srv, timeout=10.0):
	"""GET /metrics of an AdminEdgecache, as text."""
	return admin_request(srv.admin_port, 'GET', '/metrics', timeout=timeout)[1].decode('latin-1')


class HeadServer:
	"""A scripted origin on a free loopback port, a thread per connection:
	each request head read (up to the blank line; bodies are not read) is
	handed to answer(conn, head_text), which writes the response. For
	tests that need an origin to hold, pace or misframe an answer."""

	def __init__(self, backlog=64):
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(('127.0.0.1', 0))
		self.sock.listen(backlog)
		self.port = self.sock.getsockname()[1]
		self.url = 'http://127.0.0.1:%d' % self.port
		self.stop = False
		threading.Thread(target=self._accept, daemon=True).start()

	def answer(self, c, head):
		raise NotImplementedError

	def wrap(self, c):
		"""The socket answer() gets: c itself, or a TLS one (an https origin)."""
		return c

	def _accept(self):
		self.sock.settimeout(0.2)
		while not self.stop:
			try:
				c, _ = self.sock.accept()
			except socket.timeout:
				continue
			except OSError:
				return
			threading.Thread(target=self._serve, args=(c,), daemon=True).start()

	def _serve(self, c):
		c.settimeout(10)
		buf = b''
		try:
			c = self.wrap(c)
			while True:
				while b'\r\n\r\n' not in buf:
					d = c.recv(65536)
					if not d:
						return
					buf += d
				head, buf = buf.split(b'\r\n\r\n', 1)
				self.answer(c, head.decode('latin-1'))
		except OSError:
			pass
		finally:
			c.close()

	def close(self):
		self.stop = True
		self.sock.close()


class NginxProxy(Server):
	"""nginx configured as the same reverse proxy, to validate the tests."""
	kind = 'nginx'
	has_counters = False

	def __init__(self, zones, **server):
		super().__init__(zones, **server)
		self.conf = os.path.join(self.dir, 'nginx.conf')
		s = self.server
		ms = lambda k: '%dms' % s[k]
		http = [nginx_temp_paths(self.dir),
			"log_format edge '$time_iso8601 $host $request_method $request_uri $status "
			"$body_bytes_sent $upstream_status PASS $request_time $connection';",
			'access_log %s edge;' % self.access_log,
			'large_client_header_buffers 4 8k;',
			'client_header_timeout %s;' % ms('header_timeout_ms'),
			'keepalive_timeout %s;' % ms('idle_timeout_ms'),
			'keepalive_requests 100000;',
			'client_max_body_size %d;' % int(s.get('max_body_bytes', 64 << 20))]
		has_default = any('*' in z['hosts'] for z in zones)
		for i, z in enumerate(zones):
			http.append(self.upstream(i, z))
			names = [h for h in z['hosts'] if h != '*']
			http.append(self.server_block(i, z, names, '*' in z['hosts']))
		if not has_default:
			http.append('server { listen 127.0.0.1:%d default_server; return 404; }' % self.port)
		with open(self.conf, 'w') as f:
			f.write(nginx_main_conf(self.dir, master=True, nofile=16384))
			f.write('worker_shutdown_timeout %s;\n' % ms('drain_timeout_ms'))
			f.write('http {\n\t' + '\n\t'.join(http) + '\n}\n')

	def upstream(self, i, z):
		backoff = '%ds' % max(1, self.server.get('origin_backoff_ms', 5000) // 1000)
		srv = ''.join('server %s max_fails=1 fail_timeout=%s; ' % (url.split('//', 1)[1], backoff)
			      for _, url, _ in z['origins'])
		return 'upstream z%d { %s keepalive 64; }' % (i, srv)

	def server_block(self, i, z, names, default):
		o = z['origins'][0][2]
		return ('server { listen 127.0.0.1:%d%s; server_name %s; location / { '
			'proxy_pass http://z%d; proxy_http_version 1.1; '
			'proxy_set_header Connection ""; proxy_buffering off; '
			'proxy_request_buffering off; proxy_next_upstream error; '
			'proxy_connect_timeout %dms; proxy_read_timeout %dms; } }' %
			(self.port, ' default_server' if default else '',
			 ' '.join(names) or '_', i,
			 int(o.get('connect_timeout_ms', 3000)), int(o.get('read_timeout_ms', 30000))))

	def start(self, timeout=START_TIMEOUT):
		log = os.path.join(self.dir, 'stderr.log')
		self.proc = start_proc([NGINX, '-p', self.dir, '-c', self.conf], log, signal.SIGQUIT)
		wait_port(self.port, self.proc, timeout, log=log)
		return self

	def stop(self, sig=signal.SIGTERM, timeout=15.0):
		# edgecache's SIGTERM drains; nginx drains on SIGQUIT.
		return stop_proc(self.proc, signal.SIGQUIT if sig == signal.SIGTERM else sig, timeout)

	def counters(self, timeout=3.0):
		raise RuntimeError('nginx has no edgecache counters')

	def sanitizer_report(self):
		return False


def server(zones, **kw):
	"""The server under test, per EDGETEST_TARGET (not started)."""
	if TARGET == 'nginx':
		return NginxProxy(zones, **kw)
	return Edgecache(zones, **kw)


# ---- a raw HTTP/1.1 client ---------------------------------------------------

class Closed(Exception):
	"""The server closed the connection (EOF or reset) before a full response."""


class Response:
	def __init__(self):
		self.status, self.reason, self.headers = 0, '', []
		self.body, self.complete, self.framing = b'', False, None

	def header(self, name):
		for k, v in self.headers:
			if k.lower() == name.lower():
				return v
		return None

	def __repr__(self):
		return '<%d %s, %d body bytes%s>' % (self.status, self.reason, len(self.body),
						     '' if self.complete else ', INCOMPLETE')


class RawConn:
	"""One TCP connection: send any bytes, read framed responses, see closes."""

	def __init__(self, port, timeout=10.0):
		self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
		self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.timeout = timeout
		self.buf = bytearray()
		self.eof = False

	def send(self, data):
		self.sock.sendall(data)

	def close(self):
		self.sock.close()

	def _fill(self, deadline):
		"""Read more into buf; False at EOF/reset. Raises socket.timeout."""
		if self.eof:
			return False
		left = deadline - time.monotonic()
		if left <= 0:
			raise socket.timeout('response not complete within %.1fs' % self.timeout)
		self.sock.settimeout(left)
		try:
			d = self.sock.recv(1 << 20)
		except ConnectionResetError:
			d = b''
		if not d:
			self.eof = True
			return False
		self.buf += d
		return True

	def read_all(self, timeout=None):
		"""Every byte until the peer closes (what is buffered, then the rest)."""
		deadline = time.monotonic() + (timeout or self.timeout)
		while self._fill(deadline):
			pass
		return self._take(len(self.buf))

	def _take(self, n):
		out = bytes(self.buf[:n])
		del self.buf[:n]
		return out

	def _line(self, deadline):
		while True:
			i = self.buf.find(b'\r\n')
			if i >= 0:
				return self._take(i + 2)[:-2]
			if not self._fill(deadline):
				raise Closed('closed mid-line')

	def _head(self, deadline, r):
		while True:
			i = self.buf.find(b'\r\n\r\n')
			if i >= 0:
				break
			if not self._fill(deadline):
				raise Closed('closed before a response head (%d bytes)' % len(self.buf))
		lines = self._take(i + 4).decode('latin-1').split('\r\n')
		ver, status, *reason = lines[0].split(' ', 2)
		r.status, r.reason = int(status), reason[0] if reason else ''
		r.headers = [tuple(x.strip() for x in ln.split(':', 1)) for ln in lines[1:] if ':' in ln]

	def read_response(self, head_request=False, timeout=None):
		"""The next response. Raises Closed if none starts; a body cut short
		returns with complete=False."""
		deadline = time.monotonic() + (timeout or self.timeout)
		r = Response()
		while True:
			self._head(deadline, r)
			if r.status >= 200:
				break
		te, cl = r.header('transfer-encoding'), r.header('content-length')
		if head_request or r.status in (204, 304):
			r.framing, r.complete = 'none', True
		elif te and 'chunked' in te.lower():
			r.framing = 'chunked'
			self._chunked(deadline, r)
		elif cl is not None:
			r.framing = 'length'
			n = int(cl)
			while len(self.buf) < n and self._fill(deadline):
				pass
			r.body = self._take(min(n, len(self.buf)))
			r.complete = len(r.body) == n
		else:
			r.framing = 'close'
			while self._fill(deadline):
				pass
			r.body, r.complete = self._take(len(self.buf)), True
		return r

	def _chunked(self, deadline, r):
		parts = []
		try:
			while True:
				size = int(self._line(deadline).split(b';')[0].strip(), 16)
				if size == 0:
					while self._line(deadline) != b'':
						pass
					r.complete = True
					break
				while len(self.buf) < size + 2 and self._fill(deadline):
					pass
				if len(self.buf) < size + 2:
					parts.append(self._take(len(self.buf)))
					break
				parts.append(self._take(size))
				self._take(2)
		except Closed:
			pass
		r.body = b''.join(parts)

	def closed(self, timeout=3.0):
		"""True if the peer closes (EOF/reset) within timeout; data is dropped."""
		deadline = time.monotonic() + timeout
		try:
			while self._fill(deadline):
				self.buf.clear()
			return True
		except socket.timeout:
			return False


def h2_frames(buf):
	"""Whole HTTP/2 frames at the front of buf: [(type, flags, stream id,
	payload)], and the bytes after the last whole frame."""
	out = []
	while len(buf) >= 9:
		n = int.from_bytes(buf[:3], 'big')
		if len(buf) < 9 + n:
			break
		out.append((buf[3], buf[4], int.from_bytes(buf[5:9], 'big') & 0x7fffffff, buf[9:9 + n]))
		buf = buf[9 + n:]
	return out, buf


def tls_hello_bytes(host):
	"""A real TLS ClientHello for host (Python's ssl through memory BIOs),
	to send by hand: in pieces, or stalled."""
	import ssl
	ctx = ssl.create_default_context()
	inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
	obj = ctx.wrap_bio(inc, out, server_hostname=host)
	try:
		obj.do_handshake()
	except ssl.SSLWantReadError:
		pass
	return out.read()


def admin_post_raw(port, path, obj, timeout=10.0):
	"""POST obj as JSON to the admin API (no token) with Connection: close;
	the whole answer's bytes."""
	import json
	body = json.dumps(obj).encode()
	c = RawConn(port, timeout)
	try:
		c.send(b'POST %s HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n'
		       b'Content-Length: %d\r\n\r\n%s' % (path.encode(), len(body), body))
		return c.read_all()
	finally:
		c.close()


def request(port, method, path, host='localhost', headers=(), body=None, timeout=10.0):
	"""One request on a fresh connection, read, close."""
	c = RawConn(port, timeout)
	try:
		c.send(build(method, path, host, headers, body))
		return c.read_response(head_request=(method == 'HEAD'))
	finally:
		c.close()


def build(method, path, host='localhost', headers=(), body=None):
	lines = ['%s %s HTTP/1.1' % (method, path), 'Host: %s' % host]
	lines += ['%s: %s' % kv for kv in headers]
	if body is not None and not any(k.lower() in ('content-length', 'transfer-encoding')
					for k, _ in headers):
		lines.append('Content-Length: %d' % len(body))
	return ('\r\n'.join(lines) + '\r\n\r\n').encode() + (body or b'')


def chunk(body, size=4096):
	"""body in chunked framing, with the terminating 0-chunk."""
	out = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + size]), body[i:i + size])
		       for i in range(0, len(body), size))
	return out + b'0\r\n\r\n'
