"""F1 as an offline `evaluate` module; averages ``macro`` unless told otherwise."""

from hubtune.metrics import classification
from hubtune.metrics import evaluate_compat as ec


class F1(ec.SimpleMetric):
    metric_name = "f1"
    description = "F1 computed with scikit-learn (zero_division=0); config ``multilabel`` takes indicator rows."
    inputs = ec.averaged_kwargs("f1")
    compute_fn = staticmethod(classification.f1)
