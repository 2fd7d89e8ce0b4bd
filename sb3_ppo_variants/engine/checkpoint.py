"""
A batch's checkpoint: everything its runs need to go on exactly where they stopped, written atomically at the end of
an update (the stacked parameters and Adam's state, each run's counters, hook state, random stream, records so far,
and its environments: VecNormalize's statistics, the wrappers' counters, the simulator's state and random generator).

MuJoCo environments pickle by re-creating themselves from their constructor arguments (gymnasium's ``EzPickle``), which
loses the simulation; their integration state (``mujoco.mj_getState``) and random generator are saved beside them.
"""

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from sb3_ppo_variants.fileio import atomic_open

CHECKPOINT_VERSION = 1


def batch_id(run_ids: list[str]) -> str:
    """
    A stable name for the batch of these runs (the plan packs the same pending runs into the same batches).

    :param run_ids: the batch's runs
    :return: 16 hex digits
    """
    return hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()[:16]


def _simulators(vec_env: Any) -> list[Any]:
    """The MuJoCo environments of a VecEnv (unwrapped), or [] for other tasks."""
    envs = getattr(vec_env, "envs", [])
    return [env.unwrapped for env in envs if hasattr(env.unwrapped, "data") and hasattr(env.unwrapped, "model")]


def _simulator_state(vec_env: Any) -> list[tuple[np.ndarray, Any]]:
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    states = []
    for env in _simulators(vec_env):
        state = np.empty(mujoco.mj_stateSize(env.model, spec))
        mujoco.mj_getState(env.model, env.data, state, spec)
        states.append((state, env.np_random.bit_generator.state))
    return states


def _restore_simulators(vec_env: Any, states: list[tuple[np.ndarray, Any]]) -> None:
    if not states:
        return
    import mujoco

    for env, (state, random_state) in zip(_simulators(vec_env), states, strict=True):
        mujoco.mj_setState(env.model, env.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(env.model, env.data)
        env.np_random.bit_generator.state = random_state


def _env_state(env: Any) -> dict[str, Any]:
    """A training VecEnv (possibly under VecNormalize) as bytes plus its simulators' states."""
    inner = getattr(env, "venv", env)
    return {
        "inner": pickle.dumps(inner),
        "normalize": pickle.dumps(env) if inner is not env else None,
        # VecNormalize does not pickle its running discounted returns (set_venv zeroes them)
        "returns": env.returns.copy() if inner is not env else None,
        "simulators": _simulator_state(inner),
    }


def _restore_env(state: dict[str, Any]) -> Any:
    inner = pickle.loads(state["inner"])
    _restore_simulators(inner, state["simulators"])
    if state["normalize"] is None:
        return inner
    env = pickle.loads(state["normalize"])
    env.set_venv(inner)
    env.returns = state["returns"]
    return env


def _model_state(model: Any) -> dict[str, Any]:
    """The model's plain attributes (counters, progress, hook state such as ``kl_beta``)."""
    return {name: value for name, value in vars(model).items() if value is None or isinstance(value, bool | int | float | str)}


def save(path: Path, batch: Any, finished: list[Any], elapsed: float) -> None:
    """
    Write the batch's checkpoint atomically.

    :param path: the checkpoint file
    :param batch: the ``Batch``
    :param finished: runs that already left the batch (their records are final)
    :param elapsed: seconds the batch has trained so far
    """
    runs = []
    for run in batch.runs:
        runs.append(
            {
                "run_id": run.config.run_id,
                "model": _model_state(run.model),
                "env": _env_state(run.env),
                "generator": run.generator.get_state(),
                "fields": {
                    name: getattr(run, name)
                    for name in ("num_timesteps", "next_eval", "eval_time_s", "last_obs", "episode_starts", "status")
                },
                "record": (run.record.eval_rows, run.record.train_rows, run.record.episode_rows),
            }
        )
    state = {
        "version": CHECKPOINT_VERSION,
        "runs": runs,
        "finished": [(run.config.run_id, run.record) for run in finished],
        "parameters": [param.detach().cpu() for param in batch.policy.parameters()],
        "optimizer": _optimizer_state(batch.optimizer),
        "value_optimizer": None
        if batch.services.value_optimizer is None
        else _optimizer_state(batch.services.value_optimizer),
        "n_initial": batch.n_initial,
        "elapsed": elapsed,
    }
    buffer = io.BytesIO()
    th.save(state, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _optimizer_state(optimizer: Any) -> dict[str, Any]:
    return {
        "exp_avg": [t.cpu() for t in optimizer.exp_avg],
        "exp_avg_sq": [t.cpu() for t in optimizer.exp_avg_sq],
        "steps": optimizer.steps,
        "betas": optimizer.betas,
        "eps": optimizer.eps,
    }


def _restore_optimizer(optimizer: Any, state: dict[str, Any], device: th.device) -> None:
    optimizer.exp_avg = [t.to(device) for t in state["exp_avg"]]
    optimizer.exp_avg_sq = [t.to(device) for t in state["exp_avg_sq"]]
    optimizer.steps = list(state["steps"])
    optimizer.betas, optimizer.eps = state["betas"], state["eps"]


def load(path: Path) -> dict[str, Any] | None:
    """
    :param path: the checkpoint file
    :return: its state, or None when there is none (or it is from another version of the format)
    """
    if not path.is_file():
        return None
    state = th.load(path, weights_only=False)
    return state if state.get("version") == CHECKPOINT_VERSION else None


def restore(state: dict[str, Any], runs: list[Any], make_batch: Any) -> tuple[Any, list[Any], float]:
    """
    Rebuild a batch from its checkpoint and the freshly built runs (models and environments as ``run_one`` builds them).

    :param state: from :func:`load`
    :param runs: every run of the batch, freshly built, in plan order
    :param make_batch: ``Batch`` class (runs, device) -> batch
    :return: (the batch of the runs still training, the runs that had finished, seconds trained before)
    """
    by_id = {run.config.run_id: run for run in runs}
    finished = []
    for run_id, record in state["finished"]:
        by_id[run_id].record.eval_rows, by_id[run_id].record.train_rows = record.eval_rows, record.train_rows
        by_id[run_id].record.episode_rows, by_id[run_id].record.status = record.episode_rows, record.status
        finished.append(by_id[run_id])
    active = []
    for saved in state["runs"]:
        run = by_id[saved["run_id"]]
        for name, value in saved["model"].items():
            setattr(run.model, name, value)
        run.env = _restore_env(saved["env"])
        run.generator.set_state(saved["generator"])
        for name, value in saved["fields"].items():
            setattr(run, name, value)
        run.record.eval_rows, run.record.train_rows, run.record.episode_rows = saved["record"]
        active.append(run)
    batch = make_batch(active)
    with th.no_grad():
        for param, saved in zip(batch.policy.parameters(), state["parameters"], strict=True):
            param.copy_(saved.to(param.device))
    _restore_optimizer(batch.optimizer, state["optimizer"], batch.device)
    if state["value_optimizer"] is not None:
        from sb3_ppo_variants.engine.policy import BatchedAdam

        batch.services.value_optimizer = BatchedAdam(batch.policy.value_parameters())
        _restore_optimizer(batch.services.value_optimizer, state["value_optimizer"], batch.device)
    batch.n_initial = state["n_initial"]
    return batch, finished, state["elapsed"]
