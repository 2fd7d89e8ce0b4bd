"""'ppo-variants compare': the experiment file it writes from the environment's defaults, the run, the report."""

import pytest

from sb3_ppo_variants.cli import main
from sb3_ppo_variants.records import load_records
from sb3_ppo_variants.runner import load_experiment
from sb3_ppo_variants.runner.compare import env_defaults, parse_timesteps, zoo_value


def test_compare_writes_its_experiment_file_beside_the_records_runs_it_and_prints_the_report(tmp_path, capsys):
    out = tmp_path / "cmp"
    # rl-zoo3's CartPole-v1: 8 envs x 32 steps, so 256 steps are one rollout and one update of 20 epochs
    argv = ["compare", "--env", "CartPole-v1", "--variants", "clip,pg", "--seeds", "2", "--timesteps", "256"]
    assert main([*argv, "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "CartPole-v1: rl-zoo3 " in printed and "n_envs=8" in printed and "learning_rate=lin_0.001" in printed
    assert "pg keeps its own defaults: batch_size=full, n_epochs=1" in printed
    assert "4 ok" in printed and "## Sample efficiency" in printed and "| CartPole-v1 | pg |" in printed
    experiment = load_experiment(out / "experiment.toml")
    assert experiment.seeds == (0, 1) and experiment.envs[0].total_timesteps == 256 and experiment.eval_freq == 256
    assert experiment.envs[0].hyperparameters["n_epochs"] == 20
    assert [v.name for v in experiment.variants] == ["clip", "pg"]
    assert dict(experiment.variants[1].overrides) == {"batch_size": "full", "n_epochs": 1}
    assert sorted(load_records(out).runs["run_id"]) == [f"CartPole-v1__{v}__seed{s}" for v in ("clip", "pg") for s in (0, 1)]
    # the same command resumes: nothing to run, the same report
    assert main([*argv, "--out", str(out), "--workers", "1"]) == 0
    assert "nothing to run" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--variants", "clip,ppo2", "--variants: unknown variant ['ppo2']; allowed: clip, cpi, dualclip, espo, kl,"),
        ("--env", "CartPol-v1", "--env: unknown gymnasium id 'CartPol-v1'; close registered ids: CartPole-v1"),
        ("--timesteps", "100x", "--timesteps must be a positive whole number of steps such as 100000, 100k or 1.5M"),
        ("--seeds", "0", "--seeds must be a positive number of seeds, got 0"),
    ],
)
def test_bad_compare_arguments_print_one_line_with_the_allowed_values_and_create_nothing(
    tmp_path, capsys, option, value, message
):
    arguments = {"--env": "CartPole-v1", "--variants": "clip,logclip", "--seeds": "2", "--timesteps": "1k", option: value}
    out = tmp_path / "cmp"
    assert main(["compare", *[item for pair in arguments.items() for item in pair], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_budgets_read_as_written():
    assert [parse_timesteps(text) for text in ("100000", "100k", "1.5M", "2m")] == [100_000, 100_000, 1_500_000, 2_000_000]
    for bad in ("0", "1.5", "-3k", "1e5", ""):
        with pytest.raises(ValueError, match="--timesteps"):
            parse_timesteps(bad)


def test_rl_zoo_strings_are_parsed_not_evaluated():
    kwargs = "dict(log_std_init=-2,\n ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256]))"
    assert zoo_value("policy_kwargs", kwargs) == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": "relu",
        "net_arch": {"pi": [256, 256], "vf": [256]},
    }
    assert zoo_value("normalize", "{'norm_obs': False, 'norm_reward': True}") == {"norm_obs": False, "norm_reward": True}
    with pytest.raises(ValueError):
        zoo_value("policy_kwargs", "dict(optimizer_class=__import__('os').system('true'))")


def test_an_environment_rl_zoo_does_not_tune_gets_sb3_defaults_and_wrappers_are_named():
    assert env_defaults("FrozenLake-v1").hyperparameters == {}
    assert "SB3's PPO defaults (rl-zoo3's ppo.yml has no FrozenLake-v1)" in env_defaults("FrozenLake-v1").source
    car = env_defaults("CarRacing-v3")
    assert car.left_out == ("env_wrapper", "frame_stack") and car.hyperparameters["normalize"] == {
        "norm_obs": False,
        "norm_reward": True,
    }
