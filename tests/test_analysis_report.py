"""Analysis report: loading records written as in docs/records.md, tables, exports, command and figures."""

import ast
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sb3_ppo_variants.analysis import build_report, load_records, plots, render, tables
from sb3_ppo_variants.analysis.document import Document, TextTable
from sb3_ppo_variants.analysis.paper import PAPER_TASKS
from sb3_ppo_variants.analysis.plots import make_figures
from sb3_ppo_variants.analysis.references import PUBLISHED_PPO_1M, RANDOM_SCORES, REFERENCE_SCORES
from sb3_ppo_variants.analysis.stats import bootstrap_seed
from sb3_ppo_variants.analysis.synthetic import make_records, write_records
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import run_id as make_run_id
from sb3_ppo_variants.records import write_record

EVAL_FREQ = 1000


def write_run(root: Path, env_id: str, variant: str, seed: int, returns: list[float], status: str | None = "ok") -> Path:
    """
    Write one run record as docs/records.md describes it: config.json, eval.csv, train.csv (two updates per
    evaluation, approx_kl 0.01 then 0.1, ratio_max 1.2 then 2.0), and status.json last unless ``status`` is None.
    """
    run_id = f"{env_id}__{variant}__seed{seed}"
    config = {
        "run_id": run_id,
        "experiment": "test",
        "env_id": env_id,
        "variant": variant,
        "algo": "clip",
        "seed": seed,
        "total_timesteps": 3 * EVAL_FREQ,
        "eval_freq": EVAL_FREQ,
        "eval_episodes": 10,
        "hyperparameters": {"n_envs": 1, "n_steps": 500, "learning_rate": "lin_1e-3"},
        "versions": {"python": "3.11.7", "torch": "2.13.0", "stable_baselines3": "2.9.2", "gymnasium": "1.4.0"},
        "git_commit": None,
    }
    timesteps = [EVAL_FREQ * i for i in range(len(returns))]
    evals = [
        {"timesteps": step, "mean_return": value, "std_return": 1.0, "n_episodes": 10}
        for step, value in zip(timesteps, returns, strict=True)
    ]
    n_updates = 2 * (len(returns) - 1)
    train = [
        {
            "update": update,
            "timesteps": EVAL_FREQ // 2 * update,
            "policy_objective": 0.0,
            "approx_kl": [0.01, 0.1][(update - 1) % 2],
            "clip_fraction": 0.1,
            "ratio_max": [1.2, 2.0][(update - 1) % 2],
            "ratio_min": 0.8,
        }
        for update in range(1, n_updates + 1)
    ]
    status_content = None
    if status is not None:
        status_content = {
            "status": status,
            "error": None if status == "ok" else f"{status}: boom",
            "diverged_at_update": n_updates + 1 if status == "diverged" else None,
            "timesteps": timesteps[-1],
            "wall_time_s": 1.5,
            "finished_at": "2026-11-24T22:10:00+00:00",
        }
    return write_record(root, run_id, config, evals, train, [], status_content)


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """
    CartPole-v1, variant "a": 4 ok runs with curves [0, 10 i, 20 i, 30 i], i = 1..4, so final returns (k = 1)
    30, 60, 90, 120. Variant "b": one ok run [0, 10, 20, 30], one diverged after 2 evaluations [0, 50], one failed,
    one incomplete (no status.json).
    """
    for i in range(1, 5):
        write_run(tmp_path, "CartPole-v1", "a", i, [0.0, 10.0 * i, 20.0 * i, 30.0 * i])
    write_run(tmp_path, "CartPole-v1", "b", 1, [0.0, 10.0, 20.0, 30.0])
    write_run(tmp_path, "CartPole-v1", "b", 2, [0.0, 50.0], status="diverged")
    write_run(tmp_path, "CartPole-v1", "b", 3, [0.0], status="failed")
    write_run(tmp_path, "CartPole-v1", "b", 4, [0.0, 5.0], status=None)
    return tmp_path


