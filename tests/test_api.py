"""The Python API (``import hubtune``) and the CLI built on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import hubtune
from hubtune.errors import RecipeError
from tiny_recipes import TINY_MLP


def _recipe(out: Path) -> dict:
    return {**TINY_MLP, "output_dir": str(out), "data": {**TINY_MLP["data"], "validation": "train", "test": "train"}}


def test_import_is_light_and_lists_the_api() -> None:
    code = "import sys, hubtune; print(sorted(hubtune.__all__)); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert "train" in out[0] and "load_recipe" in out[0] and "rank" in out[0]
    assert out[1] == "False"


def test_load_recipe_from_a_path_or_a_mapping_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(tmp_path / "out")))
    assert hubtune.load_recipe(path, ["train.lr=0.5"]).train.lr == 0.5
    assert hubtune.load_recipe(str(path), {"train": {"lr": 0.25}}).train.lr == 0.25
    from_dict = hubtune.load_recipe(_recipe(tmp_path / "out"), {"train": {"epochs": 4}})
    assert from_dict.train.epochs == 4 and from_dict.train.batch_size == TINY_MLP["train"]["batch_size"]
    assert hubtune.load_recipe(from_dict, ["seed=7"]).seed == 7
    with pytest.raises(RecipeError) as info:
        hubtune.load_recipe(path, ["train.lr=-1", "head.type=nope"])
    assert len(info.value.problems) == 2


def test_validate_returns_every_problem_without_raising(tmp_path: Path) -> None:
    assert hubtune.validate(_recipe(tmp_path / "out")) == []
    problems = hubtune.validate(_recipe(tmp_path / "out"), ["train.epohcs=2", "strategy.type=nope"])
    assert any(p.startswith("train.epohcs") for p in problems) and any(p.startswith("strategy.type") for p in problems)


def test_train_evaluate_predict_from_python(tmp_path: Path) -> None:
    run = hubtune.train(_recipe(tmp_path / "out"))
    assert run.output_dir == tmp_path / "out" and (run.output_dir / "model.safetensors").exists()
    again = hubtune.evaluate(run.output_dir, split="test")
    # hubtune eval shares the trainer's evaluation: same exported weights, same numbers
    assert again["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    assert again["loss"] == pytest.approx(run.metrics["test"]["loss"], rel=1e-5)
    with pytest.raises(RecipeError):
        hubtune.train(_recipe(tmp_path / "out"), ["train.lr=0"])


def test_cli_takes_overrides_after_options(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(tmp_path / "out")))
    hub = [sys.executable, "-m", "hubtune"]
    first = subprocess.run([*hub, "train", str(path), "train.epochs=1"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*hub, "train", str(path), "--overwrite", "train.epochs=2", "seed=3"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    saved = yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())
    assert saved["train"]["epochs"] == 2 and saved["seed"] == 3
    bad = subprocess.run([*hub, "recipes", "list", "train.epochs=1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "takes no key=value overrides" in bad.stderr
