#!/usr/bin/env python3
"""Reference values for Seam's statistics, computed with SciPy.

Writes JSON to the path given (default: stdout). ops/test runs it and points the Swift
tests (Tests/SeamETLTests/StatisticsTests.swift) at the output through
SEAM_SCIPY_REFERENCE; the committed copy under Tests/SeamETLTests/Fixtures is what the
tests use when SciPy is not at hand.
"""

import numpy as np
from scipy import stats

from reference_output import write


def welch_case(t_mean, t_var, t_n, c_mean, c_var, c_n, alpha):
    res = stats.ttest_ind_from_stats(t_mean, np.sqrt(t_var), t_n, c_mean, np.sqrt(c_var), c_n, equal_var=False)
    vt, vc = t_var / t_n, c_var / c_n
    df = (vt + vc) ** 2 / (vt ** 2 / (t_n - 1) + vc ** 2 / (c_n - 1))
    se = np.sqrt(vt + vc)
    q = stats.t.ppf(1 - alpha / 2, df)
    diff = t_mean - c_mean
    return {
        "treatment": [t_mean, t_var, t_n], "control": [c_mean, c_var, c_n], "alpha": alpha,
        "difference": diff, "t": float(res.statistic), "p_value": float(res.pvalue), "df": float(df),
        "ci_low": float(diff - q * se), "ci_high": float(diff + q * se),
    }


def main():
    welch = [
        welch_case(0.112, 0.112 * 0.888, 5012, 0.101, 0.101 * 0.899, 4988, 0.05),
        welch_case(41.7, 2210.5, 1200, 39.2, 1980.1, 1175, 0.05),
        welch_case(3.0, 1.0, 12, 2.1, 4.0, 9, 0.1),
        welch_case(-0.5, 0.25, 40, 0.5, 9.0, 400, 0.01),
        welch_case(100.0, 400.0, 1_000_000, 100.05, 410.0, 999_000, 0.05),
    ]
    quantiles = [
        {"p": p, "df": df, "quantile": float(stats.t.ppf(p, df)), "survival_at_2": float(stats.t.sf(2.0, df))}
        for p, df in [(0.975, 1.0), (0.975, 2.5), (0.95, 7.3), (0.995, 30.0), (0.9995, 12.0), (0.025, 100.0), (0.975, 5000.0)]
    ]
    normal = [{"p": p, "quantile": float(stats.norm.ppf(p))} for p in [0.5, 0.8, 0.975, 0.995, 1e-6, 0.999999]]
    chisquare = []
    for observed, weights in [
        ([5000, 5000], [1, 1]),
        ([5100, 4900], [1, 1]),
        ([10210, 9800, 9990], [1, 1, 1]),
        ([500, 260, 240], [2, 1, 1]),
        ([1000, 820], [1, 1]),
        ([33, 67], [0.4, 0.6]),
    ]:
        total = sum(observed)
        expected = [total * w / sum(weights) for w in weights]
        res = stats.chisquare(observed, expected)
        chisquare.append({"observed": observed, "weights": weights, "statistic": float(res.statistic), "p_value": float(res.pvalue)})

    rng = np.random.default_rng(20261122)
    n_t, n_c = 400, 380
    x_t = rng.gamma(2.0, 5.0, n_t).round(2)
    x_c = rng.gamma(2.0, 5.0, n_c).round(2)
    y_t = (0.8 * x_t + rng.normal(1.5, 4.0, n_t)).round(2)
    y_c = (0.8 * x_c + rng.normal(0.0, 4.0, n_c)).round(2)
    x_all = np.concatenate([x_t, x_c])
    y_all = np.concatenate([y_t, y_c])
    theta = np.cov(y_all, x_all, ddof=1)[0, 1] / np.var(x_all, ddof=1)
    adj_t = y_t - theta * (x_t - x_all.mean())
    adj_c = y_c - theta * (x_c - x_all.mean())
    res = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    vt, vc = adj_t.var(ddof=1) / n_t, adj_c.var(ddof=1) / n_c
    df = (vt + vc) ** 2 / (vt ** 2 / (n_t - 1) + vc ** 2 / (n_c - 1))
    q = stats.t.ppf(0.975, df)
    diff = adj_t.mean() - adj_c.mean()
    cuped = {
        "treatment_values": y_t.tolist(), "treatment_covariates": x_t.tolist(),
        "control_values": y_c.tolist(), "control_covariates": x_c.tolist(), "alpha": 0.05,
        "theta": float(theta), "difference": float(diff), "p_value": float(res.pvalue), "df": float(df),
        "ci_low": float(diff - q * np.sqrt(vt + vc)), "ci_high": float(diff + q * np.sqrt(vt + vc)),
        "unadjusted_p_value": float(stats.ttest_ind(y_t, y_c, equal_var=False).pvalue),
    }

    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
    bh = stats.false_discovery_control(p, method="bh").tolist()
    order = np.argsort(p, kind="stable")
    holm = [0.0] * len(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        holm[i] = running
    adjustments = {"p": p, "holm": holm, "bh": bh}

    out = {
        "scipy_version": __import__("scipy").__version__, "welch": welch, "t_quantiles": quantiles,
        "normal_quantiles": normal, "chisquare": chisquare, "cuped": cuped, "adjustments": adjustments,
    }
    write(out)


if __name__ == "__main__":
    main()
