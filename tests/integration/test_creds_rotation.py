#!/usr/bin/python3
"""tests/integration/test_creds_rotation.py — a credential rotation swaps
only the credentials (edge/runtime.h "Credentials apart"): pooled origin
connections, their TLS sessions and the snapshot stay.

An https S3-style origin: nginx with a test CA's certificate for localhost
serving files (it checks no signature: its access log records the
connection number, whether TLS resumed, and the Authorization header the
edge sent). The edge (2 shards, admin API) fills each shard's keep-alive
pool with misses; then a PATCH of s3_access_key + s3_secret_key through
the admin API, then more misses.

Checks: after the PATCH, origin_connects and origin_tls_full_handshakes
do not move (today's main closed every pooled connection on the swap and
opened new ones, with a new TLS client context and so full handshakes);
every origin request after it is signed with the new key id
(Credential=<new key>/...) and rides a connection that served requests
before it; no snapshot was published (edgecache_snapshot_swaps_total
unchanged, edgecache_credential_swaps_total + 1) and the replaced
credentials object is freed (edgecache_credentials_retired_live 0).
Exits 77 without nginx or openssl.
"""
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
import test_admin as ta  # noqa: E402  (AdminEdge, api, first_origin, ZUUID)

KEY1, SECRET1 = 'AKIDROTATEONE0000001', 'Rot-secret-one-3b8e1f0a'
KEY2, SECRET2 = 'AKIDROTATETWO0000002', 'Rot-secret-two-9c4d2e7b'
BUCKET = 'bkt'
N_OBJECTS = 50