def test_load_records_keeps_every_run(experiment: Path) -> None:
    records = load_records(experiment)
    statuses = records.runs.set_index("run_id")["status"]
    assert len(statuses) == 8
    assert statuses["CartPole-v1__b__seed4"] == "incomplete"
    assert statuses["CartPole-v1__b__seed3"] == "failed"
    assert statuses["CartPole-v1__b__seed2"] == "diverged"
    assert set(records.evals["run_id"]) == set(statuses.index)
    assert {"update", "approx_kl", "ratio_max"} <= set(records.train.columns)


def test_load_records_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="directory"):
        load_records(tmp_path)
    write_run(tmp_path, "CartPole-v1", "a", 0, [0.0, 1.0])
    (tmp_path / "runs" / "not-a-run-id").mkdir()
    with pytest.raises(ValueError, match=r"not-a-run-id/config\.json: missing, and the directory name is not"):
        load_records(tmp_path)


def test_report_counts_and_hand_worked_metrics(experiment: Path) -> None:
    report = build_report(experiment, final_k=1, n_resamples=200, curve_resamples=50)
    table = report.per_env.set_index("variant")
    assert table.loc["a", ["n_runs", "n_ok", "n_diverged", "n_failed", "n_incomplete"]].tolist() == [4, 4, 0, 0, 0]
    assert table.loc["b", ["n_runs", "n_ok", "n_diverged", "n_failed", "n_incomplete"]].tolist() == [4, 1, 1, 1, 1]
    # finals 30, 60, 90, 120: IQM of 4 values drops 1 at each end -> (60 + 90) / 2 = 75; mean and median 75
    assert table.loc["a", ["final_return_iqm", "final_return_mean", "final_return_median"]].tolist() == [75.0, 75.0, 75.0]
    assert table.loc["a", "final_return_iqm_low"] <= 75.0 <= table.loc["a", "final_return_iqm_high"]
    # AUC = mean of [0, 10 i, 20 i, 30 i] = 15 i -> 15, 30, 45, 60; IQM (30 + 45) / 2
    assert table.loc["a", "auc_iqm"] == pytest.approx(37.5)
    assert table.loc["a", "max_drawdown_iqm"] == 0.0
    # threshold 475 is never reached
    assert table.loc["a", "n_reached"] == 0 and table.loc["a", "steps_to_threshold_median"] == np.inf
    # every run has approx_kl 0.1 > 0.05 once per evaluation interval (3 intervals), ratio_max up to 2
    assert table.loc["a", "kl_spikes_mean"] == 3.0
    assert table.loc["a", "ratio_max_worst"] == 2.0 and table.loc["a", "approx_kl_max_median"] == 0.1
    # failed / incomplete runs listed with their status, the ok runs not
    assert sorted(report.problems["status"]) == ["diverged", "failed", "incomplete"]


