#!/usr/bin/python3
"""The Debian package (debian/, docs/OPERATIONS.md), built by
scripts/build-deb (dpkg-buildpackage -us -uc -b: 2-3 minutes, too long for
this test's bound, so it is built beforehand and checked for staleness
here), installed and removed on a throwaway root — never on this machine.

Checks: the package is the tree's (its config, unit, logrotate snippet,
rules, dashboard and man page are the files of dist/, its binary prints
the `-h` of the binary under test: else "stale: run scripts/build-deb");
lintian reports no error; the binary links no libwolfssl and no liburing
(static) and Built-Using names their sources; `dpkg --root` with chrootless
maintainer scripts installs it: the files in place, the system user
`edgecache` created in the throwaway root's passwd (not this machine's),
the cache and zone directories its own, the log directory root's, a
dpkg-statoverride of the zones directory kept on reinstall; the unit is
not enabled, but upgrade restarts it and remove stops it (the generated
maintainer scripts); remove leaves the conffiles, purge takes them, the
cache, the logs and the zones directory with the admin API's zone and
secret files; this machine's user database and systemd state are
untouched.
scripts/test builds the package first (EDGECACHE_DEB_BUILT=1: then a
missing one fails). Run by hand, it skips (77) when there is no package
(run scripts/build-deb), no lintian, or not root."""
import glob
import gzip
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402

SRC = os.path.abspath(os.path.join(HERE, '..', '..'))
BIN = os.path.abspath(os.environ.get('EDGECACHE_BIN') or os.path.join(SRC, 'build', 'edgecache'))
SHIPPED = {   # path in the package: file of the tree
	'etc/edgecache/edgecache.ini': 'dist/edgecache.ini',
	'etc/edgecache/zones/example.ini': 'dist/zones/example.ini',
	'lib/systemd/system/edgecache.service': 'dist/edgecache.service',
	'etc/logrotate.d/edgecache': 'dist/edgecache.logrotate',
	'usr/share/edgecache/prometheus/edgecache.rules.yml': 'dist/prometheus/edgecache.rules.yml',
	'usr/share/edgecache/grafana/edgecache.json': 'dist/grafana/edgecache.json',
	'usr/share/man/man8/edgecache.8.gz': 'dist/edgecache.8',
}
# the machine's state the install must not touch
HOST_STATE = ['/etc/passwd', '/etc/group', '/etc/shadow', '/var/lib/dpkg/status']
HOST_DIRS = ['/var/lib/systemd/deb-systemd-helper-enabled', '/etc/systemd/system']


def run(cmd, **kw):
	return subprocess.run(cmd, capture_output=True, timeout=kw.pop('timeout', 60), **kw)


def digest(path):
	if os.path.isdir(path):
		return sorted(os.path.relpath(os.path.join(d, f), path)
			      for d, _, fs in os.walk(path) for f in fs)
	if not os.path.exists(path):
		return None
	return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def fresh(ck, deb):
	x = et.tmpdir('debx')
	r = run(['dpkg-deb', '-x', deb, x])
	ck.check('dpkg-deb -x', r.returncode == 0, r.stderr)
	stale = []
	for inpkg, intree in SHIPPED.items():
		p = os.path.join(x, inpkg)
		data = open(p, 'rb').read() if os.path.exists(p) else None
		if data is not None and p.endswith('.gz'):
			data = gzip.decompress(data)
		if data != open(os.path.join(SRC, intree), 'rb').read():
			stale.append(inpkg)
	h_pkg = run([os.path.join(x, 'usr/sbin/edgecache'), '-h']).stdout
	h_bin = run([BIN, '-h']).stdout
	if h_pkg != h_bin:
		stale.append('usr/sbin/edgecache -h')
	ck.check('the package is the tree\'s (dist/ files, the binary\'s -h)', not stale,
		 'stale: run scripts/build-deb (%s)' % ', '.join(stale))
	ldd = run(['ldd', os.path.join(x, 'usr/sbin/edgecache')]).stdout.decode()
	info = run(['dpkg-deb', '-f', deb, 'Built-Using', 'Depends']).stdout.decode()
	ck.check('wolfSSL linked statically: no libwolfssl in ldd or Depends, Built-Using: wolfssl (= …)',
		 'wolfssl' not in ldd and 'wolfssl (= ' in info.split('Depends:')[0] and
		 'wolfssl' not in info.split('Depends:')[1], info)
	ck.check('liburing linked statically: no liburing in ldd or Depends, Built-Using: liburing (= …)',
		 'liburing' not in ldd and 'liburing (= ' in info.split('Depends:')[0] and
		 'liburing' not in info.split('Depends:')[1], info)


