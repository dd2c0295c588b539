/*
 * core/limits.h — every limit of edgecache, in one place (SQLite's
 * sqliteLimit.h, TigerBeetle's "put a limit on everything").
 *
 * Each row: NAME, default, floor, ceiling, and why. Rows marked CFG can be
 * set from the main config file ([server] section, key = lower-case name
 * without the LIMIT_ prefix); the config loader checks them against
 * floor..ceiling and names the key and the bound in its error. Rows marked
 * FIXED size static arrays and cannot change at run time.
 *
 * Tests exercise each limit at the limit and one past it
 * (tests/unit/test_http1.c, tests/unit/test_config.c).
 */
#ifndef EDGECACHE_CORE_LIMITS_H
#define EDGECACHE_CORE_LIMITS_H

/* ---- visitor HTTP/1.1 request (FIXED: sizes parser arrays) -------------- */

/* Request line (method SP target SP version). Longer target → 414. 8 KiB is
 * what nginx (large_client_header_buffers) and Varnish (http_req_size)
 * accept by default; S3 keys are at most 1024 bytes, 3× when encoded. */
#define LIMIT_REQUEST_LINE_BYTES      8192
/* Whole request head (request line + headers + CRLFs). Over → 431. */
#define LIMIT_HEADER_BYTES            16384
/* Header fields per request or response. Over → 431 (request) / 502
 * (origin response). Varnish's http_max_hdr is 64; real browsers send <30. */
#define LIMIT_HEADER_COUNT            64
/* Method token length: the longest registered method is 17 bytes. */
#define LIMIT_METHOD_BYTES            32
/* Origin response head (status line + headers). Over → 502. */
#define LIMIT_RESPONSE_HEADER_BYTES   32768
/* One chunk-size line of a chunked body (hex digits + extensions). */
#define LIMIT_CHUNK_LINE_BYTES        1024
/* Trailer section after the last chunk. */
#define LIMIT_TRAILER_BYTES           4096

/* ---- per-shard sizing (CFG, [server]) ----------------------------------- */

/* Visitor connections per shard; slots are allocated at start. Past it new
 * connections are accepted and closed at once, and counted. */
#define LIMIT_MAX_CONNS_DEFAULT       16384
#define LIMIT_MAX_CONNS_MIN           16
#define LIMIT_MAX_CONNS_MAX           1048576
/* Exchange slots per shard, per max_conns (edge/exchange.h): an HTTP/1
 * connection answers one request at a time; the others serve HTTP/2
 * streams and stale-while-revalidate refreshes, which take no connection
 * slot. Origin connection slots are one per exchange slot, plus the
 * keep-alive pools. Mapped, not committed: unused slots cost address space only. At
 * the limit a stream is refused (h2_streams_refused), a refresh skipped
 * (cache_swr_skipped), an HTTP/1 request's connection closed
 * (exchanges_refused). */
#define LIMIT_EXCHANGES_PER_CONN      2
/* Request body passed through to a plain origin (POST/PUT). Over → 413. */
#define LIMIT_MAX_BODY_BYTES_DEFAULT  (64LL << 20)
#define LIMIT_MAX_BODY_BYTES_MIN      0LL
#define LIMIT_MAX_BODY_BYTES_MAX      (1LL << 40)
/* Idle origin connections kept per origin per shard. */
#define LIMIT_ORIGIN_POOL_DEFAULT     64
#define LIMIT_ORIGIN_POOL_MIN         0
#define LIMIT_ORIGIN_POOL_MAX         4096

/* ---- timeouts (CFG, milliseconds) --------------------------------------- */

/* A visitor must send a complete request head within this (slow loris). */
#define LIMIT_HEADER_TIMEOUT_MS_DEFAULT   10000
/* When we close a connection whose visitor may still be sending (after an
 * error, a body not read, over TLS), its input is read and dropped until
 * EOF or this long, so the visitor sees our last response rather than a
 * reset (RFC 9112 9.6). */
#define LIMIT_LINGER_MS                   2000
/* Keep-alive connection with no request in progress. */
#define LIMIT_IDLE_TIMEOUT_MS_DEFAULT     60000
/* A visitor TLS handshake, from accept to Finished: a client that stalls
 * mid-handshake holds its slot (and its ~82 KiB session) no longer. */
#define LIMIT_TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
/* Session-ticket keys (net/tls.h): a new key every this many seconds; the
 * previous one still decrypts for one more period, so a ticket lives
 * between one and two periods. */
#define LIMIT_TLS_TICKET_ROTATE_S_DEFAULT 3600
#define LIMIT_TLS_TICKET_ROTATE_S_MIN     1
#define LIMIT_TLS_TICKET_ROTATE_S_MAX     86400
/* One item of a tls_ciphers list: the longest suite name (IANA's) is 50
 * bytes. A longer item is no suite name; its error quotes this many bytes
 * and "...". */
#define LIMIT_TLS_CIPHER_NAME_BYTES       64
/* A zone's tls_ciphers: about 40 suite names, more than wolfSSL has
 * suites an operator may list (net/tls.h, tls_ciphers_check). */
#define LIMIT_TLS_CIPHERS_BYTES           1024
/* A visitor that stops reading our response (send makes no progress). */
#define LIMIT_SEND_TIMEOUT_MS_DEFAULT     30000
/* Plain-HTTP visitor sends carrying a body segment of at least this many
 * bytes go out zero-copy (IORING_OP_SEND[MSG]_ZC); 0 = never. */
