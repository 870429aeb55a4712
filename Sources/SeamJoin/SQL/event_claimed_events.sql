-- The claimed tag events (join_claim), and for derived sessions every session-less event
-- of their visitors that day. Straight from the lookups into the computation: no
-- intermediate table (the estimates come from join_claim's statistics). Each event comes
-- once: an event id is stored once (lake.tag_event_ids), so the claimed events are one per
-- id, and a sibling belongs to one visitor and day and is not claimed (a DISTINCT ON here
-- sorted a million rows, 1.4 s at a million-event catch-up). Index
-- lookups per key with :per_key OFFSET 0, joins for a backlog claim (:per_key empty;
-- Lookups.swift). For event_fact_rows.sql.
WITH claimed AS MATERIALIZED (
    SELECT e.* FROM (SELECT DISTINCT event_id, at FROM join_claim) AS c
    CROSS JOIN LATERAL (
        SELECT * FROM lake.tag_events e WHERE e.event_id = c.event_id AND e.occurred_at = c.at :per_key
    ) AS e
), siblings AS (
    SELECT e.* FROM (
        SELECT DISTINCT coalesce(anonymous_id, user_id) AS visitor, date_trunc('day', occurred_at, 'UTC') AS day
        FROM claimed WHERE session_id IS NULL AND coalesce(anonymous_id, user_id) IS NOT NULL
    ) AS g
    CROSS JOIN LATERAL (
        SELECT * FROM lake.tag_events e
        WHERE coalesce(e.anonymous_id, e.user_id) = g.visitor AND e.session_id IS NULL
          AND e.occurred_at >= g.day AND e.occurred_at < g.day + interval '24 hours'
        :per_key
    ) AS e
    WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.event_id = e.event_id)
)
SELECT * FROM claimed UNION ALL SELECT * FROM siblings