def lintian(ck, deb):
	if not shutil.which('lintian'):
		ck.skip('lintian', 'lintian is not installed (scripts/setup installs it)')
		return
	r = run(['lintian', '--no-tag-display-limit', deb], timeout=120)
	out = r.stdout.decode(errors='replace')
	errors = [ln for ln in out.splitlines() if ln.startswith('E:')]
	ck.check('lintian: no error (%d warning(s))' % sum(ln.startswith('W:') for ln in
							  out.splitlines()), not errors, errors)


def make_root():
	"""An empty dpkg database and a copy of the user database."""
	root = et.tmpdir('dpkgroot')
	for d in ('var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc',
		  'var/log', 'usr/sbin'):
		os.makedirs(os.path.join(root, d), exist_ok=True)
	open(os.path.join(root, 'var/lib/dpkg/status'), 'w').close()
	for f in ('passwd', 'group', 'shadow', 'gshadow', 'login.defs'):
		if os.path.exists('/etc/' + f):
			shutil.copy2('/etc/' + f, os.path.join(root, 'etc', f))
	return root


def dpkg(root, *args):
	return run(['dpkg', '--root=' + root, '--log=' + os.path.join(root, 'dpkg.log'),
		    '--force-script-chrootless', '--force-depends', '--force-not-root'] + list(args),
		   timeout=120)


def entry(root, db, name):
	for ln in open(os.path.join(root, 'etc', db)):
		f = ln.rstrip('\n').split(':')
		if f[0] == name:
			return f
	return None


def install_remove(ck, deb):
	before = {p: digest(p) for p in HOST_STATE + HOST_DIRS}
	root = make_root()
	r = dpkg(root, '-i', deb)
	ck.check('dpkg --root -i: exit 0', r.returncode == 0, (r.stdout + r.stderr)[-600:])
	missing = [p for p in list(SHIPPED) + ['usr/sbin/edgecache']
		   if not os.path.exists(os.path.join(root, p))]
	ck.check('every file in place', not missing, missing)
	pw = entry(root, 'passwd', 'edgecache')
	gr = entry(root, 'group', 'edgecache')
	ck.check('postinst: system user edgecache (uid < 1000, nologin) in the throwaway root',
		 pw is not None and int(pw[2]) < 1000 and pw[6].endswith('nologin') and gr is not None,
		 pw)
	if pw:
		uid, gid = int(pw[2]), int(pw[3])
		adm = entry(root, 'group', 'adm')
		want = {'var/cache/edgecache': (uid, gid, 0o750), 'etc/edgecache/zones': (uid, gid, 0o750),
			'var/log/edgecache': (0, int(adm[2]) if adm else 0, 0o755)}
		got = {}
		for p in want:
			st = os.stat(os.path.join(root, p))
			got[p] = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
		ck.check('the cache and zone directories the user\'s (0750), the logs\' root:adm (0755)',
			 got == want, (got, want))
	st = run(['dpkg-query', '--admindir=' + os.path.join(root, 'var/lib/dpkg'), '-W',
		  '-f=${Status}', 'edgecache']).stdout
	ck.check('dpkg: install ok installed', st == b'install ok installed', st)
	zones = os.path.join(root, 'etc/edgecache/zones')
	if pw:
		# the admin's own mode for the zones directory survives a configure
		r = run(['dpkg-statoverride', '--root=' + root, '--add', '#%d' % uid, '#%d' % gid,
			 '0700', '/etc/edgecache/zones'])
		os.chmod(zones, 0o700)
		r2 = dpkg(root, '-i', deb)
		mode = os.stat(zones).st_mode & 0o7777
		ck.check('dpkg-statoverride on the zones directory: a reinstall keeps its 0700',
			 r.returncode == 0 and r2.returncode == 0 and mode == 0o700,
			 (mode, r.stderr[-200:], r2.stderr[-200:]))
	# what the admin API leaves there: a zone file and an S3 secret
	for f in ('api.ini', '.secret-6f1c2b9e-0000-4000-8000-000000000001-1'):
		with open(os.path.join(zones, f), 'w') as fh:
			fh.write('x\n')
	r = dpkg(root, '-r', 'edgecache')
	ck.check('remove: exit 0, the binary gone, the conffiles kept',
		 r.returncode == 0 and not os.path.exists(os.path.join(root, 'usr/sbin/edgecache')) and
		 os.path.exists(os.path.join(root, 'etc/edgecache/edgecache.ini')),
		 (r.stdout + r.stderr)[-400:])
	r = dpkg(root, '-P', 'edgecache')
	left = [p for p in ('etc/edgecache/edgecache.ini', 'etc/logrotate.d/edgecache',
			    'var/cache/edgecache', 'var/log/edgecache', 'etc/edgecache/zones')
		if os.path.exists(os.path.join(root, p))]
	ck.check('purge: exit 0, the conffiles, the cache, the logs and the zones directory '
		 '(the admin API\'s zone files and .secret-* files) gone',
		 r.returncode == 0 and not left, (left, (r.stdout + r.stderr)[-400:]))
	after = {p: digest(p) for p in HOST_STATE + HOST_DIRS}
	changed = [p for p in before if before[p] != after[p]]
	ck.check('this machine\'s users, dpkg database and systemd state untouched', not changed,
		 changed)


