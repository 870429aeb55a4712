-- The end of the event stage (event_stage.sql, or event_stage_into_empty.sql), from the
-- changed events (join_changed_events). The last statement counts them.

-- The sessions before and after, one item each. A union of two scans, hashed, rather than a
-- lateral pair of values per event, which took a nested loop and a sort: 1.0 s instead of
-- 2.3 at a million-event catch-up.
INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(s), s, min(at), bool_or(forced)
FROM (SELECT new_session AS s, at, forced FROM join_changed_events WHERE new_session IS NOT NULL
      UNION ALL
      SELECT old_session, at, forced FROM join_changed_events
      WHERE old_session IS NOT NULL AND old_session IS DISTINCT FROM new_session) AS v
GROUP BY s;

-- The changed events, and the indexes built again if this claim dropped them (else none).
SELECT count(*), seam_meta.join_restore_indexes('lake.event_facts') FROM join_changed_events;
