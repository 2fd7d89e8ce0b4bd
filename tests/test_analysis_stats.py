"""Analysis metrics and statistics: values worked out by hand, and invariants."""

import math

import numpy as np
import pandas as pd
import pytest

from sb3_ppo_variants.analysis import metrics
from sb3_ppo_variants.analysis.formatting import bounded, supported_decimals
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES
from sb3_ppo_variants.analysis.stats import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    aggregate_summaries,
    bounds_seed_sd,
    iqm,
    iqm_mean_median,
    normalize,
    probability_of_improvement,
    probability_of_improvement_ci,
    run_score_distribution,
    stratified_bootstrap_ci,
)


def test_final_return_and_auc_by_hand() -> None:
    returns = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 2.0, 2.0]])
    # mean of the last 2: (3 + 4) / 2 = 3.5 and (2 + 2) / 2 = 2
    np.testing.assert_allclose(metrics.final_return(returns, k=2), [3.5, 2.0])
    np.testing.assert_allclose(metrics.final_return(returns), [4.0, 2.0])
    # AUC = mean over points: 10 / 4 = 2.5 and 4 / 4 = 1
    np.testing.assert_allclose(metrics.area_under_curve(returns), [2.5, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        metrics.final_return(returns, k=5)
    with pytest.raises(ValueError, match="returns must be a 2-D array"):
        metrics.final_return(np.ones(3))


def test_timesteps_to_threshold_censors_with_inf() -> None:
    returns = np.array([[0.0, 5.0, 10.0], [0.0, 1.0, 2.0], [6.0, 0.0, 0.0]])
    # first evaluation with return >= 5: at 100, never, at 0
    result = metrics.timesteps_to_threshold(returns, np.array([0, 100, 200]), threshold=5.0)
    np.testing.assert_array_equal(result, [100.0, np.inf, 0.0])
    np.testing.assert_array_equal(np.isfinite(result), [True, False, True])


def test_stability_metrics_by_hand() -> None:
    # running best [1, 3, 3, 5, 5, 5] minus the curve: [0, 0, 1, 0, 4, 1], largest 4
    np.testing.assert_allclose(
        metrics.max_drawdown(np.array([[1.0, 3.0, 2.0, 5.0, 1.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])), [4, 0]
    )
    # successive differences [1, 2, 3, 4]: 25th percentile at position 0.75 -> 1.75, 75th at 2.25 -> 3.25, IQR 1.5
    np.testing.assert_allclose(metrics.within_run_dispersion(np.array([[0.0, 1.0, 3.0, 6.0, 10.0]])), [1.5])
    # [1..5]: 25th percentile 2, 75th 4
    assert metrics.iqr_across_seeds(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(2.0)
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 8.0, 7.0])
    # alpha 0.25 of 8 runs: the worst ceil(2) = 2 values, 1 and 2 -> 1.5; alpha 0.3: ceil(2.4) = 3 values -> 2
    assert metrics.lower_cvar(values, 0.25) == pytest.approx(1.5)
    assert metrics.lower_cvar(values, 0.3) == pytest.approx(2.0)
    # at least one run
    assert metrics.lower_cvar(values, 0.01) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alpha"):
        metrics.lower_cvar(values, 0.0)


def test_diagnostics_ignore_nan_padding() -> None:
    ratio = np.array([[1.1, 3.0, np.nan], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(metrics.max_over_updates(ratio), [3.0, np.nan])
    kl = np.array([[0.01, 0.06, 0.2], [np.nan, 0.07, 0.05]])
    np.testing.assert_allclose(metrics.max_over_updates(kl), [0.2, 0.07])
    # strictly above 0.05: 0.06 and 0.2; 0.07 (0.05 itself does not count)
    np.testing.assert_array_equal(metrics.kl_spikes(kl, 0.05), [2, 1])


def test_iqm_by_hand_matches_trim_mean_definition() -> None:
    # n = 8: cut floor(0.25 * 8) = 2 from each end, mean of [3, 4, 5, 6] = 4.5
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    # n = 5: cut floor(1.25) = 1, mean of [2, 3, 4] = 3 (the outlier 100 is trimmed)
    assert iqm(np.array([100.0, 1.0, 3.0, 2.0, 4.0])) == pytest.approx(3.0)
    # n = 10: cut floor(2.5) = 2, no fractional weight: mean of [0, 1, 2, 3, 4, 100] = 110 / 6
    assert iqm(np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 100.0, 100.0, 100.0])) == pytest.approx(110 / 6)
    # n = 3: cut 0, plain mean
    assert iqm(np.array([1.0, 2.0, 9.0])) == pytest.approx(4.0)
    # along an axis
    np.testing.assert_allclose(iqm(np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 8.0, 8.0]]), axis=1), [2.5, 4.0])
    with pytest.raises(ValueError, match="at least one"):
        iqm(np.array([]))


