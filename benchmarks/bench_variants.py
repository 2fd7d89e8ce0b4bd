"""
Training speed of each variant relative to ``stable_baselines3.PPO``, measured in the same process.

Every class (SB3's PPO and every registered variant) trains with identical settings: rl-zoo's tuned PPO
hyperparameters for CartPole-v1 and Pendulum-v1 (gSDE on Pendulum), and the PPO paper's MuJoCo settings on Hopper-v5
(experiments/ppo-paper-table1.toml: horizon 2048, 10 epochs, minibatch 64, separate 64x64 tanh networks). The
settings are passed explicitly to every class,
``n_epochs`` and ``batch_size`` included, so pg runs PPO's epochs and minibatches here instead of its own
defaults (one full-batch step per rollout): the comparison is of the cost of one update, not of the defaults.
The runs of a repetition are interleaved (PPO, then each variant, then the next repetition, in
reverse order every other repetition so that a drift of the machine's load within a repetition does not always
favour the same classes), each with one torch thread after an untimed warm-up of every class, and
fps = total_timesteps / wall time of ``learn()``. Each variant's fps is divided by PPO's fps in the same
repetition; the table prints the median of these ratios, so load from other processes on the machine, which
drifts slowly, cancels out.

Targets: the variants that need the action distributions (exact KL: kl, klclip, trppo; one more forward pass of
the frozen rollout policy per minibatch, and for kl and klclip one of the whole rollout per update) >= 0.90 x PPO,
every other variant >= 0.97 x PPO.
Run: ``python benchmarks/bench_variants.py [--reps 5] [--timesteps N] [--envs CartPole-v1 Pendulum-v1 Hopper-v5]``
(Hopper-v5 needs the ``mujoco`` extra).
"""

import argparse
import gc
import statistics
import time
from typing import Any

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_ppo_variants import VARIANTS

# rl-zoo3's hyperparams/ppo.yml, with constant learning rate and clip range; the PPO paper's Table 3 for Hopper-v5.
# "timesteps" is the default length of one timed learn().
SETTINGS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "timesteps": 32768,
        "n_envs": 8,
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
    },
    "Pendulum-v1": {
        "timesteps": 32768,
        "n_envs": 4,
        "n_steps": 1024,
        "batch_size": 64,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    "Hopper-v5": {
        "timesteps": 8192,
        "n_envs": 1,
        "n_steps": 2048,
        "batch_size": 64,
        "gae_lambda": 0.95,
        "gamma": 0.99,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 3e-4,
        "clip_range": 0.2,
        "policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": th.nn.Tanh},
    },
}
CLASSES: dict[str, type[PPO]] = {"PPO": PPO, **VARIANTS}
# exact KL (one more forward pass per minibatch) at 0.90, the others at 0.97
TARGETS = {name: 0.90 if name in ("kl", "klclip", "trppo") else 0.97 for name in VARIANTS}


def make_model(name: str, env_id: str, seed: int) -> PPO:
    """
    Build one model with the benchmark's settings for ``env_id``.

    :param name: ``PPO`` or a variant's registry name
    :param env_id: a key of ``SETTINGS``
    :param seed: seed of the model and its environments
    :return: the model, not yet trained
    """
    settings = {key: value for key, value in SETTINGS[env_id].items() if key != "timesteps"}
    env = make_vec_env(env_id, n_envs=settings.pop("n_envs"), seed=seed)
    return CLASSES[name]("MlpPolicy", env, seed=seed, **settings)


def timed_fps(name: str, env_id: str, seed: int, timesteps: int) -> float:
    """
    Train one model and return its speed.

    :param name: ``PPO`` or a variant's registry name
    :param env_id: a key of ``SETTINGS``
    :param seed: seed of the model and its environments
    :param timesteps: total timesteps of ``learn()``
    :return: timesteps / wall time of ``learn()``
    """
    model = make_model(name, env_id, seed)
    gc.collect()
    start = time.perf_counter()
    model.learn(timesteps)
    return timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default: 5)")
    parser.add_argument("--timesteps", type=int, help="timesteps per training run (default: each env's in SETTINGS)")
    parser.add_argument("--envs", nargs="+", default=list(SETTINGS), choices=list(SETTINGS), help="environments")
    args = parser.parse_args()
    th.set_num_threads(1)

    for env_id in args.envs:
        for name in CLASSES:
            make_model(name, env_id, seed=0).learn(1)

    fps: dict[str, dict[str, list[float]]] = {env_id: {name: [] for name in CLASSES} for env_id in args.envs}
    for rep in range(args.reps):
        order = list(CLASSES) if rep % 2 == 0 else list(reversed(CLASSES))
        for env_id in args.envs:
            for name in order:
                timesteps = args.timesteps or SETTINGS[env_id]["timesteps"]
                fps[env_id][name].append(timed_fps(name, env_id, seed=rep, timesteps=timesteps))
            row = "  ".join(f"{name} {fps[env_id][name][-1]:.0f}" for name in CLASSES)
            print(f"rep {rep + 1}/{args.reps} {env_id}: fps {row}", flush=True)

    print(f"\nmedian fps ratio variant / SB3 PPO over {args.reps} interleaved repetitions")
    print(f"{'env':<12} {'variant':<8} {'PPO fps':>8} {'fps':>8} {'ratio':>6} {'min':>6} {'max':>6} {'target':>7}  result")
    failed = False
    for env_id in args.envs:
        ppo_fps = fps[env_id]["PPO"]
        for name, target in TARGETS.items():
            ratios = [v / p for v, p in zip(fps[env_id][name], ppo_fps, strict=True)]
            ratio = statistics.median(ratios)
            passed = ratio >= target
            failed |= not passed
            print(
                f"{env_id:<12} {name:<8} {statistics.median(ppo_fps):>8.0f} {statistics.median(fps[env_id][name]):>8.0f}"
                f" {ratio:>6.3f} {min(ratios):>6.3f} {max(ratios):>6.3f} {target:>6.2f}x  {'PASS' if passed else 'FAIL'}"
            )
    print("all targets met" if not failed else "some targets missed")


if __name__ == "__main__":
    main()
