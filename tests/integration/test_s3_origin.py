#!/usr/bin/python3
"""Private S3 origins through the serving path, against a real signature-
checking S3 server (Swift + s3api, tests/lib/swift.py): correct credentials
→ 200 byte-exact (GET, HEAD, Range); 200 random hard keys requested with
varied percent-encodings; the seed's path-mapping options A and B; wrong
secret → 403 SignatureDoesNotMatch passed through; wrong region → 400
AuthorizationHeaderMalformed; missing bucket → 404 NoSuchBucket; POST →
405 with Allow; S3 over HTTPS (a TLS front with a test CA; a wrong CA is
refused); errors counted by S3 Code and logged in the guide's words; a
host clock 30 min off heals after one RequestTimeTooSkewed (the offset is
learned from the origin's Date, the measured skew logged); a SIGHUP with a changed secret is used by
the next miss
(and back); the secret never appears in a response or a log."""
import os
import random
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402

PORT_BASE = 21100
ACCESS, SECRET = 'edge:s3reader', 'Sekr3t-s3origin-5d1e'
ACCESS2, SECRET2 = 'edge:s3reader2', 'Sekr3t-s3origin-7a2b'     # the rotated pair
WRONG = 'Wr0ng-secret-a7b3c9'
BUCKET = 'my-media'
KEYS = 200
HARD = ' +%~=()!@$&,;:\'*[]{}^`|"<>#?'


def random_key(rng):
	parts = []
	for _ in range(rng.randint(1, 4)):
		seg = ''.join(rng.choice('abcXYZ019-_.' + HARD + 'äé€中🙂')
			      for _ in range(rng.randint(1, 12)))
		if seg in ('.', '..'):
			seg += 'x'           # dot segments never reach a bucket (test_request_hygiene)
		parts.append(rng.choice([seg, seg, seg, '', '.x', '..x']))
	key = '/'.join(parts)
	if rng.random() < 0.1:
		key = '/' + key                  # a leading slash: "//" in the URL
	return key.strip() or 'k'


def visitor_quote(key, rng):
	"""The key as a visitor might send it: reserved ASCII always escaped,
	unreserved sometimes, hex in either case, '+' raw or %2B, non-ASCII
	characters raw (UTF-8 on the wire) or escaped byte by byte."""
	def esc(b):
		h = '%02X' % b
		return '%' + (h.lower() if rng.random() < 0.3 else h)
	out = []
	for c in key:
		if not c.isascii():
			out.append(c if rng.random() < 0.5 else ''.join(map(esc, c.encode('utf-8'))))
		elif c.isalnum() or c in '-._~/':
			out.append(esc(ord(c)) if rng.random() < 0.1 and c != '/' else c)
		elif c == '+' and rng.random() < 0.5:
			out.append('+')
		else:
			out.append(esc(ord(c)))
	return ''.join(out)


def zone_file(srv, name, secret=SECRET, region='us-east-1', base_path='/' + BUCKET,
	      hosts=('*',), access=ACCESS):
	return et.zone(name, list(hosts), [('bucket', srv.s3.endpoint, {
		's3_auth_enabled': 'true', 's3_access_key': access,
		's3_secret_key_file': srv.secret_file(secret), 's3_region': region,
		'base_path': base_path})])


def basics(ck, srv, s3, data):
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test')
	ck.check('Option B (base_path = /bucket): GET 200 byte-exact',
		 r.status == 200 and r.body == data['path/to/file.mp4'], repr(r))
	r = et.request(srv.port, 'GET', '/%s/path/to/file.mp4' % BUCKET, host='a.test')
	ck.check('Option A (bucket in the URL): GET 200 byte-exact',
		 r.status == 200 and r.body == data['path/to/file.mp4'], repr(r))
	r = et.request(srv.port, 'HEAD', '/path/to/file.mp4', host='b.test')
	ck.check('HEAD 200 with the length', r.status == 200 and
		 r.header('content-length') == str(len(data['path/to/file.mp4'])), repr(r))
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test',
		       headers=[('Range', 'bytes=10-19')])
	ck.check('Range → 206 with the right bytes', r.status == 206 and
		 r.body == data['path/to/file.mp4'][10:20], repr(r))
	r = et.request(srv.port, 'POST', '/path/to/file.mp4', host='b.test', body=b'x')
	ck.check('POST to an S3 origin → 405 with Allow: GET, HEAD',
		 r.status == 405 and r.header('allow') == 'GET, HEAD', repr(r))
	r = et.request(srv.port, 'GET', '/bad%zzpath', host='b.test')
	ck.check('a path that does not decode → 400', r.status == 400, repr(r))


