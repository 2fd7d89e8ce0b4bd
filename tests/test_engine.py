"""The batched engine is SB3's PPO: one update in lockstep with the SB3 classes, SB3's GAE, records independent of the
batch, divergence isolated, and the runner's engine settings."""

import functools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.env_util import make_vec_env

from sb3_ppo_variants import VARIANTS, ClipPPO, PolicyBatch, get_variant
from sb3_ppo_variants.engine import plan_batches, unsupported
from sb3_ppo_variants.engine.policy import BatchedAdam, BatchedPolicy
from sb3_ppo_variants.engine.trainer import Buffers, gae, train_batch
from sb3_ppo_variants.engine.update import Rollout, Services, make_groups, update
from sb3_ppo_variants.runner.plan import RunConfig

# Every registered objective, generalisations, and the loop's options: one batch of one batch key
SPECS: list[tuple[str, dict[str, Any]]] = [
    ("clip", {}),
    ("clip", {"clip_range": "lin", "learning_rate": "lin"}),
    ("clip", {"clip_range_high": 0.28}),
    ("kl", {}),
    ("kl", {"kl_estimator": "k3", "kl_coef": 0.5}),
    ("kl", {"kl_target": None, "kl_coef": "lin"}),
    ("cpi", {}),
    ("logclip", {"clip_range": 0.3}),
    ("spo", {}),
    ("trppo", {}),
    ("espo", {"ratio_deviation": 0.02, "stop_scope": "update"}),
    ("espo", {"ratio_deviation": 0.02}),  # its default stop_scope "policy": the critic's steps go on
    ("clip", {"target_kl": 0.002, "stop_scope": "policy"}),
    ("klclip", {}),
    ("dualclip", {}),
    ("rollback", {}),
    ("clip", {"target_kl": 0.002}),
]
# Runs whose loop differs (value clipping; pg's one full-batch step and fitted critic): batches of their own
OWN_BATCH: list[tuple[str, dict[str, Any]]] = [
    ("clip", {"clip_range_vf": 0.2, "target_kl": 0.005}),
    ("pg", {"value_steps": 3, "n_epochs": 1, "batch_size": None}),
]
TOLERANCE = 1e-4  # float32 rounding only: the largest difference measured is 9e-6 (exact KL on Pendulum), most are 3e-8


def _schedules(kwargs: dict[str, Any]) -> dict[str, Any]:
    """'lin' stands for a linear schedule from the argument's SB3 default to 0."""
    defaults = {"clip_range": 0.2, "learning_rate": 3e-4, "kl_coef": 1.0}
    return {key: (lambda p, v=defaults[key]: v * p) if value == "lin" else value for key, value in kwargs.items()}


def _collected(algo: str, kwargs: dict[str, Any], env_id: str):
    """A model of the SB3 class after one rollout (progress set as learn() sets it), and its untrained twin."""
    args = {"n_steps": 32, "batch_size": 16, "n_epochs": 3, "seed": 0, **_schedules(kwargs)}
    model = get_variant(algo)("MlpPolicy", make_vec_env(env_id, n_envs=2, seed=1), **args)
    total, callback = model._setup_learn(10_000, None)
    callback.on_training_start(locals(), globals())
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    model._update_current_progress_remaining(model.num_timesteps, total)
    twin = get_variant(algo)("MlpPolicy", make_vec_env(env_id, n_envs=2, seed=1), **args)
    twin._current_progress_remaining = model._current_progress_remaining
    return model, twin


def _flat(array: np.ndarray) -> np.ndarray:
    swapped = array.swapaxes(0, 1)
    return swapped.reshape(swapped.shape[0] * swapped.shape[1], *swapped.shape[2:]).astype(np.float32)


