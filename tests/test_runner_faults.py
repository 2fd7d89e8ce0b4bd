"""
The runner under faults (issue 10): each test is one case of the issue, and failed on the code before the fix.

Signals go to subprocesses; the shared helpers come from test_runner.py.
"""

import dataclasses
import errno
import inspect
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_runner import ROOT, experiment_file, live_processes_in_group

from sb3_ppo_variants import VARIANTS, get_variant, records
from sb3_ppo_variants.analysis import build_report, load_records
from sb3_ppo_variants.analysis.synthetic import make_records, write_records
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.records import RecordTables, pending
from sb3_ppo_variants.runner import SpecError, check_experiment, load_experiment, plan, run_experiment, run_one, status_table
from sb3_ppo_variants.runner.resolve import algo_kwargs
from sb3_ppo_variants.runner.spec import algo_arguments

SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """The command's standard error: one line, no traceback, holding every fragment."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def start_command(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m sb3_ppo_variants ARGS`` in its own session (process group = its pid), SIGINT not ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "sb3_ppo_variants", *args],
        env=env or SUBPROCESS_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# Case 1
def test_a_run_that_fails_before_training_is_recorded_and_the_others_go_on(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]")
    resetting = "[envs.'exploding_env:ResetExploding-v0']\ntotal_timesteps = 512\nn_steps = 64\nbatch_size = 64\n\n"
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", resetting + "[envs.CartPole-v1]"))
    out = tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True) == {"failed": 2, "ok": 2}
    failed = json.loads((out / "runs" / "exploding_env:ResetExploding-v0__clip__seed0" / "status.json").read_text())
    assert "the environment exploded at reset" in failed["error"] and failed["timesteps"] == 0
    # VecNormalize built with an argument of the wrong type (past the file's checks): it fails at the first reset
    config = plan(load_experiment(experiment_file(tmp_path, "[variants.clip]")))[0]
    record = run_one(dataclasses.replace(config, normalize={"clip_obs": "ten"}))
    assert record.status["status"] == "failed" and "TypeError" in record.status["error"]


# Case 2
def test_a_worker_that_dies_fails_only_its_run_and_is_replaced(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]")
    dying = "[envs.'exploding_env:Suicide-v0']\ntotal_timesteps = 512\nn_steps = 64\nbatch_size = 64\n\n"
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", dying + "[envs.CartPole-v1]"))
    out = tmp_path / "out"
    # Both workers take a dying run first; their replacements run the CartPole-v1 ones
    assert run_experiment(path, out, workers=2, quiet=True) == {"failed": 2, "ok": 2}
    table = status_table(out)
    assert sorted(table["ok"]) == ["CartPole-v1__clip__seed0", "CartPole-v1__clip__seed1"]
    for run_id in table["failed"]:
        error = json.loads((out / "runs" / run_id / "status.json").read_text())["error"]
        assert "worker process died" in error and "SIGKILL" in error


# Case 3
@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("[variants.clip]", "[variants.'x/../../../evil']\nalgo = 'clip'", "[variants.x/../../../evil]"),
        ('name = "tiny"', 'name = "../../evil"', "[experiment]: 'name'"),
        ('name = "tiny"', 'name = "/tmp/evil"', "[experiment]: 'name'"),
        ('name = "tiny"', 'name = ".."', "[experiment]: 'name'"),
    ],
)
def test_names_that_would_be_paths_are_refused(tmp_path, monkeypatch, old, new, key):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # the default output directory is runs/<experiment name>
    path = experiment_file(work, "[variants.clip]")
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(SpecError, match="is not a valid name") as error:
        run_experiment(path, workers=1, quiet=True)
    assert key in str(error.value)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/b", "a/b/c", "a/b/c/tiny.toml"]


def test_env_ids_with_a_path_separator_stay_one_directory(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]")
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", "[envs.'exploding_env:Ns/Thing-v0']"))
    out = tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True, only="*seed0") == {"ok": 1}
    (run_dir,) = (out / "runs").iterdir()
    assert run_dir.name == "exploding_env:Ns%2FThing-v0__clip__seed0" and (run_dir / "status.json").exists()
    runs = load_records(out).runs  # seed1 was planned but not run (--only): missing
    assert runs["env_id"].unique().tolist() == ["exploding_env:Ns/Thing-v0"]
    assert runs["status"].tolist() == ["ok", "missing"]
    assert status_table(out)["ok"] == [run_dir.name]


# Case 4
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_exit_when_the_driver_is_killed(tmp_path, signum):
    # A short CartPole-v1 run, and a long run (a minute or more) on an env that marks the processes running it
    path = experiment_file(tmp_path, "[variants.clip]")
    long = "[envs.'exploding_env:Marker-v0']\ntotal_timesteps = 1_000_000\nn_steps = 64\nbatch_size = 64\n\n"
    text = path.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace("[envs.CartPole-v1]", long + "[envs.CartPole-v1]")
    path.write_text(text)
    out, markers = tmp_path / "out", tmp_path / "markers"
    markers.mkdir()
    process = start_command(
        "run", str(path), "--out", str(out), "--workers", "2", env={**SUBPROCESS_ENV, "MARKER_DIR": str(markers)}
    )
    short_status = out / "runs" / "CartPole-v1__clip__seed0" / "status.json"
    wait_for(lambda: short_status.exists() and any(markers.iterdir()), process)
    (worker,) = [int(marker.name) for marker in markers.iterdir()]
    os.kill(process.pid, signum)  # the driver alone, not its process group
    _, stderr = process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while (alive(worker) or live_processes_in_group(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker) and live_processes_in_group(process.pid) == []
    if signum == signal.SIGTERM:  # handled as Ctrl-C
        assert process.returncode == -signal.SIGTERM, stderr.decode()  # it dies by the signal, after its cleanup
        assert b"interrupted" in stderr and b"Traceback" not in stderr, stderr.decode()
    # Consistent records: the finished run is complete, the other one left no file; resuming runs only that one
    assert status_table(out)["ok"] == ["CartPole-v1__clip__seed0"]
    assert len(pd.read_csv(short_status.parent / "eval.csv")) == 3
    assert not (out / "runs" / "exploding_env:Marker-v0__clip__seed0").exists()
    assert [config.run_id for config in pending(out, plan(load_experiment(path)))] == ["exploding_env:Marker-v0__clip__seed0"]
    assert run_experiment(path, out, workers=1, quiet=True, only="CartPole*") == {}


# Case 5: an example value for every argument of every registered class, as an experiment file writes it
EXAMPLE_VALUES = {
    "batch_size": 32,
    "clip_range": "lin_0.2",
    "clip_range_high": "lin_0.28",
    "clip_range_vf": 0.5,
    "dual_clip": 2.5,
    "ent_coef": 0.01,
    "gae_lambda": 0.9,
    "gamma": 0.98,
    "kl_coef": 0.5,
    "kl_estimator": "k3",
    "kl_target": 0.02,
    "kl_trigger": 0.02,
    "learning_rate": "lin_3e-4",
    "max_grad_norm": 0.7,
    "n_epochs": 2,
    "n_steps": 64,
    "normalize_advantage": True,
    "policy_kwargs": {"net_arch": [16], "activation_fn": "relu", "log_std_init": -1.0},
    "ratio_deviation": 0.3,
    "rollback_alpha": 0.2,
    "rollout_buffer_kwargs": {},
    "sde_sample_freq": 4,
    "stats_window_size": 50,
    "stop_scope": "policy",
    "target_kl": 0.05,
    "use_sde": True,
    "value_learning_rate": "lin_1e-3",
    "value_steps": 5,
    "vf_coef": 0.4,
}


def toml_value(value: object) -> str:
    """The value as TOML: an inline table, or JSON's spelling, which is TOML's for strings, numbers, booleans, lists."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)


