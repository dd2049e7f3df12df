"""A corpus of bad inputs: each one exits with 2, names the problem and the fix, and writes nothing.

Every case builds its inputs under ``tmp_path`` and runs ``hubtune.cli.main`` in-process. After it,
the output folder must not exist (or, when it existed before, be byte-for-byte unchanged), and
nothing else may appear next to it.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from hubtune.cli import main
from tiny_recipes import TINY_MLP

MLP = TINY_MLP


@dataclass
class Ctx:
    """What a case may use: a scratch folder, the output folder, and recipe writers."""

    tmp: Path
    out: Path
    vision: Callable[..., dict]
    text: Callable[..., dict]

    def write(self, data: dict | str, name: str = "recipe.yaml") -> str:
        path = self.tmp / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return str(path)

    def mlp(self, **overrides) -> str:
        from hubtune.recipe_yaml import deep_merge

        return self.write(deep_merge({**MLP, "output_dir": str(self.out)}, overrides))

    def images(self, layout: dict[str, dict[str, int]]) -> Path:
        """An imagefolder: ``{split: {label: count}}`` of tiny real PNGs."""
        root = self.tmp / "images"
        for split, labels in layout.items():
            (root / split).mkdir(parents=True, exist_ok=True)
            for label, n in labels.items():
                (root / split / label).mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    Image.new("RGB", (16, 16), (40 * i % 255, 80, 120)).save(root / split / label / f"{i}.png")
        return root

    def vision_on(self, root: Path, **data) -> str:
        return self.write(self.vision(self.out, data={"path": str(root), "max_train_samples": None,
                                                      "max_eval_samples": None, **data}))

    def csv(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def text_on(self, train: Path, validation: Path | None = None, text: str = "text") -> str:
        cols = {"text": text}
        d = {"format": "csv", "train": {"path": str(train), "columns": cols},
             "validation": {"path": str(validation), "columns": cols} if validation else None}
        return self.write(self.text(self.out, data=d))


Case = Callable[[Ctx], tuple[list[str], tuple[str, ...]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def add(fn: Case) -> Case:
        CASES[name] = fn
        return fn
    return add


# --------------------------------------------------------------------------- recipe files
@case("recipe file missing")
def _(c: Ctx):
    return ["train", str(c.tmp / "nope.yaml")], ("recipe file not found", "nope.yaml")


@case("malformed yaml")
def _(c: Ctx):
    return ["train", c.write("name: x\nbackbone: {source: timm\ndata: [\n")], ("malformed YAML", "line")


@case("yaml is not a mapping")
def _(c: Ctx):
    return ["train", c.write("- a\n- b\n")], ("must be a YAML mapping",)


@case("extends itself (cycle)")
def _(c: Ctx):
    return ["train", c.write("extends: recipe.yaml\nname: x\n")], ("extends: cycle", "remove one of the extends")


@case("extends a missing file")
def _(c: Ctx):
    return ["train", c.write("extends: base/none.yaml\nname: x\n")], ("recipe file not found", "none.yaml")


@case("unset environment variable")
def _(c: Ctx):
    return ["train", c.mlp(name="${HUBTUNE_SURELY_UNSET_VAR}")], ("HUBTUNE_SURELY_UNSET_VAR is not set", ":-default")


@case("override not key=value")
def _(c: Ctx):
    return ["train", c.mlp(), "train.lr"], ("is not key=value", "train.lr=3e-4")


# --------------------------------------------------------------------------- keys, types, ranges
@case("unknown key with suggestion")
def _(c: Ctx):
    return ["train", c.mlp(train={"epohcs": 2})], ("train.epohcs: unknown key", "did you mean 'epochs'")


@case("unknown top-level key")
def _(c: Ctx):
    return ["train", c.mlp(optimiser="adam")], ("optimiser: unknown key", "known keys here")


@case("missing required backbone")
def _(c: Ctx):
    return ["train", c.write({k: v for k, v in {**MLP, "output_dir": str(c.out)}.items() if k != "backbone"})], (
        "backbone: required key is missing",)


@case("wrong type: lr is text")
def _(c: Ctx):
    return ["train", c.mlp(), "train.lr=fast"], ("train.lr", "valid number", "'fast'")


@case("wrong type: batch size is a list")
def _(c: Ctx):
    return ["train", c.mlp(), "train.batch_size=[8]"], ("train.batch_size", "valid integer")


@case("out of range: epochs 0")
def _(c: Ctx):
    return ["train", c.mlp(), "train.epochs=0"], ("train.epochs", "greater than or equal to 1")


@case("out of range: dropout 1.5")
def _(c: Ctx):
    return ["train", c.mlp(), "head.dropout=1.5"], ("head.dropout", "less than 1")


@case("bad choice: optimizer")
def _(c: Ctx):
    return ["train", c.mlp(), "train.optimizer=adamx"], ("train.optimizer", "'adamw'")


@case("bad choice: data format")
def _(c: Ctx):
    return ["train", c.mlp(), "data.format=xlsx"], ("data.format", "'imagefolder'")


@case("push without repo id")
def _(c: Ctx):
    return ["train", c.mlp(), "hub.push=true"], ("hub.repo_id is missing", "set hub.repo_id")


# --------------------------------------------------------------------------- registry names
@case("unknown head")
def _(c: Ctx):
    return ["train", c.mlp(), "head.type=clasification"], ("head.type", "classification", "regression")


@case("unknown strategy")
def _(c: Ctx):
    return ["train", c.mlp(), "strategy.type=fulll"], ("strategy", "fulll", "linear_probe")


@case("unknown metric")
def _(c: Ctx):
    return ["train", c.mlp(), "eval.metrics=[acuracy]"], ("eval.metrics", "acuracy", "accuracy")


@case("best metric not computed")
def _(c: Ctx):
    return ["train", c.mlp(), "eval.best_metric=f1"], ("eval.best_metric", "not in eval.metrics")


@case("token classification on timm")
def _(c: Ctx):
    return ["train", c.write(c.vision(c.out, head={"type": "token_classification"}))], (
        "token_classification needs a transformers", "backbone.source: transformers")


# --------------------------------------------------------------------------- data
@case("missing dataset path")
def _(c: Ctx):
    return ["train", c.write(c.vision(c.out, data={"path": str(c.tmp / "no-such-data")}))], (
        "data.path", "does not exist")


@case("missing label column")
def _(c: Ctx):
    train = c.csv("train.csv", "text,verdict\ngood film,pos\nbad film,neg\n")
    return ["train", c.text_on(train)], ("label", "verdict", "data.columns")


@case("misnamed column mapping")
def _(c: Ctx):
    train = c.csv("train.csv", "sentence,label\ngood film,pos\nbad film,neg\n")
    return ["train", c.text_on(train, text="review")], ("review", "sentence")


@case("validation labels training lacks")
def _(c: Ctx):
    train = c.csv("train.csv", "text,label\ngood,pos\nbad,neg\nfine,pos\n")
    val = c.csv("val.csv", "text,label\ngood,pos\nmeh,neutral\n")
    return ["train", c.text_on(train, val)], ("neutral", "training set lacks")


@case("empty split")
def _(c: Ctx):
    train = c.csv("train.csv", "text,label\n")
    return ["train", c.text_on(train)], ("split is empty", "point it at rows")


@case("corrupt image with on_bad_image: error")
def _(c: Ctx):
    root = c.images({"train": {"ants": 3, "bees": 3}, "val": {"ants": 1, "bees": 1}})
    (root / "train" / "ants" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return ["train", c.vision_on(root, on_bad_image="error")], ("unreadable image", "broken.png", "on_bad_image: skip")


@case("num_labels disagrees with the data")
def _(c: Ctx):
    return ["train", c.mlp(), "head.num_labels=3"], ("head.num_labels is 3", "10 label", "remove head.num_labels")


# --------------------------------------------------------------------------- weights and checkpoints
@case("weights file missing")
def _(c: Ctx):
    return ["train", c.mlp(), f"backbone.weights={c.tmp / 'w.safetensors'}"], ("weights file not found",
                                                                                "backbone.weights")


@case("truncated safetensors")
def _(c: Ctx):
    from safetensors.torch import save_file

    path = c.tmp / "w.safetensors"
    save_file({"1.weight": torch.zeros(16, 64), "1.bias": torch.zeros(16)}, str(path))
    path.write_bytes(path.read_bytes()[:200])
    return ["train", c.mlp(), f"backbone.weights={path}"], ("cannot load weights", "is the file complete")


@case("corrupt .pth")
def _(c: Ctx):
    path = c.tmp / "w.pth"
    path.write_bytes(os.urandom(300))
    return ["train", c.mlp(), f"backbone.weights={path}"], ("cannot load weights", "plain state dict")


@case("unsupported weights format")
def _(c: Ctx):
    path = c.tmp / "w.npz"
    path.write_bytes(b"x")
    return ["train", c.mlp(), f"backbone.weights={path}"], ("unsupported weights format", ".safetensors")


@case("checkpoint shapes do not match")
def _(c: Ctx):
    from safetensors.torch import save_file

    path = c.tmp / "w.safetensors"
    save_file({"1.weight": torch.zeros(16, 100), "1.bias": torch.zeros(16)}, str(path))
    return ["train", c.mlp(), f"backbone.weights={path}"], ("shape(s) do not match", "right architecture")


@case("custom factory cannot be imported")
def _(c: Ctx):
    return ["train", c.mlp(), "backbone.name=no_such_module_xyz:mlp"], ("cannot import", "no_such_module_xyz")


@case("hub repo that does not exist")
def _(c: Ctx):
    return ["train", c.write(c.vision(c.out, backbone={"name": "nobody-xyz/does-not-exist", "pretrained": True}))], (
        "nobody-xyz/does-not-exist", "failed", "HF_HUB_OFFLINE=0")


@case("resume from a path that is not a checkpoint")
def _(c: Ctx):
    (c.tmp / "not-a-ckpt").mkdir()
    return ["train", c.mlp(), "--resume", str(c.tmp / "not-a-ckpt")], ("not a complete hubtune checkpoint",
                                                                         "pass another --resume")


# --------------------------------------------------------------------------- output folder
@case("existing output folder")
def _(c: Ctx):
    c.out.mkdir(parents=True)
    (c.out / "keep.txt").write_text("previous run")
    return ["train", c.mlp()], ("already exists", "--overwrite", "--resume")


@case("output folder under a file")
def _(c: Ctx):
    blocker = c.tmp / "a-file"
    blocker.write_text("x")
    c.out = blocker / "out"
    return ["train", c.mlp()], ("not a folder", "output_dir")


@case("unwritable output folder")
def _(c: Ctx):
    # root ignores permission bits: the test simulates a read-only parent through os.access
    return ["train", c.mlp()], ("not writable", "choose another output_dir")


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))} if root.exists() else {}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, capsys, monkeypatch, tiny_vision_recipe, tiny_text_recipe) -> None:
    monkeypatch.setenv("HUBTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    ctx = Ctx(tmp_path / "inputs", tmp_path / "runs" / "out", tiny_vision_recipe, tiny_text_recipe)
    ctx.tmp.mkdir()
    argv, fragments = CASES[name](ctx)
    if name == "unwritable output folder":
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
            False if str(path).startswith(str(tmp_path)) else real_access(path, mode, **kw)))
    before = _snapshot(ctx.out.parent)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in: {err}"
    assert _snapshot(ctx.out.parent) == before  # no output folder, nothing half written


# --------------------------------------------------------------------------- disk full
def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, capsys, monkeypatch) -> None:
    """The 2nd checkpoint's write fails with ENOSPC: exit 2 with a clear message; checkpoint 1 intact."""
    import accelerate.utils.other as acc_other
    from safetensors.torch import load_file

    from hubtune.training.checkpoint import latest_checkpoint, list_checkpoints, read_state

    out = tmp_path / "out"
    ctx = Ctx(tmp_path, out, lambda *a, **k: {}, lambda *a, **k: {})
    recipe = ctx.mlp(train={"epochs": 2, "batch_size": 16, "checkpoint_every": 2})
    real, calls = acc_other.safe_save_file, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(acc_other, "safe_save_file", flaky)
    assert main(["train", recipe]) == 2
    err = capsys.readouterr().err
    assert "disk is full" in err and "free some space" in err and "--resume" in err
    kept = list_checkpoints(out / "checkpoints")
    assert [p.name for p in kept] == ["step-2"]
    assert read_state(kept[0]).global_step == 2
    load_file(str(kept[0] / "model.safetensors"))  # complete and readable
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    assert not (out / "hubtune.json").exists()

    monkeypatch.setattr(acc_other, "safe_save_file", real)  # space freed: resume from step 2
    assert main(["train", recipe, "--resume"]) == 0
    assert latest_checkpoint(out / "checkpoints") is not None and (out / "hubtune.json").exists()
