"""Semantic segmentation metrics with torchmetrics, streamed over batches.

:class:`SegmentationMetrics` accumulates a confusion matrix (``MulticlassJaccardIndex`` /
``MulticlassAccuracy`` with ``ignore_index``), so no prediction is held after its batch.
Metric names: ``miou`` (mean IoU over classes), ``pixel_accuracy``, ``mean_accuracy``; every
evaluation also reports ``iou_<class>`` per class. Labels use ``-100`` for ignored pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from hubtune.metrics.core import add_metric

IGNORE = -100
TASK = "semantic_segmentation"
NAMES = ("miou", "pixel_accuracy", "mean_accuracy")


class SegmentationMetrics:
    """Streaming mIoU, per-class IoU, pixel and mean class accuracy (``update`` per batch, ``compute`` once)."""

    def __init__(self, num_classes: int, label_names: list[str] | None = None) -> None:
        from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

        self.label_names = label_names or [str(i) for i in range(num_classes)]
        kw: dict[str, Any] = {"num_classes": num_classes, "ignore_index": IGNORE, "validate_args": False}
        self.iou = MulticlassJaccardIndex(average="none", **kw)
        self.pixel = MulticlassAccuracy(average="micro", **kw)
        self.mean_acc = MulticlassAccuracy(average="macro", **kw)
        self.present = torch.zeros(num_classes, dtype=torch.bool)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """``preds`` and ``target``: ``(B, H, W)`` class ids (``-100`` in target = not scored)."""
        preds, target = preds.cpu().long(), target.cpu().long()
        for metric in (self.iou, self.pixel, self.mean_acc):
            metric.update(preds, target)
        valid = target != IGNORE
        seen = torch.cat([target[valid], preds[valid]]).unique()
        self.present[seen[seen < len(self.present)]] = True

    def compute(self) -> dict[str, float]:
        """``miou`` averages the classes seen in the targets or predictions (a class absent from both has no IoU)."""
        per_class = self.iou.compute()
        seen = self.present
        out = {
            "miou": float(per_class[seen].mean()) if seen.any() else 0.0,
            "pixel_accuracy": float(self.pixel.compute()),
            "mean_accuracy": float(self.mean_acc.compute()),
        }
        for name, value, ok in zip(self.label_names, per_class.tolist(), seen.tolist(), strict=True):
            if ok:  # a class in neither targets nor predictions has no IoU: left out, not 0 or NaN
                out[f"iou_{name}"] = float(value)
        return out


def _compute(name: str) -> Any:
    def compute(predictions: Any, references: Any, label_names: list[str] | None = None, **_: Any) -> float:
        preds, refs = torch.as_tensor(np.asarray(predictions)), torch.as_tensor(np.asarray(references))
        n = len(label_names) if label_names else int(max(preds.max(), refs.max())) + 1
        metrics = SegmentationMetrics(n, label_names)
        metrics.update(preds, refs)
        return metrics.compute()[name]

    return compute


for _name, _text in zip(NAMES, ("mean intersection over union", "pixels right (ignored pixels excluded)",
                                "mean of per-class pixel accuracy"), strict=True):
    add_metric(_name, TASK, _compute(_name), description=_text)


DETECTION = "object_detection"
DETECTION_NAMES = ("map", "map_50", "map_75")


class DetectionMetrics:
    """Streaming COCO mAP (torchmetrics ``MeanAveragePrecision``, faster-coco-eval backend) with per-class AP."""

    def __init__(self, label_names: list[str]) -> None:
        from torchmetrics.detection import MeanAveragePrecision

        self.label_names = label_names
        self.metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True,
                                           backend="faster_coco_eval")

    def update(self, preds: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> None:
        """Per image: preds ``boxes`` / ``scores`` / ``labels``, targets ``boxes`` / ``labels`` (xyxy, class ids)."""
        cpu = lambda d: {k: v.detach().cpu() for k, v in d.items()}  # noqa: E731
        self.metric.update([cpu(p) for p in preds], [cpu(t) for t in targets])

    def compute(self) -> dict[str, float]:
        r = self.metric.compute()
        out = {name: float(r[name]) for name in DETECTION_NAMES}
        per_class = r["map_per_class"].reshape(-1).tolist()
        for cls, ap in zip(r["classes"].reshape(-1).tolist(), per_class, strict=True):
            if 0 <= cls < len(self.label_names) and ap >= 0:  # -1: no ground truth of the class
                out[f"ap_{self.label_names[cls]}"] = float(ap)
        return out


def _compute_detection(name: str) -> Any:
    def compute(predictions: Any, references: Any, label_names: list[str] | None = None, **_: Any) -> float:
        metrics = DetectionMetrics(label_names or [])
        metrics.update(list(predictions), list(references))
        return metrics.compute()[name]

    return compute


for _name, _text in zip(DETECTION_NAMES, ("COCO mAP over IoU 0.50:0.95", "AP at IoU 0.50", "AP at IoU 0.75"),
                        strict=True):
    add_metric(_name, DETECTION, _compute_detection(_name), description=_text)
