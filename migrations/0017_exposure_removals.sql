-- The join records the experiment x unit pairs whose lake.exposures row it removed (their
-- flag evaluations are gone), so that change-driven ETL runs find what those rows counted
-- in among the removals since their previous run: experiment_results the units to take
-- out of an experiment, instead of comparing every stored unit with the exposures (a read
-- of every unit of every experiment in each run); user_features the users whose flags
-- change (a change-driven run missed them before). experiment_results deletes the removals
-- both jobs' previous runs saw.
CREATE TABLE seam_meta.exposure_removals (
    experiment_key   text        NOT NULL,
    unit_id          text        NOT NULL,
    unit_type        text        NOT NULL,
    user_id          text,
    resolved_user_id text,
    removed_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX exposure_removals_removed_idx ON seam_meta.exposure_removals (removed_at);
COMMENT ON TABLE seam_meta.exposure_removals IS 'Experiment x unit pairs whose lake.exposures row the join removed (with the removed row''s unit_type, user_id and resolved_user_id), and when (clock_timestamp() of the removing transaction): change-driven runs of experiment_results take those units out of its per-unit tables and sums, and of user_features recompute the users they stood for. Rows that both jobs'' last change-driven runs saw are deleted by the next experiment_results run.';

-- Removals before this migration were not recorded: experiment_results' next run looks back
-- with an event-time window, which compares every stored unit with the exposures once more.
UPDATE seam_meta.etl_state SET changes_since = NULL WHERE job = 'experiment_results';

-- The experiments' units that saw several variants, read by experiment_results for every
-- experiment it computes (the other exposures are its units): a few rows, not the
-- experiment's every exposure.
CREATE INDEX exposures_multiple_idx ON lake.exposures (experiment_key) WHERE multiple_variants;
