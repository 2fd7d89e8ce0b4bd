"""
Per-run scores from the records of an experiment (docs/records.md): which runs are scored, the curves each is scored
on, and the scores themselves (AUC, final return, mean return of the last training episodes).

Which runs are scored:

- ``ok`` and ``diverged`` runs are *completed* and get every score;
- ``failed`` runs (an error other than divergence) and ``incomplete`` runs (no status.json yet) are kept, counted and
  listed by the reports, but get no score: their curves stop at an arbitrary point unrelated to the variant;
- ``corrupt`` runs (a record file fails the checks of ``sb3_ppo_variants.records.load_records``) are counted and
  listed with the file and the problem, and get no score;
- a diverged run's evaluation curve ends at its last evaluation before the divergence. Its curve is scored on the
  grid of its group: the evaluation timesteps of the group's completed runs or, when none of them is ok (every run
  diverged), those of the environment's ok runs, so that diverging early never shortens the curve a run is scored
  on. With ``diverged="worst"`` (default) its points after the divergence get the lowest evaluation return observed
  in that environment among completed runs: a diverged run is scored as the worst from divergence on, so diverging
  early is never rewarded (with "hold", a run that diverged at its first update keeps the score of its initial
  policy and can outrank a variant that learned and then dipped). With ``diverged="hold"`` they repeat its last
  evaluation, so the final return is the last evaluation before divergence.

Runs are grouped by environment and a grouping of the report's choice: ``label`` (the variant entry's name, or for a
run of a sweep its configuration's label, e.g. ``pg[learning_rate=0.003]``, so that the configurations of a sweep are
never pooled) for the standard report, the configuration's keys for a sweep.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import metrics
from sb3_ppo_variants.records import COMPLETED, RecordTables
from sb3_ppo_variants.validation import is_integer

__all__ = [
    "CURVE_SCORES",
    "DIVERGED_POLICIES",
    "LAST_EPISODES",
    "GroupCurves",
    "curve_scores",
    "group_curves",
    "last_episodes_mean",
    "run_scores",
    "wide",
]

DIVERGED_POLICIES = ("worst", "hold")
# The scores of an evaluation curve, in the order ``curve_scores`` gives them
CURVE_SCORES = ("final_return", "auc")
# The PPO paper's Table 1 averages the last 100 training episodes of each run
LAST_EPISODES = 100


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


def wide(table: pd.DataFrame, columns: str, values: str) -> pd.DataFrame:
    """
    One row per run of a long record table (``RecordTables.evals`` or ``.train``), one column per value of ``columns``.

    :param table: the long table, with ``run_id``
    :param columns: the column whose values become the columns, e.g. ``timesteps`` or ``update``
    :param values: the column whose values fill the table, e.g. ``mean_return``
    :return: the wide table indexed by ``run_id``; empty when ``table`` has no column ``values``
    """
    if values not in table.columns:
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    return table.pivot(index="run_id", columns=columns, values=values)


def _group_matrix(returns_wide: pd.DataFrame, run_ids: list[str], grid_run_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``returns_wide`` for ``run_ids``, restricted to the columns these runs or those of ``grid_run_ids`` have."""
    sub = returns_wide.reindex(run_ids)
    sub = sub.loc[:, sub.notna().any(axis=0) | returns_wide.reindex(grid_run_ids).notna().any(axis=0)]
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
    returns_wide = wide(records.evals, "timesteps", "mean_return")
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


def _check_positive_int(value: object, name: str) -> None:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def curve_scores(returns: np.ndarray, final_k: int) -> dict[str, np.ndarray]:
    """
    The scores of evaluation curves: final return (mean of the last ``final_k`` evaluations, of all of them when a run
    has fewer) and AUC (mean return over all evaluation points).

    :param returns: filled evaluation returns, shape (runs, points)
    :param final_k: number of final evaluations averaged, at least 1
    :return: ``CURVE_SCORES`` -> per-run values, shape (runs,)
    """
    _check_positive_int(final_k, "final_k")
    return {
        "final_return": metrics.final_return(returns, min(final_k, returns.shape[1])),
        "auc": metrics.area_under_curve(returns),
    }


def last_episodes_mean(returns: np.ndarray, n: int = LAST_EPISODES) -> float:
    """
    Mean return of the last ``n`` training episodes of one run (of all of them when the run has fewer).

    :param returns: the run's training-episode returns in the order the episodes ended
    :param n: number of final episodes, at least 1
    :return: the mean; NaN for a run without any finished episode
    """
    _check_positive_int(n, "n")
    returns = np.asarray(returns, dtype=float)
    if returns.ndim != 1:
        raise ValueError(f"returns must be a 1-D array of episode returns, got shape {returns.shape}")
    return float(returns[-n:].mean()) if returns.size else float("nan")


def _episode_scores(records: RecordTables, n_last: int) -> pd.DataFrame:
    """Per run with training episodes: ``n_episodes`` and ``last_episodes`` (``last_episodes_mean``), indexed by run id."""
    rows = {
        run_id: {
            "n_episodes": len(table),
            "last_episodes": last_episodes_mean(table.sort_values("timesteps")["return"].to_numpy(), n_last),
        }
        for run_id, table in (records.episodes.groupby("run_id") if len(records.episodes) else [])
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=["n_episodes", "last_episodes"])


def run_scores(
    records: RecordTables,
    by: Sequence[str] = ("env_id", "label"),
    final_k: int = 3,
    diverged: str = "worst",
    n_last: int = LAST_EPISODES,
) -> pd.DataFrame:
    """
    Every score of every run, by the rules of the module docstring.

    :param records: the records
    :param by: the grouping of ``group_curves`` (a diverged run is filled on its group's grid)
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :param n_last: number of final training episodes averaged into ``last_episodes``
    :return: one row per run, in the order of the groups (then of the records): the columns of ``records.runs``, then
        ``final_return`` and ``auc`` (NaN for a run that is not completed), ``n_episodes`` (training episodes in
        episodes.csv) and ``last_episodes`` (the mean return of the last ``n_last`` of them, NaN without any)
    """
    _check_positive_int(final_k, "final_k")
    _check_positive_int(n_last, "n_last")
    parts = []
    for group in group_curves(records, by, diverged):
        scores = pd.DataFrame(math.nan, index=group.runs.index, columns=list(CURVE_SCORES))
        if group.returns is not None:
            for name, values in curve_scores(group.returns, final_k).items():
                scores.loc[group.completed.index, name] = values
        parts.append(group.runs.join(scores))
    table = pd.concat(parts) if parts else records.runs.reindex(columns=[*records.runs.columns, *CURVE_SCORES])
    episodes = _episode_scores(records, n_last).reindex(table["run_id"])
    return table.assign(
        n_episodes=episodes["n_episodes"].fillna(0).astype(int).to_numpy(), last_episodes=episodes["last_episodes"].to_numpy()
    ).reset_index(drop=True)
