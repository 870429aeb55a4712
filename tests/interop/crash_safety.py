#!/usr/bin/env python3
"""Crash and outage safety of `seam serve`, end to end.

1. Clients post tag events and OTLP spans while `seam serve` is killed with SIGKILL and
   restarted: every acknowledged record must be in the lake exactly once.
2. Clients keep posting while the PostgreSQL server is stopped and started again: Seam
   keeps acknowledging into its spool and, once the database is back, every acknowledged
   record is in the lake exactly once.

usage: crash_safety.py SEAM_BINARY
"""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from harness import Checks, clean_up, free_port, psql

check = Checks("crash-safety")


class Sender(threading.Thread):
    """Posts batches as fast as Seam answers; remembers what was acknowledged (200)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.acked_events = []
        self.acked_spans = []
        self.refused = 0

    def post(self, path, body):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except Exception:
            return None

    def run(self):
        while not self.stop.is_set():
            events = [str(uuid.uuid4()) for _ in range(20)]
            status = self.post("/v1/events", {"events": [
                {"event_id": e, "name": "page_view", "session_id": "crash", "properties": {"n": i}}
                for i, e in enumerate(events)]})
            if status == 200:
                self.acked_events += events
            else:
                self.refused += 1
            trace = uuid.uuid4().hex
            spans = [format(random.getrandbits(64) | 1, "016x") for _ in range(10)]
            now = time.time_ns()
            status = self.post("/v1/traces", {"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "crash"}}]}, "scopeSpans": [{"spans": [
                    {"traceId": trace, "spanId": s, "name": "op", "kind": 2, "startTimeUnixNano": str(now),
                     "endTimeUnixNano": str(now + 1000)} for s in spans]}]}]})
            if status == 200:
                self.acked_spans += [(trace, s) for s in spans]
            else:
                self.refused += 1
            if status is None:
                time.sleep(0.05)  # server down: retry shortly, as an SDK would


def verify(name, url, sender, timeout=90):
    """Waits until every acknowledged record is stored, then checks none is stored twice."""
    events = set(sender.acked_events)
    spans = set(sender.acked_spans)
    deadline = time.time() + timeout
    missing_events, missing_spans = events, spans
    while time.time() < deadline:
        result = psql(url, "COPY (SELECT event_id FROM lake.tag_events WHERE session_id = 'crash') TO STDOUT")
        stored_events = set(result.stdout.split()) if result.returncode == 0 else set()
        result = psql(url, "COPY (SELECT encode(trace_id, 'hex') || ':' || encode(span_id, 'hex') FROM lake.spans WHERE service_name = 'crash') TO STDOUT")
        stored_spans = {tuple(line.split(":")) for line in result.stdout.split()} if result.returncode == 0 else set()
        missing_events = events - stored_events
        missing_spans = spans - stored_spans
        if not missing_events and not missing_spans:
            break
        time.sleep(0.5)
    print(f"crash-safety: {name}: {len(events)} events and {len(spans)} spans acknowledged, "
          f"{sender.refused} requests refused or cut off")
    check(f"{name}: every acknowledged event stored ({len(events)})", not missing_events, f"{len(missing_events)} missing")
    check(f"{name}: every acknowledged span stored ({len(spans)})", not missing_spans, f"{len(missing_spans)} missing")
    dup = psql(url, "SELECT (SELECT count(*) - count(DISTINCT event_id) FROM lake.tag_events) + "
                    "(SELECT count(*) - count(DISTINCT (trace_id, span_id)) FROM lake.spans)").stdout.strip()
    check(f"{name}: nothing stored twice", dup == "0", f"duplicates: {dup}")


def main():
    seam = os.path.abspath(sys.argv[1])
    home = tempfile.mkdtemp(prefix="seam-crash-", dir="/tmp")
    os.chmod(home, 0o755)
    port = free_port()
    env = dict(os.environ, SEAM_HOME=os.path.join(home, ".seam"), SEAM_HTTP_ADDR=f"127.0.0.1:{port}",
               SEAM_GRPC_ADDR=f"127.0.0.1:{free_port()}")
    env.pop("SEAM_DATABASE_URL", None)
    log = open(os.path.join(home, "serve.log"), "a")

    def serve():
        process = subprocess.Popen([seam, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return process
            except Exception:
                time.sleep(0.25)
        raise RuntimeError("seam serve did not come up")

    server = serve()
    url = subprocess.run([seam, "db", "url"], env=env, capture_output=True, text=True).stdout.strip()
    try:
        # 1. SIGKILL while clients send.
        sender = Sender(port)
        sender.start()
        time.sleep(3)
        server.send_signal(signal.SIGKILL)
        server.wait()
        time.sleep(0.5)
        server = serve()
        time.sleep(1)
        sender.stop.set()
        sender.join()
        check("clients were acknowledged before the crash", len(sender.acked_events) > 0)
        verify("after SIGKILL", url, sender)

        # 2. PostgreSQL stops under load and comes back.
        sender = Sender(port)
        sender.start()
        time.sleep(1)
        subprocess.run([seam, "db", "stop"], env=env, check=True, capture_output=True)
        before = len(sender.acked_events)
        time.sleep(2)
        check("acknowledging continues while PostgreSQL is down", len(sender.acked_events) > before)
        subprocess.run([seam, "db", "start"], env=env, check=True, capture_output=True)
        time.sleep(1)
        sender.stop.set()
        sender.join()
        verify("after a database outage", url, sender)

        server.send_signal(signal.SIGTERM)
        check("seam serve exits 0 on SIGTERM", server.wait(timeout=60) == 0)
    finally:
        if server.poll() is None:
            server.kill()
        subprocess.run([seam, "db", "stop"], env=env, capture_output=True)
        clean_up(check, home, 5000)
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
