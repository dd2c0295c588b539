#!/usr/bin/python3
"""bench/fleet — propagation of a fleet change (issue 12, docs/FLEET.md).

A 3-member etcd cluster and N edge nodes in fleet mode (loopback, free
ports, stopped by PID), a pyorigin as the origin (the signature is not
checked: this measures the control plane). Then CHANGES credential
rotations, one after the other, each a PATCH on node 1 (no ?wait=all);
for each: from the PATCH's 200 to the moment the last node's key under
<prefix>/nodes/ reports the change's revision, as seen by a watch on that
prefix (so a figure includes each node's own put of its key: one etcd
write). Also etcd's own write latency (a put through the same gateway),
for the ratio, and the same run with W lightweight watchers added (each
a streaming /v3/watch of the origins prefix, as a node's would be).

    /usr/bin/python3 bench/fleet/run.py [--nodes 4] [--changes 200] [--watchers 50]
"""
import argparse
import base64
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'lib'))
import edgetest as et  # noqa: E402
from etcd import Etcd, skip_unless_ready  # noqa: E402

ZUUID = '6f1c2b9e-3a4d-4e5f-8a7b-0000000be7c0'
BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')


def b64(s):
	return base64.b64encode(s.encode()).decode()


def pct(xs, p):
	xs = sorted(xs)
	return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Watch(threading.Thread):
	"""A streaming /v3/watch of a prefix; on_event(key, value, t) per event."""

	def __init__(self, port, prefix, on_event=None):
		super().__init__(daemon=True)
		self.port, self.prefix, self.on_event = port, prefix, on_event
		self.ready = threading.Event()

	def run(self):
		end = self.prefix[:-1] + chr(ord(self.prefix[-1]) + 1)
		c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=600)
		c.request('POST', '/v3/watch', json.dumps({'create_request': {
			'key': b64(self.prefix), 'range_end': b64(end)}}))
		r = c.getresponse()
		while True:
			line = r.readline()
			if not line:
				return
			t = time.monotonic()
			if not line.strip():
				continue
			res = json.loads(line).get('result', {})
			if res.get('created'):
				self.ready.set()
			for ev in res.get('events', []):
				kv = ev.get('kv', {})
				if self.on_event:
					self.on_event(base64.b64decode(kv['key']).decode(),
						      base64.b64decode(kv.get('value', '')).decode(), t)


def etcd_put_ms(port, n):
	out = []
	c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
	for i in range(n):
		body = json.dumps({'key': b64('/bench/put'), 'value': b64('v%d' % i)})
		t0 = time.monotonic()
		c.request('POST', '/v3/kv/put', body)
		c.getresponse().read()
		out.append((time.monotonic() - t0) * 1e3)
	c.close()
	return out


def run(nodes, etcd, changes, path):
	applied = {}                 # node name -> newest applied revision
	cv = threading.Condition()

	def on_node(key, value, t):
		with cv:
			applied[key.rsplit('/', 1)[-1]] = (json.loads(value)['applied_revision'], t)
			cv.notify_all()

	w = Watch(etcd.client[0], '/edgecache/nodes/', on_node)
	w.start()
	w.ready.wait(10)
	out = []
	for i in range(changes):
		st, b = et.admin_request(nodes[0][1], 'PATCH', path, json.dumps({
			's3_secret_key': 'bench-secret-%06d' % i}).encode())
		t0 = time.monotonic()
		if st != 200:
			raise RuntimeError('PATCH %d: %d %s' % (i, st, b[:200]))
		rev = json.loads(b)['revision']
		with cv:
			ok = cv.wait_for(lambda: all(applied.get(n, (0,))[0] >= rev
						     for n, _ in nodes), timeout=10)
			if not ok:
				raise RuntimeError('change %d (revision %d) not applied by all' % (i, rev))
			out.append((max(applied[n][1] for n, _ in nodes) - t0) * 1e3)
	return out


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument('--nodes', type=int, default=4)
	ap.add_argument('--changes', type=int, default=200)
	ap.add_argument('--watchers', type=int, default=50)
	a = ap.parse_args()
	skip_unless_ready(BIN)
	d = et.tmpdir('bench-fleet')
	etcd = Etcd(d, n=3, progress_ms=10000)
	etcd.start_all()
	origin = et.PyOrigin()
	key = os.path.join(d, 'fleet.key')
	fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
	os.write(fd, os.urandom(32))
	os.close(fd)
	etcd.ctl('put', '/edgecache/zones/' + ZUUID, json.dumps({'name': 'b', 'hosts': ['*']}))
	nodes = []
	for i in range(a.nodes):
		port, admin = et.free_port(), et.free_port()
		main_ini = os.path.join(d, 'n%d.ini' % i)
		with open(main_ini, 'w') as f:
			f.write('[server]\nlisten = 127.0.0.1:%d\nworkers = 1\naccess_log = off\n'
				'error_log = %s\n[admin]\nlisten = 127.0.0.1:%d\n[fleet]\netcd = %s\n'
				'pop = bench\nnode = n%d\nsecrets_key_file = %s\nstate_dir = %s\n' %
				(port, os.path.join(d, 'n%d.log' % i), admin, etcd.endpoints(), i, key,
				 os.path.join(d, 'state%d' % i)))
		p = et.start_proc([BIN, '-c', main_ini], os.path.join(d, 'n%d.out' % i))
		et.wait_port(admin, p, 15)
		nodes.append(('n%d' % i, admin))
	st, b = et.admin_request(nodes[0][1], 'POST', '/cdn/zones/%s/origins?wait=all' % ZUUID,
				 json.dumps({'name': 'o', 'url': origin.url, 's3_auth_enabled': True,
					     's3_access_key': 'AKIABENCH',
					     's3_secret_key': 'bench-secret'}).encode())
	if st != 201:
		raise RuntimeError('POST: %d %s' % (st, b))
	path = '/cdn/zones/%s/origins/%s' % (ZUUID, json.loads(b)['uuid'])
	puts = etcd_put_ms(etcd.client[0], a.changes)
	prop = run(nodes, etcd, a.changes, path)
	watchers = [Watch(etcd.client[i % 3], '/edgecache/origins/') for i in range(a.watchers)]
	for w in watchers:
		w.start()
	for w in watchers:
		w.ready.wait(10)
	prop_w = run(nodes, etcd, a.changes, path)
	print('| run | changes | p50 ms | p99 ms | max ms |')
	print('|---|---|---|---|---|')
	print('| etcd put (gateway, 3 members) | %d | %.2f | %.2f | %.2f |' %
	      (len(puts), pct(puts, 50), pct(puts, 99), max(puts)))
	print('| PATCH 200 -> last of %d nodes applied | %d | %.2f | %.2f | %.2f |' %
	      (a.nodes, len(prop), pct(prop, 50), pct(prop, 99), max(prop)))
	print('| the same, %d watchers added | %d | %.2f | %.2f | %.2f |' %
	      (a.watchers, len(prop_w), pct(prop_w, 50), pct(prop_w, 99), max(prop_w)))


if __name__ == '__main__':
	main()