def maintainer_scripts(ck, deb):
	"""The unit is not enabled at install, but an upgrade restarts it and a
	remove stops it (deb-systemd-invoke starts no disabled unit)."""
	x = et.tmpdir('debctl')
	r = run(['dpkg-deb', '-e', deb, x])
	ck.check('dpkg-deb -e', r.returncode == 0, r.stderr)

	def read(name):
		p = os.path.join(x, name)
		return open(p).read() if os.path.exists(p) else ''
	post, pre, prerm = read('postinst'), read('preinst'), read('prerm')
	# debhelper's enable snippet says "was-enabled defaults to true, so new
	# installations run enable"; with --no-enable it only keeps an admin's
	# enablement across upgrades
	ck.check('postinst: deb-systemd-invoke restart (upgrade) / start of edgecache.service, '
		 'does not enable it at install',
		 "deb-systemd-invoke $_dh_action 'edgecache.service'" in post and
		 '_dh_action=restart' in post and 'was-enabled defaults to true' not in post,
		 post[-600:])
	ck.check('prerm: deb-systemd-invoke stop edgecache.service (remove stops it)',
		 "deb-systemd-invoke stop 'edgecache.service'" in prerm, prerm[-400:])
	ck.check('preinst: does not stop it on upgrade (the restart comes after the unpack)',
		 'deb-systemd-invoke stop' not in pre, pre[-400:])


def main():
	debs = sorted(glob.glob(os.path.join(SRC, 'build-deb', 'edgecache_*_amd64.deb')))
	if not debs and os.environ.get('EDGECACHE_DEB_BUILT'):
		# scripts/test built it: a missing package is a failure, not a skip
		print('FAIL scripts/test built the package, but build-deb/ has none')
		sys.exit(1)
	if not debs:
		et.skip('no package in build-deb/: run scripts/build-deb first (2-3 min)')
	if os.geteuid() != 0:
		et.skip('needs root: dpkg --root with chrootless maintainer scripts')
	ck = et.Checks()
	ck.run('fresh', fresh, ck, debs[-1])
	ck.run('lintian', lintian, ck, debs[-1])
	ck.run('maintainer scripts', maintainer_scripts, ck, debs[-1])
	ck.run('install and remove', install_remove, ck, debs[-1])
	ck.finish()


if __name__ == '__main__':
	main()
