import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from torch import nn

from sb3_ppo_variants import records
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import save
from sb3_ppo_variants.runner import SpecError, check_experiment, load_experiment, plan, run_experiment, run_one, status_table
from sb3_ppo_variants.runner.driver import FAILED_EARLIER
from sb3_ppo_variants.runner.resolve import algo_kwargs


def read_status(directory: Path, run_id: str) -> str:
    return records.run_status(directory, run_id)[0]


ROOT = Path(__file__).resolve().parents[1]
TINY = """
[experiment]
name = "tiny"
seeds = [0, 1]
eval_freq = 256
eval_episodes = 2

[envs.CartPole-v1]
total_timesteps = 512
n_envs = 2
n_steps = 64
batch_size = 64
n_epochs = 2
{env_extra}

{variants}
"""


def experiment_file(tmp_path: Path, variants: str = "[variants.clip]\n[variants.kl]", env_extra: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(variants=variants, env_extra=env_extra))
    return path


def record_files(run_dir: Path) -> dict[str, str]:
    return {name: (run_dir / name).read_text() for name in ("config.json", "eval.csv", "train.csv", "episodes.csv")}


def live_processes_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (a container's init may never reap the dead)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def test_shipped_experiments_parse_with_rl_zoo_hyperparameters():
    quick = load_experiment(ROOT / "experiments" / "quick.toml")
    assert [env.env_id for env in quick.envs] == ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"]
    assert [variant.algo for variant in quick.variants] == ["pg", "cpi", "clip", "kl", "logclip"]
    assert quick.seeds == (0, 1, 2, 3, 4)
    assert len(plan(quick)) == 75
    cartpole, acrobot, pendulum = quick.envs
    assert (cartpole.n_envs, cartpole.hyperparameters["n_steps"], cartpole.hyperparameters["learning_rate"]) == (
        8,
        32,
        "lin_0.001",
    )
    assert acrobot.normalize == {} and acrobot.n_envs == 16
    assert pendulum.hyperparameters["use_sde"] is True and pendulum.total_timesteps == 100_000
    assert load_experiment(ROOT / "experiments" / "smoke.toml").name == "smoke"


def test_values_from_files_become_schedules_modules_and_full_batches():
    kwargs = algo_kwargs({"learning_rate": "lin_1e-3", "batch_size": "full", "policy_kwargs": {"activation_fn": "relu"}})
    assert kwargs["learning_rate"](1.0) == pytest.approx(1e-3) and kwargs["learning_rate"](0.25) == pytest.approx(2.5e-4)
    assert kwargs["batch_size"] is None
    assert kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU
    # TOML has no null: "none" is None, e.g. a fixed KL coefficient
    kwargs = algo_kwargs({"kl_target": "none", "kl_coef": "lin_2", "clip_range_high": "lin_0.28"})
    assert kwargs["kl_target"] is None and kwargs["kl_coef"](0.5) == pytest.approx(1.0)
    assert kwargs["clip_range_high"](1.0) == pytest.approx(0.28)


@pytest.mark.parametrize(
    ("variants", "env_extra", "message"),
    [
        ("[variants.clip]\nclip_rnage = 0.1", "", "unknown key 'clip_rnage' (did you mean 'clip_range'?)"),
        ("[variants.clip]\nclip_range = -0.1", "", "clip_range"),
        (
            "[variants.clip]\nalgo = 'ppo2'",
            "",
            "unknown algo 'ppo2'; allowed: ['clip', 'cpi', 'dualclip', 'espo', 'kl', 'klclip', 'logclip', 'pg', ",
        ),
        ("[variants.kl]\nkl_estimator = 'k2'", "", "kl_estimator"),
        ("[variants.clip]\nlearning_rate = 'exp_1e-3'", "", "'lin_<start>'"),
        ("[variants.clip]\nlearning_rate = '__import__(\"os\")'", "", "learning_rate"),
        ("[variants.clip]", "normalize = 'yes'", "'normalize' must be true, false or a table"),
        ("[variants.clip]", "policy_kwargs = { activation_fn = 'swish' }", "activation_fn"),
        ("[variants.clip]", "policy = 3", "'MultiInputLstmPolicy', 'MultiInputPolicy'], got 3"),
        ("[variants.clip]", "policy_kwargs = { net_arh = [8] }", "unexpected keyword argument 'net_arh'"),
        ("[variants.clip]", "gamma = 'high'", "`gamma` must be a number, got 'high'"),
        ("[variants.clip]", "normalize = { norm_obs = true, clip = 5 }", "unknown key 'clip'"),
    ],
)
def test_bad_experiment_files_name_file_key_and_allowed_values(tmp_path, variants, env_extra, message):
    path = experiment_file(tmp_path, variants, env_extra)
    with pytest.raises(SpecError, match=str(path).replace(".", r"\.")) as error:
        check_experiment(load_experiment(path))
    assert message in str(error.value)


def test_unknown_env_id_and_bad_seeds(tmp_path):
    path = experiment_file(tmp_path)
    path.write_text(path.read_text().replace("CartPole-v1", "CartPol-v1"))
    with pytest.raises(SpecError, match=r"\[envs.CartPol-v1\]: unknown gymnasium env id 'CartPol-v1'.*CartPole-v1"):
        load_experiment(path)
    path = experiment_file(tmp_path)
    path.write_text(path.read_text().replace("seeds = [0, 1]", "seeds = [0, '1']"))
    with pytest.raises(SpecError, match="'seeds' must be a non-empty list of integers from 0 to 4294967295"):
        load_experiment(path)
    path.write_text(path.read_text().replace("[experiment]", "[experimnt]"))
    with pytest.raises(SpecError, match="unknown key 'experimnt'"):
        load_experiment(path)


def test_the_same_run_twice_gives_the_same_record(tmp_path):
    config = plan(load_experiment(experiment_file(tmp_path, "[variants.kl]")))[0]
    first, second = run_one(config), run_one(config)
    assert first.status["status"] == "ok"
    assert [row["timesteps"] for row in first.eval_rows] == [0, 256, 512]
    assert len(first.train_rows) == 4 and first.train_rows[-1]["update"] == 4
    assert first.eval_rows == second.eval_rows
    assert first.train_rows == second.train_rows


def test_records_read_in_one_pandas_call_each(tmp_path):
    out = tmp_path / "out"
    assert run_experiment(experiment_file(tmp_path), out, workers=1, quiet=True) == {"ok": 4}
    run_dir = out / "runs" / "CartPole-v1__kl__seed1"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["hyperparameters"] == {"n_steps": 64, "batch_size": 64, "n_epochs": 2}
    assert set(config["versions"]) >= {"python", "torch", "stable_baselines3", "gymnasium", "sb3_ppo_variants"}
    try:
        mujoco = importlib.metadata.version("mujoco")  # the physics of the MuJoCo tasks
    except importlib.metadata.PackageNotFoundError:
        mujoco = None
    assert config["versions"].get("mujoco") == mujoco
    assert "git_commit" in config and "git_dirty" in config
    evals, train = pd.read_csv(run_dir / "eval.csv"), pd.read_csv(run_dir / "train.csv")
    assert list(evals.columns) == ["timesteps", "mean_return", "std_return", "n_episodes"]
    assert {"update", "timesteps", "approx_kl", "ratio_max", "kl", "kl_beta"} <= set(train.columns)
    status = pd.read_json(run_dir / "status.json", typ="series")
    assert status["status"] == "ok" and status["timesteps"] == 512 and status["wall_time_s"] > 0
    assert (out / "experiment.toml").read_text() == experiment_file(tmp_path).read_text()


def test_failed_and_diverged_runs_are_recorded_and_the_others_go_on(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]\n[variants.cpi-huge-lr]\nalgo = 'cpi'\nlearning_rate = 1e30")
    exploding = "[envs.'exploding_env:Exploding-v0']\ntotal_timesteps = 512\nn_steps = 64\nbatch_size = 64\n\n"
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", exploding + "[envs.CartPole-v1]"))
    out = tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True) == {"failed": 4, "ok": 2, "diverged": 2}
    table = status_table(out)
    assert sorted(table["ok"]) == ["CartPole-v1__clip__seed0", "CartPole-v1__clip__seed1"]
    assert sorted(table["diverged"]) == ["CartPole-v1__cpi-huge-lr__seed0", "CartPole-v1__cpi-huge-lr__seed1"]
    assert len(table["failed"]) == 4 and all(run_id.startswith("exploding_env:Exploding-v0__") for run_id in table["failed"])
    failed = json.loads((out / "runs" / table["failed"][0] / "status.json").read_text())
    assert "RuntimeError: the environment exploded" in failed["error"] and failed["diverged_at_update"] is None
    diverged = json.loads((out / "runs" / "CartPole-v1__cpi-huge-lr__seed0" / "status.json").read_text())
    assert diverged["diverged_at_update"] >= 1 and "cpi diverged at policy update" in diverged["error"]
    # The curve up to the divergence is kept
    assert pd.read_csv(out / "runs" / "CartPole-v1__cpi-huge-lr__seed0" / "eval.csv")["timesteps"].iloc[0] == 0
    assert main(["status", str(out)]) == 1


