#!/usr/bin/python3
"""SIGTERM drains: an in-flight request completes with 200, new connections
are refused, and the process exits 0 once it is done; a request still
running at drain_timeout_ms is cut and the process still exits 0 in time;
an idle h2c client that never closes gets the final GOAWAY and does not
hold the drain open."""
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402


def slow_get(srv, path, out):
	c = srv.conn(timeout=30)
	try:
		c.send(et.build('GET', path))
		out['resp'] = c.read_response()
	except (et.Closed, OSError) as e:
		out['error'] = repr(e)
	finally:
		out['eof'] = c.eof
		c.close()


def refused(port):
	"""A new connection is refused, or closed at once without a response."""
	try:
		c = et.RawConn(port, timeout=2)
	except ConnectionRefusedError:
		return True, 'refused'
	try:
		c.send(et.build('GET', '/files/10'))
		r = c.read_response()
		return False, 'served: %r' % r
	except (et.Closed, OSError) as e:
		return True, 'accepted then closed: %r' % e
	finally:
		c.close()


def wait_exit(proc, timeout):
	t0 = time.monotonic()
	try:
		rc = proc.wait(timeout)
	except Exception:
		rc = None
	return rc, time.monotonic() - t0


def signal_during(py, drain_timeout_ms, path):
	"""Start a server and a slow GET of path on it, then send the drain signal."""
	zones = [et.zone('demo', ['localhost'], [('a', py.url, {})])]
	srv = et.server(zones, drain_timeout_ms=drain_timeout_ms).start()
	out = {}
	th = threading.Thread(target=slow_get, args=(srv, path, out))
	th.start()
	time.sleep(0.3)       # the request is at the origin now
	# edgecache drains on SIGTERM; nginx (the validation target) on SIGQUIT.
	srv.proc.send_signal(signal.SIGQUIT if srv.kind == 'nginx' else signal.SIGTERM)
	return srv, out, th


def in_flight_completes(ck, py):
	srv, out, th = signal_during(py, 5000, '/sleep/1000')
	time.sleep(0.2)
	ok, how = refused(srv.port)
	ck.check('during drain a new connection is refused (%s)' % how, ok)
	rc, took = wait_exit(srv.proc, 8)
	th.join(10)
	r = out.get('resp')
	ck.check('in-flight request completed with 200 and its body',
		 r is not None and r.status == 200 and r.body == b'slept\n', str(out))
	ck.check('exit code 0 (%s)' % rc, rc == 0)
	ck.check('no sanitizer report', not srv.sanitizer_report())
	ck.check('exited once the request was done (%.2fs after the signal, < 5 s drain)' %
		 (took + 0.2), rc is not None and took < 3.0)


def cut_at_drain_timeout(ck, py):
	srv, out, th = signal_during(py, 1500, '/sleep/10000')
	t0 = time.monotonic()
	rc, _ = wait_exit(srv.proc, 8)
	took = time.monotonic() - t0
	th.join(10)
	r = out.get('resp')
	ck.check('request past drain_timeout_ms was cut (no complete 200)',
		 r is None or not r.complete or r.status != 200, str(out))
	ck.check('exit code 0 after cutting (%s)' % rc, rc == 0)
	ck.check('no sanitizer report after cutting', not srv.sanitizer_report())
	ck.check('exited at ~drain_timeout_ms (%.2fs, want 1.4..3.0)' % took, 1.4 <= took <= 3.0)


def h2_frames(s, out):
	"""Collect (type, payload) of every frame until the peer closes."""
	buf = b''
	try:
		while True:
			d = s.recv(65536)
			if not d:
				break
			buf += d
			while len(buf) >= 9:
				n = int.from_bytes(buf[:3], 'big')
				if len(buf) < 9 + n:
					break
				out.append((buf[3], buf[9:9 + n]))
				buf = buf[9 + n:]
	except OSError:
		pass


def idle_h2c_final_goaway(ck, py):
	"""Preface + SETTINGS, then nothing, and no close: the drain sends the
	notice (last id 2^31-1), then the final GOAWAY, and the process exits
	long before drain_timeout_ms."""
	zones = [et.zone('demo', ['localhost'], [('a', py.url, {})])]
	srv = et.server(zones, drain_timeout_ms=5000).start()
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
	s.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + bytes(9)[:3] + b'\x04' + bytes(5))
	frames = []
	th = threading.Thread(target=h2_frames, args=(s, frames))
	th.start()
	time.sleep(0.3)
	srv.proc.send_signal(signal.SIGTERM)
	rc, took = wait_exit(srv.proc, 8)
	th.join(5)
	s.close()
	last = [struct.unpack('>I', p[:4])[0] & 0x7fffffff for t, p in frames if t == 7]
	ck.check('GOAWAYs seen, last-stream-ids %s: a final one (< 2^31-1)' % last,
		 any(x < 0x7fffffff for x in last))
	ck.check('exit code 0 (%s)' % rc, rc == 0)
	ck.check('no sanitizer report (idle h2c)', not srv.sanitizer_report())
	ck.check('exited %.2fs after SIGTERM (want < 4 s: 1 s grace + 2 s linger for a client that never closes; drain_timeout_ms 5000)' % took,
		 rc is not None and took < 4.0)


def main():
	py = et.PyOrigin()
	ck = et.Checks()
	ck.run('in_flight_completes', in_flight_completes, ck, py)
	ck.run('cut_at_drain_timeout', cut_at_drain_timeout, ck, py)
	ck.run('idle_h2c_final_goaway', idle_h2c_final_goaway, ck, py)
	ck.finish()


if __name__ == '__main__':
	main()
