"""The ``detection`` data format: ``<path>/images/*`` and a CSV with one row per box, or a COCO JSON.

Columns: ``filename`` and ``class``, then the box in ``data.box_format``: ``xyxy`` → ``xmin,ymin,xmax,ymax``,
``xywh`` → ``x,y,w,h``, ``cxcywh`` → ``cx,cy,w,h``; pixels, or fractions of the image with
``data.normalized_boxes``. Every row is checked before training (all problems at once): a file that is not in
``images/``, an image with no row, a box outside its image or with non-positive area, an unknown class.
``data.annotations: instances.json`` reads COCO instead (boxes x, y, w, h in pixels, classes from its
categories); a ``datasets`` table (``objects: {bbox, category}``) reads through :mod:`hubtune.dense.tables`,
with its own validation split when it has one. The validation split is carved from the images (``data.validation_size``, seeded). Augmentations move the
boxes with the image (torchvision ``transforms.v2`` with ``tv_tensors.BoundingBoxes``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from hubtune.dense.data import carve
from hubtune.dense.tables import TABLE_FORMATS, RowImage, category_ids, detection_rows, open_image
from hubtune.errors import DataError

COLUMNS = {"xyxy": ("xmin", "ymin", "xmax", "ymax"), "xywh": ("x", "y", "w", "h"), "cxcywh": ("cx", "cy", "w", "h")}
DEFAULT_SIZE = 320


@dataclass
class Annotated:
    image: Path | RowImage
    boxes: torch.Tensor  # (n, 4) xyxy pixels
    labels: torch.Tensor  # (n,) class ids


def read_boxes(cfg: Any) -> tuple[list[Annotated], list[str]]:
    """Rows of ``data.annotations`` grouped by image, boxes converted to xyxy pixels and checked."""
    root = Path(cfg.path or ".").expanduser()
    table, images_dir = root / cfg.annotations, root / "images"
    if not table.is_file() or not images_dir.is_dir():
        raise DataError(f"data.path: the detection format wants {images_dir}/ and {table} (data.annotations)")
    if table.suffix.lower() == ".json":
        rows, box_format, normalized = coco_rows(table), "xywh", False
    else:
        with table.open(newline="") as f:
            rows = list(csv.DictReader(f))
        box_format, normalized = cfg.box_format, cfg.normalized_boxes
    need = {"filename", "class", *COLUMNS[box_format]}
    if not rows or need - set(rows[0]):
        raise DataError(f"data.annotations: {table.name} needs columns {sorted(need)} for box_format "
                        f"{box_format!r}; it has {sorted(rows[0]) if rows else 'no rows'}")
    names = [cfg.id2label[i] for i in sorted(cfg.id2label)] if cfg.id2label else sorted({r["class"] for r in rows})
    problems: list[str] = []
    grouped: dict[str, list[tuple[list[float], int]]] = {}
    for n, row in enumerate(rows, start=2):
        if row["class"] not in names:
            problems.append(f"line {n}: class {row['class']!r} is not in id2label ({', '.join(names)})")
            continue
        grouped.setdefault(row["filename"], []).append(([float(row[c]) for c in COLUMNS[box_format]],
                                                        names.index(row["class"])))
    files = {p.name for p in images_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}}
    problems += [f"{name}: in {table.name} but not in images/" for name in sorted(set(grouped) - files)]
    problems += [f"{name}: an image with no row in {table.name} (add its boxes or remove it)"
                 for name in sorted(files - set(grouped))]
    items = []
    for name in sorted(set(grouped) & files):
        with Image.open(images_dir / name) as img:
            size = img.size
        boxes = checked_boxes([b for b, _ in grouped[name]], size, box_format, normalized, name, problems)
        items.append(Annotated(images_dir / name, boxes, torch.tensor([c for _, c in grouped[name]])))
    _raise(problems, f"data.annotations: {{n}} problem(s) in {table.name}",
           "fix the table, data.box_format or data.normalized_boxes")
    return items, names


def checked_boxes(coords: list[list[float]], size: tuple[int, int], box_format: str, normalized: bool, name: str,
                  problems: list[str]) -> torch.Tensor:
    """Boxes of one image as xyxy pixels; one problem per box with no area or outside the ``(w, h)`` image."""
    from torchvision.ops import box_convert

    w, h = size
    bad = [c for c in coords if not isinstance(c, (list, tuple)) or len(c) != 4]
    if bad:
        problems.append(f"{name}: box {bad[0]!r} is not 4 numbers ({box_format})")
        return torch.zeros((0, 4))
    values = torch.tensor(coords, dtype=torch.float32).reshape(-1, 4)
    if normalized:
        values = values * torch.tensor([w, h, w, h], dtype=torch.float32)
    boxes = box_convert(values, box_format, "xyxy")
    for box in boxes.tolist():
        if box[2] <= box[0] or box[3] <= box[1]:
            problems.append(f"{name}: box {[round(v, 1) for v in box]} has non-positive area")
        elif box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            problems.append(f"{name}: box {[round(v, 1) for v in box]} lies outside the {w}x{h} image")
    return boxes


def _raise(problems: list[str], head: str, fix: str) -> None:
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(head.format(n=len(problems)) + ": " + "; ".join(problems[:5]) + more + "; " + fix)


def table_boxes(cfg: Any, split: str) -> tuple[list[Annotated], list[str]]:
    """One split of a ``datasets`` table with ``objects: {bbox, category}``, every row checked."""
    images, raw_boxes, raw_cats, feature_names = detection_rows(cfg, split)
    names = [cfg.id2label[i] for i in sorted(cfg.id2label)] if cfg.id2label else feature_names
    if names is None:
        names = sorted({c for cats in raw_cats for c in cats if isinstance(c, str)})
        if not names:
            raise DataError("data.id2label: the objects' categories are ids without names; set data.id2label "
                            "({0: raccoon, ...}) or store the column as a ClassLabel")
    problems: list[str] = []
    items = []
    for image, coords, cats in zip(images, raw_boxes, raw_cats, strict=True):
        if len(coords) != len(cats):
            problems.append(f"{image.name}: {len(coords)} bbox but {len(cats)} category entries")
            continue
        ids, bad = category_ids(cats, names, image.name)
        problems += bad
        with open_image(image) as img:
            size = img.size
        boxes = checked_boxes([list(c) for c in coords], size, cfg.box_format, cfg.normalized_boxes, image.name,
                              problems)
        items.append(Annotated(image, boxes, torch.tensor(ids, dtype=torch.int64)))
    _raise(problems, f"data.{split}: {{n}} problem(s) in the objects column",
           "fix the table, data.id2label, data.box_format or data.normalized_boxes")
    return items, names


def coco_rows(path: Path) -> list[dict[str, Any]]:
    """A COCO JSON (``images``, ``annotations`` with ``bbox`` = x, y, w, h in pixels, ``categories``) as the
    CSV's rows: one per box, with ``filename``, ``class`` (the category's name), ``x``, ``y``, ``w``, ``h``."""
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = {im["id"]: im["file_name"] for im in doc["images"]}
        names = {c["id"]: c["name"] for c in doc["categories"]}
        boxes = [(a["image_id"], a["category_id"], [float(v) for v in a["bbox"]]) for a in doc["annotations"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"data.annotations: {path.name} is not a COCO JSON with images, annotations (image_id, "
                        f"category_id, bbox) and categories ({type(e).__name__}: {e})") from None
    problems = [f"annotation of image_id {i} names no image" for i, _, _ in boxes if i not in files]
    problems += [f"annotation names unknown category_id {c}" for _, c, _ in boxes if c not in names]
    problems += [f"a bbox of image_id {i} is not x, y, w, h: {b}" for i, _, b in boxes if len(b) != 4]
    if problems:
        raise DataError(f"data.annotations: {path.name}: " + "; ".join(sorted(set(problems))[:5]))
    return [{"filename": files[i], "class": names[c], **dict(zip(COLUMNS["xywh"], map(str, b), strict=True))}
            for i, c, b in boxes]


def box_transform(size: int, training: bool, boxes: bool = True) -> Any:
    """Flip (training), resize to ``size``², scale to [0, 1]; boxes follow, and degenerate ones are dropped."""
    from torchvision.transforms import v2

    steps: list[Any] = [v2.RandomHorizontalFlip()] if training else []
    steps += [v2.Resize((size, size)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose([*steps, v2.SanitizeBoundingBoxes()] if boxes else steps)


class DetectionDataset(Dataset):
    """Items ``{"pixel_values": (3, S, S) in [0, 1], "labels": {"boxes": (n, 4) xyxy, "labels": (n,)}}``."""

    def __init__(self, items: list[Annotated], transform: Any) -> None:
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from torchvision import tv_tensors

        item = self.items[i]
        with open_image(item.image) as img:
            image = img.convert("RGB")
        boxes = tv_tensors.BoundingBoxes(item.boxes, format="XYXY", canvas_size=(image.height, image.width))
        pixels, target = self.transform(image, {"boxes": boxes, "labels": item.labels})
        return {"pixel_values": pixels.as_subclass(torch.Tensor),
                "labels": {"boxes": target["boxes"].as_subclass(torch.Tensor), "labels": target["labels"]}}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pixel_values": torch.stack([i["pixel_values"] for i in items]), "labels": [i["labels"] for i in items]}


def build_detection_data(cfg: Any, preprocessing: Any, *, seed: int, splits: Any = ("train", "validation", "test"),
                         train_transforms: bool = True) -> Any:
    """A :class:`~hubtune.data.DataBundle`: train and a seeded validation carve-out of the annotated images."""
    from hubtune.data import DataBundle

    if cfg.format != "detection" and cfg.format not in TABLE_FORMATS:
        raise DataError(f"data.format: object_detection reads format 'detection' or a table "
                        f"({', '.join(TABLE_FORMATS)}), not {cfg.format!r}")
    if cfg.format in TABLE_FORMATS:
        parts, names, carved = _table_parts(cfg, seed)
    else:
        items, names = read_boxes(cfg)
        parts, carved = _carve(items, cfg.validation_size, seed), True
    limits = {"train": cfg.max_train_samples, "validation": cfg.max_eval_samples}
    size = cfg.image_size or DEFAULT_SIZE
    built = {}
    for split in [s for s in ("train", "validation") if s in splits]:
        chosen = parts[split][: limits[split]] if limits[split] else parts[split]
        built[split] = DetectionDataset(chosen, box_transform(size, split == "train" and train_transforms
                                                             and cfg.augment))
    preprocessing.data_config["input_size"] = (3, size, size)
    info = {"dataset": cfg.path, "format": cfg.format, "modality": "image", "problem_type": "object_detection",
            "splits": {s: len(d) for s, d in built.items()}, "box_format": f"{cfg.box_format} "
            f"({'normalised' if cfg.normalized_boxes else 'pixels'})", "input_size": [size, size],
            "validation_from_train": carved, "validation_size": cfg.validation_size,
            "boxes": {s: int(sum(len(it.labels) for it in d.items)) for s, d in built.items()}}
    return DataBundle(built.get("train"), built.get("validation"), None,  # type: ignore[arg-type]
                      names, len(names), collate, info)


def _carve(items: list[Annotated], size: float, seed: int) -> dict[str, list[Annotated]]:
    train, validation = carve(items, size, seed)
    return {"train": train, "validation": validation}


def _table_parts(cfg: Any, seed: int) -> tuple[dict[str, list[Annotated]], list[str], bool]:
    """``{train, validation}`` from the table's own splits, or carved from train when it has no validation."""
    from hubtune.data import SplitNotFound

    train, names = table_boxes(cfg, "train")
    if cfg.validation is not None:
        try:
            validation, _ = table_boxes(cfg, "validation")
            return {"train": train, "validation": validation}, names, False
        except SplitNotFound:
            pass
    return _carve(train, cfg.validation_size, seed), names, True
