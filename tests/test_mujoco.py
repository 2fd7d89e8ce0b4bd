"""MuJoCo (the mujoco extra): every objective runs on a v5 task, records its training episodes, and is scored as Table 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mujoco")

from sb3_ppo_variants import VARIANTS
from sb3_ppo_variants.analysis.paper import build_table1
from sb3_ppo_variants.engine import plan_batches
from sb3_ppo_variants.records import load_records
from sb3_ppo_variants.runner import load_experiment, run_experiment
from sb3_ppo_variants.runner.plan import plan

ROOT = Path(__file__).resolve().parents[1]
SMOKE = """
[experiment]
name = "mujoco-smoke"
seeds = [0]
eval_freq = 256
eval_episodes = 1

[envs.Hopper-v5]
total_timesteps = 256
n_steps = 128
batch_size = 64
n_epochs = 2
normalize = {{ norm_obs = true, norm_reward = false, clip_obs = 5.0 }}

{variants}
"""


def test_every_objective_runs_on_hopper_v5_and_records_its_training_episodes(tmp_path):
    path = tmp_path / "smoke.toml"
    path.write_text(SMOKE.format(variants="\n".join(f"[variants.{name}]" for name in sorted(VARIANTS))))
    out = tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True) == {"ok": len(VARIANTS)}
    records = load_records(out)
    assert set(records.runs["status"]) == {"ok"}
    episodes = records.episodes.groupby("run_id")
    assert episodes.ngroups == len(VARIANTS)
    # Hopper falls within a few dozen steps at first: many episodes, their lengths adding up to at most the budget
    assert (episodes["length"].sum() <= 256).all() and (episodes.size() >= 2).all()
    report = build_table1(out)
    # at 256 steps the best setting may not beat the random policy: then the task is left out of the scores, said
    scaled = report.per_task["mean"].max() > report.per_task["random_score"].iloc[0]
    assert len(report.table1) == len(VARIANTS) and report.table1["score"].notna().all() == scaled
    assert ("Hopper-v5" in report.settings.get("unscaled_tasks", {})) != scaled
    assert report.problems["problem"].str.contains("fewer than 100: scored on those").all()


def test_the_presets_plan_and_validate():
    full = load_experiment(ROOT / "experiments" / "ppo-paper-table1.toml")
    assert [env.env_id for env in full.envs] == [
        "HalfCheetah-v5",
        "Hopper-v5",
        "InvertedDoublePendulum-v5",
        "InvertedPendulum-v5",
        "Reacher-v5",
        "Swimmer-v5",
        "Walker2d-v5",
    ]
    assert len(full.variants) == 15 and full.seeds == (0, 1, 2)
    hopper = full.envs[1]
    assert (hopper.total_timesteps, hopper.n_envs, hopper.hyperparameters["n_steps"]) == (1_000_000, 1, 2048)
    fixed = next(variant for variant in full.variants if variant.name == "fixed-kl-10")
    assert fixed.overrides["kl_target"] == "none" and fixed.overrides["kl_coef"] == 10.0
    # on the engine: per task its 14 PPO settings in 3 batches of 14 and pg's runs (other epochs and minibatch) in one
    assert (full.engine, full.batch_runs) == ("batched", 16)
    batches = plan_batches(plan(full), full.engine, full.batch_runs)
    assert sorted(len(batch) for batch in batches) == [3] * 7 + [14] * 21
    assert all(len({config.env_id for config in batch}) == 1 for batch in batches)
    scaled = load_experiment(ROOT / "experiments" / "ppo-paper-table1-scaled.toml")
    assert [env.env_id for env in scaled.envs] == ["Hopper-v5", "Reacher-v5"] and len(scaled.variants) == 13


def test_the_objectives_mujoco_preset_plans_every_objective_on_the_engine():
    experiment = load_experiment(ROOT / "experiments" / "objectives-mujoco.toml")
    assert [env.env_id for env in experiment.envs] == ["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5"]
    algos = sorted({variant.algo for variant in experiment.variants})
    assert algos == sorted(set(VARIANTS)) and experiment.seeds == (0, 1, 2, 3, 4)
    configs = plan(experiment)
    assert len(configs) == 180 and {config.total_timesteps for config in configs} == {1_000_000}
    batches = plan_batches(configs, experiment.engine, experiment.batch_runs)
    assert sorted(len(batch) for batch in batches) == [5] * 3 + [13] * 3 + [14] * 9


def test_a_mujoco_task_without_the_extra_says_which_extra_to_install(tmp_path):
    path = tmp_path / "smoke.toml"
    path.write_text(SMOKE.format(variants="[variants.clip]"))
    code = "import sys; sys.modules['mujoco'] = None; from sb3_ppo_variants.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", code, "run", str(path), "--out", str(tmp_path / "out"), "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'sb3-ppo-variants[mujoco]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
