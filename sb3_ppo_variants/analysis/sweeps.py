"""
Hyperparameter sweeps: per-configuration scores, the selection of a winner per (environment, variant), and the tables
that judge a selection: selection bias, sensitivity and robustness across hyperparameters.

A configuration is one setting of a sweep's axes for one (environment, variant entry). Its runs share ``env_id``,
``variant`` and ``config_id``; ``config_id`` is missing (None in config.json, NaN in the tables) for an entry without a
sweep, whose only configuration is the entry itself. Runs enter as in ``sb3_ppo_variants.analysis.report``: ``ok`` and
``diverged`` runs are scored (a diverged run, by default, as the environment's lowest return after its divergence, on
its configuration's grid); ``failed``, ``pruned`` and ``incomplete`` runs are counted (``n_excluded``) and enter no
score. A configuration with a ``pruned`` run (a trial of a TPE search that the median pruner stopped) is counted
(``n_pruned``) and scored on its other runs, but never selected.

A run's score is its selection metric: ``"auc"``, the area under the curve (mean evaluation return over all evaluation
points), or ``"final"``, the final return (mean of the last ``final_k`` evaluations). A configuration's score is the IQM
of its runs' scores across seeds. Configurations are ranked by that IQM, ties broken by the higher mean across seeds,
then by the first label in sorted order, so that a ranking never depends on the order of the records.

``run_scores`` and ``select_configurations`` read records; the other functions are pure functions of the tables of
run scores or configuration scores they return.
"""

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import scoring, tables
from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD
from sb3_ppo_variants.analysis.references import RANDOM_SCORES
from sb3_ppo_variants.analysis.stats import SEED_SUMMARIES, bootstrap_seed, iqm, stratified_bootstrap_ci
from sb3_ppo_variants.records import RecordTables, load_records
from sb3_ppo_variants.validation import is_number

__all__ = [
    "NEAR_BEST",
    "SELECTION_METRICS",
    "TOP_PERCENTILE",
    "best_configurations",
    "configuration_intervals",
    "configuration_scores",
    "robustness",
    "run_scores",
    "select_configurations",
    "selection_bias",
    "sensitivity",
]

SELECTION_METRICS = ("auc", "final")
# The column of ``scoring.run_scores`` each selection metric is
SELECTION_SCORES = {"auc": "auc", "final": "final_return"}
# A configuration whose normalised score is at least this (within 10% of the best) counts as near the best.
NEAR_BEST = 0.9
# The percentile of the configurations' normalised scores reported by ``robustness``.
TOP_PERCENTILE = 95.0
CONFIG_KEYS = ["env_id", "variant", "config_id"]
IDENTITY_COLUMNS = ["env_id", "variant", "config_id", "label", "algo", "sweep", "hyperparameters"]
SELECTION_COLUMNS = [*IDENTITY_COLUMNS, "tuning_score", "tuning_mean", "n_runs", "n_excluded", "n_configs"]
BIAS_NAMES = ("tuning_iqm", "fresh_iqm", "bias")
# The columns of an interval: the point, its bounds, and how much the bounds move with the bootstrap seed
BOUNDS = ("", "_low", "_high", "_seed_sd")
BIAS_COLUMNS = [f"{name}{bound}" for name in BIAS_NAMES for bound in BOUNDS]
SCORE_COLUMNS = [f"score_{summary}{bound}" for summary in SEED_SUMMARIES for bound in BOUNDS] + ["score_std"]
SENSITIVITY_COLUMNS = [
    "env_id",
    "hyperparameter",
    "variant",
    "value",
    "config_id",
    "label",
    "n_configs",
    "n_runs",
    "score_iqm",
    "score_iqm_low",
    "score_iqm_high",
]
ROBUSTNESS_STATISTICS = ("p95", "fraction_near_best", "best")


