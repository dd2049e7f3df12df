"""Backbone feature caching for linear probing (timm and custom image backbones).

The cache wraps ``model.backbone_forward``: each image is keyed by a fingerprint of its
pixels (four fixed random projections in float64), so only identical inputs hit; features
are cached only while the frozen backbone is in eval mode (deterministic output). A cached probe
trains on un-augmented images (``hubtune.run`` sees to it), so every epoch after the first reads
features from memory.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from hubtune.model import TransferModel

log = logging.getLogger(__name__)


class FeatureCache:
    """A drop-in ``backbone_forward`` that reuses features of inputs seen before."""

    def __init__(self, model: TransferModel) -> None:
        self.model = model
        self.compute = model.backbone_forward
        self.store: dict[bytes, Tensor] = {}
        self.hits = self.misses = 0
        self._proj: Tensor | None = None

    def keys(self, x: Tensor) -> list[bytes]:
        flat = x.detach().flatten(1).double()
        if self._proj is None or self._proj.shape[0] != flat.shape[1] or self._proj.device != flat.device:
            g = torch.Generator().manual_seed(0)
            self._proj = torch.randn(flat.shape[1], 4, generator=g, dtype=torch.float64).to(flat.device)
        prints = (flat @ self._proj).cpu().numpy()
        return [row.tobytes() for row in prints]

    def __call__(self, batch: dict[str, Tensor]) -> Tensor:
        x = batch.get("pixel_values")
        if x is None or self.model.backbone.training or (torch.is_grad_enabled() and _needs_grad(self.model)):
            return self.compute(batch)
        keys = self.keys(x)
        todo = [i for i, k in enumerate(keys) if k not in self.store]
        if todo:
            with torch.no_grad():
                feats = self.compute({"pixel_values": x[todo]})
            for i, f in zip(todo, feats, strict=True):
                self.store[keys[i]] = f.detach()
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        return torch.stack([self.store[k] for k in keys])


def _needs_grad(model: TransferModel) -> bool:
    return any(p.requires_grad for _, p in model.backbone_parameters())


def install_feature_cache(model: TransferModel) -> FeatureCache | None:
    """Route ``model.backbone_forward`` through a :class:`FeatureCache` (timm/custom only)."""
    if model.family == "transformers":
        log.warning("strategy.cache_features: not supported for transformers backbones; ignored")
        return None
    cache = FeatureCache(model)
    model.backbone_forward = cache  # type: ignore[method-assign]
    return cache
