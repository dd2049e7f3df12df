"""Regression metrics against scikit-learn / scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from hubtune.metrics import compute_metrics


def test_regression_matches_reference() -> None:
    rng = np.random.default_rng(1)
    refs = rng.normal(size=100)
    preds = (refs + rng.normal(scale=0.5, size=100))[:, None]  # (n, 1) is squeezed
    names = ["mse", "rmse", "mae", "r2", "pearson", "spearman"]
    out = compute_metrics(names, preds, refs, problem_type="regression")
    p = preds[:, 0]
    assert out["mse"] == pytest.approx(skm.mean_squared_error(refs, p))
    assert out["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(refs, p)))
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(refs, p))
    assert out["r2"] == pytest.approx(skm.r2_score(refs, p))
    assert out["pearson"] == pytest.approx(stats.pearsonr(p, refs)[0])
    assert out["spearman"] == pytest.approx(stats.spearmanr(p, refs)[0])


def test_constant_input_gives_nan_correlation_and_shape_mismatch_raises() -> None:
    out = compute_metrics(["pearson", "mse"], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0], problem_type="regression")
    assert math.isnan(out["pearson"]) and out["mse"] == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(["mse"], [1.0, 2.0], [1.0, 2.0, 3.0], problem_type="regression")
