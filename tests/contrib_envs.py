"""
Small tasks for the sb3-contrib bases, registered when this module is imported (an env id ``contrib_envs:<id>``):

- ``MaskedIdentity-v0``: sb3-contrib's ``InvalidActionEnvDiscrete`` (10 actions, 5 of them invalid at each step,
  reward 1 for the action equal to the observed state, 20 steps per episode);
- ``Recall-v0``: a memory task. The first observation shows a cue, +1 or -1, the next three show 0; at the fourth and
  last step the action must name the cue (1 for +1, 0 for -1), rewarded 1. A policy without memory scores 0.5 on
  average, a recurrent one can score 1.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from sb3_contrib.common.envs import InvalidActionEnvDiscrete

RECALL_STEPS = 4


class Recall(gym.Env):
    observation_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(2))
        self.t = 0
        return np.array([2.0 * self.cue - 1.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == RECALL_STEPS
        reward = float(done and int(action) == self.cue)
        return np.zeros(1, dtype=np.float32), reward, done, False, {}


def masked_identity() -> gym.Env:
    return InvalidActionEnvDiscrete(dim=10, ep_length=20, n_invalid_actions=5)


gym.register("MaskedIdentity-v0", entry_point=masked_identity)
gym.register("Recall-v0", entry_point=Recall)
