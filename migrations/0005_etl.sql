-- Scheduled ETL: user features, segments, segment metrics and experiment results, the
-- record of every job run, and the view warehouse-native experimentation tools read.
--
-- Every table here is written by a job (Sources/SeamETL/Jobs) in one transaction that
-- replaces exactly the rows of the periods, units or experiments it recomputed, so a
-- failed run leaves the previous results and a repeated run writes the same rows.

-- ---------------------------------------------------------------------------------------
-- Job bookkeeping.

CREATE TABLE seam_meta.etl_state (
    job         text        PRIMARY KEY,
    watermark   timestamptz NOT NULL,
    definitions_digest text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seam_meta.etl_state IS 'Per ETL job: the end of the window its last successful scheduled or manual run covered. The next run starts at watermark minus the late-data lookback.';

CREATE TABLE lake.etl_runs (
    run_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job           text        NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'backfill')),
    window_start  timestamptz,
    window_end    timestamptz NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    status        text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows_written  bigint      NOT NULL DEFAULT 0,
    error         text
);
CREATE INDEX etl_runs_job_idx ON lake.etl_runs (job, started_at DESC);
COMMENT ON TABLE lake.etl_runs IS 'One row per ETL job run (scheduled, manual or backfill), including runs skipped because another process held the job''s lock.';
COMMENT ON COLUMN lake.etl_runs.run_id IS 'Run number, increasing in the order runs started.';
COMMENT ON COLUMN lake.etl_runs.job IS 'Job name: user_features, segments, segment_metrics or experiment_results.';
COMMENT ON COLUMN lake.etl_runs.trigger IS 'schedule (cron in seam serve), manual (seam etl run) or backfill (seam etl backfill).';
COMMENT ON COLUMN lake.etl_runs.window_start IS 'Start of the event-time window the run recomputed (inclusive); NULL means from the beginning of the data.';
COMMENT ON COLUMN lake.etl_runs.window_end IS 'End of the event-time window (exclusive).';
COMMENT ON COLUMN lake.etl_runs.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN lake.etl_runs.finished_at IS 'When the run finished; NULL while running (or when its process died mid-run).';
COMMENT ON COLUMN lake.etl_runs.status IS 'running, succeeded, failed (previous results kept, error set) or skipped (another run held the lock).';
COMMENT ON COLUMN lake.etl_runs.rows_written IS 'Rows the run inserted into its output tables.';
COMMENT ON COLUMN lake.etl_runs.error IS 'Why the run failed or was skipped; NULL on success.';

-- ---------------------------------------------------------------------------------------
-- user_features: one row per user (or anonymous visitor).

