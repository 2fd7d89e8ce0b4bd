"""
The policy objectives of the PPO family as small pure functions on tensors.

Each function returns the *loss*: the negative of the objective, averaged over the minibatch.
Notation follows the PPO paper (Schulman et al., 2017): ``ratio`` is r = π_θ(a|s) / π_θold(a|s),
``advantages`` is Â.

The same functions serve one run and K runs at once (the batched engine, :mod:`sb3_ppo_variants.engine`): samples lie
along the last dimension, so per-sample tensors are ``[B]`` for one run or ``[K, B]`` for K runs, and the constants
(ε, β, c, ...) are numbers or ``[K, 1]`` tensors, one value per run. :func:`sample_mean` averages over the samples:
a 0-d loss for one run, a ``[K, 1]`` column of per-run losses for K runs.
"""

import torch as th

Constant = float | th.Tensor
"""A constant of an objective: a number for one run, a ``[K, 1]`` tensor of one value per run for K runs."""


def sample_mean(values: th.Tensor) -> th.Tensor:
    """
    Mean over the samples (the last dimension), one value per run.

    :param values: per-sample values, ``[B]`` for one run or ``[K, B]`` for K runs
    :return: a 0-d tensor for ``[B]`` (exactly ``values.mean()``), a ``[K, 1]`` tensor for ``[K, B]``
    """
    return values.mean() if values.dim() <= 1 else values.mean(dim=-1, keepdim=True)


def pg_loss(log_prob: th.Tensor, advantages: th.Tensor) -> th.Tensor:
    """
    Vanilla policy gradient, L^PG = E[log π_θ(a|s) Â].

    :param log_prob: log π_θ(a|s) of the rollout's actions under the current policy
    :param advantages: advantage estimates Â
    :return: -L^PG
    """
    return -sample_mean(log_prob * advantages)


def cpi_loss(ratio: th.Tensor, advantages: th.Tensor) -> th.Tensor:
    """
    Conservative policy iteration surrogate, L^CPI = E[r Â], unclipped.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :return: -L^CPI
    """
    return -sample_mean(advantages * ratio)


def clipped_surrogate_loss(ratio: th.Tensor, advantages: th.Tensor, ratio_low: Constant, ratio_high: Constant) -> th.Tensor:
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
    return -sample_mean(th.min(policy_loss_1, policy_loss_2))


def clip_bounds(clip_range: Constant, clip_range_high: Constant | None = None) -> tuple[Constant, Constant]:
    """
    PPO's clip bounds on r, [1 - ε, 1 + ε]; with ``clip_range_high`` DAPO's clip-higher bounds [1 - ε, 1 + ε_high].

    :param clip_range: ε
    :param clip_range_high: ε_high, or None for ε
    :return: (low, high)
    """
    return 1 - clip_range, 1 + (clip_range if clip_range_high is None else clip_range_high)


def log_clip_bounds(clip_range: Constant) -> tuple[Constant, Constant]:
    """
    Bounds symmetric in log r: [1 / (1 + ε), 1 + ε], i.e. |log r| <= log(1 + ε).

    The upper bound is PPO's for the same ε; only the lower bound moves (0.8333... instead of 0.8 at ε = 0.2),
    so that r = 1 + ε and r = 1 / (1 + ε) are equally far from 1.

    :param clip_range: ε
    :return: (low, high)
    """
    return 1 / (1 + clip_range), 1 + clip_range


def clip_fraction(ratio: th.Tensor, ratio_low: Constant, ratio_high: Constant) -> th.Tensor:
    """
    Fraction of samples whose ratio lies outside [low, high], i.e. where a clip bound is active.

    :param ratio: probability ratio r
    :param ratio_low: lower clip bound on r
    :param ratio_high: upper clip bound on r
    :return: scalar fraction in [0, 1]
    """
    return sample_mean(((ratio < ratio_low) | (ratio > ratio_high)).float())


def kl_penalty_loss(ratio: th.Tensor, advantages: th.Tensor, kl: th.Tensor, beta: Constant) -> th.Tensor:
    """
    KL-penalised surrogate, E[r Â - β KL(π_θold || π_θ)] (PPO paper, eq. 8).

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param kl: per-sample KL(π_θold || π_θ) (exact or a sample estimator, see :mod:`sb3_ppo_variants.kl`)
    :param beta: penalty coefficient β
    :return: minus the penalised surrogate
    """
    return -sample_mean(advantages * ratio - beta * kl)


def clipped_kl_penalty_loss(
    ratio: th.Tensor, advantages: th.Tensor, kl: th.Tensor, beta: Constant, ratio_low: Constant, ratio_high: Constant
) -> th.Tensor:
    """
    Clipped surrogate with a KL penalty, E[min(r Â, clip(r, low, high) Â) - β KL(π_θold || π_θ)] (RLlib's PPO loss).

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param kl: per-sample KL(π_θold || π_θ)
    :param beta: penalty coefficient β
    :param ratio_low: lower clip bound on r
    :param ratio_high: upper clip bound on r
    :return: minus the penalised clipped surrogate
    """
    return clipped_surrogate_loss(ratio, advantages, ratio_low, ratio_high) + beta * sample_mean(kl)