#define LIMIT_SEND_ZEROCOPY_BYTES_DEFAULT 0
#define LIMIT_SEND_ZEROCOPY_BYTES_MAX     (1 << 30)
/* SIGTERM: in-flight requests get this long to finish. */
#define LIMIT_DRAIN_TIMEOUT_MS_DEFAULT    10000
/* Origin TCP connect; per origin ([origin] connect_timeout_ms). */
#define LIMIT_CONNECT_TIMEOUT_MS_DEFAULT  3000
/* Origin response head and each gap between body reads; per origin. */
#define LIMIT_READ_TIMEOUT_MS_DEFAULT     30000
/* Every timeout above is checked against this range when configured. */
#define LIMIT_TIMEOUT_MS_MIN              1
#define LIMIT_TIMEOUT_MS_MAX              3600000
/* After a snapshot changes an S3 origin's credentials, a miss answered
 * 400 or 403 is retried once with the previous ones for this long (a key
 * the provider has not activated yet, a secret typed wrong): 0 = off, the
 * default, so a wrong secret shows at once. [server] credential_overlap_ms. */
#define LIMIT_CREDENTIAL_OVERLAP_MS_DEFAULT 0
#define LIMIT_CREDENTIAL_OVERLAP_MS_MAX     3600000
/* A failing origin is skipped for this long (passive health). */
#define LIMIT_ORIGIN_BACKOFF_MS_DEFAULT   5000
/* DNS names of origins are resolved again this often (control thread). */
#define LIMIT_DNS_REFRESH_MS_DEFAULT      30000

/* ---- io_uring and buffers (FIXED) --------------------------------------- */

/* Submission queue entries per shard ring. */
#define LIMIT_RING_ENTRIES            4096
/* Provided-buffer ring for visitor recv: count × size per shard. Requests
 * are small: many small buffers. */
#define LIMIT_RECV_BUFS               1024
#define LIMIT_RECV_BUF_BYTES          16384
/* Provided-buffer ring for origin recv: responses are large, and each
 * completion costs the same whatever its size: fewer, larger buffers. */
#define LIMIT_ORIGIN_RECV_BUFS        256
#define LIMIT_ORIGIN_RECV_BUF_BYTES   65536
/*
 * Sharing the receive buffers (docs/ARCHITECTURE.md "Receive buffers"):
 * the rings above are shared by every connection of a shard, so a few
 * hundred visitors that stop reading must not be able to empty them.
 * - A connection pins at most LIMIT_RECV_SHARE_BUFS buffers of a group
 *   (held input, upload pieces queued to its origin, or response bytes in
 *   its send queue that point into origin / plaintext buffers): past it
 *   its reads pause (recv_share_paused). A recv of a few bytes pins a
 *   whole buffer, so the share counts buffers, not bytes (the stream
 *   window, LIMIT_STREAM_WINDOW_BYTES, bounds bytes); 8 of the origin
 *   ring's 256 is 512 KiB, twice the window.
 * - A group is low when fewer than count / LIMIT_RECV_RESERVE_DIV of its
 *   buffers are left: then an origin read is armed only for an exchange
 *   whose queue pins none (it is keeping up), so the reserve goes to
 *   exchanges that give buffers back at once.
 * - While a group is low, a visitor whose send queue pins buffers and has
 *   not moved for LIMIT_RECV_SHARE_STALL_MS is closed (an HTTP/2 stream is
 *   reset), counted recv_share_closed: origin reads never wait on a
 *   visitor giving buffers back for longer than that. A reader that moves
 *   at all, however slowly, is never closed for it (send_timeout_ms is
 *   its limit). Looked at at most once per LIMIT_RECV_RECLAIM_MS.
 */
#define LIMIT_RECV_SHARE_BUFS         8
#define LIMIT_RECV_RESERVE_DIV        4
#define LIMIT_RECV_SHARE_STALL_MS     200
#define LIMIT_RECV_RECLAIM_MS         25
/* Head-buffer blocks (net/iobuf.h) that stayed free for a whole period of
 * this are given back to the kernel (MADV_DONTNEED), at most
 * LIMIT_HBUF_TRIM_BLOCKS (160 MiB) per period so one tick stays short:
 * 8,000 partial heads once grew RSS by 150 MiB for good. */
#define LIMIT_HBUF_TRIM_MS            1000
#define LIMIT_HBUF_TRIM_BLOCKS        4096
/* Bytes of an origin response body in flight per request: the body
 * streams through this window, so a 1 GiB object needs only this much. */
#define LIMIT_STREAM_WINDOW_BYTES     (256 * 1024)
/* Origin response buffer per origin connection. */
#define LIMIT_ORIGIN_BUF_BYTES        65536
/* Interim (1xx) responses an origin may send before its final one, per
 * request, and their head bytes in all (net/origin_client.h): each is
 * forwarded (103 Early Hints) or skipped, and an origin sending them
 * without end would hold the exchange with no final response and no read
 * timeout (every byte re-arms it). Beyond either: 502,
 * origin_interim_excess. A page's Early Hints are one or two heads; all of
 * them together get one final head's worth of bytes. */
#define LIMIT_ORIGIN_INTERIM_HEADS    8
#define LIMIT_ORIGIN_INTERIM_BYTES    LIMIT_RESPONSE_HEADER_BYTES

/* ---- config (FIXED) ----------------------------------------------------- */

#define LIMIT_LISTEN_ADDRS            16     /* listen = a, b, ... */
/* Connections the kernel queues per listening socket before a shard
 * accepts them (listen(2); capped by net.core.somaxconn). */
#define LIMIT_LISTEN_BACKLOG          4096
#define LIMIT_ZONES                   4096   /* zone files per server */
#define LIMIT_ZONE_HOSTS              64     /* hosts = per zone */
#define LIMIT_ZONE_ORIGINS            16     /* [origin NAME] per zone */
/* pass_request_headers = per zone: field names compared on every request
 * field, so a short list. */
