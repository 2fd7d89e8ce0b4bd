"""
SB3's PPO update (``VariantPPO.train``) for K runs at once: the same epochs, minibatches, advantage normalisation,
value loss with ``clip_range_vf``, entropy, gradient-norm clipping and Adam, each per run, and the variant classes' own
hooks called on groups of runs (:mod:`sb3_ppo_variants.engine.group`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.utils import explained_variance

from sb3_ppo_variants.base import PolicyBatch, VariantPPO
from sb3_ppo_variants.engine.group import group_key, group_of
from sb3_ppo_variants.engine.policy import BatchedAdam, BatchedPolicy, clip_grad_norm_per_run
from sb3_ppo_variants.objectives import sample_mean


@dataclass
class Rollout:
    """
    The K runs' rollouts, flattened as SB3's ``RolloutBuffer.get`` does (sample i = env ``i // n_steps``, step
    ``i % n_steps``).

    :param observations: ``[K, N, obs_dim]`` float32
    :param actions: ``[K, N, action_dim]`` float32, or ``[K, N]`` int64 for discrete actions
    :param values: ``[K, N]`` the values recorded during the rollout
    :param log_probs: ``[K, N]`` log π_θold(a|s)
    :param advantages: ``[K, N]`` GAE advantages
    :param returns: ``[K, N]`` TD(λ) returns
    """

    observations: th.Tensor
    actions: th.Tensor
    values: th.Tensor
    log_probs: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor

    def take(self, index: th.Tensor) -> "Rollout":
        """
        :param index: ``[K, b]`` sample indices, one row per run
        :return: the minibatch
        """

        def gather(tensor: th.Tensor) -> th.Tensor:
            if tensor.dim() == 2:
                return tensor.gather(1, index)
            return tensor.gather(1, index.unsqueeze(-1).expand(-1, -1, tensor.shape[-1]))

        return Rollout(*(gather(getattr(self, name)) for name in self.__dataclass_fields__))


@dataclass
class Group:
    """
    Runs of one variant class and equal non-numeric settings, updated by their class's hooks at once.

    :param index: their positions in the batch
    :param hooks: the group object (:func:`sb3_ppo_variants.engine.group.group_of`)
    """

    index: th.Tensor
    hooks: VariantPPO
    needs_distributions: bool = field(init=False)

    def __post_init__(self) -> None:
        self.needs_distributions = bool(self.hooks.needs_distributions)


def per_run(values: list[Any], device: th.device) -> th.Tensor:
    """:return: ``[K, 1]`` float32 tensor of one number per run"""
    return th.tensor([float(value) for value in values], dtype=th.float32, device=device).unsqueeze(1)


class StatisticsPerRun:
    """
    Per-run sums of the minibatch statistics of one update, over the minibatches each run took part in.

    :param n_runs: K
    """

    def __init__(self, n_runs: int) -> None:
        self.n_runs = n_runs
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.last_loss = np.zeros(n_runs)
        self.approx_kl_sum = np.zeros(n_runs)
        self.approx_kl_count = np.zeros(n_runs)
        self.log_ratio_max = np.full(n_runs, -np.inf)
        self.log_ratio_min = np.full(n_runs, np.inf)
        self.log_ratio_abs_sum = np.zeros(n_runs)
        self.samples = np.zeros(n_runs)
        self.position = np.zeros((n_runs, 2), dtype=int)

    def add(self, active: np.ndarray, position: tuple[int, int], values: dict[str, np.ndarray], log_ratio: th.Tensor):
        """
        Record a minibatch for the active runs.

        :param active: ``[K]`` bool
        :param position: (epoch, minibatch), 0-based
        :param values: name -> ``[K]`` values, masked for the runs that do not have them (``loss`` and ``approx_kl``
            among them)
        :param log_ratio: ``[K, b]``
        """
        weight = active.astype(np.float64)
        for name, value in values.items():
            if name in ("loss", "approx_kl"):
                continue
            present = active & ~np.ma.getmaskarray(value)
            self.sums[name] = self.sums.get(name, 0.0) + np.where(present, np.ma.getdata(value), 0.0)
            self.counts[name] = self.counts.get(name, 0.0) + present
        self.last_loss = np.where(active, np.ma.getdata(values["loss"]), self.last_loss)
        self.approx_kl_sum += np.where(active, np.ma.getdata(values["approx_kl"]), 0.0)
        self.approx_kl_count += weight
        log_ratio = log_ratio.detach().double()
        self.log_ratio_max = np.where(
            active, np.maximum(self.log_ratio_max, log_ratio.max(dim=1).values.cpu().numpy()), self.log_ratio_max
        )
        self.log_ratio_min = np.where(
            active, np.minimum(self.log_ratio_min, log_ratio.min(dim=1).values.cpu().numpy()), self.log_ratio_min
        )
        self.log_ratio_abs_sum += np.where(active, log_ratio.abs().sum(dim=1).cpu().numpy(), 0.0)
        self.samples += weight * log_ratio.shape[1]
        self.position[active] = position

    def start_epoch(self, active: np.ndarray) -> None:
        """SB3 logs the mean ``approx_kl`` of each run's last epoch only."""
        self.approx_kl_sum = np.where(active, 0.0, self.approx_kl_sum)
        self.approx_kl_count = np.where(active, 0.0, self.approx_kl_count)

    def summary(self, run: int, stopped: bool) -> dict[str, float]:
        """
        The statistics of run ``run`` in SB3's order (see ``sb3_ppo_variants.base.UpdateStatistics.summary``).

        :param run: its position in the batch
        :param stopped: whether its update stopped early
        :return: name -> value (``explained_variance`` still missing)
        """
        means = {name: float(self.sums[name][run] / self.counts[name][run]) for name in self.sums if self.counts[name][run]}
        epoch, minibatch = self.position[run]
        stats = {
            "entropy_loss": means.pop("entropy_loss"),
            "policy_gradient_loss": means["policy_gradient_loss"],
            "value_loss": means.pop("value_loss"),
            "approx_kl": float(self.approx_kl_sum[run] / self.approx_kl_count[run]),
            "clip_fraction": 0.0,
            "loss": float(self.last_loss[run]),
            "explained_variance": float("nan"),
            "policy_objective": -means.pop("policy_gradient_loss"),
            "ratio_max": float(np.exp(self.log_ratio_max[run])),
            "ratio_min": float(np.exp(self.log_ratio_min[run])),
            "log_ratio_abs_mean": float(self.log_ratio_abs_sum[run] / self.samples[run]),
            "early_stop": float(stopped),
            "stop_epoch": float(epoch + 1),
            "stop_minibatch": float(minibatch + 1),
        }
        return {**stats, **means}


