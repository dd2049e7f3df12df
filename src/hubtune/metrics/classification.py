"""Single-label and multi-label classification metrics (scikit-learn / numpy).

Single-label inputs are class ids of shape ``(n,)``. Multi-label inputs are 0/1 indicator
arrays of shape ``(n, num_labels)`` (predictions already thresholded); there ``accuracy`` is
subset accuracy. ``precision``/``recall``/``f1`` average ``macro`` unless told otherwise;
classes with no predicted (or true) sample count as 0, never as an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from hubtune.metrics.core import add_metric

AVERAGES = ("macro", "micro", "weighted")


def _arr(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a.squeeze(-1) if a.ndim == 2 and a.shape[-1] == 1 else a


def accuracy(
    predictions: Any, references: Any, *, normalize: bool = True, sample_weight: Any = None, **_: Any
) -> float:
    """Share of exactly right samples (subset accuracy for multi-label indicators)."""
    return float(
        skm.accuracy_score(_arr(references), _arr(predictions), normalize=normalize, sample_weight=sample_weight)
    )


def balanced_accuracy(predictions: Any, references: Any, **_: Any) -> float:
    """Mean recall over classes."""
    return float(skm.balanced_accuracy_score(_arr(references), _arr(predictions)))


def _prf(fn: Any, predictions: Any, references: Any, average: str | None, labels: Any, pos_label: Any) -> float:
    value = fn(
        _arr(references), _arr(predictions), average=average, labels=labels, pos_label=pos_label, zero_division=0
    )
    return float(np.mean(value))


def precision(
    predictions: Any, references: Any, *, average: str = "macro", labels: Any = None, pos_label: Any = 1, **_: Any
) -> float:
    """Precision; ``average`` is macro / micro / weighted / samples / binary."""
    return _prf(skm.precision_score, predictions, references, average, labels, pos_label)


def recall(
    predictions: Any, references: Any, *, average: str = "macro", labels: Any = None, pos_label: Any = 1, **_: Any
) -> float:
    """Recall; ``average`` is macro / micro / weighted / samples / binary."""
    return _prf(skm.recall_score, predictions, references, average, labels, pos_label)


def f1(
    predictions: Any, references: Any, *, average: str = "macro", labels: Any = None, pos_label: Any = 1, **_: Any
) -> float:
    """F1; ``average`` is macro / micro / weighted / samples / binary."""
    return _prf(skm.f1_score, predictions, references, average, labels, pos_label)


def mcc(predictions: Any, references: Any, **_: Any) -> float:
    """Matthews correlation coefficient (multi-class generalisation)."""
    return float(skm.matthews_corrcoef(_arr(references), _arr(predictions)))


def hamming_loss(predictions: Any, references: Any, **_: Any) -> float:
    """Share of wrong label decisions (multi-label)."""
    return float(skm.hamming_loss(_arr(references), _arr(predictions)))


def top_k_accuracy(predictions: Any, references: Any, *, logits: Any = None, k: int = 5, **_: Any) -> float:
    """Share of samples whose true class is among the ``k`` highest scores.

    Scores come from ``logits`` ``(n, num_classes)``; 2-D ``predictions`` are used when
    ``logits`` is not given. ``k`` at or above the class count gives 1.0.
    """
    scores = np.asarray(logits if logits is not None else predictions, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"top-{k} accuracy needs scores of shape (n, num_classes), got shape {scores.shape}")
    refs = _arr(references).astype(np.int64)
    k = min(int(k), scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == refs[:, None], axis=1))) if len(refs) else 0.0


def _averaged(fn: Any, average: str) -> Any:
    def compute(predictions: Any, references: Any, **kw: Any) -> float:
        return fn(predictions, references, average=average, **{k: v for k, v in kw.items() if k != "average"})

    compute.__name__ = f"{fn.__name__}_{average}"
    compute.__doc__ = f"{fn.__name__} with average={average!r}."
    return compute


def _top_k(k: int) -> Any:
    def compute(predictions: Any, references: Any, **kw: Any) -> float:
        return top_k_accuracy(predictions, references, **{**kw, "k": k})

    compute.__name__ = f"top{k}_accuracy"
    return compute


_BOTH = ("multilabel",)
add_metric(
    "accuracy", "classification", accuracy, also_tasks=_BOTH, description="accuracy (subset accuracy for multi-label)"
)
add_metric("balanced_accuracy", "classification", balanced_accuracy)
add_metric("mcc", "classification", mcc, description="Matthews correlation coefficient")
for _fn in (precision, recall, f1):
    add_metric(_fn.__name__, "classification", _fn, also_tasks=_BOTH, description=f"{_fn.__name__} (macro average)")
    for _avg in AVERAGES:
        add_metric(f"{_fn.__name__}_{_avg}", "classification", _averaged(_fn, _avg), also_tasks=_BOTH)
    add_metric(f"{_fn.__name__}_samples", "multilabel", _averaged(_fn, "samples"))
add_metric("hamming_loss", "multilabel", hamming_loss, greater_is_better=False)
add_metric("top_k_accuracy", "classification", top_k_accuracy, needs_logits=True, description="top-k accuracy (k=5)")
for _k in (3, 5, 10):
    add_metric(f"top{_k}_accuracy", "classification", _top_k(_k), needs_logits=True)
