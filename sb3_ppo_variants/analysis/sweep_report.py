"""
Build the report of a tune directory (``ppo-variants tune FILE --out DIR``): ``DIR/tuning`` holds every configuration
run on the tuning seeds, ``DIR/evaluation`` the winners run again on fresh seeds, each an ordinary run output directory.

The headline tables come from the evaluation stage only (its ordinary report); the tuning stage gives the tables that
judge the selection (``sb3_ppo_variants.analysis.sweeps``). Both stages are scored with the same selection metric,
each within its own records (a diverged run's floor is the lowest return of its stage in the environment), so a
winner's fresh score in the selection-bias table is the one of the evaluation stage's own report.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sb3_ppo_variants.analysis.document import Document, FigureSpec, TextTable
from sb3_ppo_variants.analysis.formatting import bounded, flagged, interval, number, percent
from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD
from sb3_ppo_variants.analysis.report import Report, build_report
from sb3_ppo_variants.analysis.sweeps import (
    best_configurations,
    configuration_intervals,
    robustness,
    run_scores,
    selection_bias,
    sensitivity,
)
from sb3_ppo_variants.records import EVALUATION_DIR, RUNS_DIR, TUNING_DIR, is_tune_directory, load_records

__all__ = ["TIDY_COLUMNS", "SweepReport", "build_sweep_report"]
# The columns of the tidy CSV of a sweep report
TIDY_COLUMNS = [
    "table",
    "env_id",
    "variant",
    "config_id",
    "label",
    "hyperparameter",
    "hyperparameter_value",
    "run_id",
    "statistic",
    "value",
]
SWEEP_TABLES = ("selection", "selection_bias", "sensitivity", "robustness", "configurations")


@dataclass(frozen=True)
class SweepReport:
    """
    Report of a tune directory (``ppo-variants tune``), as built by ``build_sweep_report`` from the functions of
    ``sb3_ppo_variants.analysis.sweeps``; the scores are the selection metric named in ``settings["select"]``.

    :param evaluation: the ordinary report of the evaluation stage: the headline tables, from fresh seeds only
    :param configurations: every configuration of the tuning stage, scored on the tuning seeds
        (``sweeps.configuration_intervals``)
    :param selection: the winner of each (environment, variant) (``sweeps.best_configurations``)
    :param selection_bias: each winner's score on the tuning seeds beside its score on the fresh seeds
        (``sweeps.selection_bias``)
    :param sensitivity: the score against the value of each swept hyperparameter (``sweeps.sensitivity``)
    :param robustness: the spread of each variant's configuration scores, normalised (``sweeps.robustness``)
    :param settings: the parameters the report was built with
    """

    evaluation: Report
    configurations: pd.DataFrame
    selection: pd.DataFrame
    selection_bias: pd.DataFrame
    sensitivity: pd.DataFrame
    robustness: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)

    def document(self) -> Document:
        """
        The report as the writers see it: the evaluation stage's document (its tables titled "Evaluation seeds: ...",
        its tidy rows, its content under ``evaluation``, its figures), then the tables selection, selection bias,
        sensitivity, robustness and every configuration; their tidy rows (``TIDY_COLUMNS``, one row per statistic of
        each row, the swept values as the statistics ``sweep.<key>``; the resolved hyperparameters are in the JSON
        content), their rows in the JSON content (swept values and resolved hyperparameters as objects), and the
        figures ``sensitivity_curves`` and ``selection_bias_intervals`` where they have data.

        :return: the document
        """
        evaluation = self.evaluation.document()
        settings = self.settings
        header = (
            f"Tune directory: {settings.get('n_tuning_runs')} runs in the tuning stage, {settings.get('n_evaluation_runs')} "
            f"in the evaluation stage; selection metric: {_metric(settings)}. {evaluation.header}"
        )
        headline = tuple(
            TextTable(f"Evaluation seeds: {title}", f"The winners on fresh seeds (the evaluation stage). {note}", table)
            for title, note, table in evaluation.tables
        )
        builders = (_selection_table, _selection_bias_table, _sensitivity_table, _robustness_table, _configurations_table)
        content = {"settings": settings, "evaluation": evaluation.content}
        content |= {name: getattr(self, name).to_dict(orient="records") for name in SWEEP_TABLES}
        figures = evaluation.figures + tuple(
            FigureSpec(draw, self)
            for draw, table in (("sensitivity_curves", self.sensitivity), ("selection_bias_intervals", self.selection_bias))
            if not table.empty
        )
        tables = headline + tuple(build(self) for build in builders)
        return Document("Sweep report", header, tables, _tidy(self, evaluation.tidy), content, figures)


def build_sweep_report(
    tune_dir: str | os.PathLike,
    select: str = "auc",
    final_k: int = 3,
    diverged: str = "worst",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    curve_resamples: int = 500,
    seed: int = 0,
    random_scores: Mapping[str, float] | None = None,
    interval: str = DEFAULT_METHOD,
) -> SweepReport:
    """
    Build the report of a tune directory: the evaluation stage's report, then selection, selection bias, sensitivity
    and robustness across hyperparameters from the tuning stage.

    :param tune_dir: the ``--out`` directory of ``ppo-variants tune``, with ``tuning/`` and ``evaluation/``
    :param select: the selection metric the tune used, ``"auc"`` or ``"final"`` (see ``sweeps``)
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :param n_resamples: bootstrap resamples for the intervals
    :param confidence: confidence level of the intervals
    :param curve_resamples: bootstrap resamples for the learning-curve bands of the evaluation stage; 0 skips them
    :param seed: seed of the bootstrap; the same seed and records give the same report
    :param random_scores: random-policy score per env_id for the robustness table; default
        ``references.RANDOM_SCORES``
    :param interval: interval method of the IQMs and means (``intervals.METHODS``); the selection bias and the
        robustness get percentile-bootstrap intervals
    :return: the report
    """
    directory = Path(tune_dir)
    if not is_tune_directory(directory):
        raise ValueError(f"tune_dir must be an output directory of 'ppo-variants tune' (with {TUNING_DIR}/), got {tune_dir!r}")
    if not (directory / EVALUATION_DIR / RUNS_DIR).is_dir():
        raise ValueError(
            f"{directory} has no evaluation stage yet ({EVALUATION_DIR}/{RUNS_DIR}): resume 'ppo-variants tune', or report "
            f"the tuning stage alone with 'ppo-variants report {directory / TUNING_DIR}' (one row per configuration)"
        )
    tuning, evaluation = load_records(directory / TUNING_DIR), load_records(directory / EVALUATION_DIR)
    tuning_scores = run_scores(tuning, select, final_k, diverged)
    configurations = configuration_intervals(tuning_scores, n_resamples, confidence, seed, interval)
    return SweepReport(
        evaluation=build_report(
            evaluation,
            final_k=final_k,
            diverged=diverged,
            n_resamples=n_resamples,
            confidence=confidence,
            curve_resamples=curve_resamples,
            seed=seed,
            interval=interval,
        ),
        configurations=configurations,
        selection=best_configurations(configurations),
        selection_bias=selection_bias(
            tuning_scores, run_scores(evaluation, select, final_k, diverged), n_resamples, confidence, seed
        ),
        sensitivity=sensitivity(configurations),
        robustness=robustness(tuning_scores, random_scores, n_resamples, confidence, seed),
        settings={
            "select": select,
            "final_k": final_k,
            "diverged": diverged,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "curve_resamples": curve_resamples,
            "seed": seed,
            "interval": interval,
            "n_tuning_runs": len(tuning.runs),
            "n_evaluation_runs": len(evaluation.runs),
        },
    )


def _setting(value: object) -> str:
    """A swept value as written in a label: ``0.0001``, ``3e-05``, ``64``, ``tanh``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _runs(n_runs: object, n_excluded: object) -> str:
    return f"{number(n_runs)} (+{number(n_excluded)} excluded)" if n_excluded else number(n_runs)