def _column(value: Any, n_runs: int) -> np.ndarray:
    """A hook's value (a bool, a number, a 0-d or ``[K, 1]`` tensor) as ``[K]`` float64."""
    if isinstance(value, th.Tensor):
        value = value.detach().double().cpu().numpy().reshape(-1)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n_runs,)).copy()


class Services:
    """
    The engine's versions of what a hook may call on the whole rollout (``rollout_batch``, pg's ``fit_value_function``),
    for the rows of one group; the current update sets ``rollout`` and ``old_output``.

    :param policy: the K policies
    """

    def __init__(self, policy: BatchedPolicy) -> None:
        self.policy = policy
        self.rollout: Rollout | None = None
        self.old_output: th.Tensor | None = None
        self.value_optimizer: BatchedAdam | None = None

    def for_rows(self, rows: th.Tensor, models: list[VariantPPO]) -> dict[str, Callable[..., Any]]:
        """
        :param rows: the group's positions in the batch
        :param models: the batch's K models
        :return: the services, to pass to :func:`sb3_ppo_variants.engine.group.group_of`
        """
        return {
            "rollout_batch": lambda clip_range: self.rollout_batch(rows, clip_range),
            "fit_value_function": lambda: self.fit_value_function(rows, models),
        }

    def rollout_batch(self, rows: th.Tensor, clip_range: th.Tensor) -> PolicyBatch:
        """``WholeRolloutPPO.rollout_batch`` for the runs ``rows``: their whole rollouts under the current policies."""
        rollout, policy = self.rollout, self.policy
        with th.no_grad():
            output = policy.action_output(rollout.observations).index_select(0, rows)
            distribution = policy.distribution(output, rows)
            actions = rollout.actions.index_select(0, rows)
            log_prob, _ = policy.log_prob_entropy(distribution, actions)
            old_log_prob = rollout.log_probs.index_select(0, rows)
            log_ratio = log_prob - old_log_prob
            advantages = rollout.advantages.index_select(0, rows)
            batch = PolicyBatch(advantages, actions, log_prob, old_log_prob, log_ratio, th.exp(log_ratio), clip_range)
            if self.old_output is not None:
                batch.distribution = distribution
                batch.old_distribution = policy.distribution(self.old_output.index_select(0, rows), rows)
        return batch

    def fit_value_function(self, rows: th.Tensor, models: list[VariantPPO]) -> th.Tensor:
        """pg's ``fit_value_function`` for the runs ``rows``: their value steps with their own Adam (SB3's settings)."""
        policy, rollout = self.policy, self.rollout
        parameters = policy.value_parameters()
        if self.value_optimizer is None:
            kwargs = models[0].policy.optimizer_kwargs
            self.value_optimizer = BatchedAdam(parameters, kwargs.get("betas", (0.9, 0.999)), kwargs.get("eps", 1e-8))
        members = set(rows.tolist())
        steps = [model.value_steps if run in members else 0 for run, model in enumerate(models)]
        learning_rates = [model.value_lr_schedule(model._current_progress_remaining) for model in models]
        max_grad_norm = th.tensor([float(model.max_grad_norm) for model in models], device=policy.device)
        for step in range(max(steps)):
            value_loss = sample_mean((rollout.returns - policy.values(rollout.observations)) ** 2)
            for param in policy.parameters():
                param.grad = None
            value_loss.sum().backward()
            clip_grad_norm_per_run(parameters, max_grad_norm)
            on = [step < n for n in steps]
            self.value_optimizer.step(parameters, learning_rates, [on] * len(parameters))
        return value_loss.detach().index_select(0, rows)


