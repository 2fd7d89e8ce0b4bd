"""
The driver: plan an experiment, skip what is done, execute the rest on a backend, write each record as it arrives.
"""

import contextlib
import dataclasses
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sb3_ppo_variants import records
from sb3_ppo_variants.engine import plan_batches, unsupported
from sb3_ppo_variants.records import EVALUATION_DIR, EXPERIMENT_FILE, TUNING_DIR, claim, locked, pending, prepare, save
from sb3_ppo_variants.runner import optuna_search
from sb3_ppo_variants.runner.backends import LocalPool, check_backend, execute, local_workers
from sb3_ppo_variants.runner.check import check_experiment
from sb3_ppo_variants.runner.run import RunConfig, plan
from sb3_ppo_variants.runner.spec import Experiment, load_experiment
from sb3_ppo_variants.runner.tune import stage_two_pairs, write_selected


def _seeds(seeds: Sequence[int]) -> str:
    return str(list(seeds)) if len(seeds) <= 12 else f"[{seeds[0]}, {seeds[1]}, ..., {seeds[-1]}] ({len(seeds)} seeds)"


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


MAX_RUNS_WITHOUT_YES = 10_000
# No command plans more: listing them takes minutes and their records terabytes, and no machine runs them
MAX_RUNS = 100_000
# The key of the counts of ``run_experiment`` for the planned runs recorded as failed before and not run again
FAILED_EARLIER = "failed earlier"


def _check_size(n_runs: int, yes: bool) -> None:
    """Refuse a plan too large to start without ``yes``, or to plan at all, from its size alone (nothing is expanded)."""
    if n_runs > MAX_RUNS:
        raise ValueError(
            f"{n_runs:,} runs planned, more than the {MAX_RUNS:,} any command plans: reduce sweep_samples, the sweep "
            "axes or the seeds"
        )
    if n_runs > MAX_RUNS_WITHOUT_YES and not yes:
        raise ValueError(
            f"{n_runs:,} runs planned, more than {MAX_RUNS_WITHOUT_YES:,}: 'ppo-variants list' shows the plan and its "
            "estimated time; pass --yes to start it"
        )


def _stage_two_runs(experiment: Experiment) -> int:
    """The runs of a tune file's stage 2: one configuration per (environment, variant) on each evaluation seed."""
    return len(stage_two_pairs(experiment)) * len(experiment.evaluation_seeds) if experiment.is_tune else 0


def _start_pool(stack: contextlib.ExitStack, backend: str, workers: int | None) -> LocalPool | None:
    """The local pool, started before the experiment is validated so that its workers warm up meanwhile."""
    if backend == "local" and local_workers(workers) > 1:
        return stack.enter_context(contextlib.closing(LocalPool(local_workers(workers))))
    return None


def _run_plan(
    directory: Path,
    configs: list[RunConfig],
    stack: contextlib.ExitStack,
    backend: str,
    workers: int | None,
    address: str | None,
    pool: LocalPool | None,
    retry_failed: bool,
    quiet: bool,
    engine: tuple[str, int],
) -> Counter[str]:
    """Execute the planned runs that are not done yet, writing each record as it arrives; ``engine`` is (name, K)."""
    counts: Counter[str] = Counter()
    todo = pending(directory, configs, retry_failed)
    earlier = 0 if retry_failed else sum(records.run_status(directory, config.run_id)[0] == "failed" for config in configs)
    if earlier:
        counts[FAILED_EARLIER] = earlier
    if not quiet:
        done = len(configs) - len(todo)
        sys.stderr.write(f"{directory}: {len(configs)} runs planned, {done} already done, {len(todo)} to run\n")
    progress = None if quiet else Progress(todo)
    checkpoints = str(directory / records.CHECKPOINTS_DIR)
    results = stack.enter_context(contextlib.closing(execute(todo, backend, workers, address, pool, *engine, checkpoints)))
    for record in results:
        save(directory, record)
        counts[record.status["status"]] += 1
        if progress is not None:
            progress.update(record.run_id, record.status)
    return counts


