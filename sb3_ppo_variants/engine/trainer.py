"""
``train_batch``: K runs of one batch key trained in one process, each giving the record ``run_one`` would give.

Per run, everything is what ``run_one`` builds (the SB3 model of its variant, its training and evaluation VecEnvs with
Monitor and VecNormalize, its seeds); the engine replaces only SB3's ``learn``: one batched policy forward per step for
the K runs, SB3's rollout and GAE, the batched update (:mod:`sb3_ppo_variants.engine.update`) and batched evaluation.
"""

import contextlib
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import sync_envs_normalization

from sb3_ppo_variants.base import DivergenceError, VariantPPO, finite_statistics_or_raise
from sb3_ppo_variants.engine import checkpoint
from sb3_ppo_variants.engine.envs import BatchedEnvs
from sb3_ppo_variants.engine.policy import BatchedAdam, BatchedPolicy
from sb3_ppo_variants.engine.update import Rollout, Services, make_groups, update
from sb3_ppo_variants.records import RunRecord
from sb3_ppo_variants.runner.run import EVAL_SEED_OFFSET


@dataclass
class Run:
    """
    One run of a batch: its model (hyperparameters, schedules, hook state), environments and record so far.

    :param config: the run's ``RunConfig``
    :param model: its SB3 model, built as ``run_one`` builds it (never trained by SB3)
    :param env: its training VecEnv
    :param eval_env: its evaluation VecEnv
    :param record: its record
    :param generator: its random stream (actions, minibatch order)
    """

    config: Any
    model: VariantPPO
    env: Any
    eval_env: Any
    record: Any
    generator: th.Generator
    num_timesteps: int = 0
    next_eval: int = 0
    eval_time_s: float = 0.0
    last_obs: np.ndarray | None = None
    episode_starts: np.ndarray | None = None
    status: dict[str, Any] = field(default_factory=RunRecord.outcome)


