"""Strategies that read the backbone's structure run on the smp model unchanged: layer-wise LR decay reaches into
the ``tu-`` encoder (stem slowest, decoder at the head's rate) and L2-SP anchors the encoder at its ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hubtune
from hubtune.backbones import build_backbone
from hubtune.heads import HEADS
from hubtune.model import TransferModel
from hubtune.strategies import build_strategy

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "segmentation" / "camvid.yaml"
STEM, LAST = "backbone.model.conv_stem.weight", "backbone.model.blocks.6.0.conv_pwl.weight"


@pytest.fixture
def model() -> TransferModel:
    recipe = hubtune.load_recipe(RECIPE)
    spec = HEADS.get(recipe.head.type)
    backbone, head = spec.dense.prepare(build_backbone(recipe.backbone), 11, recipe.head)
    return TransferModel(backbone, spec, 11, [str(i) for i in range(11)], recipe.head, head=head)


def _lrs(model: TransferModel, groups: list[dict]) -> dict[str, float]:
    by_id = {id(p): g["lr"] for g in groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if id(p) in by_id}


def test_layer_decay_slows_the_encoder_stem_most(model: TransferModel) -> None:
    strategy = build_strategy("layer_decay", {"decay": 0.7})
    strategy.setup(model)
    lrs = _lrs(model, strategy.param_groups(model, 1e-3, 0.01, 10.0))
    decoder = [lr for name, lr in lrs.items() if name.startswith("head.")]
    assert decoder and set(decoder) == {1e-2}  # the decoder trains at the head's rate
    assert lrs[STEM] < lrs[LAST] < 1e-2
    assert lrs[STEM] < 1e-3 * 0.7 ** 5  # decayed over the encoder's depth, not one step


def test_l2_sp_anchors_the_encoder_at_its_imagenet_weights(model: TransferModel) -> None:
    strategy = build_strategy("l2_sp", {"alpha": 0.01, "beta": 1e-4})
    strategy.setup(model)
    before = float(strategy.extra_loss(model).detach())
    stem = dict(model.named_parameters())[STEM]
    with torch.no_grad():
        stem.add_(0.1)
    moved = float(strategy.extra_loss(model).detach())
    assert moved - before == pytest.approx(0.01 * 0.1**2 * stem.numel(), rel=1e-3)