def run_experiment(
    experiment_file: str | Path,
    out: str | Path | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    only: str | Sequence[str] | None = None,
    retry_failed: bool = False,
    quiet: bool = False,
    yes: bool = False,
) -> Counter[str]:
    """
    Run an experiment, resuming: runs with a final status are skipped (failed ones are re-run with ``retry_failed``).

    :param experiment_file: the TOML experiment file (a tune file is run by ``tune_experiment``)
    :param out: output directory; default ``runs/<experiment name>``
    :param backend: ``local`` or ``ray``
    :param workers: parallel runs (default: one per core)
    :param address: Ray cluster address
    :param only: shell-style patterns on run ids (a sequence, or one string of comma-separated patterns): their union
    :param retry_failed: re-run runs recorded as failed
    :param quiet: no progress line on standard error
    :param yes: start a plan of more than ``MAX_RUNS_WITHOUT_YES`` runs
    :return: counts of the statuses of the runs executed now (``ok``, ``diverged``, ``failed``), and under
        ``FAILED_EARLIER`` the planned runs recorded as failed before that were not run again (without ``retry_failed``)
    :raises ValueError: for a bad experiment file, a plan too large, or an ``out`` that is a tune directory or in use
        by another process
    """
    check_backend(backend, workers, address)
    with contextlib.ExitStack() as stack:
        pool = _start_pool(stack, backend, workers)
        experiment = load_experiment(experiment_file)
        if experiment.is_tune:
            raise ValueError(
                f"{experiment_file} is a tune file (tuning_seeds and evaluation_seeds): 'ppo-variants tune' runs its two "
                "stages"
            )
        _check_size(experiment.n_runs, yes)
        check_experiment(experiment)
        configs = plan(experiment, only)
        engine = (experiment.engine, experiment.batch_runs)
        plan_batches(configs, *engine)  # engine = "batched" and a run it cannot serve: refused before anything is created
        directory = stack.enter_context(locked(claim(out if out is not None else Path("runs") / experiment.name, "run")))
        prepare(directory, experiment_file, plan(experiment) if only else configs)
        return _run_plan(directory, configs, stack, backend, workers, address, pool, retry_failed, quiet, engine)


def tune_experiment(
    experiment_file: str | Path,
    out: str | Path | None = None,
    select: str = "auc",
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    only: str | Sequence[str] | None = None,
    retry_failed: bool = False,
    quiet: bool = False,
    yes: bool = False,
) -> dict[str, Counter[str]]:
    """
    Tune, then evaluate on fresh seeds: ``ppo-variants tune``. Both stages resume like ``run_experiment``.

    Stage 1 runs every configuration of the file's sweeps on its ``tuning_seeds`` into ``OUT/tuning``. Once every
    tuning run is finished, the best configuration of each (environment, variant) by ``select`` (the IQM over the
    tuning seeds, ``sb3_ppo_variants.analysis.sweeps.select_configurations``) is written to ``OUT/selected.toml``, a
    plain experiment file on the ``evaluation_seeds``, and stage 2 runs it into ``OUT/evaluation``. With
    ``search = "tpe"`` stage 1 is Optuna's TPE search with median pruning (``optuna_search.search``; its studies in
    ``OUT/tuning/study.db``), and the selection ignores pruned trials.

    :param experiment_file: a tune file (``[experiment] tuning_seeds`` and ``evaluation_seeds``)
    :param out: output directory; default ``runs/<experiment name>``
    :param select: selection metric, ``auc`` (area under the curve) or ``final`` (final return)
    :param backend: ``local`` or ``ray``
    :param workers: parallel runs (default: one per core)
    :param address: Ray cluster address
    :param only: shell-style patterns on run ids, applied to both stages (not with ``search = "tpe"``)
    :param retry_failed: re-run runs recorded as failed
    :param quiet: no progress line on standard error
    :param yes: start a plan of more than ``MAX_RUNS_WITHOUT_YES`` runs
    :return: ``{"tuning": counts, "evaluation": counts}`` of the runs executed now in each stage
    """
    from sb3_ppo_variants.analysis.sweeps import SELECTION_METRICS, select_configurations

    check_backend(backend, workers, address)
    if select not in SELECTION_METRICS:
        raise ValueError(f"select must be one of {list(SELECTION_METRICS)}, got {select!r}")
    counts: dict[str, Counter[str]] = {"tuning": Counter(), "evaluation": Counter()}
    with contextlib.ExitStack() as stack:
        pool = _start_pool(stack, backend, workers)
        experiment = load_experiment(experiment_file)
        if not experiment.is_tune:
            raise ValueError(f"{experiment_file}: tune needs [experiment] tuning_seeds and evaluation_seeds, not seeds")
        if experiment.search == "tpe":
            optuna_search.check_options(only)
        _check_size(experiment.n_runs + _stage_two_runs(experiment), yes)
        check_experiment(experiment)
        # a TPE search chooses its runs as it goes: no plan is known ahead
        tuning_plan = [] if experiment.search == "tpe" else plan(experiment)
        tuning = plan(experiment, only) if only else tuning_plan
        engine = (experiment.engine, experiment.batch_runs)
        plan_batches(tuning, *engine)
        directory = stack.enter_context(locked(claim(out if out is not None else Path("runs") / experiment.name, "tune")))
        tuning_dir = prepare(directory / TUNING_DIR, experiment_file, tuning_plan)
        if experiment.search == "tpe":

            def run_batch(configs: list[RunConfig]) -> None:
                plan_batches(configs, *engine)
                counts["tuning"] += _run_plan(
                    tuning_dir, configs, stack, backend, workers, address, pool, retry_failed, quiet, engine
                )

            finished = optuna_search.search(experiment, tuning_dir, select, run_batch)
        else:
            counts["tuning"] = _run_plan(
                tuning_dir, tuning, stack, backend, workers, address, pool, retry_failed, quiet, engine
            )
            finished = not pending(tuning_dir, tuning_plan)
        if not finished:
            if not quiet:
                sys.stderr.write(f"{tuning_dir}: tuning runs not finished; stage 2 starts once all are\n")
            return counts
        selected = write_selected(experiment, select_configurations(tuning_dir, select=select), select, directory)
        selected_experiment = load_experiment(selected)
        evaluation_plan = plan(selected_experiment)
        evaluation = plan(selected_experiment, only) if only else evaluation_plan
        evaluation_dir = prepare(directory / EVALUATION_DIR, selected, evaluation_plan)
        counts["evaluation"] = _run_plan(
            evaluation_dir, evaluation, stack, backend, workers, address, pool, retry_failed, quiet, engine
        )
    return counts


