-- Queues the changed traces that :traces selects (trace_id, at, forced) as trace_changed
-- items, for the event buckets another worker holds.
INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at, forced)
SELECT seam_meta.join_kind('trace_changed'), seam_meta.join_bucket(trace_id), trace_id, at, forced
FROM (:traces) AS t
