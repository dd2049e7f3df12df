"""Classification and multi-label metrics against scikit-learn; registry behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hubtune.errors import RecipeError
from hubtune.metrics import METRICS, add_metric, compute_metrics, greater_is_better, validate_metric_names

RNG = np.random.default_rng(0)
REFS = RNG.integers(0, 4, 200)
PREDS = np.where(RNG.random(200) < 0.6, REFS, RNG.integers(0, 4, 200))
LOGITS = RNG.normal(size=(200, 7))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", skm.accuracy_score(REFS, PREDS)),
        ("f1", skm.f1_score(REFS, PREDS, average="macro")),
        ("F1_Micro", skm.f1_score(REFS, PREDS, average="micro")),
        ("f1_weighted", skm.f1_score(REFS, PREDS, average="weighted")),
        ("precision", skm.precision_score(REFS, PREDS, average="macro")),
        ("precision_micro", skm.precision_score(REFS, PREDS, average="micro")),
        ("recall_weighted", skm.recall_score(REFS, PREDS, average="weighted")),
        ("mcc", skm.matthews_corrcoef(REFS, PREDS)),
        ("balanced_accuracy", skm.balanced_accuracy_score(REFS, PREDS)),
    ],
)
def test_classification_matches_sklearn(name: str, expected: float) -> None:
    out = compute_metrics([name], PREDS, REFS, problem_type="single_label_classification")
    assert out == {name: pytest.approx(expected)}


def test_top_k_accuracy_uses_logits() -> None:
    refs = RNG.integers(0, 7, 200)
    labels = np.arange(7)
    out = compute_metrics(
        ["top5_accuracy", "top3_accuracy", "top_k_accuracy"],
        LOGITS.argmax(1),
        refs,
        problem_type="classification",
        logits=LOGITS,
    )
    assert out["top5_accuracy"] == pytest.approx(skm.top_k_accuracy_score(refs, LOGITS, k=5, labels=labels))
    assert out["top3_accuracy"] == pytest.approx(skm.top_k_accuracy_score(refs, LOGITS, k=3, labels=labels))
    assert out["top_k_accuracy"] == out["top5_accuracy"]
    assert METRICS.get("top10_accuracy").compute(None, refs, logits=LOGITS) == 1.0  # k >= classes
    with pytest.raises(ValueError, match="needs logits"):
        compute_metrics(["top5_accuracy"], PREDS, REFS, problem_type="classification")


def test_multilabel_metrics() -> None:
    refs = RNG.integers(0, 2, (50, 5))
    preds = np.where(RNG.random((50, 5)) < 0.8, refs, 1 - refs)
    names = ["accuracy", "f1_micro", "f1_macro", "hamming_loss", "precision_samples"]
    out = compute_metrics(names, preds, refs, problem_type="multi_label_classification")
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(refs, preds))  # subset accuracy
    assert out["f1_micro"] == pytest.approx(skm.f1_score(refs, preds, average="micro"))
    assert out["f1_macro"] == pytest.approx(skm.f1_score(refs, preds, average="macro"))
    assert out["hamming_loss"] == pytest.approx(skm.hamming_loss(refs, preds))
    assert out["precision_samples"] == pytest.approx(
        skm.precision_score(refs, preds, average="samples", zero_division=0)
    )


def test_missing_class_counts_zero_without_error() -> None:
    assert compute_metrics(["precision"], [0, 0, 0], [0, 1, 1], problem_type="classification")[
        "precision"
    ] == pytest.approx(1 / 6)


def test_validation_lists_problems_and_known_names() -> None:
    assert validate_metric_names(["Accuracy", "f1", "loss"], "classification") == []
    problems = validate_metric_names(["acuracy", "mse", "hamming_loss"], "single_label_classification")
    assert len(problems) == 3
    assert "Did you mean 'accuracy'" in problems[0] and "f1_weighted" in problems[0]
    assert "regression" in problems[1] and "multilabel" in problems[2]
    assert validate_metric_names(["mse"], "nonsense")[0].startswith("unknown problem type")
    with pytest.raises(RecipeError, match="acuracy"):
        compute_metrics(["acuracy"], PREDS, REFS, problem_type="classification")


def test_greater_is_better() -> None:
    assert greater_is_better("loss") is False
    assert greater_is_better("eval_loss") is False
    assert greater_is_better("MSE") is False and greater_is_better("hamming_loss") is False
    assert greater_is_better("accuracy") is True and greater_is_better("r2") is True
    assert greater_is_better("something_unknown") is True


def test_third_party_metric_registers_and_computes() -> None:
    add_metric("Always_Half", "classification", lambda p, r, **kw: 0.5)
    try:
        assert "always_half" in METRICS and "ALWAYS_HALF" in METRICS
        assert compute_metrics(["ALWAYS_HALF"], PREDS, REFS, problem_type="classification") == {"ALWAYS_HALF": 0.5}
        with pytest.raises(ValueError, match="already has"):
            add_metric("always_half", "classification", lambda p, r, **kw: 0.0)
    finally:
        METRICS._entries.pop("always_half")
