#!/usr/bin/python3
"""Start-up refusals: with io_uring disabled (kernel.io_uring_disabled=2),
`edgecache -c` exits 1 at once with a message naming what to change, and
binds nothing. Needs root to flip the sysctl (restored in all cases); skips
(77) otherwise. A listen address already in use is refused with exit 1 and
the address in the message."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SYSCTL = '/proc/sys/kernel/io_uring_disabled'


def run(srv, timeout=10):
	return subprocess.run([srv.bin, '-c', srv.main], capture_output=True, text=True,
			      timeout=timeout)


def io_uring_disabled(ck, srv):
	try:
		old = open(SYSCTL).read().strip()
		with open(SYSCTL, 'w') as f:
			f.write('2')
	except OSError as e:
		ck.skip('io_uring disabled', 'cannot write %s (%s): needs root' % (SYSCTL, e))
		return
	try:
		r = run(srv)
	finally:
		with open(SYSCTL, 'w') as f:
			f.write(old)
	ck.check('exit 1 when io_uring is disabled', r.returncode == 1, 'rc=%d' % r.returncode)
	ck.check('message names io_uring and the sysctl', 'io_uring' in r.stderr and
		 'io_uring_disabled' in r.stderr, r.stderr)
	s = socket.socket()
	ck.check('nothing left listening', s.connect_ex(('127.0.0.1', srv.port)) != 0)
	s.close()


def port_in_use(ck, srv):
	hog = socket.socket()
	hog.bind(('127.0.0.1', srv.port))
	hog.listen(1)
	try:
		r = run(srv)
	finally:
		hog.close()
	ck.check('exit 1 when the listen address is taken', r.returncode == 1,
		 'rc=%d' % r.returncode)
	ck.check('message names the address', '127.0.0.1:%d' % srv.port in r.stderr, r.stderr)


def main():
	ck = et.Checks()
	srv = et.Edgecache([et.zone('z', ['*'], [('o', 'http://127.0.0.1:9', {})])])
	ck.run('io_uring_disabled', io_uring_disabled, ck, srv)
	ck.run('port_in_use', port_in_use, ck, srv)
	ck.finish()


if __name__ == '__main__':
	main()
