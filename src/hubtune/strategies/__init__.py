"""Transfer strategies: how the pretrained parameters are trained (or not).

``STRATEGIES.get(name)`` gives a class; ``build_strategy(cfg)`` validates the recipe's
options against the class's ``Options`` model and instantiates it. Third parties register
more through the entry-point group ``hubtune.strategies``.

Built in: ``full``, ``linear_probe``, ``lp_ft``, ``layer_decay``, ``gradual_unfreeze``,
``l2_sp``, ``bitfit``, ``peft``, ``wise_ft``, ``distill``. They compose through options: ``layer_decay``
(a factor) on ``full``/``lp_ft``/``l2_sp``/``gradual_unfreeze``/``wise_ft``; ``probe_epochs``
on ``lp_ft``/``l2_sp``. For example ``{type: lp_ft, layer_decay: 0.75}`` or
``{type: l2_sp, alpha: 0.01, layer_decay: 0.8}``.
"""

from __future__ import annotations

from hubtune.strategies import (  # noqa: F401  (registers entries)
    bitfit,
    distill,
    full,
    l2sp,
    layer_decay,
    lpft,
    peft_adapter,
    unfreeze,
    wise,
)
from hubtune.strategies.base import STRATEGIES, BaseStrategy, build_strategy, strategy_problems

__all__ = ["STRATEGIES", "BaseStrategy", "build_strategy", "strategy_problems"]
