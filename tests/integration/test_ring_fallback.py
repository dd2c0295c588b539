#!/usr/bin/python3
"""io_uring features detected at start (core/ring.h), each forced off in
turn with EDGECACHE_TEST_RING_DISABLE, so that the fallbacks a kernel
without them (6.0, the minimum) takes run here too: the start-up log says once
what is used and what is not and why; traffic then goes through the
fallback (shard 0's ring flags and store buffers say so) — a miss, disk hits (RAM tier off: store reads, registered
buffers or plain), a 300 KB hit (zero-copy send above send_zerocopy_bytes,
or a copy), pipelined keep-alive requests and 8 connections at once, every
body byte-exact; the zero-copy counter says which send path ran. An
unknown feature name is refused at start with a clear error."""
import concurrent.futures
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

FEATS = ['single_issuer', 'defer_taskrun', 'send_zc', 'fixed_bufs']
ENV = 'EDGECACHE_TEST_RING_DISABLE'
FRESH = '/cc/max-age=3600/'


def start(zones, cache_dir, tag, disable):
	if disable:
		os.environ[ENV] = disable
	else:
		os.environ.pop(ENV, None)
	try:
		return et.Edgecache(zones, workers=2, send_zerocopy_bytes='64k',
				    cache={'path': os.path.join(cache_dir, tag + '.dat'), 'size': '64m',
					   'memory': 0}).start()
	finally:
		os.environ.pop(ENV, None)


def used_line(srv):
	for ln in open(srv.error_log, errors='replace'):
		if 'io_uring: using ' in ln:
			return ln.split('io_uring: using ', 1)[1].strip()
	return None


def shard_ring(ck, tag, log, off):
	"""What shard 0 set up: its ring's flags (core/loop.c) and its store
	buffers (edge/shard.c), each the fallback where the feature is off."""
	want = 'SINGLE_ISSUER|DEFER_TASKRUN'
	if 'single_issuer' in off:
		want = 'plain'
	elif 'defer_taskrun' in off:
		want = 'SINGLE_ISSUER|COOP_TASKRUN'
	lines = [ln.split('io_uring: ', 1)[1].strip() for ln in log.splitlines()
		 if 'io_uring: ' in ln and ' entries' in ln]
	ck.check('%s: shard 0\'s ring is %s' % (tag, want),
		 len(lines) == 1 and lines[0].startswith(want + ', '), str(lines))
	reg = log.count('io_uring: store buffers registered: ')
	unreg = log.count('io_uring: store buffers not registered (')
	if 'fixed_bufs' in off:
		ck.check('%s: store buffers not registered, plain reads' % tag,
			 reg == 0 and unreg == 0, 'registered %d, refused %d' % (reg, unreg))
	else:
		# a registration the kernel refuses (RLIMIT_MEMLOCK) is logged instead
		ck.check('%s: store buffers registered (or said why not) once' % tag,
			 reg + unreg == 1, 'registered %d, refused %d' % (reg, unreg))


def traffic(ck, srv, tag):
	"""A miss, its hits from disk, a big hit, pipelined and concurrent hits."""
	small, big = FRESH + '3000', FRESH + '300000'
	want_s, want_b = et.det_bytes('pyorigin', 3000), et.det_bytes('pyorigin', 300000)
	fills0 = srv.counters().get('cache_fills', 0)
	r = [et.request(srv.port, 'GET', p) for p in (small, big)]
	ck.check('%s: misses byte-exact' % tag, all(x.status == 200 for x in r) and
		 r[0].body == want_s and r[1].body == want_b, repr(r))
	deadline = time.monotonic() + 5
	while srv.counters().get('cache_fills', 0) < fills0 + 2 and time.monotonic() < deadline:
		time.sleep(0.02)
	r = [et.request(srv.port, 'GET', p) for p in (small, big)]
	ck.check('%s: disk HITs byte-exact (small, 300 KB)' % tag,
		 all(x.status == 200 and x.header('x-cache') == 'HIT' for x in r) and
		 r[0].body == want_s and r[1].body == want_b, repr(r))
	c = srv.conn()
	try:
		c.send(et.build('GET', small) * 5 + et.build('GET', big))
		rs = [c.read_response() for _ in range(6)]
	finally:
		c.close()
	ck.check('%s: 6 pipelined HITs on one connection byte-exact' % tag,
		 all(x.status == 200 for x in rs) and all(x.body == want_s for x in rs[:5]) and
		 rs[5].body == want_b, str([x.status for x in rs]))
	def one(i):
		try:
			x = et.request(srv.port, 'GET', big if i % 2 else small)
			return x.status == 200 and x.body == (want_b if i % 2 else want_s)
		except Exception as e:  # noqa: BLE001 — reported as a failed check
			return repr(e)
	with concurrent.futures.ThreadPoolExecutor(8) as pool:
		out = list(pool.map(one, range(8), timeout=30))
	ck.check('%s: 8 connections at once, byte-exact' % tag, out == [True] * 8, str(out))
	c = srv.counters()
	ck.check('%s: no read error, no refused zero-copy send' % tag,
		 c.get('cache_read_errors', 0) == 0 and c.get('send_zc_fallbacks', 0) == 0, str(c))
	return c