def errors(ck, srv):
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='wrong-secret.test')
	ck.check('wrong secret → 403 SignatureDoesNotMatch (XML passed through)',
		 r.status == 403 and b'<Code>SignatureDoesNotMatch</Code>' in r.body, repr(r))
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='wrong-region.test')
	ck.check('wrong region → 400 AuthorizationHeaderMalformed',
		 r.status == 400 and b'AuthorizationHeaderMalformed' in r.body, repr(r))
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='no-bucket.test')
	ck.check('missing bucket → 404 NoSuchBucket',
		 r.status == 404 and b'NoSuchBucket' in r.body, repr(r))
	r = et.request(srv.port, 'GET', '/no/such/key', host='b.test')
	ck.check('missing key → 404 NoSuchKey', r.status == 404 and b'NoSuchKey' in r.body,
		 repr(r))


def hard_keys(ck, srv, s3, rng):
	keys = {}
	while len(keys) < KEYS:
		k = random_key(rng)
		keys[k] = rng.randbytes(rng.randint(0, 3000))
	for k, v in keys.items():
		s3.put(BUCKET, k, v, access_key=ACCESS, secret_key=SECRET)
	bad = []
	for k, v in keys.items():
		path = '/' + visitor_quote(k, rng)
		r = et.request(srv.port, 'GET', path, host='b.test')
		h = et.request(srv.port, 'HEAD', path, host='b.test')
		ok = r.status == 200 and r.body == v and h.status == 200 and \
			h.header('content-length') == str(len(v))
		if ok and len(v) > 2:
			g = et.request(srv.port, 'GET', path, host='b.test', headers=[('Range', 'bytes=1-1')])
			ok = g.status == 206 and g.body == v[1:2]
		if not ok:
			bad.append((k, path, r.status, h.status))
	print('random keys: %d/%d byte-exact by GET, HEAD and Range' % (KEYS - len(bad), KEYS))
	ck.check('%d random hard keys byte-exact (GET, HEAD, Range)' % KEYS, not bad,
		 repr(bad[:5]))


def rotation(ck, srv):
	srv.rewrite_zone(zone_file(srv, 'b', secret=WRONG, hosts=('b.test',)))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 5
	status = 200
	while time.monotonic() < deadline and status == 200:
		status = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test').status
		time.sleep(0.05)
	ck.check('SIGHUP with a wrong secret: the next miss is 403', status == 403, str(status))
	srv.rewrite_zone(zone_file(srv, 'b', hosts=('b.test',)))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 5
	while time.monotonic() < deadline and status != 200:
		status = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test').status
		time.sleep(0.05)
	ck.check('SIGHUP with the right secret again: 200', status == 200, str(status))
	# Only the secret changed: each reload swapped credentials in place
	# (control/server.c reload_creds), no snapshot built.
	log = open(srv.error_log).read()
	lines = [ln for ln in log.splitlines() if 'swapped in place' in ln]
	print('\n'.join(lines))
	ck.check('both reloads swapped credentials in place, no snapshot built',
		 len(lines) >= 2 and 'live on all' not in log, log[-500:])


def error_counters(ck, srv):
	c = srv.counters()
	for code in ('SignatureDoesNotMatch', 'AuthorizationHeaderMalformed', 'NoSuchBucket',
		     'NoSuchKey'):
		ck.check('counted by S3 Code: s3_error_%s = %d' % (code, c.get('s3_error_' + code, 0)),
			 c.get('s3_error_' + code, 0) >= 1)
	log = ''
	deadline = time.monotonic() + 3
	while time.monotonic() < deadline and 'SignatureDoesNotMatch' not in log:
		time.sleep(0.05)
		log = open(srv.error_log).read()
	ck.check('logged in the words of the guide ("The signature math itself is wrong")',
		 'SignatureDoesNotMatch' in log and 'signature math' in log, log[-800:])


def clock_skew(ck, s3):
	"""A host clock 30 minutes behind: the first miss is refused with
	RequestTimeTooSkewed (passed through), the edge learns the offset from
	the origin's Date, and the next miss is signed right."""
	os.environ['EDGECACHE_TEST_CLOCK_SKEW_S'] = '-1800'
	try:
		srv = et.Edgecache([])
		srv.s3 = s3
		srv.zones = [zone_file(srv, 'b', hosts=('b.test',))]
		srv.main = srv.write_config()
		srv.start()
	finally:
		del os.environ['EDGECACHE_TEST_CLOCK_SKEW_S']
	r1 = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test')
	ck.check('clock 30 min behind: 403 RequestTimeTooSkewed passed through',
		 r1.status == 403 and b'RequestTimeTooSkewed' in r1.body, repr(r1))
	r2 = et.request(srv.port, 'GET', '/path/to/file.mp4', host='b.test')
	ck.check('the next miss is signed with the learned offset: 200', r2.status == 200, repr(r2))
	c = srv.counters()
	off = [v for k, v in c.items() if k.startswith('s3_clock_offset_s')]
	ck.check('the offset is exported (%s)' % off, off and 1700 <= max(off) <= 1900)
	ck.check('s3_error_RequestTimeTooSkewed = 1',
		 c.get('s3_error_RequestTimeTooSkewed', 0) == 1, str(c.get('s3_error_RequestTimeTooSkewed')))
	skew = []
	deadline = time.monotonic() + 3
	while not skew and time.monotonic() < deadline:
		time.sleep(0.05)
		skew = [int(m.group(1)) for m in map(
			re.compile(r'RequestTimeTooSkewed: our clock is (-?\d+) s off').search,
			open(srv.error_log).read().splitlines()) if m]
	ck.check('the measured skew is logged (%s s)' % skew,
		 len(skew) == 1 and 1700 <= abs(skew[0]) <= 1900, repr(skew))
	ck.check('skew: exit 0', srv.stop() == 0)


