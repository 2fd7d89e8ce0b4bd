"""
Text cells of the report tables: numbers, intervals, error messages and swept values, formatted as the writers print them.
"""

import math

import pandas as pd

from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD, METHOD_NAMES, MIN_RUNS

ERROR_WIDTH = 100


def supported_decimals(seed_sd: object) -> int | None:
    """
    The decimals that a bootstrap bound supports: the last printed digit is the first one that twice the bound's
    variation across bootstrap seeds (``stats.bounds_seed_sd``) does not reach, so that another seed would change the
    printed bound by at most one unit of that digit or so.

    :param seed_sd: the variation, or NaN / None / 0 (not measured, or none: a t interval)
    :return: the number of decimals (0 or more), or None for no limit
    """
    if seed_sd is None or pd.isna(seed_sd) or float(seed_sd) <= 0 or math.isinf(float(seed_sd)):
        return None
    return max(0, math.floor(-math.log10(2.0 * float(seed_sd))))


def number(value: object, decimals: int | None = None) -> str:
    """
    Short human-readable number: thousands separators for counts and timesteps, 3-4 significant digits otherwise.

    :param value: a number, NaN or None
    :param decimals: round to this many decimals first (``supported_decimals``), or None
    :return: the text; ``–`` for NaN and None, ``∞`` / ``-∞`` for infinities
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if decimals is not None:
        x = round(x, decimals)
    if x == int(x) and abs(x) < 1e7:
        return f"{int(x):,}"
    if abs(x) >= 1e6 or abs(x) < 1e-3:
        return f"{x:.2e}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def bounded(row: pd.Series, column: str) -> str:
    """
    A point estimate with its interval, from the columns ``column``, ``column_low`` and ``column_high`` of a row, the
    bounds rounded to the decimals that ``column_seed_sd`` supports when the row has it (the point does not depend on
    the bootstrap seed).

    :param row: a table row
    :param column: the point estimate's column
    :return: ``point [low, high]``; ``–`` when the point is missing
    """
    if column not in row or pd.isna(row[column]):
        return "–"
    decimals = supported_decimals(row.get(f"{column}_seed_sd"))
    return f"{number(row[column])} [{number(row[f'{column}_low'], decimals)}, {number(row[f'{column}_high'], decimals)}]"


def interval(row: pd.Series, name: str, summary: str = "iqm") -> str:
    """
    ``bounded`` for the summary columns ``<name>_<summary>`` of ``tables.summary_columns``.

    :param row: a table row
    :param name: metric name, e.g. ``final_return``
    :param summary: summary name, e.g. ``iqm``
    :return: ``point [low, high]``
    """
    return bounded(row, f"{name}_{summary}")


def column(table: pd.DataFrame, name: str) -> pd.Series:
    """
    A column of a table, or NaN for every row when the table has no such column.

    :param table: a table
    :param name: column name
    :return: the column
    """
    return table[name] if name in table else pd.Series(math.nan, index=table.index)


def percent(confidence: object) -> int:
    """
    A confidence level as a whole percentage, e.g. 95.

    :param confidence: the level in (0, 1)
    :return: the percentage
    """
    return round(100 * float(confidence))


def error(text: object) -> str:
    """
    An error message on one line, at most ``ERROR_WIDTH`` characters.

    :param text: the message, NaN or None
    :return: the line; ``–`` without a message
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "–"
    line = " ".join(str(text).split())
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"


def flagged(cell: str, n_runs: object) -> str:
    """
    An interval cell with the flag ``(n = <runs>)`` when it rests on fewer than ``intervals.MIN_RUNS`` runs.

    :param cell: the cell's text
    :param n_runs: the number of runs the interval is computed from
    :return: the cell, flagged when ``0 < n_runs < MIN_RUNS``
    """
    if pd.isna(n_runs) or not 0 < int(n_runs) < MIN_RUNS or cell == "–":
        return cell
    return f"{cell} (n = {int(n_runs)})"


def method_name(settings: dict[str, object]) -> str:
    """
    The name of a report's interval method, as its text says it.

    :param settings: the report's settings, with ``interval``
    :return: e.g. ``t (Student's t; Tukey-McLaughlin for IQMs)``
    """
    return METHOD_NAMES[str(settings.get("interval", DEFAULT_METHOD))]


def intervals_note(settings: dict[str, object]) -> str:
    """
    The sentence of a report's header on its intervals.

    :param settings: the report's settings, with ``interval``
    :return: the sentence
    """
    return (
        f"Intervals of IQMs and means: {method_name(settings)}; of the other statistics: percentile bootstrap "
        f"(docs/statistics.md). An interval from fewer than {MIN_RUNS} runs is flagged with its number of runs (n = 3)."
    )
