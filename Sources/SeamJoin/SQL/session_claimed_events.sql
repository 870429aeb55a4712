-- The event facts of the claimed sessions (:sessions is session_claimed.sql): one index
-- lookup per session with :per_key OFFSET 0 (a hash join would read the whole table for
-- every batch), a join for a backlog claim (:per_key empty; Lookups.swift). For session_rows.sql.
SELECT f.* FROM (:sessions) AS j
CROSS JOIN LATERAL (
    SELECT f.event_id, f.name, f.occurred_at, f.session_id, f.session_source, f.anonymous_id, f.user_id,
           f.trace_id, f.page_url, f.page_path, f.revenue, f.resolved_user_id
    FROM lake.event_facts f WHERE f.session_id = j.session_id :per_key
) AS f
