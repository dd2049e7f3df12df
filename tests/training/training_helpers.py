"""Helpers for the training mechanics tests (imported by tests here and in tests/): a fast MLP recipe, CLI subprocesses, weight checks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def mlp_recipe(folder: Path, output_dir: Path, **overrides) -> Path:
    """Write a seeded MLP-on-digits recipe (64-32-10, dropout, 3 epochs of 10 steps) and return its path."""
    path = folder / f"{Path(output_dir).name}.yaml"
    path.write_text(yaml.safe_dump(mlp_recipe_data(output_dir, **overrides), sort_keys=False))
    return path


def mlp_recipe_data(output_dir: Path, **overrides) -> dict:
    """The recipe of :func:`mlp_recipe` as a mapping (``overrides`` deep-merged)."""
    from hubtune.recipe_yaml import deep_merge

    recipe = {
        "name": "mlp-mechanics",
        "output_dir": str(output_dir),
        "seed": 0,
        "backbone": {"source": "custom", "name": "hubtune.backbones.small:mlp",
                     "kwargs": {"in_features": 64, "hidden": [32], "dropout": 0.2}},
        "head": {"type": "classification"},
        "data": {"format": "digits", "train": "train", "validation": None, "validation_size": 0.1,
                 "max_train_samples": 320, "max_eval_samples": 64, "num_workers": 0},
        "train": {"epochs": 3, "batch_size": 32, "optimizer": "adamw", "lr": 3e-3, "scheduler": "cosine",
                  "warmup": 0.1, "trackers": [], "checkpoint_every": 2, "keep_checkpoints": 2,
                  "deterministic": True},
        "eval": {"metrics": ["accuracy"], "early_stopping": {"metric": "loss", "patience": 5}},
    }
    return deep_merge(recipe, overrides)


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a hubtune subprocess: offline, one thread, the repo's tests importable."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=os.pathsep.join([str(HERE), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run in-process training on one intra-op thread, as the subprocesses do (``OMP_NUM_THREADS=1``):
    a different thread count changes float reduction order, and bitwise checks with it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_in_process(*args: str) -> int:
    """``hubtune train ARGS`` in this process, on one thread."""
    from hubtune.cli import main

    with one_thread():
        return main(["train", *args])


def hubtune_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hubtune", *args]


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    signalled_at: int | None = None  # latest checkpoint step when the signal was sent


def run_until_checkpoint(cmd: list[str], ckpt_dir: Path, min_step: int, sig: int, log_dir: Path,
                         env: dict[str, str] | None = None, timeout: float = 180) -> Finished:
    """Start ``cmd``; once a checkpoint of step >= ``min_step`` exists, send ``sig`` and wait."""
    from hubtune.training.checkpoint import latest_checkpoint

    out, err = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env or cli_env(), cwd=REPO)
        sent, deadline = None, time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                latest = latest_checkpoint(ckpt_dir)
                step = int(latest.name.split("-")[1]) if latest else -1
                if step >= min_step:
                    proc.send_signal(sig)
                    sent = step
                    break
                time.sleep(0.01)
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return Finished(rc, out.read_text(), err.read_text(), sent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def assert_bitwise_equal(a: Path, b: Path) -> None:
    """Every tensor of ``a`` and ``b`` is ``torch.equal``."""
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    diff = {k: float((wa[k].double() - wb[k].double()).abs().max()) for k in wa if not torch.equal(wa[k], wb[k])}
    assert not diff, f"tensors differ (max abs diff per tensor): {diff}"


__all__ = ["Finished", "assert_bitwise_equal", "cli_env", "free_port", "hubtune_cmd", "mlp_recipe",
           "one_thread", "run_until_checkpoint", "train_in_process", "weights"]