def test_resume_skips_finished_runs_and_retry_failed_reruns_failed_ones(tmp_path):
    path, out = experiment_file(tmp_path), tmp_path / "out"
    run_experiment(path, out, workers=1, quiet=True)
    runs = out / "runs"
    untouched = {run_dir.name: (run_dir / "status.json").stat().st_mtime_ns for run_dir in runs.iterdir()}
    (runs / "CartPole-v1__kl__seed0" / "status.json").unlink()  # interrupted while writing: incomplete
    failed = json.loads((runs / "CartPole-v1__kl__seed1" / "status.json").read_text())
    (runs / "CartPole-v1__kl__seed1" / "status.json").write_text(json.dumps({**failed, "status": "failed"}))
    assert read_status(out, "CartPole-v1__kl__seed0") == "incomplete"

    assert run_experiment(path, out, workers=1, quiet=True) == {"ok": 1, FAILED_EARLIER: 1}
    assert read_status(out, "CartPole-v1__kl__seed0") == "ok"
    assert read_status(out, "CartPole-v1__kl__seed1") == "failed"
    for run_id in ("CartPole-v1__clip__seed0", "CartPole-v1__clip__seed1"):
        assert (runs / run_id / "status.json").stat().st_mtime_ns == untouched[run_id]

    assert run_experiment(path, out, workers=1, quiet=True, retry_failed=True) == {"ok": 1}
    assert status_table(out)["ok"] == sorted(untouched)
    assert run_experiment(path, out, workers=1, quiet=True) == {}


