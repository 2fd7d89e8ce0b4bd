"""
The runner and the report under faults, round two (issue 19): each test is one point of the issue, and failed on the
code before the fix. Point 10 (the README's install lines) is tests/test_install_lines.py.
"""

import importlib.util
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_runner import ROOT, experiment_file
from test_runner_faults import SUBPROCESS_ENV, one_line_error

from sb3_ppo_variants import records
from sb3_ppo_variants.analysis import build_report, load_records, render
from sb3_ppo_variants.analysis.paper import build_table1
from sb3_ppo_variants.analysis.synthetic import make_records, make_sweep_records, write_records
from sb3_ppo_variants.base import VariantPPO
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.runner import (
    SpecError,
    backends,
    check_experiment,
    load_experiment,
    plan,
    run_experiment,
    tune_experiment,
)
from sb3_ppo_variants.runner.backends import default_workers, local_workers
from sb3_ppo_variants.runner.sweep import expand, parse_axis
from sb3_ppo_variants.runner.tune import selected_toml

SWEEP = """
[experiment]
name = "sweep"
seeds = [0]
eval_freq = 128
eval_episodes = 1
{extra}

[envs.CartPole-v1]
total_timesteps = 128
n_envs = 2
n_steps = 32
batch_size = 32
n_epochs = 1

[variants.clip.sweep]
{axes}
"""


def sweep_file(tmp_path: Path, axes: str, extra: str = "") -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(axes=axes, extra=extra))
    return path


# Point 1: the size of a sweep is known before anything is expanded
@pytest.mark.parametrize(
    ("axes", "extra", "n_runs"),
    [
        ("learning_rate = { log_uniform = [1e-5, 1e-2] }", "sweep_samples = 1000000000\nsweep_seed = 0", "1,000,000,000"),
        (
            "\n".join(
                f"{key} = [{', '.join(str(0.5 + i / 100) for i in range(30))}]"
                for key in ("gamma", "gae_lambda", "clip_range", "vf_coef", "ent_coef", "max_grad_norm")
            ),
            "",
            f"{30**6:,}",
        ),
    ],
    ids=["samples", "grid"],
)
def test_a_huge_sweep_is_refused_at_once_by_every_command(tmp_path, capsys, axes, extra, n_runs):
    path = sweep_file(tmp_path, axes, extra)
    for command in (["list", str(path), "--no-estimate"], ["run", str(path), "--out", str(tmp_path / "out"), "--yes"]):
        start = time.perf_counter()
        assert main(command) == 2
        assert time.perf_counter() - start < 1.0
        one_line_error(capsys, f"{n_runs} runs planned, more than the 100,000 any command plans")
    assert not (tmp_path / "out").exists()


def test_sweeps_expand_lazily_and_count_without_expanding(tmp_path):
    axes = {key: parse_axis(key, list(range(1000))) for key in "abcdef"}
    assert next(iter(expand(axes))) == dict.fromkeys("abcdef", 0)  # 10^18 configurations: only the first is built
    experiment = load_experiment(sweep_file(tmp_path, "clip_range = [0.1, 0.2, 0.3]\nn_epochs = [1, 2]"))
    assert experiment.n_runs == 6 == len(plan(experiment))


# Point 2: every configuration is given to the class, not every value with the others at their first
@pytest.mark.parametrize(
    ("variant", "axes", "message"),
    [
        (
            "clip",
            "normalize_advantage = [false, true]\nbatch_size = [32, 1]",
            "with batch_size = 1 with normalize_advantage = True: `batch_size` must be > 1",
        ),
        (
            "kl",
            'kl_target = ["none", 0.01]\nkl_coef = [1.0, "lin_1.0"]',
            "with kl_coef = 'lin_1.0' with kl_target = 0.01: `kl_coef`",
        ),
    ],
)
def test_a_combination_the_class_rejects_is_refused_before_any_run(tmp_path, capsys, variant, axes, message):
    # each value alone passes with the other axis at its first value: only the last pair is rejected
    path = sweep_file(tmp_path, axes)
    path.write_text(path.read_text().replace("[variants.clip.sweep]", f"[variants.{variant}.sweep]"))
    with pytest.raises(SpecError, match="with") as error:
        check_experiment(load_experiment(path))
    assert str(error.value).startswith(f"{path}: [envs.CartPole-v1] with [variants.") and message in str(error.value)
    for command in (["list", str(path), "--no-estimate"], ["run", str(path), "--out", str(tmp_path / "out")]):
        assert main(command) == 2
        one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


