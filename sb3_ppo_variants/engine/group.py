"""
``RunGroup``: K models of one variant class seen as one, so that the class's own hooks (``policy_objective``,
``early_stop``, ``total_loss``, ``after_update``) run on K runs at once.

A hook reads its constants from ``self``. On a group, ``self`` is an instance of the variant class whose attributes are
gathered from the K models: numbers become a ``[K, 1]`` tensor of one value per run, schedules a callable giving that
tensor at each run's own progress, and anything else (None, strings, flags) must be the same for every run. Assigning
an attribute (the KL variants' ``kl_beta``) writes each run's value back to its model. The whole-rollout services a hook
may call (``rollout_batch``, pg's ``fit_value_function``) are the engine's.
"""

from collections.abc import Callable
from typing import Any

import torch as th

from sb3_ppo_variants.base import VariantPPO
from sb3_ppo_variants.validation import is_number

_OWN = ("_models", "_device", "_cache", "_services")


class PerRunSchedule:
    """
    The schedules of K runs as one: called with any progress, it returns each schedule at its own run's progress.

    :param models: the runs' models (their ``_current_progress_remaining``)
    :param schedules: one schedule per run
    :param device: device of the result
    """

    def __init__(self, models: list[VariantPPO], schedules: list[Callable[[float], float]], device: th.device) -> None:
        self.models = models
        self.schedules = schedules
        self.device = device

    def __call__(self, progress_remaining: Any) -> th.Tensor:
        """
        :param progress_remaining: ignored: each run's own progress is used
        :return: ``[K, 1]`` values
        """
        values = [
            schedule(model._current_progress_remaining) for schedule, model in zip(self.schedules, self.models, strict=False)
        ]
        return th.tensor(values, dtype=th.float32, device=self.device).unsqueeze(1)


class RunGroup:
    """
    The base of the group classes made by :func:`group_of`; not used directly.
    """

    def __getattribute__(self, name: str) -> Any:
        if name in _OWN or name.startswith("__"):
            return object.__getattribute__(self, name)
        services = object.__getattribute__(self, "_services")
        if name in services:
            return services[name]
        models = object.__getattribute__(self, "_models")
        if name in vars(models[0]):
            cache = object.__getattribute__(self, "_cache")
            if name not in cache:
                cache[name] = _gather(name, models, object.__getattribute__(self, "_device"))
            return cache[name]
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        models = object.__getattribute__(self, "_models")
        object.__getattribute__(self, "_cache").pop(name, None)
        if isinstance(value, th.Tensor) and value.dim() > 0:
            for model, item in zip(models, value.detach().flatten().tolist(), strict=False):
                setattr(model, name, item)
        else:
            for model in models:
                setattr(model, name, value.item() if isinstance(value, th.Tensor) else value)

    def refresh(self) -> None:
        """Forget the gathered attributes (call when the models' attributes change, e.g. at each update)."""
        object.__getattribute__(self, "_cache").clear()


def _gather(name: str, models: list[VariantPPO], device: th.device) -> Any:
    values = [vars(model)[name] for model in models]
    if all(is_number(value) for value in values):
        return th.tensor([float(value) for value in values], dtype=th.float32, device=device).unsqueeze(1)
    if all(callable(value) for value in values):
        return PerRunSchedule(models, values, device)
    first = values[0]
    if all(value is first or value == first for value in values):
        return first
    raise TypeError(
        f"{type(models[0]).__name__}.{name} differs between the runs of a batch and is neither a number nor a schedule "
        f"({values[:3]}...): the batched engine cannot give it per run; run these with engine = 'sb3'"
    )


def group_key(model: VariantPPO) -> tuple:
    """
    Runs whose models have equal keys can share one group: same class, same non-numeric settings (None, strings, flags).

    :param model: a run's model
    :return: the key
    """
    settings = sorted((name, value) for name, value in vars(model).items() if value is None or isinstance(value, bool | str))
    return (type(model), tuple(settings))


def group_of(models: list[VariantPPO], services: dict[str, Any], device: th.device) -> VariantPPO:
    """
    The K models as one instance of their class, its hooks computing for all K at once.

    :param models: models of one class with equal :func:`group_key`
    :param services: name -> callable that replaces the model's own (``rollout_batch``, ``fit_value_function``)
    :param device: device of the gathered tensors
    :return: the group (an instance of the models' class)
    """
    cls = type(models[0])
    group_class = type(f"{cls.__name__}Group", (RunGroup, cls), {})
    group = object.__new__(group_class)
    object.__setattr__(group, "_models", models)
    object.__setattr__(group, "_device", device)
    object.__setattr__(group, "_cache", {})
    object.__setattr__(group, "_services", services)
    return group
