/*
 * net/tls.h — TLS sessions driven by buffers, for origin connections and
 * HTTPS visitors, on wolfSSL.
 *
 * Owns:
 *  - struct tls_ctx: one wolfSSL context (one per HTTPS origin for clients;
 *    one per certificate for servers), its trust store, and a small cache
 *    of resumable sessions (LIMIT_TLS_SESSION_CACHE, TLS 1.3 tickets and
 *    TLS 1.2 session ids/tickets) keyed by host name, so that a new
 *    connection to the same origin resumes instead of paying for a full
 *    handshake. Built on the control thread at start; read by shards; the
 *    session cache is behind a try-lock that a shard never waits for (busy
 *    = no resumption this time, or the session is not kept).
 *  - struct tls_session: one connection's wolfSSL object plus two bounded
 *    ciphertext buffers, allocated once in tls_session_new:
 *      in  (LIMIT_TLS_IN_BYTES; server sessions LIMIT_TLS_SERVER_IN_BYTES,
 *          less than a record: feed again when a call needs input): bytes
 *          the ring received, copied in by tls_feed, consumed by wolfSSL
 *          through its receive callback;
 *      out (LIMIT_TLS_OUT_BYTES): records wolfSSL produced through its send
 *          callback, waiting for the ring to send them.
 *    wolfSSL itself allocates a record-sized buffer (up to ~17 KiB) while a
 *    record larger than its 5-byte static buffer is read or written, and
 *    frees it when the record is done: about one malloc/free per record in
 *    each direction (docs/tls.md has the count measured by the bench).
 * Called by: a session by its owning shard thread only; tls_*_ctx_new,
 *   tls_ctx_free and tls_tickets_rotate by the control thread (a retired
 *   snapshot's contexts are freed while shards run: see tls_ctx_free);
 *   tls_sni_peek by anyone (pure).
 * Never: touches a socket, blocks, or lets wolfSSL do I/O of its own; never
 *   accepts an unverified peer certificate on a client context.
 *
 * Call sequence (client), for the shard around its ring:
 *   tls_session_new(ctx, host, &s)
 *   loop until tls_handshake(s) == 0:
 *     tls_pending_output(s, &p, &n): if n, send p[0..n) through the ring and,
 *       when the send completes with k bytes, tls_output_done(s, k);
 *     on -EAGAIN wait for a recv, then tls_feed(s, buf, len) (it takes what
 *       fits; keep the rest and feed it after the next call);
 *     any other negative value is fatal: log tls_reason(s), close.
 *   then tls_write(s, plain, len) / tls_read(s, buf, cap), sending pending
 *   output after each call (tls_read may produce alerts or key updates);
 *   tls_shutdown(s) queues close_notify; tls_session_free(s).
 *
 * Buffer ownership: the bytes tls_pending_output points at belong to the
 * ring from the moment the caller submits them until tls_output_done; the
 * session only appends behind them and never moves them. tls_feed copies:
 * the caller's buffer is its own again when the call returns.
 */
#ifndef EDGECACHE_NET_TLS_H
#define EDGECACHE_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/limits.h"

/* Largest plaintext of one TLS record (RFC 8446 5.1, RFC 5246 6.2.1). */
#define TLS_RECORD_PLAIN_MAX   16384

/* Context flags. Default: TLS 1.2 and 1.3, highest the peer offers. */
#define TLS_ONLY_12            0x1u   /* tests, and origins that need it */
#define TLS_ONLY_13            0x2u

#define TLS_CTX_MAGIC          0x544c5343u   /* "TLSC" */
#define TLS_SESSION_MAGIC      0x544c5353u   /* "TLSS" */

struct tls_ctx;
struct tls_session;

/*
 * A client context: peer verification against ca_file (PEM; NULL = the
 * system bundle TLS_SYSTEM_CA_FILE), host-name verification, ALPN
 * "http/1.1", SNI for DNS names, TLS_CLIENT_CIPHERS_DEFAULT. On failure *why (if not NULL) says what
 * went wrong in words for the log. Returns 0 or -EINVAL (flags), -ENOENT /
 * -EBADMSG (ca_file missing / no certificate in it), -ENOMEM.
 */
#define TLS_SYSTEM_CA_FILE     "/etc/ssl/certs/ca-certificates.crt"
int tls_client_ctx_new(const char *ca_file, unsigned flags, struct tls_ctx **out,
		       const char **why);

