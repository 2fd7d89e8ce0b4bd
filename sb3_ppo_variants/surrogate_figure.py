"""
The surrogate objectives as functions of r for one sample with Â = +1 and Â = -1, as in the PPO paper's Figure 1.

Run ``python -m sb3_ppo_variants.surrogate_figure --out results/surrogates`` to write ``surrogates.png`` and
``surrogates.svg``. The curves are computed by the package's own loss functions, not redrawn by hand.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch as th

from sb3_ppo_variants import kl as kl_estimators
from sb3_ppo_variants.objectives import clip_bounds, clipped_surrogate_loss, cpi_loss, kl_penalty_loss, log_clip_bounds


def surrogate_curves(ratio: th.Tensor, advantage: float, clip_range: float, beta: float) -> dict[str, th.Tensor]:
    """
    Per-sample objective values (the negated per-sample losses) of cpi, clip, logclip and kl at each ratio.

    :param ratio: the ratios r at which to evaluate, shape (n,)
    :param advantage: Â for every sample
    :param clip_range: ε for clip and logclip
    :param beta: β for kl, whose per-sample KL is the k3 estimate (r - 1) - log r
    :return: name -> objective values, shape (n,)
    """
    adv = th.full_like(ratio, advantage)

    def per_sample(loss_fn, *args) -> th.Tensor:
        # the loss functions average over the batch: evaluate one sample at a time
        return -th.stack([loss_fn(r.reshape(1), a.reshape(1), *args) for r, a in zip(ratio, adv, strict=True)])

    kl = kl_estimators.k3(th.log(ratio))
    return {
        "cpi  r Â": per_sample(cpi_loss),
        f"clip  ε = {clip_range}": per_sample(clipped_surrogate_loss, *clip_bounds(clip_range)),
        f"logclip  ε = {clip_range}": per_sample(clipped_surrogate_loss, *log_clip_bounds(clip_range)),
        f"kl  β = {beta}, k3": -th.stack(
            [kl_penalty_loss(r.reshape(1), a.reshape(1), k.reshape(1), beta) for r, a, k in zip(ratio, adv, kl, strict=True)]
        ),
    }


def plot_surrogates(out: Path, clip_range: float = 0.5, beta: float = 1.0) -> list[Path]:
    """
    Draw the figure: columns Â > 0 and Â < 0; top row r on a linear axis, bottom row r on a log axis.

    :param out: output path without suffix; ``.png`` and ``.svg`` are written
    :param clip_range: ε
    :param beta: β of the kl curve
    :return: the written files
    """
    ratio = th.logspace(-2, 2, 801, base=2, dtype=th.float64)  # r from 0.25 to 4
    # clip is drawn wide and pale under logclip: the two coincide except between their lower bounds
    styles = [
        ("tab:gray", "--", 2.0, 1.0),
        ("tab:blue", "-", 5.0, 0.45),
        ("tab:red", "-", 1.8, 1.0),
        ("tab:green", ":", 2.2, 1.0),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), sharex="row")
    for column, advantage in enumerate((1.0, -1.0)):
        curves = surrogate_curves(ratio, advantage, clip_range, beta)
        for row, log_axis in enumerate((False, True)):
            ax = axes[row, column]
            for (label, values), (color, style, width, alpha) in zip(curves.items(), styles, strict=True):
                ax.plot(ratio.numpy(), values.numpy(), color=color, linestyle=style, linewidth=width, alpha=alpha, label=label)
            for bound, color in ((clip_bounds(clip_range)[0], "tab:blue"), (log_clip_bounds(clip_range)[0], "tab:red")):
                ax.axvline(bound, color=color, linewidth=0.8, alpha=0.6)
            ax.axvline(1 + clip_range, color="black", linewidth=0.8, alpha=0.6)
            ax.axvline(1.0, color="black", linewidth=0.5, linestyle="--")
            if log_axis:
                ax.set_xscale("log", base=2)
                ax.set_xlim(0.25, 4)
                ax.set_xticks([0.25, 0.5, 1, 2, 4])
                ax.set_xticklabels(["1/4", "1/2", "1", "2", "4"])
                ax.set_xlabel("probability ratio r (log scale)")
            else:
                ax.set_xlim(0, 2.5)
                ax.set_xlabel("probability ratio r")
            ax.set_ylim(-3, 3)
            ax.set_ylabel("per-sample objective")
            ax.set_title(f"Â {'> 0' if advantage > 0 else '< 0'} (Â = {advantage:+.0f})" + ("" if log_axis else ", linear r"))
            ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=9)
    fig.suptitle(
        f"PPO surrogate objectives for one sample, ε = {clip_range}\n"
        "lower bounds 1 - ε (clip, blue) and 1/(1+ε) (logclip, red), upper bound 1 + ε (both, black)"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".svg"):
        path = out.with_suffix(suffix)
        fig.savefig(path, dpi=110)
        written.append(path)
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", default="results/surrogates", help="output path without suffix (default: %(default)s)")
    # ε = 0.5 rather than PPO's 0.2 makes the asymmetry of [1 - ε, 1 + ε] in log r visible at a glance
    parser.add_argument("--clip-range", type=float, default=0.5, help="ε (default: %(default)s)")
    parser.add_argument("--beta", type=float, default=1.0, help="β of the kl curve (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in plot_surrogates(Path(args.out), args.clip_range, args.beta):
        print(path)


if __name__ == "__main__":
    main()
