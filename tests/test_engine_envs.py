"""The engine's batched environments are the runs' own SB3 VecEnvs, bit for bit: DummyVecEnv's autoreset and infos,
Monitor's episodes, VecNormalize's statistics and normalisation (observations, rewards, terminal observations)."""

from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_ppo_variants.engine.envs import BatchedEnvs


def _make(env_id: str, seed: int, n_envs: int, normalize: dict[str, Any] | None) -> Any:
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    return env if normalize is None else VecNormalize(env, **normalize)


def _same_infos(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    for a, b in zip(expected, got, strict=True):
        assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
        assert ("episode" in a) == ("episode" in b)
        if "episode" in a:
            assert (a["episode"]["r"], a["episode"]["l"]) == (b["episode"]["r"], b["episode"]["l"])
        assert ("terminal_observation" in a) == ("terminal_observation" in b)
        if "terminal_observation" in a:
            assert a["terminal_observation"].dtype == b["terminal_observation"].dtype
            np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])


def _same_statistics(expected: Any, got: Any) -> None:
    if not isinstance(expected, VecNormalize):
        return
    if expected.norm_obs:
        np.testing.assert_array_equal(expected.obs_rms.mean, got.obs_rms.mean)
        np.testing.assert_array_equal(expected.obs_rms.var, got.obs_rms.var)
        assert expected.obs_rms.count == got.obs_rms.count and type(got.obs_rms.count) is float
    np.testing.assert_array_equal(expected.ret_rms.mean, got.ret_rms.mean)
    np.testing.assert_array_equal(expected.ret_rms.var, got.ret_rms.var)
    assert expected.ret_rms.count == got.ret_rms.count
    np.testing.assert_array_equal(expected.returns, got.returns)


@pytest.mark.parametrize(
    ("env_id", "n_envs", "normalize", "steps"),
    [
        # time-limit truncations (200 steps), per-run gamma and clipping, rewards normalised or not
        ("Pendulum-v1", 3, [{"gamma": 0.9}, {"norm_reward": False}, {"clip_obs": 2.0, "clip_reward": 1.0}], 450),
        # terminations; 9 environments (NumPy's pairwise summation starts at 8); runs with and without VecNormalize
        ("CartPole-v1", 9, [None, {"gamma": 0.98}, {"norm_obs": False}], 250),
        # float64 observations, the Table 1 settings
        ("Hopper-v5", 1, [{"norm_reward": False, "clip_obs": 5.0}, {"norm_reward": False, "clip_obs": 5.0}], 400),
    ],
)
def test_batched_envs_step_as_each_runs_vec_env(env_id: str, n_envs: int, normalize: list, steps: int):
    expected = [_make(env_id, seed, n_envs, kwargs) for seed, kwargs in enumerate(normalize)]
    envs = [_make(env_id, seed, n_envs, kwargs) for seed, kwargs in enumerate(normalize)]
    for a, b in zip(expected, envs, strict=True):
        np.testing.assert_array_equal(a.reset(), b.reset())
    batched = BatchedEnvs(envs)
    space = expected[0].action_space
    space.seed(0)
    for step in range(steps):
        actions = np.stack([np.stack([space.sample() for _ in range(n_envs)]) for _ in normalize])
        if hasattr(space, "low"):
            actions = np.clip(3 * actions, space.low, space.high)
        active = [True] * len(normalize)
        active[1] = step < steps // 2  # a run that leaves (diverged) is no longer stepped nor counted
        observations, rewards, dones, infos = batched.step(actions, active)
        for k, env in enumerate(expected):
            if not active[k]:
                assert infos[k] is None
                continue
            observation, reward, done, info = env.step(actions[k])
            np.testing.assert_array_equal(observation.astype(np.float32), observations[k].astype(np.float32))
            assert reward.dtype == rewards.dtype == np.float32
            np.testing.assert_array_equal(reward, rewards[k])
            np.testing.assert_array_equal(done, dones[k])
            _same_infos(info, infos[k])
        if step == steps // 3:
            batched.sync()  # a mid-rollout evaluation syncs; stepping goes on from the same statistics
    batched.sync()
    for a, b in zip(expected, envs, strict=True):
        _same_statistics(a, b)


def test_batched_adam_is_torchs_adam_for_each_run_bit_for_bit():
    """
    Three runs' parameters stepped by one BatchedAdam equal three torch Adams, including a run masked out; the shapes
    are a policy's, large enough for torch's vectorised kernels (where a fused multiply-add rounds differently from a
    product and a sum: 20-element tensors did not tell them apart).
    """
    import torch as th

    from sb3_ppo_variants.engine.policy import BatchedAdam

    generator = th.Generator().manual_seed(0)
    shapes = [(3, 64, 11), (3, 64, 64), (3, 64), (3, 1, 64), (3, 1)]
    stacked = [th.randn(shape, generator=generator).requires_grad_(True) for shape in shapes]
    separate = [[param[k].detach().clone().requires_grad_(True) for param in stacked] for k in range(3)]
    learning_rates = [3e-4, 1e-3, 2.5e-4]
    adams = [th.optim.Adam(params, lr=lr, eps=1e-5) for params, lr in zip(separate, learning_rates, strict=True)]
    batched = BatchedAdam(stacked, eps=1e-5)
    for step in range(6):
        grads = [th.randn(shape, generator=generator) for shape in shapes]
        on = [True, step % 2 == 0, True]  # run 1 skips every other step: its moments and counts must not move
        for param, grad in zip(stacked, grads, strict=True):
            param.grad = grad.clone()
        batched.step(stacked, learning_rates, [on] * len(stacked))
        for k, (params, adam) in enumerate(zip(separate, adams, strict=True)):
            if on[k]:
                for param, grad in zip(params, grads, strict=True):
                    param.grad = grad[k].clone()
                adam.step()
    for k in range(3):
        for param, own in zip(stacked, separate[k], strict=True):
            assert th.equal(param.detach()[k], own.detach())


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_the_rollouts_log_prob_is_the_distributions(env_id: str):
    import torch as th
    from stable_baselines3 import PPO

    from sb3_ppo_variants.engine.policy import BatchedPolicy

    env = make_vec_env(env_id, n_envs=1, seed=0)
    policy = BatchedPolicy(
        [PPO("MlpPolicy", env, seed=seed, policy_kwargs={"log_std_init": -0.3 * seed}).policy for seed in (0, 1)]
    )
    observations = th.randn(2, 7, env.observation_space.shape[0], generator=th.Generator().manual_seed(1))
    with th.no_grad():
        output = policy.action_output(observations)
        noise = th.rand(2, 7) if policy.discrete else th.randn(2, 7, 1)
        actions = policy.sample(output, noise)
        expected, _ = policy.log_prob_entropy(policy.distribution(output), actions)
        assert th.equal(policy.log_prob(output, actions), expected)
