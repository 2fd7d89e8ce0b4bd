from sb3_ppo_variants.cli import entry

entry()
