"""
``WholeRolloutPPO``: the whole rollout under the current policy, for objectives whose hooks look at all of it after the
epochs (the KL variants' adaptive β, pg's value steps). The batched engine provides its own ``rollout_batch``.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from torch.nn import functional as F

from sb3_ppo_variants.base import PolicyBatch, VariantPPO
from sb3_ppo_variants.objectives import Constant


class WholeRolloutPPO(VariantPPO):
    """
    A :class:`~sb3_ppo_variants.base.VariantPPO` whose hooks may evaluate the whole rollout under the current policy
    (:meth:`rollout_batch`). Subclass it instead of ``VariantPPO`` when an ``after_update`` needs the rollout; on an
    sb3-contrib base (:func:`sb3_ppo_variants.contrib.on_base`) the rollout is one minibatch of the base's buffer.
    """

    def rollout_batch(self, clip_range: Constant) -> PolicyBatch:
        """
        The whole rollout as one batch under the current policy, without gradient, the policy in evaluation mode.

        :param clip_range: the update's ``clip_range`` value
        :return: the batch (advantages as stored, not normalised)
        """
        buffer = self.rollout_buffer
        observations, actions = self._rollout_tensors()
        self.policy.set_training_mode(False)
        with th.no_grad():
            _, log_prob, _, distribution = self._evaluate_actions(observations, actions, {})
            old_log_prob = buffer.to_torch(buffer.log_probs).flatten()
            advantages = buffer.to_torch(buffer.advantages).flatten()
            old_distribution = self._old_distribution(observations, {})
            return self._policy_batch(actions, log_prob, old_log_prob, advantages, clip_range, distribution, old_distribution)

    def _rollout_value_loss(self) -> Callable[[], th.Tensor]:
        """
        A function giving the value loss on the whole rollout under the current value function (pg's value steps).

        Call after the update's first ``rollout_buffer.get``.

        :return: the function, differentiable in the value function's parameters
        """
        buffer = self.rollout_buffer
        observations, _ = self._rollout_tensors()
        returns = buffer.to_torch(buffer.returns).flatten()
        return lambda: F.mse_loss(returns, self.policy.predict_values(observations).flatten())

    def _rollout_tensors(self) -> tuple[Any, th.Tensor]:
        """
        The whole rollout's observations and actions, in storage order, from the buffer's public arrays.

        Call after the update's first ``rollout_buffer.get``, which flattens the arrays to one sample per row.

        :return: (observations, actions in the form the policy evaluates them)
        """
        buffer = self.rollout_buffer
        if isinstance(buffer.observations, dict):
            observations = {key: buffer.to_torch(value) for key, value in buffer.observations.items()}
        else:
            observations = buffer.to_torch(buffer.observations)
        # as RolloutBuffer's samples: actions are stored in the action space's dtype and sampled as float32
        return observations, self._actions_for_policy(buffer.to_torch(buffer.actions.astype(np.float32, copy=False)))
