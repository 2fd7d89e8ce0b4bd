"""A test environment whose first step raises; the id ``exploding_env:Exploding-v0`` imports and registers it."""

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv


class ExplodingCartPole(CartPoleEnv):
    def step(self, action):
        raise RuntimeError("the environment exploded")


gym.register("Exploding-v0", entry_point=ExplodingCartPole, max_episode_steps=500)
