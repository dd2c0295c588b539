/*
 * tests/unit/test_fleet_crypt.c — control/fleet_crypt: a sealed secret
 * opens under its key and aad only (another origin's key name, the other
 * field, another fleet key, a changed byte of ct or nonce: -EBADMSG), its
 * kid names the key, the previous key still opens it after a rotation, a
 * malformed object is -EINVAL, an unknown kid -ENOKEY; the plaintext is
 * never in the sealed JSON; two seals of one value differ (random nonce);
 * the longest secret (LIMIT_SESSION_TOKEN_BYTES) and one past; all of it
 * with fleet_wipe_heap's wiping free installed in jansson.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/fleet_crypt.h"
#include "core/config.h"
#include "core/limits.h"
#include "check.h"

#define AAD "/edgecache/origins/6f1c2b9e-3a4d-4e5f-8a7b-00000000a0a0/" \
	"3b92ec8b-d3e4-84eb-aa35-5593e033665c#s3_secret_key"
#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static int open_str(const struct cfg_fleet *fl, const char *aad, const json_t *s, char *out,
		    size_t cap)
{
	char *p = NULL;
	int rc = fleet_open(fl, aad, s, &p);

	if (!rc)
		snprintf(out, cap, "%s", p);
	cfg_secret_free(p);
	return rc;
}

/* A copy of sealed with member `name`'s base64 changed at byte `at`. */
static json_t *flipped(const json_t *sealed, const char *name, size_t at)
{
	json_t *c = json_deep_copy(sealed);
	char *s = strdup(json_string_value(json_object_get(c, name)));

	s[at] = s[at] == 'A' ? 'B' : 'A';
	json_object_set_new(c, name, json_string(s));
	free(s);
	return c;
}

int main(void)
{
	struct cfg_fleet fl = { .secrets_key = K1 }, other = { .secrets_key = K2 };
	struct cfg_fleet rotated = { .secrets_key = K2, .secrets_previous_key = K1 };
	const char *secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	char out[LIMIT_SESSION_TOKEN_BYTES + 1], kid1[9], kid2[9];
	json_t *s = NULL, *s2 = NULL, *bad;
	json_malloc_t jm = NULL;
	json_free_t jf = NULL;

	/* every jansson free wipes from here on, as in a fleet node: the
	 * rest runs with it (under ASan too) */
	fleet_wipe_heap();
	json_get_alloc_funcs(&jm, &jf);
	CHECK(jm == malloc && jf == fleet_wipe_free);
	fleet_wipe_free(NULL);

	CHECK_EQ_INT(fleet_seal(&fl, AAD, secret, strlen(secret), &s), 0);
	CHECK(s != NULL);
	char *text = json_dumps(s, JSON_COMPACT);
	CHECK(text && !strstr(text, secret) && !strstr(text, "wJalr"));
	free(text);
	fleet_kid(K1, kid1);
	fleet_kid(K2, kid2);
	CHECK_EQ_INT(strlen(kid1), 8);
	CHECK(strcmp(kid1, kid2) != 0);
	CHECK_EQ_STR(json_string_value(json_object_get(s, "kid")), kid1);

	CHECK_EQ_INT(open_str(&fl, AAD, s, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, secret);
	/* moved to another origin's key, or to the token field: does not open */
	CHECK_EQ_INT(open_str(&fl, "/edgecache/origins/x/y#s3_secret_key", s, out, sizeof(out)),
		     -EBADMSG);
	CHECK_EQ_INT(open_str(&fl, "/edgecache/origins/6f1c2b9e-3a4d-4e5f-8a7b-00000000a0a0/"
			      "3b92ec8b-d3e4-84eb-aa35-5593e033665c#s3_session_token", s, out,
			      sizeof(out)), -EBADMSG);
	/* another fleet key: its kid is not ours */
	CHECK_EQ_INT(open_str(&other, AAD, s, out, sizeof(out)), -ENOKEY);
	/* the key rotated: the previous one still opens what it sealed */
	CHECK_EQ_INT(open_str(&rotated, AAD, s, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, secret);
	/* a kid forged to the current key's: the tag says no */
	bad = json_deep_copy(s);
	json_object_set_new(bad, "kid", json_string(kid2));
	CHECK_EQ_INT(open_str(&other, AAD, bad, out, sizeof(out)), -EBADMSG);
	json_decref(bad);
	/* one byte of ct or nonce changed */
	bad = flipped(s, "ct", 3);
	CHECK_EQ_INT(open_str(&fl, AAD, bad, out, sizeof(out)), -EBADMSG);
	json_decref(bad);
	bad = flipped(s, "nonce", 2);
	CHECK_EQ_INT(open_str(&fl, AAD, bad, out, sizeof(out)), -EBADMSG);
	json_decref(bad);
	/* malformed */
	bad = json_pack("{s:s,s:s,s:s}", "kid", kid1, "nonce", "AAAA", "ct", "!!!!");
	CHECK_EQ_INT(open_str(&fl, AAD, bad, out, sizeof(out)), -EINVAL);
	json_decref(bad);
	bad = json_pack("{s:s,s:s}", "kid", kid1, "ct", "AAAA");
	CHECK_EQ_INT(open_str(&fl, AAD, bad, out, sizeof(out)), -EINVAL);
	json_decref(bad);
	bad = json_string(secret);
	CHECK_EQ_INT(open_str(&fl, AAD, bad, out, sizeof(out)), -EINVAL);
	json_decref(bad);
	/* a random nonce: the same value seals differently */
	CHECK_EQ_INT(fleet_seal(&fl, AAD, secret, strlen(secret), &s2), 0);
	CHECK(s2 && strcmp(json_string_value(json_object_get(s, "nonce")),
			   json_string_value(json_object_get(s2, "nonce"))) != 0);
	json_decref(s2);
	/* the longest secret, and one past */
	char big[LIMIT_SESSION_TOKEN_BYTES + 2];
	memset(big, 'T', sizeof(big));
	CHECK_EQ_INT(fleet_seal(&fl, AAD, big, LIMIT_SESSION_TOKEN_BYTES, &s2), 0);
	CHECK_EQ_INT(open_str(&fl, AAD, s2, out, sizeof(out)), 0);
	CHECK_EQ_INT(strlen(out), LIMIT_SESSION_TOKEN_BYTES);
	json_decref(s2);
	CHECK_EQ_INT(fleet_seal(&fl, AAD, big, LIMIT_SESSION_TOKEN_BYTES + 1, &s2), -EINVAL);
	json_decref(s);
	return check_exit();
}
