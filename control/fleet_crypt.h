/*
 * control/fleet_crypt.h — the fleet's secrets at rest in etcd: an S3
 * secret key or session token becomes {"kid", "nonce", "ct"}, AES-256-GCM
 * under the fleet key (wolfCrypt), so `etcdctl get --prefix` and an etcd
 * backup never hold one in plaintext (docs/FLEET.md "Secrets").
 *
 * kid: the first 8 hex digits of SHA-256("edgecache fleet key" || key),
 * so a value names the key that sealed it and the fleet key can be
 * rotated ([fleet] secrets_previous_key_file still opens old values).
 * nonce: 12 random bytes (wc_RNG) per seal, base64. ct: ciphertext then
 * the 16-byte tag, base64. AAD: the etcd key and the field name
 * ("/edgecache/origins/Z/O#s3_secret_key"), so a value copied to another
 * origin's key, or from the token to the secret, does not open.
 *
 * Owns: nothing after a call returns (plaintexts are the caller's, in
 * no-dump pages, freed with cfg_secret_free).
 * Called by: control/fleet*.c and the fleet CLI on the control thread.
 * Never: logs, or leaves a key or a plaintext on the stack it used
 * (wiped before return).
 */
#ifndef EDGECACHE_CONTROL_FLEET_CRYPT_H
#define EDGECACHE_CONTROL_FLEET_CRYPT_H

#include <stddef.h>

#include <jansson.h>

#include "core/config.h"

#define FLEET_KID_CHARS 8

/* The kid of a key given as hex (struct cfg_fleet's form): 9 bytes out. */
void fleet_kid(const char *key_hex, char kid[FLEET_KID_CHARS + 1]);

/* Seal plain (len bytes) under fl->secrets_key with aad: a new JSON
 * object in *out. 0, -ENOMEM, -EIO (no random bytes, a wolfCrypt error). */
int fleet_seal(const struct cfg_fleet *fl, const char *aad, const char *plain, size_t len,
	       json_t **out);

/* Open a sealed object: 0 and *plain (no-dump pages: cfg_secret_free),
 * -EINVAL not a sealed object (members, base64, lengths), -ENOKEY its kid
 * is neither the current nor the previous key's, -EBADMSG the tag does
 * not match (another key, another aad, a changed byte), -ENOMEM. */
int fleet_open(const struct cfg_fleet *fl, const char *aad, const json_t *sealed,
	       char **plain);

/* free() that wipes the whole block first (malloc_usable_size): for the
 * libraries' buffers that held a secret and are freed out of our sight. */
void fleet_wipe_free(void *p);

/*
 * Make every block jansson frees wiped first: a json_dumps growing its
 * buffer, a string member replaced or decref'd (a secret opened for a
 * render, the etcd password) leave no copy on the heap. Process-wide;
 * call before any other thread uses jansson (fleet set-up, the CLI).
 */
void fleet_wipe_heap(void);

#endif /* EDGECACHE_CONTROL_FLEET_CRYPT_H */
