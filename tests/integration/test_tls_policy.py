#!/usr/bin/python3
"""The TLS policy of HTTPS visitors (docs/tls.md, "Cipher policy"), checked
from outside with Debian's testssl.sh, a real scanner, on loopback only
(--ip 127.0.0.1 --nodns none), and with openssl s_client.

Server A has the default policy: zone e (ECDSA P-256, e.test and *) and
zone r (RSA, r.test). testssl -p -e -f on e.test: no SSLv2/3, TLS 1.0,
1.1; TLS 1.2 and 1.3; every offered suite AEAD (AES-GCM, ChaCha20-
Poly1305) with forward secrecy, none NULL, export, anonymous, RC4, 3DES,
CBC, CCM or CCM-8, PSK — exactly the six the policy lists for ECDSA —
and key exchange on X25519, P-256 and P-384 only.
s_client is refused ECDHE-ECDSA-NULL-SHA (negotiated in clear text by the
old build), TLS_AES_128_CCM_8_SHA256, CBC-SHA1 and DHE suites, each
refusal counted in tls_handshake_failures, and gets the AEAD suites.
Server B has the zone keys: zone m (tls_min_version = 1.3): testssl -p
finds no TLS 1.2; zone c (tls_ciphers = two suites): testssl -e finds
those two only, and s_client gets neither another TLS 1.2 suite nor
another TLS 1.3 one. edgecache -t refuses a NULL suite and a keyword in
tls_ciphers with file:line: key: why. An admin API change to zones m
and c (their files rewritten) keeps both keys in force.

testssl runs are bounded (SCAN_TIMEOUT each, run side by side, killed as
a process group past it); without testssl the test skips (77)."""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

TESTSSL = '/usr/bin/testssl'       # Debian's testssl.sh package
SCAN_TIMEOUT = 400                 # seconds per scan (~2 min each on an idle machine)

# What the default policy offers an ECDSA certificate (IANA names).
DEFAULT_ECDSA = {
	'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
	'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
	'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
}
# Zone c's tls_ciphers, as written (OpenSSL / IANA names) and as testssl names them.
ZONE_C_CIPHERS = 'TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-GCM-SHA384'
ZONE_C_IANA = {'TLS_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'}
# Parts of an IANA name that the policy never offers.
FORBIDDEN = ['NULL', 'EXPORT', 'anon', 'RC4', 'DES', 'CBC', 'CCM_8', 'CCM', 'PSK', 'MD5', 'OLD']


def make_certs(d):
	"""ca.pem; ec.pem/ec.key (P-256: e.test, m.test); rsa.pem/rsa.key (r.test, c.test)."""
	def run(*args):
		subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
			       timeout=60)
	p = lambda n: os.path.join(d, n)  # noqa: E731
	run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'),
	    '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=edgecache policy test CA')
	for name, alg, san in (('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
				'DNS:e.test,DNS:m.test'),
			       ('rsa', ['-newkey', 'rsa:2048'], 'DNS:r.test,DNS:c.test')):
		run('openssl', 'req', *alg, '-nodes', '-keyout', p(name + '.key'), '-out',
		    p(name + '.csr'), '-subj', '/CN=' + name)
		with open(p(name + '.ext'), 'w') as f:
			f.write('subjectAltName=%s\n' % san)
		run('openssl', 'x509', '-req', '-in', p(name + '.csr'), '-CA', p('ca.pem'), '-CAkey',
		    p('ca.key'), '-CAcreateserial', '-out', p(name + '.pem'), '-days', '2',
		    '-extfile', p(name + '.ext'))
		os.chmod(p(name + '.key'), 0o600)
	return p


def tls_edge(zones):
	port = et.free_port()
	srv = et.Edgecache(zones, listen_tls='127.0.0.1:%d' % port, tls_handshake_timeout_ms=5000)
	srv.tls_port = port
	return srv


# ---- openssl s_client ---------------------------------------------------------

