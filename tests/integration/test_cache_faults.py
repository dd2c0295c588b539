#!/usr/bin/python3
"""The disk cache under bad conditions, through the real binary (issue #4
point 8): the cache is a block device (a loop device) whose backing file is
sparse and lives on a small ext4 filesystem (itself a loop-mounted image made
here), i.e. a thin-provisioned disk.

- disk full: a filler file takes the small filesystem's space, so writes to
  the cache device fail with ENOSPC. Every response is the origin's bytes,
  exact; the failures are counted (cache_write_errors, store_writes_failed)
  and logged once per interval, not per request; what was committed is
  served, except the object that straddled the full point, which the loop
  driver acknowledged though its backing file took only part of it (a short
  buffered write counts as success there): its checksum catches it, a miss;
  with the space back, objects are cached again; after a restart no wrong
  bytes are served.
- read errors: the small filesystem is shut down (EXT4_IOC_SHUTDOWN), so
  every read of the cache device fails with EIO: hits become misses served
  from the origin, exact, counted (cache_read_errors, store_reads_failed) and
  logged once per interval. Remounted (the fault cleared) and restarted:
  what survived is a HIT with the right bytes, and nothing else is served
  from the cache.
- refused at start: a cache file of the wrong size, with a foreign
  superblock, made with another chunk_size, or on tmpfs: exit 1, a message
  naming the file, the file left as it was.

Needs root, loop devices, mkfs.ext4 and mount (exit 77 otherwise). Every
mount and loop device is undone in a finally block (and at exit)."""
import atexit
import fcntl
import hashlib
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

FRESH = '/cc/max-age=3600/'
EXT4_IOC_SHUTDOWN = 0x8004587d          # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
LOG_LINE = 'cache: store %s failed'

_undo = []                               # cleanup steps, run last-in first-out


def sh(*cmd, check=True):
	return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=check)


def undo_all():
	# A server still running (a failed check, meson's SIGTERM) holds the
	# loop device open, and then the filesystem under it cannot unmount.
	if _undo:
		for p, sig in reversed(et._procs):
			et.stop_proc(p, sig)
	while _undo:
		fn = _undo.pop()
		try:
			fn()
		except Exception as e:              # keep undoing the rest
			print('cleanup: %s' % e, flush=True)


atexit.register(undo_all)


def need_tools():
	if os.geteuid() != 0:
		et.skip('needs root (mount, losetup)')
	for tool in ('losetup', 'mkfs.ext4', 'mount', 'umount'):
		if sh('which', tool, check=False).returncode != 0:
			et.skip('%s missing (scripts/setup installs mount, e2fsprogs)' % tool)
	if not os.path.exists('/dev/loop-control'):
		et.skip('no loop devices (/dev/loop-control missing)')