def _rollout(models: list, discrete: bool) -> Rollout:
    def stacked(name: str) -> th.Tensor:
        return th.stack([th.as_tensor(_flat(getattr(model.rollout_buffer, name))) for model in models])

    actions = stacked("actions")
    actions = actions.long().squeeze(-1) if discrete else actions
    return Rollout(
        stacked("observations"), actions, *(stacked(name) for name in ("values", "log_probs", "advantages", "returns"))
    )


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("batch", ["shared", "own"])
def test_one_update_in_lockstep_with_the_sb3_classes(env_id: str, batch: str):
    specs = SPECS if batch == "shared" else OWN_BATCH
    pairs = [_collected(algo, kwargs, env_id) for algo, kwargs in specs]
    batches = [pairs] if batch == "shared" else [[pair] for pair in pairs]
    for members in batches:
        models, twins = [m for m, _ in members], [t for _, t in members]
        policy = BatchedPolicy([model.policy for model in models])
        optimizer = BatchedAdam(policy.parameters(), eps=1e-5)
        rollout = _rollout(models, policy.discrete)
        np.random.seed(5)
        orders = [np.random.permutation(rollout.advantages.shape[1]) for _ in range(models[0].n_epochs)]
        services = Services(policy)
        groups = make_groups(twins, services, policy.device)
        permutation = functools.partial(
            lambda e, orders, k: th.as_tensor(orders[e]).expand(k, -1), orders=orders, k=len(models)
        )
        stats = update(policy, optimizer, twins, groups, rollout, permutation, services)
        for k, model in enumerate(models):
            np.random.seed(5)  # the same minibatch order: RolloutBuffer.get draws one permutation per epoch
            model.train()
            reference = model.policy.state_dict()
            for name, param in policy.named_parameters():
                assert th.allclose(param[k].detach(), reference[name], rtol=0, atol=TOLERANCE), (specs[k], name)
            expected = model.last_update_stats
            assert set(stats[k]) == set(expected), specs[k]
            for key, value in expected.items():
                assert np.isclose(stats[k][key], value, rtol=1e-3, atol=1e-6), (specs[k], key, stats[k][key], value)
            assert twins[k].__dict__.get("kl_beta") == pytest.approx(model.__dict__.get("kl_beta"))
            assert twins[k]._n_updates == model._n_updates and twins[k].n_policy_updates == model.n_policy_updates


def test_an_early_stop_ends_one_run_alone():
    """ESPO with a tiny δ and clip with a tiny target_kl stop in their first epoch; clip beside them takes every step."""
    pairs = [
        _collected(algo, kwargs, "CartPole-v1")
        for algo, kwargs in [
            ("espo", {"ratio_deviation": 1e-4, "stop_scope": "update"}),
            ("clip", {}),
            ("clip", {"target_kl": 1e-12}),
        ]
    ]
    models, twins = [m for m, _ in pairs], [t for _, t in pairs]
    policy = BatchedPolicy([model.policy for model in models])
    services = Services(policy)
    stats = update(
        policy,
        BatchedAdam(policy.parameters(), eps=1e-5),
        twins,
        make_groups(twins, services, policy.device),
        _rollout(models, True),
        lambda e: th.arange(64).expand(3, -1),
        services,
    )
    assert [s["early_stop"] for s in stats] == [1.0, 0.0, 1.0]
    assert stats[1]["stop_epoch"] == 3.0 and stats[0]["stop_epoch"] == 1.0 and stats[2]["stop_epoch"] == 1.0


def test_gae_is_sb3s_rollout_buffer_truncations_included():
    rng = np.random.default_rng(0)
    n_steps, n_envs, runs = 50, 3, 4
    gammas, lambdas = np.array([0.99, 0.9, 0.98, 1.0]), np.array([0.95, 0.8, 1.0, 0.0])
    rewards = rng.normal(size=(runs, n_steps, n_envs)).astype(np.float32)
    values = rng.normal(size=(runs, n_steps, n_envs)).astype(np.float32)
    starts = (rng.random((runs, n_steps, n_envs)) < 0.1).astype(np.float32)
    last_values = rng.normal(size=(runs, n_envs)).astype(np.float32)
    dones = rng.random((runs, n_envs)) < 0.5
    buffers = Buffers(None, None, rewards, starts, values, None)
    advantages, returns = gae(buffers, last_values, dones, gammas, lambdas)
    box = spaces.Box(-1, 1, (2,))
    for k in range(runs):
        buffer = RolloutBuffer(n_steps, box, box, gamma=float(gammas[k]), gae_lambda=float(lambdas[k]), n_envs=n_envs)
        buffer.rewards, buffer.values, buffer.episode_starts = rewards[k].copy(), values[k].copy(), starts[k].copy()
        buffer.compute_returns_and_advantage(th.as_tensor(last_values[k]), dones[k])
        np.testing.assert_array_equal(advantages[k], buffer.advantages)
        np.testing.assert_array_equal(returns[k], buffer.returns)


