#!/usr/bin/python3
"""tests/fuzz/make_seeds.py — writes the binary seed corpora (corpus_h2:
HTTP/2 frames with HPACK by hand; corpus_s3mask: token + body with the
target's marker bytes) and the text ones from the SigV4 vectors. The files
are committed; run this again only to change them:
    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- HTTP/2 (what follows the client preface) ---------------------------------

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINUP, CONT = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, PADDED, PRIO = 1, 4, 8, 0x20


def lit(name, value):
    """Literal field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def req(method="GET", path="/", authority="e.example", extra=()):
    block = lit(":method", method) + lit(":scheme", "http") + lit(":path", path)
    if authority is not None:
        block += lit(":authority", authority)
    for k, v in extra:
        block += lit(k, v)
    return block


SET0 = frame(SETTINGS, 0, 0)
write("corpus_h2", "get", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1,
      req(extra=[("user-agent", "fuzz"), ("accept", "*/*")])))
# the static table: :method GET, :scheme http, :path /, :authority (indexed name)
write("corpus_h2", "get_indexed", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1,
      b"\x82\x86\x84\x41\x09e.example"))
write("corpus_h2", "cookies", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1,
      req(path="/c?x=1", extra=[("cookie", "a=1"), ("x-y", "z"), ("cookie", "b=2"),
                                ("cookie", "c=3")])))
write("corpus_h2", "post_body", SET0 + frame(HEADERS, END_HEADERS, 1,
      req("POST", "/up", extra=[("content-length", "5")])) +
      frame(DATA, 0, 1, b"hel") + frame(DATA, END_STREAM, 1, b"lo"))
write("corpus_h2", "post_padded", SET0 + frame(HEADERS, END_HEADERS, 1,
      req("PUT", "/up", extra=[("content-length", "3")])) +
      frame(DATA, END_STREAM | PADDED, 1, b"\x04abc\0\0\0\0"))
write("corpus_h2", "continuation", SET0 + frame(HEADERS, END_STREAM, 1,
      req(extra=[("a", "1")])) + frame(CONT, 0, 1, lit("b", "2")) +
      frame(CONT, END_HEADERS, 1, lit("c", "3")))
write("corpus_h2", "two_streams_reset", SET0 +
      frame(HEADERS, END_STREAM | END_HEADERS, 1, req(path="/1")) +
      frame(HEADERS, END_STREAM | END_HEADERS | PRIO, 3,
            b"\x00\x00\x00\x01\x10" + req(path="/2")) +
      frame(RST, 0, 1, b"\x00\x00\x00\x08") +
      frame(PRIORITY, 0, 3, b"\x00\x00\x00\x00\x20") +
      frame(WINUP, 0, 0, b"\x00\x01\x00\x00") + frame(WINUP, 0, 3, b"\x00\x00\x10\x00") +
      frame(PING, 0, 0, b"12345678"))
write("corpus_h2", "head_host", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1,
      req("HEAD", "/h", authority=None, extra=[("host", "h.example")])))
write("corpus_h2", "window0", frame(SETTINGS, 0, 0, b"\x00\x04\x00\x00\x00\x00") +
      frame(HEADERS, END_STREAM | END_HEADERS, 1, req(path="/big")) +
      frame(SETTINGS, 1, 0) + frame(WINUP, 0, 1, b"\x00\x00\x00\x05"))
write("corpus_h2", "goaway", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1, req()) +
      frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00bye"))
write("corpus_h2", "trailers", SET0 + frame(HEADERS, END_HEADERS, 1,
      req("POST", "/t", extra=[("content-length", "2")])) + frame(DATA, 0, 1, b"ok") +
      frame(HEADERS, END_STREAM | END_HEADERS, 1, lit("x-trailer", "1")))
# a header with a byte nghttp2 must refuse (CR LF), and a TE: trailers
write("corpus_h2", "bad_value", SET0 + frame(HEADERS, END_STREAM | END_HEADERS, 1,
      req(extra=[("te", "trailers"), ("x-a", "b\r\nx-injected: 1")])))

# ---- the S3 masker: [len] [token chars] body (0xf0 token, 0xf1/0xf2 hex
# lower/upper, 0xf3 k / 0xf4 k prefixes) ---------------------------------------

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def token(t):
    return bytes([len(t) - 1]) + bytes(B64.index(c) for c in t)


head = token("FwoGZXIvYXdzEXAMPLE+token/with")
write("corpus_s3mask", "signature_mismatch", head +
      b"<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>GET\n/b/k\n"
      b"x-amz-security-token:\xf0\n</CanonicalRequest><CanonicalRequestBytes>47 45 54 0a "
      b"\xf1 0a</CanonicalRequestBytes></Error>")
write("corpus_s3mask", "upper_hex_and_prefixes", head + b"a\xf2b\xf3\x05c\xf4\x0bd\xf0\xf0e")
write("corpus_s3mask", "short_token", token("ABC") + b"ABABCABCAB\xf1\xf4\x04")
write("corpus_s3mask", "self_overlap", token("AAAA") + b"AAAAAAAAAAX\xf0\xf0")

# ---- SigV4 URIs: paths and queries of the vectors -------------------------------

for case in ("get-utf8", "get-vanilla-query-order-encoded", "get-vanilla-query-unreserved",
             "get-space-unnormalized", "get-vanilla-utf8-query",
             "get-slash-dot-slash-unnormalized", "get-vanilla-empty-query-key",
             "get-vanilla-query-order-key-case"):
    vectors = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sigv4")
    p = os.path.join(vectors, "aws-c-auth/v4", case, "request.txt")
    if not os.path.exists(p):
        continue
    with open(p, "rb") as f:
        target = f.readline().split(b" ")[1:-1]
    target = b" ".join(target)
    path, _, query = target.partition(b"?")
    write("corpus_sigv4uri", case + "-path", path)
    if query:
        write("corpus_sigv4uri", case + "-query", query)
