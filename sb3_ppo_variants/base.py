"""
``VariantPPO``: Stable-Baselines3's PPO update written once, with the policy objective as a hook.

Everything that is not the policy objective (value loss and ``clip_range_vf``, entropy bonus, ``max_grad_norm``,
early stopping on ``target_kl``, schedules, gSDE, logging) is SB3's ``PPO.train``, operation for operation.
A new objective is a subclass that implements :meth:`VariantPPO.policy_objective`; the other hooks
(:meth:`~VariantPPO.early_stop`, :meth:`~VariantPPO.total_loss`, :meth:`~VariantPPO.after_update`) have SB3's
behaviour by default. The batched engine (:mod:`sb3_ppo_variants.engine`) calls the same hooks for K runs at once.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_ppo_variants.objectives import Constant, sample_mean
from sb3_ppo_variants.validation import ArgumentError, check_choice, check_number

SelfVariantPPO = TypeVar("SelfVariantPPO", bound="VariantPPO")
STOP_SCOPES = ("update", "policy")


@dataclass
class PolicyBatch:
    """
    What every policy objective needs for one minibatch, computed once by the shared train loop.

    Samples lie along the last dimension: tensors are ``[B]`` in an SB3 class, ``[K, B]`` on the batched engine (K runs),
    where ``clip_range`` is a ``[K, 1]`` tensor of one value per run. Reduce per run with :meth:`mean`.

    :param advantages: advantage estimates Â, normalised as SB3 does when ``normalize_advantage=True``
    :param actions: the rollout's actions, in the form the policy evaluates them
    :param log_prob: log π_θ(a|s) under the current policy (differentiable)
    :param old_log_prob: log π_θold(a|s), recorded when the rollout was collected
    :param log_ratio: log r = log_prob - old_log_prob (differentiable)
    :param ratio: r = exp(log r) (differentiable)
    :param clip_range: the current value of the ``clip_range`` schedule
    :param distribution: the current action distribution on the minibatch's observations (differentiable);
        only set for objectives with ``needs_distributions = True``
    :param old_distribution: the action distribution of the policy that collected the rollout (no gradient);
        only set for objectives with ``needs_distributions = True``
    """

    advantages: th.Tensor
    actions: th.Tensor
    log_prob: th.Tensor
    old_log_prob: th.Tensor
    log_ratio: th.Tensor
    ratio: th.Tensor
    clip_range: Constant
    distribution: Distribution | None = None
    old_distribution: Distribution | None = None

    @staticmethod
    def mean(values: th.Tensor) -> th.Tensor:
        """
        The mean over the minibatch's samples, one value per run (:func:`sb3_ppo_variants.objectives.sample_mean`):
        a 0-d tensor in an SB3 class, ``[K, 1]`` on the batched engine. Use it instead of ``.mean()`` so that the
        objective also runs on the engine.

        :param values: per-sample values
        :return: their mean per run
        """
        return sample_mean(values)


@dataclass
class Minibatch:
    """
    A minibatch of the rollout buffer evaluated under the current policy, in the form the shared loop uses it.

    :param actions: the actions, in the form the policy evaluates them
    :param values: the value function's predictions, ``[B]``
    :param log_prob: log π_θ(a|s)
    :param entropy: the action distribution's entropy, or None when it has no closed form
    :param old_log_prob: log π_θold(a|s) from the rollout
    :param advantages: the rollout's advantages (not normalised)
    :param returns: the TD(λ) returns
    :param old_values: the values recorded in the rollout
    :param distribution: the current action distribution, when ``needs_distributions``
    :param old_distribution: that of the rollout policy (no gradient), when ``needs_distributions``
    """

    actions: th.Tensor
    values: th.Tensor
    log_prob: th.Tensor
    entropy: th.Tensor | None
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    old_values: th.Tensor
    distribution: Distribution | None = None
    old_distribution: Distribution | None = None


class DivergenceError(RuntimeError):
    """
    Raised by :meth:`VariantPPO.train` when a loss, a training statistic or a parameter is not finite.

    :param variant: the variant's registry name
    :param update: the policy update (1-based count of ``train()`` calls) in which it happened
    :param statistic: the name of the statistic that went bad (e.g. ``value_loss``, ``parameters``)
    :param value: its value
    """

    def __init__(self, variant: str, update: int, statistic: str, value: float) -> None:
        self.variant = variant
        self.update = update
        self.statistic = statistic
        self.value = value
        super().__init__(f"{variant} diverged at policy update {update}: {statistic} is not finite ({value})")


class UpdateStatistics:
    """
    The statistics of one policy update of an SB3 class, gathered minibatch by minibatch as SB3's ``train`` does.

    """

    def __init__(self) -> None:
        self.values: dict[str, list[th.Tensor]] = defaultdict(list)
        self.log_ratios: list[th.Tensor] = []
        self.approx_kl: list[np.ndarray] = []
        self.loss: th.Tensor | None = None
        self.position = (0, 0)
        self.stopped = False

    def start_epoch(self) -> None:
        """SB3 logs the mean ``approx_kl`` of the last epoch only."""
        self.approx_kl = []

    def add(self, position: tuple[int, int], values: dict[str, th.Tensor], log_ratio: th.Tensor, approx_kl: th.Tensor) -> None:
        """
        Record a minibatch.

        :param position: (epoch, minibatch), 0-based
        :param values: the losses and the objective's statistics (0-d tensors)
        :param log_ratio: the minibatch's log r
        :param approx_kl: its k3 estimate of KL(π_old || π)
        """
        for name, value in values.items():
            self.values[name].append(value.detach())
        self.loss = values["loss"]
        self.log_ratios.append(log_ratio)
        self.approx_kl.append(approx_kl.cpu().numpy())
        self.position = position

    def summary(self, explained_variance: float) -> dict[str, float]:
        """
        The update's statistics (logged under ``train/``): SB3's, the ratio's range, where the update stopped.

        :param explained_variance: of the rollout's values for its returns
        :return: name -> value
        """
        means = {name: th.stack(values).double().mean().item() for name, values in self.values.items() if name != "loss"}
        all_log_ratios = th.cat(self.log_ratios)
        stop_epoch, stop_minibatch = self.position
        return {
            "entropy_loss": means.pop("entropy_loss"),
            "policy_gradient_loss": means["policy_gradient_loss"],
            "value_loss": means.pop("value_loss"),
            "approx_kl": float(np.mean(np.array(self.approx_kl, dtype=np.float64))),
            "clip_fraction": 0.0,
            "loss": self.loss.item(),
            "explained_variance": explained_variance,
            "policy_objective": -means.pop("policy_gradient_loss"),
            "ratio_max": all_log_ratios.max().double().exp().item(),
            "ratio_min": all_log_ratios.min().double().exp().item(),
            "log_ratio_abs_mean": all_log_ratios.abs().mean().item(),
            "early_stop": float(self.stopped),
            "stop_epoch": float(stop_epoch + 1),
            "stop_minibatch": float(stop_minibatch + 1),
            **means,
        }


def finite_statistics_or_raise(variant: str, update: int, stats: dict[str, float], parameters: Any) -> None:
    """
    Raise ``DivergenceError`` when a loss of the update or a parameter is not finite.

    Only losses and parameters: ``explained_variance`` is NaN for constant returns and a ratio may overflow harmlessly
    under a clipped objective.

    :param variant: the variant's registry name
    :param update: the update's 1-based number
    :param stats: the update's statistics
    :param parameters: ``(name, tensor)`` pairs
    """
    for name in ("policy_gradient_loss", "value_loss", "entropy_loss", "loss"):
        if not np.isfinite(stats[name]):
            raise DivergenceError(variant, update, name, stats[name])
    for name, param in parameters:
        if not th.isfinite(param).all():
            raise DivergenceError(variant, update, f"parameters ({name})", float("nan"))


class VariantPPO(PPO):
    """
    SB3's PPO with the policy objective as a hook; the base class of every variant.

    Takes exactly the arguments of :class:`stable_baselines3.PPO` (see its documentation), validated at
    construction with ``ArgumentError`` (a ``ValueError``) or ``TypeError`` naming the argument, and one extension:

    :param batch_size: minibatch size, or None for the whole rollout (``n_steps * n_envs``) in one minibatch
    :param stop_scope: what an early stop (:meth:`early_stop`: ``target_kl``, ESPO's rule) ends: ``"update"`` (SB3's
        ``target_kl``: no more gradient steps in this update) or ``"policy"`` (as Spinning Up's early stop: the policy's
        steps end, and the remaining minibatches of every epoch take gradient steps on ``vf_coef * value_loss`` alone,
        which moves only the parameters the value function uses; ``train/value_steps_after_stop`` counts them)

    Subclasses implement :meth:`policy_objective` and may override :meth:`early_stop` (end an update before a
    minibatch's gradient step), :meth:`total_loss` (combine the policy, entropy and value losses) and
    :meth:`after_update` (after all epochs; one that evaluates the whole rollout subclasses
    :class:`~sb3_ppo_variants.whole_rollout.WholeRolloutPPO`). Objectives that compare action distributions set
    ``needs_distributions = True``: each minibatch then carries the current distribution and that of
    ``rollout_policy``, a frozen copy of the policy that collected the rollout. After every policy update,
    ``last_update_stats`` holds what was logged under ``train/`` (without the prefix) and ``n_policy_updates``
    counts the updates (calls to ``train()``).

    The hooks read their constants from ``self`` and reduce per run with :meth:`PolicyBatch.mean`; written so, they
    run unchanged on the batched engine, where ``self`` stands for K runs and each numeric attribute is a ``[K, 1]``
    tensor of their values (see :mod:`sb3_ppo_variants.engine`).
    """

    variant_name: ClassVar[str] = "ppo"
    base_algorithm: ClassVar[type[OnPolicyAlgorithm]] = PPO
    # the evaluation that fits the algorithm (sb3-contrib's passes a maskable model its action masks)
    evaluate_policy: ClassVar[Callable[..., Any]] = staticmethod(evaluate_policy)
    needs_distributions: bool = False

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int | None = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        target_kl: float | None = None,
        stop_scope: str = "update",
        **kwargs: Any,
    ) -> None:
        check_choice("stop_scope", stop_scope, STOP_SCOPES)
        check_number("learning_rate", learning_rate, low=0, schedule=True)
        check_number("n_steps", n_steps, low=1, low_open=False, integer=True)
        check_number("batch_size", batch_size, low=1 if normalize_advantage else 0, integer=True, optional=True)
        check_number("n_epochs", n_epochs, low=1, low_open=False, integer=True)
        check_number("gamma", gamma, low=0, low_open=False, high=1)
        check_number("gae_lambda", gae_lambda, low=0, low_open=False, high=1)
        check_number("clip_range", clip_range, low=0, schedule=True)
        check_number("clip_range_vf", clip_range_vf, low=0, optional=True, schedule=True)
        check_number("ent_coef", ent_coef)
        check_number("vf_coef", vf_coef, low=0, low_open=False)
        check_number("max_grad_norm", max_grad_norm, low=0)
        check_number("target_kl", target_kl, low=0, optional=True)
        n_envs = env.num_envs if isinstance(env, VecEnv) else 1
        if normalize_advantage and n_steps * n_envs < 2:
            raise ArgumentError(
                f"`n_steps * n_envs` must be >= 2 when `normalize_advantage=True`, got n_steps={n_steps}, n_envs={n_envs}"
            )
        self.rollout_policy: ActorCriticPolicy | None = None
        self.stop_scope = stop_scope
        # the algorithm this class runs on (SB3's PPO here, an sb3-contrib class in sb3_ppo_variants.contrib)
        self.base_algorithm.__init__(
            self,
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=n_steps * n_envs if batch_size is None else batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            target_kl=target_kl,
            **kwargs,
        )
        # None is passed on to RolloutBuffer.get, which then yields the whole rollout as one minibatch
        self.batch_size = batch_size
        self.n_policy_updates = 0
        self.last_update_stats: dict[str, float] = {}

    def _setup_model(self) -> None:
        self.base_algorithm._setup_model(self)
        self.rollout_policy = None
        if self.needs_distributions:
            # Its initial weights are overwritten before use: keep the seeded random stream the same as PPO's
            sde = {"use_sde": True} if self.use_sde else {}  # MaskablePPO's policies take no use_sde
            with th.random.fork_rng(devices=[]):
                rollout_policy = self.policy_class(
                    self.observation_space, self.action_space, self.lr_schedule, **sde, **self.policy_kwargs
                )
            self.rollout_policy = rollout_policy.to(self.device).requires_grad_(False)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "rollout_policy"]

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        """
        The hook: return the policy loss to minimise (the negative objective) and per-minibatch statistics.

        Reduce over the samples with ``batch.mean`` (one value per run). Statistics are averaged over the update's
        minibatches and logged under ``train/``; ``clip_fraction`` is logged as 0 when the objective does not return it.

        :param batch: the minibatch
        :return: (loss, statistics)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement policy_objective(batch)")

    def early_stop(self, batch: PolicyBatch, approx_kl: th.Tensor) -> th.Tensor | bool:
        """
        Whether to end the policy update before this minibatch's gradient step; by default SB3's ``target_kl`` rule.

        Called for every minibatch, after the objective and before the optimizer step. Where an update stopped is
        logged as ``train/stop_epoch``, ``train/stop_minibatch`` and ``train/early_stop``.

        :param batch: the minibatch
        :param approx_kl: the k3 estimate of KL(π_old || π) on the minibatch, as SB3 computes it (one per run)
        :return: a boolean per run (a 0-d tensor or a bool in an SB3 class)
        """
        if self.target_kl is None:
            return False
        return approx_kl > 1.5 * self.target_kl

    def total_loss(self, policy_loss: th.Tensor, entropy_loss: th.Tensor, value_loss: th.Tensor) -> th.Tensor:
        """
        The loss of one gradient step: SB3's ``policy_loss + ent_coef * entropy_loss + vf_coef * value_loss``.

        :param policy_loss: the objective's loss
        :param entropy_loss: minus the mean entropy
        :param value_loss: the value function's loss
        :return: the loss to minimise
        """
        return policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss

    def after_update(self, clip_range: Constant) -> dict[str, float | th.Tensor]:
        """
        Called once per policy update, after all epochs (e.g. the KL variants adapt β here).

        :param clip_range: the update's value of the ``clip_range`` schedule
        :return: the statistics it adds to the update's (logged under ``train/``)
        """
        return {}

    def _policy_inputs(self, rollout_data: Any) -> dict[str, Any]:
        """
        What the policy needs besides observations and actions to evaluate a minibatch: nothing for SB3's policies.

        :param rollout_data: a minibatch of the rollout buffer
        :return: keyword arguments of ``policy.evaluate_actions``
        """
        return {}

    def _distribution(self, policy: Any, observations: Any, inputs: dict[str, Any]) -> Distribution:
        """
        The action distribution of ``policy`` (the current one or ``rollout_policy``) on a minibatch.

        :param policy: the policy
        :param observations: the minibatch's observations
        :param inputs: :meth:`_policy_inputs`
        :return: the distribution
        """
        return policy.get_distribution(observations, **inputs)

    def _predict_values(self, observations: Any, inputs: dict[str, Any]) -> th.Tensor:
        """
        The value function on a minibatch.

        :param observations: the minibatch's observations
        :param inputs: :meth:`_policy_inputs`
        :return: the values
        """
        return self.policy.predict_values(observations)

    def _evaluate_actions(
        self, observations: Any, actions: th.Tensor, inputs: dict[str, Any]
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None, Distribution | None]:
        """
        ``policy.evaluate_actions``, and, for objectives that need it, the action distribution itself.

        :param observations: a batch of observations
        :param actions: the actions, in the form the policy evaluates them
        :param inputs: :meth:`_policy_inputs`
        :return: (values, log_prob, entropy, distribution); distribution is None unless ``needs_distributions``
        """
        if not self.needs_distributions:
            return *self.policy.evaluate_actions(observations, actions, **inputs), None
        distribution = self._distribution(self.policy, observations, inputs)
        values = self._predict_values(observations, inputs)
        return values, distribution.log_prob(actions), distribution.entropy(), distribution

    def _old_distribution(self, observations: Any, inputs: dict[str, Any]) -> Distribution | None:
        """
        The rollout policy's action distribution on a minibatch, for objectives with ``needs_distributions``.

        :param observations: the minibatch's observations
        :param inputs: :meth:`_policy_inputs`
        :return: the distribution (no gradient), or None
        """
        if not self.needs_distributions:
            return None
        with th.no_grad():
            return self._distribution(self.rollout_policy, observations, inputs)

    def _evaluate_minibatch(self, rollout_data: Any) -> Minibatch:
        """
        Evaluate a minibatch of the rollout buffer under the current policy: the one step of the loop that depends on
        the base algorithm (the sb3-contrib bases pass action masks, or LSTM states and select the unpadded samples).

        :param rollout_data: the buffer's minibatch
        :return: the evaluated minibatch
        """
        actions = self._actions_for_policy(rollout_data.actions)
        inputs = self._policy_inputs(rollout_data)
        values, log_prob, entropy, distribution = self._evaluate_actions(rollout_data.observations, actions, inputs)
        return Minibatch(
            actions,
            values.flatten(),
            log_prob,
            entropy,
            rollout_data.old_log_prob,
            rollout_data.advantages,
            rollout_data.returns,
            rollout_data.old_values,
            distribution,
            self._old_distribution(rollout_data.observations, inputs),
        )

    def _policy_batch(
        self,
        actions: th.Tensor,
        log_prob: th.Tensor,
        old_log_prob: th.Tensor,
        advantages: th.Tensor,
        clip_range: Constant,
        distribution: Distribution | None,
        old_distribution: Distribution | None,
    ) -> PolicyBatch:
        """
        Build the objective's batch.

        :param actions: the minibatch's actions, in the form the policy evaluates them
        :param log_prob: log π_θ(a|s) under the current policy
        :param old_log_prob: log π_θold(a|s) from the rollout
        :param advantages: the (normalised) advantages
        :param clip_range: current ``clip_range`` value
        :param distribution: the current action distribution, when ``needs_distributions``
        :param old_distribution: the rollout policy's, when ``needs_distributions``
        :return: the batch
        """
        log_ratio = log_prob - old_log_prob
        batch = PolicyBatch(advantages, actions, log_prob, old_log_prob, log_ratio, th.exp(log_ratio), clip_range)
        batch.distribution, batch.old_distribution = distribution, old_distribution
        return batch

    def _non_finite_policy(self) -> str | None:
        """What is not finite in the policy: a parameter, or the action distribution on the last observations."""
        for name, param in self.policy.named_parameters():
            if not th.isfinite(param).all():
                return f"parameters ({name})"
        return self._non_finite_action_distribution()

    def _non_finite_action_distribution(self) -> str | None:
        """What is not finite in the action distribution on the last observations, or None."""
        with th.no_grad():
            features = self.policy.extract_features(obs_as_tensor(self._last_obs, self.device))
            if isinstance(features, tuple):
                features = features[0]
            output = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
        return None if th.isfinite(output).all() else "action distribution (its parameters are not finite)"

    def learn(
        self: SelfVariantPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "PPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfVariantPPO:
        return self._learn_or_diverge(
            super().learn, total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar
        )

    def _learn_or_diverge(self: SelfVariantPPO, learn: Callable[..., Any], *args: Any, **kwargs: Any) -> SelfVariantPPO:
        """
        Call the base algorithm's ``learn``, a policy whose outputs are not finite raising ``DivergenceError``.

        :param learn: the base's ``learn``, bound to this model
        :param args: its positional arguments
        :param kwargs: its keyword arguments
        :return: this model
        """
        # Parameters can stay finite while the policy's outputs do not (logits of 1e30 - 1e30): torch's distributions
        # then refuse them with a ValueError, in a rollout or within an update, which is the policy diverging.
        try:
            return learn(*args, **kwargs)
        except ValueError as error:
            statistic = self._non_finite_policy()
            if statistic is None:
                raise
            # The policy is in training mode only inside train(), i.e. during update n_policy_updates + 1
            update = self.n_policy_updates + int(self.policy.training)
            raise DivergenceError(self.variant_name, update, statistic, float("nan")) from error

    def train(self) -> None:
        """
        Update policy using the currently gathered rollout buffer.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        # Compute current clip range
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        # Optional: clip range for the value function
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
        # Freeze the policy that collected the rollout, for objectives that compare action distributions
        if self.rollout_policy is not None:
            self.rollout_policy.load_state_dict(self.policy.state_dict())
        statistics = UpdateStatistics()

        continue_training = True
        # with stop_scope = "policy", the value function's steps go on after the policy's stop
        policy_stopped = False
        value_steps_after_stop = 0
        # train for n_epochs epochs
        for epoch in range(self.n_epochs):
            if not policy_stopped:
                statistics.start_epoch()
            # Do a complete pass on the rollout buffer
            for minibatch, rollout_data in enumerate(self.rollout_buffer.get(self.batch_size)):
                sample = self._evaluate_minibatch(rollout_data)
                values, log_prob, entropy = sample.values, sample.log_prob, sample.entropy
                if not policy_stopped:
                    # Normalize advantage
                    advantages = sample.advantages
                    # Normalization does not make sense if mini batchsize == 1, see GH issue #325
                    if self.normalize_advantage and len(advantages) > 1:
                        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                    # The policy objective: the hook
                    batch = self._policy_batch(
                        sample.actions,
                        log_prob,
                        sample.old_log_prob,
                        advantages,
                        clip_range,
                        sample.distribution,
                        sample.old_distribution,
                    )
                    policy_loss, objective_stats = self.policy_objective(batch)

                if self.clip_range_vf is None:
                    # No clipping
                    values_pred = values
                else:
                    # Clip the difference between old and new value
                    # NOTE: this depends on the reward scaling
                    values_pred = sample.old_values + th.clamp(values - sample.old_values, -clip_range_vf, clip_range_vf)
                # Value loss using the TD(gae_lambda) target
                value_loss = F.mse_loss(sample.returns, values_pred)
                if policy_stopped:
                    self._gradient_step(self.vf_coef * value_loss)
                    value_steps_after_stop += 1
                    continue

                # Entropy loss favor exploration
                if entropy is None:
                    # Approximate entropy when no analytical form
                    entropy_loss = -th.mean(-log_prob)
                else:
                    entropy_loss = -th.mean(entropy)

                loss = self.total_loss(policy_loss, entropy_loss, value_loss)

                # approx_kl is the k3 estimator of KL(π_old || π), as in SB3 (used for early stopping on target_kl)
                with th.no_grad():
                    log_ratio = batch.log_ratio.detach()
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio)
                losses = {"policy_gradient_loss": policy_loss, "value_loss": value_loss, "entropy_loss": entropy_loss}
                statistics.add((epoch, minibatch), {**losses, **objective_stats, "loss": loss}, log_ratio, approx_kl_div)

                if self.early_stop(batch, approx_kl_div):
                    statistics.stopped = True
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to {type(self).__name__}.early_stop")
                    if self.stop_scope == "update":
                        continue_training = False
                        break
                    policy_stopped = True
                    self._gradient_step(self.vf_coef * value_loss)
                    value_steps_after_stop += 1
                    continue

                self._gradient_step(loss)

            self._n_updates += 1
            if not continue_training:
                break

        self.n_policy_updates += 1
        buffer = self.rollout_buffer
        stats = statistics.summary(float(explained_variance(buffer.values.flatten(), buffer.returns.flatten())))
        if hasattr(self.policy, "log_std"):
            stats["std"] = th.exp(self.policy.log_std).mean().item()
        stats["clip_range"] = float(clip_range)
        if self.clip_range_vf is not None:
            stats["clip_range_vf"] = float(clip_range_vf)
        if self.stop_scope == "policy":
            stats["value_steps_after_stop"] = float(value_steps_after_stop)
        stats.update({name: float(value) for name, value in self.after_update(float(clip_range)).items()})
        finite_statistics_or_raise(self.variant_name, self.n_policy_updates, stats, self.policy.named_parameters())

        for name, value in stats.items():
            self.logger.record(f"train/{name}", value)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.last_update_stats = stats

    def _gradient_step(self, loss: th.Tensor) -> None:
        """
        One optimizer step on ``loss``, its gradient's norm clipped to ``max_grad_norm``, as SB3 takes it.

        :param loss: the loss to minimise
        """
        # Optimization step
        self.policy.optimizer.zero_grad()
        loss.backward()
        # Clip grad norm
        th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()

    def _actions_for_policy(self, actions: th.Tensor) -> th.Tensor:
        # The rollout buffer stores discrete actions as floats
        return actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else actions
