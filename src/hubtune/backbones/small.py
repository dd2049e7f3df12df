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


class CNN(nn.Sequential):
    """LeNet-style: two conv(5×5)-ReLU-maxpool blocks, then Linear → ReLU; for small grey digits."""

    def __init__(self, in_size: int = 16, channels: tuple[int, int] = (32, 64), features: int = 256,
                 dropout: float = 0.0):
        c1, c2 = channels
        layers: list[nn.Module] = [
            nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(c2 * 16, features), nn.ReLU(),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.num_features = features
        self.modality = "vector"
        self.data_config = {"input_size": (1, in_size, in_size)}


def cnn(in_size: int = 16, channels: list[int] | tuple[int, int] = (32, 64), features: int = 256,
        dropout: float = 0.0) -> CNN:
    """A small LeNet-style CNN backbone for 1-channel digits (``in_size``×``in_size`` inputs)."""
    return CNN(in_size, (int(channels[0]), int(channels[1])), features, dropout)
