"""
The PPO paper's Table 1 score (Schulman et al. 2017, section 6.1), as pure functions over arrays.

"We computed the average total reward of the last 100 episodes. We shifted and scaled the scores for each environment
so that the random policy gave a score of 0 and the best result was set to 1, and averaged over 21 runs to produce a
single scalar for each algorithm setting." Per task, the random policy's mean return is 0 and the best setting's mean
(over seeds) of the last-100-episode means is 1; a setting's score is the mean of its normalised run scores.
"""

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.document import Document, FigureSpec, TextTable
from sb3_ppo_variants.analysis.formatting import bounded, method_name, number, percent
from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD, check_method, interval_estimate
from sb3_ppo_variants.analysis.references import PUBLISHED_PPO_1M, RANDOM_SCORES
from sb3_ppo_variants.analysis.scoring import LAST_EPISODES, run_scores
from sb3_ppo_variants.analysis.stats import bootstrap_seed
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
TABLE1_COLUMNS = [
    "setting",
    "paper_label",
    "score",
    "score_low",
    "score_high",
    "score_fixed",
    "score_fixed_low",
    "score_fixed_high",
    "paper_score",
    "n_tasks",
    "n_runs",
]
# The paper's seven MuJoCo tasks (its v1 versions; any version of them is compared with the paper)
PAPER_TASKS = ("HalfCheetah", "Hopper", "InvertedDoublePendulum", "InvertedPendulum", "Reacher", "Swimmer", "Walker2d")
PER_TASK_COLUMNS = [
    "env_id",
    "setting",
    "random_score",
    "mean",
    "std",
    "n_runs",
    "normalised",
    "normalised_fixed",
    "best",
    "published_1m",
]
# The setting shown beside the published returns of PPO-clip after 1M steps (``references.PUBLISHED_PPO_1M``)
PUBLISHED_SETTING = "clip-0.2"
# The setting fixed in advance that scales the second normalisation: PPO's clip at ε = 0.2, the paper's recommendation
FIXED_REFERENCE = "clip-0.2"
# The columns of the tidy CSV of a Table-1 report
TIDY_COLUMNS = ["table", "env_id", "setting", "run_id", "statistic", "value"]


@dataclass(frozen=True)
class Table1Report:
    """
    The PPO paper's Table 1 computed from an experiment's training episodes (``build_table1``).

    :param table1: one row per setting, in the paper's order: ``setting, paper_label, score, score_low, score_high,
        score_fixed, score_fixed_low, score_fixed_high, paper_score, n_tasks, n_runs``; ``score`` is the mean over
        tasks of the mean normalised score of its runs (random policy 0, best setting of the task 1) with its interval
        (``settings["interval"]``); ``score_fixed`` the same with the setting ``settings["reference"]`` fixed in
        advance as 1 instead of the best
    :param per_task: one row per (task, setting): ``env_id, setting, random_score, mean, std, n_runs, normalised,
        normalised_fixed, best, published_1m``: the mean and std over seeds of the last-100-episode means (raw returns),
        their normalised mean by the best setting and by the reference, whether it is the task's best setting, and for
        clip-0.2 the published return of PPO after 1M steps (``PUBLISHED_PPO_1M``; NaN otherwise)
    :param curves: training-episode curves: ``env_id, setting, timesteps, mean_return, n_runs``
    :param problems: the runs left out or scored on fewer episodes: ``run_id, env_id, setting, seed, problem``
    :param settings: the parameters the report was built with
    """

    table1: pd.DataFrame
    per_task: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)

    def document(self) -> Document:
        """
        The report as the writers see it: the tables Table 1 (the paper's layout), per-task returns and the runs not
        scored in full; the tidy rows (``TIDY_COLUMNS``: ``table1`` rows with ``env_id`` = ``all``, ``per_task`` and
        ``problems`` rows, one per statistic); the JSON content (``settings``, then ``table1``, ``per_task``,
        ``problems`` and ``curves`` as lists of row objects); the figures ``table1_scores`` and ``table1_curves``.

        :return: the document
        """
        settings = self.settings
        header = (
            f"Scored as the PPO paper's Table 1: per run, the mean return of its last {settings.get('n_last')} training "
            "episodes; per task, the random policy's mean return is 0 and the best setting's mean over seeds is 1. Tasks: "
            f"{', '.join(settings.get('tasks', []))}. Bootstrap: {settings.get('n_resamples')} resamples, "
            f"seed {settings.get('seed')}. Intervals: {method_name(settings)} (docs/statistics.md)."
            + "".join(
                f" {task} is left out of the scores: {reason}, so its scale would be undefined or reversed."
                for task, reason in settings.get("unscaled_tasks", {}).items()
            )
            + (
                f" Not tasks of the paper (its seven MuJoCo tasks): {', '.join(settings['tasks_not_in_paper'])}; the "
                "paper's scores are not comparable with ours there."
                if settings.get("tasks_not_in_paper")
                else ""
            )
        )
        names = ("table1", "per_task", "problems", "curves")
        content = {"settings": settings} | {name: getattr(self, name).to_dict(orient="records") for name in names}
        figures = tuple(
            FigureSpec(draw, self)
            for draw, table in (("table1_scores", self.table1), ("table1_curves", self.curves))
            if not table.empty
        )
        return Document("The PPO paper's Table 1", header, _text_tables(self), _tidy(self), content, figures)


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


