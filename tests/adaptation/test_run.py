"""End to end: an adaptation recipe through hubtune.run.train on a few digits_shift batches; recipe checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from hubtune.errors import RecipeError
from hubtune.validation import load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[2]
SMALL = ["data.max_train_samples=96", "data.max_eval_samples=64", "train.batch_size=16", "train.epochs=1",
         "train.max_steps=4", "adaptation.target.max_train_samples=64", "train.trackers=[]"]


@pytest.fixture(scope="module")
def dann_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    from hubtune.run import train

    out = tmp_path_factory.mktemp("dann")
    recipe = load_recipe(REPO / "recipes/adaptation/digits-dann.yaml", [*SMALL, f"output_dir={out}"])
    result = train(recipe, overwrite=True)
    assert set(result.metrics) == {"validation", "test"}
    return out


def test_adaptation_run_uses_objective_and_writes_artifacts(dann_run: Path) -> None:
    assert (dann_run / "hubtune.json").exists() and (dann_run / "model.safetensors").exists()
    state = json.loads(next(dann_run.glob("checkpoints/step-*/*.json")).read_text())
    assert state["objective"]["calls"] == 4 and state["objective"]["method"]
    assert not any(k.startswith("adaptation.") for k in load_file(str(dann_run / "model.safetensors")))
    saved = (dann_run / "recipe.yaml").read_text()
    assert "method: dann" in saved and "selection: source_val" in saved


def test_adapted_model_reloads_and_ranks(dann_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from hubtune.cli import main

    code = main(["rank", "--candidates", str(dann_run), "custom:hubtune.backbones.small:cnn", "--data", "digits_shift:usps:test",
                 "--max-samples", "80", "--out", str(tmp_path / "rank"), "--cache", str(tmp_path / "cache")])
    assert code == 0
    report = json.loads((tmp_path / "rank" / "rank.json").read_text())
    by_name = {r["candidate"]: r for r in report["candidates"]}
    assert by_name[str(dann_run)]["leep"] is not None and by_name["custom:hubtune.backbones.small:cnn"]["leep"] is None
    assert (tmp_path / "rank" / "rank.png").exists()
    assert "logme" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2


def test_discrepancy_cli(tmp_path: Path, data_root: Path) -> None:
    from hubtune.cli import main

    args = ["discrepancy", "--backbone", "custom:hubtune.backbones.small:cnn", "--source", "digits_shift:mnist",
            "--target", "digits_shift:usps", "--max-samples", "120", "--out", str(tmp_path), "--cache",
            str(tmp_path / "cache")]
    assert main(args) == 0
    report = json.loads((tmp_path / "discrepancy.json").read_text())
    shift, control = report["results"]["source vs target"], report["results"]["control: source halves"]
    assert shift["mmd"] > control["mmd"] and shift["proxy_a_distance"] > control["proxy_a_distance"]
    assert (tmp_path / "discrepancy_pca.png").exists()


def _recipe(adaptation: dict, **eval_cfg: object) -> dict:
    return {"backbone": {"source": "custom", "name": "hubtune.backbones.small:cnn"},
            "data": {"format": "digits_shift", "name": "mnist"}, "eval": {"metrics": ["accuracy"], **eval_cfg},
            "adaptation": adaptation}


def test_adaptation_problems_are_reported_with_paths() -> None:
    target = {"format": "digits_shift", "name": "usps"}
    recipe_from_dict(_recipe({"method": "mcc", "target": target, "options": {"temperature": 2.0}}))
    cases = [
        ({"method": "dnn", "target": target}, "adaptation.method: unknown adaptation method 'dnn'. Did you mean 'dann'?"),
        ({"method": "mcc", "target": target, "options": {"temp": 1}}, "adaptation.options.temp: unknown key"),
        ({"method": "dann", "target": target, "wieght": 1}, "adaptation.wieght: unknown key"),
        ({"method": "dann"}, "adaptation.target: required key is missing"),
        ({"method": "dann", "target": {"format": "jsonl", "path": "nowhere.jsonl"}},
         "adaptation.target.path: nowhere.jsonl does not exist"),
    ]
    for block, message in cases:
        with pytest.raises(RecipeError) as err:
            recipe_from_dict(_recipe(block))
        assert any(p.startswith(message) for p in err.value.problems), err.value.problems
    with pytest.raises(RecipeError, match="keep_best: false"):
        recipe_from_dict(_recipe({"method": "coral", "target": target, "selection": "last"}))


def test_shipped_recipes_validate() -> None:
    for path in sorted((REPO / "recipes/adaptation").glob("*.yaml")):
        load_recipe(path)
