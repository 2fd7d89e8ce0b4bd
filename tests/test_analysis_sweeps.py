"""Sweep analysis: selection, selection bias, sensitivity and robustness, worked out by hand; the tune-directory report."""

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sb3_ppo_variants.analysis import build_report, build_sweep_report, load_records, select_configurations
from sb3_ppo_variants.analysis.plots import make_figures
from sb3_ppo_variants.analysis.sweep_report import TIDY_COLUMNS
from sb3_ppo_variants.analysis.sweeps import (
    configuration_intervals,
    robustness,
    run_scores,
    selection_bias,
    sensitivity,
)
from sb3_ppo_variants.analysis.synthetic import make_evaluation_records, make_sweep_records, write_records
from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import RecordTables

NAN = math.nan
# Every run evaluates flat at its score (make_sweep_records), so its AUC and final return both equal the score.
# IQM across seeds: the plain mean for 3 seeds; for 4 seeds the mean of the middle two.
TUNING = [
    # pg: 1e-3 has IQM (300 + 310) / 2 = 305 (mean 257.5); 1e-2 IQM (295 + 300) / 2 = 297.5 but the higher mean 446.25;
    # 1e-4 IQM (60 + 70) / 2 = 65. The IQM selects 1e-3.
    ("CartPole-v1", "pg", {"learning_rate": 1e-4}, [50, 60, 70, 80]),
    ("CartPole-v1", "pg", {"learning_rate": 1e-3}, [100, 300, 310, 320]),
    ("CartPole-v1", "pg", {"learning_rate": 1e-2}, [290, 295, 300, 900]),
    # clip: (1e-3, 0.2) has one failed run, so 3 scored runs, IQM = mean 460, the best; (1e-2, 0.1) IQM (10 + 10) / 2
    ("CartPole-v1", "clip", {"learning_rate": 1e-3, "clip_range": 0.1}, [400, 400, 400, 400]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-3, "clip_range": 0.2}, [450, 460, NAN, 470]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-2, "clip_range": 0.1}, [480, 10, 10, 10]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-2, "clip_range": 0.2}, [200, 200, 200, 200]),
    # cpi has no sweep: its only configuration is the entry, IQM (260 + 270) / 2 = 265
    ("CartPole-v1", "cpi", {}, [250, 260, 270, 280]),
    # selection is per environment: on Acrobot-v1 pg's best learning rate is 1e-2
    ("Acrobot-v1", "pg", {"learning_rate": 1e-3}, [-100, -100, -100, -100]),
    ("Acrobot-v1", "pg", {"learning_rate": 1e-2}, [-90, -90, -90, -90]),
]


