"""Exact resume: SIGKILL a real training process, ``--resume``, and get bitwise the same weights.

The reference is an uninterrupted run of the same seeded, deterministic recipe on the CPU. What
must survive the kill: model, optimizer, scheduler, RNG states (dropout), the data-loader position
mid-epoch, the strategy phase and its schedule, early-stopping state and the best weights.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path

import pytest
from training_helpers import assert_bitwise_equal, hubtune_cmd, mlp_recipe, run_until_checkpoint, train_in_process

from hubtune.training.checkpoint import latest_checkpoint, list_checkpoints

TOTAL_STEPS = 30  # 3 epochs x 10 steps, a checkpoint every 2 steps
KILL_POINTS = sorted(random.Random(5).sample(range(2, 24, 2), 3))  # seeded: reproducible "random" steps


def _selection(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    rows = [{k: r[k] for k in ("epoch", "step", "loss", "accuracy")} for r in m["history"] if r.get("split")]
    return {"best_epoch": m["best_epoch"], "best_value": m["best_value"], "validation": rows}


def _kill_and_resume(tmp_path: Path, recipe: Path, out: Path, min_step: int) -> int:
    """SIGKILL a CLI run once checkpoint ``min_step`` exists, then resume it in-process; the kill step."""
    killed = run_until_checkpoint(hubtune_cmd("train", str(recipe)), out / "checkpoints", min_step,
                                  signal.SIGKILL, tmp_path)
    assert killed.signalled_at is not None, f"the run ended before step {min_step}:\n{killed.stderr[-2000:]}"
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "hubtune.json").exists()
    assert train_in_process(str(recipe), "--resume") == 0
    return killed.signalled_at


@pytest.mark.slow
@pytest.mark.parametrize("min_step", KILL_POINTS)
def test_sigkill_then_resume_is_bitwise_identical(tmp_path: Path, mlp_reference: Path, min_step: int) -> None:
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out)
    _kill_and_resume(tmp_path, recipe, out, min_step)
    assert_bitwise_equal(mlp_reference / "model.safetensors", out / "model.safetensors")
    assert _selection(out) == _selection(mlp_reference)  # early stopping / best-epoch state survived


@pytest.mark.slow
def test_sigkill_with_data_workers(tmp_path: Path, mlp_reference: Path) -> None:
    """Two loader workers: per-sample seeding and the epoch order do not depend on the workers."""
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out, data={"num_workers": 2})
    _kill_and_resume(tmp_path, recipe, out, 12)
    assert_bitwise_equal(mlp_reference / "model.safetensors", out / "model.safetensors")


@pytest.mark.slow
def test_sigkill_timm_with_augmentation(tmp_path: Path, tiny_vision_recipe) -> None:
    """A timm CNN (BatchNorm) on real images with random augmentation, killed mid-epoch."""
    import yaml

    def write(name: str) -> tuple[Path, Path]:
        out = tmp_path / name
        data = tiny_vision_recipe(out, data={"max_train_samples": 32, "max_eval_samples": 8, "image_size": 32},
                                  backbone={"name": "resnet10t"},
                                  train={"epochs": 2, "batch_size": 8, "checkpoint_every": 1, "keep_checkpoints": 8,
                                         "deterministic": True})
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path, out

    ref_recipe, ref = write("reference")
    assert train_in_process(str(ref_recipe)) == 0
    recipe, out = write("killed")
    _kill_and_resume(tmp_path, recipe, out, 2)
    assert_bitwise_equal(ref / "model.safetensors", out / "model.safetensors")


def test_resume_across_a_strategy_phase_keeps_the_schedule(tmp_path: Path) -> None:
    """lp_ft rebuilds optimizer + schedule at its switch; resuming after it must not rebuild them differently."""
    recipe = mlp_recipe(tmp_path, tmp_path / "full", strategy={"type": "lp_ft", "probe_epochs": 1},
                        train={"keep_checkpoints": 20})
    assert train_in_process(str(recipe)) == 0
    full = tmp_path / "full"
    mid_phase = full / "checkpoints" / "step-16"  # epoch 1 (fine-tune phase), mid-epoch
    assert mid_phase.exists()
    copy = tmp_path / "resumed"
    shutil.copytree(mid_phase, copy / "checkpoints" / "step-16")
    assert train_in_process(str(recipe), f"output_dir={copy}", "--resume") == 0
    assert_bitwise_equal(full / "model.safetensors", copy / "model.safetensors")


def test_checkpoints_rotate_and_ignore_half_written_ones(tmp_path: Path, mlp_reference: Path) -> None:
    steps = [p.name for p in list_checkpoints(mlp_reference / "checkpoints")]
    assert steps == ["step-28", "step-30"]  # keep_checkpoints: 2
    folder = tmp_path / "checkpoints"
    shutil.copytree(mlp_reference / "checkpoints" / "step-28", folder / "step-28")
    shutil.copytree(mlp_reference / "checkpoints" / "step-30", folder / ".tmp-step-32")  # a save cut short
    (folder / "step-34").mkdir()  # no state file: incomplete
    assert latest_checkpoint(folder) == folder / "step-28"


def test_resume_from_a_missing_checkpoint_is_a_user_error(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out)
    assert train_in_process(str(recipe), "--resume", str(tmp_path / "nope")) == 2
    assert "not a complete hubtune checkpoint" in capsys.readouterr().err
