#!/usr/bin/python3
"""HTTPS origins: edgecache fetches from an nginx TLS origin whose
certificate a test CA (made here with openssl) signed: byte-exact bodies
(1 KiB to 8 MiB), keep-alive reuse over TLS; a wrong CA and a wrong host
name are refused (503, the reason logged, origin_tls_failures counted),
never fetched unverified."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402


def run(*args):
	subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d):
	"""A CA, and a server certificate for localhost signed by it."""
	ca, srv = os.path.join(d, 'ca'), os.path.join(d, 'srv')
	run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca + '.key',
	    '-out', ca + '.pem', '-days', '2', '-subj', '/CN=edgecache test CA')
	run('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', srv + '.key',
	    '-out', srv + '.csr', '-subj', '/CN=localhost')
	with open(os.path.join(d, 'ext'), 'w') as f:
		f.write('subjectAltName=DNS:localhost\n')
	run('openssl', 'x509', '-req', '-in', srv + '.csr', '-CA', ca + '.pem', '-CAkey',
	    ca + '.key', '-CAcreateserial', '-out', srv + '.pem', '-days', '2', '-extfile',
	    os.path.join(d, 'ext'))
	return ca + '.pem', srv + '.pem', srv + '.key'


class TlsOrigin:
	def __init__(self, d, cert, key, files):
		self.dir, self.port = d, et.free_port()
		root = os.path.join(d, 'html')
		os.makedirs(root)
		for name, size in files.items():
			with open(os.path.join(root, name), 'wb') as f:
				f.write(et.det_bytes(name, size))
		conf = os.path.join(d, 'nginx.conf')
		with open(conf, 'w') as f:
			f.write(et.nginx_main_conf(d) + '''
http { access_log %s/access.log; keepalive_requests 100000; %s
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;
           root %s; } }
''' % (d, et.nginx_temp_paths(d), self.port, cert, key, root))
		self.proc = et.start_proc(['nginx', '-p', d, '-c', conf], os.path.join(d, 'stderr.log'))
		et.wait_port(self.port, self.proc)


def wait_log(srv, text, timeout=3.0):
	"""Shard log lines reach the file through the control thread (100 ms)."""
	import time
	deadline = time.monotonic() + timeout
	log = ''
	while time.monotonic() < deadline:
		log = open(srv.error_log).read()
		if text in log:
			break
		time.sleep(0.05)
	return log


def main():
	try:
		subprocess.run(['openssl', 'version'], check=True, stdout=subprocess.DEVNULL)
	except (OSError, subprocess.CalledProcessError):
		et.skip('openssl (Debian package) missing: run scripts/setup')
	d = et.tmpdir('https')
	ca, cert, key = make_ca(d)
	other_ca, _, _ = make_ca(et.tmpdir('otherca'))
	sizes = {'f1k': 1024, 'f300k': 300000, 'f8m': 8 << 20}
	origin = TlsOrigin(et.tmpdir('tlsorigin'), cert, key, sizes)
	url = 'https://localhost:%d' % origin.port
	zones = [et.zone('good', ['good.test'], [('o', url, {'ca_file': ca})]),
		 et.zone('badca', ['badca.test'], [('o', url, {'ca_file': other_ca})]),
		 et.zone('badname', ['badname.test'],
			 [('o', 'https://127.0.0.1:%d' % origin.port, {'ca_file': ca})])]
	srv = et.server(zones).start()
	ck = et.Checks()
	c0 = srv.counters()
	for name, size in sizes.items():
		for i in range(2):
			r = et.request(srv.port, 'GET', '/' + name, host='good.test', timeout=30)
			ck.check('%s over HTTPS byte-exact (%d)' % (name, i),
				 r.status == 200 and r.body == et.det_bytes(name, size), repr(r))
	c1 = srv.counters()
	ck.check('origin connections reused over TLS (%d reuses)' %
		 (c1['origin_reuses'] - c0['origin_reuses']),
		 c1['origin_reuses'] - c0['origin_reuses'] >= 3)
	for host, why in (('badca.test', 'unknown CA'), ('badname.test', 'host-name mismatch')):
		r = et.request(srv.port, 'GET', '/f1k', host=host)
		ck.check('%s: refused with 503' % why, r.status == 503, repr(r))
		log = wait_log(srv, why)
		ck.check('%s: the reason is logged' % why, why in log, log[-600:])
	c2 = srv.counters()
	ck.check('origin_tls_failures counted (%d)' % (c2['origin_tls_failures'] -
							c1['origin_tls_failures']),
		 c2['origin_tls_failures'] - c1['origin_tls_failures'] == 2)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
