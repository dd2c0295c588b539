#!/usr/bin/python3
"""tests/integration/test_admin_https.py — the admin API against an https
S3 origin, and the credential generation of every origin request.

Swift + s3api (tests/lib/swift.py, 127.0.0.1:21260..21264) holds two valid
key pairs; nginx (tests/lib/edgetest.py TlsFront, 127.0.0.1:21270)
terminates TLS with a test CA's certificate for localhost in front of it;
the zone's origin is https://localhost:21270 with that CA as ca_file.

- POST .../test over TLS: OK, and the report shows the verified session.
- PATCH to the other valid pair: the probe HEAD goes over TLS, succeeds,
  the change applies without "force". PATCH to a wrong secret: 422 with
  the S3 Code. PATCH to a ca_file of another CA: 422 naming ca_file and
  "certificate verify failed"; a refused PATCH changes nothing.
- The access log: a miss after the rotation carries the new credential
  generation (= edgecache_s3_credential_generation), a hit carries "-";
  after a forced wrong secret, the overlap retry's line carries the
  previous generation; edgecache_s3_signatures_total{generation} counts
  both. No secret in any response or log.
Exits 77 when Swift's packages are missing.
"""
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
import swift  # noqa: E402
import test_admin as ta  # noqa: E402  (AdminEdge, api, state, fp)
import test_admin_s3 as tas  # noqa: E402  (no_secret)

PORT_BASE = 21260
TLS_PORT = 21270
ACCESS, SECRET = 'edge:tls1', 'Tls-secret-one-6a2f0c'
ACCESS2, SECRET2 = 'edge:tls2', 'Tls-secret-two-d19b47'
WRONG = 'Tls-wrong-secret-40e8'
BUCKET = 'media'
ZUUID = ta.ZUUID
OVERLAP_MS = 3000


def opath(srv):
	o = ta.first_origin(srv)
	return '/cdn/zones/%s/origins/%s' % (ZUUID, o['uuid'])


def metrics(srv):
	return ta.api(srv, 'GET', '/metrics')[1]


def cred_gen(srv):
	m = re.search(r'^edgecache_s3_credential_generation\{zone="z",origin="bucket"\} (\d+)$',
		      metrics(srv), re.M)
	return int(m.group(1)) if m else None


def signatures(srv, gen):
	m = re.search(r'^edgecache_s3_signatures_total\{zone="z",origin="bucket",'
		      r'generation="%d"\} (\d+)$' % gen, metrics(srv), re.M)
	return int(m.group(1)) if m else None


def get_logged(srv, path):
	"""GET path; (response, the credential-generation field of its
	access-log line: the one before the request id). Shards hand lines to
	the control thread: wait for it, bounded."""
	want = ' GET %s ' % path
	n0 = sum(1 for ln in srv.access() if want in ln)
	r = et.request(srv.port, 'GET', path)
	deadline = time.monotonic() + 3
	while time.monotonic() < deadline:
		lines = [ln for ln in srv.access() if want in ln]
		if len(lines) > n0:
			return r, lines[-1].split(' ')[-2]
		time.sleep(0.05)
	return r, None


def diagnosis(ck, srv):
	st, j = ta.api(srv, 'POST', opath(srv) + '/test')
	ck.check('POST .../test over https: OK, the TLS session shown in the report',
		 st == 200 and j['result'] == 'OK' and j['status'] == 200 and
		 '* TLS: TLSv1.' in j['report'] and 'certificate verified for localhost' in j['report'],
		 j)


def first_generation(ck, srv):
	g = cred_gen(srv)
	ck.check('the credential generation is exported (%s)' % g, g is not None and g >= 1)
	r, f = get_logged(srv, '/miss.bin')
	ck.check('a miss signed with generation %s: its access-log line says so (%s)' % (g, f),
		 r.status == 200 and f == str(g), repr(r))
	srv.gen0 = g


def probe_ok(ck, srv):
	st, j = ta.api(srv, 'PATCH', opath(srv), {'s3_access_key': ACCESS2, 's3_secret_key': SECRET2})
	log = open(srv.error_log).read()
	ck.check('PATCH to the other valid pair: the probe over TLS passes, applied without force',
		 st == 200 and j['s3_secret_key_sha256_8'] == ta.fp(SECRET2) and
		 re.search(r'admin: probe of zone z origin bucket /miss.bin .*: 200 -', log), (st, j))
	g = cred_gen(srv)
	ck.check('the credential generation moved (%s -> %s)' % (srv.gen0, g),
		 g is not None and g > srv.gen0)
	r, f = get_logged(srv, '/miss.bin')
	ck.check('a miss after the rotation: the access log shows the new generation (%s)' % f,
		 r.status == 200 and f == str(g), repr(r))
	n = signatures(srv, g)
	ck.check('edgecache_s3_signatures_total counts the new generation (%s)' % n,
		 n is not None and n >= 1)
	srv.gen1 = g


