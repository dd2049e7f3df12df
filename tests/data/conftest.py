"""Fixtures for the data tests: a real tokenizer, a real timm data config, small image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hubtune.contracts import Preprocessing


@pytest.fixture(scope="session")
def tokenizer(minilm_path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def timm_config() -> dict[str, Any]:
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    return timm.data.resolve_data_config({}, model=model)


@pytest.fixture
def image_pre(timm_config: dict[str, Any]) -> Preprocessing:
    return Preprocessing("image", dict(timm_config, input_size=(3, 32, 32)))


@pytest.fixture
def text_pre(tokenizer: Any) -> Preprocessing:
    return Preprocessing("text", tokenizer=tokenizer)


def _write_images(root: Path, counts: dict[str, int], size: int = 20, ext: str = "png") -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            p = root / cls / f"{i}.{ext}"
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(p)
            paths.append(p)
    return paths


@pytest.fixture
def make_images() -> Any:
    """``make_images(root, {"cls": n})`` writes ``root/<cls>/<i>.png`` small random images, returns paths."""
    return _write_images
