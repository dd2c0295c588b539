#!/usr/bin/python3
"""S3 secrets in the running process, and a credential change with a cache,
through the real binary against a real signature-checking S3 server (Swift +
s3api, tests/lib/swift.py; the memory checks need no Swift).

Memory (read from /proc/PID/smaps and /proc/PID/mem, as root):
- the snapshot's credential mapping (its address comes from a debug-level
  log line; the address only) has `dd` in VmFlags (MADV_DONTDUMP) and does
  hold the credentials;
- no mapping a core dump would include (readable, without `dd`) holds the
  secret or the session token;
- after a SIGHUP to another secret, the old secret is nowhere in the
  process's memory once the old snapshot is freed (wiped, not just freed).

Cache across a credential change (zone default_ttl = 1h, disk cache):
GET MISS then HIT; SIGHUP with a WRONG secret → the cached object is still
a HIT 200 with the right bytes and no origin request; a key never fetched
is 403 SignatureDoesNotMatch, twice, each time from the origin (never
cached); SIGHUP back → that key and others are 200 byte-exact."""
import os
import random
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
import swift  # noqa: E402

PORT_BASE = 21240          # Swift: 21240-21244 (test_s3_origin 21100, check_origin 21000)
ACCESS, SECRET = 'edge:s3keeper', 'Sekr3t-dontdump-9f4e1c7a2b'
WRONG = 'Wr0ng-dontdump-3c8d5e0f6a'
TOKEN = 'T0ken-dontdump-' + 'x7' * 40
BUCKET = 'kept'


# ---- the process's memory ------------------------------------------------------

def mappings(pid):
	"""[(start, end, perms, name, rss_kb, vmflags)] from /proc/PID/smaps."""
	out, cur = [], None
	with open('/proc/%d/smaps' % pid) as f:
		for ln in f:
			m = re.match(r'^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$', ln)
			if m:
				cur = {'start': int(m.group(1), 16), 'end': int(m.group(2), 16),
				       'perms': m.group(3), 'name': m.group(4), 'rss': 0, 'flags': []}
				out.append(cur)
			elif ln.startswith('Rss:'):
				cur['rss'] = int(ln.split()[1])
			elif ln.startswith('VmFlags:'):
				cur['flags'] = ln.split()[1:]
	return out


CHUNK = 16 << 20


def read_mem(pid, start, end):
	try:
		with open('/proc/%d/mem' % pid, 'rb', buffering=0) as f:
			f.seek(start)
			return f.read(end - start)
	except OSError:
		return None      # [vvar], [vsyscall], io_uring rings: not readable this way


def holds(pid, m, needle):
	"""Does mapping m hold needle? Read in chunks that overlap by its length."""
	pos = m['start']
	while pos < m['end']:
		data = read_mem(pid, pos, min(pos + CHUNK + len(needle), m['end']))
		if data is None:
			return False
		if needle in data:
			return True
		pos += CHUNK
	return False


def sanitized(pid):
	"""ASan reserves terabytes (shadow, allocator): not scannable here."""
	with open('/proc/%d/maps' % pid) as f:
		return 'libasan' in f.read()


def where(pid, needle):
	"""The mappings that hold needle: [(name or address, has dd)]."""
	found = []
	for m in mappings(pid):
		if 'r' not in m['perms'] or m['rss'] == 0:
			continue
		if holds(pid, m, needle.encode()):
			found.append(('%s@%x' % (m['name'] or 'anon', m['start']), 'dd' in m['flags']))
	return found


def creds_address(srv, generation=None):
	"""(generation, address, bytes) of the newest snapshot's credential
	mapping, from the debug log line core/runtime.c writes."""
	pat = re.compile(r'snapshot (\d+): credentials in a no-dump mapping at (0x[0-9a-f]+), (\d+) bytes')
	best = None
	for ln in et.read_log(srv.error_log):
		m = pat.search(ln)
		if m and (generation is None or int(m.group(1)) == generation):
			best = (int(m.group(1)), int(m.group(2), 16), int(m.group(3)))
	return best


