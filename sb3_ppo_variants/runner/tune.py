"""
The two stages of ``ppo-variants tune``: the directory layout and ``selected.toml``, the file that carries the winners of
stage 1 to stage 2 as a plain experiment file anyone can run again, written from the tune file's tables as parsed
(``Experiment.tables``). The names are those of ``sb3_ppo_variants.records`` (``TUNING_DIR``, ``SELECTED_FILE``,
``EVALUATION_DIR``):

```
OUT/tuning/         stage 1: every configuration on the tuning seeds (an ordinary output directory)
OUT/selected.toml   per (environment, variant) the best configuration, on the evaluation seeds
OUT/evaluation/     stage 2: the run of selected.toml
```
"""

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from sb3_ppo_variants.fileio import write_atomic
from sb3_ppo_variants.records import SELECTED_FILE, TUNING_DIR
from sb3_ppo_variants.runner.spec import ENV_OVERRIDES_KEY, SWEEP_KEY, Experiment

METRIC_NAMES = {"auc": "the area under the evaluation curve", "final": "the final return (mean of the last 3 evaluations)"}
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def stage_two_pairs(experiment: Experiment) -> list[tuple[str, str]]:
    """
    The (environment, variant) pairs whose winner stage 2 runs, in file order.

    :param experiment: a tune file
    :return: (env_id, variant entry name) pairs
    """
    return [(env.env_id, variant.name) for env in experiment.envs for variant in experiment.variants]


def toml_key(key: str) -> str:
    """
    A TOML key: bare when it can be, else quoted.

    :param key: the key
    :return: its TOML spelling
    """
    return key if BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """
    A TOML value (inline for tables) of the types an experiment file holds.

    :param value: a bool, int, float, str, list or dict
    :return: its TOML spelling
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{toml_key(key)} = {toml_value(item)}" for key, item in value.items()) + " }" if value else "{}"
        )
    raise TypeError(f"cannot write {value!r} of type {type(value).__name__} to TOML")


def toml_table(header: str, items: dict[str, Any], comment: str | None = None) -> list[str]:
    """
    The lines of a TOML table: a blank line, the header, an optional comment, one ``key = value`` line per item.

    :param header: e.g. ``[envs.CartPole-v1]``
    :param items: key -> value (types as ``toml_value``)
    :param comment: a comment line under the header
    :return: the lines
    """
    lines = ["", header]
    if comment is not None:
        lines.append(f"# {comment}")
    return lines + [f"{toml_key(key)} = {toml_value(value)}" for key, value in items.items()]


def selected_toml(experiment: Experiment, selection: pd.DataFrame, select: str) -> str:
    """
    The text of ``selected.toml``: the tune file without its sweeps, each variant's winner per environment written as
    that variant's overrides for that environment, and ``seeds`` = the evaluation seeds.

    :param experiment: the tune file, parsed
    :param selection: the winners, ``sb3_ppo_variants.analysis.sweeps.select_configurations`` of stage 1
    :param select: the selection metric, ``auc`` or ``final``
    :return: the file's text
    :raises ValueError: when an (environment, variant) has no winner (none of its tuning runs completed)
    """
    raw = experiment.tables
    winners = {(row.env_id, row.variant): row for row in selection.itertuples(index=False)}
    missing = [pair for pair in stage_two_pairs(experiment) if pair not in winners]
    if missing:
        raise ValueError(
            f"no configuration of {missing} completed a tuning run (all failed?): see 'ppo-variants status' of the tuning "
            "directory, fix the cause and tune again with --retry-failed"
        )
    dropped = ("name", "tuning_seeds", "evaluation_seeds", "sweep_samples", "sweep_seed", "search", "search_batch")
    meta = {"name": f"{experiment.name}-selected", **{k: v for k, v in raw["experiment"].items() if k not in dropped}}
    meta["seeds"] = list(experiment.evaluation_seeds)
    lines = [
        f"# Written by 'ppo-variants tune {experiment.path.name}': per (environment, variant), the configuration with the",
        f"# best IQM of {METRIC_NAMES[select]} over the tuning seeds {list(experiment.seeds)}, to run on fresh seeds.",
        "# A plain experiment file: 'ppo-variants run selected.toml' runs it again.",
        *toml_table("[experiment]", meta),
    ]
    for env_id, table in raw["envs"].items():
        lines += toml_table(f"[envs.{toml_key(env_id)}]", {key: value for key, value in table.items() if key != SWEEP_KEY})
    for name, table in raw["variants"].items():
        lines += toml_table(
            f"[variants.{toml_key(name)}]",
            {key: value for key, value in table.items() if key not in (SWEEP_KEY, ENV_OVERRIDES_KEY)},
        )
        for env in experiment.envs:
            winner = winners[env.env_id, name]
            overrides = {**table.get(ENV_OVERRIDES_KEY, {}).get(env.env_id, {}), **winner.sweep}
            note = f"selected {winner.label}: IQM {winner.tuning_score:.6g} over {winner.n_runs} tuning runs"
            if overrides:
                lines += toml_table(f"[variants.{toml_key(name)}.{ENV_OVERRIDES_KEY}.{toml_key(env.env_id)}]", overrides, note)
    return "\n".join(lines) + "\n"


def write_selected(experiment: Experiment, selection: pd.DataFrame, select: str, directory: str | Path) -> Path:
    """
    Write ``OUT/selected.toml`` (atomically), or check that the one already there is the same.

    :param experiment: the tune file, parsed
    :param selection: the winners of stage 1
    :param select: the selection metric
    :param directory: the tune's output directory
    :return: the file
    :raises ValueError: when a different selected.toml is there (e.g. selected with another metric)
    """
    path = Path(directory) / SELECTED_FILE
    text = selected_toml(experiment, selection, select)
    if path.exists() and path.read_text(encoding="utf-8") != text:
        raise ValueError(
            f"{path} differs from the selection of {Path(directory) / TUNING_DIR} by {select!r} (another --select, or an "
            "edited file?): delete it, or the whole directory, to select again"
        )
    if not path.exists():
        write_atomic(path, text)
    return path
