"""
The policy objectives of the PPO family as small pure functions on tensors.

Each function returns the *loss*: the negative of the objective, averaged over the minibatch.
Notation follows the PPO paper (Schulman et al., 2017): ``ratio`` is r = π_θ(a|s) / π_θold(a|s),
``advantages`` is Â.
"""

import torch as th


def pg_loss(log_prob: th.Tensor, advantages: th.Tensor) -> th.Tensor:
    """
    Vanilla policy gradient, L^PG = E[log π_θ(a|s) Â].

    :param log_prob: log π_θ(a|s) of the rollout's actions under the current policy
    :param advantages: advantage estimates Â
    :return: -L^PG
    """
    return -(log_prob * advantages).mean()


def cpi_loss(ratio: th.Tensor, advantages: th.Tensor) -> th.Tensor:
    """
    Conservative policy iteration surrogate, L^CPI = E[r Â], unclipped.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :return: -L^CPI
    """
    return -(advantages * ratio).mean()


def clipped_surrogate_loss(ratio: th.Tensor, advantages: th.Tensor, ratio_low: float, ratio_high: float) -> th.Tensor:
    """
    Clipped surrogate E[min(r Â, clip(r, low, high) Â)].

    Written with the same operations, in the same order, as ``stable_baselines3.PPO.train`` so that
    ``low = 1 - ε, high = 1 + ε`` reproduces SB3's loss bit for bit.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param ratio_low: lower clip bound on r
    :param ratio_high: upper clip bound on r
    :return: minus the clipped surrogate
    """
    policy_loss_1 = advantages * ratio
    policy_loss_2 = advantages * th.clamp(ratio, ratio_low, ratio_high)
    return -th.min(policy_loss_1, policy_loss_2).mean()


def clip_bounds(clip_range: float) -> tuple[float, float]:
    """
    PPO's clip bounds on r: [1 - ε, 1 + ε].

    :param clip_range: ε
    :return: (low, high)
    """
    return 1 - clip_range, 1 + clip_range


def log_clip_bounds(clip_range: float) -> tuple[float, float]:
    """
    Bounds symmetric in log r: [1 / (1 + ε), 1 + ε], i.e. |log r| <= log(1 + ε).

    The upper bound is PPO's for the same ε; only the lower bound moves (0.8333... instead of 0.8 at ε = 0.2),
    so that r = 1 + ε and r = 1 / (1 + ε) are equally far from 1.

    :param clip_range: ε
    :return: (low, high)
    """
    return 1 / (1 + clip_range), 1 + clip_range


def clip_fraction(ratio: th.Tensor, ratio_low: float, ratio_high: float) -> th.Tensor:
    """
    Fraction of samples whose ratio lies outside [low, high], i.e. where a clip bound is active.

    :param ratio: probability ratio r
    :param ratio_low: lower clip bound on r
    :param ratio_high: upper clip bound on r
    :return: scalar fraction in [0, 1]
    """
    return ((ratio < ratio_low) | (ratio > ratio_high)).float().mean()


def kl_penalty_loss(ratio: th.Tensor, advantages: th.Tensor, kl: th.Tensor, beta: float) -> th.Tensor:
    """
    KL-penalised surrogate, E[r Â - β KL(π_θold || π_θ)] (PPO paper, eq. 8).

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param kl: per-sample KL(π_θold || π_θ) (exact or a sample estimator, see :mod:`sb3_ppo_variants.kl`)
    :param beta: penalty coefficient β
    :return: minus the penalised surrogate
    """
    return -(advantages * ratio - beta * kl).mean()
