-- Experiment analysis equal to GrowthBook's stats engine (gbstats 0.8.0): for each
-- treatment, the frequentist test for both difference types, the same on CUPED-adjusted
-- statistics, the sequential test (always-valid confidence sequences) and the Bayesian
-- effect test. The columns added here are computed from the sufficient statistics the
-- row already stores, under gbstats' conventions (see SeamETL/Statistics/Engines.swift).

ALTER TABLE lake.experiment_results
    ADD COLUMN relative_p_value double precision,
    ADD COLUMN cuped_theta double precision,
    ADD COLUMN cuped_relative_ci_low double precision,
    ADD COLUMN cuped_relative_ci_high double precision,
    ADD COLUMN cuped_relative_p_value double precision,
    ADD COLUMN sequential_absolute_ci_low double precision,
    ADD COLUMN sequential_absolute_ci_high double precision,
    ADD COLUMN sequential_absolute_p_value double precision,
    ADD COLUMN sequential_relative_ci_low double precision,
    ADD COLUMN sequential_relative_ci_high double precision,
    ADD COLUMN sequential_relative_p_value double precision,
    ADD COLUMN bayesian_absolute_expected double precision,
    ADD COLUMN bayesian_absolute_ci_low double precision,
    ADD COLUMN bayesian_absolute_ci_high double precision,
    ADD COLUMN bayesian_absolute_chance_to_win double precision,
    ADD COLUMN bayesian_absolute_risk_control double precision,
    ADD COLUMN bayesian_absolute_risk_treatment double precision,
    ADD COLUMN bayesian_relative_expected double precision,
    ADD COLUMN bayesian_relative_ci_low double precision,
    ADD COLUMN bayesian_relative_ci_high double precision,
    ADD COLUMN bayesian_relative_chance_to_win double precision,
    ADD COLUMN bayesian_relative_risk_control double precision,
    ADD COLUMN bayesian_relative_risk_treatment double precision;