def test_diverged_at_first_update_is_scored_worst_by_default(tmp_path: Path) -> None:
    """
    CartPole-v1: clip has ok runs [10, 30, 40, 50], [10, 20, 30, 45] and one ok run that stopped early, [10, 30];
    variant x has one run that diverged at its first update, so its only evaluation is the initial one, 60.
    """
    write_run(tmp_path, "CartPole-v1", "clip", 0, [10.0, 30.0, 40.0, 50.0])
    write_run(tmp_path, "CartPole-v1", "clip", 1, [10.0, 20.0, 30.0, 45.0])
    write_run(tmp_path, "CartPole-v1", "clip", 2, [10.0, 30.0])
    diverged_dir = write_run(tmp_path, "CartPole-v1", "x", 0, [60.0], status="diverged")
    assert json.loads((diverged_dir / "status.json").read_text())["diverged_at_update"] == 1
    settings = {"final_k": 1, "n_resamples": 50, "curve_resamples": 0}
    default = build_report(tmp_path, **settings)
    assert default.settings["diverged"] == "worst"
    worst = default.per_env.set_index("variant")
    hold = build_report(tmp_path, diverged="hold", **settings).per_env.set_index("variant")
    # "hold": x scores its initial evaluation from then on, [60, 60, 60, 60]: final 60 and AUC 60, above every clip run
    assert hold.loc["x", "final_return_mean"] == 60.0 and hold.loc["x", "auc_mean"] == 60.0
    # "worst": after its divergence x scores the lowest return of the completed CartPole-v1 runs, 10:
    # [60, 10, 10, 10], final 10, AUC 90 / 4 = 22.5
    assert worst.loc["x", "final_return_mean"] == 10.0 and worst.loc["x", "auc_mean"] == 22.5
    # the ok run that stopped early is not diverged: it holds its last evaluation under both policies, [10, 30, 30, 30],
    # so clip's finals are 50, 45, 30 (mean 125 / 3) either way
    assert worst.loc["clip", "final_return_mean"] == hold.loc["clip", "final_return_mean"] == pytest.approx(125 / 3)
    # probability of improvement of x over clip: 1 (60 beats 50, 45, 30) with "hold", 0 with "worst"
    assert build_report(tmp_path, diverged="hold", **settings).improvement.loc["x", "clip"] == 1.0
    assert default.improvement.loc["x", "clip"] == 0.0


def test_diverged_runs_hold_or_worst(experiment: Path) -> None:
    # "hold": the diverged run [0, 50] becomes [0, 50, 50, 50], final 50; with the ok run's 30 the mean is 40
    hold = build_report(experiment, final_k=1, diverged="hold", n_resamples=50, curve_resamples=0).per_env.set_index("variant")
    assert hold.loc["b", "final_return_mean"] == pytest.approx(40.0)
    # "worst": after divergence it scores the lowest return of completed CartPole-v1 runs, 0 -> final 0, mean 15
    worst = build_report(experiment, final_k=1, diverged="worst", n_resamples=50, curve_resamples=0).per_env.set_index(
        "variant"
    )
    assert worst.loc["b", "final_return_mean"] == pytest.approx(15.0)
    # the ok runs of "a" do not change
    assert worst.loc["a", "final_return_mean"] == hold.loc["a", "final_return_mean"]
    with pytest.raises(ValueError, match=r"diverged must be one of \['worst', 'hold'\]"):
        build_report(experiment, diverged="drop")


def test_aggregate_and_improvement(experiment: Path) -> None:
    report = build_report(experiment, final_k=1, n_resamples=100, curve_resamples=0)
    aggregate = report.aggregate.set_index("variant")
    # normalised final IQM of "a": (75 - 23.68) / (500 - 23.68)
    assert aggregate.loc["a", "final_return_iqm"] == pytest.approx((75 - 23.68) / (500 - 23.68))
    assert aggregate.loc["a", "environments"] == "CartPole-v1"
    improvement = report.improvement
    # a: finals [30, 60, 90, 120]; b: [30, 0], its diverged run [0, 50] scored [0, 50, 0, 0] (diverged="worst", the
    # lowest CartPole-v1 return being 0). a's 30 ties 30 (0.5) and beats 0, 60/90/120 beat both:
    # (1.5 + 2 + 2 + 2) / 8 = 7.5 / 8
    assert improvement.loc["a", "b"] == pytest.approx(7.5 / 8)
    assert improvement.loc["a", "b"] + improvement.loc["b", "a"] == pytest.approx(1.0)
    assert np.diag(improvement.to_numpy()).tolist() == [0.5, 0.5]


