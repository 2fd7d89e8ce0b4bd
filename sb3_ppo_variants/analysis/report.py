"""
Compute the report tables from the run records (docs/records.md) and export them (the ``ppo-variants report`` command).

Which runs enter the metrics:

- ``ok`` and ``diverged`` runs are *completed* and enter every metric;
- ``failed`` runs (an error other than divergence) and ``incomplete`` runs (no status.json yet) are kept,
  counted and listed, but enter no metric: their curves stop at an arbitrary point unrelated to the variant;
- ``corrupt`` runs (a record file fails the checks of ``sb3_ppo_variants.records.load_records``) are counted and
  listed with the file and the problem, and enter no metric;
- a diverged run's evaluation curve ends at its last evaluation before the divergence. With
  ``diverged="hold"`` (default) the remaining evaluation points of its (environment, variant) grid repeat
  that last evaluation, so the curve up to divergence counts and the final return is the last evaluation
  before divergence. With ``diverged="worst"`` they get the lowest evaluation return observed in that
  environment among completed runs, i.e. a diverged run is scored as the worst from divergence on.
"""

import math
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import metrics
from sb3_ppo_variants.analysis.data import FORMATS, Report
from sb3_ppo_variants.analysis.export import render
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES, THRESHOLDS
from sb3_ppo_variants.analysis.stats import (
    iqm,
    iqm_mean_median,
    normalize,
    probability_of_improvement,
    stratified_bootstrap_ci,
)
from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.records import COMPLETED, STATUSES, RecordTables, load_records

__all__ = ["RecordTables", "Report", "build_report", "load_records", "report_command"]

DIVERGED_POLICIES = ("hold", "worst")
# Per-run metrics summarised across seeds with IQM / mean / median and their bootstrap intervals.
RUN_METRICS = ("final_return", "auc", "max_drawdown", "within_run_dispersion")
SUMMARIES = ("iqm", "mean", "median")
# Elements of one bootstrap chunk of a learning curve (resamples x runs x evaluation points), to bound memory.
CURVE_CHUNK_ELEMENTS = 4_000_000


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and the keys, so one group's interval ignores the others."""
    return np.random.default_rng([seed, zlib.crc32("|".join(keys).encode())])


def _fill(matrix: np.ndarray, diverged: str, worst: float) -> np.ndarray:
    """Fill the NaN evaluation points of a (runs, points) matrix following the ``diverged`` policy."""
    valid = ~np.isnan(matrix)
    if diverged == "worst":
        after_last = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1] == 0
        matrix = np.where(after_last, worst, matrix)
        valid = ~np.isnan(matrix)
    last_valid = np.maximum.accumulate(np.where(valid, np.arange(matrix.shape[1]), 0), axis=1)
    return matrix[np.arange(matrix.shape[0])[:, None], last_valid]


def _wide(table: pd.DataFrame, columns: str, values: str) -> pd.DataFrame:
    if values not in table.columns:
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    return table.pivot(index="run_id", columns=columns, values=values)


