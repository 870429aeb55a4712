-- Carries changed traces to the event facts of the event buckets this transaction holds
-- (:'buckets'), in place: trace columns rewritten, or the event queued when its session
-- resolution changes (or it is older than :'horizon': the claim reports it). Their
-- sessions are queued, since a session also reads the times of the traces its events
-- name. :traces selects trace_id and forced. The last statement counts the rewritten rows.
CREATE TEMP TABLE IF NOT EXISTS join_dependents (
    event_id uuid PRIMARY KEY, bucket integer, visitor text, session_id text, at timestamptz,
    forced boolean, recompute boolean, trace_known boolean, trace_root_service text, trace_root_route text,
    trace_duration_ms double precision, trace_span_count integer, trace_error boolean
) ON COMMIT DELETE ROWS;

INSERT INTO join_dependents
SELECT f.event_id, seam_meta.join_bucket(coalesce(f.anonymous_id, f.user_id, f.event_id::text)),
       coalesce(f.anonymous_id, f.user_id), f.session_id, f.occurred_at, c.forced,
       CASE f.session_source WHEN 'client' THEN false
                             WHEN 'trace' THEN f.session_id IS DISTINCT FROM t.session_id
                             ELSE t.session_id IS NOT NULL END
       OR (NOT c.forced AND f.occurred_at < now() - :'horizon'::interval),
       t.trace_id IS NOT NULL AS trace_known, t.root_service AS trace_root_service, t.root_route AS trace_root_route,
       t.duration_ms AS trace_duration_ms, t.span_count AS trace_span_count, t.error_count > 0 AS trace_error
FROM (:traces) AS c
CROSS JOIN LATERAL (
    SELECT event_id, anonymous_id, user_id, session_id, session_source, occurred_at
    FROM lake.event_facts f WHERE f.trace_id = c.trace_id OFFSET 0
) AS f
LEFT JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.trace_id = c.trace_id OFFSET 0) AS t ON true
WHERE seam_meta.join_bucket(coalesce(f.anonymous_id, f.user_id, f.event_id::text)) = ANY(:'buckets'::int[])
ON CONFLICT (event_id) DO NOTHING;

ANALYZE join_dependents (event_id, session_id);

INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
SELECT seam_meta.join_kind('event'), bucket, event_id, visitor, at, forced FROM join_dependents WHERE recompute
UNION ALL
SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(session_id), NULL, session_id, min(at), bool_or(forced)
FROM join_dependents WHERE NOT recompute AND session_id IS NOT NULL GROUP BY session_id;

-- `= ANY(ARRAY(…))` reaches the rows through the primary key: joined to the temporary
-- table alone, the planner hashes it and reads the whole table.
WITH updated AS (
    UPDATE lake.event_facts f
    SET trace_known = d.trace_known, trace_root_service = d.trace_root_service, trace_root_route = d.trace_root_route,
        trace_duration_ms = d.trace_duration_ms, trace_span_count = d.trace_span_count, trace_error = d.trace_error,
        updated_at = clock_timestamp()
    FROM join_dependents d
    WHERE f.event_id = d.event_id AND NOT d.recompute
      AND f.event_id = ANY(ARRAY(SELECT event_id FROM join_dependents WHERE NOT recompute))
      AND (f.trace_known, f.trace_root_service, f.trace_root_route, f.trace_duration_ms, f.trace_span_count, f.trace_error)
          IS DISTINCT FROM (d.trace_known, d.trace_root_service, d.trace_root_route, d.trace_duration_ms, d.trace_span_count, d.trace_error)
    RETURNING 1
)
SELECT count(*) FROM updated;
