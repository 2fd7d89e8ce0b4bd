"""
Statistics across seeds: interquartile mean, stratified bootstrap confidence intervals, probability of
improvement and normalisation, in numpy only (definitions follow rliable, Agarwal et al. 2021).
"""

from collections.abc import Callable, Sequence

import numpy as np

from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES

Statistic = Callable[..., np.ndarray]


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """
    Interquartile mean: the mean of the middle 50% of the values along ``axis``.

    Same definition as ``scipy.stats.trim_mean(values, 0.25, axis)`` (the one rliable uses): with ``n``
    values, ``cut = floor(0.25 * n)`` values are removed from each end of the sorted values and the
    remaining ``n - 2 * cut`` are averaged; there is no fractional weighting of partially trimmed values.
    So for n < 4 it is the plain mean, for n = 5 the mean of the middle 3, for n = 8 of the middle 4.

    :param values: array with at least one value along ``axis``
    :param axis: axis to reduce
    :return: the IQM, with ``axis`` removed
    """
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    n = values.shape[-1]
    if n == 0:
        raise ValueError("values must have at least one element along axis")
    cut = int(0.25 * n)
    if cut == 0:
        return values.mean(axis=-1)
    return np.sort(values, axis=-1)[..., cut : n - cut].mean(axis=-1)


def iqm_mean_median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """
    IQM (as ``iqm``), mean and median along ``axis`` from a single sort, stacked on a new last axis in
    that order. For ``n`` values the median is the middle value (odd ``n``) or the mean of the two middle values.

    :param values: array with at least one value along ``axis``
    :param axis: axis to reduce
    :return: array of the input shape without ``axis`` plus a last axis of size 3
    """
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    n = values.shape[-1]
    if n == 0:
        raise ValueError("values must have at least one element along axis")
    cut, half = int(0.25 * n), n // 2
    # numpy's vectorised sort is several times faster than np.partition here.
    ordered = np.sort(values, axis=-1)
    median = ordered[..., half] if n % 2 else 0.5 * (ordered[..., half - 1] + ordered[..., half])
    return np.stack([ordered[..., cut : n - cut].mean(axis=-1), values.mean(axis=-1), median], axis=-1)


def _strata(strata: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    groups = (
        [np.asarray(strata, dtype=float)] if isinstance(strata, np.ndarray) else [np.asarray(s, dtype=float) for s in strata]
    )
    if not groups or any(group.ndim == 0 or group.shape[0] == 0 for group in groups):
        raise ValueError("strata must be an array or a non-empty sequence of arrays, each with at least one run along axis 0")
    if len({group.shape[1:] for group in groups}) != 1:
        raise ValueError(f"strata must agree in all dimensions but the first (runs), got {[group.shape for group in groups]}")
    return groups


def stratified_bootstrap_ci(
    strata: np.ndarray | Sequence[np.ndarray],
    statistic: Statistic = iqm,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]:
    """
    Point estimate and percentile bootstrap confidence interval of ``statistic`` over runs.

    Stratified as in rliable: each resample draws, independently for every stratum (environment / task),
    as many runs as the stratum has, with replacement, from that stratum only; the statistic is then
    computed on all resampled runs pooled. The interval is given by the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles of the ``n_resamples`` bootstrap statistics. All resamples are
    drawn as one index matrix per stratum, so there is no Python loop over resamples.

    :param strata: one array shaped (runs, ...) or a sequence of such arrays (one per stratum, same trailing
        shape); trailing dimensions (e.g. evaluation points) are kept and get one interval each
    :param statistic: function ``statistic(values, axis=...)`` reducing the runs axis, e.g. ``iqm``, ``np.mean``,
        ``np.median``
    :param n_resamples: number of bootstrap resamples, at least 1
    :param confidence: confidence level in (0, 1)
    :param seed: seed or ``numpy.random.Generator``; the same seed gives the same interval
    :return: ``(point, low, high)``, floats or arrays of the trailing shape
    """
    groups = _strata(strata)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    point = statistic(np.concatenate(groups, axis=0), axis=0)
    # Runs go last so that each statistic reduces a contiguous axis: shape (trailing..., resamples, runs).
    resampled = np.concatenate(
        [
            np.take(
                np.ascontiguousarray(np.moveaxis(group, 0, -1)),
                rng.integers(0, len(group), size=(n_resamples, len(group))),
                axis=-1,
            )
            for group in groups
        ],
        axis=-1,
    )
    bootstrap = statistic(resampled, axis=-1)
    quantiles = [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)]
    low, high = np.percentile(bootstrap, quantiles, axis=groups[0].ndim - 1)
    return point, low, high


