"""
Figures of a report or a sweep report, PNG and SVG, drawn on matplotlib's Agg canvas (no pyplot, so no global state).
"""

import math
import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from sb3_ppo_variants.analysis.document import ReportKind
from sb3_ppo_variants.analysis.formatting import method_name
from sb3_ppo_variants.analysis.paper import Table1Report
from sb3_ppo_variants.analysis.report import Report
from sb3_ppo_variants.analysis.sweep_report import SweepReport
from sb3_ppo_variants.fileio import atomic_open
from sb3_ppo_variants.validation import is_number

FIGURE_WIDTH = 9.0
DPI = 110
# Colour-blind-safe palette (Okabe-Ito)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINESTYLES = ("-", "--", ":", "-.")


def _styles(variants: list[str]) -> dict[str, dict[str, str]]:
    """
    One line style per variant in sorted order, the same in every figure: the colours of ``PALETTE`` solid, then
    dashed, dotted and dash-dotted, so that up to ``len(PALETTE) * len(LINESTYLES)`` variants are told apart.

    :param variants: the variants' names
    :return: per variant, the ``color`` and ``linestyle`` keyword arguments of ``Axes.plot``
    """
    return {
        variant: {"color": PALETTE[i % len(PALETTE)], "linestyle": LINESTYLES[i // len(PALETTE) % len(LINESTYLES)]}
        for i, variant in enumerate(sorted(variants))
    }


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
        # no date in the SVG and its element ids salted by the name, so that the same figure gives the same bytes
        with atomic_open(path, "wb") as file, matplotlib.rc_context({"svg.hashsalt": name}):
            figure.savefig(file, format=fmt, dpi=DPI, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths


def save_figure_as(figure: Figure, out: str | os.PathLike) -> list[Path]:
    """
    ``save_figure`` at a path without suffix, creating its directory.

    :param figure: a figure made with ``matplotlib.figure.Figure``
    :param out: output path without suffix; ``.png`` and ``.svg`` are written
    :return: the paths written
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, out.parent, out.name)


def _bands(ax: Axes, table: pd.DataFrame, x: str, y: str, styles: dict[str, dict[str, str]]) -> None:
    """One line per variant of ``table`` (``y`` against ``x``) with its band between the columns ``low`` and ``high``."""
    for variant, line in table.groupby("variant", sort=True):
        ax.plot(line[x], line[y], linewidth=1.8, label=variant, **styles[variant])
        ax.fill_between(line[x], line["low"], line["high"], color=styles[variant]["color"], alpha=0.2, linewidth=0)


def learning_curves(report: Report, out_dir: Path) -> list[Path]:
    """
    One panel per environment: IQM evaluation return across seeds per variant, with its confidence band.

    :param report: report with ``curves``
    :param out_dir: existing directory
    :return: paths of learning_curves.png and learning_curves.svg
    """
    curves = report.curves
    envs = sorted(curves["env_id"].unique())
    styles = _styles(list(curves["variant"].unique()))
    ncols = min(2, len(envs))
    nrows = math.ceil(len(envs) / ncols)
    panel_width = FIGURE_WIDTH / ncols
    figure = Figure(figsize=(FIGURE_WIDTH, 0.75 * panel_width * nrows + 0.9), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, env_id in zip(axes, envs, strict=False):
        env_curves = curves[curves["env_id"] == env_id]
        _bands(ax, env_curves, "timesteps", "iqm", styles)
        n_runs = env_curves.groupby("variant")["n_runs"].first()
        runs = f"{n_runs.min()}" if n_runs.min() == n_runs.max() else f"{n_runs.min()}-{n_runs.max()}"
        ax.set_title(f"{env_id} ({runs} runs per variant)")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return (mean over episodes)")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
    for ax in axes[len(envs) :]:
        ax.set_axis_off()
    handles = [Line2D([], [], linewidth=2.5, label=variant, **style) for variant, style in styles.items()]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False)
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(f"Learning curves: IQM across seeds, band = {confidence}% CI, {method_name(report.settings)}")
    return save_figure(figure, out_dir, "learning_curves")


def aggregate_intervals(report: Report, out_dir: Path) -> list[Path]:
    """
    IQM of the normalised final return and AUC per variant, pooled over environments, with confidence intervals.

    :param report: report with a non-empty ``aggregate``
    :param out_dir: existing directory
    :return: paths of aggregate_iqm.png and aggregate_iqm.svg
    """
    aggregate = report.aggregate.sort_values("variant", ascending=False).reset_index(drop=True)
    styles = _styles(list(aggregate["variant"]))
    figure = Figure(figsize=(FIGURE_WIDTH, 1.2 + 0.45 * len(aggregate)), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(aggregate))
    for ax, (metric, title) in zip(axes, (("final_return", "final return"), ("auc", "area under the curve")), strict=True):
        for i, row in aggregate.iterrows():
            low, point, high = row[f"{metric}_iqm_low"], row[f"{metric}_iqm"], row[f"{metric}_iqm_high"]
            ax.barh(y[i], high - low, left=low, height=0.6, color=styles[row["variant"]]["color"], alpha=0.55)
            ax.vlines(point, y[i] - 0.3, y[i] + 0.3, color="black", linewidth=2)
        for reference in (0.0, 1.0):
            ax.axvline(reference, color="grey", linestyle="--", linewidth=0.8, zorder=0)
        ax.set_title(f"IQM of normalised {title}")
        ax.set_xlabel("normalised score (random = 0, reference = 1)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [f"{v} ({n} envs)" for v, n in zip(aggregate["variant"], aggregate["n_envs"], strict=True)])
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(
        f"Aggregate over environments: IQM (black line) and {confidence}% CI (bar), {method_name(report.settings)}"
    )
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
            p, low, high = table.iloc[i, j], report.improvement_low.iloc[i, j], report.improvement_high.iloc[i, j]
            text = "–" if np.isnan(p) else f"{p:.2f}\n[{low:.2f}, {high:.2f}]"
            color = "white" if abs(p - 0.5) > 0.3 else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=min(9.0, 62.0 / n))
    ax.set_xticks(range(n), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(n), table.index)
    ax.set_xlabel("variant Y")
    ax.set_ylabel("variant X")
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    ax.set_title(
        f"Probability of improvement P(X > Y), [{confidence}% CI]\n(final return, averaged over environments; "
        "bootstrap over runs within environments)"
    )
    figure.colorbar(image, ax=ax, label="P(X > Y) + 0.5 P(X = Y)", shrink=0.85)
    return save_figure(figure, out_dir, "probability_of_improvement")


def _one_band_panel(table: pd.DataFrame, x: str, y: str, legend: str, labels: tuple[str, str]) -> tuple[Figure, Axes]:
    """
    A figure of one panel with ``_bands`` of every variant of ``table``, dashed lines at the normalised scores 0 and 1
    (vertical when ``x`` is a score, ``tau``), the axis ``labels``, a grid and a legend at ``legend``.
    """
    figure = Figure(figsize=(FIGURE_WIDTH, 0.55 * FIGURE_WIDTH), layout="constrained")
    ax = figure.subplots()
    _bands(ax, table, x, y, _styles(list(table["variant"].unique())))
    for reference in (0.0, 1.0):
        (ax.axvline if x == "tau" else ax.axhline)(reference, color="grey", linestyle="--", linewidth=0.8, zorder=0)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=9)
    return figure, ax


def performance_profiles(report: Report, out_dir: Path) -> list[Path]:
    """
    Performance profiles (rliable's run-score distributions): per variant, the fraction of runs whose normalised final
    return exceeds τ, against τ, with its stratified-bootstrap band.

    :param report: report with non-empty ``profiles``
    :param out_dir: existing directory
    :return: paths of performance_profiles.png and performance_profiles.svg
    """
    profiles = report.profiles
    labels = ("normalised final return τ (random = 0, reference = 1)", "fraction of runs with score > τ")
    figure, ax = _one_band_panel(profiles, "tau", "fraction", "upper right", labels)
    ax.set_ylim(-0.02, 1.02)
    envs = int(profiles["n_envs"].max())
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(f"Performance profiles over {envs} environments, band = {confidence}% stratified bootstrap CI")
    return save_figure(figure, out_dir, "performance_profiles")


def sample_efficiency_curves(report: Report, out_dir: Path) -> list[Path]:
    """
    Aggregate sample-efficiency curves: per variant, the IQM of the normalised returns of all environments pooled at
    each evaluation timestep, with its confidence band.

    :param report: report with non-empty ``aggregate_curves``
    :param out_dir: existing directory
    :return: paths of sample_efficiency.png and sample_efficiency.svg
    """
    curves = report.aggregate_curves
    labels = ("environment steps", "IQM of normalised evaluation return")
    figure, ax = _one_band_panel(curves, "timesteps", "iqm", "lower right", labels)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(
        f"Sample efficiency over {int(curves['n_envs'].max())} environments: IQM of normalised returns, "
        f"band = {confidence}% CI, {method_name(report.settings)}"
    )
    return save_figure(figure, out_dir, "sample_efficiency")


def _log_axis(hyperparameter: str, values: list[object]) -> bool:
    """A log axis for positive numbers that are a rate or span more than a factor of 10."""
    if not values or not all(is_number(value) and value > 0 for value in values):
        return False
    return hyperparameter.endswith("rate") or max(values) > 10 * min(values)


def _panels(n: int, ncols: int, panel_height: float) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of ``n`` panels in rows of ``ncols``, the unused axes switched off."""
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(FIGURE_WIDTH, panel_height * nrows + 0.9), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    return figure, axes[:n]


def _metric_name(report: SweepReport) -> str:
    return "final return" if report.settings.get("select") == "final" else "AUC"


def sensitivity_curves(report: SweepReport, out_dir: Path) -> list[Path]:
    """
    One panel per environment and swept hyperparameter: each variant's score against the value (``sweeps.sensitivity``:
    the best configuration with that value), IQM across the tuning seeds with its confidence band.

    The x axis is logarithmic for positive values of a rate (a key ending in ``rate``) or spanning more than a factor of
    10; values that are not numbers are placed in sorted order, evenly spaced.

    :param report: sweep report with a non-empty ``sensitivity``
    :param out_dir: existing directory
    :return: paths of sensitivity.png and sensitivity.svg
    """
    table = report.sensitivity
    panels = sorted(set(zip(table["env_id"], table["hyperparameter"], strict=True)))
    styles = _styles(list(report.configurations["variant"].unique()))
    ncols = min(3, table["hyperparameter"].nunique(), len(panels))
    figure, axes = _panels(len(panels), ncols, 0.75 * FIGURE_WIDTH / ncols)
    for ax, (env_id, hyperparameter) in zip(axes, panels, strict=True):
        panel = table[(table["env_id"] == env_id) & (table["hyperparameter"] == hyperparameter)]
        values = list(panel["value"])
        numeric = all(is_number(value) for value in values)
        ticks = sorted({str(value) for value in values})
        for variant, line in panel.groupby("variant", sort=True):
            x = line["value"].astype(float) if numeric else [ticks.index(str(value)) for value in line["value"]]
            ax.plot(x, line["score_iqm"], marker="o", linewidth=1.8, label=variant, **styles[variant])
            color = styles[variant]["color"]
            ax.fill_between(x, line["score_iqm_low"], line["score_iqm_high"], color=color, alpha=0.2, linewidth=0)
        if _log_axis(hyperparameter, values):
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(ticks)), ticks)
        ax.set_title(f"{env_id}: {hyperparameter}")
        ax.set_xlabel(hyperparameter)
        ax.set_ylabel(f"{_metric_name(report)} (IQM across seeds)")
        ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], linewidth=2.5, label=variant, **style)
        for variant, style in styles.items()
        if variant in set(table["variant"])
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False)
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(
        f"Sensitivity: best configuration at each value (tuning seeds), band = {confidence}% CI across seeds, "
        f"{method_name(report.settings)}"
    )
    return save_figure(figure, out_dir, "sensitivity")


