#!/usr/bin/env python3
"""What docs/deployment.md relies on:
- the systemd template unit passes `systemd-analyze verify` (no error, no warning) for every
  instance, and every environment file names valid roles;
- a streaming replica (hot standby) of the throwaway cluster serves the read API and the
  console through `seam serve --roles api`, once the primary's Seam has set the lake up;
  any other role against the replica stops at start with the reason;
- ops/citus/distribution.json against the migrated schema: every lake and seam_meta table is
  placed, every distribution column exists and is part of every unique constraint of its
  table, co-location targets are distributed, and the changes it lists are exactly the
  unique constraints and triggers that need them.

usage: deployment_check.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from harness import Checks, free_port, healthy, psql, rows, with_database

check = Checks("deployment")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = {"ingest", "maintenance", "join", "etl", "api"}


def systemd(seam):
    template = open(os.path.join(ROOT, "ops", "systemd", "seam@.service")).read()
    scratch = tempfile.mkdtemp(prefix="seam-units-")
    try:
        for instance in ("ingest", "join", "etl", "api"):
            env = open(os.path.join(ROOT, "ops", "systemd", "env", f"{instance}.env")).read()
            roles = re.search(r"^SEAM_ROLES=(.*)$", env, re.M)
            named = set(roles.group(1).split(",")) if roles else set()
            check(f"{instance}.env names valid roles", named and named <= ROLES, named)
            path = os.path.join(scratch, f"seam@{instance}.service")
            with open(path, "w") as f:
                f.write(template.replace("/usr/local/bin/seam", os.path.abspath(seam)))
            verified = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
            check(f"systemd-analyze verify seam@{instance}.service: no error, no warning",
                  verified.returncode == 0 and not verified.stdout.strip() and not verified.stderr.strip(),
                  verified.stdout + verified.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def socket_dir(admin_url):
    return re.search(r"host=([^&]+)", admin_url).group(1)


def pg_bin():
    candidates = sorted(d for d in os.listdir("/usr/lib/postgresql") if os.path.isdir(f"/usr/lib/postgresql/{d}/bin"))
    return f"/usr/lib/postgresql/{candidates[-1]}/bin"


def as_postgres(arguments):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + arguments, capture_output=True, text=True, timeout=120)


def replica(seam, admin_url):
    """A hot standby of the throwaway cluster, for the read API and the console."""
    base = tempfile.mkdtemp(prefix="seam-replica-")
    os.chmod(base, 0o755)
    data, run = os.path.join(base, "data"), os.path.join(base, "run")
    os.makedirs(run)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(run, "postgres")
    database = "seam_replica_" + uuid.uuid4().hex[:8]
    psql(admin_url, f"CREATE DATABASE {database}")
    primary_url = with_database(admin_url, database)
    backup = as_postgres([f"{pg_bin()}/pg_basebackup", "-h", socket_dir(admin_url), "-p", "5432", "-U", "seam_test", "-D", data,
                          "-R", "-X", "stream", "-c", "fast"])
    check("pg_basebackup makes a standby of the throwaway cluster", backup.returncode == 0, backup.stderr)
    with open(os.path.join(data, "postgresql.auto.conf"), "a") as f:
        f.write(f"\nunix_socket_directories = '{run}'\nhot_standby = on\n")
    started = as_postgres([f"{pg_bin()}/pg_ctl", "-D", data, "-l", os.path.join(base, "postgresql.log"), "-w", "-t", "60", "start"])
    check("the standby starts", started.returncode == 0, started.stdout + started.stderr)
    replica_url = re.sub(r"host=[^&]+", f"host={run}", primary_url)
    servers = []
    try:
        # Before the primary is set up, the replica has no lake: Seam says so and stops.
        env = dict(os.environ, SEAM_DATABASE_URL=replica_url, SEAM_ROLES="api", SEAM_HOME=os.path.join(base, "home-early"),
                   SEAM_GRPC_ADDR="off", SEAM_HTTP_ADDR=f"127.0.0.1:{free_port()}")
        early = subprocess.run([seam, "serve"], env=env, capture_output=True, text=True, timeout=60)
        check("against a replica without the lake, seam serve stops and names the missing migrations",
              early.returncode != 0 and "read-only replica and lacks migrations 0001" in early.stderr + early.stdout,
              (early.stdout + early.stderr)[-600:])
        migrated = subprocess.run([seam, "migrate", "--database-url", primary_url], capture_output=True, text=True, timeout=120)
        check("seam migrate sets the lake up on the primary", migrated.returncode == 0, migrated.stderr)
        psql(primary_url, "INSERT INTO lake.etl_runs (job, trigger, window_end, started_at, finished_at, status) "
                          "VALUES ('segments', 'manual', now(), now(), now(), 'succeeded')")
        deadline = time.time() + 60
        replayed = None
        while time.time() < deadline:
            try:
                replayed = rows(replica_url, "SELECT count(*) FROM lake.etl_runs")
            except Exception:  # the database itself may not have been replayed yet
                replayed = None
            if replayed == [["1"]]:
                break
            time.sleep(0.5)
        check("the replica follows the primary", replayed == [["1"]], replayed)

        port = free_port()
        env.update(SEAM_HOME=os.path.join(base, "home-api"), SEAM_HTTP_ADDR=f"127.0.0.1:{port}")
        log = open(os.path.join(base, "api.log"), "w")
        server = subprocess.Popen([seam, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        servers.append(server)
        for _ in range(120):
            if healthy(port):
                break
            time.sleep(0.25)
        for path in ("/v1/experiments", "/console/experiments", "/console/pipeline"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                    status, body = response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read().decode()
            check(f"the api role on the replica serves {path}", status == 200, f"{status} {body[:300]}")
            if path == "/console/pipeline":
                check("the console on the replica shows the primary's ETL run", "segments" in body and "succeeded" in body, body[:300])
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        check("the api node on the replica exits 0 on SIGTERM", code == 0, open(os.path.join(base, "api.log")).read()[-2000:])

        env.update(SEAM_ROLES="api,ingest", SEAM_HOME=os.path.join(base, "home-writer"))
        writer = subprocess.run([seam, "serve"], env=env, capture_output=True, text=True, timeout=60)
        check("a writing role against the replica stops at start with the reason",
              writer.returncode != 0 and "only the api role can run against it" in writer.stdout + writer.stderr,
              (writer.stdout + writer.stderr)[-600:])
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
        as_postgres([f"{pg_bin()}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])
        psql(admin_url, f"DROP DATABASE {database} WITH (FORCE)")
        shutil.rmtree(base, ignore_errors=True)


def citus(seam, admin_url):
    plan = json.load(open(os.path.join(ROOT, "ops", "citus", "distribution.json")))
    database = "seam_citus_" + uuid.uuid4().hex[:8]
    psql(admin_url, f"CREATE DATABASE {database}")
    url = with_database(admin_url, database)
    try:
        migrated = subprocess.run([seam, "migrate", "--database-url", url], capture_output=True, text=True, timeout=120)
        check("seam migrate sets a lake up for the plan's check", migrated.returncode == 0, migrated.stderr)
        tables = {r[0] for r in rows(url, """
            SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('lake', 'seam_meta') AND c.relkind IN ('r', 'p') AND NOT c.relispartition""")}
        distributed = plan["distributed"]
        placed = list(distributed) + plan["reference"] + plan["local"]
        check("every table is placed once: distributed, reference or local", sorted(placed) == sorted(tables),
              f"unplaced {sorted(tables - set(placed))}, unknown {sorted(set(placed) - tables)}, "
              f"twice {sorted(t for t in placed if placed.count(t) > 1)}")
        columns = {(r[0], r[1]) for r in rows(url, """
            SELECT a.attrelid::regclass::text, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('lake', 'seam_meta') AND a.attnum > 0 AND NOT a.attisdropped""")}
        missing = [(t, d["column"]) for t, d in distributed.items() if (t, d["column"]) not in columns]
        check("every distribution column exists", not missing, missing)
        targets = [d["colocate_with"] for d in distributed.values() if "colocate_with" in d]
        check("co-location targets are distributed tables", all(t in distributed for t in targets), targets)
        types = {(r[0], r[1]): r[2] for r in rows(url, """
            SELECT a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('lake', 'seam_meta') AND a.attnum > 0 AND NOT a.attisdropped""")}
        mismatched = [(t, d["colocate_with"]) for t, d in distributed.items() if "colocate_with" in d
                      and types.get((t, d["column"])) != types.get((d["colocate_with"], distributed[d["colocate_with"]]["column"]))]
        check("co-located tables are distributed by columns of one type", not mismatched, mismatched)
        lacking = sorted(f"{r[0]}.{r[1]}" for r in rows(url, """
            SELECT c.conrelid::regclass::text, c.conname, (SELECT string_agg(attname, ',') FROM pg_attribute
                   WHERE attrelid = c.conrelid AND attnum = ANY(c.conkey))
            FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
            WHERE n.nspname IN ('lake', 'seam_meta') AND c.contype IN ('p', 'u', 'x') AND NOT r.relispartition""")
            if r[0] in distributed and distributed[r[0]]["column"] not in r[2].split(","))
        check("the unique constraints that lack their distribution column are the ones listed",
              lacking == sorted(plan["changes"]["unique_constraints_without_distribution_column"]), lacking)
        triggers = sorted(f"{r[0]}.{r[1]}" for r in rows(url, """
            SELECT t.tgrelid::regclass::text, t.tgname FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = r.relnamespace
            WHERE NOT t.tgisinternal AND n.nspname IN ('lake', 'seam_meta') AND NOT r.relispartition""")
            if r[0] in distributed)
        check("the triggers on distributed tables are the ones listed", triggers == sorted(plan["changes"]["triggers_on_distributed_tables"]),
              triggers)
        guide = open(os.path.join(ROOT, "docs", "deployment.md")).read()
        unnamed = [t for t in placed if f"`{t}`" not in guide and f"`{t.split('.', 1)[1]}`" not in guide]
        check("docs/deployment.md names every table of the plan", not unnamed, unnamed)
        untold = [t for t in plan["changes"]["triggers_on_distributed_tables"] if f"`{t}`" not in guide]
        check("docs/deployment.md lists every trigger that must move", not untold, untold)
    finally:
        psql(admin_url, f"DROP DATABASE {database} WITH (FORCE)")


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    systemd(seam)
    citus(seam, admin_url)
    replica(seam, admin_url)
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
