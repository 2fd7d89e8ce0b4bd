"""
K of SB3's ``MlpPolicy`` stacked into one: each weight gets a leading run dimension, so one batched matrix product
evaluates K policies, and one Adam over the stacked parameters (per-run learning rates, steps and masks) trains them.
"""

import functools
import math
from dataclasses import dataclass

import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn


def unsupported_policy(policy: ActorCriticPolicy) -> str | None:
    """
    Why the engine cannot stack this SB3 policy, or None when it can.

    :param policy: an SB3 policy
    :return: the reason, naming the feature
    """
    if type(policy) is not ActorCriticPolicy:
        return f"policy class {type(policy).__name__} (the engine runs SB3's MlpPolicy)"
    if not isinstance(policy.observation_space, spaces.Box) or len(policy.observation_space.shape) != 1:
        return f"observation space {policy.observation_space} (the engine runs vector Box observations)"
    if not isinstance(policy.features_extractor, FlattenExtractor):
        return f"features extractor {type(policy.features_extractor).__name__}"
    if policy.use_sde:
        return "gSDE (use_sde=True)"
    if policy.squash_output:
        return "squashed actions (squash_output=True)"
    if not isinstance(policy.action_dist, DiagGaussianDistribution | CategoricalDistribution):
        return f"action space {policy.action_space} (the engine runs Box and Discrete actions)"
    if type(policy.action_dist) not in (DiagGaussianDistribution, CategoricalDistribution):
        return f"action distribution {type(policy.action_dist).__name__}"
    layers = [*policy.mlp_extractor.policy_net, *policy.mlp_extractor.value_net]
    if any(not isinstance(layer, nn.Linear | policy.activation_fn) for layer in layers):
        return "layers other than Linear and the activation function in the MLP"
    if policy.optimizer_class is not th.optim.Adam:
        return f"optimizer {policy.optimizer_class.__name__} (the engine runs Adam)"
    unknown = set(policy.optimizer_kwargs) - {"eps", "betas"}
    if unknown:
        return f"optimizer_kwargs {sorted(unknown)} (the engine's Adam takes eps and betas)"
    return None


@dataclass
class StackedLinear:
    """
    K linear layers: ``weight`` ``[K, out, in]`` (torch's layout), ``bias`` ``[K, out]``.

    :param weight: the stacked weights
    :param bias: the stacked biases
    """

    weight: th.Tensor
    bias: th.Tensor

    def __call__(self, inputs: th.Tensor) -> th.Tensor:
        """
        :param inputs: ``[K, M, in]``
        :return: ``[K, M, out]``
        """
        if self.weight.shape[1] > 1:
            return th.baddbmm(self.bias.unsqueeze(1), inputs, self.weight.transpose(1, 2))
        # A single output takes another kernel whose result depends on K; as two outputs, a run's value does not
        weight, bias = self.weight.expand(-1, 2, -1), self.bias.expand(-1, 2)
        return th.baddbmm(bias.unsqueeze(1), inputs, weight.transpose(1, 2))[..., :1]


