"""Precision as an offline `evaluate` module; averages ``macro`` unless told otherwise."""

from hubtune.metrics import classification
from hubtune.metrics import evaluate_compat as ec


class Precision(ec.SimpleMetric):
    metric_name = "precision"
    description = "Precision computed with scikit-learn (zero_division=0); config ``multilabel`` takes indicator rows."
    inputs = ec.averaged_kwargs("precision")
    compute_fn = staticmethod(classification.precision)
