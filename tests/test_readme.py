"""The code of the README and of the documentation pages runs as written (docs/rl-zoo.md: tests/test_rlzoo.py)."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(page for page in (ROOT / "docs").glob("*.md") if page.name != "rl-zoo.md")]


def blocks(language: str) -> list[str]:
    """The fenced code blocks of one language on every page."""
    pattern = rf"```{language}\n(.*?)```"
    return [block for page in PAGES for block in re.findall(pattern, page.read_text(encoding="utf-8"), flags=re.DOTALL)]


def python_blocks() -> list[str]:
    return blocks("python")


def test_new_objective_example_trains_and_logs_through_the_hook():
    (block,) = [b for b in python_blocks() if "class LogPenaltyPPO" in b]
    namespace: dict = {}
    exec(block.replace(".learn(10_000)", ".learn(64)"), namespace)
    model = namespace["model"]
    assert model.n_policy_updates == 1
    assert {"policy_objective", "log_ratio_sq", "ratio_max", "stop_epoch"} <= set(model.last_update_stats)


def test_usage_example_runs(tmp_path, monkeypatch):
    (block,) = [b for b in python_blocks() if "LogClipPPO.load" in b]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block.replace(".learn(100_000)", ".learn(64)"), namespace)
    assert (tmp_path / "logclip_cartpole.zip").exists()
    assert namespace["KL"].__name__ == "KLPenaltyPPO"


def toml_block(marker: str) -> str:
    (block,) = [b for b in blocks("toml") if marker in b]
    return block


def test_experiment_sketch_is_a_valid_experiment(tmp_path):
    from sb3_ppo_variants.runner import load_experiment, plan

    block = toml_block('name = "quick"')
    path = tmp_path / "sketch.toml"
    path.write_text(block)
    experiment = load_experiment(path)
    assert [variant.name for variant in experiment.variants] == ["pg", "clip-0.1"]
    assert experiment.variants[1].algo == "clip"
    assert len(plan(experiment)) == 5 * 2


def test_sweep_sketch_is_a_valid_tune_file(tmp_path):
    from sb3_ppo_variants.runner import load_experiment, plan

    path = tmp_path / "tune.toml"
    path.write_text(toml_block('name = "tune-pg"'))
    experiment = load_experiment(path)
    assert experiment.is_tune and experiment.evaluation_seeds == (10, 11, 12)
    configs = plan(experiment)
    assert len(configs) == (4 + 1) * 3  # pg: 4 learning rates; clip: one configuration; 3 tuning seeds
    assert {c.label for c in configs if c.variant == "pg"} == {
        f"pg[learning_rate={lr}]" for lr in (0.0003, 0.001, 0.003, 0.01)
    }
    assert {c.hyperparameters["clip_range"] for c in configs if c.variant == "clip"} == {0.1}


def test_tpe_sketch_is_a_valid_tune_file(tmp_path):
    from sb3_ppo_variants.runner import describe_plan, load_experiment

    path = tmp_path / "tpe.toml"
    path.write_text(toml_block('name = "tpe-clip"'))
    experiment = load_experiment(path)
    assert (experiment.search, experiment.sweep_samples, experiment.search_batch) == ("tpe", 20, 4)
    assert "a TPE search of 20 trials per environment and variant" in describe_plan(path, calibrate=False)


def test_report_example_reads_the_committed_quick_experiment(monkeypatch, capsys):
    (block,) = [b for b in python_blocks() if "build_report(" in b]
    monkeypatch.chdir(ROOT)
    fast = 'build_report("results/quick", n_resamples=100, curve_resamples=0)'
    exec(block.replace('build_report("results/quick")', fast), {})
    printed = capsys.readouterr().out
    assert "final_return_iqm" in printed and "## Sample efficiency" in printed


def test_the_compare_command_runs_as_written_with_fewer_seeds_and_steps(tmp_path, capsys):
    from sb3_ppo_variants.cli import main
    from sb3_ppo_variants.records import load_records

    lines = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("ppo-variants compare")]
    commands = {tuple(shlex.split(line, comments=True)[1:]) for line in lines}
    assert len(lines) == 3 and len(commands) == 1, commands  # README.md, docs/index.md and docs/experiments.md
    argv = list(commands.pop())
    # 2 seeds of 256 steps, one rollout of rl-zoo3's 8 x 32 on CartPole-v1, instead of 10 seeds of 100k
    argv[argv.index("--seeds") + 1], argv[argv.index("--timesteps") + 1] = "2", "256"
    assert main([*argv, "--out", str(tmp_path / "cmp"), "--workers", "1"]) == 0
    assert "6 ok" in capsys.readouterr().out
    runs = sorted(load_records(tmp_path / "cmp").runs["run_id"])
    assert runs == [f"CartPole-v1__{variant}__seed{seed}" for variant in ("clip", "kl", "logclip") for seed in (0, 1)]