def winners_by_pair(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {(row.env_id, row.variant): row.label for row in table.itertuples()}


def test_selection_picks_the_known_winner(tmp_path: Path) -> None:
    winners = select_configurations(make_sweep_records(TUNING))
    assert winners_by_pair(winners) == {
        ("Acrobot-v1", "pg"): "pg[learning_rate=0.01]",
        ("CartPole-v1", "clip"): "clip[clip_range=0.2,learning_rate=0.001]",
        ("CartPole-v1", "cpi"): "cpi",
        ("CartPole-v1", "pg"): "pg[learning_rate=0.001]",
    }
    row = winners.set_index(["env_id", "variant"])
    assert row.loc[("CartPole-v1", "pg"), ["tuning_score", "tuning_mean", "n_runs", "n_configs"]].tolist() == [
        305,
        257.5,
        4,
        3,
    ]
    # the failed run enters no score: 3 runs scored, 1 excluded
    assert row.loc[("CartPole-v1", "clip"), ["tuning_score", "n_runs", "n_excluded", "n_configs"]].tolist() == [460, 3, 1, 4]
    assert row.loc[("CartPole-v1", "clip"), "sweep"] == {"learning_rate": 1e-3, "clip_range": 0.2}
    # the winner's resolved hyperparameters, for selected.toml
    assert row.loc[("CartPole-v1", "clip"), "hyperparameters"] == {"n_envs": 1, "learning_rate": 1e-3, "clip_range": 0.2}
    assert pd.isna(row.loc[("CartPole-v1", "cpi"), "config_id"])
    assert row.loc[("CartPole-v1", "cpi"), "tuning_score"] == 265
    # the same winners from disk
    pd.testing.assert_frame_equal(
        winners, select_configurations(write_records(make_sweep_records(TUNING), tmp_path / "tuning"))
    )


def test_selection_ties_are_broken_by_mean_then_label() -> None:
    records = make_sweep_records(
        [
            # equal IQM (20 + 30) / 2 = 25; means 25 and 37.5: the higher mean wins
            ("CartPole-v1", "pg", {"learning_rate": 1e-3}, [10, 20, 30, 40]),
            ("CartPole-v1", "pg", {"learning_rate": 1e-2}, [0, 20, 30, 100]),
            # equal IQM and mean: the first label in sorted order, "pg[learning_rate=0.01]" < "pg[learning_rate=0.1]"
            ("Acrobot-v1", "pg", {"learning_rate": 0.1}, [-5, -5, -5]),
            ("Acrobot-v1", "pg", {"learning_rate": 0.01}, [-5, -5, -5]),
        ]
    )
    expected = {("Acrobot-v1", "pg"): "pg[learning_rate=0.01]", ("CartPole-v1", "pg"): "pg[learning_rate=0.01]"}
    assert winners_by_pair(select_configurations(records)) == expected
    # the order of the records does not matter
    shuffled = RecordTables(
        runs=records.runs.sample(frac=1.0, random_state=0), evals=records.evals, train=records.train, episodes=records.episodes
    )
    assert winners_by_pair(select_configurations(shuffled)) == expected


def rising_records() -> RecordTables:
    """
    pg on CartPole-v1: learning rate 1e-3 evaluates flat at 120; 1e-2 at [0, 0, 0, 400], so its AUC is 400 / 4 = 100
    and its final return (mean of the last 3) 400 / 3 = 133.3.
    """
    records = make_sweep_records(
        [
            ("CartPole-v1", "pg", {"learning_rate": 1e-3}, [120, 120, 120]),
            ("CartPole-v1", "pg", {"learning_rate": 1e-2}, [0, 0, 0]),
        ]
    )
    rising = records.runs.loc[records.runs["label"] == "pg[learning_rate=0.01]", "run_id"]
    evals = records.evals.copy()
    evals.loc[evals["run_id"].isin(rising) & (evals["timesteps"] == evals["timesteps"].max()), "mean_return"] = 400.0
    return dataclasses.replace(records, evals=evals)


def test_selection_metric_auc_or_final() -> None:
    records = rising_records()
    assert select_configurations(records, "auc")["label"].tolist() == ["pg[learning_rate=0.001]"]
    final = select_configurations(records, "final")
    assert final["label"].tolist() == ["pg[learning_rate=0.01]"]
    assert final["tuning_score"].iloc[0] == pytest.approx(400 / 3)
    # final_k = 1: the last evaluation alone
    assert select_configurations(records, "final", final_k=1)["tuning_score"].iloc[0] == 400
    with pytest.raises(ValueError, match=r"select must be one of \['auc', 'final'\], got 'best'"):
        select_configurations(records, "best")
    with pytest.raises(ValueError, match="final_k must be a positive integer"):
        select_configurations(records, "final", final_k=0)
    with pytest.raises(ValueError, match=r"diverged must be one of \['worst', 'hold'\]"):
        select_configurations(records, diverged="drop")


def test_selection_bias_on_pure_noise() -> None:
    """
    Eight configurations whose runs all score 100 + N(0, 10²), whatever the configuration: the winner is the luckiest on
    its 3 tuning seeds. Its tuning score is the largest of 8 means of 3 draws, expected 100 + 1.42 · 10 / √3 ≈ 108.2,
    while its IQM on 10 fresh seeds is expected at 100: the bias is about +8 on average, never built into the data.
    """
    rng = np.random.default_rng(0)
    biases = []
    for _ in range(20):
        tuning = make_sweep_records(
            [
                ("CartPole-v1", "clip", {"learning_rate": lr}, 100 + 10 * rng.standard_normal(3))
                for lr in np.logspace(-5, -2, 8)
            ]
        )
        fresh = make_evaluation_records(
            select_configurations(tuning), {("CartPole-v1", "clip"): 100 + 10 * rng.standard_normal(10)}
        )
        table = selection_bias(run_scores(tuning), run_scores(fresh), n_resamples=100)
        assert table["n_tuning_runs"].tolist() == [3] and table["n_fresh_runs"].tolist() == [10]
        assert table["bias"].iloc[0] == pytest.approx(table["tuning_iqm"].iloc[0] - table["fresh_iqm"].iloc[0])
        biases.append(table["bias"].iloc[0])
    assert np.mean(biases) > 4.0
    assert sum(bias > 0 for bias in biases) >= 15


def test_selection_bias_by_hand_and_checks_the_evaluated_configuration() -> None:
    tuning = make_sweep_records(TUNING)
    # each winner on fresh seeds at exactly 5 below its tuning score
    winners = select_configurations(tuning)
    fresh_scores = {(w.env_id, w.variant): [w.tuning_score - 5] * 5 for w in winners.itertuples()}
    fresh = make_evaluation_records(winners, fresh_scores)
    table = selection_bias(run_scores(tuning), run_scores(fresh), n_resamples=200).set_index(["env_id", "variant"])
    assert table["bias"].tolist() == pytest.approx([5.0] * 4)
    pg = table.loc[("CartPole-v1", "pg")]
    # tuning runs of pg[learning_rate=0.001]: [100, 300, 310, 320], IQM 305; fresh [300] * 5
    assert [pg["tuning_iqm"], pg["fresh_iqm"], pg["n_tuning_runs"], pg["n_fresh_runs"]] == [305, 300, 4, 5]
    assert pg["fresh_iqm_low"] == pg["fresh_iqm_high"] == 300
    # resampling the tuning runs moves the difference: 4 values drawn from [100, 300, 310, 320]
    assert pg["bias_low"] < 5 < pg["bias_high"]
    # a winner without any scored fresh run keeps its tuning columns, the others are NaN
    no_fresh = make_evaluation_records(winners, {pair: [NAN] * 2 for pair in fresh_scores})
    empty = selection_bias(run_scores(tuning), run_scores(no_fresh), n_resamples=50)
    assert empty["fresh_iqm"].isna().all() and empty["bias"].isna().all() and empty["tuning_iqm"].notna().all()
    # evaluation runs of another configuration than the winner: the tune selected with the other metric
    records = rising_records()
    evaluated = make_evaluation_records(select_configurations(records, "auc"), {("CartPole-v1", "pg"): [100, 110]})
    with pytest.raises(
        ValueError, match=r"ran learning_rate = 0\.001, but the configuration selected .* pg\[learning_rate=0\.01\]"
    ):
        selection_bias(run_scores(records, "final"), run_scores(evaluated, "final"))


SENSITIVITY = [
    # clip, 3 seeds each (IQM = mean): (1e-3, 0.1) 310, (1e-3, 0.2) 400, (1e-2, 0.1) 360, (1e-2, 0.2) 110
    ("CartPole-v1", "clip", {"learning_rate": 1e-3, "clip_range": 0.1}, [300, 310, 320]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-3, "clip_range": 0.2}, [400, 400, 400]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-2, "clip_range": 0.1}, [350, 360, 370]),
    ("CartPole-v1", "clip", {"learning_rate": 1e-2, "clip_range": 0.2}, [100, 110, 120]),
    # pg: (1e-3, 64) 60, (1e-3, 128) 80, (1e-2, 64) 4 seeds, IQM (100 + 110) / 2 = 105, (1e-2, 128) 10
    ("CartPole-v1", "pg", {"learning_rate": 1e-3, "n_steps": 64}, [50, 60, 70]),
    ("CartPole-v1", "pg", {"learning_rate": 1e-3, "n_steps": 128}, [80, 80, 80]),
    ("CartPole-v1", "pg", {"learning_rate": 1e-2, "n_steps": 64}, [90, 100, 110, 500]),
    ("CartPole-v1", "pg", {"learning_rate": 1e-2, "n_steps": 128}, [10, 10, 10]),
]


