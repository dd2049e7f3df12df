"""Backbone registry: ``timm``, ``transformers`` and ``custom`` (a user's ``module:function``).

A backbone factory takes the recipe's ``BackboneConfig`` and returns a
:class:`hubtune.contracts.Backbone`. Third parties register more through the entry-point
group ``hubtune.backbones``.
"""

from __future__ import annotations

from hubtune.contracts import Backbone, BackboneFactory
from hubtune.registry import Registry

BACKBONES: Registry[BackboneFactory] = Registry("backbone")


def build_backbone(cfg) -> Backbone:
    """Build the backbone named by ``cfg.source``."""
    return BACKBONES.get(cfg.source)(cfg)


from hubtune.backbones import custom, timm_backbone, transformers_backbone  # noqa: E402,F401  (register)

__all__ = ["BACKBONES", "build_backbone"]
