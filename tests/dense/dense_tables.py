"""Small ``datasets`` tables (parquet, image bytes embedded) built from the real CamVid and raccoon data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import datasets
from PIL import Image

from hubtune.shared_data import shared_data


def cell(image: Image.Image | Path) -> dict:
    if isinstance(image, Path):
        return {"bytes": image.read_bytes(), "path": None}
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def seg_table(data_root: Path, dest: Path, split: str, n: int, bad: dict[int, Image.Image] | None = None) -> None:
    src = data_root / "camvid" / ("train" if split == "train" else "validation")
    images = sorted((src / "images").iterdir())[:n]
    masks = [(bad or {}).get(i) or src / "masks" / f"{p.stem}.png" for i, p in enumerate(images)]
    feats = datasets.Features({"image": datasets.Image(), "annotation": datasets.Image()})
    table = datasets.Dataset.from_dict({"image": [cell(p) for p in images], "annotation": [cell(m) for m in masks]},
                                       features=feats)
    dest.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(dest / f"{split}.parquet"))


def seg_data(root: Path, **extra) -> dict:
    classes = json.loads(shared_data("camvid", "classes.json").read_text())
    return {"format": "parquet", "path": str(root), "columns": {"image": "image", "mask": "annotation"},
            "id2label": {int(k): v for k, v in classes["id2label"].items()}, "ignore_index": classes["ignore_index"],
            "image_size": 64, **extra}


def det_table(data_root: Path, dest: Path, n: int, edit=None, class_label: bool = True) -> None:
    """``n`` raccoon photos as rows with ``objects: {bbox (xywh pixels), category (ClassLabel)}``."""
    with (data_root / "raccoon" / "boxes.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["filename"] for r in rows})[:n]
    objects = []
    for name in names:
        boxes = [[float(r["xmin"]), float(r["ymin"]), float(r["xmax"]) - float(r["xmin"]),
                  float(r["ymax"]) - float(r["ymin"])] for r in rows if r["filename"] == name]
        objects.append({"bbox": boxes, "category": [0] * len(boxes)})
    if edit:
        edit(objects)
    feats = datasets.Features({"image": datasets.Image(), "objects": {
        "bbox": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
        "category": datasets.Sequence(datasets.ClassLabel(names=["raccoon"]) if class_label
                                      else datasets.Value("int64"))}})
    table = datasets.Dataset.from_dict({"image": [cell(data_root / "raccoon" / "images" / n) for n in names],
                                        "objects": objects}, features=feats)
    dest.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(dest / "train.parquet"))


