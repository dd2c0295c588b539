#!/usr/bin/python3
"""Vary variants and stale-while-revalidate's background refresh, through
the real binary (2 shards, one cache file), the origin's access log
counting what reached it (tests/lib/pyorigin.py /vary, /ccslow, /ccfail).

Vary: gzip and identity variants of one URL stored side by side, each
served to the requests that select it (whitespace around commas
normalized), one origin request per variant; a changed Vary list makes the
old variants unreachable; Vary: * is never served from cache; the
variants per URL are bounded (LIMIT_VARY_VARIANTS, counted); an unsafe
method drops every variant; concurrent misses of two variants each get
their own bytes. stale-while-revalidate: the stale copy is served at once
while one background conditional request refreshes the entry (304), after
which a GET is a HIT; a refresh that gets a 200 replaces the object; a
stale variant is refreshed under its own key; a refresh that fails (503)
keeps the stale copy and is counted; SIGTERM with a refresh in flight
still exits 0."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

LIMIT_VARY_VARIANTS = 16        # core/limits.h


def get(srv, path, headers=(), method='GET'):
	return et.request(srv.port, method, path, headers=list(headers))


def origin_log(py, prefix):
	"""(target, status) of the origin requests whose target starts with prefix."""
	time.sleep(0.05)
	return [(ln[2], ln[3]) for ln in py.log() if ln[2].startswith(prefix)]


def counter(srv, name):
	return srv.counters().get(name, 0)


def wait_counter(srv, name, at_least, timeout=5.0):
	"""Store writes land after the response: wait on the counter."""
	deadline = time.monotonic() + timeout
	while counter(srv, name) < at_least and time.monotonic() < deadline:
		time.sleep(0.02)
	return counter(srv, name)


def stored_then_stale(srv, path, stale_after_s, fills=1, headers=()):
	"""GET path (a MISS that stores `fills` entries), wait for the writes
	to land, then until the entry is stale; returns cache_fills then."""
	f0 = counter(srv, 'cache_fills')
	get(srv, path, headers)
	wait_counter(srv, 'cache_fills', f0 + fills)
	time.sleep(stale_after_s)
	return counter(srv, 'cache_fills')


def vbody(values, n):
	return et.det_bytes('pyorigin-vary|' + values, n)


def accept_encoding(ck, srv, py):
	path = '/vary/Accept-Encoding/max-age=3600/3000'
	gz, ident = [('Accept-Encoding', 'gzip, deflate')], [('Accept-Encoding', 'identity')]
	f0 = counter(srv, 'cache_fills')
	r = get(srv, path, gz)
	ck.check('gzip: first GET is a MISS with the gzip variant', r.status == 200 and
		 r.header('x-cache') == 'MISS' and r.body == vbody('gzip, deflate', 3000) and
		 r.header('content-encoding') == 'gzip', repr(r))
	# The marker and the variant: two store writes.
	wait_counter(srv, 'cache_fills', f0 + 2)
	r = get(srv, path, ident)
	ck.check('identity: a MISS (another variant), its own bytes', r.status == 200 and
		 r.header('x-cache') == 'MISS' and r.body == vbody('identity', 3000) and
		 r.header('content-encoding') is None, repr(r))
	wait_counter(srv, 'cache_fills', f0 + 4)
	for i in range(6):
		r = get(srv, path, gz if i % 2 == 0 else ident)
		want = vbody('gzip, deflate' if i % 2 == 0 else 'identity', 3000)
		ck.check('GET %d (%s): a HIT with its variant' % (i, 'gzip' if i % 2 == 0 else
								 'identity'),
			 r.header('x-cache') == 'HIT' and r.body == want, repr(r))
	# Lines combined and whitespace around commas dropped: the same variant.
	r = get(srv, path, [('Accept-Encoding', 'gzip ,deflate')])
	ck.check('"gzip ,deflate" is the "gzip, deflate" variant (a HIT)',
		 r.header('x-cache') == 'HIT' and r.body == vbody('gzip, deflate', 3000), repr(r))
	r = get(srv, path, [('Accept-Encoding', 'gzip'), ('Accept-Encoding', 'deflate')])
	ck.check('two lines "gzip" + "deflate" are that variant too (a HIT)',
		 r.header('x-cache') == 'HIT' and r.body == vbody('gzip, deflate', 3000), repr(r))
	r = get(srv, path, [('Accept-Encoding', 'deflate, gzip')])
	ck.check('"deflate, gzip" (another order) is another variant (a MISS)',
		 r.header('x-cache') == 'MISS', repr(r))
	r = get(srv, path)
	ck.check('no Accept-Encoding: another variant (a MISS)', r.header('x-cache') == 'MISS' and
		 r.body == vbody('-', 3000), repr(r))
	log = origin_log(py, path)
	per = {}
	for target, _ in log:
		per[target] = per.get(target, 0) + 1
	ck.check('one origin request per variant (%s)' % per,
		 sorted(per.values()) == [1, 1, 1, 1] and len(per) == 4)
	r = get(srv, path, gz + [('If-None-Match', r.header('etag') or '')])
	ck.check('If-None-Match of another variant: 200 with the gzip variant', r.status == 200
		 and r.body == vbody('gzip, deflate', 3000), repr(r))
	r = get(srv, path, gz, method='HEAD')
	ck.check('HEAD finds the variant', r.status == 200 and r.header('x-cache') == 'HIT' and
		 r.header('content-encoding') == 'gzip', repr(r))
	# An unsafe method drops the marker: every variant is fetched again.
	r = et.request(srv.port, 'POST', path, body=b'x')
	ck.check('POST passes through', r.status == 200, repr(r))
	for name, h in (('gzip', gz), ('identity', ident)):
		r = get(srv, path, h)
		ck.check('after the POST, %s is fetched again (a MISS)' % name,
			 r.header('x-cache') == 'MISS', repr(r))


def vary_change(ck, srv, py):
	"""The origin's Vary for a URL changes from Accept-Encoding to X-Lang:
	the Accept-Encoding variants are never served for the new list."""
	path = '/vary/-/max-age=3600/3100'
	ae = [('X-Set-Vary', 'Accept-Encoding'), ('Accept-Encoding', 'gzip')]
	f0 = counter(srv, 'cache_fills')
	get(srv, path, ae)
	wait_counter(srv, 'cache_fills', f0 + 2)
	r = get(srv, path, ae + [('X-Lang', 'fr')])
	ck.check('Vary: Accept-Encoding, gzip: a HIT whatever X-Lang says',
		 r.header('x-cache') == 'HIT' and r.body == vbody('gzip', 3100), repr(r))
	f0 = counter(srv, 'cache_fills')
	r = get(srv, path, [('X-Set-Vary', 'X-Lang'), ('Accept-Encoding', 'identity'),
			    ('X-Lang', 'en')])
	ck.check('identity (a MISS): the origin now says Vary: X-Lang',
		 r.header('x-cache') == 'MISS' and r.header('vary') == 'X-Lang', repr(r))
	wait_counter(srv, 'cache_fills', f0 + 2)
	r = get(srv, path, [('Accept-Encoding', 'gzip'), ('X-Lang', 'en')])
	ck.check('X-Lang: en is served from the new list (a HIT, the en variant)',
		 r.header('x-cache') == 'HIT' and r.body == vbody('en', 3100), repr(r))
	n = len(origin_log(py, path))
	r = get(srv, path, [('Accept-Encoding', 'gzip'), ('X-Lang', 'fr'),
			    ('X-Set-Vary', 'X-Lang')])
	ck.check('gzip + X-Lang: fr is a MISS: the old gzip variant is not served',
		 r.header('x-cache') == 'MISS' and r.body == vbody('fr', 3100) and
		 len(origin_log(py, path)) == n + 1, repr(r))


def vary_star(ck, srv, py):
	path = '/vary/*/max-age=3600/3200'
	r1 = get(srv, path)
	time.sleep(0.2)
	r2 = get(srv, path)
	ck.check('Vary: * is never served from cache (two MISSes, two origin requests)',
		 r1.header('x-cache') == 'MISS' and r2.header('x-cache') == 'MISS' and
		 len(origin_log(py, path)) == 2, '%r %r' % (r1, r2))


def variant_bound(ck, srv, py):
	path = '/vary/X-V/max-age=3600/3300'
	f0 = counter(srv, 'cache_fills')
	refused0 = counter(srv, 'cache_vary_refused')
	for i in range(LIMIT_VARY_VARIANTS):
		get(srv, path, [('X-V', str(i))])
		# Each new variant rewrites the marker: wait for both writes, so
		# the next miss reads the marker that lists this one.
		wait_counter(srv, 'cache_fills', f0 + 2 * (i + 1))
	hits = [get(srv, path, [('X-V', str(i))]).header('x-cache')
		for i in range(LIMIT_VARY_VARIANTS)]
	ck.check('%d variants stored: each a HIT' % LIMIT_VARY_VARIANTS,
		 hits == ['HIT'] * LIMIT_VARY_VARIANTS, str(hits))
	over = str(LIMIT_VARY_VARIANTS)
	r1 = get(srv, path, [('X-V', over)])
	time.sleep(0.3)
	r2 = get(srv, path, [('X-V', over)])
	ck.check('variant %d (one past the limit) is not stored: MISS twice' %
		 (LIMIT_VARY_VARIANTS + 1), r1.header('x-cache') == 'MISS' and
		 r2.header('x-cache') == 'MISS' and r2.body == vbody(over, 3300),
		 '%r %r' % (r1, r2))
	ck.check('refusals counted (cache_vary_refused)',
		 counter(srv, 'cache_vary_refused') >= refused0 + 2,
		 str(counter(srv, 'cache_vary_refused')))
	r = get(srv, path, [('X-V', '0')])
	ck.check('the stored variants are still HITs', r.header('x-cache') == 'HIT', repr(r))


def vary_collapsing(ck, srv, py):
	"""Concurrent misses of a new Vary URL, two variants: each request gets
	its own variant's bytes (a follower of the other variant is never
	handed the leader's response)."""
	path = '/vary/Accept-Encoding/max-age=3600/3400'
	results = [None] * 20

	def one(i):
		ae = 'gzip' if i % 2 == 0 else 'identity'
		try:
			results[i] = (ae, et.request(srv.port, 'GET', path,
						     headers=[('Accept-Encoding', ae)], timeout=30))
		except Exception as e:            # noqa: BLE001 — reported below
			results[i] = (ae, e)
	threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(40)
	bad = [(ae, r) for ae, r in results if isinstance(r, Exception) or r.status != 200 or
	       r.body != vbody(ae, 3400)]
	ck.check('20 concurrent misses of 2 variants: every body is its variant',
		 not bad, repr(bad[:3]))
	n = len(origin_log(py, path))
	print('vary collapsing: %d origin requests for 20 visitors of 2 variants, '
	      'cache_vary_unshared %d' % (n, counter(srv, 'cache_vary_unshared')), flush=True)
	ck.check('fewer origin requests than visitors (%d)' % n, 2 <= n < 20, str(n))


