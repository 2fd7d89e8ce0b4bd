"""The surrogate figure: the package's objectives for one sample against r, from a list of (label, objective) pairs."""

import math
from pathlib import Path

import numpy as np
import pytest

from sb3_ppo_variants.analysis.surrogates import family_surrogates, package_surrogates, per_sample_objective, surrogate_figure
from sb3_ppo_variants.cli import main


def test_package_surrogates_by_hand() -> None:
    objectives = dict(package_surrogates(clip_range=0.5, beta=1.0))
    assert [label.split()[0] for label in objectives] == ["pg", "cpi", "clip", "logclip", "kl"]
    pg, cpi, clip, logclip, kl = objectives.values()
    ratio = np.array([0.5, 1.0, 2.0])
    # Â = +1. pg: (log r + 1) Â = 1 - log 2, 1, 1 + log 2; cpi: r Â; clip and logclip: min(r, clip(r, low, 1.5)) with
    # low 0.5 / 2/3 -> 0.5, 1, 1.5 (below 1 the unclipped r Â is the minimum); kl, β = 1, k3 = (r - 1) - log r:
    # r - (r - 1 - log r) = 1 + log r, the same as pg at Â = +1
    np.testing.assert_allclose(per_sample_objective(pg, ratio, 1.0), [1 - math.log(2), 1, 1 + math.log(2)])
    np.testing.assert_allclose(per_sample_objective(cpi, ratio, 1.0), [0.5, 1, 2])
    np.testing.assert_allclose(per_sample_objective(clip, ratio, 1.0), [0.5, 1, 1.5])
    np.testing.assert_allclose(per_sample_objective(logclip, ratio, 1.0), [0.5, 1, 1.5])
    np.testing.assert_allclose(per_sample_objective(kl, ratio, 1.0), [1 - math.log(2), 1, 1 + math.log(2)])
    # Â = -1. pg: -(log r + 1) = log 2 - 1, -1, -log 2 - 1; clip: min(-r, -clip(r, 0.5, 1.5)) = -0.5, -1, -2;
    # logclip: clip(0.5, 2/3, 1.5) = 2/3, so min(-0.5, -2/3) = -2/3 at r = 0.5; kl: -r - (r - 1 - log r) = 1 - 2r + log r
    np.testing.assert_allclose(per_sample_objective(pg, ratio, -1.0), [math.log(2) - 1, -1, -math.log(2) - 1])
    np.testing.assert_allclose(per_sample_objective(clip, ratio, -1.0), [-0.5, -1, -2])
    np.testing.assert_allclose(per_sample_objective(logclip, ratio, -1.0), [-2 / 3, -1, -2])
    np.testing.assert_allclose(per_sample_objective(kl, ratio, -1.0), [-math.log(2), -1, -3 + math.log(2)])


def test_surrogate_figure_draws_any_list_of_objectives(tmp_path: Path) -> None:
    surrogates = [*package_surrogates(0.2, 1.0), ("double cpi", lambda r, adv: 2 * (r * adv).mean())]
    paths = surrogate_figure(tmp_path / "figures" / "extra", clip_range=0.2, surrogates=surrogates)
    assert [path.name for path in paths] == ["extra.png", "extra.svg"]
    assert "double cpi" in paths[1].read_text()


def test_figure_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figure", "surrogates", "--out", str(tmp_path / "surrogates")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "surrogates.png"), str(tmp_path / "surrogates.svg")]


def test_family_curves_are_the_package_objectives():
    # ε 0.2, β 1, r = 2. Â = +1: clip min(2, 1.2) = 1.2; clip-higher (ε_high 0.4) 1.4; dual-clip 1.2; spo 2 - 1 / 0.4 = -0.5;
    # ppo-rb min(2, -0.6 + 1.3 * 1.2) = 0.96; clip + kl 1.2 - (1 - ln 2).
    # Â = -1: clip, clip-higher, dual-clip (r < 3) and ppo-rb -2; spo -2 - 2.5 = -4.5; clip + kl -2 - (1 - ln 2).
    curves = family_surrogates(clip_range=0.2, beta=1.0)
    k3_of_2 = 1 - math.log(2)
    expected = {1.0: [1.2, 1.4, 1.2, -0.5, 0.96, 1.2 - k3_of_2], -1.0: [-2.0, -2.0, -2.0, -4.5, -2.0, -2.0 - k3_of_2]}
    for advantage, values in expected.items():
        got = [per_sample_objective(objective, np.array([2.0]), advantage)[0] for _, objective in curves]
        assert got == pytest.approx(values, abs=1e-12)
