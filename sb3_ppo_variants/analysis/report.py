"""
Build a report from the run records of an experiment (docs/records.md): which runs enter, and the curves each gets.

Which runs enter the metrics:

- ``ok`` and ``diverged`` runs are *completed* and enter every metric;
- ``failed`` runs (an error other than divergence) and ``incomplete`` runs (no status.json yet) are kept,
  counted and listed, but enter no metric: their curves stop at an arbitrary point unrelated to the variant;
- ``corrupt`` runs (a record file fails the checks of ``sb3_ppo_variants.records.load_records``) are counted and
  listed with the file and the problem, and enter no metric;
- ``missing`` runs (in the directory's plan, never started) are counted (``n_missing``, only when there are some) and
  listed;
- a diverged run's evaluation curve ends at its last evaluation before the divergence. Its curve is scored on the
  grid of its (environment, variant) group: the evaluation timesteps of the group's completed runs or, when none of
  them is ok (every run diverged), those of the environment's ok runs, so that diverging early never shortens the
  curve a run is scored on. With ``diverged="worst"`` (default) its points after the divergence get the lowest
  evaluation return observed in that environment among completed runs: a diverged run is scored as the worst from
  divergence on, so diverging early is never rewarded (with "hold", a run that diverged at its first update keeps
  the score of its initial policy and can outrank a variant that learned and then dipped). With
  ``diverged="hold"`` they repeat its last evaluation, so the final return is the last evaluation before divergence.

Runs are grouped by environment and ``label``: the variant entry's name, or for a run of a sweep its configuration's
label (e.g. ``pg[learning_rate=0.003]``), so that the configurations of a sweep are never pooled. The tables themselves
are computed by ``sb3_ppo_variants.analysis.tables`` from per-run arrays; ``group_curves`` gives the filled curves of
any grouping (a sweep's analysis groups by configuration).
"""

import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import metrics, tables
from sb3_ppo_variants.analysis.data import Report
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES, THRESHOLDS
from sb3_ppo_variants.analysis.stats import normalize
from sb3_ppo_variants.records import COMPLETED, MISSING, STATUSES, RecordTables, load_records

__all__ = ["DIVERGED_POLICIES", "GroupCurves", "build_report", "group_curves"]

DIVERGED_POLICIES = ("worst", "hold")
CURVE_COLUMNS = ["env_id", "variant", "timesteps", "iqm", "low", "high", "n_runs"]
PROBLEM_COLUMNS = ["run_id", "env_id", "variant", "seed", "status", "diverged_at_update", "error"]


def _fill(matrix: np.ndarray, is_diverged: np.ndarray, diverged: str, worst: float) -> np.ndarray:
    """
    Fill the NaN evaluation points of a (runs, points) matrix following the ``diverged`` policy.

    With ``diverged="worst"`` the points after the last evaluation of a diverged run get ``worst``; every other NaN
    repeats the run's previous evaluation.
    """
    valid = ~np.isnan(matrix)
    if diverged == "worst":
        after_last = (np.cumsum(valid[:, ::-1], axis=1)[:, ::-1] == 0) & is_diverged[:, None]
        matrix = np.where(after_last, worst, matrix)
        valid = ~np.isnan(matrix)
    last_valid = np.maximum.accumulate(np.where(valid, np.arange(matrix.shape[1]), 0), axis=1)
    return matrix[np.arange(matrix.shape[0])[:, None], last_valid]


def _wide(table: pd.DataFrame, columns: str, values: str) -> pd.DataFrame:
    if values not in table.columns:
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    return table.pivot(index="run_id", columns=columns, values=values)


