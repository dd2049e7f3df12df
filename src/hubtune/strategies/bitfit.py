"""``bitfit``: only the backbone's bias terms and the head train (Ben Zaken et al. 2022)."""

from __future__ import annotations

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy


def is_bias(name: str) -> bool:
    return name.endswith(".bias") or name == "bias"


@STRATEGIES.register("bitfit")
class BitFit(BaseStrategy):
    """Freeze every backbone weight except biases; the head trains fully."""

    name = "bitfit"

    def setup(self, model: TransferModel) -> None:
        for name, p in model.backbone_parameters():
            p.requires_grad_(is_bias(name))
        for _, p in model.head_parameters():
            p.requires_grad_(True)
        self.phase = "bitfit"
