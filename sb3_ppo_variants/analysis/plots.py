"""
Figures of a report, PNG and SVG, drawn on matplotlib's Agg canvas (no pyplot, so no global state).
"""

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from sb3_ppo_variants.analysis.data import Report
from sb3_ppo_variants.fileio import atomic_open

FIGURE_WIDTH = 9.0
DPI = 110
# Colour-blind-safe palette (Okabe-Ito), one colour per variant in sorted order, the same in every figure.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _colors(variants: list[str]) -> dict[str, str]:
    return {variant: PALETTE[i % len(PALETTE)] for i, variant in enumerate(sorted(variants))}


def save_figure(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    """
    Write a figure as ``name``.png and ``name``.svg atomically (temporary file in ``out_dir``, then ``os.replace``).

    :param figure: a figure made with ``matplotlib.figure.Figure`` (not pyplot); it gets an Agg canvas
    :param out_dir: existing directory
    :param name: file name without suffix
    :return: the paths written
    """
    FigureCanvasAgg(figure)
    paths = []
    for fmt in ("png", "svg"):
        path = out_dir / f"{name}.{fmt}"
        with atomic_open(path, "wb") as file:
            figure.savefig(file, format=fmt, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    return paths


def learning_curves(report: Report, out_dir: Path) -> list[Path]:
    """
    One panel per environment: IQM evaluation return across seeds per variant, with the bootstrap confidence band.

    :param report: report with ``curves``
    :param out_dir: existing directory
    :return: paths of learning_curves.png and learning_curves.svg
    """
    curves = report.curves
    envs = sorted(curves["env_id"].unique())
    colors = _colors(list(curves["variant"].unique()))
    ncols = min(2, len(envs))
    nrows = math.ceil(len(envs) / ncols)
    panel_width = FIGURE_WIDTH / ncols
    figure = Figure(figsize=(FIGURE_WIDTH, 0.75 * panel_width * nrows + 0.9), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, env_id in zip(axes, envs, strict=False):
        env_curves = curves[curves["env_id"] == env_id]
        for variant, curve in env_curves.groupby("variant", sort=True):
            ax.plot(curve["timesteps"], curve["iqm"], color=colors[variant], linewidth=1.8, label=variant)
            ax.fill_between(curve["timesteps"], curve["low"], curve["high"], color=colors[variant], alpha=0.2, linewidth=0)
        n_runs = env_curves.groupby("variant")["n_runs"].first()
        runs = f"{n_runs.min()}" if n_runs.min() == n_runs.max() else f"{n_runs.min()}-{n_runs.max()}"
        ax.set_title(f"{env_id} ({runs} runs per variant)")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return (mean over episodes)")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
    for ax in axes[len(envs) :]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=color, linewidth=2.5, label=variant) for variant, color in colors.items()]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False)
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(f"Learning curves: IQM across seeds, band = {confidence}% bootstrap CI")
    return save_figure(figure, out_dir, "learning_curves")


def aggregate_intervals(report: Report, out_dir: Path) -> list[Path]:
    """
    IQM of the normalised final return and AUC per variant, pooled over environments, with confidence intervals.

    :param report: report with a non-empty ``aggregate``
    :param out_dir: existing directory
    :return: paths of aggregate_iqm.png and aggregate_iqm.svg
    """
    aggregate = report.aggregate.sort_values("variant", ascending=False).reset_index(drop=True)
    colors = _colors(list(aggregate["variant"]))
    figure = Figure(figsize=(FIGURE_WIDTH, 1.2 + 0.45 * len(aggregate)), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(aggregate))
    for ax, (metric, title) in zip(axes, (("final_return", "final return"), ("auc", "area under the curve")), strict=True):
        for i, row in aggregate.iterrows():
            low, point, high = row[f"{metric}_iqm_low"], row[f"{metric}_iqm"], row[f"{metric}_iqm_high"]
            ax.barh(y[i], high - low, left=low, height=0.6, color=colors[row["variant"]], alpha=0.55)
            ax.vlines(point, y[i] - 0.3, y[i] + 0.3, color="black", linewidth=2)
        for reference in (0.0, 1.0):
            ax.axvline(reference, color="grey", linestyle="--", linewidth=0.8, zorder=0)
        ax.set_title(f"IQM of normalised {title}")
        ax.set_xlabel("normalised score (random = 0, reference = 1)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [f"{v} ({n} envs)" for v, n in zip(aggregate["variant"], aggregate["n_envs"], strict=True)])
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(f"Aggregate over environments: IQM (black line) and {confidence}% stratified bootstrap CI (bar)")
    return save_figure(figure, out_dir, "aggregate_iqm")


def improvement_matrix(report: Report, out_dir: Path) -> list[Path]:
    """
    Heat map of the probability of improvement, ``P(row variant > column variant)`` on final return.

    :param report: report with ``improvement``
    :param out_dir: existing directory
    :return: paths of probability_of_improvement.png and probability_of_improvement.svg
    """
    table = report.improvement
    n = len(table)
    size = min(FIGURE_WIDTH, 2.5 + 0.9 * n)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(table.to_numpy(dtype=float), cmap="RdBu", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            p = table.iloc[i, j]
            text = "–" if np.isnan(p) else f"{p:.2f}"
            ax.text(j, i, text, ha="center", va="center", color="white" if abs(p - 0.5) > 0.3 else "black", fontsize=11)
    ax.set_xticks(range(n), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(n), table.index)
    ax.set_xlabel("variant Y")
    ax.set_ylabel("variant X")
    ax.set_title("Probability of improvement P(X > Y)\n(final return, averaged over environments)")
    figure.colorbar(image, ax=ax, label="P(X > Y) + 0.5 P(X = Y)", shrink=0.85)
    return save_figure(figure, out_dir, "probability_of_improvement")


def make_figures(report: Report, out_dir: str | os.PathLike) -> list[Path]:
    """
    Write the figures of a report into ``out_dir`` (created if needed), each as PNG and SVG.

    The figures are ``learning_curves`` (needs ``curves``, i.e. ``curve_resamples > 0``), ``aggregate_iqm`` (needs at
    least one environment with reference scores) and ``probability_of_improvement``. A figure without data is not
    written, which the returned list shows.

    :param report: a report built by ``build_report``
    :param out_dir: output directory
    :return: paths of the files written
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if not report.curves.empty:
        paths += learning_curves(report, out_dir)
    if not report.aggregate.empty:
        paths += aggregate_intervals(report, out_dir)
    if not report.improvement.empty:
        paths += improvement_matrix(report, out_dir)
    return paths
