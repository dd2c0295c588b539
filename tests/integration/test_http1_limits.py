#!/usr/bin/python3
"""HTTP/1.1 limits and request-smuggling shapes through the real binary:
each limit at the limit (passes) and one past it (414 / 431 / 413), each
smuggling shape → 400 and the connection closed, and the parse_error_*
counters that count them."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

LINE = 8192          # LIMIT_REQUEST_LINE_BYTES, its CRLF included (as net/http1.c counts)
HEAD = 16384         # LIMIT_HEADER_BYTES
FIELDS = 64          # LIMIT_HEADER_COUNT
BODY = 1 << 20       # max_body_bytes set in main()


# (name, head lines after the request line, counter) — each must get 400 and
# a closed connection, and grow parse_error_<counter> by one (the name is
# http1_err_name's). Header lines are raw bytes, joined with CRLF.
SMUGGLING = [
	('te_and_cl', [b'Transfer-Encoding: chunked', b'Content-Length: 5'], 'te_and_cl'),
	('cl_conflict', [b'Content-Length: 5', b'Content-Length: 6'], 'cl_conflict'),
	('cl_list_conflict', [b'Content-Length: 5, 6'], 'cl_conflict'),
	('cl_invalid', [b'Content-Length: +5'], 'cl_invalid'),
	('te_gzip', [b'Transfer-Encoding: gzip'], 'te_unsupported'),
	('te_chunked_not_final', [b'Transfer-Encoding: chunked, gzip'], 'te_unsupported'),
	('obs_fold', [b'X-A: a', b' folded'], 'obs_fold'),
	('bare_cr', [b'X-A: a\rb'], 'bare_cr'),
	('nul', [b'X-A: a\x00b'], 'nul_byte'),
	('space_before_colon', [b'X-A : b'], 'bad_header_name'),
	('bad_header_token', [b'X(A): b'], 'bad_header_name'),
	('ctl_in_value', [b'X-A: a\x01b'], 'bad_header_value'),
]
# nginx answers these differently; the edgecache answer is the spec.
NGINX_DIFFERS = {'te_gzip': '501', 'te_chunked_not_final': '501',
		 'bad_header_token': 'drops the field (ignore_invalid_headers)',
		 'ctl_in_value': 'accepts'}


def head_bytes(line, fields, host=b'localhost'):
	return line + b'\r\nHost: ' + host + b'\r\n' + b''.join(f + b'\r\n' for f in fields) + b'\r\n'


def refused(srv, data, status):
	"""Send data; True if the answer is `status` and the connection closes."""
	c = srv.conn()
	try:
		c.send(data)
		r = c.read_response()
		return r.status == status and c.closed(3.0), repr(r)
	except et.Closed as e:
		return False, 'closed without a response: %s' % e
	finally:
		c.close()


def request_line(ck, srv):
	# nginx keeps the line and its CRLF in one 8 KiB buffer: the same bound.
	for n, want in ((LINE, 200), (LINE + 1, 414)):
		target = b'/f?' + b'a' * (n - len(b'GET  HTTP/1.1\r\n') - 3)
		line = b'GET ' + target + b' HTTP/1.1'
		assert len(line) + 2 == n
		c = srv.conn()
		c.send(head_bytes(line, []))
		r = c.read_response()
		c.close()
		ck.check('request line of %d bytes with its CRLF → %d' % (n, want),
			 r.status == want, repr(r))


def header_limits(ck, srv):
	if srv.kind != 'edgecache':
		ck.skip('431 limits', 'nginx has no 16 KiB head / 64 field limit to compare')
		return
	line = b'GET /f HTTP/1.1'
	base = len(head_bytes(line, [b'X-Pad: ']))
	for n, want in ((HEAD, 200), (HEAD + 1, 431)):
		data = head_bytes(line, [b'X-Pad: ' + b'p' * (n - base)])
		assert len(data) == n
		c = srv.conn()
		c.send(data)
		r = c.read_response()
		c.close()
		ck.check('request head of %d bytes → %d' % (n, want), r.status == want, repr(r))
	for n, want in ((FIELDS, 200), (FIELDS + 1, 431)):
		fields = [b'X-F%d: v' % i for i in range(n - 1)]      # + Host
		c = srv.conn()
		c.send(head_bytes(line, fields))
		r = c.read_response()
		c.close()
		ck.check('%d header fields → %d' % (n, want), r.status == want, repr(r))


def body_limit(ck, srv):
	c0 = srv.counters() if srv.has_counters else None
	body = et.det_bytes('limit', BODY)
	r = et.request(srv.port, 'POST', '/echo', host='py.test', body=body, timeout=30)
	ck.check('body of max_body_bytes passes', r.status == 200 and r.body == body, repr(r))
	c = srv.conn()
	c.send(et.build('POST', '/echo', 'py.test', [('Content-Length', str(BODY + 1))]))
	r = c.read_response()
	c.close()
	ck.check('Content-Length max_body_bytes+1 → 413 before the body is sent',
		 r.status == 413, repr(r))
	c = srv.conn(timeout=30)
	c.send(et.build('POST', '/echo', 'py.test', [('Transfer-Encoding', 'chunked')]))
	try:
		c.send(et.chunk(et.det_bytes('limit', BODY + 1), 65536))
	except OSError:
		pass     # the server may answer and close before it reads it all
	r = c.read_response()
	c.close()
	ck.check('chunked body of max_body_bytes+1 → 413', r.status == 413, repr(r))
	if c0 is not None:
		d = srv.counters().get('body_too_large', 0) - c0.get('body_too_large', 0)
		ck.check('counters: body_too_large grew by 2 (%d)' % d, d == 2)


def parse_errors(before, after):
	return {k: after[k] - before.get(k, 0) for k in after
		if k.startswith('parse_error_') and after[k] != before.get(k, 0)}


def refused_counted(ck, srv, name, data, counter):
	"""400 + close, and (edgecache) exactly parse_error_<counter> grew by 1."""
	c0 = srv.counters() if srv.has_counters else None
	ok, got = refused(srv, data, 400)
	ck.check('%s → 400 and close' % name, ok, got)
	if c0 is not None:
		d = parse_errors(c0, srv.counters())
		ck.check('%s counted as parse_error_%s' % (name, counter),
			 d == {'parse_error_' + counter: 1}, 'grew: %s' % d)


def smuggling(ck, srv):
	for name, fields, counter in SMUGGLING:
		if srv.kind == 'nginx' and name in NGINX_DIFFERS:
			ck.skip(name, 'nginx differs: %s' % NGINX_DIFFERS[name])
			continue
		data = head_bytes(b'POST /echo HTTP/1.1', fields, b'py.test') + b'5\r\nhello\r\n0\r\n\r\n'
		refused_counted(ck, srv, name, data, counter)
	for name, line in (('bad_method', b'G@T /f HTTP/1.1'), ('method_too_long', b'G' * 33 + b' /f HTTP/1.1')):
		if srv.kind == 'nginx' and name == 'method_too_long':
			ck.skip(name, 'nginx has no method length limit (passes it on)')
			continue
		refused_counted(ck, srv, name, head_bytes(line, []), 'bad_method')


def chunk_size_line(ck, srv):
	"""The raw chunked body goes on to the origin as sent, so a size line
	the edge reads one way and the origin may read another is refused: a
	size, whitespace, then only ';' or the line end (found by fuzz_chunked)."""
	head = head_bytes(b'POST /echo HTTP/1.1', [b'Transfer-Encoding: chunked'], b'py.test')
	c = srv.conn()
	try:
		c.send(head + b'5 \t;a=b\r\nhello\r\n0\r\n\r\n')
		r = c.read_response()
		ck.check('chunk size, whitespace, extension → echoed', r.status == 200 and
			 r.body == b'hello', repr(r))
	finally:
		c.close()
	for name, line in (('text', b'5 x'), ('second_size', b'5 6'), ('tab_text', b'5\tx=y')):
		if srv.kind == 'nginx':
			ck.skip('chunk size then %s' % name, 'edgecache only (the echo origin)')
			continue
		ok, got = refused(srv, head + line + b'\r\nhello\r\n0\r\n\r\n', 400)
		ck.check('chunk size then %s (%r) → 400 and close' % (name, line), ok, got)


def limit_counters(ck, srv, c0):
	"""The 414/431 runs above, counted by name."""
	d = parse_errors(c0, srv.counters())
	want = {'parse_error_uri_too_long': 1, 'parse_error_headers_too_large': 1,
		'parse_error_too_many_headers': 1}
	ck.check('414/431 counted: %s' % want, d == want, 'grew: %s' % d)


def main():
	origin = et.NginxOrigin({'f': 100})
	py = et.PyOrigin()
	zones = [et.zone('demo', ['localhost'], [('a', origin.url, {})]),
		 et.zone('py', ['py.test'], [('a', py.url, {})])]
	srv = et.server(zones, max_body_bytes=BODY).start()
	ck = et.Checks()
	c0 = srv.counters() if srv.has_counters else None
	ck.run('request_line', request_line, ck, srv)
	ck.run('header_limits', header_limits, ck, srv)
	if c0 is not None:
		ck.run('limit_counters', limit_counters, ck, srv, c0)
	else:
		ck.skip('parse_error counters', 'edgecache-only')
	ck.run('body_limit', body_limit, ck, srv)
	ck.run('smuggling', smuggling, ck, srv)
	ck.run('chunk_size_line', chunk_size_line, ck, srv)
	r = et.request(srv.port, 'GET', '/f')
	ck.check('server still serves after all of the above', r.status == 200, repr(r))
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