def test_a_large_sweep_is_checked_without_building_each_policy(tmp_path, monkeypatch):
    path = sweep_file(tmp_path, f"learning_rate = [{', '.join(f'{i}e-5' for i in range(1, 401))}]\nn_epochs = [1, 2, 3]")
    built = []
    setup = VariantPPO._setup_model
    monkeypatch.setattr(VariantPPO, "_setup_model", lambda self: built.append(1) or setup(self))
    start = time.perf_counter()
    check_experiment(load_experiment(path))  # 1200 configurations
    assert len(built) == 1 and time.perf_counter() - start < 30


# Point 3: duplicates are compared on resolved values; labels never collide
@pytest.mark.parametrize(
    ("axis", "pair"),
    [("n_epochs = [1, 1.0]", "1 and 1.0"), ('learning_rate = ["lin_1e-3", "lin_0.001"]', "'lin_1e-3' and 'lin_0.001'")],
)
def test_two_spellings_of_one_value_are_duplicates(tmp_path, axis, pair):
    with pytest.raises(SpecError, match="duplicate values") as error:
        load_experiment(sweep_file(tmp_path, axis))
    assert pair in str(error.value)


def test_values_that_differ_beyond_four_digits_get_two_labels_and_two_report_rows(tmp_path):
    configs = plan(load_experiment(sweep_file(tmp_path, "learning_rate = [1.00001e-3, 1e-3]")))
    assert [config.label for config in configs] == ["clip[learning_rate=0.00100001]", "clip[learning_rate=0.001]"]
    tuning = make_sweep_records(
        [("CartPole-v1", "clip", {"learning_rate": value}, [1.0, 2.0]) for value in (1.00001e-3, 1e-3)]
    )
    assert len(build_report(tuning, n_resamples=10, curve_resamples=0).per_env) == 2


# Point 4: every value the report reads is checked; a bad file makes its run corrupt, never the report fail
def _rewrite(path: Path, column: str, row: int, value: str) -> None:
    table = pd.read_csv(path, dtype=str)
    table.loc[row, column] = value
    table.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("file", "column", "value", "problem"),
    [
        ("eval.csv", "mean_return", "abc", "column 'mean_return' has non-numeric values ('abc')"),
        ("eval.csv", "mean_return", "inf", "column 'mean_return' has missing, NaN or infinite values in a run that ended ok"),
        ("eval.csv", "mean_return", "nan", "column 'mean_return' has missing, NaN or infinite values in a run that ended ok"),
        ("eval.csv", "std_return", "wide", "column 'std_return' has non-numeric values ('wide')"),
        ("eval.csv", "std_return", "-1", "column 'std_return' has negative values"),
        ("eval.csv", "n_episodes", "-3", "column 'n_episodes' has values below 1"),
        ("train.csv", "approx_kl", "high", "column 'approx_kl' has non-numeric values ('high')"),
        ("train.csv", "update", "1.5", "column 'update' has values that are not integers"),
        ("episodes.csv", "length", "0", "column 'length' has values below 1"),
    ],
)
def test_a_bad_value_in_a_record_makes_its_run_corrupt_and_named(tmp_path, capsys, file, column, value, problem):
    records_ = make_records(envs=("CartPole-v1",), variants=("clip",), n_seeds=3)
    episodes = pd.DataFrame(
        {"run_id": records_.runs["run_id"].repeat(2).to_numpy(), "timesteps": [5, 9] * 3, "return": 1.0, "length": 4}
    )
    directory = write_records(records.RecordTables(records_.runs, records_.evals, records_.train, episodes), tmp_path / "e")
    bad = directory / "runs" / "CartPole-v1__clip__seed1" / file
    _rewrite(bad, column, 1, value)
    assert main(["report", str(directory), "--out", str(tmp_path / "report.md")]) == 0
    err = capsys.readouterr().err
    assert err == f"ppo-variants report: warning: run CartPole-v1__clip__seed1 is corrupt: {bad}: {problem}\n"
    with pytest.warns(UserWarning, match="is corrupt"):
        runs = load_records(directory).runs.set_index("run_id")
    assert runs["status"].to_dict() == dict.fromkeys(runs.index, "ok") | {"CartPole-v1__clip__seed1": "corrupt"}
    report = (tmp_path / "report.md").read_text()
    assert "| CartPole-v1 | clip | 3 | 2 | 0 | 0 | 0 | 1 | 0 |" in report and "| CartPole-v1__clip__seed1 |" in report


