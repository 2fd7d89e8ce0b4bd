"""
Per-run and across-seed metrics, as pure functions over arrays.

Evaluation curves are arrays of shape (runs, evaluation points): ``returns[i, t]`` is the mean evaluation
return of run ``i`` at its ``t``-th evaluation. Training diagnostics are arrays of shape (runs, updates),
padded with NaN when runs have different numbers of updates. Across-seed metrics reduce axis 0 (runs).
"""

import numpy as np


def _validated_curves(returns: np.ndarray, name: str = "returns") -> np.ndarray:
    array = np.asarray(returns, dtype=float)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must be a 2-D array shaped (runs, evaluation points) with at least one point, got shape {array.shape}"
        )
    return array


def final_return(returns: np.ndarray, k: int = 1) -> np.ndarray:
    """
    Final return: mean of the last ``k`` evaluations of each run.

    :param returns: evaluation returns, shape (runs, evaluation points)
    :param k: number of final evaluations averaged, 1 <= k <= evaluation points
    :return: shape (runs,)
    """
    returns = _validated_curves(returns)
    if not 1 <= k <= returns.shape[1]:
        raise ValueError(f"k must be between 1 and the number of evaluation points ({returns.shape[1]}), got {k}")
    return returns[:, -k:].mean(axis=1)


def area_under_curve(returns: np.ndarray) -> np.ndarray:
    """
    Area under the learning curve, normalised so that it is in units of return: the mean return over all evaluation
    points (the report's evaluation points are equally spaced).

    :param returns: evaluation returns, shape (runs, evaluation points)
    :return: shape (runs,)
    """
    return _validated_curves(returns).mean(axis=1)


def timesteps_to_threshold(returns: np.ndarray, timesteps: np.ndarray, threshold: float) -> np.ndarray:
    """
    Timesteps of the first evaluation whose return is at least ``threshold``.

    Runs that never reach the threshold are censored: their value is ``np.inf`` (so medians and
    comparisons stay meaningful; ``np.isfinite`` gives the mask of runs that reached it).

    :param returns: evaluation returns, shape (runs, evaluation points)
    :param timesteps: timesteps of the evaluation points, shape (evaluation points,)
    :param threshold: return to reach
    :return: shape (runs,), float, ``np.inf`` where never reached
    """
    returns = _validated_curves(returns)
    steps = np.asarray(timesteps, dtype=float)
    if steps.shape != (returns.shape[1],):
        raise ValueError(f"timesteps must have shape ({returns.shape[1]},) to match returns, got {steps.shape}")
    reached = returns >= threshold
    first = reached.argmax(axis=1)
    return np.where(reached.any(axis=1), steps[first], np.inf)


def max_drawdown(returns: np.ndarray) -> np.ndarray:
    """
    Largest drawdown (collapse): the largest drop of the return below its running best.

    It is ``max_t (max_{s <= t} R_s - R_t)``, 0 for a curve that never goes down.

    :param returns: evaluation returns, shape (runs, evaluation points)
    :return: shape (runs,), non-negative
    """
    returns = _validated_curves(returns)
    return (np.maximum.accumulate(returns, axis=1) - returns).max(axis=1)


def within_run_dispersion(returns: np.ndarray) -> np.ndarray:
    """
    Dispersion within a run: inter-quartile range of the successive differences of each run's curve.

    The IQR is the 75th minus the 25th percentile (linear interpolation) of ``R_{t+1} - R_t``; taking differences
    removes the learning trend.

    :param returns: evaluation returns, shape (runs, evaluation points), at least 2 points
    :return: shape (runs,)
    """
    returns = _validated_curves(returns)
    if returns.shape[1] < 2:
        raise ValueError(f"returns needs at least 2 evaluation points for successive differences, got {returns.shape[1]}")
    q25, q75 = np.percentile(np.diff(returns, axis=1), [25, 75], axis=1)
    return q75 - q25


def iqr_across_seeds(values: np.ndarray) -> np.ndarray | float:
    """
    Dispersion across seeds: inter-quartile range over runs (axis 0).

    The IQR is the 75th minus the 25th percentile, with linear interpolation.

    :param values: per-run values, shape (runs,) or (runs, ...)
    :return: a float for 1-D input, otherwise shape (...)
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"values must have at least one run along axis 0, got shape {values.shape}")
    q25, q75 = np.percentile(values, [25, 75], axis=0)
    return q75 - q25


def lower_cvar(values: np.ndarray, alpha: float = 0.25) -> np.ndarray | float:
    """
    Lower conditional value at risk across seeds: the mean of the worst ``alpha`` fraction of runs (axis 0).

    That is the mean of the ``ceil(alpha * runs)`` lowest values, at least one run.

    :param values: per-run values, shape (runs,) or (runs, ...)
    :param alpha: fraction of worst runs, 0 < alpha <= 1
    :return: a float for 1-D input, otherwise shape (...)
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"values must have at least one run along axis 0, got shape {values.shape}")
    n_worst = max(1, int(np.ceil(alpha * values.shape[0])))
    return np.sort(values, axis=0)[:n_worst].mean(axis=0)


def _validated_diagnostics(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array shaped (runs, updates), got shape {array.shape}")
    return array


def max_over_updates(diagnostic: np.ndarray) -> np.ndarray:
    """
    Largest value of a training diagnostic over the updates of each run.

    For ``ratio_max`` it is the largest probability ratio the run saw, for ``approx_kl`` the largest KL between
    successive policies. NaN padding is ignored; a run without any update gives NaN.

    :param diagnostic: one column of train.csv (``ratio_max``, ``approx_kl``, ...), shape (runs, updates), NaN-padded
    :return: shape (runs,)
    """
    return np.fmax.reduce(_validated_diagnostics(diagnostic, "diagnostic"), axis=1, initial=np.nan)


def kl_spikes(approx_kl: np.ndarray, threshold: float) -> np.ndarray:
    """
    KL spikes: the number of updates whose ``approx_kl`` is strictly greater than ``threshold``.

    NaN padding never counts.

    :param approx_kl: ``approx_kl`` column of train.csv, shape (runs, updates), NaN-padded
    :param threshold: KL above which an update counts as a spike
    :return: shape (runs,), integer counts
    """
    return (_validated_diagnostics(approx_kl, "approx_kl") > threshold).sum(axis=1)
