"""Compact export of a finished output folder: ONNX (and int8) with a parity, latency and size report.

``hubtune export OUTPUT_DIR --format onnx [--quantize int8]`` (or :func:`export_compact`) writes
``OUTPUT_DIR/onnx/``: ``model.onnx`` (``torch.onnx``'s dynamo exporter, dynamic batch and sequence
axes), ``model.int8.onnx`` (onnxruntime dynamic quantization), ``compact.json`` and ``compact.md``
(max |Δlogit| and agreement against the PyTorch model on the validation split, accuracy, CPU latency
per example, file sizes), and puts the same table into the model card. The folder is built under a
temporary name and renamed into place. Works for timm, transformers and custom outputs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from hubtune.atomic import atomic_write_json, atomic_write_text
from hubtune.errors import CheckpointError, ExportError

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
CARD_BEGIN, CARD_END = "<!-- hubtune:compact:begin -->", "<!-- hubtune:compact:end -->"


def export_compact(folder: str | Path, fmt: str = "onnx", quantize: str | None = None, *, split: str | None = None,
                   max_samples: int = 1000, latency_examples: int = 50, repeats: int = 3) -> dict[str, Any]:
    """Export ``folder``'s model; returns the report (also in ``folder/onnx/compact.json``)."""
    folder = Path(folder)
    recipe = _check(folder, fmt, quantize)
    from hubtune.export import load_exported

    model = load_exported(folder).eval()
    data, target, split = _eval_data(recipe, model, split, max_samples)
    staging = folder / ".onnx-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        report = _build(model, data, target, split, staging, quantize, latency_examples, repeats)
        _replace(staging, folder / "onnx")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_card(folder / "README.md", report)
    return report


def _check(folder: Path, fmt: str, quantize: str | None) -> Any:
    """Everything that can be wrong, before any weight loads; the folder's validated recipe."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not supported; use one of: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize {quantize!r} is not supported; use one of: {', '.join(QUANTIZATIONS)}")
    if not (folder / "hubtune.json").is_file():
        raise CheckpointError(f"{folder} has no hubtune.json: give a finished hubtune output folder (or a pulled repo)")
    if not (folder / "recipe.yaml").is_file():
        raise CheckpointError(f"{folder} has no recipe.yaml, so there is no validation data for the parity check")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ExportError(f"ONNX export needs {e.name}: pip install onnx onnxruntime onnxscript") from None
    import yaml

    from hubtune.validation import recipe_from_dict

    return recipe_from_dict(yaml.safe_load((folder / "recipe.yaml").read_text()), source=str(folder / "recipe.yaml"))


def _eval_data(recipe: Any, model: Any, split: str | None, max_samples: int) -> tuple[Any, Any, str]:
    from hubtune.data import build_data

    wanted = split or "validation"  # a recipe without one carves it out of train, as training did
    cfg = recipe.data.model_copy(update={"max_eval_samples": max_samples, "num_workers": 0})
    data = build_data(cfg, model.preprocessing, model.head_spec, seed=recipe.seed, splits=("train", wanted),
                      train_transforms=False)
    target = {"validation": data.validation, "test": data.test, "train": data.train}.get(wanted)
    if target is None or len(target) == 0:
        raise ExportError(f"split {wanted!r} is not available for the parity check: pass --split test (or train)")
    return data, target, wanted


def _build(model: Any, data: Any, target: Any, split: str, out: Path, quantize: str | None,
           latency_examples: int, repeats: int) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    from hubtune.compact import parity
    from hubtune.compact.onnx_export import export_onnx, quantize_int8, session

    example = data.collate_fn([target[i] for i in range(min(2, len(target)))])
    names = export_onnx(model, example, out / "model.onnx")
    files = {"pytorch": _native_weights(out.parent), "onnx": out / "model.onnx"}
    runners = {"pytorch": parity.torch_runner(model), "onnx": parity.onnx_runner(session(out / "model.onnx"), names)}
    if quantize == "int8":
        quantize_int8(out / "model.onnx", out / "model.int8.onnx")
        files["onnx-int8"] = out / "model.int8.onnx"
        runners["onnx-int8"] = parity.onnx_runner(session(out / "model.int8.onnx"), names)
    classify = model.head_spec.problem_type == "single_label_classification"
    loader = DataLoader(target, batch_size=32, collate_fn=data.collate_fn)
    tallies = parity.compare(runners, loader, classify)
    singles = [data.collate_fn([target[i]]) for i in range(min(latency_examples, len(target)))]
    parity.latency(runners, singles, tallies, repeats)
    report = {"format": "onnx", "quantize": quantize, "split": split, "examples": len(target), "inputs": names,
              "threads": 1, "latency_examples": len(singles), "repeats": repeats,
              "models": parity.summary(tallies, files, labelled=classify)}
    atomic_write_json(out / "compact.json", report)
    atomic_write_text(out / "compact.md", "# Compact export\n\n" + parity.markdown(report))
    return report


def _native_weights(folder: Path) -> Path:
    found = sorted(folder.glob("*.safetensors"))
    if not found:
        raise CheckpointError(f"{folder} has no .safetensors weights")
    return found[0]


def _replace(staging: Path, final: Path) -> None:
    """Move the finished ``staging`` folder to ``final`` (an older export is removed only after)."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _write_card(card: Path, report: dict[str, Any]) -> None:
    """Put the table into the model card between its own markers (replacing an earlier one)."""
    from hubtune.compact.parity import markdown

    files = ", ".join(f"`onnx/{r['file']}`" for name, r in report["models"].items() if name != "pytorch")
    section = (f"{CARD_BEGIN}\n## Compact export (ONNX)\n\nFiles: {files} (run with onnxruntime; inputs: "
               f"{', '.join(report['inputs'])}).\n\n{markdown(report)}{CARD_END}\n")
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    pattern = re.compile(re.escape(CARD_BEGIN) + r".*?" + re.escape(CARD_END) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    atomic_write_text(card, text)


def load_report(folder: str | Path) -> dict[str, Any]:
    """The ``compact.json`` of an exported folder."""
    return json.loads((Path(folder) / "onnx" / "compact.json").read_text())