def test_a_different_experiment_file_is_not_mixed_into_an_output_directory(tmp_path):
    out = tmp_path / "out"
    run_experiment(experiment_file(tmp_path), out, workers=1, quiet=True, only="*seed0")
    with pytest.raises(ValueError, match=r"holds a different experiment\.toml"):
        run_experiment(experiment_file(tmp_path, "[variants.pg]"), out, workers=1, quiet=True)


def test_a_record_is_complete_only_once_its_status_is_written(tmp_path, monkeypatch):
    config = plan(load_experiment(experiment_file(tmp_path)))[0]
    record = run_one(config)
    save(tmp_path, record)
    assert read_status(tmp_path, config.run_id) == "ok"

    def crash(path, text):
        if Path(path).name == "train.csv":
            raise KeyboardInterrupt
        return original(path, text)

    original = records.write_atomic
    monkeypatch.setattr(records, "write_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, record)
    assert read_status(tmp_path, config.run_id) == "incomplete"
    assert not [path for path in (tmp_path / "runs" / config.run_id).iterdir() if path.name.startswith(".")]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_ctrl_c_stops_the_workers_promptly_and_leaves_no_complete_looking_record(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]\n[variants.kl]")
    path.write_text(
        path.read_text()
        .replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
        .replace("total_timesteps = 512", "total_timesteps = 10_000")
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    command = [sys.executable, "-m", "sb3_ppo_variants", "run", str(path), "--out", str(out), "--workers", "2"]
    # A shell that starts jobs in the background makes them ignore SIGINT, and Python keeps an ignored SIGINT ignored
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (out / "runs").is_dir() or not any((out / "runs").glob("*/status.json")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    stopped = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 15
    assert process.returncode == -signal.SIGINT, stderr.decode()
    assert b"interrupted" in stderr
    time.sleep(0.5)
    assert live_processes_in_group(process.pid) == []  # no worker outlives the driver
    table = status_table(out)
    assert 1 <= len(table["ok"]) < 6 and len(table["ok"]) + len(table["incomplete"]) + len(table["missing"]) == 6
    for run_id in table["ok"]:
        assert len(pd.read_csv(out / "runs" / run_id / "eval.csv")) == 10_000 // 256 + 2
    assert not list(out.glob("runs/*/.*"))  # no temporary file left behind


def test_local_pool_serial_and_ray_give_identical_records(tmp_path):
    pytest.importorskip("ray")
    path = experiment_file(tmp_path, "[variants.logclip]\n[variants.kl]")
    outputs = {}
    for name, kwargs in {"serial": {"workers": 1}, "pool": {"workers": 2}, "ray": {"backend": "ray", "workers": 2}}.items():
        outputs[name] = tmp_path / name
        assert run_experiment(path, outputs[name], quiet=True, **kwargs) == {"ok": 4}
    for run_dir in sorted((outputs["serial"] / "runs").iterdir()):
        expected = record_files(run_dir)
        for name in ("pool", "ray"):
            assert record_files(outputs[name] / "runs" / run_dir.name) == expected, (name, run_dir.name)


def test_command_line(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    assert main(["list", str(path), "--no-estimate"]) == 0
    assert "2 runs, 1,024 environment steps" in capsys.readouterr().out
    assert main(["list", str(path), "--workers", "2"]) == 0
    assert "estimated time:" in capsys.readouterr().out
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "2 ok" in captured.out
    assert "[2/2] failed 0 diverged 0 |" in captured.err and "steps/s | ETA" in captured.err
    assert main(["status", str(out)]) == 0
    assert "ok         2" in capsys.readouterr().out
    assert main(["report", str(out), "--format", "csv"]) == 0
    assert "CartPole-v1" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(out), "--workers", "0"]) == 2
    assert "workers must be a positive integer" in capsys.readouterr().err