def test_every_argument_of_every_variant_can_be_set_from_a_file(tmp_path):
    arguments = {algo: algo_arguments(algo) for algo in VARIANTS}
    missing = {algo: sorted(set(names) - set(EXAMPLE_VALUES)) for algo, names in arguments.items()}
    assert not any(missing.values()), f"add example values for {missing}"
    documented = {name for algo in VARIANTS for name in inspect.signature(get_variant(algo).__init__).parameters}
    assert documented - {"self", "policy", "env", "kwargs"} <= set(EXAMPLE_VALUES)
    entries = "\n".join(
        f"[variants.{algo}]\n" + "\n".join(f"{name} = {toml_value(EXAMPLE_VALUES[name])}" for name in names)
        for algo, names in arguments.items()
    )
    path = tmp_path / "every.toml"
    path.write_text(
        "[experiment]\nseeds = [0]\neval_freq = 64\neval_episodes = 1\n\n"
        f"[envs.Pendulum-v1]\ntotal_timesteps = 64\n\n{entries}\n"
    )
    experiment = load_experiment(path)
    check_experiment(experiment)  # builds every (env, variant) model: each class validates its arguments
    kl = next(variant for variant in experiment.variants if variant.algo == "kl")
    model = get_variant("kl")("MlpPolicy", "Pendulum-v1", **algo_kwargs(kl.overrides))
    assert (model.kl_estimator, model.kl_target, model.batch_size, model.use_sde) == ("k3", 0.02, 32, True)
    path.write_text(path.read_text().replace('kl_estimator = "k3"', 'kl_estimator = "k2"'))
    with pytest.raises(SpecError, match=r"\[variants.kl\]: `kl_estimator` must be one of"):
        check_experiment(load_experiment(path))


