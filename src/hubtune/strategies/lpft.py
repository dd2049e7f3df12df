"""``lp_ft``: linear probe, then fine-tune everything (Kumar et al. 2022, "Fine-Tuning can
Distort Pretrained Features and Underperform Out-of-Distribution").

Epochs ``< probe_epochs`` train the head only (backbone frozen, BN statistics fixed) at
``probe_lr_mult`` × the head rate; later epochs train everything, optionally with layer-wise
LR decay (``layer_decay: 0.75`` gives "LP-FT with layer decay"). The phase is a pure function
of the epoch, so resume needs no extra state; the switch returns True once and the trainer
then rebuilds the optimizer and schedule over the remaining steps.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hubtune.contracts import ParamGroup
from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy, set_backbone_trainable


class LPFTOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    probe_epochs: int = Field(1, ge=0)
    probe_lr_mult: float = Field(10.0, gt=0.0, description="head LR multiplier during the probe phase")
    layer_decay: float | None = Field(None, gt=0.0, le=1.0, description="layer-wise LR decay in the fine-tune phase")
    freeze_bn: bool = True


@STRATEGIES.register("lp_ft")
class LPFT(BaseStrategy):
    """Head-only phase for ``probe_epochs`` epochs, then everything trains."""

    name = "lp_ft"
    Options = LPFTOptions

    def phase_of(self, epoch: int) -> str:
        return "probe" if epoch < self.options.probe_epochs else "finetune"

    def setup(self, model: TransferModel) -> None:
        self.phase = ""
        self.apply(self.phase_of(0), model)

    def apply(self, phase: str, model: TransferModel) -> bool:
        """Put ``model`` in ``phase``; True iff the trainable set changed."""
        if phase == self.phase:
            return False
        probe = phase == "probe"
        set_backbone_trainable(model, not probe)
        model.frozen_backbone_eval = probe and self.options.freeze_bn
        self.phase = phase
        return True

    def on_epoch_start(self, epoch: int, model: TransferModel) -> bool:
        return self.apply(self.phase_of(epoch), model)

    def build_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        if self.phase == "probe":
            head_lr_mult *= self.options.probe_lr_mult
        return super().build_groups(model, lr, weight_decay, head_lr_mult)
