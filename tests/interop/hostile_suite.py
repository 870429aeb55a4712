#!/usr/bin/env python3
"""Hostile input against a real `seam serve` (issue 12).

Sends each class of bad input an attacker or a broken client could send, each followed
by a valid tag event and a valid span; after every class the process must still answer.
Then SIGTERM and a restart: the restart must be clean, every valid record must be in the
raw tables and the derived tables, a second `seam serve` on the same spool must be refused,
and `seam etl run all` must succeed twice.

usage: hostile_suite.py SEAM_BINARY
"""
import gzip
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from harness import Checks, clean_up, free_port, healthy, psql

check = Checks("hostile")


# --- protobuf by hand (no generated code needed) -----------------------------------------

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def fixed64(number, value):
    return varint(number << 3 | 1) + struct.pack("<Q", value)


def pb_span(trace, span, attributes=b"", start=None, name=b"GET /"):
    start = start if start is not None else time.time_ns() - 1_000_000_000
    return (field(1, trace) + field(2, span) + field(5, name) + fixed64(7, start) + fixed64(8, start + 1000) + attributes)


def pb_attribute(key, any_value):
    return field(9, field(1, key) + field(2, any_value))


def pb_request(*spans, resource=b""):
    return field(1, (field(1, resource) if resource else b"") + field(2, b"".join(field(2, s) for s in spans)))


def pb_nested(depth):
    value = field(1, b"x")
    for _ in range(depth - 1):
        value = field(5, field(1, value))
    return value


# --- the suite ---------------------------------------------------------------------------

