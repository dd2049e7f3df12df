"""Regression metrics. Inputs are floats of shape ``(n,)`` or ``(n, outputs)``; ``(n, 1)`` is squeezed.

Correlations (``pearson``, ``spearman``) flatten multi-output targets and return ``nan`` when
either side is constant.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from hubtune.metrics.core import add_metric


def _pair(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predictions, dtype=np.float64)
    r = np.asarray(references, dtype=np.float64)
    p = p.squeeze(-1) if p.ndim == 2 and p.shape[-1] == 1 else p
    r = r.squeeze(-1) if r.ndim == 2 and r.shape[-1] == 1 else r
    if p.shape != r.shape:
        raise ValueError(f"predictions {p.shape} and references {r.shape} differ in shape")
    return p, r


def mse(predictions: Any, references: Any, **_: Any) -> float:
    """Mean squared error."""
    p, r = _pair(predictions, references)
    return float(skm.mean_squared_error(r, p))


def rmse(predictions: Any, references: Any, **_: Any) -> float:
    """Root mean squared error."""
    return math.sqrt(mse(predictions, references))


def mae(predictions: Any, references: Any, **_: Any) -> float:
    """Mean absolute error."""
    p, r = _pair(predictions, references)
    return float(skm.mean_absolute_error(r, p))


def r2(predictions: Any, references: Any, **_: Any) -> float:
    """Coefficient of determination."""
    p, r = _pair(predictions, references)
    return float(skm.r2_score(r, p))


def _corr(fn: Any, predictions: Any, references: Any) -> float:
    p, r = _pair(predictions, references)
    p, r = p.ravel(), r.ravel()
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(r) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(p, r)[0])


def pearson(predictions: Any, references: Any, **_: Any) -> float:
    """Pearson correlation."""
    return _corr(stats.pearsonr, predictions, references)


def spearman(predictions: Any, references: Any, **_: Any) -> float:
    """Spearman rank correlation."""
    return _corr(stats.spearmanr, predictions, references)


add_metric("mse", "regression", mse, greater_is_better=False, description="mean squared error")
add_metric("rmse", "regression", rmse, greater_is_better=False, description="root mean squared error")
add_metric("mae", "regression", mae, greater_is_better=False, description="mean absolute error")
add_metric("r2", "regression", r2, description="coefficient of determination")
add_metric("pearson", "regression", pearson, description="Pearson correlation")
add_metric("spearman", "regression", spearman, description="Spearman rank correlation")
