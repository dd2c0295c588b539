#!/usr/bin/python3
"""tests/integration/test_sighup_inflight.py — an S3 error in flight while a
SIGHUP swaps the credentials in place (control/server.c reload_creds).

The origin is a stand-in in this process: every request gets 403 with a
chunked SignatureDoesNotMatch document (two chunks), held until the test
says so. A miss is sent; while its answer is held, the secret file is
changed and the edge SIGHUPed (credentials alone: swapped in place,
logged). The object that signed the miss is no longer current when the
answer comes, so the body cannot be matched
against its session token and is masked whole (s3_body_bytes_masked_whole)
— in its data only: the chunk framing passed through to the visitor must
stay intact (it was masked too, and the visitor waited for a chunk-size
line that never ended: test_s3_origin's rotation under ASan).

Checks: the SIGHUP was applied in place; the visitor gets the whole 403
within 5 s with valid chunking, the body the document's length in '*';
s3_body_bytes_masked_whole counts those bytes; the next miss (after the
swap) gets the document itself.
"""
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402

DOC = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
       b'<Message>The request signature we calculated does not match the signature you '
       b'provided.</Message></Error>')


class HeldOrigin(et.HeadServer):
	"""403 chunked, sent when `release` is set (at once when not `hold`)."""

	def __init__(self):
		self.hold = True
		self.received = threading.Event()
		self.release = threading.Event()
		super().__init__(backlog=16)

	def answer(self, c, head):
		if self.hold:
			self.received.set()
			self.release.wait(10)
		half = len(DOC) // 2
		c.sendall(b'HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n'
			  b'Transfer-Encoding: chunked\r\n\r\n' +
			  b'%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n' %
			  (half, DOC[:half], len(DOC) - half, DOC[half:]))


def inflight(ck, srv, origin, secret_path):
	masked0 = srv.counters().get('s3_body_bytes_masked_whole', 0)
	result = {}

	def miss():
		try:
			result['r'] = et.request(srv.port, 'GET', '/obj', timeout=5)
		except Exception as e:          # the stall: a timeout reading the body
			result['err'] = repr(e)
	t = threading.Thread(target=miss)
	t.start()
	ck.check('the origin has the signed request and holds its answer', origin.received.wait(5))
	n0 = sum('reload:' in ln for ln in et.read_log(srv.error_log))
	with open(secret_path, 'w') as f:
		f.write('Inflight-secret-two-7e2c\n')
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 5
	lines = []
	while time.monotonic() < deadline and len(lines) <= n0:
		lines = [ln for ln in et.read_log(srv.error_log) if 'reload:' in ln]
		time.sleep(0.02)
	ck.check('the SIGHUP swapped the credentials in place (%s)' % lines[-1:],
		 len(lines) > n0 and 'credentials of 1 origin(s) swapped in place' in lines[-1])
	origin.hold = False
	origin.release.set()
	t.join(10)
	r = result.get('r')
	ck.check('the visitor got the whole 403 (%s)' % (result.get('err') or repr(r)),
		 r is not None and r.status == 403)
	ck.check('...its body masked whole, the framing intact (%d bytes, all "*")' %
		 (len(r.body) if r else -1),
		 r is not None and r.body == b'*' * len(DOC), r and r.body[:80])
	masked = srv.counters().get('s3_body_bytes_masked_whole', 0) - masked0
	ck.check('s3_body_bytes_masked_whole counts them (%d)' % masked, masked == len(DOC))
	r = et.request(srv.port, 'GET', '/obj2', timeout=5)
	ck.check('the next miss, signed after the swap: the document itself',
		 r.status == 403 and r.body == DOC, repr(r))


def main():
	origin = HeldOrigin()
	srv = et.Edgecache([], workers=1)
	secret_path = srv.secret_file('Inflight-secret-one-3a9d')
	srv.zones = [et.zone('z', ['*'], [('s3', 'http://127.0.0.1:%d' % origin.port, {
		's3_auth_enabled': 'true', 's3_access_key': 'AKIDINFLIGHT',
		's3_region': 'us-east-1', 'base_path': '/bkt',
		's3_secret_key_file': secret_path})])]
	srv.main = srv.write_config()
	srv.start()
	ck = et.Checks()
	try:
		ck.run('an S3 error in flight across a SIGHUP', inflight, ck, srv, origin, secret_path)
		ck.stop_and_finish(srv)
	finally:
		origin.close()


if __name__ == '__main__':
	main()
