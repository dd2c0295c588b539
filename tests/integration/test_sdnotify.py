#!/usr/bin/python3
"""systemd's notify protocol through the real binary (control/sdnotify.h),
with this test as the service manager: a datagram socket named in
NOTIFY_SOCKET, WATCHDOG_USEC in the environment.

Checks: READY=1 (with MAINPID=<pid> and STATUS=) arrives once, and when it
does the listener answers at once and the cache is open (a MISS then a
HIT); WATCHDOG=1 arrives every half WATCHDOG_USEC; with the shard thread
held by ptrace (the control thread running on) the pings stop, the
withheld pings are counted (sdnotify_watchdog_withheld) and logged, and
they start again within a tick once the shard runs (not a period after
the withheld one: that was a restart); with the control thread held
(what a resolver timing out does to it) the pings go on — the
before-binary pinged from the control loop and went silent;
SIGTERM sends STOPPING=1. A path
socket works as the abstract one does, and no WATCHDOG_USEC means no ping.
A NOTIFY_SOCKET that cannot be a socket name refuses start with its name.
Needs root (or CAP_SYS_PTRACE) to hold a thread: that part skips otherwise."""
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
from test_snapshots import shard_threads, stop_threads, release_threads  # noqa: E402

WATCHDOG_USEC = 600000          # a ping every 300 ms


class Manager:
	"""The service manager's end: a datagram socket, messages as dicts."""

	def __init__(self, name):
		self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		self.sock.bind('\0' + name[1:] if name.startswith('@') else name)
		self.name = name

	def recv(self, timeout):
		"""The messages that arrive within timeout s: [(time, {key: value})]."""
		out, deadline = [], time.monotonic() + timeout
		while True:
			left = deadline - time.monotonic()
			if left <= 0:
				return out
			self.sock.settimeout(left)
			try:
				data = self.sock.recv(4096)
			except socket.timeout:
				return out
			kv = dict(ln.split('=', 1) for ln in data.decode().split('\n') if '=' in ln)
			out.append((time.monotonic(), kv))

	def wait_for(self, key, timeout):
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			for t, kv in self.recv(min(0.2, deadline - time.monotonic())):
				if key in kv:
					return t, kv
		return None, None


def start(srv, env):
	log = os.path.join(srv.dir, 'stdout.log')
	srv.proc = et.start_proc([srv.bin, '-c', srv.main], log, env=dict(os.environ, **env))
	return srv


def ready_then_serves(ck, mgr, srv, origin):
	t, kv = mgr.wait_for('READY', 10)
	ck.check('READY=1 arrives', kv is not None and kv.get('READY') == '1', kv)
	if kv is None:
		return
	ck.check('with MAINPID=<its pid> and STATUS=serving',
		 kv.get('MAINPID') == str(srv.proc.pid) and kv.get('STATUS') == 'serving', kv)
	# no wait_port: READY means the listener is up and the cache is open
	r1 = et.request(srv.port, 'GET', '/cc/max-age=60/2000', host='py.test')
	time.sleep(0.3)                  # the fill lands
	r2 = et.request(srv.port, 'GET', '/cc/max-age=60/2000', host='py.test')
	ck.check('at READY the listener answers at once and the cache stores: MISS then HIT',
		 r1.status == 200 and r1.header('x-cache') == 'MISS' and
		 r2.header('x-cache') == 'HIT', (r1.status, r1.header('x-cache'), r2.header('x-cache')))


def pings(msgs):
	return [t for t, kv in msgs if kv.get('WATCHDOG') == '1']


def shards(pid):
	return [t for t in shard_threads(pid)
		if open('/proc/%d/task/%d/comm' % (pid, t)).read().strip() != 'ec-watchdog']


