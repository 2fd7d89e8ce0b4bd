"""Registry, SB3 parity, argument validation, divergence and the adaptive KL coefficient in training."""

import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from sb3_ppo_variants import CPIPPO, VARIANTS, ClipPPO, DivergenceError, KLPenaltyPPO, get_variant
from sb3_ppo_variants.kl import adapt_beta


def test_registry():
    assert sorted(VARIANTS) == ["clip", "cpi", "kl", "logclip", "pg"]
    for name, cls in VARIANTS.items():
        assert get_variant(name) is cls
        assert issubclass(cls, PPO)
    with pytest.raises(ValueError, match="valid names are \\['clip', 'cpi', 'kl', 'logclip', 'pg'\\]"):
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


class StatsRecorder(BaseCallback):
    def __init__(self):
        super().__init__()
        self.rows: list[dict[str, float]] = []

    def _record(self) -> None:
        if self.model.n_policy_updates > len(self.rows):
            self.rows.append(dict(self.model.last_update_stats))

    def _on_rollout_start(self) -> None:
        self._record()

    def _on_training_end(self) -> None:
        self._record()

    def _on_step(self) -> bool:
        return True


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