class Batch:
    """
    K runs trained together; runs leave it when they diverge or finish.

    :param runs: the runs (one batch key: same environment, network, n_steps, n_envs, minibatch size and epochs)
    :param device: where the stacked tensors live
    """

    def __init__(self, runs: list[Run], device: th.device) -> None:
        self.runs = runs
        self.device = device
        self.policy = BatchedPolicy([run.model.policy for run in runs], device)
        kwargs = runs[0].model.policy.optimizer_kwargs
        self.optimizer = BatchedAdam(self.policy.parameters(), kwargs.get("betas", (0.9, 0.999)), kwargs.get("eps", 1e-8))
        self.services = Services(self.policy)
        self.groups = make_groups([run.model for run in runs], self.services, device)
        first = runs[0].model
        self.n_steps, self.n_envs = first.n_steps, first.n_envs
        self.action_space = first.action_space
        self.start = time.perf_counter()
        self.elapsed_before = 0.0
        self.n_initial = len(runs)

    def leave(self, keep: list[int]) -> None:
        """Keep only the runs at positions ``keep``."""
        index = th.tensor(keep, dtype=th.long, device=self.device)
        self.runs = [self.runs[i] for i in keep]
        self.policy.select(index)
        self.optimizer.select(index)
        if self.services.value_optimizer is not None:
            self.services.value_optimizer.select(index)
        self.groups = make_groups([run.model for run in self.runs], self.services, self.device)

    def observations(self, arrays: list[np.ndarray] | np.ndarray) -> th.Tensor:
        """
        :param arrays: the K runs' ``[n, obs_dim]`` observations, or them stacked
        :return: ``[K, n, obs_dim]`` float32 on the engine's device (SB3's ``obs.float()``)
        """
        return th.as_tensor(np.asarray(arrays), device=self.device).float()

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Clip Gaussian actions to the bounds, as SB3 does before stepping the environment."""
        if isinstance(self.action_space, spaces.Box):
            return np.clip(actions, self.action_space.low, self.action_space.high)
        return actions


def _evaluate(batch: Batch) -> None:
    """``RunRecorder.evaluate`` for the batch's runs still ok: SB3's ``evaluate_policy`` (Monitor's returns), batched."""
    start = time.perf_counter()
    runs = [run if run.status["status"] == "ok" else None for run in batch.runs]
    first = next(run for run in runs if run is not None)
    n_envs = first.eval_env.num_envs
    n_episodes = first.config.eval_episodes
    targets = np.array([(n_episodes + i) // n_envs for i in range(n_envs)], dtype=int)
    counts = np.zeros((len(runs), n_envs), dtype=int)
    observations = []
    for k, run in enumerate(runs):
        if run is None:
            counts[k] = targets
            observations.append(np.zeros_like(observations[-1]) if observations else None)
            continue
        sync_envs_normalization(run.env, run.eval_env)
        run.eval_env.seed(run.config.seed + EVAL_SEED_OFFSET)
        observations.append(run.eval_env.reset())
    observations = [obs if obs is not None else np.zeros_like(first.eval_env.reset()) for obs in observations]
    returns: list[list[float]] = [[] for _ in runs]
    while (counts < targets).any():
        with th.no_grad():
            actions = batch.env_actions(
                batch.policy.mode(batch.policy.action_output(batch.observations(observations))).cpu().numpy()
            )
        for k, run in enumerate(runs):
            if not (counts[k] < targets).any():
                continue
            observations[k], _, dones, infos = run.eval_env.step(actions[k])
            for i in range(n_envs):
                if counts[k, i] < targets[i] and dones[i] and "episode" in infos[i]:
                    returns[k].append(infos[i]["episode"]["r"])
                    counts[k, i] += 1
    evaluated = [(run, episode_returns) for run, episode_returns in zip(runs, returns, strict=True) if run is not None]
    elapsed = (time.perf_counter() - start) / len(evaluated)
    for run, episode_returns in evaluated:
        row = {
            "timesteps": run.num_timesteps,
            "mean_return": float(np.mean(episode_returns)),
            "std_return": float(np.std(episode_returns)),
            "n_episodes": len(episode_returns),
        }
        run.record.eval_rows.append(row)
        run.eval_time_s += elapsed
        run.next_eval = (run.num_timesteps // run.config.eval_freq + 1) * run.config.eval_freq
        if not math.isfinite(row["mean_return"]):
            _diverge(run, "evaluation return", row["mean_return"], run.model.n_policy_updates)


def _diverge(run: Run, statistic: str, value: float, update: int) -> None:
    error = DivergenceError(run.config.algo, update, statistic, value)
    run.status = RunRecord.outcome("diverged", str(error), update)


@dataclass
class Buffers:
    """One rollout of K runs, shaped ``[K, n_steps, n_envs, ...]`` as SB3's ``RolloutBuffer`` per run."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_starts: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray


def _noise(batch: Batch) -> th.Tensor:
    """Each run's noise for one rollout, from its own generator: ``[K, n_steps, n_envs, ...]``."""
    shape = (batch.n_steps, batch.n_envs)
    if batch.policy.discrete:
        draws = [th.rand(shape, generator=run.generator) for run in batch.runs]
    else:
        draws = [th.randn((*shape, batch.action_space.shape[0]), generator=run.generator) for run in batch.runs]
    return th.stack(draws).to(batch.device)


def _bootstrap_truncations(batch: Batch, k: int, rewards: np.ndarray, dones: np.ndarray, infos: list[dict]) -> None:
    """SB3's bootstrap of episodes cut by a time limit: reward += γ V(terminal observation), with run k's critic."""
    for idx, done in enumerate(dones):
        info = infos[idx]
        if done and info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
            observations = th.zeros(len(batch.runs), 1, info["terminal_observation"].shape[-1])
            observations[k, 0] = th.as_tensor(info["terminal_observation"]).float()
            with th.no_grad():
                terminal_value = batch.policy.values(observations.to(batch.device))[k, 0].cpu()
            rewards[idx] += np.float32(batch.runs[k].model.gamma) * terminal_value.numpy()


def _collect(batch: Batch) -> Buffers:
    """SB3's ``collect_rollouts`` for the K runs, with the runner's callbacks (evaluation, training episodes)."""
    runs, n_runs = batch.runs, len(batch.runs)
    envs = BatchedEnvs([run.env for run in runs])
    last_obs = np.stack([run.last_obs for run in runs])
    episode_starts = np.stack([run.episode_starts for run in runs])
    discrete = batch.policy.discrete
    action_shape = () if discrete else batch.action_space.shape
    buffers = Buffers(
        np.zeros((n_runs, batch.n_steps, *last_obs.shape[1:]), dtype=np.float32),
        np.zeros((n_runs, batch.n_steps, batch.n_envs, *action_shape), dtype=np.int64 if discrete else np.float32),
        *(np.zeros((n_runs, batch.n_steps, batch.n_envs), dtype=np.float32) for _ in range(4)),
    )
    noise = _noise(batch)
    for step in range(batch.n_steps):
        observations = batch.observations(last_obs)
        with th.no_grad():
            output = batch.policy.action_output(observations)
            values = batch.policy.values(observations)
            actions = batch.policy.sample(output, noise[:, step])
            log_probs = batch.policy.log_prob(output, actions)
        finite = th.isfinite(output).flatten(1).all(dim=1).tolist()
        for k, run in enumerate(runs):
            if run.status["status"] == "ok" and not finite[k]:
                _diverge(run, "action distribution (its parameters are not finite)", float("nan"), run.model.n_policy_updates)
        active = [run.status["status"] == "ok" for run in runs]
        actions_np = actions.cpu().numpy()
        new_obs, rewards, dones, infos = envs.step(batch.env_actions(actions_np), active)
        for k, run in enumerate(runs):
            if not active[k]:
                continue
            run.num_timesteps += batch.n_envs
            for info in infos[k]:
                if "episode" in info:
                    episode = info["episode"]
                    run.record.episode_rows.append(
                        {"timesteps": run.num_timesteps, "return": episode["r"], "length": episode["l"]}
                    )
            _bootstrap_truncations(batch, k, rewards[k], dones[k], infos[k])
        buffers.observations[:, step] = last_obs
        buffers.rewards[:, step] = rewards
        buffers.episode_starts[:, step] = episode_starts
        buffers.actions[:, step] = actions_np
        buffers.values[:, step] = values.cpu().numpy()
        buffers.log_probs[:, step] = log_probs.cpu().numpy()
        where = np.asarray(active).reshape(-1, *(1,) * (last_obs.ndim - 1))
        last_obs = np.where(where, new_obs, last_obs)
        episode_starts = np.where(where.reshape(-1, 1), dones, episode_starts)
        ok = [run for run in runs if run.status["status"] == "ok"]
        if ok and ok[0].num_timesteps >= ok[0].next_eval:
            envs.sync()
            _evaluate(batch)
    envs.sync()
    for k, run in enumerate(runs):
        run.last_obs, run.episode_starts = last_obs[k], episode_starts[k]
    return buffers


def gae(buffers: Buffers, last_values: np.ndarray, dones: np.ndarray, gamma: np.ndarray, gae_lambda: np.ndarray):
    """
    SB3's ``RolloutBuffer.compute_returns_and_advantage`` for K runs, with the same float32 operations in the same order.

    :param buffers: the rollouts (``rewards``, ``values``, ``episode_starts`` ``[K, n_steps, n_envs]``)
    :param last_values: ``[K, n_envs]`` values of the observations after the last step
    :param dones: ``[K, n_envs]`` whether the last step ended an episode
    :param gamma: ``[K]`` discount of each run
    :param gae_lambda: ``[K]`` λ of each run
    :return: (advantages, returns), ``[K, n_steps, n_envs]`` float32
    """
    n_steps = buffers.rewards.shape[1]
    gamma32 = gamma.astype(np.float32)[:, None]
    # SB3 multiplies gamma * gae_lambda in double precision first
    gamma_lambda = (gamma * gae_lambda).astype(np.float32)[:, None]
    advantages = np.zeros_like(buffers.rewards)
    last_gae_lam = np.zeros_like(last_values)
    for step in reversed(range(n_steps)):
        if step == n_steps - 1:
            next_non_terminal = 1.0 - dones.astype(np.float32)
            next_values = last_values
        else:
            next_non_terminal = 1.0 - buffers.episode_starts[:, step + 1]
            next_values = buffers.values[:, step + 1]
        delta = buffers.rewards[:, step] + gamma32 * next_values * next_non_terminal - buffers.values[:, step]
        last_gae_lam = delta + gamma_lambda * next_non_terminal * last_gae_lam
        advantages[:, step] = last_gae_lam
    return advantages, advantages + buffers.values


def _flatten(array: np.ndarray, device: th.device) -> th.Tensor:
    """``[K, n_steps, n_envs, ...]`` -> ``[K, n_envs * n_steps, ...]`` in SB3's ``swap_and_flatten`` order."""
    swapped = np.swapaxes(array, 1, 2)
    return th.as_tensor(swapped.reshape(swapped.shape[0], -1, *swapped.shape[3:]).copy(), device=device)


def _rollout(batch: Batch, buffers: Buffers) -> Rollout:
    runs = batch.runs
    with th.no_grad():
        last_values = batch.policy.values(batch.observations([run.last_obs for run in runs])).cpu().numpy()
    dones = np.stack([run.episode_starts for run in runs])
    gamma = np.array([run.model.gamma for run in runs], dtype=np.float64)
    gae_lambda = np.array([run.model.gae_lambda for run in runs], dtype=np.float64)
    advantages, returns = gae(buffers, last_values, dones, gamma, gae_lambda)
    device = batch.device
    return Rollout(
        _flatten(buffers.observations, device),
        _flatten(buffers.actions, device),
        *(_flatten(array, device) for array in (buffers.values, buffers.log_probs, advantages, returns)),
    )


def _permutation(batch: Batch, n_samples: int):
    def permutation(epoch: int) -> th.Tensor:
        return th.stack([th.randperm(n_samples, generator=run.generator) for run in batch.runs]).to(batch.device)

    return permutation


def _check_update(batch: Batch, stats: list[dict[str, float]]) -> None:
    """Record each run's update, or mark it diverged when a loss or a parameter is not finite (SB3 classes' check)."""
    named = batch.policy.named_parameters()
    for k, run in enumerate(batch.runs):
        update_number = run.model.n_policy_updates
        try:
            finite_statistics_or_raise(run.config.algo, update_number, stats[k], [(name, param[k]) for name, param in named])
        except DivergenceError as error:
            run.status = RunRecord.outcome("diverged", str(error), update_number)
            continue
        run.record.train_rows.append({"update": update_number, "timesteps": run.num_timesteps, **stats[k]})


def _finish_runs(batch: Batch, finished: list[Run], buffers: Buffers | None = None) -> Buffers | None:
    """Close the records of ``finished`` and remove them from the batch (and from ``buffers``)."""
    if not finished:
        return buffers
    for run in finished:
        wall_time_s = (batch.elapsed_before + time.perf_counter() - batch.start) / batch.n_initial
        run.record.finish(run.status, run.num_timesteps, wall_time_s, run.eval_time_s)
    keep = [k for k, run in enumerate(batch.runs) if run not in finished]
    if not keep:
        batch.runs = []
        return None
    batch.leave(keep)
    if buffers is None:
        return None
    return Buffers(*(getattr(buffers, name)[keep] for name in buffers.__dataclass_fields__))


def _learn(batch: Batch, after_update: Callable[[Batch], None], resumed: bool = False) -> None:
    """
    SB3's ``learn`` with the runner's recorder, for every run of the batch until each has finished or diverged.

    :param batch: the batch
    :param after_update: called after each update (checkpoints)
    :param resumed: whether the batch was restored from a checkpoint (its first evaluation is already recorded)
    """
    if not resumed:
        _evaluate(batch)
        _finish_runs(batch, [run for run in batch.runs if run.status["status"] != "ok"])
    while batch.runs:
        buffers = _collect(batch)
        buffers = _finish_runs(batch, [run for run in batch.runs if run.status["status"] != "ok"], buffers)
        if not batch.runs:
            return
        for run in batch.runs:
            run.model._update_current_progress_remaining(run.num_timesteps, run.config.total_timesteps)
        rollout = _rollout(batch, buffers)
        models = [run.model for run in batch.runs]
        permutation = _permutation(batch, rollout.advantages.shape[1])
        stats = update(batch.policy, batch.optimizer, models, batch.groups, rollout, permutation, batch.services)
        _check_update(batch, stats)
        _finish_runs(batch, [run for run in batch.runs if run.status["status"] != "ok"])
        if batch.runs and batch.runs[0].num_timesteps >= batch.runs[0].config.total_timesteps:
            if batch.runs[0].record.eval_rows[-1]["timesteps"] < batch.runs[0].num_timesteps:
                _evaluate(batch)
            _finish_runs(batch, list(batch.runs))
        elif batch.runs:
            after_update(batch)


def train_batch(
    configs: list[Any], device: str = "cpu", checkpoint_dir: str | Path | None = None, checkpoint_every: int = 10
) -> list[Any]:
    """
    Train runs of one batch key together and return each one's record, as ``run_one`` would.

    Never raises for a failing run: when the batch cannot be built, every run is recorded ``failed``; a run that
    diverges is recorded ``diverged`` at its update and leaves the batch, the others go on. With ``checkpoint_dir``,
    the batch's state is written there atomically every ``checkpoint_every`` updates, a batch of the same runs resumes
    from it (its records equal those of an uninterrupted batch), and the checkpoint is removed when the batch ends.

    :param configs: ``RunConfig`` of runs sharing a batch key (``sb3_ppo_variants.engine.batch_key``)
    :param device: torch device of the stacked tensors
    :param checkpoint_dir: where the batch checkpoints, or None
    :param checkpoint_every: updates between checkpoints
    :return: their records, in the order of ``configs``
    """
    from sb3_ppo_variants.runner.run import build_run, start_record

    threads = th.get_num_threads()
    th.set_num_threads(1)
    records_by_id = {config.run_id: start_record(config) for config in configs}
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / f"{checkpoint.batch_id(list(records_by_id))}.pt"
    start = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            runs = []
            for config in configs:
                model, env, eval_env = build_run(config, stack)
                record = records_by_id[config.run_id]
                record.config["engine"] = {"name": "batched", "batch_runs": len(configs), "device": str(device)}
                run = Run(config, model, env, eval_env, record, th.Generator().manual_seed(config.seed))
                run.last_obs = env.reset()
                run.episode_starts = np.ones((env.num_envs,), dtype=bool)
                runs.append(run)
            state = None if path is None else checkpoint.load(path)
            if state is None:
                batch = Batch(runs, th.device(device))
            else:
                batch, _, elapsed = checkpoint.restore(state, runs, lambda active: Batch(active, th.device(device)))
                batch.elapsed_before = elapsed
                for run in batch.runs:
                    stack.callback(run.env.close)

            def after_update(batch: Batch) -> None:
                if path is not None and batch.runs[0].model.n_policy_updates % checkpoint_every == 0:
                    finished = [run for run in runs if run.record.status]
                    checkpoint.save(path, batch, finished, batch.elapsed_before + time.perf_counter() - batch.start)

            _learn(batch, after_update, resumed=state is not None)
    except Exception:
        error = traceback.format_exc(limit=-8)
        for record in records_by_id.values():
            if not record.status:
                record.finish(RunRecord.outcome("failed", error), 0, time.perf_counter() - start, 0.0)
    finally:
        th.set_num_threads(threads)
    if path is not None and all(record.status.get("status") in ("ok", "diverged") for record in records_by_id.values()):
        path.unlink(missing_ok=True)
    return [records_by_id[config.run_id] for config in configs]
