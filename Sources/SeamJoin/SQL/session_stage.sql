-- The session stage: lake.sessions recomputed for the claimed session ids; a session with
-- neither events nor traces any more is deleted. The last statement counts the changed
-- sessions. :session_rows is session_rows.sql over session_claimed_events.sql and
-- session_claimed_traces.sql; :sessions is session_claimed.sql. :per_key is OFFSET 0 for a
-- claim whose keys are looked up one by one, empty for a backlog claim joined whole
-- (Lookups.swift; in psql \set per_key 'OFFSET 0').
CREATE TEMP TABLE IF NOT EXISTS join_new_sessions (LIKE lake.sessions) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS join_changed_sessions (session_id text, existed boolean) ON COMMIT DELETE ROWS;

INSERT INTO join_new_sessions (session_id, derived, user_id, anonymous_id, started_at, ended_at,
                               duration_seconds, event_count, page_views, product_views, add_to_basket,
                               purchases, revenue, first_page, last_page, trace_count, server_errors,
                               server_duration_p95_ms, converted, updated_at, resolved_user_id)
:session_rows;

INSERT INTO join_changed_sessions
SELECT k.session_id, o.session_id IS NOT NULL FROM (:sessions) AS k
LEFT JOIN LATERAL (SELECT * FROM lake.sessions o WHERE o.session_id = k.session_id :per_key) AS o ON true
LEFT JOIN join_new_sessions n ON n.session_id = k.session_id
WHERE (o.session_id, o.derived, o.user_id, o.anonymous_id, o.started_at, o.ended_at, o.duration_seconds,
      o.event_count, o.page_views, o.product_views, o.add_to_basket, o.purchases, o.revenue, o.first_page,
      o.last_page, o.trace_count, o.server_errors, o.server_duration_p95_ms, o.converted, o.resolved_user_id) IS DISTINCT FROM
      (n.session_id, n.derived, n.user_id, n.anonymous_id, n.started_at, n.ended_at, n.duration_seconds,
      n.event_count, n.page_views, n.product_views, n.add_to_basket, n.purchases, n.revenue, n.first_page,
      n.last_page, n.trace_count, n.server_errors, n.server_duration_p95_ms, n.converted, n.resolved_user_id);

DELETE FROM lake.sessions WHERE session_id = ANY(ARRAY(SELECT session_id FROM join_changed_sessions WHERE existed));
INSERT INTO lake.sessions (session_id, derived, user_id, anonymous_id, started_at, ended_at,
                               duration_seconds, event_count, page_views, product_views, add_to_basket,
                               purchases, revenue, first_page, last_page, trace_count, server_errors,
                               server_duration_p95_ms, converted, updated_at, resolved_user_id)
SELECT n.session_id, n.derived, n.user_id, n.anonymous_id, n.started_at, n.ended_at, n.duration_seconds,
       n.event_count, n.page_views, n.product_views, n.add_to_basket, n.purchases, n.revenue, n.first_page,
       n.last_page, n.trace_count, n.server_errors, n.server_duration_p95_ms, n.converted, n.updated_at, n.resolved_user_id
FROM join_new_sessions n JOIN join_changed_sessions c USING (session_id);

SELECT count(*) FROM join_changed_sessions;
