"""
Test environments, registered when this module is imported (an env id ``exploding_env:<id>`` imports it):

- ``Exploding-v0``: its first step raises;
- ``ResetExploding-v0``: its reset raises, so a run fails before training starts;
- ``Suicide-v0``: its first step kills its own process with SIGKILL, as the out-of-memory killer would;
- ``Marker-v0``: CartPole that creates the file ``$MARKER_DIR/<pid>`` at its first reset, to show which processes run;
- ``Ns/Thing-v0``: CartPole under a namespaced id, which holds a path separator.
"""

import os
import signal
from pathlib import Path

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv


class ExplodingCartPole(CartPoleEnv):
    def step(self, action):
        raise RuntimeError("the environment exploded")


class ResetExplodingCartPole(CartPoleEnv):
    def reset(self, *, seed=None, options=None):
        raise RuntimeError("the environment exploded at reset")


class SuicideCartPole(CartPoleEnv):
    def step(self, action):
        os.kill(os.getpid(), signal.SIGKILL)


class MarkerCartPole(CartPoleEnv):
    def reset(self, *, seed=None, options=None):
        (Path(os.environ["MARKER_DIR"]) / str(os.getpid())).touch()
        return super().reset(seed=seed, options=options)


gym.register("Exploding-v0", entry_point=ExplodingCartPole, max_episode_steps=500)
gym.register("ResetExploding-v0", entry_point=ResetExplodingCartPole, max_episode_steps=500)
gym.register("Suicide-v0", entry_point=SuicideCartPole, max_episode_steps=500)
gym.register("Marker-v0", entry_point=MarkerCartPole, max_episode_steps=500)
gym.register("Ns/Thing-v0", entry_point=CartPoleEnv, max_episode_steps=500)
