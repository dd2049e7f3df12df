"""Metrics computed offline (scikit-learn, seqeval), plus any ``evaluate`` module by name.

``METRICS`` maps case-insensitive names to :class:`MetricSpec`; third parties add entries
through the entry-point group ``hubtune.metrics``. ``compute_metrics`` is what the trainer
calls. A name ``evaluate:<hub id or local folder>`` is computed by ``evaluate.load`` (which
needs the Hugging Face Hub for hub ids). Input conventions per task are documented in
``classification``, ``regression`` and ``token``.
"""

from hubtune.metrics import classification, dense, regression, token
from hubtune.metrics.core import (
    METRICS,
    TASKS,
    MetricSpec,
    add_metric,
    compute_metrics,
    greater_is_better,
    normalize_task,
    validate_metric_names,
)
from hubtune.metrics.token import get_entities, seqeval_report

__all__ = [
    "METRICS",
    "TASKS",
    "MetricSpec",
    "add_metric",
    "classification",
    "compute_metrics",
    "dense",
    "get_entities",
    "greater_is_better",
    "normalize_task",
    "regression",
    "seqeval_report",
    "token",
    "validate_metric_names",
]
