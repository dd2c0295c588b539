#!/usr/bin/python3
"""What the edge forwards to the origin (issue 16, findings 5 and 7), seen
from an origin that echoes the exact request head it received (pyorigin's
/echohead), for a plain origin (base_path /base), an S3-signed origin in
front of the same tap, and a real S3 server (Swift + s3api, ports
21400-21404):

- paths: /../secret, /%2e%2e/secret, /..%2fsecret and their cousins
  (%2E, %5c, a raw backslash, a dot segment climbing from deeper) are a
  400, counted (path_refused), and never reach the origin; "/x/../y" and
  "/x/%2e/y" are normalised like nginx (the origin gets /base/y, and the
  cache key is /y's: a later GET /y is a HIT); Swift: a key literally
  named "x/../f" cannot be reached — /x/../f is the key "f";
- query_string = sorted keeps the order of one name's values: x=1&x=2 and
  x=2&x=1 are two origin fetches, each a HIT on its own afterwards, while
  y=0&x=1 and x=1&y=0 stay one object;
- request fields: X-Forwarded-Host, X-Original-URL, X-Rewrite-URL,
  X-HTTP-Method-Override, names with "_", Keep-Alive, Proxy-Connection,
  TE, Upgrade, HTTP2-Settings, Trailer and what Connection names are
  absent at the origin (counted by kind); a zone's pass_request_headers
  forwards the ones it lists; Connection: Host, Content-Length neither
  drops Host nor breaks a POST's framing (the next request on the
  connection is answered); Connection naming the S3 signature's fields
  still gets a valid signature (Swift 200);
- HTTP/2 (h2c, curl): the same paths and fields, the same results."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402

PORT_BASE = 21400
ACCESS, SECRET = 'edge:hygiene', 'Sekr3t-hygiene-4c2d'
BUCKET = 'hyg'
CC = 'max-age=600'

ESCAPES = ['/../secret', '/%2e%2e/secret', '/%2E%2E/secret', '/.%2e/secret', '/..%2fsecret',
	   '/..%2Fsecret', '/..%5csecret', '/..\\secret', '/a/../../secret',
	   '/echohead/%s/../../../secret' % CC, '/a/..%2fb', '/a\\..\\b', '/..',
	   '/..?q=1', '/..;/secret', '/a/..;/..;/secret', '/%2e%2e;jsessionid=1/secret',
	   '/.;/..;/secret', '/a/..%00/secret', '/..%00']
DROPPED = [('X-Forwarded-Host', 'evil.example'), ('X-Original-URL', '/admin'),
	   ('X-Rewrite-URL', '/admin'), ('X-HTTP-Method-Override', 'DELETE'),
	   ('X_User', 'admin'), ('Keep-Alive', 'timeout=5'), ('Proxy-Connection', 'keep-alive'),
	   ('TE', 'trailers'), ('Upgrade', 'websocket'), ('HTTP2-Settings', 'AAMAAABkAAQAoAAAAAIAAAAA'),
	   ('Trailer', 'X-T'), ('X-Hop-Secret', 'by-connection'), ('X-Forwarded-Ssl', 'on'),
	   ('Front-End-Https', 'on'), ('X-Url-Scheme', 'https'), ('X-Original-Host', 'evil.example')]


def names(head):
	"""Lower-case field names of an echoed head (bytes)."""
	lines = head.split(b'\r\n--body--')[0].decode('latin-1').split('\r\n')[1:]
	return [ln.split(':', 1)[0].strip().lower() for ln in lines if ':' in ln]


def field(head, name):
	for ln in head.decode('latin-1').split('\r\n')[1:]:
		k, _, v = ln.partition(':')
		if k.strip().lower() == name:
			return v.strip()
	return None


def target(head):
	return head.decode('latin-1').split('\r\n', 1)[0].split(' ')[1]


def h2c(srv, host, path, *opts):
	r = subprocess.run(['curl', '-sS', '-v', '--http2-prior-knowledge', '--path-as-is',
			    '--resolve', '%s:%d:127.0.0.1' % (host, srv.port), *opts,
			    'http://%s:%d%s' % (host, srv.port, path)],
			   capture_output=True, timeout=30)
	err = r.stderr.decode('latin-1')
	status = 0
	for ln in err.splitlines():
		if ln.startswith('< HTTP/2 '):
			status = int(ln.split()[2])
	return status, r.stdout, err


def escapes(ck, srv, py, host, label):
	c0 = srv.counters()
	n0 = len(py.log())
	bad = []
	for p in ESCAPES:
		r = et.request(srv.port, 'GET', p, host=host)
		if r.status != 400:
			bad.append((p, r.status))
	seen = py.log()[n0:]
	ck.check('%s: every escape shape is a 400' % label, not bad, repr(bad))
	ck.check('%s: no escape reached the origin' % label, not seen, repr(seen))
	c1 = srv.counters()
	ck.check('%s: escapes counted (path_refused)' % label,
		 c1.get('path_refused', 0) - c0.get('path_refused', 0) == len(ESCAPES),
		 repr(c1.get('path_refused')))


def dot_segments(ck, srv, py, host, label, base):
	c0 = srv.counters()
	p = '/echohead/%s/%s-x/../%s-y' % (CC, label, label)
	r = et.request(srv.port, 'GET', p, host=host)
	ck.check('%s: /x/../y answered 200 from the origin' % label,
		 r.status == 200 and r.header('x-cache') == 'MISS', repr(r))
	ck.check('%s: the origin got the normalised path under base_path' % label,
		 r.status == 200 and target(r.body) == '%s/echohead/%s/%s-y' % (base, CC, label),
		 repr(r.body[:200]))
	r2 = et.request(srv.port, 'GET', '/echohead/%s/%s-y' % (CC, label), host=host)
	ck.check('%s: /y is then a HIT (one key for /x/../y and /y)' % label,
		 r2.status == 200 and r2.header('x-cache') == 'HIT' and r2.body == r.body, repr(r2))
	r = et.request(srv.port, 'GET', '/echohead/%s/%s-z/%%2e/%%2E%%2e/w' % (CC, label), host=host)
	ck.check('%s: /z/%%2e/%%2E%%2e/w reaches the origin as /w' % label,
		 r.status == 200 and target(r.body) == '%s/echohead/%s/w' % (base, CC), repr(r.body[:200]))
	c1 = srv.counters()
	ck.check('%s: normalised paths counted (paths_normalized +2)' % label,
		 c1.get('paths_normalized', 0) - c0.get('paths_normalized', 0) == 2,
		 repr(c1.get('paths_normalized')))


def sorted_query(ck, srv, py):
	n0 = len(py.log())
	p = '/echohead/%s/q' % CC
	a = et.request(srv.port, 'GET', p + '?x=1&x=2', host='p.test')
	b = et.request(srv.port, 'GET', p + '?x=2&x=1', host='p.test')
	ck.check('sorted: x=1&x=2 and x=2&x=1 are two origin fetches',
		 a.header('x-cache') == 'MISS' and b.header('x-cache') == 'MISS' and
		 len(py.log()) - n0 == 2, repr((a, b, py.log()[n0:])))
	a2 = et.request(srv.port, 'GET', p + '?x=1&x=2', host='p.test')
	b2 = et.request(srv.port, 'GET', p + '?x=2&x=1', host='p.test')
	ck.check('sorted: each is then a HIT with its own body',
		 a2.header('x-cache') == 'HIT' and b2.header('x-cache') == 'HIT' and
		 a2.body == a.body and b2.body == b.body and a.body != b.body and
		 target(b2.body).endswith('?x=2&x=1'), repr((a2, b2)))
	c = et.request(srv.port, 'GET', p + '?y=0&x=1', host='p.test')
	d = et.request(srv.port, 'GET', p + '?x=1&y=0', host='p.test')
	ck.check('sorted: y=0&x=1 and x=1&y=0 are still one object',
		 c.header('x-cache') == 'MISS' and d.header('x-cache') == 'HIT', repr((c, d)))


def dropped(ck, srv, host, label, path):
	c0 = srv.counters()
	hdrs = DROPPED + [('Connection', 'keep-alive, X-Hop-Secret'), ('X-Kept', 'yes'),
			  ('X-Forwarded-For', '192.0.2.1')]
	r = et.request(srv.port, 'GET', path, host=host, headers=hdrs)
	got = names(r.body)
	ck.check('%s: answered 200 with the echoed head' % label, r.status == 200, repr(r))
	for k, _ in DROPPED + [('Connection', '')]:
		ck.check('%s: %s absent at the origin' % (label, k), k.lower() not in got, repr(got))
	ck.check('%s: an ordinary field still forwarded' % label, field(r.body, 'x-kept') == 'yes',
		 repr(r.body[:400]))
	ck.check('%s: X-Forwarded-For kept and extended' % label,
		 field(r.body, 'x-forwarded-for') == '192.0.2.1, 127.0.0.1', repr(r.body[:400]))
	c1 = srv.counters()
	d = {k: c1.get(k, 0) - c0.get(k, 0) for k in
	     ('req_hop_dropped', 'req_underscore_dropped', 'req_unkeyed_dropped')}
	# hop: Keep-Alive, Proxy-Connection, TE, Upgrade, HTTP2-Settings,
	# Trailer, X-Hop-Secret, Connection itself
	ck.check('%s: drops counted by kind' % label,
		 d == {'req_hop_dropped': 8, 'req_underscore_dropped': 1, 'req_unkeyed_dropped': 8},
		 repr(d))


def connection_framing(ck, srv, host, label):
	"""Connection naming Host and Content-Length: the edge's own fields."""
	c = et.RawConn(srv.port)
	try:
		c.send(et.build('POST', '/echohead/no-store/post', host=host, body=b'abc',
				headers=[('Connection', 'Host, Content-Length, Authorization'),
					 ('Authorization', 'Bearer t'), ('Content-Length', '3')]))
		r = c.read_response()
		ck.check('%s: Connection: Host, Content-Length — Host and the length reach the origin'
			 % label, r.status == 200 and (field(r.body, 'host') or '').startswith('127.0.0.1') and
			 field(r.body, 'content-length') == '3' and r.body.endswith(b'--body--\nabc'),
			 repr(r.body[:400]))
		ck.check('%s: ... and the field it names otherwise is dropped (Authorization)' % label,
			 'authorization' not in names(r.body), repr(r.body[:400]))
		c.send(et.build('GET', '/echohead/no-store/after', host=host))
		r2 = c.read_response()
		ck.check('%s: the next request on that connection is answered (framing intact)' % label,
			 r2.status == 200 and target(r2.body).endswith('/after'), repr(r2))
	finally:
		c.close()


