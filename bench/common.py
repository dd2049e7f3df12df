"""Shared measuring helpers: device choice, synchronisation, peak memory, FLOPs and MFU."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

# Dense bf16 tensor-core peaks (FLOP/s) by GPU name fragment; the first match wins.
PEAK_BF16 = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
             ("L4", 121e12), ("A10G", 70e12), ("A10", 125e12), ("RTX 4090", 165e12), ("V100", 125e12))


@dataclass
class Result:
    """One engine on one workload. ``samples_per_s`` is the steady state, after warmup."""

    workload: str
    engine: str
    batch_size: int
    samples_per_s: float
    step_ms: float
    peak_mem_mib: float | None
    steps: int
    mfu: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: CUDA allocator stats, or the process's RSS high-water mark (Linux)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mib(device: torch.device) -> float:
    """Peak allocated CUDA memory, or the process's peak RSS on CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_loop(step: Callable[[], Any], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` calls, synchronised at both ends."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - t0


def train_flops_per_sample(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                           loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]) -> float:
    """FLOPs of one forward + backward per sample, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model, batch).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / next(iter(batch.values())).shape[0]


def peak_flops(device: torch.device) -> float | None:
    """The GPU's dense bf16 peak, when its name is known; ``None`` on CPU or unknown GPUs."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16 if key in name), None)


def mfu(flops_per_sample: float | None, samples_per_s: float, device: torch.device) -> float | None:
    peak = peak_flops(device)
    return None if not (peak and flops_per_sample) else flops_per_sample * samples_per_s / peak