class BatchedPolicy:
    """
    K SB3 ``MlpPolicy`` networks (separate policy and value MLPs, SB3's action distribution) as stacked tensors.

    :param policies: the K policies (same architecture); their current parameters are copied
    :param device: where the stacked tensors live
    """

    def __init__(self, policies: list[ActorCriticPolicy], device: th.device | str = "cpu") -> None:
        first = policies[0]
        self.discrete = isinstance(first.action_dist, CategoricalDistribution)
        self.activation = first.activation_fn()
        self.device = th.device(device)

        def stack(modules: list[nn.Linear]) -> StackedLinear:
            weight = th.stack([module.weight.detach() for module in modules]).to(self.device)
            bias = th.stack([module.bias.detach() for module in modules]).to(self.device)
            return StackedLinear(weight.clone().requires_grad_(True), bias.clone().requires_grad_(True))

        def linears(policy: ActorCriticPolicy, net: nn.Module) -> list[nn.Linear]:
            return [module for module in net if isinstance(module, nn.Linear)]

        n_pi = len(linears(first, first.mlp_extractor.policy_net))
        n_vf = len(linears(first, first.mlp_extractor.value_net))
        self.pi_layers = [stack([linears(p, p.mlp_extractor.policy_net)[i] for p in policies]) for i in range(n_pi)]
        self.vf_layers = [stack([linears(p, p.mlp_extractor.value_net)[i] for p in policies]) for i in range(n_vf)]
        self.action_layer = stack([p.action_net for p in policies])
        self.value_layer = stack([p.value_net for p in policies])
        self.log_std = None
        if not self.discrete:
            log_std = th.stack([p.log_std.detach() for p in policies]).to(self.device)
            self.log_std = log_std.clone().requires_grad_(True)

    @property
    def n_runs(self) -> int:
        """K, the number of stacked policies."""
        return self.action_layer.weight.shape[0]

    def named_parameters(self) -> list[tuple[str, th.Tensor]]:
        """
        The stacked parameters, named as in SB3's policy (each with a leading run dimension).

        :return: (name, tensor) pairs, in SB3's ``policy.parameters()`` order
        """
        named = []
        for prefix, layers in (("mlp_extractor.policy_net", self.pi_layers), ("mlp_extractor.value_net", self.vf_layers)):
            for i, layer in enumerate(layers):
                named += [(f"{prefix}.{2 * i}.weight", layer.weight), (f"{prefix}.{2 * i}.bias", layer.bias)]
        if self.log_std is not None:
            named.insert(0, ("log_std", self.log_std))
        named += [("action_net.weight", self.action_layer.weight), ("action_net.bias", self.action_layer.bias)]
        named += [("value_net.weight", self.value_layer.weight), ("value_net.bias", self.value_layer.bias)]
        return named

    def parameters(self) -> list[th.Tensor]:
        """:return: the stacked parameters"""
        return [param for _, param in self.named_parameters()]

    def value_mask(self) -> list[bool]:
        """:return: per parameter (in :meth:`parameters` order), whether only the value function uses it"""
        value = {id(param) for param in self.value_parameters()}
        return [id(param) in value for param in self.parameters()]

    def value_parameters(self) -> list[th.Tensor]:
        """:return: the stacked parameters only the value function uses (pg's ``value_steps`` fit them)"""
        return [tensor for layer in [*self.vf_layers, self.value_layer] for tensor in (layer.weight, layer.bias)]

    def _mlp(self, layers: list[StackedLinear], features: th.Tensor) -> th.Tensor:
        for layer in layers:
            features = self.activation(layer(features))
        return features

    def action_output(self, observations: th.Tensor) -> th.Tensor:
        """
        The action distribution's parameters: the Gaussian's mean or the categorical's logits.

        :param observations: ``[K, M, obs_dim]`` float32
        :return: ``[K, M, action_dim]`` (``[K, M, n]`` logits)
        """
        return self.action_layer(self._mlp(self.pi_layers, observations))

    def values(self, observations: th.Tensor) -> th.Tensor:
        """
        :param observations: ``[K, M, obs_dim]``
        :return: ``[K, M]`` value estimates
        """
        return self.value_layer(self._mlp(self.vf_layers, observations)).squeeze(-1)

    def distribution(self, action_output: th.Tensor, runs: th.Tensor | None = None) -> Distribution:
        """
        SB3's action distribution object over K runs (its ``distribution`` attribute holds the batched torch one).

        :param action_output: from :meth:`action_output`
        :param runs: the runs ``action_output`` holds, when not all K
        :return: a ``DiagGaussianDistribution`` or ``CategoricalDistribution``
        """
        if self.discrete:
            return CategoricalDistribution(action_output.shape[-1]).proba_distribution(action_output)
        log_std = self.log_std if runs is None else self.log_std.index_select(0, runs)
        return DiagGaussianDistribution(action_output.shape[-1]).proba_distribution(action_output, log_std.unsqueeze(1))

    def log_prob_entropy(self, distribution: Distribution, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        log π(a|s) and the entropy, summed over action dimensions as SB3 does (its own methods sum over dimension 1).

        :param distribution: from :meth:`distribution`
        :param actions: ``[K, M, action_dim]`` float, or ``[K, M]`` integer actions
        :return: ``([K, M], [K, M])``
        """
        if self.discrete:
            return distribution.distribution.log_prob(actions), distribution.distribution.entropy()
        return distribution.distribution.log_prob(actions).sum(dim=-1), distribution.distribution.entropy().sum(dim=-1)

    def log_prob(self, action_output: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """
        log π(a|s) alone, as :meth:`log_prob_entropy` computes it (torch's operations, in its order) without building
        distribution objects: the rollout's per-step call.

        :param action_output: ``[K, M, ...]`` from :meth:`action_output`
        :param actions: ``[K, M, action_dim]`` float, or ``[K, M]`` integer actions
        :return: ``[K, M]``
        """
        if self.discrete:
            log_pmf = action_output - action_output.logsumexp(dim=-1, keepdim=True)
            return log_pmf.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        scale = th.ones_like(action_output) * self.log_std.exp().unsqueeze(1)
        log_prob = -((actions - action_output) ** 2) / (2 * scale**2) - scale.log() - math.log(math.sqrt(2 * math.pi))
        return log_prob.sum(dim=-1)

    def sample(self, action_output: th.Tensor, noise: th.Tensor) -> th.Tensor:
        """
        Actions drawn with the runs' own noise: the Gaussian's mean + std * noise, or the categorical by inverse CDF.

        :param action_output: ``[K, M, ...]`` from :meth:`action_output`
        :param noise: standard normal ``[K, M, action_dim]`` (Gaussian) or uniform ``[K, M]`` on [0, 1) (categorical)
        :return: ``[K, M, action_dim]`` float actions or ``[K, M]`` integer actions
        """
        if self.discrete:
            cdf = th.softmax(action_output, dim=-1).cumsum(dim=-1)
            return (noise.unsqueeze(-1) >= cdf).sum(dim=-1).clamp(max=action_output.shape[-1] - 1)
        return action_output + th.exp(self.log_std).unsqueeze(1) * noise

    def mode(self, action_output: th.Tensor) -> th.Tensor:
        """
        Deterministic actions, as SB3's ``predict(deterministic=True)``: the mean, or the most probable action.

        :param action_output: from :meth:`action_output`
        :return: actions
        """
        if self.discrete:
            return th.argmax(th.softmax(action_output, dim=-1), dim=-1)
        return action_output

    def select(self, keep: th.Tensor) -> None:
        """
        Keep only some runs (the others left the batch), in place.

        :param keep: indices of the runs to keep
        """
        for layer in [*self.pi_layers, *self.vf_layers, self.action_layer, self.value_layer]:
            layer.weight = layer.weight.detach()[keep].requires_grad_(True)
            layer.bias = layer.bias.detach()[keep].requires_grad_(True)
        if self.log_std is not None:
            self.log_std = self.log_std.detach()[keep].requires_grad_(True)

    def copy_to(self, index: int, policy: ActorCriticPolicy) -> None:
        """
        Write run ``index``'s parameters into an SB3 policy of the same architecture.

        :param index: the run's position in the batch
        :param policy: the SB3 policy
        """
        state = {name: param.detach()[index].clone() for name, param in self.named_parameters()}
        policy.load_state_dict(state, strict=False)


class BatchedAdam:
    """
    Adam over stacked parameters: one independent Adam per run (torch's update, operation for operation), with a
    learning rate per run and a mask of the runs that step; a run that does not step keeps its moments and step count,
    which are kept per parameter, as torch keeps them (a parameter that gets no gradient does not step).

    :param parameters: the stacked parameters (leading run dimension K)
    :param betas: Adam's (β1, β2)
    :param eps: Adam's ε
    """

    def __init__(self, parameters: list[th.Tensor], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.betas = betas
        self.eps = eps
        self.exp_avg = [th.zeros_like(param) for param in parameters]
        self.exp_avg_sq = [th.zeros_like(param) for param in parameters]
        self.steps = [[0] * param.shape[0] for param in parameters]

    def step(self, parameters: list[th.Tensor], learning_rates: list[float], active: list[list[bool]]) -> None:
        """
        One Adam step of the active runs, from the parameters' ``grad``.

        :param parameters: the same stacked parameters as at construction (possibly re-created by ``select``)
        :param learning_rates: one per run
        :param active: per parameter, one flag per run: whether that run's parameter steps
        """
        # the parameters that step, grouped by their runs' flags and step counts (usually one group): one set of
        # foreach operations per group, each the operation torch's Adam applies to every parameter
        groups: dict[tuple[tuple[bool, ...], tuple[int, ...]], list[int]] = {}
        for index, (param, on) in enumerate(zip(parameters, active, strict=True)):
            if param.grad is None or not any(on):  # as torch's Adam: a parameter without a gradient is left alone
                continue
            self.steps[index] = [step + bool(flag) for step, flag in zip(self.steps[index], on, strict=True)]
            groups.setdefault((tuple(on), tuple(self.steps[index])), []).append(index)
        with th.no_grad():
            for (on, steps), indices in groups.items():
                self._step_group([parameters[i] for i in indices], indices, learning_rates, on, steps)

    def _step_group(
        self,
        parameters: list[th.Tensor],
        indices: list[int],
        learning_rates: list[float],
        on: tuple[bool, ...],
        steps: tuple[int, ...],
    ) -> None:
        beta1, beta2 = self.betas
        first = parameters[0]
        # as torch's Adam: bias corrections in double precision from the step count
        step_size = [-lr / (1 - beta1**step) if step else 0.0 for lr, step in zip(learning_rates, steps, strict=True)]
        correction = [math.sqrt(1 - beta2**step) if step else 1.0 for step in steps]
        size = th.tensor(step_size, dtype=first.dtype, device=first.device)
        bias = th.tensor(correction, dtype=first.dtype, device=first.device)

        def per_run(values: th.Tensor, param: th.Tensor) -> th.Tensor:
            return values.view((-1,) + (1,) * (param.dim() - 1)).expand_as(param)

        grads = [param.grad for param in parameters]
        exp_avg = [self.exp_avg[i] for i in indices]
        exp_avg_sq = [self.exp_avg_sq[i] for i in indices]
        # the runs that do not step get their moments and parameters back afterwards
        kept = None if all(on) else [tensor.clone() for tensor in [*exp_avg, *exp_avg_sq, *parameters]]
        # in place, torch's single-tensor Adam operation for operation
        th._foreach_lerp_(exp_avg, grads, 1 - beta1)
        th._foreach_mul_(exp_avg_sq, beta2)
        th._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2)
        denominator = th._foreach_sqrt(exp_avg_sq)
        th._foreach_div_(denominator, [per_run(bias, param) for param in parameters])
        th._foreach_add_(denominator, self.eps)
        update = th._foreach_mul([per_run(size, param) for param in parameters], exp_avg)
        th._foreach_div_(update, denominator)
        th._foreach_add_(parameters, update)
        if kept is not None:
            mask = th.tensor(on, device=first.device)
            for tensor, old in zip([*exp_avg, *exp_avg_sq, *parameters], kept, strict=True):
                tensor.copy_(th.where(per_run(mask, tensor), tensor, old))

    def select(self, keep: th.Tensor) -> None:
        """
        Keep only some runs' state, as :meth:`BatchedPolicy.select`.

        :param keep: indices of the runs to keep
        """
        rows = keep.tolist()
        self.exp_avg = [state[keep] for state in self.exp_avg]
        self.exp_avg_sq = [state[keep] for state in self.exp_avg_sq]
        self.steps = [[steps[i] for i in rows] for steps in self.steps]


def clip_grad_norm_per_run(parameters: list[th.Tensor], max_norm: th.Tensor) -> th.Tensor:
    """
    ``torch.nn.utils.clip_grad_norm_`` for each run on its own: each run's gradients scaled by
    ``min(1, max_norm / (norm + 1e-6))`` with its own total norm.

    :param parameters: stacked parameters with ``grad``
    :param max_norm: ``[K]`` the runs' ``max_grad_norm``
    :return: ``[K]`` the total gradient norm of each run before clipping
    """
    parameters = [param for param in parameters if param.grad is not None]
    # the parameters' squared norms summed one by one: a reduction over a short dimension of [K, P] would take a
    # strategy that depends on K
    squares = [param.grad.flatten(1).norm(dim=1) ** 2 for param in parameters]
    norms = functools.reduce(th.add, squares).sqrt()
    coefficient = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    with th.no_grad():
        for param in parameters:
            param.grad.mul_(coefficient.view((-1,) + (1,) * (param.dim() - 1)))
    return norms
