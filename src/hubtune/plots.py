"""PNG plots for runs and model cards: confusion matrix and training curves.

Matplotlib's object API with the Agg canvas (no display, no pyplot global state); files
are written atomically.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hubtune.atomic import atomic_write_with

_EVAL_KEYS = {"epoch", "step", "split", "loss"}
_MAX_ANNOTATED = 30


def _save(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    FigureCanvasAgg(fig)
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    return Path(path)


def save_confusion_matrix(
    path: str | os.PathLike[str],
    references: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    label_names: Sequence[str] | None = None,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Counts per (true, predicted) class, shaded by the share of each true class."""
    refs, preds = np.asarray(references, dtype=np.int64).ravel(), np.asarray(predictions, dtype=np.int64).ravel()
    n = len(label_names) if label_names else int(max(refs.max(initial=0), preds.max(initial=0))) + 1
    names = list(label_names) if label_names else [str(i) for i in range(n)]
    if refs.shape != preds.shape:
        raise ValueError(f"{len(refs)} references but {len(preds)} predictions")
    if refs.size and (min(refs.min(), preds.min()) < 0 or max(refs.max(), preds.max()) >= n):
        raise ValueError(f"class ids must lie in 0..{n - 1} for {n} label names")
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (refs, preds), 1)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = min(max(4.0, 0.45 * n + 2.0), 30.0)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ticks = np.arange(n)
    ax.set_xticks(ticks, names if n <= 60 else [""] * n, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(ticks, names if n <= 60 else [""] * n)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if n <= _MAX_ANNOTATED:
        for i in range(n):
            for j in range(n):
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    return _save(fig, path)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _split_history(history: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, list]]]:
    """Train rows, and per eval quantity ``{split: [(epoch, value), ...]}``."""
    train = [row for row in history if "split" not in row and _finite(row.get("train_loss"))]
    evals: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in history:
        if "split" not in row or not _finite(row.get("epoch")):
            continue
        for key, value in row.items():
            if (key == "loss" or key not in _EVAL_KEYS) and _finite(value):
                evals[key][str(row["split"])].append((row["epoch"], value))
    ordered = {"loss": evals.pop("loss")} if "loss" in evals else {}
    return train, {**ordered, **dict(sorted(evals.items()))}


def save_training_curves(path: str | os.PathLike[str], history: Sequence[dict[str, Any]]) -> Path:
    """Train loss (and learning rate) per step; eval loss and each eval metric per epoch, one line per split."""
    train, evals = _split_history(history)
    panels = (1 if train else 0) + len(evals)
    cols = min(3, max(panels, 1))
    rows = max(1, math.ceil(panels / cols))
    fig = Figure(figsize=(4.5 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_axis_off()
    if not panels:
        axes[0].text(0.5, 0.5, "no training history", ha="center", va="center")
        return _save(fig, path)
    index = 0
    if train:
        _plot_train(axes[0], train)
        index = 1
    for (name, by_split), ax in zip(evals.items(), axes[index:], strict=False):
        for split, points in sorted(by_split.items(), key=lambda kv: (kv[0] != "validation", kv[0])):
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, label=split)
        ax.set(xlabel="epoch", ylabel=name, title=f"eval {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _plot_train(ax: Any, rows: list[dict[str, Any]]) -> None:
    steps = [row.get("step", i) for i, row in enumerate(rows)]
    ax.plot(steps, [row["train_loss"] for row in rows], color="tab:blue", linewidth=1.2, label="train loss")
    ax.set(xlabel="step", ylabel="train loss", title="training loss")
    ax.grid(alpha=0.3)
    lrs = [(s, row["lr"]) for s, row in zip(steps, rows, strict=True) if _finite(row.get("lr"))]
    if lrs:
        twin = ax.twinx()
        twin.plot(*zip(*lrs, strict=True), color="tab:orange", linestyle="--", linewidth=1.0, label="lr")
        twin.set_ylabel("learning rate", color="tab:orange")
        twin.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
