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
The same through SIGHUP (run first, while the zone file is the test's):
the secret file's content changed and nothing else, then SIGHUP: no
snapshot (snapshot_swaps_total and runtime_snapshots_live unchanged, the
reload logged as credentials swapped in place), credential_swaps_total + 1,
origin_connects and origin_tls_full_handshakes unchanged, and every miss
after it carries a signature that verifies with the new secret (the test
recomputes it from the headers nginx logged) on a connection from before.
Today's main fails here: its SIGHUP built a whole snapshot. Then a SIGHUP
that changes the secret back and also a timeout (idle_timeout_ms) builds a
snapshot (snapshot_swaps_total + 1) and its misses verify with that secret.
Exits 77 without nginx or openssl.
"""
import hashlib
import hmac
import os
import re
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
import test_admin as ta  # noqa: E402  (AdminEdge, api, first_origin, ZUUID)

KEY1, SECRET1 = 'AKIDROTATEONE0000001', 'Rot-secret-one-3b8e1f0a'
KEY2, SECRET2 = 'AKIDROTATETWO0000002', 'Rot-secret-two-9c4d2e7b'
SECRET3 = 'Rot-secret-hup-5a7f3c9d'   # written over the secret file, then SIGHUP
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
  log_format auth '$connection $ssl_session_reused "$http_authorization" $request_uri '
                  '$http_x_amz_date $http_x_amz_content_sha256 $http_host';
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

	def signed(self):
		"""[(connection, Authorization, uri, {signed header: value})]"""
		out = []
		for ln in et.read_log(self.log_path):
			m = re.match(r'(\d+) \S+ "([^"]*)" (\S+) (\S+) (\S+) (\S+)', ln)
			if m:
				out.append((int(m.group(1)), m.group(2), m.group(3),
					    {'x-amz-date': m.group(4), 'x-amz-content-sha256': m.group(5),
					     'host': m.group(6)}))
		return out

	def stop(self):
		return et.stop_proc(self.proc)


def _hmac(key, msg):
	return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signed_with(secret, auth, uri, headers):
	"""Does the GET's SigV4 Authorization verify with `secret`? Recomputed
	from the logged request (RFC-free: AWS's SigV4 steps)."""
	m = re.match(r'AWS4-HMAC-SHA256 Credential=[^/]+/(\d{8})/([^/]+)/([^/]+)/aws4_request, '
		     r'SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$', auth)
	if not m or any(h not in headers for h in m.group(4).split(';')):
		return False
	path, _, query = uri.partition('?')
	canonical = '\n'.join(['GET', path, query] +
			      ['%s:%s' % (h, headers[h]) for h in m.group(4).split(';')] +
			      ['', m.group(4), headers['x-amz-content-sha256']])
	scope = '%s/%s/%s/aws4_request' % (m.group(1), m.group(2), m.group(3))
	sts = '\n'.join(['AWS4-HMAC-SHA256', headers['x-amz-date'], scope,
			 hashlib.sha256(canonical.encode()).hexdigest()])
	k = _hmac(('AWS4' + secret).encode(), m.group(1))
	for part in (m.group(2), m.group(3), 'aws4_request'):
		k = _hmac(k, part)
	return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() == m.group(5)


def edge_for(origin, ca, workers=2, **server):
	"""An AdminEdge with one S3 zone (uuid ta.ZUUID) on `origin`, not started."""
	srv = ta.AdminEdge([], workers=workers, **server)
	srv.secret_path = srv.secret_file(SECRET1)
	srv.zones = [et.zone('z', ['*'], [('bucket', origin.url, {
		's3_auth_enabled': 'true', 's3_access_key': KEY1,
		's3_secret_key_file': srv.secret_path, 's3_region': 'us-east-1',
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


def sighup(srv, timeout=10.0):
	"""SIGHUP and wait for its 'reload:' line (either kind)."""
	n0 = sum('reload:' in ln for ln in et.read_log(srv.error_log))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		lines = [ln for ln in et.read_log(srv.error_log) if 'reload:' in ln]
		if len(lines) > n0:
			return lines[-1]
		time.sleep(0.02)
	return None


def write_secret(path, secret):
	with open(path, 'w') as f:
		f.write(secret + '\n')


def sighup_secret_only(ck, srv, origin):
	"""SIGHUP after the secret file alone changed: credentials swapped in
	place, the pool and the snapshot kept (today: a whole new snapshot)."""
	bad = misses(srv, 0, 40)
	ck.check('40 misses before the SIGHUP: 200', not bad, bad)
	n0 = len(origin.signed())
	ck.check('...each signed with the first secret',
		 all(signed_with(SECRET1, a, u, h) for _, a, u, h in origin.signed()), n0)
	c0 = srv.counters()
	swaps0 = metric(srv, 'snapshot_swaps_total')
	cswaps0 = metric(srv, 'credential_swaps_total') or 0
	conns_before = {ln[0] for ln in origin.signed()}
	write_secret(srv.secret_path, SECRET3)
	line = sighup(srv)
	print('reload: %s' % line, flush=True)
	ck.check('SIGHUP logged as credentials swapped in place (%s)' % line,
		 line is not None and 'credentials of 1 origin(s) swapped in place' in line)
	bad = misses(srv, 40, 40)
	ck.check('40 misses after the SIGHUP: 200', not bad, bad)
	c1 = srv.counters()
	after = origin.signed()[n0:]
	d = {k: c1.get(k, 0) - c0.get(k, 0)
	     for k in ('origin_connects', 'origin_reuses', 'origin_tls_full_handshakes')}
	print('after the SIGHUP: %s, connections %s' % (d, sorted({a[0] for a in after})),
	      flush=True)
	ck.check('origin_connects did not move across the SIGHUP (%d)' % d['origin_connects'],
		 d['origin_connects'] == 0)
	ck.check('no full TLS handshake with the origin after it (%d)' %
		 d['origin_tls_full_handshakes'], d['origin_tls_full_handshakes'] == 0)
	wrong = [u for _, a, u, h in after if not signed_with(SECRET3, a, u, h)]
	ck.check('every origin request after it verifies with the new secret (%d requests, '
		 '%d do not)' % (len(after), len(wrong)), len(after) >= 40 and not wrong, wrong[:3])
	ck.check('...on connections that served requests before it',
		 {a[0] for a in after} <= conns_before)
	time.sleep(0.3)              # a snapshot, had one been published, is counted by now
	ck.check('no snapshot published: snapshot_swaps_total %s -> %s, runtime_snapshots_live '
		 '%s' % (swaps0, metric(srv, 'snapshot_swaps_total'),
			 metric(srv, 'runtime_snapshots_live')),
		 metric(srv, 'snapshot_swaps_total') == swaps0 and
		 metric(srv, 'runtime_snapshots_live') == 1)
	ck.check('credential_swaps_total + 1 (%s -> %s)' %
		 (cswaps0, metric(srv, 'credential_swaps_total')),
		 metric(srv, 'credential_swaps_total') == cswaps0 + 1)


def sighup_with_timeout(ck, srv, origin):
	"""A SIGHUP that changes the secret back and a timeout too: a snapshot."""
	swaps0 = metric(srv, 'snapshot_swaps_total')
	write_secret(srv.secret_path, SECRET1)
	srv.server['idle_timeout_ms'] = 55000
	srv.main = srv.write_config()
	line = sighup(srv)
	print('reload: %s' % line, flush=True)
	ck.check('SIGHUP with a timeout changed: a snapshot built (%s)' % line,
		 line is not None and 'in place' not in line and re.search(r'snapshot \d+$', line))
	deadline = time.monotonic() + 5
	while metric(srv, 'snapshot_swaps_total') != swaps0 + 1 and time.monotonic() < deadline:
		time.sleep(0.05)
	ck.check('snapshot_swaps_total + 1 (%s -> %s)' % (swaps0, metric(srv, 'snapshot_swaps_total')),
		 metric(srv, 'snapshot_swaps_total') == swaps0 + 1)
	n0 = len(origin.signed())
	bad = misses(srv, 0, 10)
	after = origin.signed()[n0:]
	ck.check('10 misses after it: 200, each verifying with the secret now in the file',
		 not bad and len(after) >= 10 and
		 all(signed_with(SECRET1, a, u, h) for _, a, u, h in after), (bad, len(after)))


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
	leaked = [s for s in (SECRET1, SECRET2, SECRET3) if any(s.encode() in t for t in texts)]
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
		ck.run('SIGHUP, the secret file alone changed', sighup_secret_only, ck, srv, origin)
		ck.run('SIGHUP with a timeout changed too', sighup_with_timeout, ck, srv, origin)
		ck.run('rotation keeps the pool', rotation_keeps_pool, ck, srv, origin)
		ck.run('back and forth', back_and_forth, ck, srv, origin)
		ck.run('no secret', no_secret, ck, srv)
		ck.stop_and_finish(srv)
	finally:
		origin.stop()


if __name__ == '__main__':
	main()
