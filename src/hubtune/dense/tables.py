"""``datasets`` tables as dense inputs (``data.format`` hub | parquet | json | jsonl).

Segmentation: an image column and a mask column (``data.columns.image`` / ``data.columns.mask``; defaults
``image`` and the first of ``mask``, ``annotation``, ``label``), masks as images or 2-D lists of class ids.
Detection: an image column and the ``datasets`` convention ``objects: {bbox: [[...], ...], category: [...]}``
(``data.columns.objects``), boxes in ``data.box_format`` (pixels or ``data.normalized_boxes``), categories
as ids of ``data.id2label`` (or of the column's ``ClassLabel`` names) or as names. Cells are opened lazily
(:class:`RowImage`); every row is checked before training exactly as the folder / CSV formats are, and
problems name the split and the row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hubtune.errors import DataError

TABLE_FORMATS = ("hub", "parquet", "json", "jsonl")
MASK_COLUMNS = ("mask", "annotation", "label")


@dataclass(frozen=True)
class RowImage:
    """One cell of a table's image or mask column; ``name`` (``train row 3``) is what messages show."""

    table: Any  # a one-column datasets.Dataset
    index: int
    column: str
    split: str

    @property
    def name(self) -> str:
        return f"{self.split} row {self.index} ({self.column})"

    @property
    def stem(self) -> str:
        return f"{self.split}-row-{self.index}"

    def open(self) -> Image.Image:
        return as_image(self.table[self.index][self.column], self.name)


def open_image(source: Path | RowImage) -> Image.Image:
    """A file or a table cell as a PIL image (usable in ``with``)."""
    return source.open() if isinstance(source, RowImage) else Image.open(source)


def as_image(value: Any, name: str) -> Image.Image:
    """A decoded ``datasets`` cell: a PIL image, ``{bytes, path}``, a path, or a 2-D array of class ids."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        return Image.open(io.BytesIO(value["bytes"])) if value.get("bytes") else Image.open(value["path"])
    if isinstance(value, str):
        return Image.open(value)
    array = np.asarray(value) if value is not None else np.zeros(0)
    if array.ndim == 2 and np.issubdtype(array.dtype, np.integer):
        return Image.fromarray(array.astype(np.uint8 if array.max(initial=0) < 256 else np.int32))
    raise DataError(f"{name}: not an image (a datasets Image, bytes, a path or a 2-D array of class ids), "
                    f"got {type(value).__name__}; fix the column or data.columns")


def column(cfg: Any, table: Any, role: str, defaults: tuple[str, ...], split: str) -> str:
    """The table's column for ``role`` (``data.columns.<role>``, else the first default present)."""
    wanted = cfg.columns.get(role)
    found = wanted if wanted in table.column_names else next((c for c in defaults if c in table.column_names), None)
    if (wanted and wanted not in table.column_names) or found is None:
        raise DataError(f"data.columns.{role}: the {split} table has no column {wanted or defaults[0]!r} "
                        f"(columns: {', '.join(table.column_names)}); set data.columns.{role}")
    return found


def load_table(cfg: Any, split: str) -> Any:
    from hubtune.data import load_split_table

    return load_split_table(cfg, split)


def segmentation_pairs(cfg: Any, split: str) -> list[tuple[RowImage, RowImage]]:
    """(image, mask) cells of one split; raises ``SplitNotFound`` when the split is not in the table."""
    table = load_table(cfg, split)
    if len(table) == 0:
        raise DataError(f"data.{split}: the table has no rows")
    image_col = column(cfg, table, "image", ("image",), split)
    mask_col = column(cfg, table, "mask", MASK_COLUMNS, split)
    images, masks = table.select_columns([image_col]), table.select_columns([mask_col])
    return [(RowImage(images, i, image_col, split), RowImage(masks, i, mask_col, split)) for i in range(len(table))]


def detection_rows(cfg: Any, split: str) -> tuple[list[RowImage], list[list[list[float]]], list[list[Any]], Any]:
    """Image cells, raw boxes and categories per row, and the categories' ``ClassLabel`` names (or None)."""
    table = load_table(cfg, split)
    image_col = column(cfg, table, "image", ("image",), split)
    obj_col = column(cfg, table, "objects", ("objects",), split)
    images = table.select_columns([image_col])
    boxes, cats = [], []
    for i, objects in enumerate(table.select_columns([obj_col])[obj_col]):
        if isinstance(objects, list):  # a list of {bbox, category} dicts
            objects = {"bbox": [o.get("bbox") for o in objects], "category": [o.get("category") for o in objects]}
        if not isinstance(objects, dict) or "bbox" not in objects or "category" not in objects:
            raise DataError(f"data.columns.objects: {split} row {i} is not {{bbox: [[...]], category: [...]}} "
                            f"(got {type(objects).__name__}); fix the column or data.columns.objects")
        boxes.append(objects["bbox"] or [])
        cats.append(objects["category"] or [])
    return [RowImage(images, i, image_col, split) for i in range(len(table))], boxes, cats, _class_names(table, obj_col)


def _class_names(table: Any, obj_col: str) -> list[str] | None:
    feature = table.features[obj_col]
    cat = feature.get("category") if isinstance(feature, dict) else getattr(feature, "feature", {}).get("category")
    inner = getattr(cat, "feature", cat)
    return list(inner.names) if hasattr(inner, "names") else None


def category_ids(cats: list[Any], names: list[str], where: str) -> tuple[list[int], list[str]]:
    """Category names or ids → ids of ``names``; problems for unknown ones."""
    ids, problems = [], []
    for c in cats:
        if isinstance(c, str):
            if c in names:
                ids.append(names.index(c))
            else:
                problems.append(f"{where}: category {c!r} is not in id2label ({', '.join(names)})")
        elif isinstance(c, (int, np.integer)) and 0 <= int(c) < len(names):
            ids.append(int(c))
        else:
            problems.append(f"{where}: category {c!r} is outside id2label (0..{len(names) - 1})")
    return ids, problems
