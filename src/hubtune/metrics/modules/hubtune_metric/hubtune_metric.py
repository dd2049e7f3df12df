"""Any metric of hubtune's registry as an offline `evaluate` module: the config name picks it.

evaluate.load(".../hubtune_metric", config_name="f1_weighted")
"""

import datasets
import evaluate

from hubtune import metrics

_DESCRIPTION = "A metric from hubtune's metric registry (config_name is the metric name)."
_KWARGS = """
Args:
    predictions, references: as the metric's task expects (class ids, indicator rows, floats, or
        per-sentence tag/id sequences); metrics needing scores take rows of logits as predictions.
    Further keyword arguments go to the metric's compute function.
Returns:
    {config_name: float}
"""


def _features(spec):
    def pair(value):
        return datasets.Features({"predictions": value, "references": value})

    if spec.needs_logits:
        return datasets.Features(
            {"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
        )
    if spec.task == "token_classification":
        return [pair(datasets.Sequence(datasets.Value("string"))), pair(datasets.Sequence(datasets.Value("int64")))]
    value = datasets.Value("float64" if spec.task == "regression" else "int64")
    return [pair(value), pair(datasets.Sequence(value))]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class HubtuneMetric(evaluate.Metric):
    def _info(self):
        spec = metrics.METRICS.get(self.config_name)
        return evaluate.MetricInfo(
            description=spec.description or _DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=_features(spec),
        )

    def _compute(self, predictions, references, **kwargs):
        spec = metrics.METRICS.get(self.config_name)
        return {self.config_name: float(spec.compute(predictions, references, **kwargs))}
