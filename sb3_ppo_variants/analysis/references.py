"""
Per-environment scores used to normalise returns (random policy = 0, reference = 1) and default thresholds.

Sources:

- ``RANDOM_SCORES``: mean undiscounted return of a uniformly random policy, measured on this machine with
  gymnasium 1.4.0: 100 episodes per environment, ``env.reset(seed=episode)`` for episode 0..99,
  ``env.action_space.seed(0)`` and ``action_space.sample()`` at every step, episodes run to termination or
  the TimeLimit truncation (CartPole-v1: 23.68 ± 12.2, Acrobot-v1: -497.08 ± 19.1, Pendulum-v1: -1207.6 ± 293.7).
  These agree with the commonly quoted ranges (CartPole-v1 ≈ 9-22, Acrobot-v1 = -500, Pendulum-v1 ≈ -1200..-1500).
- ``REFERENCE_SCORES``: the PPO scores published in the rl-baselines3-zoo benchmark table
  (``benchmark.md``): CartPole-v1 500 (the maximum), Acrobot-v1 ≈ -75, Pendulum-v1 ≈ -170.
- ``THRESHOLDS``: ``gymnasium.spec(env_id).reward_threshold`` where gymnasium defines one
  (CartPole-v1 475, Acrobot-v1 -100); Pendulum-v1 has none.
"""

RANDOM_SCORES: dict[str, float] = {
    "CartPole-v1": 23.68,
    "Acrobot-v1": -497.08,
    "Pendulum-v1": -1207.56,
}

REFERENCE_SCORES: dict[str, float] = {
    "CartPole-v1": 500.0,
    "Acrobot-v1": -75.0,
    "Pendulum-v1": -170.0,
}

THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
}
