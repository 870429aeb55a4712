-- The traces naming the claimed sessions (:sessions is session_claimed.sql), and those
-- their events (ev) name: most are both, so only the events' traces not already found by
-- session are looked up one by one (:per_key OFFSET 0), or joined for a backlog claim
-- (:per_key empty; Lookups.swift). For session_rows.sql.
WITH named AS MATERIALIZED (
    SELECT j.session_id, t.trace_id, t.start_time, t.end_time, t.duration_ms, t.error_count, t.user_id FROM (:sessions) AS j
    CROSS JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.session_id = j.session_id :per_key) AS t
)
SELECT * FROM named
UNION
SELECT e.session_id, t.trace_id, t.start_time, t.end_time, t.duration_ms, t.error_count, t.user_id FROM ev e
CROSS JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.trace_id = e.trace_id :per_key) AS t
WHERE e.trace_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM named n WHERE n.session_id = e.session_id AND n.trace_id = e.trace_id)
