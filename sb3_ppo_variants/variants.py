"""
The members of the PPO objective family, each a thin subclass of :class:`~sb3_ppo_variants.base.VariantPPO`, and
their registry (``VARIANTS``, ``get_variant``).
"""

from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule

from sb3_ppo_variants import kl as kl_estimators
from sb3_ppo_variants.base import PolicyBatch, VariantPPO, check_number
from sb3_ppo_variants.objectives import (
    clip_bounds,
    clip_fraction,
    clipped_surrogate_loss,
    cpi_loss,
    kl_penalty_loss,
    log_clip_bounds,
    pg_loss,
)


class VanillaPG(VariantPPO):
    """
    Vanilla policy gradient: maximises L^PG = E[log π_θ(a|s) Â].

    By default the rollout is used for a single full-batch gradient step and then thrown away
    (``n_epochs=1``, ``batch_size=None``). More epochs or smaller minibatches are accepted, but reusing data
    is not justified for L^PG: its gradient is the policy gradient only at the policy that collected the data.
    Reuse is what L^CPI (:class:`CPIPPO`) makes sound, through the importance ratio r.
    Other arguments are those of :class:`stable_baselines3.PPO` (``clip_range`` only sets the logged value).

    :param n_epochs: passes over each rollout
    :param batch_size: minibatch size; None means the whole rollout (``n_steps * n_envs``)
    """

    variant_name = "pg"

    def __init__(self, policy: Any, env: GymEnv | str | None, n_epochs: int = 1, batch_size: int | None = None, **kwargs: Any):
        super().__init__(policy, env, n_epochs=n_epochs, batch_size=batch_size, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        return pg_loss(batch.log_prob, batch.advantages), {}


class CPIPPO(VariantPPO):
    """
    Conservative policy iteration surrogate: maximises L^CPI = E[r Â], unclipped, reused for SB3's epochs and minibatches.

    At θ = θ_old its gradient equals that of L^PG (∇r = r ∇log π and r = 1); r is the importance weight that
    makes the reuse of the rollout after the first step an unbiased estimate. Nothing bounds r, so repeated epochs
    can move the policy far. Arguments are those of :class:`stable_baselines3.PPO` (``clip_range`` only sets the
    logged value).
    """

    variant_name = "cpi"

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        return cpi_loss(batch.ratio, batch.advantages), {}


class ClipPPO(VariantPPO):
    """
    PPO's clipped surrogate, E[min(r Â, clip(r, 1 - ε, 1 + ε) Â)] with ε = ``clip_range``.

    This is :class:`stable_baselines3.PPO`, exactly: same arguments, same defaults, and bit-identical parameters
    after ``learn()`` with the same seed.
    """

    variant_name = "clip"

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = clip_bounds(batch.clip_range)
        loss = clipped_surrogate_loss(batch.ratio, batch.advantages, low, high)
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high)}


class LogClipPPO(VariantPPO):
    """
    Clipping symmetric in log r: E[min(r Â, clip(r, 1 / (1 + ε), 1 + ε) Â)] with ε = ``clip_range``.

    log r is clipped to ±log(1 + ε), so r = 1 + ε and r = 1 / (1 + ε) (e.g. r = 2 and r = 1/2) are treated alike.
    The upper bound is PPO's for the same ``clip_range``; only the lower bound moves, from 1 - ε to 1 / (1 + ε)
    (0.8333... instead of 0.8 at ε = 0.2). Arguments are those of :class:`stable_baselines3.PPO`.
    """

    variant_name = "logclip"

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = log_clip_bounds(batch.clip_range)
        loss = clipped_surrogate_loss(batch.ratio, batch.advantages, low, high)
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high)}


