"""
Optuna's TPE sampler with median pruning as the search of ``ppo-variants tune`` (``pip install "sb3-ppo-variants[optuna]"``).

```toml
[experiment]
tuning_seeds = [0, 1, 2]
evaluation_seeds = [100, 101, 102, 103, 104]
search = "tpe"
sweep_samples = 20        # trials per (environment, variant)
sweep_seed = 0            # the seed of the samplers
search_batch = 4          # trials asked for at a time per (environment, variant), default 4

[envs.CartPole-v1.sweep]  # the axes of a random search: a list (or choice) is categorical
learning_rate = { log_uniform = [1e-5, 1e-2] }
```

Each (environment, variant) has its own study, named ``<env_id>__<variant>`` and stored in ``OUT/tuning/study.db``
(Optuna's RDB storage on SQLite). A trial is one configuration run on every tuning seed; its runs are ordinary runs of
the tuning directory, with the ids, labels and records of a grid's configurations. The search goes in batches: per
study, ``search_batch`` trials are asked of a TPE sampler seeded by ``sweep_seed``, the study and the batch number, given
the trials of the earlier batches; the batches of every study run together (in parallel on the backend), then their
trials are added to the study. The trials of a study therefore depend only on the file, never on ``--workers`` or on
the order in which runs finish, and the study holds finished trials only: an interrupted tune asks the same batch again
(the finished runs of its records are kept) and resumes.

Pruning is Optuna's ``MedianPruner`` rule (``n_startup_trials`` = ``PRUNE_STARTUP_TRIALS``, warm-up a third of the
budget as rl-zoo's): a trial's intermediate value at an evaluation step after 0 is the mean over its seeds of the
evaluation return there (the evaluation at step 0, of the untrained policy, is the same for every trial and left out).
Before a batch runs, every evaluation step after the warm-up and before the end gets a bound, the median of the
intermediate values of the study's completed trials there; a run whose best evaluation return so far (after step 0) is
below the bound of an evaluation step stops there (``RunConfig.prune_below``). Its record has status ``pruned`` (its curve ends
where it stopped, the bounds are in its config.json); the trial of a run that was pruned is a pruned trial, even if its
other seeds finished, and the selection (``analysis.sweeps.best_configurations``) never picks it. A trial whose runs all
failed is a failed trial; any other trial is complete, with the value its configuration is selected by: the IQM over its
seeds of the selection metric (``--select``).
"""

import json
import warnings
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sb3_ppo_variants.analysis.stats import iqm
from sb3_ppo_variants.analysis.sweeps import run_scores
from sb3_ppo_variants.records import load_records, pending
from sb3_ppo_variants.runner.plan import RunConfig, plan
from sb3_ppo_variants.runner.spec import EnvSpec, Experiment, VariantSpec
from sb3_ppo_variants.runner.sweep import Axis

STUDY_FILE = "study.db"
PRUNE_STARTUP_TRIALS = 5  # completed trials before pruning starts (Optuna's MedianPruner default)
PRUNE_WARMUP = 1 / 3  # share of the budget before which no run is pruned (rl-zoo's n_warmup_steps = n_evaluations // 3)
BATCH_ATTR = "batch"  # user attributes of a stored trial: its batch and its place in the batch
INDEX_ATTR = "index_in_batch"


def import_optuna() -> ModuleType:
    """
    Import Optuna, or say how to install it.

    :return: the ``optuna`` module
    :raises ImportError: naming the extra to install
    """
    try:
        import optuna
    except ImportError as error:
        raise ImportError("search = 'tpe' needs Optuna: pip install \"sb3-ppo-variants[optuna]\"") from error
    return optuna


def check_options(only: object) -> None:
    """
    Check, before anything is created, that a TPE search can start with these options.

    :param only: the ``--only`` patterns: a TPE search has none (its run ids are known only once its trials are asked)
    :raises ValueError: for ``--only``
    :raises ImportError: when Optuna is not installed
    """
    if only:
        raise ValueError("--only cannot select runs of a TPE search (search = 'tpe'), whose run ids are chosen as it goes")
    import_optuna()


def study_name(env: EnvSpec, variant: VariantSpec) -> str:
    """
    The name of the study of an (environment, variant).

    :param env: the environment
    :param variant: the variant entry
    :return: ``<env_id>__<variant>``
    """
    return f"{env.env_id}__{variant.name}"


