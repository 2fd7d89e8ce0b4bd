"""
Fingerprints of the batched engine's records: a change that should not change what the engine computes (a faster
rollout, a rearranged update) must print the same lines before and after, on the same machine.

It trains a few small batches that cover the engine's paths (VecNormalize with and without reward normalisation, runs
without it, time-limit truncations, several objectives in one batch, ESPO's and ``target_kl``'s early stops with both
scopes, ``clip_range_vf``, pg's value steps, MuJoCo terminations, evaluations inside a rollout) and prints one SHA-256
per batch of its records' evaluation, training and episode rows and statuses. Usage::

    python benchmarks/engine_fingerprint.py > before.txt      # at the old commit
    python benchmarks/engine_fingerprint.py | diff before.txt -  # at the new one
"""

import hashlib
import json
from typing import Any

from sb3_ppo_variants.engine.trainer import train_batch
from sb3_ppo_variants.runner.plan import RunConfig

# what every run of the fingerprint shares: evaluations every 700 steps, so that some fall inside rollouts
COMMON = {"experiment": "fingerprint", "eval_freq": 700, "eval_episodes": 3, "policy": "MlpPolicy"}


def config(algo: str, seed: int, env_id: str, n_envs: int, normalize: dict | None, steps: int, **hyperparameters: Any):
    """A small run: 128-step rollouts, minibatches of 64, two epochs, unless ``hyperparameters`` says otherwise."""
    run_id = f"{env_id}__{algo}__seed{seed}"
    hyperparameters = {"n_steps": 128, "batch_size": 64, "n_epochs": 2, **hyperparameters}
    fields = {"env_id": env_id, "variant": algo, "algo": algo, "seed": seed, "n_envs": n_envs, "normalize": normalize}
    return RunConfig(run_id=run_id, total_timesteps=steps, hyperparameters=hyperparameters, **fields, **COMMON)


BATCHES = {
    "CartPole-v1: clip, kl, espo; VecNormalize with and without reward normalisation, and none": [
        config("clip", 0, "CartPole-v1", 4, {"gamma": 0.98}, 2048),
        config("kl", 1, "CartPole-v1", 4, None, 2048),
        config("espo", 2, "CartPole-v1", 4, {"norm_reward": False}, 2048),
    ],
    "Pendulum-v1: pg with value steps": [
        config("pg", seed, "Pendulum-v1", 2, {}, 2048, n_epochs=1, batch_size=None, value_steps=3) for seed in (0, 1)
    ],
    "CartPole-v1: target_kl stops (both scopes)": [
        config("clip", 0, "CartPole-v1", 4, None, 2048, target_kl=0.002),
        config("kl", 1, "CartPole-v1", 4, None, 2048, target_kl=0.004, stop_scope="policy"),
    ],
    "CartPole-v1: clip_range_vf": [config("clip", seed, "CartPole-v1", 4, None, 2048, clip_range_vf=0.2) for seed in (0, 1)],
    "Pendulum-v1: clip, kl; truncations": [
        config("clip", 0, "Pendulum-v1", 2, {}, 2048),
        config("kl", 1, "Pendulum-v1", 2, {"gamma": 0.9}, 2048),
    ],
    "Hopper-v5: clip; the Table 1 normalisation": [
        config("clip", seed, "Hopper-v5", 1, {"norm_reward": False, "clip_obs": 5.0}, 3000, n_steps=512) for seed in range(3)
    ],
}


def fingerprint(records: list[Any]) -> str:
    """SHA-256 of the records' rows and statuses (not their times)."""
    statuses = [{key: record.status[key] for key in ("status", "timesteps", "error")} for record in records]
    content = [
        (record.eval_rows, record.train_rows, record.episode_rows, status)
        for record, status in zip(records, statuses, strict=True)
    ]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=repr).encode()).hexdigest()


def main() -> None:
    for name, configs in BATCHES.items():
        print(f"{fingerprint(train_batch(configs))}  {name}")


if __name__ == "__main__":
    main()
