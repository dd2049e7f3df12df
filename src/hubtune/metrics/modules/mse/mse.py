"""Mean squared error as an offline `evaluate` module (config ``multilist`` takes rows of outputs)."""

from hubtune.metrics import evaluate_compat as ec
from hubtune.metrics import regression


def _mse(predictions, references, squared=True):
    return (regression.mse if squared else regression.rmse)(predictions, references)


class Mse(ec.SimpleMetric):
    metric_name = "mse"
    description = "Mean squared error; set squared=False for the root mean squared error."
    inputs = """
Args:
    predictions: predicted values (rows of values with config ``multilist``).
    references: true values.
    squared: False returns the RMSE.
Returns:
    mse: float.
"""
    value_type = "float64"
    rows_config = "multilist"
    compute_fn = staticmethod(_mse)
