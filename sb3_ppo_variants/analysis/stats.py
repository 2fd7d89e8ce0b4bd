"""
Statistics across seeds and tasks: interquartile mean, rliable's aggregates (IQM, mean, median, optimality gap),
stratified bootstrap confidence intervals, probability of improvement and normalisation, in numpy only
(definitions follow rliable, Agarwal et al. 2021).
"""

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES

# statistic(*strata) -> array: each stratum shaped (..., runs), see stratified_bootstrap_ci
Statistic = Callable[..., np.ndarray]
# Names of the summaries stacked by iqm_mean_median and by aggregate_summaries, in order.
SEED_SUMMARIES = ("iqm", "mean", "median")
AGGREGATE_SUMMARIES = ("iqm", "mean", "median", "optimality_gap")
# Groups of resamples by which ``bounds_seed_sd`` measures how much a bootstrap's bounds depend on its seed
SEED_SD_GROUPS = 10


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
    IQM, mean and median along ``axis`` from a single sort, stacked on a new last axis (``SEED_SUMMARIES``).

    The IQM is ``iqm``'s; for ``n`` values the median is the middle value (odd ``n``) or the mean of the two middle values.

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


def aggregate_iqm(*tasks: np.ndarray) -> np.ndarray:
    """
    Interquartile mean of the runs of all tasks pooled (rliable's ``aggregate_iqm``: 25% trimmed mean over runs x tasks).

    A task with more runs weighs more, as in rliable; see ``iqm`` for the trimming.

    :param tasks: one array per task shaped (..., runs), the runs on the last axis; tasks may differ in runs
    :return: shape (...)
    """
    return iqm(np.concatenate(_runs_last(tasks), axis=-1), axis=-1)


def aggregate_mean(*tasks: np.ndarray) -> np.ndarray:
    """
    Mean over tasks of the per-task mean over runs (rliable's ``aggregate_mean``): each task weighs the same.

    :param tasks: one array per task shaped (..., runs), the runs on the last axis; tasks may differ in runs
    :return: shape (...)
    """
    return np.mean(_task_means(tasks), axis=0)


def aggregate_median(*tasks: np.ndarray) -> np.ndarray:
    """
    Median over tasks of the per-task mean over runs (rliable's ``aggregate_median``): each task weighs the same.

    :param tasks: one array per task shaped (..., runs), the runs on the last axis; tasks may differ in runs
    :return: shape (...)
    """
    return np.median(_task_means(tasks), axis=0)


