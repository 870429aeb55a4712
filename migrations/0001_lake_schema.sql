-- Seam lake schema v1: the raw tables that ingestion writes.
--
-- Conventions (see README "Lake tables"):
--   * every time column is timestamptz; PostgreSQL stores it in UTC with microsecond precision;
--   * trace ids are 16-byte bytea, span ids 8-byte bytea: find a trace by the hex id that
--     OpenTelemetry tools print with  WHERE trace_id = decode('4bf92f3577b34da6a3ce929d0e0e4736', 'hex')
--     and print one with encode(trace_id, 'hex');
--   * tables are range-partitioned by day (UTC) on their event time; partitions are named
--     <table>_pYYYYMMDD and managed by lake.ensure_daily_partitions / lake.drop_expired_partitions;
--   * every unique key contains the partition column (a PostgreSQL rule) and the column a
--     Citus cluster would distribute the table by (trace_id for spans).

CREATE SCHEMA IF NOT EXISTS lake;
COMMENT ON SCHEMA lake IS 'Seam''s data lake: raw telemetry (spans, logs, tag_events, rejected) and the tables derived from it. Stable names; every table and column is commented.';

-- ---------------------------------------------------------------------------------------
CREATE TABLE lake.spans (
    trace_id         bytea       NOT NULL CHECK (octet_length(trace_id) = 16),
    span_id          bytea       NOT NULL CHECK (octet_length(span_id) = 8),
    parent_span_id   bytea       CHECK (octet_length(parent_span_id) = 8),
    trace_state      text,
    name             text        NOT NULL,
    kind             smallint    NOT NULL DEFAULT 0 CHECK (kind BETWEEN 0 AND 5),
    service_name     text,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz NOT NULL,
    duration_ms      double precision GENERATED ALWAYS AS (extract(epoch FROM end_time - start_time) * 1000) STORED,
    status_code      smallint    NOT NULL DEFAULT 0 CHECK (status_code BETWEEN 0 AND 2),
    status_message   text,
    session_id       text,
    user_id          text,
    http_route       text,
    http_method      text,
    http_status_code integer,
    scope_name       text,
    scope_version    text,
    attributes       jsonb       NOT NULL DEFAULT '{}',
    resource         jsonb       NOT NULL DEFAULT '{}',
    events           jsonb       NOT NULL DEFAULT '[]',
    links            jsonb       NOT NULL DEFAULT '[]',
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, span_id, start_time)
) PARTITION BY RANGE (start_time);

CREATE INDEX spans_session_idx ON lake.spans (session_id, start_time) WHERE session_id IS NOT NULL;

