-- Every flag evaluation of the claimed experiment x unit pairs (:units is
-- exposure_claimed_units.sql): looked up one pair at a time with :per_key OFFSET 0, joined
-- for a backlog claim (:per_key empty; Lookups.swift). For exposure_rows.sql.
SELECT l.* FROM (:units) AS u
    CROSS JOIN LATERAL (
        SELECT l.flag_key AS experiment_key, coalesce(l.flag_context_id, l.user_id, l.session_id) AS unit_id,
               l.log_id, l.time, l.flag_variant AS variant, CASE WHEN l.flag_context_id IS NOT NULL THEN
               'context' WHEN l.user_id IS NOT NULL THEN 'user' ELSE 'session' END AS unit_type, l.session_id,
               l.trace_id, l.user_id
        FROM lake.logs l
        WHERE l.flag_key = u.experiment_key AND coalesce(l.flag_context_id, l.user_id, l.session_id) = u.unit_id
          AND l.flag_key IS NOT NULL AND l.flag_variant IS NOT NULL
        :per_key
    ) AS l
