"""Precision as an offline `evaluate` module; averages ``macro`` unless told otherwise."""

import datasets
import evaluate

from hubtune.metrics import classification

_DESCRIPTION = "Precision computed with scikit-learn (zero_division=0); config ``multilabel`` takes indicator rows."
_KWARGS = """
Args:
    predictions: predicted class ids (or indicator rows with config ``multilabel``).
    references: true class ids (or indicator rows).
    average: macro (default), micro, weighted, samples, binary or None (mean over classes).
    labels: the classes to include.
    pos_label: the positive class when average is binary.
Returns:
    precision: float.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Precision(evaluate.Metric):
    def _info(self):
        value = datasets.Value("int64")
        if self.config_name == "multilabel":
            value = datasets.Sequence(value)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, average="macro", labels=None, pos_label=1):
        value = classification.precision(predictions, references, average=average, labels=labels, pos_label=pos_label)
        return {"precision": value}
