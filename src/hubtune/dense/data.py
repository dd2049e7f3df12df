"""The ``segmentation`` data format: ``<path>/<split>/images/*`` paired by stem with ``<path>/<split>/masks/*.png``,
or a ``datasets`` table with an image and a mask column (:mod:`hubtune.dense.tables`).

Masks hold one class id per pixel (8-bit PNG). ``data.id2label`` or ``<path>/classes.json``
(``{"id2label": {...}, "ignore_index": N}``) names the classes; ``data.ignore_index`` (or the JSON's)
marks pixels never scored, which become ``-100`` in the labels. Every pair is checked before training:
an image without a mask, a mask whose size differs from its image, a class id outside ``id2label``.
Augmentations move the mask with the image (torchvision ``transforms.v2`` on ``tv_tensors.Mask``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hubtune.dense.tables import TABLE_FORMATS, RowImage, open_image, segmentation_pairs
from hubtune.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
IGNORE = -100


@dataclass
class ClassSpace:
    names: list[str]
    ignore_index: int | None


def class_space(cfg: Any) -> ClassSpace:
    """Class names from ``data.id2label`` or ``classes.json`` beside the splits; ids must be 0..N-1."""
    meta: dict[str, Any] = {}
    meta_path = Path(cfg.path or ".").expanduser() / "classes.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    raw = cfg.id2label or meta.get("id2label")
    if not raw:
        raise DataError(f"data.id2label: no class names: set data.id2label or write {meta_path} "
                        '({"id2label": {"0": "sky", ...}, "ignore_index": 255})')
    id2label = {int(k): str(v) for k, v in raw.items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise DataError(f"data.id2label: class ids must be 0..{len(id2label) - 1} without gaps, got {sorted(id2label)}")
    ignore = cfg.ignore_index if cfg.ignore_index is not None else meta.get("ignore_index")
    if ignore is not None and int(ignore) in id2label:
        raise DataError(f"data.ignore_index: {ignore} is also class {id2label[int(ignore)]!r} in id2label; "
                        "pick a value that is no class (e.g. 255)")
    return ClassSpace([id2label[i] for i in range(len(id2label))], None if ignore is None else int(ignore))


def split_folder(cfg: Any, split: str) -> Path | None:
    """``<path>/<name>`` for ``data.<split>`` (a name, or ``{path: ...}``); None when unset."""
    value = getattr(cfg, split)
    if value is None:
        return None
    if isinstance(value, str):
        return Path(cfg.path or ".").expanduser() / value
    if value.path:
        return Path(value.path).expanduser()
    return Path(cfg.path or ".").expanduser() / (value.split or split)


def find_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, mask) pairs by stem; an image without a mask is an error naming it."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise DataError(f"data.{split}: {d} is not a folder; the segmentation format wants "
                            f"{folder}/images/<stem>.jpg and {folder}/masks/<stem>.png")
    masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() == ".png"}
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"data.{split}: no images in {images_dir}")
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise DataError(f"data.{split}: {len(missing)} image(s) have no mask in {masks_dir} (same stem, .png), "
                        f"e.g. {', '.join(missing[:3])}; add the masks or remove the images")
    return [(p, masks[p.stem]) for p in images]


Source = Path | RowImage  # a file, or a cell of a datasets table


def check_pairs(pairs: list[tuple[Source, Source]], space: ClassSpace, split: str) -> None:
    """Every mask the size of its image, every id a class (or the ignore index): all problems at once."""
    problems: list[str] = []
    allowed = set(range(len(space.names))) | ({space.ignore_index} if space.ignore_index is not None else set())
    for image_path, mask_path in pairs:
        with open_image(image_path) as img, open_image(mask_path) as mask:
            if img.size != mask.size:
                problems.append(f"{mask_path.name} is {mask.size[0]}x{mask.size[1]} but its image "
                                f"{image_path.name} is {img.size[0]}x{img.size[1]}")
                continue
            if mask.mode not in ("L", "P", "I", "I;16"):
                problems.append(f"{mask_path.name} is a {mask.mode} image; masks are one channel of class ids")
                continue
            bad = sorted(set(np.unique(np.asarray(mask)).tolist()) - allowed)
        if bad:
            problems.append(f"{mask_path.name} has class id(s) {bad[:5]} outside id2label (0..{len(space.names) - 1})"
                            + (f" and ignore_index {space.ignore_index}" if space.ignore_index is not None else ""))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(f"data.{split}: {len(problems)} bad mask(s): " + "; ".join(problems[:5]) + more
                        + "; fix the masks, data.id2label or data.ignore_index")


def model_size(first_image: Source, image_size: int | None) -> tuple[int, int]:
    """(height, width) fed to the model: ``image_size`` rows, the image's aspect, both multiples of 32."""
    with open_image(first_image) as img:
        w, h = img.size
    rows = image_size or h
    snap = lambda v: max(32, round(v / 32) * 32)  # noqa: E731
    return snap(rows), snap(rows * w / h)


def build_transform(size: tuple[int, int], mean: Any, std: Any, training: bool) -> Any:
    """torchvision v2: flips and scale-crops move the mask with the image (nearest for the mask)."""
    from torchvision.transforms import v2

    # PIL images are resized by PIL (bilinear), as a plain ``image.resize`` would; the mask by nearest
    if training:
        aspect = size[1] / size[0]
        steps: list[Any] = [v2.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(aspect * 0.8, aspect * 1.25)),
                            v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(size)]
    # a plain dtype converts images only: the mask keeps its integer class ids
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
    return v2.Compose(steps)