CREATE TABLE lake.user_features (
    unit_id                 text        PRIMARY KEY,
    unit_type               text        NOT NULL CHECK (unit_type IN ('user', 'anonymous')),
    first_seen_at           timestamptz NOT NULL,
    last_seen_at            timestamptz NOT NULL,
    sessions                integer     NOT NULL,
    events                  integer     NOT NULL,
    page_views              integer     NOT NULL,
    product_views           integer     NOT NULL,
    add_to_basket           integer     NOT NULL,
    purchases               integer     NOT NULL,
    revenue                 numeric     NOT NULL,
    recency_days            double precision NOT NULL,
    frequency_per_week      double precision NOT NULL,
    categories_viewed       text[]      NOT NULL,
    category_views          jsonb       NOT NULL,
    category_preference     jsonb       NOT NULL,
    flags_seen              text[]      NOT NULL,
    median_time_to_first_action_seconds double precision,
    as_of                   timestamptz NOT NULL
);
COMMENT ON TABLE lake.user_features IS 'Per user (user_id) or anonymous visitor (anonymous_id of sessions without a user id): behaviour features for segment rules and classifiers. Rows are recomputed from all of the unit''s sessions whenever the unit had activity in a user_features run''s window.';
COMMENT ON COLUMN lake.user_features.unit_id IS 'The user id, or the anonymous id for sessions without a user id.';
COMMENT ON COLUMN lake.user_features.unit_type IS 'user or anonymous.';
COMMENT ON COLUMN lake.user_features.first_seen_at IS 'Start of the unit''s first session.';
COMMENT ON COLUMN lake.user_features.last_seen_at IS 'End of the unit''s last session.';
COMMENT ON COLUMN lake.user_features.sessions IS 'Sessions of the unit (lake.sessions).';
COMMENT ON COLUMN lake.user_features.events IS 'Tag events in those sessions.';
COMMENT ON COLUMN lake.user_features.page_views IS 'page_view events.';
COMMENT ON COLUMN lake.user_features.product_views IS 'product_view (product detail page) events.';
COMMENT ON COLUMN lake.user_features.add_to_basket IS 'add_to_basket events.';
COMMENT ON COLUMN lake.user_features.purchases IS 'purchase events.';
COMMENT ON COLUMN lake.user_features.revenue IS 'Sum of purchase revenue (lake.event_revenue of the event properties).';
COMMENT ON COLUMN lake.user_features.recency_days IS 'Days from last_seen_at to as_of (0 when the unit was active after as_of).';
COMMENT ON COLUMN lake.user_features.frequency_per_week IS 'Sessions per week between first_seen_at and as_of (at least one week).';
COMMENT ON COLUMN lake.user_features.categories_viewed IS 'Distinct product categories (properties.category of product_view events), sorted.';
COMMENT ON COLUMN lake.user_features.category_views IS 'product_view events per category, as a JSON object.';
COMMENT ON COLUMN lake.user_features.category_preference IS 'Per viewed category, the Beta posterior mean of "a product view of this unit is in this category": (views_c + alpha) / (product_views + alpha + beta), prior from etl.user_features.prior_alpha/prior_beta. A category not listed has preference alpha / (product_views + alpha + beta).';
COMMENT ON COLUMN lake.user_features.flags_seen IS 'experiment_key:variant pairs the unit (user or anonymous id) was exposed to, sorted.';
COMMENT ON COLUMN lake.user_features.median_time_to_first_action_seconds IS 'Median over the unit''s sessions of the seconds from session start to its first event that is not a page_view; NULL when no session had one.';
COMMENT ON COLUMN lake.user_features.as_of IS 'End of the window of the run that computed the row; recency and frequency are relative to it.';

-- ---------------------------------------------------------------------------------------
-- Segments.

CREATE TABLE lake.segment_assignments (
    unit_id        text        NOT NULL,
    segment        text        NOT NULL,
    model_version  text        NOT NULL,
    assigned_at    timestamptz NOT NULL,
    score          double precision,
    PRIMARY KEY (unit_id, assigned_at, segment)
);
CREATE INDEX segment_assignments_time_idx ON lake.segment_assignments (assigned_at);
COMMENT ON TABLE lake.segment_assignments IS 'Written by data scientists'' classifiers: a unit''s segment according to a model. The latest assignment per unit (by assigned_at, then segment) is its model segment; the segments job copies it into lake.segment_members.';
COMMENT ON COLUMN lake.segment_assignments.unit_id IS 'The unit: a user id or anonymous id, as in lake.user_features.unit_id.';
COMMENT ON COLUMN lake.segment_assignments.segment IS 'Segment name the model assigned.';
COMMENT ON COLUMN lake.segment_assignments.model_version IS 'Model that made the assignment.';
COMMENT ON COLUMN lake.segment_assignments.assigned_at IS 'When the assignment was made; the latest per unit wins.';
COMMENT ON COLUMN lake.segment_assignments.score IS 'Optional model score or probability.';

CREATE TABLE lake.segment_members (
    unit_id        text NOT NULL,
    segment        text NOT NULL,
    source         text NOT NULL CHECK (source IN ('rule', 'model')),
    model_version  text,
    PRIMARY KEY (unit_id, segment)
);
CREATE INDEX segment_members_segment_idx ON lake.segment_members (segment);
COMMENT ON TABLE lake.segment_members IS 'Segment membership computed by the segments job: rule segments (SQL predicates over lake.user_features in seam.yaml) and each unit''s latest model assignment. The segment "all" (every unit) is implicit and not stored.';
COMMENT ON COLUMN lake.segment_members.unit_id IS 'User id or anonymous id (lake.user_features.unit_id).';
COMMENT ON COLUMN lake.segment_members.segment IS 'Segment name.';
COMMENT ON COLUMN lake.segment_members.source IS 'rule (a predicate in seam.yaml) or model (lake.segment_assignments).';
COMMENT ON COLUMN lake.segment_members.model_version IS 'For model segments, the model version of the assignment; NULL for rules.';

-- ---------------------------------------------------------------------------------------
-- segment_metrics: per segment x grain x period.

