"""Multi-task training mechanics on a seeded MLP (two digit tasks): exact resume, and 2 processes = 1 process.

Both compare weights with an uninterrupted single-process run of the same recipe: a resumed run must draw
the same task at every step (the schedule is a function of seed, epoch and step) and the same examples;
two processes must train the same task at the same step (else DDP would average gradients of different
heads, or wait for gradients that never come).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mt_helpers import mlp_tasks_recipe, write_recipe
from training_helpers import (
    REPO,
    assert_bitwise_equal,
    cli_env,
    free_port,
    hubtune_cmd,
    run_until_checkpoint,
    train_in_process,
    weights,
)


def _validation(out: Path) -> list[dict]:
    doc = json.loads((out / "metrics.json").read_text())
    return [r for r in doc["history"] if r.get("split")]


@pytest.mark.slow
def test_sigkill_then_resume_reproduces_the_uninterrupted_run(tmp_path: Path, data_root) -> None:
    recipe = {"train": {"epochs": 2}}
    reference = write_recipe(tmp_path, mlp_tasks_recipe(tmp_path / "reference", **recipe))
    assert train_in_process(str(reference)) == 0
    out = tmp_path / "killed"
    path = write_recipe(tmp_path, mlp_tasks_recipe(out, **recipe))
    killed = run_until_checkpoint(hubtune_cmd("train", str(path)), out / "checkpoints", 8, signal.SIGKILL, tmp_path)
    assert killed.signalled_at is not None and killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    steps_per_epoch = json.loads((tmp_path / "reference" / "metrics.json").read_text())["sampling"]["steps_per_epoch"]
    assert killed.signalled_at % steps_per_epoch != 0  # killed mid-epoch
    assert not (out / "hubtune.json").exists()
    assert train_in_process(str(path), "--resume") == 0
    assert_bitwise_equal(tmp_path / "reference" / "model.safetensors", out / "model.safetensors")
    for task in ("digit", "parity"):
        assert_bitwise_equal(tmp_path / "reference" / "tasks" / task / "model.safetensors",
                             out / "tasks" / task / "model.safetensors")
    assert _validation(out) == _validation(tmp_path / "reference")


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path: Path, data_root) -> None:
    """1 process x 16 vs ``accelerate launch`` of 2 processes x 8: the same global batches, the same weights."""
    def recipe(name: str, batch_size: int) -> Path:
        return write_recipe(tmp_path, mlp_tasks_recipe(
            tmp_path / name, backbone={"kwargs": {"dropout": 0.0}}, eval={"keep_best": False},
            train={"epochs": 2, "checkpoint_every": None, "batch_size": batch_size}))

    one, two = recipe("one", 16), recipe("two", 8)
    assert train_in_process(str(one)) == 0
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "recipes" / "accelerate" / "cpu_2proc.yaml"), "--num_processes", "2",
           "--main_process_port", str(free_port()), "-m", "hubtune", "train", str(two)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(ACCELERATE_USE_CPU="true"), cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("artifacts:") == 1  # only the main process writes
    w1, w2 = weights(tmp_path / "one" / "model.safetensors"), weights(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys() and any(k.startswith("heads.parity.") for k in w1)
    diff = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5, rtol=0) for k in w1), diff
    m1, m2 = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("one", "two"))
    assert m2["processes"] == 2 and m1["processes"] == 1
    assert m2["sampling"]["steps_per_epoch"] == m1["sampling"]["steps_per_epoch"]
    for task in ("digit", "parity"):
        assert m2["metrics"][task]["validation"]["accuracy"] == m1["metrics"][task]["validation"]["accuracy"]


@pytest.mark.parametrize(("strategy", "trainable"), [
    ({"type": "linear_probe"}, 32 * 10 + 10 + 32 * 2 + 2),  # the two heads only
    ({"type": "layer_decay", "decay": 0.5}, None),
])
def test_strategies_act_on_the_shared_backbone(tmp_path: Path, data_root, strategy: dict, trainable: int | None) -> None:
    from accelerate.utils import set_seed
    from safetensors.torch import load_file

    import hubtune
    from hubtune.multitask.run import build
    from hubtune.validation import recipe_from_dict

    data = mlp_tasks_recipe(tmp_path / "out", strategy=strategy, train={"epochs": 1, "checkpoint_every": None})
    run = hubtune.train(data)
    doc = json.loads((run.output_dir / "metrics.json").read_text())
    set_seed(0)
    initial, _ = build(recipe_from_dict(data))  # what training started from (same seed, same order)
    start, end = initial.state_dict(), load_file(str(run.output_dir / "model.safetensors"))
    backbone = [k for k in end if k.startswith("backbone.")]
    heads = [k for k in end if k.startswith("heads.")]
    assert {k.split(".")[1] for k in heads} == {"digit", "parity"}
    assert all(not torch.equal(start[k], end[k]) for k in heads)
    if trainable is not None:  # frozen backbone: unchanged; only the heads train
        assert doc["strategy"]["trainable_params"] == trainable
        assert all(torch.equal(start[k], end[k]) for k in backbone)
    else:
        assert doc["strategy"]["trainable_params"] == run.total_params
        assert all(not torch.equal(start[k], end[k]) for k in backbone)
