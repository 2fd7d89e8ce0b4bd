"""
One run (``sb3_ppo_variants.runner.plan.RunConfig``): ``run_one`` executes it on its SB3 class and returns its record.

``run_one`` does no file I/O, so any backend can execute it and hand the record to the driver, which writes it.
"""

import contextlib
import functools
import importlib.metadata
import math
import platform
import subprocess
import time
import traceback
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
from sb3_ppo_variants import DivergenceError, get_variant
from sb3_ppo_variants.records import RunRecord
from sb3_ppo_variants.runner.plan import RunConfig, config_fields
from sb3_ppo_variants.runner.resolve import algo_kwargs
from sb3_ppo_variants.vec_envs import EnvpoolVecEnv

EVAL_SEED_OFFSET = 1_000_000
MAX_EVAL_ENVS = 10


# Optional packages that change what a run computes when installed (MuJoCo's physics, envpool's tasks, contrib bases)
OPTIONAL_PACKAGES = ("mujoco", "envpool", "sb3-contrib")


def versions() -> dict[str, str]:
    """
    Versions of what a result depends on: always Python, torch, SB3, gymnasium, NumPy and this package, and the
    optional packages of ``OPTIONAL_PACKAGES`` that are installed.

    :return: name -> version
    """
    found = {
        "python": platform.python_version(),
        "torch": th.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "sb3_ppo_variants": sb3_ppo_variants.__version__,
    }
    for name in OPTIONAL_PACKAGES:
        try:
            found[name.replace("-", "_")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


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


def start_record(config: RunConfig) -> RunRecord:
    """
    The empty record of a run.

    :param config: the run
    :return: a record whose config holds ``config``'s fields, the versions and the git commit
    """
    return RunRecord(config={**config_fields(config), "versions": versions(), **git_commit()})


def run_one(config: RunConfig) -> RunRecord:
    """
    Train and evaluate one run. Never raises for a failing run: the record says ``failed`` or ``diverged``, whether
    the run fails while the envs or the model are built, while training, or while the envs are closed.

    Torch runs on one thread meanwhile, whatever the caller's setting: parallel workers do not oversubscribe the
    cores, and a run gives the same numbers in this process, in a process pool or on Ray.

    :param config: the run
    :return: its record (nothing is written to disk)
    """
    record = start_record(config)
    start = time.perf_counter()
    recorder = None
    threads = th.get_num_threads()
    th.set_num_threads(1)
    outcome = RunRecord.outcome("ok")
    try:
        with contextlib.ExitStack() as stack:
            model, _, eval_env = build_run(config, stack)
            recorder = RunRecorder(config, eval_env)
            model.learn(config.total_timesteps, callback=recorder)
        if recorder.pruned:
            outcome = RunRecord.outcome("pruned")
    except DivergenceError as error:
        outcome = RunRecord.outcome("diverged", str(error), error.update)
    except Exception:
        outcome = RunRecord.outcome("failed", traceback.format_exc(limit=-8))
    finally:
        th.set_num_threads(threads)
    if recorder is not None:
        record.eval_rows, record.train_rows = recorder.eval_rows, recorder.train_rows
        record.episode_rows = recorder.episode_rows
    record.finish(
        outcome,
        timesteps=recorder.num_timesteps if recorder is not None else 0,
        wall_time_s=time.perf_counter() - start,
        eval_time_s=recorder.eval_time_s if recorder is not None else 0.0,
    )
    return record