def test_sensitivity_by_hand() -> None:
    table = sensitivity(configuration_intervals(run_scores(make_sweep_records(SENSITIVITY)), n_resamples=200))
    rows = table[["hyperparameter", "variant", "value", "label", "n_configs", "n_runs", "score_iqm"]]
    # per value, the best configuration among the two with that value, e.g. clip at clip_range 0.1: max(310, 360) = 360;
    # n_steps is sorted numerically, 64 before 128 (as text "128" would come first)
    assert [tuple(row) for row in rows.itertuples(index=False)] == [
        ("clip_range", "clip", 0.1, "clip[clip_range=0.1,learning_rate=0.01]", 2, 3, 360),
        ("clip_range", "clip", 0.2, "clip[clip_range=0.2,learning_rate=0.001]", 2, 3, 400),
        ("learning_rate", "clip", 0.001, "clip[clip_range=0.2,learning_rate=0.001]", 2, 3, 400),
        ("learning_rate", "clip", 0.01, "clip[clip_range=0.1,learning_rate=0.01]", 2, 3, 360),
        ("learning_rate", "pg", 0.001, "pg[learning_rate=0.001,n_steps=128]", 2, 3, 80),
        ("learning_rate", "pg", 0.01, "pg[learning_rate=0.01,n_steps=64]", 2, 4, 105),
        ("n_steps", "pg", 64, "pg[learning_rate=0.01,n_steps=64]", 2, 4, 105),
        ("n_steps", "pg", 128, "pg[learning_rate=0.001,n_steps=128]", 2, 3, 80),
    ]
    assert (table["env_id"] == "CartPole-v1").all()
    by_label = table.drop_duplicates("label").set_index("label")
    # seeds [400, 400, 400]: no spread, so the interval is the point
    assert by_label.loc["clip[clip_range=0.2,learning_rate=0.001]", ["score_iqm_low", "score_iqm_high"]].tolist() == [400, 400]
    # seeds [90, 100, 110, 500], t interval of the IQM (Tukey-McLaughlin): cut 1 each end, IQM (100 + 110) / 2 = 105;
    # winsorised [100, 100, 110, 110], s_w^2 = 4 * 25 / 3; se = s_w * sqrt(4) / 2 = 10 / sqrt(3); df = 2 - 1 = 1,
    # t = 12.706205: 105 -+ 73.359
    low, high = by_label.loc["pg[learning_rate=0.01,n_steps=64]", ["score_iqm_low", "score_iqm_high"]]
    assert (low, high) == pytest.approx((105 - 12.706205 * 10 / 3**0.5, 105 + 12.706205 * 10 / 3**0.5))