@pytest.mark.parametrize(("key", "value"), [("wall_time_s", '"slow"'), ("error", "3"), ("diverged_at_update", "-1")])
def test_a_bad_value_in_status_json_makes_its_run_incomplete_and_named(tmp_path, key, value):
    directory = write_records(make_records(envs=("CartPole-v1",), variants=("clip",), n_seeds=2), tmp_path / "e")
    path = directory / "runs" / "CartPole-v1__clip__seed0" / "status.json"
    text = path.read_text()
    path.write_text(text.replace(f'"{key}": ', f'"{key}": {value}, "was": ', 1))
    with pytest.warns(UserWarning, match=f"{key} must be"):
        runs = load_records(directory).runs.set_index("run_id")
    assert runs.loc["CartPole-v1__clip__seed0", "status"] == "incomplete"
    assert f"{path}: {key} must be" in runs.loc["CartPole-v1__clip__seed0", "error"]


def test_a_diverged_runs_infinite_evaluation_ends_its_curve(tmp_path):
    records_ = make_records(
        envs=("CartPole-v1",), variants=("clip",), n_seeds=3, statuses={"CartPole-v1__clip__seed2": "diverged"}
    )
    directory = write_records(records_, tmp_path / "e")
    path = directory / "runs" / "CartPole-v1__clip__seed2" / "eval.csv"
    _rewrite(path, "mean_return", len(pd.read_csv(path)) - 1, "-inf")
    evals = load_records(directory).evals
    assert np.isnan(evals[evals["run_id"] == "CartPole-v1__clip__seed2"]["mean_return"].iloc[-1])
    assert np.isfinite(build_report(directory, n_resamples=10, curve_resamples=0).per_env["final_return_iqm"]).all()


# Point 5: the Table-1 normalisation never flips
def test_a_task_whose_best_setting_is_not_above_random_is_left_out_and_said(tmp_path):
    from test_paper import table1_records

    report = build_table1(table1_records(tmp_path), random_scores={"CartPole-v1": 1000.0, "Acrobot-v1": -500.0})
    assert set(report.settings["unscaled_tasks"]) == {"CartPole-v1"}
    assert report.per_task.set_index("env_id").loc["CartPole-v1", "normalised"].isna().all()
    # only Acrobot-v1 is scored: clip-0.2 1, no-clip 0.5, fixed-kl-1 0.75 (see test_table1_scores_by_hand)
    assert report.table1.set_index("setting")["score"].to_dict() == pytest.approx(
        {"no-clip": 0.5, "clip-0.2": 1.0, "fixed-kl-1": 0.75}
    )
    text = render(report, "md")
    # CartPole-v1's best setting is no-clip: 50 x 3 and its diverged run scored as the random policy, (150 + 1000) / 4
    assert "CartPole-v1 is left out of the scores: its best setting, no-clip, scores 287.5, not above the random" in text
    assert "Not tasks of the paper (its seven MuJoCo tasks): Acrobot-v1, CartPole-v1" in text


# Point 6: a directory has one layout, recorded and checked by both commands
def test_run_and_tune_refuse_each_others_output_directory(tmp_path, capsys):
    plain, tune = experiment_file(tmp_path, "[variants.clip]"), sweep_file(tmp_path, "clip_range = [0.1, 0.2]")
    tune.write_text(tune.read_text().replace("seeds = [0]", "tuning_seeds = [0]\nevaluation_seeds = [1]"))
    records.claim(tmp_path / "ran", "run")
    assert main(["tune", str(tune), "--out", str(tmp_path / "ran")]) == 2
    one_line_error(capsys, f"--out {tmp_path / 'ran'} is the output directory of 'ppo-variants run', not of 'tune'")
    (tmp_path / "tuned" / records.TUNING_DIR).mkdir(parents=True)  # a tune directory made before layout.json
    assert main(["run", str(plain), "--out", str(tmp_path / "tuned")]) == 2
    one_line_error(capsys, "is the output directory of 'ppo-variants tune', not of 'run'")
    assert sorted(path.name for path in (tmp_path / "tuned").iterdir()) == [records.TUNING_DIR]


