"""
The standard report of an experiment: per (environment, variant) sample efficiency, stability and training
diagnostics across seeds, the aggregate over environments and the probability of improvement, from the scores of
``sb3_ppo_variants.analysis.scoring``: ``ok`` and ``diverged`` runs enter the metrics, ``failed``, ``corrupt`` and
``incomplete`` runs are only counted and listed, and a diverged run is scored, after its divergence, as the lowest
return of its environment (``diverged="worst"``) or as its last evaluation (``"hold"``); the rules in full are in the
docstring of ``scoring``.

Runs are grouped by environment and ``label``: the variant entry's name, or for a run of a sweep its configuration's
label, so that the configurations of a sweep are never pooled. The table columns are computed by
``sb3_ppo_variants.analysis.tables`` from per-run arrays; ``Report.document`` gives the report to the writers.
"""

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis import metrics, tables
from sb3_ppo_variants.analysis.document import Document, FigureSpec, TextTable
from sb3_ppo_variants.analysis.formatting import (
    column,
    error,
    flagged,
    interval,
    intervals_note,
    method_name,
    number,
    percent,
    supported_decimals,
)
from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD, check_method
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES, THRESHOLDS
from sb3_ppo_variants.analysis.scoring import GroupCurves, curve_scores, group_curves, wide
from sb3_ppo_variants.analysis.stats import bootstrap_seed, normalize
from sb3_ppo_variants.records import MISSING, STATUSES, RecordTables, load_records

__all__ = ["TIDY_COLUMNS", "Report", "build_report"]

