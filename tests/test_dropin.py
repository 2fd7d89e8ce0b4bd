"""Every variant is a drop-in ``stable_baselines3.PPO``."""

from sb3_ppo_variants import KLPenaltyPPO


def test_kl_old_policy_under_gsde_is_the_rollout_policy():
    """One full-batch step: the exact KL between the snapshot and the policy being updated is 0 before the step."""
    model = KLPenaltyPPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=16, batch_size=None, n_epochs=1, seed=0)
    model.learn(32)
    assert model.last_update_stats["kl"] == 0.0
    assert model.last_update_stats["kl_rollout"] > 0.0