def run_scores(
    source: str | os.PathLike | RecordTables, select: str = "auc", final_k: int = 3, diverged: str = "worst"
) -> pd.DataFrame:
    """
    The selection metric of every run (see the module docstring).

    :param source: experiment directory, or records already loaded by ``load_records``
    :param select: ``"auc"`` or ``"final"``
    :param final_k: number of final evaluations averaged into the final return (all of them when a run has fewer)
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :return: one row per run, grouped by configuration (sorted by ``env_id, variant, config_id``): ``env_id, variant,
        config_id, label, algo, sweep, hyperparameters, run_id, seed, status, score``; ``score`` is NaN for a failed or
        incomplete run
    """
    if select not in SELECTION_METRICS:
        raise ValueError(f"select must be one of {list(SELECTION_METRICS)}, got {select!r}")
    records = source if isinstance(source, RecordTables) else load_records(source)
    scores = scoring.run_scores(records, CONFIG_KEYS, final_k, diverged)
    return scores.rename(columns={SELECTION_SCORES[select]: "score"})[[*IDENTITY_COLUMNS, "run_id", "seed", "status", "score"]]


def _by_configuration(scores: pd.DataFrame) -> list[tuple[dict[str, object], np.ndarray, int]]:
    """
    Per configuration of run ``scores``: its identity columns with ``n_pruned`` (its pruned runs), its scores and its
    number of unscored runs.
    """
    identities = scores[IDENTITY_COLUMNS].to_dict(orient="records")
    values = scores["score"].to_numpy(dtype=float)
    pruned = (scores["status"] == "pruned").to_numpy()
    configurations = []
    group = scores.groupby(CONFIG_KEYS, sort=True, dropna=False).ngroup().to_numpy()
    for number in range(group.max() + 1 if group.size else 0):
        rows = np.flatnonzero(group == number)
        run_values = values[rows]
        scored = run_values[~np.isnan(run_values)]
        identity = identities[rows[0]] | {"n_pruned": int(pruned[rows].sum())}
        configurations.append((identity, scored, run_values.size - scored.size))
    return configurations


def configuration_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """
    Each configuration's score: the IQM of its runs' scores across seeds, and their mean (the first tie-breaker).

    :param scores: run scores (``run_scores``)
    :return: one row per configuration, sorted by ``env_id, variant, config_id``: the identity columns ``env_id,
        variant, config_id, label, algo, sweep, hyperparameters``, then ``n_pruned`` (pruned runs), ``n_runs`` (runs
        scored), ``n_excluded`` (failed, pruned and incomplete runs), ``score_iqm`` and ``score_mean`` (NaN without a
        scored run)
    """
    rows = [
        identity
        | {
            "n_runs": values.size,
            "n_excluded": n_excluded,
            "score_iqm": float(iqm(values)) if values.size else math.nan,
            "score_mean": float(values.mean()) if values.size else math.nan,
        }
        for identity, values, n_excluded in _by_configuration(scores)
    ]
    return pd.DataFrame(rows, columns=[*IDENTITY_COLUMNS, "n_pruned", "n_runs", "n_excluded", "score_iqm", "score_mean"])


def configuration_intervals(
    scores: pd.DataFrame, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0, method: str = DEFAULT_METHOD
) -> pd.DataFrame:
    """
    Each configuration's score with confidence intervals across its seeds.

    :param scores: run scores (``run_scores``)
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap, combined with each configuration's environment, variant and label
    :param method: interval method of the IQM and the mean (``intervals.METHODS``; the median's is the percentile
        bootstrap)
    :return: one row per configuration, as ``configuration_scores`` but with all the columns of
        ``tables.seed_summaries`` of ``score``: ``score_<iqm|mean|median>`` with ``_low`` / ``_high`` bounds and
        ``score_std`` (NaN without a scored run)
    """
    rows = []
    for identity, values, n_excluded in _by_configuration(scores):
        row = identity | {"n_runs": values.size, "n_excluded": n_excluded}
        if values.size:
            group_seed = bootstrap_seed(seed, str(identity["env_id"]), str(identity["variant"]), str(identity["label"]))
            row |= tables.seed_summaries({"score": values}, n_resamples, confidence, group_seed, method)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=[*IDENTITY_COLUMNS, "n_pruned", "n_runs", "n_excluded", *SCORE_COLUMNS])


def _bounded(
    names: Sequence[str], point: np.ndarray, low: np.ndarray, high: np.ndarray, seed_sd: np.ndarray
) -> dict[str, float]:
    """The columns ``<name>``, ``<name>_low``, ``<name>_high`` and ``<name>_seed_sd`` of each of ``names``."""
    columns = {}
    for i, name in enumerate(names):
        columns |= {
            name: float(point[i]),
            f"{name}_low": float(low[i]),
            f"{name}_high": float(high[i]),
            f"{name}_seed_sd": float(seed_sd[i]),
        }
    return columns