def pass_list(ck, py):
	z = et.zone('pp', ['pass.test'], [('o', py.url, {'base_path': '/base'})],
		    pass_request_headers='X-Forwarded-Host, x_pass')
	srv = et.Edgecache([z], cache={'path': os.path.join(et.tmpdir('hyg-pass'), 'c.dat'),
				       'size': '16m'}).start()
	try:
		r = et.request(srv.port, 'GET', '/echohead/no-store/pass', host='pass.test',
			       headers=[('X-Forwarded-Host', 'shop.example'), ('x_pass', '1'),
					('X_Other', '2'), ('X-Original-URL', '/admin')])
		got = names(r.body)
		ck.check('pass_request_headers: the listed fields reach the origin',
			 field(r.body, 'x-forwarded-host') == 'shop.example' and 'x_pass' in got, repr(got))
		ck.check('pass_request_headers: the others are still dropped',
			 'x_other' not in got and 'x-original-url' not in got, repr(got))
		rc = srv.stop()
		ck.check('pass_request_headers server exits 0', rc == 0, 'exit %s' % rc)
	finally:
		if srv.running():
			srv.stop()


def http2(ck, srv, py):
	bad = []
	n0 = len(py.log())
	for p in ESCAPES:
		if '\\' in p:
			continue                # curl turns a backslash into "/"
		status, _, err = h2c(srv, 'p.test', p)
		if status != 400:
			bad.append((p, status))
	ck.check('h2: every escape shape is a 400', not bad, repr(bad))
	ck.check('h2: no escape reached the origin', len(py.log()) == n0, repr(py.log()[n0:]))
	status, body, err = h2c(srv, 'p.test', '/echohead/%s/h2-x/../h2-y' % CC)
	ck.check('h2: /x/../y reaches the origin as /base/.../y',
		 status == 200 and target(body) == '/base/echohead/%s/h2-y' % CC, repr(body[:200]))
	opts = []
	# Connection-specific fields are not sendable over HTTP/2 (RFC 9113 8.2.2).
	sent = [(k, v) for k, v in DROPPED if k.lower() not in
		('keep-alive', 'proxy-connection', 'te', 'upgrade', 'x-hop-secret')]
	for k, v in sent:
		opts += ['-H', '%s: %s' % (k, v)]
	status, body, err = h2c(srv, 'p.test', '/echohead/no-store/h2', *opts, '-H', 'X-Kept: yes')
	got = names(body)
	ck.check('h2: answered 200 with the echoed head', status == 200, err[-300:])
	for k, _ in sent:
		ck.check('h2: %s absent at the origin' % k, k.lower() not in got, repr(got))
	ck.check('h2: an ordinary field still forwarded', field(body, 'x-kept') == 'yes', repr(got))


