"""What the interop scripts share: a check tally, a free port, health polling, psql, the end."""
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid


class Checks:
    """Counts passed and failed checks; a failure is printed with its detail at once."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = 0
        self.failed = 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"{self.prefix}: FAILED {name} {detail}", file=sys.stderr)

    def summary(self):
        print(f"{self.prefix}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


_handed_out = set()


def free_port():
    """A loopback port nothing listens on, never the same twice in one process.

    Taken below Linux's ephemeral range (32768-60999 by default): a port the kernel picks
    for bind(0) is also one it may pick as the source port of an outgoing connection (a
    node's client, a health check) between this call and the server's bind, which once
    failed a round of concurrent_start.py with "Address already in use".
    """
    for _ in range(1000):
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 20000-32000")


def healthy(port, timeout=2):
    """True when GET /healthz on `port` answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
            return response.status == 200
    except Exception:
        return False


def psql(url, sql):
    return subprocess.run(["psql", url, "-X", "-A", "-t", "-c", sql], capture_output=True, text=True)


def rows(url, sql):
    """The rows of a query as lists of text fields; [] (with psql's error printed) on failure."""
    out = psql(url, sql)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return []
    return [line.split("|") for line in out.stdout.strip().splitlines() if line]


def with_database(url, name):
    """The same postgresql:// URL with another database name (keeps an empty host)."""
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def clean_up(check, home, log_tail):
    """Prints the end of `home`/serve.log when a check failed (or the run broke off), then
    removes `home`. Call it in `finally`."""
    if check.failed or sys.exc_info()[0] is not None:
        print(open(os.path.join(home, "serve.log")).read()[-log_tail:], file=sys.stderr)
    shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def serving(check, seam, admin_url, name, config="", **environment):
    """A `seam serve` on a database and home of its own, healthy, for the `with` block:
    yields (database url, HTTP port, home, environment). Afterwards: SIGTERM (checking the
    exit status), the log's end when a check failed, and the database dropped.
    `config` is the text of its seam.yaml; `environment` adds or replaces SEAM_* variables."""
    database = f"seam_{name}_" + uuid.uuid4().hex[:8]
    psql(admin_url, f"CREATE DATABASE {database}")
    url = with_database(admin_url, database)
    port = free_port()
    home = tempfile.mkdtemp(prefix=f"seam-{name}-")
    path = os.path.join(home, "seam.yaml")
    with open(path, "w") as f:
        f.write(config)
    env = dict(os.environ, SEAM_DATABASE_URL=url, SEAM_HOME=home, SEAM_HTTP_ADDR=f"127.0.0.1:{port}", SEAM_CONFIG=path,
               SEAM_GRPC_ADDR=f"127.0.0.1:{free_port()}")
    env.update(environment)
    log = open(os.path.join(home, "serve.log"), "w")
    server = subprocess.Popen([seam, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            if healthy(port):
                break
            time.sleep(0.25)
        yield url, port, home, env
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        check("seam serve exits 0 on SIGTERM", code == 0, f"exit {code}")
        clean_up(check, home, 4000)
        psql(admin_url, f"DROP DATABASE {database} WITH (FORCE)")