ROBUSTNESS = [
    # "spiky" is the best at one setting only, "flat" near its best everywhere; 3 equal seeds per configuration
    *[
        ("CartPole-v1", "spiky", {"learning_rate": lr}, [score] * 3)
        for lr, score in zip((1e-4, 1e-3, 1e-2, 1e-1), (100, 20, 10, 5), strict=True)
    ],
    *[
        ("CartPole-v1", "flat", {"learning_rate": lr}, [score] * 3)
        for lr, score in zip((1e-4, 1e-3, 1e-2, 1e-1), (95, 93, 91, 80), strict=True)
    ],
    # no random score for this environment: left out
    ("Unknown-v0", "flat", {"learning_rate": 1e-3}, [1.0, 2.0, 3.0]),
]


def test_robustness_by_hand() -> None:
    table = robustness(run_scores(make_sweep_records(ROBUSTNESS)), {"CartPole-v1": 0.0}, n_resamples=200)
    assert table[["env_id", "variant"]].values.tolist() == [["CartPole-v1", "flat"], ["CartPole-v1", "spiky"]]
    flat, spiky = (table.set_index("variant").loc[variant] for variant in ("flat", "spiky"))
    # random 0 and the best configuration of any variant (spiky's 100) = 1:
    # spiky [1, 0.2, 0.1, 0.05]: 95th percentile at position 0.95 * 3 = 2.85 of the sorted [0.05, 0.1, 0.2, 1],
    # 0.2 + 0.85 * (1 - 0.2) = 0.88; one configuration of four >= 0.9; best 1
    assert [spiky["p95"], spiky["fraction_near_best"], spiky["best"]] == pytest.approx([0.88, 0.25, 1.0])
    # flat [0.95, 0.93, 0.91, 0.8]: 0.93 + 0.85 * (0.95 - 0.93) = 0.947; three of four >= 0.9; best 0.95
    assert [flat["p95"], flat["fraction_near_best"], flat["best"]] == pytest.approx([0.947, 0.75, 0.95])
    assert [flat["n_configs"], flat["n_runs"], flat["random_score"], flat["best_score"]] == [4, 12, 0.0, 100.0]
    # every seed of a configuration equal: every resample gives the same values
    assert [spiky["fraction_near_best_low"], spiky["fraction_near_best_high"]] == pytest.approx([0.25, 0.25])


