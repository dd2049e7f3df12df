"""Recipe dicts shared by test modules that write recipe files (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from typing import Any

TINY_MLP: dict[str, Any] = {
    "name": "tiny-mlp",
    "seed": 0,
    "backbone": {"source": "custom", "name": "hubtune.backbones.small:mlp", "kwargs": {"in_features": 64, "hidden": [16]}},
    "head": {"type": "classification"},
    "data": {"format": "digits", "train": "train", "validation": None, "max_train_samples": 64,
             "max_eval_samples": 32, "num_workers": 0},
    "train": {"epochs": 1, "batch_size": 32, "trackers": []},
    "eval": {"metrics": ["accuracy"]},
}
