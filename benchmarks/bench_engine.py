"""
The batched engine's speed, as ratios measured in this run (absolute times on a shared machine lie):

- against SB3's PPO running the same runs one after another (per core: the engine uses one core);
- against the environment alone: the same gymnasium environments (with SB3's Monitor) stepped with random actions in
  a plain loop, no policy and no VecEnv, the physical limit of this machine.

For K = 1, 2, 4, ... it prints steps/s per core, both ratios and memory per run, and at one K where the time goes
(environment, policy forward and rollout bookkeeping, update), the rate that the update's matrix arithmetic alone
would allow (the compute floor of the settings: no engine can beat it on this core), and the ratio the engine would
reach if its update ran at that floor and the rest took the time measured. Usage::

    python benchmarks/bench_engine.py                      # CartPole-v1 (quick settings) and Hopper-v5 (paper settings)
    python benchmarks/bench_engine.py --env Hopper-v5 --ks 1 8 32 64 --steps 8192
    python benchmarks/bench_engine.py --env Hopper-v5 --vec-env envpool   # the engine on envpool (the envpool extra)
"""

import argparse
import resource
import time
from dataclasses import replace

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import sb3_ppo_variants.engine.trainer as trainer
from sb3_ppo_variants.engine.policy import BatchedPolicy
from sb3_ppo_variants.runner.plan import RunConfig
from sb3_ppo_variants.runner.run import run_one
from sb3_ppo_variants.vec_envs import EnvpoolVecEnv

