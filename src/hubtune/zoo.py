"""Small built-in models for ``backbone.source: custom`` (e.g. the seed MLP)."""

from __future__ import annotations

from torch import nn


class MLP(nn.Sequential):
    """Flatten → (Linear → ReLU) per hidden size; ``num_features`` is the last width."""

    def __init__(self, in_features: int = 784, hidden: list[int] | tuple[int, ...] = (128,), dropout: float = 0.0):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        super().__init__(*layers)
        self.num_features = width
        self.modality = "vector"


def mlp(in_features: int = 784, hidden: list[int] | tuple[int, ...] = (128,), dropout: float = 0.0) -> MLP:
    """The MLP backbone of the seed recipe: 784-128 (+ a head of 10 or 2 outputs)."""
    return MLP(in_features, hidden, dropout)