def case(ck, zones, cache_dir, disable):
	tag = disable or 'none off'
	srv = start(zones, cache_dir, (disable or 'none').replace(',', '-'), disable)
	try:
		used = used_line(srv)
		ck.check('%s: the start-up log says what is used' % tag, used is not None,
			 open(srv.error_log).read()[-600:])
		used = used or ''
		log = open(srv.error_log, errors='replace').read()
		off = FEATS if disable == 'all' else [f for f in (disable or '').split(',') if f]
		if 'single_issuer' in off:
			off = off + ['defer_taskrun']
		for f in off:
			ck.check('%s: %s not used, logged once as turned off' % (tag, f),
				 f not in used.split(', ') and
				 log.count('io_uring: %s turned off by %s' % (f, ENV)) == 1, used)
		lacking = [f for f in FEATS if f not in used.split(', ') and f not in off]
		if not disable:
			if lacking:
				ck.skip('none off: every feature used', 'this kernel lacks %s' % lacking)
			else:
				ck.check('none off: every feature used, nothing logged as off',
					 'turned off by' not in log, used)
		c = traffic(ck, srv, tag)
		# the shards' start-up lines reach the log through their log rings,
		# drained by the control thread: wait (bounded) for shard 0's
		deadline = time.monotonic() + 5
		log = open(srv.error_log, errors='replace').read()
		while ' entries' not in log and time.monotonic() < deadline:
			time.sleep(0.05)
			log = open(srv.error_log, errors='replace').read()
		if lacking:
			ck.skip('%s: shard 0\'s ring' % tag, 'this kernel lacks %s' % lacking)
		else:
			shard_ring(ck, tag, log, off)
		zc = c.get('send_zc', 0)
		if 'send_zc' in off:
			ck.check('%s: every send a copy (send_zc 0)' % tag, zc == 0, str(zc))
		elif 'send_zc' in used.split(', '):
			ck.check('%s: the big hits went zero-copy (send_zc %d)' % (tag, zc), zc >= 1)
	finally:
		rc = srv.stop()
	ck.check('%s: exits 0' % tag, rc == 0, 'exit %s' % rc)


def bad_name(ck, zones, cache_dir):
	srv = et.Edgecache(zones, workers=1)
	env = dict(os.environ, **{ENV: 'send_zc,bogus'})
	r = subprocess.run([srv.bin, '-c', srv.main], capture_output=True, text=True,
			   timeout=20, env=env)
	ck.check('an unknown feature name: exit 1, says which and the valid names',
		 r.returncode == 1 and '"bogus" is none of single_issuer' in r.stderr,
		 'exit %d: %r' % (r.returncode, r.stderr[-400:]))


def main():
	py = et.PyOrigin()
	cache_dir = et.tmpdir('ringcache')
	zones = [et.zone('c', ['*'], [('o', py.url, {})], default_ttl=0)]
	ck = et.Checks()
	for disable in ('', 'single_issuer', 'defer_taskrun', 'send_zc', 'fixed_bufs', 'all'):
		ck.run('case ' + (disable or 'none'), case, ck, zones, cache_dir, disable)
	ck.run('bad_name', bad_name, ck, zones, cache_dir)
	py.stop()
	ck.finish()


if __name__ == '__main__':
	main()