#define LIMIT_PASS_REQUEST_HEADERS    16
#define LIMIT_PASS_HEADER_NAME_BYTES  64
#define LIMIT_WORKERS                 256    /* workers = N */
#define LIMIT_NAME_BYTES              128    /* zone / origin names */
#define LIMIT_HOST_BYTES              253    /* DNS name length */
#define LIMIT_PATH_BYTES              1024   /* base_path */
/* Host header sent to an origin: a DNS name plus ":65535". */
#define LIMIT_HOST_HEADER_BYTES       (LIMIT_HOST_BYTES + 6)
/* S3 credentials: sigv4/sigv4.h's SIGV4_*_MAX are these. A session
 * token is not a secret key: STS tokens run to ~1000-2000 bytes, hence
 * its own row. */
#define LIMIT_ACCESS_KEY_BYTES        128
#define LIMIT_SECRET_BYTES            256    /* S3 secret access key */
#define LIMIT_SESSION_TOKEN_BYTES     4096   /* S3 session token */
#define LIMIT_REGION_BYTES            64
#define LIMIT_SERVICE_BYTES           32
/* One line of a config file, without its line ending: inih reads lines
 * into a fixed buffer of INI_MAX_LINE (200 in Debian's build, not
 * changeable at run time) and would cut a longer line silently, so the
 * loader refuses it. Long secrets go in s3_*_file; long lists continue on
 * indented lines (docs/CONFIG.md). */
#define LIMIT_CONFIG_LINE_BYTES       199

/* ---- SigV4 signing (FIXED: sizes stack buffers in sigv4/) --------------- */

/* Canonical request of one signature, built on the signing thread's stack.
 * The largest S3 GET we send: a 1024-byte key encoded 3× (3 KiB), a
 * session token of SIGV4_TOKEN_MAX (4 KiB), a query from a request line of
 * LIMIT_REQUEST_LINE_BYTES and a few headers: 16 KiB holds all of that
 * together; without a token 8 KiB would do. Over → -ENOSPC (a 5xx). */
#define LIMIT_SIGV4_CANONICAL_BYTES   16384
/* Headers signed per request, counting the ones the signer adds (host,
 * x-amz-date, x-amz-content-sha256, x-amz-security-token). The edge signs
 * 4-5; the CLI and tests sign a few more. Over → -ENOSPC. */
#define LIMIT_SIGV4_HEADERS           32
/* Query parameters of a signed request (sorted on the stack). S3 GETs
 * carry none or a handful (versionId, response-*). Over → -ENOSPC. */
#define LIMIT_SIGV4_QUERY_PARAMS      64

/* ---- S3 origin errors and paths (FIXED) -------------------------------- */

/* Bytes of an origin error body that s3err_ looks at; past them it is
 * ignored. S3 error documents are < 4 KiB; Swift's SignatureDoesNotMatch,
 * which carries canonical request and string to sign twice (text and
 * hex bytes), stays well under 64 KiB even with a 1024-byte key. */
#define LIMIT_S3ERR_BODY_BYTES        65536
/* <CanonicalRequest> / <StringToSign> kept for diagnosis: a 1024-byte key
 * encodes to at most 3 KiB, plus headers. Longer is truncated and said. */
#define LIMIT_S3ERR_TEXT_BYTES        8192
/* Every other field (<Message>, <Key>, <Endpoint>, ...): S3 keys are at
 * most 1024 bytes. Longer is truncated and said. */
#define LIMIT_S3ERR_FIELD_BYTES       1088
/* <Code>, <Region>, <RequestId>, <ServerTime>: short tokens. */
#define LIMIT_S3ERR_TOKEN_BYTES       128
/* Origin wire path after mapping: base_path + visitor path, decoded, then
 * encoded once (each byte at most 3): 3 × (request line + base_path). */
#define LIMIT_S3_WIRE_PATH_BYTES      (3 * (LIMIT_REQUEST_LINE_BYTES + LIMIT_PATH_BYTES))
/* Host header for virtual-hosted addressing: "<bucket>." (S3 buckets are
 * at most 63 bytes) + origin host + ":port". */
#define LIMIT_S3_BUCKET_BYTES         63
#define LIMIT_S3_HOST_BYTES           (LIMIT_S3_BUCKET_BYTES + 1 + LIMIT_HOST_BYTES + 6)

/* ---- HTTP caching rules (cache/http_cache.h) ----------------------------- */

/* Per-zone durations (CFG, zone [zone] keys, seconds; s/m/h/d suffix):
 * default_ttl, negative_ttl, stale_while_revalidate, stale_if_error. The
 * ceiling is a year: a longer edge lifetime is a forgotten object, and it
 * keeps every sum of times far from overflow. */
#define LIMIT_TTL_S_MIN               0
#define LIMIT_TTL_S_MAX               (365LL * 86400)
/* Heuristic freshness (RFC 9111 4.2.2: 10% of the time since
 * Last-Modified) is capped here: a file untouched for ten years should not
 * stay fresh for a year on a guess. One day, as Squid's refresh_pattern
 * and most CDNs cap their guesses. */
#define LIMIT_HEURISTIC_S_MAX         86400
/* A zone's own targeted cache-control field name (RFC 9213,
 * `targeted_field`): a header name, short like CDN-Cache-Control. */
#define LIMIT_TARGETED_FIELD_BYTES    64
/* delta-seconds past this are this (RFC 9111 1.2.2: 2^31). */
#define LIMIT_DELTA_SECONDS_MAX       2147483648LL
/* Cache key text: zone name, a separator, then path and query as they
 * arrived, which fit in the request line. Over → -ENOSPC (no caching). */
