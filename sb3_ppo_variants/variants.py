"""
The members of the PPO objective family, each a thin subclass of :class:`~sb3_ppo_variants.base.VariantPPO`, and
their registry (``VARIANTS``, ``get_variant``).
"""

from typing import Any, ClassVar

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate

from sb3_ppo_variants import kl as kl_estimators
from sb3_ppo_variants.base import PolicyBatch, VariantPPO
from sb3_ppo_variants.objectives import (
    Constant,
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
from sb3_ppo_variants.validation import ArgumentError, check_choice, check_number
from sb3_ppo_variants.whole_rollout import WholeRolloutPPO


class VanillaPG(WholeRolloutPPO):
    """
    Vanilla policy gradient: maximises L^PG = E[log π_θ(a|s) Â].

    By default the rollout is used for a single full-batch gradient step and then thrown away
    (``n_epochs=1``, ``batch_size=None``). More epochs or smaller minibatches are accepted, but reusing data
    is not justified for L^PG: its gradient is the policy gradient only at the policy that collected the data.
    Reuse is what L^CPI (:class:`CPIPPO`) makes sound, through the importance ratio r.

    The critic: with ``value_steps=0`` (the default) the value loss is part of the joint step, as in PPO, so the value
    function also takes one gradient step per rollout. With ``value_steps=K > 0`` the policy's step is on its own
    loss (plus entropy), then the value function takes K full-batch gradient steps on the rollout's returns with
    its own optimizer (``optimizer_class`` of the policy, learning rate ``value_learning_rate``, ``max_grad_norm``),
    which moves only the value function's parameters. OpenAI Spinning Up's VPG uses 80 steps at a value learning
    rate of 1e-3 (its ``train_v_iters`` and ``vf_lr``). Other arguments are those of :class:`stable_baselines3.PPO`
    (``clip_range`` only sets the logged value; ``vf_coef`` applies only with ``value_steps=0``).

    :param n_epochs: passes over each rollout
    :param batch_size: minibatch size; None means the whole rollout (``n_steps * n_envs``)
    :param value_steps: gradient steps of the value function per rollout after the policy's step; 0 keeps the value
        loss in the joint step
    :param value_learning_rate: learning rate of those steps (a number or a schedule)
    """

    variant_name = "pg"

    def __init__(
        self,
        policy: Any,
        env: GymEnv | str | None,
        n_epochs: int = 1,
        batch_size: int | None = None,
        value_steps: int = 0,
        value_learning_rate: float | Schedule = 1e-3,
        **kwargs: Any,
    ):
        check_number("value_steps", value_steps, low=0, low_open=False, integer=True)
        check_number("value_learning_rate", value_learning_rate, low=0, schedule=True)
        self.value_steps = value_steps
        # a flag, not the count: the batched engine groups runs by flags and gives numbers per run
        self.fits_critic = value_steps > 0
        self.value_learning_rate = value_learning_rate
        super().__init__(policy, env, n_epochs=n_epochs, batch_size=batch_size, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        self.value_lr_schedule = FloatSchedule(self.value_learning_rate)
        self.value_optimizer = None
        if self.value_steps:
            self.value_optimizer = self.policy.optimizer_class(
                value_parameters(self.policy), lr=self.value_lr_schedule(1.0), **self.policy.optimizer_kwargs
            )

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "value_optimizer"] if self.value_optimizer is not None else state_dicts, variables

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        return pg_loss(batch.log_prob, batch.advantages), {}

    def total_loss(self, policy_loss: th.Tensor, entropy_loss: th.Tensor, value_loss: th.Tensor) -> th.Tensor:
        if not self.fits_critic:
            return super().total_loss(policy_loss, entropy_loss, value_loss)
        # the critic is fitted after the policy's step, by its own optimizer
        return policy_loss + self.ent_coef * entropy_loss

    def after_update(self, clip_range: Constant) -> dict[str, float | th.Tensor]:
        if not self.fits_critic:
            return {}
        return {
            "value_learning_rate": self.value_lr_schedule(self._current_progress_remaining),
            "value_loss_fitted": self.fit_value_function(),
        }

    def fit_value_function(self) -> float | th.Tensor:
        """
        Take ``value_steps`` full-batch gradient steps of the value function on the rollout's returns (TD(λ) targets).

        The batched engine provides its own, for K runs at once.

        :return: the value loss before the last step
        """
        rollout_value_loss = self._rollout_value_loss()
        update_learning_rate(self.value_optimizer, self.value_lr_schedule(self._current_progress_remaining))
        parameters = [p for group in self.value_optimizer.param_groups for p in group["params"]]
        self.policy.set_training_mode(True)
        for _ in range(self.value_steps):
            value_loss = rollout_value_loss()
            self.value_optimizer.zero_grad()
            value_loss.backward()
            th.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
            self.value_optimizer.step()
        return value_loss.item()


def value_parameters(policy: Any) -> list[th.nn.Parameter]:
    """
    The parameters that only the value function uses: ``mlp_extractor.value_net``, ``value_net``, when the policy
    does not share it ``vf_features_extractor``, and a recurrent policy's ``lstm_critic`` or ``critic``. A shared
    features extractor (or a shared LSTM) is left to the policy's optimizer.

    :param policy: an SB3 ``ActorCriticPolicy``
    :return: the parameters
    """
    if not (hasattr(policy, "mlp_extractor") and hasattr(policy.mlp_extractor, "value_net") and hasattr(policy, "value_net")):
        raise ArgumentError(
            f"`value_steps` > 0 needs an ActorCriticPolicy with `mlp_extractor.value_net` and `value_net`, got {type(policy)}"
        )
    modules = [policy.mlp_extractor.value_net, policy.value_net]
    if not policy.share_features_extractor:
        modules.append(policy.vf_features_extractor)
    # sb3-contrib's recurrent policies: the critic's own LSTM, or the linear layer in its place
    modules += [
        module for module in (getattr(policy, "lstm_critic", None), getattr(policy, "critic", None)) if module is not None
    ]
    return [parameter for module in modules for parameter in module.parameters()]


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

    With the default ``clip_range_high=None`` this is :class:`stable_baselines3.PPO`, exactly: same arguments, same
    defaults, and bit-identical parameters after ``learn()`` with the same seed. ``clip_range_high`` gives DAPO's
    clip-higher (Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale"): bounds
    [1 - ε, 1 + ε_high], a wider upper bound so that unlikely actions with Â > 0 can gain more probability per
    update (DAPO uses ε = 0.2, ε_high = 0.28).

    :param clip_range_high: ε_high >= 0 (a number or a schedule), or None for ε
    """

    variant_name = "clip"

    def __init__(self, policy: Any, env: GymEnv | str | None, clip_range_high: float | Schedule | None = None, **kwargs: Any):
        check_number("clip_range_high", clip_range_high, low=0, low_open=False, optional=True, schedule=True)
        self.clip_range_high = clip_range_high
        super().__init__(policy, env, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.clip_range_high is not None:
            self.clip_range_high = FloatSchedule(self.clip_range_high)

    def _clip_bounds(self, batch: PolicyBatch) -> tuple[Constant, Constant]:
        high = None if self.clip_range_high is None else self.clip_range_high(self._current_progress_remaining)
        return clip_bounds(batch.clip_range, high)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = self._clip_bounds(batch)
        loss = clipped_surrogate_loss(batch.ratio, batch.advantages, low, high)
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high)}


class DualClipPPO(ClipPPO):
    """
    Dual-clip PPO (Ye et al. 2020, "Mastering Complex Control in MOBA Games with Deep Reinforcement Learning"):
    for Â < 0 the clipped surrogate is further bounded below, max(min(r Â, clip(r, 1 - ε, 1 + ε) Â), c Â).

    PPO's objective with Â < 0 falls without bound as r grows (the min picks r Â); the bound c Â removes the gradient
    of samples with r > c, whose large ratio would otherwise dominate the update. Accepts ``clip_range_high`` as
    :class:`ClipPPO`. Tianshou's PPO implements it as ``dual_clip``.

    :param dual_clip: c > 1 (the paper uses 3)
    """

    variant_name = "dualclip"

    def __init__(self, policy: Any, env: GymEnv | str | None, dual_clip: float = 3.0, **kwargs: Any):
        check_number("dual_clip", dual_clip, low=1)
        self.dual_clip = dual_clip
        super().__init__(policy, env, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = self._clip_bounds(batch)
        loss = dual_clip_loss(batch.ratio, batch.advantages, low, high, self.dual_clip)
        dual_active = batch.mean(((batch.advantages < 0) & (batch.ratio > self.dual_clip)).float())
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high), "dual_clip_fraction": dual_active}


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


class SPO(VariantPPO):
    """
    Simple policy optimisation (Xie et al. 2024, "Simple Policy Optimization"): E[r Â - |Â| (r - 1)² / (2 ε)].

    A quadratic penalty replaces the clip: each sample's objective peaks at r = 1 + ε sign(Â), PPO's bound, and keeps
    a gradient back toward it beyond, where PPO's clip has none. ``clip_fraction`` is logged as the fraction of
    samples outside [1 - ε, 1 + ε] for comparison with PPO; nothing is clipped. Arguments are those of
    :class:`stable_baselines3.PPO` (``clip_range`` is ε, the paper's default 0.2).
    """

    variant_name = "spo"

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = clip_bounds(batch.clip_range)
        loss = spo_loss(batch.ratio, batch.advantages, batch.clip_range)
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high)}


class RollbackPPO(VariantPPO):
    """
    PPO-RB, PPO with a rollback clip (Wang et al. 2019, "Truly Proximal Policy Optimization"): E[min(r Â, F(r) Â)],
    F(r) = -α r + (1 + α)(1 + ε) for r > 1 + ε, -α r + (1 + α)(1 - ε) for r < 1 - ε, r otherwise.

    Beyond PPO's bounds the objective's slope in r is -α Â instead of 0, so the gradient rolls the ratio back toward
    the bound. α = 0 is PPO's clip. Arguments are those of :class:`stable_baselines3.PPO`.

    :param rollback_alpha: α >= 0, the rollback slope (the paper's default 0.3)
    """

    variant_name = "rollback"

    def __init__(self, policy: Any, env: GymEnv | str | None, rollback_alpha: float = 0.3, **kwargs: Any):
        check_number("rollback_alpha", rollback_alpha, low=0, low_open=False)
        self.rollback_alpha = rollback_alpha
        super().__init__(policy, env, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        low, high = clip_bounds(batch.clip_range)
        loss = rollback_loss(batch.ratio, batch.advantages, batch.clip_range, self.rollback_alpha)
        return loss, {"clip_fraction": clip_fraction(batch.ratio, low, high)}


class TRPPO(VariantPPO):
    """
    TR-PPO, PPO with a trust-region-triggered clip (Wang et al. 2019, "Truly Proximal Policy Optimization"): where the
    per-state exact KL(π_old(·|s) || π_θ(·|s)) >= δ a sample's objective is min(r Â, Â), elsewhere r Â.

    The ratio bound of PPO's clip becomes a bound on the KL of each state's action distribution, which does not
    depend on how likely the sampled action was. ``clip_fraction`` is the fraction of triggered samples; ``kl`` the
    mean per-state KL. Needs the action distributions (one extra forward pass of the rollout policy per minibatch).
    Arguments are those of :class:`stable_baselines3.PPO` (``clip_range`` only sets the logged value).

    :param kl_trigger: δ > 0, the per-state KL at which the clip triggers
    """

    variant_name = "trppo"
    needs_distributions = True

    def __init__(self, policy: Any, env: GymEnv | str | None, kl_trigger: float = 0.03, **kwargs: Any):
        check_number("kl_trigger", kl_trigger, low=0)
        self.kl_trigger = kl_trigger
        super().__init__(policy, env, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        kl = kl_estimators.exact_kl(batch.old_distribution, batch.distribution)
        loss = trust_region_clip_loss(batch.ratio, batch.advantages, kl, self.kl_trigger)
        return loss, {"clip_fraction": batch.mean((kl >= self.kl_trigger).float()), "kl": batch.mean(kl)}


class ESPO(CPIPPO):
    """
    ESPO, early-stopping policy optimisation (Sun et al. 2022, "You May Not Need Ratio Clipping in PPO"): the unclipped
    objective E[r Â] of :class:`CPIPPO`, with the policy's steps stopped before the first minibatch whose mean ratio
    deviation E[|r - 1|] exceeds δ. SB3's ``target_kl`` rule still applies when set. The deviation is logged as
    ``train/ratio_deviation``, where the update stopped as ``train/stop_epoch`` and ``train/stop_minibatch``.

    :param ratio_deviation: δ > 0 (the issue's and paper's default 0.25)
    :param stop_scope: what the stop ends (see :class:`~sb3_ppo_variants.base.VariantPPO`): ``"policy"`` (the default),
        only the policy's steps, the critic finishing its epochs on the value loss alone, as Spinning Up's early stop;
        or ``"update"``, every gradient step of the update, as SB3's ``target_kl`` stop. The default is measured
        (results/espo-scope, docs/espo-scope.md): on the objectives experiment's tasks the stopped update starves the
        critic (Pendulum-v1: explained variance 0.37 with ``"update"``, 0.85 with ``"policy"``) and ``"policy"`` scores
        higher on two of three tasks. The batched engine runs ``"update"`` only.
    """

    variant_name = "espo"

    def __init__(
        self,
        policy: Any,
        env: GymEnv | str | None,
        ratio_deviation: float = 0.25,
        stop_scope: str = "policy",
        **kwargs: Any,
    ):
        check_number("ratio_deviation", ratio_deviation, low=0)
        self.ratio_deviation = ratio_deviation
        super().__init__(policy, env, stop_scope=stop_scope, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        loss, stats = super().policy_objective(batch)
        return loss, {**stats, "ratio_deviation": ratio_deviation(batch.ratio.detach())}

    def early_stop(self, batch: PolicyBatch, approx_kl: th.Tensor) -> th.Tensor | bool:
        return (ratio_deviation(batch.ratio.detach()) > self.ratio_deviation) | super().early_stop(batch, approx_kl)


class KLPenaltyPPO(WholeRolloutPPO):
    """
    KL-penalised surrogate, E[r Â - β KL(π_θold || π_θ)] (PPO paper, eq. 8), with β fixed or adapted to a KL target.

    With ``kl_target`` set (the default), β starts at ``kl_coef`` and after each policy update (all epochs) is
    halved when the mean KL d over the rollout under the updated policy is below ``kl_target / 1.5`` and doubled
    when it is above ``1.5 * kl_target``. With ``kl_target=None``, β is ``kl_coef``, a constant or a schedule.
    The current β is ``kl_beta``: logged as ``train/kl_beta`` every update and kept by ``save()``/``load()``.
    Other arguments are those of :class:`stable_baselines3.PPO` (``clip_range`` only sets the logged value).

    :param kl_coef: β, or its initial value when adaptive; with ``kl_target=None`` it may be a schedule; None for the
        class's ``default_kl_coef`` (1.0)
    :param kl_target: d_targ, the KL target of the adaptive rule; None for a fixed β
    :param kl_estimator: ``"exact"`` (closed form from the action distributions), ``"k1"`` (-log r) or
        ``"k3"`` ((r - 1) - log r), the last two on the rollout's actions. k1's gradient at θ = θ_old is zero only
        in expectation, so only ``exact`` and ``k3`` leave the first gradient step equal to the policy gradient's.
    """

    variant_name = "kl"
    default_kl_coef: ClassVar[float] = 1.0

    def __init__(
        self,
        policy: Any,
        env: GymEnv | str | None,
        kl_coef: float | Schedule | None = None,
        kl_target: float | None = 0.01,
        kl_estimator: str = "exact",
        **kwargs: Any,
    ):
        kl_coef = self.default_kl_coef if kl_coef is None else kl_coef
        check_choice("kl_estimator", kl_estimator, kl_estimators.KL_ESTIMATORS)
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

    def penalty_coefficient(self) -> Constant:
        """
        The β of the current update: ``kl_beta`` when adaptive, else the ``kl_coef`` schedule's current value.

        :return: β
        """
        return self.kl_beta if self.kl_target is not None else self.kl_coef(self._current_progress_remaining)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        kl = self._per_sample_kl(batch)
        return kl_penalty_loss(batch.ratio, batch.advantages, kl, self.penalty_coefficient()), {"kl": batch.mean(kl)}

    def after_update(self, clip_range: Constant) -> dict[str, float | th.Tensor]:
        beta = self.penalty_coefficient()
        if self.kl_target is None:
            self.kl_beta = beta
            return {"kl_beta": beta}
        rollout_kl = PolicyBatch.mean(self._per_sample_kl(self.rollout_batch(clip_range)))
        self.kl_beta = kl_estimators.adapt_beta(beta, rollout_kl, self.kl_target)
        return {"kl_beta": beta, "kl_rollout": rollout_kl}


class KLClipPPO(KLPenaltyPPO):
    """
    PPO's clipped surrogate minus a KL penalty, E[min(r Â, clip(r, 1 - ε, 1 + ε) Â) - β KL(π_θold || π_θ)]: the loss of
    RLlib's PPO, whose defaults are β = 0.2 adapted toward d_targ = 0.01 with the exact KL.

    Arguments are those of :class:`KLPenaltyPPO` (the PPO paper's rule: ×2 above 1.5 d_targ, ÷2 below d_targ / 1.5;
    RLlib's own rule is ×1.5 above 2 d_targ, ×0.5 below d_targ / 2), with ``default_kl_coef`` 0.2, RLlib's.
    """

    variant_name = "klclip"
    default_kl_coef = 0.2

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        kl = self._per_sample_kl(batch)
        low, high = clip_bounds(batch.clip_range)
        loss = clipped_kl_penalty_loss(batch.ratio, batch.advantages, kl, self.penalty_coefficient(), low, high)
        return loss, {"kl": batch.mean(kl), "clip_fraction": clip_fraction(batch.ratio, low, high)}


VARIANTS: dict[str, type[VariantPPO]] = {
    cls.variant_name: cls
    for cls in (VanillaPG, CPIPPO, ClipPPO, KLPenaltyPPO, LogClipPPO, DualClipPPO, SPO, RollbackPPO, TRPPO, ESPO, KLClipPPO)
}


BASES = ("ppo", "maskable", "recurrent")


def get_variant(name: str, base: str = "ppo") -> type[VariantPPO]:
    """
    Return the variant class registered under ``name``, on SB3's PPO or on an sb3-contrib base.

    A class on an sb3-contrib base (:mod:`sb3_ppo_variants.contrib`, the extra ``contrib``) is registered as
    ``<objective>-<base>``: ``get_variant("logclip", base="maskable")`` and ``get_variant("logclip-maskable")`` both
    return ``MaskableLogClipPPO``.

    :param name: a key of ``VARIANTS`` (``pg``, ``cpi``, ``clip``, ``kl``, ``logclip``, ``dualclip``, ``spo``,
        ``rollback``, ``trppo``, ``espo``, ``klclip``), or such a key and a base, ``<objective>-<base>``
    :param base: ``"ppo"`` (``stable_baselines3.PPO``), ``"maskable"`` (``sb3_contrib.MaskablePPO``) or
        ``"recurrent"`` (``sb3_contrib.RecurrentPPO``)
    :return: the class, a subclass of :class:`~sb3_ppo_variants.base.VariantPPO`
    """
    check_choice("base", base, BASES)
    objective, _, named_base = name.partition("-")
    if named_base:
        if named_base not in BASES[1:] or base != "ppo":
            raise ArgumentError(
                f"variant {name!r}: a name <objective>-<base> takes a base of {BASES[1:]} and no `base` argument, "
                f"got base {named_base!r} and base={base!r}"
            )
        base = named_base
    if objective not in VARIANTS:
        raise ArgumentError(f"unknown variant {objective!r}: valid names are {sorted(VARIANTS)}")
    if base == "ppo":
        return VARIANTS[objective]
    from sb3_ppo_variants.contrib import CONTRIB_VARIANTS

    return CONTRIB_VARIANTS[f"{objective}-{base}"]
