#!/usr/bin/python3
"""One counter registry, two outputs (core/counters.h): every counter that
counters_file lists is in GET /metrics under its Prometheus name — a core
or store counter as edgecache_<name>_total (a gauge without _total), an
S3 error as edgecache_s3_errors_total{code=}, an HTTP/1 parse error as
edgecache_parse_errors_total{error=} — and the two agree on the counters
that stand still. Before the registry, /metrics had no parse errors.
Names and labels are exactly those operators and the other tests read."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

# counters_file lines that are no registry counter (snapshots, clock).
NOT_REGISTRY = re.compile(r'^(s3_clock_offset_s\{|runtime_snapshots_live$|shards$|uptime_ms$)')
# Counters that move by themselves between the two reads.
MOVING = re.compile(r'^(loop_|bytes_|hbuf_|recv_|log_dropped|store_lookups|cache_)')


Edge = et.AdminEdgecache


def metrics(srv):
	text = et.metrics_text(srv)
	return {ln.rpartition(' ')[0]: float(ln.rpartition(' ')[2])
		for ln in text.splitlines() if ln and not ln.startswith('#')}, text


def prom_names(name):
	"""The /metrics sample names a counters_file name may have."""
	m = re.match(r'^parse_error_(.+)$', name)
	if m:
		return ['edgecache_parse_errors_total{error="%s"}' % m.group(1)]
	m = re.match(r'^s3_error_(.*)$', name)
	if m:
		return ['edgecache_s3_errors_total{code="%s"}' % m.group(1)]
	return ['edgecache_%s_total' % name, 'edgecache_%s' % name]


def both(ck, srv):
	# traffic: a request, a parse error of each of two kinds
	et.request(srv.port, 'GET', '/x', host='py.test')
	for bad in (b'GET / HTTP/1.1\r\nHost: py.test\r\nno colon\r\n\r\n',
		    b'GET / HTTP/1.1\r\nHost: py.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'):
		c = et.RawConn(srv.port)
		c.send(bad)
		c.read_response()
		c.close()
	time.sleep(0.3)
	file = srv.counters()
	prom, text = metrics(srv)
	reg = {k: v for k, v in file.items() if not NOT_REGISTRY.match(k)}
	missing = [k for k in reg if not any(p in prom for p in prom_names(k))]
	ck.check('every registry counter of counters_file (%d) is in /metrics' % len(reg),
		 not missing and len(reg) > 150, missing[:10])
	ck.check('parse errors in both: parse_error_bad_header_name = 1 = '
		 'edgecache_parse_errors_total{error="bad_header_name"}',
		 file.get('parse_error_bad_header_name') == 1 and
		 prom.get('edgecache_parse_errors_total{error="bad_header_name"}') == 1,
		 (file.get('parse_error_bad_header_name'),
		  prom.get('edgecache_parse_errors_total{error="bad_header_name"}')))
	ck.check('cl_conflict counted once in both',
		 file.get('parse_error_cl_conflict') == 1 and
		 prom.get('edgecache_parse_errors_total{error="cl_conflict"}') == 1)
	differ = {k: (v, [prom.get(p) for p in prom_names(k)]) for k, v in reg.items()
		  if not MOVING.match(k) and not any(prom.get(p) == v for p in prom_names(k))}
	ck.check('the two outputs agree on the counters that stand still', not differ,
		 list(differ.items())[:8])
	ck.check('one HELP and one TYPE per metric family',
		 len(re.findall(r'^# TYPE edgecache_parse_errors_total counter$', text, re.M)) == 1 and
		 len(re.findall(r'^# TYPE edgecache_s3_errors_total counter$', text, re.M)) == 1 and
		 '# TYPE edgecache_conns_open gauge' in text)
	store = [k for k in reg if k.startswith('store_')]
	ck.check('with [cache], the store block (%d counters) in both' % len(store),
		 len(store) == 22 and all('edgecache_%s_total' % k in prom for k in store))


def main():
	py = et.PyOrigin()
	d = et.tmpdir('counters')
	srv = Edge([et.zone('py', ['py.test'], [('a', py.url, {})])], workers=2,
		   cache={'path': os.path.join(d, 'c.dat'), 'size': '64m'}).start()
	ck = et.Checks()
	ck.run('both', both, ck, srv)
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
