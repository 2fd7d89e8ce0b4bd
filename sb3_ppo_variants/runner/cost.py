"""
The cost of an experiment before it runs: ``estimate`` times a calibration run per cost class on this machine, and
``describe_plan`` (``ppo-variants list``) prints the plan with the engine each group takes and the estimated time.
"""

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

from sb3_ppo_variants.engine import plan_batches, unsupported
from sb3_ppo_variants.runner.backends import Executor, check_backend, local_workers
from sb3_ppo_variants.runner.driver import load_checked
from sb3_ppo_variants.runner.plan import MAX_RUNS_WITHOUT_YES, RunConfig, plan
from sb3_ppo_variants.runner.progress import duration
from sb3_ppo_variants.runner.spec import Experiment


def _seeds(seeds: Sequence[int]) -> str:
    return str(list(seeds)) if len(seeds) <= 12 else f"[{seeds[0]}, {seeds[1]}, ..., {seeds[-1]}] ({len(seeds)} seeds)"


CALIBRATION_RUNS = 8
# The arguments that change what a run computes per step (constants such as learning_rate or clip_range do not)
COST_KEYS = ("n_steps", "batch_size", "n_epochs", "use_sde", "sde_sample_freq", "kl_estimator", "value_steps", "policy_kwargs")


def _cost_key(config: RunConfig) -> str:
    """Runs with the same key cost the same per step: one calibration serves them all."""
    costs = {key: config.hyperparameters.get(key) for key in COST_KEYS}
    fields = [config.env_id, config.n_envs, config.policy, config.normalize, config.algo, costs]
    return json.dumps(fields, sort_keys=True, default=str)


def estimate(experiment: Experiment, configs: list[RunConfig]) -> dict[tuple[str, str], float]:
    """
    Seconds per run of each (env, variant), extrapolated from a calibration run on this machine: one rollout and one
    update of seed 0 at one torch thread, its evaluations timed apart, scaled by the share of a core the calibration got
    (its CPU time over its wall time), so that other load on the machine does not inflate the estimate. Variants that
    differ only in constants that do not change the work per step (``COST_KEYS``) share one calibration.

    :param experiment: the experiment
    :param configs: the planned runs
    :return: (env_id, variant) -> estimated seconds of one run of the full budget
    """
    seconds: dict[tuple[str, str], float] = {}
    per_key: dict[str, tuple[float, float]] = {}
    first_use = True  # the first run in a process pays one-off costs (imports, allocator warm-up): run it twice
    executor = Executor(workers=1)
    for config in {(c.env_id, c.variant): c for c in configs}.values():
        batched = experiment.engine != "sb3" and unsupported(config) is None
        key = _cost_key(config) + ("batched" if batched else "")
        if key not in per_key:
            rollout = config.hyperparameters.get("n_steps", 2048) * config.n_envs
            calibration = dataclasses.replace(config, total_timesteps=rollout, eval_freq=experiment.eval_freq, seed=0)
            # the engine's cost per run falls with K: calibrated at up to CALIBRATION_RUNS runs (an upper bound for more)
            n_runs = min(CALIBRATION_RUNS, experiment.batch_runs, len(configs)) if batched else 1
            batch = [dataclasses.replace(calibration, run_id=f"{config.run_id}-{i}", seed=i) for i in range(n_runs)]
            engine = "batched" if batched else "sb3"
            if first_use:
                list(executor.run(batch[:1], engine=engine))
                first_use = False
            # The calibration runs in this process: its CPU time over its wall time is the share of a core it got, so a
            # busy machine does not inflate the estimate of a run that will have a core to itself
            cpu, wall = time.process_time(), time.perf_counter()
            records_ = list(executor.run(batch, engine=engine, batch_runs=n_runs))
            share = min(1.0, (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9))
            status = records_[0].status
            per_eval = share * status["eval_time_s"] / max(len(records_[0].eval_rows), 1)
            train = share * (status["wall_time_s"] - status["eval_time_s"])
            per_key[key] = (train / max(status["timesteps"], 1), per_eval)
        train_per_step, per_eval = per_key[key]
        n_evals = config.total_timesteps // config.eval_freq + 1
        seconds[(config.env_id, config.variant)] = train_per_step * config.total_timesteps + per_eval * n_evals
    return seconds