CREATE TABLE lake.segment_metrics (
    segment                  text        NOT NULL,
    grain                    text        NOT NULL CHECK (grain IN ('hour', 'day')),
    period_start             timestamptz NOT NULL,
    sessions                 integer     NOT NULL,
    users                    integer     NOT NULL,
    converted_sessions       integer     NOT NULL,
    conversion_rate          double precision,
    add_to_basket_sessions   integer     NOT NULL,
    add_to_basket_rate       double precision,
    orders                   integer     NOT NULL,
    revenue                  numeric     NOT NULL,
    average_order_value      numeric,
    median_time_to_first_action_seconds double precision,
    server_duration_p95_ms   double precision,
    PRIMARY KEY (segment, grain, period_start)
);
COMMENT ON TABLE lake.segment_metrics IS 'Hourly and daily metrics per segment, over the sessions that started in the period (UTC). A session belongs to the segments its unit (user id, else anonymous id) is a member of when the period is computed, and always to "all".';
COMMENT ON COLUMN lake.segment_metrics.segment IS 'Segment name; "all" is every session.';
COMMENT ON COLUMN lake.segment_metrics.grain IS 'hour or day.';
COMMENT ON COLUMN lake.segment_metrics.period_start IS 'Start of the UTC hour or day.';
COMMENT ON COLUMN lake.segment_metrics.sessions IS 'Sessions that started in the period.';
COMMENT ON COLUMN lake.segment_metrics.users IS 'Distinct units (user id, else anonymous id) of those sessions.';
COMMENT ON COLUMN lake.segment_metrics.converted_sessions IS 'Sessions with a purchase.';
COMMENT ON COLUMN lake.segment_metrics.conversion_rate IS 'converted_sessions / sessions.';
COMMENT ON COLUMN lake.segment_metrics.add_to_basket_sessions IS 'Sessions with an add_to_basket event.';
COMMENT ON COLUMN lake.segment_metrics.add_to_basket_rate IS 'add_to_basket_sessions / sessions.';
COMMENT ON COLUMN lake.segment_metrics.orders IS 'purchase events.';
COMMENT ON COLUMN lake.segment_metrics.revenue IS 'Sum of purchase revenue.';
COMMENT ON COLUMN lake.segment_metrics.average_order_value IS 'revenue / orders; NULL without orders.';
COMMENT ON COLUMN lake.segment_metrics.median_time_to_first_action_seconds IS 'Median over sessions with an action of the seconds from session start to the first event that is not a page_view.';
COMMENT ON COLUMN lake.segment_metrics.server_duration_p95_ms IS '95th percentile (continuous) of the server duration of the traces of the sessions'' tag events, in milliseconds.';

-- ---------------------------------------------------------------------------------------
-- Experiments.

CREATE INDEX event_facts_anonymous_idx ON lake.event_facts (anonymous_id, occurred_at) WHERE anonymous_id IS NOT NULL;

CREATE TABLE lake.experiment_units (
    experiment_key    text        NOT NULL,
    unit_id           text        NOT NULL,
    unit_type         text        NOT NULL,
    variant           text        NOT NULL,
    first_exposed_at  timestamptz NOT NULL,
    device            text,
    segments          text[]      NOT NULL,
    PRIMARY KEY (experiment_key, unit_id)
);
COMMENT ON TABLE lake.experiment_units IS 'The units analysed per experiment: every exposed unit (lake.exposures) that saw exactly one variant, attributed at its first exposure.';
COMMENT ON COLUMN lake.experiment_units.experiment_key IS 'feature_flag.key of the evaluations.';
COMMENT ON COLUMN lake.experiment_units.unit_id IS 'The unit (lake.exposures.unit_id).';
COMMENT ON COLUMN lake.experiment_units.unit_type IS 'context (matched to events by user id or anonymous id), user or session.';
COMMENT ON COLUMN lake.experiment_units.variant IS 'The variant the unit saw.';
COMMENT ON COLUMN lake.experiment_units.first_exposed_at IS 'First exposure; metric windows start here (plus the metric''s delay).';
COMMENT ON COLUMN lake.experiment_units.device IS 'Dimension "device": context.device (else context.device_type) of the earliest tag event carrying one in the session of the first exposure (within a day of it); NULL when unknown.';
COMMENT ON COLUMN lake.experiment_units.segments IS 'Dimension "segment": the unit''s segments (lake.segment_members) when the unit was computed, sorted.';

