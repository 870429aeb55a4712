#!/usr/bin/env python3
"""Several nodes started at the same instant on a fresh database (issue 12).

Twenty times: a fresh database, then four `seam serve` processes with different roles
(ingest, join, etl, api+maintenance) started together, each with its own home and spool.
All four must come up (set-up serialized across processes), keep running, and stop with
exit 0 on SIGTERM.

usage: concurrent_start.py SEAM_BINARY ADMIN_DATABASE_URL [ROUNDS]
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROLES = ["ingest", "join", "etl", "api,maintenance"]


from harness import free_port, healthy


def with_dbname(url, name):
    """The URL (postgresql://host/db?params) with its database replaced."""
    return re.sub(r"^(postgres(?:ql)?://[^/?]*/)[^?]*", lambda m: m.group(1) + name, url)


def main():
    seam, admin = os.path.abspath(sys.argv[1]), sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    failures = []
    for round_number in range(1, rounds + 1):
        name = f"seam_concurrent_{round_number}_{os.getpid()}"
        subprocess.run(["psql", admin, "-X", "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        url = with_dbname(admin, name)
        base = tempfile.mkdtemp(prefix="seam-concurrent-", dir="/tmp")
        processes = []
        try:
            nodes = []
            for role in ROLES:
                home = os.path.join(base, role.replace(",", "-"))
                os.makedirs(home)
                port = free_port()
                env = dict(os.environ, SEAM_HOME=home, SEAM_DATABASE_URL=url, SEAM_ROLES=role,
                           SEAM_HTTP_ADDR=f"127.0.0.1:{port}", SEAM_GRPC_ADDR=f"127.0.0.1:{free_port()}")
                nodes.append((role, port, env, open(os.path.join(home, "serve.log"), "w")))
            for role, port, env, log in nodes:  # as close to the same instant as a shell can
                processes.append(subprocess.Popen([seam, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT))
            deadline = time.time() + 60
            http = [(role, port) for role, port, _, _ in nodes if role in ("ingest", "api,maintenance")]
            while time.time() < deadline and not all(healthy(port) for _, port in http):
                if any(p.poll() is not None for p in processes):
                    break
                time.sleep(0.2)
            time.sleep(2)  # the join worker and the scheduler start after set-up too
            down = [role for (role, *_), p in zip(nodes, processes) if p.poll() is not None]
            unanswered = [role for role, port in http if not healthy(port)]
            for p in processes:
                p.send_signal(signal.SIGTERM)
            codes = [p.wait(timeout=60) for p in processes]
            bad_exit = [role for (role, *_), code in zip(nodes, codes) if code != 0]
            if down or unanswered or bad_exit:
                failures.append(round_number)
                print(f"concurrent-start: round {round_number}: exited early {down}, not answering {unanswered}, "
                      f"non-zero exit {bad_exit}", file=sys.stderr)
                for role, _, env, log in nodes:
                    log.close()
                    text = open(os.path.join(env["SEAM_HOME"], "serve.log")).read()
                    print(f"--- {role}\n{text[-2000:]}", file=sys.stderr)
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
            shutil.rmtree(base, ignore_errors=True)
            subprocess.run(["psql", admin, "-X", "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)
    print(f"concurrent-start: {rounds - len(failures)} of {rounds} rounds had all four nodes up")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
