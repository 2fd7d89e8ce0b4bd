"""
Records on disk (docs/records.md): written by the driver only, every file atomically, ``status.json`` last.
"""

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.runner.run import Record, RunConfig

RECORD_FILES = ("config.json", "eval.csv", "train.csv", "status.json")
EVAL_COLUMNS = ("timesteps", "mean_return", "std_return", "n_episodes")


def run_dir(directory: str | Path, run_id: str) -> Path:
    """
    :param directory: experiment output directory
    :param run_id: the run
    :return: the run's record directory
    """
    return Path(directory) / "runs" / run_id


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = ()) -> str:
    """Rows as CSV; the columns are ``columns`` then every other key in order of first appearance."""
    names = list(columns)
    for row in rows:
        names += [key for key in row if key not in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_record(directory: str | Path, record: Record) -> Path:
    """
    Write a run's record. Any earlier status is removed first, so until the new ``status.json`` lands the record is
    incomplete, never a mix that looks complete.

    :param directory: experiment output directory
    :param record: the record returned by ``run_one``
    :return: the run's record directory
    """
    path = run_dir(directory, record.run_id)
    path.mkdir(parents=True, exist_ok=True)
    (path / "status.json").unlink(missing_ok=True)
    write_atomic(path / "config.json", json.dumps(record.config, indent=1) + "\n")
    write_atomic(path / "eval.csv", _csv(record.eval_rows, EVAL_COLUMNS))
    write_atomic(path / "train.csv", _csv(record.train_rows, ("update", "timesteps")))
    status = {**record.status, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(path / "status.json", json.dumps(status, indent=1) + "\n")
    return path


def read_status(directory: str | Path, run_id: str) -> str:
    """
    :param directory: experiment output directory
    :param run_id: the run
    :return: ``ok``, ``diverged`` or ``failed`` from its ``status.json``; ``incomplete`` when the directory exists
        without one; ``missing`` when there is no directory
    """
    path = run_dir(directory, run_id)
    if not path.is_dir():
        return "missing"
    try:
        return json.loads((path / "status.json").read_text())["status"]
    except FileNotFoundError:
        return "incomplete"


def pending(directory: str | Path, configs: list[RunConfig], retry_failed: bool = False) -> list[RunConfig]:
    """
    The runs still to do: those without a final status, and the failed ones when ``retry_failed``.

    :param directory: experiment output directory
    :param configs: the planned runs
    :param retry_failed: re-run runs recorded as ``failed``
    :return: the runs to execute, in plan order
    """
    todo = ("missing", "incomplete", "failed") if retry_failed else ("missing", "incomplete")
    return [config for config in configs if read_status(directory, config.run_id) in todo]


def prepare(directory: str | Path, experiment_file: str | Path) -> Path:
    """
    Create the output directory and copy the experiment file into it, or check it holds the same experiment.

    :param directory: experiment output directory
    :param experiment_file: the experiment file being run
    :return: the directory
    :raises ValueError: when the directory holds a different experiment file (resuming would mix two experiments)
    """
    directory = Path(directory)
    text = Path(experiment_file).read_text(encoding="utf-8")
    copy = directory / "experiment.toml"
    if copy.exists() and copy.read_text(encoding="utf-8") != text:
        raise ValueError(
            f"--out {directory} holds a different experiment.toml than {experiment_file}: "
            "choose another --out, or delete the directory to start over"
        )
    if not copy.exists():
        write_atomic(copy, text)
    return directory