def _header(experiment: Experiment) -> list[str]:
    """The first lines of ``list``: the experiment, its seeds and, for a tune file, how stage 1 searches."""
    seeds = "tuning seeds" if experiment.is_tune else "seeds"
    lines = [f"experiment {experiment.name!r} ({experiment.path}): {seeds} {_seeds(experiment.seeds)}"]
    if experiment.is_tune:
        lines[0] += f", evaluation seeds {_seeds(experiment.evaluation_seeds)}"
        if experiment.search == "tpe":
            lines.append(
                f"stage 1, tuning: a TPE search of {experiment.sweep_samples} trials per environment and variant, "
                f"{experiment.search_batch} at a time, with median pruning (values chosen as it goes; the estimate counts "
                "every run in full)"
            )
        else:
            lines.append("stage 1, tuning: every configuration on the tuning seeds")
    return lines


def _group_line(experiment: Experiment, runs: list[RunConfig], guess: float | None) -> str:
    """One line of ``list`` for the runs of one (environment, variant): their shape, budget, cost and engine."""
    env_id, variant = runs[0].env_id, runs[0].variant
    timing = f", ~{duration(guess)} per run" if guess is not None else ""
    if experiment.search == "tpe":
        shape = f"{experiment.sweep_samples} trials x {len(experiment.seeds)} seeds = "
    else:
        n_configs = len({c.config_id for c in runs})
        shape = f"{n_configs} configurations x {len(runs) // n_configs} seeds = " if n_configs > 1 else ""
    engine = ""
    if experiment.engine != "sb3":
        reason = unsupported(runs[0])
        engine = ", engine batched" if reason is None else f", engine sb3 (the batched engine lacks {reason})"
    steps = f"{len(runs)} runs x {runs[0].total_timesteps:,} steps"
    return f"  {env_id:<24} {variant:<16} {shape}{steps}{timing}{engine}"


def describe_plan(
    experiment_file: str | Path, only: str | Sequence[str] | None = None, workers: int | None = None, calibrate: bool = True
) -> str:
    """
    The plan of an experiment as text: runs per environment and variant, total steps and estimated time; for a tune
    file, both stages (stage 2 runs one selected configuration per environment and variant on the evaluation seeds).

    :param experiment_file: the TOML experiment file
    :param only: shell-style patterns on run ids, as for ``run_experiment``
    :param workers: parallel runs assumed by the estimate (default: one per core)
    :param calibrate: time a short calibration run per (env, variant) to estimate the duration
    :return: the text
    """
    check_backend("local", workers, None)
    experiment = load_checked(experiment_file, yes=True)
    configs = plan(experiment, only)
    workers = local_workers(workers)
    per_run = estimate(experiment, configs) if calibrate and configs else {}
    lines = _header(experiment)
    busy = {"stage 1": 0.0, "stage 2": 0.0}
    stage_two: list[str] = []
    for env in experiment.envs:
        for variant in experiment.variants:
            runs = [c for c in configs if c.env_id == env.env_id and c.variant == variant.name]
            if not runs:
                continue
            guess = per_run.get((env.env_id, variant.name))
            lines.append(_group_line(experiment, runs, guess))
            busy["stage 1"] += (guess or 0.0) * len(runs)
            if experiment.is_tune:
                n_fresh = len(experiment.evaluation_seeds)
                stage_two.append(f"  {env.env_id:<24} {variant.name:<16} {n_fresh} runs x {env.total_timesteps:,} steps")
                busy["stage 2"] += (guess or 0.0) * n_fresh
    n_stage_two = len(stage_two) * len(experiment.evaluation_seeds) if experiment.is_tune else 0
    if experiment.is_tune:
        lines += ["stage 2, evaluation: the selected configuration of each environment and variant on the evaluation seeds"]
        lines += stage_two
    total_steps = sum(c.total_timesteps for c in configs)
    lines.append(
        f"{len(configs) + n_stage_two:,} runs, {total_steps:,} environment steps" + (" in stage 1" if n_stage_two else "")
    )
    if len(configs) + n_stage_two > MAX_RUNS_WITHOUT_YES:
        lines.append(f"more than {MAX_RUNS_WITHOUT_YES:,} runs: 'run' and 'tune' start it only with --yes")
    if per_run:
        total = busy["stage 1"] + busy["stage 2"]
        stages = f"; stage 1 {duration(busy['stage 1'])}, stage 2 {duration(busy['stage 2'])}" if n_stage_two else ""
        parallel = len(plan_batches(configs, experiment.engine, experiment.batch_runs)) + n_stage_two
        lines.append(
            f"estimated time: {duration(total / min(workers, parallel))} with {workers} workers"
            f" ({duration(total)} of single-core work{stages}; calibrated on one rollout per environment and cost class)"
        )
    return "\n".join(lines)
