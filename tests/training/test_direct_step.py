"""The direct step (one process, no accumulation, no loss scaler: Accelerate's per-step wrappers skipped)
trains the same weights, bit for bit, as the Accelerate-wrapped step; with accumulation the wrapped step runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import assert_bitwise_equal, mlp_recipe, train_in_process

from hubtune.training.trainer import Trainer


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_direct_step_trains_the_same_weights(tmp_path: Path, monkeypatch, grad_accum: int) -> None:
    chosen: list[bool] = []
    original = Trainer._direct_step

    def spy(self: Trainer) -> bool:
        chosen.append(original(self))
        return chosen[-1]

    outs = {}
    for name, direct in (("direct", spy), ("wrapped", lambda self: False)):
        monkeypatch.setattr(Trainer, "_direct_step", direct)
        out = outs[name] = tmp_path / name
        # clipping at a norm the gradients exceed, so the clip really scales them
        recipe = mlp_recipe(tmp_path, out, train={"epochs": 2, "grad_accum": grad_accum, "max_grad_norm": 0.05})
        assert train_in_process(str(recipe)) == 0
    assert chosen and set(chosen) == {grad_accum == 1}
    assert_bitwise_equal(outs["direct"] / "model.safetensors", outs["wrapped"] / "model.safetensors")
    losses = [[r["train_loss"] for r in json.loads((outs[n] / "metrics.json").read_text())["history"]
               if "train_loss" in r] for n in ("direct", "wrapped")]
    assert losses[0] and losses[0] == losses[1]
