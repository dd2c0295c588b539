#!/usr/bin/python3
"""tests/integration/test_clock_offset.py — the S3 clock offset is learned
once, as an absolute value, however many RequestTimeTooSkewed answers
arrive together (edge/origin.c s3_error_end; edge/runtime.h).

The edge's clock is 30 minutes behind (EDGECACHE_TEST_CLOCK_SKEW_S=-1800).
The origin is a small S3 stand-in in this process: a request whose
X-Amz-Date is more than 15 minutes off its clock gets 403 with a Date
header and a RequestTimeTooSkewed document, and the document of each is
held back until the heads of all K concurrent misses have been sent (a
barrier): every exchange has measured the skew before any has learned it,
the interleaving that made a read-modify-write of the offset apply it K
times. Any other request gets 200.

Checks: the K misses are 403 RequestTimeTooSkewed; the offset then
exported is ~1800 s (not K × 1800); s3_clock_offset_learned is 1 and the
skew is logged once, though every other Date is a second later (Dates
have whole seconds: LIMIT_CLOCK_OFFSET_SLACK_S); the next miss is signed
at the origin's time: 200.
"""
import os
import re
import sys
import threading
import time
from email.utils import formatdate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402

K = 4
SKEW_S = 1800
SKEWED_DOC = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeTooSkewed'
	      b'</Code><Message>The difference between the request time and the current time '
	      b'is too large.</Message><MaxAllowedSkewMilliseconds>900000'
	      b'</MaxAllowedSkewMilliseconds></Error>')
OK_BODY = b'fresh-bytes-' * 10


class SkewOrigin(et.HeadServer):
	"""The S3 stand-in described at the top, on a thread per connection."""

	def __init__(self, k):
		self.barrier = threading.Barrier(k, timeout=5)
		self.skewed = self.ok = 0
		self.lock = threading.Lock()
		super().__init__()

	def answer(self, c, head):
		m = re.search(r'(?im)^x-amz-date: (\d{8}T\d{6}Z)', head)
		t = time.mktime(time.strptime(m.group(1), '%Y%m%dT%H%M%SZ')) - time.timezone if m else 0
		date = formatdate(time.time(), usegmt=True)
		if abs(t - time.time()) > 900:
			with self.lock:
				self.skewed += 1
				# Every other Date a second later, as answers that
				# straddle a second are: the same offset, learned once.
				date = formatdate(time.time() + self.skewed % 2, usegmt=True)
			c.sendall(('HTTP/1.1 403 Forbidden\r\nDate: %s\r\nContent-Type: application/xml'
				   '\r\nContent-Length: %d\r\n\r\n' % (date, len(SKEWED_DOC))).encode())
			try:
				self.barrier.wait()     # every head out before any document
			except threading.BrokenBarrierError:
				pass
			time.sleep(0.1)
			c.sendall(SKEWED_DOC)
			return
		with self.lock:
			self.ok += 1
		c.sendall(('HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Length: %d\r\n\r\n' %
			   (date, len(OK_BODY))).encode() + OK_BODY)


def concurrent_misses(ck, srv, origin):
	results = [None] * K

	def one(i):
		results[i] = et.request(srv.port, 'GET', '/obj-%d' % i)
	threads = [threading.Thread(target=one, args=(i,)) for i in range(K)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(15)
	ck.check('%d concurrent misses signed 30 min behind: 403 RequestTimeTooSkewed each' % K,
		 all(r and r.status == 403 and b'RequestTimeTooSkewed' in r.body for r in results),
		 [r and r.status for r in results])
	ck.check('the origin held every document until all %d heads were out (%d skewed)' %
		 (K, origin.skewed), origin.skewed == K and not origin.barrier.broken)
	c = srv.counters()
	off = [v for k, v in c.items() if k.startswith('s3_clock_offset_s')]
	ck.check('the offset learned is the skew once (%s), not %d times' % (off, K),
		 off and SKEW_S - 100 <= off[0] <= SKEW_S + 100)
	ck.check('s3_clock_offset_learned = 1 (%s)' % c.get('s3_clock_offset_learned'),
		 c.get('s3_clock_offset_learned') == 1)
	deadline = time.monotonic() + 3
	logged = []
	while time.monotonic() < deadline:
		logged = re.findall(r'RequestTimeTooSkewed: our clock is (-?\d+) s off',
				    open(srv.error_log).read())
		if logged:
			time.sleep(0.3)      # the shards' later lines, if any
			logged = re.findall(r'RequestTimeTooSkewed: our clock is (-?\d+) s off',
					    open(srv.error_log).read())
			break
		time.sleep(0.05)
	ck.check('logged once (%s)' % logged, len(logged) == 1)
	r = et.request(srv.port, 'GET', '/obj-next')
	ck.check('the next miss is signed at the origin\'s time: 200', r.status == 200 and
		 r.body == OK_BODY, repr(r))


def main():
	origin = SkewOrigin(K)
	os.environ['EDGECACHE_TEST_CLOCK_SKEW_S'] = str(-SKEW_S)
	try:
		srv = et.Edgecache([et.zone('z', ['*'], [('s3', 'http://127.0.0.1:%d' % origin.port, {
			's3_auth_enabled': 'true', 's3_access_key': 'AKIDSKEWTEST',
			's3_region': 'us-east-1', 'base_path': '/bkt'})])], workers=2)
		srv.zones[0]['origins'][0][2]['s3_secret_key_file'] = srv.secret_file('Skew-secret-5e1')
		srv.main = srv.write_config()
		srv.start()
	finally:
		del os.environ['EDGECACHE_TEST_CLOCK_SKEW_S']
	ck = et.Checks()
	try:
		ck.run('concurrent misses', concurrent_misses, ck, srv, origin)
		ck.stop_and_finish(srv)
	finally:
		origin.close()


if __name__ == '__main__':
	main()
