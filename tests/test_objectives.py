"""Each objective's loss and KL estimator against values worked out by hand."""

import math

import pytest
import torch as th
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution

from sb3_ppo_variants import kl as kl_estimators
from sb3_ppo_variants.objectives import (
    clip_bounds,
    clip_fraction,
    clipped_kl_penalty_loss,
    clipped_surrogate_loss,
    cpi_loss,
    dual_clip_loss,
    kl_penalty_loss,
    log_clip_bounds,
    pg_loss,
    ratio_deviation,
    rollback_loss,
    spo_loss,
    trust_region_clip_loss,
)

# Â > 0 and Â < 0, inside and outside [1 - ε, 1 + ε] and [1 / (1 + ε), 1 + ε] at ε = 0.2
RATIO = th.tensor([0.5, 1.0, 1.5, 0.5, 1.5, 1.1, 0.82], dtype=th.float64)
ADV = th.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -2.0, -1.0], dtype=th.float64)


def test_pg_loss_by_hand():
    # L = ((-1)(1) + (-2)(-1)) / 2 = 0.5
    loss = pg_loss(th.tensor([-1.0, -2.0], dtype=th.float64), th.tensor([1.0, -1.0], dtype=th.float64))
    assert loss.item() == pytest.approx(-0.5, abs=1e-15)


def test_cpi_loss_by_hand():
    # r Â = 0.5, 1, 1.5, -0.5, -1.5, -2.2, -0.82; sum = -2.02
    assert cpi_loss(RATIO, ADV).item() == pytest.approx(2.02 / 7, abs=1e-12)


def test_clip_loss_by_hand():
    # min(r Â, clip(r, 0.8, 1.2) Â) per sample:
    # (0.5, +1) -> min(0.5, 0.8) = 0.5       r below the bound, Â > 0: unclipped (pessimistic) term
    # (1.0, +1) -> 1
    # (1.5, +1) -> min(1.5, 1.2) = 1.2       clipped
    # (0.5, -1) -> min(-0.5, -0.8) = -0.8    clipped
    # (1.5, -1) -> min(-1.5, -1.2) = -1.5    r above the bound, Â < 0: unclipped term
    # (1.1, -2) -> -2.2                      inside
    # (0.82, -1) -> -0.82                    inside [0.8, 1.2]
    # sum = 0.5 + 1 + 1.2 - 0.8 - 1.5 - 2.2 - 0.82 = -2.62
    low, high = clip_bounds(0.2)
    assert clipped_surrogate_loss(RATIO, ADV, low, high).item() == pytest.approx(2.62 / 7, abs=1e-12)
    # outside [0.8, 1.2]: 0.5, 1.5, 0.5, 1.5 -> 4 of 7
    assert clip_fraction(RATIO, low, high).item() == pytest.approx(4 / 7)


def test_logclip_loss_by_hand():
    # bounds [1/1.2, 1.2] = [0.8333..., 1.2]; differs from clip only where r < 0.8333 and Â < 0:
    # (0.5, -1) -> min(-0.5, -1/1.2) = -0.8333...
    # (0.82, -1) -> min(-0.82, -1/1.2) = -0.8333...   inside PPO's bounds, outside the log-symmetric ones
    expected_sum = 0.5 + 1 + 1.2 - 1 / 1.2 - 1.5 - 2.2 - 1 / 1.2
    low, high = log_clip_bounds(0.2)
    assert (low, high) == pytest.approx((0.8333333333333334, 1.2))
    assert clipped_surrogate_loss(RATIO, ADV, low, high).item() == pytest.approx(-expected_sum / 7, abs=1e-12)
    # outside [0.8333, 1.2]: 0.5, 1.5, 0.5, 1.5, 0.82 -> 5 of 7
    assert clip_fraction(RATIO, low, high).item() == pytest.approx(5 / 7)


def test_logclip_is_symmetric_in_log_ratio_and_clip_is_not():
    eps = 1.0  # log clip bounds [1/2, 2]: r = 2 and r = 1/2 are equally far from 1
    low, high = log_clip_bounds(eps)
    assert math.log(high) == pytest.approx(-math.log(low))
    low, high = clip_bounds(eps)
    assert low == 0.0 and high == 2.0  # PPO's: r = 1/2 is well inside, r = 2 on the bound


