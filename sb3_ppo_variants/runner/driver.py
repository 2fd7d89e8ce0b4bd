"""
The driver: plan an experiment, skip what is done, execute the rest on a backend, write each record as it arrives.
"""

import contextlib
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sb3_ppo_variants import records
from sb3_ppo_variants.engine import plan_batches
from sb3_ppo_variants.records import EVALUATION_DIR, EXPERIMENT_FILE, TUNING_DIR, claim, locked, pending, prepare, save
from sb3_ppo_variants.runner import optuna_search
from sb3_ppo_variants.runner.backends import Executor
from sb3_ppo_variants.runner.check import check_experiment
from sb3_ppo_variants.runner.plan import RunConfig, check_size, plan, stage_two_runs
from sb3_ppo_variants.runner.progress import Progress
from sb3_ppo_variants.runner.spec import Experiment, load_experiment
from sb3_ppo_variants.runner.tune import write_selected

# The key of the counts of ``run_experiment`` for the planned runs recorded as failed before and not run again
FAILED_EARLIER = "failed earlier"
COMMANDS = ("run", "tune")


def load_checked(
    experiment_file: str | Path, yes: bool, command: str | None = None, only: str | Sequence[str] | None = None
) -> Experiment:
    """
    Load an experiment and check it before any run starts: that ``command`` takes it, its size (``check_size``, counted
    before anything is expanded), then every configuration (``check_experiment``, the dry run).

    :param experiment_file: the TOML experiment file
    :param yes: the user confirmed a plan of more than ``MAX_RUNS_WITHOUT_YES`` runs
    :param command: ``run`` (a plain file), ``tune`` (a tune file, whose TPE search takes no ``only``), or None for both
    :param only: the ``--only`` patterns of ``tune``
    :return: the experiment
    :raises ValueError: naming what is wrong
    """
    if command is not None and command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS} or None, got {command!r}")
    experiment = load_experiment(experiment_file)
    if command == "run" and experiment.is_tune:
        raise ValueError(
            f"{experiment_file} is a tune file (tuning_seeds and evaluation_seeds): 'ppo-variants tune' runs its two stages"
        )
    if command == "tune" and not experiment.is_tune:
        raise ValueError(f"{experiment_file}: tune needs [experiment] tuning_seeds and evaluation_seeds, not seeds")
    if command == "tune" and experiment.search == "tpe":
        optuna_search.check_options(only)
    check_size(experiment.n_runs + stage_two_runs(experiment), yes)
    check_experiment(experiment)
    return experiment


def _run_plan(
    directory: Path, configs: list[RunConfig], executor: Executor, experiment: Experiment, retry_failed: bool, quiet: bool
) -> Counter[str]:
    """
    Execute the planned runs of ``directory`` that are not done yet on ``executor``, with the experiment's engine,
    writing each record as it arrives.

    :return: the counts of the statuses of the runs executed now, and ``FAILED_EARLIER``
    """
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
    results = executor.run(todo, experiment.engine, experiment.batch_runs, checkpoints)
    with contextlib.closing(results):
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
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(Executor(backend, workers, address))
        experiment = load_checked(experiment_file, yes, "run")
        configs = plan(experiment, only)
        plan_batches(configs, experiment.engine, experiment.batch_runs)  # a run the engine cannot serve: refused now
        directory = stack.enter_context(locked(claim(out if out is not None else Path("runs") / experiment.name, "run")))
        prepare(directory, experiment_file, plan(experiment) if only else configs)
        return _run_plan(directory, configs, executor, experiment, retry_failed, quiet)


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

    if select not in SELECTION_METRICS:
        raise ValueError(f"select must be one of {list(SELECTION_METRICS)}, got {select!r}")
    counts: dict[str, Counter[str]] = {TUNING_DIR: Counter(), EVALUATION_DIR: Counter()}
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(Executor(backend, workers, address))
        experiment = load_checked(experiment_file, yes, "tune", only)
        # a TPE search chooses its runs as it goes: no plan is known ahead
        tuning_plan = [] if experiment.search == "tpe" else plan(experiment)
        tuning = plan(experiment, only) if only else tuning_plan
        plan_batches(tuning, experiment.engine, experiment.batch_runs)
        directory = stack.enter_context(locked(claim(out if out is not None else Path("runs") / experiment.name, "tune")))
        tuning_dir = prepare(directory / TUNING_DIR, experiment_file, tuning_plan)

        def run_stage(stage_dir: Path, configs: list[RunConfig]) -> None:
            plan_batches(configs, experiment.engine, experiment.batch_runs)
            counts[stage_dir.name] += _run_plan(stage_dir, configs, executor, experiment, retry_failed, quiet)

        if experiment.search == "tpe":
            finished = optuna_search.search(experiment, tuning_dir, select, lambda configs: run_stage(tuning_dir, configs))
        else:
            run_stage(tuning_dir, tuning)
            finished = not pending(tuning_dir, tuning_plan)
        if not finished:
            if not quiet:
                sys.stderr.write(f"{tuning_dir}: tuning runs not finished; stage 2 starts once all are\n")
            return counts
        selected = write_selected(experiment, select_configurations(tuning_dir, select=select), select, directory)
        selected_experiment = load_experiment(selected)
        evaluation_plan = plan(selected_experiment)
        evaluation = plan(selected_experiment, only) if only else evaluation_plan
        run_stage(prepare(directory / EVALUATION_DIR, selected, evaluation_plan), evaluation)
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
