#!/usr/bin/python3
"""scripts/debsrc.sh's choice of prefix (what scripts/build-wolfssl and
scripts/build-liburing print), with a stub apt-get on PATH that logs its
arguments and plays a suite, and a stub build function: no network, no
real build, EDGECACHE_OPT a temporary directory.

Checks: a pinned revision the suite carries is built into
NAME-<pin>-HASH with the private apt configuration hardened (no insecure
or unauthenticated source) and trixie plus trixie-security in its source
list; that prefix is then reused without calling apt at all; a pin the
suite no longer carries, where it has a newer revision of the same
upstream version, builds that revision into NAME-<newer>-HASH (never the
pin's name), says so on stderr, and BUILD-INFO names it; that prefix is
then reused without a download; another upstream version, or an older
revision, fails saying to pin the suite's current version."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

# apt-get as the suite $STUB_SUITE (space-separated revisions of "demo")
# would answer: every call logged to $STUB_LOG, the source list with it
STUB = r'''#!/bin/bash
echo "apt-get $*" >>"$STUB_LOG"
parts=
for a in "$@"; do case $a in Dir::Etc::SourceParts=*) parts=${a#*=} ;; esac; done
[ -z "$parts" ] || cat "$parts"/*.sources >>"$STUB_LOG"
want=; uris=
for a in "$@"; do
	case $a in demo=*) want=${a#demo=} ;; demo) want=any ;; --print-uris) uris=1 ;; esac
done
case " $* " in *" update "*) exit 0 ;; esac
newest=$(printf '%s\n' $STUB_SUITE | sort -V | tail -n 1)
if [ "$want" = any ]; then
	echo "'http://stub/demo_$newest.dsc' demo_$newest.dsc 1 SHA256:00"
	exit 0
fi
case " $STUB_SUITE " in *" $want "*) ;; *) echo "E: Can not find version '$want' of package 'demo'" >&2; exit 100 ;; esac
[ -n "$uris" ] || mkdir -p "demo-${want%-*}"
'''

DRIVER = r'''set -euo pipefail
. "$1/scripts/debsrc.sh"
build_info() { echo "stub:     yes"; }
build() {
	[ -d "$(find "$1" -maxdepth 1 -type d -name 'demo-*' | head -n 1)" ] || return 1
	mkdir -p "$1/stage$3" && echo "$2" >"$1/stage$3/REVISION"
}
debsrc_prefix demo "$2" h4sh build
'''


def main():
	d = et.tmpdir('debsrc')
	bindir, opt = os.path.join(d, 'bin'), os.path.join(d, 'opt')
	os.makedirs(bindir)
	with open(os.path.join(bindir, 'apt-get'), 'w') as f:
		f.write(STUB)
	os.chmod(os.path.join(bindir, 'apt-get'), 0o755)
	driver = os.path.join(d, 'driver.sh')
	with open(driver, 'w') as f:
		f.write(DRIVER)
	log = os.path.join(d, 'apt.log')
	ck = et.Checks()

	def run(pin, suite):
		open(log, 'w').close()
		env = dict(os.environ, PATH=bindir + ':' + os.environ['PATH'], EDGECACHE_OPT=opt,
			   STUB_LOG=log, STUB_SUITE=suite, TMPDIR=d)
		r = subprocess.run(['bash', driver, SRC, pin], capture_output=True, text=True,
				   timeout=60, env=env)
		return r, open(log).read()

	def revision(prefix):
		try:
			return open(os.path.join(prefix, 'REVISION')).read().strip()
		except OSError:
			return None

	pinned = os.path.join(opt, 'demo-1.0-1+u1-h4sh')
	r, apt = run('1.0-1+u1', '1.0-1+u1')
	ck.check('the pin the suite carries: built into NAME-<pin>-HASH',
		 r.returncode == 0 and r.stdout.strip() == pinned and revision(pinned) == '1.0-1+u1',
		 'exit %d, %r, %r' % (r.returncode, r.stdout, r.stderr[-400:]))
	ck.check('apt refuses insecure, downgraded and unauthenticated sources',
		 all(o in apt for o in ('Acquire::AllowInsecureRepositories=false',
					'Acquire::AllowDowngradeToInsecureRepositories=false',
					'APT::Get::AllowUnauthenticated=false')), apt[:600])
	ck.check('the source list has trixie and trixie-security, signed by the archive keyring',
		 'Suites: trixie\n' in apt and 'Suites: trixie-security\n' in apt and
		 'deb.debian.org/debian-security' in apt and
		 apt.count('Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg') >= 2, apt[:800])
	r, apt = run('1.0-1+u1', '')
	ck.check('the pinned prefix reused: no apt call at all',
		 r.returncode == 0 and r.stdout.strip() == pinned and apt == '',
		 'exit %d, %r, apt: %r' % (r.returncode, r.stdout, apt[:300]))

	newer = os.path.join(opt, 'demo-2.5-3+u4-h4sh')
	r, apt = run('2.5-3+u2', '2.5-3+u4')
	ck.check('a superseded pin: the newer revision built into a prefix of its own name',
		 r.returncode == 0 and r.stdout.strip() == newer and revision(newer) == '2.5-3+u4' and
		 not os.path.exists(os.path.join(opt, 'demo-2.5-3+u2-h4sh')),
		 'exit %d, %r, %r' % (r.returncode, r.stdout, r.stderr[-400:]))
	ck.check('... said on stderr, and BUILD-INFO names the revision built',
		 'not the pinned 2.5-3+u2: using 2.5-3+u4' in r.stderr and
		 'source:   demo 2.5-3+u4 ' in open(os.path.join(newer, 'BUILD-INFO')).read()
		 if os.path.exists(os.path.join(newer, 'BUILD-INFO')) else False, r.stderr[-400:])
	r, apt = run('2.5-3+u2', '2.5-3+u4')
	ck.check('that prefix reused: no download, no build',
		 r.returncode == 0 and r.stdout.strip() == newer and
		 'source -qq demo=' not in apt and 'building' not in r.stderr,
		 'exit %d, %r, apt: %r' % (r.returncode, r.stderr[-300:], apt[-300:]))
	for suite, what in (('3.0-1', 'another upstream version'), ('4.0-1', 'an older revision')):
		pin = '4.0-2' if suite == '4.0-1' else '2.9-1'
		r, apt = run(pin, suite)
		ck.check('%s in the suite: exit 1, says to pin the current version' % what,
			 r.returncode == 1 and r.stdout == '' and
			 "pin the suite's current version" in r.stderr,
			 'exit %d, %r' % (r.returncode, r.stderr[-400:]))
	ck.finish()


if __name__ == '__main__':
	main()