def distributions(axes: dict[str, Axis]) -> dict[str, Any]:
    """
    The search space of Optuna for sweep axes: a list of values or a ``choice`` is categorical (over the values' JSON
    texts, so that any TOML value can be a choice), ``uniform`` and ``log_uniform`` are float distributions.

    :param axes: key -> axis
    :return: key -> ``optuna.distributions.BaseDistribution``
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space: dict[str, Any] = {}
    for key, axis in sorted(axes.items()):
        if axis.values is not None:
            space[key] = CategoricalDistribution([json.dumps(value, sort_keys=True) for value in axis.values])
        else:
            space[key] = FloatDistribution(*axis.bounds, log=axis.distribution == "log_uniform")
    return space


def swept_values(axes: dict[str, Axis], params: dict[str, Any]) -> dict[str, Any]:
    """
    The swept values of a trial's parameters (the inverse of the JSON texts of ``distributions``).

    :param axes: key -> axis
    :param params: a trial's ``params``
    :return: key -> value as an experiment file writes it
    """
    return {key: json.loads(params[key]) if axes[key].values is not None else float(params[key]) for key in sorted(axes)}


def trial_runs(
    experiment: Experiment,
    env: EnvSpec,
    variant: VariantSpec,
    swept: dict[str, Any],
    prune_below: tuple[tuple[int, float], ...] = (),
) -> list[RunConfig]:
    """
    The runs of a trial: its configuration on every tuning seed, planned as ``plan`` plans a grid's configuration (the
    same ids and labels for the same values).

    :param experiment: the tune file
    :param env: the environment
    :param variant: the variant entry
    :param swept: the trial's swept values
    :param prune_below: the pruning bounds of its batch (``RunConfig.prune_below``)
    :return: one run per tuning seed
    """
    fixed = {key: Axis(key, values=(value,)) for key, value in swept.items()}
    single = replace(
        experiment,
        envs=(replace(env, sweep={}),),
        variants=(replace(variant, sweep=fixed),),
        sweep_samples=None,
    )
    return [replace(config, prune_below=prune_below) for config in plan(single)]


def median_bounds(intermediate: list[dict[int, float]], total_timesteps: int, n_startup: int) -> tuple[tuple[int, float], ...]:
    """
    The pruning bounds of a batch: at each evaluation step after the warm-up and before the end, the median of the
    completed trials' intermediate values there, as Optuna's ``MedianPruner`` computes it.

    :param intermediate: the intermediate values (step -> value) of each completed trial of the earlier batches
    :param total_timesteps: the runs' budget
    :param n_startup: completed trials needed before any bound (``PRUNE_STARTUP_TRIALS``)
    :return: ``(step, bound)`` pairs in step order; empty with fewer than ``n_startup`` completed trials
    """
    if len(intermediate) < max(n_startup, 1):
        return ()
    steps = sorted({step for values in intermediate for step in values})
    return tuple(
        (step, float(np.median([values[step] for values in intermediate if step in values])))
        for step in steps
        if PRUNE_WARMUP * total_timesteps <= step < total_timesteps
    )


def _sampler_seed(experiment: Experiment, name: str, batch: int) -> int:
    return int(np.random.SeedSequence([experiment.sweep_seed, zlib.crc32(name.encode()), batch]).generate_state(1)[0])


def _open_studies(
    optuna: ModuleType, experiment: Experiment, directory: Path, create: bool = True
) -> list[tuple[EnvSpec, VariantSpec, Any]]:
    """The study of each (environment, variant); without ``create`` and a stored study, empty studies in memory."""
    path = directory / STUDY_FILE
    storage = f"sqlite:///{path.resolve()}" if create or path.exists() else None
    return [
        (
            env,
            variant,
            optuna.create_study(
                study_name=study_name(env, variant), storage=storage, direction="maximize", load_if_exists=True
            ),
        )
        for env in experiment.envs
        for variant in experiment.variants
    ]


def _check_select(study: Any, select: str) -> None:
    recorded = study.user_attrs.get("select")
    if recorded is None:
        study.set_user_attr("select", select)
    elif recorded != select:
        raise ValueError(
            f"study {study.study_name!r} was searched with --select {recorded}, not {select}: tune with --select {recorded}"
            ", or start over in another --out"
        )


def _batch_plan(
    optuna: ModuleType, experiment: Experiment, env: EnvSpec, variant: VariantSpec, study: Any
) -> tuple[int, dict[str, Any], list[tuple[int, dict[str, Any], list[RunConfig]]]] | None:
    """
    The next batch of a study: its number, its search space and, per trial not stored yet, (index in the batch, params,
    runs); None when the study holds all its trials.
    """
    trials = study.get_trials(deepcopy=False)
    size = experiment.search_batch
    n_batches = -(-experiment.sweep_samples // size)
    batch = max((trial.user_attrs[BATCH_ATTR] for trial in trials), default=-1)
    if batch < 0 or sum(trial.user_attrs[BATCH_ATTR] == batch for trial in trials) == min(
        size, experiment.sweep_samples - batch * size
    ):
        batch += 1
    if batch == n_batches:
        return None
    history = [trial for trial in trials if trial.user_attrs[BATCH_ATTR] < batch]
    stored = {trial.user_attrs[INDEX_ATTR] for trial in trials if trial.user_attrs[BATCH_ATTR] == batch}
    completed = [trial.intermediate_values for trial in history if trial.state == optuna.trial.TrialState.COMPLETE]
    bounds = median_bounds(completed, env.total_timesteps, PRUNE_STARTUP_TRIALS)
    axes = {**env.sweep, **variant.sweep}
    space = distributions(axes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate and constant_liar
        sampler = optuna.samplers.TPESampler(
            seed=_sampler_seed(experiment, study.study_name, batch), multivariate=True, constant_liar=True
        )
        scratch = optuna.create_study(direction="maximize", sampler=sampler)
        scratch.add_trials(history)
        params = [scratch.ask(space).params for _ in range(min(size, experiment.sweep_samples - batch * size))]
    todo = [
        (index, values, trial_runs(experiment, env, variant, swept_values(axes, values), bounds))
        for index, values in enumerate(params)
        if index not in stored
    ]
    return batch, space, todo


def _outcome(optuna: ModuleType, configs: list[RunConfig], evals: Any, scores: Any) -> tuple[Any, float | None, dict]:
    """The state, value and intermediate values of a trial from the records of its runs."""
    ids = [config.run_id for config in configs]
    curves = evals[evals["run_id"].isin(ids) & (evals["timesteps"] > 0)]
    intermediate = {int(step): float(values.mean()) for step, values in curves.groupby("timesteps")["mean_return"]}
    runs = scores[scores["run_id"].isin(ids)]
    state = optuna.trial.TrialState
    if (runs["status"] == "pruned").any():
        return state.PRUNED, None, intermediate
    values = runs["score"].dropna().to_numpy()
    if not values.size:
        return state.FAIL, None, intermediate
    return state.COMPLETE, float(iqm(values)), intermediate


def search(experiment: Experiment, directory: str | Path, select: str, run: Callable[[list[RunConfig]], object]) -> bool:
    """
    Run the TPE search of a tune file's stage 1, resuming from the studies and records in ``directory``.

    :param experiment: the tune file, with ``search = "tpe"``
    :param directory: the tuning directory (``OUT/tuning``, already prepared)
    :param select: the selection metric, ``auc`` or ``final``: a complete trial's value is its IQM over the seeds
    :param run: executes runs and saves their records in ``directory`` (skipping those already done)
    :return: whether every study holds its ``sweep_samples`` trials; False when ``run`` left runs of a batch
        unfinished
    :raises ImportError: when Optuna is not installed
    :raises ValueError: when the studies were searched with another selection metric
    """
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directory = Path(directory)
    studies = _open_studies(optuna, experiment, directory)
    for _, _, study in studies:
        _check_select(study, select)
    while True:
        batches = [
            (study, *planned)
            for env, variant, study in studies
            if (planned := _batch_plan(optuna, experiment, env, variant, study)) is not None
        ]
        if not batches:
            return True
        # trials that repeat a configuration share its runs: each run once
        configs = list({config.run_id: config for *_, todo in batches for _, _, runs in todo for config in runs}.values())
        run(configs)
        if pending(directory, configs):
            return False
        records = load_records(directory)
        scores = run_scores(records, select)
        for study, batch, space, todo in batches:
            for index, params, runs in todo:
                state, value, intermediate = _outcome(optuna, runs, records.evals, scores)
                study.add_trial(
                    optuna.trial.create_trial(
                        state=state,
                        value=value,
                        params=params,
                        distributions=space,
                        intermediate_values=intermediate,
                        user_attrs={BATCH_ATTR: batch, INDEX_ATTR: index},
                    )
                )


def planned_runs(experiment: Experiment, directory: str | Path) -> list[RunConfig]:
    """
    The runs of the trials asked so far: those of the stored trials and those of each study's current batch (the
    later batches depend on these trials' results). Creates nothing.

    :param experiment: the tune file, with ``search = "tpe"``
    :param directory: the tuning directory
    :return: the runs, study by study, trial by trial, each once (trials that repeat a configuration share its runs)
    :raises ImportError: when Optuna is not installed
    """
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configs: dict[str, RunConfig] = {}
    for env, variant, study in _open_studies(optuna, experiment, Path(directory), create=False):
        axes = {**env.sweep, **variant.sweep}
        runs = [trial_runs(experiment, env, variant, swept_values(axes, trial.params)) for trial in study.get_trials()]
        planned = _batch_plan(optuna, experiment, env, variant, study)
        runs += [batch_runs for _, _, batch_runs in (planned[2] if planned else [])]
        configs |= {
            config.run_id: config for trial_configs in runs for config in trial_configs if config.run_id not in configs
        }
    return list(configs.values())
