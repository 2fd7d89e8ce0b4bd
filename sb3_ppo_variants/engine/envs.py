"""
The K runs' training environments stepped as one: SB3's ``DummyVecEnv`` and ``VecNormalize`` semantics, bit for bit,
without their per-run Python.

Each run keeps the VecEnv that ``run_one`` builds for it (its seeds, its ``Monitor`` wrappers, its ``VecNormalize``), so
checkpoints, evaluation and records see the same objects. What :class:`BatchedEnvs` changes is how a step is taken:
the gymnasium environments of a ``DummyVecEnv`` are stepped directly (no deep copy of the infos and observations per
step), and the K runs' ``VecNormalize`` statistics are held as ``[K, ...]`` arrays and updated in one set of NumPy
operations, with SB3's ``RunningMeanStd`` arithmetic in SB3's order, so every element is the float SB3 computes.
:meth:`BatchedEnvs.sync` writes the statistics back into each run's ``VecNormalize``.
"""

from typing import Any

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize


class BatchedEnvs:
    """
    The training VecEnvs of K runs with ``n_envs`` environments each, stepped together.

    :param envs: each run's training VecEnv: a ``DummyVecEnv`` or another VecEnv (such as the package's envpool one),
        possibly under a ``VecNormalize``
    """

    def __init__(self, envs: list[Any]) -> None:
        self.envs = envs
        self.normalizers = [env if isinstance(env, VecNormalize) else None for env in envs]
        self.inner = [env.venv if isinstance(env, VecNormalize) else env for env in envs]
        first = self.inner[0]
        self.n_envs = first.num_envs
        self.observation_dtype = first.observation_space.dtype
        self.observation_shape = first.observation_space.shape
        normalizers = self.normalizers
        self.norm_obs = np.array([n is not None and n.norm_obs for n in normalizers])
        self.norm_reward = np.array([n is not None and n.norm_reward for n in normalizers])
        self.training = np.array([n is not None and n.training for n in normalizers])

        def column(name: str, default: float) -> np.ndarray:
            return np.array([default if n is None else getattr(n, name) for n in normalizers], dtype=np.float64)[:, None]

        self.clip_obs, self.clip_reward = column("clip_obs", np.inf), column("clip_reward", np.inf)
        self.epsilon, self.gamma = column("epsilon", 0.0), column("gamma", 0.0)
        obs_rms = [_rms(n, "obs_rms", self.observation_shape) for n in normalizers]
        ret_rms = [_rms(n, "ret_rms", ()) for n in normalizers]
        # [K, 1, obs...] and [K, 1]: broadcast over each run's environments
        per_observation = (-1, 1, *(1,) * len(self.observation_shape))
        self.obs_epsilon, self.obs_clip = self.epsilon.reshape(per_observation), self.clip_obs.reshape(per_observation)
        self.obs_mean = np.stack([rms.mean for rms in obs_rms])[:, None]
        self.obs_var = np.stack([rms.var for rms in obs_rms])[:, None]
        self.obs_count = np.array([rms.count for rms in obs_rms], dtype=np.float64).reshape(per_observation)
        self.ret_mean = np.array([rms.mean for rms in ret_rms], dtype=np.float64)[:, None]
        self.ret_var = np.array([rms.var for rms in ret_rms], dtype=np.float64)[:, None]
        self.ret_count = np.array([rms.count for rms in ret_rms], dtype=np.float64)[:, None]
        self.returns = np.stack([np.zeros(self.n_envs) if n is None else n.returns for n in normalizers])

    def _step_raw(self, k: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Run k's inner VecEnv's step: ``DummyVecEnv.step_wait`` without its copies, or the VecEnv's own step."""
        venv = self.inner[k]
        if not isinstance(venv, DummyVecEnv):
            return venv.step(actions)
        observations = np.empty((self.n_envs, *self.observation_shape), dtype=self.observation_dtype)
        rewards = np.empty(self.n_envs, dtype=np.float32)
        dones = np.empty(self.n_envs, dtype=bool)
        infos = []
        for i, env in enumerate(venv.envs):
            observation, rewards[i], terminated, truncated, info = env.step(actions[i])
            dones[i] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if dones[i]:
                info["terminal_observation"] = observation
                observation, venv.reset_infos[i] = env.reset()
            observations[i] = observation
            infos.append(info)
        return observations, rewards, dones, infos

    def step(
        self, actions: np.ndarray, active: list[bool]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[dict[str, Any]] | None]]:
        """
        Step the active runs' environments, as each run's VecEnv ``step`` would.

        :param actions: ``[K, n_envs, ...]`` the actions given to the environments (already clipped to the bounds)
        :param active: which runs step (the others' rows of the returned arrays are meaningless)
        :return: (observations ``[K, n_envs, ...]`` float32 when normalised, rewards ``[K, n_envs]`` float32,
            dones ``[K, n_envs]``, each active run's infos with its terminal observations normalised, else None)
        """
        n_runs = len(self.envs)
        raw = np.zeros((n_runs, self.n_envs, *self.observation_shape), dtype=self.observation_dtype)
        rewards = np.zeros((n_runs, self.n_envs), dtype=np.float32)
        dones = np.zeros((n_runs, self.n_envs), dtype=bool)
        infos: list[list[dict[str, Any]] | None] = [None] * n_runs
        for k in range(n_runs):
            if active[k]:
                raw[k], rewards[k], dones[k], infos[k] = self._step_raw(k, actions[k])
        mask = np.asarray(active)
        update = mask & self.training & self.norm_obs
        if update.any():
            old = (self.obs_mean, self.obs_var, self.obs_count)
            self.obs_mean, self.obs_var, self.obs_count = _masked_moments_update(old, raw, update)
        observations = self.normalize_obs(raw)
        self._update_reward(rewards, mask & self.training)
        rewards = self._normalize_reward(rewards)
        for k, run_infos in enumerate(infos):
            if run_infos is None:
                continue
            for i in np.flatnonzero(dones[k]):
                if "terminal_observation" in run_infos[i]:
                    run_infos[i]["terminal_observation"] = self._normalize_one(k, run_infos[i]["terminal_observation"])
        self.returns[dones] = 0
        return observations, rewards, dones, infos

    def _update_reward(self, rewards: np.ndarray, update: np.ndarray) -> None:
        """VecNormalize's ``_update_reward`` (in training, whether or not it normalises rewards): returns, their statistics."""
        returns = self.returns * self.gamma + rewards
        self.returns = np.where(update[:, None], returns, self.returns)
        if update.any():
            old = (self.ret_mean, self.ret_var, self.ret_count)
            self.ret_mean, self.ret_var, self.ret_count = _masked_moments_update(old, self.returns, update)

    def normalize_obs(self, observations: np.ndarray) -> np.ndarray:
        """
        :param observations: ``[K, n, ...]`` raw observations
        :return: VecNormalize's ``normalize_obs`` of each run's rows (float32), or the raw rows of runs that do not
        """
        if not self.norm_obs.any():
            return observations
        normalized = _normalized(observations, self.obs_mean, self.obs_var, self.obs_epsilon, self.obs_clip)
        if self.norm_obs.all():
            return normalized
        return np.where(self.norm_obs.reshape(self.obs_count.shape), normalized, observations.astype(np.float32))

    def _normalize_one(self, k: int, observation: np.ndarray) -> np.ndarray:
        if not self.norm_obs[k]:
            return observation
        return _normalized(observation, self.obs_mean[k, 0], self.obs_var[k, 0], self.obs_epsilon[k, 0], self.obs_clip[k, 0])

    def _normalize_reward(self, rewards: np.ndarray) -> np.ndarray:
        if not self.norm_reward.any():
            return rewards
        normalized = np.clip(rewards / np.sqrt(self.ret_var + self.epsilon), -self.clip_reward, self.clip_reward)
        return np.where(self.norm_reward[:, None], normalized, rewards).astype(np.float32)

    def sync(self) -> None:
        """Write the statistics and discounted returns back into each run's ``VecNormalize``."""
        for k, normalizer in enumerate(self.normalizers):
            if normalizer is None:
                continue
            if self.norm_obs[k]:
                normalizer.obs_rms.mean, normalizer.obs_rms.var = self.obs_mean[k, 0].copy(), self.obs_var[k, 0].copy()
                normalizer.obs_rms.count = float(self.obs_count[k].flat[0])
            normalizer.ret_rms.mean, normalizer.ret_rms.var = self.ret_mean[k, 0].copy(), self.ret_var[k, 0].copy()
            normalizer.ret_rms.count = float(self.ret_count[k, 0])
            normalizer.returns = self.returns[k].copy()


