"""
The report tables, as pandas objects (the records they are computed from are read by ``sb3_ppo_variants.records``).
"""

from dataclasses import dataclass, field

import pandas as pd

from sb3_ppo_variants.records import RecordTables

FORMATS = ("md", "csv", "latex", "json")
# The old name, still imported by analysis/plots.py
Records = RecordTables


@dataclass(frozen=True)
class Report:
    """
    Report tables.

    :param per_env: one row per (env_id, variant): run counts by status, then for each per-run metric
        (``final_return``, ``auc``, ``max_drawdown``, ``within_run_dispersion``) its ``<metric>_<iqm|mean|median>``
        with ``_low`` / ``_high`` bootstrap bounds and
        ``<metric>_std``, then threshold statistics, across-seed stability and training diagnostics
    :param aggregate: one row per variant: the same summaries of normalised final return and AUC pooled over
        the environments that have reference scores (listed in ``environments``)
    :param improvement: square table, ``improvement.loc[x, y]`` = P(final return of x > that of y), averaged
        over the environments where both have completed runs
    :param curves: learning curves, long format: ``env_id, variant, timesteps, iqm, low, high, n_runs``
    :param problems: the runs that are not ``ok``: ``run_id, env_id, variant, seed, status, diverged_at_update, error``
    :param settings: the parameters the report was built with
    """

    per_env: pd.DataFrame
    aggregate: pd.DataFrame
    improvement: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)
