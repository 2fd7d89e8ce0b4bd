"""
Every install line of the README and the documentation pages works alone in a fresh virtualenv, and the smallest
example of what it installs runs (issue 19, point 10: rl-zoo3 imports requests without declaring it, which only an
install of the ``rlzoo`` extra alone shows). The line of the README's set-up block is installed in a fresh virtualenv by
``.ci/run`` itself, which then runs this suite and the smoke experiment, so it is not installed a second time here.

The virtualenvs are installed two at a time, with pip's cache and without byte-compiling (which only speeds up later
imports), to keep the suite's time: about two minutes for the two lines on 2 cores.
"""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [README, *(page.read_text(encoding="utf-8") for page in sorted((ROOT / "docs").glob("*.md")))]
# A pip command, on its own line of a code block or in inline code
INSTALL = re.compile(r"(?m)(?:^|`)(pip install [^`\n#]*)")
EXTRAS = re.compile(r'"\.\[([a-z,]+)\]"')
TORCH = "torch==2.13.0"  # the local CPU wheel: any other torch request downloads a multi-GB CUDA build
# The smallest example of each extra: what it is installed for, for a few seconds
BASE_EXAMPLE = (
    "python -c \"from sb3_ppo_variants import get_variant; get_variant('clip')('MlpPolicy', 'CartPole-v1', n_steps=64, "
    'batch_size=64).learn(64)"'
)
EXAMPLES = {
    "rlzoo": "python -m sb3_ppo_variants.rlzoo train --algo kl --env CartPole-v1 -n 256 --log-folder logs",
    "mujoco": "python -c \"import gymnasium; gymnasium.make('Hopper-v5').reset(seed=0)\"",
    "ray": "python -c \"from sb3_ppo_variants.runner.backends import check_backend; check_backend('ray', None, None)\"",
    "dev": 'python -m pytest --version && ruff --version && python -c "import tensorboard, rl_zoo3, sb3_contrib"',
    "optuna": 'python -c "import optuna; import sb3_ppo_variants.runner.optuna_search"',
    "docs": 'python -m mkdocs --version && python -c "import mkdocstrings"',
    "contrib": "python -c \"from sb3_ppo_variants import get_variant; get_variant('clip', base='maskable')\"",
    "envpool": "python -c \"from sb3_ppo_variants.vec_envs import EnvpoolVecEnv; EnvpoolVecEnv('CartPole-v1', 2).reset()\"",
}


def install_lines() -> list[str]:
    """The pip commands of the README and the documentation pages, in order, without duplicates."""
    return list(dict.fromkeys(line.strip() for page in PAGES for line in INSTALL.findall(page)))


def ci_lines() -> set[str]:
    """The pip commands of the set-up block, which ``.ci/run`` runs in a fresh virtualenv."""
    block = README.split("<!-- ci:begin -->", 1)[1].split("<!-- ci:end -->", 1)[0]
    return {line.strip() for line in INSTALL.findall(block)}


def extras(line: str) -> list[str]:
    """The extras an install line names."""
    return [extra for group in EXTRAS.findall(line) for extra in group.split(",")]


def test_every_install_line_pins_torch_and_each_extra_has_an_example():
    lines = install_lines()
    assert len(lines) >= 3 and ci_lines() <= set(lines)
    for line in lines:
        assert TORCH in line.split(), f"{line!r} must pin {TORCH} in the same pip call"
        assert extras(line) and set(extras(line)) <= set(EXAMPLES), line


def _install_and_try(line: str, directory: Path) -> str | None:
    """Install ``line`` in a new virtualenv in ``directory`` and run its examples; the failure's output, or None."""
    venv = directory / "venv"
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{environment['PATH']}",
        "PIP_NO_COMPILE": "1",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    steps = [(f"{sys.executable} -m venv {venv}", ROOT), (line, ROOT)]
    steps += [(example, directory) for example in [BASE_EXAMPLE] + [EXAMPLES[extra] for extra in extras(line)]]
    for command, cwd in steps:
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{command!r} failed with exit status {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="the virtualenvs are checked on Linux, as CI runs")
def test_every_install_line_works_alone_in_a_fresh_virtualenv(tmp_path):
    lines = [line for line in install_lines() if line not in ci_lines()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = list(pool.map(_install_and_try, lines, [tmp_path / str(i) for i in range(len(lines))]))
    assert not any(failures), "\n\n".join(failure for failure in failures if failure)
