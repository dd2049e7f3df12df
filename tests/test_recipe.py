from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hubtune.errors import RecipeError
from hubtune.recipe_yaml import parse_overrides
from hubtune.validation import load_recipe, recipe_from_dict

MINIMAL = {"backbone": {"source": "custom", "name": "hubtune.backbones.small:mlp"}, "data": {"format": "digits"}}


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_and_types():
    r = recipe_from_dict(MINIMAL)
    assert r.train.epochs == 3 and r.strategy.type == "full" and r.head.type == "classification"
    assert r.data.format == "digits"


def test_all_problems_reported_at_once_with_paths_and_suggestions():
    bad = {
        "backbone": {"source": "timm", "name": "resnet18", "sorce": "x"},
        "head": {"type": "clasification"},
        "strategy": {"type": "linear_probe", "freze_bn": True},
        "data": {"format": "imagefolder", "path": "/definitely/not/here"},
        "train": {"lr": -1, "epohcs": 2, "optimizer": "adamx"},
        "eval": {"metrics": ["acuracy"]},
    }
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(bad)
    text = str(info.value)
    for needle in [
        "backbone.sorce: unknown key; did you mean 'source'?",
        "train.epohcs: unknown key; did you mean 'epochs'?",
        "train.lr:",
        "train.optimizer:",
        "head.type: unknown head 'clasification'. Did you mean 'classification'?",
        "strategy.freze_bn: unknown option for strategy 'linear_probe'; did you mean 'freeze_bn'?",
        "data.path: /definitely/not/here does not exist",
        "eval.metrics:",
    ]:
        assert needle in text, f"{needle!r} missing from:\n{text}"
    assert len(info.value.problems) >= 8


def test_missing_required_key():
    with pytest.raises(RecipeError, match="backbone: required key is missing"):
        recipe_from_dict({"data": {"format": "digits"}})


def test_extends_merges_relative_to_file_and_overrides(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", "b.yaml", {**MINIMAL, "train": {"lr": 0.1, "epochs": 5}})
    child = write(tmp_path, "c.yaml", {"extends": "base/b.yaml", "train": {"epochs": 2}})
    r = load_recipe(child, ["train.lr=3e-4", "head.dropout=0.5", "data.columns.label=y"])
    assert r.train.epochs == 2 and r.train.lr == pytest.approx(3e-4) and r.head.dropout == 0.5
    assert r.data.columns == {"label": "y"}


def test_extends_cycle_is_an_error(tmp_path):
    write(tmp_path, "a.yaml", {"extends": "b.yaml", **MINIMAL})
    write(tmp_path, "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")
    write(tmp_path, "self.yaml", {"extends": "self.yaml"})
    with pytest.raises(RecipeError, match=re.escape("cycle self.yaml -> self.yaml")):
        load_recipe(tmp_path / "self.yaml")


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("backbone:\n  name: [unclosed\n")
    with pytest.raises(RecipeError, match="malformed YAML at line"):
        load_recipe(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        load_recipe(tmp_path / "list.yaml")


def test_env_interpolation(monkeypatch):
    monkeypatch.setenv("HT_TEST_DIR", "/tmp")
    r = recipe_from_dict({**MINIMAL, "output_dir": "${HT_TEST_DIR}/x", "name": "${HT_UNSET_VAR:-dflt}"})
    assert r.output_dir == "/tmp/x" and r.name == "dflt"
    with pytest.raises(RecipeError, match="HT_UNSET_VAR is not set"):
        recipe_from_dict({**MINIMAL, "name": "${HT_UNSET_VAR}"})


def test_bad_overrides():
    with pytest.raises(RecipeError, match="not key=value"):
        parse_overrides(["train.lr"])
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d=text"]) == {"a": {"b": 1, "c": [1, 2]}, "d": "text"}


def test_push_needs_repo_id():
    with pytest.raises(RecipeError, match=re.escape("hub.repo_id is missing")):
        recipe_from_dict({**MINIMAL, "hub": {"push": True}})


def test_incompatible_combinations():
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "backbone": {"source": "transformers", "name": "x"}, "head": {"hidden": [64]}})
    assert "head.hidden" in str(info.value)
    with pytest.raises(RecipeError, match="token_classification needs a transformers"):
        recipe_from_dict({**MINIMAL, "head": {"type": "token_classification"}})
    with pytest.raises(RecipeError, match="peft adapts timm and transformers backbones, not custom"):
        recipe_from_dict({**MINIMAL, "strategy": {"type": "peft"}})


def test_round_trip_yaml():
    r = recipe_from_dict(MINIMAL)
    again = recipe_from_dict(yaml.safe_load(r.to_yaml()))
    assert again == r