class KLPenaltyPPO(VariantPPO):
    """
    KL-penalised surrogate, E[r Â - β KL(π_θold || π_θ)] (PPO paper, eq. 8), with β fixed or adapted to a KL target.

    With ``kl_target`` set (the default), β starts at ``kl_coef`` and after each policy update (all epochs) is
    halved when the mean KL d over the rollout under the updated policy is below ``kl_target / 1.5`` and doubled
    when it is above ``1.5 * kl_target``. With ``kl_target=None``, β is ``kl_coef``, a constant or a schedule.
    The current β is ``kl_beta``: logged as ``train/kl_beta`` every update and kept by ``save()``/``load()``.
    Other arguments are those of :class:`stable_baselines3.PPO` (``clip_range`` only sets the logged value).

    :param kl_coef: β, or its initial value when adaptive; with ``kl_target=None`` it may be a schedule
    :param kl_target: d_targ, the KL target of the adaptive rule; None for a fixed β
    :param kl_estimator: ``"exact"`` (closed form from the action distributions), ``"k1"`` (-log r) or
        ``"k3"`` ((r - 1) - log r), the last two on the rollout's actions. k1's gradient at θ = θ_old is zero only
        in expectation, so only ``exact`` and ``k3`` leave the first gradient step equal to the policy gradient's.
    """

    variant_name = "kl"

    def __init__(
        self,
        policy: Any,
        env: GymEnv | str | None,
        kl_coef: float | Schedule = 1.0,
        kl_target: float | None = 0.01,
        kl_estimator: str = "exact",
        **kwargs: Any,
    ):
        if kl_estimator not in kl_estimators.KL_ESTIMATORS:
            raise ValueError(f"`kl_estimator` must be one of {kl_estimators.KL_ESTIMATORS}, got {kl_estimator!r}")
        check_number("kl_target", kl_target, low=0, optional=True)
        check_number("kl_coef", kl_coef, low=0, schedule=kl_target is None)
        self.kl_coef = kl_coef
        self.kl_target = kl_target
        self.kl_estimator = kl_estimator
        self.needs_distributions = kl_estimator == "exact"
        self.kl_beta = float(kl_coef(1.0) if callable(kl_coef) else kl_coef)
        super().__init__(policy, env, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        self.kl_coef = FloatSchedule(self.kl_coef)

    def _per_sample_kl(self, batch: PolicyBatch) -> th.Tensor:
        if self.kl_estimator == "exact":
            return kl_estimators.exact_kl(batch.old_distribution, batch.distribution)
        if self.kl_estimator == "k1":
            return kl_estimators.k1(batch.log_ratio)
        return kl_estimators.k3(batch.log_ratio)

    def train(self) -> None:
        if self.kl_target is None:
            self.kl_beta = self.kl_coef(self._current_progress_remaining)
        super().train()

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        kl = self._per_sample_kl(batch)
        return kl_penalty_loss(batch.ratio, batch.advantages, kl, self.kl_beta), {"kl": kl.mean()}

    def _on_update_end(self, stats: dict[str, float]) -> None:
        stats["kl_beta"] = self.kl_beta
        if self.kl_target is None:
            return
        with th.no_grad():
            self.policy.set_training_mode(False)
            rollout = self._full_rollout()
            _, log_prob, _ = self.policy.evaluate_actions(rollout.observations, self._actions_for_policy(rollout.actions))
            batch = self._policy_batch(rollout, log_prob, rollout.advantages, stats["clip_range"], self._rollout_distribution)
            rollout_kl = self._per_sample_kl(batch).mean().item()
        stats["kl_rollout"] = rollout_kl
        self.kl_beta = kl_estimators.adapt_beta(self.kl_beta, rollout_kl, self.kl_target)


VARIANTS: dict[str, type[VariantPPO]] = {
    cls.variant_name: cls for cls in (VanillaPG, CPIPPO, ClipPPO, KLPenaltyPPO, LogClipPPO)
}


def get_variant(name: str) -> type[VariantPPO]:
    """
    Return the variant class registered under ``name``.

    :param name: a key of ``VARIANTS``: ``pg``, ``cpi``, ``clip``, ``kl``, ``logclip``, ...
    :return: the class, a subclass of ``stable_baselines3.PPO``
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}: valid names are {sorted(VARIANTS)}")
    return VARIANTS[name]