def test_iqm_invariants_and_fused_summary() -> None:
    rng = np.random.default_rng(1)
    for n in range(1, 30):
        values = rng.standard_cauchy(size=(n, 3))
        result = iqm(values, axis=0)
        assert np.all(values.min(axis=0) <= result) and np.all(result <= values.max(axis=0))
        summary = iqm_mean_median(values, axis=0)
        np.testing.assert_allclose(summary[:, 0], result)
        np.testing.assert_allclose(summary[:, 1], values.mean(axis=0))
        np.testing.assert_allclose(summary[:, 2], np.median(values, axis=0))


def test_bootstrap_is_reproducible_and_contains_symmetric_point() -> None:
    values = np.concatenate([-np.arange(1.0, 21.0), np.arange(1.0, 21.0)])
    point, low, high = stratified_bootstrap_ci(values, iqm, n_resamples=500, seed=3)
    assert point == pytest.approx(0.0)
    assert low < point < high
    assert stratified_bootstrap_ci(values, iqm, n_resamples=500, seed=3) == (point, low, high)
    assert stratified_bootstrap_ci(values, iqm, n_resamples=500, seed=4) != (point, low, high)
    generator_result = stratified_bootstrap_ci(values, iqm, n_resamples=500, seed=np.random.default_rng(3))
    assert generator_result == (point, low, high)


def test_bootstrap_respects_strata() -> None:
    # Each resample draws 5 runs from each stratum, so the mean of the two task means is always (0 + 10) / 2 = 5 ...
    strata = [np.zeros(5), np.full(5, 10.0)]
    assert stratified_bootstrap_ci(strata, aggregate_mean, n_resamples=200) == (5.0, 5.0, 5.0)
    # ... whereas resampling the pooled runs without strata changes the mix.
    _, low, high = stratified_bootstrap_ci(np.concatenate(strata), aggregate_mean, n_resamples=200)
    assert low < 5.0 < high


def test_bootstrap_passes_the_strata_to_the_statistic_with_unequal_runs() -> None:
    # Task A: 5 runs at 0, task B: 1 run at 10. Every resample keeps 5 zeros and one 10, so:
    # mean of task means (0 + 10) / 2 = 5; IQM pooled over the 6 runs: cut floor(1.5) = 1 from each end of
    # [0, 0, 0, 0, 0, 10] -> mean of [0, 0, 0, 0] = 0; the pooled mean would be 10 / 6.
    strata = [np.zeros(5), np.array([10.0])]
    assert stratified_bootstrap_ci(strata, aggregate_mean, n_resamples=100) == (5.0, 5.0, 5.0)
    assert stratified_bootstrap_ci(strata, aggregate_iqm, n_resamples=100) == (0.0, 0.0, 0.0)
    # several statistics at once, on a trailing axis of metrics: shape (metrics, summaries)
    point, low, high = stratified_bootstrap_ci([np.zeros((5, 2)), np.full((1, 2), 10.0)], aggregate_summaries, n_resamples=100)
    # optimality gap (gamma = 1): task A max(1 - 0, 0) = 1, task B max(1 - 10, 0) = 0, mean over tasks 0.5
    np.testing.assert_array_equal(point, [[0.0, 5.0, 5.0, 0.5]] * 2)
    np.testing.assert_array_equal(low, point)
    np.testing.assert_array_equal(high, point)


def test_bootstrap_rejects_a_statistic_that_does_not_reduce_the_runs_axis() -> None:
    with pytest.raises(ValueError, match="statistic must reduce the last axis"):
        stratified_bootstrap_ci(np.ones((4, 3)), np.mean, n_resamples=10)


