"""
The family on sb3-contrib's bases: ``clip`` is ``MaskablePPO`` and ``RecurrentPPO`` bit for bit, every objective learns
a small masked task and a small memory task, the recurrent padding never enters a mean, save/load, the registry and the
runner.
"""

import re
import sys
from pathlib import Path
from typing import Any

import contrib_envs  # noqa: F401  (registers MaskedIdentity-v0 and Recall-v0)
import numpy as np
import pytest
import torch as th
from sb3_contrib import MaskablePPO, RecurrentPPO
from sb3_contrib.common.envs import InvalidActionEnvDiscrete, InvalidActionEnvMultiDiscrete
from sb3_contrib.common.maskable.evaluation import evaluate_policy as maskable_evaluate_policy
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_ppo_variants import VARIANTS, MaskableVariantPPO, PolicyBatch, RecurrentVariantPPO, get_variant
from sb3_ppo_variants.contrib import MaskableClipPPO, MaskableLogClipPPO, RecurrentClipPPO, RecurrentKLPenaltyPPO
from sb3_ppo_variants.engine import plan_batches
from sb3_ppo_variants.objectives import cpi_loss
from sb3_ppo_variants.runner import SpecError, load_experiment, plan, run_one
from sb3_ppo_variants.validation import ArgumentError

SETTINGS = {"n_steps": 64, "batch_size": 32, "n_epochs": 3, "seed": 1, "device": "cpu"}


def _same_parameters(a: Any, b: Any) -> bool:
    return all(th.equal(p, q) for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True))


def test_clip_is_bit_identical_to_maskable_ppo():
    # each model built and trained in turn: both seed the global random streams when built and draw from them in learn()
    models = [
        cls("MlpPolicy", InvalidActionEnvDiscrete(dim=8, n_invalid_actions=3), **SETTINGS).learn(256)
        for cls in (MaskablePPO, MaskableClipPPO)
    ]
    assert _same_parameters(*models)
    assert isinstance(models[1], MaskablePPO) and isinstance(models[1], VARIANTS["clip"])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_clip_is_bit_identical_to_recurrent_ppo(env_id: str):
    models = [
        cls("MlpLstmPolicy", make_vec_env(env_id, n_envs=2, seed=0), **SETTINGS).learn(256)
        for cls in (RecurrentPPO, RecurrentClipPPO)
    ]
    assert _same_parameters(*models)
    if env_id == "CartPole-v1":
        # episodes began inside the rollout, so its minibatches held padded sequences
        assert models[1].rollout_buffer.episode_starts[1:].any()


class CountingRecurrentCPI(RecurrentVariantPPO):
    """cpi on the recurrent base, counting the samples its objective sees and those the buffer padded minibatches to."""

    def policy_objective(self, batch: PolicyBatch):
        self.seen = getattr(self, "seen", 0) + batch.ratio.numel()
        return cpi_loss(batch.ratio, batch.advantages), {}

    def _evaluate_minibatch(self, rollout_data):
        self.padded = getattr(self, "padded", 0) + rollout_data.mask.numel()
        return super()._evaluate_minibatch(rollout_data)


def test_the_recurrent_objective_sees_the_rollouts_samples_and_no_padding():
    model = CountingRecurrentCPI(
        "MlpLstmPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, batch_size=48, n_epochs=1, seed=0
    )
    model.learn(128)
    assert model.seen == 128 and model.padded > 128
    # every statistic too: a ratio that is exactly 1 on the first minibatch, and the means over the real samples
    assert np.isfinite(model.last_update_stats["approx_kl"]) and model.last_update_stats["ratio_min"] > 0


SLOWER = {"espo": {"learning_rate": 1e-3}}


def _learned(name: str, base: str) -> tuple[float, float]:
    """(mean return before, after) training ``name`` on ``base``'s small task."""
    if base == "maskable":
        env = make_vec_env("MaskedIdentity-v0", n_envs=4, seed=0)
        model = get_variant(name, base=base)(
            "MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0
        )
        before = maskable_evaluate_policy(model, env, n_eval_episodes=20)[0]
        model.learn(1500)
        return before, maskable_evaluate_policy(model, env, n_eval_episodes=20)[0]
    env = make_vec_env("Recall-v0", n_envs=8, seed=0)
    policy_kwargs = {"lstm_hidden_size": 16, "net_arch": [16]}
    args = {"n_steps": 32, "batch_size": 128, "n_epochs": 4, "learning_rate": 3e-3, "seed": 0, "policy_kwargs": policy_kwargs}
    # ESPO at 3e-3: its first steps of each update already exceed δ = 0.25, and the policy stays at 0.46 after 4000 steps
    args.update(SLOWER.get(name, {}))
    model = get_variant(name, base=base)("MlpLstmPolicy", env, **args)
    before = evaluate_policy(model, env, n_eval_episodes=100)[0]
    model.learn(4000)
    return before, evaluate_policy(model, env, n_eval_episodes=100)[0]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_objective_learns_the_masked_task(name: str):
    # 20 steps per episode; choosing among the 5 valid actions at random scores 4, the untrained policy about 3
    before, after = _learned(name, "maskable")
    assert before < 6 and after >= 15


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_objective_learns_the_memory_task(name: str):
    # Recall-v0: a policy without memory scores at most 0.5; only one that remembers the cue scores more
    before, after = _learned(name, "recurrent")
    assert before < 0.6 and after >= 0.9


