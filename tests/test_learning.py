"""Slow learning checks (``python -m pytest -m slow``): every variant learns CartPole-v1 with rl-zoo's PPO settings."""

from pathlib import Path

import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_ppo_variants import VARIANTS
from sb3_ppo_variants.runner import load_experiment
from sb3_ppo_variants.runner.resolve import algo_kwargs

# rl-zoo3's tuned PPO hyperparameters for CartPole-v1 as the quick experiment writes them, at half its 100k budget
(CARTPOLE,) = [
    env
    for env in load_experiment(Path(__file__).parents[1] / "experiments" / "quick.toml").envs
    if env.env_id == "CartPole-v1"
]
# pg takes one step per rollout, 20x fewer gradient steps than the others: with the zoo's decaying 1e-3 it stays
# near random (~25), so it gets a larger constant step size and a lower bar
THRESHOLDS = {"pg": 100.0, "cpi": 150.0, "clip": 300.0, "kl": 200.0, "logclip": 300.0}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_learns_cartpole(name: str):
    kwargs = algo_kwargs(CARTPOLE.hyperparameters)
    if name == "pg":
        kwargs.update(n_epochs=1, batch_size=None, learning_rate=3e-3)
    env = make_vec_env("CartPole-v1", n_envs=CARTPOLE.n_envs, seed=0)
    model = VARIANTS[name](CARTPOLE.policy, env, seed=0, **kwargs)
    model.learn(50_000)
    mean_return, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=100), n_eval_episodes=10)
    assert mean_return >= THRESHOLDS[name]
