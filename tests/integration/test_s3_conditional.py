#!/usr/bin/python3
"""Counters that do not mislead (issue 17, defect 5), through the real binary
against a real S3 server (Swift + s3api, tests/lib/swift.py) with a disk
cache: a conditional request's answer is no S3 error.

- A stale S3 object (default_ttl = 1s) revalidated: the origin answers 304,
  the visitor gets REVALIDATED with the stored bytes; `origin_not_modified`
  rises, no `s3_error_*` counter does, and no warning reaches the error log
  (before: `s3_error_` with an empty code +1 and "origin refused the
  request" logged).
- A miss with `If-Match` that does not match: S3's 412 PreconditionFailed
  passed through, counted `origin_precondition_failed`, not
  `s3_error_PreconditionFailed`, no warning.
- An S3 origin's error without a readable <Code> (a plain-text 503 from a
  layer in front: pyorigin as an S3 origin): counted `s3_error_unparsed`,
  never under the bare prefix `s3_error_`.

Swift on FIXED ports 21340-21344 (test_s3_origin 21100, check_origin
21000, admin_s3 21200, s3_secrets 21240, admin_https 21260, request_hygiene
21400)."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402

PORT_BASE = 21340
ACCESS, SECRET = 'edge:s3cond', 'Sekr3t-s3cond-41c9'
BUCKET = 'cond-media'


def s3_zone(srv, name, host, url, base_path, **keys):
	return et.zone(name, [host], [('bucket', url, {
		's3_auth_enabled': 'true', 's3_access_key': ACCESS,
		's3_secret_key_file': srv.secret_file(SECRET), 's3_region': 'us-east-1',
		'base_path': base_path})], **keys)


def s3_errors(c):
	return {k: v for k, v in c.items() if k.startswith('s3_error_') and v}


def warnings(srv):
	try:
		return [ln for ln in open(srv.error_log).read().splitlines() if '[warn]' in ln]
	except FileNotFoundError:
		return []


def wait_fill(srv, n0, timeout=5.0):
	deadline = time.monotonic() + timeout
	while srv.counters().get('cache_fills', 0) <= n0 and time.monotonic() < deadline:
		time.sleep(0.05)


def not_modified(ck, srv, data):
	c0 = srv.counters()
	w0 = len(warnings(srv))
	r = et.request(srv.port, 'GET', '/obj.bin', host='s3.test')
	ck.check('first GET: MISS, 200 byte-exact', r.status == 200 and
		 r.header('x-cache') == 'MISS' and r.body == data, repr(r))
	wait_fill(srv, c0.get('cache_fills', 0))
	time.sleep(2.2)                     # default_ttl = 1s: stale
	r = et.request(srv.port, 'GET', '/obj.bin', host='s3.test')
	ck.check('stale: revalidated by S3\'s 304, REVALIDATED, bytes exact',
		 r.status == 200 and r.header('x-cache') == 'REVALIDATED' and r.body == data,
		 repr(r) + ' ' + str(r.headers))
	time.sleep(0.2)
	c1 = srv.counters()
	d = {k: c1.get(k, 0) - c0.get(k, 0) for k in ('origin_not_modified', 'cache_revalidated')}
	ck.check('counted as a 304 (%s)' % d, d['origin_not_modified'] == 1 and
		 d['cache_revalidated'] == 1)
	ck.check('no s3_error_* counter (%s)' % s3_errors(c1), not s3_errors(c1))
	new = warnings(srv)[w0:]
	ck.check('no warning in the error log', not new, repr(new[:3]))


def precondition_failed(ck, srv):
	c0 = srv.counters()
	w0 = len(warnings(srv))
	r = et.request(srv.port, 'GET', '/other.bin', host='s3.test',
		       headers=[('If-Match', '"no-such-etag"')])
	ck.check('If-Match that does not match: S3\'s 412 passed through',
		 r.status == 412 and b'PreconditionFailed' in r.body, repr(r) + repr(r.body[:200]))
	time.sleep(0.2)
	c1 = srv.counters()
	n = c1.get('origin_precondition_failed', 0) - c0.get('origin_precondition_failed', 0)
	ck.check('counted origin_precondition_failed (+%d)' % n, n == 1)
	ck.check('no s3_error_* counter (%s)' % s3_errors(c1), not s3_errors(c1))
	new = warnings(srv)[w0:]
	ck.check('no warning in the error log', not new, repr(new[:3]))


def unparsed(ck, srv):
	c0 = srv.counters()
	r = et.request(srv.port, 'GET', '/status/503', host='plain.test')
	ck.check('an S3 origin\'s plain-text 503 passed through', r.status == 503, repr(r))
	time.sleep(0.2)
	c1 = srv.counters()
	n = c1.get('s3_error_unparsed', 0) - c0.get('s3_error_unparsed', 0)
	ck.check('counted s3_error_unparsed (+%d)' % n, n == 1)
	ck.check('no counter named s3_error_ alone', 's3_error_' not in c1,
		 's3_error_ = %s' % c1.get('s3_error_'))
	log = '\n'.join(warnings(srv))
	ck.check('logged with its bucket\'s name ("503 unparsed")', '503 unparsed' in log, log[-400:])


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	py = et.PyOrigin()
	data = os.urandom(3000)
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		for key in ('obj.bin', 'other.bin'):
			s3.put(BUCKET, key, data, access_key=ACCESS, secret_key=SECRET)
		d = et.tmpdir('s3cond')
		srv = et.Edgecache([], workers=1, cache={'path': os.path.join(d, 'c.dat'),
							 'size': '64m'})
		srv.zones = [s3_zone(srv, 's3', 's3.test', s3.endpoint, '/' + BUCKET,
				     default_ttl='1s'),
			     s3_zone(srv, 'plain', 'plain.test', py.url, '')]
		srv.main = srv.write_config()
		srv.start()
		ck = et.Checks()
		ck.run('not_modified', not_modified, ck, srv, data)
		ck.run('precondition_failed', precondition_failed, ck, srv)
		ck.run('unparsed', unparsed, ck, srv)
		ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