def update(
    policy: BatchedPolicy,
    optimizer: BatchedAdam,
    models: list[VariantPPO],
    groups: list[Group],
    rollout: Rollout,
    permutation: Callable[[int], th.Tensor],
    services: Services,
) -> list[dict[str, float]]:
    """
    One policy update of K runs: SB3's ``train()`` for each, batched.

    Each run's ``_current_progress_remaining`` must be set (as SB3's ``learn`` does) before the call; its
    ``_n_updates`` and ``n_policy_updates`` are advanced as SB3 advances them.

    :param policy: the K policies
    :param optimizer: their Adam
    :param models: the K runs' models (hyperparameters, schedules and the hooks' state)
    :param groups: the runs split by variant class and settings, covering every run once
    :param rollout: the K rollouts, with advantages and returns
    :param permutation: epoch -> ``[K, N]`` the order of the samples of each run in that epoch
    :param services: the groups' services, given this update's rollout
    :return: each run's statistics, as SB3's ``last_update_stats``
    """
    device = policy.device
    n_runs, n_samples = rollout.advantages.shape
    first = models[0]
    batch_size = first.batch_size or n_samples
    progress = [model._current_progress_remaining for model in models]
    clip_values = [float(model.clip_range(p)) for model, p in zip(models, progress, strict=False)]
    clip_range = per_run(clip_values, device)
    clip_range_vf, clip_vf_values = None, None
    if first.clip_range_vf is not None:
        clip_vf_values = [float(model.clip_range_vf(p)) for model, p in zip(models, progress, strict=False)]
        clip_range_vf = per_run(clip_vf_values, device)
    learning_rates = [model.lr_schedule(p) for model, p in zip(models, progress, strict=False)]
    max_grad_norm = th.tensor([float(model.max_grad_norm) for model in models], dtype=th.float32, device=device)
    for group in groups:
        group.hooks.refresh()
    with th.no_grad():
        old_output = policy.action_output(rollout.observations) if any(g.needs_distributions for g in groups) else None
    services.rollout, services.old_output = rollout, old_output
    parameters, value_mask = policy.parameters(), policy.value_mask()
    statistics = StatisticsPerRun(n_runs)
    # active: the runs taking full steps; value_only: the runs whose policy stopped with stop_scope = "policy"
    active, value_only = np.ones(n_runs, dtype=bool), np.zeros(n_runs, dtype=bool)
    stopped, value_steps = np.zeros(n_runs, dtype=bool), np.zeros(n_runs, dtype=int)
    policy_scope = np.array([model.stop_scope == "policy" for model in models])
    vf_coef = per_run([model.vf_coef for model in models], device)
    for epoch in range(first.n_epochs):
        statistics.start_epoch(active)
        for model, on in zip(models, active | value_only, strict=True):
            model._n_updates += int(on)
        order = permutation(epoch)
        for minibatch, start in enumerate(range(0, n_samples, batch_size)):
            index = order[:, start : start + batch_size]
            data = rollout.take(index)
            output = policy.action_output(data.observations)
            values = policy.values(data.observations)
            advantages = data.advantages
            if first.normalize_advantage and advantages.shape[1] > 1:
                advantages = (advantages - advantages.mean(dim=1, keepdim=True)) / (advantages.std(dim=1, keepdim=True) + 1e-8)
            if clip_range_vf is None:
                values_pred = values
            else:
                values_pred = data.values + th.clamp(values - data.values, -clip_range_vf, clip_range_vf)
            value_loss = sample_mean((data.returns - values_pred) ** 2)
            old_minibatch = None
            if old_output is not None:
                old_minibatch = old_output.gather(1, index.unsqueeze(-1).expand(-1, -1, old_output.shape[-1]))
            minibatch_data = (replace(data, advantages=advantages), output, old_minibatch, clip_range)
            losses, stop, columns, log_ratio = _objectives(policy, groups, minibatch_data, value_loss)
            columns["value_loss"] = _column(value_loss, n_runs)
            statistics.add(active, (epoch, minibatch), columns, log_ratio)
            stop &= active
            stopped |= stop
            value_only |= stop & policy_scope
            active &= ~stop
            if not (active | value_only).any():
                break
            # a run whose policy stopped steps its value function alone, on vf_coef * value_loss, as VariantPPO.train
            losses = th.where(th.as_tensor(value_only, device=device).unsqueeze(1), vf_coef * value_loss, losses)
            value_steps += value_only
            for param in parameters:
                param.grad = None
            losses.sum().backward()
            clip_grad_norm_per_run(parameters, max_grad_norm)
            masks = [(active | value_only).tolist() if is_value else active.tolist() for is_value in value_mask]
            optimizer.step(parameters, learning_rates, masks)
        if not (active | value_only).any():
            break
    results = []
    for run, model in enumerate(models):
        model.n_policy_updates += 1
        results.append(statistics.summary(run, bool(stopped[run])))
    steps_after_stop = {run: float(value_steps[run]) for run in np.flatnonzero(policy_scope)}
    _finish(policy, groups, rollout, (clip_values, clip_vf_values), clip_range, steps_after_stop, results)
    return results


