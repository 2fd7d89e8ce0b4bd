"""
The output directory of an experiment: created or checked before any run, and each run's record saved as it arrives
(the format and its writer are in ``sb3_ppo_variants.records``).
"""

from datetime import datetime, timezone
from pathlib import Path

from sb3_ppo_variants import records
from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.runner.run import RunConfig, RunRecord


def save(directory: str | Path, record: RunRecord) -> Path:
    """
    Write a run's record, stamped with the time it is written (``finished_at``), replacing any earlier one.

    :param directory: experiment output directory
    :param record: the record returned by ``run_one``
    :return: the run's record directory
    """
    return records.write_record(
        directory,
        record.run_id,
        config=record.config,
        evals=record.eval_rows,
        train=record.train_rows,
        episodes=record.episode_rows,
        status={**record.status, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )


def pending(directory: str | Path, configs: list[RunConfig], retry_failed: bool = False) -> list[RunConfig]:
    """
    The runs still to do: those without a valid final status, and the failed ones when ``retry_failed``.

    :param directory: experiment output directory
    :param configs: the planned runs
    :param retry_failed: re-run runs recorded as ``failed``
    :return: the runs to execute, in plan order
    """
    todo = ("missing", "incomplete", "failed") if retry_failed else ("missing", "incomplete")
    return [config for config in configs if records.run_status(directory, config.run_id)[0] in todo]


def prepare(directory: str | Path, experiment_file: str | Path) -> Path:
    """
    Create the output directory and copy the experiment file into it, or check it holds the same experiment.

    :param directory: experiment output directory
    :param experiment_file: the experiment file being run
    :return: the directory
    :raises ValueError: when the directory is a file, holds a different experiment file (resuming would mix two
        experiments), or holds runs but no experiment file (they may belong to any experiment)
    """
    directory = Path(directory)
    text = Path(experiment_file).read_text(encoding="utf-8")
    copy = directory / "experiment.toml"
    advice = "choose another --out, or delete the directory to start over"
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"--out {directory} is a file, not a directory: choose another --out")
    if copy.exists() and copy.read_text(encoding="utf-8") != text:
        raise ValueError(f"--out {directory} holds a different experiment.toml than {experiment_file}: {advice}")
    runs = directory / records.RUNS_DIR
    if not copy.exists() and runs.is_dir() and any(runs.iterdir()):
        found = sorted(path.name for path in runs.iterdir())
        listing = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ValueError(
            f"--out {directory} holds {len(found)} entries in runs/ ({listing}) but no experiment.toml, so they cannot be "
            f"matched to {experiment_file}: {advice}"
        )
    if not copy.exists():
        write_atomic(copy, text)
    return directory
