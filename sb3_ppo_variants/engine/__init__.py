"""
The batched engine: K runs of one experiment trained in one process, each the SB3 class's algorithm.

An experiment chooses it with ``[experiment] engine``: ``"sb3"`` (the default: each run is its SB3 class's ``learn``),
``"batched"`` (every run on the engine; a run it cannot serve is an error before any run starts) or ``"auto"`` (the
engine where it can, the SB3 class otherwise). Runs share a batch when they share what fixes the tensor shapes and the
loop (:func:`batch_key`); they may differ in seed, learning rate and schedules, objective constants and the objective.
"""

import functools
import inspect
import math
from typing import Any

ENGINES = ("sb3", "batched", "auto")
DEFAULT_BATCH_RUNS = 32
# policy_kwargs the engine reproduces (architecture, initialisation, Adam's settings)
POLICY_KWARGS = ("net_arch", "activation_fn", "ortho_init", "log_std_init", "optimizer_kwargs", "share_features_extractor")


@functools.cache
def _spaces(env_id: str) -> tuple[Any, Any]:
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def _default(algo: str, name: str) -> Any:
    """The default of argument ``name`` of variant ``algo`` (the nearest class in its MRO that declares it)."""
    from sb3_ppo_variants import get_variant

    for klass in get_variant(algo).__mro__:
        if "__init__" not in vars(klass):
            continue
        parameter = inspect.signature(klass.__init__).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return None


def resolved(config: Any, name: str) -> Any:
    """
    The value a run's class gets for argument ``name``: the experiment's, else the class's default.

    :param config: a ``RunConfig``
    :param name: an argument of the class
    :return: the value as written (schedules still strings)
    """
    return config.hyperparameters[name] if name in config.hyperparameters else _default(config.algo, name)


def unsupported(config: Any) -> str | None:
    """
    Why the engine cannot train this run, or None when it can.

    :param config: a ``RunConfig``
    :return: the feature it does not support
    """
    from gymnasium import spaces

    if getattr(config, "prune_below", ()):
        return "pruning (a TPE search's median pruner stops single runs)"
    if config.policy != "MlpPolicy":
        return f"policy {config.policy!r} (the engine runs MlpPolicy)"
    from sb3_ppo_variants import get_variant
    from sb3_ppo_variants.base import VariantPPO

    base = get_variant(config.algo).base_algorithm
    if base is not VariantPPO.base_algorithm:
        return f"sb3-contrib's {base.__name__} (the engine runs SB3's PPO)"
    if resolved(config, "use_sde"):
        return "gSDE (use_sde = true)"
    extra = sorted(set(resolved(config, "policy_kwargs") or {}) - set(POLICY_KWARGS))
    if extra:
        return f"policy_kwargs {extra} (the engine reproduces {list(POLICY_KWARGS)})"
    optimizer = sorted(set((resolved(config, "policy_kwargs") or {}).get("optimizer_kwargs") or {}) - {"eps", "betas"})
    if optimizer:
        return f"optimizer_kwargs {optimizer} (the engine's Adam takes eps and betas)"
    observation_space, action_space = _spaces(config.env_id)
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        return f"observation space {observation_space} (the engine runs vector Box observations)"
    if not isinstance(action_space, spaces.Box | spaces.Discrete):
        return f"action space {action_space} (the engine runs Box and Discrete actions)"
    return None


def batch_key(config: Any) -> str:
    """
    Runs with equal keys can train in one batch: environment, network, rollout and minibatch shapes, epochs, budget
    and evaluation cadence, and the flags that change the update's loop.

    :param config: a ``RunConfig``
    :return: the key
    """
    n_steps = resolved(config, "n_steps")
    batch_size = resolved(config, "batch_size")
    batch_size = None if batch_size in (None, "full") or batch_size == n_steps * config.n_envs else batch_size
    policy_kwargs = resolved(config, "policy_kwargs") or {}
    fields = (
        config.env_id,
        config.n_envs,
        n_steps,
        batch_size,
        resolved(config, "n_epochs"),
        repr(policy_kwargs.get("net_arch")),
        policy_kwargs.get("activation_fn", "tanh"),
        repr(policy_kwargs.get("optimizer_kwargs")),
        config.total_timesteps,
        config.eval_freq,
        config.eval_episodes,
        bool(resolved(config, "normalize_advantage")),
        resolved(config, "clip_range_vf") is None,
    )
    return repr(fields)


def plan_batches(configs: list[Any], engine: str, batch_runs: int = DEFAULT_BATCH_RUNS) -> list[list[Any]]:
    """
    Pack runs into tasks: lists of runs trained in one batch, and single runs for the SB3 classes.

    A batch key's runs are split into the fewest batches of at most ``batch_runs``, of equal sizes.

    :param configs: the runs to execute
    :param engine: ``sb3``, ``batched`` or ``auto``
    :param batch_runs: the largest K
    :return: the tasks; a task of several runs is a batch, of one run an SB3 run unless the engine serves it
    :raises ValueError: for engine ``batched`` and a run it cannot serve, naming the run and the feature
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "sb3":
        return [[config] for config in configs]
    by_key: dict[str, list[Any]] = {}
    tasks = []
    for config in configs:
        reason = unsupported(config)
        if reason is not None and engine == "batched":
            raise ValueError(f"engine = 'batched' cannot train {config.run_id}: it does not support {reason}")
        if reason is not None:
            tasks.append([config])
        else:
            by_key.setdefault(batch_key(config), []).append(config)
    for runs in by_key.values():
        n_batches = math.ceil(len(runs) / batch_runs)
        size = math.ceil(len(runs) / n_batches)
        tasks += [runs[start : start + size] for start in range(0, len(runs), size)]
    return tasks


def run_task(task: list[Any], engine: str, checkpoint_dir: str | None = None) -> list[Any]:
    """
    Execute a task of :func:`plan_batches`: a batch on the engine, a single run on the engine or its SB3 class.

    :param task: the runs
    :param engine: ``sb3``, ``batched`` or ``auto``
    :param checkpoint_dir: where a batch checkpoints (``sb3_ppo_variants.engine.trainer.train_batch``), or None
    :return: their records
    """
    from sb3_ppo_variants.runner.run import run_one

    if engine == "sb3" or (len(task) == 1 and unsupported(task[0]) is not None):
        return [run_one(config) for config in task]
    from sb3_ppo_variants.engine.trainer import train_batch

    return train_batch(task, checkpoint_dir=checkpoint_dir)
