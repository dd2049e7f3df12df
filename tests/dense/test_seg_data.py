"""The segmentation data format: pairing, checks before training, masks moving with images, ignore index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hubtune.contracts import Preprocessing
from hubtune.dense.data import IGNORE, build_transform
from hubtune.dense.segmentation import SEGMENTATION
from hubtune.errors import DataError
from hubtune.validation import recipe_from_dict

PRE = Preprocessing("image", {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})


def _copy_camvid(data_root: Path, dest: Path, n: int = 3) -> Path:
    """A small real copy: n train and n validation pairs of CamVid, with its classes.json."""
    src = data_root / "camvid"
    shutil.copy(src / "classes.json", dest / "classes.json")
    for split in ("train", "validation"):
        for kind in ("images", "masks"):
            (dest / split / kind).mkdir(parents=True)
        for image in sorted((src / split / "images").iterdir())[:n]:
            shutil.copy(image, dest / split / "images" / image.name)
            shutil.copy(src / split / "masks" / f"{image.stem}.png", dest / split / "masks" / f"{image.stem}.png")
    return dest


def _data_cfg(path: Path, **extra):
    recipe = recipe_from_dict({"backbone": {"source": "timm", "name": "tf_efficientnet_lite0", "pretrained": False},
                               "head": {"type": "semantic_segmentation"},
                               "data": {"format": "segmentation", "path": str(path), "image_size": 64, **extra},
                               "eval": {"metrics": ["miou"]}})
    return recipe.data


def test_pairs_load_with_ignore_index_and_classes_json(data_root, tmp_path):
    root = _copy_camvid(data_root, tmp_path)
    bundle = SEGMENTATION.dense.build_data(_data_cfg(root), PRE, seed=0)
    assert bundle.labels[:2] == ["sky", "building"] and bundle.num_labels == 11
    item = bundle.validation[0]
    assert item["pixel_values"].shape == (3, 64, 96) and item["labels"].shape == (64, 96)
    raw = np.asarray(Image.open(bundle.validation.pairs[0][1]))
    assert (raw == 11).any()  # CamVid's void: it must come out as the ignore value, never as class 11
    assert (item["labels"] == IGNORE).any() and item["labels"].max() <= 10


def test_mask_of_other_size_is_refused_before_training(data_root, tmp_path):
    root = _copy_camvid(data_root, tmp_path)
    mask = sorted((root / "train" / "masks").iterdir())[1]
    Image.open(mask).resize((100, 50), Image.NEAREST).save(mask)
    with pytest.raises(DataError, match=rf"{mask.name} is 100x50 but its image .* is 240x180"):
        SEGMENTATION.dense.build_data(_data_cfg(root), PRE, seed=0)


def test_class_id_outside_id2label_is_refused(data_root, tmp_path):
    root = _copy_camvid(data_root, tmp_path)
    mask = sorted((root / "validation" / "masks").iterdir())[0]
    arr = np.asarray(Image.open(mask)).copy()
    arr[0, 0] = 17
    Image.fromarray(arr).save(mask)
    with pytest.raises(DataError, match=r"class id\(s\) \[17\] outside id2label"):
        SEGMENTATION.dense.build_data(_data_cfg(root), PRE, seed=0)
    # the recipe's own id2label wins over classes.json: with 2 classes most CamVid ids are out of range
    with pytest.raises(DataError, match="outside id2label"):
        SEGMENTATION.dense.build_data(_data_cfg(root, id2label={0: "sky", 1: "building"}), PRE, seed=0)


def test_image_without_mask_and_ignore_index_clash(data_root, tmp_path):
    root = _copy_camvid(data_root, tmp_path)
    sorted((root / "train" / "masks").iterdir())[0].unlink()
    with pytest.raises(DataError, match="1 image\\(s\\) have no mask"):
        SEGMENTATION.dense.build_data(_data_cfg(root), PRE, seed=0)
    (root / "classes.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}, "ignore_index": 1}))
    with pytest.raises(DataError, match="ignore_index: 1 is also class 'b'"):
        SEGMENTATION.dense.build_data(_data_cfg(root), PRE, seed=0)


def test_augmentation_moves_the_mask_with_the_image():
    """An image whose red channel is the mask: after random crops and flips, red pixels are still class 1."""
    from torchvision import tv_tensors

    rng = np.random.default_rng(0)
    mask = np.zeros((90, 120), dtype=np.int64)
    mask[:, :30] = 1
    mask[60:, 70:] = 1
    rgb = np.zeros((90, 120, 3), dtype=np.uint8)
    rgb[..., 0] = np.where(mask == 1, 255, 0)
    transform = build_transform((64, 96), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), training=True)
    flipped_seen = False
    for seed in range(6):
        torch.manual_seed(seed + int(rng.integers(1000)))
        pixels, target = transform(Image.fromarray(rgb), tv_tensors.Mask(torch.from_numpy(mask)))
        red = pixels[0] > 0.5
        agree = (red == (target == 1)).float().mean()
        assert agree > 0.97, agree  # borders differ by interpolation only
        flipped_seen |= bool(target[:, -5:].eq(1).float().mean() > target[:, :5].eq(1).float().mean())
    assert flipped_seen  # some draw flipped the left band to the right: the check saw real movement


def test_recipe_combinations_are_checked():
    from hubtune.errors import RecipeError

    with pytest.raises(RecipeError) as err:
        recipe_from_dict({"backbone": {"source": "custom", "name": "hubtune.backbones.small:cnn"},
                          "head": {"type": "semantic_segmentation", "decoder": "segformer"},
                          "data": {"format": "digits"}, "eval": {"metrics": ["miou", "accuracy"]}})
    text = str(err.value)
    lora = {"backbone": {"source": "timm", "name": "tf_efficientnet_lite0"}, "strategy": {"type": "peft"},
            "head": {"type": "semantic_segmentation"}, "data": {"format": "segmentation", "path": "."},
            "eval": {"metrics": ["miou"]}}
    assert recipe_from_dict(lora).strategy.type == "peft"  # LoRA on the smp encoder (test_seg_run.py)
    with pytest.raises(RecipeError, match="peft and cache_features do not apply to detectors"):
        recipe_from_dict({**lora, "head": {"type": "object_detection"}, "eval": {"metrics": ["map_50"]},
                          "data": {"format": "detection", "path": "."}})
    for needle in ("backbone.source: semantic_segmentation", "data.format: semantic_segmentation reads",
                   "head.decoder: unknown decoder 'segformer'", "metric 'accuracy' is for"):
        assert needle in text, text
