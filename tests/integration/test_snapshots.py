#!/usr/bin/python3
"""Snapshot reclamation (edge/runtime.h, edge/shard.c sync_runtime) through
the real binary: every retired snapshot is freed, its S3 secret wiped, once
no shard uses it — also the ones a shard skipped.

Several snapshots published while the shards do not run: each shard
thread is stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT on its
thread id only; the control thread keeps running), three SIGHUPs each
publish a snapshot with a new S3 secret (and a new default_ttl: a SIGHUP
that changes credentials alone swaps them in place and builds no
snapshot, control/server.c reload_creds), and only then are the shards let
go. They jump from the first snapshot to the last, skipping two.
Checks: while held, `runtime_snapshots_live` (counters file) is 4 and the
old secrets are still in memory (the scan can see them); once released,
the count returns to 1 in the counters file and in GET /metrics
(`edgecache_runtime_snapshots_live`), the three old secrets are nowhere
in the process's memory (release build: ASan's reservations cannot be
scanned) and the current one is, and both shards serve again. Needs root
(or CAP_SYS_PTRACE) to stop a thread and read /proc/PID/mem: skips (77)
otherwise."""
import ctypes
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
from test_s3_secrets import mappings, read_mem, sanitized  # noqa: E402  (no Swift)

SECRETS = ['Snap0-secret-a41f93c2d7e8', 'Snap1-secret-b52e84d3c6f9',
	   'Snap2-secret-c63d75e4b5a0', 'Snap3-secret-d74c66f5a4b1']
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid):
	if libc.ptrace(req, tid, None, None) != 0:
		e = ctypes.get_errno()
		raise OSError(e, 'ptrace(%#x, %d): %s' % (req, tid, os.strerror(e)))


AdminEdge = et.AdminEdgecache


def where_all(pid, needles):
	"""{needle: [(mapping, has dd)]}: one pass over the readable mappings."""
	found = {n: [] for n in needles}
	chunk, pad = 16 << 20, max(len(n) for n in needles)
	for m in mappings(pid):
		if 'r' not in m['perms'] or m['rss'] == 0:
			continue
		pos = m['start']
		while pos < m['end']:
			data = read_mem(pid, pos, min(pos + chunk + pad, m['end']))
			if data is None:
				break
			for n in needles:
				if n.encode() in data and not found[n]:
					found[n].append(('%s@%x' % (m['name'] or 'anon', m['start']),
							 'dd' in m['flags']))
			pos += chunk
	return found


def metrics(srv):
	return et.metrics_text(srv, timeout=5)


def metric_live(srv):
	m = re.search(r'^edgecache_runtime_snapshots_live (\d+)$', metrics(srv), re.M)
	return int(m.group(1)) if m else None


def zone(srv, secret, gen=1):
	o = {'s3_auth_enabled': 'true', 's3_access_key': 'edge:snap',
	     's3_secret_key_file': srv.secret_file(secret), 's3_region': 'us-east-1',
	     'base_path': '/bucket'}
	# Port 9 (discard): never contacted, the test sends no S3 request. The
	# TTL changes with each reload so that each builds a snapshot.
	return et.zone('s3', ['s3.test'], [('bucket', 'http://127.0.0.1:9', o)],
		       default_ttl='%ds' % gen)


def shard_threads(pid):
	"""Thread ids of the shards: every thread but the control (main) one and
	the kernel's io_uring workers."""
	out = []
	for t in sorted(int(x) for x in os.listdir('/proc/%d/task' % pid)):
		with open('/proc/%d/task/%d/comm' % (pid, t)) as f:
			comm = f.read().strip()
		if t != pid and not comm.startswith('iou-'):
			out.append(t)
	return out


def stop_threads(tids):
	for t in tids:
		ptrace(PTRACE_SEIZE, t)
		ptrace(PTRACE_INTERRUPT, t)
	for t in tids:
		os.waitpid(t, WALL)          # the group-stop-like trap: it is held