def test_aggregate_weighs_environments_equally_with_unequal_runs(tmp_path: Path) -> None:
    """
    Variant a, normalised final returns s (final_k = 1; each run's curve is [random score, random + s (reference -
    random)]): CartPole-v1 4 runs s = 0, 0.5, 1, 1 (mean 0.625); Acrobot-v1 1 run s = 0.2; Pendulum-v1 2 runs s = 0.8,
    1.2 (mean 1.0).
    """
    scores = {"CartPole-v1": [0.0, 0.5, 1.0, 1.0], "Acrobot-v1": [0.2], "Pendulum-v1": [0.8, 1.2]}
    for env_id, normalised in scores.items():
        random, reference = RANDOM_SCORES[env_id], REFERENCE_SCORES[env_id]
        for seed, s in enumerate(normalised):
            write_run(tmp_path, env_id, "a", seed, [random, random + s * (reference - random)])
    row = build_report(tmp_path, final_k=1, n_resamples=200, curve_resamples=0).aggregate.set_index("variant").loc["a"]
    assert row["n_envs"] == 3 and row["n_runs"] == 7
    # mean of the environment means (0.625 + 0.2 + 1.0) / 3 = 1.825 / 3; pooled over the 7 runs it would be 4.7 / 7
    assert row["final_return_mean"] == pytest.approx(1.825 / 3)
    # median of the environment means [0.2, 0.625, 1.0] = 0.625; the pooled median would be 0.8
    assert row["final_return_median"] == pytest.approx(0.625)
    # IQM pooled over the 7 runs: sorted [0, 0.2, 0.5, 0.8, 1, 1, 1.2], cut floor(1.75) = 1 -> 3.5 / 5 = 0.7
    assert row["final_return_iqm"] == pytest.approx(0.7)
    # optimality gap: CartPole-v1 max(1 - s, 0) = [1, 0.5, 0, 0] -> 0.375; Acrobot-v1 0.8; Pendulum-v1 [0.2, 0] -> 0.1;
    # mean over environments (0.375 + 0.8 + 0.1) / 3 = 1.275 / 3
    assert row["final_return_optimality_gap"] == pytest.approx(1.275 / 3)
    # Acrobot-v1 has a single run: its spread is unknown, so the t interval of the mean (Welch) is undefined, while the
    # percentile bootstrap keeps that run in every resample and moves only with the other two environments
    assert np.isnan(row["final_return_mean_low"]) and np.isnan(row["final_return_mean_high"])
    percentile = build_report(tmp_path, final_k=1, n_resamples=200, curve_resamples=0, interval="percentile").aggregate.iloc[0]
    assert percentile["final_return_mean_low"] <= percentile["final_return_mean"] <= percentile["final_return_mean_high"]
    markdown = render(build_report(tmp_path, final_k=1, n_resamples=200, curve_resamples=0), "md")
    assert "| final return optimality gap |" in markdown


def test_table_pieces_take_per_run_arrays() -> None:
    # the summaries of a report of another kind (e.g. a score per run from training episodes), without records
    columns = tables.seed_summaries({"score": np.array([1.0, 2.0, 3.0, 10.0])}, 100, 0.95, bootstrap_seed(0, "x"))
    # IQM of 4 values: cut 1 -> (2 + 3) / 2 = 2.5; mean 16 / 4 = 4; median (2 + 3) / 2 = 2.5
    assert [columns[f"score_{s}"] for s in ("iqm", "mean", "median")] == [2.5, 4.0, 2.5]
    assert list(columns)[:3] == ["score_iqm", "score_iqm_low", "score_iqm_high"] and "score_std" in columns
    # steps to threshold: 2 of 4 runs reach it, so the median of [100, 200, inf, inf] is (200 + inf) / 2 = inf
    efficiency = tables.sample_efficiency(
        np.ones(4), np.ones(4), np.array([100.0, 200.0, np.inf, np.inf]), 20, 0.95, bootstrap_seed(0, "x")
    )
    assert efficiency["steps_to_threshold_median"] == np.inf and efficiency["n_reached"] == 2
    # a third run reaching it makes the median the middle of [100, 200, 300, inf] -> 250
    efficiency = tables.sample_efficiency(
        np.ones(4), np.ones(4), np.array([100.0, 200.0, 300.0, np.inf]), 20, 0.95, bootstrap_seed(0, "x")
    )
    assert efficiency["steps_to_threshold_median"] == 250.0


