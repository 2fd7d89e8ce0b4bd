"""
Synthetic run records following docs/records.md, for tests, benchmarks and trying the report without training.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.data import FINISHED, STATUSES, Records
from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES


def make_records(
    envs: Sequence[str] = ("CartPole-v1", "Acrobot-v1"),
    variants: Sequence[str] = ("clip", "pg"),
    n_seeds: int = 5,
    n_evals: int = 11,
    eval_freq: int = 1000,
    updates_per_eval: int = 2,
    diverged_fraction: float = 0.0,
    statuses: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Records:
    """
    Records of ``envs x variants x n_seeds`` runs whose returns rise from the random score towards a fraction of the
    reference score (the i-th variant reaches ``1 - 0.15 i`` of the gap, plus noise). A diverged run's evaluations and
    updates stop half-way, a failed or incomplete run's a third of the way.

    :param envs: environment ids; ids without references use random score 0 and reference 100
    :param variants: variant names (also used as ``algo``)
    :param n_seeds: seeds per (env, variant), numbered from 0
    :param n_evals: evaluation points, the first at timesteps 0
    :param eval_freq: timesteps between evaluations
    :param updates_per_eval: policy updates between two evaluations
    :param diverged_fraction: probability that a run not listed in ``statuses`` diverged
    :param statuses: status per run_id (``ok``, ``diverged``, ``failed`` or ``incomplete``), overriding the draw
    :param seed: seed of the noise and of the divergence draw
    :return: the records, as ``load_records`` would return them
    """
    statuses = dict(statuses or {})
    bad = {run_id: status for run_id, status in statuses.items() if status not in STATUSES}
    if bad:
        raise ValueError(f"statuses values must be in {list(STATUSES)}, got {bad}")
    if n_evals < 2 or updates_per_eval < 1:
        raise ValueError(f"n_evals must be >= 2 and updates_per_eval >= 1, got {n_evals} and {updates_per_eval}")
    rng = np.random.default_rng(seed)
    keys = [(env, variant, s) for env in envs for variant in variants for s in range(n_seeds)]
    run_ids = np.array([f"{env}__{variant}__seed{s}" for env, variant, s in keys])
    drawn = np.where(rng.random(len(keys)) < diverged_fraction, "diverged", "ok")
    status = np.array([statuses.get(run_id, default) for run_id, default in zip(run_ids, drawn, strict=True)])
    steps = np.arange(n_evals) * eval_freq
    low = np.array([RANDOM_SCORES.get(env, 0.0) for env, _, _ in keys])
    high = np.array([REFERENCE_SCORES.get(env, 100.0) for env, _, _ in keys])
    quality = np.array([1.0 - 0.15 * list(variants).index(variant) for _, variant, _ in keys])
    progress = 1.0 - np.exp(-4.0 * steps / steps[-1])
    noise = rng.normal(0.0, 0.05, size=(len(keys), n_evals))
    returns = low[:, None] + (high - low)[:, None] * (quality[:, None] * progress + noise)
    n_kept = np.select([status == "ok", status == "diverged"], [n_evals, n_evals // 2 + 1], n_evals // 3 + 1)

    kept = np.arange(n_evals) < n_kept[:, None]
    rows, cols = np.nonzero(kept)
    evals = pd.DataFrame(
        {
            "run_id": run_ids[rows],
            "timesteps": steps[cols],
            "mean_return": returns[rows, cols],
            "std_return": 0.1 * (high - low)[rows],
            "n_episodes": 10,
        }
    )
    n_updates = (n_kept - 1) * updates_per_eval
    update = np.arange(1, (n_evals - 1) * updates_per_eval + 1)
    rows, cols = np.nonzero(update < n_updates[:, None] + 1)
    approx_kl = rng.lognormal(np.log(0.01), 1.0, size=rows.size)
    train = pd.DataFrame(
        {
            "run_id": run_ids[rows],
            "update": update[cols],
            "timesteps": update[cols] * eval_freq // updates_per_eval,
            "approx_kl": approx_kl,
            "ratio_max": 1.0 + 20.0 * approx_kl,
            "ratio_min": 1.0 / (1.0 + 20.0 * approx_kl),
            "clip_fraction": np.minimum(1.0, 5.0 * approx_kl),
        }
    )
    runs = pd.DataFrame(
        {
            "run_id": run_ids,
            "env_id": [env for env, _, _ in keys],
            "variant": [variant for _, variant, _ in keys],
            "algo": [variant for _, variant, _ in keys],
            "seed": [s for _, _, s in keys],
            "config_id": None,
            "label": [variant for _, variant, _ in keys],
            "sweep": [{} for _ in keys],
            "hyperparameters": [{"n_envs": 1} for _ in keys],
            "status": status,
            "error": np.select(
                [status == "diverged", status == "failed"],
                ["DivergenceError: non-finite loss", "RuntimeError: synthetic"],
                None,
            ),
            "diverged_at_update": np.where(status == "diverged", n_updates + 1, None),
            "timesteps": np.where(np.isin(status, FINISHED), (n_kept - 1) * eval_freq, None),
            "wall_time_s": np.where(np.isin(status, FINISHED), 1.0, None),
        }
    )
    return Records(runs=runs, evals=evals, train=train)


def write_records(records: Records, directory: str | Path, experiment: str = "synthetic") -> Path:
    """
    Write records as an experiment directory in the on-disk format of docs/records.md (status.json omitted for
    ``incomplete`` runs).

    :param records: records, e.g. from ``make_records``
    :param directory: experiment directory to create
    :param experiment: experiment name stored in config.json
    :return: the directory
    """
    directory = Path(directory)
    evals = dict(tuple(records.evals.groupby("run_id")))
    train = dict(tuple(records.train.groupby("run_id")))
    for run in records.runs.itertuples(index=False):
        run_dir = directory / "runs" / run.run_id
        run_dir.mkdir(parents=True)
        config = {
            "run_id": run.run_id,
            "experiment": experiment,
            "env_id": run.env_id,
            "variant": run.variant,
            "algo": run.algo,
            "seed": int(run.seed),
            "config_id": run.config_id,
            "label": run.label,
            "sweep": run.sweep,
            "total_timesteps": int(records.evals["timesteps"].max()),
            "eval_freq": int(records.evals["timesteps"].drop_duplicates().nsmallest(2).iloc[-1]),
            "eval_episodes": 10,
            "hyperparameters": run.hyperparameters,
            "versions": {"python": "3", "torch": "-", "stable_baselines3": "-", "gymnasium": "-", "sb3_ppo_variants": "0.1.0"},
            "git_commit": None,
        }
        (run_dir / "config.json").write_text(json.dumps(config))
        if run.run_id in evals:
            evals[run.run_id].drop(columns="run_id").to_csv(run_dir / "eval.csv", index=False)
        if run.run_id in train:
            train[run.run_id].drop(columns="run_id").to_csv(run_dir / "train.csv", index=False)
        if run.status != "incomplete":
            status = {
                "status": run.status,
                "error": run.error,
                "diverged_at_update": None if run.diverged_at_update is None else int(run.diverged_at_update),
                "timesteps": int(run.timesteps),
                "wall_time_s": float(run.wall_time_s),
                "finished_at": "2026-01-01T00:00:00+00:00",
            }
            (run_dir / "status.json").write_text(json.dumps(status))
    return directory
