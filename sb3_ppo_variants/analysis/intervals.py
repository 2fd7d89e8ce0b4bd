"""
Confidence intervals of the mean and the interquartile mean (IQM), per cell (one stratum of runs) and aggregated over
tasks (several strata), by four methods, in numpy only:

- ``percentile``: the percentile bootstrap (rliable's default), stratified over tasks;
- ``bca``: the bias-corrected and accelerated bootstrap (Efron 1987), the acceleration from a jackknife that leaves out
  one run of one task at a time;
- ``studentized``: the bootstrap-t, each resample studentized by its own standard error (below);
- ``t``: Student's t with the standard error below and its degrees of freedom.

The standard errors: for the mean of one cell ``s / sqrt(n)`` with ``n - 1`` degrees of freedom; for the aggregate mean
(the mean over tasks of the task means) ``sqrt(sum_t s_t^2 / n_t) / T`` with Welch-Satterthwaite degrees of freedom;
for the IQM (the 25% trimmed mean of ``stats.iqm``, pooled over the tasks for the aggregate) the Tukey-McLaughlin
standard error of a trimmed mean, ``s_w sqrt(n) / h``, with ``h = n - 2g`` values kept of ``n`` (``g = floor(n / 4)``
cut at each end), ``s_w`` the standard deviation of the winsorised values, and ``h - 1`` degrees of freedom (Yuen
1974). For ``n < 4`` nothing is trimmed and the IQM's interval is the mean's.

How often each method's 95% interval holds the true value at 3, 5 and 10 runs is measured by
``sb3_ppo_variants.analysis.coverage`` (docs/statistics.md); ``DEFAULT_METHOD`` is chosen from that measurement.
"""

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np

from sb3_ppo_variants.analysis.stats import aggregate_iqm, aggregate_mean, check_bootstrap, strata_list

METHODS = ("percentile", "bca", "studentized", "t")
# How the reports name each method
METHOD_NAMES = {
    "percentile": "percentile bootstrap",
    "bca": "BCa bootstrap",
    "studentized": "studentized bootstrap",
    "t": "t (Student's t; Tukey-McLaughlin for IQMs)",
}
STATISTICS = ("mean", "iqm")
# The report's method, chosen from the coverage measurement (docs/statistics.md)
DEFAULT_METHOD = "t"
# Cells with fewer runs are flagged in the reports: below 5 runs no method keeps its coverage (docs/statistics.md)
MIN_RUNS = 5
_STANDARD = NormalDist()


def _log_beta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lgamma = np.vectorize(math.lgamma, otypes=[float])
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def _beta_fraction(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """
    The continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes' ``betacf``), iterated
    until every element has converged to 1e-15; it converges fast for x < (a + 1) / (a + b + 2).
    """
    tiny = 1e-300

    def guarded(value: np.ndarray) -> np.ndarray:
        return np.where(np.abs(value) < tiny, tiny, value)

    c = np.ones_like(x)
    d = 1.0 / guarded(1.0 - (a + b) * x / (a + 1.0))
    fraction = d.copy()
    for m in range(1, 10_000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for numerator in (even, odd):
            d = 1.0 / guarded(1.0 + numerator * d)
            c = guarded(1.0 + numerator / c)
            fraction = fraction * c * d
        if np.all(np.abs(c * d - 1.0) < 1e-15):
            break
    return fraction


def regularized_incomplete_beta(x: np.ndarray | float, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """
    The regularised incomplete beta function ``I_x(a, b)``, elementwise (Numerical Recipes' continued fraction).

    :param x: in [0, 1]
    :param a: positive
    :param b: positive
    :return: ``I_x(a, b)``, broadcast over the arguments
    """
    x, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, a, b)))
    inside = np.clip(x, 1e-300, 1.0 - 1e-16)
    front = np.exp(a * np.log(inside) + b * np.log1p(-inside) - _log_beta(a, b))
    direct = inside < (a + 1.0) / (a + b + 2.0)
    value = np.empty_like(inside)
    value[direct] = front[direct] * _beta_fraction(inside[direct], a[direct], b[direct]) / a[direct]
    mirrored = ~direct
    value[mirrored] = 1.0 - front[mirrored] * _beta_fraction(1.0 - inside[mirrored], b[mirrored], a[mirrored]) / b[mirrored]
    return np.where(x <= 0.0, 0.0, np.where(x >= 1.0, 1.0, value))