def normalize_paper(scores: dict[str, np.ndarray], random_score: float, reference: str | None = None) -> dict[str, np.ndarray]:
    """
    The paper's normalisation of one task: ``(score - random) / (best - random)``, the best setting's mean being 1; or,
    with ``reference``, ``(score - random) / (reference - random)``, the mean of a setting fixed in advance being 1.

    The best setting is chosen on the runs that are then scored, so its normalised mean is 1 by construction, even
    when another seed would have crowned another setting: the paper's scale favours the best setting. A reference
    fixed in advance does not depend on the scored runs' ranking.

    :param scores: setting -> run scores of one task
    :param random_score: the random policy's mean return on the task
    :param reference: a setting of ``scores`` whose mean is 1, or None for the best setting
    :return: setting -> normalised run scores
    """
    if reference is None:
        _, scale = best_setting_scores(scores)
    elif reference in scores:
        scale = float(np.mean(scores[reference]))
    else:
        raise ValueError(f"reference must be one of the task's settings {sorted(scores)}, got {reference!r}")
    if not scale > random_score:
        raise ValueError(
            f"the scaling setting's mean ({scale:.6g}) is not above the random score ({random_score:.6g}): the scale is "
            "undefined or reversed"
        )
    return {
        setting: (np.asarray(values, dtype=float) - random_score) / (scale - random_score)
        for setting, values in scores.items()
    }


def ordered_settings(settings: list[str]) -> list[str]:
    """
    Settings in the paper's order (Table 1's rows), then the others in sorted order.

    :param settings: variant entry names
    :return: the same names, ordered
    """
    return [name for name in PAPER_TABLE1 if name in settings] + sorted(set(settings) - set(PAPER_TABLE1))