COMMENT ON COLUMN lake.experiment_results.variance IS 'Per-unit variance the engines use, under gbstats'' conventions: p(1 - p) for proportion metrics, the n - 1 sample variance for mean metrics, the delta-method variance of the per-unit ratio for ratio metrics.';
COMMENT ON COLUMN lake.experiment_results.absolute_diff IS 'Treatment mean - control mean (frequentist, unadjusted).';
COMMENT ON COLUMN lake.experiment_results.absolute_ci_low IS 'Lower end of the (1 - alpha) interval of the absolute difference: Welch''s t with Welch-Satterthwaite degrees of freedom (gbstats TwoSidedTTest).';
COMMENT ON COLUMN lake.experiment_results.absolute_ci_high IS 'Upper end of that interval.';
COMMENT ON COLUMN lake.experiment_results.p_value IS 'Two-sided p-value of the absolute difference (Welch''s t-test).';
COMMENT ON COLUMN lake.experiment_results.relative_lift IS '(Treatment mean - control mean) / control mean.';
COMMENT ON COLUMN lake.experiment_results.relative_ci_low IS 'Lower end of the (1 - alpha) interval of the relative lift: delta-method variance, Student''s t quantile with Welch-Satterthwaite degrees of freedom (gbstats TwoSidedTTest, relative).';
COMMENT ON COLUMN lake.experiment_results.relative_ci_high IS 'Upper end of that interval.';
COMMENT ON COLUMN lake.experiment_results.relative_p_value IS 'Two-sided p-value of the relative lift (gbstats TwoSidedTTest, relative); it differs from p_value, which is about the absolute difference.';
COMMENT ON COLUMN lake.experiment_results.cuped_theta IS 'CUPED''s theta for this treatment and the control: cov(y, c) / var(c) over the two variants pooled (gbstats compute_theta); 0 when either pooled variance is 0 (the adjustment is then off).';
COMMENT ON COLUMN lake.experiment_results.cuped_relative_lift IS 'CUPED-adjusted relative lift: adjusted difference over the control''s unadjusted mean.';
COMMENT ON COLUMN lake.experiment_results.cuped_relative_ci_low IS 'Lower end of the (1 - alpha) interval of the CUPED-adjusted relative lift.';
COMMENT ON COLUMN lake.experiment_results.cuped_relative_ci_high IS 'Upper end of that interval.';
COMMENT ON COLUMN lake.experiment_results.cuped_relative_p_value IS 'Two-sided p-value of the CUPED-adjusted relative lift.';
COMMENT ON COLUMN lake.experiment_results.sequential_absolute_ci_low IS 'Sequential engine (gbstats SequentialTwoSidedTTest, always valid: may be looked at after every run): lower end of the confidence sequence of the absolute difference. On CUPED-adjusted statistics when the metric has them.';
COMMENT ON COLUMN lake.experiment_results.sequential_absolute_ci_high IS 'Upper end of that confidence sequence.';
COMMENT ON COLUMN lake.experiment_results.sequential_absolute_p_value IS 'Always-valid p-value of the absolute difference.';
COMMENT ON COLUMN lake.experiment_results.sequential_relative_ci_low IS 'Lower end of the confidence sequence of the relative lift.';
COMMENT ON COLUMN lake.experiment_results.sequential_relative_ci_high IS 'Upper end of that confidence sequence.';
COMMENT ON COLUMN lake.experiment_results.sequential_relative_p_value IS 'Always-valid p-value of the relative lift.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_expected IS 'Bayesian engine (gbstats EffectBayesianABTest; the experiment''s prior, flat by default): posterior mean of the absolute difference. On CUPED-adjusted statistics when the metric has them.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_ci_low IS 'Lower end of the (1 - alpha) credible interval of the absolute difference.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_ci_high IS 'Upper end of that credible interval.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_chance_to_win IS 'Posterior probability that the treatment is better (higher, or lower for lower-is-better metrics), from the absolute difference''s posterior.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_risk_control IS 'Expected loss (absolute units of the metric) of shipping the control.';
COMMENT ON COLUMN lake.experiment_results.bayesian_absolute_risk_treatment IS 'Expected loss (absolute units of the metric) of shipping the treatment.';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_expected IS 'Posterior mean of the relative lift.';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_ci_low IS 'Lower end of the (1 - alpha) credible interval of the relative lift.';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_ci_high IS 'Upper end of that credible interval.';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_chance_to_win IS 'Posterior probability that the treatment is better, from the relative lift''s posterior (GrowthBook''s default "chance to win").';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_risk_control IS 'Expected relative loss of shipping the control.';
COMMENT ON COLUMN lake.experiment_results.bayesian_relative_risk_treatment IS 'Expected relative loss of shipping the treatment.';

ALTER TABLE lake.experiments
    ADD COLUMN engine text NOT NULL DEFAULT 'frequentist' CHECK (engine IN ('frequentist', 'bayesian', 'sequential')),
    ADD COLUMN multiple_exposures text NOT NULL DEFAULT 'exclude' CHECK (multiple_exposures IN ('exclude', 'first')),
    ADD COLUMN multiple_exposure_units integer NOT NULL DEFAULT 0,
    ADD COLUMN multiple_exposure_share double precision,
    ADD COLUMN multiple_exposure_flag boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN lake.experiments.excluded_units IS 'Units left out because they saw more than one variant (0 with multiple_exposures = first, which analyses them in their first variant).';
COMMENT ON COLUMN lake.experiments.engine IS 'The engine whose figures the experiment reports first (seam.yaml experiments.KEY.engine): frequentist, bayesian or sequential. lake.experiment_results stores all three.';
COMMENT ON COLUMN lake.experiments.multiple_exposures IS 'What is done with units that saw several variants: exclude (left out) or first (analysed in the first variant they saw).';
COMMENT ON COLUMN lake.experiments.multiple_exposure_units IS 'Units exposed to the experiment that saw more than one variant.';
COMMENT ON COLUMN lake.experiments.multiple_exposure_share IS 'multiple_exposure_units over all exposed units; NULL without units.';
COMMENT ON COLUMN lake.experiments.multiple_exposure_flag IS 'True when multiple_exposure_share exceeds the experiment''s multiple_exposure_threshold (1 % by default): assignment is leaking; distrust the results.';
