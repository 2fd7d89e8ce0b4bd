"""
Experiments: variants x environments x seeds from a TOML file, run in parallel (local pool or Ray), resumable.

spec (TOML -> dataclasses) -> plan (run configs) -> run_one (config -> record) -> store (record -> files, in the
format of ``sb3_ppo_variants.records``).
"""

from sb3_ppo_variants.runner.driver import describe_plan, run_experiment, status_table, tune_experiment
from sb3_ppo_variants.runner.run import RunConfig, RunRecord, plan, run_one
from sb3_ppo_variants.runner.spec import Experiment, SpecError, load_experiment

__all__ = [
    "Experiment",
    "RunConfig",
    "RunRecord",
    "SpecError",
    "describe_plan",
    "load_experiment",
    "plan",
    "run_experiment",
    "run_one",
    "status_table",
    "tune_experiment",
]