#define LIMIT_CACHE_KEY_BYTES         (LIMIT_NAME_BYTES + 2 + LIMIT_REQUEST_LINE_BYTES)
/* Query parameters sorted on the stack for query_string = sorted. Real
 * URLs carry a handful; over → -E2BIG (the request bypasses the cache). */
#define LIMIT_CACHE_QUERY_PARAMS      128
/* Field names in a stored response's Vary. Real origins vary on 1-3
 * (Accept-Encoding, Origin, Accept); over → the response is not stored. */
#define LIMIT_VARY_FIELDS             16
/* Stored variants of one URL (distinct values of its Vary fields). An
 * Accept-Encoding URL has 2-4; a URL varying on User-Agent or Cookie would
 * fill the store with copies nobody shares. Over → the new variant is
 * served from the origin, not stored (cache_vary_refused). */
#define LIMIT_VARY_VARIANTS           16
/* The Vary field names a variant marker keeps (lower-cased, sorted,
 * comma-joined): 16 names of 31 bytes. Over → not stored. */
#define LIMIT_VARY_NAMES_BYTES        512
/* A stored ETag (quotes and W/ included). S3's are 34 bytes (multipart
 * "...-N" a few more); over → the response is not stored, since a chunk
 * of it could not be checked against its object. */
#define LIMIT_ETAG_BYTES              128
/* Entity tags in one If-Match / If-None-Match list looked at; the rest
 * do not match (a longer list is an attack, not a browser). */
#define LIMIT_ETAG_LIST               32
/* ---- disk cache (CFG rows: [cache] section; FIXED rows size arrays) ----- */

/* Cache files ([cache] path = a, b). Each is opened and scanned at start. */
#define LIMIT_CACHE_PATHS               16
/* Total bytes of the cache files, split evenly across paths. The floor
 * leaves each stripe room for a few of the largest entries. */
#define LIMIT_CACHE_SIZE_MIN            (4LL << 20)
#define LIMIT_CACHE_SIZE_MAX            (1LL << 50)       /* 1 PiB */
/* Chunk of a large object: a Range reads whole chunks. 64 KiB keeps the
 * per-chunk header (4 KiB) under 7%; 16 MiB bounds a store buffer. */
#define LIMIT_CACHE_CHUNK_DEFAULT       (1LL << 20)
#define LIMIT_CACHE_CHUNK_MIN           (64LL << 10)
#define LIMIT_CACHE_CHUNK_MAX           (16LL << 20)
/* RAM tier for hot objects (used by the serving path; parsed here). */
#define LIMIT_CACHE_MEMORY_DEFAULT      (256LL << 20)
#define LIMIT_CACHE_MEMORY_MIN          0LL
#define LIMIT_CACHE_MEMORY_MAX          (1LL << 40)
/* The RAM tier (cache/memtier.h; docs/cache-memtier.md), one per shard:
 * FIXED. Smallest block of its buddy arena: a 1 KiB object with its
 * stored head takes 2 KiB, not a 4 KiB page; 1 KiB also keeps the
 * allocator's side tables (9 bytes per block) under 1% of the budget.
 * The largest block is chunk_size: an entry (meta + body) up to it is
 * kept whole, a larger object as a meta entry + chunk entries. */
#define LIMIT_MEMTIER_MIN_BLOCK_BYTES   1024u
/* Share of a shard's budget for the small FIFO that new objects enter
 * (S3-FIFO: 10% generalised best across the paper's traces). */
#define LIMIT_MEMTIER_SMALL_PCT         10
/* Arena beyond the budget: room for objects evicted while a send still
 * reads them (freed at the last unref) and for buddy fragmentation, so
 * an admission rarely has to evict past the policy's choice. At least
 * one largest block. */
#define LIMIT_MEMTIER_SLACK_PCT         12
/* Hits remembered per object (2 bits): the main FIFO re-inserts an
 * object as often as it was hit, up to this, between two judgements. */
#define LIMIT_MEMTIER_FREQ_MAX          3
/* Index checkpoint period, seconds: what a SIGKILL costs is a rescan of
 * the log written since, so minutes at most. */
#define LIMIT_CACHE_CHECKPOINT_S_DEFAULT 60
#define LIMIT_CACHE_CHECKPOINT_S_MIN    1
#define LIMIT_CACHE_CHECKPOINT_S_MAX    86400
/* Expected mean object size: sizes the index (size / this objects), as
 * Traffic Server's min_average_object_size does. Smaller = more RAM. */
#define LIMIT_CACHE_AVG_OBJECT_DEFAULT  (32LL << 10)
#define LIMIT_CACHE_AVG_OBJECT_MIN      (4LL << 10)
#define LIMIT_CACHE_AVG_OBJECT_MAX      (1LL << 30)
/* Stripes per cache file (one writer shard each): at most one per worker. */
#define LIMIT_STORE_STRIPES             LIMIT_WORKERS
/* Serialized stored response head + cache fields of one object: the
 * largest origin head we accept plus 8 KiB of cache fields. */
#define LIMIT_STORE_META_BYTES          (LIMIT_RESPONSE_HEADER_BYTES + 8192)
/* Largest object: half a stripe (a whole object is one reservation in
 * one lap) and at most this many chunks. 1 Mi chunks of 1 MiB = 1 TiB. */
#define LIMIT_STORE_OBJECT_CHUNKS       (1u << 20)
/* Writes in flight per shard (write slots, allocated at start). */
#define LIMIT_STORE_WRITES              256
/* Aligned store buffers per shard (each chunk + meta bytes): bounds what
 * a shard has in flight to the disk. Empty pool → -ENOBUFS, counted. */
#define LIMIT_STORE_BUFS                64
/* Hot objects queued for copy-forward per stripe; past it they are
 * evicted (counted). */
