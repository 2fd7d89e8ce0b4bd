"""
The run-record format (docs/records.md): paths, writers, readers and the checks made on load.

The one owner of the format: the runner writes records through it, the analysis reads them through it. It imports
numpy and pandas only (no torch, Stable-Baselines3 or gymnasium), so records can be read where torch is not installed.
"""

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.validation import is_integer, is_number

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# The output directory of 'ppo-variants run': OUT/experiment.toml (the file it runs), OUT/plan.json (its planned runs),
# OUT/runs/<run_id>/ (one record per run). Of 'ppo-variants tune': OUT/tuning/ and OUT/evaluation/, each the output
# directory of a run, and OUT/selected.toml between them. Either records its layout in OUT/layout.json.
EXPERIMENT_FILE = "experiment.toml"
PLAN_FILE = "plan.json"
LAYOUT_FILE = "layout.json"
LOCK_FILE = ".lock"
TUNING_DIR = "tuning"
EVALUATION_DIR = "evaluation"
SELECTED_FILE = "selected.toml"
LAYOUTS = ("run", "tune")
RUNS_DIR = "runs"
# the batched engine's checkpoints of unfinished batches (sb3_ppo_variants.engine.checkpoint)
CHECKPOINTS_DIR = "batches"
CONFIG_FILE = "config.json"
EVAL_FILE = "eval.csv"
TRAIN_FILE = "train.csv"
EPISODES_FILE = "episodes.csv"
STATUS_FILE = "status.json"
EVAL_COLUMNS = ("timesteps", "mean_return", "std_return", "n_episodes")
TRAIN_COLUMNS = ("update", "timesteps")
EPISODE_COLUMNS = ("timesteps", "return", "length")
# Statuses written in status.json ("pruned": stopped early by the median pruner of a search = "tpe" tune)
FINAL_STATUSES = ("ok", "diverged", "failed", "pruned")
# Statuses of a run in the loaded tables: "corrupt" when a file fails a check, "incomplete" without a valid status.json
STATUSES = ("ok", "diverged", "failed", "pruned", "corrupt", "incomplete")
# A run of the directory's plan.json that has no record directory (it never started)
MISSING = "missing"
COMPLETED = ("ok", "diverged")
RUN_ID_PATTERN = re.compile(r"^(?P<env_id>.+?)__(?P<variant>.+?)(?:__(?P<config_id>[0-9a-f]+))?__seed(?P<seed>\d+)$")
CONFIG_ID_PATTERN = re.compile(r"[0-9a-f]+")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


class RecordError(ValueError):
    """A record file cannot be read or fails a check; the message names the file."""