def swr_refresh(ck, srv, py):
	# The origin takes 1 s to answer, so a visitor that waited for the
	# refresh would be seen waiting.
	path = '/ccslow/1000/max-age=4,stale-while-revalidate=60/4000'
	opath = '/cc/max-age=4,stale-while-revalidate=60/4000'
	want = et.det_bytes('pyorigin', 4000)
	f1 = stored_then_stale(srv, path, 4.6)   # stale, inside the swr window
	s0 = counter(srv, 'cache_swr_refreshes')
	t0 = time.monotonic()
	r = get(srv, path)
	dt = time.monotonic() - t0
	ck.check('stale inside stale-while-revalidate: served UPDATING at once (%.3f s)' % dt,
		 r.status == 200 and r.header('x-cache') == 'UPDATING' and r.body == want and
		 dt < 0.5, repr(r))
	more = [get(srv, path).header('x-cache') for _ in range(5)]
	ck.check('more stale hits during the refresh are UPDATING too', more == ['UPDATING'] * 5,
		 str(more))
	ck.check('one background refresh started',
		 counter(srv, 'cache_swr_refreshes') == s0 + 1,
		 str(counter(srv, 'cache_swr_refreshes') - s0))
	wait_counter(srv, 'cache_fills', f1 + 1, timeout=8)
	log = origin_log(py, opath)
	ck.check('exactly one origin revalidation, answered 304 (%s)' % log,
		 [st for _, st in log] == [200, 304])
	# Age: the refresh's 1 s response delay (RFC 9111 4.2.3) plus the
	# time since; the old entry would be more than 4 s old.
	r = get(srv, path)
	ck.check('after the refresh: a HIT with the new freshness (Age %s)' % r.header('age'),
		 r.header('x-cache') == 'HIT' and r.body == want and
		 int(r.header('age') or 99) <= 2, repr(r))


