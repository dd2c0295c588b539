#!/usr/bin/python3
"""tests/integration/test_check_origin.py — `edgecache check-origin`
against a real, signature-checking S3 server (Swift + s3api, started by
tests/lib/swift.py on 127.0.0.1:21000..21004).

One case per row of the guide's error table we can produce with Swift:
200, wrong secret (SignatureDoesNotMatch, side-by-side canonical request),
wrong region (AuthorizationHeaderMalformed naming us-east-1), missing
bucket, missing key (HEAD has no body: the GET Range probe), unreachable
port (the guide's 503 row); plus Option A/B path mapping, a session token,
bad usage, and https: nginx (tests/lib/edgetest.py TlsFront, a test CA,
127.0.0.1:21250) in front of the same Swift — OK with the right ca_file;
with another CA or a host name the certificate does not name, the TLS
handshake fails with the reason in words and no request reaches the
front. Every case asserts the exit status and key
phrases, and that neither secret nor the token appears in any output.
Exits 77 when Swift's packages are missing.
"""
import email.utils
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402  (TlsFront, make_test_ca)
import swift  # noqa: E402  (tests/lib/swift.py)

PORT_BASE = 21000
FAKE_PORT = 21008            # a scripted origin for rows Swift cannot produce
DEAD_PORT = 21009            # in our range, nothing listens there
TLS_PORT = 21250             # nginx with a test CA's certificate in front of Swift
ACCESS = 'edge:reader'
SECRET = 'Sekr3t-edge-9f2c71'
WRONG = 'Wr0ng-secret-5be0aa'
TOKEN = 'T0ken-session-d41d8c'
BUCKET = 'my-media'
KEY = 'path/to/file.mp4'
SECRETS = (SECRET, WRONG, TOKEN)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL:', what)


def write_config(root, name, origin):
    """A main file and one zone file; `origin` is a dict of [origin] keys."""
    zones = os.path.join(root, 'zones')
    os.makedirs(zones, exist_ok=True)
    lines = [f'{k} = {v}' for k, v in origin.items()]
    with open(os.path.join(zones, f'{name}.ini'), 'w') as f:
        f.write(f'[zone]\nname = {name}\nuuid = 5d9c6a4e-0000-4000-8000-{zlib.crc32(name.encode()):012d}\n'
                f'hosts = {name}.example\n\n[origin s3]\n' + '\n'.join(lines) + '\n')
    main = os.path.join(root, f'{name}.conf')
    with open(main, 'w') as f:
        f.write(f'[server]\nlisten = 127.0.0.1:{PORT_BASE + 100}\nzones = zones/{name}.ini\n')
    return main


def s3_origin(**over):
    o = {'url': f'http://127.0.0.1:{PORT_BASE}', 'base_path': '/' + BUCKET,
         's3_auth_enabled': 'true', 's3_access_key': ACCESS,
         's3_secret_key': SECRET, 's3_region': 'us-east-1',
         'connect_timeout_ms': '2000', 'read_timeout_ms': '10000'}
    o.update(over)
    return {k: v for k, v in o.items() if v is not None}