def memory(ck, srv):
	pid = srv.proc.pid
	if not os.access('/proc/%d/mem' % pid, os.R_OK):
		ck.skip('memory checks', 'cannot read /proc/%d/mem (not root?)' % pid)
		return
	a = creds_address(srv)
	ck.check('the debug log gives the credential mapping\'s address (%s)' %
		 (hex(a[1]) if a else None), a is not None)
	if not a:
		return
	_, addr, size = a
	m = [x for x in mappings(pid) if x['start'] <= addr < x['end']]
	ck.check('a mapping holds that address', len(m) == 1, repr(m))
	if not m:
		return
	m = m[0]
	print('credential mapping: %x-%x %s VmFlags: %s' % (m['start'], m['end'], m['perms'],
							      ' '.join(m['flags'])))
	ck.check('the credential mapping has dd in VmFlags (MADV_DONTDUMP)', 'dd' in m['flags'],
		 ' '.join(m['flags']))
	data = read_mem(pid, addr, addr + size) or b''
	ck.check('it holds the credentials (access key, secret, token)',
		 ACCESS.encode() in data and SECRET.encode() in data and TOKEN.encode() in data)
	if sanitized(pid):
		ck.skip('no secret in dumpable memory', 'an ASan build: its terabyte reservations '
			'cannot be scanned (the release build runs this check)')
		return
	for name, value in (('secret', SECRET), ('session token', TOKEN)):
		w = where(pid, value)
		ck.check('the %s is only in mappings a core dump leaves out (%s)' % (name, w),
			 w and all(dd for _, dd in w), repr(w))


def gone(ck, srv, what, value, timeout=5.0):
	"""After a reload, the old value disappears once the old snapshot is
	freed (the control thread frees it when every shard moved on)."""
	pid = srv.proc.pid
	if not os.access('/proc/%d/mem' % pid, os.R_OK) or sanitized(pid):
		ck.skip('%s wiped' % what, 'cannot scan the memory of %d (not root, or ASan)' % pid)
		return
	deadline = time.monotonic() + timeout
	w = where(pid, value)
	while w and time.monotonic() < deadline:
		time.sleep(0.1)
		w = where(pid, value)
	ck.check('%s: nowhere in the process\'s memory once its snapshot is freed' % what,
		 not w, repr(w))


# ---- a credential change with a cache --------------------------------------------------

def zone_file(srv, secret):
	return et.zone('kept', ['kept.test'], [('bucket', srv.s3.endpoint, {
		's3_auth_enabled': 'true', 's3_access_key': ACCESS,
		's3_secret_key_file': srv.secret_file(secret), 's3_region': srv.s3.location,
		's3_session_token_file': srv.secret_file(TOKEN), 'base_path': '/' + BUCKET})],
		default_ttl='1h')


def get(srv, path):
	return et.request(srv.port, 'GET', path, host='kept.test')


def reload_until(srv, secret, want_status, timeout=5.0):
	"""Rewrite the zone, SIGHUP, and probe with keys nobody cached (a new
	query each: query_string = include) until the new secret is in use."""
	srv.rewrite_zone(zone_file(srv, secret))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + timeout
	i, r = 0, None
	while time.monotonic() < deadline:
		i += 1
		r = get(srv, '/obj-b?probe=%s-%d' % (secret[:5], i))
		if r.status == want_status:
			return r
		time.sleep(0.05)
	return r


def signed(srv):
	return srv.counters().get('s3_signed', 0)


