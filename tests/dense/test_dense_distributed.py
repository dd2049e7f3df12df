"""Dense heads under a real 2-process ``accelerate launch`` (CPU, gloo): the run finishes, writes its artifacts once,
and its validation metrics, gathered across the two processes over an uneven split (padding samples dropped),
equal what a single-process ``hubtune eval`` of the saved model computes on the same split."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dense_tables import seg_data, seg_table

import hubtune

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(recipe: str, out: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "recipes" / "accelerate" / "cpu_2proc.yaml"), "--num_processes", "2",
           "--main_process_port", str(_free_port()), "-m", "hubtune", "train", str(REPO / recipe),
           f"output_dir={out}", "train.epochs=1", "train.batch_size=2", "train.eval_batch_size=2",
           "data.num_workers=0", "seed=0", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=420,
                          env={**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                               "PYTHONPATH": str(REPO / "src")})


def _check(done: subprocess.CompletedProcess, out: Path, keys: tuple[str, ...]) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("artifacts:") == 1  # only the main process exports and reports
    assert [p.name for p in out.glob(".export-tmp*")] == []
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["processes"] == 2
    val = saved["metrics"]["validation"]
    again = hubtune.evaluate(out, split="validation")  # one process, no padding
    for key in keys:
        assert val[key] == pytest.approx(again[key], abs=1e-5), key
    return val


def test_segmentation_two_processes_from_a_table_metrics_equal_single_process_eval(data_root, tmp_path):
    """From a parquet table of real CamVid pairs (image + mask columns)."""
    seg_table(data_root, tmp_path / "table", "train", 6)
    seg_table(data_root, tmp_path / "table", "validation", 5)
    out = tmp_path / "seg"
    # 5 validation images in batches of 2 over 2 ranks: 3 batches, 4 slots per step, one padded sample
    data = [f"data.{k}={json.dumps(v)}" for k, v in seg_data(tmp_path / "table").items()]
    done = _launch("recipes/segmentation/camvid.yaml", out, *data)
    val = _check(done, out, ("miou", "pixel_accuracy", "loss", "iou_sky", "iou_road"))
    assert 0.0 < val["pixel_accuracy"] < 1.0
    assert json.loads((out / "config.json").read_text())["classes"] == 11  # smp's layout


def test_detection_two_processes_metrics_equal_single_process_eval(data_root, tmp_path):
    out = tmp_path / "det"
    # enough steps (48 images, 2 epochs) for boxes that score: an all-zero mAP would prove nothing
    done = _launch("recipes/detection/raccoon.yaml", out, "data.image_size=128", "data.max_train_samples=48",
                   "data.max_eval_samples=5", "train.epochs=2", "train.batch_size=4")
    val = _check(done, out, ("map", "map_50", "map_75", "ap_raccoon"))
    assert val["map_50"] > 0.0
