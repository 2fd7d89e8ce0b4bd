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
from pathlib import Path

from sb3_ppo_variants.analysis.data import SweepReport
from sb3_ppo_variants.analysis.report import build_report
from sb3_ppo_variants.analysis.sweeps import (
    best_configurations,
    configuration_intervals,
    robustness,
    run_scores,
    selection_bias,
    sensitivity,
)
from sb3_ppo_variants.records import EVALUATION_DIR, RUNS_DIR, TUNING_DIR, is_tune_directory, load_records

__all__ = ["build_sweep_report"]


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
    configurations = configuration_intervals(tuning_scores, n_resamples, confidence, seed)
    return SweepReport(
        evaluation=build_report(
            evaluation,
            final_k=final_k,
            diverged=diverged,
            n_resamples=n_resamples,
            confidence=confidence,
            curve_resamples=curve_resamples,
            seed=seed,
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
            "n_tuning_runs": len(tuning.runs),
            "n_evaluation_runs": len(evaluation.runs),
        },
    )
