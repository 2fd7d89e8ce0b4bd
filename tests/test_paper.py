"""The PPO paper's Table 1 score: last-100-episode means and the per-task normalisation, against hand-worked values."""

import numpy as np
import pytest

from sb3_ppo_variants.analysis.paper import best_setting_scores, last_episodes_mean, normalize_paper
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, load_random_scores
from sb3_ppo_variants.cli import main


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