def test_aggregates_by_hand_with_unequal_runs() -> None:
    # A: 4 runs, mean (0 + 0.4 + 0.8 + 1.2) / 4 = 0.6; B: 1 run, mean 2.0; C: 2 runs, mean (0.1 + 0.3) / 2 = 0.2
    a, b, c = np.array([0.0, 0.4, 0.8, 1.2]), np.array([2.0]), np.array([0.1, 0.3])
    # mean of task means (0.6 + 2.0 + 0.2) / 3 = 2.8 / 3 (the pooled mean would be 4.8 / 7)
    assert aggregate_mean(a, b, c) == pytest.approx(2.8 / 3)
    # median of task means [0.2, 0.6, 2.0] = 0.6 (the pooled median of the 7 runs would be 0.4)
    assert aggregate_median(a, b, c) == pytest.approx(0.6)
    # IQM pooled: sorted [0, 0.1, 0.3, 0.4, 0.8, 1.2, 2.0], cut floor(1.75) = 1 from each end -> 2.8 / 5 = 0.56
    assert aggregate_iqm(a, b, c) == pytest.approx(0.56)
    # optimality gap, gamma = 1: A max(1 - s, 0) = [1, 0.6, 0.2, 0] -> 0.45; B [0] -> 0; C [0.9, 0.7] -> 0.8;
    # mean over tasks (0.45 + 0 + 0.8) / 3 = 1.25 / 3 (pooled, 1 - mean(min(s, 1)) would be 1 - 3.6 / 7)
    assert aggregate_optimality_gap(a, b, c) == pytest.approx(1.25 / 3)
    # gamma = 0.5: A [0.5, 0.1, 0, 0] -> 0.15; B 0; C [0.4, 0.2] -> 0.3; (0.15 + 0 + 0.3) / 3 = 0.15
    assert aggregate_optimality_gap(a, b, c, gamma=0.5) == pytest.approx(0.15)
    np.testing.assert_allclose(aggregate_summaries(a, b, c), [0.56, 2.8 / 3, 0.6, 1.25 / 3])
    with pytest.raises(ValueError, match="at least one run"):
        aggregate_mean(a, np.array([]))


def test_aggregates_match_rliable_formulas_with_equal_runs() -> None:
    # rliable's definitions on a (runs x tasks) matrix: mean / median of the column means, trim_mean(0.25) of all
    # entries, gamma - mean(minimum(scores, gamma))
    scores = np.random.default_rng(3).normal(0.8, 0.5, size=(5, 4))
    tasks = list(scores.T)
    assert aggregate_mean(*tasks) == pytest.approx(scores.mean(axis=0).mean())
    assert aggregate_median(*tasks) == pytest.approx(np.median(scores.mean(axis=0)))
    assert aggregate_iqm(*tasks) == pytest.approx(iqm(scores.ravel()))
    assert aggregate_optimality_gap(*tasks) == pytest.approx(1.0 - np.minimum(scores, 1.0).mean())
    # leading axes are kept: the same tasks twice on a leading axis of size 2
    np.testing.assert_allclose(aggregate_summaries(*[np.stack([t, t]) for t in tasks]), [aggregate_summaries(*tasks)] * 2)