def status_table(experiment_dir: str | Path) -> dict[str, list[str]]:
    """
    The state of every planned run of an output directory (its copy of the experiment file gives the plan).

    :param experiment_dir: output directory of ``run``
    :return: status (``ok``, ``diverged``, ``failed``, ``pruned``, ``incomplete``, ``missing``) -> run ids; a run whose
        status.json is broken is ``incomplete`` (``sb3_ppo_variants.records.run_status`` says what is wrong); the
        tuning directory of a TPE search lists the runs of the trials asked so far (``optuna_search.planned_runs``)
    """
    experiment_dir = Path(experiment_dir)
    if not (experiment_dir / EXPERIMENT_FILE).exists():
        raise ValueError(f"{experiment_dir} has no {EXPERIMENT_FILE}: not an output directory of 'ppo-variants run'")
    table: dict[str, list[str]] = {status: [] for status in (*records.FINAL_STATUSES, "incomplete", records.MISSING)}
    experiment = load_experiment(experiment_dir / EXPERIMENT_FILE)
    tpe = experiment.search == "tpe"
    for config in optuna_search.planned_runs(experiment, experiment_dir) if tpe else plan(experiment):
        table[records.run_status(experiment_dir, config.run_id)[0]].append(config.run_id)
    return table


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
                list(execute(batch[:1], "local", workers=1, engine=engine))
                first_use = False
            # The calibration runs in this process: its CPU time over its wall time is the share of a core it got, so a
            # busy machine does not inflate the estimate of a run that will have a core to itself
            cpu, wall = time.process_time(), time.perf_counter()
            records_ = list(execute(batch, "local", workers=1, engine=engine, batch_runs=n_runs))
            share = min(1.0, (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9))
            status = records_[0].status
            per_eval = share * status["eval_time_s"] / max(len(records_[0].eval_rows), 1)
            train = share * (status["wall_time_s"] - status["eval_time_s"])
            per_key[key] = (train / max(status["timesteps"], 1), per_eval)
        train_per_step, per_eval = per_key[key]
        n_evals = config.total_timesteps // config.eval_freq + 1
        seconds[(config.env_id, config.variant)] = train_per_step * config.total_timesteps + per_eval * n_evals
    return seconds


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
    experiment = load_experiment(experiment_file)
    _check_size(experiment.n_runs + _stage_two_runs(experiment), yes=True)
    check_experiment(experiment)
    configs = plan(experiment, only)
    workers = local_workers(workers)
    per_run = estimate(experiment, configs) if calibrate and configs else {}
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
    busy = {"stage 1": 0.0, "stage 2": 0.0}
    stage_two: list[str] = []
    for env in experiment.envs:
        for variant in experiment.variants:
            runs = [c for c in configs if c.env_id == env.env_id and c.variant == variant.name]
            if not runs:
                continue
            guess = per_run.get((env.env_id, variant.name))
            timing = f", ~{_duration(guess)} per run" if guess is not None else ""
            if experiment.search == "tpe":
                shape = f"{experiment.sweep_samples} trials x {len(experiment.seeds)} seeds = "
            else:
                n_configs = len({c.config_id for c in runs})
                shape = f"{n_configs} configurations x {len(runs) // n_configs} seeds = " if n_configs > 1 else ""
            engine = ""
            if experiment.engine != "sb3":
                reason = unsupported(runs[0])
                engine = ", engine batched" if reason is None else f", engine sb3 (the batched engine lacks {reason})"
            steps = f"{len(runs)} runs x {env.total_timesteps:,} steps"
            lines.append(f"  {env.env_id:<24} {variant.name:<16} {shape}{steps}{timing}{engine}")
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
        stages = f"; stage 1 {_duration(busy['stage 1'])}, stage 2 {_duration(busy['stage 2'])}" if n_stage_two else ""
        parallel = len(plan_batches(configs, experiment.engine, experiment.batch_runs)) + n_stage_two
        lines.append(
            f"estimated time: {_duration(total / min(workers, parallel))} with {workers} workers"
            f" ({_duration(total)} of single-core work{stages}; calibrated on one rollout per environment and cost class)"
        )
    return "\n".join(lines)
