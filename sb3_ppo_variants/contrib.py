"""
The PPO objective family on sb3-contrib's ``MaskablePPO`` (invalid action masking) and ``RecurrentPPO`` (LSTM policies).

Each objective of :data:`sb3_ppo_variants.VARIANTS` exists on both bases, e.g. ``MaskableLogClipPPO`` and
``RecurrentLogClipPPO``, registered as ``"logclip-maskable"`` and ``"logclip-recurrent"``; ask for them with
``get_variant("logclip", base="maskable")``. A class is the objective's class over the base's:
``class MaskableLogClipPPO(LogClipPPO, MaskableVariantPPO)``, so the objective's code is written once, and the shared
train loop of :class:`~sb3_ppo_variants.base.VariantPPO` runs with the base's one difference, how a minibatch is
evaluated (:meth:`~sb3_ppo_variants.base.VariantPPO._evaluate_minibatch`): with the rollout's action masks, or with
the LSTM states of the rollout's sequences. Everything else (``__init__``, ``_setup_model``, ``collect_rollouts``,
``predict``, ``learn``, the policies) is the sb3-contrib class's. A new objective is the same one method as on PPO:
subclass :class:`MaskableVariantPPO` or :class:`RecurrentVariantPPO` and implement ``policy_objective``.

``RecurrentPPO`` pads the sequences of a minibatch and averages every loss over the unpadded samples
(``mask = rollout_data.mask > 1e-8``). Here the padded samples are removed once, when the minibatch is evaluated:
the :class:`~sb3_ppo_variants.base.PolicyBatch` an objective receives holds only real samples, its distributions
included, so every mean an objective or a statistic takes (``batch.mean``, ``.mean()``, the functions of
:mod:`sb3_ppo_variants.objectives`) is RecurrentPPO's masked mean, and no objective can forget the mask.

With ``clip``, the parameters after ``learn()`` are bit-identical to ``sb3_contrib.MaskablePPO`` and
``sb3_contrib.RecurrentPPO`` with the same seed and settings. The classes are subclasses of the sb3-contrib class and
of the objective's PPO class (and so of ``stable_baselines3.PPO``, whose methods are all replaced by the base's).
"""

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.distributions import Distribution, MultiCategoricalDistribution
from stable_baselines3.common.type_aliases import GymEnv
from torch.distributions import Bernoulli, Categorical, Normal
from torch.nn import functional as F

from sb3_ppo_variants.base import Minibatch, PolicyBatch, VariantPPO
from sb3_ppo_variants.objectives import Constant
from sb3_ppo_variants.validation import check_choice
from sb3_ppo_variants.variants import VARIANTS
from sb3_ppo_variants.whole_rollout import WholeRolloutPPO

try:
    from sb3_contrib import MaskablePPO, RecurrentPPO
    from sb3_contrib.common.maskable.evaluation import evaluate_policy as maskable_evaluate_policy
except ModuleNotFoundError as error:
    if error.name is None or not error.name.startswith("sb3_contrib"):
        raise
    raise ModuleNotFoundError(
        "the maskable and recurrent bases need sb3-contrib: pip install torch==2.13.0 'sb3-ppo-variants[contrib]'",
        name=error.name,
    ) from error

SelfContribVariantPPO = TypeVar("SelfContribVariantPPO", bound="ContribVariantPPO")


class ContribVariantPPO(VariantPPO):
    """
    What both sb3-contrib bases share: their own ``learn``, and which samples of a minibatch are the rollout's.
    """

    def learn(self: SelfContribVariantPPO, *args: Any, **kwargs: Any) -> SelfContribVariantPPO:
        """
        The base's ``learn`` (its arguments: MaskablePPO's take ``use_masking``), a policy whose outputs are not finite
        raising ``DivergenceError``.
        """
        return self._learn_or_diverge(functools.partial(self.base_algorithm.learn, self), *args, **kwargs)

    def _valid_samples(self, rollout_data: Any) -> th.Tensor | slice:
        """
        The samples of a minibatch that are the rollout's (not padding), as an index.

        :param rollout_data: the buffer's minibatch
        :return: a boolean mask, or ``slice(None)`` for all
        """
        return slice(None)


class ContribWholeRolloutPPO(WholeRolloutPPO):
    """
    :class:`~sb3_ppo_variants.whole_rollout.WholeRolloutPPO` on an sb3-contrib base: the whole rollout is one minibatch
    of the base's buffer, so that its action masks or LSTM sequences apply. :func:`on_base` puts it first in the
    bases of an objective that needs the whole rollout.
    """

    def _whole_rollout(self) -> Any:
        """
        The rollout as one minibatch of the buffer (its masks or padded sequences), numpy's random stream untouched so
        that the update's minibatch order stays the base's.

        :return: the buffer's minibatch
        """
        state = np.random.get_state()
        try:
            return next(iter(self.rollout_buffer.get(None)))
        finally:
            np.random.set_state(state)

    def rollout_batch(self, clip_range: Constant) -> PolicyBatch:
        rollout_data = self._whole_rollout()
        self.policy.set_training_mode(False)
        with th.no_grad():
            sample = self._evaluate_minibatch(rollout_data)
            return self._policy_batch(
                sample.actions,
                sample.log_prob,
                sample.old_log_prob,
                sample.advantages,
                clip_range,
                sample.distribution,
                sample.old_distribution,
            )

    def _rollout_value_loss(self) -> Callable[[], th.Tensor]:
        rollout_data = self._whole_rollout()
        inputs = self._policy_inputs(rollout_data)
        valid = self._valid_samples(rollout_data)
        returns = rollout_data.returns[valid]
        return lambda: F.mse_loss(returns, self._predict_values(rollout_data.observations, inputs).flatten()[valid])


