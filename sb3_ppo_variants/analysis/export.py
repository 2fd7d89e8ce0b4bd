"""
Export a ``Report``, a ``SweepReport`` or a ``Table1Report`` as Markdown, CSV, LaTeX or JSON text, without optional
pandas dependencies (``tabulate``, ``jinja2``). One writer per format serves every kind of report; each kind gives its
text tables (``tables``, ``sweep_tables``, ``table1_tables``), its tidy rows and its JSON content.
"""

import io
import json
import math

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.data import FORMATS, Report, SweepReport, Table1Report
from sb3_ppo_variants.records import MISSING, STATUSES

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


def _bounded(row: pd.Series, column: str) -> str:
    """A point estimate with its interval, from the columns ``column``, ``column_low`` and ``column_high``."""
    if column not in row or pd.isna(row[column]):
        return "–"
    return f"{_number(row[column])} [{_number(row[f'{column}_low'])}, {_number(row[f'{column}_high'])}]"


def _interval(row: pd.Series, name: str, summary: str = "iqm") -> str:
    return _bounded(row, f"{name}_{summary}")


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
        keys
        | {"runs": per_env["n_runs"].map(_number)}
        | {s: per_env[f"n_{s}"].map(_number) for s in (*STATUSES, MISSING) if f"n_{s}" in per_env}
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
            "counted" + (", and missing ones (planned, never started)." if f"n_{MISSING}" in per_env else "."),
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