def _objectives(
    policy: BatchedPolicy,
    groups: list[Group],
    minibatch: tuple[Rollout, th.Tensor, th.Tensor | None, th.Tensor],
    value_loss: th.Tensor,
) -> tuple[th.Tensor, np.ndarray, dict[str, np.ndarray], th.Tensor]:
    """
    Each group's hooks on its rows of a minibatch: ``policy_objective``, ``total_loss`` and ``early_stop``.

    Every group builds its distribution from its own rows of the action outputs, so that a run's computation graph,
    and hence its rounding, is the same whichever runs share its batch.

    :param minibatch: (the minibatch with normalised advantages, action outputs, old action outputs or None, clip ranges)
    :param value_loss: ``[K, 1]``
    :return: ``[K, 1]`` total losses, ``[K]`` stop flags, statistic name -> ``[K]`` values (masked for runs without
        it), and ``[K, b]`` log r
    """
    data, output, old_output, clip_range = minibatch
    n_runs = data.advantages.shape[0]
    losses = th.zeros(n_runs, 1, device=policy.device)
    log_ratios = th.zeros_like(data.advantages)
    stop = np.zeros(n_runs, dtype=bool)
    columns: dict[str, np.ndarray] = {}
    for group in groups:
        rows, rows_np = group.index, group.index.cpu().numpy()
        distribution = policy.distribution(output.index_select(0, rows), rows)
        actions = data.actions.index_select(0, rows)
        log_prob, entropy = policy.log_prob_entropy(distribution, actions)
        old_log_prob = data.log_probs.index_select(0, rows)
        log_ratio = log_prob - old_log_prob
        advantages = data.advantages.index_select(0, rows)
        batch = PolicyBatch(advantages, actions, log_prob, old_log_prob, log_ratio, th.exp(log_ratio), clip_range[rows])
        if group.needs_distributions:
            batch.distribution = distribution
            batch.old_distribution = policy.distribution(old_output.index_select(0, rows), rows)
        policy_loss, objective_stats = group.hooks.policy_objective(batch)
        entropy_loss = -sample_mean(entropy)
        loss = group.hooks.total_loss(policy_loss, entropy_loss, value_loss.index_select(0, rows)).reshape(-1, 1)
        losses = losses.index_put((rows,), loss)
        with th.no_grad():
            log_ratios[rows] = log_ratio.detach()
            approx_kl = sample_mean((th.exp(log_ratio) - 1) - log_ratio)
        stop[rows_np] = _column(group.hooks.early_stop(batch, approx_kl), len(rows_np)) > 0
        values = {"policy_gradient_loss": policy_loss, **objective_stats, "entropy_loss": entropy_loss}
        for name, value in {**values, "loss": loss, "approx_kl": approx_kl}.items():
            column = columns.setdefault(name, np.ma.masked_all(n_runs))
            column[rows_np] = _column(value, len(rows_np))
    return losses, stop, columns, log_ratios


