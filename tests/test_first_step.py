"""
First-step equivalence: r is importance sampling, so at θ = θ_old every variant's objective has the policy gradient,
and its first full-batch step is the vanilla policy-gradient step.

It applies to every registered objective: at r = 1 the clips of clip, logclip, clip-higher, dual-clip and PPO-RB are
inactive, SPO's penalty and the exact KL have zero gradient, TR-PPO's per-state KL is 0 (below its trigger) and ESPO's
ratio deviation is 0 (no early stop). The one exception is the KL penalty with the k1 estimator, whose gradient at
θ = θ_old is zero only in expectation over actions.
"""

import copy

import pytest
import torch as th
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution

from sb3_ppo_variants import VARIANTS, ClipPPO, KLClipPPO, KLPenaltyPPO, PolicyBatch
from sb3_ppo_variants.objectives import cpi_loss, pg_loss


class TinyPolicy(th.nn.Module):
    """A linear policy in float64 with a categorical or diagonal Gaussian head."""

    def __init__(self, discrete: bool, obs_dim: int = 3, n_actions: int = 4):
        super().__init__()
        th.manual_seed(0)
        self.discrete = discrete
        self.net = th.nn.Linear(obs_dim, n_actions).double()
        self.log_std = th.nn.Parameter(th.full((n_actions,), -0.3, dtype=th.float64))
        self.n_actions = n_actions

    def distribution(self, obs: th.Tensor):
        if self.discrete:
            return CategoricalDistribution(self.n_actions).proba_distribution(self.net(obs))
        return DiagGaussianDistribution(self.n_actions).proba_distribution(self.net(obs), self.log_std)


def make_batch(policy: TinyPolicy, n: int = 64) -> tuple[PolicyBatch, th.Tensor, th.Tensor]:
    generator = th.Generator().manual_seed(1)
    obs = th.randn(n, 3, dtype=th.float64, generator=generator)
    with th.no_grad():
        old = policy.distribution(obs)
        actions = old.sample()
        old_log_prob = old.log_prob(actions)
    advantages = th.randn(n, dtype=th.float64, generator=generator)
    return obs, actions, old_log_prob, advantages


def batch_at(policy: TinyPolicy, old_policy: TinyPolicy, obs, actions, old_log_prob, advantages) -> PolicyBatch:
    distribution = policy.distribution(obs)
    log_prob = distribution.log_prob(actions)
    log_ratio = log_prob - old_log_prob
    with th.no_grad():
        old_distribution = old_policy.distribution(obs)
    return PolicyBatch(
        advantages, actions, log_prob, old_log_prob, log_ratio, th.exp(log_ratio), 0.2, distribution, old_distribution
    )


def gradient(policy: TinyPolicy, loss: th.Tensor) -> th.Tensor:
    params = list(policy.parameters())
    grads = th.autograd.grad(loss, params, allow_unused=True)
    return th.cat([(th.zeros_like(p) if g is None else g).flatten() for g, p in zip(grads, params, strict=True)])


@pytest.mark.parametrize("discrete", [True, False], ids=["categorical", "gaussian"])
def test_cpi_gradient_equals_pg_gradient_at_old_policy(discrete: bool):
    policy = TinyPolicy(discrete)
    obs, actions, old_log_prob, advantages = make_batch(policy)
    batch = batch_at(policy, policy, obs, actions, old_log_prob, advantages)
    g_pg = gradient(policy, pg_loss(batch.log_prob, batch.advantages))
    batch = batch_at(policy, policy, obs, actions, old_log_prob, advantages)
    g_cpi = gradient(policy, cpi_loss(batch.ratio, batch.advantages))
    assert g_pg.abs().max() > 1e-3  # a real gradient, not two zeros
    th.testing.assert_close(g_cpi, g_pg, rtol=1e-12, atol=1e-14)


def _variant_models() -> dict[str, object]:
    kwargs = {"n_steps": 8, "batch_size": 8, "_init_setup_model": False}
    models = {name: cls("MlpPolicy", "CartPole-v1", **kwargs) for name, cls in VARIANTS.items()}
    for estimator in ("exact", "k3", "k1"):
        models[f"kl-{estimator}"] = KLPenaltyPPO("MlpPolicy", "CartPole-v1", kl_estimator=estimator, kl_coef=3.0, **kwargs)
    models["klclip-k3"] = KLClipPPO("MlpPolicy", "CartPole-v1", kl_estimator="k3", kl_coef=3.0, **kwargs)
    # built in full: clip_range_high becomes a schedule in _setup_model
    models["clip-higher"] = ClipPPO("MlpPolicy", "CartPole-v1", clip_range_high=0.28, n_steps=8, batch_size=8)
    return models


