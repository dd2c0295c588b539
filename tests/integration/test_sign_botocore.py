"""`edgecache sign` against botocore's S3SigV4Auth, byte for byte.

Differential test: N random S3 GET/HEAD requests (hard keys, ports,
tokens, payload modes, regions, queries, a signed Range) are signed by the
real binary ($EDGECACHE_BIN sign ... METHOD URL, time frozen with --time)
and by botocore (Debian's python3-botocore, time frozen by patching
botocore.auth's datetime); the Authorization headers must be identical.
Also: the S3 docs' GET Object example through the binary, the exit-2 error
paths (one line on stderr, nothing on stdout), and that the secret never
appears in any output, -v included.

Run with /usr/bin/python3 (the pyenv python3 has no botocore).
Env: EDGECACHE_BIN (set by meson), SIGN_CASES (default 500), SIGN_SEED.
"""
import datetime
import os
import random
import subprocess
import sys
import tempfile
import types
from urllib.parse import quote

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError:
    print("SKIP: botocore missing (apt-get install python3-botocore; run with /usr/bin/python3)")
    sys.exit(77)

BIN = os.environ.get("EDGECACHE_BIN")
if not BIN or not os.access(BIN, os.X_OK):
    print("SKIP: EDGECACHE_BIN not set or not executable (run through meson test)")
    sys.exit(77)

N = int(os.environ.get("SIGN_CASES", "500"))
SEED = int(os.environ.get("SIGN_SEED", "20240501"))
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


class FrozenDatetime(datetime.datetime):
    """botocore.auth calls datetime.datetime.utcnow(); this answers `frozen`."""
    frozen = None

    @classmethod
    def utcnow(cls):
        return cls.frozen


botocore.auth.datetime = types.SimpleNamespace(datetime=FrozenDatetime)