def _group_matrix(wide: pd.DataFrame, run_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``wide`` for ``run_ids``, restricted to the columns some of these runs have."""
    sub = wide.reindex(run_ids)
    sub = sub.loc[:, sub.notna().any(axis=0)]
    return sub.to_numpy(dtype=float), sub.columns.to_numpy(dtype=float)


def _nan_or(function: Callable[[np.ndarray], float], values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(function(finite)) if finite.size else math.nan


def _curve(returns: np.ndarray, n_resamples: int, confidence: float, rng: np.random.Generator) -> np.ndarray:
    """IQM and bootstrap bounds per evaluation point, shape (3, points), in chunks of points to bound memory."""
    runs, points = returns.shape
    chunk = max(1, CURVE_CHUNK_ELEMENTS // (n_resamples * runs))
    parts = [
        stratified_bootstrap_ci(returns[:, start : start + chunk], iqm, n_resamples, confidence, rng)
        for start in range(0, points, chunk)
    ]
    return np.array([np.concatenate([np.atleast_1d(part[i]) for part in parts]) for i in range(3)])


def build_report(
    source: str | os.PathLike | RecordTables,
    final_k: int = 3,
    diverged: str = "hold",
    thresholds: dict[str, float] | None = None,
    kl_threshold: float = 0.05,
    cvar_alpha: float = 0.25,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    curve_resamples: int = 500,
    seed: int = 0,
) -> Report:
    """
    Compute the report tables from the records of an experiment.

    Per (environment, variant), over completed runs (``ok`` and ``diverged``; see the module docstring for
    how diverged runs enter): final return (mean of the last ``final_k`` evaluations), AUC (mean return over
    all evaluation points), largest drawdown and within-run dispersion, each as IQM / mean / median across
    seeds with percentile bootstrap intervals, and the sample standard deviation (ddof = 1); timesteps to
    reach the threshold (median across seeds, ``inf`` when fewer than half reach it, and the number that
    reach it); IQR and lower CVaR of the final return across seeds; from train.csv, the median and the
    largest per-run maximum of ``ratio_max``, the median per-run maximum of ``approx_kl`` and the mean number
    of updates per run with ``approx_kl > kl_threshold``. The aggregate pools normalised scores over the
    environments with reference scores, with a bootstrap stratified by environment.

    :param source: experiment directory, or records already loaded by ``load_records``
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"hold"`` or ``"worst"``, how the evaluation points after a divergence are scored
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
    if diverged not in DIVERGED_POLICIES:
        raise ValueError(f"diverged must be one of {list(DIVERGED_POLICIES)}, got {diverged!r}")
    if curve_resamples < 0:
        raise ValueError(f"curve_resamples must be >= 0, got {curve_resamples}")
    records = source if isinstance(source, RecordTables) else load_records(source)
    thresholds = THRESHOLDS if thresholds is None else thresholds
    runs = records.runs
    completed = runs[runs["status"].isin(COMPLETED)]
    returns_wide = _wide(records.evals, "timesteps", "mean_return")
    ratio_wide = _wide(records.train, "update", "ratio_max")
    kl_wide = _wide(records.train, "update", "approx_kl")
    worst_by_env = {
        env_id: np.nanmin(returns_wide.reindex(group["run_id"]).to_numpy(dtype=float))
        for env_id, group in completed.groupby("env_id", sort=False)
        if returns_wide.reindex(group["run_id"]).notna().to_numpy().any()
    }

    rows, curves, final_by_group, auc_by_group = [], [], {}, {}
    for (env_id, variant), group in runs.groupby(["env_id", "variant"], sort=True):
        counts = group["status"].value_counts()
        row: dict[str, object] = {"env_id": env_id, "variant": variant, "n_runs": len(group)}
        row |= {f"n_{status}": int(counts.get(status, 0)) for status in STATUSES}
        run_ids = group.loc[group["status"].isin(COMPLETED), "run_id"].tolist()
        if run_ids:
            raw, timesteps = _group_matrix(returns_wide, run_ids)
            no_eval = [run_id for run_id, empty in zip(run_ids, np.isnan(raw).all(axis=1), strict=True) if empty]
            if no_eval or raw.shape[1] == 0:
                raise ValueError(f"completed runs without any evaluation in eval.csv: {no_eval or run_ids}")
            returns = _fill(raw, diverged, worst_by_env[env_id])
            if np.isnan(returns).any():
                raise ValueError(
                    f"runs {run_ids} of {env_id}/{variant} do not all evaluate at the first timesteps {timesteps[0]}"
                )
            per_run = np.column_stack(
                [
                    metrics.final_return(returns, min(final_k, returns.shape[1])),
                    metrics.area_under_curve(returns),
                    metrics.max_drawdown(returns),
                    metrics.within_run_dispersion(returns) if returns.shape[1] > 1 else np.full(len(run_ids), np.nan),
                ]
            )
            point, low, high = stratified_bootstrap_ci(
                per_run, iqm_mean_median, n_resamples, confidence, _rng(seed, env_id, variant)
            )
            for m, name in enumerate(RUN_METRICS):
                for s, summary in enumerate(SUMMARIES):
                    row |= {
                        f"{name}_{summary}": point[m, s],
                        f"{name}_{summary}_low": low[m, s],
                        f"{name}_{summary}_high": high[m, s],
                    }
                row[f"{name}_std"] = per_run[:, m].std(ddof=1) if len(run_ids) > 1 else math.nan
            threshold = thresholds.get(env_id, math.nan)
            to_threshold = metrics.timesteps_to_threshold(returns, timesteps, threshold) if not math.isnan(threshold) else None
            row |= {
                "threshold": threshold,
                "steps_to_threshold_median": math.nan if to_threshold is None else float(np.median(to_threshold)),
                "n_reached": math.nan if to_threshold is None else int(np.isfinite(to_threshold).sum()),
                "final_return_seed_iqr": float(metrics.iqr_across_seeds(per_run[:, 0])),
                "final_return_lower_cvar": float(metrics.lower_cvar(per_run[:, 0], cvar_alpha)),
            }
            ratio = metrics.max_ratio(ratio_wide.reindex(run_ids).to_numpy(dtype=float))
            kl = kl_wide.reindex(run_ids).to_numpy(dtype=float)
            row |= {
                "ratio_max_median": _nan_or(np.median, ratio),
                "ratio_max_worst": _nan_or(np.max, ratio),
                "approx_kl_max_median": _nan_or(np.median, metrics.max_kl(kl)),
                "kl_spikes_mean": float(metrics.kl_spikes(kl, kl_threshold).mean()) if kl.shape[1] else math.nan,
            }
            final_by_group[env_id, variant] = per_run[:, 0]
            auc_by_group[env_id, variant] = per_run[:, 1]
            if curve_resamples:
                band = _curve(returns, curve_resamples, confidence, _rng(seed, "curve", env_id, variant))
                curves.append(
                    pd.DataFrame(
                        {
                            "env_id": env_id,
                            "variant": variant,
                            "timesteps": timesteps,
                            "iqm": band[0],
                            "low": band[1],
                            "high": band[2],
                        }
                    ).assign(n_runs=len(run_ids))
                )
        rows.append(row)

    variants = sorted(runs["variant"].unique())
    problems = runs.loc[
        runs["status"] != "ok", ["run_id", "env_id", "variant", "seed", "status", "diverged_at_update", "error"]
    ]
    return Report(
        per_env=pd.DataFrame(rows),
        aggregate=_aggregate(final_by_group, auc_by_group, variants, n_resamples, confidence, seed),
        improvement=_improvement(final_by_group, variants),
        curves=pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["env_id", "variant", "timesteps", "iqm", "low", "high", "n_runs"]),
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


def _aggregate(
    final_by_group: dict[tuple[str, str], np.ndarray],
    auc_by_group: dict[tuple[str, str], np.ndarray],
    variants: list[str],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    """Normalised final return and AUC per variant, pooled over environments with references, stratified by environment."""
    rows = []
    for variant in variants:
        envs = sorted(
            env for env, var in final_by_group if var == variant and env in RANDOM_SCORES and env in REFERENCE_SCORES
        )
        if not envs:
            continue
        strata = [
            np.column_stack([normalize(final_by_group[env, variant], env), normalize(auc_by_group[env, variant], env)])
            for env in envs
        ]
        point, low, high = stratified_bootstrap_ci(
            strata, iqm_mean_median, n_resamples, confidence, _rng(seed, "aggregate", variant)
        )
        row: dict[str, object] = {
            "variant": variant,
            "n_envs": len(envs),
            "n_runs": sum(len(s) for s in strata),
            "environments": ", ".join(envs),
        }
        for m, name in enumerate(("final_return", "auc")):
            for s, summary in enumerate(SUMMARIES):
                row |= {
                    f"{name}_{summary}": point[m, s],
                    f"{name}_{summary}_low": low[m, s],
                    f"{name}_{summary}_high": high[m, s],
                }
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["variant", "n_envs", "n_runs", "environments"])


def _improvement(final_by_group: dict[tuple[str, str], np.ndarray], variants: list[str]) -> pd.DataFrame:
    """P(row variant > column variant) on final return, averaged over the environments both have."""
    table = pd.DataFrame(math.nan, index=pd.Index(variants, name="variant"), columns=variants)
    for x in variants:
        for y in variants:
            envs = sorted(env for env, var in final_by_group if var == x and (env, y) in final_by_group)
            if envs:
                table.loc[x, y] = probability_of_improvement(
                    [final_by_group[env, x] for env in envs], [final_by_group[env, y] for env in envs]
                )
    return table


def report_command(directory: str, fmt: str = "md", out: str | None = None, plots: bool = False) -> int:
    """
    ``ppo-variants report DIR [--format md|csv|latex|json] [--out PATH] [--plots]``: build the report of an
    experiment directory with the default settings of ``build_report`` and export it.

    :param directory: experiment output directory
    :param fmt: ``md``, ``csv``, ``latex`` or ``json``
    :param out: file to write (atomically: temporary file in the same directory, then ``os.replace``);
        None prints to stdout
    :param plots: also write the figures (PNG and SVG, see ``plots.make_figures``) into the directory of
        ``out``, or into ``DIR/report/`` when ``out`` is None; their paths are printed to stderr
    :return: exit status, 0
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    report = build_report(directory)
    text = render(report, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
    if plots:
        from sb3_ppo_variants.analysis.plots import make_figures  # matplotlib is imported only when figures are asked for

        for path in make_figures(report, Path(out).parent if out is not None else Path(directory) / "report"):
            print(path, file=sys.stderr)
    return 0
