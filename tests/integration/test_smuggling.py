#!/usr/bin/python3
"""A differential request-smuggling harness: the edge in front of a tap
origin (tests/lib/taporigin.py) that records every byte it receives and
reads it as a strict HTTP/1.1 server would.

Each vector (a table below) is raw bytes a client sends, in pieces with
pauses, and what the edge must do with them: forward N requests (method,
target, body) and answer each with the origin's response, or answer
itself (400, 404, 405, 413, 505 ...) and close. For every vector:
  - the client's responses, in order, are the ones expected (the tap's
    body names the request it answered: a response for another request is
    response-queue poisoning);
  - the tap saw exactly the expected requests, byte for byte: its strict
    parser found no error, every byte the edge sent on any origin
    connection belongs to one of those requests, no head holds a smuggled
    field (every smuggled part of a vector says "smug");
  - a canary GET on a fresh client connection afterwards reaches the
    origin as exactly one clean request (the origin connection the edge
    reuses is at a request boundary).
HTTP/2 vectors (h2c prior knowledge, raw frames, HPACK literals by hand)
check the same on the HTTP/1.1 the origin received.

Vectors marked [after desync merge] need the rule "an origin connection
is reused only when the whole request was sent and the whole response
read; an early final response closes it and the visitor's connection"
(branch desync); [after reqside merge] the request-header policy (branch
reqside). They fail until those land.
"""
import hashlib
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

HOST = b'tap.test'
BODY_MAX = 1 << 20
GAP = 0.03                 # between pieces
READ = 'read'              # a piece: read one response before going on


# ---- the tap origin ---------------------------------------------------------

class TapOrigin:
	def __init__(self):
		self.dir = et.tmpdir('tap')
		self.port = et.free_port()
		self.proc = et.start_proc(['/usr/bin/python3', os.path.join(et.HERE, 'taporigin.py'),
					   '--port', str(self.port), '--dir', self.dir],
					  os.path.join(self.dir, 'stderr.log'))
		et.wait_port(self.port, self.proc, log=os.path.join(self.dir, 'stderr.log'))
		self.url = 'http://127.0.0.1:%d' % self.port
		self.events_path = os.path.join(self.dir, 'events.jsonl')
		# wait_port's probe connection is a connection too: let it log its EOF
		time.sleep(0.1)

	def raw(self, cid):
		with open(os.path.join(self.dir, 'conn-%d.bin' % cid), 'rb') as f:
			return f.read()

	def snapshot(self):
		"""(events offset, {conn: bytes so far})"""
		sizes = {}
		for n in os.listdir(self.dir):
			if n.startswith('conn-'):
				sizes[int(n[5:-4])] = os.path.getsize(os.path.join(self.dir, n))
		ev = os.path.getsize(self.events_path) if os.path.exists(self.events_path) else 0
		return ev, sizes

	def since(self, snap):
		"""Events after snap, and {conn: (from, to)} byte ranges that grew."""
		ev0, sizes0 = snap
		with open(self.events_path, 'rb') as f:
			f.seek(ev0)
			events = [json.loads(ln) for ln in f.read().decode().splitlines() if ln.strip()]
		_, sizes = self.snapshot()
		grew = {c: (sizes0.get(c, 0), n) for c, n in sizes.items() if n > sizes0.get(c, 0)}
		return events, grew


def naming(method, target, body):
	return b'%s %s %d %s\n' % (method.encode(), target.encode('latin-1'), len(body),
				   hashlib.sha256(body).hexdigest()[:16].encode())


# ---- vectors --------------------------------------------------------------------

class V:
	"""pieces: bytes sent in order ('/TT' stands for the vector's own path
	prefix), floats (pauses), READ (read a response first), 'info' (wait
	for a 100 Continue), 'close' (the visitor goes away).
	expect, in order: ('METHOD', '/TT...', body) forwarded and answered by
	the origin; ('METHOD', '/early/TT...', None) answered early by the
	origin (its body may be cut); ('METHOD', '/s304/TT', b'', 304) answered
	with that status and no body; CUT: reached the origin cut short, no
	answer from it; an int: the edge's own answer, nothing forwarded.
	closed: the edge closes the connection after them (None: either).
	after: the branch whose merge makes it pass."""

	def __init__(self, family, name, pieces, expect, closed=False, after=None, info=None,
		     forbid=(), n_info=None):
		self.family, self.name, self.expect, self.closed = family, name, expect, closed
		self.n_info = n_info      # 1xx responses the client must get (None: any)
		self.forbid = forbid      # never in a forwarded head (lower case)
		self.pieces = pieces if isinstance(pieces, list) else [pieces]
		self.after, self.info = after, info

	def label(self, i):
		tag = ' [after %s merge]' % self.after if self.after else ''
		return '%s/%s%s' % (self.family, self.name, tag)


def head(*lines, host=True, end=b'\r\n'):
	"""Request line and field lines joined by `end`, Host first after the
	request line."""
	ls = [lines[0]] + ([b'Host: ' + HOST] if host else []) + list(lines[1:])
	return end.join(ls) + end + end


def post(body, *fields, target=b'/TT/p'):
	return head(b'POST ' + target + b' HTTP/1.1', *fields) + body


def cl(body, target=b'/TT/p', *fields):
	return post(body, b'Content-Length: %d' % len(body), *fields, target=target)


def te(chunked, target=b'/TT/p', *fields):
	return post(chunked, b'Transfer-Encoding: chunked', *fields, target=target)


def get(target=b'/TT/g', *fields):
	return head(b'GET ' + target + b' HTTP/1.1', *fields)


def bytewise(data, pause=0.002):
	out = []
	for i in range(len(data)):
		out += [data[i:i + 1], pause]
	return out


def splits(data, at):
	"""data in pieces at the offsets `at`, with pauses."""
	out, p = [], 0
	for a in list(at) + [len(data)]:
		out += [data[p:a], GAP]
		p = a
	return out


SMUG = get(b'/TT/smug')   # a request hidden in a body or a header: never forwarded
HELLO = (b'POST', b'/TT/p', b'hello')
G = ('GET', '/TT/g', b'')
# The edge streams: the head may be on its way to the origin before a bad
# byte in the body is seen. Then the origin may have that one request cut
# short (never complete), and its connection must be closed.
CUT = ('POST', '/TT/p', None, 'cut')
P5 = ('POST', '/TT/p', b'hello')


