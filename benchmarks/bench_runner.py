"""
The runner's parallel speedup and its overhead, against baselines measured in the same process.

A batch of short CartPole-v1 runs (clip, rl-zoo settings) is executed three ways, interleaved over repetitions:

- ``direct``: a plain loop calling ``model.learn`` (and ``evaluate_policy`` at the same points the runner evaluates),
  torch at one thread: what a user would write without the runner;
- ``runner, 1 worker``: ``run_experiment`` in this process, records written to disk;
- ``runner, N workers``: the same with the local process pool (worker start-up included).

It prints the median over repetitions of overhead = runner 1 worker / direct - 1 (target <= 5%) and of
speedup = runner 1 worker / runner N workers (target >= 1.9x on 2 cores), and the pool's fixed cost
(runner N workers - runner 1 worker / N: forking the workers from the fork server, which imported torch and SB3 once,
and the tail). The first parallel repetition also starts the fork server (its imports overlap the driver's validation
of the experiment); later repetitions find it running, as later calls of ``run_experiment`` in one process do.
The default runs take about 5 s each, shorter than any run of experiments/quick.toml (10-30 s). Usage:
``python benchmarks/bench_runner.py [--runs 8] [--timesteps 30000] [--reps 3] [--workers 2]``
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_ppo_variants import ClipPPO
from sb3_ppo_variants.runner import load_experiment, plan, run_experiment
from sb3_ppo_variants.runner.resolve import algo_kwargs
from sb3_ppo_variants.runner.run import EVAL_SEED_OFFSET

EXPERIMENT = """
[experiment]
name = "bench"
seeds = {seeds}
eval_freq = {timesteps}
eval_episodes = 2

[envs.CartPole-v1]
total_timesteps = {timesteps}
n_envs = 8
n_steps = 32
batch_size = 256
gae_lambda = 0.8
gamma = 0.98
n_epochs = 20
ent_coef = 0.0
learning_rate = "lin_0.001"
clip_range = "lin_0.2"

[variants.clip]
"""


def direct(path: Path) -> float:
    """The same runs as a plain loop over ``model.learn``, evaluating at 0 and at the end like the runner."""
    start = time.perf_counter()
    threads = th.get_num_threads()
    th.set_num_threads(1)
    for config in plan(load_experiment(path)):
        env = make_vec_env(config.env_id, n_envs=config.n_envs, seed=config.seed)
        eval_env = make_vec_env(config.env_id, n_envs=config.eval_episodes, seed=config.seed + EVAL_SEED_OFFSET)
        model = ClipPPO(config.policy, env, seed=config.seed, **algo_kwargs(config.hyperparameters))
        evaluate_policy(model, eval_env, n_eval_episodes=config.eval_episodes)
        model.learn(config.total_timesteps)
        evaluate_policy(model, eval_env, n_eval_episodes=config.eval_episodes)
    th.set_num_threads(threads)
    return time.perf_counter() - start


def runner(path: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        counts = run_experiment(path, out, workers=workers, quiet=True)
        elapsed = time.perf_counter() - start
    if counts != {"ok": len(plan(load_experiment(path)))}:
        raise RuntimeError(f"benchmark runs did not all succeed: {dict(counts)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="runs in the batch")
    parser.add_argument("--timesteps", type=int, default=30_000, help="timesteps per run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel runner")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(EXPERIMENT.format(seeds=list(range(args.runs)), timesteps=args.timesteps))
        warm_up = Path(tmp) / "warm_up.toml"
        warm_up.write_text(EXPERIMENT.format(seeds=[0], timesteps=2048))
        direct(warm_up), runner(warm_up, 1)  # first-use costs (lazy imports, allocator) are not the runner's
        times: dict[str, list[float]] = {"direct": [], "serial": [], "parallel": []}
        for rep in range(args.reps):
            times["direct"].append(direct(path))
            times["serial"].append(runner(path, 1))
            times["parallel"].append(runner(path, args.workers))
            print(f"rep {rep + 1}: " + ", ".join(f"{name} {values[-1]:.1f}s" for name, values in times.items()), flush=True)
    overhead = statistics.median(s / d - 1 for s, d in zip(times["serial"], times["direct"], strict=True))
    speedup = statistics.median(s / p for s, p in zip(times["serial"], times["parallel"], strict=True))
    fixed = statistics.median(p - s / args.workers for s, p in zip(times["serial"], times["parallel"], strict=True))
    print(f"\n{args.runs} runs x {args.timesteps:,} CartPole-v1 steps (clip, rl-zoo settings), medians of {args.reps} reps")
    print("| measure | value | target | |\n|---|---|---|---|")
    print(f"| runner overhead vs direct model.learn | {overhead:+.1%} | <= +5% | {'PASS' if overhead <= 0.05 else 'FAIL'} |")
    print(f"| speedup, {args.workers} workers vs 1 | {speedup:.2f}x | >= 1.9x | {'PASS' if speedup >= 1.9 else 'FAIL'} |")
    print(f"| pool fixed cost ({args.workers} workers - 1 worker / {args.workers}) | {fixed:.1f} s | | |")


if __name__ == "__main__":
    main()