class AuthTlsOrigin:
	"""nginx on 127.0.0.1 with TLS (cert, key) serving /BUCKET/obj-N (1 KiB,
	no freshness: every request a miss) and /BUCKET/hit.bin (max-age=3600);
	its log line per request: connection number, TLS session reused ("r"
	or "."), the Authorization header, the URI."""

	def __init__(self, cert, key, n_objects=N_OBJECTS, port=None):
		self.dir = et.tmpdir('authtls')
		self.port = port or et.free_port()
		self.log_path = os.path.join(self.dir, 'auth.log')
		docs = os.path.join(self.dir, 'html', BUCKET)
		os.makedirs(docs)
		for i in range(n_objects):
			with open(os.path.join(docs, 'obj-%d' % i), 'wb') as f:
				f.write(et.det_bytes('obj-%d' % i, 1024))
		with open(os.path.join(docs, 'hit.bin'), 'wb') as f:
			f.write(et.det_bytes('hit', 1024))
		conf = os.path.join(self.dir, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(et.nginx_main_conf(self.dir) + '''
http { %s
  log_format auth '$connection $ssl_session_reused "$http_authorization" $request_uri';
  access_log %s auth;
  keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;
    ssl_session_cache shared:rot:1m;
    root %s/html;
    location = /%s/hit.bin { add_header Cache-Control "max-age=3600"; } } }
''' % (et.nginx_temp_paths(self.dir), self.log_path, self.port, cert, key, self.dir, BUCKET))
		self.proc = et.start_proc(['nginx', '-p', self.dir, '-c', conf],
					  os.path.join(self.dir, 'stderr.log'))
		et.wait_port(self.port, self.proc)
		self.url = 'https://localhost:%d' % self.port

	def lines(self):
		"""[(connection, resumed, key id or None, uri)]"""
		out = []
		for ln in et.read_log(self.log_path):
			m = re.match(r'(\d+) (\S+) "([^"]*)" (\S+)', ln)
			if m:
				k = re.search(r'Credential=([^/]+)/', m.group(3))
				out.append((int(m.group(1)), m.group(2), k.group(1) if k else None,
					    m.group(4)))
		return out

	def stop(self):
		return et.stop_proc(self.proc)


def edge_for(origin, ca, workers=2, **server):
	"""An AdminEdge with one S3 zone (uuid ta.ZUUID) on `origin`, not started."""
	srv = ta.AdminEdge([], workers=workers, **server)
	srv.zones = [et.zone('z', ['*'], [('bucket', origin.url, {
		's3_auth_enabled': 'true', 's3_access_key': KEY1,
		's3_secret_key_file': srv.secret_file(SECRET1), 's3_region': 'us-east-1',
		'base_path': '/' + BUCKET, 'ca_file': ca})], uuid=ta.ZUUID)]
	srv.main = srv.write_config()
	return srv


def metric(srv, name):
	m = re.search(r'^edgecache_%s ([0-9.]+)$' % re.escape(name),
		      ta.api(srv, 'GET', '/metrics')[1], re.M)
	return float(m.group(1)) if m else None


def misses(srv, start, n):
	bad = []
	for i in range(start, start + n):
		r = et.request(srv.port, 'GET', '/obj-%d' % (i % N_OBJECTS))
		if r.status != 200:
			bad.append((i, r.status))
	return bad


def rotation_keeps_pool(ck, srv, origin):
	bad = misses(srv, 0, 40)
	ck.check('40 misses before the rotation: 200', not bad, bad)
	c0 = srv.counters()
	swaps0 = metric(srv, 'snapshot_swaps_total')
	cswaps0 = metric(srv, 'credential_swaps_total') or 0
	n_before = len(origin.lines())
	conns_before = {ln[0] for ln in origin.lines()}
	o = ta.first_origin(srv)
	st, j = ta.api(srv, 'PATCH', '/cdn/zones/%s/origins/%s' % (ta.ZUUID, o['uuid']),
		       {'s3_access_key': KEY2, 's3_secret_key': SECRET2})
	ck.check('PATCH of the S3 credentials: 200', st == 200 and j.get('s3_access_key') == KEY2,
		 (st, j))
	bad = misses(srv, 40, 40)
	ck.check('40 misses after the rotation: 200', not bad, bad)
	c1 = srv.counters()
	after = origin.lines()[n_before:]
	d = {k: c1.get(k, 0) - c0.get(k, 0)
	     for k in ('origin_connects', 'origin_reuses', 'origin_tls_full_handshakes')}
	print('before: %d origin requests on connections %s; after: %s' %
	      (n_before, sorted(conns_before), d), flush=True)
	ck.check('origin_connects did not move across the rotation (%d)' % d['origin_connects'],
		 d['origin_connects'] == 0)
	ck.check('no full TLS handshake with the origin after it (%d)' %
		 d['origin_tls_full_handshakes'], d['origin_tls_full_handshakes'] == 0)
	ck.check('the misses after it reused pooled connections (%d)' % d['origin_reuses'],
		 d['origin_reuses'] >= 40)
	keys = {ln[2] for ln in after}
	ck.check('every origin request after the PATCH is signed with the new key id (%s)' %
		 sorted(k or '-' for k in keys), len(after) >= 40 and keys == {KEY2})
	conns_after = {ln[0] for ln in after}
	ck.check('...on connections that served requests before it (%s)' % sorted(conns_after),
		 conns_after <= conns_before)
	ck.check('no snapshot published: snapshot_swaps_total %s -> %s' %
		 (swaps0, metric(srv, 'snapshot_swaps_total')),
		 metric(srv, 'snapshot_swaps_total') == swaps0)
	ck.check('credential_swaps_total + 1 (%s -> %s)' %
		 (cswaps0, metric(srv, 'credential_swaps_total')),
		 metric(srv, 'credential_swaps_total') == cswaps0 + 1)
	deadline = time.monotonic() + 5
	while metric(srv, 'credentials_retired_live') != 0 and time.monotonic() < deadline:
		time.sleep(0.1)
	ck.check('the replaced credentials object is freed (%s live)' %
		 metric(srv, 'credentials_retired_live'), metric(srv, 'credentials_retired_live') == 0)


def back_and_forth(ck, srv, origin):
	"""Ten more rotations between the two pairs with misses in between:
	each miss signed with the pair just applied, still no connection."""
	c0 = srv.counters()
	o = ta.first_origin(srv)
	wrong = []
	for i in range(10):
		key, secret = (KEY1, SECRET1) if i % 2 == 0 else (KEY2, SECRET2)
		st, _ = ta.api(srv, 'PATCH', '/cdn/zones/%s/origins/%s' % (ta.ZUUID, o['uuid']),
			       {'s3_access_key': key, 's3_secret_key': secret})
		n0 = len(origin.lines())
		bad = misses(srv, 100 + 4 * i, 4)
		keys = {ln[2] for ln in origin.lines()[n0:]}
		if st != 200 or bad or keys != {key}:
			wrong.append((i, st, bad, sorted(k or '-' for k in keys)))
	ck.check('10 rotations: each next miss signed with the pair just applied', not wrong, wrong)
	d = srv.counters().get('origin_connects', 0) - c0.get('origin_connects', 0)
	ck.check('...and no new origin connection (%d)' % d, d == 0)


def no_secret(ck, srv):
	texts = [open(p, 'rb').read() for p in (srv.error_log, srv.access_log) if os.path.exists(p)]
	leaked = [s for s in (SECRET1, SECRET2) if any(s.encode() in t for t in texts)]
	ck.check('no secret in any log', not leaked, leaked)


def main():
	for tool in ('nginx', 'openssl'):
		if not shutil.which(tool):
			et.skip('%s not installed' % tool)
	ca, cert, key = et.make_test_ca(et.tmpdir('rot-ca'))
	origin = AuthTlsOrigin(cert, key)
	try:
		srv = edge_for(origin, ca)
		srv.start()
		ck = et.Checks()
		ck.run('rotation keeps the pool', rotation_keeps_pool, ck, srv, origin)
		ck.run('back and forth', back_and_forth, ck, srv, origin)
		ck.run('no secret', no_secret, ck, srv)
		ck.stop_and_finish(srv)
	finally:
		origin.stop()


if __name__ == '__main__':
	main()