CREATE TABLE lake.experiment_unit_metrics (
    experiment_key  text             NOT NULL,
    metric          text             NOT NULL,
    unit_id         text             NOT NULL,
    value           double precision,
    denominator     double precision,
    covariate       double precision,
    PRIMARY KEY (experiment_key, unit_id, metric)
);
COMMENT ON TABLE lake.experiment_unit_metrics IS 'Per experiment x metric x unit: the unit''s metric value over its conversion window. experiment_results aggregates these.';
COMMENT ON COLUMN lake.experiment_unit_metrics.experiment_key IS 'Experiment.';
COMMENT ON COLUMN lake.experiment_unit_metrics.metric IS 'Metric name (seam.yaml or built in).';
COMMENT ON COLUMN lake.experiment_unit_metrics.unit_id IS 'Unit (lake.experiment_units).';
COMMENT ON COLUMN lake.experiment_unit_metrics.value IS 'Proportion: 1 or 0; mean: the sum of the value (uncapped); ratio: the numerator; time_to_event: seconds, NULL when the event did not happen (the unit is then left out of that metric); reward: the points.';
COMMENT ON COLUMN lake.experiment_unit_metrics.denominator IS 'Ratio metrics: the denominator; NULL otherwise.';
COMMENT ON COLUMN lake.experiment_unit_metrics.covariate IS 'CUPED covariate: the same metric over the experiment''s pre-exposure period (cuped_days); NULL when CUPED is off or not applicable.';

CREATE TABLE seam_meta.experiment_sums (
    experiment_key           text    NOT NULL,
    metric                   text    NOT NULL,
    variant                  text    NOT NULL,
    dimension                text    NOT NULL,
    dimension_value          text    NOT NULL,
    units                    numeric NOT NULL,
    sum                      numeric NOT NULL,
    sum_squares              numeric NOT NULL,
    denominator_sum          numeric,
    denominator_sum_squares  numeric,
    cross_sum                numeric,
    covariate_sum            numeric,
    covariate_sum_squares    numeric,
    covariate_cross_sum      numeric,
    PRIMARY KEY (experiment_key, metric, variant, dimension, dimension_value)
);
COMMENT ON TABLE seam_meta.experiment_sums IS 'Exact (numeric) sufficient statistics per experiment x metric x variant x dimension value, kept by adding the new contributions of recomputed units and subtracting their old ones; lake.experiment_results is computed from it.';

CREATE TABLE lake.experiments (
    experiment_key     text        PRIMARY KEY,
    configured         boolean     NOT NULL,
    control_variant    text        NOT NULL,
    variants           jsonb       NOT NULL,
    units              integer     NOT NULL,
    excluded_units     integer     NOT NULL,
    first_exposure     timestamptz,
    last_exposure      timestamptz,
    srm_chi_square     double precision,
    srm_p_value        double precision,
    srm_flag           boolean     NOT NULL,
    computed_through   timestamptz NOT NULL
);
COMMENT ON TABLE lake.experiments IS 'One row per experiment seen in lake.exposures or configured in seam.yaml: its variants and the sample-ratio-mismatch check.';
COMMENT ON COLUMN lake.experiments.experiment_key IS 'Experiment key.';
COMMENT ON COLUMN lake.experiments.configured IS 'Whether seam.yaml configures it; otherwise defaults apply (control "control" or the first variant by name, equal weights, every metric).';
COMMENT ON COLUMN lake.experiments.control_variant IS 'The variant others are compared with.';
COMMENT ON COLUMN lake.experiments.variants IS 'JSON array of {name, units, expected_weight}.';
COMMENT ON COLUMN lake.experiments.units IS 'Units analysed (single-variant units).';
COMMENT ON COLUMN lake.experiments.excluded_units IS 'Units left out because they saw more than one variant.';
COMMENT ON COLUMN lake.experiments.first_exposure IS 'Earliest first exposure of an analysed unit.';
COMMENT ON COLUMN lake.experiments.last_exposure IS 'Latest first exposure of an analysed unit.';
COMMENT ON COLUMN lake.experiments.srm_chi_square IS 'Chi-square goodness-of-fit statistic of units per variant against the expected weights.';
COMMENT ON COLUMN lake.experiments.srm_p_value IS 'Its p-value (k-1 degrees of freedom); NULL with fewer than two variants.';
COMMENT ON COLUMN lake.experiments.srm_flag IS 'True when srm_p_value < 0.001: the split is not what was configured; distrust the results.';
COMMENT ON COLUMN lake.experiments.computed_through IS 'Window end of the run that computed the row.';

