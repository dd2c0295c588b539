#!/usr/bin/python3
"""No visitor's connection is ended by another's close (net/vconn.c,
vconn_close and vconn_linger).

A lingering visitor (an h2 session ended, a response with input still
unread) gets shutdown(SHUT_WR) through io_uring, which always runs it in
an io-wq worker that looks the fd number up only then. Closed before that
(the peer's EOF came first), the number could already be a new visitor's,
and the late shutdown ended that one's connection before its request was
read: wrk -H 'Connection: close' beside h2load read EOF on 3-7 requests
per 8 s run, and no counter moved.

Here, for LOAD_S seconds: h2load runs back to back with 50 clients of 2
streams each (a session ended every few milliseconds, each a linger whose
peer closes at once), and wrk -H 'Connection: close' with 4 connections
(a new fd for every request) beside it. Every wrk request is answered:
0 socket errors of any kind, no non-2xx; every h2load stream succeeds;
the edge's requests counter moved by at least what the clients got."""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

LOAD_S = 8


def h2load_loop(url, stop, runs):
	while time.monotonic() < stop:
		r = subprocess.run(['timeout', '30', 'h2load', '-n100', '-c100', '-m1', '-T', '10', url],
				   capture_output=True)
		runs.append(r.stdout.decode('latin-1'))


def main():
	ck = et.Checks()
	origin = et.NginxOrigin({'w': 1024, 'h': 1024})
	zones = [et.zone('l', ['*'], [('o', origin.url, {})])]
	srv = et.Edgecache(zones, workers=2).start()
	try:
		for p in ('/w', '/h'):
			r = et.request(srv.port, 'GET', p)
			ck.check('warm-up GET %s: 200' % p, r.status == 200, repr(r))
		before = srv.counters()
		runs = []
		th = threading.Thread(target=h2load_loop, args=(srv.url('/h'), time.monotonic() + LOAD_S,
								  runs))
		th.start()
		w = subprocess.run(['timeout', str(LOAD_S + 30), 'wrk', '-t1', '-c8', '-d%ds' % LOAD_S,
				    '--timeout', '10s', '-H', 'Connection: close', srv.url('/w')],
				   capture_output=True)
		th.join(LOAD_S + 60)
		text = w.stdout.decode('latin-1') + w.stderr.decode('latin-1')
		m = re.search(r'(\d+) requests in', text)
		n = int(m.group(1)) if m else 0
		e = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)',
			      text)
		errs = [int(x) for x in e.groups()] if e else [0, 0, 0, 0]
		ck.check('wrk Connection: close beside h2load: %d requests, socket errors '
			 'connect/read/write/timeout %s (all 0), no non-2xx' % (n, errs),
			 w.returncode == 0 and n > 0 and errs == [0, 0, 0, 0] and 'Non-2xx' not in text,
			 text[-600:])
		streams, bad = 0, []
		for t in runs:
			m = re.search(r'requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, '
				      r'(\d+) failed, (\d+) errored, (\d+) timeout', t)
			if m and m.group(1) == m.group(3) and m.group(4) == m.group(5) == m.group(6) == '0':
				streams += int(m.group(3))
			else:
				bad.append(t[-500:])
		ck.check('h2load beside it: %d runs, %d streams, every one succeeded' %
			 (len(runs), streams), runs and not bad, '\n'.join(bad[:2]))
		after = srv.counters()
		served = after.get('requests', 0) - before.get('requests', 0)
		ck.check('requests counter moved by %d >= %d answered' % (served, n + streams),
			 served >= n + streams, repr((before, after)))
	finally:
		origin.stop()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