def h1_vectors():
	v = []
	add = lambda *a, **k: v.append(V(*a, **k))  # noqa: E731

	# -- baseline
	add('base', 'get', get(), [G])
	add('base', 'post_cl', cl(b'hello'), [P5])
	add('base', 'post_chunked', te(b'5\r\nhello\r\n0\r\n\r\n'), [P5])
	add('base', 'pipelined_16_gets', b''.join(get(b'/TT/g%d' % i) for i in range(16)),
	    [('GET', '/TT/g%d' % i, b'') for i in range(16)])

	# -- CL.CL
	add('cl', 'duplicate_same', post(b'hello', b'Content-Length: 5', b'Content-Length: 5'), [P5])
	add('cl', 'duplicate_conflict', post(b'hello' + SMUG, b'Content-Length: 5',
					     b'Content-Length: %d' % (5 + len(SMUG))), [400], True)
	add('cl', 'list_same', post(b'hello', b'Content-Length: 5, 5'), [P5])
	add('cl', 'list_conflict', post(b'hello', b'Content-Length: 5, 6'), [400], True)
	add('cl', 'plus_sign', post(b'hello', b'Content-Length: +5'), [400], True)
	add('cl', 'negative', post(b'hello', b'Content-Length: -5'), [400], True)
	add('cl', 'hex', post(b'hello', b'Content-Length: 0x5'), [400], True)
	add('cl', 'two_numbers_space', post(b'hello', b'Content-Length: 5 5'), [400], True)
	add('cl', 'overflow', post(b'hello', b'Content-Length: 18446744073709551621'), [400], True)
	add('cl', 'empty', post(b'hello', b'Content-Length:'), [400], True)
	add('cl', 'leading_zeros', post(b'hello', b'Content-Length: 0005'), [P5])
	add('cl', 'space_before_colon', post(b'hello', b'Content-Length : 5'), [400], True)
	add('cl', 'trailing_garbage', post(b'hello', b'Content-Length: 5x'), [400], True)
	add('cl', 'decimal_point', post(b'hello', b'Content-Length: 5.0'), [400], True)
	add('cl', 'over_max_body', post(b'', b'Content-Length: %d' % (BODY_MAX + 1)), [413], True)
	add('cl', 'zero_then_request', post(b'', b'Content-Length: 0') + get(),
	    [('POST', '/TT/p', b''), G])
	add('cl', 'short_body_then_request', cl(b'hel') + b'lo' + get(),
	    [('POST', '/TT/p', b'hel'), ('loGET', '/TT/g', b'')],
	    info='"lo" + GET is the next request: "loGET" is a method token')

	# -- CL + TE
	chunk5 = b'5\r\nhello\r\n0\r\n\r\n'
	add('clte', 'te_then_cl', post(chunk5, b'Transfer-Encoding: chunked', b'Content-Length: 3'),
	    [400], True)
	add('clte', 'cl_then_te', post(chunk5, b'Content-Length: 3', b'Transfer-Encoding: chunked'),
	    [400], True)
	add('clte', 'te_and_cl_zero', post(chunk5, b'Transfer-Encoding: chunked', b'Content-Length: 0'),
	    [400], True)
	add('clte', 'cl_and_te_identity', post(b'hello', b'Content-Length: 5',
					       b'Transfer-Encoding: identity'), [400], True)
	add('clte', 'http10_te', head(b'POST /TT/p HTTP/1.0', b'Transfer-Encoding: chunked') + chunk5,
	    [400], True)
	add('clte', 'http10_te_and_cl', head(b'POST /TT/p HTTP/1.0', b'Content-Length: 5',
					     b'Transfer-Encoding: chunked') + chunk5, [400], True)
	add('clte', 'te_smuggles_get', post(b'0\r\n\r\n' + SMUG, b'Content-Length: %d' % (5 + len(SMUG)),
					    b'Transfer-Encoding: chunked'), [400], True)

	# -- Transfer-Encoding variants
	def tev(name, field, ok):
		add('te', name, post(chunk5, field), [P5] if ok else [400], not ok)
	tev('chunked_identity', b'Transfer-Encoding: chunked, identity', False)
	tev('identity_chunked', b'Transfer-Encoding: identity, chunked', False)
	tev('chunked_chunked_list', b'Transfer-Encoding: chunked, chunked', False)
	tev('xchunked', b'Transfer-Encoding: xchunked', False)
	tev('chunkedx', b'Transfer-Encoding: chunkedx', False)
	tev('chunk', b'Transfer-Encoding: chunk', False)
	tev('quoted', b'Transfer-Encoding: "chunked"', False)
	tev('param', b'Transfer-Encoding: chunked;q=1', False)
	tev('gzip', b'Transfer-Encoding: gzip', False)
	tev('vtab_before', b'Transfer-Encoding: \x0bchunked', False)
	tev('nul_after', b'Transfer-Encoding: chunked\x00', False)
	tev('space_before_colon', b'Transfer-Encoding : chunked', False)
	tev('leading_space', b'Transfer-Encoding:  chunked', True)
	tev('no_space', b'Transfer-Encoding:chunked', True)
	tev('tab', b'Transfer-Encoding:\tchunked', True)
	tev('trailing_space', b'Transfer-Encoding: chunked ', True)
	tev('upper_case_value', b'Transfer-Encoding: CHUNKED', True)
	tev('mixed_case_name', b'tRANSFER-eNCODING: Chunked', True)
	add('te', 'two_fields', post(chunk5, b'Transfer-Encoding: chunked', b'Transfer-Encoding: chunked'),
	    [400], True)
	add('te', 'two_fields_identity', post(chunk5, b'Transfer-Encoding: identity',
					      b'Transfer-Encoding: chunked'), [400], True)
	add('te', 'obs_fold_value', post(chunk5, b'Transfer-Encoding:', b' chunked'), [400], True)
	add('te', 'obs_fold_after_other', post(chunk5, b'X-A: a', b' Transfer-Encoding: chunked'),
	    [400], True)
	add('te', 'line_starts_with_tab', post(chunk5, b'\tTransfer-Encoding: chunked'), [400], True)
	add('te', 'underscore_name', post(chunk5, b'Transfer_Encoding: chunked'),
	    [('POST', '/TT/p', b''), 400], True, after='reqside', forbid=[b'transfer_encoding'],
	    info='no framing field: no body; the chunk is no request. The `_` name must not reach '
		 'the origin (an origin reading it as Transfer-Encoding desyncs)')

	# -- chunk framing
	def ck(name, chunked, body=b'hello', after=None):
		if body is None:
			add('chunk', name, te(chunked), [CUT, 400], True, after=after)
		else:
			add('chunk', name, te(chunked), [('POST', '/TT/p', body)], after=after)
	ck('leading_zeros', b'0005\r\nhello\r\n0000\r\n\r\n')
	ck('many_leading_zeros', b'0' * 30 + b'5\r\nhello\r\n0\r\n\r\n')
	ck('upper_hex', b'A\r\nhellohello\r\n0\r\n\r\n', b'hellohello')
	ck('lower_hex', b'a\r\nhellohello\r\n0\r\n\r\n', b'hellohello')
	ck('many_chunks', b'1\r\nh\r\n1\r\ne\r\n3\r\nllo\r\n0\r\n\r\n')
	ck('0x_prefix', b'0x5\r\nhello\r\n0\r\n\r\n', None)
	ck('negative', b'-5\r\nhello\r\n0\r\n\r\n', None)
	ck('plus', b'+5\r\nhello\r\n0\r\n\r\n', None)
	ck('empty_size', b'\r\nhello\r\n0\r\n\r\n', None)
	ck('overflow_2p64', b'10000000000000005\r\nhello\r\n0\r\n\r\n', None)
	ck('overflow_ffff', b'ffffffffffffffff\r\nhello\r\n0\r\n\r\n', None)
	ck('space_before_size', b' 5\r\nhello\r\n0\r\n\r\n', None)
	ck('space_after_size', b'5 \r\nhello\r\n0\r\n\r\n', None)
	ck('garbage_after_size', b'5 smug\r\nhello\r\n0\r\n\r\n', None)
	ck('ext', b'5;name=value\r\nhello\r\n0\r\n\r\n')
	ck('ext_no_value', b'5;name\r\nhello\r\n0;x\r\n\r\n')
	ck('ext_bws', b'5 ; name = value\r\nhello\r\n0\r\n\r\n')
	ck('ext_quoted', b'5;name="a;b=c"\r\nhello\r\n0\r\n\r\n')
	ck('ext_quoted_escape', b'5;name="a\\"b"\r\nhello\r\n0\r\n\r\n')
	ck('ext_two', b'5;a=1;b=2\r\nhello\r\n0\r\n\r\n')
	ck('ext_unterminated_quote', b'5;name="abc\r\nhello\r\n0\r\n\r\n', None)
	ck('ext_empty_name', b'5;=v\r\nhello\r\n0\r\n\r\n', None)
	ck('ext_ctl', b'5;a\x01\r\nhello\r\n0\r\n\r\n', None)
	ck('ext_bare_lf', b'5;a\nhello\r\n0\r\n\r\n', None)
	ck('size_bare_lf', b'5\nhello\r\n0\r\n\r\n', None)
	ck('size_bare_cr', b'5\rhello\r\n0\r\n\r\n', None)
	ck('data_bare_lf', b'5\r\nhello\n0\r\n\r\n', None)
	ck('data_no_crlf', b'5\r\nhelloXX0\r\n\r\n', None)
	ck('data_longer_than_size', b'3\r\nhello\r\n0\r\n\r\n', None)
	ck('last_bare_lf', b'5\r\nhello\r\n0\n\r\n', None)
	ck('final_bare_lf', b'5\r\nhello\r\n0\r\n\n', None)
	ck('trailer', b'5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n')
	ck('trailer_two', b'5\r\nhello\r\n0\r\nX-A: a\r\nX-B: b\r\n\r\n')
	ck('trailer_bare_lf', b'5\r\nhello\r\n0\r\nX-A: a\n\r\n', None)
	ck('trailer_obs_fold', b'5\r\nhello\r\n0\r\nX-A: a\r\n b\r\n\r\n', None)
	ck('trailer_space_before_colon', b'5\r\nhello\r\n0\r\nX-A : a\r\n\r\n', None)
	ck('trailer_nul', b'5\r\nhello\r\n0\r\nX-A: a\x00\r\n\r\n', None)
	add('chunk', 'trailer_missing_then_request', te(b'5\r\nhello\r\n0\r\n') + get(),
	    [CUT, 400], True, info='"GET /TT/g HTTP/1.1" is no trailer field')
	add('chunk', 'body_after_last_chunk', te(b'0\r\n\r\n5\r\nhello\r\n'),
	    [('POST', '/TT/p', b''), 400], True)
	add('chunk', 'over_max_body', te(b'%x\r\n' % (BODY_MAX + 1) + b'x' * (BODY_MAX + 1) +
					  b'\r\n0\r\n\r\n'), [CUT, 413], True,
	    info='the upload stops past max_body_bytes: the origin connection has a partial '
	    'body and must be closed')

	# -- line endings
	add('eol', 'bare_lf_head', head(b'GET /TT/g HTTP/1.1', end=b'\n'), [G])
	add('eol', 'bare_lf_head_body', head(b'POST /TT/p HTTP/1.1', b'Content-Length: 5', end=b'\n') +
	    b'hello', [P5])
	add('eol', 'mixed_lf_crlf', b'GET /TT/g HTTP/1.1\nHost: tap.test\r\nX-A: a\n\r\n', [G])
	add('eol', 'bare_cr_request_line', b'GET /TT/g HTTP/1.1\rHost: tap.test\r\n\r\n', [400], True)
	add('eol', 'bare_cr_between_fields', b'GET /TT/g HTTP/1.1\r\nHost: tap.test\rX-Smug: 1\r\n\r\n',
	    [400], True)
	add('eol', 'bare_cr_in_value', get(b'/TT/g', b'X-A: a\rX-Smug: 1'), [400], True)
	add('eol', 'cr_cr_end', b'GET /TT/g HTTP/1.1\r\nHost: tap.test\r\r', [400], True)
	add('eol', 'empty_lines_before', b'\r\n\r\n\n' + get(), [G])
	add('eol', 'empty_lines_between', get(b'/TT/a') + b'\r\n\r\n' + get(b'/TT/b'),
	    [('GET', '/TT/a', b''), ('GET', '/TT/b', b'')])
	add('eol', 'lf_in_target', b'GET /TT/g\nHost: tap.test\r\n\r\n', [400], True)
	add('eol', 'http09', b'GET /TT/g\r\n\r\n', [400], True)

	# -- header names and values
	def hv(name, field, ok, status=400):
		add('field', name, get(b'/TT/g', field), [G] if ok else [status], not ok)
	hv('space_before_colon', b'X-A : a', False)
	hv('tab_before_colon', b'X-A\t: a', False)
	hv('nul_in_name', b'X-\x00A: a', False)
	hv('nul_in_value', b'X-A: a\x00b', False)
	hv('ctl_in_value', b'X-A: a\x01b', False)
	hv('del_in_value', b'X-A: a\x7fb', False)
	hv('esc_in_value', b'X-A: \x1b[31m', False)
	hv('non_ascii_name', b'X-\xc3\xa9: a', False)
	hv('empty_name', b': a', False)
	hv('no_colon', b'X-Smug', False)
	hv('obs_text_value', b'X-A: caf\xc3\xa9 \xff', True)
	hv('long_value_8k', b'X-A: ' + b'v' * 8192, True)
	hv('ows_value', b'X-A: \t a \t', True)
	hv('two_hosts', b'Host: other.test', False)
	add('field', 'no_host', head(b'GET /TT/g HTTP/1.1', host=False), [400], True)
	add('field', 'host_userinfo', head(b'GET /TT/g HTTP/1.1', host=False) .replace(
	    b'\r\n\r\n', b'\r\nHost: smug@tap.test\r\n\r\n'), [400], True)
	add('field', 'host_bad_byte', head(b'GET /TT/g HTTP/1.1', host=False).replace(
	    b'\r\n\r\n', b'\r\nHost: tap.test/smug\r\n\r\n'), [400], True)
	add('field', 'other_host', head(b'GET /TT/g HTTP/1.1', host=False).replace(
	    b'\r\n\r\n', b'\r\nHost: other.test\r\n\r\n'), [404], None)
	add('field', 'other_host_with_body', head(b'POST /TT/p HTTP/1.1', b'Content-Length: %d' % len(SMUG),
						  host=False).replace(b'\r\n\r\n', b'\r\nHost: other.test\r\n\r\n')
	    + SMUG, [404], True, info='answered without reading the body: the connection must close')
	add('field', 'other_host_chunked', head(b'POST /TT/p HTTP/1.1', b'Transfer-Encoding: chunked',
						host=False).replace(b'\r\n\r\n', b'\r\nHost: other.test\r\n\r\n')
	    + b'%x\r\n' % len(SMUG) + SMUG + b'\r\n0\r\n\r\n', [404], True)

	# -- request line and targets
	def rl(name, line, expect, closed=False, fields=()):
		add('target', name, head(line, *fields), expect, closed)
	rl('absolute_form', b'GET http://tap.test/TT/g HTTP/1.1', [G])
	rl('absolute_form_https', b'GET https://tap.test/TT/g HTTP/1.1', [G])
	rl('absolute_form_empty_path', b'GET http://tap.test HTTP/1.1', [('GET', '/', b'')])
	rl('absolute_form_wins_over_host', b'GET http://other.test/TT/g HTTP/1.1', [404], None)
	rl('absolute_form_userinfo', b'GET http://smug@tap.test/TT/g HTTP/1.1', [400], True)
	rl('absolute_form_no_authority', b'GET http:///TT/g HTTP/1.1', [400], True)
	rl('relative_target', b'GET T/g HTTP/1.1', [400], True)
	rl('two_spaces_before_target', b'GET  /TT/g HTTP/1.1', [400], True)
	rl('two_spaces_before_version', b'GET /TT/g  HTTP/1.1', [505], True)
	rl('trailing_space', b'GET /TT/g HTTP/1.1 ', [505], True)
	rl('tab_separator', b'GET\t/TT/g HTTP/1.1', [400], True)
	rl('version_1_2', b'GET /TT/g HTTP/1.2', [505], True)
	rl('version_lower', b'GET /TT/g http/1.1', [505], True)
	rl('query', b'GET /TT/g?a=1&b=%20 HTTP/1.1', [('GET', '/TT/g?a=1&b=%20', b'')])
	rl('fragment', b'GET /TT/g#frag HTTP/1.1', [('GET', '/TT/g#frag', b'')])
	rl('raw_utf8_target', b'GET /TT/caf\xc3\xa9 HTTP/1.1', [('GET', '/TT/caf\xc3\xa9', b'')])
	rl('del_in_target', b'GET /TT/g\x7f HTTP/1.1', [400], True)
	rl('lower_case_method', b'get /TT/g HTTP/1.1', [('get', '/TT/g', b'')])
	rl('odd_method', b'M-SEARCH /TT/g HTTP/1.1', [('M-SEARCH', '/TT/g', b'')])
	rl('bad_method_byte', b'G(T /TT/g HTTP/1.1', [400], True)
	rl('connect', b'CONNECT tap.test:80 HTTP/1.1', [400], True)
	rl('trace', b'TRACE /TT/g HTTP/1.1', [405], True)
	add('target', 'trace_with_body', head(b'TRACE /TT/g HTTP/1.1', b'Content-Length: %d' % len(SMUG)) +
	    SMUG, [405], True)

	# -- HTTP/1.0 and persistence
	add('persist', 'http10_keep_alive_pipeline',
	    head(b'GET /TT/a HTTP/1.0', b'Connection: keep-alive') + head(b'GET /TT/b HTTP/1.0', b'Connection: keep-alive'),
	    [('GET', '/TT/a', b''), ('GET', '/TT/b', b'')])
	add('persist', 'http10_no_keep_alive_pipeline', head(b'GET /TT/a HTTP/1.0') + SMUG,
	    [('GET', '/TT/a', b'')], True)
	add('persist', 'http10_post_cl', head(b'POST /TT/p HTTP/1.0', b'Content-Length: 5') + b'hello',
	    [P5], True)
	add('persist', 'close_mid_pipeline', get(b'/TT/a', b'Connection: close') + SMUG,
	    [('GET', '/TT/a', b'')], True)
	add('persist', 'close_after_body', cl(b'hello', b'/TT/p', b'Connection: close') + SMUG,
	    [P5], True)
	add('persist', 'close_in_list', get(b'/TT/a', b'Connection: keep-alive, close') + SMUG,
	    [('GET', '/TT/a', b'')], True)
	add('persist', 'close_names_content_length',
	    cl(b'hello', b'/TT/p', b'Connection: Content-Length') + get(), [P5, G])
	add('persist', 'close_names_te', te(chunk5, b'/TT/p', b'Connection: Transfer-Encoding') + get(),
	    [P5, G])
	add('persist', 'connection_names_a_field', get(b'/TT/a', b'Connection: X-Smug-Hop',
						       b'X-Smug-Hop: 1') + get(b'/TT/b'),
	    [('GET', '/TT/a', b''), ('GET', '/TT/b', b'')], after='reqside',
	    info='a field the Connection header names is hop-by-hop: never forwarded')
	add('persist', 'upgrade_websocket', get(b'/TT/a', b'Connection: Upgrade', b'Upgrade: websocket',
						b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
						b'Sec-WebSocket-Version: 13') + get(b'/TT/b'),
	    [('GET', '/TT/a', b''), ('GET', '/TT/b', b'')])
	add('persist', 'upgrade_h2c', get(b'/TT/a', b'Connection: Upgrade, HTTP2-Settings',
					  b'Upgrade: h2c', b'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA') +
	    get(b'/TT/b'), [('GET', '/TT/a', b''), ('GET', '/TT/b', b'')])

	# -- bodies on any method
	add('method', 'get_with_cl_body', head(b'GET /TT/g HTTP/1.1', b'Content-Length: 5') + b'hello' +
	    get(b'/TT/b'), [('GET', '/TT/g', b'hello'), ('GET', '/TT/b', b'')])
	add('method', 'get_with_chunked_body', head(b'GET /TT/g HTTP/1.1', b'Transfer-Encoding: chunked') +
	    chunk5 + get(b'/TT/b'), [('GET', '/TT/g', b'hello'), ('GET', '/TT/b', b'')])
	add('method', 'head_then_get', head(b'HEAD /TT/h HTTP/1.1') + get(),
	    [('HEAD', '/TT/h', b''), G])
	add('method', 'head_with_body', head(b'HEAD /TT/h HTTP/1.1', b'Content-Length: 5') + b'hello' +
	    get(), [('HEAD', '/TT/h', b'hello'), G])
	add('method', 'options_star', head(b'OPTIONS * HTTP/1.1'), [('OPTIONS', '*', b'')])
	add('method', 'delete_with_body', head(b'DELETE /TT/d HTTP/1.1', b'Content-Length: 5') + b'hello',
	    [('DELETE', '/TT/d', b'hello')])

	# -- Expect: 100-continue
	exp = head(b'POST /TT/p HTTP/1.1', b'Content-Length: 5', b'Expect: 100-continue')
	add('continue', 'wait_for_100', [exp, 'info', b'hello'], [P5])
	add('continue', 'body_without_waiting', exp + b'hello', [P5])
	add('continue', 'chunked', [head(b'POST /TT/p HTTP/1.1', b'Transfer-Encoding: chunked',
					 b'Expect: 100-continue'), 'info', chunk5], [P5])
	add('continue', 'no_body', get(b'/TT/g', b'Expect: 100-continue'), [G], n_info=0)
	add('continue', 'http10_ignored', head(b'POST /TT/p HTTP/1.0', b'Connection: keep-alive',
					       b'Content-Length: 5', b'Expect: 100-continue') + b'hello' +
	    head(b'GET /TT/g HTTP/1.0', b'Connection: keep-alive'), [P5, G], n_info=0,
	    info='RFC 9110 10.1.1: an HTTP/1.0 request\'s 100-continue is ignored; a 1.0 client '
	    'takes a 100 for the final response, and every later one for the request after')
	add('continue', 'over_max_body', head(b'POST /TT/p HTTP/1.1', b'Expect: 100-continue',
					      b'Content-Length: %d' % (BODY_MAX + 1)), [413], True, n_info=0,
	    info='refused before the body: no 100 Continue invites it')
	add('continue', 'te_and_cl', head(b'POST /TT/p HTTP/1.1', b'Expect: 100-continue',
					  b'Content-Length: 5', b'Transfer-Encoding: chunked'), [400], True,
	    n_info=0)
	add('continue', 'unknown_expectation', post(b'hello', b'Content-Length: 5',
						    b'Expect: 100-continuex'), [P5])
	add('continue', 'then_pipelined', [exp, 'info', b'hello' + get()], [P5, G])
	add('continue', 'origin_sends_100', cl(b'hello', b'/continue/TT'),
	    [('POST', '/continue/TT', b'hello')])

	# -- pipelining after bodies, split at every boundary
	pipe = cl(b'hello') + get()
	add('pipeline', 'cl_body_then_get', pipe, [P5, G])
	add('pipeline', 'chunked_then_get', te(chunk5) + get(), [P5, G])
	add('pipeline', 'post_post_get', cl(b'hello') + te(chunk5) + get(), [P5, P5, G])
	big = bytes(range(256)) * 1200
	add('pipeline', 'large_cl_body_then_get', cl(big) + get(), [('POST', '/TT/p', big), G])
	add('pipeline', 'large_chunked_body_then_get',
	    te(b''.join(b'%x;n=%d\r\n%s\r\n' % (len(big[k:k + 997]), k, big[k:k + 997])
			for k in range(0, len(big), 997)) + b'0\r\nX-T: 1\r\n\r\n') + get(),
	    [('POST', '/TT/p', big), G])
	# The visitor's input block is 40 KiB: the next head straddles its end.
	for d in (-7, 0, 9):
		h = cl(b'')
		n = 40960 - len(h) - len(str(40960)) + d
		add('pipeline', 'head_across_input_block_%+d' % d, cl(b'b' * n) + get(b'/TT/g', b'X-P: ' + b'p' * 60),
		    [('POST', '/TT/p', b'b' * n), G])
	pad = b'X-Pad: ' + b'p' * 200
	add('pipeline', 'many_gets_past_input_block', b''.join(get(b'/TT/%d' % k, pad) for k in range(200)),
	    [('GET', '/TT/%d' % k, b'') for k in range(200)])
	add('pipeline', 'origin_304_with_length', get(b'/s304/TT') + get(),
	    [('GET', '/s304/TT', b'', 304), G],
	    info='a 304 has no body whatever its Content-Length says: the next response is framed '
	    'after its head')
	add('pipeline', 'origin_204', get(b'/s204/TT') + cl(b'hello'), [('GET', '/s204/TT', b'', 204), P5])
	add('pipeline', 'head_origin_length', head(b'HEAD /TT/h HTTP/1.1') + head(b'HEAD /TT/i HTTP/1.1') +
	    get(), [('HEAD', '/TT/h', b''), ('HEAD', '/TT/i', b''), G])
	add('pipeline', 'origin_drops_post', cl(b'hello', b'/drop/TT') + get(),
	    [('POST', '/drop/TT', b'hello', 502), G], None,
	    info='the origin closes without an answer: a POST is never sent twice')
	add('pipeline', 'origin_drops_chunked_post', te(chunk5, b'/drop/TT') + get(),
	    [('POST', '/drop/TT', b'hello', 502), G], None)
	add('pipeline', 'origin_closes_after_body', cl(b'hello', b'/close/TT') + te(chunk5, b'/close/TT') +
	    get(), [('POST', '/close/TT', b'hello'), ('POST', '/close/TT', b'hello'), G],
	    info='the origin answers "Connection: close": the next request goes on a new connection')
	hend = pipe.index(b'\r\n\r\n') + 4
	for at in (hend - 2, hend - 1, hend, hend + 1, hend + 5, hend + 6, hend + 9, len(pipe) - 1):
		add('pipeline', 'cl_split_at_%d' % at, splits(pipe, [at]), [P5, G])
	cpipe = te(b'2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\nX-T: 1\r\n\r\n') + get()
	chend = cpipe.index(b'\r\n\r\n') + 4
	marks = [chend + i for i in (1, 2, 3, 5, 7, 8, 12, 15, 16, 18, 20, 27, 28, 29)]
	add('pipeline', 'chunked_split_at_every_framing_byte', splits(cpipe, marks), [P5, G])
	add('pipeline', 'cl_byte_by_byte', bytewise(pipe), [P5, G])
	add('pipeline', 'chunked_byte_by_byte', bytewise(cpipe), [P5, G])
	add('pipeline', 'bare_lf_byte_by_byte', bytewise(head(b'GET /TT/g HTTP/1.1', end=b'\n')), [G])

	# -- early responses: the origin answers before it read the body
	ehead = head(b'POST /early/TT HTTP/1.1', b'Content-Length: %d' % (5 + len(SMUG)))
	E = ('POST', '/early/TT', None)
	add('early', 'partial_body_then_wait', [ehead + b'hello', READ, 0.3], [E], True, after='desync')
	add('early', 'partial_body_then_smuggle', [ehead + b'hello', READ, SMUG], [E], True,
	    after='desync')
	add('early', 'no_body_then_rest', [ehead, READ, b'hello' + SMUG], [E], True, after='desync')
	add('early', 'chunked_partial', [head(b'POST /early/TT HTTP/1.1', b'Transfer-Encoding: chunked') +
					 b'5\r\nhello\r\n', READ, b'0\r\n\r\n' + SMUG], [E], True,
	    after='desync')
	add('early', 'expect_100_no_body', [head(b'POST /early/TT HTTP/1.1', b'Content-Length: 40',
						 b'Expect: 100-continue'), READ, 0.2], [E], True,
	    after='desync')
	add('early', 'visitor_gone_mid_body', [head(b'POST /TT/p HTTP/1.1', b'Content-Length: 100') +
					       b'hello', 0.2, 'close'], [CUT], None)
	add('early', 'visitor_gone_mid_chunk', [head(b'POST /TT/p HTTP/1.1', b'Transfer-Encoding: chunked') +
						b'64\r\nhello', 0.2, 'close'], [CUT], None)
	add('early', 'whole_body_at_once', ehead + b'hello' + SMUG, [E], None,
	    info='the whole body may be sent before the answer: then the connection may stay')
	return v