CREATE TABLE lake.experiment_results (
    experiment_key        text             NOT NULL,
    metric                text             NOT NULL,
    variant               text             NOT NULL,
    dimension             text             NOT NULL,
    dimension_value       text             NOT NULL,
    metric_type           text             NOT NULL,
    metric_role           text             NOT NULL CHECK (metric_role IN ('primary', 'guardrail', 'secondary')),
    lower_is_better       boolean          NOT NULL,
    is_control            boolean          NOT NULL,
    units                 bigint           NOT NULL,
    sum                   double precision NOT NULL,
    sum_squares           double precision NOT NULL,
    denominator_sum       double precision,
    denominator_sum_squares double precision,
    cross_sum             double precision,
    covariate_sum         double precision,
    covariate_sum_squares double precision,
    covariate_cross_sum   double precision,
    cap_value             double precision,
    mean                  double precision,
    variance              double precision,
    absolute_diff         double precision,
    absolute_ci_low       double precision,
    absolute_ci_high      double precision,
    relative_lift         double precision,
    relative_ci_low       double precision,
    relative_ci_high      double precision,
    degrees_of_freedom    double precision,
    p_value               double precision,
    p_value_holm          double precision,
    p_value_bh            double precision,
    cuped_absolute_diff   double precision,
    cuped_relative_lift   double precision,
    cuped_ci_low          double precision,
    cuped_ci_high         double precision,
    cuped_p_value         double precision,
    alpha                 double precision NOT NULL,
    computed_through      timestamptz      NOT NULL,
    PRIMARY KEY (experiment_key, metric, variant, dimension, dimension_value)
);
COMMENT ON TABLE lake.experiment_results IS 'Per experiment x metric x variant (x dimension value): sufficient statistics over the analysed units (lake.experiment_units, first-exposure attribution) and the comparison with the control variant. Enough is stored for another stats engine to recompute everything: units, sums, sums of squares and cross products.';
COMMENT ON COLUMN lake.experiment_results.experiment_key IS 'Experiment.';
COMMENT ON COLUMN lake.experiment_results.metric IS 'Metric name.';
COMMENT ON COLUMN lake.experiment_results.variant IS 'Variant.';
COMMENT ON COLUMN lake.experiment_results.dimension IS 'Empty for the whole experiment; otherwise segment or device.';
COMMENT ON COLUMN lake.experiment_results.dimension_value IS 'Empty for the whole experiment; the segment name or device; "(unknown)" for units without a device.';
COMMENT ON COLUMN lake.experiment_results.metric_type IS 'proportion, mean, ratio, time_to_event or reward.';
COMMENT ON COLUMN lake.experiment_results.metric_role IS 'primary, guardrail or secondary in this experiment.';
COMMENT ON COLUMN lake.experiment_results.lower_is_better IS 'True for metrics where a decrease is an improvement (durations).';
COMMENT ON COLUMN lake.experiment_results.is_control IS 'True on the control variant''s row (comparison columns are NULL there).';
COMMENT ON COLUMN lake.experiment_results.units IS 'n: units with a value (time_to_event leaves out units without the event).';
COMMENT ON COLUMN lake.experiment_results.sum IS 'Sum of the per-unit value (capped when the metric has a cap); the numerator for ratios.';
COMMENT ON COLUMN lake.experiment_results.sum_squares IS 'Sum of squared per-unit values.';
COMMENT ON COLUMN lake.experiment_results.denominator_sum IS 'Ratio metrics: sum of per-unit denominators.';
COMMENT ON COLUMN lake.experiment_results.denominator_sum_squares IS 'Ratio metrics: sum of squared denominators.';
COMMENT ON COLUMN lake.experiment_results.cross_sum IS 'Ratio metrics: sum of numerator x denominator per unit (for the delta method).';
COMMENT ON COLUMN lake.experiment_results.covariate_sum IS 'CUPED: sum of the pre-exposure covariate.';
COMMENT ON COLUMN lake.experiment_results.covariate_sum_squares IS 'CUPED: sum of squared covariates.';
COMMENT ON COLUMN lake.experiment_results.covariate_cross_sum IS 'CUPED: sum of value x covariate.';
COMMENT ON COLUMN lake.experiment_results.cap_value IS 'The cap applied to per-unit values (absolute, or the configured percentile over all units of the experiment); NULL without capping.';
COMMENT ON COLUMN lake.experiment_results.mean IS 'sum / units; for ratios sum / denominator_sum.';
COMMENT ON COLUMN lake.experiment_results.variance IS 'Sample variance of the per-unit value (n-1); for ratios n times the delta-method variance of the ratio, so that variance / units is always the squared standard error.';
COMMENT ON COLUMN lake.experiment_results.absolute_diff IS 'mean - control mean.';
COMMENT ON COLUMN lake.experiment_results.absolute_ci_low IS 'Lower bound of the (1 - alpha) confidence interval of absolute_diff (Welch t, Welch-Satterthwaite degrees of freedom).';
COMMENT ON COLUMN lake.experiment_results.absolute_ci_high IS 'Upper bound of that interval.';
COMMENT ON COLUMN lake.experiment_results.relative_lift IS 'absolute_diff / control mean.';
COMMENT ON COLUMN lake.experiment_results.relative_ci_low IS 'Lower bound of the (1 - alpha) interval of relative_lift (delta method, normal quantile).';
COMMENT ON COLUMN lake.experiment_results.relative_ci_high IS 'Upper bound of that interval.';
COMMENT ON COLUMN lake.experiment_results.degrees_of_freedom IS 'Welch-Satterthwaite degrees of freedom.';
COMMENT ON COLUMN lake.experiment_results.p_value IS 'Two-sided Welch t-test p-value of absolute_diff = 0.';
COMMENT ON COLUMN lake.experiment_results.p_value_holm IS 'Holm-adjusted p-value across the experiment''s metrics and variants (within the same dimension value).';
COMMENT ON COLUMN lake.experiment_results.p_value_bh IS 'Benjamini-Hochberg adjusted p-value across the same family.';
COMMENT ON COLUMN lake.experiment_results.cuped_absolute_diff IS 'CUPED-adjusted difference (theta pooled over the variants of the slice); NULL without a covariate.';
COMMENT ON COLUMN lake.experiment_results.cuped_relative_lift IS 'CUPED-adjusted difference / control mean.';
COMMENT ON COLUMN lake.experiment_results.cuped_ci_low IS 'Lower bound of the CUPED-adjusted difference''s interval (Welch).';
COMMENT ON COLUMN lake.experiment_results.cuped_ci_high IS 'Upper bound.';
COMMENT ON COLUMN lake.experiment_results.cuped_p_value IS 'Welch p-value of the CUPED-adjusted difference.';
COMMENT ON COLUMN lake.experiment_results.alpha IS 'Significance level of the intervals.';
COMMENT ON COLUMN lake.experiment_results.computed_through IS 'Window end of the run that computed the row.';

