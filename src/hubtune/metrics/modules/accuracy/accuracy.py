"""Accuracy as an offline `evaluate` module (config ``multilabel`` takes 0/1 indicator rows)."""

import datasets
import evaluate

from hubtune.metrics import classification

_DESCRIPTION = "Share of exactly right predictions; subset accuracy for multi-label indicator rows."
_KWARGS = """
Args:
    predictions: predicted class ids (or indicator rows with config ``multilabel``).
    references: true class ids (or indicator rows).
    normalize: return the share (True) or the count (False).
    sample_weight: optional weights.
Returns:
    accuracy: float.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Accuracy(evaluate.Metric):
    def _info(self):
        value = datasets.Value("int64")
        if self.config_name == "multilabel":
            value = datasets.Sequence(value)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        value = classification.accuracy(predictions, references, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": value}
