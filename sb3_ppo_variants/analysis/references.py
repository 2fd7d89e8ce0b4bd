"""
Per-environment scores used to normalise returns (random policy = 0, reference = 1) and default thresholds.

Sources:

- ``RANDOM_SCORES``: mean undiscounted return of a uniformly random policy, measured on this machine by
  ``ppo-variants references random ENV_ID...`` (:func:`measure_random_score`) and kept in ``random_scores.json`` next
  to this module with the protocol, the number of episodes, the standard deviation and the gymnasium version: 100
  episodes, ``env.reset(seed=episode)`` for episode 0..99, ``env.action_space.seed(0)`` and ``action_space.sample()`` at
  every step, episodes run to termination or the TimeLimit truncation. For CartPole-v1 (≈ 23.7), Acrobot-v1 (≈ -497) and
  Pendulum-v1 (≈ -1208) they agree with the commonly quoted ranges (≈ 9-22, -500, -1200..-1500).
- ``REFERENCE_SCORES``: published PPO returns. Classic control: the PPO scores of the rl-baselines3-zoo benchmark table
  (``benchmark.md``): CartPole-v1 500 (the maximum), Acrobot-v1 ≈ -75, Pendulum-v1 ≈ -170. The seven MuJoCo tasks of
  the PPO paper's Table 1, in their v5 versions: ``PUBLISHED_PPO_1M``, the returns of PPO-clip (ε = 0.2) after 1M steps
  in OpenAI Baselines' MuJoCo 1M-step benchmark (ppo2), measured on the gym MuJoCo versions of its time, older than
  v5. There they are a scale, not a target: 1 means PPO's published return at 1M steps on the older task, and v5 tasks,
  other budgets or settings may sit well above or below it.
- ``THRESHOLDS``: ``gymnasium.spec(env_id).reward_threshold`` for the classic-control tasks where gymnasium defines one
  (CartPole-v1 475, Acrobot-v1 -100); Pendulum-v1 has none. The MuJoCo tasks have none here: gymnasium's are above
  PPO's published returns at 1M steps on each of the six tasks that have one (e.g. Hopper-v5 3800 against 2316,
  Swimmer-v5 360 against 111; Walker2d-v5 has none), so time-to-threshold would say little at the paper's budget.

Nothing here imports gymnasium at module level: :func:`measure_random_score` imports it when called.
"""

import json
from pathlib import Path
from typing import Any

from sb3_ppo_variants.fileio import write_atomic

RANDOM_SCORES_FILE = Path(__file__).with_name("random_scores.json")
RANDOM_POLICY_PROTOCOL = (
    "uniform random actions: env.reset(seed=episode) for episode 0..n-1, env.action_space.seed(0), "
    "action_space.sample() at every step, each episode run to termination or truncation"
)


def load_random_scores(path: str | Path = RANDOM_SCORES_FILE) -> dict[str, dict[str, Any]]:
    """
    Read the measured random-policy scores.

    :param path: the JSON file written by :func:`write_random_scores`
    :return: env_id -> {"mean", "std", "episodes", "gymnasium", "protocol"}
    """
    return json.loads(Path(path).read_text(encoding="utf-8"))


def measure_random_score(env_id: str, episodes: int = 100) -> dict[str, Any]:
    """
    Measure the mean undiscounted return of a uniformly random policy, by ``RANDOM_POLICY_PROTOCOL``.

    :param env_id: a gymnasium id
    :param episodes: number of episodes, at least 1
    :return: {"mean", "std", "episodes", "gymnasium", "protocol"}
    """
    import gymnasium as gym
    import numpy as np

    from sb3_ppo_variants.validation import is_integer

    if not is_integer(episodes) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    env = gym.make(env_id)
    env.action_space.seed(0)
    returns = []
    try:
        for episode in range(episodes):
            env.reset(seed=episode)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return {
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "episodes": int(episodes),
        "gymnasium": gym.__version__,
        "protocol": RANDOM_POLICY_PROTOCOL,
    }


def write_random_scores(env_ids: list[str], episodes: int = 100, path: str | Path = RANDOM_SCORES_FILE) -> dict[str, Any]:
    """
    Measure the random-policy score of each environment and add it to the JSON file (atomically), keeping the others.

    :param env_ids: gymnasium ids
    :param episodes: episodes per environment
    :param path: the JSON file
    :return: the measurements made now, env_id -> entry
    """
    path = Path(path)
    scores = load_random_scores(path) if path.exists() else {}
    measured = {env_id: measure_random_score(env_id, episodes) for env_id in env_ids}
    scores.update(measured)
    write_atomic(path, json.dumps(dict(sorted(scores.items())), indent=1) + "\n")
    return measured


RANDOM_SCORES: dict[str, float] = {env_id: entry["mean"] for env_id, entry in load_random_scores().items()}

# Published returns of PPO-clip (ε = 0.2) after 1M steps, per MuJoCo task: OpenAI Baselines' ppo2 in its MuJoCo 1M-step
# benchmark (the gym MuJoCo versions of its time, not v5); the Table 1 report shows them beside clip-0.2
PUBLISHED_PPO_1M: dict[str, float] = {
    "HalfCheetah": 1669.0,
    "Hopper": 2316.0,
    "InvertedDoublePendulum": 7103.0,
    "InvertedPendulum": 809.0,
    "Reacher": -6.7,
    "Swimmer": 111.0,
    "Walker2d": 3425.0,
}
# The version of the MuJoCo tasks whose random scores random_scores.json holds
MUJOCO_VERSION = "v5"

REFERENCE_SCORES: dict[str, float] = {
    "CartPole-v1": 500.0,
    "Acrobot-v1": -75.0,
    "Pendulum-v1": -170.0,
} | {f"{task}-{MUJOCO_VERSION}": score for task, score in PUBLISHED_PPO_1M.items()}

THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
}
