"""
``ppo-variants compare``: a comparison without writing an experiment file first.

``ppo-variants compare --env CartPole-v1 --variants clip,logclip,kl --seeds 10 --timesteps 100k`` writes the experiment
file it runs (``OUT/experiment.toml``, beside the records), runs it as ``ppo-variants run`` would and prints the report.
The environment's hyperparameters are rl-zoo3's tuned PPO ones (its ``hyperparams/ppo.yml``) where rl-zoo3 is installed
and has the environment, SB3's PPO defaults otherwise; a variant whose own defaults differ from PPO's (``pg``: one epoch
over the whole rollout) keeps them. The budget and seeds are the command's; 20 evaluations of 10 episodes (at most one
per rollout).
"""

import ast
import importlib.metadata
import importlib.util
import inspect
import re
import tempfile
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3 import PPO

from sb3_ppo_variants import VARIANTS, get_variant, records
from sb3_ppo_variants.runner.check import check_experiment
from sb3_ppo_variants.runner.resolve import ACTIVATIONS
from sb3_ppo_variants.runner.spec import RUN_KEYS, algo_arguments, load_experiment
from sb3_ppo_variants.runner.tune import toml_key, toml_table
from sb3_ppo_variants.validation import is_integer

EVALUATIONS = 20
PPO_N_STEPS = inspect.signature(PPO.__init__).parameters["n_steps"].default
EVAL_EPISODES = 10
SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000}
ZOO_FILE = Path("hyperparams") / "ppo.yml"
ACTIVATION_NAMES = {module.__name__: name for name, module in ACTIVATIONS.items()}


@dataclass(frozen=True)
class Defaults:
    """
    An environment's hyperparameters as an experiment file writes them, and where they come from.

    :param hyperparameters: key -> value for the ``[envs.<id>]`` table (``n_envs``, ``policy``, ``normalize`` and
        algorithm arguments)
    :param source: where they come from, for the command's output
    :param left_out: keys of the source that an experiment file cannot express (e.g. rl-zoo3's ``env_wrapper``)
    """

    hyperparameters: dict[str, Any]
    source: str
    left_out: tuple[str, ...] = ()


def parse_timesteps(text: str) -> int:
    """
    A budget as written on the command line: ``100000``, ``100k``, ``1.5M``.

    :param text: the value
    :return: the number of steps
    :raises ValueError: naming ``--timesteps`` and the allowed forms
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    steps = float(match.group(1)) * SUFFIXES[match.group(2).lower()] if match else 0.0
    if steps < 1 or steps != int(steps):
        raise ValueError(f"--timesteps must be a positive whole number of steps such as 100000, 100k or 1.5M, got {text!r}")
    return int(steps)


def parse_variants(text: str) -> list[str]:
    """
    The variants of ``--variants``: registry names separated by commas.

    :param text: e.g. ``clip,logclip,kl``
    :return: the names, in order
    :raises ValueError: for an unknown or repeated name, naming the allowed values
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"--variants: unknown variant {unknown or text!r}; allowed: {', '.join(sorted(VARIANTS))}")
    if len(set(names)) != len(names):
        raise ValueError(f"--variants names a variant twice: {text!r}")
    return names


def check_env(env_id: str) -> str:
    """
    Check that gymnasium knows an environment.

    :param env_id: the gymnasium id
    :return: the id
    :raises ValueError: naming the closest registered ids
    """
    if env_id not in gym.envs.registry:
        hint = get_close_matches(env_id, list(gym.envs.registry), n=3)
        raise ValueError(f"--env: unknown gymnasium id {env_id!r}; close registered ids: {', '.join(hint) or 'none'}")
    return env_id