def _group_matrix(wide: pd.DataFrame, run_ids: list[str], grid_run_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``wide`` for ``run_ids``, restricted to the columns these runs or those of ``grid_run_ids`` have."""
    sub = wide.reindex(run_ids)
    sub = sub.loc[:, sub.notna().any(axis=0) | wide.reindex(grid_run_ids).notna().any(axis=0)]
    return sub.to_numpy(dtype=float), sub.columns.to_numpy(dtype=float)


def _completed_curves(
    returns_wide: pd.DataFrame, completed: pd.DataFrame, env_ok_run_ids: list[str], diverged: str, worst: float
) -> tuple[np.ndarray, np.ndarray]:
    """
    The (runs, points) returns of the completed runs of one group on its grid (see the module docstring), filled by
    ``_fill``, and the timesteps; ``env_ok_run_ids`` are the ok runs of the environment.
    """
    run_ids = completed["run_id"].tolist()
    is_diverged = (completed["status"] == "diverged").to_numpy()
    raw, timesteps = _group_matrix(returns_wide, run_ids, env_ok_run_ids if is_diverged.all() else [])
    no_eval = [run_id for run_id, empty in zip(run_ids, np.isnan(raw).all(axis=1), strict=True) if empty]
    if no_eval or raw.shape[1] == 0:
        raise ValueError(f"completed runs without any evaluation in eval.csv: {no_eval or run_ids}")
    returns = _fill(raw, is_diverged, diverged, worst)
    if np.isnan(returns).any():
        raise ValueError(f"runs {run_ids} do not all evaluate at the first timesteps {timesteps[0]}")
    return returns, timesteps


class GroupCurves(NamedTuple):
    """
    The runs of one group and the evaluation curves of its completed runs, as ``group_curves`` yields them.

    :ivar keys: the values of the grouping columns
    :ivar runs: every run of the group (rows of ``RecordTables.runs``)
    :ivar completed: its ``ok`` and ``diverged`` runs, in the order of the rows of ``returns``
    :ivar returns: their returns on the group's grid, filled following the ``diverged`` policy, shape (runs, points);
        None when the group has no completed run
    :ivar timesteps: the grid, shape (points,); None when the group has no completed run
    """

    keys: tuple
    runs: pd.DataFrame
    completed: pd.DataFrame
    returns: np.ndarray | None
    timesteps: np.ndarray | None


def group_curves(records: RecordTables, by: Sequence[str] = ("env_id", "label"), diverged: str = "worst") -> list[GroupCurves]:
    """
    Group the runs and give each group's completed runs their evaluation curves, by the rules of the module docstring.

    :param records: the records
    :param by: columns of ``records.runs`` that define a group, the environment first (a diverged run's floor and the
        grid of an all-diverged group come from its environment); a missing value (e.g. ``config_id`` of an entry
        without a sweep) is a group key like any other
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :return: one ``GroupCurves`` per group, in the sorted order of the keys
    """
    if diverged not in DIVERGED_POLICIES:
        raise ValueError(f"diverged must be one of {list(DIVERGED_POLICIES)}, got {diverged!r}")
    if not by or by[0] != "env_id":
        raise ValueError(f"by must start with 'env_id', got {list(by)}")
    runs = records.runs
    completed = runs[runs["status"].isin(COMPLETED)]
    returns_wide = _wide(records.evals, "timesteps", "mean_return")
    worst_by_env = {
        env_id: np.nanmin(returns_wide.reindex(group["run_id"]).to_numpy(dtype=float))
        for env_id, group in completed.groupby("env_id", sort=False)
        if returns_wide.reindex(group["run_id"]).notna().to_numpy().any()
    }
    ok_runs_by_env = runs[runs["status"] == "ok"].groupby("env_id")["run_id"].agg(list).to_dict()
    groups = []
    for keys, group in runs.groupby(list(by), sort=True, dropna=False):
        group_completed = group[group["status"].isin(COMPLETED)]
        returns, timesteps = (
            (None, None)
            if group_completed.empty
            else _completed_curves(
                returns_wide, group_completed, ok_runs_by_env.get(keys[0], []), diverged, worst_by_env[keys[0]]
            )
        )
        groups.append(GroupCurves(keys, group, group_completed, returns, timesteps))
    return groups


def build_report(
    source: str | os.PathLike | RecordTables,
    final_k: int = 3,
    diverged: str = "worst",
    thresholds: dict[str, float] | None = None,
    kl_threshold: float = 0.05,
    cvar_alpha: float = 0.25,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    curve_resamples: int = 500,
    seed: int = 0,
) -> Report:
    """
    Build the report tables from the records of an experiment.

    Per (environment, variant), the variant being a sweep configuration's label (see the module docstring), over completed runs
    (``ok`` and ``diverged``; see the module docstring for how diverged runs enter), the columns of
    ``tables.sample_efficiency``, ``tables.stability`` and ``tables.training_diagnostics``: final return (mean of the last
    ``final_k`` evaluations), AUC (mean return over all evaluation points), largest drawdown and within-run dispersion, each as
    IQM / mean / median across seeds with percentile bootstrap intervals, and the sample standard deviation; timesteps to reach
    the threshold (median across seeds, ``inf`` unless more than half of the runs reach it, and the number that reach it); IQR
    and lower CVaR of the final return across seeds; from train.csv, the median and the largest per-run maximum of
    ``ratio_max``, the median per-run maximum of ``approx_kl`` and the mean number of updates per run with ``approx_kl >
    kl_threshold``. The aggregate (``tables.aggregate``) summarises normalised final return and AUC over the environments with
    reference scores as rliable does, with a bootstrap stratified by environment.

    :param source: experiment directory, or records already loaded by ``load_records``
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :param thresholds: return thresholds per env_id for the timesteps-to-threshold metric; default
        ``references.THRESHOLDS``; environments without a threshold get NaN
    :param kl_threshold: ``approx_kl`` above which an update counts as a KL spike
    :param cvar_alpha: fraction of worst seeds in the lower CVaR
    :param n_resamples: bootstrap resamples for the table intervals
    :param confidence: confidence level of the intervals
    :param curve_resamples: bootstrap resamples for the learning-curve bands; 0 skips the curves
    :param seed: seed of the bootstrap; the same seed and records give the same report
    :return: the report
    """
    if curve_resamples < 0:
        raise ValueError(f"curve_resamples must be >= 0, got {curve_resamples}")
    records = source if isinstance(source, RecordTables) else load_records(source)
    thresholds = THRESHOLDS if thresholds is None else thresholds
    runs = records.runs
    ratio_wide = _wide(records.train, "update", "ratio_max")
    kl_wide = _wide(records.train, "update", "approx_kl")

    # missing runs (planned, never started) are counted only where the records list a plan that some run lacks
    counted = (*STATUSES, MISSING) if (runs["status"] == MISSING).any() else STATUSES
    rows, curves, final_by_group, auc_by_group = [], [], {}, {}
    for (env_id, variant), group, group_completed, returns, timesteps in group_curves(records, ("env_id", "label"), diverged):
        counts = group["status"].value_counts()
        row: dict[str, object] = {"env_id": env_id, "variant": variant, "n_runs": len(group)}
        row |= {f"n_{status}": int(counts.get(status, 0)) for status in counted}
        run_ids = group_completed["run_id"].tolist()
        if returns is not None:
            final = metrics.final_return(returns, min(final_k, returns.shape[1]))
            auc = metrics.area_under_curve(returns)
            threshold = thresholds.get(env_id, math.nan)
            to_threshold = None if math.isnan(threshold) else metrics.timesteps_to_threshold(returns, timesteps, threshold)
            within = metrics.within_run_dispersion(returns) if returns.shape[1] > 1 else np.full(len(run_ids), np.nan)
            group_seed = tables.bootstrap_seed(seed, env_id, variant)
            row["threshold"] = threshold
            row |= tables.sample_efficiency(final, auc, to_threshold, n_resamples, confidence, group_seed)
            row |= tables.stability(
                metrics.max_drawdown(returns), within, final, cvar_alpha, n_resamples, confidence, group_seed
            )
            row |= tables.training_diagnostics(
                ratio_wide.reindex(run_ids).to_numpy(dtype=float), kl_wide.reindex(run_ids).to_numpy(dtype=float), kl_threshold
            )
            final_by_group[env_id, variant], auc_by_group[env_id, variant] = final, auc
            if curve_resamples:
                band = tables.learning_curve_band(
                    returns, timesteps, curve_resamples, confidence, tables.bootstrap_seed(seed, "curve", env_id, variant)
                )
                curves.append(band.assign(env_id=env_id, variant=variant)[CURVE_COLUMNS])
        rows.append(row)

    normalised = {
        (env_id, variant): {"final_return": normalize(final, env_id), "auc": normalize(auc_by_group[env_id, variant], env_id)}
        for (env_id, variant), final in final_by_group.items()
        if env_id in RANDOM_SCORES and env_id in REFERENCE_SCORES
    }
    problems = runs.loc[runs["status"] != "ok", PROBLEM_COLUMNS]
    return Report(
        per_env=pd.DataFrame(rows),
        aggregate=tables.aggregate(normalised, n_resamples, confidence, seed),
        improvement=tables.improvement(final_by_group, sorted(runs["label"].unique())),
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS),
        problems=problems.reset_index(drop=True),
        settings={
            "final_k": final_k,
            "diverged": diverged,
            "thresholds": dict(thresholds),
            "kl_threshold": kl_threshold,
            "cvar_alpha": cvar_alpha,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "curve_resamples": curve_resamples,
            "seed": seed,
        },
    )
