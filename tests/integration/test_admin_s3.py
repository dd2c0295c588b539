#!/usr/bin/python3
"""tests/integration/test_admin_s3.py — credential rotation through the
admin API against a real, signature-checking S3 server (Swift + s3api,
tests/lib/swift.py on 127.0.0.1:21200..21204) holding two valid key pairs.

POST .../test gives check-origin's diagnosis as JSON (OK; NoSuchKey for a
missing path); a PATCH to a wrong secret is refused by the probe_path HEAD
with 422 and the S3 Code, and changes nothing; rotation under load: wrk
runs misses (50 objects without freshness, round-robin: every request
signed, concurrent ones different keys) and hits
(an object with Cache-Control) for ADMIN_ROTATION_SECONDS (default 30)
while the access key and secret are PATCHed between the two pairs every
second → zero non-2xx, zero socket errors, no snapshot published (each
PATCH swaps the credentials objects in place) and every replaced object
freed afterwards; then a wrong secret with "force": true → within
credential_overlap_ms (3 s here) a miss is retried with the previous
pair and served (counted), after it the next miss is 403 while the hit
keeps serving. No secret in any response or log.
Exits 77 when Swift's packages or wrk are missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import edgetest as et  # noqa: E402
import swift  # noqa: E402
import test_admin as ta  # noqa: E402  (AdminEdge, api, fp)

PORT_BASE = 21200
ACCESS, SECRET = 'edge:rot1', 'Rot-secret-one-4c1a9e'
ACCESS2, SECRET2 = 'edge:rot2', 'Rot-secret-two-b7e20d'
WRONG = 'Rot-wrong-secret-93f1'
BUCKET = 'media'
ZUUID = ta.ZUUID
SECONDS = int(os.environ.get('ADMIN_ROTATION_SECONDS', '30'))
OVERLAP_MS = 3000   # [server] credential_overlap_ms
MISSES = 50          # objects without freshness: /miss-0.bin .. /miss-49.bin


def opath(srv):
	o = ta.first_origin(srv)
	return '/cdn/zones/%s/origins/%s' % (ZUUID, o['uuid']), o


def diagnosis(ck, srv):
	path, o = opath(srv)
	st, j = ta.api(srv, 'POST', path + '/test')
	ck.check('POST .../test: OK for probe_path, with the report', st == 200 and
		 j['result'] == 'OK' and j['status'] == 200 and j['path'] == '/miss.bin' and
		 'HEAD' in j['report'], j)
	st, j = ta.api(srv, 'POST', path + '/test', {'path': '/no/such/key'})
	ck.check('POST .../test for a missing key: FAILED, NoSuchKey in the guide\'s words',
		 st == 200 and j['result'] == 'FAILED' and j['s3_code'] == 'NoSuchKey' and
		 j['verdict'] and j['fix'], j)
	st, j = ta.api(srv, 'POST', path + '/test', {'path': 'relative'})
	ck.check('POST .../test with a bad path: 422', st == 422 and j['field'] == 'path', j)


def probe_refuses(ck, srv):
	path, o = opath(srv)
	s0 = ta.state(srv)
	st, j = ta.api(srv, 'PATCH', path, {'s3_secret_key': WRONG})
	ck.check('PATCH to a wrong secret: 422 with the probe\'s S3 Code', st == 422 and
		 j.get('s3_code') == 'SignatureDoesNotMatch' and j['field'] == 's3_secret_key', j)
	st, j = ta.api(srv, 'PATCH', path, {'s3_access_key': 'edge:nobody'})
	ck.check('PATCH to an unknown access key: 422 with the S3 Code', st == 422 and
		 j.get('s3_code') in ('InvalidAccessKeyId', 'SignatureDoesNotMatch'), j)
	ck.check('a refused probe changes nothing', ta.state(srv) == s0)
	r = et.request(srv.port, 'GET', '/miss.bin')
	ck.check('misses still served with the old credentials', r.status == 200, repr(r))


def wrk(srv, path, seconds, paced=False, spread=False):
	"""wrk on one path. paced: each connection waits 1 ms between requests,
	so hits (answered in microseconds) do not take the CPU the misses'
	S3 server needs on a small machine. spread: round-robin over the MISSES
	objects (path is then a prefix), so concurrent misses are different
	keys: misses of one key would be collapsed, and collapsing is not what
	this test measures."""
	args = ['wrk', '-t1', '-c4', '-d%ds' % seconds, '--timeout', '10s']
	lua = ''
	if paced:
		lua += 'function delay()\n  return 1\nend\n'
	if spread:
		lua += ('n = 0\nrequest = function()\n  n = n + 1\n'
			'  return wrk.format(nil, "%s" .. (n %% %d) .. ".bin")\nend\n' % (path, MISSES))
	if lua:
		script = os.path.join(srv.dir, 'wrk-%d.lua' % len(os.listdir(srv.dir)))
		with open(script, 'w') as f:
			f.write(lua)
		args += ['-s', script]
	return subprocess.Popen(args + ['http://127.0.0.1:%d%s' % (srv.port, path)],
				stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rotation_under_load(ck, srv):
	path, o = opath(srv)
	r = et.request(srv.port, 'GET', '/hit.bin')
	r = et.request(srv.port, 'GET', '/hit.bin')
	ck.check('the hit object is cached', r.header('x-cache') == 'HIT', repr(r))
	log0 = len(open(srv.error_log).read())
	misses = wrk(srv, '/miss-', SECONDS, spread=True)
	hits = wrk(srv, '/hit.bin', SECONDS, paced=True)
	pairs = [(ACCESS2, SECRET2), (ACCESS, SECRET)]
	statuses = []
	t0 = time.monotonic()
	i = 0
	while time.monotonic() - t0 < SECONDS - 1.5:
		time.sleep(1.0)
		access, secret = pairs[i % 2]
		st, j = ta.api(srv, 'PATCH', path, {'s3_access_key': access, 's3_secret_key': secret})
		statuses.append(st)
		i += 1
	out_m = misses.communicate(timeout=SECONDS + 30)[0]
	out_h = hits.communicate(timeout=SECONDS + 30)[0]

	def summary(out):
		m = re.search(r'(\d+) requests in ([\d.]+\w+)', out)
		return (int(m.group(1)) if m else 0), ('Non-2xx' in out or 'Socket errors' in out)
	nm, bad_m = summary(out_m)
	nh, bad_h = summary(out_h)
	log = open(srv.error_log).read()[log0:]
	swaps = [float(x) for x in re.findall(r'live on all \d+ shards ([\d.]+) ms after the swap', log)]
	probes = len(re.findall(r'admin: probe of zone', log))
	print('rotation: %d PATCHes in %d s (%d probed), misses %d requests, hits %d requests, '
	      'non-2xx %s, snapshot swaps %d' %
	      (len(statuses), SECONDS, probes, nm, nh, 'some' if bad_m or bad_h else 0,
	       len(swaps)), flush=True)
	ck.check('every rotation PATCH applied (200)', statuses and all(s == 200 for s in statuses),
		 statuses)
	ck.check('every PATCH was probed first', probes >= len(statuses), probes)
	ck.check('wrk on misses: no non-2xx, no socket errors', nm > 0 and not bad_m, out_m[-600:])
	ck.check('wrk on hits: no non-2xx, no socket errors', nh > 0 and not bad_h, out_h[-600:])
	# A rotation swaps credentials objects only (edge/runtime.h): no new
	# snapshot, and every replaced object is freed once each shard has
	# passed it (epochs: core/snapshot.h).
	m = ta.api(srv, 'GET', '/metrics')[1]

	def gauge(name):
		g = re.search(r'^edgecache_%s ([0-9.]+)$' % name, m, re.M)
		return float(g.group(1)) if g else -1
	ck.check('each rotation swapped credentials in place, no snapshot (%d swaps, %d '
		 'credential swaps, %d PATCHes)' % (len(swaps), gauge('credential_swaps_total'),
						  len(statuses)),
		 not swaps and gauge('credential_swaps_total') >= len(statuses))
	deadline = time.monotonic() + 5
	while gauge('credentials_retired_live') != 0 and time.monotonic() < deadline:
		time.sleep(0.1)
		m = ta.api(srv, 'GET', '/metrics')[1]
	ck.check('every replaced credentials object was freed (%s left)' %
		 gauge('credentials_retired_live'), gauge('credentials_retired_live') == 0)


def forced_wrong(ck, srv):
	path, o = opath(srv)
	retries0 = srv.counters().get('s3_overlap_retries', 0)
	st, j = ta.api(srv, 'PATCH', path, {'s3_secret_key': WRONG, 'force': True})
	t0 = time.monotonic()
	ck.check('a wrong secret with "force": true is applied', st == 200 and
		 j['s3_secret_key_sha256_8'] == ta.fp(WRONG), j)
	r = et.request(srv.port, 'GET', '/miss.bin')
	ok = r.status == 200 and time.monotonic() - t0 < OVERLAP_MS / 1000 - 0.5
	ck.check('within credential_overlap_ms a miss is retried with the previous '
		 'credentials: 200', ok, repr(r))
	ck.check('...and counted', srv.counters().get('s3_overlap_retries', 0) > retries0)
	time.sleep(max(0.0, OVERLAP_MS / 1000 + 0.3 - (time.monotonic() - t0)))
	r = et.request(srv.port, 'GET', '/miss.bin')
	ck.check('after the window the next miss is 403', r.status == 403, repr(r))
	r = et.request(srv.port, 'GET', '/hit.bin')
	ck.check('the hit keeps serving', r.status == 200 and r.header('x-cache') == 'HIT', repr(r))
	st, j = ta.api(srv, 'POST', path + '/test')
	ck.check('.../test names SignatureDoesNotMatch', st == 200 and j['result'] == 'FAILED' and
		 j['s3_code'] == 'SignatureDoesNotMatch', j)
	st, j = ta.api(srv, 'PATCH', path, {'s3_secret_key': SECRET, 's3_access_key': ACCESS})
	ck.check('back to a good pair: 200 and misses served', st == 200 and
		 et.request(srv.port, 'GET', '/miss.bin').status == 200, j)


def no_secret(ck, srv, secrets=(SECRET, SECRET2, WRONG)):
	"""(test_admin_https.py uses it with its own secrets.)"""
	blobs = list(ta.seen_bodies)
	for p in (srv.error_log, srv.access_log, os.path.join(srv.dir, 'stdout.log'),
		  srv.zone_file()):
		if os.path.exists(p):
			blobs.append(open(p, 'rb').read())
	leaked = [s for s in secrets + (ta.TOKEN,) if any(s.encode() in b for b in blobs)]
	ck.check('no secret in any response, log or zone file', not leaked, leaked)


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	if not shutil.which('wrk'):
		et.skip('wrk missing: run scripts/setup')
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET), (ACCESS2, SECRET2)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'miss.bin', os.urandom(2000), access_key=ACCESS, secret_key=SECRET)
		for i in range(MISSES):
			s3.put(BUCKET, 'miss-%d.bin' % i, os.urandom(2000), access_key=ACCESS,
			       secret_key=SECRET)
		s3.put(BUCKET, 'hit.bin', os.urandom(2000), access_key=ACCESS, secret_key=SECRET,
		       headers={'Cache-Control': 'max-age=3600'})
		cache_dir = et.tmpdir('admin-s3-cache')
		srv = ta.AdminEdge([], workers=2, cache={'path': os.path.join(cache_dir, 'c.dat'),
							 'size': '64m'},
				   credential_overlap_ms=OVERLAP_MS)
		srv.zones = [et.zone('z', ['*'], [('bucket', s3.endpoint, {
			's3_auth_enabled': 'true', 's3_access_key': ACCESS,
			's3_secret_key_file': srv.secret_file(SECRET), 's3_region': 'us-east-1',
			'base_path': '/' + BUCKET, 'probe_path': '/miss.bin'})], uuid=ZUUID)]
		srv.main = srv.write_config()
		srv.start()
		ck = et.Checks()
		ck.run('diagnosis', diagnosis, ck, srv)
		ck.run('probe refuses', probe_refuses, ck, srv)
		ck.run('rotation under load', rotation_under_load, ck, srv)
		ck.run('forced wrong secret', forced_wrong, ck, srv)
		ck.run('no secret', no_secret, ck, srv)
		ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
