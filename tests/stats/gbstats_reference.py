#!/usr/bin/env python3
"""Reference values for Seam's experiment engines, computed with GrowthBook's gbstats 0.8.0.

Every case is a set of sufficient statistics (n, sums, sums of squares and cross products
per variant), the very numbers lake.experiment_results stores. For each treatment against
the control, both difference types and the three engines (TwoSidedTTest,
SequentialTwoSidedTTest, EffectBayesianABTest) are computed by gbstats from those numbers.

Writes JSON to the path given (default: stdout). ops/test runs it and points the Swift
tests (Tests/SeamETLTests/EngineParityTests.swift) at the output through
SEAM_GBSTATS_REFERENCE; the committed copy under Tests/SeamETLTests/Fixtures is what the
tests use when gbstats is not at hand.
"""
import math
from importlib.metadata import version

import numpy as np
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

from reference_output import write


def sums(values):
    values = np.asarray(values, dtype=float)
    return {"n": int(values.size), "sum": float(values.sum()), "sum_squares": float((values * values).sum())}


def cross(a, b):
    return float((np.asarray(a, dtype=float) * np.asarray(b, dtype=float)).sum())


def statistic(kind, v, cuped):
    """A fresh gbstats statistic for one variant (gbstats sets theta on the objects it is given)."""
    def simple(n, s, ss):
        return ProportionStatistic(n=n, sum=s) if kind == "proportion" else SampleMeanStatistic(n=n, sum=s, sum_squares=ss)

    if kind == "ratio":
        d = v["denominator"]
        return RatioStatistic(
            n=v["n"],
            m_statistic=SampleMeanStatistic(n=v["n"], sum=v["sum"], sum_squares=v["sum_squares"]),
            d_statistic=SampleMeanStatistic(n=v["n"], sum=d[0], sum_squares=d[1]),
            m_d_sum_of_products=d[2],
        )
    post = simple(v["n"], v["sum"], v["sum_squares"])
    if not cuped:
        return post
    c = v["covariate"]
    return RegressionAdjustedStatistic(
        n=v["n"], post_statistic=post, pre_statistic=simple(v["n"], c[0], c[1]), post_pre_sum_of_products=c[2], theta=0
    )


def finite(x):
    return x if x is not None and math.isfinite(x) else None


def frequentist(result):
    if result.error_message:
        return {"error": result.error_message}
    return {"expected": result.expected, "ci": [finite(x) for x in result.ci], "p_value": result.p_value}


def bayesian(result):
    if result.error_message:
        return {"error": result.error_message}
    return {
        "expected": result.expected, "ci": result.ci, "chance_to_win": result.chance_to_win,
        "risk": result.risk,
    }


def case(name, kind, variants, alpha=0.05, cuped=False, lower_is_better=False, prior=None, tuning=5000.0):
    out = {
        "name": name, "kind": kind, "cuped": cuped, "alpha": alpha, "lower_is_better": lower_is_better,
        "tuning": tuning, "prior": prior, "variants": variants, "comparisons": [],
    }
    for i in range(1, len(variants)):
        comparison = {"treatment": i}
        for difference in ("absolute", "relative"):
            a, b = statistic(kind, variants[0], cuped), statistic(kind, variants[i], cuped)
            f = TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=difference)).compute_result()
            a, b = statistic(kind, variants[0], cuped), statistic(kind, variants[i], cuped)
            s = SequentialTwoSidedTTest(
                a, b, SequentialConfig(alpha=alpha, difference_type=difference, sequential_tuning_parameter=tuning)
            ).compute_result()
            a, b = statistic(kind, variants[0], cuped), statistic(kind, variants[i], cuped)
            gp = GaussianPrior(**prior["gaussian"]) if prior else GaussianPrior()
            config = EffectBayesianConfig(
                alpha=alpha, difference_type=difference, inverse=lower_is_better, prior_effect=gp,
                prior_type=prior["type"] if prior else "relative",
            )
            bt = EffectBayesianABTest(a, b, config).compute_result()
            comparison[difference] = {"frequentist": frequentist(f), "sequential": frequentist(s), "bayesian": bayesian(bt)}
        out["comparisons"].append(comparison)
    return out


def with_covariate(values, covariates):
    v = sums(values)
    c = sums(covariates)
    v["covariate"] = [c["sum"], c["sum_squares"], cross(values, covariates)]
    return v


def with_denominator(numerators, denominators):
    v = sums(numerators)
    d = sums(denominators)
    v["denominator"] = [d["sum"], d["sum_squares"], cross(numerators, denominators)]
    return v