#define LIMIT_STORE_REINSERT_QUEUE      1024
/* Re-insertion window: an object is judged (copied forward if its access
 * bit is set, else evicted) when the write cursor is within this fraction
 * of a stripe of overwriting it (and at least two of the largest entries
 * ahead): 1/16 leaves the shard time to copy. */
#define LIMIT_STORE_REINSERT_WINDOW_DIV 16
/* Start-up scan: after a bad entry, block headers are searched this many
 * largest entries ahead for the next good one (one torn write must not
 * lose what was committed after it). */
#define LIMIT_STORE_RESYNC_ENTRIES      2
/* Path-prefix depths whose hashes each index entry keeps for purge by
 * prefix; a deeper prefix purges at this depth (more, never less). */
#define LIMIT_CINDEX_PREFIX_DEPTH       4

/* A RequestTimeTooSkewed answer whose clock offset is within this of the
 * offset held is the same offset (Dates have whole seconds): not stored,
 * counted or logged again (edge/origin.c s3_error_end). */
#define LIMIT_CLOCK_OFFSET_SLACK_S          1

/* An S3 origin error <Code> is logged at most once per this, per shard. */
#define LIMIT_S3ERR_LOG_INTERVAL_MS         10000
/* A disk-cache read or write error (ENOSPC, EIO) likewise: a full or failing
 * disk must not turn every request into a log line. */
#define LIMIT_CACHE_IOERR_LOG_INTERVAL_MS   10000

/* ---- request collapsing (FIXED; net/collapse.h) --------------------------- */

/* Keys with an origin fetch in flight, all shards together; a key that
 * finds no slot is simply not collapsed. */
#define LIMIT_COLLAPSE_KEYS           8192
/* Slots looked at from a key's hash. */
#define LIMIT_COLLAPSE_PROBE          8
/* A parked follower (another shard leads) gives up waiting after this and
 * fetches itself: a leader that never finishes must not hold it forever. */
#define LIMIT_COLLAPSE_WAIT_MS        30000
/* A key whose response could not be shared (not storable) is not collapsed
 * for this long after: its misses fetch side by side (Varnish keeps such a
 * hit-for-miss for 120 s; shorter here, so a key that becomes cacheable
 * again collapses again soon). */
#define LIMIT_COLLAPSE_PASS_MS        10000

/* Objects refreshed by a 304 whose rewrite has not landed, all shards
 * together (cache/refreshed.h): each slot holds one refreshed meta (up to
 * LIMIT_STORE_META_BYTES), so 64 slots reserve 2.6 MiB of address space,
 * touched only as far as each meta goes (calloc'd). A rewrite that
 * finds no slot near its key is counted (cache_refresh_unlisted) and its
 * object is found stale until it lands, as before the table. A rewrite
 * lands in a disk write's time: 64 in flight at once is a busy cache. */
#define LIMIT_REFRESHED_SLOTS         64
/* Slots looked at from a key's hash. */
#define LIMIT_REFRESHED_PROBE         8

/* ---- the shard loop (core/loop.h, edge/shard.c; FIXED) ------------------ */

/* Completion handlers a loop's table holds (indexed by the op in a
 * completion's user_data, whose top 8 bits would allow 256): the loop's
 * own 4 and the shard's 11 today, room for another transport's. An op
 * past it is a programmer error: asserted at registration, and the
 * shard's are checked at compile time (edge/shard.h). */
#define LIMIT_LOOP_OPS                32
/* Hooks of each kind (tick, wake, batch) a loop runs, in order: one per
 * module that needs one (the shard's today); past it is a programmer
 * error (asserted at registration). */
#define LIMIT_LOOP_HOOKS              8
/* shard_start waits this long for a new shard thread to say it is ready
 * (its ring, buffers and slots allocated): milliseconds on any machine;
 * past it start-up fails with -ETIMEDOUT rather than hanging. */
#define LIMIT_SHARD_START_MS          5000
/* Tests only: EDGECACHE_TEST_STORE_WRITE_DELAY_MS holds back each store
 * write's completion handling by up to this much (edge/shard.c): enough to
 * widen a race window, never so much that a drain waits past its deadline
 * for long. Past it start-up is refused. */
#define LIMIT_TEST_STORE_WRITE_DELAY_MS 5000

/* ---- large objects (edge/edge_large.h; FIXED) ---------------------------- */

/* Chunks one exchange holds: one being sent, one read ahead. */
#define LIMIT_ELARGE_SLOTS            2
/* Chunks one origin fetch asks for at most: a Range miss on a 4 GiB
 * object pulls this much at a time, not the rest of the file. */
#define LIMIT_ELARGE_FETCH_CHUNKS     8
/* Store buffers of a shard that a read (a lookup's, a large object's
 * chunk's) leaves free for the writers of large objects' chunks: a fill or
 * fetch that finds half of it or less pauses its origin reads until more
 * are free (the tick looks), rather than drop a chunk that would then be
 * fetched from the origin again (#17 defect 1). */
#define LIMIT_ELARGE_WRITE_RESERVE    4
/* Origin segments an exchange holds for its chunk writes when the store
 * has no room for them (edge/edge_large.c: a fetched chunk is never
 * dropped for want of a buffer, a write slot or a write io — it would be
 * fetched again). Its origin reads pause once it holds one, so only the
 * rest of that one read can follow: one segment for a Content-Length
 * body, a few for a TLS read of several records. Past it the chunk is
 * dropped (counted: cache_fill_dropped). */
#define LIMIT_ELARGE_HELD_SEGS        8
/* Store write slots of a shard a fill must find free to go on reading
 * the origin (two origin reads' worth of appends, 8 each). */
