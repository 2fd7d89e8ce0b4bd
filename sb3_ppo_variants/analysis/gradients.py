"""
The gradient of each policy objective with respect to log π_θ(a|s), for one sample, as a function of the probability
ratio r, for Â = +1 and Â = -1: where each clip or penalty keeps, removes or reverses the gradient r Â of L^CPI.

For L^CPI the gradient with respect to log π_θ(a|s) is r Â: at Â = +1 a sample at r = 2 pulls twice as hard as one
at r = 1, while at Â = -1 a sample at r = 0.5 pushes half as hard. The curves are computed by autograd through the
package's own loss functions (``sb3_ppo_variants.objectives``, the KL estimators of ``sb3_ppo_variants.kl``), with
x = log r as the leaf: since log r = log π_θ(a|s) - log π_θold(a|s), ∂/∂x is ∂/∂ log π_θ(a|s). torch is imported when
the curves are made, never when this module is imported. Made by ``ppo-variants figure gradients --out
results/gradients``.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sb3_ppo_variants.analysis.plots import PALETTE, save_figure_as
from sb3_ppo_variants.analysis.surrogates import Objective, Surrogate, family_surrogates, package_surrogates


def registered_objectives(clip_range: float, beta: float) -> tuple[list[Surrogate], list[Surrogate]]:
    """
    The objectives of every registered variant, as two lists of (label, objective) pairs: the PPO paper's (pg, cpi,
    clip, logclip, kl with the k3 and the k1 estimators) and those published since (``surrogates.family_surrogates``:
    clip-higher, dual-clip, SPO, PPO-RB, clip + kl; and TR-PPO where its trust-region trigger is active).

    ESPO's objective is cpi's r Â (its trust region stops the update, it is not a term of the objective), so its curve
    is cpi's. The kl variant's default estimator, the exact KL of the two action distributions, is not a function of
    r alone; the sample estimators k3 = (r - 1) - log r and k1 = -log r are.

    :param clip_range: ε of the clipped objectives
    :param beta: β of the KL penalties
    :return: (the paper's objectives, those published since)
    """
    import torch as th

    from sb3_ppo_variants.kl import k1
    from sb3_ppo_variants.objectives import kl_penalty_loss, trust_region_clip_loss

    paper = package_surrogates(clip_range, beta)
    paper.append((f"kl  β = {beta}, k1", lambda r, adv: -kl_penalty_loss(r, adv, k1(th.log(r)), beta)))
    # the trust region is active: the per-state KL is above its trigger
    family = [*family_surrogates(clip_range, beta)[1:]]
    family.append(("trppo  (trigger active)", lambda r, adv: -trust_region_clip_loss(r, adv, th.ones_like(r), 0.0)))
    return paper, family


def per_sample_gradient(objective: Objective, ratio: np.ndarray, advantage: float) -> np.ndarray:
    """
    ∂(objective)/∂ log π_θ(a|s) of one sample at each ratio, by autograd in float64.

    The ratios are passed as one batch of samples, each its own sample: the objective averages them, so each
    sample's gradient is the batch size times the gradient of the average with respect to its log-ratio.

    :param objective: ``objective(r, Â)`` on 1-D torch tensors, averaged over the samples given
    :param ratio: the ratios r, positive, shape (n,)
    :param advantage: Â of the samples
    :return: the gradient at each ratio, shape (n,)
    """
    import torch as th

    log_ratio = th.as_tensor(np.log(np.asarray(ratio, dtype=float)), dtype=th.float64).requires_grad_(True)
    value = objective(th.exp(log_ratio), th.full_like(log_ratio, advantage))
    (gradient,) = th.autograd.grad(value, log_ratio)
    return gradient.numpy() * log_ratio.numel()


def gradient_figure(
    out: str | os.PathLike,
    clip_range: float = 0.5,
    beta: float = 1.0,
    groups: Sequence[Sequence[Surrogate]] | None = None,
) -> list[Path]:
    """
    Draw ∂(objective)/∂ log π_θ(a|s) against r (log axis): columns Â = +1 and Â = -1, one row per group of objectives.

    Dotted vertical lines mark the clip bounds 1 - ε (clip), 1/(1+ε) (logclip) and 1 + ε (both): on the log axis the
    log-ratio clip's bounds lie symmetrically about r = 1. The grey dashed line is cpi's r Â in every panel.

    :param out: output path without suffix; ``.png`` and ``.svg`` are written (the directory is created)
    :param clip_range: ε of the clipped objectives and of the bounds drawn
    :param beta: β of the KL penalties
    :param groups: lists of (label, objective) pairs, one row each; default ``registered_objectives(clip_range, beta)``
    :return: the written files
    """
    groups = list(registered_objectives(clip_range, beta) if groups is None else groups)
    ratio = np.logspace(-2, 2, 801, base=2)  # r from 1/4 to 4, evenly spaced in log r
    figure = Figure(figsize=(11, 4.2 * len(groups) + 0.8), layout="constrained")
    axes = figure.subplots(len(groups), 2, sharex=True, squeeze=False)
    for row, surrogates in enumerate(groups):
        widths = np.linspace(5.0, 1.5, len(surrogates)) if len(surrogates) > 1 else [2.0]
        for column, advantage in enumerate((1.0, -1.0)):
            ax = axes[row, column]
            ax.plot(ratio, ratio * advantage, color="grey", linewidth=1.0, linestyle="--", label="r Â (cpi)")
            for i, (label, objective) in enumerate(surrogates):
                gradient = per_sample_gradient(objective, ratio, advantage)
                ax.plot(ratio, gradient, color=PALETTE[i % len(PALETTE)], linewidth=widths[i], alpha=0.8, label=label)
            for bound, name in ((1 - clip_range, "1 - ε"), (1 / (1 + clip_range), "1/(1+ε)"), (1 + clip_range, "1 + ε")):
                ax.axvline(bound, color="grey", linewidth=0.8, linestyle=":")
                ax.text(bound, 0.02, name, transform=ax.get_xaxis_transform(), rotation=90, fontsize=8, color="dimgrey")
            ax.axhline(0.0, color="black", linewidth=0.5)
            ax.set_xscale("log", base=2)
            ax.set_xlim(0.25, 4)
            ax.set_xticks([0.25, 0.5, 1, 2, 4], ["1/4", "1/2", "1", "2", "4"])
            ax.set_ylim(-4.5, 4.5)
            ax.set_xlabel("probability ratio r (log scale)")
            ax.set_ylabel("∂ objective / ∂ log π_θ(a|s)")
            ax.set_title(f"Â = {advantage:+.0f}")
            ax.grid(alpha=0.3)
        axes[row, 0].legend(loc="upper left", fontsize=8)
    figure.suptitle(
        f"Gradient of one sample's objective with respect to log π_θ(a|s), ε = {clip_range}, β = {beta} (autograd through "
        "the package's loss functions)\ndotted: lower bounds 1 - ε (clip) and 1/(1+ε) (logclip), upper bound 1 + ε (both)"
    )
    return save_figure_as(figure, out)