def main():
    rng = np.random.default_rng(20261125)
    cases = []

    # Proportions: a typical conversion test, a large one, a tiny one, three variants.
    def proportion(n, s):
        return {"n": n, "sum": s, "sum_squares": s}

    cases.append(case("proportion", "proportion", [proportion(5012, 561), proportion(4988, 618)]))
    cases.append(case("proportion large", "proportion", [proportion(1_000_000, 101_250), proportion(999_000, 101_910)]))
    cases.append(case("proportion tiny", "proportion", [proportion(9, 3), proportion(7, 4)], alpha=0.1))
    cases.append(case("proportion three variants", "proportion",
                      [proportion(3000, 300), proportion(3050, 340), proportion(2980, 280)]))
    cases.append(case("proportion zero-variance control", "proportion", [proportion(400, 0), proportion(410, 3)]))

    # Means (revenue per unit), skewed, with a sample of values.
    control = rng.gamma(0.6, 40.0, 2400).round(2)
    treatment = rng.gamma(0.6, 43.0, 2350).round(2)
    cases.append(case("mean", "mean", [sums(control), sums(treatment)]))
    cases.append(case("mean lower is better", "mean", [sums(control), sums(treatment)], lower_is_better=True))
    cases.append(case("mean tiny", "mean", [sums([3.0, 5.5, 1.25]), sums([4.0, 7.5, 2.0, 6.0])], alpha=0.1))
    cases.append(case("mean large", "mean", [
        {"n": 1_000_000, "sum": 41_700_000.0, "sum_squares": 41_700_000.0 ** 2 / 1_000_000 + 2210.5 * 999_999},
        {"n": 998_000, "sum": 41_710_000.0, "sum_squares": 41_710_000.0 ** 2 / 998_000 + 2250.0 * 997_999},
    ]))
    cases.append(case("mean zero-variance control", "mean", [sums([5.0] * 50), sums(rng.normal(5, 1, 60).round(2))]))
    third = rng.gamma(0.6, 38.0, 2380).round(2)
    cases.append(case("mean three variants", "mean", [sums(control), sums(treatment), sums(third)]))

    # Capped: the same revenue capped at the 99th percentile of all units (the cap Seam stores).
    cap = float(np.percentile(np.concatenate([control, treatment]), 99))
    cases.append(case("mean capped", "mean", [sums(np.minimum(control, cap)), sums(np.minimum(treatment, cap))]))

    # Ratio: revenue per session.
    sessions_c = rng.integers(1, 6, 1800).astype(float)
    sessions_t = rng.integers(1, 6, 1750).astype(float)
    revenue_c = (sessions_c * rng.gamma(1.0, 9.0, 1800)).round(2)
    revenue_t = (sessions_t * rng.gamma(1.0, 9.8, 1750)).round(2)
    cases.append(case("ratio", "ratio", [with_denominator(revenue_c, sessions_c), with_denominator(revenue_t, sessions_t)]))

    # CUPED: a mean metric with a correlated pre-exposure covariate, two and three variants.
    pre_c = rng.gamma(2.0, 5.0, 900).round(2)
    pre_t = rng.gamma(2.0, 5.0, 880).round(2)
    pre_u = rng.gamma(2.0, 5.0, 905).round(2)
    post_c = (0.8 * pre_c + rng.normal(0.0, 4.0, 900)).round(2)
    post_t = (0.8 * pre_t + rng.normal(1.2, 4.0, 880)).round(2)
    post_u = (0.8 * pre_u + rng.normal(0.4, 4.0, 905)).round(2)
    cuped_two = [with_covariate(post_c, pre_c), with_covariate(post_t, pre_t)]
    cases.append(case("mean CUPED", "mean", cuped_two, cuped=True))
    cases.append(case("mean CUPED three variants", "mean",
                      cuped_two + [with_covariate(post_u, pre_u)], cuped=True))
    # CUPED on a proportion: converted before and after exposure.
    conv_pre_c = (rng.random(3000) < 0.2).astype(float)
    conv_pre_t = (rng.random(3100) < 0.2).astype(float)
    conv_c = np.where(rng.random(3000) < 0.6, conv_pre_c, (rng.random(3000) < 0.2)).astype(float)
    conv_t = np.where(rng.random(3100) < 0.6, conv_pre_t, (rng.random(3100) < 0.24)).astype(float)
    cases.append(case("proportion CUPED", "proportion",
                      [with_covariate(conv_c, conv_pre_c), with_covariate(conv_t, conv_pre_t)], cuped=True))
    # A covariate without variance: gbstats falls back to the unadjusted statistics.
    cases.append(case("mean CUPED constant covariate", "mean",
                      [with_covariate(post_c, np.ones(900)), with_covariate(post_t, np.ones(880))], cuped=True))

    # Priors and tuning: a proper relative prior, a proper absolute prior, another tuning.
    cases.append(case("proportion proper relative prior", "proportion", [proportion(5012, 561), proportion(4988, 618)],
                      prior={"gaussian": {"mean": 0.0, "variance": 0.3 ** 2, "proper": True}, "type": "relative"}))
    cases.append(case("mean proper absolute prior", "mean", [sums(control), sums(treatment)],
                      prior={"gaussian": {"mean": 0.5, "variance": 4.0, "proper": True}, "type": "absolute"}))
    cases.append(case("proportion sequential tuning 500", "proportion", [proportion(1200, 130), proportion(1180, 160)],
                      tuning=500.0))
    cases.append(case("mean alpha 0.01", "mean", [sums(control), sums(treatment)], alpha=0.01))

    out = {"gbstats_version": version("gbstats"), "cases": cases}
    write(out)


if __name__ == "__main__":
    main()