class MaskableVariantPPO(ContribVariantPPO, MaskablePPO):
    """
    :class:`~sb3_ppo_variants.base.VariantPPO` on sb3-contrib's ``MaskablePPO``: the same hooks, the policy evaluated
    with the rollout's action masks. Takes the arguments of ``sb3_contrib.MaskablePPO`` (and ``stop_scope``);
    ``learn`` takes ``use_masking``, ``predict`` takes ``action_masks``, as MaskablePPO's.
    """

    variant_name = "ppo-maskable"
    base_algorithm = MaskablePPO
    policy_aliases = MaskablePPO.policy_aliases
    evaluate_policy = staticmethod(maskable_evaluate_policy)

    def _policy_inputs(self, rollout_data: Any) -> dict[str, Any]:
        return {"action_masks": rollout_data.action_masks}


class RecurrentVariantPPO(ContribVariantPPO, RecurrentPPO):
    """
    :class:`~sb3_ppo_variants.base.VariantPPO` on sb3-contrib's ``RecurrentPPO``: the same hooks, the LSTM policy
    evaluated on the minibatch's sequences from their stored states, and the padding removed before anything is
    averaged. Takes the arguments of ``sb3_contrib.RecurrentPPO`` (and ``stop_scope``), with its defaults
    ``n_steps=128`` and ``batch_size=128``.
    """

    variant_name = "ppo-recurrent"
    base_algorithm = RecurrentPPO
    policy_aliases = RecurrentPPO.policy_aliases

    def __init__(self, policy: Any, env: GymEnv | str | None, n_steps: int = 128, batch_size: int | None = 128, **kwargs: Any):
        super().__init__(policy, env, n_steps=n_steps, batch_size=batch_size, **kwargs)

    def _policy_inputs(self, rollout_data: Any) -> dict[str, Any]:
        return {"lstm_states": rollout_data.lstm_states, "episode_starts": rollout_data.episode_starts}

    def _distribution(self, policy: Any, observations: Any, inputs: dict[str, Any]) -> Distribution:
        return policy.get_distribution(observations, inputs["lstm_states"].pi, inputs["episode_starts"])[0]

    def _predict_values(self, observations: Any, inputs: dict[str, Any]) -> th.Tensor:
        return self.policy.predict_values(observations, inputs["lstm_states"].vf, inputs["episode_starts"])

    def _valid_samples(self, rollout_data: Any) -> th.Tensor:
        # as RecurrentPPO.train
        return rollout_data.mask > 1e-8

    def _evaluate_minibatch(self, rollout_data: Any) -> Minibatch:
        sample = super()._evaluate_minibatch(rollout_data)
        valid = self._valid_samples(rollout_data)
        return Minibatch(**{field.name: select(getattr(sample, field.name), valid) for field in dataclasses.fields(sample)})

    def _non_finite_action_distribution(self) -> str | None:
        # it needs the LSTM's states: the parameters alone tell
        return None


def select(value: Any, valid: th.Tensor) -> Any:
    """
    The valid samples (rows) of a per-sample tensor or of an action distribution; None stays None.

    :param value: a ``[B, ...]`` tensor, an SB3 ``Distribution`` over B samples, or None
    :param valid: ``[B]`` booleans
    :return: the same kind of value over the valid samples
    """
    if value is None:
        return None
    if isinstance(value, th.Tensor):
        return value[valid]
    selected = copy.copy(value)
    if isinstance(value, MultiCategoricalDistribution):
        selected.distribution = [_select_torch(part, valid) for part in value.distribution]
    else:
        selected.distribution = _select_torch(value.distribution, valid)
    return selected


def _select_torch(distribution: th.distributions.Distribution, valid: th.Tensor) -> th.distributions.Distribution:
    if isinstance(distribution, Normal):
        return Normal(distribution.loc[valid], distribution.scale[valid])
    if isinstance(distribution, Categorical | Bernoulli):
        return type(distribution)(logits=distribution.logits[valid])
    raise TypeError(f"cannot select the samples of a {type(distribution).__name__} distribution")


BASE_CLASSES: dict[str, type[ContribVariantPPO]] = {"maskable": MaskableVariantPPO, "recurrent": RecurrentVariantPPO}


def on_base(objective: type[VariantPPO], base: str) -> type[VariantPPO]:
    """
    The class of an objective on an sb3-contrib base: ``class <Base><Objective>(objective, <Base>VariantPPO)``, with
    :class:`ContribWholeRolloutPPO` first when the objective is a
    :class:`~sb3_ppo_variants.whole_rollout.WholeRolloutPPO`.

    :param objective: a subclass of :class:`~sb3_ppo_variants.base.VariantPPO` (e.g. ``LogClipPPO``, or your own)
    :param base: ``"maskable"`` or ``"recurrent"``
    :return: the class, registered as ``"<variant_name>-<base>"``
    """
    check_choice("base", base, tuple(BASE_CLASSES))
    base_class = BASE_CLASSES[base]
    name = f"{base.capitalize()}{objective.__name__}"
    doc = f":class:`~{objective.__module__}.{objective.__qualname__}` on :class:`{base_class.__name__}`."
    namespace = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": doc,
        "variant_name": f"{objective.variant_name}-{base}",
    }
    bases = (objective, base_class)
    if issubclass(objective, WholeRolloutPPO):
        bases = (ContribWholeRolloutPPO, *bases)
    return type(name, bases, namespace)


CONTRIB_VARIANTS: dict[str, type[VariantPPO]] = {
    f"{name}-{base}": on_base(cls, base) for base in BASE_CLASSES for name, cls in VARIANTS.items()
}
globals().update({cls.__name__: cls for cls in CONTRIB_VARIANTS.values()})