def test_kl_penalty_loss_by_hand():
    # mean(r Â - β kl) = ((2 - 0.5 * 0.1) + (0.5 - 0.5 * 0.3)) / 2 = (1.95 + 0.35) / 2 = 1.15
    ratio = th.tensor([2.0, 0.5], dtype=th.float64)
    adv = th.tensor([1.0, 1.0], dtype=th.float64)
    kl = th.tensor([0.1, 0.3], dtype=th.float64)
    assert kl_penalty_loss(ratio, adv, kl, 0.5).item() == pytest.approx(-1.15, abs=1e-12)


def test_sample_kl_estimators_by_hand():
    log_ratio = th.log(th.tensor([2.0, 0.5], dtype=th.float64))
    # k1 = -log r = (-ln 2, ln 2); k3 = (r - 1) - log r = (1 - ln 2, -0.5 + ln 2)
    ln2 = math.log(2)
    assert kl_estimators.k1(log_ratio).tolist() == pytest.approx([-ln2, ln2])
    assert kl_estimators.k3(log_ratio).tolist() == pytest.approx([1 - ln2, -0.5 + ln2])


def test_exact_kl_gaussian_by_hand():
    # KL(N(0, 1) || N(1, 2^2)) = ln 2 + (1 + 1) / (2 * 4) - 1/2 = ln 2 - 0.25 per dimension; 2 dimensions
    old = DiagGaussianDistribution(2).proba_distribution(th.zeros(1, 2, dtype=th.float64), th.zeros(2, dtype=th.float64))
    new = DiagGaussianDistribution(2).proba_distribution(
        th.ones(1, 2, dtype=th.float64), th.full((2,), math.log(2), dtype=th.float64)
    )
    kl = kl_estimators.exact_kl(old, new)
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(2 * (math.log(2) - 0.25), abs=1e-12)


def test_exact_kl_categorical_by_hand():
    # KL([1/2, 1/2] || [1/4, 3/4]) = 1/2 ln 2 + 1/2 ln(2/3)
    old = CategoricalDistribution(2).proba_distribution(th.log(th.tensor([[0.5, 0.5]], dtype=th.float64)))
    new = CategoricalDistribution(2).proba_distribution(th.log(th.tensor([[0.25, 0.75]], dtype=th.float64)))
    assert kl_estimators.exact_kl(old, new).item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-12)


@pytest.mark.parametrize(
    ("kl", "expected"),
    [
        (0.001, 0.5),  # d < d_targ / 1.5 -> β / 2
        (0.01 / 1.5, 1.0),  # on the boundary: unchanged
        (0.01, 1.0),
        (0.015, 1.0),  # 1.5 d_targ: unchanged
        (0.0151, 2.0),  # d > 1.5 d_targ -> 2 β
        (1.0, 2.0),
    ],
)
def test_adaptive_beta_rule(kl: float, expected: float):
    assert kl_estimators.adapt_beta(1.0, kl, 0.01) == expected


def per_sample(loss_fn, ratio: list[float], advantages: list[float], *args) -> list[float]:
    """Each sample's objective (the loss functions average over the batch: evaluate one sample at a time)."""
    return [
        -loss_fn(th.tensor([r], dtype=th.float64), th.tensor([a], dtype=th.float64), *args).item()
        for r, a in zip(ratio, advantages, strict=True)
    ]


def test_dual_clip_by_hand():
    # ε 0.2, c 3. Â < 0: max(min(r Â, clip(r, 0.8, 1.2) Â), 3 Â)
    # r = 5, Â = -1: min(-5, -1.2) = -5, max(-5, -3) = -3     the dual bound
    # r = 2, Â = -1: min(-2, -1.2) = -2, max(-2, -3) = -2     below c: PPO's value
    # Â > 0 as clip: r = 5, Â = 1 -> min(5, 1.2) = 1.2; r = 0.5, Â = 1 -> 0.5
    values = per_sample(dual_clip_loss, [5.0, 2.0, 5.0, 0.5], [-1.0, -1.0, 1.0, 1.0], *clip_bounds(0.2), 3.0)
    assert values == pytest.approx([-3.0, -2.0, 1.2, 0.5], abs=1e-12)


def test_clip_higher_by_hand():
    # ε 0.2, ε_high 0.28: bounds [0.8, 1.28]
    # r = 2, Â = 1: min(2, 1.28) = 1.28;  r = 0.5, Â = -1: min(-0.5, -0.8) = -0.8
    assert clip_bounds(0.2, 0.28) == pytest.approx((0.8, 1.28))
    values = per_sample(clipped_surrogate_loss, [2.0, 0.5], [1.0, -1.0], *clip_bounds(0.2, 0.28))
    assert values == pytest.approx([1.28, -0.8], abs=1e-12)


