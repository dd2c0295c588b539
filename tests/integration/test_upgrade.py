#!/usr/bin/python3
"""Upgrades without a refused connection, a failed request or a cold cache
(control/upgrade.h, docs/OPERATIONS.md "Upgrading").

wrk with keep-alive (plain HTTP and HTTPS), wrk with `Connection: close` and
h2load (h2c) run while the process is upgraded 3 times in a row — by
SIGUSR2, then twice by `edgecache upgrade -c FILE`, the third with one more
`listen` address in the config: 0 connect/write/timeout errors, 0 non-2xx,
0 read errors (with `Connection: close` too: the EOFs wrk read beside
h2load were a lingering close's late shutdown hitting a reused fd, fixed in
net/vconn.c, test_linger_close), 0 failed or errored streams (h2load in runs whose clients
open all their streams at once: it never reconnects after a GOAWAY). A
second request while an upgrade runs is refused with a clear error.
Afterwards the objects cached before are still hits (X-Cache: HIT, no
origin request), the last process loaded the store from the checkpoint
(store_scan_entries 0) and took the listening sockets over
(upgrade_inherited), the admin API answers, and the added address serves.
The upgrade socket is 0600 in a 0700 directory. A broken config:
`edgecache upgrade` says so and starts nothing; SIGUSR2 starts the new
binary, which fails, and the old one keeps serving (upgrade_failed); a
new binary that never serves is killed after the ready bound and the old
one serves on (upgrade_timeouts)."""
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

FILES = {'f%d' % i: 1024 + i for i in range(8)}
LOAD_S = 30          # every load run's bound; the three upgrades must fit in it
AFTER_S = 1.5        # load kept on after the last upgrade, then stopped (SIGINT)


def pid_alive(pid):
	try:
		os.kill(pid, 0)
	except ProcessLookupError:
		return False
	# a zombie (reparented, not reaped yet) is gone for us
	try:
		with open('/proc/%d/stat' % pid) as f:
			return f.read().split(') ')[-1][0] != 'Z'
	except FileNotFoundError:
		return False


def wait_gone(pid, timeout):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline and pid_alive(pid):
		time.sleep(0.05)
	return not pid_alive(pid)


def wait_log(path, pattern, timeout, start=0):
	"""The first match of pattern in the log after byte `start`, or None."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		with open(path, 'rb') as f:
			f.seek(start)
			m = re.search(pattern, f.read().decode('latin-1'))
		if m:
			return m
		time.sleep(0.05)
	return None


def counters_of(srv, pid, timeout=5.0):
	"""SIGUSR1 to pid, then its counters file once rewritten."""
	path = srv.counters_file
	before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
	os.kill(pid, signal.SIGUSR1)
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
			break
		time.sleep(0.02)
	out = {}
	with open(path) as f:
		for ln in f:
			k, _, v = ln.strip().partition(' ')
			if k and v.lstrip('-').isdigit():
				out[k] = int(v)
	return out


def upgrade_cli(srv):
	r = subprocess.run([srv.bin, 'upgrade', '-c', srv.main], capture_output=True, timeout=60)
	return r.returncode, (r.stdout + r.stderr).decode('latin-1')


def new_pid(text):
	m = re.search(r'new process (\d+) serving', text)
	return int(m.group(1)) if m else None


def get(port, path, headers=()):
	c = et.RawConn(port, timeout=10)
	try:
		c.send(et.build('GET', path, headers=list(headers) + [('Connection', 'close')]))
		return c.read_response()
	finally:
		c.close()


def start_load(srv, tls_port):
	plain = 'http://127.0.0.1:%d' % srv.port
	d = srv.dir
	runs = {
		'wrk keep-alive': ['wrk', '-t1', '-c4', '-d%ds' % LOAD_S, '--timeout', '10s',
				   plain + '/f1'],
		'wrk Connection: close': ['wrk', '-t1', '-c2', '-d%ds' % LOAD_S, '--timeout', '10s',
					  '-H', 'Connection: close', plain + '/f2'],
		'wrk keep-alive https': ['wrk', '-t1', '-c2', '-d%ds' % LOAD_S, '--timeout', '10s',
					 'https://127.0.0.1:%d/f3' % tls_port],
	}
	procs = {}
	for name, cmd in runs.items():
		out = open(os.path.join(d, name.replace(' ', '_').replace(':', '') + '.out'), 'w+b')
		procs[name] = (subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out)
	h2 = {'runs': [], 'stop': time.monotonic() + LOAD_S}
	th = threading.Thread(target=h2load_loop, args=(plain + '/f4', h2), daemon=True)
	th.start()
	procs['h2load h2c'] = (th, h2)
	return procs


def stop_load(procs):
	"""wrk prints its results on SIGINT; the h2load loop ends its run."""
	for name, (p, out) in procs.items():
		if name.startswith('h2load'):
			out['stop'] = time.monotonic()
		elif p.poll() is None:
			p.send_signal(signal.SIGINT)


def h2load_loop(url, h2):
	"""h2load runs back to back until h2['stop']: each client opens all its
	streams at once (-n 64 -c 2 -m 32). h2load never reconnects: a client
	that still had streams to open when a GOAWAY came counts them failed,
	whatever the server does, so each client has none left to open; the
	check is that every stream in flight when the GOAWAY came is answered
	and that the next run's new connections are taken."""
	while time.monotonic() < h2['stop']:
		try:
			r = subprocess.run(['h2load', '-n64', '-c2', '-m32', '-T', '10', url],
					   capture_output=True, timeout=30)
			h2['runs'].append(r.stdout.decode('latin-1'))
		except subprocess.TimeoutExpired as e:
			h2['runs'].append('timed out: %r' % e)


