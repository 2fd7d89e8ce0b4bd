"""
The writers: a report as Markdown, CSV, LaTeX or JSON text, without optional pandas dependencies (``tabulate``,
``jinja2``). Each writer renders the report's ``Document`` (``sb3_ppo_variants.analysis.document``) and never asks
which kind of report it is.
"""

import io
import json
import math

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.document import Document, ReportKind


def _markdown_cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(document: Document) -> str:
    """
    Write a document's tables as Markdown.

    :param document: the report's document
    :return: the tables as GitHub-flavoured Markdown
    """
    lines = [f"# {document.title}", "", document.header]
    for title, note, table in document.tables:
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


def to_latex(document: Document) -> str:
    """
    Write a document's tables as LaTeX.

    :param document: the report's document
    :return: one ``table`` environment per table, using ``booktabs`` rules (``\\usepackage{booktabs}``)
    """
    blocks = [f"% {document.header}"]
    for title, note, table in document.tables:
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


def to_csv(document: Document) -> str:
    """
    Write every number of a document in one tidy CSV: one row per number, in the report's tidy columns (each report
    kind documents its own: ``report.TIDY_COLUMNS``, ``sweep_report.TIDY_COLUMNS``, ``paper.TIDY_COLUMNS``).

    :param document: the report's document
    :return: the CSV text
    """
    buffer = io.StringIO()
    document.tidy.to_csv(buffer, index=False)
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


def to_json(document: Document) -> str:
    """
    Write a document's content (tables as lists of row objects, curves, settings) as strict JSON.

    :param document: the report's document
    :return: the JSON text; NaN is written as null and infinities as the strings ``"inf"`` / ``"-inf"``, so that the
        output is strict JSON
    """
    return json.dumps(_plain(document.content), indent=2, allow_nan=False) + "\n"


WRITERS = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json}
FORMATS = tuple(WRITERS)


def render(report: ReportKind, fmt: str) -> str:
    """
    Write a report of any kind as text in one of ``FORMATS``.

    :param report: a report (``build_report``, ``build_sweep_report``, ``paper.build_table1``)
    :param fmt: one of ``md``, ``csv``, ``latex``, ``json``
    :return: the report as text in that format
    """
    if fmt not in WRITERS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    return WRITERS[fmt](report.document())
