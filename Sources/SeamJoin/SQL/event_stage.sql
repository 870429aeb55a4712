-- The event stage: lake.event_facts recomputed for the claimed tag events (with the other
-- session-less events of their visitors that day), rows rewritten only where they changed;
-- then event_stage_end.sql queues the sessions the events belonged to before and after.
-- :event_fact_rows is event_fact_rows.sql over event_claimed_events.sql. :per_key is
-- OFFSET 0 for a claim whose keys are looked up one by one, empty for a backlog claim
-- joined whole (Lookups.swift; in psql \set per_key 'OFFSET 0'). :'rebuild' is true for a
-- backlog claim, which may rebuild the table's indexes rather than maintain them, waiting
-- at most :'lock_timeout_ms' for the table (migration 0019; in psql \set rebuild false,
-- \set lock_timeout_ms 0). A backlog claim into an empty table takes
-- event_stage_into_empty.sql instead of this file.
CREATE TEMP TABLE IF NOT EXISTS join_facts (LIKE lake.event_facts) ON COMMIT DELETE ROWS;

INSERT INTO join_facts (event_id, name, occurred_at, received_at, session_id, session_source,
                             anonymous_id, user_id, trace_id, page_url, page_path, properties, revenue,
                             trace_known, trace_root_service, trace_root_route, trace_duration_ms,
                             trace_span_count, trace_error, variants, updated_at, resolved_user_id)
:event_fact_rows;

CREATE TEMP TABLE IF NOT EXISTS join_changed_events (
    event_id uuid, old_session text, new_session text, at timestamptz, forced boolean, existed boolean
) ON COMMIT DELETE ROWS;

-- From here to the insert, the temporary tables meet by hash joins: without statistics on
-- them the planner took merge joins, whose sorts spilled to disk. With the statement below
-- driven by the new rows, at a million-event catch-up it took 1.2-1.4 s instead of 3.9 and
-- the insert 3.5-3.8 s instead of 5.2 (docs/benchmarks.md, "Join catch-up: the stages' own
-- work").
SET LOCAL enable_mergejoin = off;
-- The changed events: first the recomputed ones whose row is new or differs from the stored
-- one, forced when any claimed item was (their own claim included); then the claimed ones
-- left without a row (their raw event is gone), whose stored rows go. Driven by the new rows,
-- where it grouped the claim and the new rows together by event id first (2 million rows at
-- a million-event catch-up, for the forced flag that is the same for every recomputed event).
INSERT INTO join_changed_events
SELECT n.event_id, o.session_id, n.session_id, n.occurred_at, coalesce((SELECT bool_or(forced) FROM join_claim), false),
       o.event_id IS NOT NULL
FROM join_facts n
LEFT JOIN LATERAL (SELECT * FROM lake.event_facts o WHERE o.event_id = n.event_id :per_key) AS o ON true
WHERE (o.event_id, o.name, o.occurred_at, o.received_at, o.session_id, o.session_source, o.anonymous_id,
      o.user_id, o.trace_id, o.page_url, o.page_path, o.properties, o.revenue, o.trace_known,
      o.trace_root_service, o.trace_root_route, o.trace_duration_ms, o.trace_span_count, o.trace_error,
      o.variants, o.resolved_user_id) IS DISTINCT FROM (n.event_id, n.name, n.occurred_at, n.received_at, n.session_id,
      n.session_source, n.anonymous_id, n.user_id, n.trace_id, n.page_url, n.page_path, n.properties,
      n.revenue, n.trace_known, n.trace_root_service, n.trace_root_route, n.trace_duration_ms,
      n.trace_span_count, n.trace_error, n.variants, n.resolved_user_id)
UNION ALL
SELECT k.event_id, o.session_id, NULL, o.occurred_at, k.forced, true
FROM (SELECT event_id, bool_or(forced) AS forced FROM join_claim c
      WHERE NOT EXISTS (SELECT 1 FROM join_facts n WHERE n.event_id = c.event_id)
      GROUP BY event_id) AS k
CROSS JOIN LATERAL (SELECT * FROM lake.event_facts o WHERE o.event_id = k.event_id :per_key) AS o;

-- A backlog claim adding at least half as many rows as the table holds (the table is mostly
-- missing: the first start over an imported lake, a catch-up from empty) drops the table's
-- indexes here and builds them again at the end (migration 0019): a million rows took 27 s
-- through eight indexes, against 10-14 s written bare and indexed after (docs/benchmarks.md,
-- "Join catch-up: indexes rebuilt").
SELECT seam_meta.join_suspend_indexes('lake.event_facts', count(*), :'lock_timeout_ms'::integer)
FROM join_changed_events WHERE :'rebuild'::boolean HAVING count(*) > 0;

DELETE FROM lake.event_facts WHERE event_id = ANY(ARRAY(SELECT event_id FROM join_changed_events WHERE existed));
-- In session order: four of the table's eight indexes lead with a session's or a visitor's
-- id and two with a time, and rows inserted in that order touch each of their pages once
-- rather than at random. A million rows inserted in event id order took 20 s, in session
-- order 11.6 s (the indexes were twice the size of shared_buffers; docs/benchmarks.md,
-- "Backlog claims"). Without indexes (dropped above) the order buys nothing and its sort
-- cost 1.5 s a million rows: the second branch takes the rows as they are instead. (Each
-- branch's test is a one-time filter: the other branch reads nothing.)
INSERT INTO lake.event_facts (event_id, name, occurred_at, received_at, session_id, session_source,
                             anonymous_id, user_id, trace_id, page_url, page_path, properties, revenue,
                             trace_known, trace_root_service, trace_root_route, trace_duration_ms,
                             trace_span_count, trace_error, variants, updated_at, resolved_user_id)
SELECT n.event_id, n.name, n.occurred_at, n.received_at, n.session_id, n.session_source, n.anonymous_id,
       n.user_id, n.trace_id, n.page_url, n.page_path, n.properties, n.revenue, n.trace_known,
       n.trace_root_service, n.trace_root_route, n.trace_duration_ms, n.trace_span_count, n.trace_error,
       n.variants, n.updated_at, n.resolved_user_id
FROM ((SELECT n.* FROM join_facts n JOIN join_changed_events c USING (event_id)
       WHERE NOT EXISTS (SELECT 1 FROM seam_meta.join_suspended_indexes WHERE table_name = 'lake.event_facts'::regclass)
       ORDER BY n.session_id, n.occurred_at)
      UNION ALL
      (SELECT n.* FROM join_facts n JOIN join_changed_events c USING (event_id)
       WHERE EXISTS (SELECT 1 FROM seam_meta.join_suspended_indexes WHERE table_name = 'lake.event_facts'::regclass))) AS n;
SET LOCAL enable_mergejoin TO DEFAULT;
