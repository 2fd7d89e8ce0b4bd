"""
Evidence that envpool's task is gymnasium's, before a committed result trains on it (``ppo-variants references envpool``):
the same spaces, the random policy's return and length distributions, and a trained policy's returns, each compared
with a two-sample Kolmogorov-Smirnov test (numpy only: the asymptotic p-value).
"""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sb3_ppo_variants.fileio import write_atomic


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """
    The two-sample Kolmogorov-Smirnov statistic D = sup |F_a - F_b| and its asymptotic p-value
    (Q_KS(λ) = 2 Σ_k (-1)^(k-1) exp(-2 k² λ²), λ = (√n_e + 0.12 + 0.11/√n_e) D with n_e = n_a n_b / (n_a + n_b)).

    :param a: a sample
    :param b: another sample
    :return: (D, p)
    """
    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    points = np.concatenate([a, b])
    distance = float(
        np.max(np.abs(np.searchsorted(a, points, "right") / len(a) - np.searchsorted(b, points, "right") / len(b)))
    )
    effective = math.sqrt(len(a) * len(b) / (len(a) + len(b)))
    lam = (effective + 0.12 + 0.11 / effective) * distance
    if lam < 1e-3:
        return distance, 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return distance, float(min(max(p, 0.0), 1.0))


def _episodes(env: Any, policy: Any, n_episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of ``n_episodes`` episodes of a VecEnv with ``info['episode']`` (Monitor's)."""
    rng = np.random.default_rng(seed)
    observations = env.reset()
    returns, lengths = [], []
    while len(returns) < n_episodes:
        if policy is None:
            actions = np.array([env.action_space.sample() for _ in range(env.num_envs)])
            if not hasattr(env.action_space, "n"):
                actions = rng.uniform(env.action_space.low, env.action_space.high, (env.num_envs, *env.action_space.shape))
        else:
            actions, _ = policy.predict(observations, deterministic=True)
        observations, _, _, infos = env.step(actions)
        for info in infos:
            if "episode" in info:
                returns.append(info["episode"]["r"])
                lengths.append(info["episode"]["l"])
    return np.array(returns[:n_episodes]), np.array(lengths[:n_episodes])


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "std": float(values.std()), "median": float(np.median(values)), "n": len(values)}


def compare_task(env_id: str, episodes: int = 200, train_steps: int = 50_000, seed: int = 0) -> dict[str, Any]:
    """
    Compare envpool's ``env_id`` with gymnasium's.

    :param env_id: a task both have
    :param episodes: episodes per distribution
    :param train_steps: steps of SB3's PPO (ClipPPO, SB3's defaults) trained on gymnasium's task for the trained policy
    :param seed: seed of the environments and the training
    :return: the evidence (spaces, random-policy and trained-policy comparisons)
    """
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_ppo_variants import ClipPPO
    from sb3_ppo_variants.vec_envs import EnvpoolVecEnv, import_envpool

    pool = import_envpool().make(env_id, env_type="gymnasium", num_envs=1)
    reference = make_vec_env(env_id, n_envs=8, seed=seed)
    spaces = {
        "gymnasium": {"observation": repr(reference.observation_space), "action": repr(reference.action_space)},
        "envpool": {"observation": repr(pool.observation_space), "action": repr(pool.action_space)},
    }
    same_shape = pool.observation_space.shape == reference.observation_space.shape and getattr(
        pool.action_space, "shape", None
    ) == getattr(reference.action_space, "shape", None)
    evidence: dict[str, Any] = {"env_id": env_id, "spaces": spaces, "same_shapes": bool(same_shape)}
    model = ClipPPO("MlpPolicy", make_vec_env(env_id, n_envs=8, seed=seed), seed=seed).learn(train_steps)
    for name, policy in (("random_policy", None), ("trained_policy", model)):
        results = {}
        for kind, env in (
            ("gymnasium", make_vec_env(env_id, n_envs=8, seed=seed + 1)),
            ("envpool", EnvpoolVecEnv(env_id, 8, seed + 1)),
        ):
            env.seed(seed + 1)
            results[kind] = _episodes(env, policy, episodes, seed)
            env.close()
        comparison = {}
        for index, measure in enumerate(("return", "length")):
            a, b = results["gymnasium"][index], results["envpool"][index]
            distance, p = ks_two_sample(a, b)
            comparison[measure] = {"gymnasium": _summary(a), "envpool": _summary(b), "ks_statistic": distance, "ks_p": p}
        evidence[name] = comparison
    evidence["train_steps"] = train_steps
    return evidence


def write_evidence(env_ids: list[str], out: str | Path, episodes: int, train_steps: int) -> Path:
    """
    Measure every task and write ``OUT/envpool_evidence.json`` and ``OUT/envpool_evidence.md``.

    :param env_ids: the tasks
    :param out: the directory
    :param episodes: episodes per distribution
    :param train_steps: training steps of the trained policy
    :return: the Markdown file
    """
    import time

    import envpool
    import gymnasium

    from sb3_ppo_variants.runner.run import git_commit

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tasks = [compare_task(env_id, episodes, train_steps) for env_id in env_ids]
    versions = {"gymnasium": gymnasium.__version__, "envpool": envpool.__version__}
    made = {**git_commit(), "wall_time_s": round(time.perf_counter() - start, 1)}
    write_atomic(out / "envpool_evidence.json", json.dumps({"versions": versions, **made, "tasks": tasks}, indent=1) + "\n")
    lines = [
        "# envpool's tasks against gymnasium's",
        "",
        f"gymnasium {versions['gymnasium']}, envpool {versions['envpool']}; {episodes} episodes per distribution; "
        "two-sample Kolmogorov-Smirnov test (asymptotic p). The trained policy is SB3's PPO (ClipPPO at SB3's defaults) "
        f"trained on gymnasium's task, evaluated deterministically on both. Package commit {made['git_commit']}, "
        f"{made['wall_time_s']:.0f} s.",
        "",
        "| task | same shapes | policy | measure | gymnasium mean ± std | envpool mean ± std | KS D | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in tasks:
        for policy in ("random_policy", "trained_policy"):
            for measure, row in task[policy].items():
                g, e = row["gymnasium"], row["envpool"]
                lines.append(
                    f"| {task['env_id']} | {task['same_shapes']} | {policy.replace('_', ' ')} | {measure} | "
                    f"{g['mean']:.4g} ± {g['std']:.3g} | {e['mean']:.4g} ± {e['std']:.3g} | {row['ks_statistic']:.3f} | "
                    f"{row['ks_p']:.3g} |"
                )
    lines += ["", "Spaces:", ""]
    for task in tasks:
        for kind, spaces in task["spaces"].items():
            lines.append(f"- {task['env_id']} {kind}: observation {spaces['observation']}, action {spaces['action']}")
    write_atomic(out / "envpool_evidence.md", "\n".join(lines) + "\n")
    return out / "envpool_evidence.md"
