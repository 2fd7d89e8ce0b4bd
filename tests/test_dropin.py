"""Every variant is a drop-in ``stable_baselines3.PPO``: action spaces, Dict observations, gSDE, VecNormalize, callbacks,
tensorboard, schedules, ``predict``, ``set_parameters``, ``save``/``load``, ``clip_range_vf`` and ``target_kl``."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from helpers import StatsRecorder
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sb3_ppo_variants import VARIANTS, ClipPPO, KLPenaltyPPO, VariantPPO

# Every registered class at its defaults, and the arguments that generalise a class into another objective
CONFIGS: dict[str, tuple[type[VariantPPO], dict[str, Any]]] = {
    **{name: (cls, {}) for name, cls in VARIANTS.items()},
    "clip-higher": (ClipPPO, {"clip_range_high": 0.28}),
    "pg-critic": (VARIANTS["pg"], {"value_steps": 5}),
}
NAMES = sorted(CONFIGS)


def build(name: str, *args: Any, **kwargs: Any) -> VariantPPO:
    """The model of configuration ``name`` with ``kwargs`` on top of its own arguments."""
    cls, own = CONFIGS[name]
    return cls(*args, **{**own, **kwargs})


TINY = {"n_steps": 16, "batch_size": 16, "n_epochs": 2, "seed": 0}

SPACES: dict[str, tuple[Callable[[], gym.Env], str]] = {
    "discrete": (lambda: IdentityEnv(dim=3), "MlpPolicy"),
    "box": (lambda: IdentityEnvBox(), "MlpPolicy"),
    "multidiscrete": (lambda: IdentityEnvMultiDiscrete(dim=2), "MlpPolicy"),
    "multibinary": (lambda: IdentityEnvMultiBinary(dim=3), "MlpPolicy"),
    "dict-obs": (lambda: SimpleMultiObsEnv(random_start=False), "MultiInputPolicy"),
}


def parameters(model: PPO) -> dict[str, th.Tensor]:
    return {name: p.detach().clone() for name, p in model.policy.state_dict().items()}


def assert_same_parameters(a: PPO, b: PPO) -> None:
    pa, pb = parameters(a), parameters(b)
    assert pa.keys() == pb.keys()
    for name, p in pa.items():
        assert th.equal(p, pb[name]), name


def observations(env: gym.Env, n: int = 8) -> Any:
    """A batch of ``n`` observations from ``env``'s observation space, in the form ``predict`` takes."""
    env.observation_space.seed(1)
    samples = [env.observation_space.sample() for _ in range(n)]
    if isinstance(env.observation_space, gym.spaces.Dict):
        return {key: np.stack([s[key] for s in samples]) for key in env.observation_space.spaces}
    return np.stack(samples)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("name", NAMES)
def test_trains_and_predicts_on_every_space(name: str, space: str):
    make_env, policy = SPACES[space]
    model = build(name, policy, make_env(), **TINY)
    initial = parameters(model)
    model.learn(64)
    assert model.n_policy_updates == 4
    assert all(np.isfinite(v) for v in model.last_update_stats.values())
    assert any(not th.equal(p, initial[k]) for k, p in parameters(model).items())

    env = make_env()
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    reference, _ = PPO(policy, make_env(), **TINY).predict(obs, deterministic=True)
    assert (action.shape, action.dtype) == (reference.shape, reference.dtype)
    assert env.action_space.contains(action)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], action)
    batch_actions, _ = model.predict(observations(env), deterministic=True)
    assert batch_actions.shape == (8, *env.action_space.shape)


@pytest.mark.parametrize("name", NAMES)
def test_gsde_resamples_noise_every_sde_sample_freq_steps(name: str):
    class ExplorationMatrices(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.matrices: list[th.Tensor] = []

        def _on_step(self) -> bool:
            self.matrices.append(self.model.policy.action_dist.exploration_mat.clone())
            return True

    def distinct_noise(sde_sample_freq: int) -> int:
        model = build(name, "MlpPolicy", "Pendulum-v1", use_sde=True, sde_sample_freq=sde_sample_freq, **TINY)
        assert isinstance(model.policy.action_dist, StateDependentNoiseDistribution)
        log_std = model.policy.log_std.detach().clone()
        recorder = ExplorationMatrices()
        model.learn(32, callback=recorder)
        assert not th.equal(model.policy.log_std, log_std)
        changes = sum(not th.equal(a, b) for a, b in zip(recorder.matrices, recorder.matrices[1:], strict=False))
        return changes + 1

    assert distinct_noise(sde_sample_freq=4) == 32 // 4
    assert distinct_noise(sde_sample_freq=-1) == 32 // 16  # once per rollout


def test_kl_old_policy_under_gsde_is_the_rollout_policy():
    """One full-batch step: the exact KL between the snapshot and the policy being updated is 0 before the step."""
    model = KLPenaltyPPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=16, batch_size=None, n_epochs=1, seed=0)
    model.learn(32)
    assert model.last_update_stats["kl"] == 0.0
    assert model.last_update_stats["kl_rollout"] > 0.0


