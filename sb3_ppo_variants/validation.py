"""
Argument checks shared by the variants, the runner and the engine; torch-free, so the runner's parsing and the report
do not import torch.
"""

import math
from typing import Any

import numpy as np


class ArgumentError(ValueError, AssertionError):
    """
    An argument of a variant has a value it does not accept; the message names the argument and the allowed values.

    Both a ``ValueError`` and an ``AssertionError``: code written against SB3, whose ``PPO`` rejects some values with
    ``assert`` (e.g. ``clip_range_vf <= 0``), keeps catching it.
    """


def is_integer(value: Any) -> bool:
    """
    Whether ``value`` is an integer (Python or NumPy), not a bool.

    :param value: any value
    :return: True for ``3`` or ``np.int64(3)``, False for ``True``, ``3.0`` or ``"3"``
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_number(value: Any) -> bool:
    """
    Whether ``value`` is a real number (Python or NumPy int or float), not a bool.

    :param value: any value
    :return: True for ``3``, ``0.5`` or ``np.float32(0.5)``, False for ``True`` or ``"0.5"``
    """
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = True,
    integer: bool = False,
    optional: bool = False,
    schedule: bool = False,
) -> None:
    """
    Raise ``ArgumentError``/``TypeError`` naming ``name`` unless ``value`` is an allowed number.

    :param name: the argument's name, used in the message
    :param value: the value to check
    :param low: lower bound, or None
    :param high: upper bound (inclusive), or None
    :param low_open: whether the lower bound is excluded
    :param integer: whether the value must be an integer
    :param optional: whether None is allowed
    :param schedule: whether a callable (an SB3 schedule of the remaining progress) is allowed
    """
    if value is None and optional:
        return
    if callable(value) and schedule:
        return
    kind = "an integer" if integer else "a number"
    extras = (" or None" if optional else "") + (" or a schedule (callable of progress_remaining)" if schedule else "")
    if not (is_integer(value) if integer else is_number(value)):
        raise TypeError(f"`{name}` must be {kind}{extras}, got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value):
        raise ArgumentError(f"`{name}` must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ArgumentError(f"`{name}` must be {'>' if low_open else '>='} {low}{extras}, got {value!r}")
    if high is not None and value > high:
        raise ArgumentError(f"`{name}` must be <= {high}, got {value!r}")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """
    Raise ``ArgumentError`` naming ``name`` and the allowed values unless ``value`` is one of them.

    :param name: the argument's name, used in the message
    :param value: the value to check
    :param allowed: the allowed values
    """
    if value not in allowed:
        raise ArgumentError(f"`{name}` must be one of {allowed}, got {value!r}")