def run(args, env_secret=None, timeout=10):
    env = {k: v for k, v in os.environ.items() if k != "EDGECACHE_SECRET_KEY"}
    if env_secret is not None:
        env["EDGECACHE_SECRET_KEY"] = env_secret
    p = subprocess.run([BIN, "sign"] + args, capture_output=True, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def headers_of(out):
    h = {}
    for line in out.split("--- headers ---\n")[-1].splitlines():
        name, _, value = line.partition(": ")
        h[name] = value
    return h


# ---- random requests --------------------------------------------------------

PIECES = [" ", "+", "%", "~", "=", "(", ")", "!", "@", "//", "/./", "/../", ".",
          "..", "é", "ሴ", "日本", "😀", "a b", "%20", "%2B", "$", "&", "?", "#",
          ";", ",", "'", "*", ":", "[x]", "{y}", "\u00a0", "_", "-"]
WORDS = ["video", "clip.mp4", "img", "a", "Z9", "index.html", "x-y_z", "2024"]
HOSTS = [("examplebucket.s3.amazonaws.com", None), ("s3.eu-central-1.amazonaws.com", None),
         ("127.0.0.1", 20080), ("localhost", 20443), ("S3.Example.COM", 8080),
         ("[::1]", 20090), ("acct.r2.cloudflarestorage.com", None)]
QNAMES = ["versionId", "response-content-disposition", "x-id", "prefix", "acl",
          "partNumber", "response-cache-control", "a b", "é"]
QVALUES = ["", "1", "attachment; filename=\"a b.txt\"", "é", "a+b", "a/b", "~x",
           "max-age=60, public", "3", "Z", "a&b=c"]


def rand_key(r):
    parts = [r.choice(WORDS) if r.random() < 0.5 else r.choice(PIECES)
             for _ in range(r.randint(1, 8))]
    key = "".join(parts)
    if r.random() < 0.15:
        key = "/" + key                        # a key with a leading '/'
    return key


def rand_query(r):
    if r.random() < 0.6:
        return ""
    items = []
    for _ in range(r.randint(1, 5)):
        name = r.choice(QNAMES)
        if name in ("acl",) and r.random() < 0.5:
            items.append(quote(name, safe="~"))   # no '=' at all
            continue
        items.append(quote(name, safe="~") + "=" + quote(r.choice(QVALUES), safe="~"))
    return "&".join(items)


def rand_secret(r):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= ~!"
    return "".join(r.choice(alphabet) for _ in range(40))


def rand_case(r, i):
    host, port = r.choice(HOSTS)
    scheme = r.choice(["http", "https"])
    if port is None and r.random() < 0.3:
        port = 80 if scheme == "http" else 443    # default port: dropped
    path_style = r.random() < 0.5
    key = rand_key(r)
    path = ("/my-media/" if path_style else "/") + key
    url = f"{scheme}://{host}{':%d' % port if port else ''}{quote(path, safe='/~')}"
    q = rand_query(r)
    if q:
        url += "?" + q
    ts = datetime.datetime(2000, 1, 1) + datetime.timedelta(
        seconds=r.randrange(100 * 365 * 86400))
    if i % 10 == 0:   # next to midnight UTC
        ts = ts.replace(hour=r.choice([23, 0]), minute=r.choice([59, 0]), second=r.choice([59, 0]))
    hdrs = {}
    if r.random() < 0.5:
        a = r.randrange(10 ** 9)
        hdrs["Range"] = f"bytes={a}-{a + r.randrange(10 ** 6)}"
    if r.random() < 0.1:
        hdrs["X-Amz-Meta-Note"] = "  two   spaces\tand tab  "
    return {
        "method": r.choice(["GET", "HEAD"]), "url": url, "headers": hdrs,
        "ak": "AKIA" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "sk": rand_secret(r),
        "token": ("FwoG" + rand_secret(r) + "//+==") if r.random() < 0.3 else None,
        "region": r.choice([None, "", "us-east-1", "eu-central-1", "auto"]),
        "unsigned": r.random() < 0.5, "ts": ts, "verbose": r.random() < 0.1,
        "secret_via": r.choice(["arg", "env", "file"]),
    }


def botocore_auth(c):
    creds = botocore.credentials.Credentials(c["ak"], c["sk"], c["token"])
    auth = botocore.auth.S3SigV4Auth(creds, "s3", c["region"] or "auto")
    req = botocore.awsrequest.AWSRequest(method=c["method"], url=c["url"],
                                         headers=dict(c["headers"]))
    if c["unsigned"]:
        req.context["client_config"] = types.SimpleNamespace(
            s3={"payload_signing_enabled": False})
    FrozenDatetime.frozen = c["ts"]
    auth.add_auth(req)
    return req.headers


def cli_args(c, tmpdir):
    args = ["--access-key", c["ak"], "--time", c["ts"].strftime("%Y%m%dT%H%M%SZ")]
    env_secret = None
    if c["secret_via"] == "arg":
        args += ["--secret-key", c["sk"]]
    elif c["secret_via"] == "env":
        env_secret = c["sk"]
    else:
        f = os.path.join(tmpdir, "secret")
        with open(f, "w") as fh:
            fh.write(c["sk"] + "\n")          # the one newline is stripped
        args += ["--secret-key-file", f]
    if c["region"] is not None:
        args += ["--region", c["region"]]
    if c["token"]:
        args += ["--session-token", c["token"]]
    if c["unsigned"]:
        args.append("--unsigned-payload")
    for k, v in c["headers"].items():
        args += ["-H", f"{k}: {v}"]
    if c["verbose"]:
        args.append("-v")
    return args + [c["method"], c["url"]], env_secret


def tally(seen, c):
    """How many cases exercise each feature (printed, so a reader sees it)."""
    path = c["url"].split("://", 1)[1]
    path = path[path.index("/"):].split("?")[0]
    seen["HEAD"] += c["method"] == "HEAD"
    seen["range"] += "Range" in c["headers"]
    seen["token"] += bool(c["token"])
    seen["unsigned"] += c["unsigned"]
    seen["query"] += "?" in c["url"]
    seen["port"] += ":" in c["url"].split("://", 1)[1].split("/")[0].replace("[::1]", "")
    seen["utf8"] += "%E" in path or "%F" in path or "%C" in path
    seen["dot-seg"] += "/./" in path or "/../" in path
    seen["//"] += "//" in path
    seen["%"] += "%25" in path
    seen["auto"] += c["region"] in (None, "", "auto")


def differential(tmpdir):
    r = random.Random(SEED)
    agree = 0
    seen = {"HEAD": 0, "range": 0, "token": 0, "unsigned": 0, "query": 0,
            "port": 0, "utf8": 0, "dot-seg": 0, "//": 0, "%": 0, "auto": 0}
    for i in range(N):
        c = rand_case(r, i)
        tally(seen, c)
        want = botocore_auth(c)
        args, env_secret = cli_args(c, tmpdir)
        rc, out, err = run(args, env_secret)
        got = headers_of(out)
        same = (rc == 0 and got.get("Authorization") == want["Authorization"]
                and got.get("X-Amz-Date") == want["X-Amz-Date"]
                and got.get("X-Amz-Content-SHA256") == want["X-Amz-Content-SHA256"]
                and got.get("X-Amz-Security-Token") == want.get("X-Amz-Security-Token"))
        if c["sk"] in out or c["sk"] in err:
            fail(f"case {i}: the secret appears in the output")
            same = False
        if same:
            agree += 1
        elif len(failures) < 10:
            fail(f"case {i}: {c['method']} {c['url']}\n  rc={rc} err={err.strip()}\n"
                 f"  botocore: {want['Authorization']}\n  edgecache: {got.get('Authorization')}")
    print("covered:", ", ".join(f"{k} {v}" for k, v in seen.items()))
    print(f"botocore agreement: {agree}/{N} (seed {SEED})")
    if agree != N:
        fail("botocore disagrees")


# ---- the S3 docs example, through the binary ---------------------------------

DOCS_AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
             "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def docs_get_object():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    rc, out, err = run(["--access-key", "AKIAIOSFODNN7EXAMPLE", "--region", "us-east-1",
                        "--time", "20130524T000000Z", "-H", "Range: bytes=0-9", "-v",
                        "GET", "https://examplebucket.s3.amazonaws.com/test.txt"],
                       env_secret=secret)
    h = headers_of(out)
    if rc != 0 or h.get("Authorization") != DOCS_AUTH:
        fail(f"s3-docs get-object: rc={rc} got {h.get('Authorization')} err={err}")
    if "--- canonical request ---\nGET\n/test.txt\n" not in out or secret in out + err:
        fail("s3-docs get-object: -v output lacks the canonical request or shows the secret")
    print("s3-docs get-object through the binary:", "ok" if rc == 0 and
          h.get("Authorization") == DOCS_AUTH else "FAILED")


