"""Streaming segmentation metrics (torchmetrics) against counts done by hand, with ignored pixels."""

from __future__ import annotations

import pytest
import torch

from hubtune.metrics import METRICS, validate_metric_names
from hubtune.metrics.dense import IGNORE, SegmentationMetrics


def test_iou_pixel_accuracy_and_ignore_by_hand():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, IGNORE, IGNORE]]])
    preds = torch.tensor([[[0, 1, 1, 1], [2, 0, 2, 1]]])  # the two ignored pixels are wrong on purpose
    m = SegmentationMetrics(3, ["a", "b", "c"])
    m.update(preds, target)
    out = m.compute()
    # a: tp 1, fp 1, fn 1 -> 1/3; b: tp 2, fp 1 -> 2/3; c: tp 1, fn 1 -> 1/2
    assert out["iou_a"] == pytest.approx(1 / 3) and out["iou_b"] == pytest.approx(2 / 3)
    assert out["iou_c"] == pytest.approx(1 / 2)
    assert out["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert out["pixel_accuracy"] == pytest.approx(4 / 6)


def test_streamed_equals_all_at_once_and_absent_classes_are_left_out():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (6, 8, 8), generator=g)  # class 3 never occurs, nor is it predicted
    target[:, 0] = IGNORE
    preds = torch.randint(0, 3, (6, 8, 8), generator=g)
    whole, streamed = SegmentationMetrics(4), SegmentationMetrics(4)
    whole.update(preds, target)
    for i in range(0, 6, 2):
        streamed.update(preds[i:i + 2], target[i:i + 2])
    assert whole.compute() == pytest.approx(streamed.compute())
    assert "iou_3" not in whole.compute() and "iou_2" in whole.compute()


def test_metric_names_registered_for_the_task():
    assert {"miou", "pixel_accuracy", "mean_accuracy"} <= set(METRICS.names())
    assert validate_metric_names(["miou", "pixel_accuracy"], "semantic_segmentation") == []
    assert "is for" in validate_metric_names(["miou"], "single_label_classification")[0]
    assert METRICS.get("miou").compute([[0, 1]], [[0, 0]], label_names=["x", "y"]) == pytest.approx(0.25)
