"""
The report's tables, one function per group of metrics, from per-run metric arrays (no records, no files).

Each per-(environment, variant) function returns the columns of one table row as a dict; ``aggregate`` and
``improvement`` return whole tables. Summaries across seeds are named ``<metric>_<summary>`` with their interval
bounds ``<metric>_<summary>_low`` / ``_high`` (``summary_columns``). The intervals of the IQM and the mean come from
the ``interval`` method of ``sb3_ppo_variants.analysis.intervals`` (default ``intervals.DEFAULT_METHOD``), the others
(median, optimality gap, probability of improvement) from the percentile bootstrap. A report of another kind (a
sweep, a paper's table) computes its own per-run arrays and calls the same functions.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import metrics
from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD, STATISTICS, interval_estimate
from sb3_ppo_variants.analysis.stats import (
    AGGREGATE_SUMMARIES,
    SEED_SUMMARIES,
    aggregate_summaries,
    bootstrap_seed,
    iqm_mean_median,
    probability_of_improvement_ci,
    run_score_distribution,
    stratified_bootstrap_ci,
)

# Elements of one bootstrap chunk of a learning curve (resamples x runs x evaluation points), to bound memory.
CURVE_CHUNK_ELEMENTS = 4_000_000
Seed = int | Sequence[int]


def summary_columns(
    name: str, summaries: Sequence[str], point: np.ndarray, low: np.ndarray, high: np.ndarray, seed_sd: np.ndarray
) -> dict[str, float]:
    """
    The columns ``<name>_<summary>``, ``<name>_<summary>_low``, ``<name>_<summary>_high`` and
    ``<name>_<summary>_seed_sd`` of an interval estimate.

    :param name: metric name, e.g. ``final_return``
    :param summaries: summary names, e.g. ``SEED_SUMMARIES``
    :param point: point estimates, one per summary
    :param low: lower bounds, one per summary
    :param high: upper bounds, one per summary
    :param seed_sd: how much the bounds move with the bootstrap seed (``stats.bounds_seed_sd``; 0 for a t interval),
        one per summary
    :return: the columns, summary by summary
    """
    columns = {}
    for i, summary in enumerate(summaries):
        columns |= {
            f"{name}_{summary}": float(point[i]),
            f"{name}_{summary}_low": float(low[i]),
            f"{name}_{summary}_high": float(high[i]),
            f"{name}_{summary}_seed_sd": float(seed_sd[i]),
        }
    return columns


def with_interval_method(
    strata: np.ndarray | Sequence[np.ndarray],
    bootstrap: tuple[np.ndarray, ...],
    summaries: Sequence[str],
    method: str,
    n_resamples: int,
    confidence: float,
    seed: Seed,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """
    Replace the percentile-bootstrap bounds of the IQM and the mean by those of ``method``.

    :param strata: the runs the bootstrap resampled: one array (runs, metrics) or one per task
    :param bootstrap: its ``(point, low, high, seed_sd)``, each shaped (metrics, summaries)
    :param summaries: the summary names of the last axis, e.g. ``SEED_SUMMARIES``
    :param method: a method of ``intervals.METHODS``; ``"percentile"`` keeps the bounds as they are
    :param n_resamples: bootstrap resamples of a bootstrap method
    :param confidence: confidence level
    :param seed: seed of a bootstrap method
    :return: ``(point, low, high, seed_sd)`` with the columns of ``intervals.STATISTICS`` replaced; their ``seed_sd`` is 0
        for t intervals and NaN (not measured) for the BCa and studentized bootstraps
    """
    point, low, high, seed_sd = (np.array(part, dtype=float) for part in bootstrap)
    if method != "percentile":
        for statistic in STATISTICS:
            i = list(summaries).index(statistic)
            point[:, i], low[:, i], high[:, i] = interval_estimate(strata, statistic, method, n_resamples, confidence, seed)
            seed_sd[:, i] = 0.0 if method == "t" else np.nan
    return point, low, high, seed_sd


def seed_summaries(
    per_run: Mapping[str, np.ndarray], n_resamples: int, confidence: float, seed: Seed, method: str = DEFAULT_METHOD
) -> dict[str, float]:
    """
    IQM, mean and median across seeds of each per-run metric, with intervals, and its standard deviation.

    :param per_run: metric name -> values, one per run (the same runs for every metric)
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap; all metrics are resampled with the same run indices
    :param method: interval method of the IQM and the mean (``intervals.METHODS``); the median's is the percentile
        bootstrap
    :return: ``summary_columns`` of each metric (``SEED_SUMMARIES``), then ``<metric>_std`` (ddof = 1, NaN for one run)
    """
    values = np.column_stack(list(per_run.values()))
    bootstrap = stratified_bootstrap_ci(values, iqm_mean_median, n_resamples, confidence, seed, with_seed_sd=True)
    point, low, high, seed_sd = with_interval_method(values, bootstrap, SEED_SUMMARIES, method, n_resamples, confidence, seed)
    columns: dict[str, float] = {}
    for m, name in enumerate(per_run):
        columns |= summary_columns(name, SEED_SUMMARIES, point[m], low[m], high[m], seed_sd[m])
        columns[f"{name}_std"] = float(values[:, m].std(ddof=1)) if len(values) > 1 else math.nan
    return columns


def sample_efficiency(
    final_return: np.ndarray,
    auc: np.ndarray,
    steps_to_threshold: np.ndarray | None,
    n_resamples: int,
    confidence: float,
    seed: Seed,
    method: str = DEFAULT_METHOD,
) -> dict[str, float]:
    """
    Sample-efficiency columns of one (environment, variant): final return, AUC and timesteps to a threshold.

    :param final_return: per-run final return (``metrics.final_return``)
    :param auc: per-run area under the curve (``metrics.area_under_curve``)
    :param steps_to_threshold: per-run timesteps to the threshold, ``inf`` where never reached
        (``metrics.timesteps_to_threshold``), or None when the environment has no threshold
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap
    :param method: interval method of the IQM and the mean (``intervals.METHODS``)
    :return: ``seed_summaries`` of ``final_return`` and ``auc``; ``steps_to_threshold_median``, the median across seeds,
        which is ``inf`` unless more than half of the runs reach the threshold (with an even number of runs, exactly
        half reaching it makes one of the two middle values infinite); ``n_reached``, the number of runs that reach it
        (both NaN without a threshold)
    """
    columns = seed_summaries({"final_return": final_return, "auc": auc}, n_resamples, confidence, seed, method)
    return columns | {
        "steps_to_threshold_median": math.nan if steps_to_threshold is None else float(np.median(steps_to_threshold)),
        "n_reached": math.nan if steps_to_threshold is None else int(np.isfinite(steps_to_threshold).sum()),
    }


def stability(
    max_drawdown: np.ndarray,
    within_run_dispersion: np.ndarray,
    final_return: np.ndarray,
    cvar_alpha: float,
    n_resamples: int,
    confidence: float,
    seed: Seed,
    method: str = DEFAULT_METHOD,
) -> dict[str, float]:
    """
    Stability columns of one (environment, variant): collapses and dispersion within runs and across seeds.

    :param max_drawdown: per-run largest drawdown (``metrics.max_drawdown``)
    :param within_run_dispersion: per-run dispersion (``metrics.within_run_dispersion``; NaN for a one-point curve)
    :param final_return: per-run final return, whose spread across seeds is measured
    :param cvar_alpha: fraction of worst seeds in the lower CVaR
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap
    :param method: interval method of the IQM and the mean (``intervals.METHODS``)
    :return: ``seed_summaries`` of ``max_drawdown`` and ``within_run_dispersion``; ``final_return_seed_iqr`` and
        ``final_return_lower_cvar``
    """
    per_run = {"max_drawdown": max_drawdown, "within_run_dispersion": within_run_dispersion}
    return seed_summaries(per_run, n_resamples, confidence, seed, method) | {
        "final_return_seed_iqr": float(metrics.iqr_across_seeds(final_return)),
        "final_return_lower_cvar": float(metrics.lower_cvar(final_return, cvar_alpha)),
    }


def _nan_or(function: Callable[[np.ndarray], float], values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(function(finite)) if finite.size else math.nan


def training_diagnostics(ratio_max: np.ndarray, approx_kl: np.ndarray, kl_threshold: float) -> dict[str, float]:
    """
    Training-diagnostic columns of one (environment, variant): largest ratios, largest KLs and KL spikes.

    Runs without updates (all NaN) are left out of the medians and of the worst ratio.

    :param ratio_max: ``ratio_max`` of train.csv, shape (runs, updates), NaN-padded
    :param approx_kl: ``approx_kl`` of train.csv, shape (runs, updates), NaN-padded
    :param kl_threshold: ``approx_kl`` above which an update counts as a KL spike
    :return: ``ratio_max_median`` and ``ratio_max_worst`` (median and largest over runs of the per-run maximum of
        ``ratio_max``), ``approx_kl_max_median`` (median over runs of the per-run maximum of ``approx_kl``) and
        ``kl_spikes_mean`` (mean over runs of the number of updates with ``approx_kl > kl_threshold``; NaN without
        updates)
    """
    ratio = metrics.max_over_updates(ratio_max)
    return {
        "ratio_max_median": _nan_or(np.median, ratio),
        "ratio_max_worst": _nan_or(np.max, ratio),
        "approx_kl_max_median": _nan_or(np.median, metrics.max_over_updates(approx_kl)),
        "kl_spikes_mean": float(metrics.kl_spikes(approx_kl, kl_threshold).mean()) if approx_kl.shape[1] else math.nan,
    }


def learning_curve_band(
    returns: np.ndarray,
    timesteps: np.ndarray,
    n_resamples: int,
    confidence: float,
    seed: Seed,
    method: str = DEFAULT_METHOD,
) -> pd.DataFrame:
    """
    IQM across seeds of the return at each evaluation point, with its confidence band.

    The points are taken in chunks (to bound the memory of a bootstrap), each chunk with the next draws of one generator.

    :param returns: evaluation returns, shape (runs, evaluation points)
    :param timesteps: timesteps of the evaluation points, shape (evaluation points,)
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the band
    :param seed: seed of the bootstrap
    :param method: interval method (``intervals.METHODS``)
    :return: one row per evaluation point: ``timesteps, iqm, low, high, n_runs``
    """
    runs, points = returns.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, CURVE_CHUNK_ELEMENTS // (n_resamples * runs))
    parts = [
        interval_estimate(returns[:, start : start + chunk], "iqm", method, n_resamples, confidence, rng)
        for start in range(0, points, chunk)
    ]
    point, low, high = (np.concatenate([np.atleast_1d(part[i]) for part in parts]) for i in range(3))
    return pd.DataFrame({"timesteps": timesteps, "iqm": point, "low": low, "high": high, "n_runs": runs})


def aggregate(
    scores: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    n_resamples: int,
    confidence: float,
    seed: int,
    method: str = DEFAULT_METHOD,
) -> pd.DataFrame:
    """
    Aggregate over environments per variant: IQM, mean, median and optimality gap, as rliable defines them.

    For each metric: ``iqm`` pools the runs of all environments (25% trimmed mean over runs x environments);
    ``mean`` and ``median`` are the mean and the median over environments of the per-environment mean, and
    ``optimality_gap`` the mean over environments of the per-environment mean of ``max(1 - score, 0)``, so each
    environment weighs the same whatever its number of runs (see ``stats.aggregate_summaries``). The intervals of the
    IQM and the mean come from ``method``, the others from a bootstrap stratified by environment, seeded per variant.

    :param scores: (env_id, variant) -> {metric name: per-run scores}, normalised so that 1 is the reference; every
        entry has the same metric names
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: the report's seed
    :param method: interval method of the IQM and the mean (``intervals.METHODS``)
    :return: one row per variant (sorted): ``variant, n_envs, n_runs, environments`` (comma-separated, sorted) and the
        ``summary_columns`` of each metric (``AGGREGATE_SUMMARIES``)
    """
    rows = []
    for variant in sorted({variant for _, variant in scores}):
        envs = sorted(env for env, var in scores if var == variant)
        names = list(scores[envs[0], variant])
        strata = [np.column_stack([scores[env, variant][name] for name in names]) for env in envs]
        variant_seed = bootstrap_seed(seed, "aggregate", variant)
        bootstrap = stratified_bootstrap_ci(strata, aggregate_summaries, n_resamples, confidence, variant_seed, True)
        point, low, high, seed_sd = with_interval_method(
            strata, bootstrap, AGGREGATE_SUMMARIES, method, n_resamples, confidence, variant_seed
        )
        row: dict[str, object] = {
            "variant": variant,
            "n_envs": len(envs),
            "n_runs": sum(len(stratum) for stratum in strata),
            "environments": ", ".join(envs),
        }
        for m, name in enumerate(names):
            row |= summary_columns(name, AGGREGATE_SUMMARIES, point[m], low[m], high[m], seed_sd[m])
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["variant", "n_envs", "n_runs", "environments"])


def improvement(
    scores: Mapping[tuple[str, str], np.ndarray],
    variants: Sequence[str],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """
    Probability of improvement of each variant over each other, averaged over the environments both have, with
    rliable's interval (``stats.probability_of_improvement_ci``), seeded per pair.

    :param scores: (env_id, variant) -> per-run scores
    :param variants: row and column labels, in order; a pair without a common environment gets NaN
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: the report's seed
    :return: four square tables, the probability ``table.loc[x, y]`` = P(score of x > score of y) + 0.5 P(equal), its
        lower and upper bounds, and how much they move with the bootstrap seed (``stats.bounds_seed_sd``)
    """
    tables = [pd.DataFrame(math.nan, index=pd.Index(list(variants), name="variant"), columns=list(variants)) for _ in range(4)]
    for x in variants:
        for y in variants:
            envs = sorted(env for env, var in scores if var == x and (env, y) in scores)
            if envs:
                estimate = probability_of_improvement_ci(
                    [scores[env, x] for env in envs],
                    [scores[env, y] for env in envs],
                    n_resamples,
                    confidence,
                    bootstrap_seed(seed, "improvement", x, y),
                    with_seed_sd=True,
                )
                for table, value in zip(tables, estimate, strict=True):
                    table.loc[x, y] = value
    return tables[0], tables[1], tables[2], tables[3]


def performance_profiles(
    scores: Mapping[tuple[str, str], np.ndarray], taus: np.ndarray, n_resamples: int, confidence: float, seed: int
) -> pd.DataFrame:
    """
    Performance profiles (rliable's run-score distributions): per variant and threshold τ, the fraction of its runs
    whose normalised score exceeds τ, averaged over its environments, with a percentile band from a bootstrap
    stratified by environment (``stats.run_score_distribution``), seeded per variant.

    :param scores: (env_id, variant) -> per-run normalised scores
    :param taus: the thresholds, increasing
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the bands
    :param seed: the report's seed
    :return: one row per (variant, τ), variants sorted: ``variant, tau, fraction, low, high, seed_sd`` (how much the
        bounds move with the bootstrap seed, ``stats.bounds_seed_sd``), ``n_envs, n_runs``
    """
    parts = []
    for variant in sorted({variant for _, variant in scores}):
        tasks = [scores[env, variant] for env in sorted(env for env, var in scores if var == variant)]
        point, low, high, seed_sd = stratified_bootstrap_ci(
            tasks,
            partial(run_score_distribution, taus=taus),
            n_resamples,
            confidence,
            bootstrap_seed(seed, "profile", variant),
            with_seed_sd=True,
        )
        frame = pd.DataFrame(
            {"variant": variant, "tau": taus, "fraction": point, "low": low, "high": high, "seed_sd": seed_sd}
        )
        parts.append(frame.assign(n_envs=len(tasks), n_runs=sum(task.size for task in tasks)))
    columns = ["variant", "tau", "fraction", "low", "high", "seed_sd", "n_envs", "n_runs"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def profile_thresholds(scores: Mapping[tuple[str, str], np.ndarray], points: int = 101) -> np.ndarray:
    """
    The thresholds τ of the performance profiles: ``points`` values evenly spaced from the lowest score (at most 0,
    the random policy) to the highest (at least 1, the reference), rounded outward to a multiple of 0.05.

    :param scores: (env_id, variant) -> per-run normalised scores
    :param points: number of thresholds
    :return: shape (points,)
    """
    values = np.concatenate([np.ravel(task) for task in scores.values()]) if scores else np.zeros(1)
    low, high = min(0.0, float(values.min())), max(1.0, float(values.max()))
    return np.linspace(np.floor(low / 0.05) * 0.05, np.ceil(high / 0.05) * 0.05, points)


def sample_efficiency_curves(
    curves: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    n_resamples: int,
    confidence: float,
    seed: int,
    method: str = DEFAULT_METHOD,
) -> pd.DataFrame:
    """
    Aggregate sample-efficiency curves (rliable's): per variant, the IQM of the normalised returns of the runs of all
    its environments pooled (``stats.aggregate_iqm``) at each evaluation timestep that every one of its environments
    evaluates, with the interval of ``method`` (``intervals.interval_estimate`` with one stratum per environment).

    :param curves: (env_id, variant) -> (normalised returns (runs, points), timesteps (points,))
    :param n_resamples: bootstrap resamples of a bootstrap method
    :param confidence: confidence level of the bands
    :param seed: the report's seed
    :param method: interval method (``intervals.METHODS``)
    :return: one row per (variant, timestep), variants sorted: ``variant, timesteps, iqm, low, high, n_envs, n_runs``
    """
    parts = []
    for variant in sorted({variant for _, variant in curves}):
        groups = [curves[env, variant] for env in sorted(env for env, var in curves if var == variant)]
        common = sorted(set.intersection(*(set(timesteps.tolist()) for _, timesteps in groups)))
        strata = [returns[:, np.isin(timesteps, common)] for returns, timesteps in groups]
        variant_seed = bootstrap_seed(seed, "sample efficiency", variant)
        point, low, high = interval_estimate(strata, "iqm", method, n_resamples, confidence, variant_seed)
        frame = pd.DataFrame({"variant": variant, "timesteps": common, "iqm": point, "low": low, "high": high})
        parts.append(frame.assign(n_envs=len(strata), n_runs=sum(len(stratum) for stratum in strata)))
    columns = ["variant", "timesteps", "iqm", "low", "high", "n_envs", "n_runs"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
