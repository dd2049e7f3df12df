"""``datasets`` tables as dense inputs: parquet files built from real CamVid pairs (image + mask columns) and real
raccoon photos (``objects: {bbox, category}``), a tiny detection run from one, and bad rows refused before any
weight loads (exit 2, naming the row). A segmentation run from a table is in ``test_dense_distributed.py`` (2 processes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from dense_tables import det_table as _det_table
from dense_tables import seg_data as _seg_data
from dense_tables import seg_table as _seg_table
from PIL import Image

import hubtune
from hubtune.cli import main
from hubtune.contracts import Preprocessing
from hubtune.dense.boxes import build_detection_data
from hubtune.dense.data import SegmentationDataset, build_segmentation_data
from hubtune.errors import DataError
from hubtune.validation import recipe_from_dict

REPO = Path(__file__).resolve().parents[2]
CAMVID = REPO / "recipes" / "segmentation" / "camvid.yaml"
RACCOON = REPO / "recipes" / "detection" / "raccoon.yaml"
PRE = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
TINY = {"train": {"epochs": 1, "batch_size": 4}, "seed": 0, "data": {"num_workers": 0}}


def _cfg(head: str, data: dict):
    return recipe_from_dict({"backbone": {"source": "timm", "name": "tf_efficientnet_lite0", "pretrained": False},
                             "head": {"type": head}, "data": data,
                             "eval": {"metrics": ["miou" if head == "semantic_segmentation" else "map_50"]}}).data


def test_segmentation_table_reads_the_same_pixels_as_the_folders(data_root, tmp_path):
    _seg_table(data_root, tmp_path, "train", 3)
    _seg_table(data_root, tmp_path, "validation", 2)
    bundle = build_segmentation_data(_cfg("semantic_segmentation", _seg_data(tmp_path)),
                                     Preprocessing("image", dict(PRE)), seed=0, train_transforms=False)
    assert bundle.info["splits"] == {"train": 3, "validation": 2} and not bundle.info["validation_from_train"]
    assert bundle.labels[0] == "sky" and bundle.num_labels == 11
    assert [(i.name, m.name) for i, m in bundle.train.pairs[:1]] == [("train row 0 (image)", "train row 0 (annotation)")]
    src = data_root / "camvid" / "train"
    first = sorted((src / "images").iterdir())[0]
    folder = SegmentationDataset([(first, src / "masks" / f"{first.stem}.png")], bundle.train.transform, 11)
    item, expected = bundle.train[0], folder[0]
    assert item["pixel_values"].shape == (3, 64, 96) and (item["labels"] == -100).any()
    assert torch.equal(item["labels"], expected["labels"]) and torch.equal(item["pixel_values"], expected["pixel_values"])


def test_segmentation_table_bad_rows_exit_2_naming_the_row(data_root, tmp_path, capsys):
    small = Image.new("L", (10, 10))
    odd = Image.fromarray(np.full((180, 240), 20, dtype=np.uint8))
    _seg_table(data_root, tmp_path, "train", 4, bad={1: small, 3: odd})
    with pytest.raises(DataError, match=r"train row 1 \(annotation\) is 10x10 but its image train row 1") as e:
        build_segmentation_data(_cfg("semantic_segmentation", _seg_data(tmp_path, validation=None)),
                                Preprocessing("image", dict(PRE)), seed=0)
    assert "train row 3 (annotation) has class id(s) [20] outside id2label" in str(e.value)
    args = [f"data.{k}={json.dumps(v)}" for k, v in _seg_data(tmp_path).items()]
    code = main(["train", str(CAMVID), *args, "data.validation=null", f"output_dir={tmp_path / 'out'}"])
    assert code == 2 and "train row 1 (annotation)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()
    with pytest.raises(DataError, match=r"data.columns.mask: the train table has no column 'seg'"):
        build_segmentation_data(_cfg("semantic_segmentation", _seg_data(tmp_path, columns={"image": "image", "mask": "seg"})),
                                Preprocessing("image", dict(PRE)), seed=0)


def test_detection_table_reads_boxes_in_every_format(data_root, tmp_path):
    _det_table(data_root, tmp_path / "xywh", 4)
    xywh = build_detection_data(_cfg("object_detection", {"format": "parquet", "path": str(tmp_path / "xywh"),
                                                          "box_format": "xywh", "columns": {"image": "image"}}),
                                Preprocessing("image", {}), seed=0, splits=("train", "validation"))
    items = xywh.train.items + xywh.validation.items
    assert xywh.labels == ["raccoon"] and len(items) == 4 and xywh.info["validation_from_train"]

    def to_cxcywh_normalised(objects):
        sizes = [Image.open(p).size for p in sorted((data_root / "raccoon" / "images").iterdir())[:4]]
        for obj, (w, h) in zip(objects, sizes, strict=True):
            obj["bbox"] = [[(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h] for x, y, bw, bh in obj["bbox"]]

    _det_table(data_root, tmp_path / "cx", 4, edit=to_cxcywh_normalised)
    cx = build_detection_data(_cfg("object_detection", {"format": "parquet", "path": str(tmp_path / "cx"),
                                                        "box_format": "cxcywh", "normalized_boxes": True,
                                                        "columns": {"image": "image"}}),
                              Preprocessing("image", {}), seed=0, splits=("train", "validation"))
    for a, b in zip(items, cx.train.items + cx.validation.items, strict=True):
        assert a.boxes.shape[0] >= 1 and np.allclose(a.boxes.numpy(), b.boxes.numpy(), atol=0.05)
    assert float(items[0].boxes[:, 2:].min()) > 1.0  # pixels, xyxy


def test_detection_table_bad_rows_are_refused_naming_them(data_root, tmp_path, capsys):
    def spoil(objects):
        objects[0]["bbox"][0] = [10.0, 10.0, 0.0, 5.0]  # no area
        objects[1]["bbox"][0] = [-30.0, 0.0, 50.0, 50.0]  # outside
        objects[2]["category"][0] = 7  # no such class

    _det_table(data_root, tmp_path, 4, edit=spoil, class_label=False)
    data = {"format": "parquet", "path": str(tmp_path), "box_format": "xywh", "columns": {"image": "image"},
            "id2label": {0: "raccoon"}}
    with pytest.raises(DataError) as e:
        build_detection_data(_cfg("object_detection", data), Preprocessing("image", {}), seed=0)
    msg = str(e.value)
    assert "train row 0 (image): box [10.0, 10.0, 10.0, 15.0] has non-positive area" in msg
    assert "train row 1 (image): box [-30.0, 0.0, 20.0, 50.0] lies outside" in msg
    assert "train row 2 (image): category 7 is outside id2label (0..0)" in msg
    code = main(["train", str(RACCOON), "data.format=parquet", f"data.path={tmp_path}", "data.box_format=xywh",
                 "data.columns.image=image", "data.id2label={0: raccoon}", f"output_dir={tmp_path / 'out'}"])
    assert code == 2 and "train row 2 (image): category 7" in capsys.readouterr().err
    assert main(["recipes", "validate", str(RACCOON), "data.format=parquet", "data.box_format=xyzw"]) == 2


def test_detection_table_trains_and_reloads(data_root, tmp_path):
    _det_table(data_root, tmp_path / "table", 8)
    recipe = hubtune.load_recipe(RACCOON, {**TINY, "output_dir": str(tmp_path / "out"), "data": {
        **TINY["data"], "format": "parquet", "path": str(tmp_path / "table"), "box_format": "xywh",
        "columns": {"image": "image"}, "image_size": 96, "validation_size": 0.25}})
    run = hubtune.train(recipe, overwrite=True)
    val = run.metrics["validation"]
    assert {"map", "map_50", "ap_raccoon"} <= set(val) and 0.0 <= val["map_50"] <= 1.0
    assert json.loads((run.output_dir / "hubtune.json").read_text())["format"] == "torchvision_detection"
    assert hubtune.evaluate(run.output_dir, split="validation")["map_50"] == pytest.approx(val["map_50"], abs=1e-4)