def credential_change(ck, srv, objs):
	n0 = srv.counters().get('cache_fills', 0)
	r1 = get(srv, '/obj-a')
	deadline = time.monotonic() + 5
	while srv.counters().get('cache_fills', 0) <= n0 and time.monotonic() < deadline:
		time.sleep(0.02)
	r2 = get(srv, '/obj-a')
	ck.check('GET: MISS 200, then HIT 200 with the same bytes',
		 r1.status == 200 and r1.header('x-cache') == 'MISS' and r1.body == objs['obj-a'] and
		 r2.status == 200 and r2.header('x-cache') == 'HIT' and r2.body == objs['obj-a'],
		 '%r %s / %r %s' % (r1, r1.header('x-cache'), r2, r2.header('x-cache')))

	r = reload_until(srv, WRONG, 403)
	ck.check('SIGHUP with a wrong secret: a new key is 403 SignatureDoesNotMatch',
		 r.status == 403 and b'<Code>SignatureDoesNotMatch</Code>' in r.body, repr(r))
	s0 = signed(srv)
	r = get(srv, '/obj-a')
	ck.check('the cached object is still a HIT 200 with the right bytes',
		 r.status == 200 and r.header('x-cache') == 'HIT' and r.body == objs['obj-a'],
		 '%r %s' % (r, r.header('x-cache')))
	ck.check('... and no origin request was made for it', signed(srv) == s0,
		 '%d signed' % (signed(srv) - s0))
	r1 = get(srv, '/obj-c')
	s1 = signed(srv)
	r2 = get(srv, '/obj-c')
	ck.check('a key never fetched: 403 SignatureDoesNotMatch, twice',
		 r1.status == 403 and r2.status == 403 and
		 b'SignatureDoesNotMatch' in r1.body and b'SignatureDoesNotMatch' in r2.body,
		 '%r %r' % (r1, r2))
	ck.check('... the second one from the origin again: a 403 is never cached',
		 signed(srv) == s1 + 1 and r2.header('x-cache') != 'HIT',
		 '%d signed, X-Cache %s' % (signed(srv) - s1, r2.header('x-cache')))
	gone(ck, srv, 'the replaced secret', SECRET)
	memory_dd(ck, srv, WRONG)

	r = reload_until(srv, SECRET, 200)
	ck.check('SIGHUP back to the right secret: a new key is 200', r.status == 200, repr(r))
	ok = True
	for k in ('obj-c', 'obj-b'):
		r = get(srv, '/' + k)
		ok = ok and r.status == 200 and r.body == objs[k]
	ck.check('the key refused before, and another, are 200 byte-exact', ok)
	r = get(srv, '/obj-a')
	ck.check('the object cached before both changes is still a HIT',
		 r.status == 200 and r.header('x-cache') == 'HIT' and r.body == objs['obj-a'],
		 '%r %s' % (r, r.header('x-cache')))
	gone(ck, srv, 'the wrong secret, replaced in turn', WRONG)


def memory_dd(ck, srv, value):
	pid = srv.proc.pid
	if os.access('/proc/%d/mem' % pid, os.R_OK) and not sanitized(pid):
		w = where(pid, value)
		ck.check('the new secret is only in no-dump mappings (%s)' % w,
			 w and all(dd for _, dd in w), repr(w))


def main():
	missing = swift.missing_packages()
	if missing:
		et.skip('Swift + s3api not installed (%s): run scripts/setup' % ' '.join(missing))
	rng = random.Random(5)
	objs = {k: rng.randbytes(20000) for k in ('obj-a', 'obj-b', 'obj-c')}
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		for k, v in objs.items():
			s3.put(BUCKET, k, v, access_key=ACCESS, secret_key=SECRET)
		srv = et.Edgecache([], log_level='debug', cache={
			'path': os.path.join(et.tmpdir('s3secrets-cache'), 'c.dat'), 'size': '16m',
			'memory': '4m'})
		srv.s3 = s3
		srv.zones = [zone_file(srv, SECRET)]
		srv.main = srv.write_config()
		srv.start()
		ck = et.Checks()
		ck.run('memory', memory, ck, srv)
		ck.run('credential_change', credential_change, ck, srv, objs)
		log = open(srv.error_log, 'rb').read() + open(os.path.join(srv.dir, 'stdout.log'), 'rb').read()
		leaked = [n for n, v in (('secret', SECRET), ('wrong secret', WRONG), ('token', TOKEN))
			  if v.encode() in log]
		ck.check('no secret or token in the logs (debug level)', not leaked, repr(leaked))
		ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
