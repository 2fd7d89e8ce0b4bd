"""
Training environments stepped in C++ by envpool, behind SB3's ``VecEnv`` interface with SB3's semantics.

envpool resets an environment on the step *after* its episode ended (that step returns the first observation with
reward 0 and ``info["elapsed_step"] == 0``, and is not a transition). SB3's ``DummyVecEnv`` resets in the same step and
keeps the last observation in ``info["terminal_observation"]``. :class:`EnvpoolVecEnv` gives SB3's version: after a
step that ends episodes, it steps just those environments once more (their reset step) and returns its observations,
so the rollout holds SB3's transitions and counts SB3's steps; it also gives ``TimeLimit.truncated`` and the
``episode`` info that SB3's ``Monitor`` gives (``r``, ``l``, ``t``). Spaces are gymnasium's (envpool declares float64
actions where gymnasium declares float32): actions are cast to envpool's dtype.
"""

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

VEC_ENVS = ("gymnasium", "envpool")


def import_envpool() -> Any:
    """
    :return: the envpool module
    :raises ImportError: naming the extra to install
    """
    try:
        import envpool
    except ImportError as error:
        raise ImportError(
            'vec_env = "envpool" needs envpool: pip install torch==2.13.0 "sb3-ppo-variants[envpool]"'
        ) from error
    return envpool


def envpool_has(env_id: str) -> bool:
    """
    :param env_id: a gymnasium id
    :return: whether envpool has this task
    """
    return env_id in import_envpool().list_all_envs()


class EnvpoolVecEnv(VecEnv):
    """
    ``n_envs`` copies of a task in one envpool, with SB3's ``DummyVecEnv`` + ``Monitor`` semantics.

    :param env_id: a task envpool has (``envpool.list_all_envs()``), named as in gymnasium
    :param n_envs: number of environments
    :param seed: seed of the pool (environment i is seeded by envpool from it)
    """

    def __init__(self, env_id: str, n_envs: int, seed: int = 0) -> None:
        self.env_id = env_id
        self.render_mode = None
        reference = gym.make(env_id)
        super().__init__(n_envs, reference.observation_space, reference.action_space)
        reference.close()
        self._seed = seed
        self._pool = self._make_pool(seed)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(n_envs)
        self._lengths = np.zeros(n_envs, dtype=int)
        self._starts = np.full(n_envs, time.time())

    def _make_pool(self, seed: int) -> Any:
        return import_envpool().make(self.env_id, env_type="gymnasium", num_envs=self.num_envs, num_threads=1, seed=seed)

    def reset(self) -> VecEnvObs:
        """:return: the first observations"""
        if self._seed is not None:
            self._pool.close()
            self._pool = self._make_pool(self._seed)
            self._seed = None
        observations, _ = self._pool.reset()
        self._returns[:] = 0
        self._lengths[:] = 0
        self._starts[:] = time.time()
        return observations

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the pool at the next reset, as SB3's VecEnvs do."""
        self._seed = seed
        return [None] * self.num_envs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        actions = np.asarray(self._actions, dtype=self._pool.action_space.dtype)
        observations, rewards, terminated, truncated, _ = self._pool.step(actions)
        dones = terminated | truncated
        self._returns += rewards
        self._lengths += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(dones)
        for i in ended:
            infos[i] = {
                "terminal_observation": observations[i].copy(),
                "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                "episode": {
                    "r": round(float(self._returns[i]), 6),
                    "l": int(self._lengths[i]),
                    "t": time.time() - self._starts[i],
                },
            }
        if len(ended):
            # envpool's reset step of the environments that ended: no transition, only their first observation
            reset_actions = np.zeros((len(ended), *self._pool.action_space.shape), dtype=actions.dtype)
            if isinstance(self.action_space, gym.spaces.Discrete):
                reset_actions = np.zeros(len(ended), dtype=actions.dtype)
            first, _, _, _, info = self._pool.step(reset_actions, ended.astype(np.int32))
            order = np.argsort(info["env_id"])
            observations[ended] = first[order]
            self._returns[ended] = 0
            self._lengths[ended] = 0
            self._starts[ended] = time.time()
        return observations, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self._pool.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise NotImplementedError(f"EnvpoolVecEnv has no per-environment method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
