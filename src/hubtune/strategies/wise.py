"""``wise_ft``: weight-space ensembling of pretrained and fine-tuned weights (Wortsman et al. 2022).

Training is full fine-tuning (``layer_decay`` optional). Afterwards (:meth:`WiseFT.finalize`)
the backbone becomes ``θ(α) = (1 − α)·θ0 + α·θ_ft`` for each ``α`` in ``alphas``; each is
evaluated on the validation split and the best (by ``metric``, default the first recipe
metric) is kept. Only the backbone is interpolated: a new task has no zero-shot head, so the
fine-tuned head is kept for every ``α``. Float buffers (BN statistics) are interpolated too.
Without a validation split ``alpha`` is used. The table and the choice go to the model card.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy, Evaluator


class WiseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alphas: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="used when there is no validation split")
    metric: str | None = Field(None, description="validation metric that picks alpha (default: first non-loss)")
    layer_decay: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("alphas")
    @classmethod
    def _unit(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 <= a <= 1.0 for a in v):
            raise ValueError("alphas must be a non-empty list of numbers in [0, 1]")
        return v


def backbone_state(model: TransferModel) -> dict[str, Tensor]:
    """A detached copy of the backbone's parameters and buffers (full names)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if model.is_backbone_param(k)}


def interpolate(model: TransferModel, theta0: dict[str, Tensor], theta1: dict[str, Tensor], alpha: float) -> None:
    """Load ``(1 − alpha)·theta0 + alpha·theta1`` into the backbone (integer buffers from ``theta1``)."""
    mixed = {}
    for k, v1 in theta1.items():
        v0 = theta0[k].to(v1.device)
        mixed[k] = torch.lerp(v0.to(v1.dtype), v1, alpha) if v1.is_floating_point() else v1
    model.load_state_dict(mixed, strict=False)


@STRATEGIES.register("wise_ft")
class WiseFT(BaseStrategy):
    """Full fine-tuning, then the best interpolation with the pretrained backbone."""

    name = "wise_ft"
    Options = WiseOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self.table: list[dict[str, float]] = []
        self.chosen: float | None = None

    def setup(self, model: TransferModel) -> None:
        self.theta0 = {k: v.cpu() for k, v in backbone_state(model).items()}

    def finalize(self, model: TransferModel, evaluate: Evaluator | None = None) -> None:
        theta_ft = backbone_state(model)
        if evaluate is None:
            self.chosen = self.options.alpha
        else:
            self.table = [{"alpha": a, **self._score(model, theta_ft, a, evaluate)} for a in self.options.alphas]
            self.chosen = self._best()
        interpolate(model, self.theta0, theta_ft, self.chosen)
        self.phase = f"interpolated (alpha={self.chosen})"

    def _score(self, model: TransferModel, theta_ft: dict[str, Tensor], alpha: float, evaluate: Evaluator) -> dict[str, float]:
        interpolate(model, self.theta0, theta_ft, alpha)
        return evaluate()

    def _best(self) -> float:
        from hubtune.metrics import greater_is_better

        name = self.options.metric or next((k for k in self.table[0] if k not in ("alpha", "loss")), "loss")
        if name not in self.table[0]:
            raise KeyError(f"strategy.metric: {name!r} was not computed (have: {', '.join(self.table[0])})")
        sign = 1.0 if greater_is_better(name) else -1.0
        return max(self.table, key=lambda row: (sign * row[name], row["alpha"]))["alpha"]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "wise": {"table": self.table, "chosen_alpha": self.chosen,
                                               "interpolated": "backbone only (fine-tuned head kept)"}}