def aggregate_optimality_gap(*tasks: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """
    Optimality gap: how far scores fall short of ``gamma``, ``mean over tasks of mean over runs of max(gamma - score, 0)``.

    rliable's ``aggregate_optimality_gap`` is ``gamma - mean(minimum(scores, gamma))`` over a (runs x tasks) matrix, the
    same value when every task has the same number of runs, since ``gamma - min(x, gamma) = max(gamma - x, 0)``. With
    unequal run counts this is the mean of per-task means, so each task weighs the same (as ``aggregate_mean``).
    Lower is better; scores above ``gamma`` count as ``gamma``.

    :param tasks: one array per task shaped (..., runs), the runs on the last axis; tasks may differ in runs
    :param gamma: the score regarded as optimal (1 on normalised scores)
    :return: shape (...)
    """
    return np.mean([np.maximum(gamma - task, 0.0).mean(axis=-1) for task in _runs_last(tasks)], axis=0)


def aggregate_summaries(*tasks: np.ndarray) -> np.ndarray:
    """
    The four aggregates of rliable in one call, stacked on a new last axis (``AGGREGATE_SUMMARIES``).

    In order: ``aggregate_iqm``, ``aggregate_mean``, ``aggregate_median`` and ``aggregate_optimality_gap`` (gamma = 1).

    :param tasks: one array per task shaped (..., runs), the runs on the last axis; tasks may differ in runs
    :return: shape (..., 4)
    """
    return np.stack(
        [aggregate_iqm(*tasks), aggregate_mean(*tasks), aggregate_median(*tasks), aggregate_optimality_gap(*tasks)], axis=-1
    )


def _runs_last(tasks: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = [np.asarray(task, dtype=float) for task in tasks]
    if not arrays or any(array.ndim == 0 or array.shape[-1] == 0 for array in arrays):
        raise ValueError("tasks must be one or more arrays, each with at least one run along the last axis")
    return arrays


def _task_means(tasks: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([task.mean(axis=-1) for task in _runs_last(tasks)])


def bootstrap_seed(seed: int, *keys: str) -> list[int]:
    """
    Seed of one group's bootstrap, from the report's seed and the group's keys (e.g. environment and variant).

    One group's intervals then depend only on its own runs, not on which other groups the report has.

    :param seed: the report's seed
    :param keys: names of the group
    :return: a seed for ``numpy.random.default_rng``
    """
    return [seed, zlib.crc32("|".join(keys).encode())]


def strata_list(strata: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """
    The strata of a bootstrap as a list of float arrays, checked.

    :param strata: one array shaped (runs, ...) or a sequence of them with the same trailing shape
    :return: the arrays
    :raises ValueError: for no stratum, a stratum without runs, or different trailing shapes
    """
    groups = (
        [np.asarray(strata, dtype=float)] if isinstance(strata, np.ndarray) else [np.asarray(s, dtype=float) for s in strata]
    )
    if not groups or any(group.ndim == 0 or group.shape[0] == 0 for group in groups):
        raise ValueError("strata must be an array or a non-empty sequence of arrays, each with at least one run along axis 0")
    if len({group.shape[1:] for group in groups}) != 1:
        raise ValueError(f"strata must agree in all dimensions but the first (runs), got {[group.shape for group in groups]}")
    return groups


def check_bootstrap(n_resamples: int, confidence: float) -> None:
    """
    Check the settings of a bootstrap.

    :param n_resamples: bootstrap resamples, at least 1
    :param confidence: confidence level in (0, 1)
    :raises ValueError: naming the bad setting
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def stratified_bootstrap_ci(
    strata: np.ndarray | Sequence[np.ndarray],
    statistic: Statistic = aggregate_iqm,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | Sequence[int] | np.random.Generator | None = 0,
    with_seed_sd: bool = False,
) -> tuple[np.ndarray | float, ...]:
    """
    Point estimate and stratified bootstrap confidence interval of ``statistic``, as rliable's ``get_interval_estimates``.

    Stratified as in rliable: each resample draws, independently for every stratum (environment / task), as many
    runs as the stratum has, with replacement, from that stratum only. The statistic receives the strata as separate
    arrays, ``statistic(*strata)``, each with its runs on the last axis, so it can weigh the tasks as it defines
    (``aggregate_mean`` weighs each task the same, ``aggregate_iqm`` pools the runs). The interval is given by the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the ``n_resamples`` bootstrap statistics. All
    resamples are drawn as one index matrix per stratum and passed to the statistic at once (as a leading axis), so
    there is no Python loop over resamples.

    :param strata: one array shaped (runs, ...) or a sequence of such arrays (one per stratum, same trailing
        shape); trailing dimensions (e.g. metrics or evaluation points) are kept and get one interval each
    :param statistic: function of one array per stratum, each shaped (..., runs), that reduces the last axis (runs)
        of each and broadcasts over the others; it may append axes (several statistics at once). E.g. ``iqm`` or
        ``iqm_mean_median`` for one stratum, ``aggregate_iqm``, ``aggregate_mean``, ``aggregate_median``,
        ``aggregate_optimality_gap`` or ``aggregate_summaries`` for any number
    :param n_resamples: number of bootstrap resamples, at least 1
    :param confidence: confidence level in (0, 1)
    :param seed: anything ``numpy.random.default_rng`` accepts (an int, a sequence of ints, a ``Generator``);
        the same seed gives the same interval
    :param with_seed_sd: also return ``bounds_seed_sd`` of the bounds
    :return: ``(point, low, high)``, floats or arrays of the trailing shape (plus the axes the statistic appends); with
        ``with_seed_sd``, ``(point, low, high, seed_sd)``
    """
    groups = strata_list(strata)
    check_bootstrap(n_resamples, confidence)
    rng = np.random.default_rng(seed)
    # Runs go last so that each statistic reduces a contiguous axis: shape (trailing..., resamples, runs).
    runs_last = [np.ascontiguousarray(np.moveaxis(group, 0, -1)) for group in groups]
    point = statistic(*runs_last)
    resampled = [
        np.take(group, rng.integers(0, group.shape[-1], size=(n_resamples, group.shape[-1])), axis=-1) for group in runs_last
    ]
    bootstrap = np.asarray(statistic(*resampled))
    trailing = groups[0].shape[1:]
    if bootstrap.shape[: len(trailing) + 1] != (*trailing, n_resamples):
        raise ValueError(
            "statistic must reduce the last axis (runs) of each stratum and keep the others: for strata of trailing shape "
            f"{trailing} and {n_resamples} resamples it returned shape {bootstrap.shape}"
        )
    quantiles = [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)]
    low, high = np.percentile(bootstrap, quantiles, axis=len(trailing))
    if with_seed_sd:
        return point, low, high, bounds_seed_sd(bootstrap, len(trailing), confidence)
    return point, low, high


def bounds_seed_sd(bootstrap: np.ndarray, axis: int, confidence: float, groups: int = SEED_SD_GROUPS) -> np.ndarray:
    """
    How much the bounds of a percentile bootstrap would move with another bootstrap seed: the resamples are split into
    ``groups`` equal groups, each gives its own bounds, and the standard deviation of a bound over the groups divided by
    ``sqrt(groups)`` estimates that of the bound from all resamples (the variance of a sample quantile falls as one
    over the number of draws); the larger of the two bounds' is returned.

    :param bootstrap: bootstrap statistics, the resamples along ``axis``
    :param axis: the resamples' axis
    :param confidence: confidence level of the bounds
    :param groups: number of groups, at least 2; fewer resamples than groups give NaN
    :return: the estimate, shape of ``bootstrap`` without ``axis``
    """
    resamples = bootstrap.shape[axis]
    if resamples < groups:
        return np.full(np.delete(bootstrap.shape, axis), np.nan)
    split = np.stack(np.array_split(np.moveaxis(bootstrap, axis, 0)[: resamples - resamples % groups], groups), axis=0)
    quantiles = [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)]
    bounds = np.percentile(split, quantiles, axis=1)  # (2, groups, ...)
    return bounds.std(axis=1, ddof=1).max(axis=0) / np.sqrt(groups)


def _per_task(scores: np.ndarray | Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    tasks = (
        [np.asarray(scores, dtype=float)] if isinstance(scores, np.ndarray) else [np.asarray(s, dtype=float) for s in scores]
    )
    if not tasks or any(task.ndim != 1 or task.size == 0 for task in tasks):
        raise ValueError(f"{name} must be a 1-D array or a non-empty sequence of non-empty 1-D arrays (one per task)")
    return tasks


def probability_of_improvement(x: np.ndarray | Sequence[np.ndarray], y: np.ndarray | Sequence[np.ndarray]) -> float:
    """
    Probability of improvement of X over Y, averaged over tasks with equal weight, as in rliable.

    Per task it is ``P(X > Y) + 0.5 P(X = Y)`` for a run of X and a run of Y drawn independently (the Mann-Whitney U
    statistic divided by ``n * m``). It lies in [0, 1], is 0.5 for identical samples, and P(X, Y) + P(Y, X) = 1.

    :param x: scores of X, one 1-D array of runs or a sequence of them (one per task)
    :param y: scores of Y, same number of tasks as ``x`` (runs per task may differ)
    :return: the probability
    """
    x_tasks, y_tasks = _per_task(x, "x"), _per_task(y, "y")
    if len(x_tasks) != len(y_tasks):
        raise ValueError(f"x and y must have the same number of tasks, got {len(x_tasks)} and {len(y_tasks)}")
    probabilities = [_pairwise_improvement(x_runs, y_runs) for x_runs, y_runs in zip(x_tasks, y_tasks, strict=True)]
    return float(np.mean(probabilities))


def _pairwise_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) over all pairs of the last axes of ``x`` (..., n) and ``y`` (..., m)."""
    difference = x[..., :, None] - y[..., None, :]
    return (difference > 0).mean(axis=(-2, -1)) + 0.5 * (difference == 0).mean(axis=(-2, -1))


def probability_of_improvement_ci(
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray | Sequence[np.ndarray],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | Sequence[int] | np.random.Generator | None = 0,
    with_seed_sd: bool = False,
) -> tuple[float, ...]:
    """
    Probability of improvement of X over Y (``probability_of_improvement``) with rliable's interval: a percentile
    bootstrap that resamples, independently for X and for Y and within each task, as many runs as the task has
    (rliable's ``StratifiedIndependentBootstrap``), and averages the tasks' probabilities in every resample.

    :param x: scores of X, one 1-D array of runs or a sequence of them (one per task)
    :param y: scores of Y, same number of tasks as ``x`` (runs per task may differ)
    :param n_resamples: bootstrap resamples, at least 1
    :param confidence: confidence level in (0, 1)
    :param seed: anything ``numpy.random.default_rng`` accepts
    :param with_seed_sd: also return ``bounds_seed_sd`` of the bounds
    :return: ``(probability, low, high)``, and ``seed_sd`` with ``with_seed_sd``
    """
    point = probability_of_improvement(x, y)
    check_bootstrap(n_resamples, confidence)
    x_tasks, y_tasks = _per_task(x, "x"), _per_task(y, "y")
    rng = np.random.default_rng(seed)
    resampled = []
    for x_runs, y_runs in zip(x_tasks, y_tasks, strict=True):
        x_star = x_runs[rng.integers(0, x_runs.size, size=(n_resamples, x_runs.size))]
        y_star = y_runs[rng.integers(0, y_runs.size, size=(n_resamples, y_runs.size))]
        resampled.append(_pairwise_improvement(x_star, y_star))
    bootstrap = np.mean(resampled, axis=0)
    low, high = np.percentile(bootstrap, [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)])
    if with_seed_sd:
        return point, float(low), float(high), float(bounds_seed_sd(bootstrap, 0, confidence))
    return point, float(low), float(high)


def run_score_distribution(*tasks: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """
    The performance profile of rliable (its run-score distribution): the fraction of runs whose score exceeds τ, for
    each τ, averaged over tasks with equal weight (rliable's fraction over a runs x tasks matrix when the tasks have the
    same number of runs).

    :param tasks: one array per task shaped (..., runs), e.g. normalised final returns
    :param taus: the thresholds, shape (taus,)
    :return: shape (..., taus)
    """
    taus = np.asarray(taus, dtype=float)
    return np.mean([(task[..., None, :] > taus[:, None]).mean(axis=-1) for task in _runs_last(tasks)], axis=0)


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