def s3_tap(ck, srv, py):
	"""An S3-signed origin in front of the echo tap: what is signed is sent."""
	escapes(ck, srv, py, 's3tap.test', 's3 tap')
	r = et.request(srv.port, 'GET', '/echohead/%s/s3-x/../s3-y' % CC, host='s3tap.test',
		       headers=[('Connection', 'Authorization, X-Amz-Date, Host'),
				('X-Forwarded-Host', 'evil'), ('X_A', '1')])
	ck.check('s3 tap: /x/../y signed and sent as /bucket/.../y',
		 r.status == 200 and
		 target(r.body) == '/%s/echohead/%s/s3-y' % (BUCKET, CC.replace('=', '%3D')) and
		 field(r.body, 'authorization', ) is not None and field(r.body, 'x-amz-date') is not None,
		 repr(r.body[:400]))
	got = names(r.body)
	ck.check('s3 tap: X-Forwarded-Host and "_" fields absent',
		 'x-forwarded-host' not in got and 'x_a' not in got, repr(got))


def s3_swift(ck, srv, s3):
	bad = []
	for p in ESCAPES:
		r = et.request(srv.port, 'GET', p, host='s3.test')
		if r.status != 400:
			bad.append((p, r.status))
	ck.check('swift: every escape shape is a 400', not bad, repr(bad))
	r = et.request(srv.port, 'GET', '/f', host='s3.test')
	ck.check('swift: GET /f 200', r.status == 200 and r.body == b'plain f', repr(r))
	for p in ('/x/../f', '/x/%2e%2e/f', '/./f'):
		r = et.request(srv.port, 'GET', p, host='s3.test')
		ck.check('swift: %s is the key "f", never the key named with dots' % p,
			 r.status == 200 and r.body == b'plain f', repr(r))
	r = et.request(srv.port, 'GET', '/x/..%2ff', host='s3.test')
	ck.check('swift: /x/..%2ff (ambiguous) is a 400', r.status == 400, repr(r))
	r = et.request(srv.port, 'GET', '/f', host='s3.test', headers=[
		('Connection', 'Authorization, X-Amz-Date, X-Amz-Content-Sha256, Host, Content-Length'),
		('Authorization', 'AWS4-HMAC-SHA256 Credential=forged'), ('X-Amz-Date', '19700101T000000Z'),
		('Cache-Control', 'no-cache')])
	ck.check('swift: Connection naming the signed fields — still a valid signature (200)',
		 r.status == 200 and r.body == b'plain f', repr(r))