/*
 * A server context with one certificate chain and key (PEM files, ECDSA or
 * RSA), for HTTPS visitors (one per zone with tls_cert), with the default
 * cipher policy (tls_ctx_policy sets the zone's); ALPN "h2" and
 * "http/1.1" (net/h2.h frames an h2 connection). Session tickets are sealed with the
 * process's ticket keys (below), shared by every server context, so a
 * ticket from any shard, any zone's context, any config generation
 * resumes wherever its key is still kept.
 * Returns 0 or -EINVAL, -ENOENT, -EBADMSG, -ENOMEM as above.
 */
int tls_server_ctx_new(const char *cert_file, const char *key_file, unsigned flags,
		       struct tls_ctx **out, const char **why);

/*
 * Cipher policy (docs/tls.md, "Cipher policy"). Lists are wolfSSL cipher
 * lists: suite names (wolfSSL's/OpenSSL's or IANA's) joined by ':', in
 * order of preference; TLS 1.3 and 1.2 suites in one list.
 * Server default: TLS 1.3 AES-GCM and ChaCha20-Poly1305; TLS 1.2 ECDHE
 * (ECDSA or RSA) with AES-GCM or ChaCha20-Poly1305 only: forward secrecy
 * and AEAD everywhere. Client (origins) default: the same first, then for
 * older origins DHE-RSA with AES-GCM and ECDHE with AES-CBC: still forward
 * secret (our wolfSSL has no static-RSA suites), never a suite
 * tls_ciphers_check refuses.
 */
#define TLS_SERVER_CIPHERS_DEFAULT \
	"TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_CLIENT_CIPHERS_DEFAULT TLS_SERVER_CIPHERS_DEFAULT ":" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:" \
	"ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:" \
	"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"

/* Key-exchange groups (ECDHE; TLS 1.3 key shares), in order of
 * preference: the curves our wolfSSL computes in constant-time assembly.
 * Not the others it has compiled in (secp256k1, brainpool, X448, the
 * ffdhe groups): no client needs them, and its generic ECC code keeps a
 * per-thread fixed-point cache for them (FP_ECC) that nothing frees. */
#define TLS_SERVER_GROUPS      "X25519:P-256:P-384"
#define TLS_CLIENT_GROUPS      "X25519:P-256:P-384:P-521"

/*
 * Is list a cipher list this edge may use? Every ':'-separated item must
 * be the exact name of a suite in our wolfSSL (its keywords and operators
 * — HIGH, ALL, !X, X+Y, @STRENGTH — are refused: wolfSSL expands a keyword
 * to its whole default list, and adds a "!"-ed name instead of removing
 * it); never a NULL (integrity-only), anonymous, export, PSK, RC4,
 * DES/3DES or MD5 suite nor a signalling value; at least one TLS 1.3
 * suite (a wolfSSL server without one fails TLS 1.3 clients rather than
 * fall back to 1.2); at most LIMIT_TLS_CIPHERS_BYTES.
 * 0, or -EINVAL with the reason in why (naming the item), or -ENOMEM.
 */
int tls_ciphers_check(const char *list, char *why, size_t why_len);

/*
 * Set a context's policy: list (NULL = the default: TLS_SERVER_CIPHERS_DEFAULT,
 * or TLS_CLIENT_CIPHERS_DEFAULT for a client context;
 * it must pass tls_ciphers_check), the lowest version (min_13: TLS 1.3,
 * else 1.2) and the groups (TLS_SERVER_GROUPS / TLS_CLIENT_GROUPS).
 * 0 or -EINVAL (*why says what wolfSSL refused), -ENOMEM.
 */
int tls_ctx_policy(struct tls_ctx *ctx, const char *list, bool min_13, const char **why);

/*
 * Config check (edgecache -t): does the chain load and does the key match
 * it? 0, -EBADMSG (the certificate file: *why says what), -ENOKEY (the key
 * file: unreadable, not PEM, or not the certificate's key), -ENOMEM.
 */
int tls_check_pair(const char *cert_file, const char *key_file, const char **why);

/*
 * Session-ticket keys (AES-256-GCM, 16-byte names), one set per process:
 * the current key seals new tickets; the previous one still opens tickets
 * (they are then re-issued under the current key); older tickets fall back
 * to a full handshake. Made at the first server context; rotated by the
 * control thread (tls_tickets_rotate: the previous key is dropped, the
 * current one becomes previous). Shards read the keys through a sequence
 * lock and never wait. The keys live in a page kept out of core dumps.
 * lifetime_s is what tickets announce (and how long wolfSSL accepts a
 * session): two rotation periods.
 */
void tls_tickets_rotate(void);
void tls_tickets_lifetime(struct tls_ctx *ctx, uint32_t lifetime_s);

