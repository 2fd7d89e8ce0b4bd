"""
How often each interval method of ``sb3_ppo_variants.analysis.intervals`` holds the true value, at the numbers of
runs the package's users have (3, 5, 10 per cell), for the mean and the IQM of one cell and for their aggregate over
tasks. Samples are drawn from four known distributions:

- ``normal``: N(0, 1);
- ``skewed``: log-normal, exp(N(0, 1));
- ``heavy-tailed``: Student's t with 3 degrees of freedom;
- ``bimodal``: "some seeds fail": with probability 0.3 a run scores N(0, 0.05^2) (it never learned), otherwise
  N(1, 0.1^2);
- ``ceiling``: a score capped at its maximum (CartPole's 500): min(N(1, 0.2^2), 1), so half the runs are at the cap.

The aggregate draws ``len(TASK_SHIFTS)`` tasks, task ``t`` from the distribution shifted by ``TASK_SHIFTS[t]`` (tasks
differ in difficulty), each with the same number of runs. The true mean is exact (the distribution's mean, plus the
mean shift for the aggregate); the true IQM, the interquartile mean of the distribution (of the equal mixture of the
shifted tasks for the aggregate), is the IQM of ``TRUTH_DRAWS`` draws (its Monte Carlo error, about 0.001 standard
deviations, is small beside interval widths of 0.5 to 5 standard deviations).

``python -m sb3_ppo_variants.analysis.coverage`` prints the table of docs/statistics.md.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.intervals import METHODS, STATISTICS, interval_estimate
from sb3_ppo_variants.analysis.stats import iqm

RUNS = (3, 5, 10)
TASK_SHIFTS = (0.0, 0.5, 1.0, 1.5)
TRUTH_DRAWS = 2_000_000
FAIL_PROBABILITY = 0.3


def _bimodal(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    failed = rng.random(size) < FAIL_PROBABILITY
    return np.where(failed, rng.normal(0.0, 0.05, size), rng.normal(1.0, 0.1, size))


# name -> (sampler(rng, shape), exact mean)
DISTRIBUTIONS: dict[str, tuple[Callable[[np.random.Generator, tuple[int, ...]], np.ndarray], float]] = {
    "normal": (lambda rng, size: rng.normal(0.0, 1.0, size), 0.0),
    "skewed": (lambda rng, size: np.exp(rng.normal(0.0, 1.0, size)), float(np.exp(0.5))),
    "heavy-tailed": (lambda rng, size: rng.standard_t(3, size), 0.0),
    "bimodal": (_bimodal, 1.0 - FAIL_PROBABILITY),
    # E[min(X, μ)] = μ - σ φ(0) for X ~ N(μ, σ^2)
    "ceiling": (lambda rng, size: np.minimum(rng.normal(1.0, 0.2, size), 1.0), 1.0 - 0.2 / np.sqrt(2.0 * np.pi)),
}


def true_values(distribution: str, shifts: tuple[float, ...], seed: int = 12345) -> dict[str, float]:
    """
    The true mean and IQM of a distribution, or of the equal mixture of its shifted copies (the aggregate's tasks).

    :param distribution: a key of ``DISTRIBUTIONS``
    :param shifts: the tasks' shifts; ``(0.0,)`` for one cell
    :param seed: seed of the draws that give the IQM
    :return: ``{"mean": ..., "iqm": ...}``
    """
    sampler, mean = DISTRIBUTIONS[distribution]
    draws = sampler(np.random.default_rng(seed), (TRUTH_DRAWS // len(shifts), len(shifts))) + np.asarray(shifts)
    return {"mean": mean + float(np.mean(shifts)), "iqm": float(iqm(draws.ravel()))}


def coverage_table(trials: int = 400, n_resamples: int = 400, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """
    Measure the coverage of every method, statistic, distribution, number of runs and level (cell or aggregate).

    :param trials: samples drawn per combination (the Monte Carlo standard error of a coverage near 0.95 is about
        ``sqrt(0.95 * 0.05 / trials)``)
    :param n_resamples: bootstrap resamples per interval
    :param confidence: confidence level of the intervals
    :param seed: seed of the draws and of the bootstraps
    :return: one row per (level, statistic, distribution, runs, method): ``coverage`` (fraction of the intervals that
        hold the true value) and ``median_width`` (median width over the trials, in the units of the distribution)
    """
    rows = []
    for level, shifts in (("cell", (0.0,)), ("aggregate", TASK_SHIFTS)):
        for d, (distribution, (sampler, _)) in enumerate(DISTRIBUTIONS.items()):
            truth = true_values(distribution, shifts)
            for n in RUNS:
                rng = np.random.default_rng([seed, d, n, len(shifts)])
                strata = [sampler(rng, (n, trials)) + shift for shift in shifts]
                for statistic in STATISTICS:
                    for method in METHODS:
                        _, low, high = interval_estimate(strata, statistic, method, n_resamples, confidence, rng)
                        rows.append(
                            {
                                "level": level,
                                "statistic": statistic,
                                "distribution": distribution,
                                "runs": n,
                                "method": method,
                                "coverage": float(np.mean((low <= truth[statistic]) & (truth[statistic] <= high))),
                                "median_width": float(np.median(high - low)),
                            }
                        )
    return pd.DataFrame(rows)


def coverage_markdown(table: pd.DataFrame) -> str:
    """
    The coverage table as Markdown: one row per (level, statistic, distribution, runs), one column per method, each
    cell ``coverage (median width)``.

    :param table: ``coverage_table``
    :return: the Markdown table
    """
    lines = ["| level | statistic | distribution | runs | " + " | ".join(METHODS) + " |", "|---" * (4 + len(METHODS)) + "|"]
    for keys, group in table.groupby(["level", "statistic", "distribution", "runs"], sort=False):
        by_method = group.set_index("method")
        cells = [f"{by_method.loc[m, 'coverage']:.3f} ({by_method.loc[m, 'median_width']:.2f})" for m in METHODS]
        lines.append("| " + " | ".join(str(key) for key in keys) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(coverage_markdown(coverage_table()), end="")
