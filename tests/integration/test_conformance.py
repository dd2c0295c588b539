#!/usr/bin/python3
"""The HTTP cache-tests suite (vendored in tests/conformance/cache-tests,
git b55b8bd) against edgecache, via bench/cache-tests in a private network
namespace, counted by the suite's own test-engine/lib/results.mjs. One run,
no retry. Fails when edgecache passes fewer tests (required + optimal) or
fails more required tests than tests/conformance/floor.txt says, when a
test got no result, or when edgecache did not exit cleanly (exit 0 on
SIGTERM, no sanitizer report). Skips (77) without unshare, ip, node, the
suite's npm dependencies (scripts/setup installs them) or the right to make
a namespace."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

SUITE = os.path.join(et.SRC, 'tests', 'conformance', 'cache-tests')
DEPS = os.environ.get('CACHE_TESTS_DEPS', '/opt/edgecache/cache-tests/node_modules')
FLOOR_FILE = os.path.join(et.SRC, 'tests', 'conformance', 'floor.txt')
BENCH = os.path.join(et.SRC, 'bench', 'cache-tests')
SUITE_TIMEOUT = 150     # the suite takes about 60 s here; meson's timeout is above


def read_floor(path):
	"""{'passes': N, 'required_failures': M} from the lines that are not
	comments ("passes N", "required_failures M")."""
	out = {}
	with open(path) as f:
		for ln in f:
			ln = ln.strip()
			if ln and not ln.startswith('#'):
				k, v = ln.split()
				out[k] = int(v)
	if set(out) != {'passes', 'required_failures'}:
		raise ValueError('%s: want "passes N" and "required_failures M"' % path)
	return out


def preflight():
	for tool in ('unshare', 'ip', 'node', 'timeout'):
		if not shutil.which(tool):
			et.skip('%s is missing (scripts/setup installs it)' % tool)
	# The suite's lock file pins undici 7, which needs Node.js >= 20.18.1;
	# Debian 12's nodejs is 18 (npm ci only warns): on it the suite's
	# client would fail for the engine, not for the cache.
	v = subprocess.run(['node', '-p', 'process.versions.node'], capture_output=True,
			   text=True, timeout=10).stdout.strip()
	if tuple(int(x) for x in (v.split('.') + ['0', '0'])[:3] if x.isdigit()) < (20, 18, 1):
		et.skip('Node.js %s is older than 20.18.1, which the suite\'s undici 7 needs' %
			(v or '?'))
	if not os.path.isdir(os.path.join(DEPS, 'undici')):
		et.skip('the suite\'s npm dependencies are not in %s (run scripts/setup)' % DEPS)
	r = subprocess.run(['unshare', '-n', 'true'], capture_output=True, timeout=10)
	if r.returncode != 0:
		et.skip('cannot make a network namespace (unshare -n): %s' %
			r.stderr.decode(errors='replace').strip())
	binary = os.environ.get('EDGECACHE_BIN') or os.path.join(et.SRC, 'build', 'edgecache')
	if not os.access(binary, os.X_OK):
		et.skip('edgecache binary not found at %s (scripts/build release)' % binary)
	return binary


def run_suite(binary, out):
	"""bench/cache-tests --target edgecache; its exit code (stopped at exit)."""
	env = dict(os.environ, EDGECACHE_BIN=binary, CACHE_TESTS_DIR=SUITE, CACHE_TESTS_DEPS=DEPS,
		   SUITE_TIMEOUT=str(SUITE_TIMEOUT))
	env.pop('CACHE_TESTS_ZONE_KEYS', None)      # the zone as shipped
	log = os.path.join(out, 'bench.log')
	p = et.start_proc([BENCH, '--target', 'edgecache', '--out', out], log, env=env)
	try:
		rc = p.wait(SUITE_TIMEOUT + 30)
	except subprocess.TimeoutExpired:
		rc = 'timeout'
	finally:
		et.stop_proc(p, timeout=20)
	with open(log, errors='replace') as f:
		print(f.read(), flush=True)
	return rc


def main():
	binary = preflight()
	floor = read_floor(FLOOR_FILE)
	out = et.tmpdir('conformance')
	t0 = time.monotonic()
	rc = run_suite(binary, out)
	print('suite ran in %.1fs' % (time.monotonic() - t0), flush=True)
	c = et.Checks()
	c.check('bench/cache-tests exits 0 (suite ran, edgecache exit 0, no sanitizer report)',
		rc == 0, 'exit %s' % rc)
	try:
		with open(os.path.join(out, 'edgecache.counts.json')) as f:
			counts = json.load(f)
	except (OSError, ValueError) as e:
		c.check('the suite\'s results were counted', False, str(e))
		c.finish()
	untested = sum(counts[k].get('untested', 0) for k in ('required', 'optimal', 'check'))
	c.check('every test has a result', untested == 0 and counts['tests'] > 0,
		'%d of %d tests have none' % (untested, counts['tests']))
	passes, failures = counts['passes'], counts['required'].get('fail', 0)
	print('passes %d (floor %d), required failures %d (at most %d); all counts: %s' %
	      (passes, floor['passes'], failures, floor['required_failures'], json.dumps(counts)),
	      flush=True)
	with open(os.path.join(out, 'edgecache.failed-required.txt')) as f:
		print('failing required tests:\n' + f.read(), flush=True)
	c.check('passes %d >= floor %d (%s)' % (passes, floor['passes'], FLOOR_FILE),
		passes >= floor['passes'])
	c.check('required failures %d <= %d (%s)' % (failures, floor['required_failures'],
						    FLOOR_FILE),
		failures <= floor['required_failures'])
	if passes > floor['passes'] or failures < floor['required_failures']:
		print('NOTE: better than the floor: set tests/conformance/floor.txt to passes %d, '
		      'required_failures %d' % (passes, failures), flush=True)
	c.finish()


if __name__ == '__main__':
	main()
