-- The trace stage: lake.traces recomputed for the claimed trace ids (join_claim), rows
-- rewritten only where they changed; then trace_stage_end.sql queues the sessions of traces
-- whose facts changed. :trace_rows is trace_rows.sql over trace_claimed_spans.sql. :per_key
-- is OFFSET 0 for a claim whose keys are looked up one by one, empty for a backlog claim
-- joined whole (Lookups.swift; in psql \set per_key 'OFFSET 0'). :'rebuild' is true for a
-- backlog claim, which may rebuild the table's indexes rather than maintain them, waiting
-- at most :'lock_timeout_ms' for the table (migration 0019; in psql \set rebuild false,
-- \set lock_timeout_ms 0). A backlog claim into an empty table takes
-- trace_stage_into_empty.sql instead of this file.
CREATE TEMP TABLE IF NOT EXISTS join_new_traces (LIKE lake.traces) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS join_changed_traces (
    trace_id bytea, old_session text, new_session text, at timestamptz, forced boolean, facts_changed boolean,
    existed boolean
) ON COMMIT DELETE ROWS;

INSERT INTO join_new_traces (trace_id, root_known, root_span_id, root_service, root_name, root_route,
                             root_http_status, start_time, end_time, duration_ms, span_count, error_count,
                             services, session_id, user_id, first_seen, last_seen, updated_at)
:trace_rows;

-- From here to the insert, the temporary tables meet by hash joins, not the merge joins the
-- planner takes without statistics on them (event_stage.sql).
SET LOCAL enable_mergejoin = off;
-- The changed traces: first the recomputed ones whose row is new or differs from the stored
-- one, then the claimed ones left without a row (their spans are gone), whose stored rows go.
-- forced: some claimed item of the trace was. facts_changed: what sessions and tag events
-- read of a trace changed (arrival times alone do not matter to them). Driven by the new
-- rows, as in event_stage.sql, where it grouped the claim by trace id first.
INSERT INTO join_changed_traces
SELECT n.trace_id, o.session_id, n.session_id, n.start_time, f.trace_id IS NOT NULL,
       (o.trace_id, o.root_known, o.root_span_id, o.root_service, o.root_name, o.root_route,
       o.root_http_status, o.start_time, o.end_time, o.duration_ms, o.span_count, o.error_count, o.services,
       o.session_id, o.user_id) IS DISTINCT FROM (n.trace_id, n.root_known, n.root_span_id, n.root_service,
       n.root_name, n.root_route, n.root_http_status, n.start_time, n.end_time, n.duration_ms, n.span_count,
       n.error_count, n.services, n.session_id, n.user_id),
       o.trace_id IS NOT NULL
FROM join_new_traces n
LEFT JOIN LATERAL (SELECT * FROM lake.traces o WHERE o.trace_id = n.trace_id :per_key) AS o ON true
LEFT JOIN (SELECT DISTINCT trace_id FROM join_claim WHERE forced) AS f ON f.trace_id = n.trace_id
WHERE (o.trace_id, o.root_known, o.root_span_id, o.root_service, o.root_name, o.root_route,
      o.root_http_status, o.start_time, o.end_time, o.duration_ms, o.span_count, o.error_count, o.services,
      o.session_id, o.user_id, o.first_seen, o.last_seen) IS DISTINCT FROM (n.trace_id, n.root_known,
      n.root_span_id, n.root_service, n.root_name, n.root_route, n.root_http_status, n.start_time, n.end_time,
      n.duration_ms, n.span_count, n.error_count, n.services, n.session_id, n.user_id, n.first_seen,
      n.last_seen)
UNION ALL
SELECT k.trace_id, o.session_id, NULL, o.start_time, k.forced, true, true
FROM (SELECT trace_id, bool_or(forced) AS forced FROM join_claim c
      WHERE NOT EXISTS (SELECT 1 FROM join_new_traces n WHERE n.trace_id = c.trace_id)
      GROUP BY trace_id) AS k
CROSS JOIN LATERAL (SELECT * FROM lake.traces o WHERE o.trace_id = k.trace_id :per_key) AS o;

-- A backlog claim adding at least half as many rows as the table holds drops its indexes here
-- and builds them again at the end (migration 0019; see event_stage.sql).
SELECT seam_meta.join_suspend_indexes('lake.traces', count(*), :'lock_timeout_ms'::integer)
FROM join_changed_traces WHERE :'rebuild'::boolean HAVING count(*) > 0;

DELETE FROM lake.traces WHERE trace_id = ANY(ARRAY(SELECT trace_id FROM join_changed_traces WHERE existed));
INSERT INTO lake.traces (trace_id, root_known, root_span_id, root_service, root_name, root_route,
                             root_http_status, start_time, end_time, duration_ms, span_count, error_count,
                             services, session_id, user_id, first_seen, last_seen, updated_at)
SELECT n.trace_id, n.root_known, n.root_span_id, n.root_service, n.root_name, n.root_route,
       n.root_http_status, n.start_time, n.end_time, n.duration_ms, n.span_count, n.error_count, n.services,
       n.session_id, n.user_id, n.first_seen, n.last_seen, n.updated_at
FROM join_new_traces n JOIN join_changed_traces c USING (trace_id);
SET LOCAL enable_mergejoin TO DEFAULT;
