"""``l2_sp``: keep the fine-tuned backbone near its starting point (Li et al. 2018).

The penalty is ``alpha * ||w - w0||²`` summed over the trainable backbone parameters (``w0``
the pretrained values, snapshotted at setup, so a resume keeps the right anchor) plus
``beta * ||w_head||²`` over the head's parameters. Optimizer weight decay is turned off: it
would pull towards zero, which is what L2-SP replaces. Composes through options:
``layer_decay`` (L2-SP with layer decay) and ``probe_epochs`` (L2-SP after a linear probe,
i.e. LP-FT + L2-SP).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from hubtune.contracts import ParamGroup
from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES
from hubtune.strategies.lpft import LPFT, LPFTOptions


class L2SPOptions(LPFTOptions):
    alpha: float = Field(1e-2, ge=0.0, description="weight of ||w - w0||² on the backbone")
    beta: float = Field(1e-4, ge=0.0, description="weight of ||w||² on the head")
    probe_epochs: int = Field(0, ge=0)


@STRATEGIES.register("l2_sp")
class L2SP(LPFT):
    """Full fine-tuning (optionally after a probe phase) with the L2-SP penalty."""

    name = "l2_sp"
    Options = L2SPOptions

    def setup(self, model: TransferModel) -> None:
        self.anchor = {n: p.detach().clone() for n, p in model.backbone_parameters()}
        super().setup(model)

    def build_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        return super().build_groups(model, lr, 0.0, head_lr_mult)

    def extra_loss(self, model: TransferModel) -> Tensor | None:
        return l2_sp_penalty(model, self.anchor, self.options.alpha, self.options.beta)


def l2_sp_penalty(model: TransferModel, anchor: dict[str, Tensor], alpha: float, beta: float) -> Tensor:
    """``alpha * Σ||w - w0||²`` (trainable backbone) ``+ beta * Σ||w||²`` (trainable head)."""
    terms = []
    for name, p in model.backbone_parameters():
        if p.requires_grad and alpha:
            w0 = anchor[name]
            if w0.device != p.device:
                w0 = anchor[name] = w0.to(p.device)
            terms.append(alpha * (p - w0).pow(2).sum())
    if beta:
        terms += [beta * p.pow(2).sum() for _, p in model.head_parameters() if p.requires_grad]
    if not terms:
        return torch.zeros((), device=next(model.parameters()).device)
    return torch.stack(terms).sum()