def _literal(node: ast.expr) -> Any:
    """A value of rl-zoo3's ``policy_kwargs`` strings: literals, ``dict(...)`` and ``nn.<Activation>``, no code run."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {keyword.arg: _literal(keyword.value) for keyword in node.keywords}
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn":
        return ACTIVATION_NAMES[node.attr]
    if isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    return ast.literal_eval(node)


def zoo_value(key: str, value: Any) -> Any:
    """
    An rl-zoo3 hyperparameter as an experiment file writes it: ``normalize`` strings and ``policy_kwargs`` strings
    parsed (never evaluated), the rest unchanged (rl-zoo3's ``lin_<start>`` schedules are the file's too).

    :param key: the hyperparameter
    :param value: its value in ppo.yml
    :return: the value for the file
    :raises ValueError: for a string this parser does not read (``SyntaxError`` when it is not Python syntax,
        ``KeyError`` for an activation the experiment files do not name)
    """
    if key in ("normalize", "policy_kwargs") and isinstance(value, str):
        return _literal(ast.parse(" ".join(value.split()), mode="eval").body)
    return value


def zoo_file() -> Path | None:
    """
    rl-zoo3's PPO hyperparameters, without importing rl-zoo3.

    :return: the path of its ``hyperparams/ppo.yml``, or None when rl-zoo3 (or PyYAML, which it needs) is not installed
    """
    spec = importlib.util.find_spec("rl_zoo3")
    if spec is None or spec.submodule_search_locations is None or importlib.util.find_spec("yaml") is None:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / ZOO_FILE
    return path if path.is_file() else None


def env_defaults(env_id: str) -> Defaults:
    """
    The hyperparameters of an environment: rl-zoo3's for PPO where it has them, SB3's PPO defaults (an empty table)
    otherwise.

    :param env_id: the gymnasium id
    :return: the hyperparameters and their source
    """
    path = zoo_file()
    if path is None:
        return Defaults({}, 'SB3\'s PPO defaults (rl-zoo3 is not installed: pip install "sb3-ppo-variants[rlzoo]")')
    import yaml

    entry = yaml.safe_load(path.read_text(encoding="utf-8")).get(env_id)
    if entry is None:
        return Defaults({}, f"SB3's PPO defaults (rl-zoo3's {path.name} has no {env_id})")
    allowed = set(algo_arguments("clip")) | set(RUN_KEYS)
    kept, left_out = {}, []
    for key, value in entry.items():
        if key == "n_timesteps":  # the budget is the command's
            continue
        try:
            if key in allowed:
                kept[key] = zoo_value(key, value)
                continue
        except (ValueError, SyntaxError, KeyError):
            pass
        left_out.append(key)
    source = f"rl-zoo3 {importlib.metadata.version('rl_zoo3')}'s tuned PPO hyperparameters (hyperparams/{path.name})"
    return Defaults(kept, source, tuple(left_out))


def own_defaults(variant: str, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """
    The arguments of a variant whose own defaults differ from PPO's and that the environment's hyperparameters set:
    the variant keeps its defaults (e.g. ``pg``'s one epoch over the whole rollout instead of rl-zoo3's 20 epochs).

    :param variant: the registry name
    :param hyperparameters: the environment's hyperparameters
    :return: key -> the variant's default, as an experiment file writes it
    """
    ppo = inspect.signature(PPO.__init__).parameters
    own = inspect.signature(get_variant(variant).__init__).parameters
    overrides = {}
    for key in hyperparameters:
        if key in own and key in ppo and own[key].default != ppo[key].default:
            default = own[key].default
            overrides[key] = ("full" if key == "batch_size" else "none") if default is None else default
    return overrides


def compare_toml(env_id: str, variants: list[str], seeds: int, timesteps: int, defaults: Defaults) -> str:
    """
    The text of the experiment file of a comparison.

    :param env_id: the gymnasium id
    :param variants: registry names
    :param seeds: number of seeds (0 to seeds - 1)
    :param timesteps: the budget of every run
    :param defaults: the environment's hyperparameters
    :return: the file's text
    """
    # the policy changes once per rollout: evaluating more often measures the same policy again
    rollout = defaults.hyperparameters.get("n_steps", PPO_N_STEPS) * defaults.hyperparameters.get("n_envs", 1)
    name = "-".join(["compare", re.sub(r"[^A-Za-z0-9_.+-]+", "-", env_id), *variants])
    lines = [
        f"# Written by 'ppo-variants compare': {', '.join(variants)} on {env_id}, {seeds} seeds, {timesteps:,} steps.",
        f"# Hyperparameters: {defaults.source}.",
        *toml_table(
            "[experiment]",
            {
                "name": name,
                "seeds": list(range(seeds)),
                "eval_freq": max(timesteps // EVALUATIONS, rollout),
                "eval_episodes": EVAL_EPISODES,
                # the batched engine where it can train the runs, the SB3 classes otherwise
                "engine": "auto",
            },
        ),
        *toml_table(f"[envs.{toml_key(env_id)}]", {"total_timesteps": timesteps, **defaults.hyperparameters}),
    ]
    for variant in variants:
        own = own_defaults(variant, defaults.hyperparameters)
        lines += toml_table(f"[variants.{toml_key(variant)}]", own, "the variant's own defaults" if own else None)
    return "\n".join(lines) + "\n"


def prepare_comparison(
    env_id: str, variants: str, seeds: int, timesteps: str, out: str | Path | None
) -> tuple[Path, list[str]]:
    """
    Check the arguments of ``compare``, then write its experiment file into the output directory.

    :param env_id: the gymnasium id
    :param variants: registry names separated by commas
    :param seeds: number of seeds, at least 1
    :param timesteps: the budget, e.g. ``100k``
    :param out: the output directory; default ``runs/compare-<env>-<variants>``
    :return: the experiment file (``OUT/experiment.toml``) and lines saying what it holds and where it comes from
    :raises ValueError: for a bad argument, before anything is created; when ``out`` holds another comparison
    """
    names = parse_variants(variants)
    check_env(env_id)
    if not is_integer(seeds) or seeds < 1:
        raise ValueError(f"--seeds must be a positive number of seeds, got {seeds!r}")
    steps = parse_timesteps(timesteps)
    defaults = env_defaults(env_id)
    text = compare_toml(env_id, names, seeds, steps, defaults)
    with tempfile.TemporaryDirectory() as scratch:  # validated before anything is created
        check = Path(scratch) / records.EXPERIMENT_FILE
        check.write_text(text, encoding="utf-8")
        experiment = load_experiment(check)
        check_experiment(experiment)
    directory = Path(out if out is not None else Path("runs") / experiment.name)
    path = directory / records.EXPERIMENT_FILE
    if path.exists() and path.read_text(encoding="utf-8") != text:
        raise ValueError(f"--out {directory} holds another experiment.toml: choose another --out, or delete it to start over")
    directory.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    settings = ", ".join(f"{key}={value}" for key, value in defaults.hyperparameters.items()) or "none set"
    notes = [
        f"{env_id}: {defaults.source}: {settings}",
        *(f"  left out (an experiment file cannot express it): {key}" for key in defaults.left_out),
        *(
            f"  {variant} keeps its own defaults: {', '.join(f'{k}={v}' for k, v in own.items())}"
            for variant in names
            if (own := own_defaults(variant, defaults.hyperparameters))
        ),
        f"{len(names)} variants x {seeds} seeds x {steps:,} steps; experiment file: {path}",
    ]
    return path, notes
