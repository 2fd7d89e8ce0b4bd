"""
Experiments: variants x environments x seeds from a TOML file, run in parallel (local pool or Ray), resumable.

spec (TOML -> dataclasses, each key and value checked) -> resolve (values -> class arguments) -> check (every
configuration given to its class: the dry run) -> plan (run configs) -> run_one (config -> record) -> records on disk
(``sb3_ppo_variants.records``, the owner of the format and of the output directory's layout).
"""

from sb3_ppo_variants.runner.check import check_experiment
from sb3_ppo_variants.runner.driver import describe_plan, run_experiment, status_table, tune_experiment
from sb3_ppo_variants.runner.run import RunConfig, RunRecord, plan, run_one
from sb3_ppo_variants.runner.spec import Experiment, SpecError, load_experiment

__all__ = [
    "Experiment",
    "RunConfig",
    "RunRecord",
    "SpecError",
    "check_experiment",
    "describe_plan",
    "load_experiment",
    "plan",
    "run_experiment",
    "run_one",
    "status_table",
    "tune_experiment",
]