def swr_replaced(ck, srv, py):
	"""The background refresh gets a 200 (the object changed): it
	replaces the stored one."""
	path = '/ccnew/max-age=2,stale-while-revalidate=60/4200'
	f1 = stored_then_stale(srv, path, 2.6)
	r = get(srv, path)
	ck.check('stale served, the old bytes', r.header('x-cache') == 'UPDATING' and
		 r.body == et.det_bytes('pyorigin', 4200), repr(r))
	wait_counter(srv, 'cache_fills', f1 + 1)
	r = get(srv, path)
	ck.check('after the refresh got a 200: a HIT with the new bytes and ETag',
		 r.header('x-cache') == 'HIT' and r.body == et.det_bytes('pyoriginnew', 4200)
		 and r.header('etag') == '"new-4200"', repr(r))


def swr_variant(ck, srv, py):
	"""A stale variant is refreshed under its own key; the other variant
	is left as it was."""
	path = '/vary/Accept-Encoding/max-age=2,stale-while-revalidate=60/4300'
	gz, ident = [('Accept-Encoding', 'gzip')], [('Accept-Encoding', 'identity')]
	f0 = counter(srv, 'cache_fills')
	get(srv, path, ident)
	wait_counter(srv, 'cache_fills', f0 + 2)
	f1 = stored_then_stale(srv, path, 2.6, fills=2, headers=gz)
	r = get(srv, path, gz)
	ck.check('stale gzip variant served UPDATING', r.header('x-cache') == 'UPDATING' and
		 r.body == vbody('gzip', 4300), repr(r))
	wait_counter(srv, 'cache_fills', f1 + 1)
	r = get(srv, path, gz)
	ck.check('refreshed gzip variant: a HIT, its own bytes', r.header('x-cache') == 'HIT' and
		 r.body == vbody('gzip', 4300), repr(r))
	log = origin_log(py, path)
	ck.check('the refresh asked for the gzip variant and got a 304 (%s)' % log,
		 log[-1:] == [(path + '#gzip', 304)])
	r = get(srv, path, ident)
	ck.check('the identity variant is still stale (its own entry)',
		 r.header('x-cache') == 'UPDATING' and r.body == vbody('identity', 4300), repr(r))


