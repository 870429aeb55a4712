-- The exposure stage: lake.exposures recomputed for the claimed experiment x unit pairs,
-- rows rewritten only where they changed, and a unit_changed item queued per unit whose
-- first variant, first exposure or resolved user changed, and per user it stands for
-- before and after (the events of those users see the unit's exposures, event_variants.sql).
-- The last statement counts the changed pairs.
-- :exposure_rows is exposure_rows.sql over exposure_claimed_evaluations.sql; :units is
-- exposure_claimed_units.sql. :per_key is OFFSET 0 for a claim whose pairs are looked up one
-- by one, empty for a backlog claim joined whole (Lookups.swift; in psql \set per_key 'OFFSET 0').
CREATE TEMP TABLE IF NOT EXISTS join_new_exposures (LIKE lake.exposures) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS join_changed_exposures (
    experiment_key text, unit_id text, at timestamptz, forced boolean, facts_changed boolean,
    old_user text, new_user text
) ON COMMIT DELETE ROWS;

INSERT INTO join_new_exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at,
                                last_exposed_at, session_id, trace_id, user_id, evaluation_count, variants,
                                multiple_variants, updated_at, resolved_user_id)
:exposure_rows;

-- facts_changed: what tag events read of an exposure (the first variant, when it was
-- served, and the user its unit stands for).
INSERT INTO join_changed_exposures
SELECT k.experiment_key, k.unit_id, least(o.first_exposed_at, n.first_exposed_at), k.forced,
       (o.variant, o.first_exposed_at, o.resolved_user_id) IS DISTINCT FROM (n.variant, n.first_exposed_at, n.resolved_user_id),
       o.resolved_user_id, n.resolved_user_id
FROM (:units) AS k
LEFT JOIN LATERAL (
    SELECT * FROM lake.exposures o WHERE o.experiment_key = k.experiment_key AND o.unit_id = k.unit_id :per_key
) AS o ON true
LEFT JOIN join_new_exposures n ON n.experiment_key = k.experiment_key AND n.unit_id = k.unit_id
WHERE (o.experiment_key, o.unit_id, o.unit_type, o.variant, o.first_exposed_at, o.last_exposed_at,
      o.session_id, o.trace_id, o.user_id, o.evaluation_count, o.variants, o.multiple_variants, o.resolved_user_id) IS DISTINCT
      FROM (n.experiment_key, n.unit_id, n.unit_type, n.variant, n.first_exposed_at, n.last_exposed_at,
      n.session_id, n.trace_id, n.user_id, n.evaluation_count, n.variants, n.multiple_variants, n.resolved_user_id);

-- The changed pairs' old rows go. Those without a new row (their evaluations are gone) are
-- recorded, with whom they stood for, so that the ETL's change-driven runs take them out
-- (seam_meta.exposure_removals, migration 0017).
WITH removed AS (
    DELETE FROM lake.exposures WHERE ctid = ANY(ARRAY(
        SELECT x.ctid FROM join_changed_exposures c
        CROSS JOIN LATERAL (
            SELECT ctid FROM lake.exposures x WHERE x.experiment_key = c.experiment_key AND x.unit_id = c.unit_id :per_key
        ) AS x))
    RETURNING experiment_key, unit_id, unit_type, user_id, resolved_user_id
)
INSERT INTO seam_meta.exposure_removals (experiment_key, unit_id, unit_type, user_id, resolved_user_id)
SELECT r.experiment_key, r.unit_id, r.unit_type, r.user_id, r.resolved_user_id FROM removed r
WHERE NOT EXISTS (SELECT 1 FROM join_new_exposures n WHERE n.experiment_key = r.experiment_key AND n.unit_id = r.unit_id);
INSERT INTO lake.exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at,
                                last_exposed_at, session_id, trace_id, user_id, evaluation_count, variants,
                                multiple_variants, updated_at, resolved_user_id)
SELECT n.experiment_key, n.unit_id, n.unit_type, n.variant, n.first_exposed_at, n.last_exposed_at,
       n.session_id, n.trace_id, n.user_id, n.evaluation_count, n.variants, n.multiple_variants, n.updated_at,
       n.resolved_user_id
FROM join_new_exposures n JOIN join_changed_exposures c USING (experiment_key, unit_id);

INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
SELECT seam_meta.join_kind('unit_changed'), seam_meta.join_bucket(u.unit), u.unit, min(c.at), bool_or(c.forced)
FROM join_changed_exposures c
CROSS JOIN LATERAL (VALUES (c.unit_id), (c.old_user), (c.new_user)) AS u(unit)
WHERE c.facts_changed AND u.unit IS NOT NULL
GROUP BY u.unit;

SELECT count(*) FROM join_changed_exposures;
