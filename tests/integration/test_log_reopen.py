#!/usr/bin/python3
"""SIGUSR1 reopens the log files (core/log.h log_reopen), for logrotate's
postrotate, through the real binary — while requests run.

Two clients send numbered requests on keep-alive connections to two
shards; midway the access and error logs are renamed (what logrotate
does) and SIGUSR1 sent: one client waits for that at its midpoint (half
its lines before, half after), the other keeps requests in flight through
the rename and the reopen. Checks: the new files are created and the later
requests' lines land in the new access log; every request has exactly
one whole line across the old and the new file (none lost, none torn or
doubled); the reopen is logged in the new error log and counted
(log_reopens 2). A reopen that fails (the log directory renamed away)
is counted (log_reopen_failures), logged, and the lines go on to the old
files. The before-binary wrote counters on SIGUSR1 but kept the renamed
files: no new access log appears."""
import os
import re
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402

N_PER_CLIENT = 150
LINE = re.compile(r'^\S+ .* GET /cc/max-age=60/100\?c=(\d)&n=(\d+) 200 100 ')


def client(port, c, started, rotated, errors, sent):
	"""Client 0 waits at its midpoint for the rotation (half before, half
	after); client 1 does not wait: it keeps requests in flight through the
	rename and the reopen, and stops 20 requests after the rotation."""
	conn = et.RawConn(port)
	i, mark, deadline = 0, None, time.monotonic() + 30
	try:
		while time.monotonic() < deadline:
			if i == N_PER_CLIENT // 2:
				started.set()
				if c == 0:
					rotated.wait(10)
			if c == 1 and mark is None and rotated.is_set():
				mark = i
			if i >= N_PER_CLIENT and (c == 0 or (mark is not None and i >= mark + 20)):
				break
			conn.send(et.build('GET', '/cc/max-age=60/100?c=%d&n=%d' % (c, i), host='py.test'))
			r = conn.read_response()
			if r.status != 200:
				errors.append((c, i, r.status))
			i += 1
	except Exception as e:          # noqa: BLE001  (reported as a check)
		errors.append((c, repr(e)))
	finally:
		sent[c] = i
		conn.close()


def wait_file(path, timeout=3.0):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline and not os.path.exists(path):
		time.sleep(0.02)
	return os.path.exists(path)


def wait_lines(paths, n, timeout=5.0):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline and sum(len(et.read_log(p)) for p in paths) < n:
		time.sleep(0.05)


def rotate_under_load(ck, srv):
	started = [threading.Event(), threading.Event()]
	rotated, errors, sent = threading.Event(), [], [0, 0]
	ts = [threading.Thread(target=client, args=(srv.port, c, started[c], rotated, errors, sent))
	      for c in (0, 1)]
	for t in ts:
		t.start()
	for e in started:
		e.wait(10)
	time.sleep(0.15)                # a batch in the rings, a batch written
	os.rename(srv.access_log, srv.access_log + '.1')
	os.rename(srv.error_log, srv.error_log + '.1')
	srv.proc.send_signal(signal.SIGUSR1)
	ck.check('SIGUSR1: a new access log and a new error log are created',
		 wait_file(srv.access_log) and wait_file(srv.error_log))
	rotated.set()
	for t in ts:
		t.join(60)
	ck.check('%d requests answered 200' % sum(sent), not errors, errors[:5])
	files = [srv.access_log + '.1', srv.access_log]
	wait_lines(files, sum(sent))
	seen, torn = {}, []
	for path in files:
		for ln in et.read_log(path):
			m = LINE.match(ln)
			if not m:
				torn.append(ln)
				continue
			seen.setdefault((int(m.group(1)), int(m.group(2))), []).append(path)
	want = {(c, i) for c in (0, 1) for i in range(sent[c])}
	lost = sorted(want - set(seen))
	doubled = sorted(k for k, v in seen.items() if len(v) > 1)
	ck.check('every request has exactly one whole line across the old and new access log',
		 not lost and not doubled and not torn and set(seen) == want,
		 (lost[:5], doubled[:5], torn[:3]))
	new = [k for k, v in seen.items() if v == [srv.access_log]]
	late = [(0, i) for i in range(N_PER_CLIENT // 2 + 10, N_PER_CLIENT)]
	ck.check('the requests after the reopen are in the new file (%d lines there)' % len(new),
		 all(seen.get(k) == [srv.access_log] for k in late), len(new))
	c1 = [seen.get((1, i), ['?'])[0] for i in range(sent[1])]
	ck.check('client 1 ran through the rotation: its lines are in the old file, then the '
		 'new one (%d requests)' % sent[1],
		 c1 and '?' not in c1 and c1[0] == files[0] and c1[-1] == files[1] and
		 c1 == sorted(c1, key=files.index), (sent[1], c1[:1], c1[-1:]))
	ck.check('the reopen logged in the new error log',
		 any('log files reopened' in ln for ln in et.read_log(srv.error_log)))
	c = srv.counters(until=lambda c: c.get('log_reopens', 0) >= 4)
	ck.check('counted: log_reopens 4 (2 files, the counters read is a USR1 too), '
		 'log_reopen_failures 0, log_dropped 0',
		 c.get('log_reopens') == 4 and c.get('log_reopen_failures') == 0 and
		 c.get('log_dropped') == 0, {k: c.get(k) for k in ('log_reopens',
								   'log_reopen_failures', 'log_dropped')})


def reopen_fails(ck, srv, logdir):
	os.rename(logdir, logdir + '.old')
	# the USR1: both reopens fail
	c = srv.counters(until=lambda c: c.get('log_reopen_failures', 0) >= 2)
	ck.check('directory gone: log_reopen_failures 2', c.get('log_reopen_failures') == 2,
		 c.get('log_reopen_failures'))
	r = et.request(srv.port, 'GET', '/cc/max-age=60/100?c=9&n=1', host='py.test')
	old = os.path.join(logdir + '.old', 'access.log')
	wait_lines([old], 1 + sum(1 for _ in et.read_log(old)), timeout=1.0)
	ck.check('the next request still logged, in the old file',
		 r.status == 200 and any('c=9&n=1' in ln for ln in et.read_log(old)))
	ck.check('the failure logged, naming the file, in the old error log',
		 any('reopen log %s' % srv.access_log in ln and 'still writing to the old file' in ln
		     for ln in et.read_log(os.path.join(logdir + '.old', 'error.log'))))


def main():
	ck = et.Checks()
	origin = et.PyOrigin()
	zones = [et.zone('py', ['py.test'], [('o1', origin.url, {})])]
	srv = et.Edgecache(zones, workers=2)
	logdir = os.path.join(srv.dir, 'logs')
	os.mkdir(logdir)
	srv.access_log = srv.server['access_log'] = os.path.join(logdir, 'access.log')
	srv.error_log = srv.server['error_log'] = os.path.join(logdir, 'error.log')
	srv.main = srv.write_config()
	srv.start()
	ck.run('rotate under load', rotate_under_load, ck, srv)
	ck.run('reopen fails', reopen_fails, ck, srv, logdir)
	srv.error_log = os.path.join(logdir + '.old', 'error.log')
	origin.stop()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