def selection_bias_intervals(report: SweepReport, out_dir: Path) -> list[Path]:
    """
    One panel per environment: each winner's score on the tuning seeds that selected it (open marker) and on fresh
    seeds (filled marker), IQM with confidence intervals.

    :param report: sweep report with a non-empty ``selection_bias``
    :param out_dir: existing directory
    :return: paths of selection_bias.png and selection_bias.svg
    """
    table = report.selection_bias
    envs = sorted(table["env_id"].unique())
    styles = _styles(list(report.configurations["variant"].unique()))
    n_variants = table.groupby("env_id").size().max()
    figure, axes = _panels(len(envs), min(2, len(envs)), 0.9 + 0.5 * n_variants)
    for ax, env_id in zip(axes, envs, strict=True):
        panel = table[table["env_id"] == env_id].sort_values("variant", ascending=False).reset_index(drop=True)
        for i, row in panel.iterrows():
            color = styles[row["variant"]]["color"]
            for offset, stage, face in ((0.15, "tuning", "white"), (-0.15, "fresh", color)):
                ax.hlines(i + offset, row[f"{stage}_iqm_low"], row[f"{stage}_iqm_high"], color=color, linewidth=2)
                ax.plot(row[f"{stage}_iqm"], i + offset, "o", color=color, markerfacecolor=face, markersize=7)
        ax.set_yticks(range(len(panel)), panel["variant"])
        ax.set_title(env_id)
        ax.set_xlabel(f"{_metric_name(report)} (IQM across seeds)")
        ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="", label="tuning seeds"),
        Line2D([], [], color="black", marker="o", linestyle="", label="fresh seeds"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    figure.suptitle(f"Selection bias: each winner on the seeds that selected it and on fresh seeds ({confidence}% CI)")
    return save_figure(figure, out_dir, "selection_bias")


# The PPO paper's settings by family: one colour per family, shades by parameter (Table 1's grouping)
FAMILY_COLORS = {
    "no-clip": "#777777",
    "clip": "#0072B2",
    "adaptive-kl": "#009E73",
    "fixed-kl": "#E69F00",
    "logclip": "#D55E00",
}


def _family(setting: str) -> str:
    return next((family for family in sorted(FAMILY_COLORS, key=len, reverse=True) if setting.startswith(family)), "")


def table1_scores(report: Table1Report, out_dir: Path) -> list[Path]:
    """
    Each setting's Table-1 score with its confidence interval (bar), beside the paper's score (black diamond).

    :param report: a report built by ``analysis.paper.build_table1``
    :param out_dir: existing directory
    :return: paths of table1_scores.png and table1_scores.svg
    """
    table = report.table1.iloc[::-1].reset_index(drop=True)
    figure = Figure(figsize=(FIGURE_WIDTH, 1.2 + 0.4 * len(table)), layout="constrained")
    ax = figure.subplots()
    y = np.arange(len(table))
    for i, row in table.iterrows():
        color = FAMILY_COLORS.get(_family(row["setting"]), PALETTE[6])
        ax.barh(y[i], row["score_high"] - row["score_low"], left=row["score_low"], height=0.6, color=color, alpha=0.55)
        ax.vlines(row["score"], y[i] - 0.3, y[i] + 0.3, color=color, linewidth=2.5)
        if not math.isnan(row["paper_score"]):
            ax.plot(row["paper_score"], y[i], marker="D", color="black", markersize=6, linestyle="none")
        if not math.isnan(row["score_fixed"]):
            ax.plot(row["score_fixed"], y[i], marker="o", color=color, markerfacecolor="white", markersize=6, linestyle="none")
    for reference in (0.0, 1.0):
        ax.axvline(reference, color="grey", linestyle="--", linewidth=0.8, zorder=0)
    ax.set_yticks(y, table["setting"])
    ax.set_xlabel("normalised score (random policy = 0, best setting of each task = 1), mean over tasks and seeds")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color="grey", linewidth=6, alpha=0.55, label=f"ours, {round(100 * report.settings['confidence'])}% CI"),
        Line2D([], [], color="black", marker="D", linestyle="none", label="the paper's Table 1"),
    ]
    if report.settings.get("reference") is not None:
        reference = report.settings["reference"]
        handles.append(
            Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="none", label=f"ours, {reference} = 1")
        )
    ax.legend(handles=handles, loc="lower right", fontsize=9)
    figure.suptitle(f"Table 1 scores on {', '.join(report.settings['tasks'])}")
    return save_figure(figure, out_dir, "table1_scores")