def _metric(settings: dict[str, object]) -> str:
    if settings.get("select") == "final":
        return f"final return (mean of the last {settings.get('final_k')} evaluations)"
    return "AUC (mean evaluation return over all evaluation points)"


def _cells(settings: dict[str, object]) -> str:
    """What a cell with an interval holds."""
    return f"IQM [{percent(settings.get('confidence', 0.95))}% CI] across seeds of the {_metric(settings)}"


def _selection_table(report: SweepReport) -> TextTable:
    selection = report.selection
    table = pd.DataFrame(
        {
            "environment": selection["env_id"],
            "variant": selection["variant"],
            "selected configuration": selection["label"],
            "tuning score": selection["tuning_score"].map(number),
            "tuning runs": [_runs(n, x) for n, x in zip(selection["n_runs"], selection["n_excluded"], strict=True)],
            "configurations": selection["n_configs"].map(number),
        }
    )
    note = (
        f"Per environment and variant, the configuration with the highest IQM across its tuning seeds of the "
        f"{_metric(report.settings)}; ties broken by the higher mean, then by the first label in sorted order. Failed "
        "and incomplete runs are excluded from the scores."
    )
    return TextTable("Selection", note, table)


def _selection_bias_table(report: SweepReport) -> TextTable:
    bias = report.selection_bias
    rows = [row for _, row in bias.iterrows()]
    table = pd.DataFrame(
        {
            "environment": bias["env_id"],
            "variant": bias["variant"],
            "configuration": bias["label"],
            "tuning seeds": [flagged(bounded(row, "tuning_iqm"), row["n_tuning_runs"]) for row in rows],
            "tuning runs": bias["n_tuning_runs"].map(number),
            "fresh seeds": [flagged(bounded(row, "fresh_iqm"), row["n_fresh_runs"]) for row in rows],
            "fresh runs": bias["n_fresh_runs"].map(number),
            "tuning − fresh": [bounded(row, "bias") for row in rows],
        }
    )
    note = (
        f"{_cells(report.settings)}: each winner on the tuning seeds that selected it and on fresh seeds (the evaluation "
        "stage), and the difference (positive: the tuning score was optimistic). The interval of the difference "
        "resamples both sets of runs independently."
    )
    return TextTable("Selection bias", note, table)


