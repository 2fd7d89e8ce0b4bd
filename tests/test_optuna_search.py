"""'ppo-variants tune' with search = "tpe": Optuna's TPE sampler with median pruning, resumable, on the tuning seeds."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

import optuna

from sb3_ppo_variants import records
from sb3_ppo_variants.analysis import build_sweep_report
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import pending, save
from sb3_ppo_variants.runner import SpecError, load_experiment, tune_experiment
from sb3_ppo_variants.runner import optuna_search as tpe
from sb3_ppo_variants.runner.backends import Executor
from sb3_ppo_variants.runner.run import run_one

# CartPole-v1's untrained policy falls at once on seeds 1 and 2 (return 9); at learning rate 1e-7 it stays there, at
# 1e-3 it learns within 1024 steps: a trial at 1e-7 after two trials at 1e-3 is below their median and pruned.
TUNE = """
[experiment]
name = "tpe"
tuning_seeds = [1, 2]
evaluation_seeds = [10]
eval_freq = 256
eval_episodes = 2
search = "tpe"
sweep_samples = 6
sweep_seed = 0
search_batch = 2

[envs.CartPole-v1]
total_timesteps = 1024
n_envs = 2
n_steps = 64
batch_size = 64
n_epochs = 2

[envs.CartPole-v1.sweep]
learning_rate = [1e-3, 1e-7]