# ---- error paths ------------------------------------------------------------

def error_paths(tmpdir):
    secret = "S3cr3t+/Never-Printed-0123456789"
    ok_url = "https://b.s3.amazonaws.com/k"
    base = ["--access-key", "AK", "--time", "20150830T123600Z"]
    bad = {
        "ftp URL": base + ["GET", "ftp://h/k"],
        "no host": base + ["GET", "http:///k"],
        "raw space in path": base + ["GET", "http://h/a b"],
        "raw UTF-8 in path": base + ["GET", "http://h/\u00e9"],
        "bad escape": base + ["GET", "http://h/a%zz"],
        "userinfo": base + ["GET", "http://u@h/k"],
        "bad port": base + ["GET", "http://h:99999/k"],
        "empty port": base + ["GET", "http://h:/k"],
        "fragment": base + ["GET", "http://h/k#f"],
        "bad time": ["--access-key", "AK", "--time", "2015-08-30", "GET", ok_url],
        "no such date": ["--access-key", "AK", "--time", "20150230T000000Z", "GET", ok_url],
        "hour 24": ["--access-key", "AK", "--time", "20150830T240000Z", "GET", ok_url],
        "no access key": ["--time", "20150830T123600Z", "GET", ok_url],
        "unknown option": base + [f"--secret-kee={secret}", "GET", ok_url],
        "missing value": base + ["--region"],
        "method not a token": base + ["G(T", ok_url],
        "empty method": base + ["", ok_url],
        "-H Host": base + ["-H", "Host: other", "GET", ok_url],
        "-H no colon": base + ["-H", "Range bytes=0-1", "GET", ok_url],
        "-H control char": base + ["-H", "X-A: a\rb", "GET", ok_url],
        "-H other x-amz-date": base + ["-H", "X-Amz-Date: 20990101T000000Z", "GET", ok_url],
        "region too long": base + ["--region", "r" * 65, "GET", ok_url],
        "one positional": base + ["GET"],
        "three positionals": base + ["GET", ok_url, "x"],
        "both secrets": base + ["--secret-key", secret, "--secret-key-file", "/nonexistent",
                                "GET", ok_url],
        "missing secret file": ["--access-key", "AK", "--secret-key-file",
                                os.path.join(tmpdir, "nope"), "GET", ok_url],
    }
    n_ok = 0
    for name, args in bad.items():
        with_secret = "--secret-key" not in args and "--secret-key-file" not in args
        rc, out, err = run(args, env_secret=secret if with_secret else None)
        lines = err.splitlines()
        if rc == 2 and out == "" and len(lines) == 1 and secret not in err:
            n_ok += 1
        else:
            fail(f"error path {name!r}: rc={rc} stdout={out!r} stderr={err!r}")
    rc, out, err = run(base + ["GET", ok_url])         # no secret anywhere
    if rc == 2 and out == "" and len(err.splitlines()) == 1:
        n_ok += 1
    else:
        fail(f"no secret: rc={rc} {err!r}")
    print(f"error paths: {n_ok}/{len(bad) + 1} exit 2 with one line on stderr")


def main():
    with tempfile.TemporaryDirectory(prefix="sign-botocore-") as tmpdir:
        docs_get_object()
        error_paths(tmpdir)
        differential(tmpdir)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
