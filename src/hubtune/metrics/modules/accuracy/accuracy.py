"""Accuracy as an offline `evaluate` module (config ``multilabel`` takes 0/1 indicator rows)."""

from hubtune.metrics import classification
from hubtune.metrics import evaluate_compat as ec


class Accuracy(ec.SimpleMetric):
    metric_name = "accuracy"
    description = "Share of exactly right predictions; subset accuracy for multi-label indicator rows."
    inputs = """
Args:
    predictions: predicted class ids (or indicator rows with config ``multilabel``).
    references: true class ids (or indicator rows).
    normalize: return the share (True) or the count (False).
    sample_weight: optional weights.
Returns:
    accuracy: float.
"""
    compute_fn = staticmethod(classification.accuracy)