def paper_scores(records: RecordTables, n_last: int = LAST_EPISODES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """
    The paper's per-run score, the mean return of the last ``n_last`` training episodes (episodes.csv), of every run
    (``scoring.run_scores``'s ``last_episodes``).

    A run counts when it is ``ok`` or ``diverged``; a diverged run has no policy left at the end of its budget and scores
    as the random policy. A run with fewer than ``n_last`` episodes scores the mean of those it has, and is listed.

    :param records: the records of an experiment directory
    :param n_last: number of final training episodes
    :return: (scores: ``run_id, env_id, setting, seed, status, n_episodes, score``; problems: ``run_id, env_id,
        setting, seed, problem``, one row per run that is left out or scored on fewer than ``n_last`` episodes), both in
        the order of ``records.runs``
    """
    scored = run_scores(records, ("env_id", "variant"), n_last=n_last).set_index("run_id").reindex(records.runs["run_id"])
    scores, problems = [], []
    for run in scored.reset_index().itertuples(index=False):
        ids = {"run_id": run.run_id, "env_id": run.env_id, "setting": run.variant, "seed": run.seed}
        if run.status not in COMPLETED:
            problems.append({**ids, "problem": f"{run.status}: not scored"})
            continue
        if run.status == "diverged":
            update = run.diverged_at_update
            where = f" at update {int(update)}" if pd.notna(update) else ""
            problems.append({**ids, "problem": f"diverged{where}: scored as the random policy"})
            scores.append({**ids, "status": run.status, "n_episodes": run.n_episodes, "score": math.nan})
            continue
        if run.n_episodes == 0:
            problems.append({**ids, "problem": "no training episode in its record (no episodes.csv): not scored"})
            continue
        if run.n_episodes < n_last:
            problems.append({**ids, "problem": f"{run.n_episodes} training episodes, fewer than {n_last}: scored on those"})
        scores.append({**ids, "status": run.status, "n_episodes": run.n_episodes, "score": run.last_episodes})
    score_columns = ["run_id", "env_id", "setting", "seed", "status", "n_episodes", "score"]
    return pd.DataFrame(scores, columns=score_columns), pd.DataFrame(problems, columns=[*score_columns[:4], "problem"])


def episode_curves(records: RecordTables, scores: pd.DataFrame, points: int = 20) -> pd.DataFrame:
    """
    Training-episode learning curves in the manner of the paper's Figure 3: per run, the mean return of the episodes that
    end in each of ``points`` equal spans of the budget; then the mean over the runs of each (task, setting).

    :param records: the records
    :param scores: ``paper_scores``'s scores (the runs to draw)
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


Normalised = dict[str, dict[str, np.ndarray]]


def _task_name(env_id: str) -> str:
    """The paper's name of a task: ``Hopper`` for ``Hopper-v5`` (a namespace and version dropped)."""
    return env_id.split(":")[-1].split("/")[-1].split("-v")[0]


def _per_task(
    scores: pd.DataFrame, random_scores: dict[str, float], reference: str | None
) -> tuple[Normalised, Normalised, list[dict], dict[str, str]]:
    """
    Per task, the normalised run scores of each setting by the best setting and by ``reference`` (tasks without it are
    left out of the second), the rows of ``Table1Report.per_task``, and the tasks left out of the scores because their
    best setting is not above the random policy (task -> reason).
    """
    normalised: Normalised = {}
    fixed: Normalised = {}
    per_task = []
    unscaled: dict[str, str] = {}
    for task in sorted(set(scores["env_id"])):
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
        if reference in by_setting and np.mean(by_setting[reference]) > random:
            fixed[task] = normalize_paper(by_setting, random, reference)
        per_task += [
            {
                "env_id": task,
                "setting": setting,
                "random_score": random,
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "n_runs": len(values),
                "normalised": float(normalised[task][setting].mean()) if task in normalised else math.nan,
                "normalised_fixed": float(fixed[task][setting].mean()) if task in fixed else math.nan,
                "best": setting == best,
                "published_1m": PUBLISHED_PPO_1M.get(_task_name(task), math.nan) if setting == PUBLISHED_SETTING else math.nan,
            }
            for setting, values in by_setting.items()
        ]
    return normalised, fixed, per_task, unscaled


def _score(normalised: Normalised, setting: str, name: str, interval: tuple[int, float, int, str]) -> dict[str, float]:
    """The columns ``<name>``, ``<name>_low``, ``<name>_high`` of one setting: the mean over tasks of its task means."""
    strata = [by_setting[setting] for by_setting in normalised.values() if setting in by_setting]
    if not strata:
        return {name: math.nan, f"{name}_low": math.nan, f"{name}_high": math.nan}
    n_resamples, confidence, seed, method = interval
    point, low, high = interval_estimate(strata, "mean", method, n_resamples, confidence, bootstrap_seed(seed, setting))
    return {name: float(point), f"{name}_low": float(low), f"{name}_high": float(high)}


def _table1_rows(
    normalised: Normalised, fixed: Normalised, settings: list[str], interval: tuple[int, float, int, str]
) -> pd.DataFrame:
    """The rows of ``Table1Report.table1``, one per setting in ``settings``' order."""
    rows = []
    for setting in settings:
        strata = [by_setting[setting] for by_setting in normalised.values() if setting in by_setting]
        rows.append(
            {"setting": setting, "paper_label": PAPER_LABELS.get(setting, "")}
            | _score(normalised, setting, "score", interval)
            | _score(fixed, setting, "score_fixed", interval)
            | {
                "paper_score": PAPER_TABLE1.get(setting, math.nan),
                "n_tasks": len(strata),
                "n_runs": sum(len(stratum) for stratum in strata),
            }
        )
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def build_table1(
    source: str | os.PathLike | RecordTables,
    n_last: int = LAST_EPISODES,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    random_scores: dict[str, float] | None = None,
    interval: str = DEFAULT_METHOD,
    reference: str | None = FIXED_REFERENCE,
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
    :param interval: interval method of the scores (``intervals.METHODS``; the mean over tasks of the task means)
    :param reference: the setting fixed in advance whose mean is 1 in the second normalisation (``score_fixed``), or
        None to leave it out; tasks without it are left out of that normalisation
    :return: the report
    """
    check_method(interval, "interval")
    records = source if isinstance(source, RecordTables) else load_records(source)
    random_scores = RANDOM_SCORES if random_scores is None else random_scores
    scores, problems = paper_scores(records, n_last)
    tasks = sorted(set(scores["env_id"]))
    unknown = [task for task in tasks if task not in random_scores]
    if unknown:
        raise ValueError(f"no random-policy score for {unknown}: measure it with 'ppo-variants references random ...'")
    normalised, fixed, per_task, unscaled = _per_task(scores, random_scores, reference)
    not_in_paper = [task for task in tasks if _task_name(task) not in PAPER_TASKS]
    settings = ordered_settings(sorted(set(scores["setting"])))
    order = {setting: i for i, setting in enumerate(settings)}
    per_task_frame = pd.DataFrame(per_task, columns=PER_TASK_COLUMNS)
    return Table1Report(
        table1=_table1_rows(normalised, fixed, settings, (n_resamples, confidence, seed, interval)),
        per_task=per_task_frame.sort_values(["env_id", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c),
        curves=episode_curves(records, scores),
        problems=problems,
        settings={
            "n_last": n_last,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "seed": seed,
            "interval": interval,
            "reference": reference,
            "tasks": tasks,
        }
        | ({"unscaled_tasks": unscaled} if unscaled else {})
        | ({"tasks_not_in_paper": not_in_paper} if not_in_paper else {}),
    )


def _text_tables(report: Table1Report) -> tuple[TextTable, ...]:
    """Table 1 in the paper's layout, the raw per-task scores, the runs not scored in full."""
    return _table1_table(report), _per_task_table(report), _problems_table(report)


def _table1_table(report: Table1Report) -> TextTable:
    """Table 1 in the paper's layout: per setting, our scores beside the paper's."""
    confidence = percent(report.settings.get("confidence", 0.95))
    reference = report.settings.get("reference")
    table1 = report.table1
    main = pd.DataFrame(
        {
            "setting": table1["setting"],
            "the paper's name": table1["paper_label"].map(lambda label: label or "(not in the paper)"),
            f"our score [{confidence}% CI]": [bounded(row, "score") for _, row in table1.iterrows()],
            f"{reference} = 1 [{confidence}% CI]": [bounded(row, "score_fixed") for _, row in table1.iterrows()],
            "the paper's score": table1["paper_score"].map(number),
            "tasks": table1["n_tasks"].map(number),
            "runs": table1["n_runs"].map(number),
        }
    )
    return TextTable(
        "Table 1",
        "The PPO paper's Table 1 layout: per setting, the mean over tasks of the mean normalised score of its runs "
        f"(random policy 0, best setting of the task 1), with a {confidence}% CI over tasks and seeds, beside "
        "the paper's (7 MuJoCo-v1 tasks x 3 seeds, 1M steps). The best setting of each task is chosen on the same "
        "seeds that are scored, so its score is 1 by construction and the scale favours it (a maximum of noisy "
        "means is biased up, which pulls every other setting's normalised score down)"
        + (
            f"; the column {reference} = 1 normalises each task by {reference}, a setting fixed in advance, so the "
            "difference between the two columns shows the size of that bias."
            if reference is not None
            else "."
        ),
        main if reference is not None else main.drop(columns=[f"{reference} = 1 [{confidence}% CI]"]),
    )


def _per_task_table(report: Table1Report) -> TextTable:
    """The raw per-task scores: returns over seeds, normalised, beside the random policy and published PPO."""
    reference = report.settings.get("reference")
    per_task = report.per_task
    raw = pd.DataFrame(
        {
            "task": per_task["env_id"],
            "setting": per_task["setting"],
            "last-100 return (mean ± std over seeds)": [
                f"{number(mean)} ± {number(std)}" for mean, std in zip(per_task["mean"], per_task["std"], strict=True)
            ],
            "normalised": per_task["normalised"].map(number),
            f"{reference} = 1": per_task["normalised_fixed"].map(number),
            "random policy": per_task["random_score"].map(number),
            "best": per_task["best"].map(lambda best: "best = 1" if best else ""),
            "published PPO at 1M": per_task["published_1m"].map(lambda value: "" if pd.isna(value) else number(value)),
        }
    )
    return TextTable(
        "Per-task returns",
        "Mean return of the last training episodes of each run: mean and std over seeds; their mean normalised by the "
        "task's best setting"
        + (f" and by {reference}" if reference is not None else "")
        + f"; beside {PUBLISHED_SETTING}, OpenAI Baselines' ppo2 after 1M steps in its MuJoCo benchmark (older task "
        "versions than v5).",
        raw if reference is not None else raw.drop(columns=[f"{reference} = 1"]),
    )


def _problems_table(report: Table1Report) -> TextTable:
    """The runs not scored in full, with their problem."""
    problems = report.problems.rename(columns={"run_id": "run", "env_id": "task"})[["run", "problem"]]
    return TextTable(
        "Runs not scored in full",
        "Runs left out, diverged, or with fewer training episodes than the score averages.",
        problems,
    )


def _tidy(report: Table1Report) -> pd.DataFrame:
    """Every number of the report, one per row (``TIDY_COLUMNS``)."""
    parts = [
        report.table1.melt(id_vars=["setting"], var_name="statistic").assign(table="table1", env_id="all"),
        report.per_task.melt(id_vars=["env_id", "setting"], var_name="statistic").assign(table="per_task"),
        report.problems.melt(id_vars=["run_id", "env_id", "setting"], var_name="statistic").assign(table="problems"),
    ]
    return pd.concat([part.astype({"value": object}) for part in parts], ignore_index=True).reindex(columns=TIDY_COLUMNS)