class SegmentationDataset(Dataset):
    """Items ``{"pixel_values": (3, H, W) float, "labels": (H, W) long with -100 = ignored}``."""

    def __init__(self, pairs: list[tuple[Source, Source]], transform: Any, ignore_index: int | None) -> None:
        self.pairs, self.transform, self.ignore_index = pairs, transform, ignore_index

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        from torchvision import tv_tensors

        image_path, mask_path = self.pairs[i]
        with open_image(image_path) as img, open_image(mask_path) as m:
            image, mask = img.convert("RGB"), np.asarray(m, dtype=np.int64)
        pixels, target = self.transform(image, tv_tensors.Mask(torch.from_numpy(mask)))
        labels = target.as_subclass(torch.Tensor).long()
        if self.ignore_index is not None:
            labels = labels.masked_fill(labels == self.ignore_index, IGNORE)
        return {"pixel_values": pixels.as_subclass(torch.Tensor), "labels": labels}


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.stack([i["pixel_values"] for i in items]),
            "labels": torch.stack([i["labels"] for i in items])}


def build_segmentation_data(cfg: Any, preprocessing: Any, *, seed: int,
                            splits: Any = ("train", "validation", "test"), train_transforms: bool = True) -> Any:
    """A :class:`~hubtune.data.DataBundle` for the ``segmentation`` format; every pair checked first."""
    from hubtune.data import DataBundle

    if cfg.format != "segmentation" and cfg.format not in TABLE_FORMATS:
        raise DataError(f"data.format: semantic_segmentation needs format 'segmentation' (images/ and masks/ "
                        f"folders per split) or a table ({', '.join(TABLE_FORMATS)}), not {cfg.format!r}")
    space = class_space(cfg)
    pairs = _table_pairs(cfg, splits) if cfg.format in TABLE_FORMATS else _folder_pairs(cfg, splits)
    carved = "validation" in splits and "validation" not in pairs
    if carved:
        pairs["train"], pairs["validation"] = carve(pairs["train"], cfg.validation_size, seed)
    limits = {"train": cfg.max_train_samples, "validation": cfg.max_eval_samples, "test": cfg.max_eval_samples}
    size = model_size(pairs["train"][0][0], cfg.image_size)
    mean, std = preprocessing.data_config.get("mean"), preprocessing.data_config.get("std")
    built: dict[str, SegmentationDataset] = {}
    for split in [s for s in ("train", "validation", "test") if s in splits and s in pairs]:
        chosen = _limit(pairs[split], limits[split], seed)
        check_pairs(chosen, space, split)
        transform = build_transform(size, mean, std, training=split == "train" and train_transforms and cfg.augment)
        built[split] = SegmentationDataset(chosen, transform, space.ignore_index)
    info = {"dataset": cfg.path, "format": cfg.format, "modality": "image", "problem_type": "semantic_segmentation",
            "splits": {s: len(d) for s, d in built.items()}, "ignore_index": space.ignore_index,
            "input_size": list(size), "validation_from_train": carved}
    preprocessing.data_config["input_size"] = (3, *size)
    return DataBundle(built.get("train"), built.get("validation"), built.get("test"),  # type: ignore[arg-type]
                      space.names, len(space.names), collate, info)


def _folder_pairs(cfg: Any, splits: Any) -> dict[str, list[tuple[Source, Source]]]:
    pairs: dict[str, list[tuple[Source, Source]]] = {}
    for split in ("train", "validation", "test"):
        folder = split_folder(cfg, split)
        if folder is None or (split != "train" and split not in splits):
            continue
        if not folder.is_dir():
            if split == "validation":
                continue  # carved from train below
            raise DataError(f"data.{split}: {folder} is not a folder; set data.{split} to a split folder")
        pairs[split] = find_pairs(folder, split)
    return pairs


def _table_pairs(cfg: Any, splits: Any) -> dict[str, list[tuple[Source, Source]]]:
    """Image and mask cells per split of a ``datasets`` table; a validation split it lacks is carved later."""
    from hubtune.data import SplitNotFound

    pairs: dict[str, list[tuple[Source, Source]]] = {}
    for split in ("train", "validation", "test"):
        if split != "train" and (split not in splits or getattr(cfg, split) is None):
            continue
        try:
            pairs[split] = segmentation_pairs(cfg, split)
        except SplitNotFound:
            if split != "validation":  # a missing validation split is carved from train
                raise
    return pairs


def carve(pairs: list[Any], size: float, seed: int) -> tuple[list, list]:
    """``(train, validation)``: a seeded ``size`` share of ``pairs`` (at least one) held out for validation."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    n = max(1, round(len(pairs) * size))
    held = set(order[:n].tolist())
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def _limit(pairs: list[tuple[Source, Source]], n: int | None, seed: int) -> list[tuple[Source, Source]]:
    if n is None or n >= len(pairs):
        return pairs
    keep = np.sort(np.random.default_rng(seed).permutation(len(pairs))[:n])
    return [pairs[i] for i in keep]
