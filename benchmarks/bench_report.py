"""
Time the statistics and tables of the report on 10,000 synthetic runs x 100 evaluation points.

5 variants x 4 environments x 500 seeds, built in memory (disk loading is not timed), then ``build_report`` with
2000 bootstrap resamples for the tables (learning-curve bands included, 500 resamples) and the Markdown, CSV,
LaTeX and JSON exports. Target: under 10 s. Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_report.py``.
"""

import time

from sb3_ppo_variants.analysis import build_report, render
from sb3_ppo_variants.analysis.synthetic import make_records

TARGET_S = 10.0


def main() -> None:
    records = make_records(
        envs=("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0"),
        variants=("clip", "pg", "cpi", "kl", "logclip"),
        n_seeds=500,
        n_evals=100,
        eval_freq=1000,
        updates_per_eval=1,
        diverged_fraction=0.05,
    )
    n_runs, n_points = len(records.runs), records.evals["timesteps"].nunique()
    start = time.perf_counter()
    report = build_report(records, n_resamples=2000, curve_resamples=500)
    tables_s = time.perf_counter() - start
    for fmt in ("md", "csv", "latex", "json"):
        render(report, fmt)
    total_s = time.perf_counter() - start
    print(f"{n_runs} runs x {n_points} evaluation points, 2000 bootstrap resamples (curves: 500)")
    print(f"build_report: {tables_s:.2f} s; with the four exports: {total_s:.2f} s")
    print(f"target {TARGET_S:.0f} s: {total_s / TARGET_S:.2f} of the target ({'PASS' if total_s < TARGET_S else 'FAIL'})")


if __name__ == "__main__":
    main()