def main():
	py = et.PyOrigin()
	have_swift = not swift.missing_packages()
	s3 = None
	if have_swift:
		s3 = swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET)]).start()
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'f', b'plain f', access_key=ACCESS, secret_key=SECRET)
		s3.put(BUCKET, 'x/../f', b'dotted key', access_key=ACCESS, secret_key=SECRET)
	srv = et.Edgecache([])
	ck = et.Checks()
	try:
		s3opts = {'s3_auth_enabled': 'true', 's3_access_key': ACCESS,
			  's3_secret_key_file': srv.secret_file(SECRET), 's3_region': 'us-east-1',
			  'base_path': '/' + BUCKET}
		srv.zones = [et.zone('p', ['p.test'], [('o', py.url, {'base_path': '/base'})],
				     query_string='sorted'),
			     et.zone('st', ['s3tap.test'], [('o', py.url, dict(s3opts))])]
		if s3:
			srv.zones.append(et.zone('s3', ['s3.test'], [('o', s3.endpoint, dict(s3opts))]))
		srv.cache = {'path': os.path.join(et.tmpdir('hyg'), 'c.dat'), 'size': '16m'}
		srv.main = srv.write_config()
		srv.start()
		ck.run('escapes', escapes, ck, srv, py, 'p.test', 'plain')
		ck.run('dot_segments', dot_segments, ck, srv, py, 'p.test', 'plain', '/base')
		ck.run('sorted_query', sorted_query, ck, srv, py)
		ck.run('dropped', dropped, ck, srv, 'p.test', 'plain', '/echohead/no-store/d')
		ck.run('connection_framing', connection_framing, ck, srv, 'p.test', 'plain')
		ck.run('pass_list', pass_list, ck, py)
		ck.run('http2', http2, ck, srv, py)
		ck.run('s3_tap', s3_tap, ck, srv, py)
		if s3:
			ck.run('s3_swift', s3_swift, ck, srv, s3)
		else:
			ck.skip('s3_swift', 'Swift + s3api not installed')
	finally:
		if s3:
			s3.stop()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