SETTINGS = {
    "CartPole-v1": {
        "n_envs": 8,
        "normalize": None,
        "hyperparameters": {"n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20},
    },
    "Hopper-v5": {
        "n_envs": 1,
        "normalize": {"norm_obs": True, "norm_reward": False, "clip_obs": 5.0},
        "hyperparameters": {"n_steps": 2048, "batch_size": 64, "n_epochs": 10, "vf_coef": 1.0, "max_grad_norm": 1e10},
    },
}


def configs(env_id: str, k: int, steps: int, vec_env: str = "gymnasium") -> list[RunConfig]:
    """K runs of clip and kl (alternating), seeds 0..K-1, evaluated only at the start and the end (one episode)."""
    settings = SETTINGS[env_id]
    return [
        RunConfig(
            run_id=f"{env_id}__bench__seed{seed}",
            experiment="bench",
            env_id=env_id,
            variant="clip" if seed % 2 == 0 else "kl",
            algo="clip" if seed % 2 == 0 else "kl",
            seed=seed,
            total_timesteps=steps,
            eval_freq=10 * steps,
            eval_episodes=1,
            n_envs=settings["n_envs"],
            policy="MlpPolicy",
            normalize=settings["normalize"],
            hyperparameters=dict(settings["hyperparameters"]),
            vec_env=vec_env,
        )
        for seed in range(k)
    ]


def env_alone(env_id: str, n_envs: int, steps: int, vec_env: str = "gymnasium") -> float:
    """
    Seconds to step ``n_envs`` environments for ``steps`` steps in all, with random actions and nothing else: the
    gymnasium environments as the runs train on them (with SB3's Monitor), stepped in a plain loop that resets an
    environment when its episode ends (no VecEnv copies), or the package's ``EnvpoolVecEnv`` (one thread).
    """
    rng = np.random.default_rng(0)
    if vec_env == "envpool":
        env = EnvpoolVecEnv(env_id, n_envs, seed=0)
        env.reset()
        start = time.perf_counter()
        for _ in range(steps // n_envs):
            env.step(_random_actions(env.action_space, n_envs, rng))
        elapsed = time.perf_counter() - start
        env.close()
        return elapsed
    venv = make_vec_env(env_id, n_envs=n_envs, seed=0)
    venv.reset()
    envs = venv.envs
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        for env, action in zip(envs, _random_actions(venv.action_space, n_envs, rng), strict=True):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
    elapsed = time.perf_counter() - start
    venv.close()
    return elapsed


def _random_actions(space, n: int, rng: np.random.Generator) -> np.ndarray:
    if hasattr(space, "n"):
        return rng.integers(space.n, size=n)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)


def update_floor(env_id: str, k: int) -> float:
    """
    Steps/s that the update's arithmetic alone allows K runs: the forward and backward pass of the K stacked policy and
    value networks on every minibatch of one rollout's epochs, and nothing else (no loss terms, no Adam, no rollout).
    """
    settings = SETTINGS[env_id]
    hyperparameters = settings["hyperparameters"]
    env = make_vec_env(env_id, n_envs=1, seed=0)
    policy = BatchedPolicy([PPO("MlpPolicy", env, seed=seed, device="cpu").policy for seed in range(k)])
    env.close()
    rollout = hyperparameters["n_steps"] * settings["n_envs"]
    observations = th.randn(k, hyperparameters["batch_size"], env.observation_space.shape[0])
    minibatches = hyperparameters["n_epochs"] * (rollout // hyperparameters["batch_size"])

    def step() -> None:
        (policy.action_output(observations).sum() + policy.values(observations).sum()).backward()

    step()
    start = time.perf_counter()
    for _ in range(minibatches):
        step()
    return k * rollout / (time.perf_counter() - start)


def engine(runs: list[RunConfig]) -> tuple[float, float, float]:
    """(total seconds, seconds in updates, peak RSS growth in MB) of one batch."""
    spent = {"update": 0.0}
    original = trainer.update

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent["update"] += time.perf_counter() - start

    trainer.update = timed
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        records = trainer.train_batch(runs)
    finally:
        trainer.update = original
    elapsed = time.perf_counter() - start
    assert all(record.status["status"] == "ok" for record in records), [r.status for r in records]
    return elapsed, spent["update"], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=["CartPole-v1", "Hopper-v5"], choices=sorted(SETTINGS))
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: 8 rollouts)")
    parser.add_argument("--profile-k", type=int, default=16, help="K at which the time is split")
    parser.add_argument(
        "--vec-env",
        choices=("gymnasium", "envpool"),
        default="gymnasium",
        help="the engine's training environments, and those stepped alone (SB3's baseline always runs gymnasium's)",
    )
    args = parser.parse_args()
    th.set_num_threads(1)
    for env_id in args.env:
        settings = SETTINGS[env_id]
        steps = args.steps or 8 * settings["hyperparameters"]["n_steps"] * settings["n_envs"]
        sb3_runs = configs(env_id, 2, steps)
        run_one(replace(sb3_runs[0], total_timesteps=settings["hyperparameters"]["n_steps"] * settings["n_envs"]))  # warm-up
        start = time.perf_counter()
        for run in sb3_runs:
            assert run_one(run).status["status"] == "ok"
        sb3_rate = 2 * steps / (time.perf_counter() - start)
        print(
            f"{env_id}: {steps:,} steps per run; SB3 (clip and kl, one after another, gymnasium): {sb3_rate:,.0f} steps/s "
            f"per core; the engine and the environment alone on {args.vec_env}"
        )
        print(f"{'K':>4} {'steps/s':>9} {'x SB3':>7} {'env alone steps/s':>18} {'engine / env':>13} {'MB per run':>11}")
        for k in args.ks:
            runs = configs(env_id, k, steps, args.vec_env)
            total, in_update, memory = engine(runs)
            alone = env_alone(env_id, k * settings["n_envs"], k * steps, args.vec_env)
            rate, env_rate = k * steps / total, k * steps / alone
            ratios = f"{rate / sb3_rate:>6.2f}x {env_rate:>18,.0f} {rate / env_rate:>12.0%}"
            print(f"{k:>4} {rate:>9,.0f} {ratios} {memory / k:>11.1f}")
            if k == args.profile_k:
                rest = total - alone - in_update
                print(
                    f"     at K = {k}: environment {alone / total:.0%} (measured alone), update {in_update / total:.0%}, "
                    f"policy forward, sampling and rollout bookkeeping {rest / total:.0%}"
                )
                floor = update_floor(env_id, k)
                bound = k * steps / (total - in_update + k * steps / floor)
                print(
                    f"     at K = {k}: the update's arithmetic alone (forward and backward of the networks) allows "
                    f"{floor:,.0f} steps/s, {floor / sb3_rate:.1f}x SB3; an update at that floor, with the rest as "
                    f"measured, would bring the engine to {bound / sb3_rate:.1f}x SB3"
                )


if __name__ == "__main__":
    main()
