"""DP-SGD on 2 CPU processes (``accelerate launch``, gloo): the same ε, batches, noise and weights as one process.

Design (hubtune.training.privacy_data): every process makes the same global Poisson draw of each
logical batch and takes its ``rank::2`` share; Opacus's ``DistributedDPOptimizer`` clips each
process's per-sample gradients, adds the noise on rank 0 only (from the run's seeded noise
generator) and averages. So one process with ``batch_size`` 32 and two with 16 use the same
logical batches and the same noise: the same ε (same q, σ, steps) and the same weights up to
float summation order (each process sums its half before the all-reduce).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_helpers import REPO, cli_env, free_port, mlp_recipe, train_in_process, weights

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
ATOL = 1e-5
DP = {"noise_multiplier": 0.9, "max_grad_norm": 1.0, "accountant": "prv"}


def _launch_cmd(recipe: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
            str(REPO / "recipes" / "accelerate" / "cpu_2proc.yaml"), "--num_processes", "2",
            "--main_process_port", str(free_port()), "-m", "hubtune", "train", str(recipe), *args]


def _recipe(tmp_path: Path, name: str, batch_size: int) -> Path:
    return mlp_recipe(tmp_path, tmp_path / name, backbone={"kwargs": {"dropout": 0.0}},
                      train={"batch_size": batch_size, "epochs": 2, "checkpoint_every": 4, "deterministic": False},
                      eval={"keep_best": False, "early_stopping": None}, privacy=DP)


def _privacy(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())["privacy"]


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = weights(a / "model.safetensors"), weights(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def _kill_at_checkpoint(cmd: list[str], ckpt_dir: Path, min_step: int, timeout: float = 240) -> int:
    """Start the 2-process job in its own process group; SIGKILL all of it once a checkpoint of
    step >= ``min_step`` exists (a crash: no handler runs). Returns that step."""
    from hubtune.training.checkpoint import latest_checkpoint

    proc = subprocess.Popen(cmd, env=cli_env(ACCELERATE_USE_CPU="true"), cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            latest = latest_checkpoint(ckpt_dir)
            if latest is not None and int(latest.name.split("-")[1]) >= min_step:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return int(latest.name.split("-")[1])
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    pytest.fail("the 2-process DP run ended before its checkpoint could be interrupted")


def test_two_processes_killed_and_resumed_match_one_process(tmp_path: Path) -> None:
    """2 processes x 16 vs 1 x 32 (same logical batch): SIGKILL of the whole 2-process job mid-epoch,
    then ``--resume``; the result has the one-process run's ε, accountant history and weights."""
    one, two = _recipe(tmp_path, "one", 32), _recipe(tmp_path, "two", 16)
    assert train_in_process(str(one)) == 0
    step = _kill_at_checkpoint(_launch_cmd(two), tmp_path / "two" / "checkpoints", 5)
    assert step % 10 != 0  # mid-epoch (10 steps per epoch)
    assert not (tmp_path / "two" / "metrics.json").exists()
    done = subprocess.run(_launch_cmd(two, "--resume"), capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=cli_env(ACCELERATE_USE_CPU="true"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {tmp_path / 'two' / 'checkpoints'}" in done.stdout
    p1, p2 = _privacy(tmp_path / "one"), _privacy(tmp_path / "two")
    assert (p1["processes"], p2["processes"]) == (1, 2)
    assert p2["logical_batch"] == p1["logical_batch"] == 32 and p2["sample_rate"] == p1["sample_rate"]
    assert p2["accountant_history"] == p1["accountant_history"] and p2["steps"] == p1["steps"] == 20
    assert p2["epsilon"] == p1["epsilon"] > 0
    diff = _max_diff(tmp_path / "one", tmp_path / "two")
    print(f"DP, 1 vs 2 processes (killed + resumed), same logical batch: max |diff| = {diff:.3g}")
    assert diff < ATOL
    assert done.stdout.count("artifacts:") == 1  # only the main process exports


def test_noise_is_added_once_and_averaged(tmp_path: Path) -> None:
    """Opacus's DistributedDPOptimizer as hubtune builds it: the applied noise has std σ·C/B for the
    logical batch B (rank 0 alone adds it; independent noise on both ranks would give √2 times, the
    same seeded noise on both 2 times), and both ranks apply the same update."""
    out = tmp_path / "noise.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(free_port()), str(HERE / "dp_noise_2proc.py"), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=180, env=cli_env())
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["ranks_agree"] and r["n"] == 8 * 500
    assert r["std"] == pytest.approx(r["expected_std"], rel=0.05)
    assert abs(r["mean"]) < 0.05 * r["expected_std"]


def test_ghost_clipping_on_two_processes_matches_flat_on_one(tmp_path: Path) -> None:
    """Ghost clipping (no per-sample gradients stored) under DDP: the same ε and, up to summation order, the
    same weights as flat clipping in one process with the same logical batch."""
    one = _recipe(tmp_path, "flat1", 32)
    two = mlp_recipe(tmp_path, tmp_path / "ghost2", backbone={"kwargs": {"dropout": 0.0}},
                     train={"batch_size": 16, "epochs": 2, "deterministic": False},
                     eval={"keep_best": False, "early_stopping": None}, privacy={**DP, "clipping": "ghost"})
    assert train_in_process(str(one)) == 0
    done = subprocess.run(_launch_cmd(two), capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=cli_env(ACCELERATE_USE_CPU="true"))
    assert done.returncode == 0, done.stderr[-3000:]
    p1, p2 = _privacy(tmp_path / "flat1"), _privacy(tmp_path / "ghost2")
    assert (p1["processes"], p2["processes"]) == (1, 2) and p2["epsilon"] == p1["epsilon"] > 0
    assert (p1["clipping"], p2["clipping"]) == ("flat", "ghost")
    assert _max_diff(tmp_path / "flat1", tmp_path / "ghost2") < ATOL