@pytest.mark.parametrize("base", ["maskable", "recurrent"])
def test_save_load_keeps_kl_beta(base: str, tmp_path: Path):
    env = make_vec_env("MaskedIdentity-v0" if base == "maskable" else "CartPole-v1", n_envs=2, seed=0)
    policy = "MlpPolicy" if base == "maskable" else "MlpLstmPolicy"
    cls = get_variant("kl", base=base)
    model = cls(policy, env, n_steps=64, batch_size=32, n_epochs=4, learning_rate=1e-2, kl_target=1e-4, seed=0)
    model.learn(256)
    assert model.kl_beta != 1.0 and model.last_update_stats["kl_beta"] > 0
    model.save(tmp_path / "model.zip")
    loaded = cls.load(tmp_path / "model.zip", env=env)
    assert type(loaded) is cls and loaded.kl_beta == model.kl_beta and loaded.rollout_policy is not None
    assert _same_parameters(model, loaded)
    loaded.learn(64)


def test_exact_kl_on_the_recurrent_base_uses_the_selected_distributions():
    model = RecurrentKLPenaltyPPO(
        "MlpLstmPolicy", make_vec_env("Pendulum-v1", n_envs=2, seed=0), n_steps=64, batch_size=48, seed=0
    )
    model.learn(128)
    assert np.isfinite(model.last_update_stats["kl"]) and np.isfinite(model.last_update_stats["kl_rollout"])


def test_exact_kl_on_masked_multidiscrete_actions():
    # sb3-contrib's masked MultiDiscrete distribution is a list of categoricals, not SB3's MultiCategoricalDistribution
    env = InvalidActionEnvMultiDiscrete(dims=[2, 3], n_invalid_actions=1)
    model = get_variant("kl", base="maskable")("MlpPolicy", env, n_steps=64, batch_size=32, seed=0).learn(64)
    assert np.isfinite(model.last_update_stats["kl"]) and model.last_update_stats["kl"] >= 0


def test_get_variant_names_and_bases():
    assert get_variant("logclip", base="maskable") is get_variant("logclip-maskable") is MaskableLogClipPPO
    assert get_variant("clip", base="recurrent").variant_name == "clip-recurrent"
    assert get_variant("clip") is VARIANTS["clip"]
    with pytest.raises(ArgumentError, match=r"`base` must be one of \('ppo', 'maskable', 'recurrent'\), got 'lstm'"):
        get_variant("clip", base="lstm")
    with pytest.raises(ArgumentError, match=r"takes a base of \('maskable', 'recurrent'\)"):
        get_variant("clip-masked")
    with pytest.raises(ArgumentError, match="no `base` argument"):
        get_variant("clip-maskable", base="recurrent")


def test_a_users_objective_is_one_method_on_a_contrib_base():
    class MaskedCPI(MaskableVariantPPO):
        def policy_objective(self, batch: PolicyBatch):
            return cpi_loss(batch.ratio, batch.advantages), {"ratio_mean": batch.mean(batch.ratio)}

    model = MaskedCPI("MlpPolicy", InvalidActionEnvDiscrete(dim=8, n_invalid_actions=3), **SETTINGS)
    model.learn(128)
    assert "ratio_mean" in model.last_update_stats


def test_without_sb3_contrib_one_line_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)
    monkeypatch.delitem(sys.modules, "sb3_ppo_variants.contrib")
    with pytest.raises(ModuleNotFoundError, match=r"pip install torch==2.13.0 'sb3-ppo-variants\[contrib\]'"):
        get_variant("clip", base="maskable")


def _experiment(tmp_path: Path, variants: str, engine: str = "sb3") -> Path:
    path = tmp_path / "contrib.toml"
    path.write_text(
        f'[experiment]\nname = "contrib"\nseeds = [0]\neval_freq = 256\neval_episodes = 4\nengine = "{engine}"\n\n'
        "[envs.'contrib_envs:MaskedIdentity-v0']\ntotal_timesteps = 512\nn_envs = 2\nn_steps = 64\nbatch_size = 64\n\n"
        f"{variants}"
    )
    return path


