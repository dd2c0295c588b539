#!/usr/bin/python3
"""tests/integration/test_demo.py — `scripts/demo`, the README's first
command, run as a newcomer would but non-interactively (issue 14 part 1).

Run 1, DEMO_EXIT=1: the demo starts nginx, Swift + s3api (21540-21544) and
edgecache with config.ini.example plus a bucket zone, and prints one line
per expectation; every one must say `ok` (MISS then HIT with Age, the
private object through SigV4, the bucket refusing unsigned and wrongly
signed GETs, a key rotation through the admin API, the old key deleted and
a miss still 200, a purge, /metrics), the demo must exit 0, and the access
log it leaves must agree (a MISS then a HIT for `/`, bucket misses signed
with two generations). No secret in its output.
Run 2, interactive: after "Press Ctrl-C" a SIGINT to its process group
(what a terminal's Ctrl-C does) → exit 130.
After each: nothing it started is running (no process names its
directory), its ports are closed, the 1 GiB store file is gone.
Exits 77 without nginx or Swift's packages.
"""
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402

SWIFT_PORT = 21540          # and the next 4 (other tests: 21000..21404)
RUN_TIMEOUT_S = 150
CHECKS = ('cache: MISS then HIT', 'private object via SigV4', 'bucket refuses unsigned',
	  'bucket refuses a bad signature', 'key rotation (admin API)', 'old key deleted',
	  'purge', 'metrics')


def env_for(d, ports, interactive):
	e = dict(os.environ)
	e.update(DEMO_DIR=d, EDGECACHE_BIN=BIN, DEMO_EDGE_PORT=str(ports[0]),
		 DEMO_ORIGIN_PORT=str(ports[1]), DEMO_ADMIN_PORT=str(ports[2]),
		 DEMO_SWIFT_PORT=str(SWIFT_PORT))
	if not interactive:
		e['DEMO_EXIT'] = '1'
	else:
		e.pop('DEMO_EXIT', None)
	return e


def left_behind(d, ports):
	"""Processes naming the demo's directory, ports still accepting."""
	procs = []
	for pid in os.listdir('/proc'):
		if not pid.isdigit() or int(pid) == os.getpid():
			continue
		try:
			with open('/proc/%s/cmdline' % pid, 'rb') as f:
				cmd = f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
		except OSError:
			continue
		if d in cmd:
			procs.append('%s: %s' % (pid, cmd[:120]))
	open_ports = []
	for p in list(ports) + [SWIFT_PORT + i for i in range(5)]:
		with socket.socket() as s:
			s.settimeout(0.5)
			if s.connect_ex(('127.0.0.1', p)) == 0:
				open_ports.append(p)
	return procs, open_ports


def check_clean(ck, tag, d, ports):
	# The demo waits for what it stopped; allow the last exits a moment.
	deadline = time.monotonic() + 10
	while True:
		procs, open_ports = left_behind(d, ports)
		if (not procs and not open_ports) or time.monotonic() > deadline:
			break
		time.sleep(0.2)
	ck.check('%s: no process of the demo left running' % tag, not procs, procs)
	ck.check('%s: its ports closed' % tag, not open_ports, open_ports)
	ck.check('%s: the store file removed' % tag,
		 not os.path.exists(os.path.join(d, 'var', 'edgecache.dat')))


def secrets(d):
	out = []
	for k in ('key1', 'key2'):
		with open(os.path.join(d, 'secrets', k)) as f:
			out.append(f.read())
	return out


