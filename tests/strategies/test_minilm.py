"""One check on the real all-MiniLM-L6-v2: layer ids and LoRA's trainable share."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubtune.backbones import build_backbone
from hubtune.heads import HEADS
from hubtune.model import TransferModel
from hubtune.recipe import BackboneConfig, HeadConfig
from hubtune.strategies import build_strategy


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> TransferModel:
    backbone = build_backbone(BackboneConfig(source="transformers", name=str(minilm_path)))
    return TransferModel(backbone, HEADS.get("classification"), 2, ["neg", "pos"], HeadConfig())


def test_minilm_layer_decay_and_lora(minilm: TransferModel):
    s = build_strategy("lp_ft", {"probe_epochs": 0, "layer_decay": 0.5})
    s.setup(minilm)
    lrs = {g["layer_id"]: g["lr"] for g in s.param_groups(minilm, 1.0, 0.0, 1.0)}
    assert len(minilm.blocks) == 8  # embeddings, 6 layers, pooler
    assert lrs == pytest.approx({i: 0.5 ** (8 - i) for i in range(9)})
    lora = build_strategy("peft", {})
    lora.setup(minilm)
    lora.param_groups(minilm, 1e-3, 0.0, 1.0)
    assert lora.describe()["trainable_share"] < 0.01