def test_report_is_deterministic(tmp_path: Path) -> None:
    records = make_records(n_seeds=6, diverged_fraction=0.2, seed=1)
    first, second = (
        build_report(records, n_resamples=300, curve_resamples=50),
        build_report(records, n_resamples=300, curve_resamples=50),
    )
    pd.testing.assert_frame_equal(first.per_env, second.per_env)
    pd.testing.assert_frame_equal(first.aggregate, second.aggregate)
    pd.testing.assert_frame_equal(first.curves, second.curves)
    # written to disk and read back, the records give the same report
    from_disk = build_report(write_records(records, tmp_path / "exp"), n_resamples=300, curve_resamples=50)
    pd.testing.assert_frame_equal(first.per_env, from_disk.per_env, check_dtype=False)


def test_exports_parse_back(experiment: Path) -> None:
    report = build_report(experiment, n_resamples=100, curve_resamples=20)
    markdown = render(report, "md")
    assert "| environment | variant | runs | ok | diverged | failed | pruned | corrupt | incomplete |" in markdown
    assert "| CartPole-v1 | b | 4 | 1 | 1 | 1 | 0 | 0 | 1 |" in markdown
    tidy = pd.read_csv(io.StringIO(render(report, "csv")))
    assert list(tidy.columns) == ["table", "env_id", "variant", "run_id", "statistic", "value"]
    assert set(tidy["table"]) == {"per_env", "aggregate", "improvement", "profiles", "aggregate_curves", "problems"}
    n_failed = tidy.query("table == 'per_env' and variant == 'b' and statistic == 'n_failed'")["value"]
    assert n_failed.astype(float).tolist() == [1.0]

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    content = json.loads(render(report, "json"), parse_constant=no_constants)
    assert {"settings", "per_env", "aggregate", "improvement", "problems", "curves"} <= set(content)
    assert content["per_env"][0]["steps_to_threshold_median"] == "inf"
    latex = render(report, "latex")
    assert latex.count(r"\begin{tabular}") == 8 and r"CartPole-v1\_\_b\_\_seed3" in latex
    with pytest.raises(ValueError, match=r"fmt must be one of \['md', 'csv', 'latex', 'json'\]"):
        render(report, "html")


