-- Hostile input must not freeze derived data: numbers beyond double precision (revenue
-- 1e300 squared, say) become NULL with the reason instead of failing a job on every run.

-- A numeric as double precision, or NULL when its magnitude exceeds double precision's
-- range (about 1.8e308). Never raises.
CREATE FUNCTION lake.float8_or_null(value numeric) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN value IS NULL OR value = 'NaN'::numeric OR abs(value) > 1.7976931348623157e308::numeric THEN NULL
                ELSE value::double precision END
$$;
COMMENT ON FUNCTION lake.float8_or_null(numeric) IS 'The value as double precision; NULL when it is NaN or beyond double precision''s range (about ±1.8e308). Never raises.';

ALTER TABLE lake.experiment_results ALTER COLUMN sum DROP NOT NULL;
ALTER TABLE lake.experiment_results ALTER COLUMN sum_squares DROP NOT NULL;
ALTER TABLE lake.experiment_results ADD COLUMN note text;
COMMENT ON COLUMN lake.experiment_results.sum IS 'Sum of the per-unit value (capped when the metric has a cap); the numerator for ratios. NULL when it exceeds double precision (see note).';
COMMENT ON COLUMN lake.experiment_results.sum_squares IS 'Sum of squared unit values; NULL when it exceeds double precision (see note).';
COMMENT ON COLUMN lake.experiment_results.note IS 'Why statistics of this row are NULL although units exist (a sum beyond double precision, a variance or comparison that is not a finite number); NULL when every statistic could be computed.';

-- A run whose process died stays 'running' no more: the next run of the job (which holds
-- the job's lock, so no other process is running it) marks it 'abandoned'.
ALTER TABLE lake.etl_runs DROP CONSTRAINT etl_runs_status_check;
ALTER TABLE lake.etl_runs ADD CONSTRAINT etl_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'abandoned'));
COMMENT ON COLUMN lake.etl_runs.status IS 'running, succeeded, failed, skipped (another process held the job''s lock), or abandoned (the process running it ended first; marked by the next run).';

-- Failures confined to one item of a job (one experiment of experiment_results): the item
-- is left as it was, the rest of the run commits and the watermark advances. The item is
-- recomputed in full by every later run until it succeeds, which removes its row.
CREATE TABLE lake.etl_failures (
    job        text        NOT NULL,
    item       text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    attempts   integer     NOT NULL DEFAULT 1,
    error      text        NOT NULL,
    PRIMARY KEY (job, item)
);
COMMENT ON TABLE lake.etl_failures IS 'Items of an ETL job (an experiment) whose last computation failed, with the error; the other items of those runs were computed. A row disappears when the item next succeeds.';
COMMENT ON COLUMN lake.etl_failures.item IS 'What failed: the experiment key for experiment_results.';
COMMENT ON COLUMN lake.etl_failures.attempts IS 'Consecutive runs in which the item failed.';
COMMENT ON COLUMN lake.etl_failures.error IS 'The last error, as PostgreSQL or Seam reported it.';
COMMENT ON COLUMN lake.etl_failures.job IS 'The ETL job (experiment_results).';
COMMENT ON COLUMN lake.etl_failures.failed_at IS 'When the item last failed.';

-- The join sets aside a key whose computation fails (a poison key) instead of failing the
-- whole stage on every pass: every other key keeps flowing.
CREATE TABLE seam_meta.join_set_aside (
    kind          smallint    NOT NULL,
    trace_id      bytea,
    event_id      uuid,
    key1          text,
    key2          text,
    at            timestamptz NOT NULL,
    set_aside_at  timestamptz NOT NULL DEFAULT now(),
    error         text        NOT NULL
);
COMMENT ON TABLE seam_meta.join_set_aside IS 'Join queue items whose key failed to compute alone (after the stage failed and was retried key by key), with the error. Their derived rows keep their last state. seam join rebuild puts them back in the queue; seam join status counts them.';
COMMENT ON COLUMN seam_meta.join_set_aside.kind IS 'The queue kind (see seam_meta.join_queue.kind).';
COMMENT ON COLUMN seam_meta.join_set_aside.trace_id IS 'As in seam_meta.join_queue.';
COMMENT ON COLUMN seam_meta.join_set_aside.event_id IS 'As in seam_meta.join_queue.';
COMMENT ON COLUMN seam_meta.join_set_aside.key1 IS 'As in seam_meta.join_queue.';
COMMENT ON COLUMN seam_meta.join_set_aside.key2 IS 'As in seam_meta.join_queue.';
COMMENT ON COLUMN seam_meta.join_set_aside.at IS 'Data time of the item.';
COMMENT ON COLUMN seam_meta.join_set_aside.set_aside_at IS 'When the worker set the item aside.';
COMMENT ON COLUMN seam_meta.join_set_aside.error IS 'The error its computation failed with.';
