"""The four steps of transfer learning across the hub: train on a source task, push, start the next
recipe from the pushed repo id, fine-tune on the target task (and push again from the recipe)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from hubtune.hub import pull, push
from hubtune.hub.card_merge import retarget
from hubtune.inference import predict


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_push_pull_identical_files_and_predictions(trained_text: Path, hub_server, tmp_path):
    push(trained_text, "me/tiny-text", hub=hub_server.url, token=hub_server.token)
    pulled = pull("me/tiny-text", to=tmp_path / "pulled", hub=hub_server.url, token=hub_server.token)
    pushed_files = {p.name for p in trained_text.iterdir() if p.is_file()}
    assert {"model.safetensors", "config.json", "README.md", "recipe.yaml", "hubtune.json"} <= pushed_files
    for name in pushed_files - {"README.md"}:
        assert sha256(pulled / name) == sha256(trained_text / name), name
    # the card is pushed retargeted: its "How to use" names this repo and this hub
    expected = retarget((trained_text / "README.md").read_text(), "me/tiny-text", hub_server.url)
    assert (pulled / "README.md").read_text() == expected != (trained_text / "README.md").read_text()
    assert not (pulled / "checkpoints").exists()
    texts = ["a gorgeous film", "a boring mess"]
    assert predict(pulled, texts, top_k=2) == predict(trained_text, texts, top_k=2)


def test_pushed_model_is_the_next_recipes_checkpoint(trained_vision: Path, hub_server, tmp_path, tiny_vision_recipe):
    push(trained_vision, "me/tiny-source", hub=hub_server.url, token=hub_server.token)
    out = tmp_path / "target"
    recipe = tiny_vision_recipe(out, backbone={"name": "me/tiny-source", "pretrained": True},
                                hub={"push": True, "repo_id": "me/tiny-target"},
                                train={"epochs": 1})
    # the target task trains on the other half of the images
    recipe["data"]["train"], recipe["data"]["validation"] = "val", "train"
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(recipe))
    proc = subprocess.run([sys.executable, "-m", "hubtune", "train", str(path)], env=hub_server.env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["backbone"]["name"] == "me/tiny-source"
    from huggingface_hub import HfApi

    files = {f.rfilename for f in HfApi(endpoint=hub_server.url, token=hub_server.token).model_info(
        "me/tiny-target").siblings}
    assert {"model.safetensors", "config.json", "README.md"} <= files
    source = load_file(str(trained_vision / "model.safetensors"))
    target = load_file(str(out / "model.safetensors"))
    assert source.keys() == target.keys()
    body = [k for k in source if not k.startswith("fc.") and "running" not in k and "num_batches" not in k]
    moved = max(float((source[k] - target[k]).abs().max()) for k in body)
    assert 0 < moved < 0.5, "fine-tuning should move the source backbone a little, not replace it"


@pytest.mark.parametrize("bad", ["../escape", "me/../x", "a/b/c"])
def test_bad_repo_ids_are_user_errors(bad, hub_server, trained_vision):
    from hubtune.errors import HubError

    with pytest.raises(HubError):
        push(trained_vision, bad, hub=hub_server.url, token=hub_server.token)


def test_unknown_repo_as_checkpoint_is_a_clear_error(hub_server, tmp_path, monkeypatch, tiny_vision_recipe, capsys):
    from hubtune.cli import main

    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    recipe = tiny_vision_recipe(tmp_path / "o", backbone={"name": "me/does-not-exist", "pretrained": True})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    capsys.readouterr()
    assert main(["train", str(path)]) == 2
    assert not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert "me/does-not-exist" in err and "not found" in err.lower(), err
    assert "Traceback" not in err