def _sensitivity_table(report: SweepReport) -> TextTable:
    profile = report.sensitivity
    table = pd.DataFrame(
        {
            "environment": profile["env_id"],
            "hyperparameter": profile["hyperparameter"],
            "variant": profile["variant"],
            "value": profile["value"].map(_setting),
            "best configuration": profile["label"],
            "configurations": profile["n_configs"].map(number),
            "runs": profile["n_runs"].map(number),
            "score": [flagged(bounded(row, "score_iqm"), row["n_runs"]) for _, row in profile.iterrows()],
        }
    )
    note = (
        f"{_cells(report.settings)}, on the tuning seeds. For each value of a hyperparameter, the best configuration "
        "among those with that value (the other swept hyperparameters at their best, so the profile is as optimistic as "
        "a selection)."
    )
    return TextTable("Sensitivity", note, table)


def _robustness_table(report: SweepReport) -> TextTable:
    robust = report.robustness
    rows = [row for _, row in robust.iterrows()]
    table = pd.DataFrame(
        {
            "environment": robust["env_id"],
            "variant": robust["variant"],
            "configurations": robust["n_configs"].map(number),
            "95th percentile": [bounded(row, "p95") for row in rows],
            "fraction within 10% of the best": [bounded(row, "fraction_near_best") for row in rows],
            "best": [bounded(row, "best") for row in rows],
        }
    )
    note = (
        "Configuration scores (IQM across the tuning seeds) normalised per environment: random policy = 0, best "
        "configuration of any variant = 1. Per variant over its configurations: the 95th percentile (linear "
        "interpolation), the fraction of configurations within 10% of the best (normalised score ≥ 0.9) and its best "
        f"configuration, as in Andrychowicz et al. 2021. {percent(report.settings.get('confidence', 0.95))}% CI from a "
        "bootstrap of the seeds within each configuration, the normalisation recomputed."
    )
    return TextTable("Robustness across hyperparameters", note, table)


def _configurations_table(report: SweepReport) -> TextTable:
    configurations = report.configurations
    table = pd.DataFrame(
        {
            "environment": configurations["env_id"],
            "variant": configurations["variant"],
            "configuration": configurations["label"],
            "runs": [_runs(n, x) for n, x in zip(configurations["n_runs"], configurations["n_excluded"], strict=True)],
            "score": [flagged(interval(row, "score"), row["n_runs"]) for _, row in configurations.iterrows()],
            "mean": configurations["score_mean"].map(number),
        }
    )
    return TextTable("Configurations", f"Every configuration on the tuning seeds: {_cells(report.settings)}.", table)


def _sweep_rows(name: str, frame: pd.DataFrame, id_vars: list[str]) -> pd.DataFrame:
    """Rows of one table of a sweep report; swept values become the statistics ``sweep.<key>``."""
    wide = frame.drop(columns=["sweep", "hyperparameters"], errors="ignore")
    if "sweep" in frame:
        wide = wide.join(pd.DataFrame(list(frame["sweep"]), index=frame.index).add_prefix("sweep."))
    return wide.melt(id_vars=id_vars, var_name="statistic").astype({"value": object}).assign(table=name)


def _tidy(report: SweepReport, evaluation: pd.DataFrame) -> pd.DataFrame:
    """Every number of the report, one per row (``TIDY_COLUMNS``), after the tidy rows of the evaluation stage."""
    ids = ["env_id", "variant", "config_id", "label"]
    sensitivity = report.sensitivity.rename(columns={"value": "hyperparameter_value"})
    parts = [
        evaluation,
        _sweep_rows("selection", report.selection, ids),
        _sweep_rows("selection_bias", report.selection_bias, ids),
        _sweep_rows("sensitivity", sensitivity, [*ids, "hyperparameter", "hyperparameter_value"]),
        _sweep_rows("robustness", report.robustness, ids[:2]),
        _sweep_rows("configurations", report.configurations, ids),
    ]
    return pd.concat(parts, ignore_index=True).reindex(columns=TIDY_COLUMNS)
