"""``full`` fine-tuning and ``linear_probe`` (frozen backbone)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy


@STRATEGIES.register("full")
class FullFineTune(BaseStrategy):
    """Every parameter trains (the head at ``train.lr * train.head_lr_mult``)."""

    name = "full"


class LinearProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    freeze_bn: bool = True


def freeze(model: TransferModel, *, freeze_bn: bool = True) -> None:
    """Freeze the backbone (and optionally keep its norm layers in eval mode)."""
    for _, p in model.backbone_parameters():
        p.requires_grad_(False)
    model.frozen_backbone_eval = freeze_bn


@STRATEGIES.register("linear_probe")
class LinearProbe(BaseStrategy):
    """Only the head trains; the backbone is frozen and kept in eval mode (fixed BN statistics)."""

    name = "linear_probe"
    Options = LinearProbeOptions

    def setup(self, model: TransferModel) -> None:
        freeze(model, freeze_bn=self.options.freeze_bn)
