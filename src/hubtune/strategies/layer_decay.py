"""``layer_decay``: layer-wise (discriminative) learning rates for any timm or transformers backbone.

Layer ids come from ``model.blocks`` (timm's group matcher; transformers embeddings →
``layer.N`` → after); the head gets the top id. Group ``i`` trains at
``train.lr * decay ** (num_layers - i)`` and the head at ``train.lr * train.head_lr_mult``.
The rates are written into the optimizer groups themselves (not timm's ``lr_scale``, which
only timm's schedulers honour), so hubtune's ``LambdaLR`` schedules keep the ratios.

Other strategies compose with it through their own ``layer_decay`` option
(``full``, ``lp_ft``, ``l2_sp``, ``gradual_unfreeze``, ``wise_ft``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hubtune.contracts import ParamGroup
from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy, layer_decay_groups


class LayerDecayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decay: float = Field(0.75, gt=0.0, le=1.0, description="LR ratio between a layer and the one above it")


@STRATEGIES.register("layer_decay")
class LayerDecay(BaseStrategy):
    """Full fine-tuning with per-layer learning rates decaying from the head down."""

    name = "layer_decay"
    Options = LayerDecayOptions

    def build_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        return layer_decay_groups(model, lr, weight_decay, head_lr_mult, self.options.decay)
