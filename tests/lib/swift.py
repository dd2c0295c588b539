#!/usr/bin/python3
"""tests/lib/swift.py — a real, signature-checking S3 server for tests.

Runs OpenStack Swift with its s3api layer (single node: proxy, account,
container and object servers, tempauth, and a private memcached) on
127.0.0.1, following /work/shared/testing/swift-s3.md. Every process is
started by us and stopped by its PID (and its process group, which it
leads): on leaving the context manager, on an exception inside it, and at
interpreter exit. Nothing here binds outside 127.0.0.1.

Use with /usr/bin/python3 (Debian's, which has python3-swift and
python3-botocore):

    from swift import Swift, missing_packages
    with Swift(port_base=21000) as s:
        s.create_bucket('my-media')
        s.put('my-media', 'path/to/file.mp4', b'data')
        status, headers, body = s.get('my-media', 'path/to/file.mp4')

CLI (for bench scripts and people):

    /usr/bin/python3 tests/lib/swift.py start DIR [--port-base N] [--location R]
                                                  [--user ACCOUNT:USER=SECRET]...
    /usr/bin/python3 tests/lib/swift.py stop DIR

Ports: proxy = port_base, object/container/account = port_base + 1..3,
memcached = port_base + 4. The default range is 21000..21009.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

DEFAULT_PORT_BASE = 21000
DEFAULT_USER = ('test:tester', 'testing')
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0

# The Debian commands this harness runs; a test skips (77) without them.
_COMMANDS = ('swift-proxy-server', 'swift-account-server',
             'swift-container-server', 'swift-object-server', 'memcached')


def missing_packages():
    """Names of what is missing to run Swift here ([] = all present)."""
    missing = [c for c in _COMMANDS if shutil.which(c) is None]
    # Not `import swift`: this file is swift.py and would find itself.
    if not os.path.isdir('/usr/lib/python3/dist-packages/swift'):
        missing.append('python3-swift')
    try:
        import botocore  # noqa: F401
    except ImportError:
        missing.append('python3-botocore')
    return missing


def s3_quote(path):
    """Percent-encode a decoded path the S3 way: all but A-Z a-z 0-9 -._~/
    becomes %XX (upper case). Wire path = canonical path."""
    if isinstance(path, str):
        path = path.encode('utf-8')
    return urllib.parse.quote(path, safe='/~')


def _wait_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _server_conf(name, port, root):
    return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
            f"devices = {root}/node\nmount_check = false\n"
            f"swift_dir = {root}/etc\nworkers = 0\n"
            f"[pipeline:main]\npipeline = {name}-server\n"
            f"[app:{name}-server]\nuse = egg:swift#{name}\n")


def _proxy_conf(s):
    tls = ''
    if s.cert_file:
        # Swift's wsgi.get_socket wraps the listening socket with
        # ssl.wrap_socket(certfile=, keyfile=) when [DEFAULT] has cert_file.
        tls = f"cert_file = {s.cert_file}\nkey_file = {s.key_file}\n"
    users = ''.join(f"user_{au.replace(':', '_')} = {secret} .admin\n"
                    for au, secret in s.users)
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {s.port}
swift_dir = {s.root}/etc
workers = 0
{tls}[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{s.memcached_port}
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = {s.location}
storage_domain = {s.storage_domain}
[filter:tempauth]
use = egg:swift#tempauth
{users}[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
"""


_RING_CODE = """
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for arg in sys.argv[2:]:
    name, port = arg.split('=')
    b = RingBuilder(8, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1',
               'port': int(port), 'device': 'sdb1', 'weight': 100})
    b.rebalance()
    b.get_ring().save(f'{etc}/{name}.ring.gz')
"""


def _build_rings(etc, ports):
    # What swift-ring-builder create 8 1 1 / add / rebalance does, for all
    # three rings in one interpreter instead of nine. -I: this file is
    # named swift.py and must not shadow the swift package.
    subprocess.run([sys.executable if sys.executable else '/usr/bin/python3',
                    '-I', '-c', _RING_CODE, etc]
                   + [f'{n}={p}' for n, p in ports.items()], check=True,
                   stdin=subprocess.DEVNULL, timeout=60)