def run(args):
    p = subprocess.run([os.environ['EDGECACHE_BIN'], 'check-origin'] + args,
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    for s in SECRETS:
        check(s not in out, f'{args}: a secret or token appears in the output')
    check('Sanitizer' not in out and 'runtime error:' not in out,
          f'{args}: a sanitizer report')
    return p.returncode, out


def case(root, name, origin, path, want_rc, phrases):
    main = write_config(root, name, origin)
    args = ['-c', main, name] + ([path] if path is not None else [])
    rc, out = run(args)
    print(f'--- {name}: exit {rc}\n{out}')
    check(rc == want_rc, f'{name}: exit {rc}, want {want_rc}')
    for ph in phrases:
        check(ph in out, f'{name}: missing {ph!r}')
    return out


class FakeOrigin(http.server.BaseHTTPRequestHandler):
    """Answers by first path segment with what AWS / R2 / a proxy in front
    would: rows of the guide's table Swift does not produce."""
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def date_time_string(self, timestamp=None):
        # send_response's own Date header: an hour behind for /skew.
        skew = 3600 if self.path.startswith('/skew/') else 0
        return email.utils.formatdate(time.time() - skew, usegmt=True)

    def answer(self, with_body):
        seg = self.path.split('/')[1]
        status, ctype, body, extra = 403, 'application/xml', b'', {}
        if seg == 'skew':
            body = b'<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>'
        elif seg == 'misdirected':
            status, ctype, body = 421, 'text/html', b'<html><body>421 Misdirected Request</body></html>'
        elif seg == 'front':
            ctype, body = 'text/html', b'<!DOCTYPE html><html><body>Forbidden by proxy</body></html>'
        elif seg == 'redirect':
            status, extra = 301, {'x-amz-bucket-region': 'eu-central-1'}
            body = (b'<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message>'
                    b'<Endpoint>my-media.s3.eu-central-1.amazonaws.com</Endpoint><Bucket>my-media</Bucket></Error>')
        elif seg == 'diff':
            # The server's canonical request: the same but for the path,
            # which it encoded differently (the classic signer bug).
            hdrs = ''.join(f'{h}:{self.headers[h]}\n' for h in
                           ('host', 'x-amz-content-sha256', 'x-amz-date'))
            cr = (f'{self.command}\n/diff/x%252By\n\n{hdrs}\n'
                  f'host;x-amz-content-sha256;x-amz-date\n{self.headers["x-amz-content-sha256"]}')
            body = ('<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message>'
                    f'<CanonicalRequest>{cr}</CanonicalRequest></Error>').encode()
        elif seg == 'slow':
            time.sleep(2)
            return
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        for k, v in extra.items():
            self.send_header(k, v)
        if not with_body:
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        # Chunked, in two pieces, to exercise the client's decoder.
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        half = len(body) // 2
        for part in (body[:half], body[half:], b''):
            self.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


def fake_cases(root):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', FAKE_PORT), FakeOrigin)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        o = s3_origin(url=f'http://127.0.0.1:{FAKE_PORT}', base_path='', read_timeout_ms='500')
        out = case(root, 'skew', o, '/skew/k', 1,
                   ['S3 Code: RequestTimeTooSkewed', 'Fix this host\'s clock'])
        m = re.search(r"server's Date is ([-+]\d+) s", out)
        check(m and abs(int(m.group(1)) + 3600) <= 5, 'skew: measured about -3600 s')
        case(root, 'misdirected', o, '/misdirected/k', 1,
             ['Wrong jurisdiction endpoint', 'eu.r2.cloudflarestorage.com'])
        case(root, 'front', o, '/front/k', 1,
             ['body: HTML, no S3 XML error document', 'layer in front of S3'])
        case(root, 'redirect', o, '/redirect/k', 1,
             ['S3 Code: PermanentRedirect',
              "the server names endpoint 'my-media.s3.eu-central-1.amazonaws.com', region 'eu-central-1'"])
        out = case(root, 'diff', o, '/diff/x+y', 1,
                   ['S3 Code: SignatureDoesNotMatch', 'first difference: canonical request line 2'])
        check(re.search(r'^\* /diff/x%2By +\| /diff/x%252By$', out, re.M),
              'diff: the differing line is marked, ours beside the server\'s')
        case(root, 'slow', o, '/slow/k', 1,
             ['no answer: exchange', 'timed out', 'Origin unreachable from the edge'])
    finally:
        srv.shutdown()
        srv.server_close()


def https_cases(root, s):
    ca, cert, key = et.make_test_ca(et.tmpdir('co-ca'))
    other_ca, _, _ = et.make_test_ca(et.tmpdir('co-otherca'))
    front = et.TlsFront(cert, key, upstream=s.endpoint, port=TLS_PORT)
    front_log = os.path.join(front.dir, 'access.log')

    def front_saw(marker):
        # nginx logs a request when it is done: give a late line time to land.
        time.sleep(0.3)
        return os.path.exists(front_log) and marker in open(front_log).read()
    try:
        url = f'https://localhost:{TLS_PORT}'
        out = case(root, 'https', s3_origin(url=url, ca_file=ca), '/' + KEY, 0,
                   ['* TLS: TLSv1.', f'certificate verified for localhost',
                    '> HEAD /my-media/path/to/file.mp4 HTTP/1.1', 'result: OK'])
        check('200' in out, 'https: 200 through TLS')
        case(root, 'httpsnokey', s3_origin(url=url, ca_file=ca), '/path/to/FILE.mp4', 1,
             ['repeating as a signed GET', 'S3 Code: NoSuchKey', 'result: FAILED'])
        case(root, 'httpswrong', s3_origin(url=url, ca_file=ca, s3_secret_key=WRONG),
             '/' + KEY, 1, ['SignatureDoesNotMatch', 'both sides signed the same texts'])
        # The failing cases ask for a path of their own: the front's log
        # must never show it.
        case(root, 'httpswrongca', s3_origin(url=url, ca_file=other_ca), '/never-sent', 1,
             ['TLS handshake with localhost port 21250 failed: certificate verify failed',
              'its certificate did not verify', 'Set ca_file', 'result: FAILED'])
        # The system bundle does not know the test CA either.
        case(root, 'httpssystemca', s3_origin(url=url), '/never-sent', 1,
             ['certificate verify failed', 'result: FAILED'])
        case(root, 'httpshostname', s3_origin(url=f'https://127.0.0.1:{TLS_PORT}', ca_file=ca),
             '/never-sent', 1, ['TLS handshake with 127.0.0.1 port 21250 failed: '
                            'certificate verify failed: host-name mismatch', 'result: FAILED'])
        check(not front_saw('never-sent'), 'a certificate that does not verify: no request sent')
        check(front_saw('/my-media/path/to/file.mp4'), 'the front logs what it is sent')
        case(root, 'httpsnoca', s3_origin(url=url, ca_file=os.path.join(root, 'nonesuch.pem')),
             '/' + KEY, 1, ['TLS setup', 'nonesuch.pem: file missing or unreadable'])
    finally:
        et.stop_proc(front.proc)


def main():
    if not os.environ.get('EDGECACHE_BIN'):
        print('set EDGECACHE_BIN to the edgecache binary (meson test does)')
        return 1
    missing = swift.missing_packages()
    if missing:
        print('skip: Swift + s3api not installed (missing ' + ' '.join(missing)
              + '; run scripts/setup)')
        return 77
    with tempfile.TemporaryDirectory(prefix='edgecache-co-') as root, \
            swift.Swift(port_base=PORT_BASE, users=[(ACCESS, SECRET)]) as s:
        print(f'swift up in {s.startup_s:.2f} s')
        s.create_bucket(BUCKET, access_key=ACCESS, secret_key=SECRET)
        for key in (KEY, 'a b+c+(1)//\u043a~.'):
            s.put(BUCKET, key, b'0123456789', access_key=ACCESS, secret_key=SECRET)

        # Option B (base_path = /bucket) and Option A (bucket in the URL).
        out = case(root, 'ok', s3_origin(), '/' + KEY, 0,
                   ['> HEAD /my-media/path/to/file.mp4 HTTP/1.1', '200',
                    'verdict: The origin accepted the request', 'result: OK'])
        check('Credential=edge:reader/' in out, 'ok: Authorization line shown')
        case(root, 'optiona', s3_origin(base_path=''), f'/{BUCKET}/{KEY}', 0,
             ['> HEAD /my-media/path/to/file.mp4 HTTP/1.1', 'result: OK'])
        # tempauth ignores the token but checks the signature covering it.
        case(root, 'token', s3_origin(s3_session_token=TOKEN), '/' + KEY, 0,
             ['X-Amz-Security-Token: <redacted>', 'result: OK'])

        case(root, 'wrongsecret', s3_origin(s3_secret_key=WRONG), '/' + KEY, 1,
             ['SignatureDoesNotMatch', 'The signature math itself is wrong',
              'Re-enter the secret access key',
              'canonical request, ours | server\'s', 'string to sign, ours | server\'s',
              'HEAD /my-media/path/to/file.mp4', 'canonical request: identical',
              'both sides signed the same texts', 'result: FAILED'])
        case(root, 'wrongregion', s3_origin(s3_region='eu-central-1'), '/' + KEY, 1,
             ['AuthorizationHeaderMalformed',
              "the server expects region 'us-east-1'; this origin signs for 'eu-central-1'"])
        case(root, 'nobucket', s3_origin(base_path='/no-such-bucket'), '/' + KEY, 1,
             ['repeating as a signed GET', 'Range: bytes=0-0', 'S3 Code: NoSuchBucket',
              "The first path segment doesn't match any bucket", 'Path mapping'])
        case(root, 'nokey', s3_origin(), '/path/to/FILE.mp4', 1,
             ['HEAD answered 404 without a body', 'S3 Code: NoSuchKey',
              'key: path/to/FILE.mp4', 'case matters'])
        # A hard key PUT by botocore is found through the edge's mapping:
        # decoded once, encoded once, signed as sent.
        case(root, 'hardkey', s3_origin(), '/a%20b+c%2B(1)//%D0%BA~.', 0,
             ['> HEAD /my-media/a%20b%2Bc%2B%281%29//%D0%BA~. HTTP/1.1', 'result: OK'])
        case(root, 'unreachable', s3_origin(url=f'http://127.0.0.1:{DEAD_PORT}'), None, 1,
             ['connect to 127.0.0.1 port 21009 failed', 'Connection refused',
              'Origin unreachable from the edge', "Check your provider's status page",
              'verify the endpoint URL'])
        https_cases(root, s)
        case(root, 'badpath', s3_origin(), '/a%zz', 2, ['cannot be mapped'])

        fake_cases(root)

        rc, out = run([])
        check(rc == 2 and 'usage:' in out, 'no arguments: usage, exit 2')
        rc, out = run(['-c', write_config(root, 'ok', s3_origin()), 'nonesuch'])
        check(rc == 2 and 'no zone named' in out, 'unknown zone: exit 2')
    if failures:
        print(f'{len(failures)} failed:', *failures, sep='\n  ')
        return 1
    print('all check-origin cases passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