def watchdog(ck, mgr, srv):
	got = pings(mgr.recv(1.6))
	ck.check('WATCHDOG=1 every half WATCHDOG_USEC while the shard runs (>= 4 in 1.6 s)',
		 len(got) >= 4, len(got))
	tids = shards(srv.proc.pid)
	try:
		stop_threads(tids)
	except OSError as e:
		ck.skip('watchdog withheld for a held shard', 'cannot ptrace a thread (%s)' % e)
		return
	try:
		mgr.recv(0.7)                # a ping decided before the hold may still come
		held = pings(mgr.recv(1.5))
		withheld = srv.counters().get('sdnotify_watchdog_withheld', 0)
	finally:
		release_threads(tids)
		released = time.monotonic()
	ck.check('no WATCHDOG=1 while the shard thread is held (1.5 s)', not held, len(held))
	ck.check('the withheld pings are counted: sdnotify_watchdog_withheld >= 2',
		 withheld >= 2, withheld)
	ck.check('and logged', any('watchdog: a shard has not turned its loop' in ln
				   for ln in et.read_log(srv.error_log)))
	again = pings(mgr.recv(1.0))
	ck.check('pings start again once the shard runs, the first within 0.2 s',
		 len(again) >= 2 and again[0] - released < 0.2,
		 (len(again), again and round(again[0] - released, 3)))


def control_held(ck, mgr, srv):
	"""The control thread blocked (a resolver timing out, an fsync): the
	shards serve on, and so the watchdog pings on."""
	pid = srv.proc.pid
	try:
		stop_threads([pid])
	except OSError as e:
		ck.skip('watchdog with the control thread held', 'cannot ptrace (%s)' % e)
		return
	try:
		mgr.recv(0.1)
		got = pings(mgr.recv(1.5))
	finally:
		release_threads([pid])
	ck.check('control thread held 1.5 s: WATCHDOG=1 goes on (>= 3)', len(got) >= 3, len(got))


def stopping(ck, mgr, srv):
	srv.proc.send_signal(signal.SIGTERM)
	t, kv = mgr.wait_for('STOPPING', 5)
	ck.check('SIGTERM: STOPPING=1 (STATUS=draining)',
		 kv is not None and kv.get('STATUS') == 'draining', kv)
	ck.check('exit 0 after the drain', srv.proc.wait(15) == 0 and not srv.sanitizer_report())


def main():
	ck = et.Checks()
	origin = et.PyOrigin()
	zones = [et.zone('py', ['py.test'], [('o1', origin.url, {})])]

	# 1. abstract socket, watchdog on, a disk cache
	srv = et.Edgecache(zones, workers=1)
	srv.cache = {'path': os.path.join(srv.dir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	name = '@edgetest-sdnotify-%d' % os.getpid()
	mgr = Manager(name)
	start(srv, {'NOTIFY_SOCKET': name, 'WATCHDOG_USEC': str(WATCHDOG_USEC)})
	ck.run('ready', ready_then_serves, ck, mgr, srv, origin)
	ck.run('watchdog', watchdog, ck, mgr, srv)
	ck.run('control held', control_held, ck, mgr, srv)
	ck.run('stopping', stopping, ck, mgr, srv)

	# 2. a path socket, no watchdog
	srv2 = et.Edgecache(zones, workers=1)
	path = os.path.join(srv2.dir, 'notify.sock')
	mgr2 = Manager(path)
	start(srv2, {'NOTIFY_SOCKET': path})
	t, kv = mgr2.wait_for('READY', 10)
	ck.check('a path socket: READY=1', kv is not None and kv.get('READY') == '1', kv)
	ck.check('no WATCHDOG_USEC: no ping (1 s)', not pings(mgr2.recv(1.0)))
	ck.check('exit 0', et.stop_proc(srv2.proc) == 0 and not srv2.sanitizer_report())

	# 3. a name that cannot be a socket's
	srv3 = et.Edgecache(zones, workers=1)
	r = subprocess.run([srv3.bin, '-c', srv3.main], env=dict(os.environ, NOTIFY_SOCKET='run/x'),
			   capture_output=True, timeout=15)
	ck.check('NOTIFY_SOCKET=run/x refuses start (exit 1) and names it',
		 r.returncode == 1 and b'NOTIFY_SOCKET=run/x' in r.stderr, r.stderr[-300:])
	origin.stop()
	ck.finish()


if __name__ == '__main__':
	main()