def _rms(normalizer: VecNormalize | None, name: str, shape: tuple[int, ...]) -> RunningMeanStd:
    """A VecNormalize's statistics ``name``, or fresh ones where it keeps none (never used: a placeholder row)."""
    rms = None if normalizer is None else normalizer.__dict__.get(name)
    return RunningMeanStd(shape=shape) if rms is None else rms


def _normalized(
    observations: np.ndarray, mean: np.ndarray, var: np.ndarray, epsilon: np.ndarray, clip: np.ndarray
) -> np.ndarray:
    """VecNormalize's ``normalize_obs``: ``_normalize_obs`` in its operation order, as float32."""
    return np.clip((observations - mean) / np.sqrt(var + epsilon), -clip, clip).astype(np.float32)


def _masked_moments_update(
    statistics: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray, update: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    :param statistics: ``[K, 1, ...]`` (mean, var, count)
    :param rows: ``[K, n, ...]`` the new rows of each statistic
    :param update: ``[K]`` the runs whose statistics take their rows
    :return: :func:`_moments_update` for those runs, the old statistics for the others
    """
    where = update.reshape(-1, *(1,) * (rows.ndim - 1))
    new = _moments_update(*statistics, rows)
    return tuple(np.where(where, n, o) for n, o in zip(new, statistics, strict=True))


def _moments_update(
    mean: np.ndarray, var: np.ndarray, count: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    SB3's ``RunningMeanStd.update`` for K statistics at once, in its operation order.

    :param mean: ``[K, 1, ...]`` running means
    :param var: ``[K, 1, ...]`` running variances
    :param count: running counts, broadcastable to ``mean``
    :param rows: ``[K, n, ...]`` the new rows of each statistic
    :return: the new (mean, var, count)
    """
    batch_mean = np.mean(rows, axis=1, keepdims=True)
    batch_var = np.var(rows, axis=1, keepdims=True)
    batch_count = rows.shape[1]
    delta = batch_mean - mean
    tot_count = count + batch_count
    new_mean = mean + delta * batch_count / tot_count
    m_a = var * count
    m_b = batch_var * batch_count
    m_2 = m_a + m_b + np.square(delta) * count * batch_count / (count + batch_count)
    new_var = m_2 / (count + batch_count)
    return new_mean, new_var, batch_count + count
