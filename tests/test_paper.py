"""The PPO paper's Table 1 score: last-100-episode means and the per-task normalisation, against hand-worked values."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sb3_ppo_variants.analysis import render
from sb3_ppo_variants.analysis.paper import best_setting_scores, build_table1, normalize_paper
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, load_random_scores
from sb3_ppo_variants.analysis.scoring import last_episodes_mean
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import write_record


def test_last_100_episode_mean_with_more_and_fewer_episodes():
    # 150 episodes returning 0, 1, ..., 149: the last 100 are 50..149, mean (50 + 149) / 2 = 99.5
    assert last_episodes_mean(np.arange(150)) == 99.5
    # exactly 100: 0..99, mean 49.5
    assert last_episodes_mean(np.arange(100)) == 49.5
    # 4 episodes: all of them, (2 + 4 + 6 + 8) / 4 = 5
    assert last_episodes_mean(np.array([2.0, 4.0, 6.0, 8.0])) == 5.0
    # the last 2 of 4: (6 + 8) / 2 = 7
    assert last_episodes_mean(np.array([2.0, 4.0, 6.0, 8.0]), n=2) == 7.0
    assert np.isnan(last_episodes_mean(np.array([])))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        last_episodes_mean(np.arange(3), n=0)


def test_paper_normalisation_random_is_zero_best_is_one():
    # One task, random policy -100. Settings' run scores (3 seeds):
    #   a: 100, 200, 300 -> mean 200 (the best)    b: -100, 0, 50 -> mean -50    c: -100 x 3 (random)
    # scale = best - random = 300; normalised: a = (200, 300, 400) / 300, b = (0, 100, 150) / 300, c = 0
    scores = {"a": np.array([100.0, 200.0, 300.0]), "b": np.array([-100.0, 0.0, 50.0]), "c": np.full(3, -100.0)}
    assert best_setting_scores(scores) == ("a", 200.0)
    normalised = normalize_paper(scores, random_score=-100.0)
    np.testing.assert_allclose(normalised["a"], [2 / 3, 1.0, 4 / 3])
    assert normalised["a"].mean() == pytest.approx(1.0)  # the best setting's mean is 1
    np.testing.assert_allclose(normalised["b"], [0.0, 1 / 3, 0.5])  # between: mean 5/18
    assert normalised["b"].mean() == pytest.approx(5 / 18)
    np.testing.assert_allclose(normalised["c"], [0.0, 0.0, 0.0])  # the random policy's score is 0
    with pytest.raises(ValueError, match="scale is undefined"):
        normalize_paper({"c": np.full(3, -100.0)}, random_score=-100.0)


def test_random_scores_are_measured_by_the_command_and_reproduce(tmp_path):
    # The stored CartPole-v1 score is the command's output: measuring again gives the same number
    out = tmp_path / "random.json"
    assert main(["references", "random", "CartPole-v1", "--episodes", "100", "--out", str(out)]) == 0
    measured = load_random_scores(out)["CartPole-v1"]
    stored = load_random_scores()["CartPole-v1"]
    assert measured == stored
    assert RANDOM_SCORES["CartPole-v1"] == stored["mean"]
    assert main(["references", "random", "Acrobot-v1", "--episodes", "2", "--out", str(out)]) == 0
    assert set(load_random_scores(out)) == {"Acrobot-v1", "CartPole-v1"}  # added, the others kept
    assert main(["references", "random", "CartPole-v1", "--episodes", "0", "--out", str(out)]) == 2


def table1_records(tmp_path):
    """
    Two tasks, three settings, 3 seeds; every episode of a run returns the same value, so its last-100 mean is that value.

    CartPole-v1 (random 0):  clip-0.2 100, 200, 300 (mean 200, the best);  no-clip 50 x 3, and a 4th seed that diverged;
                             fixed-kl-1 100 x 3, and a 4th seed without episodes.csv (recorded before episodes were kept).
    Acrobot-v1 (random -500): clip-0.2 -100 x 3 (the best);  no-clip -300, -500, -100;  fixed-kl-1 -200 x 3, one of them
                             with only 40 episodes.
    """
    values = {
        ("CartPole-v1", "clip-0.2"): [100, 200, 300],
        ("CartPole-v1", "no-clip"): [50, 50, 50, None],
        ("CartPole-v1", "fixed-kl-1"): [100, 100, 100, 100],
        ("Acrobot-v1", "clip-0.2"): [-100, -100, -100],
        ("Acrobot-v1", "no-clip"): [-300, -500, -100],
        ("Acrobot-v1", "fixed-kl-1"): [-200, -200, -200],
    }
    for (env_id, setting), returns in values.items():
        for seed, value in enumerate(returns):
            run_id = f"{env_id}__{setting}__seed{seed}"
            n_episodes = 40 if (env_id, setting, seed) == ("Acrobot-v1", "fixed-kl-1", 2) else 150
            config = {"run_id": run_id, "env_id": env_id, "variant": setting, "algo": "clip", "seed": seed}
            evals = [{"timesteps": t, "mean_return": 0.0, "std_return": 0.0, "n_episodes": 1} for t in (0, 1000)]
            episodes = (
                [] if value is None else [{"timesteps": 5 * (i + 1), "return": value, "length": 5} for i in range(n_episodes)]
            )
            status = {"status": "ok" if value is not None else "diverged", "error": None, "timesteps": 1000}
            status["diverged_at_update"] = None if value is not None else 3
            write_record(tmp_path, run_id, config, evals, [], episodes, status)
    (tmp_path / "runs" / "CartPole-v1__fixed-kl-1__seed3" / "episodes.csv").unlink()
    return tmp_path


def test_table1_scores_by_hand(tmp_path):
    report = build_table1(table1_records(tmp_path), random_scores={"CartPole-v1": 0.0, "Acrobot-v1": -500.0})
    table = report.table1.set_index("setting")
    # paper's order: no-clip, clip-0.2, then fixed-kl-1
    assert list(report.table1["setting"]) == ["no-clip", "clip-0.2", "fixed-kl-1"]
    # clip-0.2: CartPole (100, 200, 300) / 200 -> mean 1; Acrobot (-100 + 500) / 400 = 1 -> score 1
    # no-clip: CartPole 50 / 200 = 0.25 x 3 and the diverged run as the random policy, 0 -> 0.1875;
    #          Acrobot (200, 0, 400) / 400 -> mean 0.5; score (0.1875 + 0.5) / 2 = 0.34375
    # fixed-kl-1: CartPole 100 / 200 = 0.5 (the run without episodes left out); Acrobot 300 / 400 = 0.75 -> 0.625
    assert table["score"].to_dict() == pytest.approx({"no-clip": 0.34375, "clip-0.2": 1.0, "fixed-kl-1": 0.625})
    assert table.loc["clip-0.2", "paper_score"] == 0.82 and table.loc["no-clip", "paper_score"] == -0.39
    assert (table["score_low"] <= table["score"]).all() and (table["score"] <= table["score_high"]).all()
    assert table["n_runs"].to_dict() == {"no-clip": 7, "clip-0.2": 6, "fixed-kl-1": 6}
    best = report.per_task[report.per_task["best"]]
    assert sorted(zip(best["env_id"], best["setting"], strict=True)) == [
        ("Acrobot-v1", "clip-0.2"),
        ("CartPole-v1", "clip-0.2"),
    ]
    problems = dict(zip(report.problems["run_id"], report.problems["problem"], strict=True))
    assert problems["CartPole-v1__no-clip__seed3"] == "diverged at update 3: scored as the random policy"
    assert "no episodes.csv" in problems["CartPole-v1__fixed-kl-1__seed3"]
    assert problems["Acrobot-v1__fixed-kl-1__seed2"] == "40 training episodes, fewer than 100: scored on those"
    assert len(problems) == 3


def test_table1_by_a_setting_fixed_in_advance(tmp_path):
    records = table1_records(tmp_path)
    random_scores = {"CartPole-v1": 0.0, "Acrobot-v1": -500.0}
    # the default reference clip-0.2 is the best setting of both tasks here, so both normalisations agree
    table = build_table1(records, random_scores=random_scores).table1.set_index("setting")
    assert table["score_fixed"].to_dict() == pytest.approx(table["score"].to_dict())
    # by fixed-kl-1: CartPole scale 100 (its run without episodes left out): clip-0.2 (100, 200, 300) / 100 -> 2,
    # no-clip (50, 50, 50, 0) / 100 -> 0.375; Acrobot scale -200 + 500 = 300: clip-0.2 400 / 300 = 4/3, no-clip
    # (200, 0, 400) / 300 -> 2/3. Means over tasks: clip-0.2 (2 + 4/3) / 2 = 5/3, no-clip (0.375 + 2/3) / 2, fixed-kl-1 1
    report = build_table1(records, random_scores=random_scores, reference="fixed-kl-1")
    fixed = report.table1.set_index("setting")["score_fixed"].to_dict()
    assert fixed == pytest.approx({"no-clip": (0.375 + 2 / 3) / 2, "clip-0.2": 5 / 3, "fixed-kl-1": 1.0})
    per_task = report.per_task.set_index(["env_id", "setting"])["normalised_fixed"]
    assert per_task["Acrobot-v1", "clip-0.2"] == pytest.approx(4 / 3)
    markdown = render(report, "md")
    assert "| fixed-kl-1 = 1 [95% CI] |" in markdown and "chosen on the same seeds that are scored" in markdown
    with pytest.raises(ValueError, match="reference must be one of the task's settings"):
        normalize_paper({"a": np.ones(2)}, 0.0, reference="b")


def test_table1_exports_parse_back(tmp_path, capsys):
    directory = table1_records(tmp_path / "experiment")
    out = tmp_path / "report"
    assert main(["report", str(directory), "--paper-table1", "--out", str(out / "table1.md"), "--plots"]) == 0
    markdown = (out / "table1.md").read_text()
    assert "| clip-0.2 | Clipping, ε = 0.2 |" in markdown and "| 0.82 |" in markdown
    assert sorted(path.name for path in out.iterdir()) == [
        "table1.md",
        "table1_curves.png",
        "table1_curves.svg",
        "table1_scores.png",
        "table1_scores.svg",
    ]
    for fmt in ("csv", "json", "latex"):
        assert main(["report", str(directory), "--paper-table1", "--format", fmt, "--out", str(out / f"table1.{fmt}")]) == 0
    rows = pd.read_csv(out / "table1.csv")
    scores = rows[(rows["table"] == "table1") & (rows["statistic"] == "score")].set_index("setting")["value"].astype(float)
    content = json.loads((out / "table1.json").read_text())
    assert scores.to_dict() == pytest.approx({row["setting"]: row["score"] for row in content["table1"]})
    assert {row["setting"] for row in content["per_task"]} == {"no-clip", "clip-0.2", "fixed-kl-1"}
    assert r"\toprule" in (out / "table1.latex").read_text()


def test_the_published_1m_returns_stand_beside_clip_0_2_only():
    report = build_table1(Path(__file__).resolve().parents[1] / "results" / "ppo-paper-table1-scaled")
    published = report.per_task.set_index(["env_id", "setting"])["published_1m"]
    assert published[("Hopper-v5", "clip-0.2")] == 2316.0 and published[("Reacher-v5", "clip-0.2")] == -6.7
    assert published.drop([("Hopper-v5", "clip-0.2"), ("Reacher-v5", "clip-0.2")]).isna().all()
    assert "| Hopper-v5 | clip-0.2 | 271.7 ± 52.33 | 0.702 | 1.00 | 16.67 |  | 2,316 |" in render(report, "md")
