"""Sweeps in experiment files and 'ppo-variants tune': planning, validation, selection into selected.toml, resume."""

import json
from pathlib import Path

import pytest

from sb3_ppo_variants.cli import main
from sb3_ppo_variants.engine import plan_batches
from sb3_ppo_variants.records import config_id
from sb3_ppo_variants.runner import SpecError, check_experiment, load_experiment, plan, run_experiment, tune_experiment
from sb3_ppo_variants.runner.driver import load_checked
from sb3_ppo_variants.runner.sweep import expand, parse_axis

HEADER = """
[experiment]
name = "sweep"
{seeds}
eval_freq = 128
eval_episodes = 1
{extra}

[envs.CartPole-v1]
total_timesteps = 128
n_envs = 2
n_steps = 32
batch_size = 32
n_epochs = 1
{env_extra}
"""


def write(tmp_path: Path, variants: str, seeds: str = "seeds = [0, 1]", extra: str = "", env_extra: str = "") -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(HEADER.format(seeds=seeds, extra=extra, env_extra=env_extra) + variants)
    return path


def test_a_grid_plans_the_cartesian_product_with_stable_ids_and_labels(tmp_path):
    variants = "[variants.clip.sweep]\nlearning_rate = [1e-4, 1e-3, 1e-2]\nclip_range = [0.1, 0.3]\n[variants.pg]\n"
    configs = plan(load_experiment(write(tmp_path, variants)))
    clip = [c for c in configs if c.variant == "clip"]
    assert len(clip) == 3 * 2 * 2 and len(configs) == len(clip) + 2  # pg: no sweep, 2 seeds
    labels = sorted({c.label for c in clip})
    assert labels[0] == "clip[clip_range=0.1,learning_rate=0.0001]" and len(labels) == 6
    first = clip[0]
    assert first.sweep == {"clip_range": 0.1, "learning_rate": 1e-4}
    assert first.hyperparameters["learning_rate"] == 1e-4 and first.hyperparameters["n_steps"] == 32
    assert first.config_id == config_id("CartPole-v1", "clip", first.hyperparameters)
    assert first.run_id == f"CartPole-v1__clip__{first.config_id}__seed0"
    pg = [c for c in configs if c.variant == "pg"]
    assert (pg[0].run_id, pg[0].label, pg[0].config_id, pg[0].sweep) == ("CartPole-v1__pg__seed0", "pg", None, {})
    # the same settings written without a sweep in another file: the same id
    other = write(
        tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path,
        "[variants.clip]\nlearning_rate = 1e-4\nclip_range = 0.1\n",
    )
    same = plan(load_experiment(other))[0]
    assert config_id("CartPole-v1", "clip", same.hyperparameters) == first.config_id


def test_a_random_search_draws_reproducibly_from_its_seed(tmp_path):
    variants = (
        "[variants.clip.sweep]\nlearning_rate = { log_uniform = [1e-5, 1e-2] }\nclip_range = { uniform = [0.1, 0.3] }\n"
        "n_epochs = { choice = [1, 2] }\n"
    )
    path = write(tmp_path, variants, extra="sweep_samples = 5\nsweep_seed = 7")
    configs = plan(load_experiment(path))
    swept = [c.sweep for c in configs[::2]]
    assert len(configs) == 5 * 2 and len({c.config_id for c in configs}) == 5
    assert all(1e-5 <= s["learning_rate"] <= 1e-2 and 0.1 <= s["clip_range"] <= 0.3 and s["n_epochs"] in (1, 2) for s in swept)
    assert [c.sweep for c in plan(load_experiment(path))[::2]] == swept  # same file, same draws
    path.write_text(path.read_text().replace("sweep_seed = 7", "sweep_seed = 8"))
    assert [c.sweep for c in plan(load_experiment(path))[::2]] != swept


def test_a_random_search_never_plans_a_configuration_twice(tmp_path, capsys):
    # pg's axes are a list and a choice, 2 x 3 = 6 combinations: 12 draws of them repeated some (each run 2 or 3 times)
    variants = (
        "[variants.clip.sweep]\nclip_range = { uniform = [0.1, 0.3] }\n"
        "[variants.pg.sweep]\nlearning_rate = [1e-3, 3e-3]\nn_epochs = { choice = [1, 2, 3] }\n"
    )
    path = write(tmp_path, variants, extra="sweep_samples = 12\nsweep_seed = 0")
    experiment = load_experiment(path)
    configs = plan(experiment)
    assert len({c.run_id for c in configs}) == len(configs) == experiment.n_runs == (12 + 6) * 2
    pg = {(c.sweep["learning_rate"], c.sweep["n_epochs"]) for c in configs if c.variant == "pg"}
    assert pg == {(rate, epochs) for rate in (1e-3, 3e-3) for epochs in (1, 2, 3)}
    assert main(["list", str(path), "--no-estimate"]) == 0
    assert "6 configurations x 2 seeds = 12 runs" in capsys.readouterr().out
    # fewer samples than combinations: that many distinct ones, the first draws kept
    axes = {key: parse_axis(key, list(range(3))) for key in "ab"}
    draws = list(expand(axes, samples=5))
    assert len({(d["a"], d["b"]) for d in draws}) == 5 and draws[:2] == list(expand(axes, samples=2))


