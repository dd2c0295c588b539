#!/usr/bin/python3
"""The HTTP cache-tests suite (npm http-cache-tests) against edgecache, via
bench/cache-tests in a private network namespace. Fails when edgecache
passes fewer required tests than tests/conformance/floor.txt says, when a
test got no result, or when edgecache did not exit cleanly (exit 0 on
SIGTERM, no sanitizer report). Skips (77) without unshare, ip, node, the
suite (scripts/setup installs it) or the right to make a namespace."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

PKG = os.environ.get('CACHE_TESTS_DIR',
		     '/opt/edgecache/npm/node_modules/http-cache-tests')
FLOOR_FILE = os.path.join(et.SRC, 'tests', 'conformance', 'floor.txt')
BENCH = os.path.join(et.SRC, 'bench', 'cache-tests')
SUITE_TIMEOUT = 150     # the suite takes 15-20 s here; meson's timeout is above


def read_floor(path):
	"""The first line that is not a comment: a count of required passes."""
	with open(path) as f:
		for ln in f:
			ln = ln.strip()
			if ln and not ln.startswith('#'):
				return int(ln)
	raise ValueError('%s holds no number' % path)


def preflight():
	for tool in ('unshare', 'ip', 'node', 'timeout'):
		if not shutil.which(tool):
			et.skip('%s is missing (scripts/setup installs it)' % tool)
	if not os.path.isfile(os.path.join(PKG, 'cli.mjs')):
		et.skip('http-cache-tests is not installed in %s (run scripts/setup)' % PKG)
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
	env = dict(os.environ, EDGECACHE_BIN=binary, CACHE_TESTS_DIR=PKG,
		   SUITE_TIMEOUT=str(SUITE_TIMEOUT))
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


def required_passed(out):
	try:
		with open(os.path.join(out, 'edgecache.counts.json')) as f:
			return json.load(f)['required'].get('pass', 0)
	except (OSError, ValueError, KeyError):
		return -1


def main():
	binary = preflight()
	floor = read_floor(FLOOR_FILE)
	# Some of the suite's tests depend on timing (its origin and client
	# sleep and compare clocks): on a loaded 2-core machine a run can
	# lose several. A run below the floor is repeated once; the better
	# run counts. A real regression fails both.
	for attempt in (1, 2):
		out = et.tmpdir('conformance')
		t0 = time.monotonic()
		rc = run_suite(binary, out)
		print('suite run %d in %.1fs' % (attempt, time.monotonic() - t0), flush=True)
		passed = required_passed(out)
		if rc == 0 and passed >= floor:
			break
		print('run %d: %s required passed (floor %d), exit %s' % (attempt, passed, floor, rc),
		      flush=True)
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
	passed = counts['required'].get('pass', 0)
	print('required tests passed: %d (floor %d); all counts: %s' %
	      (passed, floor, json.dumps(counts)), flush=True)
	with open(os.path.join(out, 'edgecache.failed-required.txt')) as f:
		print('failing required tests:\n' + f.read(), flush=True)
	c.check('required passes %d >= floor %d (%s)' % (passed, floor, FLOOR_FILE),
		passed >= floor)
	if passed > floor:
		print('NOTE: %d > floor %d: raise tests/conformance/floor.txt to %d' %
		      (passed, floor, passed), flush=True)
	c.finish()


if __name__ == '__main__':
	main()
