"""
The plan of an experiment: ``plan`` lists its runs as ``RunConfig`` (one run = variant, environment, seed and
hyperparameters), without building anything; its size is checked from the experiment alone (``check_size``), before a
single configuration is expanded.
"""

import fnmatch
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sb3_ppo_variants import records
from sb3_ppo_variants.runner.spec import Experiment
from sb3_ppo_variants.runner.sweep import expand
from sb3_ppo_variants.runner.tune import stage_two_pairs

MAX_RUNS_WITHOUT_YES = 10_000
# No command plans more: listing them takes minutes and their records terabytes, and no machine runs them
MAX_RUNS = 100_000


@dataclass(frozen=True)
class RunConfig:
    """
    Everything that defines one run; JSON-serialisable, written as the record's ``config.json``.

    :param run_id: ``<env_id>__<variant>__seed<seed>`` (see ``sb3_ppo_variants.records.run_id``)
    :param experiment: experiment name
    :param env_id: gymnasium id
    :param variant: the experiment's variant entry name
    :param algo: registry name of the class
    :param seed: seed of the run
    :param total_timesteps: training budget
    :param eval_freq: evaluate every this many environment steps
    :param eval_episodes: episodes per evaluation
    :param n_envs: parallel training environments
    :param policy: SB3 policy name
    :param normalize: VecNormalize keyword arguments, or None
    :param hyperparameters: algorithm arguments as written in the experiment file, swept values included
    :param config_id: id of the sweep's configuration (a hash of env_id, algo and hyperparameters), None outside a sweep
    :param label: readable name of the configuration, e.g. ``pg[learning_rate=0.003]``; the variant outside a sweep
    :param sweep: the configuration's swept values (``{}`` outside a sweep)
    :param vec_env: the training environments, ``gymnasium`` or ``envpool`` (written to config.json only for envpool)
    :param prune_below: ``(timesteps, bound)`` pairs of a pruned search (``search = "tpe"``): at its evaluation at
        ``timesteps`` > 0 the run stops, with status ``pruned``, when the best of its evaluation returns so far after
        step 0 is below ``bound`` (the rule of Optuna's median pruner); empty: the run is never pruned (and config.json
        does not list it)
    """

    run_id: str
    experiment: str
    env_id: str
    variant: str
    algo: str
    seed: int
    total_timesteps: int
    eval_freq: int
    eval_episodes: int
    n_envs: int
    policy: str
    normalize: dict[str, Any] | None
    hyperparameters: dict[str, Any]
    config_id: str | None = None
    label: str = ""
    sweep: dict[str, Any] = field(default_factory=dict)
    vec_env: str = "gymnasium"
    prune_below: tuple[tuple[int, float], ...] = ()


# Fields added since records were first committed, left out of config.json at their default so that re-running a
# committed experiment gives its committed records
LATER_FIELDS: dict[str, Any] = {"vec_env": "gymnasium", "prune_below": ()}


def config_fields(config: RunConfig) -> dict[str, Any]:
    """
    The fields of a run's config.json.

    :param config: the run
    :return: its fields, without those of ``LATER_FIELDS`` at their default
    """
    return {key: value for key, value in asdict(config).items() if LATER_FIELDS.get(key, object()) != value}


def plan(
    experiment: Experiment, only: str | Sequence[str] | None = None, seeds: Sequence[int] | None = None
) -> list[RunConfig]:
    """
    All runs of an experiment, environment-major then variant then configuration (of a sweep) then seed.

    :param experiment: the parsed experiment
    :param only: shell-style patterns on run ids (e.g. ``"CartPole-v1__clip*"``), as a sequence or one string of
        comma-separated patterns; the runs matching any of them are kept
    :param seeds: the seeds to plan, default ``experiment.seeds``
    :return: the run configurations
    """
    patterns = only_patterns(only)
    runs = []
    for env in experiment.envs:
        for variant in experiment.variants:
            base = variant.hyperparameters(env)
            axes = {**env.sweep, **variant.sweep}
            draw_keys = (env.env_id, variant.name)
            for swept in expand(axes, experiment.sweep_samples if axes else None, experiment.sweep_seed, draw_keys):
                hyperparameters = {**base, **swept}
                config_id = records.config_id(env.env_id, variant.algo, hyperparameters) if axes else None
                for seed in experiment.seeds if seeds is None else seeds:
                    run_id = records.run_id(env.env_id, variant.name, seed, config_id)
                    if patterns and not any(fnmatch.fnmatchcase(run_id, pattern) for pattern in patterns):
                        continue
                    runs.append(
                        RunConfig(
                            run_id=run_id,
                            experiment=experiment.name,
                            env_id=env.env_id,
                            variant=variant.name,
                            algo=variant.algo,
                            seed=seed,
                            total_timesteps=env.total_timesteps,
                            eval_freq=experiment.eval_freq,
                            eval_episodes=experiment.eval_episodes,
                            n_envs=env.n_envs,
                            policy=env.policy,
                            normalize=None if env.normalize is None else dict(env.normalize),
                            hyperparameters=hyperparameters,
                            config_id=config_id,
                            label=records.label(variant.name, swept),
                            sweep=swept,
                            vec_env=env.vec_env,
                        )
                    )
    return runs


def only_patterns(only: str | Sequence[str] | None) -> list[str]:
    """
    Split ``--only`` values into patterns.

    :param only: None, a string of comma-separated patterns, or a sequence of such strings
    :return: the non-empty patterns
    """
    values = [only] if isinstance(only, str) else list(only or [])
    return [pattern.strip() for value in values for pattern in value.split(",") if pattern.strip()]


def check_size(n_runs: int, yes: bool) -> None:
    """
    Refuse a plan too large to start without ``yes``, or to plan at all, from its size alone (nothing is expanded).

    :param n_runs: the number of runs the experiment plans (``Experiment.n_runs``, plus a tune file's stage 2)
    :param yes: the user confirmed a plan of more than ``MAX_RUNS_WITHOUT_YES`` runs
    :raises ValueError: saying what to reduce, or to pass ``--yes``
    """
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


def stage_two_runs(experiment: Experiment) -> int:
    """
    The runs of a tune file's stage 2: one configuration per (environment, variant) on each evaluation seed.

    :param experiment: the experiment
    :return: their number, 0 for a plain experiment
    """
    return len(stage_two_pairs(experiment)) * len(experiment.evaluation_seeds) if experiment.is_tune else 0
