-- The trace stage of a backlog claim into an empty lake.traces, instead of trace_stage.sql:
-- as event_stage_into_empty.sql, the rows go straight into the bare table and the changed
-- traces are the rows written, each new (facts changed, no old session). Then
-- trace_stage_end.sql, which builds the indexes again. :trace_rows is as in trace_stage.sql.
CREATE TEMP TABLE IF NOT EXISTS join_changed_traces (
    trace_id bytea, old_session text, new_session text, at timestamptz, forced boolean, facts_changed boolean,
    existed boolean
) ON COMMIT DELETE ROWS;

INSERT INTO lake.traces (trace_id, root_known, root_span_id, root_service, root_name, root_route,
                         root_http_status, start_time, end_time, duration_ms, span_count, error_count,
                         services, session_id, user_id, first_seen, last_seen, updated_at)
:trace_rows;

-- Every row of the table is one just written (as in event_stage_into_empty.sql).
INSERT INTO join_changed_traces
SELECT t.trace_id, NULL, t.session_id, t.start_time, f.trace_id IS NOT NULL, true, false
FROM lake.traces t LEFT JOIN (SELECT DISTINCT trace_id FROM join_claim WHERE forced) AS f ON f.trace_id = t.trace_id;