/*
 * The SNI host name of a ClientHello at the front of buf (the first TLS
 * record, which must be whole). Returns its length (copied into name,
 * NUL-terminated; longer than cap-1 is -ENAMETOOLONG), 0 when the hello
 * has no SNI, -EAGAIN when the record is not complete yet (and could
 * still be), -EPROTO when buf does not start a handshake record.
 */
int tls_sni_peek(const void *buf, size_t len, char *name, size_t cap);

/* Frees the context and its cached sessions. A client context: no session
 * may still use it. A server context: sessions still open keep wolfSSL's
 * context alive (it is refcounted) and never touch ours again. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * A session on ctx. Client: host is the origin's host name or IP literal
 * (verified against the certificate; sent as SNI unless an IP literal;
 * at most LIMIT_HOST_BYTES); a cached session for host is offered for
 * resumption. Server: host must be NULL. Returns 0, -EINVAL, -ENOMEM.
 */
int tls_session_new(struct tls_ctx *ctx, const char *host, struct tls_session **out);

/* Keeps a resumable session for the next connection, frees everything. */
void tls_session_free(struct tls_session *s);

/*
 * Ciphertext the ring received. Copies up to the free room of the input
 * buffer and returns the count taken (0 when full: call tls_handshake or
 * tls_read first). len 0 means the peer closed its side (recv returned 0):
 * later calls that need more input fail with -ECONNRESET.
 */
size_t tls_feed(struct tls_session *s, const void *ciphertext, size_t len);

/*
 * Drive the handshake. 0 = done (again 0 on every later call), -EAGAIN =
 * needs input (send tls_pending_output first), else fatal:
 *   -EKEYREJECTED  the peer's certificate failed verification (unknown CA,
 *                  host-name mismatch, expired, ...: see tls_reason)
 *   -EPROTO        protocol error, fatal alert from the peer, garbage
 *   -ECONNRESET    the peer closed before the handshake finished
 *   -ENOMEM
 * A fatal error sticks: every later call returns it.
 */
int tls_handshake(struct tls_session *s);

/* Why the last call failed, in a few words, for a log line ("" if none).
 * Never contains key material. Valid until the session is freed. */
const char *tls_reason(const struct tls_session *s);

/* Does the ciphertext fed so far end inside a record? (Framing is
 * tracked as bytes are fed; at EOF this means the record was cut.) */
bool tls_input_mid_record(const struct tls_session *s);
/* Ciphertext fed in that wolfSSL has not taken yet. (wolfSSL takes one
 * record at a time: 0 after a read means everything fed was returned.) */
size_t tls_input_unread(const struct tls_session *s);

/* Ciphertext waiting to be sent: *ptr, *len (len 0 = nothing). Stable (the
 * session appends only behind it) until tls_output_done. */
void tls_pending_output(const struct tls_session *s, const void **ptr, size_t *len);

/* n bytes of the pending output were sent (n <= pending length). */
void tls_output_done(struct tls_session *s, size_t n);

/*
 * Encrypt up to len plaintext bytes into the output buffer, whole records
 * while they fit (keeping LIMIT_TLS_OUT_RESERVE_BYTES free for alerts and
 * key updates). Returns bytes accepted (> 0), -EAGAIN if the output buffer
 * has no room for a record (send and call again), -ENOTCONN before the
 * handshake is done, or a fatal error as tls_handshake.
 */
ssize_t tls_write(struct tls_session *s, const void *plain, size_t len);

/*
 * Decrypt into buf: plaintext bytes (> 0), 0 = the peer closed cleanly
 * (close_notify), -EAGAIN = needs input, -ENOTCONN before the handshake is
 * done, or a fatal error as tls_handshake (-ECONNRESET: the transport
 * closed without close_notify, so the data may be truncated).
 */
ssize_t tls_read(struct tls_session *s, void *buf, size_t cap);

/* Queue close_notify in the output buffer. 0, or -EAGAIN if it has no
 * room, or a sticky fatal error. */
int tls_shutdown(struct tls_session *s);

/* After the handshake: was the session resumed; was it by a ticket sealed
 * under the previous ticket key (a server's: not the session-id cache, not
 * the current key); the protocol version ("TLSv1.3"); the cipher suite
 * name; the ALPN protocol ("h2", "http/1.1") or NULL. */
bool tls_resumed(const struct tls_session *s);
bool tls_resumed_prev_key(const struct tls_session *s);
const char *tls_version(const struct tls_session *s);
const char *tls_cipher(const struct tls_session *s);
const char *tls_alpn(const struct tls_session *s);

#endif /* EDGECACHE_NET_TLS_H */
