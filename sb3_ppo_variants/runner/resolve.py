"""
Values of an experiment file -> arguments of a variant class: schedules, ``"none"``, full batches, activation functions.

Python is never evaluated: every string that stands for something else is parsed explicitly here.
"""

import math
import re
from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.utils import LinearSchedule
from torch import nn

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf", "clip_range_high", "kl_coef", "value_learning_rate")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
SCHEDULE = re.compile(r"lin_((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)")


def _schedule_start(key: str, value: str) -> float:
    match = SCHEDULE.fullmatch(value)
    if match is None:
        raise ValueError(f"`{key}` = {value!r}: a schedule is written 'lin_<start>' (linear from <start> to 0): 'lin_3e-4'")
    return float(match.group(1))


def parse_value(key: str, value: Any) -> Any:
    """
    Resolve the strings of a file that stand for something else: rl-zoo's ``"lin_<start>"`` (an SB3 linear schedule
    from ``start`` to 0) for the arguments in ``SCHEDULE_KEYS``, ``"none"`` for None (TOML has no null; e.g.
    ``kl_target = "none"``, a fixed β) and ``batch_size = "full"`` (one minibatch holding the whole rollout). Other
    strings pass unchanged, for the class to validate (e.g. ``kl_estimator = "k3"``); Python is never evaluated.

    :param key: the argument name, for the error message
    :param value: the value from the file
    :return: a schedule, None for ``"none"`` or a full batch, or ``value`` unchanged
    :raises ValueError: naming ``key``, for a string that is not ``'lin_<start>'`` given to an argument of ``SCHEDULE_KEYS``
    """
    if not isinstance(value, str):
        return value
    if value == "none" or (key == "batch_size" and value == "full"):
        return None
    if key not in SCHEDULE_KEYS:
        return value
    return LinearSchedule(_schedule_start(key, value), 0.0, 1.0)


def parse_policy_kwargs(value: Any) -> dict[str, Any]:
    """
    Resolve ``activation_fn`` names to torch modules; the rest passes through.

    :param value: policy_kwargs from the file, a table
    :return: policy_kwargs for SB3
    :raises TypeError: when ``value`` is not a table
    :raises ValueError: for an unknown ``activation_fn``
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"`policy_kwargs` must be a table, e.g. {{ net_arch = [64, 64] }}, got {value!r}")
    kwargs = dict(value)
    if "activation_fn" in kwargs:
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise ValueError(f"`policy_kwargs.activation_fn` = {name!r}: allowed values are {sorted(ACTIVATIONS)}")
        kwargs["activation_fn"] = ACTIVATIONS[name]
    return kwargs


def algo_kwargs(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """
    Turn hyperparameters as written in a file into keyword arguments of a variant class.

    :param hyperparameters: argument name -> value from the file
    :return: keyword arguments with schedules and policy_kwargs resolved
    :raises ValueError: or ``TypeError``, naming the key, for a value that cannot be resolved
    """
    kwargs = {key: parse_value(key, value) for key, value in hyperparameters.items() if key != "policy_kwargs"}
    if "policy_kwargs" in hyperparameters:
        kwargs["policy_kwargs"] = parse_policy_kwargs(hyperparameters["policy_kwargs"])
    return kwargs


def canonical(key: str, value: Any) -> Any:
    """
    The resolved meaning of a value as plain data, so that two spellings of one setting compare equal: numbers as
    floats (``1`` and ``1.0``), ``"none"`` and a full batch as None, a schedule as ``["lin", start]`` (``"lin_1e-3"`` and
    ``"lin_0.001"``), tables and lists item by item.

    :param key: the argument name (it decides how a string resolves)
    :param value: the value as written
    :return: JSON-serialisable data, equal for equal resolved values
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, str):
        if value == "none" or (key == "batch_size" and value == "full"):
            return None
        return ["lin", _schedule_start(key, value)] if key in SCHEDULE_KEYS else value
    if isinstance(value, Mapping):
        return {name: canonical(name, item) for name, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [canonical(key, item) for item in value]
    return repr(value)