COMMENT ON TABLE lake.spans IS 'One row per OpenTelemetry span received over OTLP. Natural key (trace_id, span_id, start_time): a span sent twice is stored once. Partitioned by day (UTC) of start_time.';
COMMENT ON COLUMN lake.spans.trace_id IS 'Trace id, 16 bytes. Find a trace by its hex id: WHERE trace_id = decode(''<32 hex digits>'', ''hex''); print it with encode(trace_id, ''hex'').';
COMMENT ON COLUMN lake.spans.span_id IS 'Span id, 8 bytes; unique within its trace. Hex with encode(span_id, ''hex'').';
COMMENT ON COLUMN lake.spans.parent_span_id IS 'Span id of the parent span, 8 bytes; NULL for a root span.';
COMMENT ON COLUMN lake.spans.trace_state IS 'W3C tracestate header value carried by the span; NULL when empty.';
COMMENT ON COLUMN lake.spans.name IS 'Span name, e.g. "GET /product/{id}".';
COMMENT ON COLUMN lake.spans.kind IS 'OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.';
COMMENT ON COLUMN lake.spans.service_name IS 'service.name resource attribute of the process that emitted the span; NULL when absent.';
COMMENT ON COLUMN lake.spans.start_time IS 'When the span started (UTC, microseconds; OTLP nanoseconds are truncated). Partition column.';
COMMENT ON COLUMN lake.spans.end_time IS 'When the span ended (UTC, microseconds).';
COMMENT ON COLUMN lake.spans.duration_ms IS 'end_time - start_time in milliseconds (computed).';
COMMENT ON COLUMN lake.spans.status_code IS 'OTLP status code: 0 unset, 1 ok, 2 error.';
COMMENT ON COLUMN lake.spans.status_message IS 'Status description set with an error status; NULL when empty.';
COMMENT ON COLUMN lake.spans.session_id IS 'session.id attribute of the span (or its resource); the key that joins spans to tag events. NULL when absent.';
COMMENT ON COLUMN lake.spans.user_id IS 'enduser.id (or user.id) attribute; NULL when absent.';
COMMENT ON COLUMN lake.spans.http_route IS 'http.route attribute: the matched route template, e.g. /product/{id}; NULL for non-HTTP spans.';
COMMENT ON COLUMN lake.spans.http_method IS 'http.request.method (or legacy http.method) attribute; NULL when absent.';
COMMENT ON COLUMN lake.spans.http_status_code IS 'http.response.status_code (or legacy http.status_code) attribute; NULL when absent.';
COMMENT ON COLUMN lake.spans.scope_name IS 'Name of the instrumentation scope (library) that created the span.';
COMMENT ON COLUMN lake.spans.scope_version IS 'Version of the instrumentation scope.';
COMMENT ON COLUMN lake.spans.attributes IS 'All span attributes as a JSON object (key -> value; arrays and maps kept as JSON), including those copied into typed columns.';
COMMENT ON COLUMN lake.spans.resource IS 'Resource attributes of the emitting process as a JSON object (service.name, host.name, ...).';
COMMENT ON COLUMN lake.spans.events IS 'Span events as a JSON array of {"time": RFC 3339, "name": text, "attributes": object}.';
COMMENT ON COLUMN lake.spans.links IS 'Span links as a JSON array of {"trace_id": hex, "span_id": hex, "trace_state": text, "attributes": object}.';
COMMENT ON COLUMN lake.spans.received_at IS 'When Seam acknowledged the request that carried the span (server clock, UTC).';

-- ---------------------------------------------------------------------------------------
CREATE TABLE lake.logs (
    log_id           bytea       NOT NULL CHECK (octet_length(log_id) = 16),
    time             timestamptz NOT NULL,
    observed_time    timestamptz,
    trace_id         bytea       CHECK (octet_length(trace_id) = 16),
    span_id          bytea       CHECK (octet_length(span_id) = 8),
    trace_flags      integer,
    severity_number  smallint    CHECK (severity_number BETWEEN 0 AND 24),
    severity_text    text,
    body             text,
    event_name       text,
    service_name     text,
    session_id       text,
    user_id          text,
    flag_key         text,
    flag_variant     text,
    flag_context_id  text,
    scope_name       text,
    attributes       jsonb       NOT NULL DEFAULT '{}',
    resource         jsonb       NOT NULL DEFAULT '{}',
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_id, time)
) PARTITION BY RANGE (time);

CREATE INDEX logs_trace_idx ON lake.logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_flag_idx ON lake.logs (flag_key, time) WHERE flag_key IS NOT NULL;