def student_t_quantile(p: float, df: np.ndarray | float) -> np.ndarray:
    """
    The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom, elementwise over ``df``.

    For t > 0, ``P(T > t) = I_x(df / 2, 1 / 2) / 2`` with ``x = df / (df + t^2)``, which decreases in t; the quantile
    is found by bisection on x (48 halvings), once per distinct ``df``.

    :param p: probability in (0, 1)
    :param df: degrees of freedom, positive (NaN gives NaN)
    :return: the quantiles, shape of ``df``
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    df = np.asarray(df, dtype=float)
    known = ~np.isnan(df)
    distinct, where = np.unique(df[known], return_inverse=True)
    tail = min(p, 1.0 - p)
    low, high = np.zeros_like(distinct), np.ones_like(distinct)
    for _ in range(48):
        middle = 0.5 * (low + high)
        too_far = 0.5 * regularized_incomplete_beta(middle, distinct / 2.0, 0.5) < tail
        low, high = np.where(too_far, middle, low), np.where(too_far, high, middle)
    x = 0.5 * (low + high)
    quantile = np.full(df.shape, np.nan)
    quantile[known] = np.sqrt(distinct * (1.0 - x) / x)[where]
    return quantile if p > 0.5 else -quantile


def _tasks(strata: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(task, dtype=float) for task in strata]


def mean_standard_error(*tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Standard error and degrees of freedom of ``stats.aggregate_mean`` (the mean of one task's runs for one task).

    :param tasks: one array per task shaped (..., runs), at least 2 runs each (fewer give NaN)
    :return: ``(se, df)``: ``sqrt(sum_t s_t^2 / n_t) / T`` and the Welch-Satterthwaite degrees of freedom
        ``(sum_t v_t)^2 / sum_t v_t^2 / (n_t - 1)`` with ``v_t = s_t^2 / n_t``, which is ``n - 1`` for one task
    """
    variances = [
        task.var(axis=-1, ddof=1) / task.shape[-1] if task.shape[-1] > 1 else np.full(task.shape[:-1], np.nan)
        for task in _tasks(tasks)
    ]
    total = np.sum(variances, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = total**2 / np.sum([v**2 / (task.shape[-1] - 1) for v, task in zip(variances, tasks, strict=True)], axis=0)
    return np.sqrt(total) / len(variances), df


def iqm_standard_error(*tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Tukey-McLaughlin standard error and degrees of freedom of ``stats.aggregate_iqm`` (the IQM of one task's runs).

    :param tasks: one array per task shaped (..., runs); their runs are pooled
    :return: ``(se, df)``: ``s_w sqrt(n) / h`` and ``h - 1``, with ``n`` pooled runs, ``g = floor(n / 4)`` cut at each
        end, ``h = n - 2g`` and ``s_w`` the standard deviation (ddof 1) of the winsorised runs (the ``g`` lowest set to
        the next lowest, the ``g`` highest to the next highest); NaN for fewer than 2 runs
    """
    pooled = np.sort(np.concatenate(_tasks(tasks), axis=-1), axis=-1)
    n = pooled.shape[-1]
    if n < 2:
        return np.full(pooled.shape[:-1], np.nan), np.full(pooled.shape[:-1], np.nan)
    cut = int(0.25 * n)
    kept = n - 2 * cut
    winsorised = np.clip(pooled, pooled[..., cut : cut + 1], pooled[..., n - cut - 1 : n - cut])
    return winsorised.std(axis=-1, ddof=1) * math.sqrt(n) / kept, np.full(pooled.shape[:-1], kept - 1.0)


ESTIMATORS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., tuple[np.ndarray, np.ndarray]]]] = {
    "mean": (aggregate_mean, mean_standard_error),
    "iqm": (aggregate_iqm, iqm_standard_error),
}


def _sorted_quantile(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of sorted values along the last axis at a level per element (numpy's linear interpolation)."""
    position = np.clip(levels, 0.0, 1.0) * (ordered.shape[-1] - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, ordered.shape[-1] - 1)
    low = np.take_along_axis(ordered, below[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, above[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        return np.where(low == high, low, low + (position - below) * (high - low))


def _jackknife(tasks: list[np.ndarray], statistic: Callable[..., np.ndarray]) -> np.ndarray:
    """The statistic with one run of one task left out, for every run of the tasks with 2 runs or more: (..., J)."""
    values = []
    for s, task in enumerate(tasks):
        n = task.shape[-1]
        if n < 2:
            continue
        keep = np.array([[j for j in range(n) if j != i] for i in range(n)])
        left_out = np.take(task, keep, axis=-1)  # (..., n, n - 1)
        others = [np.broadcast_to(other[..., None, :], (*other.shape[:-1], n, other.shape[-1])) for other in tasks]
        values.append(statistic(*others[:s], left_out, *others[s + 1 :]))
    return np.concatenate(values, axis=-1)


def _bca(point: np.ndarray, boot: np.ndarray, tasks: list[np.ndarray], statistic: Callable, confidence: float) -> tuple:
    """The BCa interval from the bootstrap statistics ``boot`` (..., resamples)."""
    resamples = boot.shape[-1]
    below = (boot < point[..., None]).mean(axis=-1) + 0.5 * (boot == point[..., None]).mean(axis=-1)
    bias = np.vectorize(_STANDARD.inv_cdf, otypes=[float])(np.clip(below, 0.5 / resamples, 1.0 - 0.5 / resamples))
    jack = _jackknife(tasks, statistic) if any(task.shape[-1] > 1 for task in tasks) else point[..., None]
    deviation = jack.mean(axis=-1, keepdims=True) - jack
    spread = (deviation**2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acceleration = np.where(spread > 0, (deviation**3).sum(axis=-1) / (6.0 * spread**1.5), 0.0)
    ordered = np.sort(boot, axis=-1)
    bounds = []
    for level in (0.5 * (1.0 - confidence), 0.5 * (1.0 + confidence)):
        z = bias + _STANDARD.inv_cdf(level)
        adjusted = np.vectorize(_STANDARD.cdf, otypes=[float])(bias + z / (1.0 - acceleration * z))
        bounds.append(_sorted_quantile(ordered, adjusted))
    return tuple(bounds)


def _unless_no_spread(bound: np.ndarray, point: np.ndarray, se: np.ndarray) -> np.ndarray:
    """The bound where the standard error is positive, the point where it is 0, NaN where it is undefined."""
    with np.errstate(invalid="ignore"):
        return np.where(se > 0, bound, np.where(se == 0, point, np.nan))


def _studentized(point, boot, se, boot_se, confidence: float) -> tuple:
    """The bootstrap-t interval: ``point - q se`` for the quantiles q of ``(boot - point) / boot_se``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pivot = np.nan_to_num((boot - point[..., None]) / boot_se, nan=0.0, posinf=np.inf, neginf=-np.inf)
    ordered = np.sort(pivot, axis=-1)
    levels = [np.full(point.shape, 0.5 * (1.0 + confidence)), np.full(point.shape, 0.5 * (1.0 - confidence))]
    with np.errstate(invalid="ignore"):
        low, high = (_unless_no_spread(point - _sorted_quantile(ordered, level) * se, point, se) for level in levels)
    return low, high


def check_method(method: object, name: str = "method") -> str:
    """
    Check the name of an interval method.

    :param method: the name
    :param name: the parameter's name, for the error message
    :return: the name
    :raises ValueError: unless it is one of ``METHODS``
    """
    if method not in METHODS:
        raise ValueError(f"{name} must be one of {list(METHODS)}, got {method!r}")
    return method


def interval_estimate(
    strata: np.ndarray | Sequence[np.ndarray],
    statistic: str = "iqm",
    method: str = DEFAULT_METHOD,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | Sequence[int] | np.random.Generator | None = 0,
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]:
    """
    Point estimate and confidence interval of the mean or the IQM of one cell, or of their aggregate over tasks.

    :param strata: one array shaped (runs, ...) (one cell) or a sequence of them (one per task, same trailing shape);
        trailing dimensions get one interval each. The statistic of several strata is ``stats.aggregate_mean`` (the
        mean of the task means) or ``stats.aggregate_iqm`` (the IQM of the pooled runs)
    :param statistic: ``"mean"`` or ``"iqm"``
    :param method: one of ``METHODS`` (see the module docstring)
    :param n_resamples: bootstrap resamples (bootstrap methods), at least 1
    :param confidence: confidence level in (0, 1)
    :param seed: seed of the bootstrap; ``percentile`` draws the resamples of ``stats.stratified_bootstrap_ci`` with
        the same seed, so it gives the same interval
    :return: ``(point, low, high)``, floats or arrays of the trailing shape; NaN bounds where the method is undefined
        (``t`` and ``studentized`` with fewer than 2 runs in a task)
    """
    if statistic not in ESTIMATORS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    check_method(method)
    check_bootstrap(n_resamples, confidence)
    groups = strata_list(strata)
    estimate, standard_error = ESTIMATORS[statistic]
    tasks = [np.ascontiguousarray(np.moveaxis(group, 0, -1)) for group in groups]
    point = np.asarray(estimate(*tasks))
    if method == "t":
        se, df = standard_error(*tasks)
        half = student_t_quantile(0.5 * (1.0 + confidence), df) * se
        bounds = (_unless_no_spread(point - half, point, se), _unless_no_spread(point + half, point, se))
    else:
        rng = np.random.default_rng(seed)
        resampled = [
            np.take(task, rng.integers(0, task.shape[-1], size=(n_resamples, task.shape[-1])), axis=-1) for task in tasks
        ]
        boot = np.asarray(estimate(*resampled))
        if method == "percentile":
            bounds = tuple(np.percentile(boot, [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)], axis=-1))
        elif method == "bca":
            bounds = _bca(point, boot, tasks, estimate, confidence)
        else:
            bounds = _studentized(point, boot, standard_error(*tasks)[0], standard_error(*resampled)[0], confidence)
    low, high = (np.asarray(bound, dtype=float) for bound in bounds)
    return point[()], low[()], high[()]
