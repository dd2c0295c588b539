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
the key; without the key nothing changes (uid 0).
The config is read with the user's rights from the start: a secret file
owned by the user (0600) loads at start and again at a SIGHUP after the
drop; one only root can read refuses start naming it (the before-binary
read it as root, started, and then failed every reload). `-t` as another
user than root only resolves the names. A cache file that is a symlink is
refused (root would follow it); access_log = /dev/null is not chowned.
Needs root: skips (77) otherwise."""
import os
import pwd
import grp
import random
import shutil
import signal
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
	n = srv.counters(until=lambda c: c.get('log_reopens', 0) >= 2).get('log_reopens')
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


def run_start(cmd):
	"""A start expected to be refused: (exit code, stderr); one that serves
	instead is stopped after 5 s and reported as 'serving'."""
	try:
		r = subprocess.run(cmd, capture_output=True, timeout=5)
		return r
	except subprocess.TimeoutExpired as e:
		return subprocess.CompletedProcess(cmd, 'serving', e.stdout, e.stderr or b'')


def wait_log(srv, text, timeout=5.0):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		hit = [ln for ln in et.read_log(srv.error_log) if text in ln]
		if hit:
			return hit
		time.sleep(0.05)
	return []


def secret_srv(owner):
	"""nobody with an S3 origin whose secret file is owner's, mode 0600."""
	zones = [et.zone('s3', ['s3.test'], [('o1', 'http://127.0.0.1:9', {
		's3_auth_enabled': 'true', 's3_region': 'us-east-1', 's3_access_key': 'AKIDTEST'})])]
	srv = et.Edgecache(zones, workers=1, user='nobody', group='nogroup')
	os.chmod(srv.dir, 0o755)
	key = srv.secret_file('edgetest-secret-%d' % owner)
	os.chown(key, owner, -1)
	zones[0]['origins'][0][2]['s3_secret_key_file'] = key
	srv.main = srv.write_config()
	return srv, key


def config_as_user(ck):
	nobody = pwd.getpwnam('nobody').pw_uid
	srv, key = secret_srv(nobody)
	srv.start()
	ck.check('a secret file nobody owns (0600): starts', wait_dropped(srv))
	srv.proc.send_signal(signal.SIGHUP)
	ok = wait_log(srv, 'reload: %s' % srv.main)
	ck.check('SIGHUP after the drop: the reload reads it as nobody and succeeds',
		 ok and not any('still serving' in ln for ln in et.read_log(srv.error_log)),
		 et.read_log(srv.error_log)[-3:])
	ck.check('exit 0', srv.stop() == 0)

	srv, key = secret_srv(0)
	r = run_start([srv.bin, '-c', srv.main])
	ck.check('a secret file only root can read: start refused, exit 1, naming it '
		 '(it would fail every reload after the drop)',
		 r.returncode == 1 and key.encode() in r.stderr and b'Permission denied' in r.stderr,
		 (r.returncode, r.stderr[-300:]))
	r = subprocess.run([srv.bin, '-t', '-c', srv.main], capture_output=True, timeout=15)
	ck.check('-t as root reads as nobody too: fails the same way',
		 r.returncode == 1 and key.encode() in r.stderr, (r.returncode, r.stderr[-300:]))

	zones = [et.zone('py', ['py.test'], [('o1', 'http://127.0.0.1:9', {})])]
	srv = et.Edgecache(zones, workers=1, user='nobody')
	os.chmod(srv.dir, 0o755)
	for f in os.listdir(srv.dir):
		os.chmod(os.path.join(srv.dir, f), 0o755)
	# the build tree may sit in a directory only root may enter (a fresh
	# clone in mktemp -d): other users run a copy from srv.dir
	binary = os.path.join(srv.dir, 'edgecache')
	shutil.copy(srv.bin, binary)
	os.chmod(binary, 0o755)
	r = subprocess.run([binary, '-t', '-c', srv.main], capture_output=True, timeout=15,
			   preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
	ck.check('-t run as nobody on a config with user = nobody: successful',
		 r.returncode == 0 and b'test is successful' in r.stderr, r.stderr[-300:])
	r = subprocess.run([binary, '-t', '-c', srv.main], capture_output=True, timeout=15,
			   preexec_fn=lambda: os.setuid(1))   # daemon: another user
	ck.check('-t as another user (daemon): the names resolve, successful',
		 r.returncode == 0, r.stderr[-300:])


def symlink_and_devnull(ck):
	zones = [et.zone('py', ['py.test'], [('o1', 'http://127.0.0.1:9', {})])]
	srv = et.Edgecache(zones, workers=1, user='nobody', access_log='/dev/null')
	os.chmod(srv.dir, 0o755)
	victim = os.path.join(srv.dir, 'victim')
	with open(victim, 'w') as f:
		f.write('root\'s file\n')
	# the dropped user's own directory: a link there is the user's, refused
	userdir = os.path.join(srv.dir, 'userdir')
	os.mkdir(userdir)
	pw = pwd.getpwnam('nobody')
	os.chown(userdir, pw.pw_uid, pw.pw_gid)
	os.symlink(victim, os.path.join(userdir, 'c.dat'))
	srv.cache = {'path': os.path.join(userdir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	r = run_start([srv.bin, '-c', srv.main])
	ck.check('[cache] path a symlink in the user\'s directory: start refused, the target '
		 'untouched', r.returncode == 1 and b'is a symbolic link' in r.stderr and
		 open(victim).read() == 'root\'s file\n', (r.returncode, r.stderr[-300:]))
	# a link root placed (a root-only directory, as /dev/disk/by-id) is followed: the
	# 12-byte target is then refused for its size, not for being a link
	os.symlink(victim, os.path.join(srv.dir, 'c.dat'))
	srv.cache = {'path': os.path.join(srv.dir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	r = run_start([srv.bin, '-c', srv.main])
	ck.check('[cache] path a symlink root placed: followed (the target\'s size refused), '
		 'the target untouched', r.returncode == 1 and b'is a symbolic link' not in r.stderr
		 and b'victim' not in r.stderr and open(victim).read() == 'root\'s file\n',
		 (r.returncode, r.stderr[-300:]))
	srv.cache = None
	srv.main = srv.write_config()
	before = os.stat('/dev/null')
	try:
		srv.start()
		ck.check('access_log = /dev/null: runs as nobody', wait_dropped(srv))
		st = os.stat('/dev/null')
	finally:                        # a binary that chowns it must not leave it so
		os.chown('/dev/null', before.st_uid, before.st_gid)
	ck.check('/dev/null keeps its owner', (st.st_uid, st.st_gid) == (before.st_uid, before.st_gid),
		 (st.st_uid, st.st_gid))
	ck.check('exit 0', srv.stop() == 0)


def main():
	if os.geteuid() != 0:
		et.skip('needs root: a privileged port and a user to drop to')
	ck = et.Checks()
	ck.run('dropped', dropped, ck)
	ck.run('warned', warned, ck)
	ck.run('refused', refused, ck)
	ck.run('config as user', config_as_user, ck)
	ck.run('symlink and /dev/null', symlink_and_devnull, ck)
	ck.finish()


if __name__ == '__main__':
	main()
