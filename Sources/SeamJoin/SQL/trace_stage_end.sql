-- The end of the trace stage (trace_stage.sql, or trace_stage_into_empty.sql), from the
-- changed traces (join_changed_traces). The last statement counts them.

-- One item per session, however many of its traces changed (a session's traces arrive
-- together: one item per trace made the session stage claim each session many times over).
-- A union of two scans, as in event_stage_end.sql.
INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(s), s, min(at), bool_or(forced)
FROM (SELECT new_session AS s, at, forced FROM join_changed_traces WHERE facts_changed AND new_session IS NOT NULL
      UNION ALL
      SELECT old_session, at, forced FROM join_changed_traces
      WHERE facts_changed AND old_session IS NOT NULL AND old_session IS DISTINCT FROM new_session) AS v
GROUP BY s;

-- The changed traces, and the indexes built again if this claim dropped them (else none).
SELECT count(*), seam_meta.join_restore_indexes('lake.traces') FROM join_changed_traces;
