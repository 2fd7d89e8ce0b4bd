"""
Experiment files: TOML -> frozen dataclasses, validated before any run starts.

```toml
[experiment]
name = "quick"
seeds = [0, 1, 2]
eval_freq = 5000          # evaluate every N environment steps (and at 0 and at the end)
eval_episodes = 10        # over M episodes of a separate, deterministic evaluation env

[envs.CartPole-v1]        # gymnasium id; SB3 PPO hyperparameters, plus n_envs, policy, normalize
total_timesteps = 100_000
n_envs = 8
learning_rate = "lin_1e-3"  # linear schedule from 1e-3 to 0, as rl-zoo writes it
policy_kwargs = { net_arch = [64, 64], activation_fn = "tanh" }

[variants."clip-0.1"]       # an entry name; several entries may share one algo
algo = "clip"             # registry name (defaults to the entry name)
clip_range = 0.1          # overrides the env's hyperparameters
```
"""

import importlib
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import gymnasium as gym
from stable_baselines3 import PPO

from sb3_ppo_variants import VARIANTS, get_variant
from sb3_ppo_variants.engine import DEFAULT_BATCH_RUNS, ENGINES
from sb3_ppo_variants.records import check_name
from sb3_ppo_variants.runner.resolve import algo_kwargs
from sb3_ppo_variants.runner.sweep import Axis, parse_axis, sweep_size
from sb3_ppo_variants.validation import is_integer, is_number
from sb3_ppo_variants.variants import BASES
from sb3_ppo_variants.vec_envs import VEC_ENVS, envpool_has

EXPERIMENT_KEYS = (
    "name",
    "seeds",
    "eval_freq",
    "eval_episodes",
    "tuning_seeds",
    "evaluation_seeds",
    "sweep_samples",
    "sweep_seed",
    "engine",
    "batch_runs",
    "search",
    "search_batch",
)
# A tune file's search: "grid" (no sweep_samples), "random" (sweep_samples draws), "tpe" (Optuna, runner.optuna_search)
SEARCHES = ("grid", "random", "tpe")
RUN_KEYS = ("total_timesteps", "n_envs", "policy", "normalize", "vec_env")
# Keys of an entry that are not algorithm arguments: its sweep axes and, for a variant, its per-environment overrides
SWEEP_KEY = "sweep"
ENV_OVERRIDES_KEY = "envs"
# Arguments the runner owns, or that cannot come from a file (rollout_buffer_class is a Python class)
EXCLUDED_ALGO_KEYS = (
    "self",
    "policy",
    "env",
    "seed",
    "verbose",
    "device",
    "tensorboard_log",
    "_init_setup_model",
    "kwargs",
    "rollout_buffer_class",
)
# VecNormalize arguments: name -> whether it is a flag (else a positive number)
NORMALIZE_KEYS = {"norm_obs": True, "norm_reward": True, "clip_obs": False, "clip_reward": False, "epsilon": False}
MAX_SEED = 2**32 - 1  # numpy's seeds


class SpecError(ValueError):
    """An experiment file is invalid; the message names the file, the key and the allowed values."""


@dataclass(frozen=True)
class EnvSpec:
    """
    One environment of an experiment.

    :param env_id: gymnasium id
    :param total_timesteps: training budget per run
    :param n_envs: number of parallel training environments
    :param policy: SB3 policy name
    :param normalize: VecNormalize keyword arguments, or None for no normalisation
    :param hyperparameters: algorithm arguments as written in the file (schedules still strings)
    :param sweep: axes swept for every variant on this environment (``[envs.<id>.sweep]``)
    :param vec_env: the training environments: ``gymnasium`` (SB3's DummyVecEnv) or ``envpool`` (evaluation is always
        gymnasium's)
    """

    env_id: str
    total_timesteps: int
    n_envs: int = 1
    policy: str = "MlpPolicy"
    normalize: Mapping[str, Any] | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    sweep: Mapping[str, Axis] = field(default_factory=dict)
    vec_env: str = "gymnasium"


