#!/usr/bin/env python3
"""Interop test: the OpenTelemetry Python SDK's OTLP exporters (gzip), over HTTP and over
gRPC, against a running `seam serve`, then every stored field checked in PostgreSQL (each
transport on a fresh database).

usage: otel_sdk_interop.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from opentelemetry._logs import LogRecord, SeverityNumber
from grpc import Compression as GRPCCompression
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GRPCLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from harness import free_port, with_database

passed = 0
failed = 0


transport = "http"


def check(name, actual, expected):
    global passed, failed
    name = f"[{transport}] {name}"
    if actual == expected:
        passed += 1
    else:
        failed += 1
        print(f"otel-sdk-interop: FAILED {name}: got {actual!r}, expected {expected!r}", file=sys.stderr)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-X", "-A", "-t", "-F", "|", "-c", sql],
                         check=True, capture_output=True, text=True).stdout.strip()
    return [line.split("|") for line in out.splitlines() if line]




def main():
    global transport
    seam, admin_url = sys.argv[1], sys.argv[2]
    for transport in ("http", "grpc"):
        database = "seam_interop_" + uuid.uuid4().hex[:8]
        psql(admin_url, f"CREATE DATABASE {database}")
        url = with_database(admin_url, database)
        port, grpc_port = free_port(), free_port()
        home = tempfile.mkdtemp(prefix="seam-interop-")
        env = dict(os.environ, SEAM_DATABASE_URL=url, SEAM_HOME=home, SEAM_HTTP_ADDR=f"127.0.0.1:{port}",
                   SEAM_GRPC_ADDR=f"127.0.0.1:{grpc_port}")
        log = open(os.path.join(home, "serve.log"), "w")
        server = subprocess.Popen([seam, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        before = failed
        try:
            run(url, port, grpc_port)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
            check("seam serve exits 0 on SIGTERM", code, 0)
            if failed > before:
                print(open(os.path.join(home, "serve.log")).read(), file=sys.stderr)
            psql(admin_url, f"DROP DATABASE {database} WITH (FORCE)")
    print(f"otel-sdk-interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run(url, port, grpc_port):
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except Exception:
            time.sleep(0.25)
    resource = Resource.create({"service.name": "checkout", "service.version": "3.1.4"})

    # Spans: a server span with the attributes Seam lifts into columns, and a child.
    tracer_provider = TracerProvider(resource=resource)
    if transport == "grpc":
        span_exporter = GRPCSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, compression=GRPCCompression.Gzip)
    else:
        span_exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", compression=Compression.Gzip)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("interop.tracer", "0.9")
    with tracer.start_as_current_span("GET /product/{id}", kind=SpanKind.SERVER, attributes={
        "http.route": "/product/{id}", "http.request.method": "GET", "http.response.status_code": 500,
        "session.id": "sess-interop", "enduser.id": "user-interop", "app.items": [1, 2, 3], "app.ratio": 0.5,
    }) as server_span:
        server_span.add_event("cache.miss", {"key": "p-42"})
        with tracer.start_as_current_span("SELECT products", kind=SpanKind.CLIENT) as child:
            child_context = child.get_span_context()
        server_span.set_status(Status(StatusCode.ERROR, "database timeout"))
        server_context = server_span.get_span_context()
    tracer_provider.force_flush()

    # A feature-flag evaluation event in the same trace.
    logger_provider = LoggerProvider(resource=resource)
    if transport == "grpc":
        log_exporter = GRPCLogExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, compression=GRPCCompression.Gzip)
    else:
        log_exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", compression=Compression.Gzip)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    flag_time = time.time_ns()
    logger_provider.get_logger("interop.flags").emit(LogRecord(
        timestamp=flag_time, event_name="feature_flag.evaluation", severity_number=SeverityNumber.INFO,
        severity_text="INFO", body="flag evaluated", trace_id=server_context.trace_id, span_id=server_context.span_id,
        trace_flags=server_context.trace_flags,
        attributes={"feature_flag.key": "reco-v2", "feature_flag.result.variant": "treatment",
                    "feature_flag.context.id": "user-interop"}))
    logger_provider.force_flush()

    trace_hex = format(server_context.trace_id, "032x")
    rows = []
    for _ in range(80):
        rows = psql(url, "SELECT count(*) FROM lake.spans") + psql(url, "SELECT count(*) FROM lake.logs")
        if rows == [["2"], ["1"]]:
            break
        time.sleep(0.25)
    check("rows stored (spans, logs)", rows, [["2"], ["1"]])

    span = psql(url, f"""
        SELECT encode(trace_id, 'hex'), encode(span_id, 'hex'), coalesce(encode(parent_span_id, 'hex'), ''), name, kind,
               service_name, status_code, status_message, session_id, user_id, http_route, http_method, http_status_code,
               scope_name, scope_version, resource->>'service.version', attributes->'app.items', attributes->>'app.ratio',
               events->0->>'name', events->0->'attributes'->>'key', duration_ms > 0
        FROM lake.spans WHERE span_id = decode('{format(server_context.span_id, '016x')}', 'hex')""")
    check("server span found", len(span), 1)
    if span:
        s = span[0]
        check("span trace_id", s[0], trace_hex)
        check("span span_id", s[1], format(server_context.span_id, "016x"))
        check("root span has no parent", s[2], "")
        check("span name", s[3], "GET /product/{id}")
        check("span kind (server)", s[4], "2")
        check("service_name", s[5], "checkout")
        check("status_code (error)", s[6], "2")
        check("status_message", s[7], "database timeout")
        check("session_id", s[8], "sess-interop")
        check("user_id", s[9], "user-interop")
        check("http_route", s[10], "/product/{id}")
        check("http_method", s[11], "GET")
        check("http_status_code", s[12], "500")
        check("scope_name", s[13], "interop.tracer")
        check("scope_version", s[14], "0.9")
        check("resource service.version", s[15], "3.1.4")
        check("array attribute", s[16], "[1, 2, 3]")
        check("double attribute", s[17], "0.5")
        check("span event name", s[18], "cache.miss")
        check("span event attribute", s[19], "p-42")
        check("duration positive", s[20], "t")

    child_row = psql(url, f"""
        SELECT encode(parent_span_id, 'hex'), kind, name FROM lake.spans
        WHERE span_id = decode('{format(child_context.span_id, '016x')}', 'hex')""")
    check("child span links to its parent", child_row,
          [[format(server_context.span_id, "016x"), "3", "SELECT products"]])

    log_rows = psql(url, """
        SELECT encode(trace_id, 'hex'), encode(span_id, 'hex'), event_name, severity_number, severity_text, body,
               flag_key, flag_variant, flag_context_id, service_name, scope_name,
               (extract(epoch FROM time) * 1000000)::bigint
        FROM lake.logs""")
    if log_rows:
        r = log_rows[0]
        check("log trace_id", r[0], trace_hex)
        check("log span_id", r[1], format(server_context.span_id, "016x"))
        check("event_name", r[2], "feature_flag.evaluation")
        check("severity_number", r[3], "9")
        check("severity_text", r[4], "INFO")
        check("body", r[5], "flag evaluated")
        check("flag_key", r[6], "reco-v2")
        check("flag_variant", r[7], "treatment")
        check("flag_context_id", r[8], "user-interop")
        check("log service_name", r[9], "checkout")
        check("log scope_name", r[10], "interop.flags")
        check("log time to the microsecond", r[11], str(flag_time // 1000))


if __name__ == "__main__":
    main()