def test_load_checked_refuses_a_file_its_command_does_not_take(tmp_path):
    plain = write(tmp_path, "[variants.clip]\n")
    assert load_checked(plain, yes=False, command="run").seeds == (0, 1)
    with pytest.raises(ValueError, match=r"tune needs \[experiment\] tuning_seeds and evaluation_seeds, not seeds"):
        load_checked(plain, yes=False, command="tune")
    with pytest.raises(ValueError, match=r"command must be one of \('run', 'tune'\) or None, got 'list'"):
        load_checked(plain, yes=False, command="list")
    (tmp_path / "tune").mkdir()
    tune = write(tmp_path / "tune", "[variants.clip]\n", seeds="tuning_seeds = [0]\nevaluation_seeds = [1]")
    assert load_checked(tune, yes=False).evaluation_seeds == (1,)
    with pytest.raises(ValueError, match=r"is a tune file .*'ppo-variants tune' runs its two stages"):
        load_checked(tune, yes=False, command="run")


def test_axes_expand_as_documented():
    axes = {"b": parse_axis("b", [1, 2]), "a": parse_axis("a", ["x", "y", "z"])}
    assert list(expand(axes)) == [{"a": a, "b": b} for a in "xyz" for b in (1, 2)]
    assert list(expand({})) == [{}]


RANDOM = "sweep_samples = 2\nsweep_seed = 0"


@pytest.mark.parametrize(
    ("variants", "extra", "message"),
    [
        ("[variants.clip.sweep]\nclip_rnage = [0.1, 0.2]", "", "unknown key 'clip_rnage'"),
        ("[variants.clip.sweep]\nclip_range = [0.1, -0.2]", "", "with clip_range = -0.2: `clip_range` must be > 0"),
        ("[variants.clip.sweep]\nclip_range = []", "", "sweep axis 'clip_range' must have at least one value"),
        ("[variants.clip.sweep]\nclip_range = 0.1", "", "must be a non-empty list of values"),
        ("[variants.clip.sweep]\nclip_range = [0.1, 0.1]", "", "duplicate values (equal once resolved): 0.1 and 0.1"),
        ("[variants.clip]\nsweep = {}", "", "must be a table of axes"),
        ("[variants.clip.sweep]\nclip_range = { uniform = [0.3, 0.1] }", "sweep_samples = 2\nsweep_seed = 0", "low < high"),
        (
            "[variants.clip.sweep]\nlearning_rate = { log_uniform = [0, 1e-3] }",
            "sweep_samples = 2\nsweep_seed = 0",
            "positive",
        ),
        ("[variants.clip.sweep]\nclip_range = { uniform = [0.1, 0.3] }", "", "needs [experiment] sweep_samples"),
        ("[variants.clip.sweep]\nclip_range = [0.1, 0.3]", RANDOM, "no sweep axis is one"),
        ("[variants.clip.sweep]\nclip_range = { uniform = [0.1, 0.3] }", "sweep_samples = 2", "needs 'sweep_seed'"),
        (
            "[variants.clip.sweep]\nn_epochs = { uniform = [1, 4] }",
            "sweep_samples = 2\nsweep_seed = 0",
            "`n_epochs` must be an integer",
        ),
        ("[variants.clip]\nlearning_rate = 1e-3", "", "sets ['learning_rate'], which [envs.CartPole-v1.sweep] sweeps"),
        ("[variants.clip.envs.Acrobot-v1]\nn_epochs = 2", "", "['Acrobot-v1'] are not environments of this file"),
    ],
)
def test_bad_sweeps_name_the_file_the_entry_and_the_key(tmp_path, variants, extra, message):
    env_extra = "[envs.CartPole-v1.sweep]\nlearning_rate = [1e-3, 3e-3]" if "which [envs" in message else ""
    path = write(tmp_path, variants, extra=extra, env_extra=env_extra)
    with pytest.raises(SpecError, match=str(path).replace(".", r"\.")) as error:
        check_experiment(load_experiment(path))
    assert message in str(error.value)
    assert main(["list", str(path), "--no-estimate"]) == 2


def test_tuning_and_evaluation_seeds_must_be_disjoint_and_replace_seeds(tmp_path, capsys):
    variants = "[variants.clip.sweep]\nclip_range = [0.1, 0.3]"
    path = write(tmp_path, variants, seeds="tuning_seeds = [0, 1]\nevaluation_seeds = [1, 2]")
    with pytest.raises(SpecError, match=r"must be disjoint .* both hold \[1\]"):
        load_experiment(path)
    path = write(tmp_path, variants, seeds="seeds = [0]\ntuning_seeds = [0, 1]\nevaluation_seeds = [2]")
    with pytest.raises(SpecError, match="a tune file gives both"):
        load_experiment(path)
    path = write(tmp_path, variants, seeds="tuning_seeds = [0, 1]\nevaluation_seeds = [2, 3]")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "'ppo-variants tune' runs its two stages" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_more_than_ten_thousand_runs_start_only_with_yes(tmp_path, capsys):
    seeds = "seeds = [" + ", ".join(str(seed) for seed in range(2501)) + "]"
    path = write(tmp_path, "[variants.clip.sweep]\nclip_range = [0.1, 0.2, 0.3, 0.4]", seeds=seeds)
    assert main(["list", str(path), "--no-estimate"]) == 0
    assert "10,004 runs" in capsys.readouterr().out
    for command in ("run", "tune"):
        assert main([command, str(path), "--out", str(tmp_path / "out")]) == 2
        assert "pass --yes to start it" in capsys.readouterr().err or command == "tune"
    assert not (tmp_path / "out").exists()


