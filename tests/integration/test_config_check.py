#!/usr/bin/python3
"""`edgecache -t -c FILE`: exit 0 on config.ini.example and on a generated
valid config; exit 1 and a `file:line: key: what is wrong` line on stderr
for each broken config (bad keys and values, limits one past the bound,
bad origin URL, duplicate hosts). config.ini.example caches: a [cache]
whose relative path's directory is in the tree; a [cache] path in a missing
directory stops the start with a message that says what to do.
`-v`/`--version` (version, libraries compiled and running, build flags),
`-h`/`--help` (options, subcommands, signals) exit 0 on stdout; an unknown
option gives the synopsis on stderr and exit 2."""
import configparser
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


def example_caches(ck, example):
	"""The shipped example is what people copy: it must cache, in a file
	whose directory a fresh checkout has (relative to the example)."""
	ini = configparser.ConfigParser(comment_prefixes=(';', '#'), inline_comment_prefixes=(' ;',),
					interpolation=None, strict=False)
	ini.read(example)
	ck.check('config.ini.example has a [cache] with path and size', ini.has_section('cache') and
		 ini.has_option('cache', 'path') and ini.has_option('cache', 'size'), ini.sections())
	if not ini.has_section('cache'):
		return
	path = ini.get('cache', 'path', fallback='')
	where = os.path.join(os.path.dirname(example), os.path.dirname(path))
	ck.check('[cache] path is relative, its directory is in the tree', not path.startswith('/')
		 and os.path.isdir(where), '%s (dir %s)' % (path, where))


def missing_cache_dir(ck, binary, d):
	main = write(os.path.join(d, 'nocachedir'))
	with open(main, 'a') as f:
		f.write('\n[cache]\npath = no-such-dir/edgecache.dat\nsize = 16m\n')
	try:
		r = subprocess.run([binary, '-c', main], capture_output=True, text=True, timeout=10)
	except subprocess.TimeoutExpired:
		ck.check('[cache] path in a missing directory → exit 1', False, 'still running after 10 s')
		return
	ck.check('[cache] path in a missing directory → exit 1, "does not exist (create it"',
		 r.returncode == 1 and 'no-such-dir/edgecache.dat' in r.stderr and
		 'does not exist (create it' in r.stderr, 'exit %d: %r' % (r.returncode, r.stderr[-400:]))


def small_cache(ck, binary, d):
	"""-t refuses a [cache] too small for its shards' stripes, as a start would:
	with chunk_size 1m each stripe needs 4 entries of 1 MiB + meta (~4.2 MB)."""
	for size, workers, ok in (('4m', 2, False), ('16m', 2, True), ('4m', 1, False),
				  ('5m', 1, True)):
		dd = os.path.join(d, 'small-%s-%d' % (size, workers))
		main = write(dd)
		with open(main, 'a') as f:
			f.write('\n[cache]\npath = %s/c.dat\nsize = %s\nchunk_size = 1m\n' % (dd, size))
		text = open(main).read()
		text = re.sub(r'(?m)^workers = .*$', '', text).replace('[server]\n',
				'[server]\nworkers = %d\n' % workers, 1)
		open(main, 'w').write(text)
		r = subprocess.run([binary, '-t', '-c', main], capture_output=True, text=True,
				   timeout=10)
		if ok:
			ck.check('-t: [cache] size %s, workers %d passes' % (size, workers),
				 r.returncode == 0, r.stderr[-300:])
		else:
			ck.check('-t: [cache] size %s, workers %d refused: "each needs at least"' %
				 (size, workers), r.returncode == 1 and 'each needs at least' in r.stderr
				 and ':%d: size:' % (text[:text.index('size = ')].count('\n') + 1)
				 in r.stderr, 'exit %d: %r' % (r.returncode, r.stderr[-300:]))


def version_and_help(ck, binary):
	def run(*args):
		return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=10)
	for flag in ('-v', '--version'):
		r = run(flag)
		lines = r.stdout.splitlines()
		ck.check('%s → exit 0, "edgecache N.N.N" first' % flag, r.returncode == 0 and lines and
			 re.fullmatch(r'edgecache \d+\.\d+\.\d+', lines[0]) is not None, r.stdout[:200])
		for lib in ('wolfSSL', 'liburing', 'nghttp2'):
			ck.check('%s names %s compiled version' % (flag, lib),
				 re.search(r'^%s: compiled \d+\.\d+' % lib, r.stdout, re.M) is not None,
				 r.stdout)
		ck.check('%s: build type, asserts, sanitizers' % flag,
			 re.search(r'^build: \w+, -O\w+, asserts (on|off), sanitizers \S+', r.stdout,
				   re.M) is not None, r.stdout)
		m = re.search(r'^wolfSSL: compiled (\S+), running (\S+),', r.stdout, re.M)
		ck.check('%s: wolfSSL compiled = running (linked statically)' % flag,
			 m is not None and m.group(1) == m.group(2), r.stdout)
		ck.check('%s: liburing static from its prefix, kernel named' % flag,
			 re.search(r'^liburing: compiled 2\.\d+, static from /\S+, kernel \S+$', r.stdout,
				   re.M) is not None, r.stdout)
		ck.check('%s: wolfCrypt SHA-256 path named' % flag,
			 re.search(r'^wolfCrypt SHA-256: (SHA-NI\+AVX1|SHA-NI|AVX2\+RORX|AVX2|AVX1|C) ',
				   r.stdout, re.M)
			 is not None, r.stdout)
	r = run('-v')
	asan = re.search(r'sanitizers (\S+),', r.stdout)
	# The ASan build (scripts/build asan) must say so; a release build must not.
	in_asan = os.path.basename(os.path.dirname(os.path.abspath(binary))) == 'build-asan'
	ck.check('-v: sanitizers match the build dir (%s)' % ('asan' if in_asan else 'release'),
		 asan is not None and ('address' in asan.group(1)) == in_asan, r.stdout)
	for flag in ('-h', '--help'):
		r = run(flag)
		ck.check('%s → exit 0 on stdout: usage, options, subcommands, signals' % flag,
			 r.returncode == 0 and r.stdout.startswith('usage:') and
			 all(w in r.stdout for w in ('-c FILE', '-t ', '--version', 'check-origin',
						     'sign ', 'signals:', 'HUP', 'USR1', 'TERM', 'upgrade', 'USR2')),
			 r.stdout)
	for bad in ('-x', '--bogus'):
		r = run(bad)
		ck.check('unknown option %s → exit 2, synopsis on stderr, stdout empty' % bad,
			 r.returncode == 2 and 'usage: edgecache' in r.stderr and bad.lstrip('-') in
			 r.stderr and r.stdout == '', 'exit %d: %r' % (r.returncode, r.stderr))


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
	example_caches(ck, example)
	missing_cache_dir(ck, binary, d)
	small_cache(ck, binary, d)
	version_and_help(ck, binary)
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