CURVE_COLUMNS = ["env_id", "variant", "timesteps", "iqm", "low", "high", "n_runs"]
PROBLEM_COLUMNS = ["run_id", "env_id", "variant", "seed", "status", "diverged_at_update", "error"]
# The thresholds of the performance-profile table (the figure and the other formats have the whole profile)
PROFILE_TABLE_TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The columns of the tidy CSV of a report
TIDY_COLUMNS = ["table", "env_id", "variant", "run_id", "statistic", "value"]


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
    :param improvement_low: its lower bounds, rliable's bootstrap over the runs within each environment
        (``stats.probability_of_improvement_ci``)
    :param improvement_high: its upper bounds
    :param improvement_seed_sd: how much the bounds move with the bootstrap seed (``stats.bounds_seed_sd``)
    :param profiles: performance profiles of the normalised final return (``tables.performance_profiles``): ``variant,
        tau, fraction, low, high, n_envs, n_runs``, over the environments with reference scores
    :param aggregate_curves: sample-efficiency curves, the IQM of the normalised returns of all environments with
        reference scores at each evaluation timestep (``tables.sample_efficiency_curves``): ``variant, timesteps, iqm,
        low, high, n_envs, n_runs``
    :param curves: learning curves, long format: ``env_id, variant, timesteps, iqm, low, high, n_runs``
    :param problems: the runs that are not ``ok``: ``run_id, env_id, variant, seed, status, diverged_at_update, error``
    :param settings: the parameters the report was built with
    """

    per_env: pd.DataFrame
    aggregate: pd.DataFrame
    improvement: pd.DataFrame
    improvement_low: pd.DataFrame
    improvement_high: pd.DataFrame
    improvement_seed_sd: pd.DataFrame
    profiles: pd.DataFrame
    aggregate_curves: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame
    settings: dict[str, object] = field(default_factory=dict)

    def document(self) -> Document:
        """
        The report as the writers see it: the tables ``Runs``, ``Sample efficiency``, ``Stability``, ``Aggregate over
        environments``, ``Probability of improvement``, ``Performance profiles``, ``Sample efficiency over
        environments`` and ``Runs not ok``; the tidy rows (``TIDY_COLUMNS``: ``per_env`` rows, one per statistic of
        ``per_env``; ``aggregate`` rows with ``env_id`` = ``all``; ``improvement`` rows with ``statistic`` = ``P(> <other
        variant>)`` and its ``_low`` / ``_high`` bounds; ``profiles`` rows ``fraction[tau=<τ>]`` and
        ``aggregate_curves`` rows ``iqm[timesteps=<t>]``, each with its bounds; ``problems`` rows, one per non-ok run
        and field); the JSON content (``settings``, ``per_env``, ``aggregate``, ``profiles``, ``aggregate_curves``,
        ``problems`` and ``curves`` as lists of row objects, ``improvement``, ``improvement_low`` and
        ``improvement_high`` as ``{row variant: {column variant: probability}}``); the figures ``learning_curves``
        (with curves), ``aggregate_intervals`` (with an aggregate), ``improvement_matrix``, ``performance_profiles``
        and ``sample_efficiency_curves`` (with environments that have reference scores).

        :return: the document
        """
        settings = self.settings
        header = (
            f"Diverged runs: {settings.get('diverged')} (see sb3_ppo_variants.analysis.report). Bootstrap: "
            f"{settings.get('n_resamples')} resamples, seed {settings.get('seed')}. {intervals_note(settings)}"
        )
        figures = [
            FigureSpec(draw, self)
            for draw, table in (
                ("learning_curves", self.curves),
                ("aggregate_intervals", self.aggregate),
                ("improvement_matrix", self.improvement),
                ("performance_profiles", self.profiles),
                ("sample_efficiency_curves", self.aggregate_curves),
            )
            if not table.empty
        ]
        return Document("Report", header, _text_tables(self), _tidy(self), _content(self), tuple(figures))


def _group_row(
    group: GroupCurves,
    scores: dict[str, np.ndarray],
    train: tuple[pd.DataFrame, pd.DataFrame],
    thresholds: dict[str, float],
    settings: dict[str, object],
) -> dict[str, object]:
    """The ``per_env`` row of one (environment, variant) with completed runs; ``train`` holds ratio_max and approx_kl."""
    (env_id, variant), returns, timesteps = group.keys, group.returns, group.timesteps
    run_ids = group.completed["run_id"].tolist()
    threshold = thresholds.get(env_id, math.nan)
    to_threshold = None if math.isnan(threshold) else metrics.timesteps_to_threshold(returns, timesteps, threshold)
    within = metrics.within_run_dispersion(returns) if returns.shape[1] > 1 else np.full(len(run_ids), np.nan)
    intervals = (settings["n_resamples"], settings["confidence"], bootstrap_seed(settings["seed"], env_id, variant))
    final = scores["final_return"]
    row: dict[str, object] = {"threshold": threshold}
    row |= tables.sample_efficiency(final, scores["auc"], to_threshold, *intervals, settings["interval"])
    row |= tables.stability(
        metrics.max_drawdown(returns), within, final, settings["cvar_alpha"], *intervals, settings["interval"]
    )
    ratio_wide, kl_wide = train
    return row | tables.training_diagnostics(
        ratio_wide.reindex(run_ids).to_numpy(dtype=float),
        kl_wide.reindex(run_ids).to_numpy(dtype=float),
        settings["kl_threshold"],
    )


def _counts(group: GroupCurves) -> dict[str, object]:
    """The identity and the run counts by status of one group."""
    counts = group.runs["status"].value_counts()
    env_id, variant = group.keys
    row: dict[str, object] = {"env_id": env_id, "variant": variant, "n_runs": len(group.runs)}
    # missing runs (in the directory's plan, never started) are counted only where there are some
    counted = (*STATUSES, MISSING) if MISSING in counts else STATUSES
    return row | {f"n_{status}": int(counts.get(status, 0)) for status in counted}


def _across_environments(
    scores: dict[tuple[str, str], dict[str, np.ndarray]],
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    variants: list[str],
    settings: dict[str, object],
) -> dict[str, pd.DataFrame]:
    """
    The tables over environments: the aggregate, the probability of improvement, the performance profiles and the
    sample-efficiency curves; all but the probability of improvement on the environments with random and reference
    scores, normalised (random 0, reference 1).
    """
    n_resamples, confidence, seed, method = (settings[key] for key in ("n_resamples", "confidence", "seed", "interval"))
    normalised = {
        (env_id, variant): {name: normalize(values, env_id) for name, values in by_name.items()}
        for (env_id, variant), by_name in scores.items()
        if env_id in RANDOM_SCORES and env_id in REFERENCE_SCORES
    }
    final = {keys: by_name["final_return"] for keys, by_name in normalised.items()}
    taus = np.union1d(tables.profile_thresholds(final), PROFILE_TABLE_TAUS)
    improvement = tables.improvement(
        {keys: by_name["final_return"] for keys, by_name in scores.items()}, variants, n_resamples, confidence, seed
    )
    normalised_curves = {keys: (normalize(curves[keys][0], keys[0]), curves[keys][1]) for keys in normalised}
    return {
        "aggregate": tables.aggregate(normalised, n_resamples, confidence, seed, method),
        "improvement": improvement[0],
        "improvement_low": improvement[1],
        "improvement_high": improvement[2],
        "improvement_seed_sd": improvement[3],
        "profiles": tables.performance_profiles(final, taus, n_resamples, confidence, seed),
        "aggregate_curves": tables.sample_efficiency_curves(normalised_curves, n_resamples, confidence, seed, method),
    }


def build_report(
    source: str | os.PathLike | RecordTables,
    final_k: int = 3,
    diverged: str = "worst",
    thresholds: dict[str, float] | None = None,
    kl_threshold: float = 0.05,
    cvar_alpha: float = 0.25,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    curve_resamples: int = 500,
    seed: int = 0,
    interval: str = DEFAULT_METHOD,
) -> Report:
    """
    Build the report tables from the records of an experiment.

    Per (environment, variant), the variant being a sweep configuration's label (see the module docstring), over completed runs
    (``ok`` and ``diverged``; see ``scoring`` for how diverged runs enter), the columns of ``tables.sample_efficiency``,
    ``tables.stability`` and ``tables.training_diagnostics``: final return (mean of the last ``final_k`` evaluations), AUC
    (mean return over all evaluation points), largest drawdown and within-run dispersion, each as IQM / mean / median across
    seeds with percentile bootstrap intervals, and the sample standard deviation; timesteps to reach the threshold (median
    across seeds, ``inf`` unless more than half of the runs reach it, and the number that reach it); IQR and lower CVaR of the
    final return across seeds; from train.csv, the median and the largest per-run maximum of ``ratio_max``, the median per-run
    maximum of ``approx_kl`` and the mean number of updates per run with ``approx_kl > kl_threshold``. The aggregate
    (``tables.aggregate``) summarises normalised final return and AUC over the environments with reference scores as rliable
    does, with a bootstrap stratified by environment.

    :param source: experiment directory, or records already loaded by ``load_records``
    :param final_k: number of final evaluations averaged into the final return
    :param diverged: ``"worst"`` or ``"hold"``, how the evaluation points after a divergence are scored
    :param thresholds: return thresholds per env_id for the timesteps-to-threshold metric; default
        ``references.THRESHOLDS``; environments without a threshold get NaN
    :param kl_threshold: ``approx_kl`` above which an update counts as a KL spike
    :param cvar_alpha: fraction of worst seeds in the lower CVaR
    :param n_resamples: bootstrap resamples for the table intervals
    :param confidence: confidence level of the intervals
    :param curve_resamples: bootstrap resamples for the learning-curve bands; 0 skips the curves
    :param seed: seed of the bootstrap; the same seed and records give the same report
    :param interval: interval method of the IQMs and means (``intervals.METHODS``, default ``intervals.DEFAULT_METHOD``);
        medians, optimality gaps and probabilities of improvement get percentile-bootstrap intervals
    :return: the report
    """
    check_method(interval, "interval")
    if curve_resamples < 0:
        raise ValueError(f"curve_resamples must be >= 0, got {curve_resamples}")
    records = source if isinstance(source, RecordTables) else load_records(source)
    thresholds = THRESHOLDS if thresholds is None else thresholds
    settings: dict[str, object] = {
        "final_k": final_k,
        "diverged": diverged,
        "thresholds": dict(thresholds),
        "kl_threshold": kl_threshold,
        "cvar_alpha": cvar_alpha,
        "n_resamples": n_resamples,
        "confidence": confidence,
        "curve_resamples": curve_resamples,
        "seed": seed,
        "interval": interval,
    }
    train = (wide(records.train, "update", "ratio_max"), wide(records.train, "update", "approx_kl"))
    rows, curves, scores, returns = [], [], {}, {}
    for group in group_curves(records, ("env_id", "label"), diverged):
        rows.append(_counts(group))
        if group.returns is None:
            continue
        scores[group.keys] = curve_scores(group.returns, final_k)
        returns[group.keys] = (group.returns, group.timesteps)
        rows[-1] |= _group_row(group, scores[group.keys], train, thresholds, settings)
        if curve_resamples:
            curve_seed = bootstrap_seed(seed, "curve", *group.keys)
            band = tables.learning_curve_band(
                group.returns, group.timesteps, curve_resamples, confidence, curve_seed, interval
            )
            curves.append(band.assign(env_id=group.keys[0], variant=group.keys[1])[CURVE_COLUMNS])
    runs = records.runs
    return Report(
        per_env=pd.DataFrame(rows),
        **_across_environments(scores, returns, sorted(runs["label"].unique()), settings),
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS),
        problems=runs.loc[runs["status"] != "ok", PROBLEM_COLUMNS].reset_index(drop=True),
        settings=settings,
    )


def _per_cell(row: pd.Series, name: str) -> str:
    """The IQM interval of a metric of one (environment, variant), flagged when it has few completed runs."""
    return flagged(interval(row, name), row["n_ok"] + row["n_diverged"])


def _runs_table(per_env: pd.DataFrame) -> pd.DataFrame:
    keys = {"environment": per_env["env_id"], "variant": per_env["variant"]}
    columns = {s: per_env[f"n_{s}"].fillna(0).astype(int).map(number) for s in (*STATUSES, MISSING) if f"n_{s}" in per_env}
    return pd.DataFrame(keys | {"runs": per_env["n_runs"].map(number)} | columns)


def _efficiency_table(per_env: pd.DataFrame) -> pd.DataFrame:
    rows = [row for _, row in per_env.iterrows()]
    reached = zip(column(per_env, "n_reached"), per_env["n_ok"], per_env["n_diverged"], strict=True)
    return pd.DataFrame(
        {
            "environment": per_env["env_id"],
            "variant": per_env["variant"],
            "final return": [_per_cell(row, "final_return") for row in rows],
            "AUC": [_per_cell(row, "auc") for row in rows],
            "threshold": column(per_env, "threshold").map(number),
            "steps to threshold (median)": column(per_env, "steps_to_threshold_median").map(number),
            "reached": ["–" if pd.isna(n) else f"{int(n)}/{ok + div}" for n, ok, div in reached],
        }
    )


def _stability_table(per_env: pd.DataFrame, settings: dict[str, object]) -> pd.DataFrame:
    rows = [row for _, row in per_env.iterrows()]
    ratio = zip(column(per_env, "ratio_max_median"), column(per_env, "ratio_max_worst"), strict=True)
    return pd.DataFrame(
        {
            "environment": per_env["env_id"],
            "variant": per_env["variant"],
            "max drawdown": [_per_cell(row, "max_drawdown") for row in rows],
            "within-run IQR": [_per_cell(row, "within_run_dispersion") for row in rows],
            "seed IQR": column(per_env, "final_return_seed_iqr").map(number),
            f"CVaR {percent(settings.get('cvar_alpha', 0.25))}%": column(per_env, "final_return_lower_cvar").map(number),
            "ratio max (median / worst)": [f"{number(median)} / {number(worst)}" for median, worst in ratio],
            "KL max (median)": column(per_env, "approx_kl_max_median").map(number),
            f"KL > {settings.get('kl_threshold', '?')} per run": column(per_env, "kl_spikes_mean").map(number),
        }
    )


def _aggregate_table(aggregate: pd.DataFrame) -> pd.DataFrame:
    rows = [row for _, row in aggregate.iterrows()]
    return pd.DataFrame(
        {
            "variant": aggregate["variant"],
            "environments": aggregate["environments"],
            "runs": aggregate["n_runs"].map(number),
            "final return IQM": [interval(row, "final_return") for row in rows],
            "final return mean": [interval(row, "final_return", "mean") for row in rows],
            "final return median": [interval(row, "final_return", "median") for row in rows],
            "final return optimality gap": [interval(row, "final_return", "optimality_gap") for row in rows],
            "AUC IQM": [interval(row, "auc") for row in rows],
        }
    )


def _improvement_table(report: Report) -> pd.DataFrame:
    columns = {}
    for other in report.improvement.columns:
        estimates = zip(
            report.improvement[other],
            report.improvement_low[other],
            report.improvement_high[other],
            report.improvement_seed_sd[other],
            strict=True,
        )
        columns[other] = [_probability(*estimate) for estimate in estimates]
    cells = pd.DataFrame(columns)
    cells.insert(0, "P(row > column)", list(report.improvement.index))
    return cells


def _probability(p: float, low: float, high: float, seed_sd: float) -> str:
    """A probability to 2 decimals and its bounds to 2, or fewer when their seed variation does not support 2."""
    if pd.isna(p):
        return "–"
    decimals = min(2, supported_decimals(seed_sd) or 2)
    return f"{p:.2f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def _profile_table(profiles: pd.DataFrame) -> pd.DataFrame:
    shown = profiles[np.isin(profiles["tau"], PROFILE_TABLE_TAUS)]
    rows = {
        variant: {f"τ = {tau:g}": _point_low_high(row, "fraction") for tau, row in group.set_index("tau").iterrows()}
        for variant, group in shown.groupby("variant", sort=True)
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant").reset_index()


def _aggregate_curve_table(curves: pd.DataFrame) -> pd.DataFrame:
    if curves.empty:
        return pd.DataFrame(columns=["variant"])
    grid = np.array(sorted(curves["timesteps"].unique()))
    shown = [grid[np.abs(grid - q * grid[-1]).argmin()] for q in (0.25, 0.5, 0.75, 1.0)]
    rows = {
        variant: {
            f"{number(step)} steps": _point_low_high(row, "iqm")
            for step, row in group.set_index("timesteps").iterrows()
            if step in shown
        }
        for variant, group in curves.groupby("variant", sort=True)
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant").reset_index()


def _point_low_high(row: pd.Series, point: str) -> str:
    decimals = supported_decimals(row.get("seed_sd"))
    return f"{number(row[point])} [{number(row['low'], decimals)}, {number(row['high'], decimals)}]"


def _problems_table(problems: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": problems["run_id"],
            "status": problems["status"],
            "diverged at update": problems["diverged_at_update"].map(number),
            "error": problems["error"].map(error),
        }
    )


def _text_tables(report: Report) -> tuple[TextTable, ...]:
    """The human-readable tables of the report, cells formatted as text."""
    settings = report.settings
    confidence = percent(settings.get("confidence", 0.95))
    alpha = percent(settings.get("cvar_alpha", 0.25))
    cells = f"IQM [{confidence}% CI] across seeds"
    return (
        TextTable(
            "Runs",
            "Counts by status. Only ok and diverged runs enter the metrics; failed, corrupt and incomplete runs are only "
            "counted" + (", and missing ones (planned, never started)." if f"n_{MISSING}" in report.per_env else "."),
            _runs_table(report.per_env),
        ),
        TextTable(
            "Sample efficiency",
            f"{cells}. Final return: mean of the last {settings.get('final_k')} evaluations; AUC: mean return over all "
            "evaluation points; steps to threshold: median across seeds, ∞ unless more than half of the seeds reach it "
            "(with an even number of seeds, exactly half reaching it gives ∞).",
            _efficiency_table(report.per_env),
        ),
        TextTable(
            "Stability",
            f"Max drawdown (largest drop below the running best) and within-run IQR (of successive differences): {cells}. "
            f"Seed IQR and CVaR {alpha}% (mean of the worst {alpha}% of seeds) of the final return. "
            "Ratio and KL maxima over the updates of each run (train.csv).",
            _stability_table(report.per_env, settings),
        ),
        TextTable(
            "Aggregate over environments",
            "Normalised scores (random policy = 0, reference = 1, see sb3_ppo_variants.analysis.references) over the "
            "listed environments, aggregated as rliable does: IQM of the runs of all environments pooled; mean and median "
            "of the per-environment means; optimality gap = mean over environments of the mean shortfall below 1, "
            "max(1 - score, 0) (lower is better). Mean, median and optimality gap weigh each environment the same "
            f"whatever its number of runs. {confidence}% CI: IQM and mean {method_name(settings)}, median and optimality "
            "gap a bootstrap stratified by environment.",
            _aggregate_table(report.aggregate),
        ),
        TextTable(
            "Probability of improvement",
            "P(final return of the row variant > that of the column variant) + 0.5 P(equal), averaged over environments, "
            f"[{confidence}% CI] as rliable computes it: a percentile bootstrap resampling the runs of each variant within "
            "each environment.",
            _improvement_table(report),
        ),
        TextTable(
            "Performance profiles",
            "Fraction of runs whose normalised final return (random policy = 0, reference = 1) exceeds τ, averaged over "
            f"the environments with reference scores (rliable's run-score distribution), [{confidence}% CI] from a "
            "bootstrap stratified by environment; the figure has every τ.",
            _profile_table(report.profiles),
        ),
        TextTable(
            "Sample efficiency over environments",
            "IQM of the normalised evaluation returns of the runs of all environments with reference scores pooled, at "
            f"a quarter, half, three quarters and all of the training steps, [{confidence}% CI] {method_name(settings)}; "
            "the figure has every evaluation.",
            _aggregate_curve_table(report.aggregate_curves),
        ),
        TextTable("Runs not ok", "Diverged, failed, corrupt and incomplete runs.", _problems_table(report.problems)),
    )


def _tidy(report: Report) -> pd.DataFrame:
    """Every number of the report, one per row (``TIDY_COLUMNS``)."""
    per_env = report.per_env.melt(id_vars=["env_id", "variant"], var_name="statistic").assign(table="per_env")
    aggregate = report.aggregate.melt(id_vars=["variant"], var_name="statistic").assign(table="aggregate", env_id="all")
    improvement = [
        square.rename(columns=lambda other, suffix=suffix: f"P(> {other}){suffix}")
        .reset_index()
        .melt(id_vars=["variant"], var_name="statistic")
        .assign(table="improvement", env_id="all")
        for square, suffix in (
            (report.improvement, ""),
            (report.improvement_low, "_low"),
            (report.improvement_high, "_high"),
            (report.improvement_seed_sd, "_seed_sd"),
        )
    ]
    profiles = _tidy_curve(report.profiles, "profiles", "fraction", "tau")
    aggregate_curves = _tidy_curve(report.aggregate_curves, "aggregate_curves", "iqm", "timesteps")
    problems = report.problems.melt(id_vars=["run_id", "env_id", "variant"], var_name="statistic").assign(table="problems")
    frames = (per_env, aggregate, *improvement, profiles, aggregate_curves, problems)
    return pd.concat([frame.astype({"value": object}) for frame in frames], ignore_index=True).reindex(columns=TIDY_COLUMNS)


def _tidy_curve(curve: pd.DataFrame, table: str, point: str, at: str) -> pd.DataFrame:
    """Rows of a curve over variants: the statistics ``<point>[<at>=<x>]`` and their ``_low`` / ``_high`` bounds."""
    keys = [f"{point}[{at}={x:g}]" for x in curve[at]]
    parts = [
        pd.DataFrame({"variant": curve["variant"], "statistic": [key + suffix for key in keys], "value": curve[column]})
        for column, suffix in ((point, ""), ("low", "_low"), ("high", "_high"), ("seed_sd", "_seed_sd"))
        if column in curve
    ]
    return pd.concat(parts, ignore_index=True).assign(table=table, env_id="all")


def _content(report: Report) -> dict[str, object]:
    return {
        "settings": report.settings,
        "per_env": report.per_env.to_dict(orient="records"),
        "aggregate": report.aggregate.to_dict(orient="records"),
        "improvement": report.improvement.to_dict(orient="index"),
        "improvement_low": report.improvement_low.to_dict(orient="index"),
        "improvement_high": report.improvement_high.to_dict(orient="index"),
        "improvement_seed_sd": report.improvement_seed_sd.to_dict(orient="index"),
        "profiles": report.profiles.to_dict(orient="records"),
        "aggregate_curves": report.aggregate_curves.to_dict(orient="records"),
        "problems": report.problems.to_dict(orient="records"),
        "curves": report.curves.to_dict(orient="records"),
    }