@pytest.mark.parametrize("discrete", [True, False], ids=["categorical", "gaussian"])
def test_every_variant_objective_has_the_pg_gradient_at_old_policy(discrete: bool):
    """The hook of every variant, in float64: same gradient as L^PG at θ = θ_old (k1 only in expectation)."""
    policy = TinyPolicy(discrete)
    old_policy = copy.deepcopy(policy)
    data = make_batch(policy)
    g_pg = gradient(policy, pg_loss(batch_at(policy, old_policy, *data).log_prob, data[3]))
    for name, model in _variant_models().items():
        loss, _ = model.policy_objective(batch_at(policy, old_policy, *data))
        g = gradient(policy, loss)
        if name == "kl-k1":
            # -β E[∇ log π] is zero only in expectation over actions, not on a finite sample
            assert not th.allclose(g, g_pg, rtol=1e-6, atol=1e-8)
        else:
            th.testing.assert_close(g, g_pg, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")


def test_gradients_differ_away_from_old_policy():
    """Away from θ_old the variants differ: the equality above is a property of θ = θ_old, not of the test."""
    policy = TinyPolicy(discrete=True)
    old_policy = copy.deepcopy(policy)
    data = make_batch(policy)
    with th.no_grad():
        # a softmax is invariant to a shift shared by all logits: move each row by a different amount
        policy.net.weight.add_(th.linspace(-0.5, 0.5, 12, dtype=th.float64).reshape(4, 3))
    grads = {}
    for name, model in _variant_models().items():
        loss, _ = model.policy_objective(batch_at(policy, old_policy, *data))
        grads[name] = gradient(policy, loss)
    grads["pg"] = gradient(policy, pg_loss(batch_at(policy, old_policy, *data).log_prob, data[3]))
    assert not th.allclose(grads["pg"], grads["cpi"])
    assert not th.allclose(grads["cpi"], grads["clip"])
    assert not th.allclose(grads["cpi"], grads["logclip"])
    assert not th.allclose(grads["cpi"], grads["kl-exact"])
    assert not th.allclose(grads["cpi"], grads["spo"])
    assert not th.allclose(grads["cpi"], grads["trppo"])
    assert not th.allclose(grads["clip"], grads["rollback"])
    assert not th.allclose(grads["clip"], grads["clip-higher"])
    assert not th.allclose(grads["clip"], grads["klclip-k3"])


def _one_step_parameters(name: str, n_epochs: int) -> list[th.Tensor]:
    cls = VARIANTS[name]
    model = cls(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=128,
        batch_size=None,
        n_epochs=n_epochs,
        learning_rate=0.05,
        max_grad_norm=1e9,
        seed=3,
        policy_kwargs={"optimizer_class": th.optim.SGD, "optimizer_kwargs": {}},
    )
    model.learn(128)
    return [p.detach().clone() for p in model.policy.parameters()]


def test_first_full_batch_step_is_the_same_for_all_variants():
    """Same seed, same rollout, one full-batch SGD step: every registered variant lands on pg's parameters."""
    reference = _one_step_parameters("pg", n_epochs=1)
    initial = VARIANTS["pg"]("MlpPolicy", "CartPole-v1", n_steps=128, seed=3).policy.parameters()
    step = th.cat([(p - q).flatten() for p, q in zip(reference, initial, strict=True)])
    assert step.abs().max() > 1e-3
    for name in sorted(set(VARIANTS) - {"pg"}):
        params = _one_step_parameters(name, n_epochs=1)
        for p, q in zip(params, reference, strict=True):
            th.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    # The second step reuses the data: there L^PG and L^CPI part ways
    pg_two, cpi_two = _one_step_parameters("pg", n_epochs=2), _one_step_parameters("cpi", n_epochs=2)
    assert any(not th.allclose(p, q, rtol=1e-5, atol=1e-6) for p, q in zip(pg_two, cpi_two, strict=True))
