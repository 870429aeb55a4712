-- Queues the tag events of a claimed unit with changed exposures (:units is
-- units_since.sql) whose buckets another worker holds (not in :'buckets'): the events of
-- its client session, and of the unit's own id and every id that reaches it through links
-- (lake.identities, as lake.resolve_user walks them), which may stand for it as a user. The raw rows carry no
-- resolved user; this finds a superset of the events that stand for it.
INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)),
       e.event_id, coalesce(e.anonymous_id, e.user_id), e.occurred_at, c.forced
FROM (:units) AS c
CROSS JOIN LATERAL (
    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
    WHERE e.session_id = c.unit_id AND e.occurred_at >= c.since
    UNION
    SELECT e.event_id, e.anonymous_id, e.user_id, e.occurred_at
    FROM (
        -- The unit's own id (depth 0) and every id that reaches it through links.
        WITH RECURSIVE reaching(id, depth) AS (
            SELECT c.unit_id, 0
            UNION
            SELECT i.anonymous_id, r.depth + 1 FROM reaching r JOIN lake.identities i ON i.user_id = r.id WHERE r.depth < 16
        )
        SELECT DISTINCT id FROM reaching
    ) AS r
    CROSS JOIN LATERAL (
        SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
        WHERE e.anonymous_id = r.id AND e.occurred_at >= c.since
        UNION
        SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
        WHERE e.user_id = r.id AND e.occurred_at >= c.since
    ) AS e
) AS e
WHERE NOT seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)) = ANY(:'buckets'::int[])
