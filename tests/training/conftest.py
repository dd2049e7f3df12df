"""Fixtures of the training mechanics tests (helpers live in ``training_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import mlp_recipe, train_in_process


@pytest.fixture(scope="session")
def mlp_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of :func:`mlp_recipe` (the output folder), run in-process once."""
    base = tmp_path_factory.mktemp("mlp-reference")
    recipe = mlp_recipe(base, base / "out")
    assert train_in_process(str(recipe)) == 0
    return base / "out"