def check_name(name: object) -> str:
    """
    Check a name that becomes part of a path (an experiment name, a variant entry name).

    :param name: the name
    :return: the name
    :raises ValueError: unless it starts with a letter or digit, holds only letters, digits and ``_ . + -``, and has
        no ``__`` (the separator of run ids)
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None or "__" in name:
        raise ValueError(
            f"{name!r} is not a valid name: it becomes part of file paths, so it must start with a letter or digit and "
            "hold only letters, digits and '_', '.', '+', '-' (no '__', the separator of run ids)"
        )
    return name


def run_id(env_id: str, variant: str, seed: int, config_id: str | None = None) -> str:
    """
    Return the id of a run, which is also its directory name: ``<env_id>__<variant>__seed<seed>``, and
    ``<env_id>__<variant>__<config_id>__seed<seed>`` for a configuration of a sweep.

    The env id is percent-encoded where it holds a path separator (gymnasium's ``Namespace/Env-v0``), so the id is
    always one path component.

    :param env_id: gymnasium id
    :param variant: the experiment's variant entry name (see ``check_name``)
    :param seed: the seed
    :param config_id: the configuration's id (hexadecimal), or None outside a sweep
    :return: the run id
    """
    if config_id is not None and CONFIG_ID_PATTERN.fullmatch(config_id) is None:
        raise ValueError(f"config_id must be hexadecimal, got {config_id!r}")
    middle = check_name(variant) if config_id is None else f"{check_name(variant)}__{config_id}"
    return f"{quote(env_id, safe=':')}__{middle}__seed{seed}"


def config_id(env_id: str, algo: str, hyperparameters: Mapping[str, Any]) -> str:
    """
    A stable id of a sweep's configuration: a hash of the environment, the class and the hyperparameters as written.

    :param env_id: the environment
    :param algo: the registry name of the class
    :param hyperparameters: the resolved hyperparameters (values as written in the file)
    :return: 10 hexadecimal characters
    """
    text = json.dumps({"env_id": env_id, "algo": algo, "hyperparameters": hyperparameters}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def label(variant: str, swept: Mapping[str, Any]) -> str:
    """
    A readable name of a configuration: the variant and its swept values, e.g. ``pg[learning_rate=0.003]``. Floats are
    written in their shortest exact form, so two different values never share a label.

    :param variant: the variant entry's name
    :param swept: the swept values
    :return: the label; the variant's name when nothing is swept
    """
    if not swept:
        return variant
    values = (f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}" for key, value in sorted(swept.items()))
    return f"{variant}[{','.join(values)}]"


def run_dir(directory: str | os.PathLike, run_id: str) -> Path:
    """
    Return the record directory of a run.

    :param directory: experiment output directory
    :param run_id: the run
    :return: ``directory/runs/<run_id>``
    """
    if Path(run_id).name != run_id or run_id in (".", ".."):
        raise ValueError(f"run id {run_id!r} is not a single path component")
    return Path(directory) / RUNS_DIR / run_id


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV; the columns are ``columns`` then every other key in order of first appearance."""
    names = list(columns)
    for row in rows:
        names += [key for key in row if key not in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_record(
    directory: str | os.PathLike,
    run_id: str,
    config: Mapping[str, Any],
    evals: Sequence[Mapping[str, Any]],
    train: Sequence[Mapping[str, Any]],
    episodes: Sequence[Mapping[str, Any]],
    status: Mapping[str, Any] | None,
) -> Path:
    """
    Write a run's record: any earlier record of the run is removed first, then every file is written atomically and
    ``status.json`` last, so until it lands the record is incomplete, never a mix that looks complete.

    :param directory: experiment output directory
    :param run_id: the run
    :param config: ``config.json``
    :param evals: rows of ``eval.csv`` (``EVAL_COLUMNS``)
    :param train: rows of ``train.csv`` (``TRAIN_COLUMNS`` then the statistics)
    :param episodes: rows of ``episodes.csv`` (``EPISODE_COLUMNS``)
    :param status: ``status.json``, whose ``status`` is one of ``FINAL_STATUSES``; None leaves the record incomplete
    :return: the run's record directory
    """
    if status is not None and status.get("status") not in FINAL_STATUSES:
        raise ValueError(f"status must be one of {list(FINAL_STATUSES)}, got {status.get('status')!r}")
    path = run_dir(directory, run_id)
    if path.exists():
        (path / STATUS_FILE).unlink(missing_ok=True)  # first: an interrupted removal leaves an incomplete record
        shutil.rmtree(path)
    path.mkdir(parents=True)
    write_atomic(path / CONFIG_FILE, json.dumps(config, indent=1) + "\n")
    write_atomic(path / EVAL_FILE, _csv(evals, EVAL_COLUMNS))
    write_atomic(path / TRAIN_FILE, _csv(train, TRAIN_COLUMNS))
    write_atomic(path / EPISODES_FILE, _csv(episodes, EPISODE_COLUMNS))
    if status is not None:
        write_atomic(path / STATUS_FILE, json.dumps(status, indent=1) + "\n")
    return path


def _count(value: object) -> bool:
    return is_integer(value) and value >= 0


def _seconds(value: object) -> bool:
    return value is None or (is_number(value) and math.isfinite(value) and value >= 0)


# The keys of status.json besides ``status``, with what each may hold
STATUS_KEYS = {
    "timesteps": _count,
    "error": lambda value: value is None or isinstance(value, str),
    "diverged_at_update": lambda value: value is None or _count(value),
    "wall_time_s": _seconds,
    "eval_time_s": _seconds,
}
STATUS_KEY_NAMES = {
    "timesteps": "a non-negative integer",
    "error": "a string or null",
    "diverged_at_update": "a non-negative integer or null",
    "wall_time_s": "a non-negative number or null",
    "eval_time_s": "a non-negative number or null",
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(content, dict):
        raise RecordError(f"{path}: must hold a JSON object, got {type(content).__name__}")
    return content


def read_status(run_directory: str | os.PathLike) -> dict[str, Any]:
    """
    Read and check the ``status.json`` of a record directory.

    :param run_directory: the run's record directory
    :return: its content
    :raises FileNotFoundError: when there is no status.json (the run is incomplete)
    :raises RecordError: naming the file, when it is not a JSON object with a ``status`` in ``FINAL_STATUSES`` and each
        key of ``STATUS_KEYS`` as allowed there (``timesteps`` a non-negative integer, ``error`` a string or null, ...)
    """
    path = Path(run_directory) / STATUS_FILE
    status = _read_json(path)
    if status.get("status") not in FINAL_STATUSES:
        raise RecordError(f"{path}: status must be one of {list(FINAL_STATUSES)}, got {status.get('status')!r}")
    for key, allowed in STATUS_KEYS.items():
        if not allowed(status.get(key)):
            raise RecordError(f"{path}: {key} must be {STATUS_KEY_NAMES[key]}, got {status.get(key)!r}")
    return status


def run_status(directory: str | os.PathLike, run_id: str) -> tuple[str, str | None]:
    """
    Return the status of a run from its ``status.json`` alone (the files it lists are not checked).

    :param directory: experiment output directory
    :param run_id: the run
    :return: ``(status, problem)``: status ``ok``, ``diverged``, ``failed`` or ``pruned``; ``incomplete`` when the
        directory has no status.json, or one that fails ``read_status`` (then ``problem`` names the file and what is wrong);
        ``missing`` when there is no directory
    """
    path = run_dir(directory, run_id)
    if not path.is_dir():
        return MISSING, None
    try:
        return read_status(path)["status"], None
    except FileNotFoundError:
        return "incomplete", None
    except RecordError as error:
        return "incomplete", str(error)


# What a column of a record CSV holds: "step" an integer >= 0, "count" an integer >= 1, "value" a number, finite in a run
# that ended ok (a diverged run's last evaluation is the non-finite one that stopped it), "spread" a "value" >= 0.
# Columns of train.csv not named here are statistics: numbers or empty, finite in a run that ended ok.
COLUMN_KINDS = {
    EVAL_FILE: {"timesteps": "step", "mean_return": "value", "std_return": "spread", "n_episodes": "count"},
    TRAIN_FILE: {"update": "count", "timesteps": "step"},
    EPISODES_FILE: {"timesteps": "step", "return": "value", "length": "count"},
}


def _column_problem(values: pd.Series, kind: str, ok: bool) -> str | None:
    """What is wrong with the values of one column, or None."""
    numbers = pd.to_numeric(values, errors="coerce")
    if (numbers.isna() & values.notna()).any():
        return f"non-numeric values ({values[numbers.isna() & values.notna()].iloc[0]!r})"
    array = numbers.to_numpy(dtype=float)
    if kind in ("step", "count"):
        if np.isnan(array).any() or not np.isfinite(array).all() or (array != np.round(array)).any():
            return "values that are not integers"
        if (array < (1 if kind == "count" else 0)).any():
            return f"values below {1 if kind == 'count' else 0}"
        return None
    if ok and not np.isfinite(array[~np.isnan(array)] if kind == "statistic" else array).all():
        return "missing, NaN or infinite values in a run that ended ok"
    if kind == "spread" and (array < 0).any():
        return "negative values"
    return None


def _problem(path: Path, table: pd.DataFrame, columns: Sequence[str], increasing: str, strictly: bool, ok: bool) -> str | None:
    """What is wrong with a record CSV already parsed into ``table``, or None; ``ok``: the run ended ok."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        return f"{path}: lacks the columns {missing}"
    if not path.read_bytes().endswith(b"\n"):
        return f"{path}: truncated (its last line is cut)"
    kinds = COLUMN_KINDS[path.name]
    for column in table.columns:
        problem = _column_problem(table[column], kinds.get(column, "statistic"), ok)
        if problem is not None:
            return f"{path}: column {column!r} has {problem}"
    steps = table[increasing].to_numpy(dtype=float)
    if ((steps[1:] <= steps[:-1]) if strictly else (steps[1:] < steps[:-1])).any():
        return f"{path}: {increasing} do not {'strictly ' if strictly else ''}increase"
    return None


def _read_csv(path: Path, columns: Sequence[str], increasing: str, strictly: bool, ok: bool) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise RecordError(f"{path}: not readable as CSV ({' '.join(str(error).split())})") from error
    problem = _problem(path, table, columns, increasing, strictly, ok)
    if problem is not None:
        raise RecordError(problem)
    return table


def _check_against_status(path: Path, evals: pd.DataFrame, status: Mapping[str, Any]) -> None:
    """An ``ok`` run is evaluated at the step where training stopped; no run is evaluated after it."""
    last = evals["timesteps"].iloc[-1] if len(evals) else None
    if status["status"] == "ok" and last != status["timesteps"]:
        raise RecordError(f"{path}: ends at timesteps {last}, but the run stopped at {status['timesteps']} (rows are missing)")
    if last is not None and last > status["timesteps"]:
        raise RecordError(f"{path}: goes past timesteps {status['timesteps']}, where the run stopped")


@dataclass(frozen=True)
class RecordTables:
    """
    The records of one experiment directory as pandas tables.

    :param runs: one row per run directory: ``run_id, env_id, variant, algo, seed, config_id, label, sweep,
        hyperparameters, status, error, diverged_at_update, timesteps, wall_time_s``; ``status`` is one of
        ``STATUSES``, and for a ``corrupt`` run, or an ``incomplete`` one with a broken status.json, ``error`` names the
        file and what is wrong. A run of a sweep's configuration has its ``config_id`` (a hash of its resolved
        hyperparameters), its ``label`` (e.g. ``pg[learning_rate=0.003]``) and ``sweep`` (its swept values); a run of
        an entry without a sweep has no ``config_id`` (NaN), ``label`` = ``variant`` and ``sweep`` = ``{}``
    :param evals: eval.csv of all runs, long format: ``run_id, timesteps, mean_return, std_return, n_episodes``
    :param train: train.csv of all runs, long format: ``run_id, update, timesteps, <stat>...``
    :param episodes: episodes.csv of all runs (training episodes), long format: ``run_id, timesteps, return, length``
    """

    runs: pd.DataFrame
    evals: pd.DataFrame
    train: pd.DataFrame
    episodes: pd.DataFrame


def _read_config(run_directory: Path) -> dict[str, Any]:
    config = _read_json(run_directory / CONFIG_FILE)
    missing = [key for key in ("env_id", "variant", "seed") if key not in config]
    if missing:
        raise RecordError(f"{run_directory / CONFIG_FILE}: lacks the keys {missing}")
    return config


def _config_from_name(run_directory: Path, problem: str) -> dict[str, Any]:
    match = RUN_ID_PATTERN.match(run_directory.name)
    if match is None:
        raise RecordError(f"{problem}, and the directory name is not '<env_id>__<variant>__seed<seed>'")
    config = {"env_id": unquote(match["env_id"]), "variant": match["variant"], "seed": int(match["seed"])}
    return config if match["config_id"] is None else {**config, "config_id": match["config_id"]}


# The tables of a run: file, required columns, the column that increases, whether strictly
RUN_TABLES = {
    "evals": (EVAL_FILE, EVAL_COLUMNS, "timesteps", True),
    "train": (TRAIN_FILE, TRAIN_COLUMNS, "update", True),
    "episodes": (EPISODES_FILE, EPISODE_COLUMNS, "timesteps", False),
}


def _read_status_and_config(run_directory: Path, problems: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's status (``incomplete`` without a valid one) and config (from its name without one), noting problems."""
    try:
        status: dict[str, Any] = read_status(run_directory)
    except FileNotFoundError:
        status = {"status": "incomplete"}
    except RecordError as error:
        status = {"status": "incomplete"}
        problems.append(str(error))
    try:
        config = _read_config(run_directory)
    except (FileNotFoundError, RecordError) as error:
        problem = f"{run_directory / CONFIG_FILE}: missing" if isinstance(error, FileNotFoundError) else str(error)
        config = _config_from_name(run_directory, problem)
        # config.json is written first: an unfinished run may lack it
        if status["status"] in FINAL_STATUSES or isinstance(error, RecordError):
            problems.append(problem)
    return status, config


def _read_tables(run_directory: Path, status: dict[str, Any], problems: list[str]) -> dict[str, pd.DataFrame]:
    """A run's tables that pass their checks, noting the problems of the others."""
    finished = status["status"] in FINAL_STATUSES
    tables = {}
    for name, (file, columns, increasing, strictly) in RUN_TABLES.items():
        path = run_directory / file
        # episodes.csv is missing from records made before it was part of the format
        if not path.exists() and (not finished or name == "episodes"):
            continue
        try:
            if not path.exists():
                raise RecordError(f"{path}: missing")
            table = _read_csv(path, columns, increasing, strictly, status["status"] == "ok")
            if name == "evals" and finished:
                _check_against_status(path, table, status)
        except RecordError as error:
            problems.append(str(error))
            continue
        if name == "evals" and status["status"] != "ok":
            # the evaluation at which a run diverged is not a score: its non-finite return marks where the curve ends
            table = table.assign(**{key: table[key].where(np.isfinite(table[key])) for key in ("mean_return", "std_return")})
        tables[name] = table.assign(run_id=run_directory.name)
    return tables


def _read_run(run_directory: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """One run's row of ``RecordTables.runs`` and its tables; a file that fails a check makes the run corrupt."""
    problems: list[str] = []
    status, config = _read_status_and_config(run_directory, problems)
    tables = _read_tables(run_directory, status, problems)
    if problems:
        finished = status["status"] in FINAL_STATUSES
        status = {**status, "status": "corrupt" if finished else "incomplete", "error": "; ".join(problems)}
    for problem in problems:
        warnings.warn(f"run {run_directory.name} is {status['status']}: {problem}", stacklevel=3)
    row = {
        "run_id": run_directory.name,
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
    return row, tables


def _concat(tables: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Long table with ``run_id`` first; the given columns when there is no table."""
    if not tables:
        return pd.DataFrame(columns=["run_id", *columns])
    table = pd.concat(tables, ignore_index=True)
    return table[["run_id", *[column for column in table.columns if column != "run_id"]]]


def load_records(directory: str | os.PathLike) -> RecordTables:
    """
    Read and check every run directory ``directory/runs/*/``.

    Nothing is dropped: a run without a valid status.json is ``incomplete``; a finished run with a file that fails a
    check (unreadable, truncated, missing columns or values, steps that do not increase, an evaluation curve that
    does not end where the run stopped) is ``corrupt``, its broken files are left out of the tables, and a warning
    names the file. Failed and diverged runs are kept with their status, error and partial files. A run of the
    directory's ``plan.json`` without a record directory is a row with status ``missing`` (``MISSING``).

    :param directory: experiment output directory (the ``--out`` of ``ppo-variants run``)
    :return: the records
    """
    runs_dir = Path(directory) / RUNS_DIR
    if not runs_dir.is_dir():
        raise ValueError(f"directory must contain a runs/ sub-directory written by 'ppo-variants run', got {directory!r}")
    rows = []
    tables: dict[str, list[pd.DataFrame]] = {"evals": [], "train": [], "episodes": []}
    for run_directory in sorted(path for path in runs_dir.iterdir() if path.is_dir()):
        row, run_tables = _read_run(run_directory)
        rows.append(row)
        for name, table in run_tables.items():
            tables[name].append(table)
    if not rows:
        raise ValueError(f"directory {directory!r} has no run in runs/")
    found = {row["run_id"] for row in rows}
    rows += [_missing_row(planned) for planned in read_plan(directory) if planned["run_id"] not in found]
    return RecordTables(
        runs=pd.DataFrame(rows),
        evals=_concat(tables["evals"], EVAL_COLUMNS),
        train=_concat(tables["train"], TRAIN_COLUMNS),
        episodes=_concat(tables["episodes"], EPISODE_COLUMNS),
    )


def _missing_row(planned: Mapping[str, Any]) -> dict[str, Any]:
    """The row of ``RecordTables.runs`` of a planned run that has no record directory."""
    return {
        **{key: planned.get(key) for key in ("run_id", "env_id", "variant", "algo", "seed", "config_id")},
        "label": planned.get("label", planned["variant"]),
        "sweep": planned.get("sweep", {}),
        "hyperparameters": planned.get("hyperparameters", {}),
        "status": MISSING,
        "error": "planned, never started (no record directory)",
        "diverged_at_update": None,
        "timesteps": None,
        "wall_time_s": None,
    }


PLAN_KEYS = ("run_id", "env_id", "variant", "algo", "seed", "config_id", "label")


def read_plan(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """
    Return the planned runs of an output directory, as ``prepare`` wrote them.

    :param directory: experiment output directory
    :return: one dict per run (``PLAN_KEYS``); empty when the directory has no plan.json (records made before it was
        part of the format)
    :raises RecordError: naming the file when it is not a list of such dicts
    """
    path = Path(directory) / PLAN_FILE
    if not path.exists():
        return []
    try:
        planned = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(planned, list) or not all(isinstance(run, dict) and run.keys() >= set(PLAN_KEYS) for run in planned):
        raise RecordError(f"{path}: must hold a list of planned runs with the keys {list(PLAN_KEYS)}")
    return planned


def layout(directory: str | os.PathLike) -> str | None:
    """
    The layout of an output directory: ``run``, ``tune``, or None when it is none yet (absent or empty).

    :param directory: a directory
    :return: the layout recorded in its layout.json; for a directory made before layout.json was written, ``tune``
        when it has a tuning stage and no runs of its own, ``run`` when it has runs or an experiment file
    """
    directory = Path(directory)
    if (directory / LAYOUT_FILE).exists():
        return _read_json(directory / LAYOUT_FILE).get("layout")
    if (directory / TUNING_DIR).is_dir() and not (directory / RUNS_DIR).is_dir():
        return "tune"
    if (directory / RUNS_DIR).is_dir() or (directory / EXPERIMENT_FILE).exists():
        return "run"
    return None


def is_tune_directory(directory: str | os.PathLike) -> bool:
    """
    Whether a directory is the output of ``ppo-variants tune`` (see ``layout``).

    :param directory: an output directory
    :return: True for a tune directory, also before its evaluation stage has started
    """
    return layout(directory) == "tune"


def _check_layout(directory: Path, kind: str) -> None:
    if kind not in LAYOUTS:
        raise ValueError(f"kind must be one of {list(LAYOUTS)}, got {kind!r}")
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"--out {directory} is a file, not a directory: choose another --out")
    found = layout(directory)
    if found is not None and found != kind:
        raise ValueError(
            f"--out {directory} is the output directory of 'ppo-variants {found}', not of '{kind}': choose another --out"
        )


def claim(directory: str | os.PathLike, kind: str) -> Path:
    """
    Check that an output directory is free or already of layout ``kind``, create it and record its layout.

    :param directory: the ``--out`` directory
    :param kind: ``run`` or ``tune``
    :return: the directory
    :raises ValueError: when it is a file, or the output directory of the other command
    """
    directory = Path(directory)
    _check_layout(directory, kind)
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / LAYOUT_FILE).exists():
        write_atomic(directory / LAYOUT_FILE, json.dumps({"layout": kind}) + "\n")
    return directory


@contextlib.contextmanager
def locked(directory: str | os.PathLike) -> Iterator[Path]:
    """
    Hold an exclusive lock on an output directory (its ``.lock`` file, which holds the holder's pid) while the context
    runs; the lock ends with the process, however it ends.

    :param directory: the directory, created when it does not exist
    :return: a context manager yielding the directory
    :raises ValueError: naming the pid of the holder, when another process holds the lock
    """
    import fcntl  # POSIX only, as the process pool of the runner

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ValueError(
                f"--out {directory} is in use by another ppo-variants process (pid {holder}): wait for it to end, or "
                "choose another --out"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield directory
    finally:
        os.close(descriptor)


class PlannedRun(Protocol):
    """What the layout functions read of a planned run (``sb3_ppo_variants.runner.RunConfig`` is one)."""

    run_id: str
    env_id: str
    variant: str
    algo: str
    seed: int
    config_id: str | None
    label: str


@dataclass
class RunRecord:
    """
    The outcome of one run in memory, as ``save`` writes it to disk (``run_one`` and the engine make them).

    :param config: the resolved configuration plus versions and git commit (config.json)
    :param eval_rows: evaluation curve rows (timesteps, mean_return, std_return, n_episodes)
    :param train_rows: one row of training diagnostics per policy update
    :param episode_rows: one row per training episode (timesteps at its end, return, length)
    :param status: status, error, divergence update, timesteps, wall time (status.json, without ``finished_at``)
    """

    config: dict[str, Any]
    eval_rows: list[dict[str, float]] = field(default_factory=list)
    train_rows: list[dict[str, float]] = field(default_factory=list)
    episode_rows: list[dict[str, float]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run's id, also its directory name."""
        return self.config["run_id"]

    @staticmethod
    def outcome(status: str = "ok", error: str | None = None, diverged_at_update: int | None = None) -> dict[str, Any]:
        """
        How a run ended, the first keys of its status.json (``finish`` adds its steps and times).

        :param status: one of ``FINAL_STATUSES``
        :param error: what went wrong, for a diverged or failed run
        :param diverged_at_update: the policy update at which a diverged run stopped
        :return: ``{"status", "error", "diverged_at_update"}``
        """
        return {"status": status, "error": error, "diverged_at_update": diverged_at_update}

    def finish(self, outcome: dict[str, Any], timesteps: int, wall_time_s: float | None, eval_time_s: float | None) -> None:
        """
        Set this run's status: its ``outcome`` and how far and how long it ran.

        :param outcome: ``RunRecord.outcome(...)``
        :param timesteps: environment steps trained
        :param wall_time_s: seconds the run took, None when it was never executed
        :param eval_time_s: seconds of it spent evaluating, None when it was never executed
        """
        self.status = {**outcome, "timesteps": timesteps, "wall_time_s": wall_time_s, "eval_time_s": eval_time_s}

    def failed(self, error: str) -> "RunRecord":
        """
        The ``failed`` record of this run when it could not be executed (e.g. its worker process died): its config,
        no rows.

        :param error: what happened
        :return: the record
        """
        record = RunRecord(config=self.config)
        record.finish(RunRecord.outcome("failed", error), timesteps=0, wall_time_s=None, eval_time_s=None)
        return record


def save(directory: str | os.PathLike, record: RunRecord) -> Path:
    """
    Write a run's record, stamped with the time it is written (``finished_at``), replacing any earlier one.

    :param directory: experiment output directory
    :param record: the record returned by ``run_one``
    :return: the run's record directory
    """
    return write_record(
        directory,
        record.run_id,
        config=record.config,
        evals=record.eval_rows,
        train=record.train_rows,
        episodes=record.episode_rows,
        status={**record.status, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )


def pending(directory: str | os.PathLike, configs: Sequence[PlannedRun], retry_failed: bool = False) -> list[PlannedRun]:
    """
    The runs still to do: those without a valid final status, and the failed ones when ``retry_failed``.

    :param directory: experiment output directory
    :param configs: the planned runs
    :param retry_failed: re-run runs recorded as ``failed``
    :return: the runs to execute, in plan order
    """
    todo = (MISSING, "incomplete", "failed") if retry_failed else (MISSING, "incomplete")
    return [config for config in configs if run_status(directory, config.run_id)[0] in todo]


def _same_experiment(copy: Path, text: str) -> bool:
    """Whether the copy holds the same TOML data as ``text`` (comments and layout may differ)."""
    try:
        return tomllib.loads(copy.read_text(encoding="utf-8")) == tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def prepare(directory: str | os.PathLike, experiment_file: str | os.PathLike, planned: Sequence[PlannedRun]) -> Path:
    """
    Create the output directory of a run, copy the experiment file into it and list its planned runs (``plan.json``),
    or check it holds the same experiment: the same TOML data, whatever its comments.

    :param directory: experiment output directory
    :param experiment_file: the experiment file being run
    :param planned: every run of its plan
    :return: the directory
    :raises ValueError: when the directory is a file or a tune directory, holds a different experiment (resuming would
        mix two experiments), or holds runs but no experiment file (they may belong to any experiment)
    """
    directory = Path(directory)
    _check_layout(directory, "run")
    text = Path(experiment_file).read_text(encoding="utf-8")
    copy = directory / EXPERIMENT_FILE
    advice = "choose another --out, or delete the directory to start over"
    if copy.exists() and not _same_experiment(copy, text):
        raise ValueError(f"--out {directory} holds a different {EXPERIMENT_FILE} than {experiment_file}: {advice}")
    runs = directory / RUNS_DIR
    if not copy.exists() and runs.is_dir() and any(runs.iterdir()):
        found = sorted(path.name for path in runs.iterdir())
        listing = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ValueError(
            f"--out {directory} holds {len(found)} entries in runs/ ({listing}) but no {EXPERIMENT_FILE}, so they cannot "
            f"be matched to {experiment_file}: {advice}"
        )
    claim(directory, "run")
    if not copy.exists():
        write_atomic(copy, text)
    plan_text = json.dumps([{key: getattr(config, key) for key in PLAN_KEYS} for config in planned], indent=0) + "\n"
    if not (directory / PLAN_FILE).exists() or (directory / PLAN_FILE).read_text(encoding="utf-8") != plan_text:
        write_atomic(directory / PLAN_FILE, plan_text)
    return directory
