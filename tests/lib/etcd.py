#!/usr/bin/python3
"""tests/lib/etcd.py — an etcd cluster of n members for the fleet tests
(Debian's etcd-server 3.4): each member on two free loopback ports of
edgetest's range, its data in the caller's temp dir, started and stopped
by PID through edgetest (so a test's exit stops them all). A member can be
stopped and started again on the same data (it rejoins)."""
import json
import os
import shutil
import signal
import subprocess
import time

import edgetest as et


def skip_unless_ready(binary):
	"""Exit 77 (saying why) without etcd's commands or the edgecache binary."""
	if not shutil.which('etcd') or not shutil.which('etcdctl'):
		et.skip('etcd-server / etcd-client not installed: run scripts/setup')
	if not os.access(binary, os.X_OK):
		et.skip('no binary at %s' % binary)


def one_node(d, ep):
	"""A one-node fleet's main file in d (zones/*.ini for `fleet import`,
	fleet.key and state/ beside it): (main_ini, port, admin_port,
	error_log)."""
	port, admin = et.free_port(), et.free_port()
	main_ini = os.path.join(d, 'main.ini')
	error_log = os.path.join(d, 'error.log')
	with open(main_ini, 'w') as f:
		f.write('[server]\nlisten = 127.0.0.1:%d\nworkers = 1\nzones = zones/*.ini\n'
			'error_log = %s\naccess_log = off\n[admin]\nlisten = 127.0.0.1:%d\n'
			'[fleet]\netcd = %s\npop = p\nnode = n\nsecrets_key_file = fleet.key\n'
			'state_dir = state\n' % (port, error_log, admin, ep))
	return main_ini, port, admin, error_log


class Etcd:
	def __init__(self, d, n=3, progress_ms=500):
		self.d, self.n = d, n
		self.client = [et.free_port() for _ in range(n)]
		self.peer = [et.free_port() for _ in range(n)]
		self.procs = [None] * n
		self.progress_ms = progress_ms
		self.cluster = ','.join('m%d=http://127.0.0.1:%d' % (i, self.peer[i]) for i in range(n))

	def url(self, i):
		return 'http://127.0.0.1:%d' % self.client[i]

	def endpoints(self):
		return ','.join(self.url(i) for i in range(self.n))

	def start(self, i):
		"""Start member i; short elections (50 ms heartbeats, 500 ms
		timeout) and frequent progress notifications, for tests."""
		log = os.path.join(self.d, 'etcd%d.log' % i)
		self.procs[i] = et.start_proc([
			'etcd', '--name', 'm%d' % i, '--data-dir', os.path.join(self.d, 'm%d' % i),
			'--listen-client-urls', self.url(i), '--advertise-client-urls', self.url(i),
			'--listen-peer-urls', 'http://127.0.0.1:%d' % self.peer[i],
			'--initial-advertise-peer-urls', 'http://127.0.0.1:%d' % self.peer[i],
			'--initial-cluster', self.cluster, '--initial-cluster-state', 'new',
			'--initial-cluster-token', 'edgetest', '--heartbeat-interval', '50',
			'--election-timeout', '500', '--snapshot-count', '1000',
			'--experimental-watch-progress-notify-interval', '%dms' % self.progress_ms,
			'--log-level', 'warn'], log)
		return self.procs[i]

	def start_all(self, timeout=20):
		for i in range(self.n):
			self.start(i)
		for i in range(self.n):
			if not self.healthy(i, timeout):
				raise RuntimeError('etcd member %d not healthy after %ds' % (i, timeout))

	def stop(self, i, sig=signal.SIGTERM):
		et.stop_proc(self.procs[i], sig)

	def ctl(self, *args, eps=None, timeout=10):
		"""etcdctl against eps (default: every member): (rc, stdout, stderr)."""
		p = subprocess.run(['etcdctl', '--endpoints', eps or self.endpoints(),
				    '--command-timeout=5s'] + list(args),
				   capture_output=True, timeout=timeout,
				   env=dict(os.environ, ETCDCTL_API='3'))
		return p.returncode, p.stdout.decode('latin-1'), p.stderr.decode('latin-1')

	def healthy(self, i, timeout=15):
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			if self.ctl('endpoint', 'health', eps=self.url(i), timeout=5)[0] == 0:
				return True
			time.sleep(0.05)
		return False

	def leader(self):
		"""The index of the member that leads, asked member by member."""
		for i in range(self.n):
			rc, out, _ = self.ctl('endpoint', 'status', '-w', 'json', eps=self.url(i))
			for st in json.loads(out) if rc == 0 else []:
				if st['Status']['leader'] == st['Status']['header']['member_id']:
					return i
		return None
