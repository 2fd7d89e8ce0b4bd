"""
The PPO objective family as drop-in Stable-Baselines3 algorithms.

``from sb3_ppo_variants import LogClipPPO`` where you wrote ``from stable_baselines3 import PPO``.

The classes are imported on first use (a module-level ``__getattr__``), so ``sb3_ppo_variants.analysis`` and
``ppo-variants report`` work on a machine that has the records but not torch.
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ArgumentError": "sb3_ppo_variants.base",
    "DivergenceError": "sb3_ppo_variants.base",
    "PolicyBatch": "sb3_ppo_variants.base",
    "VariantPPO": "sb3_ppo_variants.base",
    "WholeRolloutPPO": "sb3_ppo_variants.whole_rollout",
    "VARIANTS": "sb3_ppo_variants.variants",
    "get_variant": "sb3_ppo_variants.variants",
    "CPIPPO": "sb3_ppo_variants.variants",
    "ClipPPO": "sb3_ppo_variants.variants",
    "DualClipPPO": "sb3_ppo_variants.variants",
    "ESPO": "sb3_ppo_variants.variants",
    "KLClipPPO": "sb3_ppo_variants.variants",
    "KLPenaltyPPO": "sb3_ppo_variants.variants",
    "LogClipPPO": "sb3_ppo_variants.variants",
    "RollbackPPO": "sb3_ppo_variants.variants",
    "SPO": "sb3_ppo_variants.variants",
    "TRPPO": "sb3_ppo_variants.variants",
    "VanillaPG": "sb3_ppo_variants.variants",
    "MaskableVariantPPO": "sb3_ppo_variants.contrib",
    "RecurrentVariantPPO": "sb3_ppo_variants.contrib",
}

if TYPE_CHECKING:
    from sb3_ppo_variants.base import ArgumentError, DivergenceError, PolicyBatch, VariantPPO
    from sb3_ppo_variants.contrib import MaskableVariantPPO, RecurrentVariantPPO
    from sb3_ppo_variants.variants import (
        CPIPPO,
        ESPO,
        SPO,
        TRPPO,
        VARIANTS,
        ClipPPO,
        DualClipPPO,
        KLClipPPO,
        KLPenaltyPPO,
        LogClipPPO,
        RollbackPPO,
        VanillaPG,
        get_variant,
    )
    from sb3_ppo_variants.whole_rollout import WholeRolloutPPO


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sb3_ppo_variants' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CPIPPO",
    "ESPO",
    "SPO",
    "TRPPO",
    "VARIANTS",
    "ArgumentError",
    "ClipPPO",
    "DivergenceError",
    "DualClipPPO",
    "KLClipPPO",
    "KLPenaltyPPO",
    "LogClipPPO",
    "MaskableVariantPPO",
    "PolicyBatch",
    "RecurrentVariantPPO",
    "RollbackPPO",
    "VanillaPG",
    "VariantPPO",
    "WholeRolloutPPO",
    "get_variant",
]
