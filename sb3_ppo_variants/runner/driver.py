"""
The driver: plan an experiment, skip what is done, execute the rest on a backend, write each record as it arrives.
"""

import contextlib
import dataclasses
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sb3_ppo_variants import records
from sb3_ppo_variants.runner.backends import LocalPool, check_backend, default_workers, execute
from sb3_ppo_variants.runner.run import RunConfig, plan
from sb3_ppo_variants.runner.spec import Experiment, load_experiment
from sb3_ppo_variants.runner.store import pending, prepare, save


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """
    One status line on ``stream``: runs done out of total, failed and diverged counts, steps/s and ETA.
    Redrawn in place on a terminal, one line per finished run otherwise (logs, CI).

    :param configs: the runs about to execute
    :param stream: where to write (default: standard error)
    """

    def __init__(self, configs: list[RunConfig], stream: TextIO | None = None) -> None:
        self.total_runs = len(configs)
        self.total_steps = sum(config.total_timesteps for config in configs)
        self.stream = stream = stream if stream is not None else sys.stderr
        self.counts: Counter[str] = Counter()
        self.steps = 0
        self.start = time.perf_counter()
        self.tty = stream.isatty()

    def update(self, run_id: str, status: dict) -> None:
        """
        :param run_id: the run that finished
        :param status: its status (``status`` and ``timesteps``)
        """
        self.counts[status["status"]] += 1
        self.steps += status["timesteps"] or 0
        done = sum(self.counts.values())
        speed = self.steps / max(time.perf_counter() - self.start, 1e-9)
        # Runs that stop early (failed, diverged) still count for their full budget in the ETA denominator
        remaining = self.total_steps * (1 - done / self.total_runs) if self.total_runs else 0
        line = (
            f"[{done}/{self.total_runs}] failed {self.counts['failed']} diverged {self.counts['diverged']} | "
            f"{speed:,.0f} steps/s | ETA {_duration(remaining / speed if speed > 0 else math.inf)} | "
            f"{run_id}: {status['status']}"
        )
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
            if done == self.total_runs:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_experiment(
    experiment_file: str | Path,
    out: str | Path | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    only: str | Sequence[str] | None = None,
    retry_failed: bool = False,
    quiet: bool = False,
) -> Counter[str]:
    """
    Run an experiment, resuming: runs with a final status are skipped (failed ones are re-run with ``retry_failed``).

    :param experiment_file: the TOML experiment file
    :param out: output directory; default ``runs/<experiment name>``
    :param backend: ``local`` or ``ray``
    :param workers: parallel runs (default: one per core)
    :param address: Ray cluster address
    :param only: shell-style patterns on run ids (a sequence, or one string of comma-separated patterns): their union
    :param retry_failed: re-run runs recorded as failed
    :param quiet: no progress line on standard error
    :return: counts of the statuses of the runs executed now (``ok``, ``diverged``, ``failed``)
    """
    check_backend(backend, workers, address)
    counts: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        pool = None
        if backend == "local" and (workers or default_workers()) > 1:
            pool = stack.enter_context(contextlib.closing(LocalPool(workers or default_workers())))
        experiment = load_experiment(experiment_file)
        directory = prepare(out if out is not None else Path("runs") / experiment.name, experiment_file)
        configs = plan(experiment, only)
        todo = pending(directory, configs, retry_failed)
        if not quiet:
            done = len(configs) - len(todo)
            sys.stderr.write(f"{directory}: {len(configs)} runs planned, {done} already done, {len(todo)} to run\n")
        progress = None if quiet else Progress(todo)
        records = stack.enter_context(contextlib.closing(execute(todo, backend, workers, address, pool)))
        for record in records:
            save(directory, record)
            counts[record.status["status"]] += 1
            if progress is not None:
                progress.update(record.run_id, record.status)
    return counts


