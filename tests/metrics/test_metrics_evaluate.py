"""``evaluate:<module>`` metrics go through the real ``evaluate.load`` (a local module folder here)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hubtune.errors import RecipeError
from hubtune.metrics import compute_metrics
from hubtune.validation import recipe_from_dict
from tiny_recipes import TINY_MLP

MODULE = textwrap.dedent('''
    import datasets
    import evaluate

    class BalancedHits(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description="share of exact hits", citation="", inputs_description="",
                features=datasets.Features({"predictions": datasets.Value("int64"),
                                            "references": datasets.Value("int64")}))

        def _compute(self, predictions, references):
            return {"balanced_hits": sum(p == r for p, r in zip(predictions, references)) / len(references)}
''')


@pytest.fixture()
def module_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "balanced_hits"
    folder.mkdir()
    (folder / "balanced_hits.py").write_text(MODULE)
    return folder


def test_an_evaluate_module_folder_is_computed_by_evaluate_load(module_dir: Path) -> None:
    preds, refs = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])
    out = compute_metrics(["accuracy", f"evaluate:{module_dir}"], preds, refs, problem_type="single_label_classification")
    assert out[f"evaluate:{module_dir}"] == pytest.approx(0.75) == out["accuracy"]


def test_a_training_run_reports_the_evaluate_metric(tmp_path: Path, module_dir: Path) -> None:
    from hubtune.run import train

    name = f"evaluate:{module_dir}"
    recipe = {**TINY_MLP, "output_dir": str(tmp_path / "out"), "eval": {"metrics": ["accuracy", name]},
              "data": {**TINY_MLP["data"], "validation": "train"}}
    result = train(recipe_from_dict(recipe))
    validation = result.metrics["validation"]
    assert validation[name] == pytest.approx(validation["accuracy"])
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["metrics"]["validation"][name] == pytest.approx(validation["accuracy"])


def test_an_unreachable_hub_metric_is_a_clear_recipe_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError, match=r"could not be loaded.*needs the Hugging Face Hub"):
        compute_metrics(["evaluate:someone/no-such-metric"], np.array([1]), np.array([1]),
                        problem_type="single_label_classification")