# ---- running an HTTP/1.1 vector ---------------------------------------------

class Client(et.RawConn):
	"""RawConn that counts the 1xx responses it skips."""

	def __init__(self, port, timeout):
		super().__init__(port, timeout)
		self.n_info = 0

	def _head(self, deadline, r):
		super()._head(deadline, r)
		if r.status < 200:
			self.n_info += 1


ALNUM = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'


def vid(i):
	"""Vector i's path prefix: '/' and two characters, as long as the
	'/TT' it replaces, so split offsets and HTTP/2 frame lengths hold."""
	return '/' + ALNUM[i // len(ALNUM)] + ALNUM[i % len(ALNUM)]


def subst(b, i):
	return b.replace(b'/TT', vid(i).encode())


def send_pieces(c, pieces, i, problems, got):
	"""Send the pieces; READ reads a response into got, 'info' waits for
	a 100 Continue."""
	# '/TT' becomes the vector's prefix over the whole byte stream (a
	# piece may end inside it), then the stream is cut where it was.
	stream = subst(b''.join(p for p in pieces if isinstance(p, bytes)), i)
	at = 0
	for p in pieces:
		if isinstance(p, bytes):
			p, at = stream[at:at + len(p)], at + len(p)
		if isinstance(p, float):
			time.sleep(p)
		elif p == READ:
			got.append(read_one(c))
		elif p == 'close':        # the visitor goes away: nothing more to read
			c.sock.close()
			return True
		elif p == 'info':
			try:
				c.sock.settimeout(2.0)
				data = c.sock.recv(4096)
			except OSError:
				data = b''
			if not data.startswith(b'HTTP/1.1 100 '):
				problems.append('no 100 Continue before the body: %r' % data[:60])
			c.n_info += 1
			c.buf += data[data.find(b'\r\n\r\n') + 4:] if b'\r\n\r\n' in data else b''
		else:
			try:
				c.send(p)
			except OSError:
				pass          # the edge answered and closed already
			if len(pieces) > 1 and not any(isinstance(x, float) for x in pieces):
				time.sleep(GAP)


def read_one(c, head_request=False):
	try:
		return c.read_response(head_request=head_request, timeout=4.0)
	except (et.Closed, socket.timeout, OSError, ValueError) as e:
		return e


def expect_resp(e, i):
	"""(status, body or None) the client must get for expect item e."""
	if isinstance(e, int):
		return e, None
	m, t = e[0], e[1].replace('/TT', vid(i))
	if len(e) == 4:           # ('GET', '/s304/TT', b'', 304): that status, no body
		return e[3], b'' if e[3] < 400 else None    # (a 502 is the edge's)
	if t.startswith('/early/'):
		return 200, b'early %s %s\n' % (m.encode(), t.encode())
	return 200, b'' if m == 'HEAD' else naming(m, t, e[2])


def run_h1(ck, srv, tap, i, vec):
	problems = []
	snap = tap.snapshot()
	c = Client(srv.port, 4.0)
	got = []
	try:
		gone = send_pieces(c, vec.pieces, i, problems, got)
		resp = [e for e in vec.expect if isinstance(e, int) or e[3:] != ('cut',)]
		while len(got) < len(resp) and not gone:
			e = resp[len(got)]
			got.append(read_one(c, head_request=not isinstance(e, int) and e[0] == 'HEAD'))
		for n, (e, r) in enumerate(zip(resp, got)):
			status, body = expect_resp(e, i)
			if not isinstance(r, et.Response) or r.status != status or \
			   (body is not None and r.body != body):
				problems.append('response %d: want %d %r, got %r %r' %
						(n, status, body, r, getattr(r, 'body', b'')[:80]))
		if gone:
			pass
		elif vec.n_info is not None and c.n_info != vec.n_info:
			problems.append('%d 1xx responses, want %d' % (c.n_info, vec.n_info))
		if vec.closed is True and not c.closed(2.0):
			problems.append('the edge kept the connection open')
		elif vec.closed is False:
			if c.buf:
				problems.append('stray bytes after the responses: %r' % bytes(c.buf[:80]))
			elif c.closed(0.05):
				problems.append('the edge closed the connection')
	finally:
		c.close()
	expected = [e for e in vec.expect if not isinstance(e, int)]
	check_origin(tap, snap, i, expected, problems, srv, vec.forbid)
	ck.check(vec.label(i), not problems, '\n      ' + '\n      '.join(problems) +
		 ('\n      (%s)' % vec.info if vec.info else ''))


def canary(srv, i, problems):
	t = vid(i) + '/canary'
	r = read_one_req(srv, b'GET %s HTTP/1.1\r\nHost: tap.test\r\n\r\n' % t.encode())
	if not isinstance(r, et.Response) or r.status != 200 or r.body != naming('GET', t, b''):
		problems.append('canary: %r %r' % (r, getattr(r, 'body', b'')[:80]))
	return t


def read_one_req(srv, data):
	c = et.RawConn(srv.port, 4.0)
	try:
		c.send(data)
		return read_one(c)
	finally:
		c.close()


def covered(events, grew):
	"""Every byte that grew on an origin connection is in a logged request."""
	reqs = [e for e in events if 'seq' in e]
	for cid, (lo, hi) in grew.items():
		pos = lo
		for a, b in sorted((e['start'], e['end'] if e['end'] is not None else hi)
				   for e in reqs if e['conn'] == cid):
			if a == pos:
				pos = b
		if pos != hi:
			return False
	return True


def settled(tap, snap, timeout=1.5):
	"""The tap's view once it logged what it received (bytes after an
	early answer, a large body are still being read), or at the deadline."""
	deadline = time.monotonic() + timeout
	time.sleep(0.03)
	events, grew = tap.since(snap)
	while not covered(events, grew) and time.monotonic() < deadline:
		time.sleep(0.05)
		events, grew = tap.since(snap)
	return events, grew


def check_origin(tap, snap, i, expected, problems, srv, forbid=()):
	"""The tap saw exactly `expected` (then the canary), byte for byte."""
	t_canary = canary(srv, i, problems)
	events, grew = settled(tap, snap)
	errors = [e for e in events if 'error' in e]
	reqs = [e for e in events if 'seq' in e]
	if errors:
		problems.append('origin parse errors: %s' % errors)
	canaries = [e for e in reqs if e['target'] == t_canary]
	if len(canaries) != 1 or canaries[0].get('partial') or canaries[0]['body_len'] != 0:
		problems.append('origin: canary seen %r' % canaries)
	seen = [e for e in reqs if e['target'] != t_canary]
	cut = [t.replace('/TT', vid(i)) for m, t, b, *k in expected if k == ['cut']]
	for e in [e for e in seen if e['target'] in cut]:
		if not e.get('partial'):
			problems.append('origin: %s %s complete, want it cut' % (e['method'], e['target']))
		seen.remove(e)
	want = [(m, t.replace('/TT', vid(i)), b) for m, t, b, *k in expected if k != ['cut']]
	if [(e['method'], e['target']) for e in seen] != [(m, t) for m, t, _ in want]:
		problems.append('origin saw %s, want %s' % (
			[(e['method'], e['target'], e.get('body_len')) for e in seen],
			[(m, t, None if b is None else len(b)) for m, t, b in want]))
	else:
		for e, (m, t, b) in zip(seen, want):
			if b is None:
				continue      # an early answer: the body may be cut
			if e.get('partial') or e['body_len'] != len(b) or \
			   e['body_sha'] != hashlib.sha256(b).hexdigest():
				problems.append('origin: %s %s body %s bytes%s, want %d' % (
					m, t, e.get('body_len'), ' (cut)' if e.get('partial') else '', len(b)))
	# Byte for byte: every byte on every origin connection belongs to a request.
	for cid, (lo, hi) in grew.items():
		spans = sorted((e['start'], e['end'] if e['end'] is not None else hi)
			       for e in reqs if e['conn'] == cid)
		pos = lo
		for a, b in spans:
			if a != pos:
				break
			pos = b
		if pos != hi:
			raw = tap.raw(cid)
			problems.append('origin connection %d: bytes %d-%d not in any request: %r' %
					(cid, pos, hi, raw[pos:pos + 120]))
	for e in reqs:
		raw = tap.raw(e['conn'])[e['start']:e['head_end']]
		if any(f in raw.lower() for f in [b'smug'] + list(forbid)):
			problems.append('origin head carries a smuggled part: %r' % raw)
		if not raw.startswith(b'%s %s HTTP/1.1\r\n' % (e['method'].encode(),
								e['target'].encode('latin-1'))):
			problems.append('origin head: %r' % raw[:80])


# ---- HTTP/2 ------------------------------------------------------------------

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS = 1, 4


def frame(ftype, flags, sid, payload=b''):
	return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
		struct.pack('>I', sid) + payload


def hp_int(v, prefix_bits, first=0):
	cap = (1 << prefix_bits) - 1
	if v < cap:
		return bytes([first | v])
	out, v = [first | cap], v - cap
	while v >= 128:
		out.append((v & 0x7f) | 0x80)
		v >>= 7
	return bytes(out + [v])


def hpack(fields):
	"""Literal header fields without indexing, new names (RFC 7541 6.2.2)."""
	out = b''
	for n, v in fields:
		out += b'\x00' + hp_int(len(n), 7) + n + hp_int(len(v), 7) + v
	return out


def req_fields(method=b'GET', path=b'/TT/g', extra=(), authority=HOST):
	f = [(b':method', method), (b':scheme', b'http'), (b':path', path)]
	if authority is not None:
		f.append((b':authority', authority))
	return f + list(extra)


class H2V:
	"""frames: a list of frame bytes (or floats: pauses; READ: wait for
	the response) after the preface and SETTINGS, all on stream 1.
	expect: ('METHOD', '/T...', body) forwarded and answered, an int
	status the edge answers itself, 'reset' (RST_STREAM or GOAWAY, nothing
	forwarded), or 'early'."""

	def __init__(self, name, frames, expect, after=None, info=None, cut_ok=False):
		self.family, self.name, self.frames, self.expect = 'h2', name, frames, expect
		self.after, self.info, self.cut_ok = after, info, cut_ok

	label = V.label


def h2_vectors():
	v = []
	H = lambda fields, es=True: frame(HEADERS, END_HEADERS | (END_STREAM if es else 0), 1,  # noqa: E731
					  hpack(fields))
	D = lambda data, es=True: frame(DATA, END_STREAM if es else 0, 1, data)  # noqa: E731
	post = lambda *extra: req_fields(b'POST', b'/TT/p', list(extra))  # noqa: E731
	add = lambda *a, **k: v.append(H2V(*a, **k))  # noqa: E731
	add('get', [H(req_fields())], G)
	add('post_cl', [H(post((b'content-length', b'5')), False), D(b'hello')], P5)
	add('post_cl_two_data', [H(post((b'content-length', b'5')), False), D(b'he', False), 0.05,
				 D(b'llo')], P5)
	add('post_no_cl', [H(post(), False), D(b'hello')], 411)
	add('cl_more_data', [H(post((b'content-length', b'5')), False), D(b'hello' + SMUG)], 'reset',
	    cut_ok=True, info='the origin got the head: its connection must close')
	add('cl_less_data', [H(post((b'content-length', b'%d' % (5 + len(SMUG)))), False), D(b'hello')],
	    'reset', cut_ok=True)
	add('cl_less_data_stalled', [H(post((b'content-length', b'100')), False), D(b'hello', False), 0.2],
	    'open', cut_ok=True,
	    info='the stream stays open: a canary must not ride the origin connection waiting for '
	    'the other 95 bytes')
	add('headers_end_stream_with_cl', [H(post((b'content-length', b'5')))], 'reset')
	add('cl_list', [H(post((b'content-length', b'5, 5')), False), D(b'hello')], 'reset')
	add('cl_twice', [H(post((b'content-length', b'5'), (b'content-length', b'5')), False),
			 D(b'hello')], 'reset')
	add('cl_plus', [H(post((b'content-length', b'+5')), False), D(b'hello')], 'reset')
	add('transfer_encoding_chunked', [H(post((b'transfer-encoding', b'chunked')), False),
					  D(b'5\r\nhello\r\n0\r\n\r\n')], 'reset')
	for n, val in ((b'connection', b'close'), (b'keep-alive', b'timeout=5'), (b'upgrade', b'h2c'),
		       (b'proxy-connection', b'keep-alive'), (b'te', b'gzip')):
		add('conn_specific_' + n.decode().replace('-', '_'), [H(req_fields(extra=[(n, val)]))],
		    'reset')
	add('te_trailers', [H(req_fields(extra=[(b'te', b'trailers')]))], G)
	add('duplicate_path', [H(req_fields() + [(b':path', b'/TT/smug')])], 'reset')
	add('path_space', [H(req_fields(path=b'/TT/g HTTP/1.1\r\nX-Smug: 1'))], 'reset')
	add('path_space_only', [H(req_fields(path=b'/TT/g smug'))], 'reset')
	add('path_relative', [H(req_fields(path=b'T/g'))], 'reset')
	add('path_empty', [H(req_fields(path=b''))], 'reset')
	add('method_space', [H(req_fields(method=b'GET /TT/smug'))], 'reset')
	add('value_crlf', [H(req_fields(extra=[(b'x-a', b'a\r\nX-Smug: 1')]))], 'reset')
	add('value_lf', [H(req_fields(extra=[(b'x-a', b'a\nX-Smug: 1')]))], 'reset')
	add('value_cr', [H(req_fields(extra=[(b'x-a', b'a\rX-Smug: 1')]))], 'reset')
	add('value_nul', [H(req_fields(extra=[(b'x-a', b'a\x00smug')]))], 'reset')
	add('value_leading_space', [H(req_fields(extra=[(b'x-a', b' a')]))], 'reset')
	add('value_ctl', [H(req_fields(extra=[(b'x-a', b'a\x01b')]))], 'reset')
	add('value_del', [H(req_fields(extra=[(b'x-a', b'a\x7fb')]))], 'reset')
	add('authority_userinfo', [H(req_fields(authority=b'smug@tap.test'))], 'reset')
	add('duplicate_authority', [H(req_fields() + [(b':authority', b'smug.test')])], 'reset')
	add('pseudo_after_regular', [H([(b':method', b'GET'), (b':scheme', b'http'), (b'x-a', b'1'),
					(b':path', b'/TT/g'), (b':authority', HOST)])], 'reset')
	add('host_twice', [H(req_fields(authority=None, extra=[(b'host', HOST), (b'host', b'other.test')]))],
	    'reset')
	add('value_obs_text', [H(req_fields(extra=[(b'x-a', b'caf\xc3\xa9')]))], G)
	add('name_upper', [H(req_fields(extra=[(b'X-Smug', b'1')]))], 'reset')
	add('name_colon', [H(req_fields(extra=[(b'x-a:x-smug', b'1')]))], 'reset')
	add('name_space', [H(req_fields(extra=[(b'x-a x-smug', b'1')]))], 'reset')
	add('name_crlf', [H(req_fields(extra=[(b'x-a\r\nx-smug', b'1')]))], 'reset')
	add('authority_and_host_differ', [H(req_fields(extra=[(b'host', b'other.test')]))], G)
	add('host_only', [H(req_fields(authority=None, extra=[(b'host', HOST)]))], G)
	add('authority_other_host_ours', [H(req_fields(authority=b'other.test', extra=[(b'host', HOST)]))],
	    404)
	add('authority_bad_byte', [H(req_fields(authority=b'tap.test/smug'))], 'reset')
	add('trailers', [H(post((b'content-length', b'5')), False), D(b'hello', False),
			 H([(b'x-trailer', b'smug')])], P5)
	add('trailers_with_pseudo', [H(post((b'content-length', b'5')), False), D(b'hello', False),
				     H([(b':path', b'/TT/smug')])], 'reset', cut_ok=True,
	    info='the body was sent whole, the stream is reset: the origin answer is not read')
	add('data_after_end_stream', [H(post((b'content-length', b'5')), False), D(b'hello'), READ,
				      D(SMUG)], P5)
	add('rst_mid_upload', [H(post((b'content-length', b'100')), False), D(b'hello', False), 0.1,
			       frame(RST, 0, 1, struct.pack('>I', 8))], 'open', cut_ok=True,
	    info='the stream is cancelled mid-body: the origin connection must close')
	add('connect', [H([(b':method', b'CONNECT'), (b':authority', b'tap.test:80')])], 'reset')
	add('early_partial_body', [H(req_fields(b'POST', b'/early/TT', [(b'content-length', b'40')]), False),
				   D(b'hello', False), READ, D(SMUG, False), 0.1], 'early', cut_ok=True,
	    after='desync')
	add('cookie_crumbs', [H(req_fields(extra=[(b'cookie', b'a=1'), (b'cookie', b'b=2')]))], G)
	return v


def h2_exchange(srv, vec, i):
	"""Run vec on a fresh h2c connection: (DATA bytes of stream 1, its
	end: 'end' | 'reset' | 'goaway' | 'open', frames)."""
	s = socket.create_connection(('127.0.0.1', srv.port), timeout=4)
	buf, frames, body, end = b'', [], b'', 'open'

	def pump(deadline, until_data=False):
		nonlocal buf, body, end
		while time.monotonic() < deadline and end == 'open':
			if until_data and body:
				return
			s.settimeout(max(0.01, deadline - time.monotonic()))
			try:
				d = s.recv(65536)
			except socket.timeout:
				return
			except OSError:
				d = b''
			if not d:
				end = end if end != 'open' else 'eof'
				return
			buf += d
			while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], 'big'):
				n = int.from_bytes(buf[:3], 'big')
				t, fl, sid, pl = buf[3], buf[4], int.from_bytes(buf[5:9], 'big') & 0x7fffffff, buf[9:9 + n]
				buf = buf[9 + n:]
				frames.append((t, fl, sid))
				if t == SETTINGS and not fl & 1:
					s.sendall(frame(SETTINGS, 1, 0))
				if sid == 1 and t == DATA:
					body += pl
				if sid == 1 and t in (DATA, HEADERS) and fl & END_STREAM:
					end = 'end'
				if sid == 1 and t == RST:
					end = 'reset'
				if t == GOAWAY:
					end = 'goaway'
	try:
		s.sendall(PREFACE + frame(SETTINGS, 0, 0))
		for f in vec.frames:
			if isinstance(f, float):
				time.sleep(f)
			elif f == READ:
				pump(time.monotonic() + 3.0, until_data=True)
			else:
				try:
					s.sendall(subst(f, i))
				except OSError:
					pass
		pump(time.monotonic() + (0.3 if vec.expect == 'open' else 3.0))
	finally:
		s.close()
	return body, end, frames