def config(algo: str, seed: int, env_id: str = "CartPole-v1", **hyperparameters: Any) -> RunConfig:
    n_envs = 2 if env_id == "Pendulum-v1" else 4
    return RunConfig(
        run_id=f"{env_id}__{algo}__seed{seed}",
        experiment="engine",
        env_id=env_id,
        variant=algo,
        algo=algo,
        seed=seed,
        total_timesteps=1024,
        eval_freq=512,
        eval_episodes=2,
        n_envs=n_envs,
        policy="MlpPolicy",
        normalize={} if env_id == "Pendulum-v1" else None,
        hyperparameters={"n_steps": 128, "batch_size": 64, "n_epochs": 2, **hyperparameters},
    )


def _same(a, b) -> None:
    assert a.eval_rows == b.eval_rows and a.train_rows == b.train_rows and a.episode_rows == b.episode_rows
    assert a.status["status"] == b.status["status"] and a.status["timesteps"] == b.status["timesteps"]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a_record_does_not_depend_on_its_batch(env_id: str):
    """Bit for bit: run kl seed 1 alone, and in a batch of four with other objectives and seeds."""
    alone = train_batch([config("kl", 1, env_id)])[0]
    together = train_batch(
        [
            config("clip", 0, env_id),
            config("kl", 1, env_id),
            config("espo", 2, env_id, stop_scope="update"),
            config("kl", 3, env_id),
        ]
    )
    assert all(record.status["status"] == "ok" for record in together)
    _same(alone, together[1])
    assert together[1].config["engine"]["batch_runs"] == 4


class PoisonedClipPPO(ClipPPO):
    """Clip whose loss becomes NaN from update ``poison_update`` on (0: never), to test the isolation of a divergence."""

    variant_name = "poisoned"

    def __init__(self, *args: Any, poison_update: int = 0, **kwargs: Any) -> None:
        self.poison_update = poison_update
        super().__init__(*args, **kwargs)

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        loss, stats = super().policy_objective(batch)
        poisoned = (self.poison_update > 0) & (self.n_policy_updates + 1 >= self.poison_update)
        return th.where(th.as_tensor(poisoned), th.full_like(loss, float("nan")), loss), stats


def test_a_diverging_run_leaves_the_batch_and_the_others_are_unchanged(monkeypatch):
    monkeypatch.setitem(VARIANTS, "poisoned", PoisonedClipPPO)
    others = [config("poisoned", 0), config("poisoned", 2)]
    bad = config("poisoned", 1, poison_update=2)
    with_bad = train_batch([others[0], bad, others[1]])
    without = train_batch(others)
    assert with_bad[1].status["status"] == "diverged" and with_bad[1].status["diverged_at_update"] == 2
    assert "policy_gradient_loss is not finite" in with_bad[1].status["error"]
    assert len(with_bad[1].train_rows) == 1  # as SB3: the diverged update is not recorded
    _same(with_bad[0], without[0])
    _same(with_bad[2], without[1])


class LogPenaltyPPO(ClipPPO):
    """The README's own objective: E[r Â - c (log r)^2], reduced per run with batch.mean."""

    variant_name = "logpenalty"

    def policy_objective(self, batch: PolicyBatch) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        objective = batch.ratio * batch.advantages - 10 * batch.log_ratio**2
        return -batch.mean(objective), {"log_ratio_sq": batch.mean(batch.log_ratio**2)}


def test_a_users_objective_runs_on_the_engine(monkeypatch):
    monkeypatch.setitem(VARIANTS, "logpenalty", LogPenaltyPPO)
    records = train_batch([config("logpenalty", 0), config("clip", 1)])
    assert [record.status["status"] for record in records] == ["ok", "ok"]
    assert "log_ratio_sq" in records[0].train_rows[0] and "log_ratio_sq" not in records[1].train_rows[0]


def test_plan_packs_batches_and_names_what_the_engine_cannot_serve():
    runs = [config("clip", seed) for seed in range(5)] + [config("pg", 0, n_epochs=1, batch_size=None)]
    tasks = plan_batches(runs, "auto", batch_runs=2)
    assert sorted(len(task) for task in tasks) == [1, 1, 2, 2]  # 5 clip runs in 3 batches of at most 2, pg alone
    assert all(len({(c.hyperparameters.get("n_epochs"), c.algo == "pg") for c in task}) == 1 for task in tasks)
    sde = config("clip", 0, "Pendulum-v1", use_sde=True)
    assert unsupported(sde) == "gSDE (use_sde = true)"
    assert plan_batches([sde], "auto") == [[sde]]
    with pytest.raises(ValueError, match=r"cannot train Pendulum-v1__clip__seed0: it does not support gSDE"):
        plan_batches([sde], "batched")
    assert plan_batches(runs, "sb3") == [[run] for run in runs]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Hopper-v5"])
