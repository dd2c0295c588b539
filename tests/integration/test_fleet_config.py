#!/usr/bin/python3
"""[fleet] in the main file (docs/CONFIG.md, docs/FLEET.md), through
`edgecache -t`: a valid section passes with no zones key; each broken one
fails with `file:line: key: what` — a fleet key readable by others or not
32 bytes, a missing required key, an endpoint that is not http(s)://host:port,
a prefix that does not start with '/', a pop that cannot be part of a key,
cert_file without key_file. Without [fleet], zones stays required."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

BIN = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')

MAIN = '''[server]
listen = 127.0.0.1:18080
[fleet]
etcd = http://127.0.0.1:2379, https://127.0.0.1:22379
pop = ams
node = n1
secrets_key_file = fleet.key
state_dir = state
'''

# (name, edit (old, new) of MAIN, key mode, key bytes, line, key in the message)
BROKEN = [
	('key readable by group', None, 0o640, 32, 7, 'secrets_key_file'),
	('key of 31 bytes', None, 0o600, 31, 7, 'secrets_key_file'),
	('key of 33 bytes', None, 0o600, 33, 7, 'secrets_key_file'),
	('no etcd', ('etcd = http://127.0.0.1:2379, https://127.0.0.1:22379\n', ''), 0o600, 32,
	 3, '[fleet]'),
	('no pop', ('pop = ams\n', ''), 0o600, 32, 3, '[fleet]'),
	('no state_dir', ('state_dir = state\n', ''), 0o600, 32, 3, '[fleet]'),
	('ftp endpoint', ('http://127.0.0.1:2379', 'ftp://127.0.0.1:2379'), 0o600, 32, 4, 'etcd'),
	('endpoint with a path', ('http://127.0.0.1:2379', 'http://127.0.0.1:2379/v3'), 0o600, 32,
	 4, 'etcd'),
	('endpoint without a port', ('http://127.0.0.1:2379', 'http://127.0.0.1'), 0o600, 32, 4,
	 'etcd'),
	('endpoint with user info', ('http://127.0.0.1:2379', 'http://u:Pw-s3cret@127.0.0.1:2379'),
	 0o600, 32, 4, 'etcd'),
	('nine endpoints', ('https://127.0.0.1:22379', ', '.join(['http://127.0.0.1:%d' % p
	 for p in range(3000, 3008)])), 0o600, 32, 4, 'etcd'),
	('relative prefix', ('pop = ams', 'pop = ams\nprefix = edgecache'), 0o600, 32, 6, 'prefix'),
	('prefix ending in /', ('pop = ams', 'pop = ams\nprefix = /edgecache/'), 0o600, 32, 6,
	 'prefix'),
	('pop with a slash', ('pop = ams', 'pop = ams/1'), 0o600, 32, 5, 'pop'),
	('cert_file alone', ('pop = ams', 'pop = ams\ncert_file = c.pem'), 0o600, 32, 3, '[fleet]'),
	('unknown key', ('pop = ams', 'pop = ams\ncolour = blue'), 0o600, 32, 6, 'colour'),
	('repeated section', ('pop = ams', 'pop = ams\n[fleet]'), 0o600, 32, 6, '[fleet]'),
]


def run_t(d, main, mode, nbytes):
	path = os.path.join(d, 'main.ini')
	with open(path, 'w') as f:
		f.write(main)
	key = os.path.join(d, 'fleet.key')
	if os.path.exists(key):
		os.unlink(key)
	fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
	os.write(fd, bytes(range(nbytes)))     # NUL bytes too: the key is raw
	os.close(fd)
	os.chmod(key, mode)
	p = subprocess.run([BIN, '-t', '-c', path], capture_output=True, timeout=10)
	return p.returncode, p.stderr.decode('latin-1')


def main():
	if not os.access(BIN, os.X_OK):
		et.skip('no binary at %s' % BIN)
	c = et.Checks()
	d = et.tmpdir('fleet-config')
	rc, err = run_t(d, MAIN, 0o600, 32)
	c.check('valid [fleet] without zones passes -t', rc == 0, err)
	rc, err = run_t(d, MAIN.replace('node = n1\n', '').replace('pop = ams', 'pop = ams\n'
				       'prefix = /cdn/prod'), 0o600, 32)
	c.check('prefix set, node defaulting to the host name passes', rc == 0, err)
	rc, err = run_t(d, MAIN.replace('[fleet]\n', '[fleetx]\n'), 0o600, 32)
	c.check('an unknown section still fails', rc == 1, err)
	rc, err = run_t(d, MAIN.split('[fleet]')[0], 0o600, 32)
	c.check('without [fleet], zones is still required',
		rc == 1 and 'zones is required' in err, err)
	for name, edit, mode, nbytes, line, key in BROKEN:
		text = MAIN.replace(*edit) if edit else MAIN
		rc, err = run_t(d, text, mode, nbytes)
		want = '%s:%d: %s: ' % (os.path.join(d, 'main.ini'), line, key)
		c.check('%s fails with %s' % (name, want.split('/')[-1]),
			rc == 1 and err.startswith(want), err)
	rc, err = run_t(d, MAIN.replace('http://127.0.0.1:2379', 'http://u:Pw-s3cret@127.0.0.1:2379'),
			0o600, 32)
	c.check('an endpoint\'s password is never echoed', rc == 1 and 'Pw-s3cret' not in err, err)
	rc, err = run_t(d, MAIN, 0o600, 31)
	c.check('the key never shows in a message', '\\x00\\x01' not in err and
		bytes(range(31)).decode('latin-1') not in err, err)
	c.finish()


if __name__ == '__main__':
	main()