def test_spo_by_hand():
    # ε 0.2: r Â - |Â| (r - 1)² / 0.4
    # r = 2, Â = 1: 2 - 1 / 0.4 = -0.5;  r = 0.5, Â = -1: -0.5 - 0.25 / 0.4 = -1.125;  r = 1, Â = 0.7: 0.7
    values = per_sample(spo_loss, [2.0, 0.5, 1.0], [1.0, -1.0, 0.7], 0.2)
    assert values == pytest.approx([-0.5, -1.125, 0.7], abs=1e-12)


def test_spo_at_zero_clip_range_does_not_move_the_policy():
    ratio = th.tensor([1.0, 1.0], dtype=th.float64, requires_grad=True)
    loss = spo_loss(ratio, th.tensor([1.0, -3.0], dtype=th.float64), 0.0)
    loss.backward()
    assert loss.item() == pytest.approx(1.0)  # -E[Â] = -(1 - 3) / 2
    assert ratio.grad.tolist() == [0.0, 0.0]


def test_rollback_by_hand():
    # ε 0.2, α 0.3: min(r Â, F(r) Â)
    # r = 2, Â = 1:   F = -0.6 + 1.3 * 1.2 = 0.96, min(2, 0.96) = 0.96
    # r = 0.5, Â = -1: F = -0.15 + 1.3 * 0.8 = 0.89, min(-0.5, -0.89) = -0.89
    # r = 1.1, Â = 1: inside, F = r: 1.1
    # r = 0.5, Â = 1: F = 0.89, min(0.5, 0.89) = 0.5      (PPO's pessimistic term)
    values = per_sample(rollback_loss, [2.0, 0.5, 1.1, 0.5], [1.0, -1.0, 1.0, 1.0], 0.2, 0.3)
    assert values == pytest.approx([0.96, -0.89, 1.1, 0.5], abs=1e-12)
    # α = 0 is PPO's clip
    ratio, adv = th.tensor([2.0, 0.5, 1.1, 0.5, 1.5]), th.tensor([1.0, -1.0, 1.0, 1.0, -2.0])
    assert rollback_loss(ratio, adv, 0.2, 0.0).item() == pytest.approx(clipped_surrogate_loss(ratio, adv, 0.8, 1.2).item())


def test_trust_region_clip_by_hand():
    # δ 0.03: where KL >= δ the objective is min(r Â, Â), elsewhere r Â
    # r = 1.5, Â = 1, KL 0.05: min(1.5, 1) = 1        moved in the improving direction: flat
    # r = 0.5, Â = 1, KL 0.05: min(0.5, 1) = 0.5      moved the other way: keeps its gradient
    # r = 1.5, Â = -1, KL 0.05: min(-1.5, -1) = -1.5
    # r = 1.5, Â = 1, KL 0.01: 1.5                    inside the trust region
    # r = 1.5, Â = 1, KL 0.03: 1                      on the trigger
    kl = th.tensor([0.05, 0.05, 0.05, 0.01, 0.03], dtype=th.float64)
    ratio = [1.5, 0.5, 1.5, 1.5, 1.5]
    advantages = [1.0, 1.0, -1.0, 1.0, 1.0]
    values = [
        -trust_region_clip_loss(th.tensor([r], dtype=th.float64), th.tensor([a], dtype=th.float64), k.reshape(1), 0.03).item()
        for r, a, k in zip(ratio, advantages, kl, strict=True)
    ]
    assert values == pytest.approx([1.0, 0.5, -1.5, 1.5, 1.0], abs=1e-12)


def test_ratio_deviation_and_clipped_kl_penalty_by_hand():
    # E|r - 1| of (0.5, 1, 1.5, 1.1) = (0.5 + 0 + 0.5 + 0.1) / 4 = 0.275
    ratio = th.tensor([0.5, 1.0, 1.5, 1.1], dtype=th.float64)
    assert ratio_deviation(ratio).item() == pytest.approx(0.275, abs=1e-12)
    # clip (ε 0.2) minus β KL: (min(2, 1.2) - 0.5 * 0.1 + min(0.5, 0.8) - 0.5 * 0.3) / 2 = (1.15 + 0.35) / 2 = 0.75
    ratio, adv, kl = (th.tensor(v, dtype=th.float64) for v in ([2.0, 0.5], [1.0, 1.0], [0.1, 0.3]))
    assert clipped_kl_penalty_loss(ratio, adv, kl, 0.5, 0.8, 1.2).item() == pytest.approx(-0.75, abs=1e-12)
