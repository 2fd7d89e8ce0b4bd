"""Registry, SB3 parity, argument validation, divergence and the adaptive KL coefficient in training."""

import pytest
import torch as th
from helpers import StatsRecorder
from stable_baselines3 import PPO

from sb3_ppo_variants import (
    CPIPPO,
    ESPO,
    TRPPO,
    VARIANTS,
    ArgumentError,
    ClipPPO,
    DivergenceError,
    DualClipPPO,
    KLClipPPO,
    KLPenaltyPPO,
    RollbackPPO,
    VanillaPG,
    get_variant,
)
from sb3_ppo_variants.kl import adapt_beta


def test_registry():
    expected = ["clip", "cpi", "dualclip", "espo", "kl", "klclip", "logclip", "pg", "rollback", "spo", "trppo"]
    assert sorted(VARIANTS) == expected
    for name, cls in VARIANTS.items():
        assert get_variant(name) is cls
        assert issubclass(cls, PPO)
    with pytest.raises(ValueError, match="valid names are \\['clip', 'cpi', 'dualclip', "):
        get_variant("ppo2")


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_clip_is_bit_identical_to_sb3_ppo(env_id: str):
    kwargs = dict(n_steps=64, batch_size=32, n_epochs=3, seed=7, clip_range=0.15, ent_coef=0.01)
    reference = PPO("MlpPolicy", env_id, **kwargs).learn(192)
    model = ClipPPO("MlpPolicy", env_id, **kwargs).learn(192)
    for (name, p), q in zip(model.policy.state_dict().items(), reference.policy.state_dict().values(), strict=True):
        assert th.equal(p, q), name
    assert model._n_updates == reference._n_updates == 9


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (ClipPPO, {"clip_range": -0.1}, "clip_range"),
        (ClipPPO, {"clip_range": 0}, "clip_range"),
        (ClipPPO, {"clip_range_vf": -1.0}, "clip_range_vf"),
        (ClipPPO, {"learning_rate": -3e-4}, "learning_rate"),
        (ClipPPO, {"n_epochs": 0}, "n_epochs"),
        (ClipPPO, {"n_steps": 0}, "n_steps"),
        (ClipPPO, {"batch_size": 1}, "batch_size"),
        (ClipPPO, {"gamma": 1.5}, "gamma"),
        (ClipPPO, {"gae_lambda": -0.1}, "gae_lambda"),
        (ClipPPO, {"max_grad_norm": 0.0}, "max_grad_norm"),
        (ClipPPO, {"target_kl": 0.0}, "target_kl"),
        (ClipPPO, {"vf_coef": float("nan")}, "vf_coef"),
        (KLPenaltyPPO, {"kl_estimator": "k2"}, "kl_estimator"),
        (KLPenaltyPPO, {"kl_coef": 0.0}, "kl_coef"),
        (KLPenaltyPPO, {"kl_coef": -1.0, "kl_target": None}, "kl_coef"),
        (KLPenaltyPPO, {"kl_target": 0.0}, "kl_target"),
        (KLPenaltyPPO, {"kl_target": -0.01}, "kl_target"),
        (DualClipPPO, {"dual_clip": 1.0}, "dual_clip"),
        (DualClipPPO, {"dual_clip": 0.5}, "dual_clip"),
        (RollbackPPO, {"rollback_alpha": -0.1}, "rollback_alpha"),
        (TRPPO, {"kl_trigger": 0.0}, "kl_trigger"),
        (ESPO, {"ratio_deviation": 0.0}, "ratio_deviation"),
        (ClipPPO, {"clip_range_high": -0.1}, "clip_range_high"),
        (DualClipPPO, {"clip_range_high": -0.1}, "clip_range_high"),
        (VanillaPG, {"value_steps": -1}, "value_steps"),
        (VanillaPG, {"value_learning_rate": 0.0}, "value_learning_rate"),
        (KLClipPPO, {"kl_estimator": "exactly"}, "kl_estimator"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        cls("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (ClipPPO, {"n_steps": 32.5}, "n_steps"),
        (ClipPPO, {"clip_range": "0.2"}, "clip_range"),
        (ClipPPO, {"n_epochs": True}, "n_epochs"),
        # an adaptive β is state: its start value must be a number, not a schedule
        (KLPenaltyPPO, {"kl_coef": lambda _: 1.0}, "kl_coef"),
    ],
)
def test_bad_argument_types_raise_type_error_naming_the_argument(cls, kwargs, name):
    with pytest.raises(TypeError, match=f"`{name}`"):
        cls("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("cls", [PPO, *VARIANTS.values()])
def test_bad_values_are_assertion_errors_as_in_sb3(cls):
    """SB3's PPO asserts clip_range_vf > 0; code that catches AssertionError (as SB3's own tests do) still works."""
    with pytest.raises(AssertionError):
        cls("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=dict(net_arch=[16]), clip_range_vf=-0.2)
    if cls is not PPO:
        with pytest.raises(ValueError, match="`clip_range_vf` must be > 0") as error:
            cls("MlpPolicy", "CartPole-v1", clip_range_vf=-0.2)
        assert isinstance(error.value, ArgumentError)


def test_kl_error_lists_the_estimators():
    with pytest.raises(ValueError, match="\\('exact', 'k1', 'k3'\\)"):
        KLPenaltyPPO("MlpPolicy", "CartPole-v1", kl_estimator="k2")


class ExplodingCPI(CPIPPO):
    """Returns a non-finite policy loss from the second update on."""

    def policy_objective(self, batch):
        loss, stats = super().policy_objective(batch)
        return (loss * float("inf") if self.n_policy_updates >= 1 else loss), stats


def test_non_finite_loss_raises_divergence_error_naming_variant_update_and_statistic():
    model = ExplodingCPI("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, seed=0)
    with pytest.raises(DivergenceError, match="cpi diverged at policy update 2: policy_gradient_loss") as info:
        model.learn(32 * 4)
    assert (info.value.variant, info.value.update, info.value.statistic) == ("cpi", 2, "policy_gradient_loss")


def test_non_finite_parameter_raises_divergence_error():
    model = ClipPPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, seed=0)
    step = model.policy.optimizer.step

    def poisoned_step(*args, **kwargs):
        step(*args, **kwargs)
        with th.no_grad():
            model.policy.value_net.bias.fill_(float("nan"))

    model.policy.optimizer.step = poisoned_step
    with pytest.raises(DivergenceError, match=r"clip diverged at policy update 1: parameters \(value_net\.bias\)"):
        model.learn(64)


@pytest.mark.parametrize("estimator", ["exact", "k1", "k3"])
def test_adaptive_beta_follows_the_paper_rule_during_training(estimator: str):
    model = KLPenaltyPPO(
        "MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=4, kl_target=0.002, kl_estimator=estimator, seed=1
    )
    recorder = StatsRecorder()
    model.learn(64 * 6, callback=recorder)
    assert len(recorder.rows) == 6
    beta = 1.0
    for row in recorder.rows:
        assert row["kl_beta"] == beta  # the β used during this update
        beta = adapt_beta(beta, row["kl_rollout"], 0.002)
    assert model.kl_beta == beta
    assert len({row["kl_beta"] for row in recorder.rows}) > 1  # β did move


def test_fixed_beta_follows_its_schedule():
    model = KLPenaltyPPO(
        "MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, n_epochs=1, kl_coef=lambda p: 2 * p, kl_target=None, seed=0
    )
    recorder = StatsRecorder()
    model.learn(64 * 4, callback=recorder)
    # progress_remaining when each update starts: 1 - 64k / 256 after the k-th rollout
    assert [row["kl_beta"] for row in recorder.rows] == pytest.approx([1.5, 1.0, 0.5, 0.0])


def test_clip_higher_none_is_sb3_ppo_and_a_schedule_sets_the_upper_bound():
    kwargs = dict(n_steps=64, batch_size=32, n_epochs=3, seed=7, learning_rate=3e-3)
    reference = PPO("MlpPolicy", "CartPole-v1", **kwargs).learn(128)
    model = ClipPPO("MlpPolicy", "CartPole-v1", clip_range_high=None, **kwargs).learn(128)
    for p, q in zip(model.policy.parameters(), reference.policy.parameters(), strict=True):
        assert th.equal(p, q)
    higher = ClipPPO("MlpPolicy", "CartPole-v1", clip_range_high=lambda progress: 0.1 + progress, **kwargs)
    assert higher._clip_bounds(type("Batch", (), {"clip_range": 0.2})()) == pytest.approx((0.8, 2.1))
    higher.learn(128)
    assert any(not th.equal(p, q) for p, q in zip(higher.policy.parameters(), reference.policy.parameters(), strict=True))


def _policy_parameters(model: VanillaPG) -> list[th.Tensor]:
    """The parameters of the actor: all but the value network's."""
    return [
        p.detach().clone()
        for name, p in model.policy.named_parameters()
        if not name.startswith(("mlp_extractor.value_net", "value_net"))
    ]


def test_trained_critic_moves_only_the_value_function():
    """value_steps: the value function's own optimizer; Adam's momentum would move a shared optimizer's other parameters."""
    kwargs = dict(n_steps=64, seed=0, max_grad_norm=1e9)
    plain = VanillaPG("MlpPolicy", "CartPole-v1", **kwargs).learn(64)
    critic = VanillaPG("MlpPolicy", "CartPole-v1", value_steps=20, **kwargs).learn(64)
    # the same policy step: without the value loss in it, the policy's gradient and Adam's first step are unchanged
    for p, q in zip(_policy_parameters(critic), _policy_parameters(plain), strict=True):
        assert th.equal(p, q)
    assert critic.value_optimizer.param_groups[0]["lr"] == 1e-3
    stats = critic.last_update_stats
    assert stats["value_loss_fitted"] < stats["value_loss"]  # 20 steps fit the returns better than the start

    policy_before = _policy_parameters(critic)
    value_before = [p.detach().clone() for p in critic.value_optimizer.param_groups[0]["params"]]
    critic.fit_value_function()  # the policy's optimizer has momentum from its step: it must not run here
    for p, q in zip(_policy_parameters(critic), policy_before, strict=True):
        assert th.equal(p, q)
    assert any(not th.equal(p, q) for p, q in zip(critic.value_optimizer.param_groups[0]["params"], value_before, strict=True))
    fitted = critic.value_optimizer.param_groups[0]["params"]
    names = {name for name, p in critic.policy.named_parameters() if any(p is q for q in fitted)}
    assert names and all(name.startswith(("mlp_extractor.value_net", "value_net")) for name in names)


def test_value_steps_zero_keeps_the_joint_step():
    model = VanillaPG("MlpPolicy", "CartPole-v1", n_steps=64, seed=0)
    assert model.value_optimizer is None and model.value_steps == 0
    model.learn(64)
    assert "value_loss_fitted" not in model.last_update_stats
