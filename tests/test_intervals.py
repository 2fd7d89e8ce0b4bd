"""Interval methods against hand-worked values, and the coverage measurement that chose the report's default."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from sb3_ppo_variants.analysis.coverage import coverage_markdown, coverage_table
from sb3_ppo_variants.analysis.intervals import (
    DEFAULT_METHOD,
    METHODS,
    _bca,
    interval_estimate,
    iqm_standard_error,
    mean_standard_error,
    regularized_incomplete_beta,
    student_t_quantile,
)
from sb3_ppo_variants.analysis.stats import aggregate_iqm, iqm, stratified_bootstrap_ci

DOCS = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"


def test_student_t_quantiles_by_hand() -> None:
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + arctan(t) / pi, so t_p = tan(pi (p - 1/2)).
    # df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so t_p = (2p - 1) / sqrt(2 p (1 - p)).
    # df = 4: 2.776445 (printed t tables: 2.776); a huge df tends to the normal 1.959964.
    for p in (0.975, 0.9, 0.6):
        assert student_t_quantile(p, 1.0) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
        assert student_t_quantile(p, 2.0) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)
    np.testing.assert_allclose(student_t_quantile(0.975, [4.0, 1e7]), [2.776445, 1.959964], atol=2e-6)
    assert student_t_quantile(0.025, 4.0) == pytest.approx(-2.776445, abs=2e-6)
    assert np.isnan(student_t_quantile(0.975, math.nan))
    # I_x(2, 3) = sum_{j=2..4} C(4, j) x^j (1 - x)^(4 - j): at x = 1/2, (6 + 4 + 1) / 16
    assert regularized_incomplete_beta(0.5, 2.0, 3.0) == pytest.approx(11 / 16, rel=1e-12)


def test_standard_errors_and_t_intervals_by_hand() -> None:
    values = np.array([1.0, 2.0, 3.0, 10.0, 4.0])
    # mean 4; deviations -3, -2, -1, 6, 0: s^2 = 50 / 4 = 12.5, se = sqrt(12.5 / 5) = sqrt(2.5), df 4
    se, df = mean_standard_error(values)
    assert (se, df) == (pytest.approx(math.sqrt(2.5)), pytest.approx(4.0))
    point, low, high = interval_estimate(values, "mean", "t")
    assert point == 4.0 and (low, high) == pytest.approx((4 - 2.776445 * math.sqrt(2.5), 4 + 2.776445 * math.sqrt(2.5)))
    # IQM of 5: cut 1 each end, mean of 2, 3, 4 = 3. Winsorised: 2, 2, 3, 4, 4 (mean 3, squared deviations 1, 1, 0, 1, 1),
    # s_w = sqrt(4 / 4) = 1; h = 3 kept; se = 1 * sqrt(5) / 3; df = h - 1 = 2, t = 4.302653
    se, df = iqm_standard_error(values)
    assert (se, df) == (pytest.approx(math.sqrt(5) / 3), 2.0)
    point, low, high = interval_estimate(values, "iqm", "t")
    assert point == 3.0 and (low, high) == pytest.approx((3 - 4.302653 * math.sqrt(5) / 3, 3 + 4.302653 * math.sqrt(5) / 3))
    # aggregate mean of tasks [1, 2, 3] (mean 2, s^2 1) and [2, 4] (mean 3, s^2 2): 2.5; v = 1/3 and 1,
    # se = sqrt(4/3) / 2; Welch df = (4/3)^2 / ((1/3)^2 / 2 + 1^2 / 1) = (16/9) / (19/18) = 32/19
    se, df = mean_standard_error(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0]))
    assert (se, df) == (pytest.approx(math.sqrt(4 / 3) / 2), pytest.approx(32 / 19))
    # one run: no spread, no interval
    assert np.isnan(interval_estimate(np.array([5.0]), "mean", "t")[1])


def test_percentile_is_the_stratified_bootstrap_and_bca_by_hand() -> None:
    strata = [np.array([1.0, 2.0, 3.0, 10.0]), np.array([0.0, 1.0, 5.0])]
    assert interval_estimate(strata, "iqm", "percentile", 300, 0.95, 7) == stratified_bootstrap_ci(
        strata, aggregate_iqm, 300, 0.95, 7
    )
    assert interval_estimate(strata[0], "iqm", "percentile", 300, 0.95, 7) == stratified_bootstrap_ci(
        strata[0], iqm, 300, 0.95, 7
    )
    # BCa of the mean of [0, 0, 3], given bootstrap statistics -1, -0.998, ..., 1 (1001 values) around the point 0:
    # 500 below, one tie (counted half), 500 above, so the bias correction z0 = 0. Jackknife means 1.5, 1.5, 0 (mean 1),
    # deviations -0.5, -0.5, 1: acceleration a = 0.75 / (6 * 1.5^1.5) = 0.068041. Levels Phi(z / (1 - a z)) for
    # z = -+1.959964: Phi(-1.729346) = 0.041875 and Phi(2.261574) = 0.988138; the quantiles of the grid are -1 + 2 level.
    boot = np.linspace(-1.0, 1.0, 1001)
    low, high = _bca(np.array(0.0), boot, [np.array([0.0, 0.0, 3.0])], lambda task: task.mean(axis=-1), 0.95)
    assert (float(low), float(high)) == pytest.approx((-1 + 2 * 0.041875, -1 + 2 * 0.988138), abs=2e-5)
    with pytest.raises(ValueError, match=r"method must be one of \['percentile', 'bca', 'studentized', 't'\]"):
        interval_estimate(strata, "iqm", "normal")
    with pytest.raises(ValueError, match=r"statistic must be one of \['mean', 'iqm'\]"):
        interval_estimate(strata, "median")


def test_coverage_table_is_the_documented_one_and_backs_the_default() -> None:
    table = coverage_table()
    markdown = coverage_markdown(table)
    print(markdown)
    documented = re.search(r"<!-- coverage table -->\n(.*?)<!-- end of coverage table -->", DOCS.read_text(), re.S)
    assert documented is not None and documented.group(1) == markdown
    # The default has the highest worst-case coverage of the methods that always give a finite interval
    finite = table.groupby("method")["median_width"].apply(lambda widths: bool(np.isfinite(widths).all()))
    worst = table.groupby("method")["coverage"].min()[finite[finite].index]
    assert worst.idxmax() == DEFAULT_METHOD and set(METHODS) - set(worst.index) == {"studentized"}