def _per_task(scores: np.ndarray | Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    tasks = (
        [np.asarray(scores, dtype=float)] if isinstance(scores, np.ndarray) else [np.asarray(s, dtype=float) for s in scores]
    )
    if not tasks or any(task.ndim != 1 or task.size == 0 for task in tasks):
        raise ValueError(f"{name} must be a 1-D array or a non-empty sequence of non-empty 1-D arrays (one per task)")
    return tasks


def probability_of_improvement(x: np.ndarray | Sequence[np.ndarray], y: np.ndarray | Sequence[np.ndarray]) -> float:
    """
    Probability of improvement of X over Y: ``P(X > Y) + 0.5 P(X = Y)`` for a run of X and a run of Y drawn
    independently (the Mann-Whitney U statistic divided by ``n * m``), averaged over tasks with equal weight,
    as in rliable. It lies in [0, 1], is 0.5 for identical samples, and P(X, Y) + P(Y, X) = 1.

    :param x: scores of X, one 1-D array of runs or a sequence of them (one per task)
    :param y: scores of Y, same number of tasks as ``x`` (runs per task may differ)
    :return: the probability
    """
    x_tasks, y_tasks = _per_task(x, "x"), _per_task(y, "y")
    if len(x_tasks) != len(y_tasks):
        raise ValueError(f"x and y must have the same number of tasks, got {len(x_tasks)} and {len(y_tasks)}")
    probabilities = []
    for x_runs, y_runs in zip(x_tasks, y_tasks, strict=True):
        y_sorted = np.sort(y_runs)
        below = np.searchsorted(y_sorted, x_runs, side="left")
        below_or_equal = np.searchsorted(y_sorted, x_runs, side="right")
        probabilities.append((below.sum() + 0.5 * (below_or_equal - below).sum()) / (x_runs.size * y_runs.size))
    return float(np.mean(probabilities))


def normalize(
    scores: np.ndarray, env_id: str, random_score: float | None = None, reference_score: float | None = None
) -> np.ndarray:
    """
    Normalised score ``(score - random) / (reference - random)``: a random policy scores 0, the reference 1.

    :param scores: returns of ``env_id``
    :param env_id: environment id, looked up in ``references.RANDOM_SCORES`` / ``REFERENCE_SCORES`` unless
        both scores are given
    :param random_score: return of a random policy, overrides the table
    :param reference_score: reference return, overrides the table
    :return: normalised scores, same shape as ``scores``
    """
    if random_score is None:
        if env_id not in RANDOM_SCORES:
            raise ValueError(f"env_id {env_id!r} has no random score: pass random_score or use one of {sorted(RANDOM_SCORES)}")
        random_score = RANDOM_SCORES[env_id]
    if reference_score is None:
        if env_id not in REFERENCE_SCORES:
            raise ValueError(
                f"env_id {env_id!r} has no reference score: pass reference_score or use one of {sorted(REFERENCE_SCORES)}"
            )
        reference_score = REFERENCE_SCORES[env_id]
    if reference_score == random_score:
        raise ValueError(f"reference_score and random_score must differ, both are {random_score}")
    return (np.asarray(scores, dtype=float) - random_score) / (reference_score - random_score)
