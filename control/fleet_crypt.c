/* control/fleet_crypt.c — AES-256-GCM for the fleet's secrets in etcd
 * (contract in fleet_crypt.h). */
#include "control/fleet_crypt.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#define NONCE_BYTES 12
#define TAG_BYTES   16
/* a session token is the longest secret we seal */
#define PLAIN_MAX   LIMIT_SESSION_TOKEN_BYTES
#define B64_MAX     (((PLAIN_MAX + TAG_BYTES + 2) / 3) * 4 + 4)

static int unhex(const char *hex, unsigned char key[LIMIT_FLEET_KEY_BYTES])
{
	for (int i = 0; i < LIMIT_FLEET_KEY_BYTES; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		key[i] = (unsigned char)v;
	}
	return 0;
}

void fleet_kid(const char *key_hex, char kid[FLEET_KID_CHARS + 1])
{
	static const char label[] = "edgecache fleet key";
	unsigned char key[LIMIT_FLEET_KEY_BYTES], h[WC_SHA256_DIGEST_SIZE];
	wc_Sha256 sha;

	kid[0] = '\0';
	if (unhex(key_hex, key) < 0 || wc_InitSha256(&sha) != 0)
		return;
	wc_Sha256Update(&sha, (const byte *)label, sizeof(label) - 1);
	wc_Sha256Update(&sha, key, sizeof(key));
	wc_Sha256Final(&sha, h);
	wc_Sha256Free(&sha);
	explicit_bzero(&sha, sizeof(sha));      /* it held the key */
	for (int i = 0; i < FLEET_KID_CHARS / 2; i++)
		snprintf(kid + 2 * i, 3, "%02x", h[i]);
	explicit_bzero(key, sizeof(key));
}

/* One AES-GCM operation with the key given as hex; 0 or -EBADMSG/-EIO. */
static int gcm(const char *key_hex, bool enc, unsigned char *buf, size_t len,
	       const unsigned char *nonce, unsigned char *tag, const char *aad)
{
	unsigned char key[LIMIT_FLEET_KEY_BYTES];
	Aes aes;
	int rc = -EIO;

	if (unhex(key_hex, key) == 0 && wc_AesInit(&aes, NULL, INVALID_DEVID) == 0) {
		if (wc_AesGcmSetKey(&aes, key, sizeof(key)) == 0) {
			int w = enc ? wc_AesGcmEncrypt(&aes, buf, buf, (word32)len, nonce, NONCE_BYTES,
						       tag, TAG_BYTES, (const byte *)aad,
						       (word32)strlen(aad))
				    : wc_AesGcmDecrypt(&aes, buf, buf, (word32)len, nonce, NONCE_BYTES,
						       tag, TAG_BYTES, (const byte *)aad,
						       (word32)strlen(aad));
			rc = w == 0 ? 0 : enc ? -EIO : -EBADMSG;
		}
		wc_AesFree(&aes);
	}
	explicit_bzero(key, sizeof(key));
	explicit_bzero(&aes, sizeof(aes));
	return rc;
}

static json_t *b64(const unsigned char *p, size_t len)
{
	char out[B64_MAX];
	word32 olen = sizeof(out) - 1;

	if (Base64_Encode_NoNl(p, (word32)len, (byte *)out, &olen) != 0)
		return NULL;
	out[olen] = '\0';
	return json_string(out);
}

int fleet_seal(const struct cfg_fleet *fl, const char *aad, const char *plain, size_t len,
	       json_t **out)
{
	unsigned char buf[PLAIN_MAX + TAG_BYTES], nonce[NONCE_BYTES];
	char kid[FLEET_KID_CHARS + 1];
	WC_RNG rng;
	int rc;

	*out = NULL;
	if (len > PLAIN_MAX)
		return -EINVAL;
	if (wc_InitRng(&rng) != 0)
		return -EIO;
	rc = wc_RNG_GenerateBlock(&rng, nonce, sizeof(nonce)) == 0 ? 0 : -EIO;
	wc_FreeRng(&rng);
	memcpy(buf, plain, len);
	if (!rc)
		rc = gcm(fl->secrets_key, true, buf, len, nonce, buf + len, aad);
	if (!rc) {
		fleet_kid(fl->secrets_key, kid);
		*out = json_pack("{s:s,s:o,s:o}", "kid", kid, "nonce", b64(nonce, sizeof(nonce)),
				 "ct", b64(buf, len + TAG_BYTES));
		rc = *out ? 0 : -ENOMEM;
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* A base64 member into out[0..*len) (at most cap bytes). */
static int unb64(const json_t *obj, const char *name, unsigned char *out, size_t cap,
		 size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	word32 olen = (word32)cap;

	if (!s || strlen(s) > B64_MAX ||
	    Base64_Decode((const byte *)s, (word32)strlen(s), out, &olen) != 0)
		return -EINVAL;
	*len = olen;
	return 0;
}

int fleet_open(const struct cfg_fleet *fl, const char *aad, const json_t *sealed,
	       char **plain)
{
	unsigned char buf[PLAIN_MAX + TAG_BYTES + 4], nonce[NONCE_BYTES + 4];
	char kid[FLEET_KID_CHARS + 1];
	const char *want = json_string_value(json_object_get(sealed, "kid")), *key = NULL;
	size_t nlen, clen;
	int rc;

	*plain = NULL;
	if (!json_is_object(sealed) || json_object_size(sealed) != 3 || !want ||
	    unb64(sealed, "nonce", nonce, sizeof(nonce), &nlen) ||
	    unb64(sealed, "ct", buf, sizeof(buf), &clen) || nlen != NONCE_BYTES ||
	    clen <= TAG_BYTES || clen > PLAIN_MAX + TAG_BYTES)
		return -EINVAL;
	fleet_kid(fl->secrets_key, kid);
	if (strcmp(kid, want) == 0)
		key = fl->secrets_key;
	if (!key && fl->secrets_previous_key) {
		fleet_kid(fl->secrets_previous_key, kid);
		if (strcmp(kid, want) == 0)
			key = fl->secrets_previous_key;
	}
	if (!key)
		return -ENOKEY;
	clen -= TAG_BYTES;
	rc = gcm(key, false, buf, clen, nonce, buf + clen, aad);
	/* a NUL inside cannot be a config value (and would cut the wipe short) */
	if (!rc && memchr(buf, '\0', clen))
		rc = -EINVAL;
	if (!rc && !(*plain = cfg_secret_dup((const char *)buf, clen)))
		rc = -ENOMEM;
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

void fleet_wipe_free(void *p)
{
	if (!p)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void fleet_wipe_heap(void)
{
	json_set_alloc_funcs(malloc, fleet_wipe_free);
}
