"""Pictures and files of segmentation predictions: coloured masks blended over images, PNG masks, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from hubtune.atomic import atomic_write_json, atomic_write_with
from hubtune.dense.tables import open_image
from hubtune.errors import DataError

UNLABELLED = 255  # mask value of pixels below the score threshold (and of ignored pixels in pictures)


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (matplotlib's tab20), plus black for unlabelled."""
    from matplotlib import colormaps

    colours = (np.array([colormaps["tab20"](i % 20)[:3] for i in range(n)]) * 255).astype(np.uint8)
    return colours


def blend(image: Image.Image, mask: np.ndarray, n: int, alpha: float = 0.5) -> Image.Image:
    """``image`` with ``mask``'s classes painted over it; unlabelled pixels keep the photo."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    colours = palette(n).astype(np.float32)
    known = mask < n
    out = rgb.copy()
    out[known] = (1 - alpha) * rgb[known] + alpha * colours[mask[known]]
    return Image.fromarray(out.astype(np.uint8))


@torch.no_grad()
def segment(model: Any, image: Image.Image, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and scores at the image's own size (logits resized bilinearly); low scores → 255."""
    from hubtune.dense.data import build_transform

    pre = model.preprocessing.data_config
    size = tuple(pre["input_size"][-2:])
    pixels = build_transform(size, pre["mean"], pre["std"], training=False)(image.convert("RGB"))
    device = next(model.parameters()).device
    logits = model({"pixel_values": pixels.as_subclass(torch.Tensor).unsqueeze(0).to(device)}).float()
    logits = F.interpolate(logits, size=(image.height, image.width), mode="bilinear", align_corners=False)
    score, ids = logits.softmax(1)[0].max(0)
    ids = ids.cpu().numpy().astype(np.uint8)
    ids[score.cpu().numpy() < threshold] = UNLABELLED
    return ids, score.cpu().numpy()


def save_validation_overlays(model: Any, data: Any, path: Path, count: int = 4) -> str | None:
    """A picture for the card: rows of validation image | ground truth | prediction; returns its file name."""
    split = data.validation if data.validation is not None else data.test
    if split is None or not hasattr(split, "pairs"):
        return None
    model.eval()
    n = len(model.labels or []) or model.num_labels
    rows = []
    for image_path, mask_path in split.pairs[:: max(1, len(split.pairs) // count)][:count]:  # spread out
        with open_image(image_path) as im, open_image(mask_path) as m:
            image, truth = im.convert("RGB"), np.asarray(m).astype(np.int64)
        pred, _ = segment(model, image)
        truth = np.where(truth < n, truth, UNLABELLED)
        rows.append(np.concatenate([np.asarray(image), np.asarray(blend(image, truth, n)),
                                    np.asarray(blend(image, pred, n))], axis=1))
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    atomic_write_with(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
    return path.name


def predict_to_files(model: Any, inputs: list[str], out_dir: Path, threshold: float = 0.0) -> list[dict[str, Any]]:
    """For each image: ``<stem>_mask.png`` (class ids, 255 = below threshold), ``<stem>_overlay.png``, and one
    ``predictions.json`` listing each image's files and its classes with pixel shares and mean scores."""
    if not inputs:
        raise DataError("nothing to predict: give at least one image")
    missing = [p for p in inputs if not Path(p).is_file()]
    if missing:
        raise DataError(f"no such image file(s): {', '.join(missing[:3])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    labels = model.labels or [str(i) for i in range(model.num_labels)]
    results = []
    for item in inputs:
        try:
            with Image.open(item) as im:
                image = im.convert("RGB")
        except OSError as e:
            raise DataError(f"cannot read image {item}: {e}") from None
        ids, scores = segment(model, image, threshold)
        stem = Path(item).stem
        atomic_write_with(out_dir / f"{stem}_mask.png", lambda tmp, a=ids: Image.fromarray(a).save(tmp, format="PNG"))
        overlay = blend(image, ids, len(labels))
        atomic_write_with(out_dir / f"{stem}_overlay.png", lambda tmp, o=overlay: o.save(tmp, format="PNG"))
        classes = {}
        for c in np.unique(ids[ids != UNLABELLED]).tolist():
            sel = ids == c
            classes[labels[c]] = {"id": c, "pixel_share": round(float(sel.mean()), 5),
                                  "mean_score": round(float(scores[sel].mean()), 5)}
        top = sorted(classes.items(), key=lambda kv: -kv[1]["pixel_share"])[:3]
        summary = ", ".join(f"{name} {100 * c['pixel_share']:.0f}%" for name, c in top)
        results.append({"image": str(item), "mask": f"{stem}_mask.png", "overlay": f"{stem}_overlay.png",
                        "summary": summary,
                        "size": [image.width, image.height], "unlabelled_value": UNLABELLED, "classes": classes})
    atomic_write_json(out_dir / "predictions.json", {"threshold": threshold, "labels": labels,
                                                     "predictions": results})
    return results


def read_predictions(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "predictions.json").read_text())
