#!/usr/bin/python3
"""A fleet node's S3 secrets reach its signer whole (docs/FLEET.md "Secrets"),
on a one-member etcd (loopback free ports, stopped by PID) and a tap origin
(edgetest.HeadServer) that records what the edge sends:

- a zone file whose origin has a 1200-byte session token (an STS token is
  400-2000 bytes, more than a config line's LIMIT_CONFIG_LINE_BYTES) and a
  secret holding " ;" (inih cuts an inline value there) is imported;
  etcd holds neither in plaintext;
- the fleet node serves the zone: its miss carries X-Amz-Security-Token
  equal to the token, and a SigV4 signature that verifies with the whole
  secret (recomputed here from the headers the tap saw);
- a state_dir that cannot be written: the node serves; the write is
  retried after a doubling delay (LIMIT_FLEET_MAX_RETRY_MS), each try
  logged and counted (edgecache_fleet_state_write_failures_total), not
  retried on every pass of the control loop.

Before the secrets went to the loader beside the zone text, the node
refused this origin (a line over 199 bytes; the secret cut at " ;").
"""
import http.client
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402
from etcd import Etcd, one_node, skip_unless_ready  # noqa: E402
from test_creds_rotation import signed_with  # noqa: E402

BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')
SECRET = 'Tap-secret ;with a semicolon-9c1e'
TOKEN = ('FwoGZXIvYXdzE' + 'Tq7Kx9Lm2Np4Rs6Uv8Wy0Za1Bc3De5Fg7Hi9Jk' * 40)[:1200]
ZUUID = '6f1c2b9e-3a4d-4e5f-8a7b-0000000005ec'
OUUID = '3b92ec8b-d3e4-84eb-aa35-5593e03305ec'


class Tap(et.HeadServer):
	"""Records each request head (lower-cased header names); answers 200."""

	def __init__(self):
		self.heads = []
		self.lock = threading.Lock()
		super().__init__()

	def answer(self, c, head):
		lines = head.split('\r\n')
		hdrs = {}
		for ln in lines[1:]:
			k, _, v = ln.partition(':')
			hdrs[k.strip().lower()] = v.strip()
		with self.lock:
			self.heads.append((lines[0].split(' ')[1], hdrs))
		c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok')


def write0600(path, text):
	fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	os.write(fd, text if isinstance(text, bytes) else text.encode())
	os.close(fd)


def main():
	skip_unless_ready(BIN)
	c = et.Checks()
	d = et.tmpdir('fleet-secrets')
	etcd = Etcd(d, n=1)
	etcd.start_all()
	ep = etcd.url(0)
	tap = Tap()
	write0600(os.path.join(d, 'fleet.key'), os.urandom(32))
	os.makedirs(os.path.join(d, 'zones'))
	write0600(os.path.join(d, 'secret'), SECRET + '\n')
	write0600(os.path.join(d, 'token'), TOKEN + '\n')
	with open(os.path.join(d, 'zones', 'tok.ini'), 'w') as f:
		f.write('[zone]\nname = tok\nuuid = %s\nhosts = tok.test\n\n'
			'[origin tap]\nuuid = %s\nurl = %s\ns3_auth_enabled = true\n'
			's3_access_key = AKIATAP\ns3_secret_key_file = %s\n'
			's3_session_token_file = %s\n' % (ZUUID, OUUID, tap.url,
							   os.path.join(d, 'secret'),
							   os.path.join(d, 'token')))
	main_ini, port, admin, error_log = one_node(d, ep)
	p = subprocess.run([BIN, 'fleet', 'import', '-c', main_ini], capture_output=True, timeout=30)
	c.check('fleet import exits 0', p.returncode == 0, p.stderr.decode())
	rc, out, _ = etcd.ctl('get', '--prefix', '/edgecache')
	c.check('etcd holds neither the secret nor the token', rc == 0 and SECRET not in out and
		TOKEN[:40] not in out)

	proc = et.start_proc([BIN, '-c', main_ini], os.path.join(d, 'out.log'))
	et.wait_port(admin, proc, 15, log=error_log)
	et.wait_port(port, proc, 15, log=error_log)
	conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
	conn.request('GET', '/obj.bin', headers={'Host': 'tok.test'})
	r = conn.getresponse()
	r.read()
	conn.close()
	c.check('the fleet node serves the zone', r.status == 200, str(r.status))
	with tap.lock:
		heads = list(tap.heads)
	uri, h = heads[-1] if heads else ('', {})
	c.check('the miss carries the whole session token',
		h.get('x-amz-security-token') == TOKEN, str(len(h.get('x-amz-security-token', ''))))
	c.check('its signature verifies with the whole secret',
		signed_with(SECRET, h.get('authorization', ''), uri, h), h.get('authorization'))
	log = open(error_log, errors='replace').read()
	c.check('no secret or token in the log', SECRET not in log and TOKEN[:40] not in log)
	rc = et.stop_proc(proc)
	c.check('exit 0 on SIGTERM', rc == 0, str(rc))

	# a state_dir that cannot be written (under a regular file): the
	# node serves, the failure is counted and retried after a doubling
	# delay, not logged on every pass of the control loop
	with open(main_ini) as f:
		text = f.read()
	with open(main_ini, 'w') as f:
		f.write(text.replace('state_dir = state', 'state_dir = %s/state' % main_ini))
	open(error_log, 'w').close()
	proc = et.start_proc([BIN, '-c', main_ini], os.path.join(d, 'out.log'))
	et.wait_port(admin, proc, 15, log=error_log)
	et.wait_port(port, proc, 15, log=error_log)
	# a change (the zone value put again): the state is to be written
	zkey = '/edgecache/zones/' + ZUUID
	etcd.ctl('put', zkey, etcd.ctl('get', zkey, '--print-value-only')[1].strip())
	time.sleep(3)
	n = open(error_log, errors='replace').read().count('cannot write')
	metrics = et.admin_request(admin, 'GET', '/metrics')[1].decode()
	failures = [ln for ln in metrics.splitlines()
		    if ln.startswith('edgecache_fleet_state_write_failures_total{')]
	c.check('an unwritable state_dir: retried with a back-off (at most 8 tries in 3 s)',
		1 <= n <= 8, '%d tries logged' % n)
	# read after the log: one more try may have come in between
	c.check('... and counted', failures and n <= int(failures[0].split()[-1]) <= n + 1,
		'%s, %d logged' % (failures, n))
	rc = et.stop_proc(proc)
	c.check('exit 0 on SIGTERM', rc == 0, str(rc))
	tap.close()
	out = open(os.path.join(d, 'out.log'), errors='replace').read() + log
	c.check('no sanitizer report', 'Sanitizer' not in out and 'runtime error:' not in out)
	c.finish()


if __name__ == '__main__':
	main()
