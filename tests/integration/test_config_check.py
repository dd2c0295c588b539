#!/usr/bin/python3
"""`edgecache -t -c FILE`: exit 0 on config.ini.example and on a generated
valid config; exit 1 and a `file:line: key: what is wrong` line on stderr
for each broken config (bad keys and values, limits one past the bound,
bad origin URL, duplicate hosts)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

MAIN = '''[server]
listen = 127.0.0.1:%(port)d
workers = 1
zones = zones/*.ini
header_timeout_ms = 10000
access_log = off
'''
ZONE = '''[zone]
name = %(name)s
uuid = %(uuid)s
hosts = %(hosts)s

[origin primary]
url = http://127.0.0.1:22081
read_timeout_ms = 30000
'''

# (name, main-file edit, zone-file edit, file, line, key)
# An edit is (old, new) applied to the text; the zone file is zones/a.ini.
BROKEN = [
	('unknown key', ('workers = 1', 'workers = 1\nbogus = 1'), None, 'main.ini', 4, 'bogus'),
	('bad workers', ('workers = 1', 'workers = lots'), None, 'main.ini', 3, 'workers'),
	('workers past LIMIT_WORKERS', ('workers = 1', 'workers = 257'), None, 'main.ini', 3,
	 'workers'),
	('timeout below floor', ('header_timeout_ms = 10000', 'header_timeout_ms = 0'), None,
	 'main.ini', 5, 'header_timeout_ms'),
	('timeout past ceiling', ('header_timeout_ms = 10000', 'header_timeout_ms = 3600001'),
	 None, 'main.ini', 5, 'header_timeout_ms'),
	('max_body_bytes past ceiling', ('workers = 1', 'workers = 1\nmax_body_bytes = 1099511627777'),
	 None, 'main.ini', 4, 'max_body_bytes'),
	('bad listen port', ('127.0.0.1:%(port)d', '127.0.0.1:99999'), None, 'main.ini', 2, 'listen'),
	('bad origin url scheme', None, ('url = http://', 'url = ftp://'), 'a.ini', 7, 'url'),
	('zone read_timeout_ms past ceiling', None,
	 ('read_timeout_ms = 30000', 'read_timeout_ms = 3600001'), 'a.ini', 8, 'read_timeout_ms'),
	('unknown zone key', None, ('hosts =', 'colour = blue\nhosts ='), 'a.ini', 4, 'colour'),
	# RFC 9213: the zone's own targeted field must be a header name with no
	# meaning of its own (the edge obeys it and never forwards it)
	('targeted_field naming Cache-Control', None,
	 ('hosts =', 'targeted_field = Cache-Control\nhosts ='), 'a.ini', 4, 'targeted_field'),
	('targeted_field not a header name', None,
	 ('hosts =', 'targeted_field = My Field\nhosts ='), 'a.ini', 4, 'targeted_field'),
	('store_server_errors not a boolean', None,
	 ('hosts =', 'store_server_errors = maybe\nhosts ='), 'a.ini', 4, 'store_server_errors'),
]


def run_t(binary, main):
	p = subprocess.run([binary, '-t', '-c', main], capture_output=True, timeout=10)
	return p.returncode, p.stderr.decode('latin-1')


def write(d, main_edit=None, zone_edit=None, dup_host=False):
	os.makedirs(os.path.join(d, 'zones'), exist_ok=True)
	main = MAIN if main_edit is None else MAIN.replace(*main_edit)
	with open(os.path.join(d, 'main.ini'), 'w') as f:
		f.write(main % {'port': 22080})
	za = ZONE if zone_edit is None else ZONE.replace(*zone_edit)
	zones = {'a': za % {'name': 'a', 'uuid': '6f1c2b9e-3a4d-4e5f-8a7b-00000000000a',
			   'hosts': 'a.test, *'},
		 'b': ZONE % {'name': 'b', 'uuid': '6f1c2b9e-3a4d-4e5f-8a7b-00000000000b',
			      'hosts': 'a.test' if dup_host else 'b.test'}}
	for name, text in zones.items():
		with open(os.path.join(d, 'zones', name + '.ini'), 'w') as f:
			f.write(text)
	return os.path.join(d, 'main.ini')


def main():
	if et.TARGET != 'edgecache':
		et.skip('-t is edgecache\'s own (nginx -t has another format)')
	binary = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')
	if not os.access(binary, os.X_OK):
		et.skip('edgecache binary not found at %s' % binary)
	ck = et.Checks()
	d = et.tmpdir('cfg')
	rc, err = run_t(binary, write(os.path.join(d, 'ok')))
	if rc == 2 and err.startswith('usage:'):
		et.skip('%s is the stub binary (config loader not on this branch yet)' % binary)
	ck.check('valid generated config → exit 0', rc == 0, 'exit %d: %s' % (rc, err.strip()))
	example = os.path.join(et.SRC, 'config.ini.example')
	if os.path.exists(example):
		rc, err = run_t(binary, example)
		ck.check('config.ini.example → exit 0', rc == 0, 'exit %d: %s' % (rc, err.strip()))
	else:
		ck.skip('config.ini.example', 'not in the tree yet (%s)' % example)
	for i, (name, medit, zedit, fname, line, key) in enumerate(BROKEN):
		rc, err = run_t(binary, write(os.path.join(d, 'b%d' % i), medit, zedit))
		want = re.compile(r'(^|/)%s:%d: %s: \S' % (re.escape(fname), line, re.escape(key)), re.M)
		ck.check('%s → exit 1, "%s:%d: %s: ..."' % (name, fname, line, key),
			 rc == 1 and want.search(err) is not None, 'exit %d: %r' % (rc, err.strip()))
	rc, err = run_t(binary, write(os.path.join(d, 'dup'), dup_host=True))
	ck.check('duplicate host in two zones → exit 1, ".ini:N: hosts: ..."',
		 rc == 1 and re.search(r'\.ini:\d+: hosts: \S', err) is not None,
		 'exit %d: %r' % (rc, err.strip()))
	rc, err = run_t(binary, os.path.join(d, 'missing.ini'))
	ck.check('missing main file → exit 1 with a message', rc == 1 and 'missing.ini' in err,
		 'exit %d: %r' % (rc, err.strip()))
	ck.finish()


if __name__ == '__main__':
	main()
