"""
The figures that the prose of docs/results.md and docs/espo-scope.md quotes from the committed records, recomputed
from those records: a claim that drifts from the files fails here. (The tables of those pages are copied from the
committed reports, which the commands beside them regenerate; these are the numbers written into sentences.)
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from sb3_ppo_variants import records
from sb3_ppo_variants.analysis.two_sample import build_two_sample
from sb3_ppo_variants.records import load_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"
ESPO_SCOPE = ROOT / "docs" / "espo-scope.md"


def _prose(path: Path) -> str:
    return " ".join(path.read_text().split())


def _train(directory: str, prefix: str) -> pd.DataFrame:
    records = load_records(ROOT / "results" / directory)
    return records.train[records.train["run_id"].str.startswith(prefix)]


def _stops(train: pd.DataFrame) -> tuple[float, float, float, float]:
    """Fraction of updates stopped, fraction of stops after epoch 2, mean stop epoch of all and of the stopped updates."""
    stopped = train[train["early_stop"] == 1]
    after_two = (stopped["stop_epoch"] > 2).mean()
    return train["early_stop"].mean(), after_two, train["stop_epoch"].mean(), stopped["stop_epoch"].mean()


def test_espo_stops_in_the_objectives_experiment() -> None:
    text = _prose(RESULTS)
    pendulum = _stops(_train("objectives", "Pendulum-v1__espo__"))
    cartpole = _stops(_train("objectives", "CartPole-v1__espo__"))
    acrobot = _stops(_train("objectives", "Acrobot-v1__espo__"))
    assert pendulum[0] == 1.0 and "stopped every Pendulum-v1 update of the 5 seeds" in text
    assert f"{100 * (1 - pendulum[1]):.1f}% of them within the first two of 10 epochs" in text
    assert f"(mean `stop_epoch` {pendulum[2]:.2f} in `train.csv`)" in text
    assert f"stopped {100 * cartpole[0]:.1f}% and {100 * acrobot[0]:.1f}% of the updates" in text
    assert f"(mean stop epoch {cartpole[3]:.1f} of 20 and {acrobot[3]:.1f} of 4 among the stopped ones)" in text


def test_espo_stops_in_the_scope_experiment() -> None:
    text = _prose(ESPO_SCOPE)
    pendulum = _stops(_train("espo-scope", "Pendulum-v1__espo"))
    acrobot = _stops(_train("espo-scope", "Acrobot-v1__espo"))
    assert pendulum[0] == 1.0
    assert f"every ESPO update stops, {100 * (1 - pendulum[1]):.0f}% of them in the first or second of 10 epochs" in text
    assert f"the updates that stop do so late ({acrobot[3]:.1f} of 4 epochs)" in text


def test_pg_tuning_claim() -> None:
    text = _prose(RESULTS)
    records = load_records(ROOT / "results" / "tuned-classic-scaled" / "tuning")
    runs = records.runs[records.runs["run_id"].str.startswith("Acrobot-v1__pg__")]
    evals = records.evals.merge(runs[["run_id", "label", "seed"]], on="run_id")
    at_high = evals[evals["label"] == "pg[learning_rate=0.01]"]
    first = at_high[at_high["mean_return"] >= -100].groupby("seed")["timesteps"].min()
    assert len(first) == 3 and "At 1e-2 all three tuning seeds reach −100" in text
    assert f"only after {first.min() // 1000}k to {first.max() // 1000}k of the 100k steps" in text
    auc = at_high.groupby("seed")["mean_return"].mean()
    assert "(AUC " + ", ".join(f"{value:.0f}".replace("-", "−") for value in auc) + ")" in text
    at_selected = evals[evals["label"] == "pg[learning_rate=0.0005]"]
    reached = at_selected[at_selected["mean_return"] >= -100]["seed"].nunique()
    assert reached == 1 and "where one tuning seed of three reaches −100" in text


def test_kl_against_the_quick_records() -> None:
    text = _prose(RESULTS)
    objectives, quick = load_records(ROOT / "results" / "objectives"), load_records(ROOT / "results" / "quick")
    differences, pendulum_equal, other_trajectories = [], [], 0
    for run_id in objectives.runs.loc[objectives.runs["variant"] == "kl", "run_id"]:
        now = objectives.train[objectives.train["run_id"] == run_id].reset_index(drop=True)
        then = quick.train[quick.train["run_id"] == run_id].reset_index(drop=True)
        columns = [c for c in then.columns if c not in ("run_id", "update", "timesteps")]
        if run_id.startswith("Pendulum-v1"):
            pendulum_equal.append(now[columns].equals(then[columns]))
            continue
        differences.append(np.abs(now.loc[0, ["policy_objective", "kl"]] - then.loc[0, ["policy_objective", "kl"]]).max())
        evals_now = objectives.evals.loc[objectives.evals["run_id"] == run_id, "mean_return"].to_numpy()
        evals_then = quick.evals.loc[quick.evals["run_id"] == run_id, "mean_return"].to_numpy()
        other_trajectories += not np.array_equal(evals_now, evals_then)
    assert pendulum_equal == [True] * 5 and "the 5 on Pendulum-v1 reproduce every column of the quick records" in text
    assert len(differences) == 10 and min(differences) > 0
    assert f"by {min(differences):.1e} to {max(differences):.1e} in its policy objective and KL" in text
    assert f"enough for {other_trajectories} of those 10 runs to take other trajectories" in text


def test_engine_equivalence_reading() -> None:
    text = _prose(RESULTS)
    equivalence = ROOT / "results" / "engine-equivalence"
    classic = build_two_sample(equivalence / "sb3", equivalence / "batched").table
    hopper = build_two_sample(equivalence / "hopper-sb3", equivalence / "hopper-batched").table
    both = pd.concat([classic, hopper])
    assert len(both) == 12 and (both["welch_p"] > 0.05).all()
    assert f"Welch p from {both['welch_p'].min():.3f} to 1" in text
    final, auc = (classic[classic["metric"] == metric] for metric in ("final_return", "auc"))
    positive = final[final["mdd"] > 0]
    assert f"{positive['mdd'].min():.0f} to {positive['mdd'].max():.0f} in final return" in text
    assert f"and {auc['mdd'].min():.0f} to {auc['mdd'].max():.0f} in AUC" in text
    hopper_final, hopper_auc = (hopper[hopper["metric"] == metric] for metric in ("final_return", "auc"))
    assert f"({hopper_final['mdd'].min():,.0f} to {hopper_final['mdd'].max():,.0f} in final return" in text
    assert f"and {hopper_auc['mdd'].min():.0f} to {hopper_auc['mdd'].max():.0f} in AUC" in text
    lower = final[final["difference"] > 0]
    assert len(lower) == 3 and f"lower in 3 of the 4 classic-control cells (by {lower['difference'].min():.1f} to" in text
    assert f"{lower['difference'].max():.1f}, p {lower['welch_p'].min():.2f} to {lower['welch_p'].max():.2f})" in text
    kl_hopper = hopper_final[hopper_final["variant"] == "kl"].iloc[0]
    assert f"SB3's kl is higher on Hopper-v5 (by {kl_hopper['difference']:.0f}, p {kl_hopper['welch_p']:.2f})" in text


def _commit(run: Path) -> str:
    return json.loads((run / records.CONFIG_FILE).read_text())["git_commit"][:7]


def test_table1_state() -> None:
    """The state of the running Table 1 experiment: how many records, all ok, and how many each commit made."""
    directory = ROOT / "results" / "ppo-paper-table1"
    runs = sorted(path for path in (directory / "runs").iterdir() if path.is_dir())
    statuses = [records.read_status(run)["status"] for run in runs]
    commits = Counter(_commit(run) for run in runs)
    prose = _prose(RESULTS)
    assert f"**State: {len(runs)} of 315 runs finished, all `ok`**" in prose and set(statuses) == {"ok"}
    assert f"{commits['d0c70c6']} records were made on 2026-12-02 by the package code `d0c70c6`" in prose
    assert f"{commits['e8fd29d']} were made on 2026-12-07 and 2026-12-08 by `e8fd29d`" in prose
    assert sum(commits.values()) == len(runs)
    days = {records.read_status(run)["finished_at"][:10] for run in runs if _commit(run) == "e8fd29d"}
    assert days == {"2026-12-07", "2026-12-08"}
    per_task = Counter(run.name.split("__")[0] for run in runs)
    complete = sorted(task for task, n in per_task.items() if n == 45)
    assert (
        f"all 45 runs of {', '.join(complete[:-1])} and {complete[-1]}, and pg's 3 on Reacher-v5 and on Swimmer-v5." in prose
    )
    pg_only = sorted(t for t, n in per_task.items() if n == 3)
    assert pg_only == ["Reacher-v5", "Swimmer-v5"] and "Walker2d-v5" not in per_task
    assert all(run.name.split("__")[1] == "pg" for run in runs if run.name.split("__")[0] in pg_only)


def test_envpool_evidence_reading() -> None:
    evidence = json.loads((ROOT / "results" / "envpool-evidence" / "envpool_evidence.json").read_text())
    prose = _prose(RESULTS)
    tasks = evidence["tasks"]
    assert len(tasks) == 10 and all(task["same_shapes"] for task in tasks)
    assert f"in {evidence['wall_time_s']:.0f} s" in prose and f"commit `{evidence['git_commit'][:7]}`" in prose
    rows = {(t["env_id"], p, m): r for t in tasks for p in ("random_policy", "trained_policy") for m, r in t[p].items()}
    low = sorted(key for key, row in rows.items() if row["ks_p"] < 0.05)
    assert len(rows) == 40 and f"{len(low)} of the 40 comparisons fall below p = 0.05" in prose
    assert low == [
        ("CartPole-v1", "trained_policy", "length"),
        ("CartPole-v1", "trained_policy", "return"),
        ("Reacher-v5", "trained_policy", "return"),
    ]
    assert min(row["ks_p"] for row in rows.values()) > 0.05 / 40
    cartpole, reacher = rows[low[1]], rows[low[2]]
    assert f"({cartpole['gymnasium']['mean']:.0f} on gymnasium, {cartpole['envpool']['mean']:.0f} on envpool," in prose
    assert f"p = {cartpole['ks_p']:.3f};" in prose
    assert (
        f"return ({reacher['gymnasium']['mean']:.1f} against {reacher['envpool']['mean']:.1f}, p = {reacher['ks_p']:.2f})"
        in prose.replace("−", "-")
    )
