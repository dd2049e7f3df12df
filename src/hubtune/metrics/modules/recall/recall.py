"""Recall as an offline `evaluate` module; averages ``macro`` unless told otherwise."""

from hubtune.metrics import classification
from hubtune.metrics import evaluate_compat as ec


class Recall(ec.SimpleMetric):
    metric_name = "recall"
    description = "Recall computed with scikit-learn (zero_division=0); config ``multilabel`` takes indicator rows."
    inputs = ec.averaged_kwargs("recall")
    compute_fn = staticmethod(classification.recall)