#define LIMIT_ELARGE_WRITE_SLOTS      16
/* How long an exchange waits for a missing chunk that is on its way (the
 * version's fill streams it, or another exchange fetches or writes it)
 * while what brings it completes no chunk (counted from the later of its
 * holder's last finished chunk and the start of the wait), before fetching
 * it itself. A fill reads the origin at its own visitor's pace: a slow one
 * is waited for as long as it finishes a chunk per this long (counted
 * from when the wait began, as before, waiters under load gave up on it
 * and drew up to 2.4x the object from the origin). So one slow (or
 * hostile) visitor can still pace the others down to a chunk per this
 * long: a known gap until the fill is decoupled from its visitor. */
#define LIMIT_ELARGE_CLAIM_WAIT_MS    30000

/* ---- config errors and check-origin (control/; FIXED) ------------------- */

/* Bytes of a bad value (or a section name) quoted back in a config error:
 * enough to recognise it, and a 10 KB line cannot make a 10 KB message. A
 * longer value is quoted cut to this (tests/unit/test_config.c). */
#define LIMIT_CFG_ECHO_BYTES          64
/* check-origin's string to sign (the SigV4 trace it prints): algorithm,
 * X-Amz-Date, scope (date, region, service) and a hash; sized from the
 * longest region and service the config accepts (control/cli_check_origin.c
 * checks it at compile time). */
#define LIMIT_CHECK_ORIGIN_STS_BYTES  1024
/* Ciphertext check-origin reads from an https origin at a time (one TLS
 * record's worth); a longer answer is read in more pieces. */
#define LIMIT_CHECK_ORIGIN_IN_BYTES   16384

/* ---- logs (core/log.h; FIXED) ------------------------------------------ */

/* Room for one error-log line: a line is at most this less one byte, its
 * newline included; a longer message is cut (the line stays one line). */
#define LIMIT_LOG_LINE_BYTES          2048
/* Bytes of a visitor's request-target in its access-log line: a longer
 * one is cut, so one request cannot make a line of LIMIT_REQUEST_LINE_BYTES. */
#define LIMIT_ACCESS_LOG_TARGET_BYTES 1024
/* Bytes of an admin request's path in its error-log line (the API's own
 * paths are under 100: a longer one is a probe or a mistake). */
#define LIMIT_ADMIN_LOG_PATH_BYTES    200

/* ---- privilege drop (control/privdrop.h; FIXED) ------------------------- */

/* [server] user / group: a name, as useradd(8) allows at most 32 bytes. */
#define LIMIT_USER_NAME_BYTES         32
/* The buffer for one getpwnam_r/getgrnam_r answer grows from 4 KiB on
 * ERANGE up to this: a group's member list can be long, but 1 MiB of
 * names is not a group record any more. */
#define LIMIT_PRIVDROP_NSS_BYTES      (1u << 20)

/* ---- systemd watchdog (control/sdnotify.h; FIXED) ----------------------- */

/* The watchdog pings only while the control loop turned within this: it
 * may block longer than WatchdogSec/2 on purpose (getaddrinfo per origin
 * against a resolver that times out, resolv.conf's worst is 30 s; a
 * reload; a checkpoint's fsync) but must not be stuck for good (no
 * reloads, counters, admin API, shard log draining). It beats between
 * origins, so the bound holds for one slow step, not for the sum. */
#define LIMIT_WATCHDOG_CONTROL_STALL_MS  (120u * 1000u)

/* ---- counters (core/counters.h; FIXED) --------------------------------- */

/* Slots of a shard's counter array: the core block and every registered
 * block kept in the shards (143 today). 8 bytes each per shard;
 * past it counters_register refuses the block (-ENOSPC) and start-up fails. */
#define LIMIT_COUNTERS                512
/* Blocks in the registry (one per counting subsystem: 4 today). */
#define LIMIT_COUNTER_BLOCKS          32
/* An output name, prefix + name, with its NUL (the longest today is
 * cache_request_error_passed); longer → -EINVAL at registration. */
#define LIMIT_COUNTER_NAME_BYTES      64

/* ---- TLS sessions (net/tls.h, docs/tls.md; FIXED) ---------------------- */

/* Ciphertext copied in from the ring per TLS session, not yet consumed by
 * wolfSSL: one origin recv buffer, so a whole completion fits when the
 * session has caught up. Full → tls_feed takes less; the caller keeps the
 * rest (as it holds visitor input). */
#define LIMIT_TLS_IN_BYTES            LIMIT_ORIGIN_RECV_BUF_BYTES
/* The same for an HTTPS visitor's session: one visitor recv buffer.
 * wolfSSL assembles a record in its own buffer, so a record larger than
 * this is fed in parts (the shard feeds again after each read); 48 KiB
 * less per visitor than an origin session. */
#define LIMIT_TLS_SERVER_IN_BYTES     LIMIT_RECV_BUF_BYTES
/* Until its ClientHello is whole (its SNI picks the session's context) a
 * visitor's ciphertext is copied into its own input block (the provided
 * buffers go back at once: 400 hellos dribbled in 10-byte pieces once
 * pinned the whole visitor ring). Clients send a hello in one write (one
 * or two segments); one that arrives in more pieces than this, or longer
 * than a record, is refused: nothing real is that slow. */
#define LIMIT_TLS_HELLO_PIECES        8
/* Records waiting for the ring to send them: four full records, so one
 * send carries 64 KiB, as an origin buffer does. */
#define LIMIT_TLS_OUT_BYTES           65536
/* Output room tls_write leaves free for what a read may have to answer
 * (alerts, TLS 1.3 key updates: tens of bytes each). A peer that makes
 * us answer more than this before we send is a fatal error. */
#define LIMIT_TLS_OUT_RESERVE_BYTES   1024
/* Resumable sessions kept per client context (one context per origin,
 * one host per origin unless virtual-hosted S3 names several buckets). */