def load_results(ck, procs):
	for name, (p, out) in procs.items():
		if name.startswith('h2load'):
			p.join(LOAD_S + 40)
			h2load_results(ck, name, out)
			continue
		try:
			p.wait(LOAD_S + 30)
		except subprocess.TimeoutExpired:
			p.kill()
			p.wait()
		out.seek(0)
		text = out.read().decode('latin-1')
		out.close()
		if name.startswith('wrk'):
			m = re.search(r'(\d+) requests in', text)
			n = int(m.group(1)) if m else 0
			e = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), '
				      r'timeout (\d+)', text)
			errs = [int(x) for x in e.groups()] if e else [0, 0, 0, 0]
			ok = (p.returncode == 0 and n > 0 and errs == [0, 0, 0, 0] and
			      'Non-2xx' not in text)
			ck.check('%s across the upgrades: %d requests, 0 connect/read/write/timeout '
				 'errors (%d read), no non-2xx' % (name, n, errs[1]), ok, text[-700:])


def h2load_results(ck, name, h2):
	runs, total, bad = h2['runs'], 0, []
	for text in runs:
		m = re.search(r'requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, '
			      r'(\d+) failed, (\d+) errored, (\d+) timeout', text)
		s = re.search(r'status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx', text)
		if (m and s and m.group(3) == m.group(1) == s.group(1) and
		    m.group(4) == m.group(5) == m.group(6) == '0'):
			total += int(m.group(3))
		else:
			bad.append(text[-700:])
	ck.check('%s across the upgrades: %d runs, %d streams, every one 2xx, 0 failed/'
		 'errored/timeout' % (name, len(runs), total), runs and not bad,
		 '\n'.join(bad[:2]))


def check_refused_while_running(ck, srv, pid, log_at):
	"""SIGUSR2, and at once `edgecache upgrade`: the second is refused."""
	os.kill(pid, signal.SIGUSR2)
	rc, text = upgrade_cli(srv)
	ck.check('a second upgrade while one runs: refused, exit 1, "already running"',
		 rc == 1 and 'an upgrade is already running' in text, text)
	m = wait_log(srv.error_log, r'upgrade: new process (\d+) serving', 40, log_at)
	ck.check('the upgrade begun by SIGUSR2 is done', m is not None,
		 et._tail(srv.error_log, 3000))
	return int(m.group(1)) if m else None


