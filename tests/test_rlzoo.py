"""docs/rl-zoo.md works as written: its commands, hyperparameter file and launcher, run for real on a tiny budget."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rl_zoo3")

from stable_baselines3.common.save_util import load_from_zip_file

from sb3_ppo_variants import KLPenaltyPPO, LogClipPPO

DOC = Path(__file__).resolve().parents[1] / "docs" / "rl-zoo.md"
# one rollout of rl-zoo3's CartPole-v1 settings (8 envs x 32 steps), no evaluation
TINY = ["-n", "256", "--eval-freq", "-1", "--num-threads", "1"]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def commands() -> list[list[str]]:
    """The documented ``python ...`` command lines, in order, with ``python`` replaced by this interpreter."""
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("python ")]
    return [[sys.executable, *shlex.split(line)[1:]] for line in lines]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run every documented command in a fresh directory holding the documented kl.yml and zoo.py."""
    root = tmp_path_factory.mktemp("zoo")
    (yaml,) = blocks("yaml")
    (root / "kl.yml").write_text(yaml)
    (launcher,) = [block for block in blocks("python") if "ALGOS[" in block]
    (root / "zoo.py").write_text(launcher)
    outputs = {}
    for command in commands():
        if "train" in command:
            command += TINY
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{shlex.join(command)}\n{done.stdout}\n{done.stderr}"
        outputs[" ".join(command[1:5])] = done.stdout
    return root, outputs


def test_documents_train_with_default_and_own_hyperparameters_enjoy_and_own_objective():
    assert [command[1:5] for command in commands()] == [
        ["-m", "sb3_ppo_variants.rlzoo", "train", "--algo"],
        ["-m", "sb3_ppo_variants.rlzoo", "train", "--algo"],
        ["-m", "sb3_ppo_variants.rlzoo", "enjoy", "--algo"],
        ["zoo.py", "train", "--algo", "logpenalty"],
    ]


def test_train_with_rl_zoo_ppo_hyperparameters(zoo: tuple[Path, dict[str, str]]):
    root, _ = zoo
    path = root / "logs" / "logclip" / "CartPole-v1_1" / "CartPole-v1.zip"
    model = LogClipPPO.load(path)
    # rl-zoo3's hyperparams/ppo.yml for CartPole-v1, and one policy update
    assert (model.n_steps, model.batch_size, model.n_epochs, model.n_envs) == (32, 256, 20, 8)
    assert model.clip_range(0.5) == pytest.approx(0.1)  # lin_0.2
    assert (model.num_timesteps, model.n_policy_updates) == (256, 1)


def test_train_with_conf_file_saves_the_kl_variant(zoo: tuple[Path, dict[str, str]]):
    root, _ = zoo
    path = root / "logs" / "kl" / "CartPole-v1_1" / "CartPole-v1.zip"
    data, _, _ = load_from_zip_file(path)
    assert {"kl_beta", "kl_target", "n_policy_updates"} <= set(data)  # written by KLPenaltyPPO, not PPO
    model = KLPenaltyPPO.load(path)
    assert (model.kl_target, model.kl_estimator, model.n_policy_updates) == (0.01, "exact", 1)
    assert model.kl_beta in (0.5, 1.0, 2.0)  # β after one application of the adaptive rule


def test_enjoy_loads_the_variant(zoo: tuple[Path, dict[str, str]]):
    _, outputs = zoo
    output = outputs["-m sb3_ppo_variants.rlzoo enjoy --algo"]
    assert f"Loading {Path('logs') / 'kl' / 'CartPole-v1_1' / 'CartPole-v1.zip'}" in output
    assert "Mean reward" in output


def test_documented_load_snippet(zoo: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch):
    root, _ = zoo
    (snippet,) = [block for block in blocks("python") if ".load(" in block]
    monkeypatch.chdir(root)
    namespace: dict = {}
    exec(snippet, namespace)
    assert type(namespace["model"]) is KLPenaltyPPO


def test_own_objective_through_the_launcher(zoo: tuple[Path, dict[str, str]]):
    root, _ = zoo
    data, _, _ = load_from_zip_file(root / "logs" / "logpenalty" / "CartPole-v1_1" / "CartPole-v1.zip")
    # trained through VariantPPO's loop, with rl-zoo3's PPO hyperparameters as no conf file was given
    assert (data["n_policy_updates"], data["n_epochs"], data["batch_size"]) == (1, 20, 256)


def test_register_adds_every_variant():
    from rl_zoo3 import ALGOS

    from sb3_ppo_variants import VARIANTS
    from sb3_ppo_variants.rlzoo import register

    register()
    assert all(ALGOS[name] is cls for name, cls in VARIANTS.items())
