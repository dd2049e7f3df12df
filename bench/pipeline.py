"""The input pipeline: real JPEG decoding + timm augmentation through hubtune's data path.

Hymenoptera's training JPEGs are copied round-robin into ``bench/data/jpeg-<n>/train/<class>/``
(git-ignored), then ``hubtune.data.build_data`` (imagefolder → timm train transforms via
``with_transform``) feeds hubtune's Trainer with ``data.num_workers`` DataLoader workers.
Two numbers: the loader alone (images/s delivered to the device, no model) and the
end-to-end training rate, to compare with the same run on synthetic tensors.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

from bench.common import Result, peak_memory_mib, reset_peak_memory, sync
from bench.hubtune_engine import LoopSettings, build_trainer, steady_rate
from bench.workloads import DATA, Workload

MARKER = ".complete"


def replicate_jpegs(count: int, root: Path = DATA) -> Path:
    """``count`` JPEG files (copies of hymenoptera/train) in an image folder; reused when present."""
    from hubtune.shared_data import shared_data

    out = root / f"jpeg-{count}"
    if (out / MARKER).exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    classes = [sorted(d.glob("*.jpg")) for d in sorted(shared_data("hymenoptera", "train").iterdir()) if d.is_dir()]
    source = [f for group in zip(*classes, strict=False) for f in group]  # alternate the classes
    for i in range(count):
        src = source[i % len(source)]
        dest = out / "train" / src.parent.name / f"{i:06d}_{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    (out / MARKER).write_text(str(count))
    return out


def build_jpeg_trainer(w: Workload, s: LoopSettings, folder: Path, out: Path, device: torch.device) -> object:
    """hubtune's Trainer on the JPEG folder, data built exactly as ``hubtune train`` builds it."""
    from bench.hubtune_engine import recipe_dict
    from hubtune.backbones import build_backbone
    from hubtune.data import build_data
    from hubtune.heads import HEADS
    from hubtune.validation import recipe_from_dict

    recipe = recipe_from_dict(recipe_dict(w, s, out, str(folder)))
    backbone = build_backbone(recipe.backbone)
    data = build_data(recipe.data, backbone.preprocessing, HEADS.get("classification"), seed=0, splits=("train",))
    return build_trainer(w, s, data, out, device, backbone=backbone, data_path=str(folder))


def loader_rate(trainer: object, warmup: int, steps: int, device: torch.device) -> float:
    """Images/s the prepared train loader delivers onto the device, without a model."""
    batches = iter(trainer.train_loader)  # type: ignore[attr-defined]
    for _ in range(warmup):
        next(batches)
    sync(device)
    t0, seen = time.perf_counter(), 0
    for _ in range(steps):
        seen += next(batches)["pixel_values"].shape[0]
    sync(device)
    return seen / (time.perf_counter() - t0)


def run_pipeline(w: Workload, s: LoopSettings, device: torch.device, files: int) -> list[Result]:
    """``pipeline_loader`` (no model) and ``hubtune_jpeg`` (end to end) results for ``w``."""
    folder = replicate_jpegs(files)
    reset_peak_memory(device)
    notes = {"files": files, "num_workers": s.num_workers, "decode": "PIL (CPU)", "folder": str(folder)}
    with tempfile.TemporaryDirectory(prefix="hubtune-bench-jpeg-") as tmp:
        trainer = build_jpeg_trainer(w, s, folder, Path(tmp), device)
        loader = loader_rate(trainer, s.steps, s.steps * s.windows, device)
        trainer.fit()  # type: ignore[attr-defined]
        rate = steady_rate(trainer.state.history, s.warmup_windows)  # type: ignore[attr-defined]
    peak = peak_memory_mib(device)
    return [
        Result(w.name, "pipeline_loader", w.batch_size, loader, 1000 * w.batch_size / loader, None,
               s.steps * s.windows, None, notes),
        Result(w.name, "hubtune_jpeg", w.batch_size, rate, 1000 * w.batch_size / rate, peak, s.steps * s.windows,
               None, {**notes, "precision": s.precision, "compile": s.compile, "channels_last": s.channels_last}),
    ]


def files_needed(s: LoopSettings, batch_size: int, validation_share: float = 0.1) -> int:
    """Enough files for the loader pass and the whole run inside one epoch (after a validation carve)."""
    return int(s.total_steps * batch_size / (1 - validation_share)) + batch_size
