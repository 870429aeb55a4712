-- The event stage of a backlog claim into an empty lake.event_facts (a first start over an
-- imported lake, a join that starts from nothing), instead of event_stage.sql:
-- IndexRebuild.intoEmpty dropped the table's indexes under its exclusive lock and then
-- found no row, so every recomputed event is new and no stored row can differ or go. The
-- rows go straight into the bare table, and the changed events are the rows written: no
-- copy in a temporary table and no comparison with old rows, which cost 5.4 s of a
-- million-event catch-up (docs/benchmarks.md, "Join catch-up into empty tables"). Then
-- event_stage_end.sql, which builds the indexes again. :event_fact_rows is as in
-- event_stage.sql.
CREATE TEMP TABLE IF NOT EXISTS join_changed_events (
    event_id uuid, old_session text, new_session text, at timestamptz, forced boolean, existed boolean
) ON COMMIT DELETE ROWS;

INSERT INTO lake.event_facts (event_id, name, occurred_at, received_at, session_id, session_source,
                             anonymous_id, user_id, trace_id, page_url, page_path, properties, revenue,
                             trace_known, trace_root_service, trace_root_route, trace_duration_ms,
                             trace_span_count, trace_error, variants, updated_at, resolved_user_id)
:event_fact_rows;

-- Every row of the table is one just written (it was empty, and no one else writes to it
-- until this transaction ends): read back, the rows cost 0.8-1 s less a million than
-- returned by the insert.
INSERT INTO join_changed_events
SELECT event_id, NULL, session_id, occurred_at, coalesce((SELECT bool_or(forced) FROM join_claim), false), false
FROM lake.event_facts;
