"""Mean squared error as an offline `evaluate` module (config ``multilist`` takes rows of outputs)."""

import datasets
import evaluate

from hubtune.metrics import regression

_DESCRIPTION = "Mean squared error; set squared=False for the root mean squared error."
_KWARGS = """
Args:
    predictions: predicted values (rows of values with config ``multilist``).
    references: true values.
    squared: False returns the RMSE.
Returns:
    mse: float.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Mse(evaluate.Metric):
    def _info(self):
        value = datasets.Value("float64")
        if self.config_name == "multilist":
            value = datasets.Sequence(value)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.mean_squared_error.html"
            ],
        )

    def _compute(self, predictions, references, squared=True):
        fn = regression.mse if squared else regression.rmse
        return {"mse": fn(predictions, references)}
