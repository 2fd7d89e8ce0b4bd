"""
Two experiments side by side (``ppo-variants report DIR --versus OTHER``): the (environment, variant) cells the two
output directories share, for example the same runs trained by the SB3 classes and by the batched engine, compared by
final return and AUC (``scoring.curve_scores``). Per cell and metric: each side's mean with its t-interval, the
difference of the means, Welch's two-sample t-test, a permutation test of the same difference (exact when the splits
are few, otherwise Monte Carlo), and the smallest difference that Welch's test detects at that many runs with the
stated power (the minimal detectable difference, ``(t_{1-alpha/2} + t_{power}) * se`` at Welch's degrees of freedom).

A difference below the minimal detectable one and a large p-value say that the experiment cannot tell the two apart at
that resolution; they do not prove them equal.
"""

import math
import os
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.document import Document, TextTable
from sb3_ppo_variants.analysis.formatting import number
from sb3_ppo_variants.analysis.intervals import (
    interval_estimate,
    mean_standard_error,
    regularized_incomplete_beta,
    student_t_quantile,
)
from sb3_ppo_variants.analysis.scoring import curve_scores, group_curves
from sb3_ppo_variants.analysis.stats import bootstrap_seed
from sb3_ppo_variants.records import load_records

__all__ = ["TIDY_COLUMNS", "TwoSampleReport", "WelchTest", "build_two_sample", "minimal_detectable_difference", "welch_test"]

TIDY_COLUMNS = ["table", "env_id", "variant", "metric", "statistic", "value"]
METRICS = ("final_return", "auc")


class WelchTest(NamedTuple):
    """
    Welch's two-sample t-test of ``mean(x) - mean(y)``: the ``difference``, its standard error ``se`` (``sqrt(s_x^2 /
    n_x + s_y^2 / n_y)``), the Welch-Satterthwaite degrees of freedom ``df``, ``t = difference / se`` and the two-sided
    p-value ``p``.
    """

    difference: float
    se: float
    df: float
    t: float
    p: float


def _check_sample(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise ValueError(f"{name} must be a 1-D array of at least 2 finite values, got {values!r}")
    return values


def welch_test(x: np.ndarray, y: np.ndarray) -> WelchTest:
    """
    Welch's t-test of equal means, two-sided; the p-value is ``I_{df / (df + t^2)}(df / 2, 1 / 2)``.

    :param x: one sample, at least 2 finite values
    :param y: the other, at least 2 finite values
    :return: the test; with no spread in either sample, se is 0, df and t NaN, and p is 1 for equal means, 0 otherwise
    """
    x, y = _check_sample(x, "x"), _check_sample(y, "y")
    # the mean of the two samples' means has standard error sqrt(v_x + v_y) / 2 and Welch's degrees of freedom
    half_se, df = mean_standard_error(x, y)
    difference, se = float(x.mean() - y.mean()), 2.0 * float(half_se)
    if se == 0.0:
        return WelchTest(difference, 0.0, math.nan, math.nan, float(difference == 0.0))
    df, t = float(df), difference / se
    return WelchTest(difference, se, df, t, float(regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)))


