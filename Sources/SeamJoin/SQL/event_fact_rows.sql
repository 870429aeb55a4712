-- lake.event_facts rows, in the table's column order, for the tag events that :events
-- selects (lake.tag_events columns; with every session-less event of each visitor and UTC
-- day it includes). The resolved user is lake.event_user's, each id walked once.
-- :trace_join joins each event e to its trace t; :id_probe is OFFSET 0 or empty (see ids);
-- :variants is event_variants.sql over resolved; a derived session ends after
-- :'session_timeout' of silence.
WITH base AS MATERIALIZED (
    SELECT e.event_id, e.name, e.occurred_at, e.received_at, e.session_id, e.anonymous_id, e.user_id, e.trace_id,
           e.page_url, e.page_path, e.properties, coalesce(e.anonymous_id, e.user_id) AS visitor,
           t.trace_id IS NOT NULL AS trace_known, t.root_service AS trace_root_service, t.root_route AS trace_root_route,
           t.duration_ms AS trace_duration_ms, t.span_count AS trace_span_count, t.error_count > 0 AS trace_error, t.session_id AS trace_session
    FROM (:events) AS e
    :trace_join
), starts AS (
    SELECT event_id, visitor, occurred_at, date_trunc('day', occurred_at, 'UTC') AS day,
           CASE WHEN lag(occurred_at) OVER w IS NULL OR occurred_at - lag(occurred_at) OVER w > :'session_timeout'::interval
                THEN 1 ELSE 0 END AS starts
    FROM base
    WHERE session_id IS NULL AND trace_session IS NULL AND visitor IS NOT NULL
    WINDOW w AS (PARTITION BY visitor, date_trunc('day', occurred_at, 'UTC') ORDER BY occurred_at, event_id)
), numbered AS (
    SELECT event_id, visitor, occurred_at, day,
           sum(starts) OVER (PARTITION BY visitor, day ORDER BY occurred_at, event_id) AS n
    FROM starts
), derived AS (
    SELECT event_id,
           'derived:' || visitor || ':'
           || to_char(min(occurred_at) OVER (PARTITION BY visitor, day, n) AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US')
           AS session_id
    FROM numbered
), ids AS MATERIALIZED (
    -- The user each id stands for, walked once per id, not once per event; an id without a
    -- link (most of them) stands for itself without a call. Whether it has one: a probe of
    -- the primary key per id with :id_probe OFFSET 0 (a batch claim), where the planner
    -- hashed every link for each claim (a read of the whole of lake.identities per pass); a
    -- hashed subplan, one read of the table, for a backlog claim and the from-scratch build.
    SELECT d.id, CASE WHEN EXISTS (SELECT 1 FROM lake.identities i WHERE i.anonymous_id = d.id :id_probe)
                      THEN lake.resolve_user(d.id) ELSE d.id END AS resolved
    FROM (SELECT user_id AS id FROM base WHERE user_id IS NOT NULL
          UNION SELECT anonymous_id FROM base WHERE anonymous_id IS NOT NULL) AS d
), resolved AS MATERIALIZED (
    -- lake.event_user(user_id, anonymous_id), from the walks above; the variants need it.
    SELECT b.event_id, b.occurred_at, b.user_id, b.anonymous_id, b.session_id,
           CASE WHEN b.user_id IS NOT NULL THEN iu.resolved ELSE nullif(ia.resolved, b.anonymous_id) END AS resolved_user_id
    FROM base b
    LEFT JOIN ids iu ON iu.id = b.user_id
    LEFT JOIN ids ia ON ia.id = b.anonymous_id
), :variants
SELECT b.event_id, b.name, b.occurred_at, b.received_at,
       coalesce(b.session_id, b.trace_session, d.session_id),
       CASE WHEN b.session_id IS NOT NULL THEN 'client'
            WHEN b.trace_session IS NOT NULL THEN 'trace'
            WHEN d.session_id IS NOT NULL THEN 'derived' END,
       b.anonymous_id, b.user_id, b.trace_id, b.page_url, b.page_path, b.properties,
       CASE WHEN b.name = 'purchase' THEN lake.event_revenue(b.properties) END,
       b.trace_known, b.trace_root_service, b.trace_root_route, b.trace_duration_ms, b.trace_span_count, b.trace_error,
       coalesce(v.variants, '{}'::jsonb), clock_timestamp(), r.resolved_user_id
FROM base b
JOIN resolved r ON r.event_id = b.event_id
LEFT JOIN derived d ON d.event_id = b.event_id
LEFT JOIN variants v ON v.event_id = b.event_id