def test_an_interrupted_batch_resumes_from_its_checkpoint_to_the_same_records(env_id: str, tmp_path, monkeypatch):
    import sb3_ppo_variants.engine.trainer as trainer

    runs = [replace(config("clip", 0, env_id), total_timesteps=2048), replace(config("kl", 1, env_id), total_timesteps=2048)]
    if env_id == "Hopper-v5":
        runs = [replace(run, n_envs=1, normalize={"norm_reward": False}) for run in runs]
    uninterrupted = train_batch(runs)
    original, calls = trainer.update, []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:  # in the 4th update: the checkpoint of update 2 is the last one
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_batch(runs, checkpoint_dir=tmp_path, checkpoint_every=2)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    monkeypatch.setattr(trainer, "update", original)
    resumed = train_batch(runs, checkpoint_dir=tmp_path, checkpoint_every=2)
    for a, b in zip(uninterrupted, resumed, strict=True):
        _same(a, b)
    assert not list(tmp_path.glob("*.pt"))  # removed once the batch has ended


def test_ks_two_sample_by_hand():
    from sb3_ppo_variants.analysis.envpool_evidence import ks_two_sample

    # F_a steps at 1, 2, 3 (1/3 each), F_b at 2.5, 3.5, 4.5: the largest gap is at x = 2, F_a = 2/3, F_b = 0 -> D = 2/3;
    # n_e = sqrt(9 / 6) = 1.2247, λ = (1.2247 + 0.12 + 0.0898) * 2/3 = 0.9564, λ² = 0.9147,
    # Q = 2 (e^-1.8294 - e^-7.3177 + e^-16.46 ...) = 2 (0.16050 - 0.00066) = 0.3197
    distance, p = ks_two_sample(np.array([1.0, 2.0, 3.0]), np.array([2.5, 3.5, 4.5]))
    assert distance == pytest.approx(2 / 3)
    assert p == pytest.approx(0.3197, abs=1e-3)
    assert ks_two_sample(np.arange(10.0), np.arange(10.0)) == (0.0, 1.0)


def test_envpool_vec_env_has_sb3s_episode_boundaries():
    pytest.importorskip("envpool")
    from sb3_ppo_variants.vec_envs import EnvpoolVecEnv

    env = EnvpoolVecEnv("CartPole-v1", 2, seed=0)
    observations = env.reset()
    length, ended = 0, None
    while ended is None:
        observations, _, dones, infos = env.step(np.zeros(2, dtype=np.int64))
        length += 1
        ended = next((i for i in range(2) if dones[i]), None)
    info = infos[ended]
    assert info["episode"]["l"] == length and info["episode"]["r"] == pytest.approx(length)  # reward 1 per step
    assert not info["TimeLimit.truncated"] and abs(info["terminal_observation"][2]) > 0.2  # the pole fell
    assert np.all(np.abs(observations[ended]) <= 0.05)  # the first observation of the next episode, in the same step
    env.close()


def test_the_engine_names_the_contrib_bases_as_unsupported():
    assert unsupported(config("clip-maskable", 0)) == "sb3-contrib's MaskablePPO (the engine runs SB3's PPO)"
    assert unsupported(config("espo", 0)) is None


@pytest.mark.slow
def test_both_engines_learn_cartpole_alike():
    """The same 8 runs of clip on CartPole-v1 (quick settings, 30k steps) on the SB3 class and on the engine: their mean
    final returns differ by less than 3 standard errors of the difference (a Welch test at about the 0.3% level)."""
    from sb3_ppo_variants.runner.run import run_one

    hyperparameters = {"n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20}
    runs = [
        replace(
            config("clip", seed),
            total_timesteps=30_000,
            eval_freq=10_000,
            eval_episodes=10,
            n_envs=8,
            hyperparameters=hyperparameters,
        )
        for seed in range(8)
    ]
    sb3 = np.array([run_one(run).eval_rows[-1]["mean_return"] for run in runs])
    engine = np.array([record.eval_rows[-1]["mean_return"] for record in train_batch(runs)])
    standard_error = np.sqrt(sb3.var(ddof=1) / len(sb3) + engine.var(ddof=1) / len(engine))
    assert abs(sb3.mean() - engine.mean()) < 3 * max(standard_error, 1.0), (sb3, engine)
