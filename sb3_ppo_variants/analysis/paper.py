"""
The PPO paper's Table 1 score (Schulman et al. 2017, section 6.1), as pure functions over arrays.

"We computed the average total reward of the last 100 episodes. We shifted and scaled the scores for each environment
so that the random policy gave a score of 0 and the best result was set to 1, and averaged over 21 runs to produce a
single scalar for each algorithm setting." Per task, the random policy's mean return is 0 and the best setting's mean
(over seeds) of the last-100-episode means is 1; a setting's score is the mean of its normalised run scores.
"""

import math
import os
import zlib

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.data import Table1Report
from sb3_ppo_variants.analysis.references import RANDOM_SCORES
from sb3_ppo_variants.analysis.stats import aggregate_mean, stratified_bootstrap_ci
from sb3_ppo_variants.records import COMPLETED, RecordTables, load_records

# Table 1 of the paper: setting -> average normalised score (7 MuJoCo-v1 tasks x 3 seeds, 1M steps)
PAPER_TABLE1: dict[str, float] = {
    "no-clip": -0.39,
    "clip-0.1": 0.76,
    "clip-0.2": 0.82,
    "clip-0.3": 0.70,
    "adaptive-kl-0.003": 0.68,
    "adaptive-kl-0.01": 0.74,
    "adaptive-kl-0.03": 0.71,
    "fixed-kl-0.3": 0.62,
    "fixed-kl-1": 0.71,
    "fixed-kl-3": 0.72,
    "fixed-kl-10": 0.69,
}
# The paper's labels for the same settings
PAPER_LABELS: dict[str, str] = {
    "no-clip": "No clipping or penalty",
    "clip-0.1": "Clipping, ε = 0.1",
    "clip-0.2": "Clipping, ε = 0.2",
    "clip-0.3": "Clipping, ε = 0.3",
    "adaptive-kl-0.003": "Adaptive KL, d_targ = 0.003",
    "adaptive-kl-0.01": "Adaptive KL, d_targ = 0.01",
    "adaptive-kl-0.03": "Adaptive KL, d_targ = 0.03",
    "fixed-kl-0.3": "Fixed KL, β = 0.3",
    "fixed-kl-1": "Fixed KL, β = 1",
    "fixed-kl-3": "Fixed KL, β = 3",
    "fixed-kl-10": "Fixed KL, β = 10",
}
LAST_EPISODES = 100
# The paper's seven MuJoCo tasks (its v1 versions; any version of them is compared with the paper)
PAPER_TASKS = ("HalfCheetah", "Hopper", "InvertedDoublePendulum", "InvertedPendulum", "Reacher", "Swimmer", "Walker2d")


