-- The join service: derived tables (traces, exposures, event_facts, sessions), the work
-- queue that raw inserts feed, and the indexes its lookups need.
--
-- How change capture works (see Sources/SeamJoin/JoinWorker.swift for the full argument):
-- statement-level AFTER INSERT triggers on the raw tables write the keys each statement
-- touched into seam_meta.join_queue, in the same transaction as the raw rows. A key is
-- therefore visible to the join worker exactly when the rows that dirtied it are, whatever
-- order transactions commit in; there is no id cursor that could skip a late commit.
-- Workers claim queue items per (stage, bucket) under transaction-scoped advisory locks.

-- ---------------------------------------------------------------------------------------
-- Derived tables. Not partitioned: each has a single-column natural key (a trace, an
-- experiment x unit, an event, a session) so one row per key is enforced by PostgreSQL,
-- and each key is the column a Citus cluster would distribute it by.

CREATE TABLE lake.traces (
    trace_id          bytea       PRIMARY KEY CHECK (octet_length(trace_id) = 16),
    root_known        boolean     NOT NULL,
    root_span_id      bytea,
    root_service      text,
    root_name         text,
    root_route        text,
    root_http_status  integer,
    start_time        timestamptz NOT NULL,
    end_time          timestamptz NOT NULL,
    duration_ms       double precision NOT NULL,
    span_count        integer     NOT NULL,
    error_count       integer     NOT NULL,
    services          text[]      NOT NULL,
    session_id        text,
    user_id           text,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX traces_session_idx ON lake.traces (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX traces_start_idx ON lake.traces (start_time);

COMMENT ON TABLE lake.traces IS 'One row per trace, derived from lake.spans by the join service. Recomputed whenever a span of the trace arrives, so a late span updates it; a trace whose root span has not (yet) arrived has root_known = false. Spans are gathered within one day either side of the span that triggered the recomputation: traces longer than a day are not supported.';
COMMENT ON COLUMN lake.traces.trace_id IS 'Trace id, 16 bytes: WHERE trace_id = decode(''<32 hex digits>'', ''hex'').';
COMMENT ON COLUMN lake.traces.root_known IS 'True when a span without a parent (the root) has arrived; the root_* columns are NULL otherwise.';
COMMENT ON COLUMN lake.traces.root_span_id IS 'Span id of the root span (the earliest one when a trace has several parentless spans).';
COMMENT ON COLUMN lake.traces.root_service IS 'service.name of the root span: the service that received the request.';
COMMENT ON COLUMN lake.traces.root_name IS 'Name of the root span, e.g. "GET /product/{id}".';
COMMENT ON COLUMN lake.traces.root_route IS 'http.route of the root span (route template); NULL for non-HTTP roots.';
COMMENT ON COLUMN lake.traces.root_http_status IS 'HTTP response status code of the root span; NULL when absent.';
COMMENT ON COLUMN lake.traces.start_time IS 'Earliest span start in the trace (UTC).';
COMMENT ON COLUMN lake.traces.end_time IS 'Latest span end in the trace (UTC).';
COMMENT ON COLUMN lake.traces.duration_ms IS 'end_time - start_time in milliseconds: the server-side duration of the whole trace.';
COMMENT ON COLUMN lake.traces.span_count IS 'Number of spans stored for the trace.';
COMMENT ON COLUMN lake.traces.error_count IS 'Number of spans with status code 2 (error).';
COMMENT ON COLUMN lake.traces.services IS 'Distinct service.name values of the trace''s spans, sorted.';
COMMENT ON COLUMN lake.traces.session_id IS 'session.id found on the trace''s spans (the earliest span carrying one); NULL when none does.';
COMMENT ON COLUMN lake.traces.user_id IS 'enduser.id found on the trace''s spans (the earliest span carrying one); NULL when none does.';
COMMENT ON COLUMN lake.traces.first_seen IS 'When Seam first acknowledged a span of the trace (earliest received_at). Arrival metadata: differs between loads of the same data.';
COMMENT ON COLUMN lake.traces.last_seen IS 'When Seam last acknowledged a span of the trace (latest received_at). Arrival metadata.';
COMMENT ON COLUMN lake.traces.updated_at IS 'When the join service last recomputed this row.';

CREATE TABLE lake.exposures (
    experiment_key     text        NOT NULL,
    unit_id            text        NOT NULL,
    unit_type          text        NOT NULL CHECK (unit_type IN ('context', 'user', 'session')),
    variant            text        NOT NULL,
    first_exposed_at   timestamptz NOT NULL,
    last_exposed_at    timestamptz NOT NULL,
    session_id         text,
    trace_id           bytea,
    user_id            text,
    evaluation_count   integer     NOT NULL,
    variants           text[]      NOT NULL,
    multiple_variants  boolean     NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_key, unit_id)
);
CREATE INDEX exposures_unit_idx ON lake.exposures (unit_id);
CREATE INDEX exposures_first_idx ON lake.exposures (experiment_key, first_exposed_at);

COMMENT ON TABLE lake.exposures IS 'One row per experiment x unit, derived from feature_flag.evaluation log records (lake.logs rows with flag_key and flag_variant). The unit is feature_flag.context.id, else the record''s user id, else its session id (unit_type says which). Attribution is to the first exposure.';
COMMENT ON COLUMN lake.exposures.experiment_key IS 'feature_flag.key: the experiment (or flag) key.';
COMMENT ON COLUMN lake.exposures.unit_id IS 'The randomization unit: feature_flag.context.id, else enduser.id, else session.id of the evaluation record.';
COMMENT ON COLUMN lake.exposures.unit_type IS 'Where unit_id came from: context (feature_flag.context.id), user (enduser.id) or session (session.id), as on the first exposure.';
COMMENT ON COLUMN lake.exposures.variant IS 'Variant served at the first exposure (feature_flag.result.variant, or the older feature_flag.variant).';
COMMENT ON COLUMN lake.exposures.first_exposed_at IS 'Time of the earliest evaluation record for this unit (UTC); ties broken by the record''s content digest.';
COMMENT ON COLUMN lake.exposures.last_exposed_at IS 'Time of the latest evaluation record for this unit (UTC).';
COMMENT ON COLUMN lake.exposures.session_id IS 'session.id of the first exposure record; NULL when absent.';
COMMENT ON COLUMN lake.exposures.trace_id IS 'Trace of the first exposure record (the request that evaluated the flag), 16 bytes; NULL when absent.';
COMMENT ON COLUMN lake.exposures.user_id IS 'enduser.id of the first exposure record; NULL when absent.';
COMMENT ON COLUMN lake.exposures.evaluation_count IS 'Number of evaluation records for this experiment and unit.';
COMMENT ON COLUMN lake.exposures.variants IS 'Every distinct variant this unit was served, sorted.';
COMMENT ON COLUMN lake.exposures.multiple_variants IS 'True when the unit was served more than one variant: a bucketing bug or a changed allocation; most analyses exclude such units.';
COMMENT ON COLUMN lake.exposures.updated_at IS 'When the join service last recomputed this row.';

CREATE TABLE lake.event_facts (
    event_id            uuid        PRIMARY KEY,
    name                text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    session_id          text,
    session_source      text        CHECK (session_source IN ('client', 'trace', 'derived')),
    anonymous_id        text,
    user_id             text,
    trace_id            bytea,
    page_url            text,
    page_path           text,
    properties          jsonb       NOT NULL,
    revenue             numeric,
    trace_known         boolean     NOT NULL,
    trace_root_service  text,
    trace_root_route    text,
    trace_duration_ms   double precision,
    trace_span_count    integer,
    trace_error         boolean,
    variants            jsonb       NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_facts_session_idx ON lake.event_facts (session_id, occurred_at);
CREATE INDEX event_facts_trace_idx ON lake.event_facts (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX event_facts_time_idx ON lake.event_facts (occurred_at);
CREATE INDEX event_facts_user_idx ON lake.event_facts (user_id, occurred_at) WHERE user_id IS NOT NULL;

COMMENT ON TABLE lake.event_facts IS 'One row per tag event, joined: the event''s own fields, the facts of its trace when the trace has arrived (updated when it arrives later), the resolved session, and the experiment variants its unit had been exposed to at or before the event.';
COMMENT ON COLUMN lake.event_facts.event_id IS 'The event''s id (lake.tag_events.event_id).';
COMMENT ON COLUMN lake.event_facts.name IS 'Event name: page_view, product_view, add_to_basket, purchase, ...';
COMMENT ON COLUMN lake.event_facts.occurred_at IS 'When the event happened, skew-corrected (see lake.tag_events.occurred_at). UTC.';
COMMENT ON COLUMN lake.event_facts.received_at IS 'When Seam received the event. Arrival metadata.';
COMMENT ON COLUMN lake.event_facts.session_id IS 'Resolved session: the client''s session_id, else the session.id of the event''s trace, else a derived id (see session_source). Derived ids look like derived:<visitor>:<start as YYYYMMDDTHHMMSS.ffffff> and are not the client''s.';
COMMENT ON COLUMN lake.event_facts.session_source IS 'Where session_id came from: client (sent with the event), trace (session.id on the event''s trace), derived (Seam sessionized the visitor''s events: a new session after the configured inactivity timeout, default 30 minutes, or at midnight UTC). NULL when the event has no session and no visitor id.';
COMMENT ON COLUMN lake.event_facts.anonymous_id IS 'Anonymous visitor id sent with the event.';
COMMENT ON COLUMN lake.event_facts.user_id IS 'Logged-in user id sent with the event.';
COMMENT ON COLUMN lake.event_facts.trace_id IS 'Trace of the server request that rendered the page, 16 bytes; NULL when not sent.';
COMMENT ON COLUMN lake.event_facts.page_url IS 'Full page URL.';
COMMENT ON COLUMN lake.event_facts.page_path IS 'Path part of the page URL.';
COMMENT ON COLUMN lake.event_facts.properties IS 'The event''s free properties (JSON object).';
COMMENT ON COLUMN lake.event_facts.revenue IS 'properties.revenue, else properties.value, as a number, for purchase events; NULL for other events or when absent or not numeric. Currency is whatever the client sent in properties.currency.';
COMMENT ON COLUMN lake.event_facts.trace_known IS 'True when the event names a trace and that trace has arrived; the trace_* columns are NULL otherwise.';
COMMENT ON COLUMN lake.event_facts.trace_root_service IS 'Root service of the event''s trace (lake.traces.root_service).';
COMMENT ON COLUMN lake.event_facts.trace_root_route IS 'Root http.route of the event''s trace.';
COMMENT ON COLUMN lake.event_facts.trace_duration_ms IS 'Server duration of the event''s trace in milliseconds (lake.traces.duration_ms).';
COMMENT ON COLUMN lake.event_facts.trace_span_count IS 'Number of spans in the event''s trace.';
COMMENT ON COLUMN lake.event_facts.trace_error IS 'True when any span of the event''s trace has status error.';
COMMENT ON COLUMN lake.event_facts.variants IS 'Experiments the event''s unit had been exposed to at or before occurred_at, as {"experiment_key": "variant"} (the first-exposure variant). The unit is matched on the event''s user_id, anonymous_id or client session_id; when several match one experiment, the earliest exposure wins.';
COMMENT ON COLUMN lake.event_facts.updated_at IS 'When the join service last recomputed this row.';

CREATE TABLE lake.sessions (
    session_id              text        PRIMARY KEY,
    derived                 boolean     NOT NULL,
    user_id                 text,
    anonymous_id            text,
    started_at              timestamptz NOT NULL,
    ended_at                timestamptz NOT NULL,
    duration_seconds        double precision NOT NULL,
    event_count             integer     NOT NULL,
    page_views              integer     NOT NULL,
    product_views           integer     NOT NULL,
    add_to_basket           integer     NOT NULL,
    purchases               integer     NOT NULL,
    revenue                 numeric     NOT NULL,
    first_page              text,
    last_page               text,
    trace_count             integer     NOT NULL,
    server_errors           integer     NOT NULL,
    server_duration_p95_ms  double precision,
    converted               boolean     NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_start_idx ON lake.sessions (started_at);
CREATE INDEX sessions_user_idx ON lake.sessions (user_id) WHERE user_id IS NOT NULL;

COMMENT ON TABLE lake.sessions IS 'One row per session: the tag events of lake.event_facts grouped by their resolved session_id, plus the traces carrying that session.id or named by its events.';
COMMENT ON COLUMN lake.sessions.session_id IS 'Session id: the client''s, or (derived = true) one Seam derived from the visitor''s events after an inactivity timeout, which is not the client''s.';
COMMENT ON COLUMN lake.sessions.derived IS 'True when session_id was derived by Seam (prefix derived:), not sent by the client or found on a trace.';
COMMENT ON COLUMN lake.sessions.user_id IS 'User id of the session''s latest event that carries one (a visitor may log in mid-session); else the user id on its traces.';
COMMENT ON COLUMN lake.sessions.anonymous_id IS 'Anonymous id of the session''s earliest event that carries one.';
COMMENT ON COLUMN lake.sessions.started_at IS 'Earliest event or trace start of the session (UTC).';
COMMENT ON COLUMN lake.sessions.ended_at IS 'Latest event or trace end of the session (UTC).';
COMMENT ON COLUMN lake.sessions.duration_seconds IS 'ended_at - started_at in seconds.';
COMMENT ON COLUMN lake.sessions.event_count IS 'Tag events in the session.';
COMMENT ON COLUMN lake.sessions.page_views IS 'page_view events.';
COMMENT ON COLUMN lake.sessions.product_views IS 'product_view (product detail page) events.';
COMMENT ON COLUMN lake.sessions.add_to_basket IS 'add_to_basket events.';
COMMENT ON COLUMN lake.sessions.purchases IS 'purchase events.';
COMMENT ON COLUMN lake.sessions.revenue IS 'Sum of lake.event_facts.revenue of the session''s purchases; 0 when none (currency as sent by the client).';
COMMENT ON COLUMN lake.sessions.first_page IS 'page_path (else page_url) of the earliest page_view.';
COMMENT ON COLUMN lake.sessions.last_page IS 'page_path (else page_url) of the latest page_view.';
COMMENT ON COLUMN lake.sessions.trace_count IS 'Distinct traces of the session: traces whose spans carry the session id, and traces named by its events.';
COMMENT ON COLUMN lake.sessions.server_errors IS 'Traces of the session with at least one error span.';
COMMENT ON COLUMN lake.sessions.server_duration_p95_ms IS '95th percentile (continuous) of the duration_ms of the session''s traces; NULL without traces.';
COMMENT ON COLUMN lake.sessions.converted IS 'True when the session has at least one purchase.';
COMMENT ON COLUMN lake.sessions.updated_at IS 'When the join service last recomputed this row.';

-- Revenue of a purchase event's properties: revenue, else value, when numeric.
CREATE FUNCTION lake.event_revenue(properties jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric
        WHEN jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\s*$' THEN (v #>> '{}')::numeric
    END
    FROM (SELECT coalesce(properties -> 'revenue', properties -> 'value') AS v) AS p
$$;
COMMENT ON FUNCTION lake.event_revenue(jsonb) IS 'properties.revenue, else properties.value, as numeric when it is a JSON number or a numeric string; NULL otherwise. Never raises.';

-- ---------------------------------------------------------------------------------------
-- Indexes the join's lookups need on the raw tables.
CREATE INDEX tag_events_user_idx ON lake.tag_events (user_id, occurred_at) WHERE user_id IS NOT NULL;
CREATE INDEX tag_events_visitor_idx ON lake.tag_events ((coalesce(anonymous_id, user_id)), occurred_at) WHERE session_id IS NULL;
CREATE INDEX tag_events_anonymous_idx ON lake.tag_events (anonymous_id, occurred_at) WHERE anonymous_id IS NOT NULL;
CREATE INDEX logs_flag_unit_idx ON lake.logs (flag_key, (coalesce(flag_context_id, user_id, session_id)))
    WHERE flag_key IS NOT NULL AND flag_variant IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- The work queue.
CREATE TABLE seam_meta.join_queue (
    item_id      bigint      GENERATED ALWAYS AS IDENTITY,
    kind         smallint    NOT NULL,
    bucket       smallint    NOT NULL,
    trace_id     bytea,
    event_id     uuid,
    key1         text,
    key2         text,
    at           timestamptz NOT NULL,
    forced       boolean     NOT NULL DEFAULT false,
    enqueued_at  timestamptz NOT NULL DEFAULT now()
);
-- One index only: every raw insert writes here (each more index costs ingestion about a
-- tenth more). Claims find rows through it and delete them by ctid; taking the other items
-- of the claimed keys scans the held buckets' items; the lag reads min(enqueued_at) from a
-- queue that is short when the join keeps up.
CREATE INDEX join_queue_claim_idx ON seam_meta.join_queue (kind, bucket, item_id);

COMMENT ON TABLE seam_meta.join_queue IS 'Keys the join service must recompute, written by triggers on the raw tables in the same transaction as the raw rows, and by the join stages for what depends on what they changed. Items are deleted by the worker that processes them, in the transaction that writes the result.';
COMMENT ON COLUMN seam_meta.join_queue.item_id IS 'Identity: claims take the oldest items first; the correctness argument does not rely on this order.';
COMMENT ON COLUMN seam_meta.join_queue.kind IS '1 trace (trace_id), 2 exposure (key1 experiment, key2 unit), 3 tag event (event_id, key1 visitor), 5 session (key1), 6 trace changed (trace_id), 7 unit changed (key1 unit).';
COMMENT ON COLUMN seam_meta.join_queue.bucket IS 'Hash bucket 0-15 of the key: workers lock (kind, bucket) pairs, so no two recompute the same key at once.';
COMMENT ON COLUMN seam_meta.join_queue.trace_id IS 'Trace id for kinds 1 and 6.';
COMMENT ON COLUMN seam_meta.join_queue.event_id IS 'Tag event id for kind 3.';
COMMENT ON COLUMN seam_meta.join_queue.key1 IS 'Experiment key (2), visitor id (3), session id (5) or unit id (7).';
COMMENT ON COLUMN seam_meta.join_queue.key2 IS 'Unit id for kind 2.';
COMMENT ON COLUMN seam_meta.join_queue.at IS 'Data time of the item (span start, record time, event time): items older than the join horizon are reported as late, not recomputed, unless forced.';
COMMENT ON COLUMN seam_meta.join_queue.forced IS 'True for items enqueued by seam join rebuild: processed whatever their age.';
COMMENT ON COLUMN seam_meta.join_queue.enqueued_at IS 'Start of the transaction that wrote the rows which dirtied the key: the join lag is measured from it.';

CREATE FUNCTION seam_meta.join_enqueue_spans() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at)
    SELECT 1, get_byte(trace_id, 15) & 15, trace_id, min(start_time) FROM new_rows GROUP BY trace_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION seam_meta.join_enqueue_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, key1, key2, at)
    SELECT 2, hashtext(flag_key || E'\x1f' || unit) & 15, flag_key, unit, min(time)
    FROM (SELECT flag_key, coalesce(flag_context_id, user_id, session_id) AS unit, time
          FROM new_rows WHERE flag_key IS NOT NULL AND flag_variant IS NOT NULL) AS r
    WHERE unit IS NOT NULL
    GROUP BY flag_key, unit;
    RETURN NULL;
END;
$$;

CREATE FUNCTION seam_meta.join_enqueue_tag_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at)
    SELECT 3, hashtext(coalesce(anonymous_id, user_id, event_id::text)) & 15, event_id, coalesce(anonymous_id, user_id), occurred_at
    FROM new_rows;
    RETURN NULL;
END;
$$;

CREATE TRIGGER join_enqueue AFTER INSERT ON lake.spans
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.join_enqueue_spans();
CREATE TRIGGER join_enqueue AFTER INSERT ON lake.logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.join_enqueue_logs();
CREATE TRIGGER join_enqueue AFTER INSERT ON lake.tag_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.join_enqueue_tag_events();

COMMENT ON FUNCTION seam_meta.join_enqueue_spans() IS 'Statement trigger on lake.spans: queues each inserted trace id for the join service.';
COMMENT ON FUNCTION seam_meta.join_enqueue_logs() IS 'Statement trigger on lake.logs: queues each experiment x unit of inserted feature-flag evaluations.';
COMMENT ON FUNCTION seam_meta.join_enqueue_tag_events() IS 'Statement trigger on lake.tag_events: queues each inserted event.';
