"""Trainer + strategy integration through ``hubtune.run.train``: phases, resume, artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hubtune.run import train
from hubtune.validation import recipe_from_dict


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes (dark / bright 16×16 PNGs), train and val folders."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for label, base in (("dark", 40), ("bright", 200)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(base + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def recipe(images: Path, out: Path, strategy: dict, epochs: int = 3):
    return recipe_from_dict({
        "seed": 0, "output_dir": str(out),
        "backbone": {"source": "timm", "name": "test_resnet", "pretrained": False},
        "strategy": strategy,
        "data": {"format": "imagefolder", "path": str(images), "train": "train", "validation": "val",
                 "image_size": 32, "num_workers": 0, "augment": False},
        "train": {"epochs": epochs, "batch_size": 4, "lr": 1e-3, "precision": "no", "trackers": [],
                  "keep_checkpoints": 3, "scheduler": "constant"},
        "eval": {"metrics": ["accuracy"]},
    })


def test_lp_ft_resumes_across_the_phase_switch(tiny_images: Path, tmp_path: Path):
    out = tmp_path / "run"
    r = recipe(tiny_images, out, {"type": "lp_ft", "probe_epochs": 1, "layer_decay": 0.8})
    first = train(r)
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["strategy"]["phase"] == "finetune" and meta["strategy"]["frozen_blocks"].startswith("0 of")
    losses = [row["loss"] for row in meta["history"] if row.get("split") == "validation"]
    checkpoints = sorted((out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 3
    for ckpt in checkpoints[1:]:  # keep the one saved right after the probe → fine-tune switch
        shutil.rmtree(ckpt)
    second = train(r, resume="latest")
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["strategy"]["phase"] == "finetune"
    assert [row["loss"] for row in resumed["history"] if row.get("split") == "validation"] == pytest.approx(losses)
    assert second.metrics["validation"] == pytest.approx(first.metrics["validation"])


def test_wise_ft_records_alpha_in_card(tiny_images: Path, tmp_path: Path):
    out = tmp_path / "wise"
    result = train(recipe(tiny_images, out, {"type": "wise_ft", "alphas": [0.0, 0.5, 1.0], "metric": "loss"}, epochs=2))
    wise = json.loads((out / "metrics.json").read_text())["strategy"]["wise"]
    table = {row["alpha"]: row["loss"] for row in wise["table"]}
    assert list(table) == [0.0, 0.5, 1.0] and len(set(table.values())) == 3  # each alpha is a different model
    assert wise["chosen_alpha"] == min(table, key=table.get)  # lowest validation loss wins
    # the exported model is the interpolated one: its validation loss is the chosen row's
    assert result.metrics["validation"]["loss"] == pytest.approx(table[wise["chosen_alpha"]], rel=1e-5)
    assert f"{wise['chosen_alpha']}" in (out / "README.md").read_text()


def test_linear_probe_feature_cache(tiny_images: Path, tmp_path: Path):
    out = tmp_path / "probe"
    train(recipe(tiny_images, out, {"type": "linear_probe", "cache_features": True}, epochs=2))
    info = json.loads((out / "metrics.json").read_text())["strategy"]
    assert info["cache"]["misses"] == 12 and info["cache"]["hits"] >= 12  # 8 train + 4 val images, computed once
    assert info["trainable_share"] < 0.01


def test_cached_probe_hits_even_when_the_recipe_augments(tiny_images: Path, tmp_path: Path, caplog):
    """With data.augment on, each epoch's crops differ and would never hit: the run trains the probe on
    un-augmented images instead (with a warning), so the second epoch reads every feature from the cache."""
    out = tmp_path / "probe-aug"
    r = recipe(tiny_images, out, {"type": "linear_probe", "cache_features": True}, epochs=2)
    r.data.augment = True
    with caplog.at_level("WARNING", logger="hubtune"):
        train(r)
    info = json.loads((out / "metrics.json").read_text())["strategy"]
    assert info["cache"]["misses"] == 12 and info["cache"]["hits"] >= 12
    assert "un-augmented" in caplog.text


def test_peft_run_writes_adapter_and_merged_model(tiny_bert_dir: Path, tmp_path: Path):
    from hubtune.export import load_exported

    rows = ["text,label"] + [f"{w} movie,{i % 2}" for i, w in enumerate(["good", "bad", "great", "awful"] * 3)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "val.csv").write_text("\n".join(rows[:5]) + "\n")
    out = tmp_path / "lora"
    result = train(recipe_from_dict({
        "seed": 0, "output_dir": str(out),
        "backbone": {"source": "transformers", "name": str(tiny_bert_dir)},
        "strategy": {"type": "peft", "config": {"r": 4}},
        "data": {"format": "csv", "path": str(tmp_path), "train": {"path": str(tmp_path / "train.csv")},
                 "validation": {"path": str(tmp_path / "val.csv")}, "num_workers": 0, "max_length": 16},
        "train": {"epochs": 1, "batch_size": 4, "precision": "no", "trackers": []},
        "eval": {"metrics": ["accuracy"]},
    }))
    meta = json.loads((out / "hubtune.json").read_text())
    assert meta["strategy"] == {"name": "peft", "method": "lora", "adapter": "adapter", "merged": True}
    assert (out / "adapter" / "adapter_model.safetensors").exists() and (out / "model.safetensors").exists()
    assert result.trainable_params / result.total_params < 0.06
    assert load_exported(out).num_labels == 2


def test_peft_on_timm_with_head_dropout_exports_the_adapter(tiny_vision_recipe, tmp_path: Path):
    """Dropout in front of timm's classifier is fine for PEFT; a hidden MLP head is refused before training."""
    from hubtune.errors import RecipeError
    from hubtune.export import load_exported

    out = tmp_path / "timm-lora"
    strategy = {"type": "peft", "target_modules": ["conv1", "conv2"]}  # resnet18 has no Linear to adapt
    train(recipe_from_dict(tiny_vision_recipe(out, head={"dropout": 0.2}, strategy=strategy)))
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["fc"] and load_exported(out).num_labels == 2
    with pytest.raises(RecipeError, match=r"head\.hidden: a PEFT adapter on timm"):
        recipe_from_dict(tiny_vision_recipe(tmp_path / "mlp", head={"hidden": [32]}, strategy={"type": "peft"}))
