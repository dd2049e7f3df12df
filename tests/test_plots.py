"""Plots are valid PNG files of a sane size, written atomically."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from hubtune.plots import save_confusion_matrix, save_training_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _no_temp_files(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_confusion_matrix_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 3, 50)
    out = save_confusion_matrix(tmp_path / "cm.png", refs, refs[::-1], ["ants", "bees", "wasps"])
    width, height = _png_size(out)
    assert 200 < width < 4000 and 200 < height < 4000
    assert 5_000 < out.stat().st_size < 2_000_000
    _no_temp_files(tmp_path)


def test_confusion_matrix_many_classes_and_bad_ids(tmp_path: Path) -> None:
    refs = np.arange(100) % 80
    width, height = _png_size(save_confusion_matrix(tmp_path / "big.png", refs, refs, [f"c{i}" for i in range(80)]))
    assert width < 5000 and height < 5000
    with pytest.raises(ValueError, match="class ids"):
        save_confusion_matrix(tmp_path / "bad.png", [0, 3], [0, 1], ["a", "b"])


def test_training_curves_png(tmp_path: Path) -> None:
    history: list[dict] = []
    for epoch in range(3):
        for step in range(epoch * 10, epoch * 10 + 10):
            history.append(
                {"step": step, "epoch": step / 10, "train_loss": 2.0 / (step + 1), "lr": 1e-3 * (1 - step / 30)}
            )
        for split in ("validation", "test"):
            history.append(
                {
                    "epoch": epoch + 1,
                    "split": split,
                    "loss": 1.0 / (epoch + 1),
                    "accuracy": 0.5 + 0.1 * epoch,
                    "f1": 0.4 + 0.1 * epoch,
                }
            )
    out = save_training_curves(tmp_path / "curves.png", history)
    width, height = _png_size(out)
    assert width > 600 and 200 < height < 3000  # three panels side by side
    _no_temp_files(tmp_path)


def test_training_curves_edge_cases(tmp_path: Path) -> None:
    _png_size(save_training_curves(tmp_path / "empty.png", []))
    only_train = [{"step": i, "epoch": 0.0, "train_loss": float(i)} for i in range(5)]
    _png_size(save_training_curves(tmp_path / "train.png", only_train))
    only_eval = [{"epoch": 1, "split": "validation", "loss": float("nan"), "mse": 0.3}]
    _png_size(save_training_curves(tmp_path / "eval.png", only_eval))
