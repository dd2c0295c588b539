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
cached); each SignatureDoesNotMatch counted, logged at most once per shard
in 10 s; SIGHUP back → that key and others are 200 byte-exact.

Settings no other test sends through the serving path to Swift:
s3_addressing = virtual (bucket in the Host) and s3_payload = unsigned; a
400 (wrong region) in a zone that caches is never stored; a SIGHUP that
breaks the S3 zone rule is refused naming both origins, and the old
snapshot keeps signing. Both reloads change the secret alone and swap
credentials in place, no snapshot (logged). No secret in any response, log line (debug
level) or process command line; where S3 itself echoes the session token
(a SignatureDoesNotMatch <CanonicalRequest> and its hex bytes), the body
passes through with the token masked."""
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
ACCESS2, SECRET2 = 'edge:s3other', 'Sekr3t-other-zones-51d0c3'    # the zones kept unchanged
TOKEN = 'T0ken-dontdump-' + 'x7' * 40
SECRETS = (('secret', SECRET), ('wrong secret', WRONG), ('other secret', SECRET2),
	   ('token', TOKEN))
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


def creds_addresses(srv, generation=None):
	"""Every (generation, address, bytes) logged for the newest generation
	(or the one given): one per S3 origin built in it, from the debug
	log line edge/runtime.c writes."""
	pat = re.compile(r'snapshot (\d+): credentials in a no-dump mapping at (0x[0-9a-f]+), (\d+) bytes')
	found = []
	for ln in et.read_log(srv.error_log):
		m = pat.search(ln)
		if m and (generation is None or int(m.group(1)) == generation):
			found.append((int(m.group(1)), int(m.group(2), 16), int(m.group(3))))
	newest = max((f[0] for f in found), default=None)
	return [f for f in found if f[0] == newest]


def memory(ck, srv):
	pid = srv.proc.pid
	if not os.access('/proc/%d/mem' % pid, os.R_OK):
		ck.skip('memory checks', 'cannot read /proc/%d/mem (not root?)' % pid)
		return
	objs = creds_addresses(srv)
	ck.check('the debug log gives the credential mappings\' addresses (%s)' %
		 [hex(a[1]) for a in objs], bool(objs))
	if not objs:
		return
	holds = False
	for _, addr, size in objs:
		m = [x for x in mappings(pid) if x['start'] <= addr < x['end']]
		ck.check('a mapping holds address %x' % addr, len(m) == 1, repr(m))
		if not m:
			return
		m = m[0]
		print('credential mapping: %x-%x %s VmFlags: %s' % (m['start'], m['end'], m['perms'],
								      ' '.join(m['flags'])))
		ck.check('the credential mapping at %x has dd in VmFlags (MADV_DONTDUMP)' % addr,
			 'dd' in m['flags'], ' '.join(m['flags']))
		data = read_mem(pid, addr, addr + size) or b''
		holds |= ACCESS.encode() in data and SECRET.encode() in data and TOKEN.encode() in data
	ck.check('one of them holds the credentials (access key, secret, token)', holds)
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

def s3_origin(srv, secret, name='bucket', access=ACCESS, **more):
	o = {'s3_auth_enabled': 'true', 's3_access_key': access,
	     's3_secret_key_file': srv.secret_file(secret), 's3_region': srv.s3.location,
	     's3_session_token_file': srv.secret_file(TOKEN), 'base_path': '/' + BUCKET}
	o.update(more)
	return (name, srv.s3.endpoint, o)


def zone_file(srv, secret, extra_origins=()):
	return et.zone('kept', ['kept.test'], [s3_origin(srv, secret)] + list(extra_origins),
		       default_ttl='1h')


RESPONSES = []     # every response a test saw: none may hold a secret


def get(srv, path, host='kept.test'):
	r = et.request(srv.port, 'GET', path, host=host)
	RESPONSES.append(repr(r.headers).encode() + r.body)
	return r


def secret_in_ps():
	"""Which secrets appear in some process's command line (what ps shows)."""
	found = set()
	for d in os.listdir('/proc'):
		if not d.isdigit():
			continue
		try:
			with open('/proc/%s/cmdline' % d, 'rb') as f:
				cmd = f.read()
		except OSError:
			continue
		found |= {n for n, v in SECRETS if v.encode() in cmd}
	return sorted(found)


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
	# Three SignatureDoesNotMatch within a second or two: counted each
	# time, logged at most once per shard (once per 10 s per Code and shard).
	deadline = time.monotonic() + 3
	lines = []
	while not lines and time.monotonic() < deadline:
		time.sleep(0.05)
		lines = [ln for ln in et.read_log(srv.error_log)
			 if '403 SignatureDoesNotMatch' in ln and 'zone kept' in ln]
	n = srv.counters().get('s3_error_SignatureDoesNotMatch', 0)
	ck.check('%d SignatureDoesNotMatch counted, logged %d time(s): at most once per shard '
		 'per 10 s' % (n, len(lines)), n >= 3 and 1 <= len(lines) <= 2, repr(lines))
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


