"""``hubtune export OUTPUT --format onnx [--quantize int8]``: ONNX files that match the PyTorch model, and a report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hubtune.compact import export_compact
from hubtune.compact.onnx_export import session
from hubtune.errors import CheckpointError, ExportError
from hubtune.export import load_exported

pytestmark = pytest.mark.slow


def _recount_int8(folder: Path, report: dict, n: int) -> None:
    """Recount agreement and accuracy of the int8 model on the same rows, independently of the report."""
    from hubtune.data import build_data
    from hubtune.validation import load_recipe

    model = load_exported(folder).eval()
    recipe = load_recipe(folder / "recipe.yaml", [f"data.max_eval_samples={n}"])
    data = build_data(recipe.data, model.preprocessing, model.head_spec, seed=recipe.seed,
                      splits=("train", "validation"), train_transforms=False)
    sess = session(folder / "onnx" / "model.int8.onnx")
    refs, gots, labels = [], [], []
    for start in range(0, len(data.validation), 32):  # the report's batches (int8 activations scale per batch)
        batch = data.collate_fn([data.validation[i] for i in range(start, min(start + 32, len(data.validation)))])
        with torch.no_grad():
            refs.append(model({k: v for k, v in batch.items() if k != "labels"}).numpy())
        gots.append(sess.run(["logits"], {i.name: batch[i.name].numpy() for i in sess.get_inputs()})[0])
        labels.append(batch["labels"].numpy())
    ref, got = np.concatenate(refs), np.concatenate(gots)
    batch = {"labels": torch.from_numpy(np.concatenate(labels))}
    row = report["models"]["onnx-int8"]
    assert row["agreement"] == pytest.approx(float((got.argmax(-1) == ref.argmax(-1)).mean()))
    assert row["accuracy"] == pytest.approx(float((got.argmax(-1) == batch["labels"].numpy()).mean()))
    assert row["max_abs_logit_diff"] == pytest.approx(float(np.abs(got - ref).max()), rel=1e-3, abs=1e-6)


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / folder.name
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("checkpoints", "runs"))
    return out


def test_text_model_to_onnx_and_int8(trained_text: Path, tmp_path: Path):
    folder = _copy(trained_text, tmp_path)
    report = export_compact(folder, "onnx", "int8", max_samples=48, latency_examples=4, repeats=1)
    onnx_dir = folder / "onnx"
    assert {p.name for p in onnx_dir.iterdir()} == {"model.onnx", "model.int8.onnx", "compact.json", "compact.md"}
    assert json.loads((onnx_dir / "compact.json").read_text()) == report

    # the ONNX graph on inputs of another batch size and length than the export example
    model = load_exported(folder).eval()
    tok = model.preprocessing.tokenizer
    enc = tok(["an utterly charming and moving film", "bad", "the plot , such as it is , drags on and on"],
              padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(dict(enc)).numpy()
    sess = session(onnx_dir / "model.onnx")
    got = sess.run(["logits"], {i.name: enc[i.name].numpy() for i in sess.get_inputs()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)

    fp32, int8 = report["models"]["onnx"], report["models"]["onnx-int8"]
    assert report["examples"] == 48 and fp32["examples"] == 48
    assert fp32["max_abs_logit_diff"] < 1e-4 and fp32["agreement"] == 1.0
    assert fp32["accuracy"] == report["models"]["pytorch"]["accuracy"]
    assert int8["size_mb"] < 0.5 * fp32["size_mb"]  # weights stored as int8
    assert 0 < int8["max_abs_logit_diff"] < 1.0
    assert all(r["latency_ms"] > 0 for r in report["models"].values())
    card = (folder / "README.md").read_text()
    assert "## Compact export (ONNX)" in card and "`model.int8.onnx`" in card

    _recount_int8(folder, report, 48)
    export_compact(folder, "onnx", None, max_samples=8, latency_examples=2, repeats=1)  # again: replaced, not added
    card = (folder / "README.md").read_text()
    assert card.count("## Compact export (ONNX)") == 1 and "`model.int8.onnx`" not in card
    assert not (folder / "onnx" / "model.int8.onnx").exists() and not (folder / ".onnx-tmp").exists()


def test_timm_model_through_the_cli(trained_vision: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    from hubtune.cli import main

    folder = _copy(trained_vision, tmp_path)
    assert main(["export", str(folder), "--format", "onnx", "--quantize", "int8", "--max-samples", "16",
                 "--latency-examples", "2"]) == 0
    assert "| onnx-int8 | `model.int8.onnx` |" in capsys.readouterr().out
    model = load_exported(folder).eval()
    sess = session(folder / "onnx" / "model.onnx")
    _, *chw = sess.get_inputs()[0].shape  # batch is dynamic; the image size is the recipe's (64)
    assert chw == [3, 64, 64]
    pixels = torch.randn(3, *chw, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model({"pixel_values": pixels}).numpy()
    got = sess.run(["logits"], {"pixel_values": pixels.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert json.loads((folder / "onnx" / "compact.json").read_text())["models"]["onnx"]["agreement"] == 1.0


def test_bad_exports_fail_clearly_and_write_nothing(trained_text: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture):
    from hubtune.cli import main

    assert main(["export", str(tmp_path)]) == 2
    assert "no hubtune.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path), "--format", "tflite"])
    assert exit_.value.code == 2
    folder = _copy(trained_text, tmp_path)
    with pytest.raises(ExportError, match="--quantize 'int4'"):
        export_compact(folder, "onnx", "int4")
    (folder / "recipe.yaml").unlink()
    with pytest.raises(CheckpointError, match=r"no recipe\.yaml"):
        export_compact(folder)
    assert not (folder / "onnx").exists() and not (folder / ".onnx-tmp").exists()
