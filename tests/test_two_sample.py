"""The two-sample comparison of two output directories (analysis.two_sample), against values derived by hand."""

import math
from pathlib import Path

import numpy as np
import pytest

from sb3_ppo_variants.analysis import render
from sb3_ppo_variants.analysis.synthetic import make_records, write_records
from sb3_ppo_variants.analysis.two_sample import build_two_sample, minimal_detectable_difference, permutation_p, welch_test
from sb3_ppo_variants.cli import main


def test_welch_test_by_hand() -> None:
    # x = [0, 2], y = [3, 5]: both variances 2, so se = sqrt(2 / 2 + 2 / 2) = sqrt(2) and df = (1 + 1)^2 / (1 + 1) = 2;
    # t = -3 / sqrt(2), and with 2 degrees of freedom P(|T| > t) = 1 - t / sqrt(2 + t^2) = 1 - 2.1213 / sqrt(6.5)
    test = welch_test(np.array([0.0, 2.0]), np.array([3.0, 5.0]))
    assert test.difference == -3.0
    assert test.se == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert test.df == pytest.approx(2.0, rel=1e-12)
    assert test.t == pytest.approx(-3.0 / math.sqrt(2.0), rel=1e-12)
    assert test.p == pytest.approx(1.0 - 4.5**0.5 / 6.5**0.5, rel=1e-9)
    # unequal sizes: x = [1, 2, 3, 4] (s^2 = 5/3), y = [2, 4, 6, 8] (s^2 = 20/3): se^2 = 5/12 + 20/12 = 25/12,
    # df = (25/12)^2 / ((5/12)^2 / 3 + (20/12)^2 / 3) = 625 / 3 / (425 / 3 / 3) ... = 1875 / 425 = 4.4118
    test = welch_test(np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8]))
    assert test.se == pytest.approx(math.sqrt(25 / 12), rel=1e-12)
    assert test.df == pytest.approx(1875 / 425, rel=1e-12)


def test_welch_without_spread() -> None:
    assert welch_test(np.array([1.0, 1.0]), np.array([1.0, 1.0])).p == 1.0
    assert welch_test(np.array([1.0, 1.0]), np.array([2.0, 2.0])).p == 0.0
    with pytest.raises(ValueError, match="x must be a 1-D array of at least 2 finite values"):
        welch_test(np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="y must be"):
        welch_test(np.array([1.0, 2.0]), np.array([1.0, np.inf]))


def test_permutation_p_by_hand() -> None:
    # pooled [0, 2, 3, 5], the 6 splits into two pairs give differences -3, -2, 0, 0, 2, 3: |d| >= 3 in 2 of 6
    assert permutation_p(np.array([0.0, 2.0]), np.array([3.0, 5.0])) == pytest.approx(1 / 3)
    # fewer resamples than splits: Monte Carlo, counted as (hits + 1) / (n + 1), the same for the same seed
    p = permutation_p(np.array([0.0, 2.0]), np.array([3.0, 5.0]), n_resamples=5, seed=3)
    assert p in {k / 6 for k in range(1, 7)}
    assert p == permutation_p(np.array([0.0, 2.0]), np.array([3.0, 5.0]), n_resamples=5, seed=3)
    # well separated samples of 10: the exact p is 2 / C(20, 10) = 1.1e-5, so 1000 random splits hit it about 0.01 times
    # and the Monte Carlo p is near its floor 1 / (n + 1)
    x, y = np.arange(10.0), np.arange(10.0) + 100
    assert 1 / 1001 <= permutation_p(x, y, n_resamples=1000) <= 3 / 1001


def test_minimal_detectable_difference_by_hand() -> None:
    # df = 2: the t quantile is (2p - 1) / sqrt(2 p (1 - p)), so t_0.975 = 0.95 / sqrt(0.04875), t_0.8 = 0.6 / sqrt(0.32)
    expected = (0.95 / math.sqrt(0.04875) + 0.6 / math.sqrt(0.32)) * math.sqrt(2.0)
    assert minimal_detectable_difference(math.sqrt(2.0), 2.0) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="power must be in"):
        minimal_detectable_difference(1.0, 2.0, power=1.0)


def test_build_two_sample(tmp_path: Path) -> None:
    a = write_records(make_records(("CartPole-v1", "Acrobot-v1"), ("clip", "pg"), n_seeds=5, seed=0), tmp_path / "a")
    b = write_records(make_records(("CartPole-v1",), ("clip", "pg"), n_seeds=4, seed=1), tmp_path / "b")
    report = build_two_sample(a, b, n_resamples=100)
    table = report.table.set_index(["env_id", "variant", "metric"])
    assert sorted(set(table.index.droplevel(2))) == [("CartPole-v1", "clip"), ("CartPole-v1", "pg")]
    assert set(report.unmatched["env_id"]) == {"Acrobot-v1"} and set(report.unmatched["side"]) == {"a"}
    # the final return of a run is the mean of its last 3 evaluations, computed here from the records themselves
    evals = make_records(("CartPole-v1", "Acrobot-v1"), ("clip", "pg"), n_seeds=5, seed=0).evals
    clip = evals[evals["run_id"].str.startswith("CartPole-v1__clip__")]
    finals = clip.sort_values("timesteps").groupby("run_id")["mean_return"].apply(lambda r: r.iloc[-3:].mean())
    row = table.loc[("CartPole-v1", "clip", "final_return")]
    assert row["n_a"] == 5 and row["n_b"] == 4
    assert row["mean_a"] == pytest.approx(finals.mean(), rel=1e-12)
    assert row["low_a"] < row["mean_a"] < row["high_a"]
    same = build_two_sample(a, a, n_resamples=100).table
    assert (same["difference"] == 0).all() and np.allclose(same["welch_p"], 1.0) and (same["mdd"] > 0).all()
    assert render(report, "csv") == render(build_two_sample(a, b, n_resamples=100), "csv")
    for fmt in ("md", "latex", "json"):
        assert "CartPole-v1" in render(report, fmt)


def test_build_two_sample_refuses_disjoint_directories(tmp_path: Path) -> None:
    a = write_records(make_records(("CartPole-v1",), ("clip",), n_seeds=3), tmp_path / "a")
    b = write_records(make_records(("Acrobot-v1",), ("clip",), n_seeds=3), tmp_path / "b")
    with pytest.raises(ValueError, match="share no"):
        build_two_sample(a, b)


def test_report_versus_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write_records(make_records(("CartPole-v1",), ("clip",), n_seeds=3), tmp_path / "a")
    b = write_records(make_records(("CartPole-v1",), ("clip",), n_seeds=3, seed=2), tmp_path / "b")
    assert main(["report", str(a), "--versus", str(b)]) == 0
    assert "| CartPole-v1 | clip | final_return |" in capsys.readouterr().out
    assert main(["report", str(a), "--versus", str(b), "--paper-table1"]) == 2
    assert "one of --versus and --paper-table1" in capsys.readouterr().err