def https(ck, srv, data):
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='tls.test')
	ck.check('S3 over HTTPS (test CA, signed Host through a TLS front): 200 byte-exact',
		 r.status == 200 and r.body == data['path/to/file.mp4'], repr(r))
	r = et.request(srv.port, 'GET', '/path/to/file.mp4', host='tls-wrongca.test')
	ck.check('S3 over HTTPS with the wrong CA: 503, never an unverified fetch',
		 r.status == 503, repr(r))


def rotation_under_load(ck, srv):
	"""wrk runs misses (every request signed) while SIGHUP switches between
	two valid key pairs every half second: not one non-2xx."""
	import shutil
	import subprocess
	if not shutil.which('wrk'):
		ck.skip('rotation under load', 'wrk missing: run scripts/setup')
		return
	pairs = [(ACCESS2, SECRET2), (ACCESS, SECRET)] * 3
	p = subprocess.Popen(['wrk', '-t1', '-c4', '-d4s', '-H', 'Host: b.test',
			      'http://127.0.0.1:%d/path/to/file.mp4' % srv.port],
			     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
	for access, secret in pairs:
		time.sleep(0.5)
		srv.rewrite_zone(zone_file(srv, 'b', secret=secret, access=access, hosts=('b.test',)))
		srv.proc.send_signal(signal.SIGHUP)
	out = p.communicate(timeout=30)[0]
	reqs = [ln for ln in out.splitlines() if 'requests in' in ln]
	print('wrk: ' + ' | '.join(reqs), flush=True)
	ck.check('%d SIGHUPs between two key pairs under wrk load: no non-2xx, no errors (%s)' %
		 (len(pairs), reqs[0].strip() if reqs else '?'),
		 'Non-2xx' not in out and 'Socket errors' not in out and reqs, out[-600:])


def no_secret(ck, srv):
	texts = []
	for p in (srv.error_log, srv.access_log, os.path.join(srv.dir, 'stdout.log')):
		if os.path.exists(p):
			texts.append(open(p, 'rb').read())
	leaked = [s for s in (SECRET, SECRET2, WRONG) if any(s.encode() in t for t in texts)]
	ck.check('no secret in any log', not leaked, repr(leaked))


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	rng = random.Random(20261128)
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET), (ACCESS2, SECRET2)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		data = {'path/to/file.mp4': rng.randbytes(100000)}
		for k, v in data.items():
			s3.put(BUCKET, k, v, access_key=ACCESS, secret_key=SECRET)
		srv = et.Edgecache([])
		srv.s3 = s3
		srv.zones = [zone_file(srv, 'b', hosts=('b.test',)),
			     zone_file(srv, 'a', base_path='', hosts=('a.test',)),
			     zone_file(srv, 'ws', secret=WRONG, hosts=('wrong-secret.test',)),
			     zone_file(srv, 'wr', region='eu-central-1', hosts=('wrong-region.test',)),
			     zone_file(srv, 'nb', base_path='/no-such-bucket', hosts=('no-bucket.test',))]
		# HTTPS: nginx terminates TLS (a test CA) in front of the same Swift.
		ca, cert, key = et.make_test_ca(et.tmpdir('s3ca'))
		other_ca, _, _ = et.make_test_ca(et.tmpdir('s3otherca'))
		front = et.TlsFront(cert, key, upstream=s3.endpoint)
		for name, host, ca_file in (('tls', 'tls.test', ca), ('tlsw', 'tls-wrongca.test', other_ca)):
			z = zone_file(srv, name, hosts=(host,))
			z['origins'][0] = ('bucket', 'https://localhost:%d' % front.port,
					   dict(z['origins'][0][2], ca_file=ca_file))
			srv.zones.append(z)
		srv.main = srv.write_config()
		srv.start()
		ck = et.Checks()
		ck.run('basics', basics, ck, srv, s3, data)
		ck.run('errors', errors, ck, srv)
		ck.run('hard_keys', hard_keys, ck, srv, s3, rng)
		ck.run('error_counters', error_counters, ck, srv)
		ck.run('https', https, ck, srv, data)
		ck.run('rotation', rotation, ck, srv)
		ck.run('rotation_under_load', rotation_under_load, ck, srv)
		ck.run('no_secret', no_secret, ck, srv)
		ck.run('clock_skew', clock_skew, ck, s3)
		ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