@dataclass(frozen=True)
class VariantSpec:
    """
    One named variant entry of an experiment.

    :param name: the entry name (e.g. ``clip-0.1``)
    :param algo: registry name of the class (a key of ``sb3_ppo_variants.VARIANTS``)
    :param overrides: algorithm arguments that override the environment's
    :param env_overrides: env_id -> arguments that override those on that environment only (``[variants.<name>.envs.<id>]``)
    :param sweep: axes swept for this variant (``[variants.<name>.sweep]``)
    """

    name: str
    algo: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    env_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sweep: Mapping[str, Axis] = field(default_factory=dict)

    def hyperparameters(self, env: EnvSpec) -> dict[str, Any]:
        """
        The arguments of this variant on ``env`` before sweeping: the environment's, then the variant's, then the
        variant's for that environment.

        :param env: the environment
        :return: argument name -> value as written in the file
        """
        return {**env.hyperparameters, **self.overrides, **self.env_overrides.get(env.env_id, {})}


@dataclass(frozen=True)
class Experiment:
    """
    A parsed experiment file.

    :param name: experiment name
    :param path: the file it was read from
    :param seeds: seeds of every configuration (for a tune file, its ``tuning_seeds``)
    :param envs: environments
    :param variants: variant entries
    :param eval_freq: evaluate every ``eval_freq`` environment steps
    :param eval_episodes: episodes per evaluation
    :param evaluation_seeds: the fresh seeds of a tune file's second stage (``ppo-variants tune``), or None
    :param sweep_samples: configurations drawn per (environment, variant) by a random search, or None for the grid
    :param sweep_seed: seed of the random search's draws (of a TPE search: its sampler's seed)
    :param search: ``grid``, ``random`` (``sweep_samples`` draws) or ``tpe`` (``sweep_samples`` trials of Optuna's TPE
        sampler with median pruning, ``sb3_ppo_variants.runner.optuna_search``)
    :param search_batch: trials a TPE search asks for at a time per (environment, variant)
    :param engine: ``sb3`` (each run its SB3 class's ``learn``), ``batched`` or ``auto`` (``sb3_ppo_variants.engine``)
    :param batch_runs: the largest number of runs the engine trains in one batch
    :param tables: the file's TOML tables as written (comments aside), e.g. to write a file derived from it
    """

    name: str
    path: Path
    seeds: tuple[int, ...]
    envs: tuple[EnvSpec, ...]
    variants: tuple[VariantSpec, ...]
    eval_freq: int
    eval_episodes: int
    evaluation_seeds: tuple[int, ...] | None = None
    sweep_samples: int | None = None
    sweep_seed: int = 0
    search: str = "grid"
    search_batch: int = 4
    engine: str = "sb3"
    batch_runs: int = DEFAULT_BATCH_RUNS
    tables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_tune(self) -> bool:
        """Whether this is a tune file (``tuning_seeds`` and ``evaluation_seeds``), run by ``ppo-variants tune``."""
        return self.evaluation_seeds is not None

    def n_configurations(self, env: EnvSpec, variant: VariantSpec) -> int:
        """
        The number of configurations of a variant on an environment, counted from the axes without expanding them.

        :param env: an environment of the experiment
        :param variant: a variant entry of the experiment
        :return: 1 without sweep axes, else the grid's size or ``sweep_samples`` (at most the grid's size when every axis
            is a list or a ``choice``: a random search draws no configuration twice)
        """
        axes = {**env.sweep, **variant.sweep}
        return sweep_size(axes, self.sweep_samples if axes else None)

    @property
    def n_runs(self) -> int:
        """The number of runs ``plan`` lists (for a tune file, stage 1's), counted without expanding the sweeps."""
        return len(self.seeds) * sum(self.n_configurations(env, variant) for env in self.envs for variant in self.variants)