def test_report_command(experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(experiment), "--format", "json"]) == 0
    content = json.loads(capsys.readouterr().out)
    assert content["per_env"] and content["settings"]["diverged"] == "worst"
    assert main(["report", str(experiment), "--format", "json", "--diverged", "hold"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["diverged"] == "hold"
    out = tmp_path / "out" / "report.md"
    assert main(["report", str(experiment), "--out", str(out), "--plots"]) == 0
    assert out.read_text().startswith("# Report")
    names = {path.name for path in out.parent.iterdir()}
    assert {"learning_curves.png", "learning_curves.svg", "probability_of_improvement.png"} <= names
    assert not any(name.endswith(".tmp") or name.startswith(".") for name in names)
    with pytest.raises(SystemExit):
        main(["report", str(experiment), "--format", "xlsx"])


def test_figures_written(tmp_path: Path) -> None:
    report = build_report(make_records(envs=("CartPole-v1", "Unknown-v0")), n_resamples=100, curve_resamples=50)
    paths = make_figures(report, tmp_path / "figures")
    stems = ("learning_curves", "aggregate_iqm", "probability_of_improvement", "performance_profiles", "sample_efficiency")
    assert sorted(path.name for path in paths) == sorted(f"{stem}.{fmt}" for stem in stems for fmt in ("png", "svg"))
    assert all(path.stat().st_size > 1000 for path in paths)


def test_analysis_does_not_import_torch_at_module_level() -> None:
    """Module-level imports only: the surrogate figure imports the loss functions (torch) inside its functions."""
    package = Path(__file__).resolve().parents[1] / "sb3_ppo_variants" / "analysis"
    for path in package.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    root = name.split(".")[0]
                    assert root not in {"torch", "stable_baselines3", "gymnasium"}, f"{path.name} imports {name}"
                    assert root != "sb3_ppo_variants" or name.startswith(
                        (
                            "sb3_ppo_variants.analysis",
                            "sb3_ppo_variants.fileio",
                            "sb3_ppo_variants.records",
                            "sb3_ppo_variants.validation",
                        )
                    ), f"{path.name} imports {name}"


def test_profiles_and_sample_efficiency_curve_by_hand(tmp_path: Path) -> None:
    """
    Variant a, each run's curve [random score, random + s (reference - random)], so the normalised final return
    (final_k = 1) is s: CartPole-v1 s = 0, 0.5, 1, 1; Acrobot-v1 s = 0.2, 0.8.
    """
    scores = {"CartPole-v1": [0.0, 0.5, 1.0, 1.0], "Acrobot-v1": [0.2, 0.8]}
    for env_id, normalised in scores.items():
        random, reference = RANDOM_SCORES[env_id], REFERENCE_SCORES[env_id]
        for seed, s in enumerate(normalised):
            write_run(tmp_path, env_id, "a", seed, [random, random + s * (reference - random)])
    report = build_report(tmp_path, final_k=1, n_resamples=200, curve_resamples=0)
    profile = report.profiles.set_index("tau")
    # above τ = 0: CartPole 3/4, Acrobot 2/2 -> 0.875; above 0.5: 2/4 and 1/2 -> 0.5; above 1 (strictly): 0
    assert profile.loc[[0.0, 0.5, 1.0], "fraction"].tolist() == pytest.approx([0.875, 0.5, 0.0])
    assert (profile["low"] <= profile["fraction"]).all() and (profile["fraction"] <= profile["high"]).all()
    curve = report.aggregate_curves.set_index("timesteps")
    # at 0 every run is at the random score: IQM 0 and, without spread, the interval [0, 0]
    assert curve.loc[0, ["iqm", "low", "high"]].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    # at 1000, the 6 pooled runs sorted [0, 0.2, 0.5, 0.8, 1, 1], cut 1 at each end: IQM (0.2 + 0.5 + 0.8 + 1) / 4 =
    # 0.625. t interval (Tukey-McLaughlin): winsorised [0.2, 0.2, 0.5, 0.8, 1, 1], mean 3.7 / 6, squared deviations
    # sum 0.688333, s_w = sqrt(0.688333 / 5) = 0.371035; se = s_w sqrt(6) / 4 = 0.227212; df = 4 - 1 = 3, t = 3.182446
    assert curve.loc[1000, "iqm"] == pytest.approx(0.625)
    assert curve.loc[1000, ["low", "high"]].tolist() == pytest.approx([0.625 - 0.723093, 0.625 + 0.723093], abs=1e-5)
    assert curve.loc[1000, ["n_envs", "n_runs"]].tolist() == [2, 6]
    markdown = render(report, "md")
    assert "| variant | τ = 0 | τ = 0.25 | τ = 0.5 | τ = 0.75 | τ = 1 |" in markdown
    assert "| a | 0.875 [" in markdown


def test_the_seven_mujoco_tasks_of_table1_have_published_references() -> None:
    for task in PAPER_TASKS:
        env_id = f"{task}-v5"
        assert REFERENCE_SCORES[env_id] == PUBLISHED_PPO_1M[task] and RANDOM_SCORES[env_id] < REFERENCE_SCORES[env_id]
    assert REFERENCE_SCORES["Hopper-v5"] == 2316.0 and REFERENCE_SCORES["Reacher-v5"] == -6.7


def test_a_mujoco_experiment_gets_a_performance_profile_by_hand() -> None:
    """
    Noise-free synthetic records on Hopper-v5 and Reacher-v5, 4 seeds of clip: a run's normalised return at evaluation
    j of 11 is 1 - exp(-4 j / 10), its final return (mean of the last 3) about 0.97. Hopper-v5 seed 0 diverged: its
    evaluations stop at j = 5 and the points after are scored as the lowest return of Hopper-v5, the random score at
    j = 0, so its final return is 0.
    """
    statuses = {make_run_id("Hopper-v5", "clip", 0): "diverged"}
    records = make_records(envs=("Hopper-v5", "Reacher-v5"), variants=("clip",), n_seeds=4, statuses=statuses, noise_sd=0.0)
    report = build_report(records, n_resamples=200, curve_resamples=0)
    profile = report.profiles.set_index("tau")
    # above τ = 0.5 (strictly): Hopper-v5 3 of 4, Reacher-v5 4 of 4; averaged over the two tasks (3/4 + 1) / 2 = 0.875;
    # above τ = 1: none (0.97 < 1)
    assert profile.loc[[0.5, 1.0], "fraction"].tolist() == pytest.approx([0.875, 0.0])
    assert profile.loc[0.5, "low"] <= 0.875 <= profile.loc[0.5, "high"]
    assert report.aggregate_curves.set_index("timesteps").loc[0, "iqm"] == pytest.approx(0.0, abs=1e-12)
    assert "| clip | 0.875 [" in render(report, "md")


def test_cells_of_few_runs_are_flagged(experiment: Path) -> None:
    markdown = render(build_report(experiment, n_resamples=50, curve_resamples=0), "md")
    # a has 4 completed runs, b 2 (one ok, one diverged): both fewer than intervals.MIN_RUNS = 5
    rows = {line.split(" | ")[1]: line for line in markdown.splitlines() if line.startswith("| CartPole-v1 | ")}
    assert "(n = 4)" in rows["a"].split(" | ")[2] and "(n = 2)" in rows["b"].split(" | ")[2]


def test_writers_render_a_report_kind_they_do_not_know(tmp_path: Path) -> None:
    """A fourth kind of report is a class with ``document()``: every writer and make_figures take it as it is."""

    class Notes:
        def document(self) -> Document:
            table = pd.DataFrame({"name": ["x"], "value": ["1"]})
            tidy = pd.DataFrame({"table": ["notes"], "statistic": ["x"], "value": [1.0]})
            return Document("Notes", "One table.", (TextTable("Numbers", "A note.", table),), tidy, {"x": math.inf})

    assert (
        render(Notes(), "md") == "# Notes\n\nOne table.\n\n## Numbers\n\nA note.\n\n| name | value |\n|---|---|\n| x | 1 |\n"
    )
    assert render(Notes(), "csv") == "table,statistic,value\nnotes,x,1.0\n"
    assert json.loads(render(Notes(), "json")) == {"x": "inf"}
    assert r"\caption{Numbers. A note.}" in render(Notes(), "latex")
    assert make_figures(Notes(), tmp_path / "figures") == []


def test_the_figures_of_a_report_are_the_same_bytes_when_drawn_again(tmp_path):
    report = build_report(make_records(n_seeds=3), n_resamples=20, curve_resamples=20)
    first = {path.name: path.read_bytes() for path in make_figures(report, tmp_path / "a")}
    second = {path.name: path.read_bytes() for path in make_figures(report, tmp_path / "b")}
    assert first.keys() == second.keys() and any(name.endswith(".svg") for name in first)
    assert first == second
    assert not any(b"<dc:date>" in content for name, content in first.items() if name.endswith(".svg"))


def test_every_variant_of_a_profile_has_its_own_line_style(tmp_path, monkeypatch):
    """13 variants, more than the palette's 8 colours: the 9th to 13th take the colours again, dashed."""
    variants = [f"v{i:02d}" for i in range(13)]
    report = build_report(make_records(variants=variants, n_seeds=2, n_evals=3), n_resamples=20, curve_resamples=0)
    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, out_dir, name: drawn.append(figure) or [])
    plots.performance_profiles(report, tmp_path)
    lines = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in drawn[0].axes[0].get_lines()}
    styles = [lines[variant] for variant in variants]
    assert len(set(styles)) == 13
    assert styles[:8] == [(color, "-") for color in plots.PALETTE] and styles[8] == (plots.PALETTE[0], "--")
