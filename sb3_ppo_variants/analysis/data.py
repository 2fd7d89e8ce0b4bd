"""
The report tables, as pandas objects (the records they are computed from are read by ``sb3_ppo_variants.records``).
"""

from dataclasses import dataclass, field

import pandas as pd

FORMATS = ("md", "csv", "latex", "json")


@dataclass(frozen=True)
class Report:
    """
    Report tables, as built by ``build_report`` from the functions of ``sb3_ppo_variants.analysis.tables``.

    :param per_env: one row per (env_id, variant): run counts by status (``n_runs``, ``n_<status>``), then, over
        completed runs, ``threshold`` and the columns of ``tables.sample_efficiency`` (``final_return``, ``auc``:
        ``<metric>_<iqm|mean|median>`` with ``_low`` / ``_high`` bootstrap bounds and ``<metric>_std``;
        ``steps_to_threshold_median``, ``n_reached``), ``tables.stability`` (the same summaries of ``max_drawdown``
        and ``within_run_dispersion``; ``final_return_seed_iqr``, ``final_return_lower_cvar``) and
        ``tables.training_diagnostics`` (``ratio_max_median``, ``ratio_max_worst``, ``approx_kl_max_median``,
        ``kl_spikes_mean``)
    :param aggregate: one row per variant (``tables.aggregate``): ``<metric>_<iqm|mean|median|optimality_gap>`` with
        ``_low`` / ``_high`` bounds of the normalised final return and AUC over the environments that have reference
        scores (listed in ``environments``), as rliable defines them
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


@dataclass(frozen=True)
class SweepReport:
    """
    Report of a tune directory (``ppo-variants tune``), as built by ``build_sweep_report`` from the functions of
    ``sb3_ppo_variants.analysis.sweeps``; the scores are the selection metric named in ``settings["select"]``.

    :param evaluation: the ordinary report of the evaluation stage: the headline tables, from fresh seeds only
    :param configurations: every configuration of the tuning stage, scored on the tuning seeds
        (``sweeps.configuration_intervals``)
    :param selection: the winner of each (environment, variant) (``sweeps.best_configurations``)
    :param selection_bias: each winner's score on the tuning seeds beside its score on the fresh seeds
        (``sweeps.selection_bias``)
    :param sensitivity: the score against the value of each swept hyperparameter (``sweeps.sensitivity``)
    :param robustness: the spread of each variant's configuration scores, normalised (``sweeps.robustness``)
    :param settings: the parameters the report was built with
    """

    evaluation: Report
    configurations: pd.DataFrame
    selection: pd.DataFrame
    selection_bias: pd.DataFrame
    sensitivity: pd.DataFrame
    robustness: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Table1Report:
    """
    The PPO paper's Table 1 computed from an experiment's training episodes (``analysis.paper.build_table1``).

    :param table1: one row per setting, in the paper's order: ``setting, paper_label, score, score_low, score_high,
        paper_score, n_tasks, n_runs``; ``score`` is the mean over tasks of the mean normalised score of its runs
        (random policy 0, best setting of the task 1) with a bootstrap interval stratified by task
    :param per_task: one row per (task, setting): ``env_id, setting, random_score, mean, std, n_runs, normalised,
        best``: the mean and std over seeds of the last-100-episode means (raw returns), their normalised mean, and
        whether it is the task's best setting
    :param curves: training-episode curves: ``env_id, setting, timesteps, mean_return, n_runs``
    :param problems: the runs left out or scored on fewer episodes: ``run_id, env_id, setting, seed, problem``
    :param settings: the parameters the report was built with; ``unscaled_tasks`` (task -> reason) names the tasks left
        out of the scores because their best setting is not above the random policy, ``tasks_not_in_paper`` the tasks
        that are not among the paper's (both only when there are such tasks)
    """

    table1: pd.DataFrame
    per_task: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)
