-- Change-driven incremental ETL: a scheduled or manual run recomputes what rows stored or
-- changed since its previous run touch (by arrival, however old their event time), instead
-- of an event-time window reaching etl.lookback_hours back.
--
-- A run records, as changes_since, the earliest start of the transactions still running
-- when it began (or its own start when none ran): every row a later commit brings was
-- written with an updated_at (clock_timestamp() in the writing transaction) at or after it.

ALTER TABLE seam_meta.etl_state ADD COLUMN changes_since timestamptz;
COMMENT ON COLUMN seam_meta.etl_state.changes_since IS 'Rows with updated_at (or stored_at) at or after this were not all visible to the last successful scheduled or manual run: the next run recomputes what they touch. NULL before the first such run.';
COMMENT ON TABLE seam_meta.etl_state IS 'Per ETL job: the end of the window its last successful scheduled or manual run covered (watermark), where the changes its next run looks at begin (changes_since), and the digest of the definitions it computed with.';

-- The arrival order of the rows the jobs follow.
CREATE INDEX event_facts_updated_idx ON lake.event_facts (updated_at);
CREATE INDEX exposures_updated_idx ON lake.exposures (updated_at);
CREATE INDEX sessions_updated_idx ON lake.sessions (updated_at);

ALTER TABLE lake.decisions ADD COLUMN stored_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX decisions_stored_idx ON lake.decisions (stored_at);
COMMENT ON COLUMN lake.decisions.stored_at IS 'When the decision was written to the lake (the bandits job follows decisions by it).';

ALTER TABLE lake.segment_assignments ADD COLUMN stored_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX segment_assignments_stored_idx ON lake.segment_assignments (stored_at);
COMMENT ON COLUMN lake.segment_assignments.stored_at IS 'When the assignment was written (the segments job follows assignments by it, however old assigned_at is).';

-- Per session, what segment_metrics aggregates, as of its last computation: the day it
-- counted in (a late event earlier than a session's start moves it to another day, and
-- both days change) and its inputs. A change-driven run recomputes the inputs of changed
-- sessions only, and a day's figures from these rows (medians and percentiles need every
-- session of the day, not only the changed ones).
CREATE TABLE seam_meta.segment_metric_sessions (
    session_id            text             PRIMARY KEY,
    day                   timestamptz      NOT NULL,
    started_at            timestamptz      NOT NULL,
    unit_id               text,
    converted             boolean          NOT NULL,
    basket                boolean          NOT NULL,
    purchases             integer          NOT NULL,
    revenue               numeric          NOT NULL,
    first_action_seconds  double precision,
    durations             double precision[] NOT NULL
);
CREATE INDEX segment_metric_sessions_day_idx ON seam_meta.segment_metric_sessions (day);
COMMENT ON TABLE seam_meta.segment_metric_sessions IS 'Per session: the UTC day of lake.segment_metrics it counted in and its inputs (unit, conversion, basket, orders, revenue, time to first action, trace durations), kept by the segment_metrics job.';