def main():
	ck = et.Checks()
	origin = et.NginxOrigin(FILES)
	d = et.tmpdir('upgrade-cfg')
	ca, cert, key = et.make_test_ca(d)
	tls_port = et.free_port()
	sock_dir = os.path.join(d, 'run')
	zones = [et.zone('u', ['*'], [('o', origin.url, {})], default_ttl=600,
			 tls_cert=cert, tls_key=key)]
	srv = et.AdminEdgecache(zones, workers=2, listen_tls='127.0.0.1:%d' % tls_port,
				upgrade_socket=os.path.join(sock_dir, 'upgrade.sock'),
				drain_timeout_ms=5000,
				cache={'path': os.path.join(d, 'cache.dat'), 'size': '64m'}).start()
	pids = []
	try:
		for name in FILES:
			r1 = get(srv.port, '/' + name)
			r2 = get(srv.port, '/' + name)
			if r1.status != 200 or r2.header('x-cache') != 'HIT':
				ck.check('warm-up: %s MISS then HIT' % name, False, repr((r1, r2)))
		n_origin = len(origin.log_wait(len(FILES)))
		st_dir, st_sock = os.stat(sock_dir), os.stat(os.path.join(sock_dir, 'upgrade.sock'))
		ck.check('the upgrade socket is 0600 in a 0700 directory',
			 stat.S_IMODE(st_dir.st_mode) == 0o700 and
			 stat.S_IMODE(st_sock.st_mode) == 0o600,
			 '%o %o' % (st_dir.st_mode, st_sock.st_mode))

		procs = start_load(srv, tls_port)
		time.sleep(1.5)
		pid = srv.proc.pid
		pids.append(pid)
		t0 = time.monotonic()
		# 1: SIGUSR2 (and a second request meanwhile, refused)
		pid = check_refused_while_running(ck, srv, pid, 0)
		if pid:
			pids.append(pid)
		# 2: edgecache upgrade
		rc, text = upgrade_cli(srv)
		ck.check('edgecache upgrade (2nd): exit 0, "new process N serving"',
			 rc == 0 and new_pid(text), text)
		if new_pid(text):
			pids.append(new_pid(text))
		# 3: edgecache upgrade with one more listen address
		port2 = et.free_port()
		srv.server['listen'] = '127.0.0.1:%d, 127.0.0.1:%d' % (srv.port, port2)
		srv.main = srv.write_config()
		rc, text = upgrade_cli(srv)
		ck.check('edgecache upgrade (3rd, one more listen address): exit 0',
			 rc == 0 and new_pid(text), text)
		if new_pid(text):
			pids.append(new_pid(text))
		took = time.monotonic() - t0
		ck.check('the 3 upgrades took %.1f s, all while the load ran' % took,
			 took < LOAD_S - 2 * AFTER_S, '')
		time.sleep(AFTER_S)
		stop_load(procs)
		load_results(ck, procs)
		last = pids[-1]
		for p in pids[:-1]:
			ck.check('old process %d exited after its drain' % p, wait_gone(p, 10), '')

		base = len(origin.log())
		ok = True
		for name in FILES:
			r = get(srv.port, '/' + name)
			ok = ok and r.status == 200 and r.header('x-cache') == 'HIT'
		ck.check('after 3 upgrades every object cached before is a HIT',
			 ok and len(origin.log()) == base, '%d origin requests' % (len(origin.log()) - base))
		r = get(port2, '/f5')
		ck.check('the listen address the 3rd config added serves', r.status == 200, repr(r))
		st, body = et.admin_request(srv.admin_port, 'GET', '/metrics')
		ck.check('the admin API answers in the last process', st == 200, repr(st))
		c = counters_of(srv, last)
		ck.check('the last process loaded the checkpoint, scanned nothing, took the '
			 'sockets over: ckpt_entries >= %d, scan_entries 0, upgrade_inherited > 0'
			 % len(FILES),
			 c.get('store_ckpt_entries', 0) >= len(FILES) and
			 c.get('store_scan_entries') == 0 and c.get('upgrade_inherited', 0) > 0,
			 repr({k: v for k, v in c.items() if k.startswith(('store_ckpt', 'store_scan',
									  'upgrade_'))}))
		m = re.findall(r'objects recovered in \d+ ms \((\d+) from the checkpoint, (\d+) by scan',
			       open(srv.error_log, 'rb').read().decode('latin-1'))
		ck.check('the log says so each time: "(N from the checkpoint, 0 by scan)"',
			 len(m) >= 4 and all(s == '0' for _, s in m[1:]) and int(m[-1][0]) >= len(FILES),
			 repr(m))

		# A broken config: the CLI says so and starts nothing ...
		text = open(srv.main).read().replace('[server]\n', '[server]\nbogus_key = 1\n', 1)
		with open(srv.main, 'w') as f:
			f.write(text)
		rc, text = upgrade_cli(srv)
		ck.check('edgecache upgrade with a broken config: exit 1, the error, nothing started',
			 rc == 1 and 'bogus_key' in text and 'nothing started' in text, text)
		# ... and SIGUSR2 starts the new binary, which fails: the old serves on.
		at = os.path.getsize(srv.error_log)
		os.kill(last, signal.SIGUSR2)
		m = wait_log(srv.error_log, r'upgrade failed: new process \d+: ([^\n]*)', 20, at)
		ck.check('SIGUSR2 with a broken config: "upgrade failed: ... still serving"',
			 m is not None and 'bogus_key' in m.group(1) and 'still serving' in m.group(1),
			 m.group(0) if m else et._tail(srv.error_log))
		r = get(srv.port, '/f6')
		c = counters_of(srv, last)
		ck.check('the old process still serves (HIT), upgrade_failed 1',
			 pid_alive(last) and r.status == 200 and r.header('x-cache') == 'HIT' and
			 c.get('upgrade_failed') == 1, repr((r, c.get('upgrade_failed'))))
		check_never_ready(ck, origin)
		check_as_user(ck, origin)
	finally:
		for p in pids[1:]:
			if pid_alive(p):
				os.kill(p, signal.SIGTERM)
				if not wait_gone(p, 10):
					os.kill(p, signal.SIGKILL)
		srv.stop()
		origin.stop()
	ck.check('no sanitizer report', not srv.sanitizer_report(), '')
	ck.finish()


