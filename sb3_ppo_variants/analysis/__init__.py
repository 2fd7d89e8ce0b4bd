"""
Seed-robust analysis of run records: metrics, statistics across seeds, report tables and figures.

numpy / pandas / matplotlib only: nothing here imports torch or Stable-Baselines3.
"""

from sb3_ppo_variants.analysis.data import Report
from sb3_ppo_variants.analysis.export import render
from sb3_ppo_variants.analysis.report import build_report, report_command
from sb3_ppo_variants.analysis.stats import iqm, normalize, probability_of_improvement, stratified_bootstrap_ci
from sb3_ppo_variants.records import RecordTables, load_records

__all__ = [
    "RecordTables",
    "Report",
    "build_report",
    "iqm",
    "load_records",
    "normalize",
    "probability_of_improvement",
    "render",
    "report_command",
    "stratified_bootstrap_ci",
]
