"""``full`` fine-tuning and ``linear_probe`` (frozen backbone).

A frozen backbone needs no ``torch.no_grad()``: with every backbone parameter frozen and
inputs that do not require gradients, autograd records nothing through it, so probing
already runs the backbone at inference cost. ``cache_features`` goes further for timm and
custom backbones: see :mod:`hubtune.strategies.feature_cache`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy, set_backbone_trainable


class FullOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layer_decay: float | None = Field(None, gt=0.0, le=1.0, description="layer-wise LR decay factor (None: off)")


@STRATEGIES.register("full")
class FullFineTune(BaseStrategy):
    """Every parameter trains (the head at ``train.lr * train.head_lr_mult``); ``layer_decay`` optional."""

    name = "full"
    Options = FullOptions


class LinearProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    freeze_bn: bool = True
    cache_features: bool = Field(False, description="reuse backbone features of identical inputs (timm/custom)")


def freeze(model: TransferModel, *, freeze_bn: bool = True) -> None:
    """Freeze the backbone (and optionally keep its norm layers in eval mode)."""
    set_backbone_trainable(model, False)
    model.frozen_backbone_eval = freeze_bn


@STRATEGIES.register("linear_probe")
class LinearProbe(BaseStrategy):
    """Only the head trains; the backbone is frozen and kept in eval mode (fixed BN statistics).

    ``cache_features: true`` computes each distinct input's features once (exact: keyed by
    the input's content); the run then trains on un-augmented images (``hubtune.run`` turns
    ``data.augment`` off for it, with a warning) so every epoch after the first reads features
    from memory. Caching needs ``freeze_bn: true`` (an eval-mode backbone).
    """

    name = "linear_probe"
    Options = LinearProbeOptions

    def setup(self, model: TransferModel) -> None:
        freeze(model, freeze_bn=self.options.freeze_bn)
        self.phase = "probe"
        if self.options.cache_features:
            from hubtune.strategies.feature_cache import install_feature_cache

            self.cache = install_feature_cache(model)

    def describe(self) -> dict:
        out = super().describe()
        cache = getattr(self, "cache", None)
        if cache is not None:
            out["cache"] = {"hits": cache.hits, "misses": cache.misses}
        return out
