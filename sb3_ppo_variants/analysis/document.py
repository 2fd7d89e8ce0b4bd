"""
The one shape of every report: a ``Document`` (title, header, text tables, tidy rows, JSON content, figures) that the
writers of ``sb3_ppo_variants.analysis.export`` and ``plots.make_figures`` render without knowing the report's kind.
Each report kind (``report.Report``, ``sweep_report.SweepReport``, ``paper.Table1Report``) builds its own.
"""

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import pandas as pd


class TextTable(NamedTuple):
    """
    One human-readable table of a document, cells formatted as text.

    :param title: the table's title
    :param note: what its cells hold
    :param table: the cells; its columns are the header
    """

    title: str
    note: str
    table: pd.DataFrame


class FigureSpec(NamedTuple):
    """
    One figure of a document: the name of a drawing function of ``sb3_ppo_variants.analysis.plots`` and its argument.

    The name keeps matplotlib out of the import of a report: it is imported only when the figures are drawn.

    :param draw: name of the function, called as ``draw(data, out_dir)``
    :param data: its argument (the report, or the part of it the figure shows)
    """

    draw: str
    data: object


@dataclass(frozen=True)
class Document:
    """
    A report as the writers see it.

    :param title: the title (Markdown heading)
    :param header: one paragraph on how the report was computed
    :param tables: the text tables (Markdown, LaTeX)
    :param tidy: every number of the report, one per row, in the report's tidy columns (CSV)
    :param content: the tables, curves and settings as JSON-able lists and objects (NaN and infinities are written by
        the JSON writer)
    :param figures: the figures that have data
    """

    title: str
    header: str
    tables: tuple[TextTable, ...]
    tidy: pd.DataFrame
    content: dict[str, object]
    figures: tuple[FigureSpec, ...] = field(default=())


class ReportKind(Protocol):
    """What a report of any kind offers the writers: its document."""

    def document(self) -> Document:
        """Return the report as a ``Document``."""
