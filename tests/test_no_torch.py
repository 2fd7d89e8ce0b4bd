"""The analysis needs only the records: ``ppo-variants report`` works where torch cannot be imported."""

import os
import subprocess
import sys
from pathlib import Path

from sb3_ppo_variants.analysis import select_configurations
from sb3_ppo_variants.analysis.synthetic import make_evaluation_records, make_records, make_sweep_records, write_records

ROOT = Path(__file__).resolve().parents[1]

# sys.modules[name] = None makes `import name` raise ImportError
BLOCKED = """
import sys
for name in ("torch", "stable_baselines3", "gymnasium"):
    sys.modules[name] = None
from sb3_ppo_variants.cli import main
status = main(sys.argv[1:])
leaked = [name for name in ("torch", "stable_baselines3", "gymnasium") if sys.modules.get(name) is not None]
sys.exit(f"imported {leaked}" if leaked else status)
"""


def report_without_torch(directory: Path, out: Path) -> None:
    """Run 'ppo-variants report DIRECTORY --out OUT --plots' in a Python where torch, SB3 and gymnasium cannot be imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-c", BLOCKED, "report", str(directory), "--out", str(out), "--plots"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_report_runs_where_importing_torch_fails(tmp_path):
    out = tmp_path / "report" / "report.md"
    report_without_torch(write_records(make_records(), tmp_path / "experiment"), out)
    assert "CartPole-v1" in out.read_text()
    assert (out.parent / "learning_curves.png").exists()


def test_sweep_report_runs_where_importing_torch_fails(tmp_path):
    tuning = make_sweep_records(
        [("CartPole-v1", "pg", {"learning_rate": lr}, [100.0 * i, 110.0 * i]) for i, lr in ((1, 1e-3), (2, 1e-2))]
    )
    write_records(tuning, tmp_path / "tune" / "tuning")
    evaluation = make_evaluation_records(select_configurations(tuning), {("CartPole-v1", "pg"): [150.0, 160.0, 170.0]})
    write_records(evaluation, tmp_path / "tune" / "evaluation")
    out = tmp_path / "report" / "report.md"
    report_without_torch(tmp_path / "tune", out)
    assert "pg[learning_rate=0.01]" in out.read_text()
    assert (out.parent / "sensitivity.png").exists()