TUNE = """
[variants.clip.sweep]
learning_rate = [1e-4, 3e-3]
"""


def record_files(directory: Path) -> dict[str, str]:
    return {
        f"{run.name}/{name}": (run / name).read_text()
        for run in sorted((directory / "runs").iterdir())
        for name in ("config.json", "eval.csv", "train.csv", "episodes.csv")
    }


def test_tune_selects_on_tuning_seeds_writes_a_plain_selected_toml_and_resumes_identically(tmp_path, capsys):
    path = write(tmp_path, TUNE, seeds="tuning_seeds = [0, 1]\nevaluation_seeds = [5, 6]")
    reference = tmp_path / "reference"
    assert tune_experiment(path, reference, workers=1, quiet=True) == {"tuning": {"ok": 4}, "evaluation": {"ok": 2}}
    selected = load_experiment(reference / "selected.toml")
    assert selected.seeds == (5, 6) and not selected.is_tune
    (variant,) = selected.variants
    assert variant.env_overrides["CartPole-v1"]["learning_rate"] in (1e-4, 3e-3)
    stage_two = [json.loads((run / "config.json").read_text()) for run in sorted((reference / "evaluation/runs").iterdir())]
    assert {config["hyperparameters"]["learning_rate"] for config in stage_two} == {
        variant.env_overrides["CartPole-v1"]["learning_rate"]
    }

    # Interrupted in stage 1 (only seed 0 of each configuration done): tune stops before selecting, then resumes
    resumed = tmp_path / "resumed"
    assert tune_experiment(path, resumed, workers=1, quiet=True, only="*seed0") == {"tuning": {"ok": 2}, "evaluation": {}}
    assert not (resumed / "selected.toml").exists()
    capsys.readouterr()
    assert main(["status", str(resumed)]) == 0
    assert "evaluation: not started" in capsys.readouterr().out
    assert tune_experiment(path, resumed, workers=1, quiet=True) == {"tuning": {"ok": 2}, "evaluation": {"ok": 2}}
    # Interrupted in stage 2: one run never written, one without its status.json
    runs = sorted((resumed / "evaluation" / "runs").iterdir())
    for name in ("config.json", "eval.csv", "train.csv", "episodes.csv", "status.json"):
        (runs[0] / name).unlink()
    runs[0].rmdir()
    (runs[1] / "status.json").unlink()
    assert tune_experiment(path, resumed, workers=1, quiet=True) == {"tuning": {}, "evaluation": {"ok": 2}}
    for stage in ("tuning", "evaluation"):
        assert record_files(resumed / stage) == record_files(reference / stage), stage
    assert (resumed / "selected.toml").read_text() == (reference / "selected.toml").read_text()
    # selected.toml is an ordinary experiment: anyone can run it again
    assert run_experiment(reference / "selected.toml", tmp_path / "again", workers=1, quiet=True) == {"ok": 2}
    assert record_files(tmp_path / "again") == record_files(reference / "evaluation")
    # another selection metric over the same tuning runs may select differently: refused, not mixed
    with pytest.raises(ValueError, match="differs from the selection"):
        tune_experiment(path, reference, select="final", workers=1, quiet=True)


def test_the_shipped_tune_files_plan_their_stages():
    root = Path(__file__).resolve().parents[1] / "experiments"
    full = load_experiment(root / "tuned-classic.toml")
    assert full.is_tune and full.seeds == (0, 1, 2) and len(full.evaluation_seeds) == 10
    assert len(plan(full)) == 612  # 8 objectives x 4 rates + 3 x 4 x 3 (a constant each), on 3 environments, 3 seeds
    # engine "auto": CartPole's and Acrobot's runs in batches, Pendulum's (gSDE) one by one on the SB3 classes
    tasks = plan_batches(plan(full), full.engine, full.batch_runs)
    assert {len(task) for task in tasks if task[0].env_id == "Pendulum-v1"} == {1}
    assert sum(len(task) for task in tasks if task[0].env_id != "Pendulum-v1" and len(task) > 1) == 408
    scaled = load_experiment(root / "tuned-classic-scaled.toml")
    configs = plan(scaled)
    assert len(configs) == 60 and len(scaled.evaluation_seeds) == 5
    assert sorted({c.sweep["learning_rate"] for c in configs}) == [1e-4, 5e-4, 2e-3, 1e-2]
