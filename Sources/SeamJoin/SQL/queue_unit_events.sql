-- Queues the tag events of a claimed unit with changed exposures (:units is
-- units_since.sql) whose buckets another worker holds (not in :'buckets').
INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)),
       e.event_id, coalesce(e.anonymous_id, e.user_id), e.occurred_at, c.forced
FROM (:units) AS c
CROSS JOIN LATERAL (
    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
    WHERE e.user_id = c.unit_id AND e.occurred_at >= c.since
    UNION
    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
    WHERE e.anonymous_id = c.unit_id AND e.occurred_at >= c.since
    UNION
    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
    WHERE e.session_id = c.unit_id AND e.occurred_at >= c.since
) AS e
WHERE NOT seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)) = ANY(:'buckets'::int[])
