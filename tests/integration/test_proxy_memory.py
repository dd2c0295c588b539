#!/usr/bin/python3
"""Bounded memory while streaming: a 1 GiB origin body passes through
edgecache to a visitor that reads 32 MiB, stops reading for 2 s, then reads
the rest. While the visitor stalls edgecache must stop reading the origin
(its RSS stays flat), and the peak RSS growth over the whole transfer stays
far below the object size (the provided-buffer rings are the bound)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SIZE = 1 << 30
# Ring buffers (2 groups x 16 MiB) plus head blocks: everything a shard may
# touch, whatever the object size. A leak of the body would exceed it.
MAX_GROWTH = 48 << 20


def status_kib(pid, field):
	with open('/proc/%d/status' % pid) as f:
		for ln in f:
			if ln.startswith(field + ':'):
				return int(ln.split()[1]) * 1024
	return 0


def stream(ck, srv):
	pid = srv.proc.pid
	et.request(srv.port, 'GET', '/small')           # warm: rings set up
	hwm0 = status_kib(pid, "VmHWM")
	print("baseline VmHWM %d KiB, VmRSS %d KiB" % (hwm0 >> 10, status_kib(pid, "VmRSS") >> 10), flush=True)
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=30)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
	s.sendall(b'GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n')
	head = b''
	while b'\r\n\r\n' not in head:
		head += s.recv(65536)
	hdr, _, got = head.partition(b'\r\n\r\n')
	ck.check('200 with Content-Length %d' % SIZE, hdr.startswith(b'HTTP/1.1 200') and
		 ('content-length: %d' % SIZE).encode() in hdr.lower(), hdr[:200])
	n = len(got)
	while n < (32 << 20):
		n += len(s.recv(1 << 20))
	time.sleep(0.3)
	rss_a = status_kib(pid, 'VmRSS')
	time.sleep(2.0)                                  # the visitor stalls
	rss_b = status_kib(pid, 'VmRSS')
	ck.check('RSS flat while the visitor stalls (%d KiB → %d KiB)' % (rss_a >> 10, rss_b >> 10),
		 rss_b - rss_a < (4 << 20))
	# a bound on a hang, not a speed test: a loaded machine streamed 640 MiB in 60 s
	deadline = time.monotonic() + 150
	while n < SIZE and time.monotonic() < deadline:
		d = s.recv(1 << 20)
		if not d:
			break
		n += len(d)
	s.close()
	ck.check('all %d bytes arrived (%d)' % (SIZE, n), n == SIZE)
	growth = status_kib(pid, 'VmHWM') - hwm0
	ck.check('peak RSS grew %d KiB for a 1 GiB body (bound %d KiB)' %
		 (growth >> 10, MAX_GROWTH >> 10), growth < MAX_GROWTH)


def main():
	if os.environ.get('EDGECACHE_BUILD_KIND') == 'asan':
		et.skip('RSS bounds are meaningless under ASan (shadow memory, quarantine)')
	origin = et.NginxOrigin({'small': 1024})
	with open(os.path.join(origin.root, 'big'), 'wb') as f:
		f.truncate(SIZE)                         # sparse: zeros, no disk
	zones = [et.zone('demo', ['*'], [('primary', origin.url, {})])]
	srv = et.server(zones).start()
	ck = et.Checks()
	ck.run('stream', stream, ck, srv)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
