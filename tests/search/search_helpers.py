"""Helpers of the search tests: the scikit-learn digits MLP of ``tests/tiny_recipes.py``, real processes."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna

from hubtune.recipe_yaml import deep_merge
from tiny_recipes import TINY_MLP

REPO = Path(__file__).resolve().parents[2]


def digits_recipe(out: Path, search: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    """TINY_MLP with enough rows and steps for the learning rate to matter (~8 s a trial, most of it imports)."""
    data = deep_merge(copy.deepcopy(TINY_MLP), {
        "name": "tiny-search", "output_dir": str(out),
        "data": {"max_train_samples": 384, "max_eval_samples": 64},
        "train": {"epochs": 2, "batch_size": 32, "lr": 1.0e-6},
    })
    data = deep_merge(data, changes)
    if search is not None:
        data["search"] = search
    return data


def hubtune(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hubtune", *args], env=env, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 300), cwd=REPO, **kwargs)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hubtune", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)


def trials(out: Path, name: str = "tiny-search", storage: str | None = None) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=storage or f"sqlite:///{out / 'study.db'}")
    return study.get_trials(deepcopy=False)


def states(found: list[optuna.trial.FrozenTrial]) -> list[str]:
    return [t.state.name for t in found]
