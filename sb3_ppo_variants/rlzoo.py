"""
The variants in rl-zoo3: ``python -m sb3_ppo_variants.rlzoo train --algo kl --env CartPole-v1``.

:func:`register` adds every registered variant to rl-zoo3's ``ALGOS`` under its registry name; :func:`main` runs
rl-zoo3's ``train`` or ``enjoy`` with them registered, taking exactly rl-zoo3's arguments. Without
``-conf``/``--conf-file``, ``train`` reads rl-zoo3's tuned PPO hyperparameters (its ``hyperparams/ppo.yml``) for any
``VariantPPO`` subclass: every variant takes PPO's arguments. See docs/rl-zoo.md.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import rl_zoo3
from rl_zoo3 import ALGOS
from rl_zoo3.enjoy import enjoy
from rl_zoo3.train import train

from sb3_ppo_variants import VARIANTS, VariantPPO

ZOO_PPO_HYPERPARAMS = Path(rl_zoo3.__file__).parent / "hyperparams" / "ppo.yml"
COMMANDS: dict[str, Callable[[], None]] = {"train": train, "enjoy": enjoy}


def register() -> None:
    """
    Add the variants to rl-zoo3's ``ALGOS`` under their names, the keys of ``sb3_ppo_variants.VARIANTS``.
    """
    ALGOS.update(VARIANTS)


def needs_default_conf(train_args: list[str]) -> bool:
    """
    Whether ``train`` arguments name a registered ``VariantPPO`` subclass and no hyperparameter file.

    :param train_args: rl-zoo3 ``train`` arguments
    :return: True when rl-zoo3's PPO hyperparameters should be added
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("-conf", "--conf-file")
    args, _ = parser.parse_known_args(train_args)
    algo = ALGOS.get(args.algo)
    return args.conf_file is None and isinstance(algo, type) and issubclass(algo, VariantPPO)


def main(argv: list[str] | None = None) -> None:
    """
    Run rl-zoo3's ``train`` or ``enjoy`` with the variants, and any class already added to ``ALGOS``, registered.

    :param argv: ``train`` or ``enjoy`` followed by rl-zoo3's arguments for it; ``sys.argv[1:]`` when None
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m sb3_ppo_variants.rlzoo {{{','.join(COMMANDS)}}} [rl-zoo3 arguments]")
    command, args = argv[0], argv[1:]
    register()
    if command == "train" and needs_default_conf(args):
        args += ["--conf-file", str(ZOO_PPO_HYPERPARAMS)]
    # rl-zoo3's commands parse sys.argv
    sys.argv = [f"sb3_ppo_variants.rlzoo {command}", *args]
    COMMANDS[command]()


if __name__ == "__main__":
    main()
