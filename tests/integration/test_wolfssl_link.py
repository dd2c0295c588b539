#!/usr/bin/python3
"""The edgecache binary carries the wolfSSL of scripts/build-wolfssl
(linked statically, with wolfSSL's x86-64 assembly), not Debian's
libwolfssl: ldd lists no libwolfssl at all, and the binary has the AVX2
SHA-256 routine that Debian's build lacks (a static link takes only what
is used: SigV4 uses SHA-256; AES-GCM and P-256 come in with TLS)."""
import os
import shutil
import subprocess
import sys

# wolfSSL's assembly SHA-256 (scripts/build-wolfssl checks it and more)
ASM = ['Transform_Sha256_AVX2']


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
	shared = [line.strip() for line in ldd.stdout.splitlines() if 'libwolfssl' in line]
	if shared:
		print(f'FAIL: linked to a shared libwolfssl: {shared} (scripts/build sets -Dwolfssl_prefix)')
		return 1
	nm = subprocess.run(['nm', binary], capture_output=True, text=True, timeout=30)
	defined = {f[2] for f in (line.split() for line in nm.stdout.splitlines())
		   if len(f) == 3 and f[1] == 'T'}
	missing = [s for s in ASM if s not in defined]
	if missing:
		print(f'FAIL: no wolfSSL assembly in the binary: {missing} missing')
		return 1
	print(f'ok: no shared libwolfssl; {len(ASM)} assembly routines present')
	return 0


if __name__ == '__main__':
	sys.exit(main())
