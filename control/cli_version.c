/*
 * control/cli_version.c — `edgecache -v`: what this binary is made of.
 *
 * An operator comparing two hosts (or filing a bug) needs the version, the
 * libraries the binary was compiled against and runs with, and the build
 * flags that change behaviour (sanitizers, optimisation, asserts). The
 * build's own values come as BUILD_* -D flags from control/meson.build;
 * run-time versions come from each library where it has a call for it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <sys/utsname.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/cpuid.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <xxhash.h>

#include "control/cli.h"

/* Which SHA-256 transform wolfCrypt runs on this CPU (every SigV4 miss
 * hashes with it). wolfSSL built with --enable-intelasm (our
 * scripts/build-wolfssl; options.h then says USE_INTEL_SPEEDUP) picks it
 * once from its own CPUID flags in sha256.c Sha256_SetTransform: from 5.7
 * on the SHA extensions first (SHA-NI, with AVX1 or SSE2 around them),
 * else AVX2 (with RORX when BMI2 is there), else AVX1, else C.
 * cpuid_get_flags() is that same flag word; it is not exported from a
 * shared libwolfssl, so only a static link (wolfssl_prefix) asks it. */
static const char *sha256_path(void)
{
#if BUILD_WOLFSSL_STATIC && defined(USE_INTEL_SPEEDUP) && defined(HAVE_CPUID_INTEL)
	word32 f = cpuid_get_flags();

#if LIBWOLFSSL_VERSION_HEX >= 0x05007000
	if (IS_INTEL_SHA(f))
		return IS_INTEL_AVX1(f) ? "SHA-NI+AVX1 (x86-64 assembly)" : "SHA-NI (x86-64 assembly)";
#endif
	if (IS_INTEL_AVX2(f))
		return IS_INTEL_BMI2(f) ? "AVX2+RORX (x86-64 assembly)" : "AVX2 (x86-64 assembly)";
	if (IS_INTEL_AVX1(f))
		return "AVX1 (x86-64 assembly)";
	return "C (this CPU has no AVX)";
#elif BUILD_WOLFSSL_STATIC
	return "C (wolfSSL built without USE_INTEL_SPEEDUP)";
#else
	return "unknown (the system's shared libwolfssl)";
#endif
}

/* SHA extensions (CPUID.7.0:EBX bit 29): wolfSSL before 5.7 has no
 * transform for them, so saying the CPU has them tells an operator what a
 * wolfSSL upgrade would buy. */
static bool sha_ni_unused(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	return LIBWOLFSSL_VERSION_HEX < 0x05007000 &&
	       __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
#else
	return false;
#endif
}

void cli_version_print(FILE *f)
{
	const nghttp2_info *h2 = nghttp2_version(0);
	unsigned xxh = XXH_versionNumber();
	struct utsname u;
#ifdef NDEBUG
	const char *asserts = "off";
#else
	const char *asserts = "on";
#endif

	fprintf(f, "edgecache %s\n", BUILD_VERSION);
	fprintf(f, "build: %s, -O%s, asserts %s, sanitizers %s, %s\n", BUILD_TYPE,
		BUILD_OPTIMIZATION, asserts, BUILD_SANITIZE, BUILD_COMPILER);
	fprintf(f, "wolfSSL: compiled %s, running %s, %s\n", LIBWOLFSSL_VERSION_STRING,
		wolfSSL_lib_version(),
		BUILD_WOLFSSL_STATIC ? "static from " BUILD_WOLFSSL_PREFIX : "shared (system)");
	fprintf(f, "wolfCrypt SHA-256: %s%s\n", sha256_path(),
		sha_ni_unused() ? "; the CPU has SHA-NI, which this wolfSSL does not use" : "");
	/* always the static liburing.a of -Dliburing_prefix (meson.build): the
	 * version it reports at run time is the compiled one, so not asked */
	fprintf(f, "liburing: compiled %s, static from %s", BUILD_LIBURING_VERSION,
		BUILD_LIBURING_PREFIX);
	if (uname(&u) == 0)
		fprintf(f, ", kernel %s", u.release);
	fputc('\n', f);
	fprintf(f, "nghttp2: compiled %s, running %s\n", NGHTTP2_VERSION,
		h2 ? h2->version_str : "?");
	fprintf(f, "jansson: compiled %s, running %s\n", JANSSON_VERSION, jansson_version_str());
	fprintf(f, "xxHash: compiled %d.%d.%d, running %u.%u.%u\n", XXH_VERSION_MAJOR,
		XXH_VERSION_MINOR, XXH_VERSION_RELEASE, xxh / 10000, xxh / 100 % 100, xxh % 100);
}
