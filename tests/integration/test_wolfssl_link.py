#!/usr/bin/python3
"""The edgecache binary carries the wolfSSL of scripts/build-wolfssl
(linked statically, with wolfSSL's x86-64 assembly) and the liburing of
scripts/build-liburing (static), not Debian's libwolfssl or liburing: ldd
lists neither, and the binary has the AVX2 and SHA-NI SHA-256 routines
that Debian's build lacks (a static link takes only what is used: SigV4
uses SHA-256; AES-GCM and P-256 come in with TLS); `edgecache -v` names
SHA-NI as the path in use where the CPU has the SHA extensions."""
import os
import shutil
import subprocess
import sys

# wolfSSL's assembly SHA-256 (scripts/build-wolfssl checks it and more)
# (AVX1_Sha: the SHA-NI transform wolfSSL 5.7 added, picked by CPUID)
ASM = ['Transform_Sha256_AVX2', 'Transform_Sha256_AVX1_Sha']


def main():
	binary = os.environ['EDGECACHE_BIN']
	for tool in ('ldd', 'nm'):
		if not shutil.which(tool):
			print(f'SKIP: no {tool} on this machine')
			return 77
	ldd = subprocess.run(['ldd', binary], capture_output=True, text=True, timeout=30)
	if ldd.returncode != 0:
		print(f'FAIL: ldd {binary}: {ldd.stderr.strip()}')
		return 1
	for lib, opt in (('libwolfssl', 'wolfssl_prefix'), ('liburing', 'liburing_prefix')):
		shared = [line.strip() for line in ldd.stdout.splitlines() if lib in line]
		if shared:
			print(f'FAIL: linked to a shared {lib}: {shared} (scripts/build sets -D{opt})')
			return 1
	nm = subprocess.run(['nm', binary], capture_output=True, text=True, timeout=30)
	defined = {f[2] for f in (line.split() for line in nm.stdout.splitlines())
		   if len(f) == 3 and f[1] == 'T'}
	missing = [s for s in ASM if s not in defined]
	if missing:
		print(f'FAIL: no wolfSSL assembly in the binary: {missing} missing')
		return 1
	cpu = open('/proc/cpuinfo').read().split()
	v = subprocess.run([binary, '-v'], capture_output=True, text=True, timeout=30).stdout
	path = [ln for ln in v.splitlines() if ln.startswith('wolfCrypt SHA-256: ')]
	if 'sha_ni' in cpu and not (path and path[0].startswith('wolfCrypt SHA-256: SHA-NI')):
		print(f'FAIL: the CPU has sha_ni, edgecache -v says {path}')
		return 1
	print(f'ok: no shared libwolfssl or liburing; {len(ASM)} assembly routines present; '
	      f'{path[0] if path else "no SHA-256 line"}')
	return 0


if __name__ == '__main__':
	sys.exit(main())
