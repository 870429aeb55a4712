-- lake.exposures rows, in the table's column order, from the flag evaluations that
-- :evaluations selects (experiment_key, unit_id, log_id, time, variant, unit_type,
-- session_id, trace_id, user_id; every evaluation of each experiment x unit it includes).
-- The last column is the user the unit stands for (lake.identities).
WITH evaluations AS MATERIALIZED (:evaluations
), firsts AS (
    SELECT DISTINCT ON (experiment_key, unit_id) *
    FROM evaluations ORDER BY experiment_key, unit_id, time, log_id
), totals AS (
    SELECT experiment_key, unit_id, count(*) AS evaluation_count, max(time) AS last_exposed_at,
           array_agg(DISTINCT variant ORDER BY variant) AS variants
    FROM evaluations GROUP BY experiment_key, unit_id
)
SELECT f.experiment_key, f.unit_id, f.unit_type, f.variant, f.time, t.last_exposed_at, f.session_id,
       f.trace_id, f.user_id, t.evaluation_count::integer, t.variants, cardinality(t.variants) > 1, clock_timestamp(),
       CASE WHEN f.unit_type = 'session' THEN lake.resolve_user(f.user_id) ELSE lake.resolve_user(f.unit_id) END
FROM firsts f JOIN totals t USING (experiment_key, unit_id)