def _setting(value: object) -> str:
    """A swept value as written in a label: ``0.0001``, ``3e-05``, ``64``, ``tanh``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _runs(n_runs: object, n_excluded: object) -> str:
    return f"{_number(n_runs)} (+{_number(n_excluded)} excluded)" if n_excluded else _number(n_runs)


Table = tuple[str, str, pd.DataFrame]


def _metric(settings: dict[str, object]) -> str:
    if settings.get("select") == "final":
        return f"final return (mean of the last {settings.get('final_k')} evaluations)"
    return "AUC (mean evaluation return over all evaluation points)"


def _cells(settings: dict[str, object]) -> str:
    """What a cell with an interval holds."""
    return f"IQM [{round(100 * float(settings.get('confidence', 0.95)))}% CI] across seeds of the {_metric(settings)}"


def _selection_table(report: SweepReport) -> Table:
    selection = report.selection
    table = pd.DataFrame(
        {
            "environment": selection["env_id"],
            "variant": selection["variant"],
            "selected configuration": selection["label"],
            "tuning score": selection["tuning_score"].map(_number),
            "tuning runs": [_runs(n, x) for n, x in zip(selection["n_runs"], selection["n_excluded"], strict=True)],
            "configurations": selection["n_configs"].map(_number),
        }
    )
    note = (
        f"Per environment and variant, the configuration with the highest IQM across its tuning seeds of the "
        f"{_metric(report.settings)}; ties broken by the higher mean, then by the first label in sorted order. Failed "
        "and incomplete runs are excluded from the scores."
    )
    return "Selection", note, table


def _selection_bias_table(report: SweepReport) -> Table:
    bias = report.selection_bias
    rows = list(bias.iterrows())
    table = pd.DataFrame(
        {
            "environment": bias["env_id"],
            "variant": bias["variant"],
            "configuration": bias["label"],
            "tuning seeds": [_bounded(row, "tuning_iqm") for _, row in rows],
            "tuning runs": bias["n_tuning_runs"].map(_number),
            "fresh seeds": [_bounded(row, "fresh_iqm") for _, row in rows],
            "fresh runs": bias["n_fresh_runs"].map(_number),
            "tuning − fresh": [_bounded(row, "bias") for _, row in rows],
        }
    )
    note = (
        f"{_cells(report.settings)}: each winner on the tuning seeds that selected it and on fresh seeds (the evaluation "
        "stage), and the difference (positive: the tuning score was optimistic). The interval of the difference "
        "resamples both sets of runs independently."
    )
    return "Selection bias", note, table


def _sensitivity_table(report: SweepReport) -> Table:
    profile = report.sensitivity
    table = pd.DataFrame(
        {
            "environment": profile["env_id"],
            "hyperparameter": profile["hyperparameter"],
            "variant": profile["variant"],
            "value": profile["value"].map(_setting),
            "best configuration": profile["label"],
            "configurations": profile["n_configs"].map(_number),
            "runs": profile["n_runs"].map(_number),
            "score": [_bounded(row, "score_iqm") for _, row in profile.iterrows()],
        }
    )
    note = (
        f"{_cells(report.settings)}, on the tuning seeds. For each value of a hyperparameter, the best configuration "
        "among those with that value (the other swept hyperparameters at their best, so the profile is as optimistic as "
        "a selection)."
    )
    return "Sensitivity", note, table


def _robustness_table(report: SweepReport) -> Table:
    robust = report.robustness
    rows = list(robust.iterrows())
    table = pd.DataFrame(
        {
            "environment": robust["env_id"],
            "variant": robust["variant"],
            "configurations": robust["n_configs"].map(_number),
            "95th percentile": [_bounded(row, "p95") for _, row in rows],
            "fraction within 10% of the best": [_bounded(row, "fraction_near_best") for _, row in rows],
            "best": [_bounded(row, "best") for _, row in rows],
        }
    )
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    note = (
        "Configuration scores (IQM across the tuning seeds) normalised per environment: random policy = 0, best "
        "configuration of any variant = 1. Per variant over its configurations: the 95th percentile (linear "
        "interpolation), the fraction of configurations within 10% of the best (normalised score ≥ 0.9) and its best "
        f"configuration, as in Andrychowicz et al. 2021. {confidence}% CI from a bootstrap of the seeds within each "
        "configuration, the normalisation recomputed."
    )
    return "Robustness across hyperparameters", note, table


def _configurations_table(report: SweepReport) -> Table:
    configurations = report.configurations
    table = pd.DataFrame(
        {
            "environment": configurations["env_id"],
            "variant": configurations["variant"],
            "configuration": configurations["label"],
            "runs": [_runs(n, x) for n, x in zip(configurations["n_runs"], configurations["n_excluded"], strict=True)],
            "score": [_interval(row, "score") for _, row in configurations.iterrows()],
            "mean": configurations["score_mean"].map(_number),
        }
    )
    return "Configurations", f"Every configuration on the tuning seeds: {_cells(report.settings)}.", table


def sweep_tables(report: SweepReport) -> list[Table]:
    """
    The human-readable tables of a sweep report, cells formatted as text (used by the Markdown and LaTeX writers):
    the evaluation stage's tables (``tables``), then selection, selection bias, sensitivity, robustness and every
    configuration.

    :param report: the sweep report
    :return: ``(title, note, table)`` triples; the table's columns are its header
    """
    headline = [
        (f"Evaluation seeds: {title}", f"The winners on fresh seeds (the evaluation stage). {note}", table)
        for title, note, table in tables(report.evaluation)
    ]
    builders = (_selection_table, _selection_bias_table, _sensitivity_table, _robustness_table, _configurations_table)
    return headline + [build(report) for build in builders]


def table1_tables(report: Table1Report) -> list[Table]:
    """
    The text tables of a ``Table1Report``: Table 1 in the paper's layout, the raw per-task scores, the runs not scored in
    full.

    :param report: the report
    :return: ``(title, note, table)`` triples
    """
    confidence = round(100 * float(report.settings.get("confidence", 0.95)))
    table1 = report.table1
    rows = list(table1.iterrows())
    main = pd.DataFrame(
        {
            "setting": table1["setting"],
            "the paper's name": table1["paper_label"].map(lambda label: label or "(not in the paper)"),
            f"our score [{confidence}% CI]": [
                f"{_number(row['score'])} [{_number(row['score_low'])}, {_number(row['score_high'])}]" for _, row in rows
            ],
            "the paper's score": table1["paper_score"].map(_number),
            "tasks": table1["n_tasks"].map(_number),
            "runs": table1["n_runs"].map(_number),
        }
    )
    per_task = report.per_task
    raw = pd.DataFrame(
        {
            "task": per_task["env_id"],
            "setting": per_task["setting"],
            "last-100 return (mean ± std over seeds)": [
                f"{_number(mean)} ± {_number(std)}" for mean, std in zip(per_task["mean"], per_task["std"], strict=True)
            ],
            "normalised": per_task["normalised"].map(_number),
            "random policy": per_task["random_score"].map(_number),
            "best": per_task["best"].map(lambda best: "best = 1" if best else ""),
        }
    )
    problems = report.problems.rename(columns={"run_id": "run", "env_id": "task"})[["run", "problem"]]
    return [
        (
            "Table 1",
            "The PPO paper's Table 1 layout: per setting, the mean over tasks of the mean normalised score of its runs "
            f"(random policy 0, best setting of the task 1), with a {confidence}% bootstrap CI stratified by task, beside "
            "the paper's (7 MuJoCo-v1 tasks x 3 seeds, 1M steps).",
            main,
        ),
        ("Per-task returns", "Mean return of the last training episodes of each run: mean and std over seeds.", raw),
        (
            "Runs not scored in full",
            "Runs left out, diverged, or with fewer training episodes than the score averages.",
            problems,
        ),
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


def _sweep_header(report: SweepReport) -> str:
    settings = report.settings
    return (
        f"Tune directory: {settings.get('n_tuning_runs')} runs in the tuning stage, {settings.get('n_evaluation_runs')} in "
        f"the evaluation stage; selection metric: {_metric(settings)}. {_header(report.evaluation)}"
    )


def _table1_header(report: Table1Report) -> str:
    settings = report.settings
    return (
        f"Scored as the PPO paper's Table 1: per run, the mean return of its last {settings.get('n_last')} training "
        "episodes; per task, the random policy's mean return is 0 and the best setting's mean over seeds is 1. Tasks: "
        f"{', '.join(settings.get('tasks', []))}. Bootstrap: {settings.get('n_resamples')} resamples, "
        f"seed {settings.get('seed')}."
        + "".join(
            f" {task} is left out of the scores: {reason}, so its scale would be undefined or reversed."
            for task, reason in settings.get("unscaled_tasks", {}).items()
        )
        + (
            f" Not tasks of the paper (its seven MuJoCo tasks): {', '.join(settings['tasks_not_in_paper'])}; the paper's "
            "scores are not comparable with ours there."
            if settings.get("tasks_not_in_paper")
            else ""
        )
    )


def _document(report: Report | SweepReport | Table1Report) -> tuple[str, str, list[tuple[str, str, pd.DataFrame]]]:
    """The title, the header line and the text tables of a report of any kind."""
    if isinstance(report, Table1Report):
        return "The PPO paper's Table 1", _table1_header(report), table1_tables(report)
    if isinstance(report, SweepReport):
        return "Sweep report", _sweep_header(report), sweep_tables(report)
    return "Report", _header(report), tables(report)


def _markdown_cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(report: Report | SweepReport | Table1Report) -> str:
    """
    Write the report's tables as Markdown.

    :param report: the report
    :return: the tables as GitHub-flavoured Markdown
    """
    title, header, parts = _document(report)
    lines = [f"# {title}", "", header]
    for title, note, table in parts:
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


def to_latex(report: Report | SweepReport | Table1Report) -> str:
    """
    Write the report's tables as LaTeX.

    :param report: the report
    :return: one ``table`` environment per table, using ``booktabs`` rules (``\\usepackage{booktabs}``)
    """
    _, header, parts = _document(report)
    blocks = [f"% {header}"]
    for title, note, table in parts:
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


CSV_COLUMNS = ["table", "env_id", "variant", "run_id", "statistic", "value"]
SWEEP_CSV_COLUMNS = [
    "table",
    "env_id",
    "variant",
    "config_id",
    "label",
    "hyperparameter",
    "hyperparameter_value",
    "run_id",
    "statistic",
    "value",
]


def _tidy(report: Report) -> pd.DataFrame:
    """The rows of ``to_csv`` for a ``Report``."""
    per_env = report.per_env.melt(id_vars=["env_id", "variant"], var_name="statistic").assign(table="per_env")
    aggregate = report.aggregate.melt(id_vars=["variant"], var_name="statistic").assign(table="aggregate", env_id="all")
    improvement = (
        report.improvement.rename(columns=lambda other: f"P(> {other})")
        .reset_index()
        .melt(id_vars=["variant"], var_name="statistic")
        .assign(table="improvement", env_id="all")
    )
    problems = report.problems.melt(id_vars=["run_id", "env_id", "variant"], var_name="statistic").assign(table="problems")
    return pd.concat(
        [frame.astype({"value": object}) for frame in (per_env, aggregate, improvement, problems)], ignore_index=True
    )


def _sweep_rows(name: str, frame: pd.DataFrame, id_vars: list[str]) -> pd.DataFrame:
    """Rows of one table of a sweep report; swept values become the statistics ``sweep.<key>``."""
    wide = frame.drop(columns=["sweep", "hyperparameters"], errors="ignore")
    if "sweep" in frame:
        wide = wide.join(pd.DataFrame(list(frame["sweep"]), index=frame.index).add_prefix("sweep."))
    return wide.melt(id_vars=id_vars, var_name="statistic").astype({"value": object}).assign(table=name)


def _sweep_tidy(report: SweepReport) -> pd.DataFrame:
    """The rows of ``to_csv`` for a ``SweepReport``."""
    ids = ["env_id", "variant", "config_id", "label"]
    sensitivity = report.sensitivity.rename(columns={"value": "hyperparameter_value"})
    parts = [
        _tidy(report.evaluation),
        _sweep_rows("selection", report.selection, ids),
        _sweep_rows("selection_bias", report.selection_bias, ids),
        _sweep_rows("sensitivity", sensitivity, [*ids, "hyperparameter", "hyperparameter_value"]),
        _sweep_rows("robustness", report.robustness, ids[:2]),
        _sweep_rows("configurations", report.configurations, ids),
    ]
    return pd.concat(parts, ignore_index=True)


TABLE1_CSV_COLUMNS = ["table", "env_id", "setting", "run_id", "statistic", "value"]


def _table1_tidy(report: Table1Report) -> pd.DataFrame:
    """The rows of ``to_csv`` for a ``Table1Report``."""
    parts = [
        report.table1.melt(id_vars=["setting"], var_name="statistic").assign(table="table1", env_id="all"),
        report.per_task.melt(id_vars=["env_id", "setting"], var_name="statistic").assign(table="per_task"),
        report.problems.melt(id_vars=["run_id", "env_id", "setting"], var_name="statistic").assign(table="problems"),
    ]
    return pd.concat([part.astype({"value": object}) for part in parts], ignore_index=True)


def to_csv(report: Report | SweepReport | Table1Report) -> str:
    """
    Write all numbers of the report in one tidy CSV.

    For a ``Report`` the columns are ``table, env_id, variant, run_id, statistic, value``: ``per_env`` rows (one per
    statistic of ``Report.per_env``), ``aggregate`` rows (``env_id`` = ``all``), ``improvement`` rows (``statistic`` =
    ``P(> <other variant>)``) and ``problems`` rows (one per non-ok run and field). For a ``SweepReport`` the columns
    are ``table, env_id, variant, config_id, label, hyperparameter, hyperparameter_value, run_id, statistic, value``:
    the rows of its evaluation stage's report, then one row per statistic of each row of ``selection``,
    ``selection_bias``, ``sensitivity``, ``robustness`` and ``configurations`` (the ``table``), the swept values as
    the statistics ``sweep.<key>`` (the resolved hyperparameters are in the JSON export).

    :param report: the report
    :return: the CSV text
    """
    if isinstance(report, Table1Report):
        tidy, columns = _table1_tidy(report), TABLE1_CSV_COLUMNS
    elif isinstance(report, SweepReport):
        tidy, columns = _sweep_tidy(report), SWEEP_CSV_COLUMNS
    else:
        tidy, columns = _tidy(report), CSV_COLUMNS
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


def _content(report: Report) -> dict[str, object]:
    return {
        "settings": report.settings,
        "per_env": report.per_env.to_dict(orient="records"),
        "aggregate": report.aggregate.to_dict(orient="records"),
        "improvement": report.improvement.to_dict(orient="index"),
        "problems": report.problems.to_dict(orient="records"),
        "curves": report.curves.to_dict(orient="records"),
    }


def _sweep_content(report: SweepReport) -> dict[str, object]:
    names = ("selection", "selection_bias", "sensitivity", "robustness", "configurations")
    return {"settings": report.settings, "evaluation": _content(report.evaluation)} | {
        name: getattr(report, name).to_dict(orient="records") for name in names
    }


def to_json(report: Report | SweepReport | Table1Report) -> str:
    """
    Write the report's tables, curves and settings as strict JSON.

    :param report: the report
    :return: for a ``Report``, a JSON object with ``settings``, ``per_env``, ``aggregate`` and ``problems`` (lists of
        row objects), ``improvement`` (``{row variant: {column variant: probability}}``) and ``curves`` (list of
        points); for a ``SweepReport``, one with ``settings``, ``evaluation`` (its evaluation stage's report, as
        above) and ``selection``, ``selection_bias``, ``sensitivity``, ``robustness`` and ``configurations`` (lists of
        row objects, with the swept values and resolved hyperparameters as objects). NaN is written as null and
        infinities as the strings ``"inf"`` / ``"-inf"`` so that the output is strict JSON
    """
    if isinstance(report, Table1Report):
        names = ("table1", "per_task", "problems", "curves")
        content = {"settings": report.settings} | {name: getattr(report, name).to_dict(orient="records") for name in names}
    else:
        content = _sweep_content(report) if isinstance(report, SweepReport) else _content(report)
    return json.dumps(_plain(content), indent=2, allow_nan=False) + "\n"


def render(report: Report | SweepReport | Table1Report, fmt: str) -> str:
    """
    Write the report as text in one of ``FORMATS``.

    :param report: the report, of either kind
    :param fmt: one of ``md``, ``csv``, ``latex``, ``json``
    :return: the report as text in that format
    """
    writers = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json}
    if fmt not in writers:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    return writers[fmt](report)