class Suite:
    def __init__(self, seam, home):
        self.seam = seam
        self.home = home
        self.port = free_port()
        self.env = dict(os.environ, SEAM_HOME=os.path.join(home, ".seam"), SEAM_HTTP_ADDR=f"127.0.0.1:{self.port}", SEAM_GRPC_ADDR=f"127.0.0.1:{free_port()}",
                        SEAM_ETL_SCHEDULE="* * * * *", SEAM_HTTP_IDLE_TIMEOUT_SECONDS="2",
                        SEAM_HTTP_BODY_TIMEOUT_SECONDS="3")
        self.env.pop("SEAM_DATABASE_URL", None)
        self.log = open(os.path.join(home, "serve.log"), "a")
        self.process = None
        self.valid_events = []
        self.valid_traces = []

    def serve(self):
        self.process = subprocess.Popen([self.seam, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(240):
            if self.alive():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"seam serve exited with {self.process.returncode}")
            time.sleep(0.25)
        raise RuntimeError("seam serve did not come up")

    def alive(self):
        return healthy(self.port)

    def post(self, path, body, headers=None, timeout=30):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method="POST",
                                         headers=headers or {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except Exception as error:
            return None, str(error).encode()

    def valid_pair(self, label):
        event = str(uuid.uuid4())
        status, body = self.post("/v1/events", json.dumps({"events": [
            {"event_id": event, "name": "page_view", "session_id": "hostile-valid", "anonymous_id": "hostile-visitor",
             "properties": {"after": label}}]}).encode(), {"Content-Type": "text/plain"})
        check(f"{label}: a valid event is still accepted", status == 200, f"{status} {body[:200]}")
        if status == 200:
            self.valid_events.append(event)
        trace = uuid.uuid4().bytes
        status, body = self.post("/v1/traces", pb_request(pb_span(trace, os.urandom(7) + b"\x01")),
                                 {"Content-Type": "application/x-protobuf"})
        check(f"{label}: a valid span is still accepted", status == 200, f"{status} {body[:200]}")
        if status == 200:
            self.valid_traces.append(trace.hex())

    def hostile(self, label, send, expect=None, says=None):
        """Runs `send` (returns a status, or (status, body)); checks the answer (`says`: text
        the body must contain), that the process survived and that it still serves."""
        body = b""
        try:
            status = send()
            if isinstance(status, tuple):
                status, body = status
        except Exception as error:
            status = f"client error {error}"
        if says is not None:
            check(f"{label}: the answer says why", says.encode() in body, body[:300])
        print(f"hostile: {label}: {status}")
        if expect is not None:
            check(f"{label}: answered {expect}", status in (expect if isinstance(expect, tuple) else (expect,)), f"got {status}")
        check(f"{label}: seam serve survived", self.process.poll() is None and self.alive(),
              f"exit {self.process.poll()}")
        self.valid_pair(label)

    def raw(self, data, read=True, wait=0.0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as s:
            s.sendall(data)
            if wait:
                time.sleep(wait)
            if not read:
                return None
            reply = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                    if b"\r\n\r\n" in reply:
                        break
            except socket.timeout:
                return "timeout"
            if not reply:
                return "closed"
            return int(reply.split(b" ")[1]) if reply.startswith(b"HTTP/1.1") else reply[:40]


def event(**fields):
    base = {"event_id": str(uuid.uuid4()), "name": "page_view", "session_id": "hostile"}
    base.update(fields)
    return base


def events_body(*events, **batch):
    return json.dumps(dict(batch, events=list(events))).encode()


def run_classes(s):
    j = {"Content-Type": "application/json"}
    beacon = {"Content-Type": "text/plain"}
    pb = {"Content-Type": "application/x-protobuf"}
    pbz = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    jz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    now = time.time_ns()

    s.hostile("timestamp 1e300 (sendBeacon)", lambda: s.post("/v1/events", events_body(event(timestamp=1e300)), beacon), 400,
              "timestamp: epoch milliseconds")
    s.hostile("sent_at near the 64-bit limit", lambda: s.post("/v1/events", events_body(event(timestamp=1), sent_at=9.2e18), beacon)[0], 400)
    s.hostile("corrected time out of range", lambda: s.post(
        "/v1/events", events_body(event(timestamp=-62135596800000, sent_at=253402300799000)), j)[0], 400)
    s.hostile("tag event JSON nested 100,000 deep", lambda: s.post(
        "/v1/events", b'{"events":[{"properties":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}", j), 400, "deeper than 128")
    deep = gzip.compress(pb_request(pb_span(uuid.uuid4().bytes, b"\x02" * 8, pb_attribute(b"deep", pb_nested(20_000)))))
    s.hostile("OTLP attribute nested 20,000 deep (gzip protobuf)", lambda: s.post("/v1/traces", deep, pbz), 200, "nested deeper than 32 levels")
    s.hostile("OTLP attribute nested 200,000 deep", lambda: s.post(
        "/v1/traces", gzip.compress(pb_request(pb_span(uuid.uuid4().bytes, b"\x03" * 8, pb_attribute(b"d", pb_nested(200_000))))),
        pbz)[0], (200, 400))
    s.hostile("OTLP JSON nested 100,000 deep", lambda: s.post(
        "/v1/traces", b'{"resourceSpans":' + b"[" * 100_000 + b"]" * 100_000 + b"}", j)[0], 400)
    s.hostile("gzip bomb (64 MiB of zeros)", lambda: s.post("/v1/events", gzip.compress(b"\0" * (64 << 20)), jz)[0], 413)
    two = events_body(event(), event())
    members = gzip.compress(two[: len(two) // 2]) + gzip.compress(two[len(two) // 2:])
    s.hostile("two-member gzip", lambda: s.post("/v1/events", members, jz)[0], 200)
    s.hostile("truncated gzip", lambda: s.post("/v1/events", gzip.compress(events_body(event()))[:-6], jz), 400, "cut short")
    s.hostile("gzip with trailing garbage", lambda: s.post("/v1/events", gzip.compress(events_body(event())) + b"junk", jz)[0], 400)
    s.hostile("identifier of 10 KB in a span (session.id)", lambda: s.post("/v1/traces", pb_request(
        pb_span(uuid.uuid4().bytes, b"\x04" * 8, pb_attribute(b"session.id", field(1, b"s" * 10_000)))), pb), 200, "identifiers are at most 256")
    s.hostile("user_id of 300 bytes in a tag event", lambda: s.post("/v1/events", events_body(event(user_id="u" * 300)), j)[0], 400)
    s.hostile("2,000 attributes on a span", lambda: s.post("/v1/traces", pb_request(pb_span(
        uuid.uuid4().bytes, b"\x05" * 8, b"".join(pb_attribute(b"k%d" % i, field(1, b"v")) for i in range(2000)))), pb), 200, "at most 1024")
    s.hostile("an attribute value of 1 MB", lambda: s.post("/v1/traces", pb_request(pb_span(
        uuid.uuid4().bytes, b"\x06" * 8, pb_attribute(b"big", field(1, b"x" * (1 << 20))))), pb), 200, "at most 262144")
    s.hostile("invalid UTF-8 in protobuf strings", lambda: s.post("/v1/traces", pb_request(pb_span(
        uuid.uuid4().bytes, b"\x07" * 8, pb_attribute(b"\xff\xfe", field(1, b"\xc3\x28")), name=b"\xe2\x82")), pb)[0], 200)
    # Valid JSON that PostgreSQL's jsonb refuses: the NUL character is refused at the
    # acknowledgement (the scanner marks it); a number beyond numeric's range passes it and
    # goes to lake.rejected with PostgreSQL's reason.
    s.hostile("NUL character in JSON properties", lambda: s.post("/v1/events", events_body(event(properties={"k": "a\u0000b"})), j),
              400, "properties: contains \\\\u0000")
    s.hostile("a number beyond PostgreSQL's numeric range in properties", lambda: s.post(
        "/v1/events", events_body(event()).replace(b'"session_id"', b'"properties": {"n": 1e200000}, "session_id"'), j)[0], 200)
    s.hostile("span times at the 64-bit nanosecond limit", lambda: s.post("/v1/traces", pb_request(pb_span(
        uuid.uuid4().bytes, b"\x08" * 8, start=2**64 - 1001)), pb)[0], 200)
    s.hostile("64-bit integers beyond range as JSON strings", lambda: s.post("/v1/traces", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": uuid.uuid4().hex, "spanId": "00f067aa0ba902b7", "startTimeUnixNano": "99999999999999999999999",
        "endTimeUnixNano": "-1", "kind": 99999999999}]}]}]}).encode(), j)[0], (200, 400))
    s.hostile("log severity 1000 and 64-bit flags", lambda: s.post("/v1/logs", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": str(now), "severityNumber": 1000, "flags": 18446744073709551615}]}]}]}).encode(), j)[0], (200, 400))
    s.hostile("10,000 events in one batch", lambda: s.post("/v1/events", events_body(*[event() for _ in range(10_000)]), j)[0], 400)
    s.hostile("JSON that is not a batch", lambda: s.post("/v1/events", b'[null, 1, "x", {}]', j)[0], 400)
    s.hostile("unknown Content-Encoding", lambda: s.post("/v1/events", b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"})[0], 415)
    s.hostile("a header of 100 KB", lambda: s.raw(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 2\r\n\r\n{}"), (431, "closed", 400))
    s.hostile("Content-Length longer than the body (client stalls)", lambda: s.raw(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"ev"),
        ("closed", 408))

    def slowloris():
        sockets = []
        for _ in range(100):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
            sockets.append(c)
        ok = s.alive()
        time.sleep(3)  # past the idle timeout: the server must have cut them off
        closed = 0
        for c in sockets:
            try:
                c.settimeout(1)
                closed += c.recv(1) == b""
            except Exception:
                pass
            c.close()
        return 200 if ok and closed == len(sockets) else f"alive={ok} closed={closed}"
    s.hostile("100 connections that never finish their headers", slowloris, 200)

    # Degenerate experiments: both variants mean 0 with variance, and revenue 1e300.
    def experiment(key, revenues):
        logs, evs = [], []
        for i, (variant, revenue) in enumerate(revenues):
            unit = f"{key}-u{i}"
            logs.append({"timeUnixNano": str(now - 60_000_000_000), "attributes": [
                {"key": "feature_flag.key", "value": {"stringValue": key}},
                {"key": "feature_flag.result.variant", "value": {"stringValue": variant}},
                {"key": "feature_flag.context.id", "value": {"stringValue": unit}}]})
            evs.append(event(name="purchase", anonymous_id=unit, session_id=f"{unit}-s", properties={"revenue": revenue}))
        a = s.post("/v1/logs", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": logs}]}]}).encode(), j)[0]
        b = s.post("/v1/events", events_body(*evs), j)[0]
        return 200 if (a, b) == (200, 200) else (a, b)
    s.hostile("an experiment whose variants both have mean 0", lambda: experiment(
        "hostile_zero", [("control", 5), ("control", -5), ("treatment", 5), ("treatment", -5)]), 200)
    s.hostile("revenue of 1e300", lambda: experiment(
        "hostile_huge", [("control", 1e300), ("control", 1e300), ("treatment", 1), ("treatment", 2)]), 200)


def main():
    seam = os.path.abspath(sys.argv[1])
    home = tempfile.mkdtemp(prefix="seam-hostile-", dir="/tmp")
    os.chmod(home, 0o755)
    suite = Suite(seam, home)
    try:
        suite.serve()
        url = subprocess.run([seam, "db", "url"], env=suite.env, capture_output=True, text=True).stdout.strip()
        run_classes(suite)

        # A second process on the same spool is refused with a clear message.
        second = subprocess.run([seam, "serve"], env=dict(suite.env, SEAM_HTTP_ADDR=f"127.0.0.1:{free_port()}", SEAM_GRPC_ADDR=f"127.0.0.1:{free_port()}"),
                                capture_output=True, text=True, timeout=120)
        check("a second seam serve on the same spool fails", second.returncode != 0)
        check("... saying the spool is in use", "in use by another Seam process" in second.stdout + second.stderr,
              (second.stdout + second.stderr)[-400:])
        check("the first process still serves", suite.alive())

        suite.process.send_signal(signal.SIGTERM)
        check("seam serve exits 0 on SIGTERM", suite.process.wait(timeout=90) == 0)
        suite.serve()
        check("the restart is clean", suite.alive())

        # Every valid record reaches the raw and the derived tables.
        events, traces = set(suite.valid_events), set(suite.valid_traces)
        deadline = time.time() + 90
        while time.time() < deadline:
            stored = set(psql(url, "SELECT event_id FROM lake.tag_events WHERE session_id = 'hostile-valid'").stdout.split())
            facts = set(psql(url, "SELECT event_id FROM lake.event_facts WHERE session_id = 'hostile-valid'").stdout.split())
            spans = set(psql(url, "SELECT DISTINCT encode(trace_id, 'hex') FROM lake.spans").stdout.split())
            joined = set(psql(url, "SELECT encode(trace_id, 'hex') FROM lake.traces").stdout.split())
            if events <= stored and events <= facts and traces <= spans and traces <= joined:
                break
            time.sleep(0.5)
        check(f"every valid event is in lake.tag_events ({len(events)})", events <= stored, f"{len(events - stored)} missing")
        check("... and in lake.event_facts", events <= facts, f"{len(events - facts)} missing")
        check(f"every valid span is in lake.spans ({len(traces)})", traces <= spans, f"{len(traces - spans)} missing")
        check("... and its trace in lake.traces", traces <= joined, f"{len(traces - joined)} missing")
        rejected = psql(url, "SELECT count(*) FROM lake.rejected").stdout.strip()
        check("the number jsonb refuses went to lake.rejected with a reason", rejected not in ("", "0"), f"rejected: {rejected}")
        set_aside = psql(url, "SELECT count(*) FROM seam_meta.join_set_aside").stdout.strip()
        check("no join key had to be set aside", set_aside == "0", set_aside)

        for attempt in (1, 2):
            run = subprocess.run([seam, "etl", "run", "all"], env=suite.env, capture_output=True, text=True, timeout=300)
            check(f"seam etl run all succeeds (run {attempt})", run.returncode == 0, (run.stdout + run.stderr)[-800:])
        notes = psql(url, "SELECT count(*) FROM lake.experiment_results WHERE experiment_key IN ('hostile_zero', 'hostile_huge') AND note IS NOT NULL").stdout.strip()
        check("degenerate experiments are stored with notes", notes not in ("", "0"), notes)
        check("seam serve survived the ETL", suite.alive())

        suite.process.send_signal(signal.SIGTERM)
        check("seam serve exits 0 on SIGTERM after the suite", suite.process.wait(timeout=90) == 0)
    finally:
        if suite.process and suite.process.poll() is None:
            suite.process.kill()
        subprocess.run([seam, "db", "stop"], env=suite.env, capture_output=True)
        clean_up(check, home, 6000)
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
