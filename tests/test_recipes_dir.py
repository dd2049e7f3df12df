"""Every shipped recipe validates (recursive glob), and the recipes CLI works."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubtune.cli import main
from hubtune.recipes_cli import is_recipe
from hubtune.validation import load_recipe

ROOT = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(
    p for p in ROOT.rglob("*.y*ml") if is_recipe(p.relative_to(ROOT)) and "base" not in p.relative_to(ROOT).parts
)


def test_recipes_list_names_every_shipped_recipe(capsys):
    """``hubtune recipes list`` and ``recipes validate`` find the recipes this file's own glob finds, no more, no less."""
    assert main(["recipes", "list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert listed == {str(p.relative_to(ROOT).with_suffix("")) for p in RECIPES}
    assert main(["recipes", "validate", str(ROOT)]) == 0
    assert f"{len(RECIPES)} valid, 0 invalid" in capsys.readouterr().out


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_validates(path: Path, data_root):
    """Base fragments in recipes/base are validated through the recipes that extend them."""
    load_recipe(path)


def test_cli_validate_list_show(capsys, data_root):
    assert main(["recipes", "validate", str(ROOT)]) == 0
    assert "0 invalid" in capsys.readouterr().out
    assert main(["recipes", "list"]) == 0
    assert "vision/hymenoptera" in capsys.readouterr().out
    assert main(["recipes", "show", "seeds/mlp-digits-target"]) == 0
    assert "label_map" in capsys.readouterr().out


def test_cli_validate_reports_bad_recipe_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("backbone: {name: resnet18}\ndata: {format: digits}\ntrain: {epohcs: 1}\n")
    assert main(["recipes", "validate", str(bad)]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().out