def check_as_user(ck, origin):
	"""With [server] user = nobody the cache file (created by root) is
	given to the user before the drop: the new process, which runs as
	nobody from the start, opens it and the upgrade succeeds."""
	d = et.tmpdir('upgrade-user')
	os.chmod(d, 0o777)
	zones = [et.zone('u', ['*'], [('o', origin.url, {})], default_ttl=600)]
	srv = et.Edgecache(zones, workers=1, user='nobody', drain_timeout_ms=2000,
			   cache={'path': os.path.join(d, 'cache.dat'), 'size': '64m'})
	os.chmod(srv.dir, 0o777)       # nobody reads its config again there
	srv.start()
	new = None
	try:
		subprocess.run(['chmod', '-R', 'a+rwX', srv.dir], check=True)
		old = srv.proc.pid
		os.kill(old, signal.SIGUSR2)
		m = wait_log(srv.error_log, r'new process (\d+) serving', 15)
		new = int(m.group(1)) if m else None
		r = get(srv.port, '/f1') if new else None
		ck.check('user = nobody: upgrade done, the new process serves',
			 new and wait_gone(old, 10) and r.status == 200,
			 open(srv.error_log).read()[-600:])
	finally:
		if new and pid_alive(new):
			os.kill(new, signal.SIGTERM)
			if not wait_gone(new, 10):
				os.kill(new, signal.SIGKILL)
		srv.stop()
	ck.check('no sanitizer report (user = nobody)', not srv.sanitizer_report(), '')


def check_never_ready(ck, origin):
	"""A new binary that never serves (its zone file is a FIFO nobody
	writes: it blocks reading its config) is killed after the ready bound
	(the test hook shortens LIMIT_UPGRADE_READY_MS to 1.5 s) and the old
	process serves on."""
	zones = [et.zone('u', ['*'], [('o', origin.url, {})], default_ttl=600)]
	os.environ['EDGECACHE_TEST_UPGRADE_READY_MS'] = '1500'
	try:
		srv = et.Edgecache(zones, workers=1).start()
	finally:
		del os.environ['EDGECACHE_TEST_UPGRADE_READY_MS']
	try:
		os.mkfifo(os.path.join(srv.dir, 'zones', 'zz-hang.ini'))
		at = os.path.getsize(srv.error_log)
		srv.proc.send_signal(signal.SIGUSR2)
		m = wait_log(srv.error_log, r'upgrade failed: new process (\d+): ([^\n]*)', 20, at)
		ck.check('a new binary that never serves: killed after 1.5 s, "still serving"',
			 m is not None and 'not serving within 1500 ms: killed' in m.group(2) and
			 'killed by signal 9' in m.group(2) and 'still serving' in m.group(2),
			 m.group(0) if m else et._tail(srv.error_log))
		os.unlink(os.path.join(srv.dir, 'zones', 'zz-hang.ini'))
		r = get(srv.port, '/f7')
		c = srv.counters()
		ck.check('the old process serves on: 200, upgrade_timeouts 1, upgrade_failed 1',
			 r.status == 200 and c.get('upgrade_timeouts') == 1 and
			 c.get('upgrade_failed') == 1, repr((r, c.get('upgrade_timeouts'))))
		ck.check('it still exits 0 on SIGTERM', srv.stop() == 0, '')
	finally:
		if srv.running():
			srv.stop()


if __name__ == '__main__':
	main()