def algo_arguments(algo: str) -> tuple[str, ...]:
    """
    Names of the arguments an experiment file may set for ``algo``.

    :param algo: registry name
    :return: sorted argument names
    """
    cls = get_variant(algo)
    names = set(inspect.signature(cls.base_algorithm.__init__).parameters)
    for klass in cls.__mro__:
        if klass is PPO:
            break
        names |= set(inspect.signature(klass.__init__).parameters)
    return tuple(sorted(names - set(EXCLUDED_ALGO_KEYS)))


def _fail(path: Path, where: str, message: str) -> SpecError:
    return SpecError(f"{path}: {where}: {message}")


def _check_keys(path: Path, where: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            hint = get_close_matches(key, allowed, n=1)
            raise _fail(
                path, where, f"unknown key {key!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}; allowed: {allowed}"
            )


def _require(path: Path, where: str, table: Mapping[str, Any], key: str, kind: type, positive: bool = True) -> Any:
    if key not in table:
        raise _fail(path, where, f"missing key {key!r}")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind) or (positive and value <= 0):
        raise _fail(path, where, f"{key!r} must be a {'positive ' if positive else ''}{kind.__name__}, got {value!r}")
    return value


def _parse_normalize(path: Path, where: str, value: Any) -> Mapping[str, Any] | None:
    if value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        allowed = f"true, false or a table with keys {tuple(NORMALIZE_KEYS)}"
        raise _fail(path, where, f"'normalize' must be {allowed}, got {value!r}")
    _check_keys(path, f"{where}.normalize", value, tuple(NORMALIZE_KEYS))
    for key, item in value.items():
        if NORMALIZE_KEYS[key] and not isinstance(item, bool):
            raise _fail(path, f"{where}.normalize", f"{key!r} must be true or false, got {item!r}")
        if not NORMALIZE_KEYS[key] and (not is_number(item) or not item > 0):
            raise _fail(path, f"{where}.normalize", f"{key!r} must be a positive number, got {item!r}")
    return value


def _is_seed(value: Any) -> bool:
    return is_integer(value) and 0 <= value <= MAX_SEED


def _parse_env(path: Path, env_id: str, table: Any) -> EnvSpec:
    where = f"[envs.{env_id}]"
    module, _, registered_id = env_id.rpartition(":")
    if module:
        # gymnasium's "package.module:EnvId" form: importing the module registers its environments
        try:
            importlib.import_module(module)
        except Exception as error:  # any error of a module that cannot be imported, e.g. a relative name
            raise _fail(path, where, f"cannot import {module!r} to register {registered_id!r}: {error}") from error
    if registered_id not in gym.envs.registry:
        hint = get_close_matches(env_id, list(gym.envs.registry), n=3)
        raise _fail(path, where, f"unknown gymnasium env id {env_id!r}; close registered ids: {hint or 'none'}")
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table")
    hyperparameters = {key: value for key, value in table.items() if key not in (*RUN_KEYS, SWEEP_KEY)}
    return EnvSpec(
        env_id=env_id,
        total_timesteps=_require(path, where, table, "total_timesteps", int),
        n_envs=_require(path, where, {"n_envs": 1, **table}, "n_envs", int),
        policy=_parse_policy(path, where, table.get("policy", "MlpPolicy")),
        normalize=_parse_normalize(path, where, table.get("normalize", False)),
        hyperparameters=hyperparameters,
        sweep=_parse_sweep(path, where, table.get(SWEEP_KEY)),
        vec_env=_parse_vec_env(path, where, env_id, table.get("vec_env", "gymnasium")),
    )


def _parse_vec_env(path: Path, where: str, env_id: str, value: Any) -> str:
    if value not in VEC_ENVS:
        raise _fail(path, where, f"'vec_env' must be one of {list(VEC_ENVS)}, got {value!r}")
    if value == "envpool":
        try:
            has = envpool_has(env_id)
        except ImportError as error:
            raise _fail(path, where, str(error)) from error
        if not has:
            raise _fail(path, where, f"envpool has no task {env_id!r} (envpool.list_all_envs() lists its tasks)")
    return value