[variants.clip]
"""


def write(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tpe.toml"
    path.write_text(TUNE)
    return path


def trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="CartPole-v1__clip", storage=f"sqlite:///{out / 'tuning' / tpe.STUDY_FILE}")
    return study.get_trials()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted TPE tune, pruning after two completed trials."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tpe, "PRUNE_STARTUP_TRIALS", 2)
        out = tmp_path_factory.mktemp("tpe") / "out"
        counts = tune_experiment(write(out.parent), out=out, workers=1, quiet=True)
    # trials 0 and 1 both ask 1e-3 (two choices): its runs run once; 1e-7 comes after two complete trials and is pruned
    assert counts["tuning"] == {"ok": 2, "pruned": 2} and counts["evaluation"] == {"ok": 1}
    return out


def test_median_bounds_are_the_bounds_of_optunas_median_pruner():
    rng = np.random.default_rng(0)
    steps = [100, 200, 300, 400]
    completed = [dict(zip(steps, rng.normal(size=4).tolist(), strict=True)) for _ in range(5)]
    del completed[0][300]  # a trial without that step: the median is over the trials that have it
    bounds = dict(tpe.median_bounds(completed, total_timesteps=400, n_startup=5))
    assert sorted(bounds) == [200, 300]  # after the warm-up (a third of 400) and before the end
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for values in completed:
        study.add_trial(optuna.trial.create_trial(value=0.0, intermediate_values=values))
    for step, bound in bounds.items():
        for best in (bound - 1e-9, bound):
            trial = study.ask()
            trial.report(best, step)
            assert trial.should_prune() == (best < bound)
    assert tpe.median_bounds(completed[:4], total_timesteps=400, n_startup=5) == ()


def test_a_run_below_a_bound_stops_there_with_a_pruned_record(tmp_path):
    experiment = load_experiment(write(tmp_path))
    config = tpe.trial_runs(experiment, experiment.envs[0], experiment.variants[0], {"learning_rate": 1e-3}, ((512, 1e9),))[0]
    record = run_one(config)
    assert record.status["status"] == "pruned" and record.status["timesteps"] == 512
    assert [row["timesteps"] for row in record.eval_rows] == [0, 256, 512]
    save(tmp_path, record)
    assert records.load_records(tmp_path).runs["status"].tolist() == ["pruned"]
    assert json.loads((records.run_dir(tmp_path, config.run_id) / "config.json").read_text())["prune_below"] == [[512, 1e9]]


def test_tpe_prunes_on_the_median_and_selects_an_unpruned_trial_on_the_tuning_seeds(tuned):
    stored = trials(tuned)
    assert len(stored) == 6 and [t.user_attrs[tpe.BATCH_ATTR] for t in stored] == [0, 0, 1, 1, 2, 2]
    loaded = records.load_records(tuned / "tuning")
    assert set(loaded.runs["seed"]) == {1, 2}
    # a trial that repeats a configuration reuses the runs of its first trial, made with that trial's batch's bounds
    first_batch: dict[str, int] = {}
    for trial in stored:
        first_batch.setdefault(trial.params["learning_rate"], trial.user_attrs[tpe.BATCH_ATTR])
    pruned_configurations = set()
    for run in loaded.runs.itertuples():
        learning_rate = json.dumps(run.hyperparameters["learning_rate"])
        earlier = [
            t for t in stored if t.user_attrs[tpe.BATCH_ATTR] < first_batch[learning_rate] and t.state.name == "COMPLETE"
        ]
        # bounds after the warm-up (1024 / 3) and before the end: the median of the earlier complete trials' values
        expected = (
            [[step, float(np.median([t.intermediate_values[step] for t in earlier]))] for step in (512, 768)]
            if len(earlier) >= 2
            else []
        )
        config = json.loads((records.run_dir(tuned / "tuning", run.run_id) / "config.json").read_text())
        assert config.get("prune_below", []) == expected  # config.json lists it only when not empty
        curve = loaded.evals[loaded.evals["run_id"] == run.run_id]
        below = [
            curve.query(f"0 < timesteps <= {step}")["mean_return"].max() < bound
            for step, bound in config.get("prune_below", ())
        ]
        assert (run.status == "pruned") == any(below)
        if run.status == "pruned":
            pruned_configurations.add(learning_rate)
    assert pruned_configurations == {"1e-07"}
    assert [t.state.name for t in stored if t.params["learning_rate"] == "1e-07"] == ["PRUNED", "PRUNED"]
    assert {t.state.name for t in stored if t.params["learning_rate"] == "0.001"} == {"COMPLETE"}
    selected = (tuned / "selected.toml").read_text()
    assert "learning_rate = 0.001" in selected and "search" not in selected
    assert set(records.load_records(tuned / "evaluation").runs["seed"]) == {10}
    report = build_sweep_report(tuned, n_resamples=50, curve_resamples=0)
    assert report.selection["label"].tolist() == ["clip[learning_rate=0.001]"]
    assert len(report.selection_bias) == 1


def test_an_interrupted_tpe_tune_resumes_to_the_same_study_and_selection(tuned, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tpe, "PRUNE_STARTUP_TRIALS", 2)
    experiment_file = write(tmp_path)
    out = tmp_path / "out"
    tuning = out / "tuning"
    tuning.mkdir(parents=True)
    (tuning / "experiment.toml").write_text(experiment_file.read_text())
    batches = []

    def run_then_stop(configs):
        batches.append(configs)
        if len(batches) == 2:  # the second batch: one run done, then Ctrl-C
            save(tuning, run_one(pending(tuning, configs)[0]))
            raise KeyboardInterrupt
        for record in Executor(workers=1).run(pending(tuning, configs)):
            save(tuning, record)

    with pytest.raises(KeyboardInterrupt):
        tpe.search(load_experiment(experiment_file), tuning, "auc", run_then_stop)
    assert len(trials(out)) == 2
    assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out  # batch 0 ran 1e-3 twice (2 runs); batch 1 repeats 1e-3 and adds 1e-7, one run done
    assert "tuning: 4 runs planned" in status and "pruned     1" in status and "missing    1" in status
    tune_experiment(experiment_file, out=out, workers=1, quiet=True)
    assert [(t.params, t.state, t.value, t.intermediate_values) for t in trials(out)] == [
        (t.params, t.state, t.value, t.intermediate_values) for t in trials(tuned)
    ]
    assert (out / "selected.toml").read_text().replace(str(out.parent), "") == (tuned / "selected.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('search = "tpe"', 'search = "bayes"', r"'search' must be one of \('grid', 'random', 'tpe'\), got 'bayes'"),
        ('search = "tpe"', 'search = "grid"', "search = 'grid' has no 'sweep_samples'"),
        ("search_batch = 2", "search_batch = 0", "'search_batch' must be a positive int, got 0"),
        ('search = "tpe"', "", "'search_batch' is the batch of a TPE search: it needs search = 'tpe'"),
    ],
)
def test_bad_search_settings_name_the_key_and_the_allowed_values(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(TUNE.replace(old, new))
    with pytest.raises(SpecError, match=message):
        load_experiment(path)


def test_tpe_needs_a_tune_file_and_sweep_samples(tmp_path):
    text = TUNE
    plain = tmp_path / "plain.toml"
    plain.write_text(text.replace("tuning_seeds = [1, 2]\nevaluation_seeds = [10]", "seeds = [1]"))
    with pytest.raises(SpecError, match="search = 'tpe' is a tune file's search"):
        load_experiment(plain)
    no_samples = tmp_path / "no_samples.toml"
    no_samples.write_text(text.replace("sweep_samples = 6\nsweep_seed = 0\n", ""))
    with pytest.raises(SpecError, match="search = 'tpe' needs 'sweep_samples'"):
        load_experiment(no_samples)


def test_without_optuna_tune_names_the_extra_and_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    out = tmp_path / "out"
    assert main(["tune", str(write(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "sb3-ppo-variants[optuna]"' in err
    assert not out.exists()


def test_only_is_refused_before_anything_is_created(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tune", str(write(tmp_path)), "--out", str(out), "--only", "CartPole-v1__clip*"]) == 2
    assert "--only cannot select runs of a TPE search" in capsys.readouterr().err
    assert not out.exists()
