"""
One run = (variant, env, seed, hyperparameters): ``plan`` lists them, ``run_one`` executes one and returns its record.

``run_one`` does no file I/O, so any backend can execute it and hand the record to the driver, which writes it.
"""

import contextlib
import fnmatch
import functools
import math
import platform
import subprocess
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

import sb3_ppo_variants
from sb3_ppo_variants import DivergenceError, get_variant, records
from sb3_ppo_variants.runner.resolve import algo_kwargs
from sb3_ppo_variants.runner.spec import Experiment
from sb3_ppo_variants.runner.sweep import expand
from sb3_ppo_variants.vec_envs import EnvpoolVecEnv

EVAL_SEED_OFFSET = 1_000_000
MAX_EVAL_ENVS = 10


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


@dataclass
class RunRecord:
    """
    The outcome of one run in memory, as the driver writes it to disk with ``sb3_ppo_variants.records.write_record``.

    :param config: the resolved configuration plus versions and git commit
    :param eval_rows: evaluation curve rows (timesteps, mean_return, std_return, n_episodes)
    :param train_rows: one row of training diagnostics per policy update
    :param episode_rows: one row per training episode (timesteps at its end, return, length)
    :param status: status, error, divergence update, timesteps, wall time
    """

    config: dict[str, Any]
    eval_rows: list[dict[str, float]] = field(default_factory=list)
    train_rows: list[dict[str, float]] = field(default_factory=list)
    episode_rows: list[dict[str, float]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run's id, also its directory name."""
        return self.config["run_id"]

    @classmethod
    def start(cls, config: RunConfig) -> "RunRecord":
        """
        Return an empty record of a run.

        :param config: the run
        :return: a record whose config holds ``config``, the versions and the git commit
        """
        return cls(config={**config_fields(config), "versions": versions(), **git_commit()})

    @classmethod
    def failed(cls, config: RunConfig, error: str) -> "RunRecord":
        """
        Return the ``failed`` record of a run that could not be executed (e.g. its worker process died).

        :param config: the run
        :param error: what happened
        :return: its record
        """
        status = {"status": "failed", "error": error, "diverged_at_update": None, "timesteps": 0}
        return cls(config=cls.start(config).config, status={**status, "wall_time_s": None, "eval_time_s": None})


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


def versions() -> dict[str, str]:
    """
    Versions of what a result depends on.

    :return: name -> version
    """
    return {
        "python": platform.python_version(),
        "torch": th.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "sb3_ppo_variants": sb3_ppo_variants.__version__,
    }


@functools.cache
def git_commit() -> dict[str, Any]:
    """
    The commit of the package's source tree, and whether it had uncommitted changes; nulls outside a git checkout.

    :return: ``{"git_commit": sha or None, "git_dirty": bool or None}``
    """
    source = Path(sb3_ppo_variants.__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": sha.strip(), "git_dirty": bool(dirty.stdout.strip())}


class RunRecorder(BaseCallback):
    """
    Evaluates at 0, every ``eval_freq`` steps and at the end, and keeps each policy update's diagnostics and each
    training episode (from the ``episode`` info of SB3's ``Monitor``, which sees the rewards before ``VecNormalize``).

    :param config: the run's configuration
    :param eval_env: the evaluation environment (its own seed, observation statistics synced, not updated)
    """

    def __init__(self, config: RunConfig, eval_env: Any) -> None:
        super().__init__()
        self.config = config
        self.eval_env = eval_env
        self.eval_rows: list[dict[str, float]] = []
        self.train_rows: list[dict[str, float]] = []
        self.episode_rows: list[dict[str, float]] = []
        self.eval_time_s = 0.0
        self.pruned = False
        self._next_eval = 0
        self._prune_below = dict(config.prune_below)

    def evaluate(self) -> None:
        """Evaluate the model now (deterministic actions, seeded evaluation env) and record the row."""
        start = time.perf_counter()
        sync_envs_normalization(self.training_env, self.eval_env)
        # The same start states at every evaluation of every run of this seed
        self.eval_env.seed(self.config.seed + EVAL_SEED_OFFSET)
        returns, _ = type(self.model).evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.config.eval_episodes,
            deterministic=True,
            return_episode_rewards=True,
        )
        row = {
            "timesteps": self.num_timesteps,
            "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "n_episodes": len(returns),
        }
        self.eval_rows.append(row)
        self.eval_time_s += time.perf_counter() - start
        if not math.isfinite(row["mean_return"]):
            raise DivergenceError(self.config.algo, self.model.n_policy_updates, "evaluation return", row["mean_return"])
        bound = self._prune_below.get(row["timesteps"])
        # the evaluation at step 0, of the untrained policy, is the same for every configuration of a seed
        self.pruned = bound is not None and max(r["mean_return"] for r in self.eval_rows[1:]) < bound
        self._next_eval = (self.num_timesteps // self.config.eval_freq + 1) * self.config.eval_freq

    def _record_update(self) -> None:
        if self.model.n_policy_updates > len(self.train_rows):
            row = {"update": self.model.n_policy_updates, "timesteps": self.num_timesteps}
            self.train_rows.append({**row, **self.model.last_update_stats})

    def _on_training_start(self) -> None:
        self.evaluate()

    def _on_rollout_start(self) -> None:
        self._record_update()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                episode = info["episode"]
                self.episode_rows.append({"timesteps": self.num_timesteps, "return": episode["r"], "length": episode["l"]})
        if self.num_timesteps >= self._next_eval:
            self.evaluate()
        return not self.pruned

    def _on_training_end(self) -> None:
        self._record_update()
        if self.eval_rows[-1]["timesteps"] < self.num_timesteps:
            self.evaluate()


def _make_envs(config: RunConfig, stack: contextlib.ExitStack) -> tuple[Any, Any]:
    """The training and evaluation envs of a run; ``stack`` closes them."""
    if config.vec_env == "envpool":
        env = stack.enter_context(contextlib.closing(EnvpoolVecEnv(config.env_id, config.n_envs, seed=config.seed)))
    else:
        env = stack.enter_context(contextlib.closing(make_vec_env(config.env_id, n_envs=config.n_envs, seed=config.seed)))
    eval_env = stack.enter_context(
        contextlib.closing(
            make_vec_env(config.env_id, n_envs=min(config.eval_episodes, MAX_EVAL_ENVS), seed=config.seed + EVAL_SEED_OFFSET)
        )
    )
    if config.normalize is not None:
        # as rl-zoo: the return normalisation discounts with the algorithm's gamma
        kwargs = {"gamma": config.hyperparameters.get("gamma", 0.99), **config.normalize}
        env = VecNormalize(env, **kwargs)
        eval_kwargs = {key: value for key, value in kwargs.items() if key != "norm_reward"}
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **eval_kwargs)
    return env, eval_env


def build_run(config: RunConfig, stack: contextlib.ExitStack) -> tuple[Any, Any, Any]:
    """
    The model of a run and its training and evaluation envs, as both engines build them; ``stack`` closes the envs.

    :param config: the run
    :param stack: closes the envs
    :return: (model, training env, evaluation env)
    """
    env, eval_env = _make_envs(config, stack)
    model = get_variant(config.algo)(config.policy, env, seed=config.seed, verbose=0, **algo_kwargs(config.hyperparameters))
    return model, env, eval_env


def run_one(config: RunConfig) -> RunRecord:
    """
    Train and evaluate one run. Never raises for a failing run: the record says ``failed`` or ``diverged``, whether
    the run fails while the envs or the model are built, while training, or while the envs are closed.

    Torch runs on one thread meanwhile, whatever the caller's setting: parallel workers do not oversubscribe the
    cores, and a run gives the same numbers in this process, in a process pool or on Ray.

    :param config: the run
    :return: its record (nothing is written to disk)
    """
    record = RunRecord.start(config)
    start = time.perf_counter()
    recorder = None
    threads = th.get_num_threads()
    th.set_num_threads(1)
    status: dict[str, Any] = {"status": "ok", "error": None, "diverged_at_update": None}
    try:
        with contextlib.ExitStack() as stack:
            model, _, eval_env = build_run(config, stack)
            recorder = RunRecorder(config, eval_env)
            model.learn(config.total_timesteps, callback=recorder)
        if recorder.pruned:
            status = {**status, "status": "pruned"}
    except DivergenceError as error:
        status = {"status": "diverged", "error": str(error), "diverged_at_update": error.update}
    except Exception:
        status = {"status": "failed", "error": traceback.format_exc(limit=-8), "diverged_at_update": None}
    finally:
        th.set_num_threads(threads)
    if recorder is not None:
        record.eval_rows, record.train_rows = recorder.eval_rows, recorder.train_rows
        record.episode_rows = recorder.episode_rows
    record.status = {
        **status,
        "timesteps": recorder.num_timesteps if recorder is not None else 0,
        "wall_time_s": time.perf_counter() - start,
        "eval_time_s": recorder.eval_time_s if recorder is not None else 0.0,
    }
    return record
