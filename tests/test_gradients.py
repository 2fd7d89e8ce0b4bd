"""The gradient figure: ∂(objective)/∂ log π(a|s) of every registered objective by autograd, against hand-worked values."""

from pathlib import Path

import numpy as np
import pytest

from sb3_ppo_variants.analysis.gradients import gradient_figure, per_sample_gradient, registered_objectives
from sb3_ppo_variants.cli import main


def by_name(clip_range: float, beta: float) -> dict[str, object]:
    """The objectives by the name before their parameters (labels are "<name>  <parameters>"); kl is the k1 one."""
    paper, family = registered_objectives(clip_range, beta)
    return {label.split("  ")[0]: objective for label, objective in paper + family}


def test_gradients_by_hand() -> None:
    """
    ε = 0.2, β = 1; x = log r, so ∂r/∂x = r and ∂/∂x of an objective f(r) Â is r f'(r) Â.

    pg, log r Â + const: Â everywhere. cpi, r Â: r Â (r = 2, Â = +1 pulls with 2; r = 0.5, Â = -1 pushes with -0.5).
    clip: r Â inside [0.8, 1.2] or where the unclipped term is the minimum, 0 where the clip is active: Â = +1 at r = 2
    (clipped) 0, at r = 0.5 0.5; Â = -1 at r = 0.5 (clipped) 0, at r = 2 -2, at r = 0.82 (inside) -0.82.
    logclip, bounds [1/1.2, 1.2] = [0.8333, 1.2]: Â = -1 at r = 0.82 is clipped, 0; at r = 0.85 -0.85.
    kl, r Â - β KL: k3 = (r - 1) - x gives r Â - β (r - 1): Â = +1, r = 2: 1; Â = -1, r = 0.5: -0.5 + 0.5 = 0; Â = -1,
    r = 0.25: -0.25 + 0.75 = 0.5 (reversed: the penalty pushes r back up). k1 = -x gives r Â + β: Â = -1, r = 2: -1.
    dual-clip, c = 3, Â = -1: max(min(-r, -clip(r)), -3): at r = 4 the bound -3 holds, 0; at r = 2 -2.
    spo, r Â - |Â| (r - 1)^2 / (2ε): r (Â - |Â| (r - 1) / ε): Â = +1, r = 2: 2 (1 - 5) = -8; r = 1.2: 0 (its maximum).
    ppo-rb, α = 0.3, Â = +1, r = 2 > 1.2: F(r) = -0.3 r + 1.3 * 1.2 = 0.96 < r, so the objective is F(r): -α r = -0.6.
    trppo with its trigger active, min(r Â, Â): Â = +1, r = 2: 0; r = 0.5: 0.5.
    """
    objectives = by_name(0.2, 1.0)
    cases = {
        ("pg", 1.0): ([0.5, 2.0], [1.0, 1.0]),
        ("pg", -1.0): ([0.5, 2.0], [-1.0, -1.0]),
        ("cpi", 1.0): ([0.5, 2.0], [0.5, 2.0]),
        ("cpi", -1.0): ([0.5, 2.0], [-0.5, -2.0]),
        ("clip", 1.0): ([0.5, 2.0], [0.5, 0.0]),
        ("clip", -1.0): ([0.5, 0.82, 2.0], [0.0, -0.82, -2.0]),
        ("logclip", -1.0): ([0.82, 0.85, 2.0], [0.0, -0.85, -2.0]),
        ("kl k3", 1.0): ([2.0], [1.0]),
        ("kl k3", -1.0): ([0.25, 0.5], [0.5, 0.0]),
        ("dual-clip", -1.0): ([2.0, 4.0], [-2.0, 0.0]),
        ("spo", 1.0): ([1.2, 2.0], [0.0, -8.0]),
        ("ppo-rb", 1.0): ([2.0], [-0.6]),
        ("trppo", 1.0): ([0.5, 2.0], [0.5, 0.0]),
    }
    k3, k1 = (objective for label, objective in registered_objectives(0.2, 1.0)[0] if label.startswith("kl"))
    for (name, advantage), (ratio, expected) in cases.items():
        objective = k3 if name == "kl k3" else objectives[name]
        got = per_sample_gradient(objective, np.array(ratio), advantage)
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=f"{name}, Â = {advantage}")
    np.testing.assert_allclose(per_sample_gradient(k1, np.array([2.0]), -1.0), [-1.0], atol=1e-12)
    # clip + kl (k3): clip's gradient minus β (r - 1): Â = +1, r = 2: 0 - 1 = -1
    np.testing.assert_allclose(per_sample_gradient(objectives["clip + kl"], np.array([2.0]), 1.0), [-1.0], atol=1e-12)


def test_every_registered_objective_has_a_curve() -> None:
    paper, family = registered_objectives(0.2, 1.0)
    labels = [label.split()[0] for label, _ in paper + family]
    # espo's objective is cpi's; klclip is "clip + kl"; clip-higher is clip with clip_range_high
    assert labels == ["pg", "cpi", "clip", "logclip", "kl", "kl", "clip-higher", "dual-clip", "spo", "ppo-rb", "clip", "trppo"]


def test_gradient_figure_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figure", "gradients", "--out", str(tmp_path / "gradients")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "gradients.png"), str(tmp_path / "gradients.svg")]
    paths = gradient_figure(tmp_path / "one", 0.2, 1.0, [[("cpi only", lambda r, adv: (r * adv).mean())]])
    assert "cpi only" in paths[1].read_text()