class ThinDisk:
	"""A small ext4 filesystem (an image, loop-mounted) holding a sparse
	backing file, attached as a loop device: the cache device."""

	def __init__(self, fs_mb=40, dev_mb=96):
		self.dir = et.tmpdir('thin')
		self.image = os.path.join(self.dir, 'fs.img')
		self.mnt = os.path.join(self.dir, 'mnt')
		os.mkdir(self.mnt)
		with open(self.image, 'wb') as f:
			f.truncate(fs_mb << 20)
		sh('mkfs.ext4', '-q', '-F', '-m', '0', self.image)
		self.dev_mb = dev_mb
		self.mounted = False
		self.loop = None
		self.mount()
		with open(self.backing, 'wb') as f:
			f.truncate(dev_mb << 20)            # sparse: space is taken as it is written
		self.attach()
		# The cache path: a symlink in our temp dir, so the store's
		# checkpoint (<path>.idx) is written here, not into /dev.
		self.path = os.path.join(self.dir, 'cache.dev')
		os.symlink(self.loop, self.path)

	@property
	def backing(self):
		return os.path.join(self.mnt, 'backing')

	def mount(self):
		r = sh('mount', '-o', 'loop', self.image, self.mnt, check=False)
		if r.returncode != 0:
			et.skip('cannot loop-mount an ext4 image here: %s' % r.stderr.strip())
		self.mounted = True
		_undo.append(self.umount)

	def umount(self):
		if self.mounted:
			self.detach()
			sh('umount', self.mnt, check=False)
			self.mounted = False

	def attach(self):
		r = sh('losetup', '-f', '--show', self.backing, check=False)
		if r.returncode != 0:
			et.skip('cannot attach a loop device: %s' % r.stderr.strip())
		self.loop = r.stdout.strip()
		if hasattr(self, 'path'):               # reattached: maybe another number
			os.unlink(self.path)
			os.symlink(self.loop, self.path)
		_undo.append(self.detach)

	def detach(self):
		if self.loop:
			sh('losetup', '-d', self.loop, check=False)
			self.loop = None

	def free_bytes(self):
		st = os.statvfs(self.mnt)
		return st.f_bavail * st.f_frsize

	def fill(self, leave):
		"""Take the filesystem's free space, all but `leave` bytes."""
		n = max(0, self.free_bytes() - leave)
		with open(os.path.join(self.mnt, 'filler'), 'wb') as f:
			chunk = b'\0' * (1 << 20)
			while n > 0:
				f.write(chunk[:min(n, len(chunk))])
				n -= len(chunk)
			f.flush()
			os.fsync(f.fileno())

	def unfill(self):
		os.unlink(os.path.join(self.mnt, 'filler'))
		os.sync()

	def shutdown(self):
		"""Every I/O on this filesystem fails with EIO from now on."""
		os.sync()
		fd = os.open(self.mnt, os.O_RDONLY)
		try:
			fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack('I', EXT4_GOING_FLAGS_NOLOGFLUSH))
		finally:
			os.close(fd)

	def remount(self):
		"""The fault cleared: unmount, mount again (journal replay), reattach."""
		self.umount()
		self.mount()
		self.attach()


def size_of(i):
	"""Object i's body size: distinct sizes, so distinct bytes (the origin's
	bytes depend on the size), and a wrong object can never pass as right."""
	return 150000 + 4096 * i + 8 * i


def get(srv, i):
	n = size_of(i)
	r = et.request(srv.port, 'GET', FRESH + str(n))
	return r, r.status == 200 and r.body == et.det_bytes('pyorigin', n)


def origin_count(py, i):
	time.sleep(0.05)
	return sum(1 for ln in py.log() if ln[2] == FRESH + str(size_of(i)))


def log_lines(srv, what):
	try:
		text = open(srv.error_log, 'rb').read().decode('latin-1')
	except FileNotFoundError:
		return []
	return [ln for ln in text.splitlines() if LOG_LINE % what in ln]


def settle(srv, timeout=3.0):
	"""Wait until the store's writes in flight have completed (the fill
	counters stop moving), bounded."""
	last, deadline = None, time.monotonic() + timeout
	while time.monotonic() < deadline:
		c = srv.counters()
		now = (c.get('cache_fills', 0), c.get('store_writes_failed', 0))
		if now == last:
			return c
		last = now
		time.sleep(0.2)
	return srv.counters()


