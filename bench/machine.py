"""What a result was measured on: device, cores, threads, load average, library versions."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """The machine as a JSON-able dict; ``load1`` is the 1-minute load average when called."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"device": gpu or f"CPU ({platform.processor() or platform.machine()})", "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "load1": round(os.getloadavg()[0], 2), "torch": torch.__version__,
            "python": platform.python_version()}


def describe(hw: Any) -> str:
    """One line for a report: a recorded machine dict (or the free text of older results)."""
    if isinstance(hw, str):
        return hw
    loads = hw.get("load1")
    load = f", load {min(loads):.1f}–{max(loads):.1f}" if isinstance(loads, list) and loads else ""
    return f"{hw['device']}, {hw['cpus']} cores, {hw['threads']} threads{load}, torch {hw['torch']}"


def save_results(path: Path, doc: dict[str, Any] | None, render: Callable[[dict[str, Any]], str]) -> None:
    """Write ``doc`` (a fresh measurement) as ``path`` — or, with ``doc`` None (``--from-json``), read it back —
    then its Markdown next to it, rendered by ``render``, and print the Markdown."""
    if doc is None:
        doc = json.loads(path.read_text())
    else:
        path.write_text(json.dumps(doc, indent=2) + "\n")
    path.with_suffix(".md").write_text(render(doc))
    print(path.with_suffix(".md").read_text())


def one_thread_env() -> dict[str, str]:
    """The environment of a benchmark's ``hubtune`` subprocess: offline, shared data found, one thread."""
    from hubtune.shared_data import shared_data

    return {**os.environ, "HUBTUNE_DATA": str(shared_data()), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_hubtune(root: Path, *args: str) -> float:
    """``python -m hubtune ARGS`` in ``root`` with :func:`one_thread_env`; its wall time in seconds (exits on failure)."""
    import subprocess
    import sys
    import time

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hubtune", *args], cwd=root, capture_output=True, text=True,
                          env=one_thread_env())
    if proc.returncode:
        raise SystemExit(f"hubtune {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0