# SB3's policy names and sb3-contrib's recurrent ones; whether the variant's class takes it is checked by check_experiment
POLICIES = (*PPO.policy_aliases, "MlpLstmPolicy", "CnnLstmPolicy", "MultiInputLstmPolicy")


def _parse_policy(path: Path, where: str, value: Any) -> str:
    if value not in POLICIES:
        raise _fail(path, where, f"'policy' must be one of {sorted(POLICIES)}, got {value!r}")
    return value


def _parse_sweep(path: Path, where: str, table: Any) -> dict[str, Axis]:
    """The axes of a ``sweep`` table (None when the entry has none)."""
    if table is None:
        return {}
    where = f"{where[:-1]}.{SWEEP_KEY}]"
    if not isinstance(table, dict) or not table:
        raise _fail(path, where, f"must be a table of axes, e.g. learning_rate = [3e-4, 1e-3], got {table!r}")
    if any(key in RUN_KEYS for key in table):
        raise _fail(path, where, f"only algorithm arguments can be swept, not {[key for key in table if key in RUN_KEYS]}")
    try:
        return {key: parse_axis(key, value) for key, value in table.items()}
    except ValueError as error:
        raise _fail(path, where, str(error)) from error


def _parse_variant(path: Path, name: str, table: Any) -> VariantSpec:
    where = f"[variants.{name}]"
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table")
    try:
        check_name(name)
    except ValueError as error:
        raise _fail(path, where, f"variant entry name {error}") from error
    algo = table.get("algo", name)
    allowed = f"{sorted(VARIANTS)}, or one of them on a base of sb3-contrib, <objective>-{{{'|'.join(BASES[1:])}}}"
    if not isinstance(algo, str):
        raise _fail(path, where, f"unknown algo {algo!r}; allowed: {allowed}")
    try:
        get_variant(algo)
    except ValueError as error:
        raise _fail(path, where, f"unknown algo {algo!r}; allowed: {allowed}") from error
    except ImportError as error:
        raise _fail(path, where, f"'algo' = {algo!r}: {error}") from error
    env_overrides = table.get(ENV_OVERRIDES_KEY, {})
    if not isinstance(env_overrides, dict) or not all(isinstance(value, dict) for value in env_overrides.values()):
        raise _fail(path, where, f"'{ENV_OVERRIDES_KEY}' must hold one table per environment id, got {env_overrides!r}")
    return VariantSpec(
        name=name,
        algo=algo,
        overrides={key: value for key, value in table.items() if key not in ("algo", SWEEP_KEY, ENV_OVERRIDES_KEY)},
        env_overrides=env_overrides,
        sweep=_parse_sweep(path, where, table.get(SWEEP_KEY)),
    )


def _check_pair(path: Path, env: EnvSpec, variant: VariantSpec, random_search: bool) -> None:
    """
    The keys and values of a variant on an environment, as the file writes them: every key an argument of the class,
    every value (and every value of every axis) one that resolves (``resolve.algo_kwargs``). Whether the class accepts
    them together is ``check.check_experiment``'s job.
    """
    where = f"[envs.{env.env_id}] with [variants.{variant.name}]"
    hyperparameters = variant.hyperparameters(env)
    axes = {**env.sweep, **variant.sweep}
    if env.sweep.keys() & variant.sweep.keys():
        raise _fail(
            path, where, f"{sorted(env.sweep.keys() & variant.sweep.keys())} swept by both the environment and the variant"
        )
    fixed = (variant.overrides.keys() | variant.env_overrides.get(env.env_id, {}).keys()) & env.sweep.keys()
    if fixed:
        raise _fail(path, where, f"the variant sets {sorted(fixed)}, which [envs.{env.env_id}.sweep] sweeps")
    distributions = sorted(key for key, axis in axes.items() if axis.distribution in ("uniform", "log_uniform"))
    if distributions and not random_search:
        raise _fail(path, where, f"{distributions} are distributions: a random search needs [experiment] sweep_samples")
    _check_keys(path, where, {**hyperparameters, **axes}, algo_arguments(variant.algo))
    try:
        algo_kwargs(hyperparameters)
        for key, axis in axes.items():
            for value in axis.endpoints():
                algo_kwargs({key: value})
    except (TypeError, ValueError) as error:
        raise _fail(path, where, str(error)) from error


