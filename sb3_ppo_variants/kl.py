"""
KL(π_θold || π_θ) estimators and the PPO paper's adaptive penalty rule.

The rollout's actions are sampled from π_θold, so with log r = log π_θ(a|s) - log π_θold(a|s):

- ``exact``: the closed form from the two action distributions (SB3's ``kl_divergence``), summed over action dimensions;
- ``k1``: -log r, unbiased, high variance, can be negative per sample;
- ``k3``: (r - 1) - log r, unbiased and always >= 0 (SB3's ``approx_kl``; see J. Schulman, "Approximating KL divergence").
"""

import torch as th
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    DiagGaussianDistribution,
    Distribution,
    StateDependentNoiseDistribution,
    kl_divergence,
)

KL_ESTIMATORS = ("exact", "k1", "k3")


def exact_kl(old_distribution: Distribution, distribution: Distribution) -> th.Tensor:
    """
    Per-sample KL(π_old || π) in closed form.

    :param old_distribution: the action distribution of the policy that collected the data
    :param distribution: the action distribution of the current policy, on the same observations
    :return: tensor of shape ``[B]`` (``[K, B]`` for the batched engine's distributions over K runs)
    """
    parts = getattr(old_distribution, "distributions", None)
    if parts is not None:
        # sb3-contrib's masked MultiDiscrete and MultiBinary distributions: one categorical per action dimension
        return th.stack(
            [th.distributions.kl_divergence(p, q) for p, q in zip(parts, distribution.distributions, strict=True)], dim=-1
        ).sum(dim=-1)
    kl = kl_divergence(old_distribution, distribution)
    # Diagonal Gaussian and Bernoulli give one KL per action dimension (the last): the joint KL is their sum
    per_dimension = (DiagGaussianDistribution, StateDependentNoiseDistribution, BernoulliDistribution)
    return kl.sum(dim=-1) if isinstance(old_distribution, per_dimension) else kl


def k1(log_ratio: th.Tensor) -> th.Tensor:
    """
    Per-sample estimator k1 = -log r of KL(π_old || π).

    :param log_ratio: log r
    :return: -log r
    """
    return -log_ratio


def k3(log_ratio: th.Tensor) -> th.Tensor:
    """
    Per-sample estimator k3 = (r - 1) - log r of KL(π_old || π).

    :param log_ratio: log r
    :return: (r - 1) - log r
    """
    return th.expm1(log_ratio) - log_ratio


def adapt_beta(beta: float | th.Tensor, kl: float | th.Tensor, kl_target: float | th.Tensor) -> float | th.Tensor:
    """
    The PPO paper's adaptive KL coefficient (section 4), applied once per policy update.

    d < d_targ / 1.5 -> β / 2;  d > 1.5 d_targ -> 2 β;  otherwise β unchanged.

    :param beta: current β (a ``[K, 1]`` tensor for K runs)
    :param kl: d, the mean KL(π_old || π) over the rollout under the updated policy (a number or a 0-d tensor for one
        run, ``[K, 1]`` for K runs)
    :param kl_target: d_targ (a ``[K, 1]`` tensor for K runs)
    :return: the new β, a float for one run
    """
    if isinstance(kl, th.Tensor) and kl.dim() > 0:
        return th.where(kl < kl_target / 1.5, beta / 2, th.where(kl > kl_target * 1.5, beta * 2, beta))
    kl = float(kl)
    if kl < kl_target / 1.5:
        return beta / 2
    if kl > kl_target * 1.5:
        return beta * 2
    return beta