class Swift:
    """One single-node Swift + s3api. Attributes after start(): endpoint
    (http[s]://127.0.0.1:PORT), startup_s (seconds start() took)."""

    def __init__(self, root=None, port_base=DEFAULT_PORT_BASE, users=(),
                 location='us-east-1', cert_file=None, key_file=None,
                 storage_domain='s3.amazonaws.com'):
        if (cert_file is None) != (key_file is None):
            raise ValueError('cert_file and key_file go together')
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix='edgecache-swift-')
        self.port = port_base
        self.server_ports = {'object': port_base + 1,
                             'container': port_base + 2,
                             'account': port_base + 3}
        self.memcached_port = port_base + 4
        self.users = [DEFAULT_USER] + list(users)
        self.access_key, self.secret_key = DEFAULT_USER
        self.location = location
        self.cert_file = cert_file
        self.key_file = key_file
        self.storage_domain = storage_domain
        scheme = 'https' if cert_file else 'http'
        self.endpoint = f'{scheme}://127.0.0.1:{self.port}'
        self.procs = {}
        self.startup_s = None

    # ---- lifecycle ---------------------------------------------------
    def _write_config(self):
        etc = os.path.join(self.root, 'etc')
        for d in ('node/sdb1', 'etc', 'run'):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(os.path.join(etc, 'swift.conf'), 'w') as f:
            f.write('[swift-hash]\nswift_hash_path_prefix = edgecacheprefix\n'
                    'swift_hash_path_suffix = edgecachesuffix\n'
                    '[storage-policy:0]\nname = gold\ndefault = yes\n')
        for name, port in self.server_ports.items():
            with open(os.path.join(etc, f'{name}-server.conf'), 'w') as f:
                f.write(_server_conf(name, port, self.root))
        _build_rings(etc, self.server_ports)
        with open(os.path.join(etc, 'proxy-server.conf'), 'w') as f:
            f.write(_proxy_conf(self))

    def _spawn(self, name, argv):
        log = open(os.path.join(self.root, 'run', f'{name}.log'), 'wb')
        # start_new_session: the child leads its own process group, so a
        # stop by its PID also reaches anything it forks.
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs[name] = p
        with open(os.path.join(self.root, 'run', f'{name}.pid'), 'w') as f:
            f.write(f'{p.pid}\n')

    def start(self):
        t0 = time.monotonic()
        missing = missing_packages()
        if missing:
            raise RuntimeError('missing: ' + ' '.join(missing))
        atexit.register(self.stop)
        try:
            self._write_config()
            mc = ['memcached', '-l', '127.0.0.1', '-p',
                  str(self.memcached_port), '-U', '0', '-m', '64']
            if os.geteuid() == 0:
                mc[1:1] = ['-u', 'memcache' if _has_user('memcache') else 'root']
            self._spawn('memcached', mc)
            etc = os.path.join(self.root, 'etc')
            for name in ('account', 'container', 'object', 'proxy'):
                self._spawn(name, [f'swift-{name}-server',
                                   os.path.join(etc, f'{name}-server.conf'), '-v'])
            self._wait_ready(t0 + STARTUP_TIMEOUT_S)
        except RuntimeError as e:
            # The logs go with the temp dir: put their ends in the error.
            tails = self._log_tails()
            self.stop()
            raise RuntimeError(f'{e}\n{tails}') from None
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        with open(os.path.join(self.root, 'state.json'), 'w') as f:
            json.dump({'endpoint': self.endpoint, 'access_key': self.access_key,
                       'location': self.location,
                       'pids': {n: p.pid for n, p in self.procs.items()}}, f)
        return self

    def _wait_ready(self, deadline):
        ports = [self.memcached_port] + list(self.server_ports.values())
        for port in ports:
            if not _wait_port(port, deadline):
                raise RuntimeError(f'swift: port {port} not up; logs in {self.root}/run')
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f'swift: {name} exited ({p.returncode}); '
                                       f'see {self.root}/run/{name}.log')
            try:
                status, _, _ = self.request('GET', '/info', sign=False, timeout=1)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise RuntimeError(f'swift: proxy not answering; logs in {self.root}/run')

    def _log_tails(self, lines=15):
        run = os.path.join(self.root, 'run')
        out = []
        for name in sorted(self.procs):
            try:
                with open(os.path.join(run, f'{name}.log'), 'rb') as f:
                    tail = f.read().decode('utf-8', 'replace').splitlines()[-lines:]
            except OSError:
                continue
            if not tail:
                continue
            out.append(f'--- {name}.log (last {len(tail)} lines)\n' + '\n'.join(tail))
        return '\n'.join(out)

    def stop(self):
        for name, p in list(self.procs.items())[::-1]:
            _stop_pid(p.pid, p)
        self.procs.clear()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- S3 requests (botocore signs, http.client sends) -----------------
    def request(self, method, path, headers=None, body=b'', sign=True,
                access_key=None, secret_key=None, region=None,
                unsigned_payload=False, timeout=10, host=None):
        """Send one request; `path` is the wire path (already encoded, may
        have a query). Returns (status, headers dict lower-case, body)."""
        headers = dict(headers or {})
        netloc = host or f'127.0.0.1:{self.port}'
        if sign:
            headers = sign_headers(method, f'{self.endpoint.split(":")[0]}://{netloc}{path}',
                                   headers, body,
                                   access_key or self.access_key,
                                   secret_key or self.secret_key,
                                   region or self.location, unsigned_payload)
        if self.cert_file:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection('127.0.0.1', self.port,
                                               timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader('Host', netloc)
            for k, v in headers.items():
                if k.lower() != 'host':
                    conn.putheader(k, v)
            if body or method in ('PUT', 'POST'):
                conn.putheader('Content-Length', str(len(body)))
            conn.endheaders(body if body else None)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def create_bucket(self, bucket, **kw):
        status, _, body = self.request('PUT', s3_quote('/' + bucket), **kw)
        if status not in (200, 409):
            raise RuntimeError(f'create bucket {bucket}: {status} {body[:300]!r}')
        return status

    def put(self, bucket, key, data, **kw):
        """PUT an object; `key` is the decoded key (str or bytes, any bytes
        S3 allows: spaces, %, +, //, leading /, . and .., UTF-8)."""
        if isinstance(key, str):
            key = key.encode('utf-8')
        status, _, body = self.request('PUT', s3_quote(b'/' + bucket.encode() + b'/' + key),
                                       body=data, **kw)
        if status not in (200, 201):
            raise RuntimeError(f'put {key!r}: {status} {body[:300]!r}')
        return status

    def get(self, bucket, key, method='GET', **kw):
        if isinstance(key, str):
            key = key.encode('utf-8')
        return self.request(method, s3_quote(b'/' + bucket.encode() + b'/' + key), **kw)


def sign_headers(method, url, headers, body, access_key, secret_key, region,
                 unsigned_payload=False, service='s3'):
    """The headers botocore's S3SigV4Auth adds (X-Amz-Date,
    X-Amz-Content-SHA256, Authorization) merged into `headers`. `url`'s
    path is the wire path: S3 signing does not normalise it."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    if unsigned_payload:
        req.context['payload_signing_enabled'] = False
    S3SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(req)
    return dict(req.headers.items())


def _has_user(name):
    try:
        import pwd
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stop_pid(pid, popen=None):
    """SIGTERM the process group led by `pid` (we started it with its own
    session), wait up to STOP_TIMEOUT_S, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if popen is not None:
                if popen.poll() is not None:
                    break
            elif not _alive(pid):
                break
            time.sleep(0.05)
        else:
            continue
        # The leader is gone; sweep what is left of its group once.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return


def _cli(argv):
    import argparse
    ap = argparse.ArgumentParser(prog='swift.py', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    st = sub.add_parser('start', help='start Swift in DIR (left running)')
    st.add_argument('dir')
    st.add_argument('--port-base', type=int, default=DEFAULT_PORT_BASE)
    st.add_argument('--location', default='us-east-1')
    st.add_argument('--user', action='append', default=[],
                    help='extra tempauth user ACCOUNT:USER=SECRET')
    st.add_argument('--cert-file')
    st.add_argument('--key-file')
    sp = sub.add_parser('stop', help='stop the Swift started in DIR')
    sp.add_argument('dir')
    a = ap.parse_args(argv)
    if a.cmd == 'start':
        missing = missing_packages()
        if missing:
            print('swift.py: missing ' + ' '.join(missing) + ' (run scripts/setup)',
                  file=sys.stderr)
            return 77
        users = [tuple(u.split('=', 1)) for u in a.user]
        s = Swift(root=os.path.abspath(a.dir), port_base=a.port_base, users=users,
                  location=a.location, cert_file=a.cert_file, key_file=a.key_file)
        s.start()
        atexit.unregister(s.stop)   # the CLI leaves it running for `stop`
        print(f'swift: {s.endpoint} up in {s.startup_s:.2f} s; access key '
              f'{s.access_key}, region {s.location}; logs {s.root}/run; '
              f'stop: {sys.argv[0]} stop {s.root}')
        return 0
    run = os.path.join(a.dir, 'run')
    if not os.path.isdir(run):
        print(f'swift.py: no {run}', file=sys.stderr)
        return 1
    for f in sorted(os.listdir(run)):
        if f.endswith('.pid'):
            with open(os.path.join(run, f)) as fh:
                _stop_pid(int(fh.read().strip()))
            os.unlink(os.path.join(run, f))
    print(f'swift: stopped ({a.dir})')
    return 0


if __name__ == '__main__':
    sys.exit(_cli(sys.argv[1:]))
