"""``gradual_unfreeze``: ULMFiT-style unfreezing from the top (Howard & Ruder 2018).

Epoch 0 trains the head only; each stage unfreezes ``blocks_per_stage`` more backbone blocks
(``model.blocks``, top first). A stage starts every ``every`` epochs, or at the explicit
``milestones`` (epochs, ascending). ``freeze_bn`` keeps the BatchNorm layers of still-frozen
blocks in eval mode (fixed statistics) through a forward pre-hook, whatever ``train()`` says.
``layer_decay`` adds discriminative learning rates (ULMFiT uses both).
"""

from __future__ import annotations

import bisect
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy


class UnfreezeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: int = Field(1, ge=1, description="epochs between stages (ignored with milestones)")
    milestones: list[int] | None = Field(None, description="epochs at which the next stage starts")
    blocks_per_stage: int = Field(1, ge=1)
    freeze_bn: bool = True
    layer_decay: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("milestones")
    @classmethod
    def _ascending(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (any(m < 1 for m in v) or v != sorted(set(v))):
            raise ValueError("milestones must be distinct epochs >= 1 in ascending order")
        return v


def _eval_hook(module: nn.Module, args: Any) -> None:
    module.training = False


@STRATEGIES.register("gradual_unfreeze")
class GradualUnfreeze(BaseStrategy):
    """Unfreeze the backbone from the top, one stage at a time."""

    name = "gradual_unfreeze"
    Options = UnfreezeOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self.unfrozen = -1
        self._hooks: list[Any] = []

    def stage_of(self, epoch: int) -> int:
        o = self.options
        return bisect.bisect_right(o.milestones, epoch) if o.milestones is not None else epoch // o.every

    def setup(self, model: TransferModel) -> None:
        self.apply(0, model)

    def on_epoch_start(self, epoch: int, model: TransferModel) -> bool:
        return self.apply(epoch, model)

    def apply(self, epoch: int, model: TransferModel) -> bool:
        """Unfreeze the top blocks of ``epoch``'s stage; True iff that changed anything."""
        n = len(model.blocks)
        k = min(n, self.stage_of(epoch) * self.options.blocks_per_stage)
        if k == self.unfrozen:
            return False
        live = {name for block in model.blocks[n - k:] for name in block}
        for name, p in model.backbone_parameters():
            p.requires_grad_(name in live)
        self.unfrozen, self.phase = k, f"{k}/{n} blocks unfrozen"
        self._guard_norms(model)
        return True

    def _guard_norms(self, model: TransferModel) -> None:
        """Keep BatchNorm layers whose parameters are all frozen in eval mode."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
        if not self.options.freeze_bn:
            return
        for m in model.backbone_module().modules():
            params = list(m.parameters())
            if isinstance(m, _BatchNorm) and params and not any(p.requires_grad for p in params):
                self._hooks.append(m.register_forward_pre_hook(_eval_hook))

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "unfrozen_blocks": self.unfrozen}