def test_robustness_intervals_recompute_the_best() -> None:
    """
    Spiky's best configuration now has seeds [90, 100, 110] (IQM 100, as before): in a resample its IQM, hence the
    scale, moves between 90 and 110, and flat's normalised scores with it (below 95 flat's own 95 is the best).
    """
    configurations = [
        (env, v, sweep, [90, 100, 110] if v == "spiky" and scores[0] == 100 else scores)
        for env, v, sweep, scores in ROBUSTNESS
    ]
    table = robustness(run_scores(make_sweep_records(configurations)), {"CartPole-v1": 0.0}, n_resamples=500).set_index(
        "variant"
    )
    flat = table.loc["flat"]
    assert flat["p95"] == pytest.approx(0.947)
    # flat's 95th percentile, 94.7 / max(best, 95), lies between 94.7 / 110 and 94.7 / 95
    assert 94.7 / 110 - 1e-9 <= flat["p95_low"] < 0.947 < flat["p95_high"] <= 94.7 / 95 + 1e-9
    # no configuration above the random score: the scale is undefined
    undefined = robustness(run_scores(make_sweep_records(ROBUSTNESS)), {"CartPole-v1": 1000.0}, n_resamples=20)
    assert undefined[["p95", "fraction_near_best", "best"]].isna().all().all()


def test_records_carry_the_sweep_columns(tmp_path: Path) -> None:
    records = make_sweep_records(TUNING)
    loaded = load_records(write_records(records, tmp_path / "tuning")).runs.set_index("run_id")
    expected = records.runs.set_index("run_id").loc[loaded.index]
    for column in ("config_id", "label", "sweep", "hyperparameters"):
        assert loaded[column].tolist() == expected[column].tolist()
    # config.json without the sweep keys (a run of an experiment without sweeps): the defaults
    run_dir = next((tmp_path / "tuning" / "runs").glob("CartPole-v1__cpi__seed0"))
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(
        json.dumps({k: v for k, v in config.items() if k not in ("config_id", "label", "sweep")})
    )
    cpi = load_records(tmp_path / "tuning").runs.set_index("run_id").loc["CartPole-v1__cpi__seed0"]
    assert pd.isna(cpi["config_id"]) and cpi["label"] == "cpi" and cpi["sweep"] == {}
    # the ordinary report of a sweep's runs has one row per configuration, never a pool of them
    per_env = build_report(records, n_resamples=20, curve_resamples=0).per_env.set_index(["env_id", "variant"])
    assert per_env.loc[("CartPole-v1", "pg[learning_rate=0.001]"), "auc_iqm"] == 305
    assert len(per_env) == 10


@pytest.fixture
def tune_dir(tmp_path: Path) -> Path:
    """A tune directory: TUNING as the tuning stage, each winner at 5 below its tuning score on 5 fresh seeds."""
    tuning = make_sweep_records(TUNING)
    winners = select_configurations(tuning)
    fresh = make_evaluation_records(winners, {(w.env_id, w.variant): [w.tuning_score - 5] * 5 for w in winners.itertuples()})
    write_records(tuning, tmp_path / "tune" / "tuning")
    write_records(fresh, tmp_path / "tune" / "evaluation")
    return tmp_path / "tune"


def test_build_sweep_report(tune_dir: Path) -> None:
    report = build_sweep_report(tune_dir, n_resamples=200, curve_resamples=20)
    # the headline tables come from the evaluation stage only: one row per variant entry, 5 fresh runs each
    assert report.evaluation.per_env["n_runs"].tolist() == [5] * 4
    pg = report.evaluation.per_env.set_index(["env_id", "variant"]).loc[("CartPole-v1", "pg")]
    assert pg["auc_iqm"] == 300
    assert winners_by_pair(report.selection) == winners_by_pair(select_configurations(tune_dir / "tuning"))
    assert len(report.configurations) == 10 and report.configurations["n_excluded"].sum() == 1
    assert report.selection_bias["bias"].tolist() == pytest.approx([5.0] * 4)
    assert set(report.sensitivity["hyperparameter"]) == {"learning_rate", "clip_range"}
    # CartPole-v1 and Acrobot-v1 have random scores; the best configuration is clip's, so clip's best is 1
    robust = report.robustness.set_index(["env_id", "variant"])
    assert robust.loc[("CartPole-v1", "clip"), "best"] == pytest.approx(1.0)
    assert report.settings["select"] == "auc" and report.settings["n_tuning_runs"] == 40
    again = build_sweep_report(tune_dir, n_resamples=200, curve_resamples=20)
    pd.testing.assert_frame_equal(report.robustness, again.robustness)
    pd.testing.assert_frame_equal(report.selection_bias, again.selection_bias)
    with pytest.raises(ValueError, match="tune_dir must be an output directory of 'ppo-variants tune'"):
        build_sweep_report(tune_dir / "tuning")
    (tune_dir / "evaluation" / "runs").rename(tune_dir / "evaluation" / "moved")
    with pytest.raises(ValueError, match="has no evaluation stage yet"):
        build_sweep_report(tune_dir)


