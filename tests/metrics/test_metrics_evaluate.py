"""The local evaluate modules load offline and agree with scikit-learn."""

from __future__ import annotations

import os

os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import evaluate
import numpy as np
import pytest
from sklearn import metrics as skm

from hubtune.errors import RecipeError
from hubtune.metrics import load_metric, local_module_names, module_dir

RNG = np.random.default_rng(3)
REFS = RNG.integers(0, 3, 60).tolist()
PREDS = RNG.integers(0, 3, 60).tolist()


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def test_local_modules_exist() -> None:
    assert {"accuracy", "f1", "precision", "recall", "mse", "seqeval"} <= set(local_module_names())
    assert module_dir("F1") is not None and module_dir("f1_micro") is None


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("accuracy", {}, skm.accuracy_score(REFS, PREDS)),
        ("f1", {}, skm.f1_score(REFS, PREDS, average="macro")),
        ("f1", {"average": "weighted"}, skm.f1_score(REFS, PREDS, average="weighted")),
        ("precision", {"average": "micro"}, skm.precision_score(REFS, PREDS, average="micro")),
        ("recall", {}, skm.recall_score(REFS, PREDS, average="macro")),
    ],
)
def test_evaluate_load_by_absolute_path(name: str, kwargs: dict, expected: float) -> None:
    path = module_dir(name)
    assert path is not None and path.is_absolute()
    module = evaluate.load(str(path), keep_in_memory=True)
    assert isinstance(module, evaluate.Metric)
    assert module.compute(predictions=PREDS, references=REFS, **kwargs)[name] == pytest.approx(expected)


def test_incremental_batches_and_mse() -> None:
    module = load_metric("MSE")
    refs, preds = RNG.normal(size=20), RNG.normal(size=20)
    for i in range(0, 20, 5):
        module.add_batch(predictions=preds[i : i + 5], references=refs[i : i + 5])
    assert module.compute()["mse"] == pytest.approx(skm.mean_squared_error(refs, preds))


def test_multilabel_config() -> None:
    refs = RNG.integers(0, 2, (10, 4)).tolist()
    preds = RNG.integers(0, 2, (10, 4)).tolist()
    module = load_metric("accuracy", config_name="multilabel")
    assert module.compute(predictions=preds, references=refs)["accuracy"] == pytest.approx(
        skm.accuracy_score(refs, preds)
    )


def test_seqeval_module_tags_and_ids() -> None:
    module = load_metric("seqeval")
    out = module.compute(predictions=[["B-PER", "I-PER", "O"], ["I-LOC"]], references=[["B-PER", "I-PER", "O"], ["O"]])
    assert out["overall_precision"] == 0.5 and out["overall_recall"] == 1.0 and out["PER"]["number"] == 1
    ids = module.compute(predictions=[[1, 2, 0]], references=[[1, 2, -100]], label_names=["O", "B-PER", "I-PER"])
    assert ids["overall_f1"] == 1.0 and ids["overall_accuracy"] == 1.0


def test_generic_module_for_other_registry_names() -> None:
    out = load_metric("f1_weighted").compute(predictions=PREDS, references=REFS)
    assert out == {"f1_weighted": pytest.approx(skm.f1_score(REFS, PREDS, average="weighted"))}
    out = load_metric("r2").compute(predictions=[1.0, 2.0, 3.5], references=[1.0, 2.0, 3.0])
    assert out["r2"] == pytest.approx(skm.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]))


def test_unknown_name_offline_is_a_clear_error() -> None:
    with pytest.raises(RecipeError, match=r"not one of hubtune's offline metrics.*Offline metrics: accuracy"):
        load_metric("bleu_does_not_exist")