# Point 7: planned runs that never started are counted
def test_a_planned_run_without_a_record_is_counted_as_missing(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    run_experiment(path, out, workers=1, quiet=True, only="*seed0")
    report = build_report(out, n_resamples=10, curve_resamples=0)
    assert report.per_env[["n_runs", "n_ok", "n_missing"]].values.tolist() == [[2, 1, 1]]
    assert report.problems[["run_id", "status"]].values.tolist() == [["CartPole-v1__clip__seed1", "missing"]]
    text = render(report, "md")
    assert "| CartPole-v1 | clip | 2 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |" in text and "planned, never started" in text


# Point 8: one driver per output directory
def test_a_second_driver_on_one_output_directory_refuses_naming_the_holder(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from sb3_ppo_variants import records\n"
            f"with records.locked({str(out)!r}):\n    print('held', flush=True); time.sleep(60)",
        ],
        env=SUBPROCESS_ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 2
        one_line_error(capsys, f"--out {out} is in use by another ppo-variants process (pid {holder.pid})")
        assert not (out / "runs").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_experiment(path, out, workers=1, quiet=True, only="*seed0") == {"ok": 1}  # the lock ended with its holder


# Point 9: the smaller ones
@pytest.mark.parametrize("workers", ["-1", "0"])
def test_list_refuses_a_worker_count_that_is_not_positive(tmp_path, capsys, workers):
    assert main(["list", str(experiment_file(tmp_path)), "--workers", workers]) == 2
    one_line_error(capsys, f"workers must be a positive integer, got {workers}")


class PoolStarted(Exception):
    """Raised by a fake pool, to see the size the driver asks for."""


@pytest.mark.skipif(default_workers() == 1, reason="one core: runs execute in the driver, without a pool")
def test_more_workers_than_cores_are_capped(tmp_path, monkeypatch):
    assert local_workers(1000) == default_workers() == local_workers(None)
    sizes = []

    def pool(workers: int) -> None:
        sizes.append(workers)
        raise PoolStarted

    monkeypatch.setattr(backends, "LocalPool", pool)
    with pytest.raises(PoolStarted):
        run_experiment(experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out", workers=1000, quiet=True)
    assert sizes == [default_workers()]


@pytest.mark.parametrize(
    ("env_extra", "variants", "message"),
    [
        ("", "[variants.clip]\nlearning_rate = 'lin_1.2.3'", "[variants.clip]: `learning_rate` = 'lin_1.2.3': a schedule"),
        ("policy_kwargs = 5", "[variants.clip]", "`policy_kwargs` must be a table, e.g. { net_arch = [64, 64] }, got 5"),
        (
            "policy_kwargs = { net_arch = [4611686018427387904] }",
            "[variants.clip]",
            "`policy` = 'MlpPolicy' with `policy_kwargs` = {'net_arch': [4611686018427387904]} cannot be built",
        ),
        ("policy = 'CnnPolicy'", "[variants.clip]", "`policy` = 'CnnPolicy' cannot be built for the observations Box("),
        (
            "policy = 'MlpPolcy'",
            "[variants.clip]",
            "'policy' must be one of ['CnnLstmPolicy', 'CnnPolicy', 'MlpLstmPolicy', 'MlpPolicy', 'MultiInputLstmPolicy', "
            "'MultiInputPolicy']",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, capsys, env_extra, variants, message):
    path = experiment_file(tmp_path, variants, env_extra)
    assert main(["list", str(path), "--no-estimate"]) == 2
    one_line_error(capsys, str(path), message)


def test_an_environment_whose_module_is_missing_names_it(tmp_path, capsys):
    path = experiment_file(tmp_path, "[variants.clip]")
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", "[envs.'phys2d/CartPole-v1']"))
    if importlib.util.find_spec("jax") is not None:
        pytest.skip("jax is installed")
    assert main(["list", str(path), "--no-estimate"]) == 2
    one_line_error(capsys, "[envs.phys2d/CartPole-v1]: making the environment needs the module 'jax', which is not installed")


def test_resuming_a_directory_with_failed_runs_says_so_and_exits_1(tmp_path, capsys):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    path.write_text(path.read_text().replace("[envs.CartPole-v1]", "[envs.'exploding_env:ResetExploding-v0']"))
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 1
    assert capsys.readouterr().out == "2 failed\n"
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 1
    assert capsys.readouterr().out == "nothing to run; 2 failed earlier (--retry-failed runs them again)\n"


def test_a_changed_comment_does_not_block_resuming(tmp_path):
    path, out = experiment_file(tmp_path, "[variants.clip]"), tmp_path / "out"
    assert run_experiment(path, out, workers=1, quiet=True, only="*seed0") == {"ok": 1}
    path.write_text("# a comment\n" + path.read_text().replace("n_envs = 2", "n_envs = 2  # two"))
    assert run_experiment(path, out, workers=1, quiet=True) == {"ok": 1}
    path.write_text(path.read_text().replace("n_envs = 2", "n_envs = 4"))
    with pytest.raises(ValueError, match=r"holds a different experiment\.toml"):
        run_experiment(path, out, workers=1, quiet=True)


# Issue 16: load_experiment parses only; status needs neither MuJoCo nor a model
def test_status_of_a_mujoco_experiment_needs_neither_mujoco_nor_a_model(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / records.EXPERIMENT_FILE).write_text((ROOT / "experiments" / "ppo-paper-table1-scaled.toml").read_text())
    script = (
        "import sys\n"
        "sys.modules['mujoco'] = None  # importing mujoco raises ImportError\n"
        "from stable_baselines3.common.base_class import BaseAlgorithm\n"
        "def refuse(*args, **kwargs):\n    raise RuntimeError('a model was built')\n"
        "BaseAlgorithm.__init__ = refuse\n"
        "from sb3_ppo_variants.cli import main\n"
        f"sys.exit(main(['status', {str(out)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{out}: 78 runs planned" in result.stdout and "missing    78" in result.stdout


def test_selected_toml_is_written_from_the_parsed_tables(tmp_path):
    path = sweep_file(tmp_path, "clip_range = [0.1, 0.2]")
    path.write_text(path.read_text().replace("seeds = [0]", "tuning_seeds = [0]\nevaluation_seeds = [1]"))
    experiment = load_experiment(path)
    path.unlink()  # the file is not read again
    selection = pd.DataFrame(
        [
            {
                "env_id": "CartPole-v1",
                "variant": "clip",
                "label": "clip[clip_range=0.2]",
                "sweep": {"clip_range": 0.2},
                "tuning_score": 1.0,
                "n_runs": 1,
            }
        ]
    )
    text = selected_toml(experiment, selection, "auc")
    assert (
        "[variants.clip.envs.CartPole-v1]\n# selected clip[clip_range=0.2]: IQM 1 over 1 tuning runs\nclip_range = 0.2" in text
    )


def test_a_kl_variant_with_target_kl_but_no_kl_target_warns_once(tmp_path):
    path = experiment_file(tmp_path, "[variants.kl]\ntarget_kl = 0.02\n[variants.klclip]\nkl_target = 0.01\ntarget_kl = 0.02")
    path.write_text(path.read_text() + "\n[envs.Acrobot-v1]\ntotal_timesteps = 512\nn_steps = 64\nbatch_size = 64\n")
    with pytest.warns(UserWarning) as caught:
        check_experiment(load_experiment(path))
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 1 and "[variants.kl] (algo 'kl') sets target_kl but not kl_target" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_experiment(load_experiment(experiment_file(tmp_path, "[variants.kl]\nkl_target = 0.02")))


def test_tune_refuses_a_second_driver_too(tmp_path, capsys):
    tune = sweep_file(tmp_path, "clip_range = [0.1, 0.2]")
    tune.write_text(tune.read_text().replace("seeds = [0]", "tuning_seeds = [0]\nevaluation_seeds = [1]"))
    held = pytest.raises(ValueError, match=f"in use by another ppo-variants process \\(pid {os.getpid()}\\)")
    with records.locked(tmp_path / "out"), held:
        tune_experiment(tune, tmp_path / "out", workers=1, quiet=True)
    assert tune_experiment(tune, tmp_path / "out", workers=1, quiet=True) == {"tuning": {"ok": 2}, "evaluation": {"ok": 1}}


def test_the_executor_checks_its_options_when_built_and_runs_nothing_for_nothing():
    with pytest.raises(ValueError, match="backend must be one of"):
        backends.Executor("slurm")
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        backends.Executor(workers=0)
    with pytest.raises(ValueError, match="address is only used by backend 'ray'"):
        backends.Executor(address="head:6379")
    with backends.Executor(workers=1) as executor:
        assert list(executor.run([])) == []
    executor.close()  # closing twice is harmless