def _finish(
    policy: BatchedPolicy,
    groups: list[Group],
    rollout: Rollout,
    clip_values: tuple[list[float], list[float] | None],
    clip_range: th.Tensor,
    steps_after_stop: dict[int, float],
    results: list[dict[str, float]],
) -> None:
    """
    The update-level statistics, in SB3's order, then each group's ``after_update``; ``steps_after_stop`` holds the
    value-only steps of the runs with ``stop_scope = "policy"``.
    """
    values = rollout.values.cpu().numpy()
    returns = rollout.returns.cpu().numpy()
    std = th.exp(policy.log_std).mean(dim=1).tolist() if policy.log_std is not None else None
    for run, stats in enumerate(results):
        stats["explained_variance"] = float(explained_variance(values[run], returns[run]))
        if std is not None:
            stats["std"] = std[run]
        stats["clip_range"] = clip_values[0][run]
        if clip_values[1] is not None:
            stats["clip_range_vf"] = clip_values[1][run]
        if run in steps_after_stop:
            stats["value_steps_after_stop"] = steps_after_stop[run]
    for group in groups:
        group.hooks.refresh()
        added = group.hooks.after_update(clip_range.index_select(0, group.index))
        rows = group.index.tolist()
        for name, value in added.items():
            column = _column(value, len(rows))
            for position, run in enumerate(rows):
                results[run][name] = float(column[position])


def make_groups(models: list[VariantPPO], services: Services, device: th.device) -> list[Group]:
    """
    Split a batch's runs into groups by :func:`~sb3_ppo_variants.engine.group.group_key`.

    :param models: the K runs' models
    :param services: the batch's services
    :param device: the engine's device
    :return: the groups, covering every run once
    """
    by_key: dict[tuple, list[int]] = {}
    for run, model in enumerate(models):
        by_key.setdefault(group_key(model), []).append(run)
    groups = []
    for rows in by_key.values():
        index = th.tensor(rows, device=device)
        hooks = group_of([models[row] for row in rows], services.for_rows(index, models), device)
        groups.append(Group(index, hooks))
    return groups