def settings(ck, srv, objs):
	"""The S3 origin keys no other test sends through the serving path to a
	signature-checking server, and the zone rule at a reload."""
	r = get(srv, '/obj-b', host='virt.test')
	ck.check('s3_addressing = virtual (Host kept.s3.amazonaws.com, path /obj-b): 200 '
		 'byte-exact', r.status == 200 and r.body == objs['obj-b'], repr(r))
	r = get(srv, '/obj-b', host='unsigned-payload.test')
	ck.check('s3_payload = unsigned (x-amz-content-sha256: UNSIGNED-PAYLOAD): 200 byte-exact',
		 r.status == 200 and r.body == objs['obj-b'], repr(r))
	# A 400 from S3 in a zone that caches 200s for an hour: never stored.
	r1 = get(srv, '/obj-b', host='bad-region.test')
	s1 = signed(srv)
	r2 = get(srv, '/obj-b', host='bad-region.test')
	ck.check('wrong region, zone with default_ttl = 1h: 400 AuthorizationHeaderMalformed '
		 'twice, the second from the origin again (a 400 is never cached)',
		 r1.status == 400 and r2.status == 400 and b'AuthorizationHeaderMalformed' in r2.body
		 and signed(srv) == s1 + 1 and r2.header('x-cache') != 'HIT',
		 '%r %r %s' % (r1, r2, r2.header('x-cache')))
	# Two S3 origins with different access keys in one zone: the reload is
	# refused with the rule's error naming both, and the old snapshot serves.
	before = len(et.read_log(srv.error_log))
	srv.rewrite_zone(zone_file(srv, SECRET, [s3_origin(srv, SECRET, 'other', 'edge:other')]))
	srv.proc.send_signal(signal.SIGHUP)
	deadline = time.monotonic() + 5
	err = []
	while not err and time.monotonic() < deadline:
		time.sleep(0.05)
		err = [ln for ln in et.read_log(srv.error_log)[before:] if 'must share' in ln]
	print('\n'.join(err))
	ck.check('SIGHUP breaking the S3 zone rule: refused, the error names both origins',
		 err and '[origin other]' in err[0] and '[origin bucket]' in err[0], repr(err))
	r = get(srv, '/obj-c?after-refused-reload')
	ck.check('... and the old snapshot keeps signing: a new key 200',
		 r.status == 200 and r.body == objs['obj-c'], repr(r))
	srv.rewrite_zone(zone_file(srv, SECRET))
	ck.check('no secret or token in a process command line (ps)', not secret_in_ps(),
		 repr(secret_in_ps()))


def propagation(ck, srv):
	"""Both reloads changed the secret file alone: each swapped the origin's
	credentials object in place (logged) and built no snapshot, so there
	is no snapshot switch to time (test_snapshots and test_creds_rotation
	run SIGHUPs that build one). That each went live is the 403 / 200 that
	reload_until waited for."""
	log = et.read_log(srv.error_log)
	inplace = [ln for ln in log if 'credentials of 1 origin(s) swapped in place' in ln]
	built = [ln for ln in log if re.search(r'snapshot \d+ live on all', ln)]
	print('\n'.join(inplace + built))
	ck.check('both credential changes by SIGHUP swapped in place (%d logged), no snapshot '
		 'built (%d)' % (len(inplace), len(built)), len(inplace) == 2 and not built)


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
	with swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET), (ACCESS2, SECRET2)]) as s3:
		s3.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
		# edge:s3other reads the same bucket (account "edge", user .admin)
		for k, v in objs.items():
			s3.put(BUCKET, k, v, access_key=ACCESS, secret_key=SECRET)
		srv = et.Edgecache([], workers=2, log_level='debug', cache={
			'path': os.path.join(et.tmpdir('s3secrets-cache'), 'c.dat'), 'size': '16m',
			'memory': '4m'})
		srv.s3 = s3
		srv.zones = [zone_file(srv, SECRET),
			     et.zone('virt', ['virt.test'], [s3_origin(
				     srv, SECRET2, access=ACCESS2, s3_addressing='virtual',
				     host_header='s3.amazonaws.com')]),
			     et.zone('unsig', ['unsigned-payload.test'], [s3_origin(
				     srv, SECRET2, access=ACCESS2, s3_payload='unsigned')]),
			     et.zone('badregion', ['bad-region.test'], [s3_origin(
				     srv, SECRET2, access=ACCESS2, s3_region='eu-central-1')],
				     default_ttl='1h')]
		srv.main = srv.write_config()
		srv.start()
		ck = et.Checks()
		ck.run('memory', memory, ck, srv)
		ck.run('settings', settings, ck, srv, objs)
		ck.run('credential_change', credential_change, ck, srv, objs)
		ck.check('no secret or token in a process command line (ps)', not secret_in_ps(),
			 repr(secret_in_ps()))
		ck.run('propagation', propagation, ck, srv)
		leaked = [n for n, v in SECRETS if any(v.encode() in r for r in RESPONSES)]
		ck.check('no secret or session token in any of the %d responses' % len(RESPONSES),
			 RESPONSES and not leaked, repr(leaked))
		# S3 echoes the signed request in a SignatureDoesNotMatch body
		# (<CanonicalRequest>, and its bytes in hex): the edge passes the
		# body through with the token masked, same length.
		masked = [r for r in RESPONSES if b'<Code>SignatureDoesNotMatch</Code>' in r and
			  re.search(rb'<CanonicalRequest>[^<]*x-amz-security-token:' +
				    b'\\*' * len(TOKEN), r)]
		ck.check('the session token masked in the SignatureDoesNotMatch bodies passed through',
			 masked, repr([r[:300] for r in RESPONSES if b'SignatureDoesNotMatch' in r][:1]))
		log = open(srv.error_log, 'rb').read() + open(os.path.join(srv.dir, 'stdout.log'), 'rb').read()
		leaked = [n for n, v in SECRETS if v.encode() in log]
		ck.check('no secret or token in the logs (debug level)', not leaked, repr(leaked))
		ck.stop_and_finish(srv)


if __name__ == '__main__':
	main()