# Case 6
def test_an_output_directory_with_runs_but_no_experiment_file_is_refused(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    (out / "runs" / "CartPole-v1__clip__seed0").mkdir(parents=True)
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 2
    one_line_error(capsys, str(out), "runs/", "CartPole-v1__clip__seed0", "no experiment.toml")
    assert not (out / "experiment.toml").exists()


# Case 7
CORRUPT_STATUSES = {"seed0": "not json", "seed1": "", "seed2": "{}", "seed3": '{"status": "great", "timesteps": 512}'}


def test_a_corrupt_status_counts_as_incomplete_is_named_and_is_rerun(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    path.write_text(path.read_text().replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3, 4]"))
    assert run_experiment(path, out, workers=1, quiet=True) == {"ok": 5}
    for seed, text in CORRUPT_STATUSES.items():
        (out / "runs" / f"CartPole-v1__clip__{seed}" / "status.json").write_text(text)
        (out / "runs" / f"CartPole-v1__clip__{seed}" / "leftover.txt").write_text("")

    assert main(["status", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ok         1" in printed and "incomplete 4" in printed
    for seed in CORRUPT_STATUSES:
        assert str(out / "runs" / f"CartPole-v1__clip__{seed}" / "status.json") in printed

    with pytest.warns(UserWarning, match="status.json") as caught:
        report = build_report(out, n_resamples=20, curve_resamples=0)
    assert len(caught) == 4
    assert report.per_env[["n_ok", "n_incomplete"]].values.tolist() == [[1, 4]]
    problems = report.problems.set_index("run_id")
    assert problems["status"].tolist() == ["incomplete"] * 4
    assert all(f"{run_id}/status.json" in error for run_id, error in problems["error"].items())

    assert run_experiment(path, out, workers=1, quiet=True) == {"ok": 4}
    assert status_table(out)["ok"] == [f"CartPole-v1__clip__seed{seed}" for seed in range(5)]
    assert not list(out.glob("runs/*/leftover.txt"))  # the broken directories were replaced


# Case 8
def fill_the_disk(fd: int, *args: object, **kwargs: object) -> io.StringIO:
    """Stands for ``os.fdopen``: a file whose writes fail with ENOSPC."""
    os.close(fd)

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return FullDisk()


def test_file_system_errors_are_one_line_naming_the_path(tmp_path, capsys, monkeypatch):
    path = experiment_file(tmp_path, "[variants.clip]")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["run", str(path), "--out", str(a_file), "--workers", "1"]) == 2
    one_line_error(capsys, str(a_file), "is a file")

    experiment = write_records(make_records(n_seeds=2), tmp_path / "experiment")
    assert main(["report", str(experiment), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, f"{tmp_path}: Is a directory")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fdopen", fill_the_disk)
        assert main(["run", str(path), "--out", str(tmp_path / "full"), "--workers", "1"]) == 2
    one_line_error(capsys, f"{tmp_path / 'full' / records.LAYOUT_FILE}: No space left on device")  # the first file written
    assert not list((tmp_path / "full").iterdir())  # no temporary file left behind

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(kwargs["dir"]) + "/.tmp")

    with monkeypatch.context() as patch:
        patch.setattr("tempfile.mkstemp", read_only)  # as root, a directory without write permission is still written
        assert main(["run", str(path), "--out", str(tmp_path / "read-only"), "--workers", "1"]) == 2
    one_line_error(capsys, f"{tmp_path / 'read-only' / records.LAYOUT_FILE}: Permission denied")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory_is_one_line(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    out.mkdir(mode=0o555)
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 2
    one_line_error(capsys, f"{out / 'experiment.toml'}: Permission denied")


# Case 9
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seeds = [0, 1]", "seeds = [0, 4294967296]", "[experiment]: 'seeds' must be a non-empty list of integers from 0 to"),
        ("n_envs = 2", "n_envs = 2\nnormalize = { norm_obs = 'yes' }", "].normalize: 'norm_obs' must be true or false"),
        ("n_envs = 2", "n_envs = 2\nnormalize = { clip_obs = 'ten' }", "'clip_obs' must be a positive number, got 'ten'"),
        ("n_envs = 2", "n_envs = 2\nnormalize = { epsilon = -1 }", "'epsilon' must be a positive number, got -1"),
        ("[variants.clip]", "[variants.clip]\nalgo = ['clip']", "[variants.clip]: unknown algo ['clip']"),
        ("[variants.clip]", "[variants.clip]\nalgo = 3", "[variants.clip]: unknown algo 3"),
        ("[experiment]\n", "experiment = 3\n[variants.x]\n", "top level: 'experiment' must be a table"),
        ("[envs.CartPole-v1]", "[envs.'..:CartPole-v1']", "[envs...:CartPole-v1]: cannot import '..'"),
    ],
)
def test_validation_names_the_file_and_the_key(tmp_path, old, new, message):
    path = experiment_file(tmp_path, "[variants.clip]")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecError) as error:
        load_experiment(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    path = experiment_file(tmp_path, "[variants.clip]")
    path.write_bytes(path.read_bytes().replace(b'"tiny"', b'"tiny\xe9"'))
    with pytest.raises(SpecError, match="not a UTF-8 text file") as error:
        load_experiment(path)
    assert str(error.value).startswith(f"{path}: ")


# Case 10
def test_truncated_or_unordered_evaluations_make_a_run_corrupt(tmp_path):
    runs = make_records(envs=("CartPole-v1",), variants=("clip",), n_seeds=6)
    directory = write_records(runs, tmp_path / "experiment")
    clean = build_report(runs, n_resamples=50, curve_resamples=0).per_env.iloc[0]
    run_dirs = [directory / "runs" / f"CartPole-v1__clip__seed{seed}" for seed in range(6)]
    text = (run_dirs[0] / "eval.csv").read_text()
    (run_dirs[0] / "eval.csv").write_text(text[: len(text) // 2])  # cut within a line
    (run_dirs[1] / "eval.csv").write_text("".join(text.splitlines(keepends=True)[:-3]))  # whole lines lost
    lines = text.splitlines(keepends=True)
    (run_dirs[2] / "eval.csv").write_text("".join([lines[0], lines[2], lines[1], *lines[3:]]))  # timesteps go back
    with pytest.warns(UserWarning) as caught:
        loaded = load_records(directory)
    assert sorted(str(warning.message).split(": ")[1] for warning in caught) == [
        str(run_dirs[seed] / "eval.csv") for seed in range(3)
    ]
    statuses = loaded.runs.set_index("run_id")["status"]
    assert statuses.tolist() == ["corrupt"] * 3 + ["ok"] * 3
    assert set(loaded.evals["run_id"]) == {run_dir.name for run_dir in run_dirs[3:]}

    with pytest.warns(UserWarning):
        report = build_report(directory, n_resamples=50, curve_resamples=0)
    row = report.per_env.iloc[0]
    assert (row["n_runs"], row["n_ok"], row["n_corrupt"]) == (6, 3, 3)
    kept = runs.runs[runs.runs["seed"] >= 3]
    expected = build_report(
        RecordTables(kept, runs.evals[runs.evals["run_id"].isin(kept["run_id"])], runs.train, runs.episodes),
        n_resamples=50,
        curve_resamples=0,
    ).per_env.iloc[0]
    assert row["final_return_iqm"] == expected["final_return_iqm"] != clean["final_return_iqm"]
    assert report.problems["status"].tolist() == ["corrupt"] * 3
    assert all("eval.csv" in error for error in report.problems["error"])


# Case 11
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_record_files_get_the_process_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "file.txt", "text")
        run_directory = records.write_record(
            tmp_path, "CartPole-v1__clip__seed0", {}, [], [], [], {"status": "ok", "timesteps": 0}
        )
    finally:
        os.umask(previous)
    assert (tmp_path / "file.txt").stat().st_mode & 0o777 == mode
    assert {path.stat().st_mode & 0o777 for path in run_directory.iterdir()} == {mode}


def test_ray_backend_without_ray_fails_before_creating_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    with pytest.raises(ImportError, match=r'pip install "sb3-ppo-variants\[ray\]"'):
        run_experiment(path, out, backend="ray", quiet=True)
    assert main(["run", str(path), "--out", str(out), "--backend", "ray"]) == 2
    one_line_error(capsys, "--backend ray needs Ray")
    assert not out.exists()


def ignores_sigint(pid: int) -> bool:
    """Whether a process ignores or blocks SIGINT (True for a process that no longer exists)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    masks = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigIgn:", "SigBlk:"))]
    return any(mask & 1 << (signal.SIGINT - 1) for mask in masks)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_ctrl_c_while_workers_start_prints_one_line(tmp_path):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    process = start_command("run", str(path), "--out", str(out), "--workers", "2")
    # Besides the driver and multiprocessing's resource tracker, the first process that will import torch for workers
    wait_for(lambda: len(live_processes_in_group(process.pid)) > 2, process)
    # From its first instant, no process but the driver reacts to a Ctrl-C (so none prints a traceback)
    assert all(ignores_sigint(pid) for pid in live_processes_in_group(process.pid) if pid != process.pid)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT  # it dies by the signal, as an interrupted process should
    lines = stderr.decode().strip().splitlines()
    assert lines[-1].startswith("ppo-variants: interrupted") and len(lines) <= 2, lines  # at most the plan line before


def test_only_accepts_several_patterns_and_runs_their_union(tmp_path, capsys):
    path = experiment_file(tmp_path, "[variants.clip]\n[variants.kl]")
    for only in (["--only", "*clip*", "--only", "*kl__seed1"], ["--only", "*clip*,*kl__seed1"]):
        assert main(["list", str(path), "--no-estimate", *only]) == 0
        assert "3 runs, 1,536 environment steps" in capsys.readouterr().out
    out = tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True, only=["*clip__seed0", "*kl__seed1"]) == {"ok": 2}
    assert sorted(path.name for path in (out / "runs").iterdir()) == ["CartPole-v1__clip__seed0", "CartPole-v1__kl__seed1"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_main_returns_the_shell_status_of_its_signal(tmp_path, monkeypatch, capsys, signum, code):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises before this ends

    monkeypatch.setattr("sb3_ppo_variants.runner.run_experiment", interrupted)
    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or the handler an earlier test's ray.init left
    assert main(["run", str(experiment_file(tmp_path, "[variants.clip]")), "--out", str(tmp_path / "out")]) == code
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # main's SIGTERM handler is removed on return
