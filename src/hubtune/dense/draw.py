"""Pictures and files of detections: boxes with labels and scores drawn on images, and a JSON of boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from hubtune.atomic import atomic_write_json, atomic_write_with
from hubtune.dense.tables import open_image
from hubtune.errors import DataError


@torch.no_grad()
def detect(model: Any, image: Image.Image, threshold: float) -> dict[str, torch.Tensor]:
    """Boxes (xyxy, in the image's own pixels), scores and class ids scoring at least ``threshold``."""
    from hubtune.dense.boxes import box_transform

    size = int(model.preprocessing.data_config["input_size"][-1])
    pixels = box_transform(size, training=False, boxes=False)(image.convert("RGB"))
    model.eval()
    out = model({"pixel_values": pixels.as_subclass(torch.Tensor).unsqueeze(0), "labels": []})[0]
    keep = out["scores"] >= threshold
    scale = torch.tensor([image.width / size, image.height / size] * 2)
    return {"boxes": out["boxes"][keep] * scale, "scores": out["scores"][keep], "labels": out["labels"][keep]}


def draw(image: Image.Image, boxes: torch.Tensor, captions: list[str], colour: str) -> Image.Image:
    from torchvision.utils import draw_bounding_boxes

    if len(boxes) == 0:
        return image.convert("RGB")
    canvas = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
    drawn = draw_bounding_boxes(canvas, boxes, labels=captions or None, colors=colour, width=3)
    return Image.fromarray(drawn.permute(1, 2, 0).numpy())


def save_validation_boxes(model: Any, data: Any, path: Path, count: int = 4, threshold: float = 0.3) -> str | None:
    """A card picture: validation images with ground truth (green) and predictions ≥ threshold (red)."""
    split = data.validation
    if split is None or not hasattr(split, "items"):
        return None
    labels = model.labels or []
    tiles = []
    for item in split.items[:: max(1, len(split.items) // count)][:count]:  # spread out
        with open_image(item.image) as im:
            image = im.convert("RGB")
        pred = detect(model, image, threshold)
        tile = draw(image, item.boxes, [], "lime")
        tile = draw(tile, pred["boxes"], [f"{labels[int(c)]} {s:.2f}" for c, s in zip(pred["labels"], pred["scores"],
                                                                                        strict=True)], "red")
        tiles.append(tile.resize((320, round(320 * image.height / image.width))))
    height = max(t.height for t in tiles)
    grid = Image.new("RGB", (sum(t.width for t in tiles), height))
    x = 0
    for t in tiles:
        grid.paste(t, (x, 0))
        x += t.width
    atomic_write_with(path, lambda tmp: grid.save(tmp, format="PNG"))
    return path.name


def predict_boxes_to_files(model: Any, inputs: list[str], out_dir: Path, threshold: float) -> list[dict[str, Any]]:
    """``<stem>_boxes.png`` per image and ``predictions.json`` (boxes xyxy in pixels, label, score ≥ threshold)."""
    missing = [p for p in inputs if not Path(p).is_file()]
    if missing:
        raise DataError(f"no such image file(s): {', '.join(missing[:3])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = model.labels or []
    results = []
    for item in inputs:
        with Image.open(item) as im:
            image = im.convert("RGB")
        pred = detect(model, image, threshold)
        names = [labels[int(c)] for c in pred["labels"]]
        picture = draw(image, pred["boxes"], [f"{n} {s:.2f}" for n, s in zip(names, pred["scores"], strict=True)], "red")
        stem = Path(item).stem
        atomic_write_with(out_dir / f"{stem}_boxes.png", lambda tmp, p=picture: p.save(tmp, format="PNG"))
        boxes = [{"label": n, "score": round(float(s), 4), "box_xyxy": [round(float(v), 1) for v in b]}
                 for n, s, b in zip(names, pred["scores"], pred["boxes"], strict=True)]
        summary = f"{len(boxes)} box(es)" + "".join(f", {b['label']} {b['score']:.2f}" for b in boxes[:3])
        results.append({"image": str(item), "overlay": f"{stem}_boxes.png", "boxes": boxes, "summary": summary})
    atomic_write_json(out_dir / "predictions.json", {"threshold": threshold, "labels": labels, "box_format": "xyxy",
                                                     "predictions": results})
    return results
