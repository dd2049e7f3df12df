"""A multi-task output folder (or pulled repo) read back: the whole model, or one task of it.

Each ``tasks/<name>/`` folder is an ordinary single-task output, so evaluating or predicting one task
is :mod:`hubtune.inference` on that folder; :func:`load` rebuilds the :class:`MultiTaskModel` from the
task folders (architecture, heads, labels) with one shared backbone and loads the run's
``model.safetensors`` (backbone once, every head) into it, strictly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubtune.errors import CheckpointError, DataError
from hubtune.export import META_FILE


def is_multitask(folder: str | Path) -> bool:
    """Whether ``folder`` holds a multi-task run (read from ``hubtune.json``; no weights loaded)."""
    meta = Path(folder) / META_FILE
    return meta.is_file() and json.loads(meta.read_text()).get("format") == "multitask"


def tasks_of(folder: Path) -> list[dict[str, Any]]:
    meta = folder / META_FILE
    if not meta.is_file():
        raise CheckpointError(f"{folder} has no {META_FILE}: is it a hubtune output folder (finished run)?")
    data = json.loads(meta.read_text())
    if data.get("format") != "multitask":
        raise CheckpointError(f"{folder} holds a single-task model, not a multi-task one: drop --task")
    return data["tasks"]


def task_folder(folder: str | Path, task: str) -> Path:
    """The native single-task folder of ``task`` inside a multi-task output."""
    folder = Path(folder)
    tasks = {t["name"]: t for t in tasks_of(folder)}
    if task not in tasks:
        raise DataError(f"--task {task!r}: {folder} has the tasks {', '.join(tasks)}")
    return folder / tasks[task]["folder"]


def load(folder: str | Path) -> Any:
    """The :class:`~hubtune.multitask.model.MultiTaskModel` saved in ``folder`` (eval mode, CPU)."""
    from safetensors.torch import load_file

    from hubtune.export import load_exported
    from hubtune.multitask.model import MultiTaskModel, share_backbone

    folder = Path(folder)
    tasks = tasks_of(folder)
    views = [load_exported(folder / t["folder"]) for t in tasks]
    shared = views[0].backbone_module()
    for view in views[1:]:  # one backbone: the run's model.safetensors holds it once
        share_backbone(view, shared)
    model = MultiTaskModel([t["name"] for t in tasks], views)
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"{folder}/model.safetensors does not match its tasks: {str(e)[:300]}") from None
    return model.eval()


def evaluate_output(folder: str | Path, split: str, overrides: list[str] | None = None,
                    task: str | None = None) -> dict[str, float]:
    """One task's metrics on ``split`` (``task``), or every task's as ``<task>/<metric>``."""
    from hubtune.inference import evaluate_output as evaluate_one

    if task is not None:
        return evaluate_one(task_folder(folder, task), split, overrides)
    out: dict[str, float] = {}
    for t in tasks_of(Path(folder)):
        out.update({f"{t['name']}/{k}": v for k, v in evaluate_one(Path(folder) / t["folder"], split, overrides).items()})
    return out


def predict(folder: str | Path, inputs: list[str], top_k: int = 1, task: str | None = None) -> list[list[tuple[str, float]]]:
    """``task``'s top-k labels for each input."""
    from hubtune.inference import predict as predict_one

    if task is None:
        names = ", ".join(t["name"] for t in tasks_of(Path(folder)))
        raise DataError(f"{folder} is a multi-task model: pass --task (task=) with one of {names}")
    return predict_one(task_folder(folder, task), inputs, top_k=top_k)