def swr_failed(ck, srv, py):
	path = '/ccfail/max-age=1,stale-while-revalidate=60/4100'
	want = et.det_bytes('pyorigin', 4100)
	stored_then_stale(srv, path, 1.6)
	fail0 = counter(srv, 'cache_swr_refresh_failed')
	r = get(srv, path)
	ck.check('stale served while the refresh runs', r.header('x-cache') == 'UPDATING' and
		 r.body == want, repr(r))
	got = wait_counter(srv, 'cache_swr_refresh_failed', fail0 + 1)
	ck.check('the refresh got a 503: counted (cache_swr_refresh_failed)', got == fail0 + 1,
		 str(got - fail0))
	r = get(srv, path)
	ck.check('the stale copy is kept and served again', r.header('x-cache') == 'UPDATING' and
		 r.body == want, repr(r))
	# pyorigin logs the first (unconditional) fetch under /cc/.
	statuses = [st for _, st in origin_log(py, path)]
	ck.check('each stale hit after a failed refresh starts one more; all got 503 (%s)' %
		 statuses, statuses == [503, 503])


def swr_in_flight_at_exit(ck, srv, py):
	"""Leave a background refresh in flight (a 1.5 s origin): the SIGTERM
	that ends the test must still give exit 0, the refresh's slot drained
	like any exchange."""
	path = '/ccslow/1500/max-age=1,stale-while-revalidate=60/4400'
	stored_then_stale(srv, path, 1.6)
	s0 = counter(srv, 'cache_swr_refreshes')
	r = get(srv, path)
	ck.check('stale served, a refresh in flight', r.header('x-cache') == 'UPDATING' and
		 counter(srv, 'cache_swr_refreshes') == s0 + 1, repr(r))


def main():
	py = et.PyOrigin()
	cache_dir = et.tmpdir('cachefile')
	zones = [et.zone('c', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, workers=2, cache={'path': os.path.join(cache_dir, 'c.dat'),
						   'size': '64m'}).start()
	ck = et.Checks()
	for group in (accept_encoding, vary_change, vary_star, variant_bound, vary_collapsing,
		      swr_refresh, swr_replaced, swr_variant, swr_failed, swr_in_flight_at_exit):
		ck.run(group.__name__, group, ck, srv, py)
	c = srv.counters()
	print('counters: ' + ', '.join('%s %d' % (k, v) for k, v in sorted(c.items())
				       if k.startswith('cache_') or k.startswith('collapsed')),
	      flush=True)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
