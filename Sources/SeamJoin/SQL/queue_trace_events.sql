-- Queues the tag events naming a claimed changed trace whose buckets another worker holds
-- (not in :'buckets'). They are looked for within 48 hours of the trace's span time: the
-- trace's own window plus as much again for pages read long after rendering.
INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)),
       e.event_id, coalesce(e.anonymous_id, e.user_id), e.occurred_at, c.forced
FROM (SELECT trace_id, min(at) AS at, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id) AS c
CROSS JOIN LATERAL (
    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
    WHERE e.trace_id = c.trace_id
      AND e.occurred_at BETWEEN c.at - interval '48 hours' AND c.at + interval '48 hours'
    OFFSET 0
) AS e
WHERE NOT seam_meta.join_bucket(coalesce(e.anonymous_id, e.user_id, e.event_id::text)) = ANY(:'buckets'::int[])