def dual_clip_loss(
    ratio: th.Tensor, advantages: th.Tensor, ratio_low: Constant, ratio_high: Constant, dual_clip: Constant
) -> th.Tensor:
    """
    Dual-clip surrogate (Ye et al. 2020, "Mastering Complex Control in MOBA Games with Deep Reinforcement Learning"):
    for Â < 0 the clipped objective is further bounded below, max(min(r Â, clip(r, low, high) Â), c Â).

    With Â < 0 and a large r, PPO's objective r Â is unbounded below; the lower bound c Â stops one sample's gradient
    once r > c. For Â >= 0 it is the clipped surrogate.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param ratio_low: lower clip bound on r
    :param ratio_high: upper clip bound on r
    :param dual_clip: c > 1
    :return: minus the dual-clip surrogate
    """
    clipped = th.min(advantages * ratio, advantages * th.clamp(ratio, ratio_low, ratio_high))
    bounded = th.max(clipped, dual_clip * advantages)
    return -sample_mean(th.where(advantages < 0, bounded, clipped))


def spo_loss(ratio: th.Tensor, advantages: th.Tensor, clip_range: Constant) -> th.Tensor:
    """
    Simple policy optimisation (Xie et al. 2024, "Simple Policy Optimization"): E[r Â - |Â| (r - 1)² / (2 ε)].

    A quadratic penalty instead of a clip: the per-sample objective is maximised at r = 1 + ε sign(Â), the bound of
    PPO's clip, and its gradient never vanishes, so a sample that left [1 - ε, 1 + ε] is pulled back.

    At ε = 0 (the end of a schedule annealed to 0) the penalty is infinite except at r = 1: the loss is then
    -E[Â] with a zero gradient, the limit ε -> 0 in which no sample may move.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param clip_range: ε >= 0
    :return: minus the SPO objective
    """
    if not isinstance(clip_range, th.Tensor):
        if clip_range == 0:
            return -sample_mean(advantages + 0 * ratio)
        return -sample_mean(ratio * advantages - advantages.abs() * (ratio - 1) ** 2 / (2 * clip_range))
    # one ε per run: the runs at ε = 0 take the limit above; the others' division never sees a zero
    moving = clip_range > 0
    safe_clip_range = th.where(moving, clip_range, th.ones_like(clip_range))
    penalised = ratio * advantages - advantages.abs() * (ratio - 1) ** 2 / (2 * safe_clip_range)
    return -sample_mean(th.where(moving, penalised, advantages + 0 * ratio))


def rollback_loss(ratio: th.Tensor, advantages: th.Tensor, clip_range: Constant, rollback_alpha: Constant) -> th.Tensor:
    """
    PPO-RB, the rollback surrogate (Wang et al. 2019, "Truly Proximal Policy Optimization"): E[min(r Â, F(r) Â)] with
    F(r) = -α r + (1 + α)(1 + ε) for r > 1 + ε, F(r) = -α r + (1 + α)(1 - ε) for r < 1 - ε, F(r) = r otherwise.

    Outside [1 - ε, 1 + ε] the objective's slope is -α Â instead of PPO's 0: the gradient pushes r back.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param clip_range: ε
    :param rollback_alpha: α >= 0 (α = 0 is PPO's clip)
    :return: minus the rollback surrogate
    """
    high = -rollback_alpha * ratio + (1 + rollback_alpha) * (1 + clip_range)
    low = -rollback_alpha * ratio + (1 + rollback_alpha) * (1 - clip_range)
    rolled_back = th.where(ratio > 1 + clip_range, high, th.where(ratio < 1 - clip_range, low, ratio))
    return -sample_mean(th.min(advantages * ratio, advantages * rolled_back))


def trust_region_clip_loss(ratio: th.Tensor, advantages: th.Tensor, kl: th.Tensor, kl_trigger: Constant) -> th.Tensor:
    """
    TR-PPO (Wang et al. 2019, "Truly Proximal Policy Optimization"): clipping triggered by a trust region. Where the
    per-state KL(π_old(·|s) || π_θ(·|s)) >= δ a sample's objective is min(r Â, Â), elsewhere r Â.

    A triggered sample gives no gradient once it has moved in the improving direction (r Â > Â), and keeps its
    gradient back toward r = 1 otherwise, like PPO's clip with the ratio bound replaced by a KL bound.

    :param ratio: probability ratio r
    :param advantages: advantage estimates Â
    :param kl: per-sample exact KL(π_old(·|s) || π_θ(·|s)); the trigger does not propagate gradient through it
    :param kl_trigger: δ
    :return: minus the TR-PPO surrogate
    """
    surrogate = advantages * ratio
    return -sample_mean(th.where(kl.detach() >= kl_trigger, th.min(surrogate, advantages), surrogate))


def ratio_deviation(ratio: th.Tensor) -> th.Tensor:
    """
    Mean absolute deviation of the ratio from 1, E[|r - 1|]: ESPO's early-stopping statistic (Sun et al. 2022).

    :param ratio: probability ratio r
    :return: scalar
    """
    return sample_mean((ratio - 1).abs())
