"""The metric registry and the functions the trainer calls.

A :class:`MetricSpec` names a task and a ``compute(predictions, references, **kw) -> float``.
Names are case-insensitive. A spec may serve further tasks (``also_tasks``): ``accuracy`` is
plain accuracy for classification and subset accuracy for multi-label targets.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hubtune.registry import Registry

TASKS = ("classification", "multilabel", "regression", "token_classification", "semantic_segmentation",
         "object_detection")

# problem types (contracts.ProblemType) and head names both map onto metric tasks
_TASK_ALIASES = {
    "single_label_classification": "classification",
    "multi_label_classification": "multilabel",
    "multi-label": "multilabel",
    "multi_label": "multilabel",
    "token": "token_classification",
    "token-classification": "token_classification",
}


@dataclass(frozen=True)
class MetricSpec:
    """A metric: its task, its direction and how to compute it.

    ``compute`` receives numpy arrays (or lists) and keyword arguments from
    :func:`compute_metrics` (``logits``, ``label_names``) it may ignore via ``**kw``.
    """

    name: str
    task: str
    greater_is_better: bool
    compute: Callable[..., float]
    also_tasks: tuple[str, ...] = ()
    needs_logits: bool = False
    description: str = ""

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.task, *self.also_tasks)

    def supports(self, task: str) -> bool:
        return normalize_task(task) in self.tasks


EVALUATE_PREFIX = "evaluate:"
METRICS: Registry[MetricSpec] = Registry("metric", group="hubtune.metrics")


def normalize_task(problem_type: str) -> str:
    """Map a problem type or head name (``single_label_classification``…) to a metric task."""
    key = str(problem_type).lower()
    return _TASK_ALIASES.get(key, key)


def add_metric(
    name: str,
    task: str,
    compute: Callable[..., float],
    *,
    greater_is_better: bool = True,
    also_tasks: tuple[str, ...] = (),
    needs_logits: bool = False,
    description: str = "",
) -> MetricSpec:
    """Build a :class:`MetricSpec` and register it under ``name``."""
    spec = MetricSpec(name.lower(), task, greater_is_better, compute, also_tasks, needs_logits, description)
    METRICS.register(spec.name, spec)
    return spec


def greater_is_better(name: str) -> bool:
    """Whether a larger value of ``name`` is better: ``loss`` → False, unknown names → True."""
    key = str(name).lower()
    for prefix in ("eval_", "validation_", "test_", "train_"):
        key = key.removeprefix(prefix)
    if key in METRICS:
        return METRICS.get(key).greater_is_better
    return not (key == "loss" or key.endswith("_loss"))


def validate_metric_names(names: Sequence[str], problem_type: str) -> list[str]:
    """Problems (one string each) for unknown names or names that do not fit ``problem_type``."""
    task = normalize_task(problem_type)
    problems: list[str] = []
    if task not in TASKS:
        return [f"unknown problem type {problem_type!r}; known: {', '.join(TASKS)}"]
    fitting = [n for n in METRICS.names() if METRICS.get(n).supports(task)]
    for name in names:
        key = str(name).lower()
        if key == "loss" or key.startswith(EVALUATE_PREFIX):
            if key == EVALUATE_PREFIX:
                problems.append(f"metric {name!r} names no module: write evaluate:<hub id or local folder>")
            continue
        if key not in METRICS:
            close = difflib.get_close_matches(key, fitting, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown metric {name!r}.{hint} Metrics for {task}: {', '.join(fitting)}")
        elif not METRICS.get(key).supports(task):
            spec = METRICS.get(key)
            problems.append(
                f"metric {name!r} is for {'/'.join(spec.tasks)}, not {task}; metrics for {task}: {', '.join(fitting)}"
            )
    return problems


def compute_metrics(
    names: Sequence[str],
    predictions: Any,
    references: Any,
    *,
    problem_type: str,
    logits: np.ndarray | None = None,
    label_names: list[str] | None = None,
) -> dict[str, float]:
    """Compute every metric in ``names`` (keys keep the caller's spelling).

    Raises ``ValueError`` listing all problems when a name is unknown or does not fit the task.
    ``loss`` is skipped: the trainer measures it itself.
    """
    from hubtune.errors import RecipeError

    problems = validate_metric_names(names, problem_type)
    if problems:
        raise RecipeError(problems)
    out: dict[str, float] = {}
    for name in names:
        if str(name).lower() == "loss":
            continue
        if str(name).lower().startswith(EVALUATE_PREFIX):
            out[name] = evaluate_module_score(str(name)[len(EVALUATE_PREFIX):], predictions, references)
            continue
        spec = METRICS.get(name)
        if spec.needs_logits and logits is None:
            raise ValueError(f"metric {name!r} needs logits (scores per class); pass logits=")
        out[name] = float(spec.compute(predictions, references, logits=logits, label_names=label_names))
    return out


def evaluate_module_score(module: str, predictions: Any, references: Any) -> float:
    """``evaluate.load(module).compute(...)``: a hub id (needs the Hub) or a local module folder.

    The value is the result's key named like the module (``accuracy`` for ``.../accuracy``), else its
    only number. Raises :class:`~hubtune.errors.RecipeError` when the module cannot be loaded.
    """
    import evaluate

    from hubtune.errors import RecipeError

    try:
        metric = evaluate.load(module)
    except Exception as e:  # evaluate raises FileNotFoundError, ConnectionError, hub and offline errors
        raise RecipeError(
            f"metric evaluate:{module} could not be loaded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "a hub id needs the Hugging Face Hub (unset HF_HUB_OFFLINE / HF_EVALUATE_OFFLINE), a folder needs "
            f"<folder>/<folder name>.py. Offline metrics: {', '.join(METRICS.names())}"
        ) from e
    result = metric.compute(predictions=list(np.asarray(predictions).tolist()), references=list(np.asarray(references).tolist()))
    numbers = {k: float(v) for k, v in (result or {}).items() if isinstance(v, int | float)}
    key = module.rstrip("/").rsplit("/", 1)[-1]
    if key in numbers:
        return numbers[key]
    if len(numbers) == 1:
        return next(iter(numbers.values()))
    raise RecipeError(f"metric evaluate:{module} returned {sorted(numbers)}; hubtune needs one number named {key!r}")