class OldLogProbCheck(KLPenaltyPPO):
    """Records, at every KL computation, how far the old distribution's log-probability of the actions is from the buffer's."""

    def _per_sample_kl(self, batch):
        old_log_prob = batch.old_distribution.log_prob(batch.actions)
        self.errors.append((old_log_prob - batch.old_log_prob).abs().max().item())
        return super()._per_sample_kl(batch)


@pytest.mark.parametrize("space", [*sorted(SPACES), "gsde"])
def test_kl_old_distribution_is_the_rollout_policy_on_every_minibatch(space: str):
    make_env, policy = SPACES["box"] if space == "gsde" else SPACES[space]
    model = OldLogProbCheck(policy, make_env(), use_sde=space == "gsde", **{**TINY, "batch_size": 4, "n_epochs": 3})
    model.errors = []
    model.learn(32)
    assert len(model.errors) == 2 * (3 * 4 + 1)  # 3 epochs of 4 minibatches, then the whole rollout for β
    assert max(model.errors) < 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_vec_normalize(name: str):
    venv = VecNormalize(make_vec_env("CartPole-v1", n_envs=2, seed=0))
    model = build(name, "MlpPolicy", venv, **TINY)
    model.learn(64)
    assert model.get_vec_normalize_env() is venv
    assert venv.obs_rms.count > 64
    # CartPole's raw reward is always 1: the rollout holds VecNormalize's scaled rewards
    assert not np.allclose(model.rollout_buffer.rewards, 1.0)


class CountingCallback(BaseCallback):
    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.stop_at = stop_at

    def _on_step(self) -> bool:
        return self.n_calls != self.stop_at


