"""
The run records of an experiment directory (docs/records.md) and the report tables, as pandas objects.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

STATUSES = ("ok", "diverged", "failed", "incomplete")
FINISHED = ("ok", "diverged", "failed")
COMPLETED = ("ok", "diverged")
FORMATS = ("md", "csv", "latex", "json")
RUN_ID_PATTERN = re.compile(r"^(?P<env_id>.+)__(?P<variant>.+)__seed(?P<seed>\d+)$")


@dataclass(frozen=True)
class Records:
    """
    The records of one experiment directory as pandas tables.

    :param runs: one row per run directory: ``run_id, env_id, variant, algo, seed, config_id, label, sweep,
        hyperparameters, status, error, diverged_at_update, timesteps, wall_time_s``; ``status`` is one of ``STATUSES``.
        A run of a sweep's configuration has its ``config_id`` (a short hash of its resolved hyperparameters), its
        ``label`` (e.g. ``pg[learning_rate=0.003]``) and ``sweep``, the dict of its swept values; a run of an entry
        without a sweep has no ``config_id`` (NaN), ``label`` = ``variant`` and ``sweep`` = ``{}``. ``hyperparameters`` is
        the dict of config.json (``{}`` without config.json)
    :param evals: eval.csv of all runs, long format: ``run_id, timesteps, mean_return, std_return, n_episodes``
    :param train: train.csv of all runs, long format: ``run_id, update, timesteps, <stat>...``
    """

    runs: pd.DataFrame
    evals: pd.DataFrame
    train: pd.DataFrame


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


def _read_json(path: Path) -> dict[str, object]:
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path} must contain a JSON object, got {type(content).__name__}")
    return content


def _read_run(run_dir: Path) -> tuple[dict[str, object], pd.DataFrame | None, pd.DataFrame | None]:
    run_id = run_dir.name
    config_path, status_path = run_dir / "config.json", run_dir / "status.json"
    if config_path.exists():
        config = _read_json(config_path)
        missing = [key for key in ("env_id", "variant", "seed") if key not in config]
        if missing:
            raise ValueError(f"{config_path} lacks the keys {missing}")
    else:
        match = RUN_ID_PATTERN.match(run_id)
        if match is None:
            raise ValueError(f"{run_dir} has no config.json and its name is not '<env_id>__<variant>__seed<seed>'")
        config = {"env_id": match["env_id"], "variant": match["variant"], "seed": int(match["seed"])}
    status = _read_json(status_path) if status_path.exists() else {"status": "incomplete"}
    if status_path.exists() and status.get("status") not in FINISHED:
        raise ValueError(f"{status_path}: status must be one of {list(FINISHED)}, got {status.get('status')!r}")
    row = {
        "run_id": run_id,
        "env_id": config["env_id"],
        "variant": config["variant"],
        "algo": config.get("algo"),
        "seed": int(config["seed"]),
        "config_id": config.get("config_id"),
        "label": config.get("label", config["variant"]),
        "sweep": config.get("sweep", {}),
        "hyperparameters": config.get("hyperparameters", {}),
        "status": status["status"],
        "error": status.get("error"),
        "diverged_at_update": status.get("diverged_at_update"),
        "timesteps": status.get("timesteps"),
        "wall_time_s": status.get("wall_time_s"),
    }
    tables = []
    for name in ("eval.csv", "train.csv"):
        path = run_dir / name
        table = pd.read_csv(path) if path.exists() and path.stat().st_size > 0 else None
        if table is not None:
            table.insert(0, "run_id", run_id)
        tables.append(table)
    return row, tables[0], tables[1]


def load_records(directory: str | os.PathLike) -> Records:
    """
    Read every run directory ``directory/runs/*/``. Nothing is dropped: a run without status.json is
    ``incomplete``, failed and diverged runs are kept with their status, error and partial files.

    :param directory: experiment output directory (the ``--out`` of ``ppo-variants run``)
    :return: the records
    """
    runs_dir = Path(directory) / "runs"
    if not runs_dir.is_dir():
        raise ValueError(f"directory must contain a runs/ sub-directory written by 'ppo-variants run', got {directory!r}")
    rows, evals, trains = [], [], []
    for run_dir in sorted(path for path in runs_dir.iterdir() if path.is_dir()):
        row, eval_table, train_table = _read_run(run_dir)
        rows.append(row)
        evals += [] if eval_table is None else [eval_table]
        trains += [] if train_table is None else [train_table]
    if not rows:
        raise ValueError(f"directory {directory!r} has no run in runs/")
    eval_columns = ["run_id", "timesteps", "mean_return", "std_return", "n_episodes"]
    return Records(
        runs=pd.DataFrame(rows),
        evals=pd.concat(evals, ignore_index=True) if evals else pd.DataFrame(columns=eval_columns),
        train=pd.concat(trains, ignore_index=True) if trains else pd.DataFrame(columns=["run_id", "update", "timesteps"]),
    )