def _parse_seeds(path: Path, meta: Mapping[str, Any], key: str) -> tuple[int, ...]:
    seeds = meta[key]
    if not isinstance(seeds, list) or not seeds or any(not _is_seed(seed) for seed in seeds):
        raise _fail(path, "[experiment]", f"{key!r} must be a non-empty list of integers from 0 to {MAX_SEED}, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise _fail(path, "[experiment]", f"{key!r} has duplicates: {seeds!r}")
    return tuple(seeds)


def _parse_tuning(path: Path, meta: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(seeds, evaluation seeds): a tune file's tuning and evaluation seeds, or a plain file's seeds and None."""
    tune_keys = [key for key in ("tuning_seeds", "evaluation_seeds") if key in meta]
    if not tune_keys:
        return _parse_seeds(path, {"seeds": [0], **meta}, "seeds"), None
    if len(tune_keys) == 1 or "seeds" in meta:
        raise _fail(
            path,
            "[experiment]",
            "a tune file gives both 'tuning_seeds' and 'evaluation_seeds' and no 'seeds', a plain one 'seeds'",
        )
    tuning, evaluation = _parse_seeds(path, meta, "tuning_seeds"), _parse_seeds(path, meta, "evaluation_seeds")
    if set(tuning) & set(evaluation):
        raise _fail(
            path,
            "[experiment]",
            f"'tuning_seeds' and 'evaluation_seeds' must be disjoint (fresh seeds measure the selected settings without "
            f"the selection's optimism), both hold {sorted(set(tuning) & set(evaluation))}",
        )
    return tuning, evaluation


def _parse_search(path: Path, meta: Mapping[str, Any], tune: bool) -> tuple[str, int]:
    """(search, search_batch): the search named in the file, or the one its keys imply (random with sweep_samples)."""
    implied = "random" if "sweep_samples" in meta else "grid"
    search = meta.get("search", implied)
    if search not in SEARCHES:
        raise _fail(path, "[experiment]", f"'search' must be one of {SEARCHES}, got {search!r}")
    if search != "tpe" and search != implied:
        needs = "needs 'sweep_samples'" if search == "random" else "has no 'sweep_samples' (remove it for a grid)"
        raise _fail(path, "[experiment]", f"search = {search!r} {needs}")
    if search == "tpe" and not tune:
        raise _fail(path, "[experiment]", "search = 'tpe' is a tune file's search: it needs tuning_seeds and evaluation_seeds")
    if "search_batch" in meta and search != "tpe":
        raise _fail(path, "[experiment]", "'search_batch' is the batch of a TPE search: it needs search = 'tpe'")
    return search, _require(path, "[experiment]", {"search_batch": 4, **meta}, "search_batch", int)


def _parse_random_search(
    path: Path, meta: Mapping[str, Any], envs: tuple[EnvSpec, ...], variants: tuple[VariantSpec, ...]
) -> tuple[int | None, int]:
    """(sweep_samples, sweep_seed) of a random or TPE search, (None, 0) for a grid."""
    if "sweep_samples" not in meta:
        if "sweep_seed" in meta:
            raise _fail(path, "[experiment]", "'sweep_seed' is the seed of a random search: it needs 'sweep_samples'")
        if meta.get("search") == "tpe":
            raise _fail(path, "[experiment]", "search = 'tpe' needs 'sweep_samples' (trials per environment and variant)")
        return None, 0
    samples = _require(path, "[experiment]", meta, "sweep_samples", int)
    if "sweep_seed" not in meta or not _is_seed(meta["sweep_seed"]):
        raise _fail(
            path, "[experiment]", f"a random search needs 'sweep_seed', an integer from 0 to {MAX_SEED}, written in the file"
        )
    axes = [axis for entry in (*envs, *variants) for axis in entry.sweep.values()]
    if meta.get("search") == "tpe" and axes:
        return samples, meta["sweep_seed"]
    if not any(axis.distribution is not None for axis in axes):
        raise _fail(
            path,
            "[experiment]",
            "'sweep_samples' draws from distributions, but no sweep axis is one: write e.g. "
            "learning_rate = { log_uniform = [1e-5, 1e-2] } (or remove sweep_samples for a grid)",
        )
    return samples, meta["sweep_seed"]


def _parse_engine(path: Path, meta: Mapping[str, Any]) -> str:
    engine = meta.get("engine", "sb3")
    if engine not in ENGINES:
        raise _fail(path, "[experiment]", f"'engine' must be one of {list(ENGINES)}, got {engine!r}")
    return engine


def load_experiment(path: str | Path) -> Experiment:
    """
    Read an experiment file and validate its keys and values, one by one; no model is built (whether the class accepts
    each configuration is checked by ``sb3_ppo_variants.runner.check.check_experiment``).

    :param path: the TOML file
    :return: the experiment
    :raises SpecError: naming the file, the key and the allowed values
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not a UTF-8 text file (byte {error.start}: {error.reason})") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SpecError(f"{path}: {error}") from error
    _check_keys(path, "top level", data, ("experiment", "envs", "variants"))
    meta = data.get("experiment", {})
    if not isinstance(meta, dict):
        raise _fail(path, "top level", f"'experiment' must be a table ([experiment]), got {meta!r}")
    _check_keys(path, "[experiment]", meta, EXPERIMENT_KEYS)
    seeds, evaluation_seeds = _parse_tuning(path, meta)
    for section in ("envs", "variants"):
        if not isinstance(data.get(section), dict) or not data[section]:
            raise _fail(path, f"[{section}]", "at least one entry is required")
    name = _require(path, "[experiment]", {"name": path.stem, **meta}, "name", str, positive=False)
    try:
        check_name(name)
    except ValueError as error:
        raise _fail(path, "[experiment]", f"'name' {error}") from error
    envs = tuple(_parse_env(path, env_id, table) for env_id, table in data["envs"].items())
    variants = tuple(_parse_variant(path, name, table) for name, table in data["variants"].items())
    for variant in variants:
        unknown = sorted(set(variant.env_overrides) - {env.env_id for env in envs})
        if unknown:
            raise _fail(path, f"[variants.{variant.name}.envs]", f"{unknown} are not environments of this file")
    search, search_batch = _parse_search(path, meta, tune=evaluation_seeds is not None)
    sweep_samples, sweep_seed = _parse_random_search(path, meta, envs, variants)
    for env in envs:
        for variant in variants:
            _check_pair(path, env, variant, random_search=sweep_samples is not None)
    return Experiment(
        name=name,
        path=path,
        seeds=seeds,
        envs=envs,
        variants=variants,
        eval_freq=_require(path, "[experiment]", meta, "eval_freq", int),
        eval_episodes=_require(path, "[experiment]", meta, "eval_episodes", int),
        evaluation_seeds=evaluation_seeds,
        sweep_samples=sweep_samples,
        sweep_seed=sweep_seed,
        search=search,
        search_batch=search_batch,
        engine=_parse_engine(path, meta),
        batch_runs=_require(path, "[experiment]", {"batch_runs": DEFAULT_BATCH_RUNS, **meta}, "batch_runs", int),
        tables=data,
    )
