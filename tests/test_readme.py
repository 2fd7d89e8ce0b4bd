"""The README's code runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_new_objective_example_trains_and_logs_through_the_hook():
    (block,) = [b for b in python_blocks() if "class SPO" in b]
    namespace: dict = {}
    exec(block.replace(".learn(10_000)", ".learn(64)"), namespace)
    model = namespace["model"]
    assert model.n_policy_updates == 1
    assert {"policy_objective", "clip_fraction", "ratio_max"} <= set(model.last_update_stats)


def test_usage_example_runs(tmp_path, monkeypatch):
    (block,) = [b for b in python_blocks() if "LogClipPPO.load" in b]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block.replace(".learn(100_000)", ".learn(64)"), namespace)
    assert (tmp_path / "logclip_cartpole.zip").exists()
    assert namespace["KL"].__name__ == "KLPenaltyPPO"


def test_experiment_sketch_is_a_valid_experiment(tmp_path):
    from sb3_ppo_variants.runner import load_experiment, plan

    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    path = tmp_path / "sketch.toml"
    path.write_text(block)
    experiment = load_experiment(path)
    assert [variant.name for variant in experiment.variants] == ["pg", "clip-0.1"]
    assert experiment.variants[1].algo == "clip"
    assert len(plan(experiment)) == 5 * 2
