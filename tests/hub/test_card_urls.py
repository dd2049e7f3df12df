"""Every URL hubtune prints opens a page, and the pushed card's "How to use" names the real repo and hub."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from hubtune.hub.card_merge import retarget
from hubtune.run import train
from hubtune.validation import recipe_from_dict
from tiny_recipes import TINY_MLP


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("urls") / "out"
    recipe = {**TINY_MLP, "output_dir": str(out), "data": {**TINY_MLP["data"], "validation": "train"},
              "hub": {"repo_id": "someone/planned-name"}}
    train(recipe_from_dict(recipe))
    return out


def test_card_written_at_training_names_the_recipe_repo(trained: Path) -> None:
    card = (trained / "README.md").read_text()
    assert "<!-- hubtune:repo someone/planned-name -->" in card


def test_retarget_names_the_pushed_repo_and_a_non_hf_hub(trained: Path) -> None:
    card = (trained / "README.md").read_text()
    on_hf = retarget(card, "me/real", "https://huggingface.co")
    assert "someone/planned-name" not in on_hf and "me/real" in on_hf and "This model lives" not in on_hf
    mine = retarget(card, "me/real", "http://hub.example:8765")
    assert "export HF_ENDPOINT=http://hub.example:8765" in mine and "http://hub.example:8765/me/real" in mine
    assert retarget(mine, "me/real", "http://hub.example:8765").count("This model lives") == 1  # idempotent


def test_push_prints_a_commit_url_that_opens_and_the_card_names_this_hub(trained: Path, hub_server) -> None:
    push = subprocess.run([sys.executable, "-m", "hubtune", "push", str(trained), "alice/urls", "--hub", hub_server.url],
                          env={**hub_server.env, "HF_TOKEN": hub_server.users["alice"]}, capture_output=True,
                          text=True, timeout=300)
    assert push.returncode == 0, push.stderr
    url = push.stdout.strip().split(": ")[-1]
    assert url.startswith(f"{hub_server.url}/alice/urls/commit/")
    with urllib.request.urlopen(url, timeout=30) as page:
        assert page.status == 200 and "text/html" in page.headers["content-type"]
    with urllib.request.urlopen(f"{hub_server.url}/alice/urls/resolve/main/README.md", timeout=30) as f:
        card = f.read().decode()
    assert "hf-hub:alice/urls" in card or "alice/urls" in card.split("## How to use")[1]
    assert f"export HF_ENDPOINT={hub_server.url}" in card
    assert "someone/planned-name" not in card
    with urllib.request.urlopen(f"{hub_server.url}/alice/urls", timeout=30) as page:  # the repo page exists too
        assert page.status == 200