def test_bootstrap_trailing_dimensions_give_one_interval_each() -> None:
    values = np.random.default_rng(0).normal(size=(30, 4))
    point, low, high = stratified_bootstrap_ci(values, iqm, n_resamples=300, seed=7)
    assert point.shape == low.shape == high.shape == (4,)
    # the same seed draws the same resample indices, so a single column gives the same interval
    assert stratified_bootstrap_ci(values[:, 2], iqm, n_resamples=300, seed=7) == pytest.approx((point[2], low[2], high[2]))
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci(values, confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        stratified_bootstrap_ci(values, n_resamples=0)
    with pytest.raises(ValueError, match="strata"):
        stratified_bootstrap_ci([np.ones(3), np.ones((3, 2))])


def test_probability_of_improvement_by_hand() -> None:
    # x = 1 beats 0; x = 2 beats 0 and ties 2 (0.5); x = 3 beats 0 and 2: (1 + 1.5 + 2) / 9 = 0.5
    assert probability_of_improvement(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0])) == pytest.approx(0.5)
    # task 1: always better (1), task 2: always worse (0); averaged over tasks 0.5
    assert probability_of_improvement([np.array([3.0, 4.0]), np.array([0.0])], [np.array([1.0, 2.0]), np.array([1.0])]) == 0.5
    assert probability_of_improvement(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    with pytest.raises(ValueError, match="same number of tasks"):
        probability_of_improvement([np.ones(2)], [np.ones(2), np.ones(2)])


def test_probability_of_improvement_is_complementary_without_ties() -> None:
    rng = np.random.default_rng(2)
    x, y = [rng.normal(size=7), rng.normal(size=4)], [rng.normal(size=5), rng.normal(size=9)]
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_normalize_uses_the_reference_table() -> None:
    for env_id in REFERENCE_SCORES:
        np.testing.assert_allclose(normalize(np.array([RANDOM_SCORES[env_id], REFERENCE_SCORES[env_id]]), env_id), [0.0, 1.0])
    # CartPole-v1: (261.84 - 23.68) / (500 - 23.68) = 0.5
    assert normalize(np.array(261.84), "CartPole-v1") == pytest.approx(0.5)
    assert normalize(np.array(5.0), "Unknown-v0", random_score=0.0, reference_score=10.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="env_id 'Unknown-v0'"):
        normalize(np.array(5.0), "Unknown-v0")


def test_probability_of_improvement_interval_by_hand() -> None:
    # x = [0, 2], y = [1], one task. Resampling x (y has a single run): both runs 0 (probability 1/4) gives P = 0, one
    # of each (1/2) gives 0.5, both 2 (1/4) gives 1. Each end holds a quarter of the resamples, more than 2.5%, so
    # the 95% percentile interval is [0, 1]; the point is (0 + 1) / 2 = 0.5.
    assert probability_of_improvement_ci(np.array([0.0, 2.0]), np.array([1.0]), 2000, 0.95, 0) == (0.5, 0.0, 1.0)
    # x = [3, 4] beats y = [1, 2] in every resample: [1, 1]; y over x is [0, 0]
    assert probability_of_improvement_ci(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == (1.0, 1.0, 1.0)
    assert probability_of_improvement_ci(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == (0.0, 0.0, 0.0)
    # two tasks, averaged: task 1 as the first case, task 2 x always above y, so every resample is (P1 + 1) / 2, and the
    # interval is [(0 + 1) / 2, (1 + 1) / 2] = [0.5, 1] around (0.5 + 1) / 2
    two = probability_of_improvement_ci([np.array([0.0, 2.0]), np.array([5.0])], [np.array([1.0]), np.array([4.0])])
    assert two == (0.75, 0.5, 1.0)
    with pytest.raises(ValueError, match="same number of tasks"):
        probability_of_improvement_ci([np.ones(2)], [np.ones(2), np.ones(2)])


def test_run_score_distribution_by_hand() -> None:
    # task 1 [0, 0.5, 1, 1]: above 0, 0.5, 1: 3/4, 2/4, 0; task 2 [0.2, 0.8]: 1, 1/2, 0; averaged over tasks
    taus = np.array([0.0, 0.5, 1.0])
    profile = run_score_distribution(np.array([0.0, 0.5, 1.0, 1.0]), np.array([0.2, 0.8]), taus=taus)
    np.testing.assert_allclose(profile, [0.875, 0.5, 0.0])


def test_bounds_are_printed_to_the_digits_their_seed_variation_supports() -> None:
    # 10 groups of 100 resamples, group g = 0..99 shifted by g: each group's bounds move by g, so a bound's standard
    # deviation over the groups is std(0..9, ddof 1) = 3.02765, and over all 1000 resamples 3.02765 / sqrt(10) = 0.957427
    shifted = np.concatenate([np.arange(100.0) + g for g in range(10)])
    assert bounds_seed_sd(shifted, 0, 0.95) == pytest.approx(np.std(np.arange(10.0), ddof=1) / np.sqrt(10))
    # the same 100 values in every group: no variation
    assert bounds_seed_sd(np.tile(np.arange(100.0), 10), 0, 0.95) == 0.0
    # the last digit printed is the first that twice the variation does not reach: 2 x 0.004 = 0.008 < 0.01 -> 2
    # decimals; 2 x 0.04 -> 1; 2 x 0.3 = 0.6 -> 0; nothing measured, or no variation (a t interval) -> no limit
    assert [supported_decimals(sd) for sd in (0.004, 0.04, 0.3, 5.0)] == [2, 1, 0, 0]
    assert supported_decimals(0.0) is None and supported_decimals(math.nan) is None
    row = pd.Series({"x": 0.61234, "x_low": 0.41234, "x_high": 0.81234, "x_seed_sd": 0.004})
    assert bounded(row, "x") == "0.612 [0.41, 0.81]"
    assert bounded(row.drop("x_seed_sd"), "x") == "0.612 [0.412, 0.812]"
