"""
Sweeps: hyperparameter axes in an experiment file, expanded into ordinary run configurations with stable ids.

```toml
[experiment]
sweep_samples = 20            # random search: 20 distinct configurations per (environment, variant); without it, a grid
sweep_seed = 0                # the draws' seed, required with sweep_samples
search = "tpe"                # instead: sweep_samples trials of Optuna's TPE (a tune file; runner.optuna_search)

[variants.pg.sweep]           # also [envs.<id>.sweep]: an axis for every variant of that environment
learning_rate = [3e-4, 1e-3, 3e-3]                 # grid values (with sweep_samples: a uniform choice among them)
clip_range = { uniform = [0.1, 0.3] }             # random search only; also log_uniform = [low, high], choice = [...]
```

A configuration's id is a hash of its resolved hyperparameters, so the same settings get the same id in any file; its
label names the variant and its swept values, e.g. ``pg[learning_rate=0.003]``.
"""

import itertools
import json
import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_ppo_variants.runner.resolve import canonical
from sb3_ppo_variants.validation import is_number

__all__ = ["DISTRIBUTIONS", "Axis", "expand", "parse_axis", "sweep_size"]

DISTRIBUTIONS = ("log_uniform", "uniform", "choice")


@dataclass(frozen=True)
class Axis:
    """
    One swept hyperparameter.

    :param key: the argument's name
    :param values: grid values (also the choices of a random search), or None for a distribution
    :param distribution: ``log_uniform``, ``uniform`` or ``choice`` for a random search, or None for grid values
    :param bounds: (low, high) of a ``log_uniform`` or ``uniform`` distribution
    """

    key: str
    values: tuple[Any, ...] | None = None
    distribution: str | None = None
    bounds: tuple[float, float] | None = None

    def endpoints(self) -> tuple[Any, ...]:
        """
        The values to validate before any run: every grid value or choice, the bounds of a distribution.

        :return: the values
        """
        return self.values if self.values is not None else self.bounds

    def draw(self, rng: np.random.Generator) -> Any:
        """
        One value of a random search.

        :param rng: the generator
        :return: the value
        """
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        low, high = self.bounds
        if self.distribution == "log_uniform":
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))


def parse_axis(key: str, value: Any) -> Axis:
    """
    Read one axis as written in a ``sweep`` table.

    :param key: the argument's name
    :param value: a non-empty list of distinct values, or a table with one of ``log_uniform = [low, high]``,
        ``uniform = [low, high]`` or ``choice = [...]``
    :return: the axis
    :raises ValueError: naming the key and what is allowed
    """
    if isinstance(value, list):
        return Axis(key, values=_distinct(key, value))
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
        raise ValueError(
            f"sweep axis {key!r} must be a non-empty list of values or a table with one key of {DISTRIBUTIONS}, got {value!r}"
        )
    ((distribution, arguments),) = value.items()
    if distribution == "choice":
        if not isinstance(arguments, list):
            raise ValueError(f"sweep axis {key!r}: choice must be a non-empty list of values, got {arguments!r}")
        return Axis(key, values=_distinct(key, arguments), distribution="choice")
    finite = isinstance(arguments, list) and all(is_number(bound) and math.isfinite(bound) for bound in arguments)
    if not (finite and len(arguments) == 2):
        raise ValueError(f"sweep axis {key!r}: {distribution} must be [low, high], two finite numbers, got {arguments!r}")
    low, high = (float(bound) for bound in arguments)
    if low >= high:
        raise ValueError(f"sweep axis {key!r}: {distribution} needs low < high, got [{low}, {high}]")
    if distribution == "log_uniform" and low <= 0:
        raise ValueError(f"sweep axis {key!r}: log_uniform needs positive bounds, got [{low}, {high}]")
    return Axis(key, distribution=distribution, bounds=(low, high))


def _distinct(key: str, values: list[Any]) -> tuple[Any, ...]:
    """The values, unless two of them resolve to the same setting (``1`` and ``1.0``, ``"lin_1e-3"`` and ``"lin_0.001"``)."""
    if not values:
        raise ValueError(f"sweep axis {key!r} must have at least one value")
    resolved = [json.dumps(canonical(key, value), sort_keys=True) for value in values]
    pairs = itertools.combinations(range(len(values)), 2)
    duplicates = [f"{values[i]!r} and {values[j]!r}" for i, j in pairs if resolved[i] == resolved[j]]
    if duplicates:
        raise ValueError(f"sweep axis {key!r} has duplicate values (equal once resolved): {', '.join(duplicates)}")
    return tuple(values)


def sweep_size(axes: Mapping[str, Axis], samples: int | None = None) -> int:
    """
    The number of configurations ``expand`` yields, computed from the axes without expanding them.

    :param axes: key -> axis
    :param samples: number of random configurations, or None for the grid
    :return: 1 without axes; for a grid, the product of the axes' lengths; for a random search, ``samples``, or the
        grid's size when every axis is a list or a ``choice`` and their combinations are fewer (no draw is repeated)
    """
    if not axes:
        return 1
    discrete = all(axis.values is not None for axis in axes.values())
    grid = math.prod(len(axis.values) for axis in axes.values()) if discrete else None
    if samples is None:
        return grid
    return samples if grid is None else min(samples, grid)


def expand(
    axes: Mapping[str, Axis], samples: int | None = None, seed: int = 0, keys: tuple[str, ...] = ()
) -> Iterator[dict[str, Any]]:
    """
    The swept values of every configuration, one at a time: the grid (cartesian product, keys in sorted order, values in
    file order), or the ``sweep_size`` distinct configurations of a random search, drawn in turn with a draw that repeats
    an earlier one skipped (a run is never planned twice). Lazy, so that a sweep's size is checked before it is built.

    :param axes: key -> axis
    :param samples: number of random configurations, or None for the grid
    :param seed: seed of the random draws
    :param keys: strings that make the draws of one (environment, variant) independent of the others' (e.g. their names)
    :return: an iterator over one dict of swept values per configuration; one ``{}`` without axes
    """
    names = sorted(axes)
    if samples is None:
        for values in itertools.product(*(axes[name].values for name in names)):
            yield dict(zip(names, values, strict=True))
        return
    rng = np.random.default_rng([seed, *(zlib.crc32(key.encode()) for key in keys)])
    size = sweep_size(axes, samples)
    seen: set[str] = set()
    while len(seen) < size:
        swept = {name: axes[name].draw(rng) for name in names}
        text = json.dumps(swept, sort_keys=True)
        if text not in seen:
            seen.add(text)
            yield swept
