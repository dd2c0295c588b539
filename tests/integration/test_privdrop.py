#!/usr/bin/python3
"""[server] user / group (control/privdrop.h) through the real binary,
started as root: it binds a privileged port, opens the cache and the logs,
then runs as nobody:nogroup for good.

Checks: every thread (the control thread and the shards) has real,
effective, saved and filesystem uid and gid nobody's / nogroup's (the
saved ids are what a way back to root would use), no supplementary group
of root's and no capability left; it still serves from the privileged
port, fills and hits its cache, reopens its logs on SIGUSR1 in a
directory nobody may write, and writes its checkpoint at exit (exit 0).
A cache or counters file in a directory the user cannot write is said at
start (the checkpoint, the counters would fail later).
An unknown user or group refuses start (and `-t`) with an error naming
the key; without the key nothing changes (uid 0). Needs root: skips (77)
otherwise."""
import os
import pwd
import grp
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402


def status_ids(pid, tid):
	ids = {}
	with open('/proc/%d/task/%d/status' % (pid, tid)) as f:
		for ln in f:
			k, _, v = ln.partition(':')
			if k in ('Uid', 'Gid', 'Groups', 'CapEff', 'CapPrm', 'CapAmb'):
				ids[k] = v.split()
	return ids


def running_as(srv):
	return any('running as user nobody' in ln for ln in et.read_log(srv.error_log))


def wait_dropped(srv, timeout=10.0):
	"""The port accepts before the shards run and the drop: wait for it."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline and not running_as(srv):
		time.sleep(0.02)
	return running_as(srv)


def low_port():
	"""A free privileged port (only root may bind it)."""
	for _ in range(200):
		p = random.randrange(900, 1000)
		if et.port_free(p):
			return p
	et.skip('no free port in 900-999')


def dropped(ck):
	nobody, nogroup = pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid
	origin = et.PyOrigin()
	zones = [et.zone('py', ['py.test'], [('o1', origin.url, {})])]
	srv = et.Edgecache(zones, workers=2, port=low_port(), user='nobody', group='nogroup')
	os.chmod(srv.dir, 0o777)         # counters_file, the logs' reopen, the checkpoint
	srv.cache = {'path': os.path.join(srv.dir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	srv.start()
	ck.check('logged: running as user nobody', wait_dropped(srv))
	ck.check('no "not writable" warning: the directory is nobody\'s to write',
		 not any('not writable' in ln for ln in et.read_log(srv.error_log)))
	pid = srv.proc.pid
	tids = sorted(int(t) for t in os.listdir('/proc/%d/task' % pid))
	want_u, want_g = [str(nobody)] * 4, [str(nogroup)] * 4
	bad = {}
	for t in tids:
		ids = status_ids(pid, t)
		if (ids['Uid'] != want_u or ids['Gid'] != want_g or '0' in ids.get('Groups', []) or
		    any(int(ids[c][0], 16) for c in ('CapEff', 'CapPrm', 'CapAmb'))):
			bad[t] = ids
	ck.check('all %d threads: uid/euid/suid/fsuid nobody, gid/egid/sgid/fsgid nogroup, '
		 'no root group, no capability' % len(tids), not bad and len(tids) >= 3, bad)
	r1 = et.request(srv.port, 'GET', '/cc/max-age=60/3000', host='py.test')
	time.sleep(0.3)
	r2 = et.request(srv.port, 'GET', '/cc/max-age=60/3000', host='py.test')
	ck.check('serves from privileged port %d: MISS then HIT from the cache' % srv.port,
		 r1.status == 200 and r1.header('x-cache') == 'MISS' and
		 r2.header('x-cache') == 'HIT', (r1.status, r1.header('x-cache'), r2.header('x-cache')))
	os.rename(srv.access_log, srv.access_log + '.1')
	n = srv.counters().get('log_reopens')
	et.request(srv.port, 'GET', '/cc/max-age=60/3000', host='py.test')
	deadline = time.monotonic() + 3
	while time.monotonic() < deadline and not os.path.exists(srv.access_log):
		time.sleep(0.05)
	st = os.stat(srv.access_log) if os.path.exists(srv.access_log) else None
	ck.check('SIGUSR1 as nobody: the logs reopened (log_reopens 2), the new access log '
		 'is nobody\'s', n == 2 and st is not None and st.st_uid == nobody, (n, st))
	rc = srv.stop()
	ck.check('exit 0 after the drain, the checkpoint written as nobody',
		 rc == 0 and os.path.exists(os.path.join(srv.dir, 'c.dat.idx')) and
		 not any('checkpoint' in ln and 'failed' in ln for ln in et.read_log(srv.error_log)),
		 rc)
	origin.stop()


def warned(ck):
	"""A cache and a counters file in a directory only root may write."""
	zones = [et.zone('py', ['py.test'], [('o1', 'http://127.0.0.1:9', {})])]
	srv = et.Edgecache(zones, workers=1, user='nobody')
	os.chmod(srv.dir, 0o755)
	srv.cache = {'path': os.path.join(srv.dir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	srv.start()
	deadline = time.monotonic() + 10
	want = ['[cache] path %s: directory %s is not writable by this user (uid 65534): '
		'its checkpoint will fail' % (os.path.join(srv.dir, 'c.dat'), srv.dir),
		'counters_file %s: directory %s is not writable by this user (uid 65534): '
		'writing it will fail' % (srv.counters_file, srv.dir)]
	while time.monotonic() < deadline and not all(
			any(w in ln for ln in et.read_log(srv.error_log)) for w in want):
		time.sleep(0.05)
	log = et.read_log(srv.error_log)
	ck.check('said at start: the cache\'s checkpoint and the counters file will fail',
		 all(any(w in ln for ln in log) for w in want), log[-4:])
	ck.check('exit 0', srv.stop() == 0)


def refused(ck):
	zones = [et.zone('py', ['py.test'], [('o1', 'http://127.0.0.1:9', {})])]
	for key, val in (('user', 'edgetest-no-such-user'), ('group', 'edgetest-no-such-group')):
		kw = {key: val}
		if key == 'group':
			kw['user'] = 'nobody'
		srv = et.Edgecache(zones, workers=1, **kw)
		r = subprocess.run([srv.bin, '-c', srv.main], capture_output=True, timeout=15)
		want = ('[server] %s = %s: no such %s' % (key, val, key)).encode()
		ck.check('unknown %s: refuses start, exit 1, says "%s"' % (key, want.decode()),
			 r.returncode == 1 and want in r.stderr, (r.returncode, r.stderr[-300:]))
		r = subprocess.run([srv.bin, '-t', '-c', srv.main], capture_output=True, timeout=15)
		ck.check('unknown %s: -t fails too' % key,
			 r.returncode == 1 and want in r.stderr and b'test failed' in r.stderr,
			 (r.returncode, r.stderr[-300:]))
	srv = et.Edgecache(zones, workers=1).start()
	ids = status_ids(srv.proc.pid, srv.proc.pid)
	ck.check('no user key: still uid 0', ids['Uid'] == ['0'] * 4, ids)
	ck.check('exit 0', srv.stop() == 0)


def main():
	if os.geteuid() != 0:
		et.skip('needs root: a privileged port and a user to drop to')
	ck = et.Checks()
	ck.run('dropped', dropped, ck)
	ck.run('warned', warned, ck)
	ck.run('refused', refused, ck)
	ck.finish()


if __name__ == '__main__':
	main()