def test_tune_directory_report_command(tune_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tune_dir)]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# Sweep report")
    for title in ("Evaluation seeds: Sample efficiency", "Selection", "Selection bias", "Sensitivity", "Robustness across"):
        assert f"## {title}" in markdown
    # selection row: tuning score 305, 4 tuning runs, 3 configurations
    assert "| CartPole-v1 | pg | pg[learning_rate=0.001] | 305 | 4 | 3 |" in markdown
    assert "| CartPole-v1 | clip | clip[clip_range=0.2,learning_rate=0.001] | 460 | 3 (+1 excluded) | 4 |" in markdown

    assert main(["report", str(tune_dir), "--format", "csv"]) == 0
    tidy = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(tidy.columns) == TIDY_COLUMNS
    assert {"per_env", "selection", "selection_bias", "sensitivity", "robustness", "configurations"} <= set(tidy["table"])
    selected = tidy.query("table == 'selection' and env_id == 'CartPole-v1' and variant == 'pg'").set_index("statistic")
    assert float(selected.loc["tuning_score", "value"]) == 305
    assert float(selected.loc["sweep.learning_rate", "value"]) == 0.001
    profile = tidy.query("table == 'sensitivity' and variant == 'clip' and hyperparameter == 'clip_range'")
    assert sorted(profile["hyperparameter_value"].unique()) == [0.1, 0.2]

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    assert main(["report", str(tune_dir), "--format", "json"]) == 0
    content = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    assert {"settings", "evaluation", "selection", "selection_bias", "sensitivity", "robustness", "configurations"} <= set(
        content
    )
    clip = next(row for row in content["selection"] if row["variant"] == "clip" and row["env_id"] == "CartPole-v1")
    assert clip["hyperparameters"] == {"n_envs": 1, "learning_rate": 0.001, "clip_range": 0.2}
    assert content["evaluation"]["per_env"] and content["settings"]["select"] == "auc"

    assert main(["report", str(tune_dir), "--format", "latex"]) == 0
    assert r"\caption{Selection bias." in capsys.readouterr().out

    out = tmp_path / "figures" / "report.md"
    assert main(["report", str(tune_dir), "--out", str(out), "--plots"]) == 0
    names = {path.name for path in out.parent.iterdir()}
    assert {"sensitivity.png", "sensitivity.svg", "selection_bias.png", "learning_curves.png", "report.md"} <= names
    # every run is flat, so final return and AUC select the same winners
    assert main(["report", str(tune_dir), "--format", "json", "--select", "final"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["select"] == "final"
    assert main(["report", str(tune_dir / "tuning"), "--select", "final"]) == 2
    assert "--select applies to the output directory of 'tune'" in capsys.readouterr().err


def test_report_command_with_the_wrong_selection_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = rising_records()
    write_records(records, tmp_path / "tuning")
    write_records(
        make_evaluation_records(select_configurations(records, "auc"), {("CartPole-v1", "pg"): [120, 121]}),
        tmp_path / "evaluation",
    )
    assert main(["report", str(tmp_path), "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path), "--format", "json", "--select", "final"]) == 2
    assert "report with the selection metric the tune used" in capsys.readouterr().err


def test_sweep_figures_with_values_that_are_not_numbers(tmp_path: Path) -> None:
    tuning = make_sweep_records(
        [("CartPole-v1", "clip", {"activation_fn": name}, [score] * 3) for name, score in (("tanh", 400), ("relu", 300))]
    )
    winners = select_configurations(tuning)
    write_records(tuning, tmp_path / "tune" / "tuning")
    write_records(make_evaluation_records(winners, {("CartPole-v1", "clip"): [390] * 3}), tmp_path / "tune" / "evaluation")
    report = build_sweep_report(tmp_path / "tune", n_resamples=50, curve_resamples=0)
    assert report.sensitivity["value"].tolist() == ["relu", "tanh"]
    paths = make_figures(report, tmp_path / "figures")
    assert {"sensitivity.png", "selection_bias.svg"} <= {path.name for path in paths}