def run_once(ck, d, ports):
	try:
		r = subprocess.run([os.path.join(et.SRC, 'scripts', 'demo')], env=env_for(d, ports, False),
				   capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
				   stdin=subprocess.DEVNULL, start_new_session=True)
	except subprocess.TimeoutExpired as e:
		ck.check('DEMO_EXIT=1: finished within %d s' % RUN_TIMEOUT_S, False, e)
		return
	out = r.stdout + r.stderr
	print(r.stdout, flush=True)
	ck.check('DEMO_EXIT=1: exit 0, "all checks held"', r.returncode == 0 and
		 'demo: all checks held' in r.stdout, 'exit %d\n%s' % (r.returncode, out[-3000:]))
	lines = r.stdout.splitlines()
	for name in CHECKS:
		hit = [i for i, l in enumerate(lines) if l[7:].startswith(name)]
		ck.check('line "%s": ok, followed by what to look for' % name,
			 len(hit) == 1 and lines[hit[0]].startswith('ok ') and
			 hit[0] + 1 < len(lines) and 'look for: ' in lines[hit[0] + 1],
			 [lines[i] for i in hit] or 'no such line')
	ck.check('no line FAILED', not any(l.startswith('FAILED') for l in lines))
	# The access log agrees with what the demo printed.
	try:
		with open(os.path.join(d, 'logs', 'access.log')) as f:
			log = [l.split() for l in f]
	except OSError as e:
		log = []
		ck.check('access log written', False, e)
	root = [l[7] for l in log if len(l) > 7 and l[1] == 'demo' and l[3] == '/']
	ck.check('access log: / MISS then HIT', root[:2] == ['MISS', 'HIT'], root)
	gens = sorted({l[9] for l in log if len(l) > 9 and l[1] == 'bucket' and l[9] != '-'})
	ck.check('access log: bucket misses signed with two generations', len(gens) == 2, gens)
	ck.check('no sanitizer report', not any(w in out for w in (
		'AddressSanitizer', 'LeakSanitizer', 'runtime error:')), out[-3000:])
	leaked = [i for i, s in enumerate(secrets(d)) if s and s in out]
	ck.check('no secret in the demo\'s output', not leaked, 'key%s' % leaked)
	check_clean(ck, 'DEMO_EXIT=1', d, ports)


def reader(stream, q):
	for line in stream:
		q.put(line)
	q.put(None)


def take_lines(q, seen, within_s, until=None, quiet_s=None):
	"""Append the demo's lines from q to seen, for at most within_s: True
	once a line matches until; False at its end of output, past within_s,
	or after quiet_s seconds without a line (when given)."""
	deadline = time.monotonic() + within_s
	while time.monotonic() < deadline:
		try:
			line = q.get(timeout=quiet_s or 1)
		except queue.Empty:
			if quiet_s:
				return False
			continue
		if line is None:
			return False
		seen.append(line)
		if until and until(line):
			return True
	return False


def run_ctrl_c(ck, d, ports):
	p = subprocess.Popen([os.path.join(et.SRC, 'scripts', 'demo')], env=env_for(d, ports, True),
			     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
			     stdin=subprocess.DEVNULL, start_new_session=True)
	q = queue.Queue()
	threading.Thread(target=reader, args=(p.stdout, q), daemon=True).start()
	seen = []
	ready = take_lines(q, seen, RUN_TIMEOUT_S, lambda l: l.startswith('Press Ctrl-C'))
	ck.check('interactive: all checks held, then "Press Ctrl-C"', ready and
		 any('demo: all checks held' in l for l in seen), ''.join(seen[-40:]))
	time.sleep(0.5)
	# A terminal's Ctrl-C: SIGINT to the foreground process group.
	try:
		os.killpg(p.pid, signal.SIGINT)
	except ProcessLookupError:
		pass
	try:
		rc = p.wait(timeout=30)
	except subprocess.TimeoutExpired:
		os.killpg(p.pid, signal.SIGKILL)
		rc = p.wait()
		ck.check('Ctrl-C: the demo exits within 30 s', False)
	take_lines(q, seen, 30, quiet_s=2)
	ck.check('Ctrl-C: exit 130, "stopped everything it started"', rc == 130 and
		 any('stopped everything it started' in l for l in seen), 'exit %d' % rc)
	check_clean(ck, 'Ctrl-C', d, ports)


def main():
	global BIN
	if et.TARGET != 'edgecache':
		et.skip('the demo runs edgecache')
	BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')
	if not os.access(BIN, os.X_OK):
		et.skip('edgecache binary not found at %s' % BIN)
	missing = swift.missing_packages() + [c for c in ('nginx', 'curl', 'setsid')
					       if shutil.which(c) is None]
	if missing:
		et.skip('missing: ' + ' '.join(missing) + ' (scripts/setup)')
	ck = et.Checks()
	# Under var/ like the demo's own directory: the store needs a disk
	# filesystem, and /tmp may be tmpfs.
	os.makedirs(os.path.join(et.SRC, 'var'), exist_ok=True)
	for tag, fn in (('exit', run_once), ('ctrlc', run_ctrl_c)):
		d = tempfile.mkdtemp(prefix='test-demo-%s-' % tag, dir=os.path.join(et.SRC, 'var'))
		try:
			fn(ck, d, [et.free_port() for _ in range(3)])
		finally:
			shutil.rmtree(d, ignore_errors=True)
	ck.finish()


if __name__ == '__main__':
	main()
