"""
``stop_scope``: an early stop ends the whole update (``"update"``, SB3's ``target_kl``) or only the policy's steps
(``"policy"``: the critic takes its remaining steps on the value loss alone).
"""

import re
from pathlib import Path

import pytest
import torch as th

from sb3_ppo_variants import ESPO, ClipPPO
from sb3_ppo_variants.validation import ArgumentError

# one rollout of 64 samples, 8 minibatches of 8, 4 epochs: 32 minibatch steps if nothing stops
SETTINGS = {"n_steps": 64, "batch_size": 8, "n_epochs": 4, "learning_rate": 1e-2, "seed": 0, "device": "cpu"}


def _snapshot_at_stop(cls: type) -> type:
    """The class, keeping a copy of the policy's parameters at its first stop (before that minibatch's step)."""

    class Snapshot(cls):
        def early_stop(self, batch, approx_kl):
            stop = super().early_stop(batch, approx_kl)
            if stop and not hasattr(self, "at_stop"):
                self.at_stop = {name: p.detach().clone() for name, p in self.policy.named_parameters()}
            return stop

    return Snapshot


def _moved(model) -> dict[str, bool]:
    """Parameter group (actor, critic) -> whether any of its parameters moved after the stop."""
    groups = {"actor": ("mlp_extractor.policy_net", "action_net"), "critic": ("mlp_extractor.value_net", "value_net")}
    return {
        group: any(
            not th.equal(p, model.at_stop[name]) for name, p in model.policy.named_parameters() if name.startswith(prefixes)
        )
        for group, prefixes in groups.items()
    }


# ESPO with δ = 0.01 stops at the second minibatch (the first after a step); clip with a tiny target_kl likewise
STOPPING = [(ESPO, {"ratio_deviation": 0.01}), (ClipPPO, {"target_kl": 1e-6})]


# scope -> (critic steps after the stop, epochs run, whether the critic moved after the stop). With "policy" the critic
# steps on the stopped minibatch and every later one: 32 minibatches - 1 joint step before the stop = 31.
SCOPES = {"policy": (31.0, 4, True), "update": (None, 1, False)}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("cls", "kwargs"), STOPPING)
def test_after_the_stop_the_policy_is_frozen_and_the_critic_moves_only_with_policy_scope(cls: type, kwargs: dict, scope: str):
    model = _snapshot_at_stop(cls)("MlpPolicy", "CartPole-v1", stop_scope=scope, **kwargs, **SETTINGS)
    model.learn(64)
    stats = model.last_update_stats
    value_steps, epochs, critic_moved = SCOPES[scope]
    assert (stats["early_stop"], stats["stop_epoch"], stats["stop_minibatch"]) == (1.0, 1.0, 2.0)
    assert stats.get("value_steps_after_stop") == value_steps and model._n_updates == epochs
    assert _moved(model) == {"actor": False, "critic": critic_moved}


def test_defaults_and_validation():
    assert ClipPPO("MlpPolicy", "CartPole-v1").stop_scope == "update"  # SB3's target_kl
    assert ESPO("MlpPolicy", "CartPole-v1").stop_scope == "policy"  # measured: docs/espo-scope.md
    with pytest.raises(ArgumentError, match=r"`stop_scope` must be one of \('update', 'policy'\), got 'critic'"):
        ESPO("MlpPolicy", "CartPole-v1", stop_scope="critic")


def test_the_measurements_critic_table_is_the_records(monkeypatch):
    root = Path(__file__).resolve().parents[1]
    (block,) = re.findall(r"```python\n(.*?)```", (root / "docs" / "espo-scope.md").read_text(encoding="utf-8"), re.DOTALL)
    monkeypatch.chdir(root)
    namespace: dict = {}
    exec(block.replace("print(", "table = ("), namespace)
    table = namespace["table"].round(2)
    assert len(namespace["rows"]) == 18
    assert table.loc[("Pendulum-v1", "espo-update"), "explained_variance"] == 0.37
    assert table.loc[("Pendulum-v1", "espo-policy"), "explained_variance"] == 0.85
