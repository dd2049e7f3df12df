"""Fixtures of the search tests: a recipe writer and an environment for real ``hubtune`` processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from search_helpers import REPO


@pytest.fixture
def write_recipe(tmp_path: Path) -> Any:
    def write(data: dict[str, Any], name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def search_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN")}
    env.update(HF_HUB_OFFLINE="1", HUBTUNE_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]))
    return env