def status_table(experiment_dir: str | Path) -> dict[str, list[str]]:
    """
    The state of every planned run of an output directory (its copy of the experiment file gives the plan).

    :param experiment_dir: output directory of ``run``
    :return: status (``ok``, ``diverged``, ``failed``, ``incomplete``, ``missing``) -> run ids; a run whose
        status.json is broken is ``incomplete`` (``sb3_ppo_variants.records.run_status`` says what is wrong)
    """
    experiment_dir = Path(experiment_dir)
    if not (experiment_dir / "experiment.toml").exists():
        raise ValueError(f"{experiment_dir} has no experiment.toml: not an output directory of 'ppo-variants run'")
    table: dict[str, list[str]] = {status: [] for status in ("ok", "diverged", "failed", "incomplete", "missing")}
    for config in plan(load_experiment(experiment_dir / "experiment.toml")):
        table[records.run_status(experiment_dir, config.run_id)[0]].append(config.run_id)
    return table


def estimate(experiment: Experiment, configs: list[RunConfig]) -> dict[tuple[str, str], float]:
    """
    Seconds per run of each (env, variant), extrapolated from a calibration run on this machine: one rollout and one
    update of seed 0 at one torch thread, its evaluations timed apart.

    :param experiment: the experiment
    :param configs: the planned runs
    :return: (env_id, variant) -> estimated seconds of one run of the full budget
    """
    seconds: dict[tuple[str, str], float] = {}
    first_use = True  # the first run in a process pays one-off costs (imports, allocator warm-up): run it twice
    for config in {(c.env_id, c.variant): c for c in configs}.values():
        hyperparameters = config.hyperparameters
        rollout = hyperparameters.get("n_steps", 2048) * config.n_envs
        calibration = dataclasses.replace(config, total_timesteps=rollout, eval_freq=experiment.eval_freq, seed=0)
        records = list(execute([calibration] * (1 + first_use), "local", workers=1))
        record, first_use = records[-1], False
        status = record.status
        n_evals = config.total_timesteps // config.eval_freq + 1
        per_eval = status["eval_time_s"] / max(len(record.eval_rows), 1)
        train_per_step = (status["wall_time_s"] - status["eval_time_s"]) / max(status["timesteps"], 1)
        seconds[(config.env_id, config.variant)] = train_per_step * config.total_timesteps + per_eval * n_evals
    return seconds


def describe_plan(
    experiment_file: str | Path, only: str | Sequence[str] | None = None, workers: int | None = None, calibrate: bool = True
) -> str:
    """
    The plan of an experiment as text: runs per environment and variant, total steps and estimated time.

    :param experiment_file: the TOML experiment file
    :param only: shell-style patterns on run ids, as for ``run_experiment``
    :param workers: parallel runs assumed by the estimate (default: one per core)
    :param calibrate: time a short calibration run per (env, variant) to estimate the duration
    :return: the text
    """
    experiment = load_experiment(experiment_file)
    configs = plan(experiment, only)
    workers = workers or default_workers()
    per_run = estimate(experiment, configs) if calibrate and configs else {}
    lines = [f"experiment {experiment.name!r} ({experiment.path}): seeds {list(experiment.seeds)}"]
    for env in experiment.envs:
        for variant in experiment.variants:
            runs = [c for c in configs if c.env_id == env.env_id and c.variant == variant.name]
            if runs:
                guess = per_run.get((env.env_id, variant.name))
                timing = f", ~{_duration(guess)} per run" if guess is not None else ""
                lines.append(f"  {env.env_id:<24} {variant.name:<16} {len(runs)} runs x {env.total_timesteps:,} steps{timing}")
    total_steps = sum(c.total_timesteps for c in configs)
    lines.append(f"{len(configs)} runs, {total_steps:,} environment steps")
    if per_run:
        busy = sum(per_run[(c.env_id, c.variant)] for c in configs)
        lines.append(
            f"estimated time: {_duration(busy / min(workers, len(configs)))} with {workers} workers"
            f" ({_duration(busy)} of single-core work; calibrated on one rollout per env x variant)"
        )
    return "\n".join(lines)