COMMENT ON TABLE lake.logs IS 'One row per OpenTelemetry log record received over OTLP, including feature-flag evaluation events. Natural key (log_id, time): a record sent twice is stored once. Partitioned by day (UTC) of time.';
COMMENT ON COLUMN lake.logs.log_id IS 'Content digest (16 bytes) of the record as received: identical records from a client retry get the same id and are stored once.';
COMMENT ON COLUMN lake.logs.time IS 'When the event happened (OTLP time_unix_nano); the observed time when the sender left it unset. UTC. Partition column.';
COMMENT ON COLUMN lake.logs.observed_time IS 'When the collecting SDK or agent observed the record (OTLP observed_time_unix_nano); NULL when unset.';
COMMENT ON COLUMN lake.logs.trace_id IS 'Trace the record belongs to, 16 bytes; NULL outside a trace. Match with decode(''<hex>'', ''hex'').';
COMMENT ON COLUMN lake.logs.span_id IS 'Span the record belongs to, 8 bytes; NULL outside a span.';
COMMENT ON COLUMN lake.logs.trace_flags IS 'W3C trace flags (bit 0: sampled); NULL when unset.';
COMMENT ON COLUMN lake.logs.severity_number IS 'OTLP severity number 1-24 (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL); 0 unspecified.';
COMMENT ON COLUMN lake.logs.severity_text IS 'Severity as the source named it (e.g. "WARNING"); NULL when empty.';
COMMENT ON COLUMN lake.logs.body IS 'The log body: the string itself for string bodies, JSON text for structured bodies; NULL when absent.';
COMMENT ON COLUMN lake.logs.event_name IS 'Event name of an OpenTelemetry event record (e.g. feature_flag.evaluation); NULL for plain log lines.';
COMMENT ON COLUMN lake.logs.service_name IS 'service.name resource attribute of the emitting process; NULL when absent.';
COMMENT ON COLUMN lake.logs.session_id IS 'session.id attribute of the record (or its resource); NULL when absent.';
COMMENT ON COLUMN lake.logs.user_id IS 'enduser.id (or user.id) attribute; NULL when absent.';
COMMENT ON COLUMN lake.logs.flag_key IS 'feature_flag.key attribute of a feature-flag evaluation: the experiment or flag key. NULL for other records.';
COMMENT ON COLUMN lake.logs.flag_variant IS 'feature_flag.result.variant attribute (older SDKs: feature_flag.variant): the variant served. NULL for other records.';
COMMENT ON COLUMN lake.logs.flag_context_id IS 'feature_flag.context.id attribute: the unit (user, device...) the flag was evaluated for. NULL when absent.';
COMMENT ON COLUMN lake.logs.scope_name IS 'Name of the instrumentation scope that emitted the record.';
COMMENT ON COLUMN lake.logs.attributes IS 'All record attributes as a JSON object, including those copied into typed columns.';
COMMENT ON COLUMN lake.logs.resource IS 'Resource attributes of the emitting process as a JSON object.';
COMMENT ON COLUMN lake.logs.received_at IS 'When Seam acknowledged the request that carried the record (server clock, UTC).';

