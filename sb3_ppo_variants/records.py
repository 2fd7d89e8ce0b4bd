"""
The run-record format (docs/records.md): paths, writers, readers and the checks made on load.

The one owner of the format: the runner writes records through it, the analysis reads them through it. It imports
numpy and pandas only (no torch, Stable-Baselines3 or gymnasium), so records can be read where torch is not installed.
"""

import csv
import io
import json
import os
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd

from sb3_ppo_variants.fileio import write_atomic

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
COMPLETED = ("ok", "diverged")
# Columns that may hold NaN: the evaluation at which a run diverged has a non-finite return
NULLABLE_COLUMNS = ("mean_return", "std_return")
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
    :raises RecordError: naming the file, when it is not a JSON object with a ``status`` in ``FINAL_STATUSES`` and
        ``timesteps`` a non-negative integer
    """
    path = Path(run_directory) / STATUS_FILE
    status = _read_json(path)
    if status.get("status") not in FINAL_STATUSES:
        raise RecordError(f"{path}: status must be one of {list(FINAL_STATUSES)}, got {status.get('status')!r}")
    timesteps = status.get("timesteps")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 0:
        raise RecordError(f"{path}: timesteps must be a non-negative integer, got {timesteps!r}")
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
        return "missing", None
    try:
        return read_status(path)["status"], None
    except FileNotFoundError:
        return "incomplete", None
    except RecordError as error:
        return "incomplete", str(error)


def _problem(path: Path, table: pd.DataFrame, columns: Sequence[str], increasing: str, strictly: bool) -> str | None:
    """What is wrong with a record CSV already parsed into ``table``, or None."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        return f"{path}: lacks the columns {missing}"
    if not path.read_bytes().endswith(b"\n"):
        return f"{path}: truncated (its last line is cut)"
    required = [column for column in columns if column not in NULLABLE_COLUMNS]
    if table[required].apply(pd.to_numeric, errors="coerce").isna().to_numpy().any():
        return f"{path}: rows with missing or non-numeric values in {required}"
    steps = table[increasing].to_numpy(dtype=float)
    if ((steps[1:] <= steps[:-1]) if strictly else (steps[1:] < steps[:-1])).any():
        return f"{path}: {increasing} do not {'strictly ' if strictly else ''}increase"
    return None


def _read_csv(path: Path, columns: Sequence[str], increasing: str, strictly: bool) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise RecordError(f"{path}: not readable as CSV ({' '.join(str(error).split())})") from error
    problem = _problem(path, table, columns, increasing, strictly)
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


def _read_run(run_directory: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """One run's row of ``RecordTables.runs`` and its tables; a file that fails a check makes the run corrupt."""
    problems = []
    try:
        status: dict[str, Any] = read_status(run_directory)
    except FileNotFoundError:
        status = {"status": "incomplete"}
    except RecordError as error:
        status = {"status": "incomplete"}
        problems.append(str(error))
    finished = status["status"] in FINAL_STATUSES
    try:
        config = _read_config(run_directory)
    except (FileNotFoundError, RecordError) as error:
        problem = f"{run_directory / CONFIG_FILE}: missing" if isinstance(error, FileNotFoundError) else str(error)
        config = _config_from_name(run_directory, problem)
        # config.json is written first: an unfinished run may lack it
        if finished or isinstance(error, RecordError):
            problems.append(problem)
    tables = {}
    files = {
        "evals": (EVAL_FILE, EVAL_COLUMNS, "timesteps", True),
        "train": (TRAIN_FILE, TRAIN_COLUMNS, "update", True),
        "episodes": (EPISODES_FILE, EPISODE_COLUMNS, "timesteps", False),
    }
    for name, (file, columns, increasing, strictly) in files.items():
        path = run_directory / file
        # episodes.csv is missing from records made before it was part of the format
        if not path.exists() and (not finished or name == "episodes"):
            continue
        try:
            if not path.exists():
                raise RecordError(f"{path}: missing")
            table = _read_csv(path, columns, increasing, strictly)
            if name == "evals" and finished:
                _check_against_status(path, table, status)
        except RecordError as error:
            problems.append(str(error))
            continue
        tables[name] = table.assign(run_id=run_directory.name)
    if problems:
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
    names the file. Failed and diverged runs are kept with their status, error and partial files.

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
    return RecordTables(
        runs=pd.DataFrame(rows),
        evals=_concat(tables["evals"], EVAL_COLUMNS),
        train=_concat(tables["train"], TRAIN_COLUMNS),
        episodes=_concat(tables["episodes"], EPISODE_COLUMNS),
    )
