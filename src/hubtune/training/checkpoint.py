"""Training checkpoints: Accelerate ``save_state`` plus hubtune's own state, written atomically.

A checkpoint is a folder ``checkpoints/step-<N>`` made under a temporary name and renamed
into place when complete, so a crash never leaves a half checkpoint that resume would read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hubtune.errors import CheckpointError

STATE_FILE = "hubtune_state.json"
_STEP = re.compile(r"^step-(\d+)$")


@dataclass
class TrainState:
    """Where training stands: restored exactly on resume."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    schedule_start: int = 0  # global step at which the current optimizer and schedule were built
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    strategy: dict[str, Any] = field(default_factory=dict)
    objective: dict[str, Any] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=dict)  # the DP accountant (hubtune.training.privacy)
    finished: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP.match(p.name)) and (p / STATE_FILE).exists()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(accelerator: Any, folder: Path, state: TrainState, keep: int) -> Path | None:
    """Save model/optimizer/scheduler/scaler/RNG plus ``state``; keep the newest ``keep``."""
    target = folder / f"step-{state.global_step}"
    tmp = folder / f".tmp-step-{state.global_step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (tmp / STATE_FILE).write_text(json.dumps(asdict(state), default=float))
    except BaseException:  # e.g. disk full: drop the partial folder, keep the earlier checkpoints
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if accelerator.is_main_process:
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


def read_state(path: Path) -> TrainState:
    """The :class:`TrainState` saved in checkpoint ``path``."""
    if not (path / STATE_FILE).exists():
        raise CheckpointError(f"{path} is not a complete hubtune checkpoint (no {STATE_FILE}); pass another --resume")
    try:
        return TrainState.from_dict(json.loads((path / STATE_FILE).read_text()))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path / STATE_FILE} is corrupt: {e}") from None


def load_checkpoint(accelerator: Any, path: Path) -> None:
    """Restore model, optimizer, scheduler, scaler and RNG states saved by :func:`save_checkpoint`."""
    from accelerate.utils import load as weights_only_load

    rng = path / f"random_states_{accelerator.process_index}.pkl"
    try:
        if rng.exists():  # Accelerate skips RNG states it cannot load with only a log line: check first
            weights_only_load(rng)
        accelerator.load_state(str(path))
    except Exception as e:
        raise CheckpointError(f"cannot restore checkpoint {path}: {type(e).__name__}: {str(e)[:300]} (is it complete "
                              "and written by hubtune? pickles that run code are refused)") from None


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint; ``exit_code`` 130/143."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        self.exit_code = 128 + signum
        self.checkpoint = checkpoint
        super().__init__(f"stopped by signal {signum}; checkpoint saved at {checkpoint} (resume with --resume)")