#define LIMIT_TLS_SESSION_CACHE       8
/* Decrypted origin bytes per shard: buffers of one TLS record's plaintext,
 * shared with the visitor's send queue like provided buffers. */
#define LIMIT_TLS_PLAIN_BUFS          256
#define LIMIT_TLS_PLAIN_BUF_BYTES     16384

/* ---- the admin API (core/admin.h; FIXED) -------------------------------- */

/* [admin] listen when the section gives none: loopback only, a port no
 * other default of ours uses. */
#define LIMIT_ADMIN_PORT_DEFAULT      9180
/* Connections served at once; past it a new one gets 503 and is closed,
 * so a flood holds at most this many slots for at most the timeout. */
#define LIMIT_ADMIN_CONNS             16

/* ---- upgrade (control/upgrade.h) (FIXED) ------------------------------------ */

/* upgrade_socket: what sockaddr_un.sun_path holds, less its NUL. */
#define LIMIT_UPGRADE_SOCKET_PATH_BYTES 107
/* A new binary must be serving this long after it was started (its config
 * loaded and checked, the old one's checkpoint loaded, its shards up), or
 * it is killed (SIGKILL) and the old one keeps serving. A checkpoint of
 * 1M objects loads in under 0.5 s (docs/cache-store.md); 30 s leaves room
 * for a large cache on a slow disk and a loaded machine. */
#define LIMIT_UPGRADE_READY_MS        30000
/* The hand-over waits this long for the store's writes in flight to land
 * before the checkpoint (they are frozen: no new one starts; what is left
 * after this is left uncommitted). Each is one chunk's write at most. */
#define LIMIT_UPGRADE_WRITES_MS       2000
/* Listening sockets handed over in one SCM_RIGHTS message (the kernel's
 * SCM_MAX_FD is 253); more go in more messages. */
#define LIMIT_UPGRADE_FDS_PER_MSG     200
/* Sockets one process can hand over: every shard's socket of every
 * listen and listen_tls address, the admin API's, the upgrade socket. */
#define LIMIT_UPGRADE_FDS             (2 * LIMIT_LISTEN_ADDRS * LIMIT_WORKERS + 2)
/* Clients of the upgrade socket at a time: one asks, a second is told
 * "already running"; more wait in the backlog. */
#define LIMIT_UPGRADE_CLIENTS         4
/* A keep-alive connection with no request in progress when a drain
 * begins is closed after this long, not at once: a request already on
 * its way (the client cannot know we are closing) is answered, with
 * Connection: close, instead of meeting a reset. Also the delay from an
 * HTTP/2 connection's GOAWAY notice to its final GOAWAY (h2_drain_final):
 * about a round trip, so streams already sent are not refused. */
#define LIMIT_DRAIN_IDLE_GRACE_MS     1000
/* A whole request (head and body) must arrive, and its response leave,
 * within this; a slow client loses its slot. */
#define LIMIT_ADMIN_TIMEOUT_MS        5000
/* Request head (the visitor parser's own limit is larger): over → 431. */
#define LIMIT_ADMIN_HEAD_BYTES        8192
/* Request body: over → 413 before a byte of it is read. An origin object
 * with a full session token is under 8 KiB; a purge list is the big one. */
#define LIMIT_ADMIN_BODY_BYTES        65536
/* Paths in one purge request. */
#define LIMIT_ADMIN_PURGE_PATHS       1000
/* Segments of an admin request path: the longest route,
 * /cdn/zones/{uuid}/origins/{uuid}/test, has 6. More → 404 unread. */
#define LIMIT_ADMIN_PATH_SEGMENTS     7
/* An unknown field of an origin body is named back in the 422 (field)
 * only when it is a plain identifier shorter than this; else "". */
#define LIMIT_ADMIN_FIELD_ECHO_BYTES  48
/* A probe of an origin (POST .../test, or a PATCH that changes signing)
 * runs on the control thread: each of its waits (TLS handshake, send,
 * each read of the answer) ends after this; the connect after the
 * origin's connect_timeout_ms. */
#define LIMIT_ADMIN_PROBE_TIMEOUT_MS  5000
/* Bearer token (token_file): long enough to be unguessable, short enough
 * to compare in one go. */
#define LIMIT_ADMIN_TOKEN_MIN_BYTES   16
#define LIMIT_ADMIN_TOKEN_MAX_BYTES   256

/* ---- HTTP/2 visitors (net/h2.h, FIXED) ---------------------------------- */

/* Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
 * Each open stream is an exchange of its own (LIMIT_EXCHANGES_PER_CONN), so
 * this is also how many exchanges one connection can hold; 128 is nginx's
 * default. */
#define LIMIT_H2_MAX_STREAMS          128
/* Request header list (RFC 9113 6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE: names
 * + values + 32 per field). It is rebuilt as an HTTP/1.1 head, which must
 * fit LIMIT_HEADER_BYTES; a larger list resets the stream. */
#define LIMIT_H2_HEADER_LIST_BYTES    LIMIT_HEADER_BYTES
/* Largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE): the RFC's
 * minimum, which every client handles. */
#define LIMIT_H2_FRAME_BYTES          16384
/* Bytes of frames serialised per connection before they are sent: one
 * buffer, refilled when the previous one has gone to the socket (or to
 * the TLS session). Four maximal DATA frames. */
#define LIMIT_H2_OUT_BYTES            (4 * (LIMIT_H2_FRAME_BYTES + 9))
/* Floods (RFC 9113 10.5, CVE-2023-44487 rapid reset, CVE-2024-27316
 * CONTINUATION): per connection and per second of the shard's clock,
 * RST_STREAM (the peer's, and ours for its stream errors: CVE-2025-8671),
 * SETTINGS and PING frames past these end the connection with
 * GOAWAY(ENHANCE_YOUR_CALM), counted. Real clients send a few per second. */
