#!/usr/bin/python3
"""A large object (kept as slices) that one request could not use stays
stored for the next (cache/slice.h slice_record_stale): a 3 MiB object is
filled by a plain GET; more than a second later a GET with
`Cache-Control: max-age=0, no-store` goes to the origin (its answer is not
stored: no-store); the next plain GET is a HIT, byte-exact, with no third
origin request. Before the fix an absent request Cache-Control was read as
max-age=0, so the record was dropped as "stale for every request" once
older than a second, and the third GET went to the origin again. (A record stale for every request is still dropped:
tests/unit/test_slice.c.) Then a GET with `Cache-Control: max-age=0` alone
is stored as a new version: the old version's chunks are dropped
(store_deleted), never left behind under a generation nothing reads."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetest as et  # noqa: E402
from test_cache_large import RangeOrigin, wait_fills, get, CHUNK, MiB  # noqa: E402

FILES = {'keep': 3 * MiB + 17}


def kept(ck, srv, org):
	want = et.det_bytes('keep', FILES['keep'])
	n0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/keep')
	ck.check('plain GET: 200 MISS, byte-exact',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'MISS', repr(r))
	nchunks = (FILES['keep'] + CHUNK - 1) // CHUNK
	got = wait_fills(srv, n0, 1 + nchunks)
	ck.check('record + %d chunks committed (%d)' % (nchunks, got), got >= 1 + nchunks)
	time.sleep(2.2)                     # the record is 2 s old: max-age=0 refuses it
	r = get(srv, '/keep', headers=[('Cache-Control', 'max-age=0, no-store')])
	ck.check('max-age=0, no-store: from the origin (EXPIRED), byte-exact',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'EXPIRED',
		 repr(r) + str(r.headers))
	ck.check('two origin requests so far', len(org.log('keep')) == 2, str(org.log('keep')))
	h0 = srv.counters().get('cache_large_hits', 0)
	r = get(srv, '/keep')
	ck.check('the next plain GET: HIT, byte-exact (the record was kept)',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'HIT',
		 repr(r) + str(r.headers))
	ck.check('no third origin request (%d)' % len(org.log('keep')),
		 len(org.log('keep')) == 2, str(org.log('keep')))
	ck.check('counted as a large hit',
		 srv.counters().get('cache_large_hits', 0) == h0 + 1)


def superseded(ck, srv, org):
	"""A request that refuses the kept record and whose answer is stored
	(max-age=0 alone): the new version replaces the old one, and the old
	version's chunks are dropped with it (store_deleted) — their keys
	carry its generation, so nothing would ever read them again."""
	want = et.det_bytes('keep', FILES['keep'])
	nchunks = (FILES['keep'] + CHUNK - 1) // CHUNK
	n_org = len(org.log('keep'))
	time.sleep(1.2)
	d0 = srv.counters().get('store_deleted', 0)
	f0 = srv.counters().get('cache_fills', 0)
	r = get(srv, '/keep', headers=[('Cache-Control', 'max-age=0')])
	ck.check('max-age=0: from the origin (EXPIRED), byte-exact',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'EXPIRED',
		 repr(r) + str(r.headers))
	got = wait_fills(srv, f0, 1 + nchunks)
	ck.check('the new version: record + %d chunks committed (%d)' % (nchunks, got),
		 got >= 1 + nchunks)
	deleted = srv.counters().get('store_deleted', 0) - d0
	ck.check('the old version\'s %d chunks dropped (store_deleted +%d)' % (nchunks, deleted),
		 deleted >= nchunks)
	r = get(srv, '/keep')
	ck.check('the next plain GET: HIT on the new version, byte-exact',
		 r.status == 200 and r.body == want and r.header('x-cache') == 'HIT',
		 repr(r) + str(r.headers))
	ck.check('one origin request for the refusal, none for the hit',
		 len(org.log('keep')) == n_org + 1, str(org.log('keep')))


def main():
	org = RangeOrigin(FILES)
	cache_dir = et.tmpdir('cachefile')
	zones = [et.zone('c', ['*'], [('o', org.url, {})], default_ttl=3600)]
	srv = et.Edgecache(zones, workers=1, cache={'path': os.path.join(cache_dir, 'c.dat'),
						   'size': '64m', 'chunk_size': '1m'}).start()
	ck = et.Checks()
	ck.run('kept', kept, ck, srv, org)
	ck.run('superseded', superseded, ck, srv, org)
	org.stop()
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
