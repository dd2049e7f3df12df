"""Offline, evaluate-compatible metrics.

``METRICS`` maps case-insensitive names to :class:`MetricSpec`; third parties add entries
through the entry-point group ``hubtune.metrics``. ``compute_metrics`` is what the trainer
calls; ``load_metric`` gives an ``evaluate`` module (local for hubtune's names, the hub's
otherwise). Input conventions per task are documented in ``classification``, ``regression``
and ``token``.
"""

from hubtune.metrics import classification, regression, token
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
from hubtune.metrics.loading import load_metric, local_module_names, module_dir
from hubtune.metrics.token import get_entities, seqeval_report

__all__ = [
    "METRICS",
    "TASKS",
    "MetricSpec",
    "add_metric",
    "classification",
    "compute_metrics",
    "get_entities",
    "greater_is_better",
    "load_metric",
    "local_module_names",
    "module_dir",
    "normalize_task",
    "regression",
    "seqeval_report",
    "token",
    "validate_metric_names",
]