def release_threads(tids):
	for t in tids:
		ptrace(PTRACE_DETACH, t)


def reload(ck, srv, secret, gen):
	"""Rewrite the zone with `secret`, SIGHUP, wait for snapshot `gen`."""
	srv.rewrite_zone(zone(srv, secret, gen))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 10
	pat = 'snapshot %d' % gen
	while time.monotonic() < deadline:
		if any('reload:' in ln and ln.endswith(pat) for ln in et.read_log(srv.error_log)):
			return True
		time.sleep(0.02)
	return False


def live(srv):
	return srv.counters().get('runtime_snapshots_live')


def wait_live(srv, want, timeout=5.0):
	deadline = time.monotonic() + timeout
	n = live(srv)
	while n != want and time.monotonic() < deadline:
		time.sleep(0.05)
		n = live(srv)
	return n


def skipped(ck, srv):
	pid = srv.proc.pid
	scan = os.access('/proc/%d/mem' % pid, os.R_OK) and not sanitized(pid)
	n = live(srv)
	ck.check('at rest: runtime_snapshots_live 1 (%s), GET /metrics agrees (%s)' %
		 (n, metric_live(srv)), n == 1 and metric_live(srv) == 1)
	tids = shard_threads(pid)
	ck.check('the shard threads found (%s; workers = 2)' % tids, len(tids) >= 2)
	try:
		stop_threads(tids)
	except OSError as e:
		et.skip('cannot stop a thread with ptrace (%s): needs root or CAP_SYS_PTRACE' % e)
	try:
		ok = all(reload(ck, srv, SECRETS[i], i + 1) for i in (1, 2, 3))
		ck.check('three reloads published while both shards are stopped (snapshots 2, 3, 4)',
			 ok)
		n = live(srv)
		ck.check('while the shards hold snapshot 1: 4 snapshots live (%s)' % n, n == 4)
		if scan:
			w = where_all(pid, SECRETS[:3])
			ck.check('... and the old secrets are still in memory (the scan sees them)',
				 all(w.values()), repr(w))
	finally:
		release_threads(tids)
	n = wait_live(srv, 1)
	ck.check('shards released, having skipped snapshots 2 and 3: runtime_snapshots_live '
		 'back to 1 (%s)' % n, n == 1)
	m = metric_live(srv)
	ck.check('GET /metrics: edgecache_runtime_snapshots_live 1 (%s)' % m, m == 1)
	if not scan:
		ck.skip('old secrets wiped', 'cannot scan the memory of %d (not root, or ASan)' % pid)
	else:
		found = where_all(pid, SECRETS)
		for i in range(3):
			w = found[SECRETS[i]]
			ck.check('the secret of snapshot %d: nowhere in the process\'s memory (%s)' %
				 (i + 1, w), not w, repr(w))
		w = found[SECRETS[3]]
		ck.check('the current secret is in memory (no-dump mappings only: %s)' % w,
			 w and all(dd for _, dd in w), repr(w))
	# Both shards run again: 20 connections (SO_REUSEPORT spreads them)
	# each get an answer (502/503/504: the origin is never reachable).
	c0 = srv.counters().get('requests', 0)
	got = [et.request(srv.port, 'GET', '/k%d' % i, host='s3.test', timeout=10).status
	       for i in range(20)]
	c1 = srv.counters().get('requests', 0)
	ck.check('the shards serve again: 20 requests answered (%s)' % sorted(set(got)),
		 all(s >= 400 for s in got) and c1 - c0 == 20)


def main():
	if os.geteuid() != 0:
		et.skip('needs root: ptrace of a thread and /proc/PID/mem')
	srv = AdminEdge([], workers=2, log_level='debug', credential_overlap_ms=0)
	srv.zones = [zone(srv, SECRETS[0])]
	srv.main = srv.write_config()
	srv.start()
	ck = et.Checks()
	ck.run('snapshots skipped by busy shards', skipped, ck, srv)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
