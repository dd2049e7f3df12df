"""The logged training loss is the mean of the batch losses since the previous log, across epoch ends too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import mlp_recipe, train_in_process

from hubtune.training.trainer import Trainer


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_logged_loss_averages_the_batches_summed(tmp_path: Path, monkeypatch, grad_accum: int) -> None:
    """7 batches an epoch, a log every 3 steps: logs straddle the epoch end (and with accumulation,
    each step sums two micro-batches); each logged loss must be the mean of exactly its batches."""
    seen: list[tuple[int, float]] = []  # (optimizer steps done before the batch, its loss)
    original = Trainer._loss

    def spy(self: Trainer, batch: dict) -> object:
        loss = original(self, batch)
        seen.append((self.state.global_step, float(loss.detach())))
        return loss

    monkeypatch.setattr(Trainer, "_loss", spy)
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out, data={"max_train_samples": 56},
                        train={"epochs": 2, "batch_size": 8, "log_every": 3, "grad_accum": grad_accum,
                               "checkpoint_every": None})
    assert train_in_process(str(recipe)) == 0
    rows = [r for r in json.loads((out / "metrics.json").read_text())["history"] if "train_loss" in r]
    steps_per_epoch = -(-7 // grad_accum)
    assert [r["step"] for r in rows] == list(range(3, 2 * steps_per_epoch + 1, 3))
    assert len(seen) == 14
    previous = 0
    for row in rows:
        window = [loss for step, loss in seen if previous <= step < row["step"]]
        assert len(window) >= 3
        assert row["train_loss"] == pytest.approx(sum(window) / len(window), rel=1e-5), row
        previous = row["step"]