-- ---------------------------------------------------------------------------------------
CREATE TABLE lake.tag_events (
    event_id          uuid        NOT NULL,
    name              text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    client_timestamp  timestamptz,
    sent_at           timestamptz,
    received_at       timestamptz NOT NULL,
    session_id        text,
    anonymous_id      text,
    user_id           text,
    trace_id          bytea       CHECK (octet_length(trace_id) = 16),
    parent_span_id    bytea       CHECK (octet_length(parent_span_id) = 8),
    page_url          text,
    page_path         text,
    page_referrer     text,
    page_title        text,
    properties        jsonb       NOT NULL DEFAULT '{}',
    context           jsonb       NOT NULL DEFAULT '{}',
    source            text,
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX tag_events_session_idx ON lake.tag_events (session_id, occurred_at) WHERE session_id IS NOT NULL;
CREATE INDEX tag_events_trace_idx ON lake.tag_events (trace_id) WHERE trace_id IS NOT NULL;

COMMENT ON TABLE lake.tag_events IS 'One row per tag event posted by a web or app front end (page_view, product_view, add_to_basket, purchase, ...). event_id is unique across the table (enforced through lake.tag_event_ids). Partitioned by day (UTC) of occurred_at.';
COMMENT ON COLUMN lake.tag_events.event_id IS 'UUID the client gave the event; the deduplication key: a retried event is stored once.';
COMMENT ON COLUMN lake.tag_events.name IS 'Event name, e.g. page_view, product_view, add_to_basket, purchase.';
COMMENT ON COLUMN lake.tag_events.occurred_at IS 'When the event happened, corrected for client clock skew: received_at - (sent_at - client_timestamp) when the client sent both times, else client_timestamp, else received_at. UTC. Partition column.';
COMMENT ON COLUMN lake.tag_events.client_timestamp IS 'The event time by the client''s clock, as sent (may be skewed); NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.sent_at IS 'When the client sent the batch, by the client''s clock; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.received_at IS 'When Seam received the batch (server clock, UTC).';
COMMENT ON COLUMN lake.tag_events.session_id IS 'Session id sent by the client; NULL when not sent (the join service then derives one from anonymous_id).';
COMMENT ON COLUMN lake.tag_events.anonymous_id IS 'Anonymous visitor id (cookie or device id); NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.user_id IS 'Logged-in user id; NULL for anonymous visitors.';
COMMENT ON COLUMN lake.tag_events.trace_id IS 'Trace of the server request that rendered the page (from traceparent or trace_id), 16 bytes; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.parent_span_id IS 'Span id from the traceparent the page was rendered under, 8 bytes; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.page_url IS 'Full page URL; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.page_path IS 'Path part of the page URL; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.page_referrer IS 'Referrer URL; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.page_title IS 'Document title; NULL when not sent.';
COMMENT ON COLUMN lake.tag_events.properties IS 'Free event properties as a JSON object (product, category, value, currency, ...).';
COMMENT ON COLUMN lake.tag_events.context IS 'Client context as a JSON object (user agent, locale, screen, ...).';
COMMENT ON COLUMN lake.tag_events.source IS 'Name of the ingestion token the batch came with; NULL when tokens are not configured.';

CREATE TABLE lake.tag_event_ids (
    event_id     uuid        PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE lake.tag_event_ids IS 'Registry of stored tag event ids. A retried event can carry a different sent_at, hence a different occurred_at and partition, so uniqueness of event_id is enforced here rather than by the partitioned table''s key. Rows older than the retention are dropped with the partitions.';
COMMENT ON COLUMN lake.tag_event_ids.event_id IS 'Event id stored in lake.tag_events.';
COMMENT ON COLUMN lake.tag_event_ids.occurred_at IS 'occurred_at of the stored event: where to find it in lake.tag_events.';
COMMENT ON COLUMN lake.tag_event_ids.received_at IS 'When the event was first stored.';

-- ---------------------------------------------------------------------------------------
CREATE TABLE lake.rejected (
    rejected_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    received_at   timestamptz NOT NULL,
    source        text        NOT NULL,
    reason        text        NOT NULL,
    content_type  text,
    record_index  integer,
    payload       bytea       NOT NULL,
    PRIMARY KEY (rejected_id, received_at)
) PARTITION BY RANGE (received_at);

COMMENT ON TABLE lake.rejected IS 'Records Seam acknowledged but could not store, kept with their original payload and the reason, so nothing acknowledged is lost silently. Partitioned by day (UTC) of received_at.';
COMMENT ON COLUMN lake.rejected.rejected_id IS 'Random id of this rejection.';
COMMENT ON COLUMN lake.rejected.received_at IS 'When Seam received the payload (server clock, UTC). Partition column.';
COMMENT ON COLUMN lake.rejected.source IS 'Where the payload came from: traces, logs or events.';
COMMENT ON COLUMN lake.rejected.reason IS 'Why it was not stored, naming the field and the problem.';
COMMENT ON COLUMN lake.rejected.content_type IS 'Content type of the original payload (application/x-protobuf, application/json); NULL when unknown.';
COMMENT ON COLUMN lake.rejected.record_index IS 'Position of the refused record within its request, when one record (not the whole payload) was refused.';
COMMENT ON COLUMN lake.rejected.payload IS 'The original bytes: the whole request body, or the single refused record.';
