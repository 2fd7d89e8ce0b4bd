"""
The PPO paper's Table 1 score (Schulman et al. 2017, section 6.1), as pure functions over arrays.

"We computed the average total reward of the last 100 episodes. We shifted and scaled the scores for each environment
so that the random policy gave a score of 0 and the best result was set to 1, and averaged over 21 runs to produce a
single scalar for each algorithm setting." Per task, the random policy's mean return is 0 and the best setting's mean
(over seeds) of the last-100-episode means is 1; a setting's score is the mean of its normalised run scores.
"""

import numpy as np

# Table 1 of the paper: setting -> average normalised score (7 MuJoCo-v1 tasks x 3 seeds, 1M steps)
PAPER_TABLE1: dict[str, float] = {
    "no-clip": -0.39,
    "clip-0.1": 0.76,
    "clip-0.2": 0.82,
    "clip-0.3": 0.70,
    "adaptive-kl-0.003": 0.68,
    "adaptive-kl-0.01": 0.74,
    "adaptive-kl-0.03": 0.71,
    "fixed-kl-0.3": 0.62,
    "fixed-kl-1": 0.71,
    "fixed-kl-3": 0.72,
    "fixed-kl-10": 0.69,
}
# The paper's labels for the same settings
PAPER_LABELS: dict[str, str] = {
    "no-clip": "No clipping or penalty",
    "clip-0.1": "Clipping, ε = 0.1",
    "clip-0.2": "Clipping, ε = 0.2",
    "clip-0.3": "Clipping, ε = 0.3",
    "adaptive-kl-0.003": "Adaptive KL, d_targ = 0.003",
    "adaptive-kl-0.01": "Adaptive KL, d_targ = 0.01",
    "adaptive-kl-0.03": "Adaptive KL, d_targ = 0.03",
    "fixed-kl-0.3": "Fixed KL, β = 0.3",
    "fixed-kl-1": "Fixed KL, β = 1",
    "fixed-kl-3": "Fixed KL, β = 3",
    "fixed-kl-10": "Fixed KL, β = 10",
}
LAST_EPISODES = 100


def last_episodes_mean(returns: np.ndarray, n: int = LAST_EPISODES) -> float:
    """
    Mean return of the last ``n`` training episodes of one run (of all of them when the run has fewer).

    :param returns: the run's training-episode returns in the order the episodes ended
    :param n: number of final episodes, at least 1
    :return: the mean; NaN for a run without any finished episode
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    returns = np.asarray(returns, dtype=float)
    if returns.ndim != 1:
        raise ValueError(f"returns must be a 1-D array of episode returns, got shape {returns.shape}")
    return float(returns[-n:].mean()) if returns.size else float("nan")


def best_setting_scores(scores: dict[str, np.ndarray]) -> tuple[str, float]:
    """
    The best setting of one task: the highest mean over seeds of its runs' scores.

    :param scores: setting -> run scores (e.g. last-100-episode means) of one task
    :return: (setting, its mean)
    """
    means = {setting: float(np.mean(values)) for setting, values in scores.items() if len(values)}
    if not means:
        raise ValueError("scores must hold at least one setting with at least one run")
    best = max(means, key=lambda setting: means[setting])
    return best, means[best]


def normalize_paper(scores: dict[str, np.ndarray], random_score: float) -> dict[str, np.ndarray]:
    """
    The paper's normalisation of one task: ``(score - random) / (best - random)``, the best setting's mean being 1.

    :param scores: setting -> run scores of one task
    :param random_score: the random policy's mean return on the task
    :return: setting -> normalised run scores
    """
    _, best = best_setting_scores(scores)
    if best == random_score:
        raise ValueError(f"the best setting's mean equals the random score ({random_score}): the scale is undefined")
    return {
        setting: (np.asarray(values, dtype=float) - random_score) / (best - random_score) for setting, values in scores.items()
    }
