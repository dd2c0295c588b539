#!/usr/bin/python3
"""`edgecache fleet import` / `fleet export` and what a fleet node does with
values it cannot use (docs/FLEET.md), on a one-member etcd (loopback free
ports, stopped by PID) and a pyorigin:

- import of zone files (an inline secret): rc 0, one key per zone and per
  origin, `etcdctl get --prefix` without the secret; export writes 0600
  zone files (a new file over an old 0644 one, no node state written)
  that `edgecache -t` accepts, the secret opened again;
- a fleet node serves the imported zone; values it cannot use — an
  origin with an ftp:// url, a value that is not JSON, a sealed secret
  moved to another origin's key, an unknown member, a key whose uuid
  part carries a newline (INI injection) — are each refused:
  logged (naming the key, never the secret), counted in
  edgecache_fleet_invalid_values_total, and the last good value kept
  (the zone still serves); a refused revision is not reported applied in
  the node's key (GET /cdn/fleet nodes[]), a good one after it is;
- SIGHUP in fleet mode re-reads the main file, the zones stay etcd's;
- a zone value that does not load put in etcd: the running node keeps the
  last good zone, and so does the node restarted with etcd up (its state
  file read first, etcd's values taken over it).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402
from etcd import Etcd, one_node, skip_unless_ready  # noqa: E402

BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')
SECRET = 'Import-secret-7f3a91c2'
ZUUID = '6f1c2b9e-3a4d-4e5f-8a7b-0000000001aa'
O1 = '3b92ec8b-d3e4-84eb-aa35-5593e0330001'
O2 = '3b92ec8b-d3e4-84eb-aa35-5593e0330002'
O3 = '3b92ec8b-d3e4-84eb-aa35-5593e0330003'


def metric(port, name):
	text = et.admin_request(port, 'GET', '/metrics')[1].decode()
	for ln in text.splitlines():
		if ln.startswith('edgecache_' + name + '{'):
			return int(ln.split()[-1])
	return None


def wait_for(cond, timeout=3.0):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if cond():
			return True
		time.sleep(0.02)
	return cond()


def main():
	skip_unless_ready(BIN)
	c = et.Checks()
	d = et.tmpdir('fleet-import')
	etcd = Etcd(d, n=1)
	etcd.start_all()
	ep = etcd.url(0)

	def ctl(_ep, *args):
		return etcd.ctl(*args)

	origin = et.PyOrigin()
	key = os.path.join(d, 'fleet.key')
	fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
	os.write(fd, os.urandom(32))
	os.close(fd)
	os.makedirs(os.path.join(d, 'zones'))
	with open(os.path.join(d, 'zones', 'imp.ini'), 'w') as f:
		f.write('[zone]\nname = imp\nuuid = %s\nhosts = *\ndefault_ttl = 0\n\n'
			'[origin first]\nuuid = %s\nurl = %s\ns3_auth_enabled = true\n'
			's3_access_key = AKIAIMPORT\ns3_secret_key = %s\n\n'
			'[origin second]\nuuid = %s\nurl = %s\n' % (ZUUID, O1, origin.url, SECRET, O2,
								  origin.url))
	main_ini, port, admin, error_log = one_node(d, ep)

	p = subprocess.run([BIN, 'fleet', 'import', '-c', main_ini], capture_output=True, timeout=30)
	c.check('fleet import exits 0', p.returncode == 0, p.stderr.decode())
	rc, out, _ = ctl(ep, 'get', '--prefix', '/edgecache', '--keys-only')
	keys = [k for k in out.split('\n') if k]
	c.check('one key per zone and per origin', sorted(keys) == sorted([
		'/edgecache/zones/' + ZUUID, '/edgecache/origins/%s/%s' % (ZUUID, O1),
		'/edgecache/origins/%s/%s' % (ZUUID, O2)]), str(keys))
	rc, out, _ = ctl(ep, 'get', '--prefix', '/edgecache')
	c.check('etcdctl get --prefix: no secret, a sealed one', SECRET not in out and 'kid' in out)

	exp = os.path.join(d, 'exp')
	# an older export left world-readable: replaced by a new 0600 file
	os.makedirs(exp, 0o700)
	with open(os.path.join(exp, ZUUID + '.ini'), 'w') as f:
		f.write('old\n')
	os.chmod(os.path.join(exp, ZUUID + '.ini'), 0o644)
	p = subprocess.run([BIN, 'fleet', 'export', '-c', main_ini, '-d', exp], capture_output=True,
			   timeout=30)
	c.check('fleet export exits 0', p.returncode == 0, p.stderr.decode())
	path = os.path.join(exp, ZUUID + '.ini')
	text = open(path).read() if os.path.exists(path) else ''
	c.check('the exported zone file is 0600 and holds the secret again',
		os.path.exists(path) and os.stat(path).st_mode & 0o777 == 0o600 and
		's3_secret_key = ' + SECRET in text)
	c.check('fleet export leaves no tmp file and writes no node state',
		os.listdir(exp) == [ZUUID + '.ini'] and
		not os.path.exists(os.path.join(d, 'state', 'fleet-state.json')), str(os.listdir(exp)))
	emain = os.path.join(d, 'emain.ini')
	with open(emain, 'w') as f:
		f.write('[server]\nlisten = 127.0.0.1:%d\nzones = exp/*.ini\n' % port)
	p = subprocess.run([BIN, '-t', '-c', emain], capture_output=True, timeout=30)
	c.check('edgecache -t accepts the exported files', p.returncode == 0, p.stderr.decode())
	p = subprocess.run([BIN, 'fleet', 'export', '-c', main_ini], capture_output=True, timeout=30)
	c.check('fleet export without -d: usage, exit 2', p.returncode == 2)

	proc = et.start_proc([BIN, '-c', main_ini], os.path.join(d, 'out.log'))
	et.wait_port(admin, proc, 15, log=error_log)
	et.wait_port(port, proc, 15, log=error_log)

	def get():
		return et.admin_request(port, 'GET', '/files/100')[0]

	c.check('the fleet node serves the imported zone', get() == 200)
	okey = '/edgecache/origins/%s/%s' % (ZUUID, O1)
	_, good, _ = ctl(ep, 'get', okey, '--print-value-only')
	good_json = json.loads(good)
	bad_values = [
		('an ftp:// url', okey, json.dumps(dict(good_json, url='ftp://127.0.0.1/'))),
		('a value that is not JSON', okey, '{"name": "first", '),
		('an unknown member', okey, json.dumps(dict(good_json, colour='blue'))),
		('a sealed secret moved to another origin\'s key',
		 '/edgecache/origins/%s/%s' % (ZUUID, O2),
		 json.dumps(dict(good_json, uuid=O2, name='second'))),
		# the key's uuid part is rendered as INI text: a "\n" there
		# would add a line of the attacker's (a value without a uuid
		# member takes its key's)
		('a key whose uuid part carries a newline', '/edgecache/origins/%s/%s\n'
		 'base_path = /injected' % (ZUUID, O3), json.dumps({'name': 'third',
								  'url': origin.url})),
	]
	def reported():
		st, b = et.admin_request(admin, 'GET', '/cdn/fleet')
		nodes = json.loads(b).get('nodes', []) if st == 200 else []
		return nodes[0]['applied_revision'] if nodes else -1

	def mod_revision(k):
		out = ctl(ep, 'get', k, '-w', 'json')[1]
		return int(json.loads(out)['kvs'][0]['mod_revision'])

	for i, (what, k, v) in enumerate(bad_values):
		rc, _, err = ctl(ep, 'put', k, v)
		counted = wait_for(lambda: metric(admin, 'fleet_invalid_values_total') == i + 1)
		c.check('%s: refused and counted' % what, rc == 0 and counted,
			str(metric(admin, 'fleet_invalid_values_total')))
		if i == 0:
			# a ?wait=all must not count this node as having taken it
			bad_rev = mod_revision(k)
			c.check('%s: its revision is not reported applied' % what,
				not wait_for(lambda: reported() >= bad_rev, 1.0), str(reported()))
		c.check('%s: the zone still serves' % what, get() == 200)
		if '\n' in k:
			ctl(ep, 'del', k)   # a delete of a refused key: not counted again
	log = open(error_log, errors='replace').read()
	c.check('each refusal logged with its key', log.count('refused') >= len(bad_values) and
		okey in log)
	c.check('no secret in the log', SECRET not in log)
	# the good value back (a changed secret, so it is a change): applied
	applies = metric(admin, 'fleet_applies_total')
	ctl(ep, 'put', okey, json.dumps(dict(good_json, s3_access_key='AKIAOTHER')))
	c.check('a good value again: applied, nothing more counted', wait_for(
		lambda: metric(admin, 'fleet_applies_total') == applies + 1) and get() == 200 and
		metric(admin, 'fleet_invalid_values_total') == len(bad_values))
	good_rev = mod_revision(okey)
	c.check('a good value again: its revision reported applied',
		wait_for(lambda: reported() >= good_rev), '%d < %d' % (reported(), good_rev))
	# SIGHUP: the main file again, the zones still etcd's (the glob's file moved away)
	shutil.move(os.path.join(d, 'zones', 'imp.ini'), os.path.join(d, 'imp.ini.away'))
	proc.send_signal(signal.SIGHUP)
	c.check('SIGHUP in fleet mode keeps etcd\'s zones', wait_for(
		lambda: 'reload: ' in open(error_log, errors='replace').read()) and get() == 200)
	# a zone value etcd holds now that does not load: the running node
	# keeps the last good one, and so does the node restarted over it
	zkey = '/edgecache/zones/' + ZUUID
	invalid = metric(admin, 'fleet_invalid_values_total')
	ctl(ep, 'put', zkey, '{"name": ')
	c.check('a bad zone value: refused by the running node', wait_for(
		lambda: metric(admin, 'fleet_invalid_values_total') == invalid + 1) and get() == 200)
	rc = et.stop_proc(proc)
	c.check('exit 0 on SIGTERM', rc == 0, str(rc))
	shutil.move(os.path.join(d, 'imp.ini.away'), os.path.join(d, 'zones', 'imp.ini'))
	proc = et.start_proc([BIN, '-c', main_ini], os.path.join(d, 'out.log'))
	et.wait_port(admin, proc, 15, log=error_log)
	et.wait_port(port, proc, 15, log=error_log)
	c.check('restarted with etcd up: the zone still served from the last good state',
		get() == 200 and metric(admin, 'fleet_invalid_values_total') >= 1,
		str(metric(admin, 'fleet_invalid_values_total')))
	rc = et.stop_proc(proc)
	c.check('exit 0 on SIGTERM after the restart', rc == 0, str(rc))
	out = open(os.path.join(d, 'out.log'), errors='replace').read() + \
		open(error_log, errors='replace').read()
	c.check('no sanitizer report', 'Sanitizer' not in out and 'runtime error:' not in out)
	c.finish()


if __name__ == '__main__':
	main()
