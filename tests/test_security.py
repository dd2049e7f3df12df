"""Security: no unpickling of untrusted files, no token in any output, trust_remote_code off by default."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from hubtune.cli import main
from hubtune.recipe_yaml import deep_merge
from tiny_recipes import TINY_MLP

MLP = deep_merge(TINY_MLP, {"train": {"checkpoint_every": 1}})


class Evil:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _recipe(tmp_path: Path, out: Path, **overrides) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(deep_merge({**MLP, "output_dir": str(out)}, overrides)))
    return str(path)


@pytest.mark.parametrize("suffix", [".pth", ".bin"])
def test_malicious_weights_pickle_is_refused(tmp_path: Path, capsys, suffix: str) -> None:
    marker, evil = tmp_path / "pwned", tmp_path / f"evil{suffix}"
    if suffix == ".pth":
        torch.save({"1.weight": Evil(marker)}, evil)  # torch's zip format
    else:
        evil.write_bytes(pickle.dumps({"1.weight": Evil(marker)}))  # a bare pickle
    out = tmp_path / "out"
    assert main(["train", _recipe(tmp_path, out), f"backbone.weights={evil}"]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "cannot load weights" in err and "pickles that run code are refused" in err
    assert not out.exists()


def test_malicious_checkpoint_is_refused_on_resume(tmp_path: Path, capsys) -> None:
    """``--resume PATH`` reads Accelerate's pickled states with ``weights_only=True``: no code runs."""
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, out)
    assert main(["train", recipe]) == 0
    ckpt = sorted((out / "checkpoints").glob("step-*"))[-1]
    marker = tmp_path / "pwned"
    torch.save([Evil(marker)], ckpt / "random_states_0.pkl")
    capsys.readouterr()
    assert main(["train", recipe, "--resume", str(ckpt)]) == 2
    assert not marker.exists()
    assert "cannot restore checkpoint" in capsys.readouterr().err


def test_no_token_in_any_output(tmp_path: Path, capfd, monkeypatch) -> None:
    token = "hf_" + "Zq7RgT2kLm9XwVb4NcPa8YdHs3Uf6Je1Ko"
    monkeypatch.setenv("HF_TOKEN", token)
    out = tmp_path / "out"
    # nasty: the token also reaches the recipe through environment interpolation
    recipe = _recipe(tmp_path, out, description="made with ${HF_TOKEN}",
                     train={"trackers": ["tensorboard"], "log_every": 1},
                     hub={"message": "upload ${HF_TOKEN}", "repo_id": "me/security"})
    assert main(["--verbose", "train", recipe]) == 0
    printed = capfd.readouterr()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any("runs" in p.parts for p in files), "expected tensorboard logs to scan"
    assert any(p.parent.name.startswith("step-") for p in files), "expected checkpoints to scan"
    leaks = [str(p.relative_to(out)) for p in files if token.encode() in p.read_bytes()]
    assert not leaks, f"token found in {leaks}"
    assert token not in printed.out and token not in printed.err


def test_trust_remote_code_is_off_unless_asked_and_the_card_says_so(tmp_path: Path, tiny_text_recipe) -> None:
    from hubtune.validation import recipe_from_dict

    assert recipe_from_dict(tiny_text_recipe(tmp_path / "x")).backbone.trust_remote_code is False
    path = tmp_path / "remote.yaml"
    path.write_text(yaml.safe_dump(tiny_text_recipe(tmp_path / "on", backbone={"trust_remote_code": True},
                                                    data={"max_train_samples": 16, "max_eval_samples": 16})))
    assert main(["train", str(path)]) == 0
    card = (tmp_path / "on" / "README.md").read_text()
    assert "trust_remote_code=True" in card and "only if you trust it" in card
    saved = yaml.safe_load((tmp_path / "on" / "recipe.yaml").read_text())
    assert saved["backbone"]["trust_remote_code"] is True


def test_secret_env_values_and_token_columns_in_the_saved_recipe(tmp_path: Path, monkeypatch) -> None:
    """A secret in any env var is masked in recipe.yaml; fields named like tokens are not."""
    monkeypatch.setenv("MY_API_KEY", "key-Zq7RgT2kLm9XwVb4")
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, out, description="made with ${MY_API_KEY}", hub={"message": "up ${MY_API_KEY}",
                                                                                "repo_id": "me/x"})
    assert main(["train", recipe]) == 0
    saved_text = (out / "recipe.yaml").read_text()
    saved = yaml.safe_load(saved_text)
    assert "key-Zq7RgT2kLm9XwVb4" not in saved_text
    assert saved["description"] == "made with ***" and saved["hub"]["message"] == "up ***"
    assert saved["train"] == yaml.safe_load(yaml.safe_dump(MLP["train"])) | saved["train"]
