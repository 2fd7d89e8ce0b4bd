"""
Seed-robust analysis of run records: metrics, statistics across seeds, report tables and figures.

numpy / pandas / matplotlib only: nothing here imports torch or Stable-Baselines3 at module level (the surrogate
figure imports the package's loss functions, hence torch, when it is drawn).
"""

from sb3_ppo_variants.analysis.export import render
from sb3_ppo_variants.analysis.intervals import interval_estimate
from sb3_ppo_variants.analysis.report import Report, build_report
from sb3_ppo_variants.analysis.stats import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    iqm,
    normalize,
    probability_of_improvement,
    probability_of_improvement_ci,
    run_score_distribution,
    stratified_bootstrap_ci,
)
from sb3_ppo_variants.analysis.sweep_report import SweepReport, build_sweep_report
from sb3_ppo_variants.analysis.sweeps import select_configurations
from sb3_ppo_variants.records import RecordTables, is_tune_directory, load_records

__all__ = [
    "RecordTables",
    "Report",
    "SweepReport",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_optimality_gap",
    "build_report",
    "build_sweep_report",
    "interval_estimate",
    "iqm",
    "is_tune_directory",
    "load_records",
    "normalize",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "render",
    "run_score_distribution",
    "select_configurations",
    "stratified_bootstrap_ci",
]
