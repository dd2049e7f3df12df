"""SIGINT / SIGTERM: the trainer saves a checkpoint, exits 130 / 143, and ``--resume`` continues exactly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from training_helpers import assert_bitwise_equal, hubtune_cmd, mlp_recipe, run_until_checkpoint, train_in_process

from hubtune.training.checkpoint import latest_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_checkpoint_and_resume_completes(tmp_path: Path, mlp_reference: Path, sig: int,
                                                        code: int) -> None:
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out)
    stopped = run_until_checkpoint(hubtune_cmd("train", str(recipe)), out / "checkpoints", 6, sig, tmp_path)
    assert stopped.signalled_at is not None, stopped.stderr[-2000:]
    assert stopped.returncode == code, stopped.stderr[-2000:]
    assert "checkpoint saved at" in stopped.stderr and "--resume" in stopped.stderr
    saved = latest_checkpoint(out / "checkpoints")
    assert saved is not None and int(saved.name.split("-")[1]) >= stopped.signalled_at
    assert not (out / "hubtune.json").exists()
    assert train_in_process(str(recipe), "--resume") == 0
    assert_bitwise_equal(mlp_reference / "model.safetensors", out / "model.safetensors")
