-- The event facts of the event buckets this transaction holds (:'buckets') whose unit
-- (user, anonymous or client session id) has changed exposures, or that stand for a user
-- whose units' exposures changed (:units is units_since.sql; the exposure stage queues the
-- users a changed exposure stands for, before and after the change, as units too):
-- variants recomputed and rewritten in place where they differ. :variants is
-- event_variants.sql over join_unit_events. The last statement counts the rewritten rows.
CREATE TEMP TABLE IF NOT EXISTS join_unit_events (
    event_id uuid PRIMARY KEY, occurred_at timestamptz, user_id text, anonymous_id text, session_id text,
    resolved_user_id text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS join_unit_variants (event_id uuid PRIMARY KEY, variants jsonb) ON COMMIT DELETE ROWS;

INSERT INTO join_unit_events
SELECT f.event_id, f.occurred_at, f.user_id, f.anonymous_id, CASE WHEN f.session_source = 'client' THEN f.session_id END,
       f.resolved_user_id
FROM (:units) AS c
CROSS JOIN LATERAL (
    SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source, resolved_user_id FROM lake.event_facts f
    WHERE f.user_id = c.unit_id AND f.occurred_at >= c.since
    UNION ALL
    SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source, resolved_user_id FROM lake.event_facts f
    WHERE f.anonymous_id = c.unit_id AND f.occurred_at >= c.since
    UNION ALL
    SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source, resolved_user_id FROM lake.event_facts f
    WHERE f.session_id = c.unit_id AND f.session_source = 'client' AND f.occurred_at >= c.since
    UNION ALL
    SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source, resolved_user_id FROM lake.event_facts f
    WHERE f.resolved_user_id = c.unit_id AND f.occurred_at >= c.since
) AS f
WHERE seam_meta.join_bucket(coalesce(f.anonymous_id, f.user_id, f.event_id::text)) = ANY(:'buckets'::int[])
ON CONFLICT (event_id) DO NOTHING;

ANALYZE join_unit_events (event_id, user_id, anonymous_id, session_id, resolved_user_id);

WITH :variants
INSERT INTO join_unit_variants SELECT event_id, variants FROM variants;

WITH updated AS (
    UPDATE lake.event_facts f SET variants = coalesce(v.variants, '{}'::jsonb), updated_at = clock_timestamp()
    FROM join_unit_events e LEFT JOIN join_unit_variants v ON v.event_id = e.event_id
    WHERE f.event_id = e.event_id AND f.event_id = ANY(ARRAY(SELECT event_id FROM join_unit_events))
      AND f.variants IS DISTINCT FROM coalesce(v.variants, '{}'::jsonb)
    RETURNING 1
)
SELECT count(*) FROM updated;
