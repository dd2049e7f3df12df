"""The IOB chunker and entity-level scores, checked against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from hubtune.metrics import compute_metrics, get_entities, seqeval_report


@pytest.mark.parametrize(
    ("tags", "lenient", "strict"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)], [("PER", 0, 1), ("LOC", 3, 3)]),
        # IOB1: I- opens an entity after O / at the start; strict IOB2 ignores it
        (["I-PER", "I-PER", "O"], [("PER", 0, 1)], []),
        (["O", "I-MISC", "I-MISC", "I-ORG"], [("MISC", 1, 2), ("ORG", 3, 3)], []),
        # IOB1: B- separates two adjacent entities of one type
        (["I-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)], [("PER", 1, 2)]),
        # a type change inside an entity
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)], [("PER", 0, 0)]),
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)], [("PER", 0, 0), ("PER", 1, 2)]),
        (["O", "O"], [], []),
        (["B", "I", "O", "B"], [("_", 0, 1), ("_", 3, 3)], [("_", 0, 1), ("_", 3, 3)]),
        (["B-X", "E-X", "I-X", "S-Y"], [("X", 0, 1), ("X", 2, 2), ("Y", 3, 3)], [("X", 0, 1), ("Y", 3, 3)]),
    ],
)
def test_get_entities(tags: list[str], lenient: list, strict: list) -> None:
    assert get_entities(tags) == lenient
    assert get_entities(tags, strict=True) == strict


def test_seqeval_readme_example() -> None:
    # seqeval's README: precision = recall = f1 = 0.5 for this pair
    refs = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    preds = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    report = seqeval_report(preds, refs)
    assert report["overall_precision"] == report["overall_recall"] == report["overall_f1"] == 0.5
    assert report["overall_accuracy"] == pytest.approx(8 / 10)
    assert report["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert report["PER"]["f1"] == 1.0


def test_ids_with_minus_100_mask_and_label_names() -> None:
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    # sentence 1: PER(0-1) right, LOC(3) predicted as PER; sentence 2: -100 positions hide a wrong tag
    refs = np.array([[-100, 1, 2, 0, 3, -100], [-100, 3, 4, -100, 0, -100]])
    preds = np.array([[4, 1, 2, 0, 1, 0], [0, 3, 4, 1, 0, 0]])
    out = compute_metrics(
        ["seqeval_precision", "seqeval_recall", "seqeval_f1", "token_accuracy"],
        preds,
        refs,
        problem_type="token_classification",
        label_names=names,
    )
    # true: PER, LOC, LOC(s2) = 3; predicted: PER, PER, LOC(s2) = 3; correct: 2
    assert out["seqeval_precision"] == pytest.approx(2 / 3)
    assert out["seqeval_recall"] == pytest.approx(2 / 3)
    assert out["seqeval_f1"] == pytest.approx(2 / 3)
    assert out["token_accuracy"] == pytest.approx(6 / 7)


def test_ragged_lists_and_logits_predictions() -> None:
    names = ["O", "B-ORG", "I-ORG"]
    refs = [[1, 2, 0], [0]]
    preds = [[1, 2, 0], [1]]
    out = compute_metrics(
        ["seqeval_recall", "seqeval_precision", "token_accuracy"],
        preds,
        refs,
        problem_type="token_classification",
        label_names=names,
    )
    assert out == {"seqeval_recall": 1.0, "seqeval_precision": 0.5, "token_accuracy": 0.75}
    logits = np.eye(3)[np.array([[1, 2, 0]])]  # (1, 3, 3) → argmax
    assert (
        compute_metrics(["seqeval_f1"], logits, [[1, 2, -100]], problem_type="token_classification", label_names=names)[
            "seqeval_f1"
        ]
        == 1.0
    )


def test_ids_without_label_names_is_an_error() -> None:
    with pytest.raises(ValueError, match="label_names"):
        compute_metrics(["seqeval_f1"], [[1]], [[1]], problem_type="token_classification")
    assert compute_metrics(["seqeval_f1"], [[]], [[]], problem_type="token_classification")["seqeval_f1"] == 0.0
