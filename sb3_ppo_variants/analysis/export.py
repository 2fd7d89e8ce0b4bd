"""
Export a ``Report`` as Markdown, CSV, LaTeX or JSON text, without optional pandas dependencies
(``tabulate``, ``jinja2``).
"""

import io
import json
import math

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.data import FORMATS, Report
from sb3_ppo_variants.records import STATUSES

ERROR_WIDTH = 100


def _number(value: object) -> str:
    """Short human-readable number: thousands separators for counts and timesteps, 3-4 significant digits otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == int(x) and abs(x) < 1e7:
        return f"{int(x):,}"
    if abs(x) >= 1e6 or abs(x) < 1e-3:
        return f"{x:.2e}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def _interval(row: pd.Series, name: str, summary: str = "iqm") -> str:
    if name + "_" + summary not in row or pd.isna(row[f"{name}_{summary}"]):
        return "–"
    low, high = _number(row[f"{name}_{summary}_low"]), _number(row[f"{name}_{summary}_high"])
    return f"{_number(row[f'{name}_{summary}'])} [{low}, {high}]"


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    return table[name] if name in table else pd.Series(math.nan, index=table.index)


def tables(report: Report) -> list[tuple[str, str, pd.DataFrame]]:
    """
    The human-readable tables of the report, cells formatted as text (used by the Markdown and LaTeX writers).

    :param report: the report
    :return: ``(title, note, table)`` triples; the table's columns are its header
    """
    settings = report.settings
    confidence = round(100 * float(settings.get("confidence", 0.95)))
    per_env = report.per_env
    keys = {"environment": per_env["env_id"], "variant": per_env["variant"]}
    runs = pd.DataFrame(
        keys | {"runs": per_env["n_runs"].map(_number)} | {s: per_env[f"n_{s}"].map(_number) for s in STATUSES}
    )
    rows = list(per_env.iterrows())
    efficiency = pd.DataFrame(
        keys
        | {
            "final return": [_interval(row, "final_return") for _, row in rows],
            "AUC": [_interval(row, "auc") for _, row in rows],
            "threshold": _column(per_env, "threshold").map(_number),
            "steps to threshold (median)": _column(per_env, "steps_to_threshold_median").map(_number),
            "reached": [
                "–" if pd.isna(reached) else f"{int(reached)}/{ok + div}"
                for reached, ok, div in zip(_column(per_env, "n_reached"), per_env["n_ok"], per_env["n_diverged"], strict=True)
            ],
        }
    )
    alpha = round(100 * float(settings.get("cvar_alpha", 0.25)))
    stability = pd.DataFrame(
        keys
        | {
            "max drawdown": [_interval(row, "max_drawdown") for _, row in rows],
            "within-run IQR": [_interval(row, "within_run_dispersion") for _, row in rows],
            "seed IQR": _column(per_env, "final_return_seed_iqr").map(_number),
            f"CVaR {alpha}%": _column(per_env, "final_return_lower_cvar").map(_number),
            "ratio max (median / worst)": [
                f"{_number(median)} / {_number(worst)}"
                for median, worst in zip(
                    _column(per_env, "ratio_max_median"), _column(per_env, "ratio_max_worst"), strict=True
                )
            ],
            "KL max (median)": _column(per_env, "approx_kl_max_median").map(_number),
            f"KL > {settings.get('kl_threshold', '?')} per run": _column(per_env, "kl_spikes_mean").map(_number),
        }
    )
    aggregate = report.aggregate
    aggregate_rows = list(aggregate.iterrows())
    aggregate_table = pd.DataFrame(
        {
            "variant": aggregate["variant"],
            "environments": aggregate["environments"],
            "runs": aggregate["n_runs"].map(_number),
            "final return IQM": [_interval(row, "final_return") for _, row in aggregate_rows],
            "final return mean": [_interval(row, "final_return", "mean") for _, row in aggregate_rows],
            "final return median": [_interval(row, "final_return", "median") for _, row in aggregate_rows],
            "final return optimality gap": [_interval(row, "final_return", "optimality_gap") for _, row in aggregate_rows],
            "AUC IQM": [_interval(row, "auc") for _, row in aggregate_rows],
        }
    )
    improvement = report.improvement.map(lambda p: "–" if pd.isna(p) else f"{p:.2f}")
    improvement.insert(0, "P(row > column)", improvement.index)
    problems = report.problems
    problems_table = pd.DataFrame(
        {
            "run": problems["run_id"],
            "status": problems["status"],
            "diverged at update": problems["diverged_at_update"].map(_number),
            "error": problems["error"].map(_error),
        }
    )
    cells = f"IQM [{confidence}% CI] across seeds"
    return [
        (
            "Runs",
            "Counts by status. Only ok and diverged runs enter the metrics; failed, corrupt and incomplete runs are only "
            "counted.",
            runs,
        ),
        (
            "Sample efficiency",
            f"{cells}. Final return: mean of the last {settings.get('final_k')} evaluations; AUC: mean return over all "
            "evaluation points; steps to threshold: median across seeds, ∞ unless more than half of the seeds reach it "
            "(with an even number of seeds, exactly half reaching it gives ∞).",
            efficiency,
        ),
        (
            "Stability",
            f"Max drawdown (largest drop below the running best) and within-run IQR (of successive differences): {cells}. "
            f"Seed IQR and CVaR {alpha}% (mean of the worst {alpha}% of seeds) of the final return. "
            "Ratio and KL maxima over the updates of each run (train.csv).",
            stability,
        ),
        (
            "Aggregate over environments",
            "Normalised scores (random policy = 0, reference = 1, see sb3_ppo_variants.analysis.references) over the "
            "listed environments, aggregated as rliable does: IQM of the runs of all environments pooled; mean and median "
            "of the per-environment means; optimality gap = mean over environments of the mean shortfall below 1, "
            "max(1 - score, 0) (lower is better). Mean, median and optimality gap weigh each environment the same "
            f"whatever its number of runs. {confidence}% CI from a bootstrap stratified by environment.",
            aggregate_table,
        ),
        (
            "Probability of improvement",
            "P(final return of the row variant > that of the column variant) + 0.5 P(equal), averaged over environments.",
            improvement.reset_index(drop=True),
        ),
        ("Runs not ok", "Diverged, failed, corrupt and incomplete runs.", problems_table),
    ]


def _error(error: object) -> str:
    if error is None or (isinstance(error, float) and math.isnan(error)):
        return "–"
    text = " ".join(str(error).split())
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"


def _header(report: Report) -> str:
    settings = report.settings
    return (
        f"Diverged runs: {settings.get('diverged')} (see sb3_ppo_variants.analysis.report). Bootstrap: "
        f"{settings.get('n_resamples')} resamples, seed {settings.get('seed')}."
    )


def _markdown_cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    """
    Write the report's tables as Markdown.

    :param report: the report
    :return: the tables as GitHub-flavoured Markdown
    """
    lines = ["# Report", "", _header(report)]
    for title, note, table in tables(report):
        lines += ["", f"## {title}", "", note, ""]
        lines.append("| " + " | ".join(_markdown_cell(c) for c in table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in table.itertuples(index=False)]
        if table.empty:
            lines.append("")
            lines.append("(none)")
    return "\n".join(lines) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "∞": r"$\infty$",
    "–": "--",
    "…": r"\ldots{}",
}


def _latex(text: object) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def to_latex(report: Report) -> str:
    """
    Write the report's tables as LaTeX.

    :param report: the report
    :return: one ``table`` environment per table, using ``booktabs`` rules (``\\usepackage{booktabs}``)
    """
    blocks = [f"% {_header(report)}"]
    for title, note, table in tables(report):
        lines = [
            r"\begin{table}[htbp]",
            r"\centering",
            rf"\caption{{{_latex(title)}. {_latex(note)}}}",
            rf"\begin{{tabular}}{{{'l' * len(table.columns)}}}",
            r"\toprule",
            " & ".join(_latex(c) for c in table.columns) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(_latex(cell) for cell in row) + r" \\" for row in table.itertuples(index=False)]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def to_csv(report: Report) -> str:
    """
    Write all numbers of the report in one tidy CSV.

    The columns are ``table, env_id, variant, run_id, statistic, value``: ``per_env`` rows (one per statistic of
    ``Report.per_env``), ``aggregate`` rows (``env_id`` = ``all``), ``improvement`` rows (``statistic`` =
    ``P(> <other variant>)``) and ``problems`` rows (one per non-ok run and field).

    :param report: the report
    :return: the CSV text
    """
    per_env = report.per_env.melt(id_vars=["env_id", "variant"], var_name="statistic").assign(table="per_env")
    aggregate = report.aggregate.melt(id_vars=["variant"], var_name="statistic").assign(table="aggregate", env_id="all")
    improvement = (
        report.improvement.rename(columns=lambda other: f"P(> {other})")
        .reset_index()
        .melt(id_vars=["variant"], var_name="statistic")
        .assign(table="improvement", env_id="all")
    )
    problems = report.problems.melt(id_vars=["run_id", "env_id", "variant"], var_name="statistic").assign(table="problems")
    columns = ["table", "env_id", "variant", "run_id", "statistic", "value"]
    tidy = pd.concat(
        [frame.astype({"value": object}) for frame in (per_env, aggregate, improvement, problems)], ignore_index=True
    )
    buffer = io.StringIO()
    tidy.reindex(columns=columns).to_csv(buffer, index=False)
    return buffer.getvalue()


def _plain(value: object) -> object:
    """JSON-safe value: NaN and None become null, infinities the strings "inf" / "-inf", numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def to_json(report: Report) -> str:
    """
    Write the report's tables, curves and settings as strict JSON.

    :param report: the report
    :return: a JSON object with ``settings``, ``per_env``, ``aggregate`` and ``problems`` (lists of row objects),
        ``improvement`` (``{row variant: {column variant: probability}}``) and ``curves`` (list of points); NaN is
        written as null and infinities as the strings ``"inf"`` / ``"-inf"`` so that the output is strict JSON
    """
    content = {
        "settings": report.settings,
        "per_env": report.per_env.to_dict(orient="records"),
        "aggregate": report.aggregate.to_dict(orient="records"),
        "improvement": report.improvement.to_dict(orient="index"),
        "problems": report.problems.to_dict(orient="records"),
        "curves": report.curves.to_dict(orient="records"),
    }
    return json.dumps(_plain(content), indent=2, allow_nan=False) + "\n"


def render(report: Report, fmt: str) -> str:
    """
    Write the report as text in one of ``FORMATS``.

    :param report: the report
    :param fmt: one of ``md``, ``csv``, ``latex``, ``json``
    :return: the report as text in that format
    """
    writers = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json}
    if fmt not in writers:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    return writers[fmt](report)
