"""The peer: a plain PyTorch loop on tensors already on the device, eager and ``torch.compile``.

Fused AdamW (CUDA and CPU, as hubtune and the Trainer), gradient clipping at 1.0 (as hubtune and the Trainer),
bf16 autocast on CUDA, channels_last for CNNs, no scheduler (a per-step multiply: negligible).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.common import Result, mfu, peak_memory_mib, reset_peak_memory, time_loop
from bench.synthetic import make_batch
from bench.workloads import Workload, plain_model


def logits_of(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    if "pixel_values" in batch:
        return model(batch["pixel_values"])
    return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def plain_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(logits_of(model, batch).float(), batch["labels"])


def run_plain(w: Workload, device: torch.device, *, compiled: bool, precision: str, warmup: int, steps: int,
              flops: float | None = None) -> Result:
    """Time ``steps`` optimizer steps of the plain loop after ``warmup`` ones."""
    reset_peak_memory(device)
    cl = w.channels_last
    model = plain_model(w).to(device)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    batch = {k: v.to(device) for k, v in make_batch(w).items()}
    if cl:
        batch["pixel_values"] = batch["pixel_values"].contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
    forward = torch.compile(model) if compiled else model
    amp = precision == "bf16"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = plain_loss(forward, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    seconds = time_loop(step, warmup, steps, device)
    rate = steps * w.batch_size / seconds
    peak = peak_memory_mib(device)
    notes = {"precision": precision, "channels_last": cl, "optim": "adamw fused", "max_grad_norm": 1.0,
             "scheduler": "none", "data": "fixed batch on the device"}
    return Result(w.name, "plain_compiled" if compiled else "plain_eager", w.batch_size, rate,
                  1000 * seconds / steps, peak, steps, mfu(flops, rate, device), notes)
