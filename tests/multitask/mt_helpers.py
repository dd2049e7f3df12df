"""Multi-task recipes for the tests: a seeded MLP on two digit tasks (mechanics), a tiny BERT on SST-2 + Amazon books."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from training_helpers import mlp_recipe_data

from hubtune.recipe_yaml import deep_merge
from hubtune.shared_data import shared_data

PARITY = {str(d): ("even" if d % 2 == 0 else "odd") for d in range(10)}


def digits_task(name: str, n: int, **extra: Any) -> dict[str, Any]:
    data = {"format": "digits", "train": "train", "validation": None, "validation_size": 0.1,
            "max_train_samples": n, "max_eval_samples": 48, "num_workers": 0, **extra}
    return {"name": name, "data": data}


def mlp_tasks_recipe(output_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Two tasks on one MLP backbone over scikit-learn's 8x8 digits: the digit (10 classes) and its parity."""
    # the single-task MLP recipe of the training tests, its data and head replaced by two tasks
    recipe = {k: v for k, v in mlp_recipe_data(output_dir, train={"batch_size": 16}).items()
              if k not in ("head", "data")}
    recipe.update(name="mt-mechanics", eval={"metrics": ["accuracy"]},
                  tasks=[digits_task("digit", 192), {**digits_task("parity", 96, label_map=PARITY), "weight": 0.5}],
                  multitask={"sampling": "temperature", "temperature": 2.0})
    return deep_merge(recipe, overrides)


def write_recipe(folder: Path, recipe: dict[str, Any], name: str | None = None) -> Path:
    path = folder / f"{name or Path(recipe['output_dir']).name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def text_tasks_recipe(output_dir: Path, bert_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The tiny BERT on SST-2 (dev for validation) and Amazon books (validation carved, seeded)."""
    sst2, books = shared_data("sst2"), shared_data("amazon") / "books.jsonl"
    recipe = {
        "name": "tiny-tasks",
        "output_dir": str(output_dir),
        "seed": 0,
        "backbone": {"source": "transformers", "name": str(bert_dir)},
        "tasks": [
            {"name": "sst2", "data": {
                "format": "tsv", "train": {"path": str(sst2 / "train.tsv"), "columns": {"text": "sentence"}},
                "validation": {"path": str(sst2 / "dev.tsv"), "columns": {"text": "content"}},
                "max_train_samples": 64, "max_eval_samples": 32, "max_length": 32, "num_workers": 0}},
            {"name": "books", "data": {
                "format": "jsonl", "path": str(books), "train": "train", "validation": None, "validation_size": 0.2,
                "columns": {"text": "text", "label": "label"}, "max_train_samples": 32, "max_eval_samples": 32,
                "max_length": 32, "num_workers": 0}, "metrics": ["accuracy", "f1", "precision"]},
        ],
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "trackers": [], "log_every": 2},
        "eval": {"metrics": ["accuracy", "f1"]},
    }
    return deep_merge(recipe, overrides)
