"""hubtune's own training loop, timed in-process: ``hubtune.training.trainer.Trainer.fit``.

The run is the real one (Accelerate prepare, autocast, accumulate, clipping, scheduler,
fused AdamW (CUDA and CPU), ``train.compile`` / ``train.channels_last``), on a ``max_steps`` budget
with no validation split, so no evaluation runs. Timing comes from the trainer's own log
windows (``train.log_every`` steps each, ended by a host sync): the first ``warmup_windows``
windows (compilation, allocator warmup, loader start) are dropped, the median of the rest kept.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.common import Result, peak_memory_mib, reset_peak_memory
from bench.workloads import Workload, backbone_config
from hubtune.data import DataBundle


@dataclass
class LoopSettings:
    """How hubtune trains during the benchmark (the recipe's ``train`` section)."""

    precision: str  # "bf16" | "no"
    compile: bool
    channels_last: bool
    steps: int  # steps per measured window (= train.log_every)
    windows: int = 2  # measured windows
    warmup_windows: int = 1
    num_workers: int = 0
    non_blocking: bool = False  # Accelerate's DataLoaderConfiguration(non_blocking=...)

    @property
    def total_steps(self) -> int:
        return self.steps * (self.windows + self.warmup_windows)


def fresh_accelerator_state() -> None:
    """Forget Accelerate's process-wide state, so the next Accelerator may use other settings."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def recipe_dict(w: Workload, s: LoopSettings, output_dir: Path, data_path: str | None = None) -> dict[str, Any]:
    """The recipe of a benchmark run; ``data_path`` (an image folder) only matters to the pipeline bench."""
    data = {"format": "imagefolder", "path": data_path} if data_path else {"format": "digits"}  # digits: a stand-in
    return {
        "name": f"bench-{w.name}", "output_dir": str(output_dir), "seed": 0,
        "backbone": backbone_config(w), "head": {"type": "classification"}, "strategy": {"type": "full"},
        "data": {**data, "num_workers": s.num_workers, "image_size": w.image_size if w.kind == "vision" else None,
                 "max_length": w.seq_len},
        "train": {"epochs": 1, "max_steps": s.total_steps, "batch_size": w.batch_size, "optimizer": "adamw",
                  "lr": 1e-4, "warmup": 0, "scheduler": "cosine", "precision": s.precision, "compile": s.compile,
                  "channels_last": s.channels_last, "log_every": s.steps, "keep_checkpoints": 1, "trackers": []},
        "eval": {"metrics": ["accuracy"], "keep_best": False, "confusion_matrix": False},
    }


def build_trainer(w: Workload, s: LoopSettings, data: DataBundle, output_dir: Path,
                  device: torch.device, backbone: Any = None, data_path: str | None = None) -> Any:
    """A hubtune ``Trainer`` for the workload on ``data`` (built as ``hubtune.run.train`` does)."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    from hubtune.backbones import build_backbone
    from hubtune.heads import HEADS
    from hubtune.model import TransferModel
    from hubtune.strategies import build_strategy
    from hubtune.training.trainer import Trainer
    from hubtune.validation import recipe_from_dict

    recipe = recipe_from_dict(recipe_dict(w, s, output_dir, data_path))
    backbone = backbone or build_backbone(recipe.backbone)
    model = TransferModel(backbone, HEADS.get("classification"), data.num_labels, data.labels, recipe.head)
    fresh_accelerator_state()
    accelerator = Accelerator(mixed_precision=s.precision, cpu=device.type == "cpu",
                              dataloader_config=DataLoaderConfiguration(non_blocking=s.non_blocking))
    return Trainer(recipe, model, build_strategy("full", {}), data, accelerator, output_dir)


def steady_rate(history: list[dict[str, Any]], warmup_windows: int) -> float:
    """Median samples/s of the log windows after the warmup ones."""
    rates = [row["samples_per_s"] for row in history if "samples_per_s" in row]
    kept = rates[warmup_windows:] or rates[-1:]
    if not kept:
        raise RuntimeError("the trainer logged no training window; raise --steps or max_steps")
    return statistics.median(kept)


def run_hubtune(w: Workload, s: LoopSettings, device: torch.device, data: DataBundle,
                engine: str = "hubtune", flops: float | None = None) -> Result:
    """Train ``s.total_steps`` steps of ``w`` on ``data`` with hubtune's Trainer; the steady state."""
    from bench.common import mfu

    reset_peak_memory(device)
    with tempfile.TemporaryDirectory(prefix="hubtune-bench-") as tmp:
        trainer = build_trainer(w, s, data, Path(tmp), device)
        trainer.fit()
        rate = steady_rate(trainer.state.history, s.warmup_windows)
        opt = trainer.optimizer.optimizer
        optim = f"{type(opt).__name__.lower()} {'fused' if opt.defaults.get('fused') else 'foreach'}"
        del trainer
    peak = peak_memory_mib(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    notes = {"optim": optim, "scheduler": "cosine", "precision": s.precision, "compile": s.compile,
             "channels_last": s.channels_last, "max_grad_norm": 1.0, "data": "fixed batch via DataLoader",
             "non_blocking": s.non_blocking, "num_workers": s.num_workers, "windows": s.windows,
             "steps_per_window": s.steps}
    return Result(w.name, engine, w.batch_size, rate, 1000 * w.batch_size / rate, peak, s.steps * s.windows,
                  mfu(flops, rate, device), notes)
