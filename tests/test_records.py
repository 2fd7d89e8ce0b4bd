"""The record format (sb3_ppo_variants.records): its writer and reader, and the training episodes a run records."""

import ast
from pathlib import Path

import pandas as pd
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from test_runner import experiment_file

from sb3_ppo_variants import get_variant, records
from sb3_ppo_variants.runner import load_experiment, plan, run_experiment, run_one
from sb3_ppo_variants.runner.resolve import algo_kwargs

ROOT = Path(__file__).resolve().parents[1]


def test_the_record_format_needs_neither_torch_nor_sb3():
    for module in ("records.py", "fileio.py", "validation.py"):
        for node in ast.walk(ast.parse((ROOT / "sb3_ppo_variants" / module).read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] not in {"torch", "stable_baselines3", "gymnasium"}, f"{module} imports {name}"
                    assert not name.startswith("sb3_ppo_variants") or name in (
                        "sb3_ppo_variants.fileio",
                        "sb3_ppo_variants.validation",
                    ), name


def test_write_and_read_back(tmp_path):
    evals = [{"timesteps": 0, "mean_return": 1.0, "std_return": 0.0, "n_episodes": 2}]
    evals.append({"timesteps": 8, "mean_return": 3.5, "std_return": 0.5, "n_episodes": 2})
    train = [{"update": 1, "timesteps": 8, "approx_kl": 0.01}]
    episodes = [{"timesteps": 4, "return": 4.0, "length": 4}, {"timesteps": 4, "return": 2.0, "length": 2}]
    config = {"run_id": "CartPole-v1__clip__seed0", "env_id": "CartPole-v1", "variant": "clip", "algo": "clip", "seed": 0}
    status = {"status": "ok", "error": None, "diverged_at_update": None, "timesteps": 8, "wall_time_s": 1.0}
    run_directory = records.write_record(tmp_path, config["run_id"], config, evals, train, episodes, status)
    assert sorted(path.name for path in run_directory.iterdir()) == sorted(
        [records.CONFIG_FILE, records.EVAL_FILE, records.TRAIN_FILE, records.EPISODES_FILE, records.STATUS_FILE]
    )
    loaded = records.load_records(tmp_path)
    assert loaded.runs[["run_id", "status", "timesteps"]].values.tolist() == [["CartPole-v1__clip__seed0", "ok", 8]]
    assert loaded.evals.drop(columns="run_id").to_dict("records") == evals
    assert loaded.train.drop(columns="run_id").to_dict("records") == train
    assert list(loaded.episodes.columns) == ["run_id", "timesteps", "return", "length"]
    assert loaded.episodes.drop(columns="run_id").to_dict("records") == episodes
    assert records.run_status(tmp_path, config["run_id"]) == ("ok", None)
    assert records.run_status(tmp_path, "CartPole-v1__clip__seed1") == ("missing", None)
    with pytest.raises(ValueError, match=r"status must be one of \['ok', 'diverged', 'failed', 'pruned'\]"):
        records.write_record(tmp_path, config["run_id"], config, evals, train, episodes, {"status": "fine"})
    with pytest.raises(ValueError, match="not a single path component"):
        records.run_dir(tmp_path, "../evil")
    assert records.run_id("Ns/Thing-v0", "clip-0.1", 3) == "Ns%2FThing-v0__clip-0.1__seed3"


def test_training_episodes_match_a_monitor_logged_run(tmp_path):
    """The episodes of a run are those SB3's Monitor logs for the same training: count, returns, lengths and steps."""
    config = plan(load_experiment(experiment_file(tmp_path, "[variants.clip]")))[0]
    record = run_one(config)
    monitor_dir = tmp_path / "monitor"
    env = make_vec_env(config.env_id, n_envs=config.n_envs, seed=config.seed, monitor_dir=str(monitor_dir))
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        get_variant(config.algo)(config.policy, env, seed=config.seed, **algo_kwargs(config.hyperparameters)).learn(
            config.total_timesteps
        )
    finally:
        th.set_num_threads(threads)
    expected = []
    for rank in range(config.n_envs):
        monitor = pd.read_csv(monitor_dir / f"{rank}.monitor.csv", skiprows=1)
        # the envs step together, so an env's k-th step is the run's (n_envs * k)-th
        ends = monitor["l"].cumsum() * config.n_envs
        expected += list(zip(ends.tolist(), monitor["r"].tolist(), monitor["l"].tolist(), strict=True))
    episodes = [(row["timesteps"], row["return"], row["length"]) for row in record.episode_rows]
    assert len(episodes) > 10 and sorted(episodes) == sorted(expected)
    assert sum(length for _, _, length in episodes) <= config.total_timesteps

    out = tmp_path / "out"
    run_experiment(experiment_file(tmp_path, "[variants.clip]"), out, workers=1, quiet=True, only=config.run_id)
    written = pd.read_csv(records.run_dir(out, config.run_id) / records.EPISODES_FILE)
    assert list(written.columns) == ["timesteps", "return", "length"]
    assert sorted(written.itertuples(index=False, name=None)) == sorted(expected)
    assert len(records.load_records(out).episodes) == len(expected)


def test_run_record_status_constructors_write_status_json_keys_in_order():
    record = records.RunRecord(config={"run_id": "CartPole-v1__clip__seed0"})
    record.finish(records.RunRecord.outcome("diverged", "loss is nan", 3), timesteps=8, wall_time_s=1.5, eval_time_s=0.5)
    assert list(record.status.items()) == [
        ("status", "diverged"),
        ("error", "loss is nan"),
        ("diverged_at_update", 3),
        ("timesteps", 8),
        ("wall_time_s", 1.5),
        ("eval_time_s", 0.5),
    ]
    assert records.RunRecord.outcome() == {"status": "ok", "error": None, "diverged_at_update": None}
    failed = record.failed("worker process died")
    assert (failed.config, failed.eval_rows) == (record.config, [])
    assert failed.status == {
        "status": "failed",
        "error": "worker process died",
        "diverged_at_update": None,
        "timesteps": 0,
        "wall_time_s": None,
        "eval_time_s": None,
    }