def run_h2(ck, srv, tap, i, vec):
	problems = []
	snap = tap.snapshot()
	body, end, frames = h2_exchange(srv, vec, i)
	e = vec.expect
	expected = []
	if isinstance(e, tuple):
		expected = [e]
		want = naming(e[0], e[1].replace('/TT', vid(i)), e[2])
		if end != 'end' or body != want:
			problems.append('want %r, got %r (%s)' % (want, body[:80], end))
	elif e == 'early':
		expected = [('POST', '/early/TT', None)]
		if not body.startswith(b'early POST /early' + vid(i).encode()):
			problems.append('no early answer: %r (%s)' % (body[:80], end))
	elif e == 'reset':
		# RST_STREAM / GOAWAY, or the edge's own 4xx: never the origin's answer
		if end not in ('reset', 'goaway') and (end != 'end' or body[:1] not in (b'4', b'') or
							 vid(i).encode() + b'/' in body):
			problems.append('want the stream refused, got %s %r' % (end, body[:80]))
	elif e == 'open':
		expected = [('POST', '/TT/p', None)]
	elif isinstance(e, int):
		if end != 'end' or (body and b'%d' % e not in body[:200]):
			problems.append('want the edge\'s own %d, got %s %r' % (e, end, body[:80]))
	if vec.cut_ok:
		check_origin_h2_cut(tap, snap, i, problems, srv)
	else:
		check_origin(tap, snap, i, expected, problems, srv)
	ck.check(vec.label(i), not problems, '\n      ' + '\n      '.join(problems) +
		 ('\n      (%s)' % vec.info if vec.info else ''))


