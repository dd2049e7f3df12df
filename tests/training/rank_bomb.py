"""A test-only backbone factory whose forward raises on rank 1 at its third call (a failing rank)."""

from __future__ import annotations

from accelerate import PartialState
from torch import Tensor

from hubtune.backbones.small import MLP


class BombMLP(MLP):
    """:class:`hubtune.backbones.small.MLP` that fails on process rank 1 after two forward passes."""

    calls = 0

    def forward(self, x: Tensor) -> Tensor:
        BombMLP.calls += 1
        if BombMLP.calls == 3 and PartialState().process_index == 1:
            raise RuntimeError("rank 1 exploded on purpose (test)")
        return super().forward(x)


def mlp(in_features: int = 64, hidden: list[int] | tuple[int, ...] = (32,), dropout: float = 0.0) -> BombMLP:
    return BombMLP(in_features, hidden, dropout)
