"""
The PPO objective family as drop-in Stable-Baselines3 algorithms.

``from sb3_ppo_variants import LogClipPPO`` where you wrote ``from stable_baselines3 import PPO``.
"""

from sb3_ppo_variants.base import DivergenceError, PolicyBatch, VariantPPO
from sb3_ppo_variants.variants import CPIPPO, ClipPPO, KLPenaltyPPO, LogClipPPO, VanillaPG

__version__ = "0.1.0"

VARIANTS: dict[str, type[VariantPPO]] = {
    cls.variant_name: cls for cls in (VanillaPG, CPIPPO, ClipPPO, KLPenaltyPPO, LogClipPPO)
}


def get_variant(name: str) -> type[VariantPPO]:
    """
    Return the variant class registered under ``name``.

    :param name: one of ``pg``, ``cpi``, ``clip``, ``kl``, ``logclip``
    :return: the class, a subclass of ``stable_baselines3.PPO``
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}: valid names are {sorted(VARIANTS)}")
    return VARIANTS[name]


__all__ = [
    "CPIPPO",
    "VARIANTS",
    "ClipPPO",
    "DivergenceError",
    "KLPenaltyPPO",
    "LogClipPPO",
    "PolicyBatch",
    "VanillaPG",
    "VariantPPO",
    "get_variant",
]
