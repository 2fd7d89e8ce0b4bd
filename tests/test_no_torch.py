"""The analysis needs only the records: ``ppo-variants report`` works where torch cannot be imported."""

import os
import subprocess
import sys
from pathlib import Path

from sb3_ppo_variants.analysis.synthetic import make_records, write_records

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


def test_report_runs_where_importing_torch_fails(tmp_path):
    directory = write_records(make_records(), tmp_path / "experiment")
    out = tmp_path / "report" / "report.md"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-c", BLOCKED, "report", str(directory), "--out", str(out), "--plots"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "CartPole-v1" in out.read_text()
    assert (out.parent / "learning_curves.png").exists()
