"""Backbone registry: ``timm``, ``transformers`` and ``custom`` (a user's ``module:function``).

A backbone factory takes the recipe's ``BackboneConfig`` and returns a
:class:`hubtune.contracts.Backbone`. Third parties register more through the entry-point
group ``hubtune.backbones``.
"""

from __future__ import annotations

from hubtune.contracts import Backbone, BackboneFactory
from hubtune.registry import Registry

BACKBONES: Registry[BackboneFactory] = Registry("backbone", group="hubtune.backbones")


def build_backbone(cfg) -> Backbone:
    """Build the backbone named by ``cfg.source``."""
    return BACKBONES.get(cfg.source)(cfg)


# The built-ins import their library only when used, so validating a recipe stays fast.
@BACKBONES.register("timm")
def _timm(cfg) -> Backbone:
    from hubtune.backbones.timm_backbone import build_timm

    return build_timm(cfg)


@BACKBONES.register("transformers")
def _transformers(cfg) -> Backbone:
    from hubtune.backbones.transformers_backbone import build_transformers

    return build_transformers(cfg)


@BACKBONES.register("spectrogram")
def _spectrogram(cfg) -> Backbone:
    from hubtune.backbones.spectrogram import build_spectrogram

    return build_spectrogram(cfg)


@BACKBONES.register("custom")
def _custom(cfg) -> Backbone:
    from hubtune.backbones.custom import build_custom

    return build_custom(cfg)

__all__ = ["BACKBONES", "build_backbone"]
