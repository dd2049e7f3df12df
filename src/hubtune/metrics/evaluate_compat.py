"""The shared body of hubtune's offline ``evaluate`` modules (``metrics/modules/<name>/<name>.py``).

evaluate loads a metric from a folder whose file defines one ``evaluate.Metric`` subclass, so each
module file stays a few lines: a subclass of :class:`SimpleMetric` naming its value type, the
config that takes rows (``multilabel``/``multilist``) and the compute function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import datasets
import evaluate


class SimpleMetric(evaluate.Metric):
    """An ``evaluate`` metric that delegates to one of hubtune's compute functions."""

    metric_name: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[str]
    value_type: ClassVar[str] = "int64"
    rows_config: ClassVar[str] = "multilabel"
    compute_fn: ClassVar[Callable[..., float]]

    def _info(self) -> evaluate.MetricInfo:
        value: Any = datasets.Value(self.value_type)
        if self.config_name == self.rows_config:
            value = datasets.Sequence(value)
        return evaluate.MetricInfo(
            description=self.description,
            citation="",
            inputs_description=self.inputs,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions: Any, references: Any, **kwargs: Any) -> dict[str, float]:
        return {self.metric_name: type(self).compute_fn(predictions, references, **kwargs)}


def averaged_kwargs(name: str) -> str:
    """The ``inputs_description`` of an averaged classification metric."""
    return f"""
Args:
    predictions: predicted class ids (or indicator rows with config ``multilabel``).
    references: true class ids (or indicator rows).
    average: macro (default), micro, weighted, samples, binary or None (mean over classes).
    labels: the classes to include.
    pos_label: the positive class when average is binary.
Returns:
    {name}: float.
"""