def disk_full(ck, py, disk):
	zones = [et.zone('f', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, cache={'path': disk.path, 'size': '%dm' % disk.dev_mb,
					 'memory': 0}).start()
	try:
		disk.fill(leave=2 << 20)                # ~2 MiB left: room for a few objects
		n_obj = 30                              # ~30 x 270 KiB: far more than is left
		exact = [get(srv, i)[1] for i in range(n_obj)]
		ck.check('disk full: all %d misses are the origin\'s bytes, exact' % n_obj, all(exact),
			 str(exact))
		c = settle(srv)
		ck.check('ENOSPC counted: cache_write_errors %d, store_writes_failed %d, fills %d' %
			 (c.get('cache_write_errors', 0), c.get('store_writes_failed', 0),
			  c.get('cache_fills', 0)),
			 c.get('cache_write_errors', 0) >= 5 and c.get('store_writes_failed', 0) >= 5 and
			 c.get('cache_fills', 0) < n_obj)
		lines = log_lines(srv, 'write')
		ck.check('logged once per interval, not per failure (%d lines for %d errors)' %
			 (len(lines), c.get('cache_write_errors', 0)),
			 1 <= len(lines) <= 2 and 'No space left on device' in lines[0], str(lines))
		served = [get(srv, i) for i in range(n_obj)]
		hits = sum(1 for r, _ in served if r.header('x-cache') == 'HIT')
		c2 = srv.counters()
		bad = c2.get('store_reads_bad', 0) - c.get('store_reads_bad', 0)
		ck.check('again: every response exact (%d HITs)' % hits,
			 all(ok for _, ok in served), str([ok for _, ok in served]))
		# Linux's loop driver acknowledges a write that its backing file took
		# only in part (a short buffered write at ENOSPC): the object that
		# straddled the full point is committed but not all on disk. Its
		# checksum must catch it: every committed object is a HIT or a
		# detected bad read (a miss), never wrong bytes.
		ck.check('every committed object is a HIT or caught by its checksum '
			 '(fills %d = %d HITs + %d reads_bad)' % (c.get('cache_fills', 0), hits, bad),
			 hits >= 1 and hits + bad == c.get('cache_fills', 0))
		# The fault clears: the space comes back; new objects are cached.
		disk.unfill()
		f0 = c.get('cache_fills', 0)
		for i in range(n_obj, n_obj + 5):
			get(srv, i)
		c = settle(srv)
		ck.check('space back: objects are cached again (%d new fills)' %
			 (c.get('cache_fills', 0) - f0), c.get('cache_fills', 0) - f0 >= 4)
		rs = [get(srv, i) for i in range(n_obj, n_obj + 5)]
		ck.check('and served as HITs, exact', all(ok and r.header('x-cache') == 'HIT'
							  for r, ok in rs), str(rs))
		ck.check('exit 0 on SIGTERM', srv.stop() == 0)
		srv.start()
		rs = [get(srv, i) for i in range(n_obj + 5)]
		hits = sum(1 for r, _ in rs if r.header('x-cache') == 'HIT')
		ck.check('after a restart: all %d exact, %d HITs (torn ENOSPC entries dropped)' %
			 (len(rs), hits), all(ok for _, ok in rs) and hits >= 5, str(rs))
	finally:
		ck.check('disk_full: edgecache exits 0', srv.stop() == 0)


def read_errors(ck, py, disk):
	zones = [et.zone('r', ['*'], [('o', py.url, {})], default_ttl=0)]
	srv = et.Edgecache(zones, cache={'path': disk.path, 'size': '%dm' % disk.dev_mb,
					 'memory': 0}).start()
	base = 100
	objs = range(base, base + 6)
	try:
		for i in objs:
			get(srv, i)
		settle(srv)
		rs = [get(srv, i) for i in objs]
		ck.check('cached: all HITs', all(ok and r.header('x-cache') == 'HIT' for r, ok in rs),
			 str(rs))
		c0 = srv.counters()
		o0 = [origin_count(py, i) for i in objs]
		disk.shutdown()
		rs = [get(srv, i) for i in objs]
		ck.check('EIO on every read: the origin\'s bytes, exact, not HITs',
			 all(ok and r.header('x-cache') != 'HIT' for r, ok in rs), str(rs))
		ck.check('each went to the origin', [origin_count(py, i) for i in objs] ==
			 [n + 1 for n in o0])
		c = settle(srv)
		d = {k: c.get(k, 0) - c0.get(k, 0) for k in ('cache_read_errors', 'store_reads_failed',
							     'cache_write_errors')}
		ck.check('counted: %s' % d, d['cache_read_errors'] >= len(objs) and
			 d['store_reads_failed'] >= len(objs))
		lines = log_lines(srv, 'read')
		ck.check('read errors logged once per interval (%d lines)' % len(lines),
			 len(lines) == 1 and 'Input/output error' in lines[0], str(lines))
		ck.check('exit 0 on SIGTERM with a failed disk', srv.stop() == 0)
		disk.remount()
		srv.start()
		rs = [get(srv, i) for i in objs]
		hits = sum(1 for r, _ in rs if r.header('x-cache') == 'HIT')
		ck.check('fault cleared, restarted: all exact, %d of %d HITs' % (hits, len(rs)),
			 all(ok for _, ok in rs) and hits == len(rs), str(rs))
	finally:
		ck.check('read_errors: edgecache exits 0', srv.stop() == 0)


def digest(path):
	with open(path, 'rb') as f:
		return hashlib.sha256(f.read()).hexdigest()


def refused(ck, py):
	d = et.tmpdir('refused')
	zones = [et.zone('x', ['*'], [('o', py.url, {})], default_ttl=0)]

	def start(name, path, **cache):
		srv = et.Edgecache(zones, cache=dict({'path': path, 'size': '16m'}, **cache))
		r = subprocess.run([srv.bin, '-c', srv.main], capture_output=True, text=True,
				   timeout=20)
		text = r.stderr + r.stdout
		try:
			text += open(srv.error_log).read()
		except FileNotFoundError:
			pass
		return r.returncode, text

	good = os.path.join(d, 'good.dat')
	srv = et.Edgecache(zones, cache={'path': good, 'size': '16m'}).start()
	ck.check('a fresh cache file is made', os.path.getsize(good) == 16 << 20)
	srv.stop()

	cases = []
	small = os.path.join(d, 'small.dat')
	with open(small, 'wb') as f:
		f.truncate(8 << 20)
	cases.append(('wrong size', small, {}, 'bytes'))
	foreign = os.path.join(d, 'foreign.dat')
	with open(foreign, 'wb') as f:
		f.write(os.urandom(4096))
		f.truncate(16 << 20)
	cases.append(('a foreign superblock', foreign, {}, foreign))
	cases.append(('another chunk_size', good, {'chunk_size': '512k'}, 'chunk_size'))
	for what, path, extra, needle in cases:
		before = digest(path)
		rc, text = start(what, path, **extra)
		ck.check('%s: refused at start (exit %d)' % (what, rc), rc == 1, text[-400:])
		ck.check('%s: the message names the file' % what, path in text and needle in text,
			 text[-400:])
		ck.check('%s: the file is left as it was' % what, digest(path) == before)
	if os.path.isdir('/dev/shm') and sh('stat', '-f', '-c', '%T', '/dev/shm').stdout.strip() == 'tmpfs':
		shm = os.path.join('/dev/shm', 'edgetest-faults-%d.dat' % os.getpid())
		_undo.append(lambda: os.path.exists(shm) and os.unlink(shm))
		rc, text = start('tmpfs', shm)
		ck.check('on tmpfs: refused (exit %d), says tmpfs, no file left' % rc,
			 rc == 1 and 'tmpfs' in text and not os.path.exists(shm), text[-400:])
	else:
		ck.skip('tmpfs', '/dev/shm is not tmpfs here')


def main():
	ck = et.Checks()
	py = et.PyOrigin()
	ck.run('refused', refused, ck, py)
	need_tools()
	try:
		disk = ThinDisk()
		ck.run('disk_full', disk_full, ck, py, disk)
		disk.remount()                   # a clean filesystem for the next part
		ck.run('read_errors', read_errors, ck, py, disk)
	finally:
		undo_all()
	ck.finish()


if __name__ == '__main__':
	main()
