"""Tiny real models for the strategy tests: timm resnet18 / ViT-tiny / EfficientNet-B0 and a tiny BERT."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hubtune.backbones import build_backbone
from hubtune.heads import HEADS
from hubtune.model import TransferModel
from hubtune.recipe import BackboneConfig, HeadConfig

NUM_LABELS = 3
TIMM = {
    "resnet18": {},
    "vit": {"img_size": 32, "weight_init": "skip"},  # skip timm's slow init: torch defaults
    "effnet": {},
}
TIMM_NAMES = {"resnet18": "resnet18", "vit": "vit_tiny_patch16_224", "effnet": "efficientnet_b0"}
WORDS = ["good", "bad", "movie", "film", "great", "awful", "plot", "the", "a", "is", "was", "very"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level vocabulary, saved as a transformers folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab += [f"w{i}" for i in range(100 - len(vocab))]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(str(path))
    torch.manual_seed(0)
    cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100)
    BertModel(cfg).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def make_model(tiny_bert_dir: Path) -> Callable[..., TransferModel]:
    """``make_model(kind)`` for kind in resnet18 / vit / effnet / bert: a fresh copy of a seeded model."""
    cache: dict[tuple[str, tuple[int, ...]], TransferModel] = {}

    def build(kind: str, hidden: list[int] | None = None) -> TransferModel:
        key = (kind, tuple(hidden or []))
        if key not in cache:
            cache[key] = _build(kind, hidden)
        return copy.deepcopy(cache[key])

    def _build(kind: str, hidden: list[int] | None = None) -> TransferModel:
        torch.manual_seed(0)
        if kind == "bert":
            cfg = BackboneConfig(source="transformers", name=str(tiny_bert_dir))
        else:
            cfg = BackboneConfig(source="timm", name=TIMM_NAMES[kind], pretrained=False, kwargs=TIMM[kind])
        head = HeadConfig(hidden=hidden or [])
        labels = [f"c{i}" for i in range(NUM_LABELS)]
        backbone = build_backbone(cfg)
        if kind == "vit":  # weight_init="skip" leaves these uninitialised
            with torch.no_grad():
                backbone.module.pos_embed.normal_(std=0.02)
                backbone.module.cls_token.normal_(std=1e-6)
        return TransferModel(backbone, HEADS.get("classification"), NUM_LABELS, labels, head)

    return build


@pytest.fixture
def batch_for() -> Callable[..., dict[str, torch.Tensor]]:
    """``batch_for(model, n, seed)``: a random input batch that fits ``model``."""
    return make_batch


def make_batch(model: TransferModel, n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if model.family == "transformers":
        ids = torch.randint(5, 100, (n, 8), generator=g)
        ids[:, 0] = 2
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.arange(n) % NUM_LABELS}
    return {"pixel_values": torch.randn(n, 3, 32, 32, generator=g), "labels": torch.arange(n) % NUM_LABELS}
