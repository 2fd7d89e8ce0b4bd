"""
The policy objectives for one sample as functions of the probability ratio r, for Â > 0 and Â < 0 (PPO paper, Figure 1).

The curves are computed by the package's own loss functions, not redrawn by hand, so the figure shows what the code
optimises. Those functions need torch, which is imported when the curves are made, never when this module is imported:
the analysis package and ``ppo-variants report`` keep working where torch is not installed.
Made by ``ppo-variants figure surrogates --out results/surrogates``.
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sb3_ppo_variants.analysis.plots import PALETTE, save_figure_as

# objective(r, Â) -> the objective of the samples given, averaged (the negated loss of the package's loss function),
# on torch tensors (not named here: torch is not imported at module level). The figure calls it on one sample at a time.
Objective = Callable[[Any, Any], Any]
Surrogate = tuple[str, Objective]


def package_surrogates(clip_range: float, beta: float) -> list[Surrogate]:
    """
    The objectives of the package's variants, as (label, objective) pairs: pg, cpi, clip, logclip and kl.

    pg's objective log π_θ(a|s) Â is log r · Â plus the constant log π_θold(a|s) Â, which the figure takes as Â so that
    pg meets cpi at r = 1, where both have the same slope (∇L^PG = ∇L^CPI at θ = θ_old).
    kl's per-sample KL is the k3 estimate (r - 1) - log r. A new objective is one more pair.

    :param clip_range: ε of clip and logclip
    :param beta: β of kl
    :return: the (label, objective) pairs, in drawing order
    """
    import torch as th

    from sb3_ppo_variants.kl import k3
    from sb3_ppo_variants.objectives import (
        clip_bounds,
        clipped_surrogate_loss,
        cpi_loss,
        kl_penalty_loss,
        log_clip_bounds,
        pg_loss,
    )

    return [
        ("pg  (log r + 1) Â", lambda r, adv: -pg_loss(th.log(r), adv) + adv.mean()),
        ("cpi  r Â", lambda r, adv: -cpi_loss(r, adv)),
        (f"clip  ε = {clip_range}", lambda r, adv: -clipped_surrogate_loss(r, adv, *clip_bounds(clip_range))),
        (f"logclip  ε = {clip_range}", lambda r, adv: -clipped_surrogate_loss(r, adv, *log_clip_bounds(clip_range))),
        (f"kl  β = {beta}, k3", lambda r, adv: -kl_penalty_loss(r, adv, k3(th.log(r)), beta)),
    ]


def family_surrogates(clip_range: float, beta: float) -> list[Surrogate]:
    """
    The objectives published since the PPO paper, with PPO's clip for reference: clip-higher (ε_high = ε + 0.2),
    dual-clip (c = 3), SPO, PPO-RB (α = 0.3) and clip with a KL penalty (k3 estimate, β).

    ESPO's objective is cpi's r Â (its trust region is an early stop of the update, not a term of the objective), and
    TR-PPO's trigger is the KL of the state's whole action distribution, which r alone does not determine: neither
    has a curve of its own here.

    :param clip_range: ε
    :param beta: β of the KL penalty
    :return: the (label, objective) pairs, in drawing order
    """
    import torch as th

    from sb3_ppo_variants.kl import k3
    from sb3_ppo_variants.objectives import (
        clip_bounds,
        clipped_kl_penalty_loss,
        clipped_surrogate_loss,
        dual_clip_loss,
        rollback_loss,
        spo_loss,
    )

    high = clip_range + 0.2
    bounds = clip_bounds(clip_range)
    return [
        (f"clip  ε = {clip_range}", lambda r, adv: -clipped_surrogate_loss(r, adv, *bounds)),
        (f"clip-higher  ε_high = {high:g}", lambda r, adv: -clipped_surrogate_loss(r, adv, *clip_bounds(clip_range, high))),
        ("dual-clip  c = 3", lambda r, adv: -dual_clip_loss(r, adv, *bounds, 3.0)),
        ("spo", lambda r, adv: -spo_loss(r, adv, clip_range)),
        ("ppo-rb  α = 0.3", lambda r, adv: -rollback_loss(r, adv, clip_range, 0.3)),
        (
            f"clip + kl  β = {beta}, k3",
            lambda r, adv: -clipped_kl_penalty_loss(r, adv, k3(th.log(r)), beta, *bounds),
        ),
    ]


def per_sample_objective(objective: Objective, ratio: np.ndarray, advantage: float) -> np.ndarray:
    """
    Evaluate an objective for one sample at each ratio, in float64.

    :param objective: ``objective(r, Â)`` on torch tensors, averaged over the samples given
    :param ratio: the ratios r, shape (n,)
    :param advantage: Â of the sample
    :return: the objective at each ratio, shape (n,)
    """
    import torch as th

    ratios = th.as_tensor(ratio, dtype=th.float64).reshape(-1, 1)
    adv = th.full((1,), advantage, dtype=th.float64)
    with th.no_grad():
        return np.array([float(objective(r, adv)) for r in ratios])


def surrogate_figure(
    out: str | os.PathLike,
    clip_range: float = 0.5,
    beta: float = 1.0,
    surrogates: Sequence[Surrogate] | None = None,
) -> list[Path]:
    """
    Draw the objectives for one sample against r: columns Â = +1 and Â = -1, rows r on a linear and on a log axis.

    Dotted vertical lines mark the clip bounds 1 - ε (clip), 1/(1+ε) (logclip) and 1 + ε (both). The curves are drawn
    in order, each narrower than the one before, so curves that coincide over a range stay visible.

    :param out: output path without suffix; ``.png`` and ``.svg`` are written (the directory is created)
    :param clip_range: ε of the clip bounds (and of clip and logclip by default)
    :param beta: β of kl by default
    :param surrogates: (label, objective) pairs to draw; default ``package_surrogates(clip_range, beta)``
    :return: the written files
    """
    surrogates = package_surrogates(clip_range, beta) if surrogates is None else list(surrogates)
    ratio = np.logspace(-2, 2, 801, base=2)  # r from 1/4 to 4, evenly spaced in log r
    figure = Figure(figsize=(10, 7.5), layout="constrained")
    axes = figure.subplots(2, 2, sharex="row")
    widths = np.linspace(6.0, 1.5, len(surrogates)) if len(surrogates) > 1 else [2.0]
    for column, advantage in enumerate((1.0, -1.0)):
        values = [per_sample_objective(objective, ratio, advantage) for _, objective in surrogates]
        for row, log_axis in enumerate((False, True)):
            ax = axes[row, column]
            for i, ((label, _), curve) in enumerate(zip(surrogates, values, strict=True)):
                ax.plot(ratio, curve, color=PALETTE[i % len(PALETTE)], linewidth=widths[i], alpha=0.8, label=label)
            for bound, name in ((1 - clip_range, "1 - ε"), (1 / (1 + clip_range), "1/(1+ε)"), (1 + clip_range, "1 + ε")):
                ax.axvline(bound, color="grey", linewidth=0.8, linestyle=":")
                ax.text(bound, 0.02, name, transform=ax.get_xaxis_transform(), rotation=90, fontsize=8, color="dimgrey")
            ax.axvline(1.0, color="black", linewidth=0.5, linestyle="--")
            if log_axis:
                ax.set_xscale("log", base=2)
                ax.set_xlim(0.25, 4)
                ax.set_xticks([0.25, 0.5, 1, 2, 4], ["1/4", "1/2", "1", "2", "4"])
                ax.set_xlabel("probability ratio r (log scale)")
            else:
                ax.set_xlim(0, 2.5)
                ax.set_xlabel("probability ratio r")
            ax.set_ylim(-3.5, 3)
            ax.set_ylabel("per-sample objective")
            ax.set_title(f"Â {'> 0' if advantage > 0 else '< 0'} (Â = {advantage:+.0f})" + ("" if log_axis else ", linear r"))
            ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=9)
    figure.suptitle(
        f"Policy objectives for one sample, ε = {clip_range}\n"
        "dotted: lower bounds 1 - ε (clip) and 1/(1+ε) (logclip), upper bound 1 + ε (both)"
    )
    return save_figure_as(figure, out)