@pytest.mark.parametrize("name", NAMES)
def test_callbacks_see_every_step_and_can_stop_training(name: str):
    model = build(name, "MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), **TINY)
    callback = CountingCallback()
    model.learn(128, callback=callback)
    assert callback.n_calls == model.num_timesteps // 2 == 64

    model = build(name, "MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), **TINY)
    callback = CountingCallback(stop_at=20)
    model.learn(128, callback=callback)
    # stopped in the second rollout, before its policy update
    assert (callback.n_calls, model.num_timesteps, model.n_policy_updates) == (20, 40, 1)


@pytest.mark.parametrize("name", NAMES)
def test_tensorboard_logs_schedules_and_variant_statistics(name: str, tmp_path: Path):
    model = build(
        name,
        "MlpPolicy",
        "CartPole-v1",
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        tensorboard_log=str(tmp_path),
        **TINY,
    )
    model.learn(64, tb_log_name="run")
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0  # the last update ran at progress_remaining = 0
    (run_dir,) = tmp_path.iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"train/approx_kl", "train/clip_fraction", "train/policy_objective", "train/ratio_max", "train/value_loss"}
    if name == "kl":
        expected |= {"train/kl", "train/kl_beta", "train/kl_rollout"}
    assert expected <= tags

    def logged(tag: str) -> list[float]:
        return [event.value for event in events.Scalars(tag)]

    # train/ values of an update are written at the next rollout's dump: updates 1-3 of 4, progress 0.75, 0.5, 0.25
    assert logged("train/learning_rate") == pytest.approx([7.5e-4, 5e-4, 2.5e-4])
    assert logged("train/clip_range") == pytest.approx([0.15, 0.1, 0.05])


@pytest.mark.parametrize("name", NAMES)
def test_set_parameters_copies_the_policy(name: str):
    source = build(name, "MlpPolicy", "CartPole-v1", **TINY).learn(64)
    target = build(name, "MlpPolicy", "CartPole-v1", **{**TINY, "seed": 1})
    obs = observations(source.env)
    assert not np.array_equal(source.policy.predict(obs)[0], target.policy.predict(obs)[0])
    target.set_parameters(source.get_parameters())
    assert_same_parameters(source, target)
    np.testing.assert_array_equal(source.predict(obs, deterministic=True)[0], target.predict(obs, deterministic=True)[0])


# Arguments away from their defaults, to check that each comes back from save()/load()
SAVED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "clip": {"clip_range_high": 0.3},
    "dualclip": {"dual_clip": 2.5},
    "espo": {"ratio_deviation": 0.1},
    "kl": {"kl_target": 1e-3},
    "klclip": {"kl_target": 1e-3, "kl_estimator": "k3"},
    "pg-critic": {"value_steps": 3, "value_learning_rate": 3e-3},
    "rollback": {"rollback_alpha": 0.1},
    "trppo": {"kl_trigger": 0.01},
}


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name: str, tmp_path: Path):
    kwargs = SAVED_ARGUMENTS.get(name, {})
    model = build(name, "MlpPolicy", "Pendulum-v1", **{**TINY, "batch_size": None}, **kwargs)
    model.learn(64)
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = CONFIGS[name][0].load(path)

    assert type(loaded) is CONFIGS[name][0]
    assert_same_parameters(model, loaded)
    obs = observations(model.env)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert (loaded.n_steps, loaded.batch_size, loaded.n_epochs, loaded.n_policy_updates) == (16, None, 2, 4)
    assert loaded.clip_range(1.0) == model.clip_range(1.0)
    for key, value in kwargs.items():
        saved = getattr(loaded, key)
        assert (saved(1.0) if callable(saved) else saved) == value, key
    if name in ("kl", "klclip"):
        assert model.kl_beta != loaded.kl_coef(1.0)  # β has moved: what comes back is trained state, not the default
        assert loaded.kl_beta == model.kl_beta
    if name == "pg-critic":
        saved_state, loaded_state = model.value_optimizer.state_dict()["state"], loaded.value_optimizer.state_dict()["state"]
        assert saved_state.keys() == loaded_state.keys() and saved_state
        for key, state in saved_state.items():
            assert th.equal(state["exp_avg"], loaded_state[key]["exp_avg"])
    # the rollout policy is a copy refreshed at every update, never saved
    data, params, _ = load_from_zip_file(path)
    assert "rollout_policy" not in data and "rollout_policy" not in params
    assert (loaded.rollout_policy is not None) == loaded.needs_distributions
    loaded.set_env(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    loaded.learn(16, reset_num_timesteps=False)
    assert loaded.n_policy_updates == 5


@pytest.mark.parametrize("name", NAMES)
def test_target_kl_stops_the_update_early(name: str):
    kwargs = {**TINY, "batch_size": 8, "n_epochs": 4, "learning_rate": 1e-2}
    if name == "espo":  # its own stop rule out of the way, and its stops ending the update as SB3's (not its default)
        kwargs.update(ratio_deviation=1e9, stop_scope="update")
    model = build(name, "MlpPolicy", "CartPole-v1", target_kl=1e-6, **kwargs).learn(64)
    # the first minibatch has r = 1 and passes; the second one's approx_kl exceeds 1.5 target_kl and ends the update
    assert model._n_updates == model.n_policy_updates == 4
    stats = model.last_update_stats
    assert (stats["early_stop"], stats["stop_epoch"], stats["stop_minibatch"]) == (1.0, 1.0, 2.0)
    model = build(name, "MlpPolicy", "CartPole-v1", **kwargs).learn(64)
    assert model._n_updates == 4 * 4
    stats = model.last_update_stats
    assert (stats["early_stop"], stats["stop_epoch"], stats["stop_minibatch"]) == (0.0, 4.0, 2.0)


def test_espo_stops_the_update_on_its_ratio_deviation():
    kwargs = {**TINY, "batch_size": 8, "n_epochs": 4, "learning_rate": 1e-2}
    stops = []
    for deviation in (0.01, 1e9):
        model = VARIANTS["espo"]("MlpPolicy", "CartPole-v1", ratio_deviation=deviation, **kwargs)
        stops.append(StatsRecorder())
        model.learn(64, callback=stops[-1])
    # δ = 0.01: every update ends at its second minibatch, the first after a step
    positions = [[(row["early_stop"], row["stop_epoch"], row["stop_minibatch"]) for row in stop.rows] for stop in stops]
    assert positions[0] == [(1.0, 1.0, 2.0)] * 4
    assert positions[1] == [(0.0, 4.0, 2.0)] * 4


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_clip_with_clip_range_vf_and_target_kl_is_bit_identical_to_sb3_ppo(env_id: str):
    kwargs = dict(n_steps=64, batch_size=16, n_epochs=6, seed=3, learning_rate=3e-3, clip_range_vf=0.2, target_kl=0.01)
    reference = PPO("MlpPolicy", env_id, **kwargs).learn(192)
    model = ClipPPO("MlpPolicy", env_id, **kwargs).learn(192)
    assert_same_parameters(model, reference)
    assert model._n_updates == reference._n_updates < 3 * 6  # early stopping on target_kl happened
    assert model.last_update_stats["clip_range_vf"] == 0.2
    # clip_range_vf did clip: without it the parameters differ
    unclipped = ClipPPO("MlpPolicy", env_id, **{**kwargs, "clip_range_vf": None}).learn(192)
    assert any(not th.equal(p, q) for p, q in zip(parameters(unclipped).values(), parameters(model).values(), strict=True))


def test_variants_are_ppo_subclasses_loadable_by_ppo(tmp_path: Path):
    """A saved variant loads into plain SB3 PPO for deployment (the policy is SB3's ActorCriticPolicy)."""
    model = KLPenaltyPPO("MlpPolicy", "CartPole-v1", **TINY).learn(32)
    model.save(tmp_path / "kl")
    ppo = PPO.load(tmp_path / "kl")
    obs = observations(model.env)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], ppo.predict(obs, deterministic=True)[0])