def s_client(port, host, *args):
	"""One handshake (and a GET) with s_client: (negotiated suite or None, text)."""
	req = b'GET /files/10 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % host.encode()
	try:
		r = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % port,
				    '-servername', host, '-ign_eof', *args],
				   input=req, capture_output=True, timeout=20)
	except subprocess.TimeoutExpired:
		return None, 's_client timed out'
	text = (r.stdout + r.stderr).decode('latin-1')
	m = re.search(r'Cipher is (\S+)', text)
	return (m.group(1) if m and m.group(1) != '(NONE)' else None), text


def direct_default(ck, srv):
	"""Server A: refused suites (counted) and the AEAD suites that work."""
	before = srv.counters()['tls_handshake_failures']
	refused = [
		('e.test', 'ECDHE-ECDSA-NULL-SHA (no encryption)',
		 ['-tls1_2', '-cipher', 'ECDHE-ECDSA-NULL-SHA@SECLEVEL=0']),
		('e.test', 'TLS_AES_128_CCM_8_SHA256', ['-tls1_3', '-ciphersuites',
							 'TLS_AES_128_CCM_8_SHA256']),
		('e.test', 'TLS_AES_128_CCM_SHA256', ['-tls1_3', '-ciphersuites',
						       'TLS_AES_128_CCM_SHA256']),
		('e.test', 'ECDHE-ECDSA-AES128-SHA (CBC-SHA1)',
		 ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA']),
		('r.test', 'ECDHE-RSA-AES128-SHA (CBC-SHA1)',
		 ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA']),
		('r.test', 'ECDHE-RSA-AES128-SHA256 (CBC)',
		 ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256']),
		('r.test', 'DHE-RSA-CHACHA20-POLY1305 (not ECDHE)',
		 ['-tls1_2', '-cipher', 'DHE-RSA-CHACHA20-POLY1305']),
	]
	for host, what, args in refused:
		suite, text = s_client(srv.tls_port, host, *args)
		ck.check('%s: handshake with %s refused' % (host, what), suite is None,
			 'negotiated %s:\n%s' % (suite, text[-800:]))
	after = srv.counters()['tls_handshake_failures']
	ck.check('tls_handshake_failures counts each refusal (%d)' % (after - before),
		 after - before == len(refused), 'before %d after %d' % (before, after))
	works = [
		('e.test', ['-tls1_3'], 'TLS_AES_'),
		('e.test', ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'],
		 'TLS_CHACHA20_POLY1305_SHA256'),
		('e.test', ['-tls1_2'], 'ECDHE-ECDSA-AES'),
		('e.test', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
		 'ECDHE-ECDSA-CHACHA20-POLY1305'),
		('r.test', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384'],
		 'ECDHE-RSA-AES256-GCM-SHA384'),
		('r.test', ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305'],
		 'ECDHE-RSA-CHACHA20-POLY1305'),
	]
	for host, args, want in works:
		suite, text = s_client(srv.tls_port, host, *args)
		ck.check('%s %s: %s... negotiated and served' % (host, ' '.join(args), want),
			 suite is not None and suite.startswith(want) and
			 'HTTP/1.1 200' in text, '%s:\n%s' % (suite, text[-800:]))


def direct_zones(ck, srv):
	"""Server B: the zones' own minimum version and list."""
	checks = [
		('m.test', ['-tls1_2'], None, 'tls_min_version = 1.3: TLS 1.2 refused'),
		('m.test', ['-tls1_3'], 'TLS_AES_', 'tls_min_version = 1.3: TLS 1.3 served'),
		('c.test', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], None,
		 'tls_ciphers: a default suite it does not list refused'),
		('c.test', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'], None,
		 'tls_ciphers: a TLS 1.3 suite it does not list refused'),
		('c.test', ['-tls1_2'], 'ECDHE-RSA-AES256-GCM-SHA384',
		 'tls_ciphers: its TLS 1.2 suite served'),
		('c.test', ['-tls1_3'], 'TLS_AES_256_GCM_SHA384',
		 'tls_ciphers: its TLS 1.3 suite served'),
		('e.test', ['-tls1_2'], 'ECDHE-ECDSA-AES',
		 'the default zone beside them keeps TLS 1.2'),
	]
	for host, args, want, name in checks:
		suite, text = s_client(srv.tls_port, host, *args)
		ok = suite is None if want is None else (suite or '').startswith(want) and \
			'HTTP/1.1 200' in text
		ck.check('%s: %s' % (host, name), ok, '%s:\n%s' % (suite, text[-800:]))


def admin_keeps_policy(ck, srv, zones, url):
	"""An admin API change rewrites a zone's file from the running config:
	the zone keeps its tls_ciphers and tls_min_version, and still enforces them."""
	for z, key in ((zones['c'], 'tls_ciphers = ' + ZONE_C_CIPHERS.replace(':', '\n\t')),
		       (zones['m'], 'tls_min_version = 1.3')):
		answer = et.admin_post_raw(srv.admin_port, '/cdn/zones/%s/origins' % z['uuid'],
					   {'name': 'o2', 'url': url})
		ck.check('admin API: an origin added to zone %s (201)' % z['name'],
			 answer.startswith(b'HTTP/1.1 201'), answer[:300])
		text = open(os.path.join(srv.dir, 'zones', z['name'] + '.ini')).read()
		ck.check('zone %s\'s rewritten file keeps "%s"' % (z['name'], key), key in text, text)
	suite, text = s_client(srv.tls_port, 'c.test', '-tls1_2', '-cipher',
			       'ECDHE-RSA-AES128-GCM-SHA256')
	ck.check('after the change c.test still refuses a suite it does not list', suite is None,
		 '%s:\n%s' % (suite, text[-600:]))
	suite, text = s_client(srv.tls_port, 'm.test', '-tls1_2')
	ck.check('after the change m.test still refuses TLS 1.2', suite is None,
		 '%s:\n%s' % (suite, text[-600:]))


# ---- testssl.sh -----------------------------------------------------------------

class Scan:
	"""One testssl run in its own process group, JSON to a file."""

	def __init__(self, d, name, port, host, opts):
		self.name, self.json = name, os.path.join(d, name + '.json')
		self.log = os.path.join(d, name + '.log')
		cmd = [TESTSSL, '--quiet', '--color', '0', '--warnings', 'off', '--nodns', 'none',
		       '--ip', '127.0.0.1', '--connect-timeout', '10', '--openssl-timeout', '10',
		       '--openssl', '/usr/bin/openssl', '--jsonfile', self.json, *opts,
		       '%s:%d' % (host, port)]
		self.t0, self.secs = time.monotonic(), None
		self.proc = subprocess.Popen(cmd, stdout=open(self.log, 'wb'), stderr=subprocess.STDOUT,
					     stdin=subprocess.DEVNULL, start_new_session=True,
					     env=dict(os.environ, TERM='dumb'))

	def done(self):
		if self.proc.poll() is None:
			return False
		if self.secs is None:
			self.secs = time.monotonic() - self.t0
			print('%s: testssl exit %d in %.0fs' % (self.name, self.proc.returncode,
								  self.secs), flush=True)
		return True

	def result(self):
		"""The findings (list of dicts), or None if it timed out or failed."""
		if not self.done():
			os.killpg(self.proc.pid, signal.SIGKILL)
			self.proc.wait()
			print('%s: testssl killed after %.0fs' % (self.name, time.monotonic() - self.t0))
			return None
		try:
			with open(self.json) as f:
				return json.load(f)
		except (OSError, ValueError) as e:
			print('%s: no JSON (%s):\n%s' % (self.name, e, open(self.log).read()[-2000:]))
			return None


def by_id(findings):
	return {f['id']: f['finding'] for f in findings}


def offered(findings):
	"""{IANA name: (OpenSSL name, key exchange)} of the suites the server accepted
	(testssl -e rows: hexcode, OpenSSL name, key exchange [bits], cipher, bits, IANA)."""
	out = {}
	for f in findings:
		if f['id'].startswith('cipher_x') and not f['id'].startswith('cipher_order'):
			col = f['finding'].split()
			out[col[-1]] = (col[1], col[2])
	return out


def check_protocols(ck, name, ids, tls12):
	for p in ('SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'):
		ck.check('%s: %s not offered' % (name, p), ids.get(p) == 'not offered', ids.get(p))
	if tls12:
		ck.check('%s: TLS 1.2 offered' % name, ids.get('TLS1_2') == 'offered', ids.get('TLS1_2'))
	else:
		ck.check('%s: TLS 1.2 not offered' % name, ids.get('TLS1_2') == 'not offered',
			 ids.get('TLS1_2'))
	ck.check('%s: TLS 1.3 offered' % name, (ids.get('TLS1_3') or '').startswith('offered'),
		 ids.get('TLS1_3'))


def check_suites(ck, name, findings, want):
	suites = offered(findings)
	ids = by_id(findings)
	print('%s offers: %s' % (name, ' '.join(sorted(suites))), flush=True)
	ck.check('%s: testssl found suites' % name, len(suites) > 0, repr(findings)[:500])
	for part in FORBIDDEN:
		bad = [s for s in suites if part.lower() in s.lower()]
		ck.check('%s: no %s suite offered' % (name, part), not bad, bad)
	not_aead = [s for s in suites if 'GCM' not in s and 'CHACHA20_POLY1305' not in s]
	ck.check('%s: AEAD only (AES-GCM, ChaCha20-Poly1305)' % name, not not_aead, not_aead)
	no_fs = [s for s, (_, kx) in suites.items() if kx not in ('ECDH', 'DH')]
	ck.check('%s: forward secrecy on every suite (ECDHE/DHE key exchange)' % name, not no_fs,
		 no_fs)
	if 'PFS_ciphers' in ids:
		pfs = set(ids['PFS_ciphers'].split())
		missing = [s for s, (o, _) in suites.items() if o not in pfs and s not in pfs]
		ck.check('%s: testssl lists every offered suite as forward secret' % name,
			 not missing, missing)
	ck.check('%s: exactly the policy\'s suites' % name, set(suites) == want,
		 'extra %s, missing %s' % (sorted(set(suites) - want), sorted(want - set(suites))))


# ---- edgecache -t ---------------------------------------------------------------

def check_config(ck, p, origin_url):
	def check_t(name, keys, want):
		srv = et.Edgecache([et.zone('e', ['e.test', '*'], [('o', origin_url, {})],
					    tls_cert=p('ec.pem'), tls_key=p('ec.key'), **keys)],
				   listen_tls='127.0.0.1:%d' % et.free_port())
		r = subprocess.run([srv.bin, '-t', '-c', srv.main], capture_output=True, timeout=20)
		msg = (r.stdout + r.stderr).decode('latin-1')
		ck.check('-t refuses %s' % name, r.returncode != 0 and re.search(want, msg) is not None,
			 msg.strip())
	check_t('a NULL suite in tls_ciphers',
		{'tls_ciphers': 'TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-NULL-SHA'},
		r'e\.ini:\d+: tls_ciphers: "ECDHE-ECDSA-NULL-SHA" is refused: a NULL cipher')
	check_t('a keyword in tls_ciphers (wolfSSL would expand it to everything)',
		{'tls_ciphers': 'HIGH:!aNULL'},
		r'e\.ini:\d+: tls_ciphers: "HIGH" is not the name of a cipher suite')
	check_t('tls_min_version = 1.1', {'tls_min_version': '1.1'},
		r'e\.ini:\d+: tls_min_version: "1\.1" is not 1\.2 or 1\.3')


def main():
	if not os.access(TESTSSL, os.X_OK):
		et.skip('%s missing (Debian package testssl.sh: run scripts/setup)' % TESTSSL)
	try:
		subprocess.run(['openssl', 'version'], check=True, stdout=subprocess.DEVNULL)
	except (OSError, subprocess.CalledProcessError):
		et.skip('openssl (Debian package) missing: run scripts/setup')
	d = et.tmpdir('tlspol')
	p = make_certs(d)
	origin = et.PyOrigin()
	url = origin.url
	ck = et.Checks()

	srv_a = tls_edge([
		et.zone('e', ['e.test', '*'], [('o', url, {})], tls_cert=p('ec.pem'),
			tls_key=p('ec.key')),
		et.zone('r', ['r.test'], [('o', url, {})], tls_cert=p('rsa.pem'),
			tls_key=p('rsa.key'))]).start()
	zones_b = {
		'm': et.zone('m', ['m.test', '*'], [('o', url, {})], tls_cert=p('ec.pem'),
			     tls_key=p('ec.key'), tls_min_version='1.3'),
		'c': et.zone('c', ['c.test'], [('o', url, {})], tls_cert=p('rsa.pem'),
			     tls_key=p('rsa.key'), tls_ciphers=ZONE_C_CIPHERS),
		'e': et.zone('e', ['e.test'], [('o', url, {})], tls_cert=p('ec.pem'),
			     tls_key=p('ec.key'))}
	srv_b = tls_edge(list(zones_b.values()))
	srv_b.admin_port = et.free_port()
	with open(srv_b.main, 'a') as f:
		f.write('[admin]\nlisten = 127.0.0.1:%d\n' % srv_b.admin_port)
	try:
		srv_b.start()
	except RuntimeError as e:
		print(e)
	b_up = ck.check('a server with tls_min_version and tls_ciphers zones starts',
			srv_b.running())

	ck.run('default policy, s_client', direct_default, ck, srv_a)
	if b_up:
		ck.run('zone policies, s_client', direct_zones, ck, srv_b)
		ck.run('admin API change to zones with a policy', admin_keeps_policy, ck, srv_b,
		       zones_b, url)
	ck.run('edgecache -t', check_config, ck, p, url)

	# the scans, side by side, each bounded
	scans = [Scan(d, 'default-ecdsa', srv_a.tls_port, 'e.test', ['-p', '-e', '-f'])]
	if b_up:
		scans.append(Scan(d, 'zone-ciphers', srv_b.tls_port, 'c.test', ['-e']))
		scans.append(Scan(d, 'zone-min13', srv_b.tls_port, 'm.test', ['-p']))
	deadline = time.monotonic() + SCAN_TIMEOUT
	while time.monotonic() < deadline and not all([s.done() for s in scans]):
		time.sleep(0.5)     # (a list: every scan's end is seen when it comes)
	results = {s.name: s.result() for s in scans}
	for name, res in results.items():
		ck.check('testssl %s finished within %ds with JSON' % (name, SCAN_TIMEOUT),
			 res is not None)
	if results.get('default-ecdsa'):
		res = results['default-ecdsa']
		check_protocols(ck, 'default policy', by_id(res), True)
		check_suites(ck, 'default policy', res, DEFAULT_ECDSA)
		ids = by_id(res)
		ck.check('default policy: testssl says forward secrecy offered',
			 ids.get('PFS', ids.get('FS', '')).startswith('offered'), ids.get('PFS'))
		curves = set(ids.get('PFS_ECDHE_curves', ids.get('FS_ECDHE_curves', '')).split())
		ck.check('default policy: key exchange on X25519, P-256, P-384 only',
			 curves == {'X25519', 'prime256v1', 'secp384r1'}, curves)
		ck.check('default policy: no finite-field (ffdhe) group', 'DH_groups' not in ids,
			 ids.get('DH_groups'))
	if results.get('zone-ciphers'):
		check_suites(ck, 'zone tls_ciphers', results['zone-ciphers'], ZONE_C_IANA)
	if results.get('zone-min13'):
		check_protocols(ck, 'zone tls_min_version = 1.3', by_id(results['zone-min13']), False)

	ck.check('server A (default policy) stops cleanly', srv_a.stop() == 0)
	if b_up:
		ck.check('server B (zone policies) stops cleanly', srv_b.stop() == 0)
	ck.finish()


if __name__ == '__main__':
	main()
