"""Transfer strategies: how the pretrained parameters are trained (or not).

``STRATEGIES.get(name)`` gives a class; ``build_strategy(cfg)`` validates the recipe's
options against the class's ``Options`` model and instantiates it. Third parties register
more through the entry-point group ``hubtune.strategys``/``hubtune.strategies``.
"""

from __future__ import annotations

from hubtune.strategies import full  # noqa: F401  (registers entries)
from hubtune.strategies.base import STRATEGIES, BaseStrategy, build_strategy, strategy_problems

__all__ = ["STRATEGIES", "BaseStrategy", "build_strategy", "strategy_problems"]
