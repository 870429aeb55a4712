#!/usr/bin/env python3
"""Progress of long commands, end to end: `seam etl run all` and `seam join rebuild` write
their progress to standard error, redrawn in place on a terminal (a pseudo-terminal here)
and as plain lines on a pipe, while standard output keeps only their results.

usage: progress_check.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import os
import select
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

from harness import Checks, psql, with_database

check = Checks("progress")


def on_pipe(arguments, env):
    return subprocess.run(arguments, env=env, capture_output=True, text=True, timeout=300)


def on_terminal(arguments, env):
    """Runs with standard error on a pseudo-terminal; returns (exit code, stdout, what the terminal got)."""
    leader, follower = os.openpty()
    process = subprocess.Popen(arguments, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    received = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        received += chunk
    out = process.stdout.read().decode()
    code = process.wait(timeout=60)
    os.close(leader)
    return code, out, received.decode(errors="replace")


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    database = "seam_progress_" + uuid.uuid4().hex[:8]
    psql(admin_url, f"CREATE DATABASE {database}")
    url = with_database(admin_url, database)
    env = dict(os.environ, SEAM_DATABASE_URL=url, SEAM_LOG_LEVEL="warning")
    try:
        etl = on_pipe([seam, "etl", "run", "all"], env)
        lines = etl.stderr.splitlines()
        check("seam etl run on a pipe: exit 0", etl.returncode == 0, etl.stderr[-500:])
        check("on a pipe: plain lines, no carriage return or escape", "\r" not in etl.stderr and "\x1b" not in etl.stderr, repr(etl.stderr[:200]))
        check("a line when each job starts", "seam etl run: job 1 of 5, user_features…" in lines, lines[:4])
        check("a line when each job ends, with its outcome and time",
              any(line.startswith("seam etl run: job 5 of 5, bandits: succeeded, ") for line in lines), lines[-2:])
        check("standard output keeps only the results", all(line.startswith("seam etl run: ") and "…" not in line
                                                             for line in etl.stdout.splitlines()) and etl.stdout.count("\n") == 5,
              etl.stdout)

        code, out, terminal = on_terminal([seam, "etl", "run", "all"], env)
        check("seam etl run on a terminal: exit 0", code == 0, terminal[-500:])
        check("on a terminal: each step's line is redrawn in place", "\r\x1b[2Kseam etl run: job 1 of 5, user_features" in terminal,
              repr(terminal[:200]))
        check("on a terminal: each finished step ends its line",
              terminal.count("\n") == 5 and "\r\x1b[2Kseam etl run: job 5 of 5, bandits: succeeded" in terminal, repr(terminal[-300:]))
        check("on a terminal too, standard output keeps only the results", out.count("\n") == 5 and "\x1b" not in out, out)

        today = datetime.now(timezone.utc).date()
        rebuild = on_pipe([seam, "join", "rebuild", "--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=1))], env)
        lines = rebuild.stderr.splitlines()
        check("seam join rebuild on a pipe: exit 0", rebuild.returncode == 0, rebuild.stderr[-500:])
        check("seam join rebuild reports its two steps", "seam join rebuild: queueing the keys of the range…" in lines
              and any(line.startswith("seam join rebuild: recomputing: 0 items (") for line in lines), lines)
    finally:
        psql(admin_url, f"DROP DATABASE {database} WITH (FORCE)")
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