def check_origin_h2_cut(tap, snap, i, problems, srv):
	"""A stream cut mid-body: the origin may have the head and part of the
	body of that one request (cut), but nothing else, and the canary
	must reach it cleanly."""
	t_canary = canary(srv, i, problems)
	events, grew = settled(tap, snap)
	reqs = [e for e in events if 'seq' in e]
	others = [e for e in reqs if e['target'] not in (t_canary, vid(i) + '/p', '/early' + vid(i))]
	if others or [e for e in events if 'error' in e]:
		problems.append('origin saw more: %s' % [e for e in events if 'error' in e or e in others])
	canaries = [e for e in reqs if e['target'] == t_canary]
	if len(canaries) != 1 or canaries[0].get('partial'):
		problems.append('origin: canary seen %r' % canaries)
	for cid, (lo, hi) in grew.items():
		covered = sorted((e['start'], e['end'] if e['end'] is not None else hi)
				 for e in reqs if e['conn'] == cid)
		pos = lo
		for a, b in covered:
			if a == pos:
				pos = b
		if pos != hi:
			problems.append('origin connection %d: bytes %d-%d not in any request: %r' %
					(cid, pos, hi, tap.raw(cid)[pos:pos + 120]))


# ---- main ----------------------------------------------------------------------

def main():
	tap = TapOrigin()
	zones = [et.zone('tap', ['tap.test'], [('a', tap.url, {'read_timeout_ms': 2000})])]
	srv = et.server(zones, max_body_bytes=BODY_MAX, header_timeout_ms=3000).start()
	ck = et.Checks()
	h1, h2 = h1_vectors(), h2_vectors()
	only = os.environ.get('SMUGGLE_ONLY')
	t0 = time.monotonic()
	fams = {}
	c0 = srv.counters() if srv.has_counters else None
	bad_chunks = 0
	for i, vec in enumerate(h1 + h2):
		if only and only not in vec.label(i):
			continue
		fams[vec.family] = fams.get(vec.family, 0) + 1
		bad_chunks += isinstance(vec, V) and vec.expect == [CUT, 400]
		fn = run_h1 if isinstance(vec, V) else run_h2
		try:
			fn(ck, srv, tap, i, vec)
		except Exception as e:
			ck.check(vec.label(i), False, 'raised %r' % e)
	print('vectors per family: %s; HTTP/1.1 %d, HTTP/2 %d; %.1fs' %
	      (fams, len(h1), len(h2), time.monotonic() - t0), flush=True)
	if c0 is not None:
		d = srv.counters().get('parse_error_bad_chunk', 0) - c0.get('parse_error_bad_chunk', 0)
		ck.check('parse_error_bad_chunk grew by the %d refused chunked bodies (%d)' %
			 (bad_chunks, d), d == bad_chunks)
	after = [n for n in ck.failed if '[after ' in n]
	if after:
		print('failing until another branch is merged: %d' % len(after), flush=True)
	r = et.request(srv.port, 'GET', '/t0/last', host='tap.test')
	ck.check('the edge still serves after every vector', r.status == 200, repr(r))
	ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
