"""
The dry run of an experiment: every configuration of its plan given to its class before any run starts.

``run``, ``tune`` and ``list`` call it; ``status`` and ``report`` do not (they need neither the environments nor the
models). The spec (``sb3_ppo_variants.runner.spec``) has checked each key and value alone; here the class checks the
values of each configuration together, as ``run_one`` will pass them.
"""

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from sb3_ppo_variants import get_variant
from sb3_ppo_variants.runner.resolve import algo_kwargs, canonical
from sb3_ppo_variants.runner.spec import EnvSpec, Experiment, SpecError, VariantSpec
from sb3_ppo_variants.runner.sweep import expand

# The arguments that change what SB3 builds (the networks, the rollout policy, the critic's optimizer): a configuration
# whose values of these are new is built in full; the others are validated by the class without building the policy
BUILD_KEYS = ("policy_kwargs", "use_sde", "sde_sample_freq", "value_steps", "kl_estimator")
# The variants with an adaptive β, whose target is kl_target; SB3's target_kl is an early stop of the epochs
ADAPTIVE_KL_ALGOS = ("kl", "klclip")


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


@contextlib.contextmanager
def _environment(path: Path, env: EnvSpec) -> Iterator[VecEnv]:
    """The training environments of ``env``, closed on exit; a failure to make them is a ``SpecError`` naming the entry."""
    where = f"{path}: [envs.{env.env_id}]"
    try:
        vec_env = make_vec_env(env.env_id, n_envs=env.n_envs)
    except gym.error.DependencyNotInstalled as error:
        extra = " (MuJoCo tasks: pip install 'sb3-ppo-variants[mujoco]')" if "mujoco" in str(error).lower() else ""
        raise SpecError(f"{where}: {error}{extra}") from error
    except ModuleNotFoundError as error:
        raise SpecError(
            f"{where}: making the environment needs the module {error.name!r}, which is not installed ({error})"
        ) from error
    except Exception as error:  # whatever the environment's constructor raises
        raise SpecError(f"{where}: making the environment failed: {_one_line(error)}") from error
    try:
        yield vec_env
    finally:
        vec_env.close()


def _warn_target_kl(experiment: Experiment, variant: VariantSpec) -> None:
    """Warn when an adaptive-KL variant sets SB3's ``target_kl`` but not ``kl_target`` on some environment."""
    if variant.algo not in ADAPTIVE_KL_ALGOS:
        return
    for env in experiment.envs:
        keys = variant.hyperparameters(env).keys() | env.sweep.keys() | variant.sweep.keys()
        if "target_kl" in keys and "kl_target" not in keys:
            warnings.warn(
                f"{experiment.path}: [variants.{variant.name}] (algo {variant.algo!r}) sets target_kl but not kl_target on "
                f"[envs.{env.env_id}]: target_kl is SB3's early stop of the epochs, not the target of the adaptive β "
                "(kl_target, default 0.01); write kl_target for the adaptive rule",
                UserWarning,
                stacklevel=3,
            )
            return


def _check_configurations(experiment: Experiment, env: EnvSpec, variant: VariantSpec, vec_env: VecEnv) -> None:
    """Give every configuration of (env, variant) to the class; each one with new ``BUILD_KEYS`` values is built in full."""
    klass = get_variant(variant.algo)
    base = variant.hyperparameters(env)
    axes = {**env.sweep, **variant.sweep}
    built: set[str] = set()
    for swept in expand(axes, experiment.sweep_samples if axes else None, experiment.sweep_seed, (env.env_id, variant.name)):
        hyperparameters = {**base, **swept}
        where = f"{experiment.path}: [envs.{env.env_id}] with [variants.{variant.name}]"
        where += "".join(f" with {key} = {value!r}" for key, value in swept.items())
        kwargs = algo_kwargs(hyperparameters)
        try:
            klass(env.policy, vec_env, device="cpu", _init_setup_model=False, **kwargs)
        except (TypeError, ValueError, AssertionError) as error:
            raise SpecError(f"{where}: {' '.join(str(error).split())}") from error
        build = json.dumps([canonical(key, hyperparameters.get(key)) for key in BUILD_KEYS])
        if build in built:
            continue
        built.add(build)
        try:
            klass(env.policy, vec_env, device="cpu", **kwargs)
        except Exception as error:  # SB3 building the policy: e.g. net_arch too large, CnnPolicy on vector observations
            policy_kwargs = hyperparameters.get("policy_kwargs")
            policy_kwargs = "" if policy_kwargs is None else f" with `policy_kwargs` = {policy_kwargs!r}"
            raise SpecError(
                f"{where}: `policy` = {env.policy!r}{policy_kwargs} cannot be built for the observations "
                f"{vec_env.observation_space} and actions {vec_env.action_space}: {_one_line(error)}"
            ) from error


def check_experiment(experiment: Experiment) -> None:
    """
    The dry run before any run starts: make each environment, and give every configuration of every variant on it
    (each combination of its sweep axes, each draw of a random search) to its class, with the arguments ``run_one``
    will pass. Configurations are validated by the class's constructor without building the policy, and built in full
    once per distinct value of the arguments that shape what SB3 builds (``BUILD_KEYS``), so a large sweep is checked in
    seconds. Warns once per variant entry of ``kl`` or ``klclip`` that sets ``target_kl`` but not ``kl_target``.

    :param experiment: a parsed experiment (``load_experiment``); call it once its size is known to be acceptable
        (``Experiment.n_runs``), since every configuration is visited
    :raises SpecError: naming the file, the entries, the swept values and the message of the class (which names the
        argument)
    """
    for variant in experiment.variants:
        _warn_target_kl(experiment, variant)
    for env in experiment.envs:
        with _environment(experiment.path, env) as vec_env:
            for variant in experiment.variants:
                _check_configurations(experiment, env, variant, vec_env)