def permutation_p(x: np.ndarray, y: np.ndarray, n_resamples: int = 10_000, seed: int | list[int] = 0) -> float:
    """
    Two-sided permutation test of ``mean(x) - mean(y)``: the fraction of the splits of the pooled values into groups of
    ``len(x)`` and ``len(y)`` whose difference is at least as large in absolute value as the observed one.

    :param x: one sample
    :param y: the other
    :param n_resamples: every split when there are at most this many, otherwise this many random splits, counted as
        ``(hits + 1) / (n_resamples + 1)``
    :param seed: seed of the random splits
    :return: the p-value
    """
    x, y = _check_sample(x, "x"), _check_sample(y, "y")
    pooled = np.concatenate([x, y])
    n_x, total = len(x), pooled.sum()
    observed = abs(x.mean() - y.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))

    def differences(sums: np.ndarray) -> np.ndarray:
        return np.abs(sums / n_x - (total - sums) / len(y))

    if math.comb(len(pooled), n_x) <= n_resamples:
        sums = np.array([pooled[list(chosen)].sum() for chosen in combinations(range(len(pooled)), n_x)])
        return float(np.mean(differences(sums) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.tile(np.arange(len(pooled)), (n_resamples, 1)), axis=1)
    hits = int(np.sum(differences(pooled[order[:, :n_x]].sum(axis=1)) >= observed - tolerance))
    return (hits + 1) / (n_resamples + 1)


def minimal_detectable_difference(se: float, df: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """
    The smallest true difference of means that a two-sided Welch test at level ``alpha`` detects with probability
    ``power``, for samples with this standard error and these degrees of freedom: ``(t_{1-alpha/2} + t_{power}) * se``.

    :param se: standard error of the difference
    :param df: degrees of freedom
    :param alpha: level of the test, in (0, 1)
    :param power: the probability of detection, in (0, 1)
    :return: the difference; NaN for NaN degrees of freedom
    """
    for value, name in ((alpha, "alpha"), (power, "power")):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float((student_t_quantile(1.0 - alpha / 2.0, df) + student_t_quantile(power, df)) * se)


@dataclass(frozen=True)
class TwoSampleReport:
    """
    The comparison of two output directories, as ``build_two_sample`` builds it.

    :param table: one row per shared (env_id, variant) and metric: ``n_a, mean_a, low_a, high_a`` and the same for b
        (t-intervals of the mean), ``difference`` (a - b), ``welch_p``, ``permutation_p``, ``mdd`` (minimal detectable
        difference)
    :param unmatched: the (env_id, variant) cells with completed runs on one side only, and that side
    :param settings: the parameters the report was built with, and the two directories
    """

    table: pd.DataFrame
    unmatched: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)

    def document(self) -> Document:
        """
        The report as the writers see it: the table ``Two samples`` and, when cells are on one side only, ``Cells on
        one side only``; the tidy rows (``TIDY_COLUMNS``, one per number of ``table``); the JSON content (``settings``,
        ``table`` and ``unmatched`` as lists of row objects).

        :return: the document
        """
        s = self.settings
        a, b = s["a"], s["b"]
        header = (
            f"a = {a}, b = {b}. Per cell: mean over its completed runs with a {round(100 * s['confidence'])}% t-interval; "
            f"Welch's t-test and a permutation test ({s['n_resamples']} splits, seed {s['seed']}) of the difference of the "
            f"means; mdd = the smallest difference Welch's test detects at level {s['alpha']} with power {s['power']} at "
            f"these numbers of runs and this spread. Final return: mean of the last {s['final_k']} evaluations; AUC: mean "
            "return over all evaluation points; diverged runs scored as in the standard report "
            f"(diverged = {s['diverged']!r})."
        )
        rows = [
            {
                "environment": row.env_id,
                "variant": row.variant,
                "metric": row.metric,
                "a": f"{number(row.mean_a)} [{number(row.low_a)}, {number(row.high_a)}] (n = {row.n_a})",
                "b": f"{number(row.mean_b)} [{number(row.low_b)}, {number(row.high_b)}] (n = {row.n_b})",
                "a - b": number(row.difference),
                "Welch p": f"{row.welch_p:.3f}",
                "permutation p": f"{row.permutation_p:.3f}",
                "mdd": number(row.mdd),
            }
            for row in self.table.itertuples()
        ]
        tables = [TextTable("Two samples", "a and b as in the header; p-values two-sided", pd.DataFrame(rows))]
        if not self.unmatched.empty:
            tables.append(TextTable("Cells on one side only", "not compared", self.unmatched))
        numbers = [c for c in self.table.columns if c not in ("env_id", "variant", "metric")]
        tidy = self.table.melt(["env_id", "variant", "metric"], numbers, var_name="statistic", value_name="value")
        tidy = tidy.assign(table="two_sample")[TIDY_COLUMNS]
        content = {
            "settings": dict(s),
            "table": self.table.to_dict("records"),
            "unmatched": self.unmatched.to_dict("records"),
        }
        return Document("Two samples", header, tuple(tables), tidy, content)


def _cell_scores(directory: str | os.PathLike, final_k: int, diverged: str) -> dict[tuple, dict[str, np.ndarray]]:
    return {
        tuple(group.keys): curve_scores(group.returns, final_k)
        for group in group_curves(load_records(directory), ("env_id", "label"), diverged)
        if group.returns is not None
    }


def _cell_row(cell: tuple, metric: str, x: np.ndarray, y: np.ndarray, settings: dict[str, Any]) -> dict[str, Any]:
    """One row of ``TwoSampleReport.table``: a cell's metric on both sides, the tests and the detectable difference."""
    test = welch_test(x, y)
    mean_a, low_a, high_a = (float(v) for v in interval_estimate(x, "mean", "t", confidence=settings["confidence"]))
    mean_b, low_b, high_b = (float(v) for v in interval_estimate(y, "mean", "t", confidence=settings["confidence"]))
    seed = bootstrap_seed(settings["seed"], metric, *cell)
    return {
        "env_id": cell[0],
        "variant": cell[1],
        "metric": metric,
        "n_a": len(x),
        "mean_a": mean_a,
        "low_a": low_a,
        "high_a": high_a,
        "n_b": len(y),
        "mean_b": mean_b,
        "low_b": low_b,
        "high_b": high_b,
        "difference": test.difference,
        "welch_p": test.p,
        "permutation_p": permutation_p(x, y, settings["n_resamples"], seed),
        "mdd": minimal_detectable_difference(test.se, test.df, settings["alpha"], settings["power"]) if test.se > 0 else 0.0,
    }


def build_two_sample(
    a: str | os.PathLike,
    b: str | os.PathLike,
    final_k: int = 3,
    diverged: str = "worst",
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TwoSampleReport:
    """
    Compare the cells (environment, variant label) that two output directories of ``run`` share.

    :param a: one output directory
    :param b: the other
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, as in ``build_report``
    :param confidence: confidence level of each side's interval
    :param alpha: level of the tests
    :param power: power at which the minimal detectable difference is computed
    :param n_resamples: splits of the permutation test
    :param seed: seed of the permutation test; the same seed and records give the same report
    :return: the report
    :raises ValueError: when the directories share no cell with at least 2 completed runs on each side
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    scores_a, scores_b = _cell_scores(a, final_k, diverged), _cell_scores(b, final_k, diverged)
    settings = {
        "a": str(a),
        "b": str(b),
        "final_k": final_k,
        "diverged": diverged,
        "confidence": confidence,
        "alpha": alpha,
        "power": power,
        "n_resamples": n_resamples,
        "seed": seed,
    }
    rows = [
        _cell_row(cell, metric, scores_a[cell][metric], scores_b[cell][metric], settings)
        for cell in sorted(set(scores_a) & set(scores_b))
        for metric in METRICS
        if min(len(scores_a[cell][metric]), len(scores_b[cell][metric])) >= 2
    ]
    if not rows:
        raise ValueError(f"{a} and {b} share no (environment, variant) with at least 2 completed runs on each side")
    unmatched = pd.DataFrame(
        [{"env_id": c[0], "variant": c[1], "side": "a"} for c in sorted(set(scores_a) - set(scores_b))]
        + [{"env_id": c[0], "variant": c[1], "side": "b"} for c in sorted(set(scores_b) - set(scores_a))],
        columns=["env_id", "variant", "side"],
    )
    return TwoSampleReport(pd.DataFrame(rows), unmatched, settings)