#define LIMIT_H2_RST_PER_S            100
#define LIMIT_H2_SETTINGS_PER_S       32
#define LIMIT_H2_PING_PER_S           32
/* CONTINUATION frames in one header block (a header block that needs more
 * than 8 frames of 16 KiB is past the header list limit anyway). */
#define LIMIT_H2_CONTINUATIONS        8
/* Settings in one SETTINGS frame (there are 7 defined). */
#define LIMIT_H2_SETTINGS_ENTRIES     32
/* Frames that make us work but carry no request or data (CVE-2019-9513
 * PRIORITY resource loop, CVE-2019-9518 empty frames, WINDOW_UPDATE
 * floods): counted over the connection's life against an allowance that
 * grows with the work the peer legitimately causes — streams it opened and
 * DATA frames we sent it (the shape nginx and h2o use) — so a long, busy
 * connection never runs out while a flood of these frames does at once.
 * Past it: GOAWAY(ENHANCE_YOUR_CALM), counted (h2_flood_*).
 * PRIORITY: Firefox's RFC 7540 tree opens with ~6 (idle streams), then a
 * reprioritisation or two per stream (a tab switch). */
#define LIMIT_H2_PRIORITY_BASE        100
#define LIMIT_H2_PRIORITY_PER_STREAM  4
/* WINDOW_UPDATE (stream 0 or a stream): a receiver gives window back as it
 * consumes DATA, at most once for the stream and once for the connection
 * per DATA frame; plus a stream's opening update (curl, Chrome). */
#define LIMIT_H2_WINDOW_UPDATE_BASE       100
#define LIMIT_H2_WINDOW_UPDATE_PER_STREAM 2
#define LIMIT_H2_WINDOW_UPDATE_PER_DATA   2
/* DATA frames with no payload and no END_STREAM: the only DATA frames flow
 * control does not bound (padding counts against the window). Clients
 * have no use for them; a few per stream are tolerated. */
#define LIMIT_H2_EMPTY_DATA_BASE          16
#define LIMIT_H2_EMPTY_DATA_PER_STREAM    2
/* Streams we reset whose late HEADERS (trailers sent before our RST_STREAM
 * arrived) are still ignored rather than taken for a reused stream id: a
 * peer rarely has more than a few such frames in flight. */
#define LIMIT_H2_RESET_SIDS               4

/* ---- fleet (control/fleet*.c, docs/FLEET.md) ---- */
/* etcd endpoints in [fleet] etcd: a cluster has 3 or 5 members; a few
 * more for a proxy in front of them. */
#define LIMIT_FLEET_ENDPOINTS         8
#define LIMIT_FLEET_URL_BYTES         256
/* The fleet key: AES-256. */
#define LIMIT_FLEET_KEY_BYTES         32
/* prefix, pop, node: parts of etcd keys, kept short and printable. */
#define LIMIT_FLEET_PREFIX_BYTES      128
#define LIMIT_FLEET_NAME_BYTES        64
#define LIMIT_FLEET_PASSWORD_BYTES    256
/* One etcd request (range, txn, lease) of the control thread: etcd answers
 * in milliseconds on a LAN; a member that does not is skipped for the
 * next one (failover) rather than stalling the admin API for long. */
#define LIMIT_FLEET_REQUEST_MS        2000
#define LIMIT_FLEET_CONNECT_MS        500
/* A range answer (the whole fleet state): 256 zones x 8 origins x ~1 KiB
 * fits with room; a bigger answer is refused, not buffered without end. */
#define LIMIT_FLEET_RESPONSE_BYTES    (16 << 20)
/* Reconnect back-off of the watch: doubles from MIN to MAX, +-50% jitter
 * (a fleet that lost etcd does not come back in lockstep). MAX bounds
 * how late a node that was cut off catches up once etcd answers again
 * (issue 12: within 2 s); 2000 nodes retrying about once a second are
 * 2000 refused connects a second, nothing an etcd that is up notices. */
#define LIMIT_FLEET_BACKOFF_MIN_MS    100
#define LIMIT_FLEET_BACKOFF_MAX_MS    1000
/* A failing state-file write or node-key put: tried again after 100 ms
 * doubling to this, so a read-only state_dir or a lost lease is logged
 * a few times a minute, not ten times a second. */
#define LIMIT_FLEET_MAX_RETRY_MS      10000
/* The node key's lease: kept alive every TTL/3; a node that died drops
 * out of GET /cdn/fleet after at most TTL. */
#define LIMIT_FLEET_LEASE_TTL_S       10
/* A watch that says nothing for this long (no event, no progress
 * notification, which etcd sends every ~10 min by default but every
 * --experimental-watch-progress-notify-interval in tests) is taken for
 * dead and reconnected. */
#define LIMIT_FLEET_WATCH_IDLE_MS     (11 * 60 * 1000)
/* TCP keepalive on the watch's connection: first probe after IDLE s of
 * silence, then every INTVL s (the kernel's count, 9): a member gone
 * without a FIN is found in about a minute, not at the idle limit. */
#define LIMIT_FLEET_KEEPALIVE_IDLE_S  10
#define LIMIT_FLEET_KEEPALIVE_INTVL_S 5
/* A purge event's lease: long enough for a node cut off for a moment to
 * see it when its watch resumes (a node cut off longer misses it: its
 * full range does not replay events; purge again, docs/FLEET.md). */
#define LIMIT_FLEET_PURGE_TTL_S       60
/* ?wait=all: the longest an admin write waits for every live node. */
#define LIMIT_FLEET_WAIT_MS           10000

#endif /* EDGECACHE_CORE_LIMITS_H */