def _ranked(configurations: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """
    The configurations with a scored run and no pruned run, best first within each group of ``by`` (the module
    docstring's ranking).
    """
    scored = configurations[(configurations["n_runs"] > 0) & (configurations["n_pruned"] == 0)]
    keys = [*by, "score_iqm", "score_mean", "label"]
    return scored.sort_values(keys, ascending=[True] * len(by) + [False, False, True], kind="stable")


def best_configurations(configurations: pd.DataFrame) -> pd.DataFrame:
    """
    The best configuration of each (environment, variant), by the ranking of the module docstring.

    A (environment, variant) none of whose configurations has a scored run and no pruned run has no winner and no row.

    :param configurations: ``configuration_scores`` or ``configuration_intervals``
    :return: one row per (environment, variant), sorted: the identity columns ``env_id, variant, config_id, label,
        algo, sweep`` (the swept values), ``hyperparameters`` (every resolved value, as in config.json), then
        ``tuning_score`` (the IQM), ``tuning_mean``, ``n_runs`` (runs scored), ``n_excluded`` (failed and incomplete
        runs) and ``n_configs`` (configurations of the (environment, variant))
    """
    n_configs = configurations.groupby(["env_id", "variant"]).size().rename("n_configs")
    winners = _ranked(configurations, ["env_id", "variant"]).drop_duplicates(["env_id", "variant"])
    winners = winners.rename(columns={"score_iqm": "tuning_score", "score_mean": "tuning_mean"})
    return winners.join(n_configs, on=["env_id", "variant"]).reset_index(drop=True)[SELECTION_COLUMNS]


def select_configurations(
    source: str | os.PathLike | RecordTables, select: str = "auc", final_k: int = 3, diverged: str = "worst"
) -> pd.DataFrame:
    """
    Select, per (environment, variant), the configuration with the best IQM of the selection metric on its seeds.

    Ties are broken by the higher mean across seeds, then by the first label in sorted order.

    :param source: the tuning stage's directory, or its records already loaded by ``load_records``
    :param select: the selection metric, ``"auc"`` or ``"final"`` (see the module docstring)
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :return: the winners, ``best_configurations``
    """
    return best_configurations(configuration_scores(run_scores(source, select, final_k, diverged)))


def _in_configuration(scores: pd.DataFrame, configuration: pd.Series) -> pd.Series:
    """Mask of the runs of ``scores`` in the configuration of ``configuration`` (a row with the identity columns)."""
    config_id = configuration["config_id"]
    same_config = scores["config_id"].isna() if pd.isna(config_id) else scores["config_id"] == config_id
    return (scores["env_id"] == configuration["env_id"]) & (scores["variant"] == configuration["variant"]) & same_config


def _check_evaluated(winner: pd.Series, fresh: pd.DataFrame) -> None:
    """Raise when the fresh runs of a winner's (environment, variant) ran other values of its swept keys."""
    for key, value in winner["sweep"].items():
        ran = sorted({repr(hp[key]) for hp in fresh["hyperparameters"] if key in hp and hp[key] != value})
        if ran:
            raise ValueError(
                f"the evaluation runs of ({winner['env_id']}, {winner['variant']}) ran {key} = {', '.join(ran)}, but the "
                f"configuration selected from the tuning runs is {winner['label']} ({key} = {value!r}): report with the "
                "selection metric the tune used (select='auc' or 'final', 'ppo-variants report --select')"
            )


def _bias_statistic(tuning: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """IQM on the tuning seeds, IQM on the fresh seeds and their difference, stacked on a new last axis."""
    tuning_iqm, fresh_iqm = iqm(tuning), iqm(fresh)
    return np.stack([tuning_iqm, fresh_iqm, tuning_iqm - fresh_iqm], axis=-1)


def selection_bias(
    tuning: pd.DataFrame, fresh: pd.DataFrame, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """
    Each winner's score on the seeds it was selected on beside its score on fresh seeds, and the difference.

    The best of several configurations, scored on the seeds that chose it, is optimistic (maximisation bias); its
    score on fresh seeds is not. The winners are ``best_configurations`` of the tuning scores; a winner's fresh runs
    are the runs of its (environment, variant) in ``fresh``, which must have run its swept values (``ValueError``
    otherwise, e.g. when the tune selected with the other metric).

    :param tuning: run scores of the tuning stage (``run_scores``)
    :param fresh: run scores of the evaluation stage, with the same metric
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap, combined with each winner's environment and variant
    :return: one row per winner: ``env_id, variant, config_id, label``, then ``tuning_iqm``, ``fresh_iqm`` and
        ``bias`` = tuning_iqm - fresh_iqm (positive when the tuning score was optimistic), each with ``_low`` / ``_high``
        bounds from one bootstrap that resamples the tuning runs and the fresh runs independently, then
        ``n_tuning_runs`` and ``n_fresh_runs``; the fresh columns and the bias are NaN without a scored fresh run
    """
    rows = []
    for _, winner in best_configurations(configuration_scores(tuning)).iterrows():
        pair = fresh[(fresh["env_id"] == winner["env_id"]) & (fresh["variant"] == winner["variant"])]
        _check_evaluated(winner, pair)
        tuning_runs = tuning.loc[_in_configuration(tuning, winner), "score"].dropna().to_numpy()
        fresh_runs = pair["score"].dropna().to_numpy()
        group_seed = bootstrap_seed(seed, "selection bias", winner["env_id"], winner["variant"])
        row = winner[["env_id", "variant", "config_id", "label"]].to_dict()
        if fresh_runs.size:
            strata = [tuning_runs, fresh_runs]
            estimate = stratified_bootstrap_ci(strata, _bias_statistic, n_resamples, confidence, group_seed, True)
            row |= _bounded(BIAS_NAMES, *estimate)
        else:
            estimate = stratified_bootstrap_ci(tuning_runs, iqm, n_resamples, confidence, group_seed, True)
            row |= _bounded(BIAS_NAMES[:1], *([value] for value in estimate))
        rows.append(row | {"n_tuning_runs": tuning_runs.size, "n_fresh_runs": fresh_runs.size})
    return pd.DataFrame(rows).reindex(
        columns=["env_id", "variant", "config_id", "label", *BIAS_COLUMNS, "n_tuning_runs", "n_fresh_runs"]
    )


def _value_order(values: Sequence[object]) -> list[int]:
    """Indices that sort swept values: numerically when all are numbers, otherwise by their JSON text."""
    numeric = all(is_number(value) for value in values)
    keys = [float(value) if numeric else json.dumps(value, sort_keys=True) for value in values]
    return sorted(range(len(values)), key=lambda i: keys[i])


def sensitivity(configurations: pd.DataFrame) -> pd.DataFrame:
    """
    The score against the value of each swept hyperparameter: a profile over the other axes.

    For each environment, swept key (hyperparameter) and variant, and each value of that key, the row is the best
    configuration (by the ranking of the module docstring) among the configurations with that value: the score the
    variant reaches at that value when every other swept key is at its best. Its interval is that configuration's
    interval across its seeds; note that the best of several configurations is optimistic in the same way as a
    selection (``selection_bias``), the more so the more configurations share the value. Configurations without a
    scored run, or with a pruned run, are left out; with random search each value is usually its own configuration.

    :param configurations: ``configuration_intervals``
    :return: one row per (environment, hyperparameter, variant, value), sorted by environment, hyperparameter,
        variant and value (numerically when the values are numbers): ``env_id, hyperparameter, variant, value,
        config_id, label`` (of the best configuration), ``n_configs`` (configurations with that value), ``n_runs``,
        ``score_iqm``, ``score_iqm_low``, ``score_iqm_high``
    """
    rows = []
    for (env_id, variant), group in _ranked(configurations, ["env_id", "variant"]).groupby(["env_id", "variant"]):
        for key in sorted({key for sweep in group["sweep"] for key in sweep}):
            with_key = group[[key in sweep for sweep in group["sweep"]]]
            tokens = [json.dumps(sweep[key], sort_keys=True) for sweep in with_key["sweep"]]
            counts = Counter(tokens)
            best = with_key.assign(token=tokens).drop_duplicates("token")
            values = [sweep[key] for sweep in best["sweep"]]
            for i in _value_order(values):
                row = best.iloc[i]
                rows.append(
                    {"env_id": env_id, "hyperparameter": key, "variant": variant, "value": values[i]}
                    | row[["config_id", "label"]].to_dict()
                    | {"n_configs": counts[row["token"]]}
                    | row[["n_runs", "score_iqm", "score_iqm_low", "score_iqm_high"]].to_dict()
                )
    table = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    order = table.sort_values(["env_id", "hyperparameter", "variant"], kind="stable").index
    return table.loc[order].reset_index(drop=True)


def _robustness_statistic(*configurations: np.ndarray, random_score: float, columns: Sequence[Sequence[int]]) -> np.ndarray:
    """
    Per variant, the ``TOP_PERCENTILE`` percentile, the fraction ``>= NEAR_BEST`` and the maximum of the normalised
    configuration scores; ``configurations`` are one environment's, each shaped (..., runs), ``columns`` the indices of
    each variant's. NaN when no configuration beats the random score (the scale is undefined).
    """
    config_iqm = np.stack([iqm(runs) for runs in configurations], axis=-1)
    span = config_iqm.max(axis=-1, keepdims=True) - random_score
    normalised = np.where(span > 0, (config_iqm - random_score) / np.where(span > 0, span, 1.0), np.nan)
    statistics = []
    for variant_columns in columns:
        scores = normalised[..., variant_columns]
        near_best = np.where(np.isnan(scores[..., 0]), np.nan, (scores >= NEAR_BEST).mean(axis=-1))
        statistics.append(np.stack([np.percentile(scores, TOP_PERCENTILE, axis=-1), near_best, scores.max(axis=-1)], axis=-1))
    return np.stack(statistics, axis=-2)


def robustness(
    scores: pd.DataFrame,
    random_scores: Mapping[str, float] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """
    Robustness across hyperparameters (Andrychowicz et al. 2021, "What matters in on-policy RL"): how much of a
    variant's sweep is near the best.

    Per environment, configuration scores (IQM across seeds) are normalised so that the random policy scores 0 and the
    best configuration of any variant scores 1. Per variant, over its configurations: the 95th percentile
    (``TOP_PERCENTILE``, numpy's linear interpolation between order statistics) of the normalised scores, the fraction
    of configurations within 10% of the best (normalised score >= ``NEAR_BEST``) and the variant's best normalised
    score. A variant that is good at a single setting has a high best and a low fraction. The intervals come from one
    bootstrap per environment that resamples the seeds within each configuration and recomputes everything, the
    best configuration (the scale) included.

    :param scores: run scores (``run_scores``), e.g. of the tuning stage
    :param random_scores: random-policy score per env_id; default ``references.RANDOM_SCORES``; environments without
        one are left out
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap, combined with each environment
    :return: one row per (environment, variant), sorted: ``env_id, variant, n_configs`` (configurations with a scored
        run), ``n_runs``, ``random_score``, ``best_score`` (the environment's best configuration score, raw), then
        ``p95``, ``fraction_near_best`` and ``best``, each with ``_low`` / ``_high`` bounds; NaN when no configuration
        of the environment beats the random score
    """
    random_scores = RANDOM_SCORES if random_scores is None else random_scores
    scored = [(identity, values) for identity, values, _ in _by_configuration(scores) if values.size]
    rows = []
    for env_id in sorted({identity["env_id"] for identity, _ in scored} & set(random_scores)):
        env_configs = [(identity, values) for identity, values in scored if identity["env_id"] == env_id]
        variants = sorted({identity["variant"] for identity, _ in env_configs})
        columns = [[i for i, (identity, _) in enumerate(env_configs) if identity["variant"] == v] for v in variants]
        point, low, high, seed_sd = stratified_bootstrap_ci(
            [values for _, values in env_configs],
            partial(_robustness_statistic, random_score=random_scores[env_id], columns=columns),
            n_resamples,
            confidence,
            bootstrap_seed(seed, "robustness", env_id),
            with_seed_sd=True,
        )
        best_score = max(float(iqm(values)) for _, values in env_configs)
        for v, variant in enumerate(variants):
            row = {
                "env_id": env_id,
                "variant": variant,
                "n_configs": len(columns[v]),
                "n_runs": sum(env_configs[i][1].size for i in columns[v]),
                "random_score": float(random_scores[env_id]),
                "best_score": best_score,
            }
            rows.append(row | _bounded(ROBUSTNESS_STATISTICS, point[v], low[v], high[v], seed_sd[v]))
    columns = ["env_id", "variant", "n_configs", "n_runs", "random_score", "best_score"]
    columns += [f"{name}{bound}" for name in ROBUSTNESS_STATISTICS for bound in BOUNDS]
    return pd.DataFrame(rows).reindex(columns=columns)
