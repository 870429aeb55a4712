-- The experiment_results job now also keeps, in seam_meta.experiment_sums, the sums of one
-- metric per experiment by the units' exposure day (dimension 'exposure_day': the first
-- primary metric by name, else the first metric by name). The console's cumulative lift
-- reads them; lake.experiment_results does not. The job's next run recomputes every
-- experiment from scratch, so that the existing sums gain them.
DELETE FROM seam_meta.etl_state WHERE job = 'experiment_results';

COMMENT ON TABLE seam_meta.experiment_sums IS 'Exact (numeric) sufficient statistics per experiment x metric x variant x dimension value, kept by adding the new contributions of recomputed units and subtracting their old ones; lake.experiment_results is computed from it. Dimension exposure_day (one metric per experiment, the value the units'' first exposure day, UTC) is kept for the console''s cumulative lift and never reported.';
