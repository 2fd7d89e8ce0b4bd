"""
Synthetic run records following docs/records.md, for tests, benchmarks and trying the report without training.

Run ids, configuration ids and labels are made by the functions of ``sb3_ppo_variants.records`` that the runner uses.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sb3_ppo_variants.analysis.references import RANDOM_SCORES, REFERENCE_SCORES
from sb3_ppo_variants.records import EPISODE_COLUMNS, FINAL_STATUSES, RecordTables, config_id, label, run_id, write_record

# What a synthetic run may be: its record is written with a final status, or without one
SYNTHETIC_STATUSES = (*FINAL_STATUSES, "incomplete")


def _synthetic_train(
    run_ids: np.ndarray, n_updates: np.ndarray, n_evals: int, eval_freq: int, updates_per_eval: int, rng: np.random.Generator
) -> pd.DataFrame:
    """train.csv rows of ``make_records``: ``n_updates[i]`` updates of run i with log-normal KLs and ratios from them."""
    update = np.arange(1, (n_evals - 1) * updates_per_eval + 1)
    rows, cols = np.nonzero(update < n_updates[:, None] + 1)
    approx_kl = rng.lognormal(np.log(0.01), 1.0, size=rows.size)
    return pd.DataFrame(
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


def _synthetic_runs(
    keys: list[tuple[str, str, int]],
    run_ids: np.ndarray,
    status: np.ndarray,
    n_kept: np.ndarray,
    n_updates: np.ndarray,
    eval_freq: int,
) -> pd.DataFrame:
    """The runs table of ``make_records``, one row per (env, variant, seed) of ``keys``."""
    return pd.DataFrame(
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
            "timesteps": np.where(np.isin(status, FINAL_STATUSES), (n_kept - 1) * eval_freq, None),
            "wall_time_s": np.where(np.isin(status, FINAL_STATUSES), 1.0, None),
        }
    )


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
    noise_sd: float = 0.05,
) -> RecordTables:
    """
    Records of ``envs x variants x n_seeds`` runs whose returns rise from the random score towards a fraction of the
    reference score (the i-th variant reaches ``1 - 0.15 i`` of the gap, plus noise): at evaluation j of ``n_evals``,
    ``random + (reference - random) ((1 - 0.15 i)(1 - exp(-4 j / (n_evals - 1))) + noise)``. A diverged run's evaluations
    and updates stop half-way, a failed or incomplete run's a third of the way.

    :param envs: environment ids; ids without references use random score 0 and reference 100
    :param variants: variant names (also used as ``algo``)
    :param n_seeds: seeds per (env, variant), numbered from 0
    :param n_evals: evaluation points, the first at timesteps 0
    :param eval_freq: timesteps between evaluations
    :param updates_per_eval: policy updates between two evaluations
    :param diverged_fraction: probability that a run not listed in ``statuses`` diverged
    :param statuses: status per run_id (``ok``, ``diverged``, ``failed`` or ``incomplete``), overriding the draw
    :param seed: seed of the noise and of the divergence draw
    :param noise_sd: standard deviation of the noise, in units of the gap between random and reference; 0 gives returns
        that can be worked out by hand
    :return: the records, as ``load_records`` would return them
    """
    statuses = dict(statuses or {})
    bad = {run: status for run, status in statuses.items() if status not in SYNTHETIC_STATUSES}
    if bad:
        raise ValueError(f"statuses values must be in {list(SYNTHETIC_STATUSES)}, got {bad}")
    if n_evals < 2 or updates_per_eval < 1:
        raise ValueError(f"n_evals must be >= 2 and updates_per_eval >= 1, got {n_evals} and {updates_per_eval}")
    rng = np.random.default_rng(seed)
    keys = [(env, variant, s) for env in envs for variant in variants for s in range(n_seeds)]
    run_ids = np.array([run_id(env, variant, s) for env, variant, s in keys])
    drawn = np.where(rng.random(len(keys)) < diverged_fraction, "diverged", "ok")
    status = np.array([statuses.get(run, default) for run, default in zip(run_ids, drawn, strict=True)])
    steps = np.arange(n_evals) * eval_freq
    low = np.array([RANDOM_SCORES.get(env, 0.0) for env, _, _ in keys])
    high = np.array([REFERENCE_SCORES.get(env, 100.0) for env, _, _ in keys])
    quality = np.array([1.0 - 0.15 * list(variants).index(variant) for _, variant, _ in keys])
    progress = 1.0 - np.exp(-4.0 * steps / steps[-1])
    noise = rng.normal(0.0, noise_sd, size=(len(keys), n_evals))
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
    train = _synthetic_train(run_ids, n_updates, n_evals, eval_freq, updates_per_eval, rng)
    runs = _synthetic_runs(keys, run_ids, status, n_kept, n_updates, eval_freq)
    episodes = pd.DataFrame(columns=["run_id", *EPISODE_COLUMNS])
    return RecordTables(runs=runs, evals=evals, train=train, episodes=episodes)


def _flat_records(
    configurations: Sequence[Mapping[str, object]], first_seed: int, n_evals: int, eval_freq: int
) -> RecordTables:
    """
    Records whose runs evaluate flat at a given score; each configuration is a dict of the identity columns of the
    runs table (``env_id, variant, config_id, label, sweep, hyperparameters``) and ``scores``, one per seed from
    ``first_seed``, NaN for a failed run (its only evaluation is at timesteps 0, at score 0).
    """
    if n_evals < 1:
        raise ValueError(f"n_evals must be >= 1, got {n_evals}")
    runs, evals = [], []
    for configuration in configurations:
        identity = {key: value for key, value in configuration.items() if key != "scores"}
        for i, score in enumerate(configuration["scores"]):
            failed = math.isnan(score)
            run = run_id(identity["env_id"], identity["variant"], first_seed + i, identity["config_id"])
            runs.append(
                {"run_id": run, "algo": identity["variant"], "seed": first_seed + i}
                | identity
                | {
                    "status": "failed" if failed else "ok",
                    "error": "RuntimeError: synthetic" if failed else None,
                    "diverged_at_update": None,
                    "timesteps": 0 if failed else (n_evals - 1) * eval_freq,
                    "wall_time_s": 1.0,
                }
            )
            steps = [0] if failed else [t * eval_freq for t in range(n_evals)]
            evals += [
                {
                    "run_id": run,
                    "timesteps": t,
                    "mean_return": 0.0 if failed else score,
                    "std_return": 0.0,
                    "n_episodes": 10,
                }
                for t in steps
            ]
    return RecordTables(
        runs=pd.DataFrame(runs),
        evals=pd.DataFrame(evals),
        train=pd.DataFrame(columns=["run_id", "update", "timesteps"]),
        episodes=pd.DataFrame(columns=["run_id", *EPISODE_COLUMNS]),
    )


def make_sweep_records(
    configurations: Sequence[tuple[str, str, Mapping[str, object], Sequence[float]]],
    first_seed: int = 0,
    n_evals: int = 4,
    eval_freq: int = 1000,
    hyperparameters: Mapping[str, object] | None = None,
) -> RecordTables:
    """
    Records of a sweep's configurations with known scores: every run's evaluation curve is flat at its score, so that
    its AUC and its final return both equal it.

    A configuration's ``config_id`` and label are the runner's (``records.config_id`` of its environment, its variant as
    the class and its resolved hyperparameters; ``records.label``); an entry without a sweep has no ``config_id`` (NaN)
    and its variant as label.

    :param configurations: ``(env_id, variant, sweep, scores)`` per configuration: ``sweep`` the dict of its swept
        values (``{}`` for an entry without a sweep), ``scores`` one per seed (numbered from ``first_seed``), NaN for a
        run that failed
    :param first_seed: seed of each configuration's first run
    :param n_evals: evaluation points per run, the first at timesteps 0
    :param eval_freq: timesteps between evaluations
    :param hyperparameters: hyperparameters shared by every configuration (default ``{"n_envs": 1}``), to which each
        configuration's swept values are added
    :return: the records, as ``load_records`` would return them
    """
    base = {"n_envs": 1} if hyperparameters is None else dict(hyperparameters)
    entries = []
    for env_id, variant, sweep, scores in configurations:
        resolved = base | dict(sweep)
        entries.append(
            {
                "env_id": env_id,
                "variant": variant,
                "config_id": config_id(env_id, variant, resolved) if sweep else None,
                "label": label(variant, sweep),
                "sweep": dict(sweep),
                "hyperparameters": resolved,
                "scores": scores,
            }
        )
    return _flat_records(entries, first_seed, n_evals, eval_freq)


def make_evaluation_records(
    winners: pd.DataFrame,
    scores: Mapping[tuple[str, str], Sequence[float]],
    first_seed: int = 100,
    n_evals: int = 4,
    eval_freq: int = 1000,
) -> RecordTables:
    """
    Records of a tune's evaluation stage: each winner run again, as an entry without a sweep, at known scores.

    As ``selected.toml`` runs them, a winner's runs have the variant entry's name as ``variant`` and ``label``,
    no ``config_id`` (NaN), no swept values, and the winner's resolved hyperparameters.

    :param winners: the selection, ``sweeps.select_configurations``
    :param scores: (env_id, variant) -> scores, one per fresh seed (numbered from ``first_seed``), NaN for a failed run
    :param first_seed: seed of each winner's first fresh run
    :param n_evals: evaluation points per run, the first at timesteps 0
    :param eval_freq: timesteps between evaluations
    :return: the records
    """
    entries = [
        {
            "env_id": winner.env_id,
            "variant": winner.variant,
            "config_id": None,
            "label": winner.variant,
            "sweep": {},
            "hyperparameters": winner.hyperparameters,
            "scores": scores[winner.env_id, winner.variant],
        }
        for winner in winners.itertuples(index=False)
    ]
    return _flat_records(entries, first_seed, n_evals, eval_freq)


def write_records(records: RecordTables, directory: str | Path, experiment: str = "synthetic") -> Path:
    """
    Write records as an experiment directory in the on-disk format (``sb3_ppo_variants.records``; status.json omitted
    for ``incomplete`` runs).

    :param records: records, e.g. from ``make_records``
    :param directory: experiment directory to create
    :param experiment: experiment name stored in config.json
    :return: the directory
    """
    directory = Path(directory)
    tables = {
        name: {run: rows.drop(columns="run_id").to_dict("records") for run, rows in table.groupby("run_id")}
        for name, table in (("evals", records.evals), ("train", records.train), ("episodes", records.episodes))
    }
    for run in records.runs.itertuples(index=False):
        config = {
            "run_id": run.run_id,
            "experiment": experiment,
            "env_id": run.env_id,
            "variant": run.variant,
            "algo": run.algo,
            "seed": int(run.seed),
            "config_id": None if pd.isna(getattr(run, "config_id", None)) else run.config_id,
            "label": getattr(run, "label", run.variant),
            "sweep": getattr(run, "sweep", {}),
            "total_timesteps": int(records.evals["timesteps"].max()),
            "eval_freq": int(records.evals["timesteps"].drop_duplicates().nsmallest(2).iloc[-1]),
            "eval_episodes": 10,
            "hyperparameters": getattr(run, "hyperparameters", {"n_envs": 1}),
            "versions": {"python": "3", "torch": "-", "stable_baselines3": "-", "gymnasium": "-", "sb3_ppo_variants": "0.1.0"},
            "git_commit": None,
        }
        status = None
        if run.status != "incomplete":
            status = {
                "status": run.status,
                "error": None if pd.isna(run.error) else run.error,
                "diverged_at_update": None if run.diverged_at_update is None else int(run.diverged_at_update),
                "timesteps": int(run.timesteps),
                "wall_time_s": float(run.wall_time_s),
                "finished_at": "2026-01-01T00:00:00+00:00",
            }
        rows = {name: table.get(run.run_id, []) for name, table in tables.items()}
        write_record(directory, run.run_id, config, **rows, status=status)
    return directory