def table1_curves(report: Table1Report, out_dir: Path) -> list[Path]:
    """
    Training-episode returns per task in the manner of the paper's Figure 3: one panel per task, one line per setting
    (the mean over seeds of the mean return of the episodes ending in each span of the budget).

    :param report: a report built by ``analysis.paper.build_table1``
    :param out_dir: existing directory
    :return: paths of table1_curves.png and table1_curves.svg
    """
    curves = report.curves
    tasks = sorted(curves["env_id"].unique())
    settings = list(report.table1["setting"])
    ncols = min(2, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    figure = Figure(figsize=(FIGURE_WIDTH, 0.75 * FIGURE_WIDTH / ncols * nrows + 1.4), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    styles = ("-", "--", ":", "-.")
    handles = {}
    for ax, task in zip(axes, tasks, strict=False):
        for setting, curve in curves[curves["env_id"] == task].groupby("setting", sort=False):
            family = _family(setting)
            rank = [name for name in settings if _family(name) == family].index(setting)
            color = FAMILY_COLORS.get(family, PALETTE[6])
            (line,) = ax.plot(curve["timesteps"], curve["mean_return"], color=color, linestyle=styles[rank % 4], label=setting)
            handles[setting] = line
        ax.set_title(task)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("training episode return")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
    for ax in axes[len(tasks) :]:
        ax.set_axis_off()
    ordered = [handles[name] for name in settings if name in handles]
    figure.legend(handles=ordered, loc="outside lower center", ncols=min(len(ordered), 5), frameon=False, fontsize=8)
    figure.suptitle("Training episodes: mean return over seeds (the manner of the PPO paper's Figure 3)")
    return save_figure(figure, out_dir, "table1_curves")


def make_figures(report: ReportKind, out_dir: str | os.PathLike) -> list[Path]:
    """
    Write the figures of a report of any kind into ``out_dir`` (created if needed), each as PNG and SVG: those its
    document lists (``Document.figures``, the figures that have data), each drawn by the function of this module it
    names. For a report of ``build_report`` they are ``learning_curves`` (needs ``curve_resamples > 0``),
    ``aggregate_iqm``, ``performance_profiles`` and ``sample_efficiency`` (need an environment with reference scores)
    and ``probability_of_improvement``; a sweep report
    adds ``sensitivity`` and ``selection_bias``; a Table-1 report has ``table1_scores`` and ``table1_curves``.

    :param report: a report built by ``build_report``, ``build_sweep_report`` or ``analysis.paper.build_table1``
    :param out_dir: output directory
    :return: paths of the files written
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawers = globals()
    return [path for figure in report.document().figures for path in drawers[figure.draw](figure.data, out_dir)]