def probe_refuses(ck, srv):
	s0 = ta.state(srv)
	st, j = ta.api(srv, 'PATCH', opath(srv), {'s3_secret_key': WRONG})
	ck.check('PATCH to a wrong secret over https: 422 with the S3 Code', st == 422 and
		 j.get('s3_code') == 'SignatureDoesNotMatch' and j['field'] == 's3_secret_key', j)
	st, j = ta.api(srv, 'PATCH', opath(srv), {'ca_file': srv.other_ca})
	ck.check('PATCH to a ca_file of another CA: 422, ca_file, certificate verify failed',
		 st == 422 and j['field'] == 'ca_file' and
		 'certificate verify failed' in j['error'], j)
	ck.check('refused PATCHes change nothing', ta.state(srv) == s0)
	st, j = ta.api(srv, 'POST', opath(srv) + '/test')
	ck.check('and the origin still tests OK', st == 200 and j['result'] == 'OK', j)


def hit_dash(ck, srv):
	get_logged(srv, '/hit.bin')          # the fill; its line is written first
	r, f = get_logged(srv, '/hit.bin')
	ck.check('a hit (no origin request): the generation field is "-" (%s)' % f,
		 r.status == 200 and r.header('x-cache') == 'HIT' and f == '-', repr(r))


def overlap_retry(ck, srv):
	retries0 = srv.counters().get('s3_overlap_retries', 0)
	prev0 = signatures(srv, srv.gen1)
	st, j = ta.api(srv, 'PATCH', opath(srv), {'s3_secret_key': WRONG, 'force': True})
	t0 = time.monotonic()
	r, f = get_logged(srv, '/miss.bin')
	quick = time.monotonic() - t0 < OVERLAP_MS / 1000 - 0.5
	g = cred_gen(srv)
	ck.check('forced wrong secret: generation %s is current' % g,
		 st == 200 and g is not None and g > srv.gen1, j)
	ck.check('within the overlap the miss is retried with the previous credentials: 200, '
		 'its access-log line shows generation %s (%s)' % (srv.gen1, f),
		 r.status == 200 and quick and f == str(srv.gen1), repr(r))
	ck.check('...counted as an overlap retry',
		 srv.counters().get('s3_overlap_retries', 0) > retries0)
	prev1, cur = signatures(srv, srv.gen1), signatures(srv, g)
	ck.check('signatures_total: the previous generation %d went %s -> %s, the new %d has %s' %
		 (srv.gen1, prev0, prev1, g, cur),
		 prev0 is not None and prev1 is not None and prev1 > prev0 and cur and cur >= 1)
	st, j = ta.api(srv, 'PATCH', opath(srv), {'s3_access_key': ACCESS, 's3_secret_key': SECRET})
	ck.check('back to a good pair (probed over TLS): 200', st == 200, j)


def no_secret(ck, srv):
	tas.no_secret(ck, srv, (SECRET, SECRET2, WRONG))


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET), (ACCESS2, SECRET2)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'miss.bin', os.urandom(2000), access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'hit.bin', os.urandom(2000), access_key=ACCESS, secret_key=SECRET,
		       headers={'Cache-Control': 'max-age=3600'})
		ca, cert, key = et.make_test_ca(et.tmpdir('adm-ca'))
		other_ca, _, _ = et.make_test_ca(et.tmpdir('adm-otherca'))
		front = et.TlsFront(cert, key, upstream=s3.endpoint, port=TLS_PORT)
		try:
			cache_dir = et.tmpdir('admin-https-cache')
			srv = ta.AdminEdge([], workers=2,
					   cache={'path': os.path.join(cache_dir, 'c.dat'), 'size': '64m'},
					   credential_overlap_ms=OVERLAP_MS)
			srv.other_ca = other_ca
			srv.zones = [et.zone('z', ['*'], [('bucket', 'https://localhost:%d' % TLS_PORT, {
				's3_auth_enabled': 'true', 's3_access_key': ACCESS,
				's3_secret_key_file': srv.secret_file(SECRET), 's3_region': 'us-east-1',
				'base_path': '/' + BUCKET, 'probe_path': '/miss.bin',
				'ca_file': ca})], uuid=ZUUID)]
			srv.main = srv.write_config()
			srv.start()
			ck = et.Checks()
			ck.run('diagnosis', diagnosis, ck, srv)
			ck.run('first generation', first_generation, ck, srv)
			ck.run('probe ok', probe_ok, ck, srv)
			ck.run('probe refuses', probe_refuses, ck, srv)
			ck.run('hit', hit_dash, ck, srv)
			ck.run('overlap retry', overlap_retry, ck, srv)
			ck.run('no secret', no_secret, ck, srv)
			ck.stop_and_finish(srv)
		finally:
			et.stop_proc(front.proc)


if __name__ == '__main__':
	main()