def test_the_runner_runs_contrib_algos(tmp_path: Path):
    variants = '[variants.clip-maskable]\n[variants.kl]\nalgo = "kl-maskable"\n'
    experiment = load_experiment(_experiment(tmp_path, variants))
    records = [run_one(config) for config in plan(experiment)]
    assert [record.status["status"] for record in records] == ["ok", "ok"]
    assert [record.config["algo"] for record in records] == ["clip-maskable", "kl-maskable"]
    # evaluated with the action masks: a masked random policy scores 20 / 5 = 4 per episode of 20 steps
    assert all(row["mean_return"] >= 2 for record in records for row in record.eval_rows)


def test_the_runner_refuses_bad_contrib_algos(tmp_path: Path):
    unknown = r"contrib.toml: \[variants.clip-masked\]: unknown algo 'clip-masked'; allowed: \[.*\], or one of them on a base"
    with pytest.raises(SpecError, match=unknown):
        load_experiment(_experiment(tmp_path, "[variants.clip-masked]\n"))
    # the batched engine does not run the contrib bases: "auto" gives them to their classes, "batched" refuses them
    experiment = load_experiment(_experiment(tmp_path, "[variants.clip-maskable]\n", engine="batched"))
    assert plan_batches(plan(experiment), "auto") == [[config] for config in plan(experiment)]
    with pytest.raises(ValueError, match=r"cannot train .*clip-maskable.*: it does not support sb3-contrib's MaskablePPO"):
        plan_batches(plan(experiment), "batched")
    with pytest.raises(SpecError, match=r"unknown key 'use_sde'"):
        load_experiment(_experiment(tmp_path, "[variants.clip-maskable]\nuse_sde = true\n"))


def _doc_blocks(language: str) -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "docs" / "contrib.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_docs_examples_run(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    usage, own_objective = _doc_blocks("python")
    namespace: dict = {}
    exec(usage.replace(".learn(2_000)", ".learn(128)"), namespace)
    assert namespace["RecurrentKL"].__name__ == "RecurrentKLPenaltyPPO" and (tmp_path / "kl_lstm.zip").exists()
    exec(own_objective, namespace)
    assert "log_ratio_sq" in namespace["model"].last_update_stats
    (experiment,) = _doc_blocks("toml")
    (tmp_path / "masked.toml").write_text(experiment)
    assert [config.algo for config in plan(load_experiment(tmp_path / "masked.toml"))] == ["clip-recurrent"] * 3 + [
        "logclip-recurrent"
    ] * 3


@pytest.mark.parametrize("base", ["maskable", "recurrent"])
def test_pg_fits_its_critic_on_the_whole_rollout_on_both_bases(base: str):
    env = make_vec_env("MaskedIdentity-v0" if base == "maskable" else "Recall-v0", n_envs=2, seed=0)
    policy = "MlpPolicy" if base == "maskable" else "MlpLstmPolicy"
    model = get_variant("pg", base=base)(policy, env, n_steps=64, value_steps=20, value_learning_rate=1e-2, seed=0)
    critic = [p for name, p in model.policy.named_parameters() if "critic" in name or "value" in name]
    before = [p.detach().clone() for p in critic]
    model.learn(128)
    assert model.last_update_stats["value_loss_fitted"] < model.last_update_stats["value_loss"]
    assert all(not th.equal(p, q) for p, q in zip(critic, before, strict=True))


def test_on_base_validates_the_base():
    from sb3_ppo_variants.contrib import on_base

    assert on_base(VARIANTS["spo"], "recurrent").__mro__[1:3] == (VARIANTS["spo"], RecurrentVariantPPO)
    with pytest.raises(ArgumentError, match=r"`base` must be one of \('maskable', 'recurrent'\), got 'ppo'"):
        on_base(VARIANTS["spo"], "ppo")


@pytest.mark.parametrize("name", ["kl", "klclip", "pg"])
def test_a_whole_rollout_objective_evaluates_the_rollout_on_the_base_and_keeps_the_base_defaults(name: str):
    from sb3_ppo_variants.contrib import ContribWholeRolloutPPO
    from sb3_ppo_variants.engine import _default

    cls = get_variant(name, base="recurrent")
    assert cls.__mro__[1:3] == (ContribWholeRolloutPPO, VARIANTS[name])
    assert cls.rollout_batch is ContribWholeRolloutPPO.rollout_batch
    # ContribWholeRolloutPPO inherits VariantPPO's __init__: RecurrentPPO's n_steps stays the default
    assert _default(f"{name}-recurrent", "n_steps") == 128