def last_episodes_mean(returns: np.ndarray, n: int = LAST_EPISODES) -> float:
    """
    Mean return of the last ``n`` training episodes of one run (of all of them when the run has fewer).

    :param returns: the run's training-episode returns in the order the episodes ended
    :param n: number of final episodes, at least 1
    :return: the mean; NaN for a run without any finished episode
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    returns = np.asarray(returns, dtype=float)
    if returns.ndim != 1:
        raise ValueError(f"returns must be a 1-D array of episode returns, got shape {returns.shape}")
    return float(returns[-n:].mean()) if returns.size else float("nan")


def best_setting_scores(scores: dict[str, np.ndarray]) -> tuple[str, float]:
    """
    The best setting of one task: the highest mean over seeds of its runs' scores.

    :param scores: setting -> run scores (e.g. last-100-episode means) of one task
    :return: (setting, its mean)
    """
    means = {setting: float(np.mean(values)) for setting, values in scores.items() if len(values)}
    if not means:
        raise ValueError("scores must hold at least one setting with at least one run")
    best = max(means, key=lambda setting: means[setting])
    return best, means[best]


def normalize_paper(scores: dict[str, np.ndarray], random_score: float) -> dict[str, np.ndarray]:
    """
    The paper's normalisation of one task: ``(score - random) / (best - random)``, the best setting's mean being 1.

    :param scores: setting -> run scores of one task
    :param random_score: the random policy's mean return on the task
    :return: setting -> normalised run scores
    :raises ValueError: when the best setting's mean is not above the random score: the scale would be undefined or
        reversed (the worst setting ranked first)
    """
    _, best = best_setting_scores(scores)
    if not best > random_score:
        raise ValueError(
            f"the best setting's mean ({best:.6g}) is not above the random score ({random_score:.6g}): the scale is "
            "undefined or reversed"
        )
    return {
        setting: (np.asarray(values, dtype=float) - random_score) / (best - random_score) for setting, values in scores.items()
    }


def ordered_settings(settings: list[str]) -> list[str]:
    """
    Settings in the paper's order (Table 1's rows), then the others in sorted order.

    :param settings: variant entry names
    :return: the same names, ordered
    """
    return [name for name in PAPER_TABLE1 if name in settings] + sorted(set(settings) - set(PAPER_TABLE1))


def run_scores(records: RecordTables, n_last: int = LAST_EPISODES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """
    The paper's per-run score, the mean return of the last ``n_last`` training episodes (episodes.csv), of every run.

    A run counts when it is ``ok`` or ``diverged``; a diverged run has no policy left at the end of its budget and scores
    as the random policy. A run with fewer than ``n_last`` episodes scores the mean of those it has, and is listed.

    :param records: the records of an experiment directory
    :param n_last: number of final training episodes
    :return: (scores: ``run_id, env_id, setting, seed, status, n_episodes, score``; problems: ``run_id, env_id,
        setting, seed, problem``, one row per run that is left out or scored on fewer than ``n_last`` episodes)
    """
    episodes = dict(tuple(records.episodes.groupby("run_id"))) if len(records.episodes) else {}
    scores, problems = [], []
    for run in records.runs.itertuples(index=False):
        ids = {"run_id": run.run_id, "env_id": run.env_id, "setting": run.variant, "seed": run.seed}
        table = episodes.get(run.run_id)
        n_episodes = 0 if table is None else len(table)
        if run.status not in COMPLETED:
            problems.append({**ids, "problem": f"{run.status}: not scored"})
            continue
        if run.status == "diverged":
            update = run.diverged_at_update
            where = f" at update {int(update)}" if pd.notna(update) else ""
            problems.append({**ids, "problem": f"diverged{where}: scored as the random policy"})
            scores.append({**ids, "status": run.status, "n_episodes": n_episodes, "score": math.nan})
            continue
        if table is None:
            problems.append({**ids, "problem": "no training episode in its record (no episodes.csv): not scored"})
            continue
        if n_episodes < n_last:
            problems.append({**ids, "problem": f"{n_episodes} training episodes, fewer than {n_last}: scored on those"})
        score = last_episodes_mean(table.sort_values("timesteps")["return"].to_numpy(), n_last)
        scores.append({**ids, "status": run.status, "n_episodes": n_episodes, "score": score})
    score_columns = ["run_id", "env_id", "setting", "seed", "status", "n_episodes", "score"]
    return pd.DataFrame(scores, columns=score_columns), pd.DataFrame(problems, columns=[*score_columns[:4], "problem"])


def episode_curves(records: RecordTables, scores: pd.DataFrame, points: int = 20) -> pd.DataFrame:
    """
    Training-episode learning curves in the manner of the paper's Figure 3: per run, the mean return of the episodes that
    end in each of ``points`` equal spans of the budget; then the mean over the runs of each (task, setting).

    :param records: the records
    :param scores: ``run_scores``'s scores (the runs to draw)
    :param points: number of spans
    :return: ``env_id, setting, timesteps (end of the span), mean_return, n_runs``
    """
    columns = ["env_id", "setting", "timesteps", "mean_return", "n_runs"]
    episodes = records.episodes[records.episodes["run_id"].isin(scores["run_id"])]
    if episodes.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (env_id, setting), group in scores.groupby(["env_id", "setting"], sort=False):
        runs = episodes[episodes["run_id"].isin(group["run_id"])]
        if runs.empty:
            continue
        edges = np.linspace(0, runs["timesteps"].max(), points + 1)
        span = np.clip(np.searchsorted(edges, runs["timesteps"].to_numpy(), side="left") - 1, 0, points - 1)
        per_run = runs.assign(span=span).groupby(["run_id", "span"])["return"].mean().unstack()
        mean = per_run.mean(axis=0)
        rows += [
            {
                "env_id": env_id,
                "setting": setting,
                "timesteps": edges[i + 1],
                "mean_return": mean[i],
                "n_runs": int(per_run[i].notna().sum()),
            }
            for i in mean.index
        ]
    return pd.DataFrame(rows, columns=columns)


def build_table1(
    source: str | os.PathLike | RecordTables,
    n_last: int = LAST_EPISODES,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    random_scores: dict[str, float] | None = None,
) -> Table1Report:
    """
    The PPO paper's Table 1 from an experiment's records: each setting's score, the mean over tasks and seeds of the
    per-task normalised scores (random policy 0, best setting 1), with a 95% bootstrap CI stratified by task, beside the
    paper's score; then the raw per-task scores and the training-episode curves.

    :param source: experiment directory, or records already loaded
    :param n_last: number of final training episodes averaged per run
    :param n_resamples: bootstrap resamples
    :param confidence: confidence level of the intervals
    :param seed: seed of the bootstrap
    :param random_scores: env_id -> random policy's mean return; default ``references.RANDOM_SCORES``
    :return: the report
    """
    records = source if isinstance(source, RecordTables) else load_records(source)
    random_scores = RANDOM_SCORES if random_scores is None else random_scores
    scores, problems = run_scores(records, n_last)
    tasks = sorted(set(scores["env_id"]))
    unknown = [task for task in tasks if task not in random_scores]
    if unknown:
        raise ValueError(f"no random-policy score for {unknown}: measure it with 'ppo-variants references random ...'")
    normalised: dict[str, dict[str, np.ndarray]] = {}
    unscaled: dict[str, str] = {}
    per_task = []
    for task in tasks:
        group = scores[scores["env_id"] == task]
        random = random_scores[task]
        # a diverged run scores as the random policy
        by_setting = {
            setting: rows["score"].fillna(random).to_numpy() for setting, rows in group.groupby("setting", sort=False)
        }
        best, best_mean = best_setting_scores(by_setting)
        if best_mean > random:
            normalised[task] = normalize_paper(by_setting, random)
        else:
            unscaled[task] = f"its best setting, {best}, scores {best_mean:.6g}, not above the random policy's {random:.6g}"
        per_task += [
            {
                "env_id": task,
                "setting": setting,
                "random_score": random,
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "n_runs": len(values),
                "normalised": float(normalised[task][setting].mean()) if task in normalised else math.nan,
                "best": setting == best,
            }
            for setting, values in by_setting.items()
        ]
    rows = []
    for setting in ordered_settings(sorted(set(scores["setting"]))):
        strata = [normalised[task][setting] for task in normalised if setting in normalised[task]]
        point, low, high = (
            stratified_bootstrap_ci(strata, aggregate_mean, n_resamples, confidence, [seed, zlib.crc32(setting.encode())])
            if strata
            else (math.nan, math.nan, math.nan)
        )
        rows.append(
            {
                "setting": setting,
                "paper_label": PAPER_LABELS.get(setting, ""),
                "score": float(point),
                "score_low": float(low),
                "score_high": float(high),
                "paper_score": PAPER_TABLE1.get(setting, math.nan),
                "n_tasks": len(strata),
                "n_runs": sum(len(stratum) for stratum in strata),
            }
        )
    table1_columns = ["setting", "paper_label", "score", "score_low", "score_high", "paper_score", "n_tasks", "n_runs"]
    per_task_frame = pd.DataFrame(
        per_task, columns=["env_id", "setting", "random_score", "mean", "std", "n_runs", "normalised", "best"]
    )
    order = {setting: i for i, setting in enumerate(ordered_settings(sorted(set(scores["setting"]))))}
    not_in_paper = [task for task in tasks if task.split(":")[-1].split("/")[-1].split("-v")[0] not in PAPER_TASKS]
    return Table1Report(
        table1=pd.DataFrame(rows, columns=table1_columns),
        per_task=per_task_frame.sort_values(["env_id", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c),
        curves=episode_curves(records, scores),
        problems=problems,
        settings={"n_last": n_last, "n_resamples": n_resamples, "confidence": confidence, "seed": seed, "tasks": tasks}
        | ({"unscaled_tasks": unscaled} if unscaled else {})
        | ({"tasks_not_in_paper": not_in_paper} if not_in_paper else {}),
    )