-- The assignment query of warehouse-native experimentation tools: one row per unit and
-- experiment, at first exposure, with dimensions.
CREATE VIEW lake.experiment_assignments AS
SELECT e.unit_id            AS user_id,
       e.first_exposed_at   AS "timestamp",
       e.experiment_key     AS experiment_id,
       e.variant            AS variation_id,
       e.unit_type,
       e.session_id,
       e.multiple_variants,
       u.device
FROM lake.exposures AS e
LEFT JOIN lake.experiment_units AS u USING (experiment_key, unit_id);
COMMENT ON VIEW lake.experiment_assignments IS 'Experiment assignments in the shape warehouse-native experimentation tools expect (user_id, timestamp, experiment_id, variation_id, dimensions): one row per exposed unit at its first exposure. multiple_variants marks units Seam leaves out of its own analysis.';
COMMENT ON COLUMN lake.experiment_assignments.user_id IS 'The unit id (feature_flag.context.id, else user id, else session id).';
COMMENT ON COLUMN lake.experiment_assignments."timestamp" IS 'First exposure.';
COMMENT ON COLUMN lake.experiment_assignments.experiment_id IS 'Experiment key.';
COMMENT ON COLUMN lake.experiment_assignments.variation_id IS 'Variant at first exposure.';
COMMENT ON COLUMN lake.experiment_assignments.unit_type IS 'context, user or session.';
COMMENT ON COLUMN lake.experiment_assignments.session_id IS 'Session of the first exposure.';
COMMENT ON COLUMN lake.experiment_assignments.multiple_variants IS 'True when the unit saw more than one variant.';
COMMENT ON COLUMN lake.experiment_assignments.device IS 'Device dimension once experiment_results has run.';
