#!/usr/bin/python3
"""Fleet mode (issue 12, docs/FLEET.md): a 3-member etcd cluster (loopback
free ports, data in a temp dir, every member stopped by PID), three edge
nodes in fleet mode, and Swift s3api (ports 21600-21604) checking every
signature.

- POST of an origin on node 1 with ?wait=all: 201 with the revision once
  every node applied it; each node's miss is signed and Swift answers 200.
- A PATCH on node 1 to a wrong secret (force): every node's next miss gets
  Swift's 403; a PATCH on node 2 to the second user's key: every node 200.
- `etcdctl get --prefix` and the nodes' state files never hold a secret.
- Concurrent PATCHes of one origin on nodes 1 and 2 (each probes first):
  one 200, one 409.
- Node 3 reaches etcd through member 2 only: member 2 stopped, 5 rotations
  and a compaction past node 3's revision meanwhile; node 3 keeps serving
  the last good key; member 2 back, node 3 applies the last revision within
  2 s (a full range after the compacted watch).
- Node 3 restarted while member 2 is down: it serves from state_dir.
- The etcd leader killed in the middle of 20 rotations on node 1: no
  update that got a 200 is lost, every node converges on the last one.
- wrk misses on every node while rotations go to one node after another:
  only 2xx.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402
from etcd import Etcd, skip_unless_ready  # noqa: E402

PORT_BASE = 21600          # Swift: 21600-21604 (tests/README.md)
ACCESS, SECRET = 'edge:fleet1', 'Fleet-secret-one-5d2c8a'
ACCESS2, SECRET2 = 'edge:fleet2', 'Fleet-secret-two-e91f37'
WRONG = 'Fleet-wrong-secret-0b7a44'
BUCKET = 'media'
ZUUID = '6f1c2b9e-3a4d-4e5f-8a7b-00000000f1ee'
PREFIX = '/edgecache'
BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')


class Node:
	"""An edge in fleet mode: its own ports, state_dir, error log."""

	def __init__(self, name, endpoints, key):
		self.name = name
		self.dir = et.tmpdir('fleet-' + name)
		self.port, self.admin_port = et.free_port(), et.free_port()
		self.error_log = os.path.join(self.dir, 'error.log')
		self.state_dir = os.path.join(self.dir, 'state')
		self.main = os.path.join(self.dir, 'main.ini')
		with open(self.main, 'w') as f:
			# credential_overlap_ms = 0: a miss signed with a wrong new key
			# is not retried with the previous one (the check is strict)
			f.write('[server]\nlisten = 127.0.0.1:%d\nworkers = 1\nerror_log = %s\n'
				'access_log = off\ncredential_overlap_ms = 0\n[admin]\nlisten = 127.0.0.1:%d\n[fleet]\netcd = %s\n'
				'pop = test\nnode = %s\nsecrets_key_file = %s\nstate_dir = %s\n'
				'[cache]\npath = %s\nsize = 8m\nmemory = 0\n' %
				(self.port, self.error_log, self.admin_port, endpoints, name, key,
				 self.state_dir, os.path.join(self.dir, 'cache.dat')))
		self.proc = None

	def start(self):
		self.proc = et.start_proc([BIN, '-c', self.main], os.path.join(self.dir, 'out.log'))
		# the admin API listens before the shards do: wait for both
		et.wait_port(self.admin_port, self.proc, 15, log=self.error_log)
		et.wait_port(self.port, self.proc, 15, log=self.error_log)
		return self

	def stop(self):
		return et.stop_proc(self.proc)

	def admin(self, method, path, body=None, timeout=15):
		st, b = et.admin_request(self.admin_port, method, path,
					 json.dumps(body).encode() if body is not None else b'',
					 timeout=timeout)
		try:
			return st, json.loads(b)
		except ValueError:
			return st, {'raw': b.decode('latin-1')}

	def get(self, path='/obj.bin', xcache=False):
		c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
		try:
			c.request('GET', path, headers={'Host': 'fleet.test'})
			r = c.getresponse()
			out = (r.status, r.read())
			return out + (r.getheader('X-Cache'),) if xcache else out
		finally:
			c.close()

	def applied(self):
		st, j = self.admin('GET', '/cdn/fleet')
		return j.get('applied_revision', -1) if st == 200 else -1

	def log(self):
		try:
			return open(self.error_log, errors='replace').read()
		except FileNotFoundError:
			return ''


def origin_path():
	return '/cdn/zones/%s/origins' % ZUUID


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	skip_unless_ready(BIN)
	c = et.Checks()
	d = et.tmpdir('fleet')
	key = os.path.join(d, 'fleet.key')
	fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
	os.write(fd, os.urandom(32))
	os.close(fd)
	etcd = Etcd(d)
	etcd.start_all()
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET), (ACCESS2, SECRET2)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		body = os.urandom(3000)
		for name in ('obj.bin', 'miss.bin'):
			s3.put(BUCKET, name, body, access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'hit.bin', body, access_key=ACCESS, secret_key=SECRET,
		       headers={'Cache-Control': 'max-age=3600'})
		rc, _, err = etcd.ctl('put', '%s/zones/%s' % (PREFIX, ZUUID),
				      json.dumps({'name': 'z', 'hosts': ['*']}))
		c.check('zone key put with etcdctl', rc == 0, err)
		nodes = [Node('n1', etcd.endpoints(), key), Node('n2', etcd.endpoints(), key),
			 Node('n3', etcd.url(2), key)]
		for n in nodes:
			n.start()
		state = {}
		c.run('create and rotate', create_and_rotate, c, nodes, s3, body, state)
		c.run('no secret in etcd or state_dir', no_secret, c, etcd, nodes)
		c.run('concurrent PATCHes', concurrent, c, nodes, state)
		c.run('purge across the fleet', purge, c, nodes)
		c.run('node cut from etcd, compaction, back', cut_and_back, c, etcd, nodes, body,
		      state)
		c.run('leader killed mid-rotations', leader_kill, c, etcd, nodes, body, state)
		c.run('rotations under wrk on every node', under_load, c, nodes, state)
		for n in nodes:
			rc = n.stop()
			c.check('%s exits 0 on SIGTERM' % n.name, rc == 0, 'exit %s' % rc)
			sanit = 'Sanitizer' in n.log() or 'runtime error:' in n.log()
			c.check('%s: no sanitizer report' % n.name, not sanit)
	c.finish()


def all_get(nodes, want, path='/obj.bin'):
	return {n.name: n.get(path)[0] for n in nodes} == {n.name: want for n in nodes}


def create_and_rotate(c, nodes, s3, body, state):
	n1, n2 = nodes[0], nodes[1]
	st, j = n1.admin('POST', origin_path() + '?wait=all', {
		'name': 'bucket', 'url': s3.endpoint, 's3_auth_enabled': True,
		's3_access_key': ACCESS, 's3_secret_key': SECRET, 's3_region': 'us-east-1',
		'base_path': '/' + BUCKET, 'probe_path': '/miss.bin'})
	c.check('POST ?wait=all on node 1: 201 with a revision', st == 201 and j.get('revision', 0) > 0,
		'%s %s' % (st, j))
	state['origin'] = j.get('uuid')
	state['path'] = '%s/%s' % (origin_path(), state['origin'])
	got = {n.name: n.get() for n in nodes}
	c.check('every node serves the object, signed (Swift 200)',
		all(s == 200 and b == body for s, b in got.values()),
		str({k: v[0] for k, v in got.items()}))
	st, j = n1.admin('PATCH', state['path'] + '?wait=all', {'s3_secret_key': WRONG,
								 'force': True})
	c.check('PATCH to a wrong secret on node 1: 200', st == 200, '%s %s' % (st, j))
	codes = {n.name: n.get()[0] for n in nodes}
	c.check('every node signs its next miss with it (Swift 403)',
		set(codes.values()) == {403}, str(codes))
	st, j = n2.admin('PATCH', state['path'] + '?wait=all', {'s3_access_key': ACCESS2,
								 's3_secret_key': SECRET2})
	c.check('PATCH on node 2 to the second key (probed): 200', st == 200, '%s %s' % (st, j))
	codes = {n.name: n.get()[0] for n in nodes}
	c.check('every node signs with the second key (Swift 200)', set(codes.values()) == {200},
		str(codes))
	st, j = n1.admin('GET', '/cdn/fleet')
	c.check('GET /cdn/fleet lists 3 nodes with lag 0',
		st == 200 and len(j.get('nodes', [])) == 3 and
		all(x['lag'] == 0 for x in j['nodes']), str(j))


def no_secret(c, etcd, nodes):
	rc, out, err = etcd.ctl('get', '--prefix', PREFIX)
	c.check('etcdctl get --prefix answers', rc == 0 and PREFIX in out, err)
	leaked = [s for s in (SECRET, SECRET2, WRONG) if s in out]
	c.check('etcdctl get --prefix holds no secret', not leaked, str(leaked))
	c.check('the secret is sealed ({"kid", "nonce", "ct"})', '"kid"' in out and '"ct"' in out)
	for n in nodes:
		text = open(os.path.join(n.state_dir, 'fleet-state.json')).read()
		leaked = [s for s in (SECRET, SECRET2, WRONG) if s in text]
		c.check('%s state file holds no secret' % n.name, not leaked and 'kid' in text,
			str(leaked))
		c.check('%s log holds no secret' % n.name,
			not [s for s in (SECRET, SECRET2, WRONG) if s in n.log()])


def concurrent(c, nodes, state):
	out = {}

	def patch(n, ak, sk):
		out[n.name] = n.admin('PATCH', state['path'], {'s3_access_key': ak,
								's3_secret_key': sk})

	ts = [threading.Thread(target=patch, args=(nodes[0], ACCESS, SECRET)),
	      threading.Thread(target=patch, args=(nodes[1], ACCESS2, SECRET2))]
	for t in ts:
		t.start()
	for t in ts:
		t.join(30)
	codes = sorted(v[0] for v in out.values())
	c.check('two PATCHes of one origin at once: one 200, one 409', codes == [200, 409],
		str(out))
	# not a fixed sleep: every node has the winner's revision first
	revs = [v[1].get('revision', 0) for v in out.values() if v[0] == 200]
	c.check('every node applies the winner\'s revision',
		bool(revs) and wait_applied(nodes, max(revs), 10), str(revs))
	c.check('every node serves with the winner\'s key', all_get(nodes, 200))


def purge(c, nodes):
	for n in nodes:
		n.get('/hit.bin')
	hits = {n.name: n.get('/hit.bin', True)[2] for n in nodes}
	c.check('hit.bin cached on every node', set(hits.values()) == {'HIT'}, str(hits))
	st, j = nodes[1].admin('POST', '/cdn/zones/%s/purge?wait=all' % ZUUID,
			       {'paths': ['/hit.bin']})
	c.check('purge on node 2 ?wait=all: 200, purged here, a revision',
		st == 200 and j.get('purged') == 1 and j.get('revision', 0) > 0, '%s %s' % (st, j))
	after = {n.name: n.get('/hit.bin', True)[2] for n in nodes}
	c.check('no node serves it from its cache after', 'HIT' not in after.values(), str(after))
	c.check('each other node logged the purge', all(
		'fleet: purge ' in n.log() for n in (nodes[0], nodes[2])))


def wait_applied(nodes, rev, timeout):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if all(n.applied() >= rev for n in nodes):
			return True
		time.sleep(0.02)
	return False


def rotate(n, i, state):
	ak, sk = (ACCESS, SECRET) if i % 2 == 0 else (ACCESS2, SECRET2)
	st, j = n.admin('PATCH', state['path'], {'s3_access_key': ak, 's3_secret_key': sk,
						'force': True})
	return st, j.get('revision', 0), ak


def cut_and_back(c, etcd, nodes, body, state):
	n1, n3 = nodes[0], nodes[2]
	etcd.stop(2)
	last = 0
	for i in range(5):
		st, rev, _ = rotate(n1, i, state)
		c.check('rotation %d with member 2 down: 200' % i, st == 200, str(st))
		last = max(last, rev)
		s, b = n3.get()
		c.check('node 3, cut off, serves the last good key (%d)' % i, s == 200 and b == body,
			str(s))
	rc, _, err = etcd.ctl('compact', str(last), eps=etcd.url(0))
	c.check('etcd compacted to %d' % last, rc == 0, err)
	etcd.start(2)
	c.check('member 2 back', etcd.healthy(2, 20))
	t0 = time.monotonic()
	ok = wait_applied([n3], last, 2.0)
	c.check('node 3 applies revision %d within 2 s of member 2 answering' % last, ok,
		'%.2fs, node 3 at %d' % (time.monotonic() - t0, n3.applied()))
	print('node 3 caught up in %.3f s' % (time.monotonic() - t0), flush=True)
	m = et.admin_request(n3.admin_port, 'GET', '/metrics')[1].decode()
	c.check('node 3 counted the compaction or a range',
		'edgecache_fleet_compactions_total{pop="test",node="n3"} 1' in m or
		'edgecache_fleet_ranges_total{pop="test",node="n3"} 2' in m,
		[ln for ln in m.splitlines() if 'fleet_' in ln and not ln.startswith('#')])
	c.check('every node serves', all_get(nodes, 200))
	# restarted while its etcd is down: serves from state_dir
	etcd.stop(2)
	n3.stop()
	n3.start()
	s, b = n3.get()
	c.check('node 3 restarted with etcd down serves from state_dir',
		s == 200 and b == body and 'last known good' in n3.log(), str(s))
	etcd.start(2)
	c.check('member 2 back again', etcd.healthy(2, 20))
	c.check('node 3 converges after', wait_applied([n3], last, 3.0), str(n3.applied()))


def leader_kill(c, etcd, nodes, body, state):
	n1 = nodes[0]
	last_ok, last_rev, killed = None, 0, None
	for i in range(20):
		if i == 6:
			killed = etcd.leader()
			if killed is not None:
				etcd.stop(killed, signal.SIGKILL)
		st, rev, ak = rotate(n1, i, state)
		if st == 200:
			last_ok, last_rev = ak, rev
		elif st not in (409, 503):
			# 503: no member answered in time; 409: a txn whose answer was
			# lost with the leader, committed, then retried on another member
			c.check('rotation %d: 200, 409 or 503 while etcd elects' % i, False, str(st))
	c.check('the leader was found and killed', killed is not None)
	c.check('the last rotation got a 200', st == 200, str(st))
	if killed is not None:
		etcd.start(killed)
		etcd.healthy(killed, 20)
	c.check('every node applies the last 200\'s revision %d' % last_rev,
		wait_applied(nodes, last_rev, 5.0), str([n.applied() for n in nodes]))
	rc, out, _ = etcd.ctl('get', '%s/origins/%s/%s' % (PREFIX, ZUUID, state['origin']),
			      '--print-value-only')
	c.check('etcd holds the last 200\'s key', rc == 0 and json.loads(out).get(
		's3_access_key') == last_ok, out)
	c.check('every node serves with it (Swift 200)', all_get(nodes, 200))


def under_load(c, nodes, state):
	"""wrk misses (signed, to Swift) on every node while rotations go to
	one node after another: no request may see anything but 2xx."""
	if not shutil.which('wrk'):
		c.skip('rotations under wrk', 'wrk missing: run scripts/setup')
		return
	seconds = 4
	lua = os.path.join(nodes[0].dir, 'paced.lua')
	with open(lua, 'w') as f:
		f.write('function delay()\n  return 2\nend\n')
	procs = [subprocess.Popen(['wrk', '-t1', '-c2', '-d%ds' % seconds, '--timeout', '10s',
				   '-s', lua, 'http://127.0.0.1:%d/obj.bin' % n.port],
				  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
		 for n in nodes]
	codes = []
	t0 = time.monotonic()
	i = 0
	while time.monotonic() - t0 < seconds - 1:
		time.sleep(0.4)
		codes.append(rotate(nodes[i % len(nodes)], i, state)[0])
		i += 1
	outs = [p.communicate(timeout=seconds + 30)[0] for p in procs]
	c.check('%d rotations across the nodes under load: all 200' % len(codes),
		codes and set(codes) == {200}, str(codes))
	for n, out in zip(nodes, outs):
		c.check('%s: wrk saw only 2xx' % n.name, 'requests in' in out and
			'Non-2xx' not in out and 'Socket errors' not in out, out[-400:])


if __name__ == '__main__':
	main()
