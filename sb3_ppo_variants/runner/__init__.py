"""
Experiments: variants x environments x seeds from a TOML file, run in parallel (local pool or Ray), resumable.

spec (TOML -> dataclasses, each key and value checked) -> resolve (values -> class arguments) -> check (every
configuration given to its class: the dry run) -> plan (run configs, the size checks) -> backends (one ``Executor``:
this process, a local pool or Ray, given a run or a batch of the engine) -> run_one (config -> record) or the engine
-> records on disk (``sb3_ppo_variants.records``, the owner of the format, the in-memory record and the output
directory's layout); the driver strings them together, ``progress`` prints the status line, ``cost`` estimates.
"""

from sb3_ppo_variants.records import RunRecord
from sb3_ppo_variants.runner.check import check_experiment
from sb3_ppo_variants.runner.cost import describe_plan
from sb3_ppo_variants.runner.driver import run_experiment, status_table, tune_experiment
from sb3_ppo_variants.runner.plan import RunConfig, plan
from sb3_ppo_variants.runner.run import run_one
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
